"""Admin work for any channel: the service behind /stats, /unanswered, /reload and
uploads, its reports and chart, and safe edits of the knowledge files."""

from __future__ import annotations

from bot.admin.service import (
    CLI_ADMIN_ID,
    MAX_PENDING_SUGGESTIONS,
    SHENYANG_UTC_OFFSET,
    AdminService,
    EditResult,
    Suggestion,
)

__all__ = [
    "CLI_ADMIN_ID",
    "MAX_PENDING_SUGGESTIONS",
    "SHENYANG_UTC_OFFSET",
    "AdminService",
    "EditResult",
    "Suggestion",
]
