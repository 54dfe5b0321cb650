"""The request objects: sends arrive whole as JSON; polling skips updates already started."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

import pytest
import pytest_asyncio
from telegram import Bot, InlineKeyboardButton, InlineKeyboardMarkup
from telegram.constants import ParseMode
from telegram.error import BadRequest, RetryAfter

from bot.telegram.request import KNOWN_UPDATES, PollingRequest, polling_request, sending_request
from tests.telegram import factories
from tests.telegram.fake_api import FakeBotApi

RESIDENT = factories.Resident.new()


@pytest_asyncio.fixture
async def tg(api: FakeBotApi) -> AsyncIterator[Bot]:
    bot = api.bare_bot(request=sending_request(2), get_updates_request=polling_request())
    async with bot:
        yield bot


async def test_a_send_arrives_whole(tg: Bot, api: FakeBotApi) -> None:
    text = "<b>结婚登记</b>\n\n需要带 &lt;户口簿&gt; 和身份证 🙂"
    markup = InlineKeyboardMarkup(
        [
            [InlineKeyboardButton("❓ 补领结婚证", callback_data="e:entry-b")],
            [
                InlineKeyboardButton("👍", callback_data="f:entry-a:+"),
                InlineKeyboardButton("👎", callback_data="f:entry-a:-"),
            ],
        ]
    )
    sent = await tg.send_message(
        RESIDENT.id,
        text,
        parse_mode=ParseMode.HTML,
        reply_markup=markup,
        disable_notification=True,
        read_timeout=5,
    )
    call = api.calls("sendMessage")[-1]
    assert call.params["chat_id"] == RESIDENT.id
    assert call.text == text
    assert call.params["disable_notification"] is True
    assert call.markup == markup.to_dict()
    assert sent.text == "结婚登记\n\n需要带 <户口簿> 和身份证 🙂"


async def test_a_refused_send_raises_as_before(tg: Bot) -> None:
    # Telegram's answer is read by PTB as always: a 400 is a BadRequest, not retried.
    with pytest.raises(BadRequest):
        await tg.send_message(RESIDENT.id, "<b>unclosed", parse_mode=ParseMode.HTML)


@pytest.mark.parametrize(
    ("retry_429", "errors"),
    [
        (True, [429, None]),  # no rate limiter: the request object waits and retries
        (False, [429]),  # a rate limiter must see the 429, so it is passed on untouched
    ],
    ids=["retried-here", "left-to-the-rate-limiter"],
)
async def test_a_429_is_retried_only_when_asked(
    api: FakeBotApi, retry_429: bool, errors: list[int | None]
) -> None:
    request = sending_request(2, retry_429=retry_429)
    async with api.bare_bot(request=request, get_updates_request=polling_request()) as bot:
        api.fail_next("sendMessage", code=429, retry_after=1)
        if retry_429:
            await bot.send_message(RESIDENT.id, "a")
        else:
            with pytest.raises(RetryAfter, match="1"):
                await bot.send_message(RESIDENT.id, "a")
    assert [c.error for c in api.calls("sendMessage")] == errors


def _answer(*update_ids: int) -> bytes:
    return json.dumps({"ok": True, "result": [{"update_id": i} for i in update_ids]}).encode()


@pytest.mark.parametrize(
    ("known", "kept"),
    [
        (None, [5, 6, 7]),  # nobody set it: another caller of getUpdates gets everything
        (-1, [5, 6, 7]),
        (5, [6, 7]),
        (7, []),
        (9, []),
    ],
    ids=["not-polling", "nothing-started", "first-started", "all-started", "beyond"],
)
def test_polling_skips_updates_already_started(known: int | None, kept: list[int]) -> None:
    token = KNOWN_UPDATES.set(known) if known is not None else None
    try:
        data = PollingRequest.parse_json_payload(_answer(5, 6, 7))
    finally:
        if token is not None:
            KNOWN_UPDATES.reset(token)
    assert [u["update_id"] for u in data["result"]] == kept


def test_polling_leaves_other_answers_alone() -> None:
    token = KNOWN_UPDATES.set(10)
    try:
        error = PollingRequest.parse_json_payload(b'{"ok": false, "description": "Conflict"}')
        me = PollingRequest.parse_json_payload(b'{"ok": true, "result": {"id": 1}}')
    finally:
        KNOWN_UPDATES.reset(token)
    assert error == {"ok": False, "description": "Conflict"}
    assert me == {"ok": True, "result": {"id": 1}}
