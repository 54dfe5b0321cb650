"""Admin reports as plain text and CSV: usage statistics and unanswered questions.

Pure formatting over `bot.storage` models; no Telegram, no I/O. The texts are plain (no
HTML or Markdown): a channel that sends HTML must escape them, since they contain
residents' questions.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from bot.matching.grouping import DEFAULT_THRESHOLD, group_similar
from bot.storage import Stats, UnansweredQuestion

__all__ = [
    "UnansweredGroup",
    "format_stats",
    "format_unanswered",
    "group_unanswered",
    "unanswered_csv",
]

#: How many entries, categories and similar phrasings a report lists.
TOP_N = 10
TOP_CATEGORIES = 5
SHOWN_VARIANTS = 3
#: A question longer than this is cut in the text report (the CSV has it whole).
SHOWN_CHARS = 80


@dataclass(frozen=True, slots=True)
class UnansweredGroup:
    """Near-duplicate unanswered questions, with the entry that comes closest."""

    #: The most frequent phrasing.
    text: str
    #: Every phrasing in the group, most frequent first (`text` included).
    texts: tuple[str, ...]
    #: How many times any of them was asked (or got a 👎).
    count: int
    #: "fallback", "clarify", "unhelpful".
    kinds: frozenset[str]
    last_seen: dt.datetime
    #: The entry the matcher finds closest to `text`, if any, and its score.
    entry_id: str | None
    score: float | None


def group_unanswered(
    questions: Sequence[UnansweredQuestion],
    *,
    closest: Callable[[str], tuple[str, float] | None],
    threshold: float = DEFAULT_THRESHOLD,
) -> list[UnansweredGroup]:
    """Merge near-duplicate questions and find the closest entry for each group.

    Args:
        questions: From `Storage.unanswered`.
        closest: The matcher's best (entry id, score) for a text, or None; called once
            per group, with the group's most frequent phrasing.
        threshold: Similarity (0-100) for two phrasings to be grouped.

    Returns:
        Groups, most asked first (then most recent).
    """
    ordered = sorted(questions, key=lambda q: (-q.count, -q.last_seen.timestamp(), q.text))
    groups = []
    for indexes in group_similar([q.text for q in ordered], threshold):
        members = [ordered[i] for i in indexes]
        head = members[0]
        match = closest(head.text)
        groups.append(
            UnansweredGroup(
                text=head.text,
                texts=tuple(q.text for q in members),
                count=sum(q.count for q in members),
                kinds=frozenset().union(*(q.kinds for q in members)),
                last_seen=max(q.last_seen for q in members),
                entry_id=match[0] if match else None,
                score=match[1] if match else None,
            )
        )
    groups.sort(key=lambda g: (-g.count, -g.last_seen.timestamp()))
    return groups


# ----- text -----------------------------------------------------------------------------

_TEXTS: dict[str, dict[str, str]] = {
    "zh": {
        "stats_title": "📊 统计 {start} 至 {end}({days} 天,{zone})",
        "no_questions": "问题:0",
        "questions": "问题:{n} —— 直接回答 {answered},需澄清 {clarify},未能回答 {fallback}",
        "other": "另有:闲聊 {smalltalk},无效输入 {invalid}。用户:{users}。",
        "feedback": "反馈:👍 {helpful} · 👎 {unhelpful}",
        "per_day": "每日(✅ 回答 ❓ 澄清 ⚠️ 未答):",
        "top_entries": "热门条目:",
        "top_categories": "热门分类:",
        "unhelpful_entries": "👎 最多的条目:",
        "unknown_category": "(已删除或未分类)",
        "unanswered_title": "❓ 未答问题({n} 组)",
        "no_unanswered": "暂无未答问题。",
        "last": "最近 {when}",
        "also": "相似:",
        "more": "等 {n} 条",
        "closest": "最接近:",
        "no_closest": "没有接近的条目",
        "fallback": "未答",
        "clarify": "澄清",
        "unhelpful": "👎",
    },
    "en": {
        "stats_title": "📊 Statistics {start} to {end} ({days} days, {zone})",
        "no_questions": "Questions: 0",
        "questions": "Questions: {n} — answered {answered}, clarify {clarify}, fallback {fallback}",
        "other": "Also: small talk {smalltalk}, invalid {invalid}. Users: {users}.",
        "feedback": "Feedback: 👍 {helpful} · 👎 {unhelpful}",
        "per_day": "Per day (✅ answered ❓ clarify ⚠️ fallback):",
        "top_entries": "Top entries:",
        "top_categories": "Top categories:",
        "unhelpful_entries": "Most 👎:",
        "unknown_category": "(removed or uncategorised)",
        "unanswered_title": "❓ Unanswered questions ({n} groups)",
        "no_unanswered": "No unanswered questions.",
        "last": "last {when}",
        "also": "similar:",
        "more": "+{n} more",
        "closest": "closest:",
        "no_closest": "no close entry",
        "fallback": "fallback",
        "clarify": "clarify",
        "unhelpful": "👎",
    },
}


def _t(lang: str) -> dict[str, str]:
    return _TEXTS.get(lang, _TEXTS["en"])


def _pct(rate: float) -> str:
    return f"{rate:.0%}"


def _entry(entry_id: str, titles: Mapping[str, str]) -> str:
    title = titles.get(entry_id)
    return f"{title} [{entry_id}]" if title else f"[{entry_id}]"


def _short(text: str) -> str:
    return text if len(text) <= SHOWN_CHARS else text[: SHOWN_CHARS - 1] + "…"


def format_stats(
    stats: Stats,
    *,
    lang: str,
    titles: Mapping[str, str] | None = None,
    categories: Mapping[str, str] | None = None,
    zone: str = "UTC",
) -> str:
    """The statistics report.

    Args:
        stats: From `Storage.stats`.
        lang: "zh" or "en" (anything else gives English).
        titles: Entry id -> title, to show titles beside ids.
        categories: Entry id -> category title, for the top categories.
        zone: The name of the day boundary `stats` was computed with.

    Returns:
        Plain text: questions per day, answered/clarify/fallback rates, top entries and
        categories, the 👍/👎 counts and the most 👎-ed entries.
    """
    t = _t(lang)
    titles = titles or {}
    categories = categories or {}
    totals = stats.totals
    lines = [
        t["stats_title"].format(
            start=stats.start.isoformat(),
            end=stats.end.isoformat(),
            days=len(stats.days),
            zone=zone,
        )
    ]
    if totals.questions:
        lines.append(
            t["questions"].format(
                n=totals.questions,
                answered=_pct(stats.answered_rate),
                clarify=_pct(stats.clarify_rate),
                fallback=_pct(stats.fallback_rate),
            )
        )
    else:
        lines.append(t["no_questions"])
    lines.append(
        t["other"].format(smalltalk=totals.smalltalk, invalid=totals.invalid, users=stats.users)
    )
    lines.append(t["feedback"].format(helpful=stats.helpful, unhelpful=stats.unhelpful))

    lines += ["", t["per_day"]]
    for day in stats.days:
        c = day.counts
        lines.append(
            f"{day.day:%m-%d}  {c.total:>4}  ✅{c.answered} ❓{c.clarify} ⚠️{c.fallback}"
            if c.total
            else f"{day.day:%m-%d}  {0:>4}"
        )

    if stats.top_entries:
        lines += ["", t["top_entries"]]
        lines += [
            f"{i}. {_entry(e.entry_id, titles)} — {e.count}"
            for i, e in enumerate(stats.entries[:TOP_N], 1)
        ]
    if stats.top_entries and categories:
        by_category: Counter[str] = Counter()
        for e in stats.entries:
            by_category[categories.get(e.entry_id, t["unknown_category"])] += e.count
        lines += ["", t["top_categories"]]
        lines += [
            f"{i}. {name} — {n}"
            for i, (name, n) in enumerate(
                sorted(by_category.items(), key=lambda kv: (-kv[1], kv[0]))[:TOP_CATEGORIES], 1
            )
        ]
    if stats.unhelpful_entries:
        lines += ["", t["unhelpful_entries"]]
        lines += [
            f"{i}. {_entry(e.entry_id, titles)} — 👎 {e.count}"
            for i, e in enumerate(stats.unhelpful_entries[:TOP_N], 1)
        ]
    return "\n".join(lines)


def format_unanswered(
    groups: Sequence[UnansweredGroup],
    *,
    titles: Mapping[str, str],
    lang: str,
    utc_offset: dt.timedelta = dt.timedelta(0),
) -> str:
    """The unanswered-questions report: each group with its count, kinds and closest entry.

    Args:
        groups: From `group_unanswered`.
        titles: Entry id -> title.
        lang: "zh" or "en" (anything else gives English).
        utc_offset: Local time of the dates shown (the same as the stats report's days).

    Returns:
        Plain text, one numbered block per group.
    """
    t = _t(lang)
    if not groups:
        return t["no_unanswered"]
    lines = [t["unanswered_title"].format(n=len(groups))]
    for i, group in enumerate(groups, 1):
        kinds = ", ".join(t[k] for k in ("fallback", "clarify", "unhelpful") if k in group.kinds)
        local = group.last_seen.astimezone(dt.timezone(utc_offset))
        when = t["last"].format(when=f"{local:%m-%d}")
        lines.append(f"{i}. ×{group.count} “{_short(group.text)}” ({kinds}) — {when}")
        variants = group.texts[1:]
        if variants:
            shown = ", ".join(f"“{_short(v)}”" for v in variants[:SHOWN_VARIANTS])
            extra = len(variants) - SHOWN_VARIANTS
            more = f" {t['more'].format(n=extra)}" if extra > 0 else ""
            lines.append(f"   {t['also']} {shown}{more}")
        if group.entry_id is not None:
            score = f" {group.score:.2f}" if group.score is not None else ""
            lines.append(f"   {t['closest']} {_entry(group.entry_id, titles)}{score}")
        else:
            lines.append(f"   {t['no_closest']}")
    return "\n".join(lines)


# ----- CSV ------------------------------------------------------------------------------

CSV_COLUMNS = (
    "count",
    "question",
    "similar_questions",
    "kinds",
    "last_seen_utc",
    "closest_entry",
    "score",
)


def _cell(text: str) -> str:
    # A resident's text starting with "=", "+", "-" or "@" would run as a formula when an
    # admin opens the file in a spreadsheet; a leading apostrophe keeps it text.
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def unanswered_csv(groups: Sequence[UnansweredGroup]) -> str:
    """The unanswered report as CSV (header row first; similar phrasings joined by " | ").

    Encode it as "utf-8-sig" for a file: Excel needs the BOM to read Chinese.
    """
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for group in groups:
        writer.writerow(
            [
                group.count,
                _cell(group.text),
                " | ".join(_cell(v) for v in group.texts[1:]),
                " ".join(sorted(group.kinds)),
                group.last_seen.astimezone(dt.UTC).isoformat(timespec="seconds"),
                group.entry_id or "",
                "" if group.score is None else f"{group.score:.3f}",
            ]
        )
    return buffer.getvalue()
