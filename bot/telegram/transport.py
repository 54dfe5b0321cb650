"""python-telegram-bot's request interface on aiohttp, for the calls that send answers.

PTB's own `HTTPXRequest` spends most of a loaded bot's CPU: measured on this
machine against the local fake Bot API, about 1.2 ms a sendMessage with one
request at a time and 2.9 ms with 32 in flight (httpcore scans its whole pool
for every request), against 0.2-0.3 ms for aiohttp, whose HTTP parser is
compiled. PTB documents `BaseRequest` as the place to plug in another HTTP
library; this is that, and nothing more: parameters travel as one JSON body
(uploads as multipart), and aiohttp's failures become PTB's `TimedOut` and
`NetworkError`, so everything above (retries, the rate limiter, error handlers)
sees what it would see from `HTTPXRequest`.

getUpdates stays on `HTTPXRequest` (one long poll per hundred updates costs
nothing worth saving).
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlsplit
from urllib.request import getproxies, proxy_bypass

import aiohttp
from telegram._utils.defaultvalue import DefaultValue
from telegram._utils.types import ODVInput
from telegram.error import NetworkError, TimedOut
from telegram.request import BaseRequest, RequestData


class AiohttpRequest(BaseRequest):
    """Sends Bot API calls over a pool of keep-alive aiohttp connections.

    Args:
        pool_size: Connections kept open; one per call in flight, so none waits.
        connect_timeout: Seconds to open a connection.
        read_timeout: Seconds to wait for (each part of) Telegram's answer.
        write_timeout: Seconds to send a call; with the others, bounds the whole call.
        pool_timeout: Seconds to wait for a free connection.
        media_write_timeout: `write_timeout` of uploads.
    """

    def __init__(
        self,
        pool_size: int,
        *,
        connect_timeout: float | None = 10.0,
        read_timeout: float | None = 15.0,
        write_timeout: float | None = 15.0,
        pool_timeout: float | None = 5.0,
        media_write_timeout: float | None = 20.0,
    ) -> None:
        self._pool_size = pool_size
        self._timeouts = {
            "connect": connect_timeout,
            "read": read_timeout,
            "write": write_timeout,
            "pool": pool_timeout,
        }
        self._media_write_timeout = media_write_timeout
        self._session: aiohttp.ClientSession | None = None
        #: The proxy of each scheme://host called, read from the environment once.
        self._proxies: dict[str, str | None] = {}

    @property
    def read_timeout(self) -> float | None:
        """The default read timeout in seconds."""
        return self._timeouts["read"]

    async def initialize(self) -> None:
        """Open the connection pool (in the running event loop, where aiohttp needs it)."""
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=self._pool_size),
                # aiohttp's trust_env reads ~/.netrc and the proxy variables in a worker
                # thread on every call (a fifth of a loaded bot's CPU); `_proxy` reads the
                # variables once per host instead.
                trust_env=False,
                headers={"User-Agent": self.USER_AGENT},
                # PTB parses the answer itself; never let aiohttp raise on a 4xx/5xx.
                raise_for_status=False,
            )

    async def shutdown(self) -> None:
        """Close the connections."""
        if self._session is not None and not self._session.closed:
            await self._session.close()

    async def do_request(
        self,
        url: str,
        method: str,
        request_data: RequestData | None = None,
        read_timeout: ODVInput[float] = BaseRequest.DEFAULT_NONE,
        write_timeout: ODVInput[float] = BaseRequest.DEFAULT_NONE,
        connect_timeout: ODVInput[float] = BaseRequest.DEFAULT_NONE,
        pool_timeout: ODVInput[float] = BaseRequest.DEFAULT_NONE,
    ) -> tuple[int, bytes]:
        """Make one call; see `BaseRequest.do_request`.

        Raises:
            TimedOut: a timeout expired (the call may or may not have reached Telegram).
            NetworkError: the connection failed.
        """
        if self._session is None or self._session.closed:
            # A Bot used without `initialize()` (PTB's own HTTPXRequest allows it too).
            await self.initialize()
        assert self._session is not None
        uploads = request_data is not None and request_data.contains_files
        default_write = self._media_write_timeout if uploads else self._timeouts["write"]
        connect = _given(connect_timeout, self._timeouts["connect"])
        read = _given(read_timeout, self._timeouts["read"])
        write = _given(write_timeout, default_write)
        pool = _given(pool_timeout, self._timeouts["pool"])
        parts = (connect, read, write, pool)
        timeout = aiohttp.ClientTimeout(
            # aiohttp has no write timeout: the sum of all four bounds the whole call.
            total=None if None in parts else sum(p for p in parts if p is not None),
            connect=None if pool is None or connect is None else pool + connect,
            sock_connect=connect,
            sock_read=read,
        )
        body, headers = _body(request_data)
        try:
            async with self._session.request(
                method, url, data=body, headers=headers, timeout=timeout, proxy=self._proxy(url)
            ) as response:
                return response.status, await response.read()
        except TimeoutError as exc:  # ServerTimeoutError included
            raise TimedOut from exc
        except aiohttp.ClientError as exc:
            raise NetworkError(f"aiohttp.{exc.__class__.__name__}: {exc}") from exc

    def _proxy(self, url: str) -> str | None:
        """The proxy for `url` from HTTP(S)_PROXY / NO_PROXY, as httpx would use it."""
        parts = urlsplit(url)
        origin = f"{parts.scheme}://{parts.netloc}"
        if origin not in self._proxies:
            bypass = proxy_bypass(parts.hostname or "")
            self._proxies[origin] = None if bypass else getproxies().get(parts.scheme)
        return self._proxies[origin]


def _given(value: ODVInput[float], default: float | None) -> float | None:
    """A timeout passed to a bot method (None: no limit), else the request object's own."""
    if isinstance(value, DefaultValue):
        return default
    return value


def _body(request_data: RequestData | None) -> tuple[Any, dict[str, str]]:
    """The call's parameters as a JSON body, or a multipart form when it uploads files."""
    if request_data is None:
        return None, {}
    if not request_data.contains_files:
        # The Bot API takes JSON bodies; ensure_ascii (the default) keeps a lone surrogate,
        # which Telegram's own JSON can deliver, from failing the encoding.
        body = json.dumps(request_data.parameters, separators=(",", ":")).encode()
        return body, {"Content-Type": "application/json"}
    form = aiohttp.FormData()
    for name, value in request_data.json_parameters.items():
        form.add_field(name, value)
    for name, (filename, content, mimetype) in request_data.multipart_data.items():
        form.add_field(name, content, filename=filename, content_type=mimetype)
    return form, {}
