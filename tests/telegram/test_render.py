"""Reply -> Telegram messages: escaping, splitting, keyboards, venues (pure, no network)."""

from __future__ import annotations

import datetime as dt
import html

import pytest
from hypothesis import given
from hypothesis import strategies as st
from telegram import InlineKeyboardButton, InlineKeyboardMarkup, ReplyKeyboardMarkup

from bot.conversation import Button, PlaceHit, Reply, ReplyKind
from bot.knowledge.models import Localized, Location, Place, Source
from bot.telegram.render import (
    TEXT_LIMIT,
    inline_keyboard,
    link_keyboard,
    render_reply,
    split_text,
    venues,
    without_actions,
)

SOURCE = Source(document="test", date=dt.date(2024, 3, 5), section="test")


def utf16(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def reply(text: str, **kw: object) -> Reply:
    return Reply(ReplyKind.ANSWERED, "zh", text, **kw)  # type: ignore[arg-type]


def test_user_text_is_escaped_and_title_bold() -> None:
    [out] = render_reply(reply("1 < 2 & <script>", title="<b>x</b>"))
    assert out.html == "<b>&lt;b&gt;x&lt;/b&gt;</b>\n\n1 &lt; 2 &amp; &lt;script&gt;"


def test_long_reply_is_split_with_buttons_on_the_last_chunk_only() -> None:
    text = "\n".join(f"第{i}行：" + "字" * 90 for i in range(120))  # ~11,000 characters
    buttons = ((Button("👍", action="f:x:+"), Button("link", url="https://example.org")),)
    out = render_reply(reply(text, title="标题", buttons=buttons))
    assert len(out) >= 3
    assert all(
        utf16(html.unescape(o.html.replace("<b>", "").replace("</b>", ""))) <= TEXT_LIMIT
        for o in out
    )
    assert [o.markup is not None for o in out] == [False] * (len(out) - 1) + [True]
    # Split at line boundaries: no line is cut.
    lines = [line for o in out for line in o.html.split("\n")]
    assert all(line.startswith(("第", "<b>")) or line == "" for line in lines)


@given(st.text(min_size=1, max_size=3000), st.integers(min_value=16, max_value=500))
def test_split_text_keeps_everything_within_the_limit(text: str, limit: int) -> None:
    chunks = split_text(text, limit=limit)
    assert all(utf16(c) <= limit for c in chunks)
    squeeze = "".join(text.split())
    assert "".join("".join(chunks).split()) == squeeze


def test_split_prefers_spaces_in_an_overlong_line() -> None:
    chunks = split_text("word " * 100, limit=50)
    assert all(c.endswith("word") for c in chunks)


def test_emoji_count_twice_towards_the_limit() -> None:
    chunks = split_text("😀" * 30, limit=20)
    assert [utf16(c) for c in chunks] == [20, 20, 20]


def test_location_request_is_a_one_time_reply_keyboard() -> None:
    # Groups never get one: there the conversation sends no request (test_resident_flows).
    prompt = Reply(ReplyKind.INFO, "en", "share?", request_location=True)
    [out] = render_reply(prompt)
    assert isinstance(out.markup, ReplyKeyboardMarkup)
    assert out.markup.keyboard[0][0].request_location is True
    assert out.markup.one_time_keyboard


def test_inline_keyboard_rows_and_links() -> None:
    rows = ((Button("a", action="m"), Button("b", url="https://example.org")), ())
    markup = inline_keyboard(rows)
    assert markup is not None and len(markup.inline_keyboard) == 1
    assert link_keyboard(rows) == InlineKeyboardMarkup(
        [[InlineKeyboardButton("b", url="https://example.org")]]
    )
    assert inline_keyboard(()) is None


def test_without_actions_drops_feedback_only() -> None:
    markup = InlineKeyboardMarkup(
        [
            [InlineKeyboardButton("link", url="https://example.org")],
            [
                InlineKeyboardButton("👍", callback_data="f:x:+"),
                InlineKeyboardButton("⬅️", callback_data="c:y"),
            ],
        ]
    )
    kept = without_actions(markup, "f:")
    assert [[b.text for b in row] for row in kept.inline_keyboard] == [["link"], ["⬅️"]]


@pytest.mark.parametrize(
    ("location", "count"), [(Location(lat=41.79, lon=123.39), 1), (None, 0)], ids=["pin", "no-pin"]
)
def test_venues_only_for_places_with_coordinates(location: Location | None, count: int) -> None:
    place = Place(
        id="p", kind="volunteer_desk", name=Localized(zh="服务台", en="Desk"),
        location=location, source=SOURCE,
    )  # fmt: skip
    pins = venues([PlaceHit(place, 850.0)], "zh")
    assert len(pins) == count
    if pins:
        assert pins[0].title == "服务台" and pins[0].address == "850 米"
