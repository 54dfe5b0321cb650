"""The answer engine: a knowledge base and the matcher built from it, as one value.

A reload builds a new `AnswerEngine` and swaps it whole, so a question is
always answered from one consistent pair of knowledge and index.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from bot.knowledge.models import KnowledgeBase
from bot.matching import Embedder, MatchDocument, Matcher, MatcherSettings, MatchResult


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

    def answer(self, question: str) -> MatchResult:
        """Match a resident's question against the knowledge base.

        Args:
            question: The message as typed.

        Returns:
            The matcher's verdict; candidate ids are entry ids of `knowledge`.
        """
        return self.matcher.match(question)


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
        settings=settings,
        embedder=embedder,
        cache_dir=cache_dir,
    )
    return AnswerEngine(knowledge=kb, matcher=matcher)
