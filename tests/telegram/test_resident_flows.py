"""End to end: what a resident sees, through the real PTB stack and a fake Bot API.

One bot serves the whole module (see conftest); every test uses fresh
residents, so their flood windows and language choices never mix.
"""

from __future__ import annotations

import html
import logging
import re
from typing import Any

import pytest

from bot.telegram.request import RETRIES
from tests.telegram import factories as f
from tests.telegram.factories import Resident
from tests.telegram.fake_api import BOT_USERNAME, ApiCall
from tests.telegram.harness import RunningBot

pytestmark = pytest.mark.asyncio(loop_scope="module")

STATION = (41.7942, 123.3944)  # the station desk's coordinate in knowledge/places.yaml
APOLOGY = ("抱歉，出了点问题", "Sorry, something went wrong")


def texts(calls: list[ApiCall], method: str = "sendMessage") -> list[str]:
    return [c.text for c in calls if c.method == method and c.error is None]


def only(calls: list[ApiCall], method: str) -> ApiCall:
    found = [c for c in calls if c.method == method and c.error is None]
    assert len(found) == 1, [(c.method, c.error) for c in calls]
    return found[0]


def visible(text: str) -> str:
    """What the resident reads: tags removed, entities decoded."""
    return html.unescape(re.sub(r"<[^>]+>", "", text))


def assert_no_apology(calls: list[ApiCall]) -> None:
    assert not any(a in t for t in texts(calls) for a in APOLOGY)


# ----- /start, deep links, commands ------------------------------------------------------


async def test_start_menu_follows_the_client_language(bot: RunningBot) -> None:
    zh = only(await bot.send(f.command(Resident.new("zh-hans"), "start")), "sendMessage")
    en = only(await bot.send(f.command(Resident.new("en"), "start")), "sendMessage")
    assert "您好" in zh.text
    assert "Hello" in en.text
    for call in (zh, en):
        assert call.callback_data() and all(d.startswith("c:") for d in call.callback_data())
        assert call.params["parse_mode"] == "HTML"


async def test_command_menu_is_published_in_chinese_and_english(bot: RunningBot) -> None:
    published = bot.api.commands
    assert {"zh", ""} <= set(published)
    for commands in published.values():
        assert {c["command"] for c in commands} >= {"start", "help", "nearest", "lang", "privacy"}


@pytest.mark.parametrize(
    ("payload", "expect_entry"),
    [
        ("marriage-registration-points", True),
        ("no-such-entry", False),
        ("../../x", False),
        ("\ud800", False),
    ],
    ids=["known-entry", "unknown-entry", "garbage", "lone-surrogate"],
)
async def test_deep_link(bot: RunningBot, payload: str, expect_entry: bool) -> None:
    call = only(await bot.send(f.command(Resident.new(), "start", payload)), "sendMessage")
    if expect_entry:
        assert f"f:{payload}:+" in call.callback_data()
    else:  # an unknown payload is just /start
        assert all(d.startswith("c:") for d in call.callback_data())


@pytest.mark.parametrize(
    ("command", "expected"),
    [("help", "/nearest"), ("privacy", "90"), ("forget", "0"), ("lang", "Choose a language")],
    ids=["help", "privacy", "forget", "lang"],
)
async def test_info_commands(bot: RunningBot, command: str, expected: str) -> None:
    call = only(await bot.send(f.command(Resident.new(), command)), "sendMessage")
    assert expected in visible(call.text)


async def test_unknown_command_gets_the_help(bot: RunningBot) -> None:
    call = only(await bot.send(f.command(Resident.new(), "frobnicate")), "sendMessage")
    assert "/help" in call.text


async def test_forget_deletes_what_was_stored(bot: RunningBot) -> None:
    resident = Resident.new()
    await bot.send(f.message(resident, "我想领证去哪"))
    call = only(await bot.send(f.command(resident, "forget")), "sendMessage")
    assert re.search(r"[1-9]\d* 条", call.text), call.text


