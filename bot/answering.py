"""The answer engine: a knowledge base and the matcher built from it, as one value.

A reload builds a new `AnswerEngine` and swaps it whole, so a question is
always answered from one consistent pair of knowledge and index.
"""

from __future__ import annotations

from collections.abc import Generator
from dataclasses import dataclass, field
from pathlib import Path

from bot.bounded import BoundedMap
from bot.knowledge.models import KnowledgeBase
from bot.matching import Embedder, MatchDocument, Matcher, MatcherSettings, MatchResult
from bot.matching.matcher import FloatArray, run_steps

#: How many recent questions' verdicts an engine keeps.
RECENT_QUESTIONS = 4096
#: Longer messages are rarely repeated word for word: not worth the memory.
MAX_CACHED_QUESTION = 200


def documents_from_knowledge(kb: KnowledgeBase) -> list[MatchDocument]:
    """What the matcher indexes of each entry: questions, titles, keywords (and the answer
    text, to know what it speaks of), both languages.

    Args:
        kb: The validated knowledge base.

    Returns:
        One document per entry, in file order.
    """
    return [
        MatchDocument(
            doc_id=entry.id,
            questions=tuple(entry.questions.all()),
            title=f"{entry.title.zh} {entry.title.en}",
            keywords=tuple(entry.keywords),
            answer=f"{entry.answer.zh} {entry.answer.en}",
        )
        for entry in kb.entries.values()
    ]


@dataclass(frozen=True)
class AnswerEngine:
    """A knowledge base together with the matcher indexing it."""

    knowledge: KnowledgeBase
    matcher: Matcher
    #: Verdicts of recent questions. Residents ask the same things in the same words over
    #: and over; the matcher is pure, so a repeat needs no second match. The cache lives
    #: and dies with this engine, so a reload never serves a verdict of old knowledge.
    _recent: BoundedMap[str, MatchResult] = field(
        default_factory=lambda: BoundedMap(RECENT_QUESTIONS), init=False, repr=False, compare=False
    )

    def answer(self, question: str) -> MatchResult:
        """Match a resident's question against the knowledge base.

        Args:
            question: The message as typed.

        Returns:
            The matcher's verdict; candidate ids are entry ids of `knowledge`.
        """
        return run_steps(self.answering(question), self.matcher.semantic_evidence)

    def answering(self, question: str) -> Generator[str, FloatArray, MatchResult]:
        """`answer` in steps, as `Matcher.matching`: yields the text the sentence
        model must read (if any), takes its `semantic_evidence` back, returns the verdict."""
        result = self._recent.get(question)
        if result is None:
            result = yield from self.matcher.matching(question)
            if len(question) <= MAX_CACHED_QUESTION:
                # Admin reports match in a worker thread: BoundedMap tolerates that.
                self._recent.put(question, result)
        return result


def build_engine(
    kb: KnowledgeBase,
    *,
    settings: MatcherSettings,
    embedder: Embedder | None,
    cache_dir: Path | None,
) -> AnswerEngine:
    """Index a knowledge base (blocking: ~1 s, more when embeddings are not cached).

    Args:
        kb: The validated knowledge base.
        settings: Matcher thresholds.
        embedder: Sentence model, or None for lexical matching only.
        cache_dir: Where document embeddings are cached; None: no cache.

    Returns:
        The engine.
    """
    matcher = Matcher.build(
        documents_from_knowledge(kb),
        synonyms=[group.terms for group in kb.synonyms],
        contrasts=[group.terms for group in kb.contrasts],
        settings=settings,
        embedder=embedder,
        cache_dir=cache_dir,
    )
    return AnswerEngine(knowledge=kb, matcher=matcher)
