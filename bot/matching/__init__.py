"""Pure, synchronous question matching: normalise, segment, score, decide.

Nothing here knows about Telegram, storage or asyncio; the conversation layer
calls `Matcher.match` and renders the `MatchResult`.
"""

from __future__ import annotations

from bot.matching.embedding import Embedder, load_embedder
from bot.matching.matcher import Matcher, MatcherSettings
from bot.matching.normalize import detect_language, normalize
from bot.matching.types import Candidate, MatchDocument, MatchOutcome, MatchResult

__all__ = [
    "Candidate",
    "Embedder",
    "MatchDocument",
    "MatchOutcome",
    "MatchResult",
    "Matcher",
    "MatcherSettings",
    "detect_language",
    "load_embedder",
    "normalize",
]
