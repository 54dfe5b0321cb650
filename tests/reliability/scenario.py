"""A run of identifiable questions: every question has its own answer, so replies can be counted.

Each resident asks a different sequence of questions, each answered by a
different knowledge entry; the answer carries that entry's 👍 button
(`f:<entry-id>:+`), which is how a reply is matched to its question. A chat's
replies must name exactly its questions' entries, once each, in order.
"""

from __future__ import annotations

import functools
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from bot.answering import build_engine
from bot.knowledge.loader import load_knowledge
from bot.matching import MatcherSettings, MatchOutcome
from tests.telegram import factories as f
from tests.telegram.factories import Resident
from tests.telegram.fake_api import ApiCall
from tests.telegram.harness import KNOWLEDGE_DIR


@functools.cache
def identifiable_questions() -> tuple[tuple[str, str], ...]:
    """(question, entry id) pairs of the shipped knowledge that the bot answers directly."""
    kb = load_knowledge(KNOWLEDGE_DIR)
    engine = build_engine(
        kb, settings=MatcherSettings(semantic=False), embedder=None, cache_dir=None
    )
    pairs = []
    for entry in kb.entries.values():
        for question in entry.questions.zh:
            result = engine.answer(question)
            if (
                result.outcome is MatchOutcome.ANSWERED
                and result.top
                and result.top.doc_id == entry.id
            ):
                pairs.append((question, entry.id))
                break
    return tuple(pairs)


def answered_entry(call: ApiCall) -> str | None:
    """The entry a reply answers, from its 👍 button; None for other messages."""
    for data in call.callback_data():
        if data.startswith("f:") and data.endswith(":+"):
            return data[2:-2]
    return None


@dataclass
class Scenario:
    """Residents and the questions each of them asks, in order."""

    residents: list[Resident]
    plan: dict[int, list[tuple[str, str]]]

    @classmethod
    def make(cls, residents: int, questions_each: int) -> Scenario:
        """`residents` new residents, each with `questions_each` different questions."""
        pairs = identifiable_questions()
        assert len(pairs) >= questions_each, "not enough identifiable questions"
        people = [Resident.new() for _ in range(residents)]
        plan = {
            r.id: [pairs[(n * 7 + k) % len(pairs)] for k in range(questions_each)]
            for n, r in enumerate(people)
        }
        return cls(people, plan)

    def updates(self, rounds: Iterable[int] | None = None) -> list[dict[str, Any]]:
        """The message updates of question rounds `rounds` (all rounds by default), interleaved."""
        longest = max(len(p) for p in self.plan.values())
        wanted = range(longest) if rounds is None else rounds
        out = []
        for k in wanted:
            for resident in self.residents:
                questions = self.plan[resident.id]
                if k < len(questions):
                    out.append(f.message(resident, questions[k][0]))
        return out

    @property
    def total(self) -> int:
        """How many questions in all."""
        return sum(len(p) for p in self.plan.values())

    def problems(self, calls: Sequence[ApiCall]) -> list[str]:
        """What is wrong with the replies in `calls`: missing, duplicated or out-of-order answers."""
        found: list[str] = []
        for resident in self.residents:
            expected = [entry for _, entry in self.plan[resident.id]]
            got = [
                answered_entry(c) or "(not an answer)"
                for c in calls
                if c.method == "sendMessage"
                and c.error is None
                and c.params.get("chat_id") == resident.id
            ]
            if got != expected:
                missing = Counter(expected) - Counter(got)
                extra = Counter(got) - Counter(expected)
                found.append(
                    f"chat {resident.id}: expected {expected}, got {got}"
                    f" (missing {dict(missing)}, extra {dict(extra)})"
                )
        return found

    def distinct_answered(self, calls: Sequence[ApiCall]) -> dict[int, set[str]]:
        """Per chat, the entries answered at least once (duplicates allowed)."""
        return {
            r.id: {
                e
                for c in calls
                if c.method == "sendMessage"
                and c.error is None
                and c.params.get("chat_id") == r.id
                and (e := answered_entry(c)) is not None
            }
            for r in self.residents
        }
