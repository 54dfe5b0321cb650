"""The data the matcher takes and returns."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Literal


class MatchOutcome(StrEnum):
    """What the bot should do with a message."""

    #: One entry clearly fits: show its answer.
    ANSWERED = "answered"
    #: A few entries might fit: ask "did you mean ...".
    CLARIFY = "clarify"
    #: Nothing fits: say so and offer the menu.
    FALLBACK = "fallback"
    #: Hello, thanks, goodbye, "who are you": answer with a fixed text.
    SMALLTALK = "smalltalk"
    #: Nothing usable in the message (empty, only emoji or punctuation).
    INVALID = "invalid"


SmalltalkKind = Literal["hello", "thanks", "who", "bye"]


@dataclass(frozen=True)
class MatchDocument:
    """One answerable topic, as the matcher sees it.

    Attributes:
        doc_id: The knowledge entry id.
        questions: Every phrasing residents use, any language.
        title: The topic title; may hold both languages joined.
        keywords: Distinctive words, any language.
        answer: The answer text, any language. Not matched against; it only
            tells whether the entry speaks of what a message asks for (a phone
            number, a price, opening hours), see `bot.matching.aspects`.
    """

    doc_id: str
    questions: tuple[str, ...]
    title: str = ""
    keywords: tuple[str, ...] = ()
    answer: str = ""


@dataclass(frozen=True)
class Candidate:
    """A document and how well it fits, 0..100 (calibrated: 70 means ~70% right)."""

    doc_id: str
    score: float


@dataclass(frozen=True)
class MatchResult:
    """The matcher's verdict on one message.

    Attributes:
        outcome: What to do.
        lang: Language of the message, for the reply.
        candidates: Best first, at most the requested limit (10 by default).
        normalized: The normalised message (for logs and analytics).
        smalltalk: The kind of small talk when `outcome` is SMALLTALK.
        choices: When `outcome` is CLARIFY, the entries "did you mean" offers
            (2 to `MatcherSettings.max_clarify`, the plausible ones).
        missing: What the message asks for beyond its topic (a phone number, a
            price, opening hours: `bot.matching.aspects`) that none of the
            entries a reply offers, or the best candidate when it offers none,
            speaks of, so the reply can say the source is silent.
        uncovered: Look-alike topics the message names (离婚 beside the covered
            结婚: `bot.matching.contrasts`) that none of the entries a reply
            offers, or the best candidate when it offers none, speaks of, so the
            reply can say the sources do not cover them.
    """

    outcome: MatchOutcome
    lang: Literal["zh", "en"]
    candidates: tuple[Candidate, ...]
    normalized: str
    smalltalk: SmalltalkKind | None = None
    choices: tuple[Candidate, ...] = ()
    missing: frozenset[str] = frozenset()
    uncovered: frozenset[str] = frozenset()

    @property
    def top(self) -> Candidate | None:
        """The best candidate, if any."""
        return self.candidates[0] if self.candidates else None
