"""Reply -> Telegram: HTML text chunks, keyboards and venues.

Pure functions, no network: the handlers send what these return. Every text
that reaches Telegram is escaped here, because replies quote residents'
questions and knowledge text written by admins, and both may contain `<` or `&`.
"""

from __future__ import annotations

import functools
import html
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from telegram import (
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    KeyboardButton,
    ReplyKeyboardMarkup,
    ReplyKeyboardRemove,
)
from telegram.constants import MessageLimit

from bot.conversation import Button, PlaceHit, Reply, format_distance, ui_text
from bot.knowledge.models import Lang

#: Telegram refuses longer messages (counted after HTML parsing, in UTF-16 code units).
TEXT_LIMIT: int = MessageLimit.MAX_TEXT_LENGTH

Markup = InlineKeyboardMarkup | ReplyKeyboardMarkup | ReplyKeyboardRemove


@dataclass(frozen=True)
class OutgoingText:
    """One message to send: HTML text and, on the last chunk only, its keyboard."""

    html: str
    markup: Markup | None = None


@dataclass(frozen=True)
class OutgoingVenue:
    """A place with coordinates, sent as a venue (a map pin with a title)."""

    latitude: float
    longitude: float
    title: str
    address: str


def render_reply(reply: Reply, *, limit: int = TEXT_LIMIT) -> list[OutgoingText]:
    """The messages that show `reply`: text split under `limit`, buttons on the last one.

    Args:
        reply: What the conversation service answered.
        limit: Longest chunk, in UTF-16 code units of visible text.
    """
    if reply.places:  # places are not hashable; "nearest" replies are rare anyway
        return list(_render(reply, limit))
    return list(_render_recent(reply, limit))


def _render(reply: Reply, limit: int) -> tuple[OutgoingText, ...]:
    body = split_text(reply.text, limit=limit - (_utf16_len(reply.title) + 2 if reply.title else 0))
    chunks = [html.escape(part) for part in body] or [""]
    if reply.title:
        chunks[0] = f"<b>{html.escape(reply.title)}</b>\n\n{chunks[0]}".rstrip()
    markup = reply_markup(reply)
    return tuple(
        OutgoingText(c, markup if i == len(chunks) - 1 else None) for i, c in enumerate(chunks)
    )


#: Residents ask the same things over and over, and the conversation service answers
#: them with equal replies: escaping, splitting and building keyboards once is enough.
#: (The outputs are frozen: dataclasses of strings and PTB objects, which are immutable.)
_render_recent = functools.lru_cache(maxsize=1024)(_render)


def reply_markup(reply: Reply) -> Markup | None:
    """The keyboard of a reply: a location request, inline buttons, or nothing.

    Only private chats offer the location request; the conversation asks for one only
    where the channel said it can (`ConversationService.nearest_prompt`'s `can_request`).
    """
    if reply.request_location:
        label = ui_text("share_location_button", reply.lang)
        return ReplyKeyboardMarkup(
            [[KeyboardButton(label, request_location=True)]],
            resize_keyboard=True,
            one_time_keyboard=True,
        )
    return inline_keyboard(reply.buttons)


def inline_keyboard(rows: Iterable[Iterable[Button]]) -> InlineKeyboardMarkup | None:
    """Inline buttons: links open a URL, actions come back as callback data."""
    keyboard = [[_inline_button(b) for b in row] for row in rows]
    keyboard = [row for row in keyboard if row]
    return _KeptKeyboard(keyboard) if keyboard else None


class _KeptKeyboard(InlineKeyboardMarkup):
    """An inline keyboard that builds its JSON form once.

    PTB turns the markup into a dict for every message it sends, and rendered replies
    are kept for repeats (`render_reply`), so the same keyboard would be converted
    again and again. A keyboard is immutable once built (PTB freezes it).
    """

    __slots__ = ("_as_dict",)

    def to_dict(self, recursive: bool = True) -> dict[str, Any]:
        """The Bot API form, built on the first call (callers only read it)."""
        if not recursive:
            return super().to_dict(recursive=False)
        try:
            return self._as_dict
        except AttributeError:
            self._as_dict: dict[str, Any] = super().to_dict()
            return self._as_dict


def link_keyboard(rows: Iterable[Iterable[Button]]) -> InlineKeyboardMarkup | None:
    """Only the link buttons (for inline-mode results, shown in other people's chats)."""
    return inline_keyboard([[b for b in row if b.url] for row in rows])


def without_actions(markup: InlineKeyboardMarkup | None, prefix: str) -> InlineKeyboardMarkup:
    """`markup` minus the buttons whose callback data starts with `prefix`."""
    rows = markup.inline_keyboard if markup else ()
    kept = [
        [
            b
            for b in row
            if not (isinstance(b.callback_data, str) and b.callback_data.startswith(prefix))
        ]
        for row in rows
    ]
    return InlineKeyboardMarkup([row for row in kept if row])


def venues(hits: Iterable[PlaceHit], lang: Lang) -> list[OutgoingVenue]:
    """One venue per place with coordinates; the 'address' line says how far it is."""
    out: list[OutgoingVenue] = []
    for hit in hits:
        loc = hit.place.location
        if loc is None:
            continue
        parts = [p.get(lang) for p in (hit.place.address, hit.place.district) if p is not None][:1]
        parts.append(format_distance(hit.distance_m, lang))
        out.append(OutgoingVenue(loc.lat, loc.lon, hit.place.name.get(lang), " · ".join(parts)))
    return out


def split_text(text: str, *, limit: int = TEXT_LIMIT) -> list[str]:
    """Split plain text into chunks of at most `limit` UTF-16 units, at line boundaries.

    A single line longer than `limit` is cut at a space when there is one near
    the end, else hard. Blank chunks are dropped.
    """
    limit = max(limit, 16)
    chunks: list[str] = []
    current = ""
    for line in text.split("\n"):
        candidate = f"{current}\n{line}" if current else line
        if _utf16_len(candidate) <= limit:
            current = candidate
            continue
        if current:
            chunks.append(current)
        while _utf16_len(line) > limit:
            head, line = _cut(line, limit)
            chunks.append(head)
        current = line
    if current:
        chunks.append(current)
    return [c for c in (c.strip("\n").rstrip() for c in chunks) if c.strip()]


def _cut(line: str, limit: int) -> tuple[str, str]:
    """The longest head of `line` within `limit`, preferring to cut after a space."""
    end = 0
    used = 0
    for i, ch in enumerate(line):
        used += _utf16_len(ch)
        if used > limit:
            break
        end = i + 1
    space = line.rfind(" ", 0, end)
    if space > end // 2:
        end = space + 1
    return line[:end].rstrip(), line[end:]


def _utf16_len(text: str | None) -> int:
    """Telegram counts lengths in UTF-16 code units (an emoji may count twice)."""
    return len(text.encode("utf-16-le", "surrogatepass")) // 2 if text else 0


def _inline_button(button: Button) -> InlineKeyboardButton:
    if button.url:
        return InlineKeyboardButton(button.label, url=button.url)
    return InlineKeyboardButton(button.label, callback_data=button.action or "m")