# ----- questions ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("question", "entry_id", "lang"),
    [
        ("我想领证去哪", "marriage-registration-points", "zh"),
        ("在沈阳站丢东西了咋办", "station-desk-lost-items", "zh"),
        ("Where can I register my marriage in a park?", "marriage-registration-points", "en"),
        ("What does the Shenyang Station service desk do?", "station-desk-services", "en"),
    ],
    ids=["zh-marriage", "zh-lost-items", "en-marriage", "en-station"],
)
async def test_question_is_answered_with_buttons(
    bot: RunningBot, question: str, entry_id: str, lang: str
) -> None:
    call = only(await bot.send(f.message(Resident.new("zh-hans"), question)), "sendMessage")
    assert call.text.startswith("<b>")  # the entry title
    data = call.callback_data()
    assert f"f:{entry_id}:+" in data and f"f:{entry_id}:-" in data
    assert ("来源" in call.text) == (lang == "zh")  # answers follow the question's language


async def test_links_are_url_buttons(bot: RunningBot) -> None:
    call = only(await bot.send(f.message(Resident.new(), "What is Shenyang Xishi?")), "sendMessage")
    urls = [b["url"] for b in call.buttons() if "url" in b]
    assert "https://www.mca.gov.cn" in " ".join(urls)


async def test_vague_question_asks_did_you_mean(bot: RunningBot) -> None:
    call = only(await bot.send(f.message(Resident.new(), "沈阳站")), "sendMessage")
    data = call.callback_data()
    assert sum(d.startswith("e:station-desk") for d in data) >= 2
    assert data[-1] == "m"  # "none of these"


async def test_unknown_question_says_what_the_bot_covers(bot: RunningBot) -> None:
    call = only(
        await bot.send(f.message(Resident.new("en"), "How do I fix my car engine?")), "sendMessage"
    )
    assert "Sorry" in call.text
    assert call.callback_data() and all(d.startswith("c:") for d in call.callback_data())


@pytest.mark.parametrize(
    "text",
    [
        " ",
        "？？？",
        "😀",
        "\u200b",
        "<b>结婚</b> & <script>alert(1)</script>",
        "a" * 5000,
        "领证 " * 1000,
        "\ud800结婚登记",
        "\x00\x1b[31m",
        "\u202e结婚登记",
    ],
    ids=[
        "space",
        "question-marks",
        "emoji",
        "zero-width",
        "html",
        "5000-chars",
        "5000-words",
        "lone-surrogate",
        "control-chars",
        "rtl-override",
    ],
)
async def test_odd_texts_get_a_polite_reply(
    bot: RunningBot, text: str, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.ERROR):
        calls = await bot.send(f.message(Resident.new(), text))
    sent = texts(calls)
    assert sent and all(len(visible(t)) <= 4096 for t in sent)
    assert_no_apology(calls)
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


async def test_edited_question_is_answered_again(bot: RunningBot) -> None:
    resident = Resident.new()
    first = f.message(resident, "你好")
    await bot.send(first)
    call = only(await bot.send(f.edited(first, "我想领证去哪")), "sendMessage")
    assert "f:marriage-registration-points:+" in call.callback_data()


# ----- buttons ----------------------------------------------------------------------


async def test_browse_category_entry_and_back(bot: RunningBot) -> None:
    resident = Resident.new()
    menu = only(await bot.send(f.command(resident, "start")), "sendMessage")
    message = menu.result

    calls = await bot.send(f.callback(resident, "c:marriage", message=message))
    category = only(calls, "editMessageText")
    only(calls, "answerCallbackQuery")
    assert category.params["message_id"] == message["message_id"]
    assert "e:marriage-registration-points" in category.callback_data()
    assert category.callback_data()[-1] == "m"  # back to the menu

    calls = await bot.send(f.callback(resident, "e:marriage-registration-points", message=message))
    answer = only(calls, "editMessageText")
    assert "c:marriage" in answer.callback_data()  # back to the category

    calls = await bot.send(f.callback(resident, "m", message=message))
    assert only(calls, "editMessageText").callback_data() == menu.callback_data()


