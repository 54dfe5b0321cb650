"""A fake Telegram Bot API server on 127.0.0.1, for end-to-end tests.

The bot talks to it with python-telegram-bot's real HTTP stack (point
TELEGRAM_BOT_API_URL at `FakeBotApi.url`). It runs in its own thread, so it
serves an in-process Application and a bot subprocess alike, and it answers
like Telegram does where that matters to the bot:

* `getUpdates` long-polls and confirms updates only when a later offset arrives;
  it refuses to run while a webhook is set (409), like Telegram;
* texts are checked the way Telegram checks them: HTML must parse, at most
  4096 characters after parsing, callback data at most 64 bytes; editing a
  message into the same content is a 400 "message is not modified";
* `fail_next` makes the next calls of a method fail (429 with retry_after, 400, 500);
* `deliver_webhook` posts an update to the webhook the bot registered, with the
  secret-token header of your choice.

Every call is recorded (`calls`), failed ones included, so tests assert on
what the bot sent. `wait_for` / `wait_for_blocking` wait for calls to arrive.
"""

from __future__ import annotations

import asyncio
import email.parser
import email.policy
import html
import html.parser
import itertools
import json
import os
import re
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Self

from telegram import Bot
from telegram.request import BaseRequest

# PTB 22 warns (an error under filterwarnings=error) whenever it builds a RetryAfter from
# a 429, unless this opt-in to its future timedelta type is set; the bot reads no such value.
os.environ.setdefault("PTB_TIMEDELTA", "1")

TOKEN = "123456:TEST-fake-token-for-the-fake-bot-api"
BOT_ID = 123456
BOT_USERNAME = "shenyang_helpdesk_test_bot"

#: Parameters Telegram takes as numbers (PTB sends every value as a form string).
_NUMBERS = {
    "chat_id", "message_id", "offset", "limit", "timeout", "latitude", "longitude",
    "cache_time", "user_id", "max_connections", "horizontal_accuracy", "live_period",
}  # fmt: skip
#: Tags Telegram's HTML parse mode accepts.
_TAGS = {
    "b", "strong", "i", "em", "u", "ins", "s", "strike", "del", "a", "code", "pre",
    "tg-spoiler", "span", "blockquote", "tg-emoji",
}  # fmt: skip
_ENTITY = re.compile(r"&(?!(?:lt|gt|amp|quot|#\d+|#x[0-9a-fA-F]+);)")


@dataclass
class ApiCall:
    """One request the bot made."""

    method: str
    params: dict[str, Any]
    files: dict[str, bytes] = field(default_factory=dict)
    #: The error code when the fake answered with an error.
    error: int | None = None
    #: The `result` the fake returned (a Message for sendMessage and the like).
    result: Any = None
    #: `time.monotonic()` when the request arrived, to show how long the bot waited.
    at: float = field(default_factory=time.monotonic)

    @property
    def text(self) -> str:
        """The `text` (or caption) parameter, '' when there is none."""
        return str(self.params.get("text") or self.params.get("caption") or "")

    @property
    def markup(self) -> dict[str, Any]:
        """The decoded `reply_markup`, {} when there is none."""
        value = self.params.get("reply_markup")
        return value if isinstance(value, dict) else {}

    def buttons(self) -> list[dict[str, Any]]:
        """Every inline button, row by row."""
        return [b for row in self.markup.get("inline_keyboard", []) for b in row]

    def callback_data(self) -> list[str]:
        """The callback data of every inline button."""
        return [b["callback_data"] for b in self.buttons() if "callback_data" in b]


@dataclass
class _Failure:
    code: int
    description: str
    retry_after: int | None
    remaining: int


class TelegramError(Exception):
    """An error reply of the fake API."""

    def __init__(self, code: int, description: str, parameters: dict[str, Any] | None = None):
        super().__init__(description)
        self.code = code
        self.description = description
        self.parameters = parameters


