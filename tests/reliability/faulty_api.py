"""The fake Bot API with the network faults Telegram's real one shows now and then.

`FakeBotApi.fail_next` already answers with 429 (retry_after) or 500. This adds
the failures that have no answer at all:

* `drop_next`: the server closes the connection without a response (the request
  is not applied: no message is sent);
* `stall_next`: the server holds the request for longer than the client's read
  timeout, then closes the connection without applying it.

Both are recorded in the call log with a negative `error` (`DROPPED`, `STALLED`),
so a test can show how often the bot retried.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler
from typing import Any

from bot.telegram.transport import READ_TIMEOUT
from tests.telegram.fake_api import ApiCall, FakeBotApi

DROPPED = -1
STALLED = -2
#: How long a stalled sendMessage is held: just past the bot's read timeout for it.
STALL_SECONDS = READ_TIMEOUT + 1.0


class _NoResponse(Exception):
    """Raised inside the handler: close the connection without answering."""


@dataclass
class _Fault:
    kind: int
    remaining: int
    seconds: float = 0.0


class FaultyBotApi(FakeBotApi):
    """`FakeBotApi` plus dropped and stalled requests."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._faults: dict[str, list[_Fault]] = {}
        self._fault_lock = threading.Lock()

    def drop_next(self, method: str, times: int = 1) -> None:
        """Close the connection of the next `times` calls of `method` without answering."""
        with self._fault_lock:
            self._faults.setdefault(method, []).append(_Fault(DROPPED, times))

    def stall_next(self, method: str, seconds: float, times: int = 1) -> None:
        """Hold the next `times` calls of `method` for `seconds`, then close without answering."""
        with self._fault_lock:
            self._faults.setdefault(method, []).append(_Fault(STALLED, times, seconds))

    def handle(self, method: str, params: dict[str, Any], files: dict[str, bytes]) -> Any:
        """Apply a pending drop or stall first; otherwise answer like `FakeBotApi`."""
        fault = self._take_fault(method)
        if fault is None:
            return super().handle(method, params, files)
        with self._lock:
            self._calls.append(ApiCall(method, params, files, error=fault.kind))
        if fault.kind == STALLED:
            time.sleep(fault.seconds)
        raise _NoResponse

    def _take_fault(self, method: str) -> _Fault | None:
        with self._fault_lock:
            queue = self._faults.get(method)
            if not queue:
                return None
            fault = queue[0]
            fault.remaining -= 1
            if fault.remaining <= 0:
                queue.pop(0)
            return fault

    def _request_handler(self) -> type[BaseHTTPRequestHandler]:
        """`FakeBotApi`'s handler, able to hang up without answering."""
        base: Any = super()._request_handler()

        class Handler(base):
            def _api(self, method: str, params: dict[str, Any], files: dict[str, bytes]) -> None:
                try:
                    super()._api(method, params, files)
                except _NoResponse:
                    self.close_connection = True
                    with contextlib.suppress(OSError):
                        self.connection.shutdown(socket.SHUT_RDWR)

        return Handler
