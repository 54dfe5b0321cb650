"""The admin-edited knowledge base: models, loader, lint and safe editing."""

from __future__ import annotations

from bot.knowledge.editing import ChangeSummary, add_alternate_question, replace_knowledge_file
from bot.knowledge.loader import (
    KnowledgeError,
    Problem,
    SourceMap,
    ValidationReport,
    load_knowledge,
    validate_knowledge,
)

__all__ = [
    "ChangeSummary",
    "KnowledgeError",
    "Problem",
    "SourceMap",
    "ValidationReport",
    "add_alternate_question",
    "load_knowledge",
    "replace_knowledge_file",
    "validate_knowledge",
]
