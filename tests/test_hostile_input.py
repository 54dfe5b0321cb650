"""Hostile input: whatever a resident (or a forged client) sends, the bot answers sanely.

Properties, checked with Hypothesis over arbitrary Unicode, huge pastes, control
characters, bidi marks, combining characters, HTML/SQL-looking text and forged
button data:

* the matcher and the conversation service never raise;
* every reply is a valid `Reply` (a known kind, a non-blank text, buttons the bot
  itself accepts back);
* rendered for Telegram, every message parses as Telegram HTML within 4096
  characters, and text that came from outside shows as text: the only tags are
  the ones the renderer adds;
* the SQL-looking questions are stored as data (the tables are still there and
  hold one row per question).

The end-to-end part runs the real Application against the fake Bot API:
a flooding resident gets one notice while the neighbours are answered. (Strangers
calling admin commands or uploading knowledge files: tests/telegram/test_admin.py.)
"""

from __future__ import annotations

import itertools
import math
import os
import re
import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.conversation import (
    MAX_ACTION_BYTES,
    ConversationService,
    Reply,
    ReplyKind,
    User,
)
from bot.matching import MatchOutcome
from bot.services import Services
from bot.telegram.render import render_reply
from tests.conftest import lexical_settings
from tests.telegram import factories as f
from tests.telegram.factories import Resident
from tests.telegram.fake_api import ApiCall, FakeBotApi, _check_text
from tests.telegram.harness import KNOWLEDGE_DIR, make_settings, running_bot

# PTB 22 warns (an error here) when it builds a RetryAfter unless this opt-in is set.
os.environ.setdefault("PTB_TIMEDELTA", "1")

