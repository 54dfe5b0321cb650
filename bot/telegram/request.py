"""The HTTP request objects: one that retries what Telegram did not receive, one for polling.

python-telegram-bot retries nothing but (with the rate limiter) a 429. A reply
lost to a 502 from a proxy, a dropped connection or a timeout is a resident
left without an answer, so sends are retried a few times with backoff. A 429 is
retried here only when no rate limiter is installed: the limiter must see it to
pause every send for the wait Telegram asks for. A read timeout may hide a
message Telegram did deliver; a rare duplicate is better than a lost answer. Sends travel as one JSON body rather than PTB's form fields:
a long Chinese answer costs a percent-escape per byte in Python, JSON one C call.

The polling request skips, before PTB parses them, the updates the poller has
already started: until they are answered Telegram sends them again with every
getUpdates (see `bot.telegram.polling`).
"""

from __future__ import annotations

import asyncio
import functools
import json
import logging
from collections.abc import Callable
from contextvars import ContextVar
from typing import Any

import httpx
from telegram.error import NetworkError, TimedOut
from telegram.request import BaseRequest, HTTPXRequest, RequestData

log = logging.getLogger(__name__)

#: Retries after the first attempt.
RETRIES = 3
#: First pause between attempts (seconds), doubled each time.
BACKOFF = 0.5
#: The longest `retry_after` of a 429 honoured here (without a rate limiter); longer waits
#: fail the send.
MAX_RETRY_AFTER = 30.0


#: The highest update id the poller running in this context has started; -1: none.
#: Set by `bot.telegram.polling` before its getUpdates call (a context variable, so it
#: reaches `PollingRequest` through PTB's call stack and no other caller sees it).
KNOWN_UPDATES: ContextVar[int] = ContextVar("known_updates", default=-1)


def polling_request() -> HTTPXRequest:
    """The request object of getUpdates: its own connection, so the long poll never waits
    for a free slot behind answers (PTB adds the poll timeout to this read timeout)."""
    return PollingRequest(connection_pool_size=1, connect_timeout=10.0, read_timeout=10.0)


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
    pool_size: int, *, retrying: bool = True, retry_429: bool = True
) -> HTTPXRequest:
    """The request object that sends answers.

    Answers are small, so a slow network should fail in seconds, not hang a handler.

    Args:
        pool_size: Connections; one per update in flight, so none waits for a free one.
        retrying: Retry failed sends (the bot); False gives PTB's plain request (baselines).
        retry_429: Also wait out and retry 429s; False when a rate limiter does that.
    """
    kind: Callable[..., HTTPXRequest] = (
        functools.partial(RetryingRequest, retry_429=retry_429) if retrying else HTTPXRequest
    )
    return kind(
        connection_pool_size=pool_size,
        connect_timeout=10.0,
        read_timeout=15.0,
        write_timeout=15.0,
        pool_timeout=5.0,
    )


class RetryingRequest(HTTPXRequest):
    """`HTTPXRequest` that sends JSON and retries 5xx answers, network failures and 429s.

    Args:
        retry_429: Wait out and retry a 429 here. False passes it on (PTB raises
            `RetryAfter`) for a rate limiter, which then pauses every send, not just this one.
        **kwargs: As `HTTPXRequest`.
    """

    __slots__ = ("_retry_429",)

    def __init__(self, *, retry_429: bool = True, **kwargs: Any) -> None:
        super().__init__(**kwargs)
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
                code, payload = await self._send(url, method, request_data, *args, **kwargs)
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

    async def _send(
        self, url: str, method: str, request_data: RequestData | None, *args: Any, **kwargs: Any
    ) -> tuple[int, bytes]:
        """One attempt: the parameters as a JSON body (uploads go as PTB sends them)."""
        if request_data is None or request_data.contains_files or args:
            return await super().do_request(url, method, request_data, *args, **kwargs)
        # The Bot API takes JSON bodies; ensure_ascii keeps a lone surrogate (which
        # Telegram's own JSON can deliver) from failing the encoding.
        body = json.dumps(request_data.parameters, separators=(",", ":")).encode()
        client = self._client  # PTB's client: its pool, limits and proxy settings
        default, unset = client.timeout, BaseRequest.DEFAULT_NONE
        timeout = httpx.Timeout(
            connect=_given(kwargs.get("connect_timeout", unset), default.connect),
            read=_given(kwargs.get("read_timeout", unset), default.read),
            write=_given(kwargs.get("write_timeout", unset), default.write),
            pool=_given(kwargs.get("pool_timeout", unset), default.pool),
        )
        try:
            response = await client.request(
                method=method,
                url=url,
                headers={"User-Agent": self.USER_AGENT, "Content-Type": "application/json"},
                timeout=timeout,
                content=body,
            )
        except httpx.TimeoutException as exc:
            # The same errors as HTTPXRequest.do_request raises.
            if isinstance(exc, httpx.PoolTimeout):
                raise TimedOut(
                    "Pool timeout: all connections in the connection pool are occupied."
                ) from exc
            raise TimedOut from exc
        except httpx.HTTPError as exc:
            raise NetworkError(f"httpx.{exc.__class__.__name__}: {exc}") from exc
        return response.status_code, response.content


def _given(value: object, default: float | None) -> float | None:
    """A timeout passed to a bot method (None: no limit), else the request object's own."""
    if value is None or isinstance(value, int | float):
        return value
    return default  # BaseRequest.DEFAULT_NONE, or not passed at all


def _name(url: str) -> str:
    # The URL holds the token: log the method name only.
    return url.rsplit("/", 1)[-1]


def _retry_after(payload: bytes) -> float | None:
    try:
        value = json.loads(payload)["parameters"]["retry_after"]
    except (ValueError, KeyError, TypeError):
        return None
    return float(value) if isinstance(value, int | float) else None