async def test_feedback_thanks_and_removes_the_thumbs(bot: RunningBot) -> None:
    resident = Resident.new()
    answer = only(await bot.send(f.message(resident, "我想领证去哪")), "sendMessage")
    calls = await bot.send(
        f.callback(resident, "f:marriage-registration-points:+", message=answer.result)
    )
    assert "感谢" in only(calls, "answerCallbackQuery").params["text"]
    markup = only(calls, "editMessageReplyMarkup")
    assert markup.callback_data() and not any(d.startswith("f:") for d in markup.callback_data())


async def test_same_button_twice_is_quietly_ignored(bot: RunningBot) -> None:
    resident = Resident.new()
    menu = only(await bot.send(f.command(resident, "start")), "sendMessage")
    await bot.send(f.callback(resident, "c:marriage", message=menu.result))
    # The client still shows the old message; Telegram says "message is not modified".
    calls = await bot.send(f.callback(resident, "c:marriage", message=menu.result))
    edited = [c for c in calls if c.method == "editMessageText"]
    assert len(edited) == 1 and edited[0].error == 400
    only(calls, "answerCallbackQuery")
    assert_no_apology(calls)


@pytest.mark.parametrize(
    "data",
    [
        "",
        "x",
        "e:no-such-entry",
        "c:no-such-category",
        "f:no-such-entry:+",
        "f:marriage-registration-points:?",
        "l:fr",
        "e:" + "a" * 62,
        "e:" + "a" * 100,
        "c:../../etc/passwd",
        "\x00\xff\ufffd",
        "e:结婚",
        "m:extra",
    ],
    ids=[
        "empty", "junk", "unknown-entry", "unknown-category", "feedback-unknown",
        "feedback-bad-sign", "unknown-lang", "64-bytes", "over-64-bytes", "path",
        "control-bytes", "non-ascii", "menu-extra",
    ],
)  # fmt: skip
async def test_forged_button_gets_a_polite_toast(
    bot: RunningBot, data: str, caplog: pytest.LogCaptureFixture
) -> None:
    resident = Resident.new()
    menu = only(await bot.send(f.command(resident, "start")), "sendMessage")
    with caplog.at_level(logging.ERROR):
        calls = await bot.send(f.callback(resident, data, message=menu.result))
    toast = only(calls, "answerCallbackQuery").params.get("text", "")
    assert "失效" in toast
    assert_no_apology(calls)
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


async def test_button_under_an_inline_message_is_answered(bot: RunningBot) -> None:
    calls = await bot.send(f.callback(Resident.new(), "e:no-such-entry", message=None))
    only(calls, "answerCallbackQuery")


async def test_language_choice_sticks(bot: RunningBot) -> None:
    resident = Resident.new("zh-hans")
    choice = only(await bot.send(f.command(resident, "lang")), "sendMessage")
    assert choice.callback_data() == ["l:zh", "l:en"]
    calls = await bot.send(f.callback(resident, "l:en", message=choice.result))
    assert only(calls, "answerCallbackQuery").params["text"] == "Switched to English."
    assert "Switched to English." in only(calls, "editMessageText").text
    # A Chinese question is now answered in English: the choice beats detection.
    answer = only(await bot.send(f.message(resident, "我想领证去哪")), "sendMessage")
    assert "Source:" in answer.text


# ----- /nearest --------------------------------------------------------------------


async def test_nearest_asks_for_the_location_then_shows_places(bot: RunningBot) -> None:
    resident = Resident.new()
    prompt = only(await bot.send(f.command(resident, "nearest")), "sendMessage")
    keyboard = prompt.markup["keyboard"]
    assert keyboard[0][0]["request_location"] is True

    calls = await bot.send(f.location(resident, 41.80, 123.40))
    listing = only(calls, "sendMessage")
    assert listing.markup == {"remove_keyboard": True}
    assert "米" in listing.text or "公里" in listing.text
    venue = only(calls, "sendVenue")
    assert (venue.params["latitude"], venue.params["longitude"]) == STATION
    assert "沈阳站" in venue.params["title"]