#: Moderate: CI has two cores; every example runs the real matcher and SQLite.
PROPERTY = settings(
    max_examples=150,
    deadline=None,
    # One service (and database) per test is the point: examples share it like residents do.
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

# ----- strategies ----------------------------------------------------------------------

#: Fragments that have broken chat bots before: markup, injections, bidi and control marks.
NASTY = (
    "<script>alert(1)</script>",
    "<b>bold</b>",
    "</b>",
    "<a href='javascript:alert(1)'>x</a>",
    "&amp;",
    "&lt;",
    "&#0;",
    "&bogus;",
    "'; DROP TABLE questions;--",
    '" OR 1=1 --',
    "Robert'); DELETE FROM preferences; --",
    "\u202e",  # right-to-left override
    "\u200f",  # right-to-left mark
    "\u200b\u200d\ufeff",  # zero-width space, joiner, BOM
    "e\u0301\u0301\u0301",  # a stack of combining accents
    "\u0e14\u0e49\u0e49\u0e49\u0e49",  # Thai tone marks stacked ("zalgo")
    "\x00",
    "\x1b[31m",
    "\r\n",
    "\t",
    "\u2028\u2029",
    "%s%n{0}{{7*7}}",
    "../../etc/passwd",
    "😀👨‍👩‍👧‍👦🇨🇳",
    "結婚登記",  # traditional characters
    "我想领证去哪",
    "低保怎么申请",
    "marriage registration",
    "/start",
    "@shenyang_helpdesk_test_bot",
)

#: Every Unicode category Telegram can deliver (lone surrogates cannot travel in UTF-8).
TELEGRAM_CHARS = st.characters(exclude_categories=["Cs"])


def _huge(text: str, times: int) -> str:
    return (text * times)[:20_000]


#: A single character repeated into a paste of up to 20,000 characters.
HUGE = st.builds(_huge, st.text(TELEGRAM_CHARS, min_size=1, max_size=8), st.integers(1, 20_000))

#: Hostile texts as Telegram could deliver them.
HOSTILE = st.one_of(
    st.text(TELEGRAM_CHARS),
    st.lists(
        st.one_of(st.sampled_from(NASTY), st.text(TELEGRAM_CHARS, max_size=10)), max_size=12
    ).map("".join),
    HUGE,
)

#: What Python allows on top: lone surrogates (json.loads("\"\\ud800\"") makes one).
WITH_SURROGATES = st.text(st.characters(codec=None, exclude_categories=[]), max_size=50)

#: Forged callback data: random text, random bytes decoded as a client might, and
#: near-misses of the real action grammar.
FORGED_ACTIONS = st.one_of(
    st.text(TELEGRAM_CHARS, max_size=80),
    st.binary(max_size=100).map(lambda b: b.decode("utf-8", errors="replace")),
    st.binary(max_size=100).map(lambda b: b.decode("latin-1")),
    st.builds(
        "".join,
        st.tuples(
            st.sampled_from(["m", "c:", "e:", "f:", "l:", "x:", "E:", ":"]),
            st.text(TELEGRAM_CHARS, max_size=70),
            st.sampled_from(["", ":+", ":-", ":*", "\n"]),
        ),
    ),
    st.sampled_from(
        [
            "",
            "e:",
            "e:not-an-entry",
            "e:" + "a" * 63,
            "c:no-such-category",
            "f:not-an-entry:+",
            "f:marriage-registration-points:*",
            "l:fr",
            "m:extra",
            "e:marriage-registration-points\x00",
            "e:marriage-registration-points ",
            "e:MARRIAGE-REGISTRATION-POINTS",
        ]
    ),
)

_user_ids = itertools.count(900_001)


def fresh_user(client_lang: str | None = "zh-hans") -> User:
    """A resident nobody else uses (a language choice never leaks between examples)."""
    return User(id=next(_user_ids), client_lang=client_lang)


# ----- fixtures ------------------------------------------------------------------------


@pytest_asyncio.fixture
async def services(tmp_path: Path) -> AsyncIterator[Services]:
    """The real services (lexical matcher, SQLite file in tmp_path), as the bot opens them."""
    opened = await Services.open(lexical_settings(KNOWLEDGE_DIR, tmp_path))
    try:
        yield opened
    finally:
        await opened.close()


# ----- checks --------------------------------------------------------------------------

_TAG = re.compile(r"</?([a-zA-Z-]+)")


def _squash(text: str) -> str:
    """`text` without whitespace: rendering may re-flow lines, never change the rest."""
    return "".join(ch for ch in text if not ch.isspace())


def assert_renders_safely(reply: Reply) -> None:
    """Every message of `reply` is valid Telegram HTML, and its visible text is the reply's."""
    chunks = render_reply(reply)
    visible = []
    for i, chunk in enumerate(chunks):
        # Telegram's own checks: HTML parses, known tags only, <= 4096 visible characters.
        visible.append(_check_text(chunk.html, "HTML"))
        # The renderer's <b> around the title is the only markup; nothing came from text.
        tags = _TAG.findall(chunk.html)
        assert tags == (["b", "b"] if i == 0 and reply.title else []), chunk.html[:200]
        markup = chunk.markup.to_dict() if chunk.markup is not None else {}
        for row in markup.get("inline_keyboard", []):
            for button in row:
                data = button.get("callback_data")
                assert data is None or 1 <= len(data.encode()) <= MAX_ACTION_BYTES
    shown = _squash("".join(visible))
    expected = _squash(f"{reply.title or ''}{reply.text}")
    assert shown == expected


def assert_valid_reply(reply: Reply, service: ConversationService) -> None:
    """A known kind, a language, a non-blank text, entry ids that exist."""
    assert isinstance(reply.kind, ReplyKind)
    assert reply.lang in ("zh", "en")
    assert reply.text.strip()
    kb = service.engines.knowledge
    assert reply.entry_id is None or reply.entry_id in kb.entries
    assert all(c.entry_id in kb.entries for c in reply.candidates)
    assert reply.score is None or 0 <= reply.score <= 100


async def assert_buttons_work(reply: Reply, service: ConversationService) -> None:
    """Every action button the bot offers is one it accepts back (never "expired")."""
    for row in reply.buttons:
        for button in row:
            if button.action is None:
                assert button.url
                continue
            pressed = await service.press(fresh_user(), button.action)
            assert pressed.kind is not ReplyKind.INVALID, button.action


# ----- the matcher ---------------------------------------------------------------------


@PROPERTY
@given(text=HOSTILE)
def test_matcher_never_raises_and_names_real_entries(services: Services, text: str) -> None:
    engine = services.engines.current
    result = engine.answer(text)
    assert isinstance(result.outcome, MatchOutcome)
    assert result.lang in ("zh", "en")
    assert all(c.doc_id in engine.knowledge.entries for c in result.candidates)
    assert all(0 <= c.score <= 100 and not math.isnan(c.score) for c in result.candidates)
    scores = [c.score for c in result.candidates]
    assert scores == sorted(scores, reverse=True)
    if result.outcome is MatchOutcome.ANSWERED:
        assert result.top is not None


@PROPERTY
@given(text=WITH_SURROGATES)
def test_matcher_survives_lone_surrogates(services: Services, text: str) -> None:
    result = services.engines.current.answer(text)
    assert isinstance(result.outcome, MatchOutcome)
    result.normalized.encode()  # what gets stored must be valid UTF-8


# ----- the conversation service --------------------------------------------------------


@PROPERTY
@given(text=HOSTILE, client_lang=st.sampled_from(["zh-hans", "en", "ar", None]))
async def test_ask_gives_a_valid_reply_that_renders_safely(
    services: Services, text: str, client_lang: str | None
) -> None:
    service = services.conversation
    reply = await service.ask(fresh_user(client_lang), text)
    assert_valid_reply(reply, service)
    assert_renders_safely(reply)
    await assert_buttons_work(reply, service)


async def test_sql_looking_questions_are_stored_as_data(services: Services) -> None:
    service = services.conversation
    questions = [q for q in NASTY if "DROP" in q or "DELETE" in q or "OR 1=1" in q]
    for question in questions:
        await service.ask(fresh_user(), question)
    await service.drain()
    assert services.storage is not None and services.storage.healthy
    with sqlite3.connect(services.settings.database_path) as db:
        tables = {name for (name,) in db.execute("SELECT name FROM sqlite_master")}
        assert {"questions", "feedback", "preferences", "audit_log"} <= tables
        ((rows,),) = db.execute("SELECT count(*) FROM questions")
    assert rows == len(questions)


@PROPERTY
@given(text=WITH_SURROGATES)
async def test_ask_survives_lone_surrogates(services: Services, text: str) -> None:
    service = services.conversation
    reply = await service.ask(fresh_user(), text)
    assert_valid_reply(reply, service)
    await service.drain()
    assert services.storage is not None and services.storage.healthy


@PROPERTY
# A trailing newline has its own test below.
@given(action=FORGED_ACTIONS)
async def test_forged_button_data_gets_a_polite_reply(services: Services, action: str) -> None:
    service = services.conversation
    reply = await service.press(fresh_user(), action)
    assert_valid_reply(reply, service)
    assert_renders_safely(reply)
    kb = service.engines.knowledge
    kind, _, rest = action.partition(":")
    genuine = (
        action == "m"
        or (kind == "c" and rest in kb.categories)
        or (kind == "e" and rest in kb.entries)
        or (kind == "l" and rest in ("zh", "en"))
        or (kind == "f" and rest[:-2] in kb.entries and rest[-2:] in (":+", ":-"))
    )
    if not genuine:
        assert reply.kind is ReplyKind.INVALID and reply.toast, action


@pytest.mark.parametrize("action", ["m\n", "l:en\n"])
async def test_forged_button_data_with_a_trailing_newline(services: Services, action: str) -> None:
    user = fresh_user("en")
    reply = await services.conversation.press(user, action)
    assert reply.kind is ReplyKind.INVALID
    assert services.storage is not None
    assert await services.storage.get_language(user.id) is None  # no language was chosen


@PROPERTY
@given(
    action=st.builds(
        lambda head, surrogate, tail: head + surrogate + tail,
        WITH_SURROGATES,
        st.characters(min_codepoint=0xD800, max_codepoint=0xDFFF),
        WITH_SURROGATES,
    )
)
async def test_forged_button_data_with_lone_surrogates(services: Services, action: str) -> None:
    reply = await services.conversation.press(fresh_user(), action)
    assert reply.kind is ReplyKind.INVALID


@PROPERTY
@given(
    lat=st.floats(allow_nan=True, allow_infinity=True),
    lon=st.floats(allow_nan=True, allow_infinity=True),
)
async def test_nearest_with_any_coordinates(services: Services, lat: float, lon: float) -> None:
    service = services.conversation
    reply = await service.nearest(fresh_user(), lat, lon)
    assert_valid_reply(reply, service)
    assert_renders_safely(reply)
    on_earth = math.isfinite(lat) and math.isfinite(lon) and abs(lat) <= 90 and abs(lon) <= 180
    assert (reply.kind is ReplyKind.PLACES) == on_earth
    assert all(h.distance_m is not None and math.isfinite(h.distance_m) for h in reply.places)


# ----- the renderer on its own ---------------------------------------------------------


@PROPERTY
@given(
    text=HOSTILE.filter(lambda s: s.strip()),
    title=st.one_of(st.none(), HOSTILE.filter(lambda s: s.strip()).map(lambda s: s[:200])),
)
def test_text_from_outside_is_shown_as_text(text: str, title: str | None) -> None:
    """A reply quoting a resident or an admin's knowledge text cannot inject markup."""
    assert_renders_safely(Reply(ReplyKind.INFO, "zh", text, title=title))


# ----- end to end: the real Application against the fake Bot API ----------------------


def _to(calls: list[ApiCall], chat_id: int) -> list[ApiCall]:
    return [c for c in calls if c.params.get("chat_id") == chat_id]


async def test_flooding_resident_is_noticed_once_and_neighbours_are_answered(
    api: FakeBotApi, tmp_path: Path
) -> None:
    limit = 4
    settings_ = make_settings(api, tmp_path, flood_messages=limit, flood_window_seconds=60)
    flooder = Resident.new()
    neighbours = [Resident.new() for _ in range(5)]
    hostile = [*NASTY, "x" * 20_000, "\u202e" * 5000]
    burst = [f.message(flooder, hostile[i % len(hostile)]) for i in range(60)]
    # The neighbours write in the middle of the flood.
    for i, neighbour in enumerate(neighbours):
        burst.insert(10 + 7 * i, f.message(neighbour, "我想领证去哪"))
    async with running_bot(settings_, api) as bot:
        calls = await bot.send_all(burst, timeout=60)
    assert all(c.error is None for c in calls), [c for c in calls if c.error]
    to_flooder = _to(calls, flooder.id)
    answered = to_flooder[:-1]
    # Each allowed message gets one reply (a 20k paste may be split, never more than 5 parts).
    assert limit <= len(answered) <= limit * 5
    assert "太快" in to_flooder[-1].text
    assert sum("太快" in c.text for c in to_flooder) == 1
    for neighbour in neighbours:
        replies = _to(calls, neighbour.id)
        assert len(replies) == 1
        assert "太快" not in replies[0].text