class FakeBotApi:
    """The fake server; use it as a context manager or call `start()` / `stop()`."""

    def __init__(self, *, token: str = TOKEN, username: str = BOT_USERNAME) -> None:
        self.token = token
        self.bot_user: dict[str, Any] = {
            "id": BOT_ID,
            "is_bot": True,
            "first_name": "Shenyang Help Desk",
            "username": username,
            "can_join_groups": True,
            "can_read_all_group_messages": False,
            "supports_inline_queries": True,
        }
        self._lock = threading.Condition()
        self._calls: list[ApiCall] = []
        self._updates: list[dict[str, Any]] = []
        self._update_ids = itertools.count(1)
        self._message_ids = itertools.count(1000)
        self._messages: dict[tuple[int, int], dict[str, Any]] = {}
        self._chats: dict[int, dict[str, Any]] = {}
        self._failures: dict[str, list[_Failure]] = {}
        self._delays: list[tuple[str, int | None, float]] = []
        self._files: dict[str, tuple[str, bytes]] = {}
        self.webhook: dict[str, Any] = {}
        #: setMyCommands by `_commands_key`: "zh", "" (default), "chat:<id>:<lang>".
        self.commands: dict[str, list[dict[str, Any]]] = {}
        self._stopping = False
        #: Set by `harness.running_bot` while an in-process bot uses this fake.
        self.bot_running = False
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # ----- life cycle ---------------------------------------------------------------

    def start(self) -> Self:
        """Listen on a free port of 127.0.0.1 in a background thread."""
        server = ThreadingHTTPServer(("127.0.0.1", 0), self._request_handler())
        server.daemon_threads = True
        server.block_on_close = False
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever, args=(0.05,), name="fake-bot-api", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving; pending long polls return at once."""
        with self._lock:
            self._stopping = True
            self._lock.notify_all()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _request_handler(self) -> type[BaseHTTPRequestHandler]:
        """The HTTP handler class `start` serves with; subclasses extend it to add faults."""
        return _handler_for(self)

    @property
    def url(self) -> str:
        """What TELEGRAM_BOT_API_URL should be."""
        assert self._server is not None, "start() the fake first"
        port = self._server.server_address[1]
        return f"http://127.0.0.1:{port}"

    def bare_bot(self, *, request: BaseRequest, get_updates_request: BaseRequest) -> Bot:
        """A plain PTB `Bot` (no Application) talking to this fake; use `async with`."""
        return Bot(
            TOKEN,
            base_url=f"{self.url}/bot",
            base_file_url=f"{self.url}/file/bot",
            request=request,
            get_updates_request=get_updates_request,
        )

    # ----- driving the bot --------------------------------------------------------------

    def push(self, update: dict[str, Any]) -> int:
        """Queue an update for getUpdates; returns its update_id."""
        with self._lock:
            update = {**update, "update_id": next(self._update_ids)}
            self._remember_chats(update)
            self._updates.append(update)
            self._lock.notify_all()
            return int(update["update_id"])

    def all_confirmed(self) -> bool:
        """True when the bot has confirmed (by a later offset) every pushed update."""
        with self._lock:
            return not self._updates

    def deliver_webhook(self, update: dict[str, Any], *, secret: str | None) -> int:
        """POST an update to the registered webhook; returns the HTTP status.

        Args:
            update: The update (an update_id is added).
            secret: Sent as X-Telegram-Bot-Api-Secret-Token; None sends no header.
        """
        url = self.webhook.get("url")
        assert url, "the bot has not called setWebhook"
        with self._lock:
            update = {**update, "update_id": next(self._update_ids)}
            self._remember_chats(update)
        headers = {"Content-Type": "application/json"}
        if secret is not None:
            headers["X-Telegram-Bot-Api-Secret-Token"] = secret
        request = urllib.request.Request(
            url, data=json.dumps(update).encode(), headers=headers, method="POST"
        )
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                return int(response.status)
        except urllib.error.HTTPError as exc:
            exc.close()
            return int(exc.code)

    def fail_next(
        self,
        method: str,
        times: int = 1,
        *,
        code: int = 429,
        description: str | None = None,
        retry_after: int | None = 1,
    ) -> None:
        """Answer the next `times` calls of `method` with a Telegram error."""
        if description is None:
            description = {
                429: f"Too Many Requests: retry after {retry_after}",
                400: "Bad Request: something is wrong",
                500: "Internal Server Error",
            }.get(code, "Error")
        with self._lock:
            self._failures.setdefault(method, []).append(
                _Failure(code, description, retry_after if code == 429 else None, times)
            )

    def slow_next(self, method: str, seconds: float, *, chat_id: int | None = None) -> None:
        """Make the next call of `method` (to `chat_id`) take `seconds` before it is answered."""
        with self._lock:
            self._delays.append((method, chat_id, seconds))

    def add_file(self, file_id: str, content: bytes, *, file_path: str | None = None) -> None:
        """Make `file_id` downloadable (getFile, then GET /file/bot<token>/<path>)."""
        with self._lock:
            self._files[file_id] = (file_path or f"documents/{file_id}", content)

    # ----- what the bot did --------------------------------------------------------------

    def calls(self, method: str | None = None, *, since: int = 0) -> list[ApiCall]:
        """Recorded calls (of `method`), from index `since` of the whole log."""
        with self._lock:
            log = self._calls[since:]
        return [c for c in log if method is None or c.method == method]

    def mark(self) -> int:
        """The current length of the call log, for `since=`."""
        with self._lock:
            return len(self._calls)

    def sent(self, chat_id: int, *, since: int = 0) -> list[ApiCall]:
        """Successful messages the bot sent or edited in `chat_id`."""
        kinds = {"sendMessage", "sendVenue", "sendLocation", "sendPhoto", "sendDocument",
                 "editMessageText", "editMessageReplyMarkup"}  # fmt: skip
        return [
            c
            for c in self.calls(since=since)
            if c.method in kinds and c.error is None and c.params.get("chat_id") == chat_id
        ]

    async def wait_for(
        self,
        method: str,
        *,
        since: int = 0,
        count: int = 1,
        where: Callable[[ApiCall], bool] | None = None,
        timeout: float = 10.0,
    ) -> list[ApiCall]:
        """Wait (without blocking the event loop) for `count` successful calls of `method`."""
        deadline = time.monotonic() + timeout
        while (found := self._arrived(method, since, count, where, deadline)) is None:
            await asyncio.sleep(0.01)
        return found

    def wait_for_blocking(
        self,
        method: str,
        *,
        since: int = 0,
        count: int = 1,
        where: Callable[[ApiCall], bool] | None = None,
        timeout: float = 30.0,
    ) -> list[ApiCall]:
        """`wait_for` for synchronous tests (a bot in a subprocess)."""
        deadline = time.monotonic() + timeout
        while (found := self._arrived(method, since, count, where, deadline)) is None:
            time.sleep(0.02)
        return found

    def _arrived(
        self,
        method: str,
        since: int,
        count: int,
        where: Callable[[ApiCall], bool] | None,
        deadline: float,
    ) -> list[ApiCall] | None:
        """The calls once `count` have arrived; None to keep waiting; past `deadline`, fail."""
        found = self._matching(method, since, where)
        if len(found) >= count:
            return found
        if time.monotonic() > deadline:
            raise AssertionError(self._timeout_message(method, count, found, since))
        return None

    def _matching(
        self, method: str, since: int, where: Callable[[ApiCall], bool] | None
    ) -> list[ApiCall]:
        return [
            c
            for c in self.calls(method, since=since)
            if c.error is None and (where is None or where(c))
        ]

    def _timeout_message(self, method: str, count: int, found: list[ApiCall], since: int) -> str:
        seen = [
            f"{c.method}{' !' + str(c.error) if c.error else ''}" for c in self.calls(since=since)
        ]
        return f"waited for {count} x {method}, got {len(found)}; calls since mark: {seen}"

    # ----- the API ---------------------------------------------------------------------

    def handle(self, method: str, params: dict[str, Any], files: dict[str, bytes]) -> Any:
        """Answer one API call (runs in a server thread); raises TelegramError for errors."""
        call = ApiCall(method, params, files)
        with self._lock:
            delay = self._take_delay(method, params.get("chat_id"))
        if delay:
            time.sleep(delay)  # this request's own server thread: others are served meanwhile
        with self._lock:
            self._calls.append(call)
            failure = self._take_failure(method)
        try:
            if failure is not None:
                parameters = {"retry_after": failure.retry_after} if failure.retry_after else None
                raise TelegramError(failure.code, failure.description, parameters)
            implementation = getattr(self, f"_api_{method}", None)
            if implementation is None:
                raise TelegramError(404, "Not Found: method not found")
            call.result = implementation(params, files)
            return call.result
        except TelegramError as exc:
            call.error = exc.code
            raise

    def _take_delay(self, method: str, chat_id: object) -> float:
        for i, (m, chat, seconds) in enumerate(self._delays):
            if m == method and chat in (None, chat_id):
                del self._delays[i]
                return seconds
        return 0.0

    def _take_failure(self, method: str) -> _Failure | None:
        queue = self._failures.get(method)
        if not queue:
            return None
        failure = queue[0]
        failure.remaining -= 1
        if failure.remaining <= 0:
            queue.pop(0)
        return failure

    def _api_getMe(self, params: dict[str, Any], files: dict[str, bytes]) -> Any:
        return self.bot_user

    def _api_logOut(self, params: dict[str, Any], files: dict[str, bytes]) -> Any:
        return True

    def _api_close(self, params: dict[str, Any], files: dict[str, bytes]) -> Any:
        return True

    def _api_getUpdates(self, params: dict[str, Any], files: dict[str, bytes]) -> Any:
        offset = int(params.get("offset") or 0)
        limit = int(params.get("limit") or 100)
        timeout = float(params.get("timeout") or 0)
        deadline = time.monotonic() + timeout
        with self._lock:
            if self.webhook.get("url"):
                raise TelegramError(
                    409, "Conflict: can't use getUpdates method while webhook is active"
                )
            if offset > 0:  # confirms every update before `offset`
                self._updates = [u for u in self._updates if u["update_id"] >= offset]
            while not self._updates and not self._stopping:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                self._lock.wait(remaining)
            return list(self._updates[:limit])

    def _api_deleteWebhook(self, params: dict[str, Any], files: dict[str, bytes]) -> Any:
        with self._lock:
            self.webhook = {}
            if params.get("drop_pending_updates") is True:
                self._updates.clear()
        return True

    def _api_setWebhook(self, params: dict[str, Any], files: dict[str, bytes]) -> Any:
        secret = params.get("secret_token")
        if secret is not None and not re.fullmatch(r"[A-Za-z0-9_-]{1,256}", str(secret)):
            raise TelegramError(400, "Bad Request: secret token contains unallowed characters")
        with self._lock:
            self.webhook = {"url": params.get("url", ""), "secret_token": secret}
        return True

    def _api_getWebhookInfo(self, params: dict[str, Any], files: dict[str, bytes]) -> Any:
        with self._lock:
            return {
                "url": self.webhook.get("url", ""),
                "has_custom_certificate": False,
                "pending_update_count": len(self._updates),
            }

    def _api_setMyCommands(self, params: dict[str, Any], files: dict[str, bytes]) -> Any:
        with self._lock:
            self.commands[_commands_key(params)] = params.get("commands", [])
        return True

    def _api_deleteMyCommands(self, params: dict[str, Any], files: dict[str, bytes]) -> Any:
        with self._lock:
            self.commands.pop(_commands_key(params), None)
        return True

    def _api_sendChatAction(self, params: dict[str, Any], files: dict[str, bytes]) -> Any:
        return True

    def _api_sendMessage(self, params: dict[str, Any], files: dict[str, bytes]) -> Any:
        text = _check_text(params.get("text"), params.get("parse_mode"))
        _check_markup(params.get("reply_markup"))
        return self._new_message(params, {"text": text})

    def _api_editMessageText(self, params: dict[str, Any], files: dict[str, bytes]) -> Any:
        text = _check_text(params.get("text"), params.get("parse_mode"))
        _check_markup(params.get("reply_markup"))
        if params.get("inline_message_id"):
            return True
        message = self._existing(params)
        markup = params.get("reply_markup")
        if message.get("text") == text and message.get("reply_markup") == markup:
            raise TelegramError(
                400,
                "Bad Request: message is not modified: specified new message content and "
                "reply markup are exactly the same as a current content and reply markup "
                "of the message",
            )
        with self._lock:
            message["text"] = text
            _set_markup(message, markup)
            message["edit_date"] = int(time.time())
            return dict(message)

    def _api_editMessageReplyMarkup(self, params: dict[str, Any], files: dict[str, bytes]) -> Any:
        _check_markup(params.get("reply_markup"))
        if params.get("inline_message_id"):
            return True
        message = self._existing(params)
        markup = params.get("reply_markup")
        if message.get("reply_markup") == markup:
            raise TelegramError(400, "Bad Request: message is not modified")
        with self._lock:
            _set_markup(message, markup)
            return dict(message)

    def _api_deleteMessage(self, params: dict[str, Any], files: dict[str, bytes]) -> Any:
        message = self._existing(params)
        with self._lock:
            self._messages.pop((message["chat"]["id"], message["message_id"]), None)
        return True

    def _api_answerCallbackQuery(self, params: dict[str, Any], files: dict[str, bytes]) -> Any:
        if len(str(params.get("text") or "")) > 200:
            raise TelegramError(400, "Bad Request: MESSAGE_TOO_LONG")
        return True

    def _api_answerInlineQuery(self, params: dict[str, Any], files: dict[str, bytes]) -> Any:
        results = params.get("results", [])
        if not isinstance(results, list) or len(results) > 50:
            raise TelegramError(400, "Bad Request: RESULTS_TOO_MUCH")
        ids = [r.get("id", "") for r in results]
        if len(set(ids)) != len(ids) or any(not i or len(i.encode()) > 64 for i in ids):
            raise TelegramError(400, "Bad Request: RESULT_ID_INVALID")
        for result in results:
            content = result.get("input_message_content") or {}
            _check_text(content.get("message_text"), content.get("parse_mode"))
            _check_markup(result.get("reply_markup"))
        return True

    def _api_sendVenue(self, params: dict[str, Any], files: dict[str, bytes]) -> Any:
        for name in ("latitude", "longitude", "title", "address"):
            if params.get(name) in (None, ""):
                raise TelegramError(400, f"Bad Request: {name} is required")
        location = {"latitude": params["latitude"], "longitude": params["longitude"]}
        venue = {"location": location, "title": params["title"], "address": params["address"]}
        return self._new_message(params, {"venue": venue, "location": location})

    def _api_sendLocation(self, params: dict[str, Any], files: dict[str, bytes]) -> Any:
        location = {"latitude": params["latitude"], "longitude": params["longitude"]}
        return self._new_message(params, {"location": location})

    def _api_sendPhoto(self, params: dict[str, Any], files: dict[str, bytes]) -> Any:
        file_id = self._store_upload(params, files, "photo")
        photo = [{"file_id": file_id, "file_unique_id": f"u{file_id}", "width": 1, "height": 1}]
        return self._new_message(params, {"photo": photo, **_caption(params)})

    def _api_sendDocument(self, params: dict[str, Any], files: dict[str, bytes]) -> Any:
        file_id = self._store_upload(params, files, "document")
        document = {"file_id": file_id, "file_unique_id": f"u{file_id}"}
        return self._new_message(params, {"document": document, **_caption(params)})

    def _api_getFile(self, params: dict[str, Any], files: dict[str, bytes]) -> Any:
        file_id = str(params.get("file_id", ""))
        with self._lock:
            if file_id not in self._files:
                raise TelegramError(400, "Bad Request: invalid file_id")
            path, content = self._files[file_id]
        return {
            "file_id": file_id,
            "file_unique_id": f"u{file_id}",
            "file_size": len(content),
            "file_path": path,
        }

    def download(self, path: str) -> bytes | None:
        """The content behind a file_path (the GET /file/bot<token>/<path> route)."""
        with self._lock:
            for file_path, content in self._files.values():
                if file_path == path:
                    return content
        return None

    # ----- helpers ----------------------------------------------------------------------

    def _new_message(self, params: dict[str, Any], content: dict[str, Any]) -> dict[str, Any]:
        chat_id = params.get("chat_id")
        if not isinstance(chat_id, int):
            raise TelegramError(400, "Bad Request: chat not found")
        with self._lock:
            message: dict[str, Any] = {
                "message_id": next(self._message_ids),
                "date": int(time.time()),
                "chat": self._chats.get(chat_id) or _chat(chat_id),
                "from": self.bot_user,
                **content,
            }
            _set_markup(message, params.get("reply_markup"))
            self._messages[(chat_id, message["message_id"])] = message
            return dict(message)

    def _existing(self, params: dict[str, Any]) -> dict[str, Any]:
        key = (params.get("chat_id"), params.get("message_id"))
        with self._lock:
            message = self._messages.get(key)  # type: ignore[arg-type]
        if message is None:
            raise TelegramError(400, "Bad Request: message to edit not found")
        return message

    def _store_upload(self, params: dict[str, Any], files: dict[str, bytes], kind: str) -> str:
        value = params.get(kind)
        if isinstance(value, str) and not value.startswith("attach://"):
            return value  # a file_id sent again
        content = next(iter(files.values()), b"")
        with self._lock:
            file_id = f"{kind}-{len(self._files) + 1}"
            self._files[file_id] = (f"{kind}s/{file_id}", content)
        return file_id

    def _remember_chats(self, update: dict[str, Any]) -> None:
        for value in update.values():
            if isinstance(value, dict):
                message = value.get("message", value)
                chat = message.get("chat") if isinstance(message, dict) else None
                if isinstance(chat, dict) and "id" in chat:
                    self._chats[chat["id"]] = chat


# ----- Telegram's checks -----------------------------------------------------------------


class _HtmlChecker(html.parser.HTMLParser):
    """Telegram's HTML parse mode: known tags only, properly nested; collects visible text."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.stack: list[str] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag not in _TAGS:
            raise TelegramError(
                400, f'Bad Request: can\'t parse entities: unsupported start tag "{tag}"'
            )
        self.stack.append(tag)

    def handle_endtag(self, tag: str) -> None:
        if not self.stack or self.stack.pop() != tag:
            raise TelegramError(
                400, f'Bad Request: can\'t parse entities: unexpected end tag "{tag}"'
            )

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def _check_text(text: Any, parse_mode: Any) -> str:
    """The visible text of a message, or the 400 Telegram would answer."""
    if not isinstance(text, str) or not text.strip():
        raise TelegramError(400, "Bad Request: message text is empty")
    visible = text
    if parse_mode == "HTML":
        if "<" in re.sub(r"</?[a-zA-Z-]+(?:\s[^<>]*)?>", "", text):
            raise TelegramError(400, 'Bad Request: can\'t parse entities: unexpected "<"')
        if _ENTITY.search(text):
            raise TelegramError(400, "Bad Request: can't parse entities: unsupported entity")
        checker = _HtmlChecker()
        checker.feed(text)
        checker.close()
        if checker.stack:
            raise TelegramError(400, "Bad Request: can't parse entities: unclosed tag")
        visible = "".join(checker.text)
    if len(visible.encode("utf-16-le")) // 2 > 4096:
        raise TelegramError(400, "Bad Request: message is too long")
    if not visible.strip():
        raise TelegramError(400, "Bad Request: message text is empty")
    return visible