async def test_shared_venue_counts_as_a_location(bot: RunningBot) -> None:
    calls = await bot.send(f.venue(Resident.new("en"), 41.79, 123.39, "Some café <&>"))
    assert "m" in visible(only(calls, "sendMessage").text)
    only(calls, "sendVenue")


async def test_impossible_location_is_refused_politely(bot: RunningBot) -> None:
    calls = await bot.send(f.location(Resident.new(), 95.0, 500.0))
    assert texts(calls) and not [c for c in calls if c.method == "sendVenue"]


# ----- inline mode ----------------------------------------------------------------


async def test_inline_query_offers_matching_answers(bot: RunningBot) -> None:
    calls = await bot.send(f.inline_query(Resident.new(), "结婚登记"))
    results: list[dict[str, Any]] = only(calls, "answerInlineQuery").params["results"]
    assert results[0]["id"] == "marriage-registration-points"
    content = results[0]["input_message_content"]
    assert content["parse_mode"] == "HTML" and "结婚登记点" in content["message_text"]
    urls = [b["url"] for row in results[0]["reply_markup"]["inline_keyboard"] for b in row]
    assert f"https://t.me/{BOT_USERNAME}?start=marriage-registration-points" in urls


@pytest.mark.parametrize(
    "query",
    ["", "   ", "？？？", "x" * 256, "\ud800结婚"],
    ids=["empty", "spaces", "marks", "long", "lone-surrogate"],
)
async def test_inline_query_never_fails(bot: RunningBot, query: str) -> None:
    call = only(await bot.send(f.inline_query(Resident.new(), query)), "answerInlineQuery")
    assert len(call.params["results"]) <= 5


# ----- media ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "make",
    [f.sticker, f.photo, f.voice, f.video, f.audio, f.document, f.contact],
    ids=["sticker", "photo", "voice", "video", "audio", "document", "contact"],
)
async def test_media_gets_a_polite_text(bot: RunningBot, make: Any) -> None:
    call = only(await bot.send(make(Resident.new())), "sendMessage")
    assert call.text and not call.callback_data()


# ----- groups ---------------------------------------------------------------------


async def test_group_ignores_chatter_not_meant_for_the_bot(bot: RunningBot) -> None:
    resident = Resident.new()
    calls = await bot.send_all(
        [
            f.group_message(resident, "我想领证去哪"),
            f.sticker(resident, chat=f.GROUP_CHAT),
            f.location(resident, *STATION, chat=f.GROUP_CHAT),
        ]
    )
    assert not [c for c in calls if c.method.startswith(("send", "edit"))]


async def test_group_answers_a_mention_without_the_mention(bot: RunningBot) -> None:
    calls = await bot.send(f.group_message(Resident.new(), "我想领证去哪", mention=True))
    call = only(calls, "sendMessage")
    assert call.params["chat_id"] == f.GROUP_CHAT["id"]
    assert "f:marriage-registration-points:+" in call.callback_data()
    assert "reply_parameters" in call.params  # quotes the question in a busy group


async def test_group_mention_with_a_lone_surrogate(bot: RunningBot) -> None:
    calls = await bot.send(f.group_message(Resident.new(), "\ud83d我想领证去哪", mention=True))
    assert only(calls, "sendMessage").text
    assert_no_apology(calls)


async def test_group_answers_a_reply_to_the_bot(bot: RunningBot) -> None:
    resident = Resident.new()
    first = only(await bot.send(f.group_message(resident, "你好", mention=True)), "sendMessage")
    calls = await bot.send(f.group_message(resident, "我想领证去哪", reply_to=first.result))
    assert "f:marriage-registration-points:+" in only(calls, "sendMessage").callback_data()


