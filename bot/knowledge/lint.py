"""Warnings about knowledge that loads but is probably not what the editors meant."""

from __future__ import annotations

import datetime as dt
import unicodedata
from dataclasses import dataclass

from bot.knowledge.loader import Problem, SourceMap, format_location
from bot.knowledge.models import LANGS, KnowledgeBase, Lang
from bot.matching.grouping import similar_pairs

#: fuzz.ratio (0-100) from which two questions of different entries count as the same.
NEAR_DUPLICATE_RATIO = 90.0


def lint_knowledge(
    knowledge: KnowledgeBase, sources: SourceMap, *, today: dt.date
) -> list[Problem]:
    """Every warning about a valid knowledge base.

    Args:
        knowledge: the loaded knowledge.
        sources: where its items are written (for file and line).
        today: the date `valid_until` is compared with.

    Returns:
        Warnings: near-duplicate questions in different entries, expired entries,
        categories without entries.
    """
    return [
        *near_duplicate_questions(knowledge, sources),
        *expired_entries(knowledge, sources, today=today),
        *empty_categories(knowledge, sources),
    ]


def normalize_question(text: str) -> str:
    """Fold a question for comparison: NFKC, lower case, no punctuation, symbols or spaces.

    NFKC turns full-width forms (？，ＡＢＣ) into their ASCII counterparts first.
    """
    folded = unicodedata.normalize("NFKC", text).lower()
    return "".join(ch for ch in folded if unicodedata.category(ch)[0] not in "PZSC")


@dataclass(frozen=True)
class _Question:
    entry_id: str
    lang: Lang
    index: int
    text: str


def near_duplicate_questions(knowledge: KnowledgeBase, sources: SourceMap) -> list[Problem]:
    """Questions of two different entries that are the same or nearly so.

    The matcher cannot tell such entries apart, so one of them never wins.
    """
    questions: list[_Question] = []
    normalized: list[str] = []
    for entry in knowledge.entries.values():
        for lang in LANGS:
            for index, text in enumerate(getattr(entry.questions, lang)):
                norm = normalize_question(text)
                if norm:
                    questions.append(_Question(entry.id, lang, index, text))
                    normalized.append(norm)

    problems: list[Problem] = []
    for i, j in similar_pairs(normalized, NEAR_DUPLICATE_RATIO):
        a, b = questions[i], questions[j]
        if a.entry_id == b.entry_id:
            continue
        file_a, line_a = sources.locate("entries", a.entry_id, "questions", a.lang, a.index)
        file_b, line_b = sources.locate("entries", b.entry_id, "questions", b.lang, b.index)
        problems.append(
            Problem(
                file_a,
                line_a,
                f"question {a.text!r} of entry '{a.entry_id}' is nearly the same as "
                f"{b.text!r} of entry '{b.entry_id}' ({format_location(file_b, line_b)}); "
                "residents asking it may get either answer",
            )
        )
    return problems


def expired_entries(
    knowledge: KnowledgeBase, sources: SourceMap, *, today: dt.date
) -> list[Problem]:
    """Entries whose `valid_until` date has passed."""
    problems: list[Problem] = []
    for entry in knowledge.entries.values():
        if entry.valid_until is not None and entry.valid_until < today:
            file, line = sources.locate("entries", entry.id, "valid_until")
            problems.append(
                Problem(
                    file,
                    line,
                    f"entry '{entry.id}' expired on {entry.valid_until.isoformat()} "
                    "(valid_until): check it and update or remove it",
                )
            )
    return problems


def empty_categories(knowledge: KnowledgeBase, sources: SourceMap) -> list[Problem]:
    """Categories no entry belongs to: their menu button would lead nowhere."""
    used = {entry.category for entry in knowledge.entries.values()}
    problems: list[Problem] = []
    for category in knowledge.categories.values():
        if category.id not in used:
            file, line = sources.locate("categories", category.id)
            problems.append(Problem(file, line, f"category '{category.id}' has no entries"))
    return problems
