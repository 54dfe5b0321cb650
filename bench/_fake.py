"""A fast fake Bot API for load benchmarks, and helpers to run a bot process against it.

`tests.telegram.fake_api.FakeBotApi` is the reference fake (every call recorded,
Telegram's checks, fault injection); it is built on `http.server`, which costs
about 2 ms a request and, without TCP_NODELAY, 40 ms whenever Nagle's algorithm
meets a delayed ACK. Under load that fake, not the bot, would be measured. This
one speaks just enough HTTP/1.1 on asyncio (keep-alive, one write per response),
answers only what a polling bot calls, and timestamps what matters:

* `push_many` makes updates available at once (getUpdates confirms them on a
  later offset, like Telegram) and remembers when each became available;
* every sendMessage is kept per chat with its arrival time, so a benchmark can
  pair the k-th reply of a chat with its k-th question.

Texts still go through the reference fake's HTML check, so a reply Telegram
would refuse is counted as refused (`rejected`), not as delivered.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import threading
import time
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from tests.telegram.fake_api import BOT_ID, BOT_USERNAME, TOKEN, TelegramError, _check_text
from tests.telegram.fake_api import _parse_body as parse_body

_BOT_USER = {
    "id": BOT_ID,
    "is_bot": True,
    "first_name": "Shenyang Help Desk",
    "username": BOT_USERNAME,
    "can_join_groups": True,
    "can_read_all_group_messages": False,
    "supports_inline_queries": True,
}


@dataclass
class Reply:
    """One sendMessage the fake accepted."""

    at: float
    chat_id: int
    text: str


@dataclass
class FastBotApi:
    """The fast fake; `start()` serves it on 127.0.0.1 from a thread of its own."""

    token: str = TOKEN
    #: Verify sendMessage texts like Telegram (HTML, length): costs the fake ~0.1 ms each.
    check_html: bool = True
    #: Seconds sendMessage takes to answer (the round trip to a distant Bot API); 0: at once.
    send_latency: float = 0.0
    replies: dict[int, list[Reply]] = field(default_factory=lambda: defaultdict(list))
    #: Replies Telegram would have refused (HTML that does not parse, too long...).
    rejected: list[tuple[int, str]] = field(default_factory=list)
    #: update_id -> when it became available to getUpdates (time.perf_counter()).
    available_at: dict[int, float] = field(default_factory=dict)
    get_updates_calls: int = 0
    _updates: list[dict[str, Any]] = field(default_factory=list)
    _ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))
    _message_ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))
    _loop: asyncio.AbstractEventLoop | None = None
    _wakeup: asyncio.Event | None = None
    _server: asyncio.Server | None = None
    _thread: threading.Thread | None = None
    _port: int = 0
    _count_lock: threading.Lock = field(default_factory=threading.Lock)
    _reply_count: int = 0

    # ----- life cycle ------------------------------------------------------------------

    def start(self) -> FastBotApi:
        """Serve on a free port of 127.0.0.1; returns when it accepts connections."""
        ready = threading.Event()

        def serve() -> None:
            loop = asyncio.new_event_loop()
            self._loop = loop
            self._wakeup = asyncio.Event()
            self._server = loop.run_until_complete(
                asyncio.start_server(self._connection, "127.0.0.1", 0)
            )
            self._port = int(self._server.sockets[0].getsockname()[1])
            ready.set()
            try:
                loop.run_forever()
            finally:
                loop.run_until_complete(loop.shutdown_asyncgens())
                loop.close()

        self._thread = threading.Thread(target=serve, name="fast-bot-api", daemon=True)
        self._thread.start()
        ready.wait(10)
        return self

    def stop(self) -> None:
        """Stop serving."""
        loop = self._loop
        if loop is None:
            return

        async def close() -> None:
            if self._server is not None:
                self._server.close()
            others = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            for task in others:
                task.cancel()
            await asyncio.gather(*others, return_exceptions=True)
            loop.stop()

        asyncio.run_coroutine_threadsafe(close(), loop)
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> FastBotApi:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        """What TELEGRAM_BOT_API_URL should be."""
        return f"http://127.0.0.1:{self._port}"

    # ----- driving -----------------------------------------------------------------------

    def push_many(self, updates: Iterable[Mapping[str, Any]]) -> list[int]:
        """Make `updates` available to getUpdates now (thread-safe); their update ids."""
        assert self._loop is not None, "start() first"
        done = threading.Event()
        ids: list[int] = []

        def add() -> None:
            now = time.perf_counter()
            for update in updates:
                update_id = next(self._ids)
                ids.append(update_id)
                self.available_at[update_id] = now
                self._updates.append({**update, "update_id": update_id})
            assert self._wakeup is not None
            self._wakeup.set()
            done.set()

        self._loop.call_soon_threadsafe(add)
        done.wait(10)
        return ids

    @property
    def reply_count(self) -> int:
        """Accepted sendMessage calls so far."""
        with self._count_lock:
            return self._reply_count

    def wait_replies(self, count: int, *, timeout: float, idle: float | None = None) -> bool:
        """Block until `count` replies arrived; False on timeout or `idle` seconds of silence."""
        deadline = time.monotonic() + timeout
        last, last_change = -1, time.monotonic()
        while time.monotonic() < deadline:
            now_count = self.reply_count
            if now_count >= count:
                return True
            if now_count != last:
                last, last_change = now_count, time.monotonic()
            elif idle is not None and time.monotonic() - last_change > idle:
                return False
            time.sleep(0.01)
        return False

    # ----- HTTP --------------------------------------------------------------------------

    async def _connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                request_line, *header_lines = head.decode("latin-1").split("\r\n")
                headers = {}
                for line in header_lines:
                    name, _, value = line.partition(":")
                    headers[name.strip().lower()] = value.strip()
                body = await reader.readexactly(int(headers.get("content-length") or 0))
                path = request_line.split(" ")[1].split("?")[0]
                status, payload = await self._dispatch(path, headers, body)
                data = json.dumps(payload).encode()
                writer.write(
                    b"HTTP/1.1 %d X\r\nContent-Type: application/json\r\n"
                    b"Content-Length: %d\r\n\r\n%s" % (status, len(data), data)
                )
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError, asyncio.LimitOverrunError):
            pass
        except asyncio.CancelledError:
            # stop() cancels open connections; ending quietly keeps asyncio from logging it.
            pass
        finally:
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()

    async def _dispatch(
        self, path: str, headers: dict[str, str], body: bytes
    ) -> tuple[int, dict[str, Any]]:
        prefix = f"/bot{self.token}/"
        from urllib.parse import unquote

        path = unquote(path)
        if not path.startswith(prefix):
            return 401, {"ok": False, "error_code": 401, "description": "Unauthorized"}
        method = path[len(prefix) :]
        params, _files = parse_body(headers.get("content-type", ""), body)
        try:
            result = await self._api(method, params)
        except TelegramError as exc:
            return exc.code, {"ok": False, "error_code": exc.code, "description": exc.description}
        return 200, {"ok": True, "result": result}

    async def _api(self, method: str, params: dict[str, Any]) -> Any:
        if method == "getUpdates":
            return await self._get_updates(params)
        if method == "sendMessage":
            if self.send_latency:
                await asyncio.sleep(self.send_latency)
            return self._send_message(params)
        if method == "getMe":
            return _BOT_USER
        if method in ("answerCallbackQuery", "sendChatAction", "editMessageReplyMarkup"):
            return True
        if method in ("setMyCommands", "deleteMyCommands", "deleteWebhook", "close"):
            return True
        raise TelegramError(404, "Not Found: method not found")

    async def _get_updates(self, params: dict[str, Any]) -> list[dict[str, Any]]:
        assert self._wakeup is not None
        self.get_updates_calls += 1
        offset = int(params.get("offset") or 0)
        limit = int(params.get("limit") or 100)
        timeout = float(params.get("timeout") or 0)
        if offset > 0:
            drop = 0
            while drop < len(self._updates) and self._updates[drop]["update_id"] < offset:
                drop += 1
            del self._updates[:drop]
        if not self._updates and timeout > 0:
            self._wakeup.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wakeup.wait(), timeout)
        return self._updates[:limit]

    def _send_message(self, params: dict[str, Any]) -> dict[str, Any]:
        now = time.perf_counter()
        chat_id = params.get("chat_id")
        if not isinstance(chat_id, int):
            raise TelegramError(400, "Bad Request: chat not found")
        text = str(params.get("text") or "")
        if self.check_html:
            try:
                text = _check_text(text, params.get("parse_mode"))
            except TelegramError:
                self.rejected.append((chat_id, text))
                raise
        self.replies[chat_id].append(Reply(now, chat_id, text))
        with self._count_lock:
            self._reply_count += 1
        return {
            "message_id": next(self._message_ids),
            "date": int(time.time()),
            "chat": {"id": chat_id, "type": "private", "first_name": "Resident"},
            "from": _BOT_USER,
            "text": text,
        }