def _check_markup(markup: Any) -> None:
    if not isinstance(markup, dict):
        return
    for row in markup.get("inline_keyboard", []):
        for button in row:
            data = button.get("callback_data")
            if data is not None and not 1 <= len(str(data).encode()) <= 64:
                raise TelegramError(400, "Bad Request: BUTTON_DATA_INVALID")
            if not button.get("text"):
                raise TelegramError(
                    400, "Bad Request: text buttons are unallowed in the inline keyboard"
                )


def _commands_key(params: dict[str, Any]) -> str:
    """ "zh" or "" (default) for everyone; "chat:<id>:<lang>" for one chat's own menu."""
    lang = str(params.get("language_code") or "")
    scope = params.get("scope")
    if isinstance(scope, dict) and scope.get("type") not in (None, "default"):
        return f"{scope['type']}:{scope.get('chat_id', '')}:{lang}"
    return lang


def _set_markup(message: dict[str, Any], markup: Any) -> None:
    # Telegram echoes inline keyboards only; reply keyboards live on the client.
    if isinstance(markup, dict) and "inline_keyboard" in markup and markup["inline_keyboard"]:
        message["reply_markup"] = markup
    else:
        message.pop("reply_markup", None)


def _chat(chat_id: int) -> dict[str, Any]:
    if chat_id > 0:
        return {"id": chat_id, "type": "private", "first_name": "Resident"}
    return {"id": chat_id, "type": "supergroup", "title": "Neighbours"}


