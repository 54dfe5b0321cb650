"""The long-lived pieces of a running bot, shared by every channel.

`EngineHolder` owns the current `AnswerEngine`; a reload builds a complete new
engine off to the side and swaps one reference, so a question in flight is
answered wholly from the old or wholly from the new knowledge, never a mix.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from pathlib import Path

from bot.answering import AnswerEngine, build_engine
from bot.config import Settings
from bot.knowledge.loader import KnowledgeError, load_knowledge
from bot.knowledge.models import KnowledgeBase
from bot.matching import Embedder, MatcherSettings, load_embedder

log = logging.getLogger(__name__)


def matcher_settings(settings: Settings) -> MatcherSettings:
    """The matcher's options, taken from the bot settings."""
    return MatcherSettings(
        answer_threshold=settings.match_answer_threshold,
        clarify_threshold=settings.match_clarify_threshold,
        margin=settings.match_margin,
        semantic=settings.semantic_enabled,
    )


@dataclass(frozen=True)
class ReloadResult:
    """What a reload did: the new knowledge, or the errors that kept the old one."""

    ok: bool
    errors: tuple[str, ...] = ()
    entries: int = 0
    changed: bool = False


class EngineHolder:
    """Holds the current answer engine and swaps it atomically on reload."""

    def __init__(self, engine: AnswerEngine, *, settings: Settings, embedder: Embedder | None):
        self._engine = engine
        self._settings = settings
        self._embedder = embedder
        self._lock = asyncio.Lock()

    @property
    def current(self) -> AnswerEngine:
        """The engine to use for one whole question: read it once, then keep it."""
        return self._engine

    @property
    def knowledge(self) -> KnowledgeBase:
        """The current knowledge base."""
        return self._engine.knowledge

    def build(self, directory: Path) -> AnswerEngine:
        """Load and index a knowledge directory (blocking; run it in a thread)."""
        return build_engine(
            load_knowledge(directory),
            settings=matcher_settings(self._settings),
            embedder=self._embedder,
            cache_dir=self._settings.embedding_cache_dir,
        )

    async def reload(self, directory: Path | None = None) -> ReloadResult:
        """Reload the knowledge; on any error keep answering from the current one."""
        directory = directory or self._settings.knowledge_dir
        async with self._lock:
            try:
                engine = await asyncio.to_thread(self.build, directory)
            except KnowledgeError as exc:
                return ReloadResult(ok=False, errors=tuple(str(p) for p in exc.problems))
            except Exception as exc:  # a reload must never take the bot down
                log.exception("knowledge reload failed")
                return ReloadResult(ok=False, errors=(f"{type(exc).__name__}: {exc}",))
            changed = engine.knowledge.content_hash != self._engine.knowledge.content_hash
            self._engine = engine  # the one atomic swap
            return ReloadResult(ok=True, entries=len(engine.knowledge.entries), changed=changed)


def open_engine(settings: Settings) -> EngineHolder:
    """Load the knowledge and the embedding model named by the settings (blocking).

    Raises:
        KnowledgeError: the knowledge does not validate.
    """
    embedder = load_embedder(settings.embedding_model) if settings.semantic_enabled else None
    kb = load_knowledge(settings.knowledge_dir)
    engine = build_engine(
        kb,
        settings=matcher_settings(settings),
        embedder=embedder,
        cache_dir=settings.embedding_cache_dir,
    )
    return EngineHolder(engine, settings=settings, embedder=embedder)
