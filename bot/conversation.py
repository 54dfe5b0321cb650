"""The conversation service: (user, input) -> Reply, for every channel.

Telegram and the console both call this and render the same `Reply`; a new
channel needs a new renderer, not a change here. Replies carry plain text:
escaping and markup belong to the renderer.

Button actions are short strings (they travel as Telegram callback data, 64
bytes at most) and are parsed here, so forged or stale ones are handled in one
place:

    m                 main menu (categories)
    c:<category-id>   entries of a category
    e:<entry-id>      one entry's answer
    f:<entry-id>:+|-  feedback on an answer
    l:zh|en           language choice
"""

from __future__ import annotations

import asyncio
import functools
import logging
import math
import re
import weakref
from collections.abc import Coroutine, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from bot.answering import MAX_CACHED_QUESTION, AnswerEngine
from bot.bounded import BoundedMap
from bot.knowledge.models import Entry, KnowledgeBase, Lang, Place
from bot.matching import MatchOutcome, MatchResult, normalize
from bot.runtime import EngineHolder
from bot.storage import Storage

log = logging.getLogger(__name__)

#: Longest question we look at; the rest of a huge paste is noise for matching.
MAX_QUESTION_CHARS = 1000
#: Telegram's limit on callback data.
MAX_ACTION_BYTES = 64
#: Replies to recent questions kept for repeats (per answer engine).
RECENT_REPLIES = 4096
#: Residents whose last question and language choice are kept in memory.
RECENT_USERS = 10_000
#: Threads waiting for the sentence model, and so the updates the Telegram app
#: handles at once with the model on (`bot/telegram/app.py`): every question waiting for the model is
#: queued beside the others and joins the next batched call
#: (`bot/matching/batcher.py`); asyncio's default pool has only cores + 4. More in
#: flight make fuller batches (up to the `Batcher`'s 16 texts a call) and fewer round
#: trips to the model's process per question.
MATCH_THREADS = 64

_ACTION = re.compile(
    r"(?:m|c:[a-z0-9-]{1,40}|e:[a-z0-9-]{1,40}|f:[a-z0-9-]{1,40}:[+-]|l:(?:zh|en))"
)


class ReplyKind(StrEnum):
    """What a reply is, for renderers, logs and tests."""

    ANSWERED = "answered"
    CLARIFY = "clarify"
    FALLBACK = "fallback"
    SMALLTALK = "smalltalk"
    INVALID = "invalid"
    MENU = "menu"
    CATEGORY = "category"
    PLACES = "places"
    INFO = "info"


@dataclass(frozen=True)
class Button:
    """A button: either an action for the bot or a link to open."""

    label: str
    action: str | None = None
    url: str | None = None


@dataclass(frozen=True)
class PlaceHit:
    """A place and how far it is from the resident (metres), if known."""

    place: Place
    distance_m: float | None = None


@dataclass(frozen=True)
class CandidateView:
    """A candidate entry with its score, for `ask --json` and "did you mean"."""

    entry_id: str
    title: str
    score: float


@dataclass(frozen=True)
class Reply:
    """Everything a channel needs to show one answer."""

    kind: ReplyKind
    lang: Lang
    text: str
    title: str | None = None
    buttons: tuple[tuple[Button, ...], ...] = ()
    places: tuple[PlaceHit, ...] = ()
    entry_id: str | None = None
    score: float | None = None
    candidates: tuple[CandidateView, ...] = ()
    request_location: bool = False
    #: A short notice for a button press (Telegram shows it as a toast).
    toast: str | None = None

    @property
    def full_text(self) -> str:
        """Title and text as one plain string."""
        return f"{self.title}\n\n{self.text}" if self.title else self.text


@dataclass(frozen=True)
class User:
    """Who is asking: a channel-level id and the language the client reports."""

    id: int
    client_lang: str | None = None
    is_admin: bool = False


