"""The HTTP request objects: one that retries what Telegram did not receive, one for polling.

python-telegram-bot retries nothing but (with the rate limiter) a 429. A reply
lost to a 502 from a proxy, a dropped connection or a timeout is a resident
left without an answer, so sends are retried a few times with backoff. A 429 is
retried here only when no rate limiter is installed: the limiter must see it to
pause every send for the wait Telegram asks for. A read timeout may hide a
message Telegram did deliver; a rare duplicate is better than a lost answer.
Sends go through `bot.telegram.transport` (aiohttp, JSON bodies), which costs a
fraction of PTB's httpx request per call.

The polling request skips, before PTB parses them, the updates the poller has
already started: until they are answered Telegram sends them again with every
getUpdates (see `bot.telegram.polling`).
"""

from __future__ import annotations

import asyncio
import json
import logging
from contextvars import ContextVar
from typing import Any, Literal

from telegram.error import NetworkError
from telegram.request import BaseRequest, HTTPXRequest, RequestData

from bot.telegram.transport import (
    CONNECT_TIMEOUT,
    POOL_TIMEOUT,
    READ_TIMEOUT,
    WRITE_TIMEOUT,
    AiohttpRequest,
    with_scheme,
)

log = logging.getLogger(__name__)

#: Retries after the first attempt.
RETRIES = 3
#: First pause between attempts (seconds), doubled each time.
BACKOFF = 0.5
#: The longest `retry_after` of a 429 honoured here; longer waits are the rate limiter's call.
MAX_RETRY_AFTER = 30.0


#: The highest update id the poller running in this context has started; -1: none.
#: Set by `bot.telegram.polling` before its getUpdates call (a context variable, so it
#: reaches `PollingRequest` through PTB's call stack and no other caller sees it).
KNOWN_UPDATES: ContextVar[int] = ContextVar("known_updates", default=-1)


def polling_request(proxy: str | None = None) -> HTTPXRequest:
    """The request object of getUpdates: its own connection, so the long poll never waits
    for a free slot behind answers (PTB adds the poll timeout to this read timeout).

    Args:
        proxy: HTTP proxy (`Settings.telegram_proxy`); None: the environment's (httpx).
    """
    return PollingRequest(
        connection_pool_size=1,
        connect_timeout=CONNECT_TIMEOUT,
        read_timeout=10.0,
        proxy=with_scheme(proxy) if proxy else None,
    )


class PollingRequest(HTTPXRequest):
    """`HTTPXRequest` whose getUpdates answers leave out the updates already started."""

    @staticmethod
    def parse_json_payload(payload: bytes) -> dict[str, Any]:
        """Parse Telegram's answer; drop updates at or below `KNOWN_UPDATES`.

        While updates are in flight each getUpdates returns them again (they are not
        confirmed yet), and building PTB objects for them cost more than answering them.
        """
        data: dict[str, Any] = HTTPXRequest.parse_json_payload(payload)
        known = KNOWN_UPDATES.get()
        result = data.get("result")
        if known >= 0 and isinstance(result, list):
            data["result"] = [u for u in result if not _update_at_or_below(u, known)]
        return data


def _update_at_or_below(update: object, known: int) -> bool:
    if not isinstance(update, dict):
        return False
    update_id = update.get("update_id")
    return isinstance(update_id, int) and update_id <= known


def sending_request(
    pool_size: int, *, proxy: str | None = None, retry_429: bool = True
) -> RetryingRequest:
    """The request object that sends answers: aiohttp, retrying what failed.

    Args:
        pool_size: Connections; one per update in flight, so none waits for a free one.
        proxy: HTTP proxy (`Settings.telegram_proxy`); None: the environment's.
        retry_429: Also wait out and retry 429s; False when a rate limiter does that.
    """
    return RetryingRequest(pool_size, proxy=proxy, retry_429=retry_429)


def plain_request(pool_size: int, transport: Literal["httpx", "aiohttp"]) -> BaseRequest:
    """A request object with the same settings that retries nothing (benchmark baselines).

    Args:
        pool_size: Connections.
        transport: "httpx" is PTB's own `HTTPXRequest`; "aiohttp" the bot's transport.
    """
    if transport == "aiohttp":
        return AiohttpRequest(pool_size)
    return HTTPXRequest(
        connection_pool_size=pool_size,
        connect_timeout=CONNECT_TIMEOUT,
        read_timeout=READ_TIMEOUT,
        write_timeout=WRITE_TIMEOUT,
        pool_timeout=POOL_TIMEOUT,
    )


class RetryingRequest(AiohttpRequest):
    """`AiohttpRequest` that retries 5xx answers, network failures and 429s.

    Args:
        pool_size: As `AiohttpRequest`.
        proxy: As `AiohttpRequest`.
        retry_429: Wait out and retry a 429 here. False passes it on (PTB raises
            `RetryAfter`) for a rate limiter, which then pauses every send, not just this one.
    """

    def __init__(self, pool_size: int, *, proxy: str | None = None, retry_429: bool = True) -> None:
        super().__init__(pool_size, proxy=proxy)
        self._retry_429 = retry_429

    async def do_request(
        self,
        url: str,
        method: str,
        request_data: RequestData | None = None,
        *args: Any,
        **kwargs: Any,
    ) -> tuple[int, bytes]:
        """Send the request; retry it when Telegram (or the way there) failed."""
        pause = BACKOFF
        for attempt in range(RETRIES + 1):
            last = attempt == RETRIES
            try:
                code, payload = await super().do_request(url, method, request_data, *args, **kwargs)
            except NetworkError as exc:  # TimedOut is a NetworkError too
                if last:
                    raise
                log.warning(
                    "%s failed (%s); retry %d in %.1f s", _name(url), exc, attempt + 1, pause
                )
            else:
                if code == 429 and self._retry_429 and not last:
                    wait = _retry_after(payload)
                    if wait is not None and wait <= MAX_RETRY_AFTER:
                        log.warning("%s: 429, waiting %.0f s", _name(url), wait)
                        await asyncio.sleep(wait)
                        continue
                if code < 500 or last:
                    return code, payload
                log.warning("%s: HTTP %d; retry %d in %.1f s", _name(url), code, attempt + 1, pause)
            await asyncio.sleep(pause)
            pause *= 2
        raise AssertionError("unreachable")  # the last attempt returns or raises


def _name(url: str) -> str:
    # The URL holds the token: log the method name only.
    return url.rsplit("/", 1)[-1]


def _retry_after(payload: bytes) -> float | None:
    try:
        value = json.loads(payload)["parameters"]["retry_after"]
    except (ValueError, KeyError, TypeError):
        return None
    return float(value) if isinstance(value, int | float) else None