async def test_group_answers_commands(bot: RunningBot) -> None:
    resident = Resident.new()
    addressed = f.command(resident, "help", chat=f.GROUP_CHAT, addressed=True)
    assert "/nearest" in only(await bot.send(addressed), "sendMessage").text
    # /nearest in a group: no location keyboard (Telegram offers it in private chats only).
    call = only(await bot.send(f.command(resident, "nearest", chat=f.GROUP_CHAT)), "sendMessage")
    assert "keyboard" not in call.markup
    # ...so the text says how to send one by hand instead of pointing at a button.
    assert "📎" in call.text


async def test_bare_mention_shows_the_menu(bot: RunningBot) -> None:
    calls = await bot.send(f.group_message(Resident.new(), "", mention=True))
    assert all(d.startswith("c:") for d in only(calls, "sendMessage").callback_data())


# ----- Telegram errors ---------------------------------------------------------------


async def test_server_error_does_not_stop_the_bot(bot: RunningBot) -> None:
    resident = Resident.new()
    # A 500 is retried (bot/telegram/request.py), so the answer still arrives.
    bot.api.fail_next("sendMessage", code=500)
    calls = await bot.send(f.message(resident, "我想领证去哪"))
    assert [c.error for c in calls if c.method == "sendMessage"] == [500, None]
    # Past the retries the answer is lost, but the bot goes on answering.
    bot.api.fail_next("sendMessage", RETRIES + 1, code=500)
    await bot.send(f.message(resident, "我想领证去哪"))
    call = only(await bot.send(f.message(resident, "我想领证去哪")), "sendMessage")
    assert "f:marriage-registration-points:+" in call.callback_data()


async def test_unexpected_failure_gets_an_apology(bot: RunningBot) -> None:
    bot.api.fail_next("sendMessage", code=400, description="Bad Request: can't parse entities")
    calls = await bot.send(f.message(Resident.new(), "我想领证去哪"))
    assert any(APOLOGY[0] in t for t in texts(calls))


# ----- start-up ----------------------------------------------------------------------


async def test_retention_purge_runs_daily(
    bot: RunningBot, caplog: pytest.LogCaptureFixture
) -> None:
    assert bot.app.job_queue is not None
    [job] = bot.app.job_queue.get_jobs_by_name("retention-purge")
    assert job.trigger.interval.total_seconds() == 24 * 3600  # type: ignore[attr-defined]
    with caplog.at_level(logging.INFO, logger="bot.telegram.app"):
        await job.run(bot.app)
    assert any("retention purge removed" in r.getMessage() for r in caplog.records)


async def test_button_under_an_old_message_sends_a_new_one(bot: RunningBot) -> None:
    resident = Resident.new()
    # Telegram sends date 0 when the pressed message is too old to be shown to the bot.
    old = {"chat": resident.chat, "message_id": 1, "date": 0}
    calls = await bot.send(f.callback(resident, "c:marriage", message=old))
    only(calls, "answerCallbackQuery")
    assert "e:marriage-registration-points" in only(calls, "sendMessage").callback_data()


@pytest.mark.parametrize(
    "update",
    [
        {"channel_post": {"message_id": 1, "date": 0, "text": "hi",
                          "chat": {"id": -100777, "type": "channel", "title": "News"}}},
        {"my_chat_member": {"chat": f.GROUP_CHAT, "from": Resident.new().user, "date": 0,
                            "old_chat_member": {"status": "left", "user": {"id": 1, "is_bot": True, "first_name": "b"}},
                            "new_chat_member": {"status": "member", "user": {"id": 1, "is_bot": True, "first_name": "b"}}}},
        {"message": {"message_id": 2, "date": 0, "chat": f.GROUP_CHAT,
                     "sender_chat": {"id": -1001234567890, "type": "supergroup", "title": "x"},
                     "text": f"@{BOT_USERNAME} 结婚登记",
                     "entities": [{"type": "mention", "offset": 0, "length": len(BOT_USERNAME) + 1}]}},
    ],
    ids=["channel-post", "chat-member", "anonymous-admin"],
)  # fmt: skip
async def test_other_updates_never_fail(
    bot: RunningBot, update: dict[str, Any], caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.ERROR):
        calls = await bot.send(update)
    assert_no_apology(calls)
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]
