"""An HTTP request object that retries what Telegram did not receive.

python-telegram-bot retries nothing but (with the rate limiter) a 429. A reply
lost to a 502 from a proxy, a dropped connection or a timeout is a resident
left without an answer, so sends are retried a few times with backoff. A read
timeout may hide a message Telegram did deliver; a rare duplicate is better
than a lost answer.
"""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any

from telegram.error import NetworkError
from telegram.request import HTTPXRequest, RequestData

log = logging.getLogger(__name__)

#: Retries after the first attempt.
RETRIES = 3
#: First pause between attempts (seconds), doubled each time.
BACKOFF = 0.5
#: The longest `retry_after` of a 429 honoured here; longer waits are the rate limiter's call.
MAX_RETRY_AFTER = 30.0


def polling_request() -> HTTPXRequest:
    """The request object of getUpdates: its own connection, so the long poll never waits
    for a free slot behind answers (PTB adds the poll timeout to this read timeout)."""
    return HTTPXRequest(connection_pool_size=1, connect_timeout=10.0, read_timeout=10.0)


def sending_request(pool_size: int, *, retrying: bool = True) -> HTTPXRequest:
    """The request object that sends answers.

    Answers are small, so a slow network should fail in seconds, not hang a handler.

    Args:
        pool_size: Connections; one per update in flight, so none waits for a free one.
        retrying: Retry failed sends (the bot); False gives PTB's plain request (baselines).
    """
    kind = RetryingRequest if retrying else HTTPXRequest
    return kind(
        connection_pool_size=pool_size,
        connect_timeout=10.0,
        read_timeout=15.0,
        write_timeout=15.0,
        pool_timeout=5.0,
    )


class RetryingRequest(HTTPXRequest):
    """`HTTPXRequest` that retries 5xx answers, 429s and network failures."""

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
                if code == 429 and not last:
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
