"""Factories for Telegram updates, as the Bot API sends them (plain JSON dicts).

Push them into the fake server (`FakeBotApi.push`) or a webhook; the bot parses
them with python-telegram-bot like real updates. Each `Resident` gets a fresh
id, so tests sharing one bot never share a flood window or a language choice.
"""

from __future__ import annotations

import itertools
import time
from dataclasses import dataclass
from typing import Any

from tests.telegram.fake_api import BOT_USERNAME

_user_ids = itertools.count(10_001)
_message_ids = itertools.count(1)
_query_ids = itertools.count(1)

GROUP_CHAT: dict[str, Any] = {"id": -1001234567890, "type": "supergroup", "title": "和平区邻里群"}


def _utf16(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


@dataclass(frozen=True)
class Resident:
    """A Telegram user in a private chat with the bot."""

    id: int
    language_code: str | None = "zh-hans"
    first_name: str = "小李"

    @classmethod
    def new(cls, language_code: str | None = "zh-hans", first_name: str = "小李") -> Resident:
        """A resident nobody else in the test run uses."""
        return cls(next(_user_ids), language_code, first_name)

    @property
    def user(self) -> dict[str, Any]:
        """The `User` object."""
        user: dict[str, Any] = {"id": self.id, "is_bot": False, "first_name": self.first_name}
        if self.language_code:
            user["language_code"] = self.language_code
        return user

    @property
    def chat(self) -> dict[str, Any]:
        """Their private chat with the bot."""
        return {"id": self.id, "type": "private", "first_name": self.first_name}


def message(
    resident: Resident,
    text: str | None = None,
    *,
    chat: dict[str, Any] | None = None,
    entities: list[dict[str, Any]] | None = None,
    reply_to: dict[str, Any] | None = None,
    **content: Any,
) -> dict[str, Any]:
    """A new-message update; `content` adds fields such as `sticker=` or `location=`."""
    msg: dict[str, Any] = {
        "message_id": next(_message_ids),
        "date": int(time.time()),
        "chat": chat or resident.chat,
        "from": resident.user,
        **content,
    }
    if text is not None:
        msg["text"] = text
    if entities:
        msg["entities"] = entities
    if reply_to is not None:
        msg["reply_to_message"] = reply_to
    return {"message": msg}


def command(
    resident: Resident,
    name: str,
    args: str = "",
    *,
    chat: dict[str, Any] | None = None,
    addressed: bool = False,
) -> dict[str, Any]:
    """`/name args` (`/name@bot args` when `addressed`), with its bot_command entity."""
    head = f"/{name}@{BOT_USERNAME}" if addressed else f"/{name}"
    text = f"{head} {args}".strip()
    entity = {"type": "bot_command", "offset": 0, "length": _utf16(head)}
    return message(resident, text, chat=chat, entities=[entity])


def edited(update: dict[str, Any], new_text: str) -> dict[str, Any]:
    """The edit of a message update: same message id, new text."""
    msg = {**update["message"], "text": new_text, "edit_date": int(time.time())}
    return {"edited_message": msg}


def group_message(
    resident: Resident,
    text: str,
    *,
    mention: bool = False,
    reply_to: dict[str, Any] | None = None,
    chat: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """A message in a group; `mention` puts `@bot` in front of the text."""
    entities = None
    if mention:
        handle = f"@{BOT_USERNAME}"
        text = f"{handle} {text}"
        entities = [{"type": "mention", "offset": 0, "length": _utf16(handle)}]
    return message(resident, text, chat=chat or GROUP_CHAT, entities=entities, reply_to=reply_to)


def callback(resident: Resident, data: str, *, message: dict[str, Any] | None) -> dict[str, Any]:
    """A button press on `message` (a Message dict the bot sent, e.g. `ApiCall.result`)."""
    query: dict[str, Any] = {
        "id": str(next(_query_ids)),
        "from": resident.user,
        "chat_instance": f"ci-{resident.id}",
        "data": data,
    }
    if message is not None:
        query["message"] = message
    else:
        query["inline_message_id"] = f"inline-{next(_query_ids)}"
    return {"callback_query": query}


def inline_query(resident: Resident, text: str) -> dict[str, Any]:
    """Typing `@bot text` in any chat."""
    return {
        "inline_query": {
            "id": str(next(_query_ids)),
            "from": resident.user,
            "query": text,
            "offset": "",
            "chat_type": "private",
        }
    }


def location(resident: Resident, latitude: float, longitude: float, **kw: Any) -> dict[str, Any]:
    """A shared location."""
    return message(resident, location={"latitude": latitude, "longitude": longitude}, **kw)


def venue(resident: Resident, latitude: float, longitude: float, title: str) -> dict[str, Any]:
    """A shared venue (Telegram sends its location too)."""
    loc = {"latitude": latitude, "longitude": longitude}
    return message(
        resident, location=loc, venue={"location": loc, "title": title, "address": title}
    )


def sticker(resident: Resident, **kw: Any) -> dict[str, Any]:
    """A sticker."""
    content = {"file_id": "sticker-1", "file_unique_id": "s1", "type": "regular",
               "width": 512, "height": 512, "is_animated": False, "is_video": False}  # fmt: skip
    return message(resident, sticker=content, **kw)


def photo(resident: Resident, caption: str | None = None) -> dict[str, Any]:
    """A photo, optionally with a caption."""
    sizes = [{"file_id": "photo-1", "file_unique_id": "p1", "width": 90, "height": 90}]
    extra: dict[str, Any] = {"caption": caption} if caption else {}
    return message(resident, photo=sizes, **extra)


def voice(resident: Resident) -> dict[str, Any]:
    """A voice message."""
    return message(resident, voice={"file_id": "voice-1", "file_unique_id": "v1", "duration": 3})


def video(resident: Resident) -> dict[str, Any]:
    """A video."""
    content = {
        "file_id": "video-1",
        "file_unique_id": "vi1",
        "width": 1,
        "height": 1,
        "duration": 1,
    }
    return message(resident, video=content)


def audio(resident: Resident) -> dict[str, Any]:
    """An audio file."""
    return message(resident, audio={"file_id": "audio-1", "file_unique_id": "a1", "duration": 1})


def document(
    resident: Resident, file_id: str = "doc-1", file_name: str = "notes.pdf", **kw: Any
) -> dict[str, Any]:
    """A document (admins upload knowledge files this way)."""
    content = {"file_id": file_id, "file_unique_id": f"u-{file_id}", "file_name": file_name}
    return message(resident, document=content, **kw)


def contact(resident: Resident) -> dict[str, Any]:
    """A shared contact (no real number: the fake never dials)."""
    return message(resident, contact={"phone_number": "+000", "first_name": "Test"})
