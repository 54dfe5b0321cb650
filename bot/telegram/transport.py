"""python-telegram-bot's request interface on aiohttp, for the calls that send answers.

PTB's own `HTTPXRequest` spends most of a loaded bot's CPU (httpcore scans its
whole pool for every request; aiohttp's HTTP parser is compiled): `bench_e2e`
runs an echo bot on each and prints its CPU per update. PTB documents `BaseRequest` as the place to plug in another HTTP
library; this is that, and nothing more: parameters travel as one JSON body
(uploads as multipart), and aiohttp's failures become PTB's `TimedOut` and
`NetworkError`, so everything above (retries, the rate limiter, error handlers)
sees what it would see from `HTTPXRequest`.

getUpdates stays on `HTTPXRequest` (one long poll per hundred updates costs
nothing worth saving).
"""

from __future__ import annotations

import asyncio
import functools
import json
import ssl
from typing import Any
from urllib.parse import urlsplit
from urllib.request import getproxies, proxy_bypass

import aiohttp
import certifi
from telegram._utils.types import ODVInput
from telegram.error import NetworkError, TimedOut
from telegram.request import BaseRequest, RequestData

#: Default timeouts of a send (seconds). Answers are small, so a slow network should
#: fail in seconds, not hang a handler.
CONNECT_TIMEOUT = 10.0
READ_TIMEOUT = 15.0
WRITE_TIMEOUT = 15.0
POOL_TIMEOUT = 5.0
MEDIA_WRITE_TIMEOUT = 20.0


class AiohttpRequest(BaseRequest):
    """Sends Bot API calls over a pool of keep-alive aiohttp connections.

    Args:
        pool_size: Connections kept open; one per call in flight, so none waits.
        proxy: HTTP proxy for every call; None: HTTPS_PROXY / ALL_PROXY / NO_PROXY
            from the environment, as httpx reads them.
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
        proxy: str | None = None,
        connect_timeout: float | None = CONNECT_TIMEOUT,
        read_timeout: float | None = READ_TIMEOUT,
        write_timeout: float | None = WRITE_TIMEOUT,
        pool_timeout: float | None = POOL_TIMEOUT,
        media_write_timeout: float | None = MEDIA_WRITE_TIMEOUT,
    ) -> None:
        self._pool_size = pool_size
        self._connect_timeout = connect_timeout
        self._read_timeout = read_timeout
        self._write_timeout = write_timeout
        self._pool_timeout = pool_timeout
        self._media_write_timeout = media_write_timeout
        self._session: aiohttp.ClientSession | None = None
        #: One per connection: waiting for one is the pool wait, bounded by `pool_timeout`.
        self._slots: asyncio.Semaphore | None = None
        self._shut_down = False
        #: The proxy of each scheme://host called (the setting, or read once from the
        #: environment: aiohttp's trust_env would read it, and ~/.netrc, on every call).
        self._proxies: dict[str, str | None] = {}
        self._proxy = with_scheme(proxy) if proxy else None

    @property
    def read_timeout(self) -> float | None:
        """The default read timeout in seconds."""
        return self._read_timeout

    async def initialize(self) -> None:
        """Open the connection pool (in the running event loop, where aiohttp needs it)."""
        self._shut_down = False
        if self._session is None or self._session.closed:
            self._slots = asyncio.Semaphore(self._pool_size)
            self._session = aiohttp.ClientSession(
                # The CA bundle httpx uses, so a slim image without system CAs works too.
                connector=aiohttp.TCPConnector(limit=self._pool_size, ssl=_tls_context()),
                trust_env=False,  # see `_proxies`
                headers={"User-Agent": self.USER_AGENT},
                # PTB parses the answer itself; never let aiohttp raise on a 4xx/5xx.
                raise_for_status=False,
            )

    async def shutdown(self) -> None:
        """Close the connections; calls after this fail until `initialize()`."""
        self._shut_down = True
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
            TimedOut: a timeout expired (the call may or may not have reached Telegram,
                except for the pool and connect timeouts: then it was not sent).
            NetworkError: the connection failed.
            RuntimeError: called after `shutdown()`.
        """
        if self._shut_down:
            raise RuntimeError("This AiohttpRequest is shut down; initialize() it first")
        if self._session is None:
            # A Bot used without `initialize()` (PTB's own HTTPXRequest allows it too).
            await self.initialize()
        assert self._session is not None and self._slots is not None
        uploads = request_data is not None and request_data.contains_files
        connect = _given(connect_timeout, self._connect_timeout)
        read = _given(read_timeout, self._read_timeout)
        write = _given(write_timeout, self._media_write_timeout if uploads else self._write_timeout)
        parts = (connect, read, write)
        timeout = aiohttp.ClientTimeout(
            # aiohttp has no write timeout: the sum bounds the whole call once connected.
            total=None if None in parts else sum(p for p in parts if p is not None),
            connect=connect,
            sock_connect=connect,
            sock_read=read,
        )
        try:
            async with asyncio.timeout(_given(pool_timeout, self._pool_timeout)):
                await self._slots.acquire()
        except TimeoutError as exc:
            raise TimedOut(
                "Pool timeout: all connections in the pool are busy; the call was not sent"
            ) from exc
        try:
            body, headers = _body(request_data)
            async with self._session.request(
                method, url, data=body, headers=headers, timeout=timeout, proxy=self._proxy_for(url)
            ) as response:
                return response.status, await response.read()
        except aiohttp.ConnectionTimeoutError as exc:
            raise TimedOut("Connect timeout: the call was not sent") from exc
        except TimeoutError as exc:  # aiohttp's ServerTimeoutError is one too
            raise TimedOut from exc
        except aiohttp.ClientError as exc:
            raise NetworkError(f"aiohttp.{exc.__class__.__name__}: {exc}") from exc
        finally:
            self._slots.release()

    def _proxy_for(self, url: str) -> str | None:
        """The proxy for `url`: the setting, else the environment's (read once per host)."""
        if self._proxy is not None:
            return self._proxy
        parts = urlsplit(url)
        origin = f"{parts.scheme}://{parts.netloc}"
        if origin not in self._proxies:
            found = None
            if not proxy_bypass(parts.hostname or ""):
                proxies = getproxies()
                found = proxies.get(parts.scheme) or proxies.get("all")
            self._proxies[origin] = with_scheme(found) if found else None
        return self._proxies[origin]


