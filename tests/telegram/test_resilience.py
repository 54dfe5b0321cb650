"""Flood control, Telegram's 429, the webhook and concurrency (most with a bot of their own)."""

from __future__ import annotations

import asyncio
import re
import shutil
import socket
import time
from pathlib import Path

import pytest

from bot.handlers.flood import FloodGuard, Verdict
from bot.telegram.request import RETRIES
from tests.telegram import factories as f
from tests.telegram.factories import Resident
from tests.telegram.fake_api import ApiCall, FakeBotApi
from tests.telegram.harness import KNOWLEDGE_DIR, RunningBot, make_settings, running_bot

QUESTION = "我想领证去哪"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# ----- flood control -------------------------------------------------------------------


def test_flood_guard_window() -> None:
    now = [0.0]
    guard = FloodGuard(limit=2, window=10.0, clock=lambda: now[0])
    verdicts = [guard.check(1) for _ in range(4)]
    assert verdicts == [Verdict.ALLOW, Verdict.ALLOW, Verdict.NOTIFY, Verdict.DROP]
    assert guard.check(2) is Verdict.ALLOW  # another resident is not affected
    now[0] = 10.0  # the window has passed: dropped messages did not extend it
    assert guard.check(1) is Verdict.ALLOW


async def test_flooding_resident_gets_one_notice(api: FakeBotApi, tmp_path: Path) -> None:
    settings = make_settings(api, tmp_path, flood_messages=3, flood_window_seconds=60)
    flooder, neighbour = Resident.new(), Resident.new()
    async with running_bot(settings, api) as bot:
        burst = [f.message(flooder, QUESTION) for _ in range(6)] + [f.message(neighbour, QUESTION)]
        calls = await bot.send_all(burst)
        to_flooder = [c for c in calls if c.params.get("chat_id") == flooder.id]
        assert len(to_flooder) == 4  # three answers and one notice; the rest dropped
        assert "太快" in to_flooder[-1].text
        assert len([c for c in calls if c.params.get("chat_id") == neighbour.id]) == 1
        # Button presses count too, and are dropped silently once notified.
        press = await bot.send(f.callback(flooder, "m", message=to_flooder[0].result))
        assert press == []


async def test_flood_is_dropped_even_when_the_notice_fails(api: FakeBotApi, tmp_path: Path) -> None:
    settings = make_settings(api, tmp_path, flood_messages=1, flood_window_seconds=60)
    flooder = Resident.new()
    async with running_bot(settings, api) as bot:
        await bot.send(f.message(flooder, QUESTION))
        # The notice fails for good (every retry too); the flood is dropped all the same.
        api.fail_next("sendMessage", RETRIES + 1, code=500)
        calls = await bot.send_all([f.message(flooder, QUESTION), f.message(flooder, QUESTION)])
        assert [(c.method, c.error) for c in calls] == [("sendMessage", 500)] * (RETRIES + 1)


async def test_group_chatter_is_not_counted(api: FakeBotApi, tmp_path: Path) -> None:
    settings = make_settings(api, tmp_path, flood_messages=2, flood_window_seconds=60)
    resident = Resident.new()
    async with running_bot(settings, api) as bot:
        await bot.send_all([f.group_message(resident, "哈哈") for _ in range(5)])
        calls = await bot.send(f.message(resident, QUESTION))
        assert "f:marriage-registration-points:+" in calls[0].callback_data()


# ----- 429 -----------------------------------------------------------------------------


@pytest.mark.parametrize("rate_limit", [True, False], ids=["rate-limiter", "no-rate-limiter"])
async def test_429_is_retried_and_the_answer_arrives_once(
    api: FakeBotApi, tmp_path: Path, rate_limit: bool
) -> None:
    # Either the rate limiter retries it or (without one) the request object does.
    settings = make_settings(api, tmp_path, rate_limit=rate_limit)
    resident = Resident.new()
    async with running_bot(settings, api) as bot:
        api.fail_next("sendMessage", code=429, retry_after=1)
        calls = await bot.send(f.message(resident, QUESTION))
        attempts = [c for c in calls if c.method == "sendMessage"]
        assert [c.error for c in attempts] == [429, None]
        assert "f:marriage-registration-points:+" in attempts[1].callback_data()


async def test_429_reaches_the_rate_limiter_which_pauses_every_send(
    api: FakeBotApi, tmp_path: Path
) -> None:
    # A 429 retried out of the limiter's sight would never slow the bot down: the other
    # residents' answers would keep coming while Telegram asks the bot to wait.
    settings = make_settings(api, tmp_path, rate_limit=True)
    first, second = Resident.new(), Resident.new()
    retry_after = 1
    async with running_bot(settings, api) as bot:
        api.fail_next("sendMessage", code=429, retry_after=retry_after)
        mark = api.mark()
        api.push(f.message(first, QUESTION))
        refused = await _first_refusal(api, since=mark)
        api.push(f.message(second, QUESTION))  # asked while the bot is told to wait
        await bot.settle()
        sends = [c for c in bot.replies(since=mark) if c.method == "sendMessage"]
        to_first = [c for c in sends if c.params["chat_id"] == first.id]
        [to_second] = [c for c in sends if c.params["chat_id"] == second.id]
        assert [c.error for c in to_first] == [429, None]  # delivered once, after one refusal
        assert to_first[1].at - refused.at >= retry_after
        assert to_second.error is None
        assert to_second.at - refused.at >= retry_after  # held back too


async def _first_refusal(api: FakeBotApi, *, since: int, timeout: float = 10.0) -> ApiCall:
    """The first call since `since` that the fake answered with an error."""
    deadline = time.monotonic() + timeout
    while not (refused := [c for c in api.calls(since=since) if c.error is not None]):
        assert time.monotonic() < deadline, "the bot made no call that failed"
        await asyncio.sleep(0.01)
    return refused[0]