def _caption(params: dict[str, Any]) -> dict[str, Any]:
    return {"caption": params["caption"]} if params.get("caption") else {}


# ----- HTTP ------------------------------------------------------------------------------


def _decode(name: str, value: str) -> Any:
    """PTB sends JSON-encoded values as form fields; numbers and plain strings travel raw."""
    if value[:1] in "[{":
        try:
            return json.loads(value)
        except ValueError:
            return value
    if value in ("true", "false"):
        return value == "true"
    if name in _NUMBERS:
        try:
            return int(value)
        except ValueError:
            try:
                return float(value)
            except ValueError:
                return value
    return value


def _parse_body(content_type: str, body: bytes) -> tuple[dict[str, Any], dict[str, bytes]]:
    if content_type.startswith("application/json"):
        data = json.loads(body or b"{}")
        return data, {}
    if content_type.startswith("multipart/form-data"):
        parser = email.parser.BytesParser(policy=email.policy.HTTP)
        message = parser.parsebytes(b"Content-Type: " + content_type.encode() + b"\r\n\r\n" + body)
        params: dict[str, Any] = {}
        files: dict[str, bytes] = {}
        for part in message.iter_parts():
            name = part.get_param("name", header="content-disposition")
            raw = part.get_payload(decode=True)
            payload = raw if isinstance(raw, bytes) else b""
            if part.get_filename() is not None:
                files[str(name)] = payload
            else:
                params[str(name)] = _decode(str(name), payload.decode())
        return params, files
    fields = urllib.parse.parse_qsl(body.decode(), keep_blank_values=True)
    return {k: _decode(k, v) for k, v in fields}, {}


