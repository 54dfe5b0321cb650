"""Pydantic models of the admin-edited knowledge base.

Every model forbids unknown fields so a typo in a knowledge file is an error
with a file and line, never a silently ignored setting.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, HttpUrl

Lang = Literal["zh", "en"]
LANGS: tuple[Lang, ...] = ("zh", "en")

#: Ids end up in Telegram callback data (64 bytes in all), so they stay short.
MAX_ID_LENGTH = 40
_KEBAB = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")

#: Telegram refuses a message longer than this.
TELEGRAM_MESSAGE_LIMIT = 4096
#: Our own editorial limit for one answer, per language.
MAX_ANSWER_CHARS = 600


def _check_id(value: str) -> str:
    if not _KEBAB.match(value):
        raise ValueError(f"id {value!r} must be kebab-case (lower-case letters, digits, dashes)")
    if len(value) > MAX_ID_LENGTH:
        raise ValueError(f"id {value!r} is longer than {MAX_ID_LENGTH} characters")
    return value


def _non_blank(value: str) -> str:
    if not value.strip():
        raise ValueError("is empty")
    return value.strip()


Id = Annotated[str, AfterValidator(_check_id)]
Text = Annotated[str, AfterValidator(_non_blank)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)


class Localized(_Strict):
    """A text in Chinese and English."""

    zh: Text
    en: Text

    def get(self, lang: Lang) -> str:
        """The text in `lang`."""
        return self.zh if lang == "zh" else self.en


class Questions(_Strict):
    """Alternate phrasings residents use, per language."""

    zh: list[Text] = Field(default_factory=list)
    en: list[Text] = Field(default_factory=list)

    def all(self) -> list[str]:
        """Every phrasing, Chinese first."""
        return [*self.zh, *self.en]


class Link(_Strict):
    """A link shown as a button under an answer."""

    title: Localized
    url: HttpUrl


class Source(_Strict):
    """Where the facts of an entry come from."""

    document: Text
    date: dt.date
    section: Text


class Entry(_Strict):
    """One question-and-answer topic."""

    id: Id
    category: Id
    title: Localized
    questions: Questions
    keywords: list[Text] = Field(default_factory=list)
    answer: Localized
    links: list[Link] = Field(default_factory=list)
    related: list[Id] = Field(default_factory=list)
    source: Source
    updated: dt.date
    valid_until: dt.date | None = None


class Location(_Strict):
    """WGS-84 coordinates."""

    lat: float = Field(ge=-90, le=90)
    lon: float = Field(ge=-180, le=180)


PlaceKind = Literal[
    "marriage_registration", "volunteer_desk", "canteen", "service_centre", "elderly_care"
]


class Place(_Strict):
    """A place a resident can go to; every field the source does not state is left out."""

    id: Id
    kind: PlaceKind
    name: Localized
    district: Localized | None = None
    address: Localized | None = None
    location: Location | None = None
    hours: Localized | None = None
    services: list[Localized] = Field(default_factory=list)
    links: list[Link] = Field(default_factory=list)
    entry: Id | None = None
    source: Source


class Category(_Strict):
    """A group of entries shown as a menu button."""

    id: Id
    title: Localized
    emoji: str = ""
    order: int = 0


class SynonymGroup(_Strict):
    """Expressions residents use for the same thing; the first is the canonical one."""

    terms: list[Text] = Field(min_length=2)


class ContrastGroup(_Strict):
    """Terms that look alike but each name a different topic (结婚 / 离婚)."""

    terms: list[Text] = Field(min_length=2)


class BotTexts(_Strict):
    """Fixed texts of the bot, editable by admins."""

    greeting: Localized
    help: Localized
    fallback: Localized
    privacy: Localized
    clarify: Localized
    invalid: Localized
    unsupported_media: Localized
    smalltalk_hello: Localized
    smalltalk_thanks: Localized
    smalltalk_who: Localized
    smalltalk_bye: Localized
    source_silent: Localized


class KnowledgeFile(_Strict):
    """What one YAML file may hold; the loader merges all files of a directory."""

    categories: list[Category] = Field(default_factory=list)
    synonyms: list[SynonymGroup] = Field(default_factory=list)
    contrasts: list[ContrastGroup] = Field(default_factory=list)
    texts: BotTexts | None = None
    places: list[Place] = Field(default_factory=list)
    entries: list[Entry] = Field(default_factory=list)


class KnowledgeBase(_Strict):
    """The whole validated knowledge base, as the rest of the bot sees it."""

    entries: dict[str, Entry]
    categories: dict[str, Category]
    places: dict[str, Place]
    synonyms: list[SynonymGroup]
    contrasts: list[ContrastGroup]
    texts: BotTexts
    #: Hash of the files' contents: keys caches (embeddings) and tells reloads apart.
    content_hash: str

    def entries_in(self, category_id: str) -> list[Entry]:
        """The entries of one category, in file order."""
        return [e for e in self.entries.values() if e.category == category_id]

    def sorted_categories(self) -> list[Category]:
        """Categories in menu order."""
        return sorted(self.categories.values(), key=lambda c: (c.order, c.id))