@dataclass
class ConversationService:
    """Turns residents' inputs into replies; the only place that knows the dialogue."""

    engines: EngineHolder
    storage: Storage | None = None
    retention_days: int = 90
    #: Records are written in the background so a slow or locked database never delays a reply.
    _pending: set[asyncio.Task[None]] = field(default_factory=set, init=False, repr=False)
    #: The last question answered for each user, so a 👎 can say which question it was about.
    _last_question: BoundedMap[int, tuple[str, str]] = field(
        default_factory=lambda: BoundedMap(RECENT_USERS, refresh_on_read=True), init=False
    )
    #: Residents' language choices (None: no choice), read through to the database once.
    _chosen_lang: BoundedMap[int, str | None] = field(
        default_factory=lambda: BoundedMap(RECENT_USERS, refresh_on_read=True), init=False
    )
    #: Replies to repeated questions, so a repeat is the same `Reply` (renderers keep theirs).
    _replies: _ReplyMemo = field(default_factory=lambda: _ReplyMemo(), init=False, repr=False)

    # ----- entry points -------------------------------------------------------------------

    async def ask(self, user: User, text: str) -> Reply:
        """Answer a free-text question."""
        engine = self.engines.current  # one engine for the whole question
        question = text[:MAX_QUESTION_CHARS]
        result = await _verdict(engine, question)
        lang = await self.reply_lang(user, detected=result.lang)
        reply = self._replies.get(engine, question, lang)
        if reply is None:
            reply = self._reply_for_match(engine.knowledge, result, lang)
            self._replies.put(engine, question, lang, reply)
        if reply.entry_id is not None:
            self._remember(user.id, reply.entry_id, question)
        if self.storage is not None:
            self._background(
                self.storage.record_question(
                    user.id,
                    lang=lang,
                    text=result.normalized,
                    status=str(result.outcome),
                    entry_id=reply.entry_id,
                    score=reply.score,
                )
            )
        return reply

    async def press(self, user: User, action: str) -> Reply:
        """Handle a button press; forged or stale data gets a polite reply, never an error."""
        lang = await self.reply_lang(user)
        kb = self.engines.knowledge
        # fullmatch, not match: `$` would accept a trailing newline. The pattern is ASCII
        # only, so checking it first also keeps str.encode() away from lone surrogates.
        if len(action) > MAX_ACTION_BYTES or not _ACTION.fullmatch(action):
            return self._expired(lang)
        kind, _, rest = action.partition(":")
        if kind == "m":
            return self.menu(kb, lang)
        if kind == "c":
            return self.category(kb, rest, lang) if rest in kb.categories else self._expired(lang)
        if kind == "e":
            entry = kb.entries.get(rest)
            return self.entry_reply(kb, entry, lang) if entry else self._expired(lang)
        if kind == "f":
            entry_id, _, sign = rest.rpartition(":")
            return await self._feedback(user, kb, entry_id, helpful=sign == "+", lang=lang)
        return await self.set_language(user, rest)

    async def start(self, user: User, payload: str | None = None) -> Reply:
        """Greeting and the category menu; a deep-link payload opens that entry."""
        lang = await self.reply_lang(user)
        kb = self.engines.knowledge
        if payload:
            entry = kb.entries.get(payload.strip())
            if entry is not None:
                return self.entry_reply(kb, entry, lang)
        menu = self.menu(kb, lang)
        return Reply(ReplyKind.MENU, lang, kb.texts.greeting.get(lang), buttons=menu.buttons)

    async def help(self, user: User) -> Reply:
        """What the bot can do and how to ask."""
        lang = await self.reply_lang(user)
        kb = self.engines.knowledge
        return Reply(
            ReplyKind.INFO, lang, kb.texts.help.get(lang), buttons=self.menu(kb, lang).buttons
        )

    async def privacy(self, user: User) -> Reply:
        """What is stored about the resident and for how long."""
        lang = await self.reply_lang(user)
        text = self.engines.knowledge.texts.privacy.get(lang)
        return Reply(
            ReplyKind.INFO, lang, text.replace("{retention_days}", str(self.retention_days))
        )

    async def forget(self, user: User) -> Reply:
        """Delete everything stored about the resident."""
        lang = await self.reply_lang(user)
        if self.storage is None:
            return Reply(ReplyKind.INFO, lang, _t("forget_nothing", lang))
        self._chosen_lang.pop(user.id)
        self._last_question.pop(user.id)
        try:
            removed = await self.storage.forget_user(user.id)
        except Exception:
            log.exception("forget failed")
            return Reply(ReplyKind.INFO, lang, _t("forget_failed", lang))
        return Reply(ReplyKind.INFO, lang, _t("forget_done", lang).format(n=removed))

    async def choose_language(self, user: User) -> Reply:
        """Offer the language choice."""
        lang = await self.reply_lang(user)
        buttons = ((Button("中文", action="l:zh"), Button("English", action="l:en")),)
        return Reply(ReplyKind.INFO, lang, _t("choose_lang", lang), buttons=buttons)

    async def set_language(self, user: User, lang_code: str) -> Reply:
        """Remember the resident's language; it overrides detection from then on."""
        lang: Lang = "en" if lang_code == "en" else "zh"
        if self.storage is not None:
            self._chosen_lang.put(user.id, lang)
            await self.storage.set_language(user.id, lang)
        kb = self.engines.knowledge
        return Reply(
            ReplyKind.MENU,
            lang,
            _t("lang_set", lang),
            buttons=self.menu(kb, lang).buttons,
            toast=_t("lang_set", lang),
        )

    async def nearest_prompt(self, user: User, *, can_request: bool = True) -> Reply:
        """Ask the resident to share a location.

        Args:
            user: Who asks.
            can_request: Whether the channel can show a "share my location" button
                (Telegram offers it only in private chats).
        """
        lang = await self.reply_lang(user)
        if not can_request:
            return Reply(ReplyKind.INFO, lang, _t("share_location_manually", lang))
        return Reply(ReplyKind.INFO, lang, _t("share_location", lang), request_location=True)

    async def nearest(self, user: User, lat: float, lon: float) -> Reply:
        """The nearest place of each kind, with distance."""
        lang = await self.reply_lang(user)
        if not (
            math.isfinite(lat) and math.isfinite(lon) and -90 <= lat <= 90 and -180 <= lon <= 180
        ):
            return Reply(ReplyKind.INVALID, lang, _t("bad_location", lang))
        hits = nearest_places(self.engines.knowledge.places.values(), lat, lon)
        if not hits:
            return Reply(ReplyKind.PLACES, lang, _t("no_places", lang))
        lines = [_t("nearest_intro", lang)]
        for hit in hits:
            lines.append(f"• {hit.place.name.get(lang)}: {format_distance(hit.distance_m, lang)}")
        lines.append(_t("places_partial", lang))
        return Reply(ReplyKind.PLACES, lang, "\n".join(lines), places=tuple(hits))

    async def unsupported(self, user: User) -> Reply:
        """A sticker, photo, voice, document or contact: say what the bot understands."""
        lang = await self.reply_lang(user)
        return Reply(
            ReplyKind.INVALID, lang, self.engines.knowledge.texts.unsupported_media.get(lang)
        )

    async def flood_notice(self, user: User) -> Reply:
        """Sent once when a resident sends too many messages too fast."""
        lang = await self.reply_lang(user)
        return Reply(ReplyKind.INFO, lang, _t("flood", lang))

    async def search(self, text: str, *, limit: int = 5) -> tuple[Lang, list[Entry]]:
        """Entries matching a query, best first (for inline mode); no fallback filtering."""
        engine = self.engines.current
        result = await _verdict(engine, text[:MAX_QUESTION_CHARS])
        if result.outcome not in (MatchOutcome.ANSWERED, MatchOutcome.CLARIFY):
            return result.lang, []
        kb = engine.knowledge
        threshold = engine.matcher.settings.clarify_threshold
        entries = [
            kb.entries[c.doc_id]
            for c in result.candidates
            if c.doc_id in kb.entries and c.score >= threshold
        ]
        return result.lang, entries[:limit]

    # ----- building replies -----------------------------------------------------------

    def menu(self, kb: KnowledgeBase, lang: Lang) -> Reply:
        """The category menu."""
        rows = [
            (Button(f"{c.emoji} {c.title.get(lang)}".strip(), action=f"c:{c.id}"),)
            for c in kb.sorted_categories()
            if kb.entries_in(c.id)
        ]
        pairs = tuple(
            tuple(b for row in rows[i : i + 2] for b in row) for i in range(0, len(rows), 2)
        )
        return Reply(ReplyKind.MENU, lang, _t("menu", lang), buttons=pairs)

    def category(self, kb: KnowledgeBase, category_id: str, lang: Lang) -> Reply:
        """The entries of one category, with a way back."""
        cat = kb.categories[category_id]
        rows = [
            (Button(e.title.get(lang), action=f"e:{e.id}"),) for e in kb.entries_in(category_id)
        ]
        rows.append((Button(_t("back", lang), action="m"),))
        title = f"{cat.emoji} {cat.title.get(lang)}".strip()
        return Reply(
            ReplyKind.CATEGORY, lang, _t("pick_entry", lang), title=title, buttons=tuple(rows)
        )

    def entry_reply(
        self,
        kb: KnowledgeBase,
        entry: Entry,
        lang: Lang,
        *,
        score: float | None = None,
        candidates: tuple[CandidateView, ...] = (),
    ) -> Reply:
        """One entry's answer with its source, links, related questions and feedback."""
        src = entry.source
        source_line = _t("source", lang).format(
            doc=src.document, date=src.date.isoformat(), section=src.section
        )
        rows: list[tuple[Button, ...]] = [
            (Button(link.title.get(lang), url=str(link.url)),) for link in entry.links
        ]
        rows += [
            (Button("❓ " + kb.entries[r].title.get(lang), action=f"e:{r}"),)
            for r in entry.related
            if r in kb.entries
        ]
        rows.append(
            (
                Button("👍", action=f"f:{entry.id}:+"),
                Button("👎", action=f"f:{entry.id}:-"),
                Button(_t("back", lang), action=f"c:{entry.category}"),
            )
        )
        cat = kb.categories.get(entry.category)
        emoji = f"{cat.emoji} " if cat and cat.emoji else ""
        return Reply(
            ReplyKind.ANSWERED,
            lang,
            f"{entry.answer.get(lang)}\n\n{source_line}",
            title=emoji + entry.title.get(lang),
            buttons=tuple(rows),
            entry_id=entry.id,
            score=score,
            candidates=candidates,
        )

    def _reply_for_match(self, kb: KnowledgeBase, result: MatchResult, lang: Lang) -> Reply:
        candidates = tuple(
            CandidateView(c.doc_id, kb.entries[c.doc_id].title.get(lang), round(c.score, 1))
            for c in result.candidates
            if c.doc_id in kb.entries
        )
        top = result.top
        score = round(top.score, 1) if top else None
        outcome = result.outcome
        if outcome is MatchOutcome.ANSWERED and top and top.doc_id in kb.entries:
            return self.entry_reply(
                kb, kb.entries[top.doc_id], lang, score=score, candidates=candidates
            )
        choices = [kb.entries[c.doc_id] for c in result.choices if c.doc_id in kb.entries]
        if outcome is MatchOutcome.CLARIFY and choices:
            rows = tuple((Button(e.title.get(lang), action=f"e:{e.id}"),) for e in choices)
            rows += ((Button(_t("none_of_these", lang), action="m"),),)
            return Reply(
                ReplyKind.CLARIFY,
                lang,
                _source_silent_on(kb, result, lang) + kb.texts.clarify.get(lang),
                buttons=rows,
                score=score,
                candidates=candidates,
            )
        if outcome is MatchOutcome.SMALLTALK:
            text = {
                "thanks": kb.texts.smalltalk_thanks,
                "who": kb.texts.smalltalk_who,
                "bye": kb.texts.smalltalk_bye,
            }.get(result.smalltalk or "", kb.texts.smalltalk_hello).get(lang)
            buttons = self.menu(kb, lang).buttons if result.smalltalk in ("hello", "who") else ()
            return Reply(ReplyKind.SMALLTALK, lang, text, buttons=buttons)
        if outcome is MatchOutcome.INVALID:
            return Reply(ReplyKind.INVALID, lang, kb.texts.invalid.get(lang))
        return Reply(
            ReplyKind.FALLBACK,
            lang,
            # Not what an out-of-scope question asked for: only that its topic is not covered.
            _source_silent_on(kb, result, lang, details=False) + kb.texts.fallback.get(lang),
            buttons=self.menu(kb, lang).buttons,
            score=score,
            candidates=candidates,
        )

    async def _feedback(
        self, user: User, kb: KnowledgeBase, entry_id: str, *, helpful: bool, lang: Lang
    ) -> Reply:
        if entry_id not in kb.entries:
            return self._expired(lang)
        if self.storage is not None:
            last = self._last_question.get(user.id)
            question = last[1] if last and last[0] == entry_id else None
            self._background(
                self.storage.record_feedback(
                    user.id, entry_id=entry_id, helpful=helpful, question=question
                )
            )
        text = _t("thanks_feedback" if helpful else "sorry_feedback", lang)
        return Reply(ReplyKind.INFO, lang, text, toast=text, entry_id=entry_id)

    async def drain(self) -> None:
        """Wait for the records still being written (call before closing the database)."""
        while self._pending:
            await asyncio.gather(*list(self._pending), return_exceptions=True)

    def _background(self, write: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(write)
        self._pending.add(task)
        task.add_done_callback(self._pending.discard)

    def _remember(self, user_id: int, entry_id: str, question: str) -> None:
        self._last_question.put(user_id, (entry_id, question))

    def _expired(self, lang: Lang) -> Reply:
        kb = self.engines.knowledge
        return Reply(
            ReplyKind.INVALID,
            lang,
            _t("expired", lang),
            buttons=self.menu(kb, lang).buttons,
            toast=_t("expired", lang),
        )

    async def reply_lang(self, user: User, *, detected: Lang | None = None) -> Lang:
        """The user's chosen language, else the question's, else the client's."""
        if self.storage is not None:
            if user.id in self._chosen_lang:
                chosen = self._chosen_lang.get(user.id)
            else:
                chosen = await self.storage.get_language(user.id)
                if self.storage.healthy:  # a None from a failing database is not an answer
                    self._chosen_lang.put(user.id, chosen)
            if chosen in ("zh", "en"):
                return "zh" if chosen == "zh" else "en"
        if detected is not None:
            return detected
        code = (user.client_lang or "zh").lower()
        return "zh" if code.startswith("zh") else "en"


async def _verdict(engine: AnswerEngine, question: str) -> MatchResult:
    """The matcher's verdict on a question, matched on the event loop; the sentence
    model and the cosines against every phrasing run in a thread.

    The model runs in a process of its own (`bot/e5/worker.py`): a pool thread waits
    on its socket while the loop keeps serving other residents, and questions waiting
    at the same moment share one call. The matching itself (about a millisecond of
    Python, GIL held) stays on the loop: in a thread it contended with the loop for
    the GIL (`bench_e2e --questions 2000 --rl-questions 0`, semantic, one pair of
    back-to-back runs: 184 updates/s at eab73be~1, matching in the thread, and 290 at
    eab73be, the first version of this).
    """
    steps = engine.answering(question)
    loop = asyncio.get_running_loop()
    try:
        text = next(steps)
        while True:
            evidence = await loop.run_in_executor(
                _match_pool(), engine.matcher.semantic_evidence, text
            )
            text = steps.send(evidence)
    except StopIteration as done:
        result: MatchResult = done.value
        return result


@functools.cache
def _match_pool() -> ThreadPoolExecutor:
    # Threads start on demand and idle threads cost a little memory, never CPU.
    return ThreadPoolExecutor(max_workers=MATCH_THREADS, thread_name_prefix="match")


class _ReplyMemo:
    """The replies to recent questions, valid for one answer engine.

    A reply depends only on the engine's knowledge, the matcher's verdict (itself a pure
    function of the question) and the language, so a repeated question needs no new one.
    A reload brings a new engine, and the memo starts afresh (it holds the engine weakly,
    so a replaced engine's index is freed all the same).
    """

    def __init__(self, size: int = RECENT_REPLIES) -> None:
        self._engine: weakref.ref[AnswerEngine] | None = None
        self._items: BoundedMap[tuple[str, Lang], Reply] = BoundedMap(size)
        self._size = size

    def get(self, engine: AnswerEngine, question: str, lang: Lang) -> Reply | None:
        if self._engine is None or self._engine() is not engine:
            return None
        return self._items.get((question, lang))

    def put(self, engine: AnswerEngine, question: str, lang: Lang, reply: Reply) -> None:
        if len(question) > MAX_CACHED_QUESTION:
            return  # rarely repeated word for word: not worth the memory
        if self._engine is None or self._engine() is not engine:
            self._engine, self._items = weakref.ref(engine), BoundedMap(self._size)
        self._items.put((question, lang), reply)


# ----- places -------------------------------------------------------------------------


def haversine_m(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle distance in metres."""
    r = 6_371_000.0
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * r * math.asin(min(1.0, math.sqrt(a)))


def nearest_places(places: Iterable[Place], lat: float, lon: float) -> list[PlaceHit]:
    """The nearest place of each kind that has coordinates, nearest first."""
    best: dict[str, PlaceHit] = {}
    for place in places:
        if place.location is None:
            continue
        d = haversine_m(lat, lon, place.location.lat, place.location.lon)
        if place.kind not in best or d < (best[place.kind].distance_m or math.inf):
            best[place.kind] = PlaceHit(place, d)
    return sorted(best.values(), key=lambda h: h.distance_m or 0.0)


def format_distance(metres: float | None, lang: Lang) -> str:
    """`850 m` / `12.3 km`, in the reply language."""
    if metres is None:
        return "?"
    if metres < 1000:
        return f"{metres:.0f} 米" if lang == "zh" else f"{metres:.0f} m"
    return f"{metres / 1000:.1f} 公里" if lang == "zh" else f"{metres / 1000:.1f} km"


# ----- fixed interface strings (navigation, not knowledge: admins edit knowledge/texts.yaml) --

_UI: dict[str, dict[Lang, str]] = {
    "menu": {
        "zh": "请选择一个类别，或直接输入您的问题：",
        "en": "Pick a topic, or just type your question:",
    },
    "pick_entry": {"zh": "请选择一个问题：", "en": "Pick a question:"},
    "back": {"zh": "⬅️ 返回", "en": "⬅️ Back"},
    "source_silent": {
        "zh": "我依据的公开报道没有公布{items}，请以主管部门的答复为准。",
        "en": "The public reports I answer from do not give {items}; please ask the responsible office.",
    },
    "not_covered": {
        "zh": "我依据的公开报道没有涉及“{items}”，请以主管部门的答复为准。",
        "en": "The public reports I answer from say nothing about “{items}”; please ask the responsible office.",
    },
    "none_of_these": {"zh": "都不是，看看全部类别", "en": "None of these: show all topics"},
    "source": {"zh": "来源：{doc}，{date}（{section}）", "en": "Source: {doc}, {date} ({section})"},
    "expired": {
        "zh": "这个按钮已失效，请重新选择或直接输入问题。",
        "en": "That button is no longer valid. Please choose again or type your question.",
    },
    "thanks_feedback": {"zh": "感谢您的反馈！", "en": "Thanks for your feedback!"},
    "sorry_feedback": {
        "zh": "抱歉没能帮上忙，我们会根据您的反馈改进回答。",
        "en": "Sorry this did not help. We will use your feedback to improve the answer.",
    },
    "choose_lang": {
        "zh": "请选择语言 / Choose a language:",
        "en": "Choose a language / 请选择语言:",
    },
    "lang_set": {"zh": "已切换为中文。", "en": "Switched to English."},
    "share_location": {
        "zh": "请点击下方按钮分享您的位置，我来告诉您最近的服务点。",
        "en": "Tap the button below to share your location and I will list the nearest service points.",
    },
    "share_location_manually": {
        "zh": "请通过附件菜单（📎）发送一个位置，并回复给我，我来告诉您最近的服务点。",
        "en": "Send a location from the attachment menu (📎) as a reply to me, and I will list the nearest service points.",
    },
    "share_location_button": {"zh": "📍 分享我的位置", "en": "📍 Share my location"},
    "bad_location": {
        "zh": "这个位置无法识别，请重新分享。",
        "en": "I could not read that location. Please share it again.",
    },
    "no_places": {
        "zh": "目前知识库中还没有带坐标的服务点，暂时无法计算距离。",
        "en": "The knowledge base has no service points with coordinates yet, so I cannot compute distances.",
    },
    "nearest_intro": {"zh": "离您最近的服务点：", "en": "Nearest service points:"},
    "places_partial": {
        "zh": "（只列出公告中给出位置的服务点；距离为直线距离。）",
        "en": "(Only service points whose location the announcement gives; straight-line distance.)",
    },
    "forget_done": {
        "zh": "已删除您的全部记录和偏好（{n} 条）。",
        "en": "All your records and preferences have been deleted ({n} rows).",
    },
    "forget_nothing": {
        "zh": "本机器人没有保存您的任何数据。",
        "en": "This bot has no stored data about you.",
    },
    "forget_failed": {
        "zh": "抱歉，数据库暂时不可用，删除未完成，请稍后再试 /forget。",
        "en": "Sorry, the database is unavailable right now; nothing was deleted yet. Please try /forget again later.",
    },
    "error": {
        "zh": "抱歉，出了点问题，请稍后再试。",
        "en": "Sorry, something went wrong. Please try again in a moment.",
    },
    "flood": {
        "zh": "您发送得太快了，请稍等几秒再问，我会继续为您解答。",
        "en": "You are sending messages very quickly. Please wait a few seconds; I will keep answering.",
    },
}


def _t(key: str, lang: Lang) -> str:
    return _UI[key][lang]


#: What a message may ask for beyond its topic (`bot.matching.aspects`), as the
#: reply names it when the sources never give it.
_ASPECT_NAMES: dict[str, dict[Lang, str]] = {
    "phone": {"zh": "联系电话", "en": "phone numbers"},
    "price": {"zh": "费用或价格", "en": "prices or fees"},
    "hours": {"zh": "开放或办公时间", "en": "opening or office hours"},
    "holiday": {"zh": "节假日安排", "en": "holiday arrangements"},
    "papers": {"zh": "所需材料", "en": "the documents to bring"},
}


def _source_silent_on(
    kb: KnowledgeBase, result: MatchResult, lang: Lang, *, details: bool = True
) -> str:
    """First lines saying the sources do not cover the topic or (with `details`) do
    not give what was asked for, or ""."""
    lines = []
    if result.uncovered:
        # The look-alikes as the knowledge spells them (the matcher's are normalised:
        # "shenyang north station"), sorted so a question always gets the same reply.
        spelled = {normalize(t): t for group in kb.contrasts for t in group.terms}
        topics = sorted(spelled.get(t, t) for t in result.uncovered)
        joined = "”“".join(topics) if lang == "zh" else "”, “".join(topics)
        lines.append(_t("not_covered", lang).format(items=joined))
    names = [_ASPECT_NAMES[a][lang] for a in _ASPECT_NAMES if a in result.missing]
    if names and details:
        joined = "、".join(names) if lang == "zh" else " or ".join(names)
        lines.append(_t("source_silent", lang).format(items=joined))
    return "".join(line + "\n" for line in lines)


def ui_text(key: str, lang: Lang) -> str:
    """A fixed interface string (button labels and the like) for renderers."""
    return _t(key, lang)


__all__ = [
    "Button",
    "CandidateView",
    "ConversationService",
    "PlaceHit",
    "Reply",
    "ReplyKind",
    "User",
    "format_distance",
    "nearest_places",
    "ui_text",
]
