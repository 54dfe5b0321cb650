"""The admin-edited knowledge base: models, loader and lint (edits: `bot.admin.editing`)."""

from __future__ import annotations

from bot.knowledge.loader import (
    KnowledgeError,
    Problem,
    SourceMap,
    ValidationReport,
    load_knowledge,
    validate_knowledge,
)

__all__ = [
    "KnowledgeError",
    "Problem",
    "SourceMap",
    "ValidationReport",
    "load_knowledge",
    "validate_knowledge",
]