# ----- webhook -------------------------------------------------------------------------


async def test_webhook_accepts_the_right_secret_only(api: FakeBotApi, tmp_path: Path) -> None:
    port = free_port()
    settings = make_settings(
        api,
        tmp_path,
        webhook_url=f"http://127.0.0.1:{port}/telegram/hook",
        webhook_listen="127.0.0.1",
        webhook_port=port,
        webhook_secret="s3cret-token_1",
    )
    resident = Resident.new()
    async with running_bot(settings, api) as bot:
        registered = api.calls("setWebhook")[-1].params
        assert registered["url"] == settings.webhook_url
        assert registered["secret_token"] == "s3cret-token_1"
        assert set(registered["allowed_updates"]) >= {"message", "callback_query", "inline_query"}

        for secret in ("wrong", None):
            mark = api.mark()
            status = await asyncio.to_thread(
                api.deliver_webhook, f.message(resident, QUESTION), secret=secret
            )
            assert status == 403
            await bot.settle()
            assert api.sent(resident.id, since=mark) == []

        mark = api.mark()
        update = f.message(resident, QUESTION)
        status = await asyncio.to_thread(api.deliver_webhook, update, secret="s3cret-token_1")
        assert status == 200
        await bot.settle()
        answer = api.sent(resident.id, since=mark)
        assert len(answer) == 1
        assert "f:marriage-registration-points:+" in answer[0].callback_data()


@pytest.mark.parametrize("code", [400, 500], ids=["bad-request", "server-error"])
async def test_failing_command_menu_does_not_stop_start_up(
    api: FakeBotApi, tmp_path: Path, code: int
) -> None:
    # Every try fails: a 500 is retried, so one failure alone would never reach start-up.
    api.fail_next("setMyCommands", RETRIES + 1, code=code)
    async with running_bot(make_settings(api, tmp_path), api) as bot:
        calls = await bot.send(f.message(Resident.new(), QUESTION))
        assert calls[0].method == "sendMessage"


# ----- knowledge without coordinates ----------------------------------------------------


async def test_no_place_with_coordinates_is_said_plainly(api: FakeBotApi, tmp_path: Path) -> None:
    knowledge = tmp_path / "knowledge"
    shutil.copytree(KNOWLEDGE_DIR, knowledge)
    places = knowledge / "places.yaml"
    without = re.sub(r"\n +location:\n +lat: [\d.]+\n +lon: [\d.]+", "", places.read_text("utf-8"))
    assert without != places.read_text("utf-8")
    places.write_text(without, "utf-8")
    settings = make_settings(api, tmp_path, knowledge_dir=knowledge)
    async with running_bot(settings, api) as bot:
        calls = await bot.send(f.location(Resident.new(), 41.8, 123.4))
        [listing] = calls
        assert listing.method == "sendMessage" and "坐标" in listing.text
        assert listing.markup == {"remove_keyboard": True}


# ----- concurrency -----------------------------------------------------------------------


@pytest.mark.asyncio(loop_scope="module")  # the module's shared `bot` lives on that loop
async def test_a_slow_answer_holds_up_only_its_own_resident(bot: RunningBot) -> None:
    slow, quick = Resident.new(), Resident.new()
    bot.api.slow_next("sendMessage", 1.0, chat_id=slow.id)
    calls = await bot.send_all(
        [
            f.message(slow, QUESTION),
            f.message(slow, "在沈阳站丢东西了咋办"),
            f.message(quick, QUESTION),
        ]
    )
    order = [
        (c.params["chat_id"], c.callback_data()[-3]) for c in calls if c.method == "sendMessage"
    ]
    assert order == [
        (quick.id, "f:marriage-registration-points:+"),  # not held up by the slow one
        (slow.id, "f:marriage-registration-points:+"),  # the slow resident's answers stay in order
        (slow.id, "f:station-desk-lost-items:+"),
    ]


async def test_admins_get_their_commands_in_their_own_menu(api: FakeBotApi, tmp_path: Path) -> None:
    admin = Resident.new()
    settings = make_settings(api, tmp_path, admin_ids=frozenset({admin.id}))
    async with running_bot(settings, api):
        own = api.commands[f"chat:{admin.id}:zh"]
        everyone = api.commands["zh"]
        assert {"stats", "reload", "start"} <= {c["command"] for c in own}
        assert "stats" not in {c["command"] for c in everyone}
        assert "stats" in {c["command"] for c in api.commands[f"chat:{admin.id}:"]}


# ----- the answered-updates journal ---------------------------------------------------------


async def test_updates_in_the_journal_are_not_answered_again(
    api: FakeBotApi, tmp_path: Path
) -> None:
    # What a bot killed after answering `done` (before confirming it) leaves behind.
    settings = make_settings(api, tmp_path)
    earlier, waiting = Resident.new(), Resident.new()
    done = api.push(f.message(earlier, QUESTION))
    journal = settings.database_path.with_suffix(".answered")
    journal.parent.mkdir(parents=True, exist_ok=True)
    journal.write_text(f"{done}\n", encoding="utf-8")
    async with running_bot(settings, api) as bot:
        calls = await bot.send(f.message(waiting, QUESTION))
        assert [c.params["chat_id"] for c in calls] == [waiting.id]
        for _ in range(100):  # the skipped update is confirmed with the next one
            if api.all_confirmed():
                break
            await asyncio.sleep(0.05)
        assert api.all_confirmed()
    assert not api.sent(earlier.id)
    # A clean stop confirmed everything: the journal is emptied for the next start.
    assert journal.read_text(encoding="utf-8") == ""