def with_scheme(proxy: str) -> str:
    """`127.0.0.1:7890` means an HTTP proxy, as httpx reads it."""
    return proxy if "://" in proxy else f"http://{proxy}"


def _given(value: ODVInput[float], default: float | None) -> float | None:
    """A timeout passed to a bot method (None: no limit), else the request object's own."""
    if value is None or isinstance(value, int | float):
        return value
    return default  # BaseRequest.DEFAULT_NONE (or PTB's Defaults marker): not passed


def _body(request_data: RequestData | None) -> tuple[Any, dict[str, str]]:
    """The call's parameters as a JSON body, or a multipart form when it uploads files."""
    if request_data is None:
        return None, {}
    if not request_data.contains_files:
        # The Bot API takes JSON bodies; ensure_ascii (the default) keeps a lone surrogate,
        # which Telegram's own JSON can deliver, from failing the encoding.
        body = json.dumps(request_data.parameters, separators=(",", ":")).encode()
        return body, {"Content-Type": "application/json"}
    # Field names and file names as they are: Telegram's parser does not percent-decode.
    form = aiohttp.FormData(quote_fields=False)
    for name, value in request_data.json_parameters.items():
        form.add_field(name, value)
    for name, (filename, content, mimetype) in request_data.multipart_data.items():
        form.add_field(name, content, filename=filename, content_type=mimetype)
    return form, {}


@functools.cache
def _tls_context() -> ssl.SSLContext:
    """The CA bundle httpx uses, so a slim image without system CAs works too.

    Built once per process (loading the bundle takes ~40 ms, and `initialize`
    runs again after every `shutdown`).
    """
    return ssl.create_default_context(cafile=certifi.where())
