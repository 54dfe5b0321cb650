"""The aiohttp transport: what PTB's httpx request did, at a fraction of the cost."""

from __future__ import annotations

import asyncio
import socket

import pytest
from telegram import InputFile
from telegram.error import NetworkError, TimedOut
from telegram.request import RequestData
from telegram.request._requestparameter import RequestParameter

from bot.telegram.request import polling_request
from bot.telegram.transport import AiohttpRequest, _body
from tests.telegram import factories
from tests.telegram.fake_api import FakeBotApi

RESIDENT = factories.Resident.new()
PROXY_VARIABLES = ("http_proxy", "https_proxy", "all_proxy", "no_proxy")


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def no_env_proxy(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    for name in PROXY_VARIABLES:
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.upper(), raising=False)
    return monkeypatch


async def test_an_upload_arrives_whole_with_its_fields(api: FakeBotApi) -> None:
    png = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 40
    request = AiohttpRequest(2)
    async with api.bare_bot(request=request, get_updates_request=polling_request()) as bot:
        await bot.send_photo(RESIDENT.id, png, caption="统计 <b>7 天</b>", parse_mode="HTML")
    call = api.calls("sendPhoto")[-1]
    assert list(call.files.values()) == [png]
    assert call.params["caption"] == "统计 <b>7 天</b>"
    assert int(call.params["chat_id"]) == RESIDENT.id


async def test_upload_file_names_are_sent_as_written() -> None:
    class Sink:
        def __init__(self) -> None:
            self.data = b""

        async def write(self, chunk: bytes) -> None:
            self.data += chunk

    document = InputFile(b"%PDF-1.4", filename="统计 7天.pdf", attach=True)
    form, _ = _body(RequestData([RequestParameter.from_input("document", document)]))
    sink = Sink()
    await form().write(sink)
    # Telegram's multipart parser takes the name as it is (no percent-decoding).
    assert 'filename="统计 7天.pdf"'.encode() in sink.data


async def test_a_slow_answer_is_a_timeout_and_a_call_timeout_wins(api: FakeBotApi) -> None:
    request = AiohttpRequest(2, read_timeout=0.3)
    async with api.bare_bot(request=request, get_updates_request=polling_request()) as bot:
        api.slow_next("sendMessage", 2.0)
        with pytest.raises(TimedOut):
            await bot.send_message(RESIDENT.id, "a")
        api.slow_next("sendMessage", 0.5)
        await bot.send_message(RESIDENT.id, "b", read_timeout=5)
        api.slow_next("sendMessage", 0.5)
        await bot.send_message(RESIDENT.id, "c", read_timeout=None)  # None: no limit
    # (The fake records a call once answered; the timed-out one was abandoned first.)
    assert [c.text for c in api.calls("sendMessage")][-2:] == ["b", "c"]


async def test_a_full_pool_times_out_without_sending(api: FakeBotApi) -> None:
    request = AiohttpRequest(1, pool_timeout=0.2, connect_timeout=5)
    async with api.bare_bot(request=request, get_updates_request=polling_request()) as bot:
        api.slow_next("sendMessage", 1.5)
        first = asyncio.create_task(bot.send_message(RESIDENT.id, "first"))
        await asyncio.sleep(0.3)  # the one connection is busy with the first call
        started = asyncio.get_running_loop().time()
        with pytest.raises(TimedOut, match="not sent"):
            await bot.send_message(RESIDENT.id, "second")
        waited = asyncio.get_running_loop().time() - started
        await first
    # Not the connect timeout: the pool wait alone is bounded (generous bound, shared CI).
    assert waited < 1.2
    assert [c.text for c in api.calls("sendMessage")] == ["first"]


async def test_an_unreachable_api_is_a_network_error(no_env_proxy: pytest.MonkeyPatch) -> None:
    request = AiohttpRequest(1, connect_timeout=2)
    await request.initialize()
    try:
        with pytest.raises(NetworkError):
            await request.do_request(f"http://127.0.0.1:{_closed_port()}/botX/getMe", "POST")
    finally:
        await request.shutdown()


async def test_a_shut_down_request_refuses_calls(api: FakeBotApi) -> None:
    request = AiohttpRequest(1)
    await request.initialize()
    await request.shutdown()
    with pytest.raises(RuntimeError, match="shut down"):
        await request.do_request(f"{api.url}/bot{api.token}/getMe", "POST")
    await request.initialize()  # and works again once initialised
    try:
        code, _ = await request.do_request(f"{api.url}/bot{api.token}/getMe", "POST")
    finally:
        await request.shutdown()
    assert code == 200


@pytest.mark.parametrize("variable", ["HTTP_PROXY", "ALL_PROXY"])
async def test_calls_go_through_the_environment_proxy(
    api: FakeBotApi, no_env_proxy: pytest.MonkeyPatch, variable: str
) -> None:
    # A proxy nobody listens on: the call fails at the proxy, so it did go there.
    no_env_proxy.setenv(variable, f"127.0.0.1:{_closed_port()}")  # no scheme: http://
    request = AiohttpRequest(1, connect_timeout=2)
    await request.initialize()
    try:
        with pytest.raises(NetworkError, match="Proxy"):
            await request.do_request(f"{api.url}/bot{api.token}/getMe", "POST")
        # NO_PROXY is honoured (checked once per host, so a fresh request object).
        no_env_proxy.setenv("NO_PROXY", "127.0.0.1,localhost")
        fresh = AiohttpRequest(1)
        try:
            code, _ = await fresh.do_request(f"{api.url}/bot{api.token}/getMe", "POST")
        finally:
            await fresh.shutdown()
        assert code == 200
    finally:
        await request.shutdown()


async def test_the_proxy_setting_wins_over_the_environment(
    api: FakeBotApi, no_env_proxy: pytest.MonkeyPatch
) -> None:
    no_env_proxy.setenv("NO_PROXY", "127.0.0.1,localhost")
    request = AiohttpRequest(1, proxy=f"http://127.0.0.1:{_closed_port()}", connect_timeout=2)
    try:
        with pytest.raises(NetworkError, match="Proxy"):
            await request.do_request(f"{api.url}/bot{api.token}/getMe", "POST")
    finally:
        await request.shutdown()
