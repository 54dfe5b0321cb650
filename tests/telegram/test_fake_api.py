"""The fake Bot API answers python-telegram-bot like Telegram does (the tool of the e2e tests)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
import pytest_asyncio
from telegram import Bot, InlineKeyboardButton, InlineKeyboardMarkup
from telegram.constants import ParseMode
from telegram.error import BadRequest, NetworkError, RetryAfter
from telegram.request import HTTPXRequest

from tests.telegram import factories
from tests.telegram.fake_api import BOT_USERNAME, FakeBotApi

RESIDENT = factories.Resident.new()


@pytest_asyncio.fixture
async def tg(api: FakeBotApi) -> AsyncIterator[Bot]:
    bot = api.bare_bot(
        request=HTTPXRequest(read_timeout=5), get_updates_request=HTTPXRequest(read_timeout=5)
    )
    async with bot:
        yield bot


async def test_get_me_and_records_calls(tg: Bot, api: FakeBotApi) -> None:
    assert tg.username == BOT_USERNAME  # `async with` called getMe
    await tg.send_message(RESIDENT.id, "<b>hi</b> &amp; bye", parse_mode=ParseMode.HTML)
    call = api.calls("sendMessage")[-1]
    assert call.params["chat_id"] == RESIDENT.id
    assert call.text == "<b>hi</b> &amp; bye"
    assert call.result["text"] == "hi & bye"


@pytest.mark.parametrize(
    "text",
    ["1 < 2", "AT&T", "<script>x</script>", "<b>unclosed", "x" * 4097],
    ids=["bare-lt", "bare-amp", "unknown-tag", "unclosed-tag", "too-long"],
)
async def test_rejects_what_telegram_rejects(tg: Bot, text: str) -> None:
    with pytest.raises(BadRequest):
        await tg.send_message(RESIDENT.id, text, parse_mode=ParseMode.HTML)


async def test_long_callback_data_is_refused(tg: Bot) -> None:
    markup = InlineKeyboardMarkup.from_button(InlineKeyboardButton("x", callback_data="e" * 65))
    with pytest.raises(BadRequest):
        await tg.send_message(RESIDENT.id, "x", reply_markup=markup)


async def test_edit_to_same_content_is_not_modified(tg: Bot) -> None:
    sent = await tg.send_message(RESIDENT.id, "same")
    with pytest.raises(BadRequest, match="not modified"):
        await tg.edit_message_text("same", chat_id=RESIDENT.id, message_id=sent.message_id)
    edited = await tg.edit_message_text("new", chat_id=RESIDENT.id, message_id=sent.message_id)
    assert not isinstance(edited, bool) and edited.text == "new"


async def test_injected_errors_then_success(tg: Bot, api: FakeBotApi) -> None:
    api.fail_next("sendMessage", code=429, retry_after=3)
    api.fail_next("sendMessage", code=500)
    # (`.retry_after` itself warns about its future type: read the message instead.)
    with pytest.raises(RetryAfter, match="3"):
        await tg.send_message(RESIDENT.id, "a")
    with pytest.raises(NetworkError):
        await tg.send_message(RESIDENT.id, "b")
    await tg.send_message(RESIDENT.id, "c")
    assert [c.error for c in api.calls("sendMessage")] == [429, 500, None]


async def test_get_updates_confirms_only_with_a_later_offset(tg: Bot, api: FakeBotApi) -> None:
    first = api.push(factories.message(RESIDENT, "one"))
    api.push(factories.message(RESIDENT, "two"))
    assert [u.update_id for u in await tg.get_updates(timeout=0)] == [first, first + 1]
    # Not confirmed yet: the same updates come again.
    assert len(await tg.get_updates(timeout=0)) == 2
    assert [u.update_id for u in await tg.get_updates(offset=first + 1, timeout=0)] == [first + 1]
    assert await tg.get_updates(offset=first + 2, timeout=0) == ()
    assert api.all_confirmed()


async def test_long_poll_returns_when_an_update_arrives(tg: Bot, api: FakeBotApi) -> None:
    poll = asyncio.create_task(tg.get_updates(timeout=5))
    await asyncio.sleep(0.2)
    api.push(factories.message(RESIDENT, "late"))
    updates = await asyncio.wait_for(poll, 3)
    assert updates[0].message is not None and updates[0].message.text == "late"


async def test_file_download(tg: Bot, api: FakeBotApi) -> None:
    api.add_file("doc-1", b"entries: []\n", file_path="documents/new.yaml")
    file = await tg.get_file("doc-1")
    assert bytes(await file.download_as_bytearray()) == b"entries: []\n"


async def test_webhook_conflicts_with_polling(tg: Bot, api: FakeBotApi) -> None:
    await tg.set_webhook("http://127.0.0.1:1/hook", secret_token="s3cret")
    assert api.webhook == {"url": "http://127.0.0.1:1/hook", "secret_token": "s3cret"}
    info = await tg.get_webhook_info()
    assert info.url == "http://127.0.0.1:1/hook"
    with pytest.raises(Exception, match="Conflict"):
        await tg.get_updates(timeout=0)
    await tg.delete_webhook()
    assert await tg.get_updates(timeout=0) == ()


async def test_uploads_are_recorded(tg: Bot, api: FakeBotApi) -> None:
    sent = await tg.send_document(
        RESIDENT.id, b"a,b\n1,2\n", filename="unanswered.csv", caption="csv"
    )
    assert sent.document is not None and sent.caption == "csv"
    call = api.calls("sendDocument")[-1]
    assert call.files and next(iter(call.files.values())) == b"a,b\n1,2\n"
    photo = await tg.send_photo(RESIDENT.id, b"\x89PNG fake")
    assert photo.photo
    # What was uploaded can be downloaded again, as from Telegram.
    file = await tg.get_file(sent.document.file_id)
    assert bytes(await file.download_as_bytearray()) == b"a,b\n1,2\n"
