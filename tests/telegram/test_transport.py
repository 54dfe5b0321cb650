"""The aiohttp transport: what PTB's httpx request did, at a fraction of the cost."""

from __future__ import annotations

import pytest
from telegram.error import NetworkError, TimedOut

from bot.telegram.request import polling_request
from bot.telegram.transport import AiohttpRequest
from tests.telegram import factories
from tests.telegram.fake_api import FakeBotApi

RESIDENT = factories.Resident.new()


async def test_an_upload_arrives_whole_with_its_fields(api: FakeBotApi) -> None:
    png = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 40
    request = AiohttpRequest(2)
    async with api.bare_bot(request=request, get_updates_request=polling_request()) as bot:
        await bot.send_photo(RESIDENT.id, png, caption="统计 <b>7 天</b>", parse_mode="HTML")
    call = api.calls("sendPhoto")[-1]
    assert list(call.files.values()) == [png]
    assert call.params["caption"] == "统计 <b>7 天</b>"
    assert int(call.params["chat_id"]) == RESIDENT.id


async def test_a_slow_answer_is_a_timeout(api: FakeBotApi) -> None:
    request = AiohttpRequest(2, read_timeout=0.3)
    async with api.bare_bot(request=request, get_updates_request=polling_request()) as bot:
        api.slow_next("sendMessage", 2.0)
        with pytest.raises(TimedOut):
            await bot.send_message(RESIDENT.id, "a")
        # A timeout passed to the call wins over the request's own.
        api.slow_next("sendMessage", 0.5)
        await bot.send_message(RESIDENT.id, "b", read_timeout=5)
    # (The fake records a call once answered; the timed-out one was abandoned first.)
    assert [c.text for c in api.calls("sendMessage")][-1] == "b"


async def test_an_unreachable_api_is_a_network_error() -> None:
    request = AiohttpRequest(1, connect_timeout=2)
    await request.initialize()
    try:
        with pytest.raises(NetworkError):  # port 9 (discard) is closed on 127.0.0.1
            await request.do_request("http://127.0.0.1:9/botX/getMe", "POST")
    finally:
        await request.shutdown()


def test_the_proxy_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "https_proxy", "NO_PROXY", "no_proxy"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.internal:3128")
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    request = AiohttpRequest(1)
    assert request._proxy("https://api.telegram.org/botX/sendMessage") == (
        "http://proxy.internal:3128"
    )
    assert request._proxy("http://127.0.0.1:8081/botX/sendMessage") is None
    assert request._proxy("http://example.org/botX/sendMessage") is None  # no HTTP_PROXY
    # Read once per host: a later change of the environment needs a restart, as with httpx.
    monkeypatch.delenv("HTTPS_PROXY")
    assert request._proxy("https://api.telegram.org/botX/getMe") == "http://proxy.internal:3128"