def _handler_for(api: FakeBotApi) -> type[BaseHTTPRequestHandler]:
    prefix = f"/bot{api.token}/"
    file_prefix = f"/file/bot{api.token}/"

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        # Headers and body go out in two writes; without this, Nagle's algorithm meeting
        # the client's delayed ACK adds ~40 ms to a response.
        disable_nagle_algorithm = True

        def log_message(self, format: str, *args: Any) -> None:
            """Quiet: pytest shows failures, not every request."""

        def do_GET(self) -> None:
            path = urllib.parse.unquote(urllib.parse.urlsplit(self.path).path)
            if path.startswith(file_prefix):
                content = api.download(path[len(file_prefix) :])
                if content is not None:
                    self._reply(200, content, "application/octet-stream")
                    return
            if path.startswith(prefix):  # Telegram accepts GET for methods too
                self._api(path[len(prefix) :], {}, {})
                return
            self._reply(404, b"Not Found", "text/plain")

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length)
            # Clients may percent-encode the ':' of the token.
            path = urllib.parse.unquote(urllib.parse.urlsplit(self.path).path)
            if not path.startswith(prefix):
                self._json(401, {"ok": False, "error_code": 401, "description": "Unauthorized"})
                return
            params, files = _parse_body(self.headers.get("Content-Type", ""), body)
            self._api(path[len(prefix) :], params, files)

        def _api(self, method: str, params: dict[str, Any], files: dict[str, bytes]) -> None:
            try:
                result = api.handle(method, params, files)
            except TelegramError as exc:
                payload: dict[str, Any] = {
                    "ok": False,
                    "error_code": exc.code,
                    "description": exc.description,
                }
                if exc.parameters:
                    payload["parameters"] = exc.parameters
                self._json(exc.code, payload)
                return
            self._json(200, {"ok": True, "result": result})

        def _json(self, status: int, payload: dict[str, Any]) -> None:
            self._reply(status, json.dumps(payload).encode(), "application/json")

        def _reply(self, status: int, body: bytes, content_type: str) -> None:
            try:
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)
            except (BrokenPipeError, ConnectionResetError):
                # The bot gave up on this request (a long poll cancelled at shutdown).
                self.close_connection = True

    return Handler


def iter_texts(calls: list[ApiCall]) -> Iterator[str]:
    """The texts of `calls`, for readable assertions."""
    return (c.text for c in calls)
