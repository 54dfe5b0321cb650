"""Read and validate the knowledge directory, reporting problems as `file:line: message`.

Admins edit the YAML files by hand, so every problem names the file and the line
of the offending node, in plain words. Files are parsed into ruamel.yaml's
round-trip nodes because they remember where they came from (`.lc`); libyaml
does the parsing when ruamel.yaml.clib is installed, which keeps a full load of
the shipped knowledge around 0.1 s.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import os
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import annotated_types
from pydantic import BaseModel, ValidationError
from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.constructor import DuplicateKeyError, RoundTripConstructor
from ruamel.yaml.error import MarkedYAMLError, YAMLError
from ruamel.yaml.reader import ReaderError
from ruamel.yaml.resolver import VersionedResolver

try:
    from ruamel.yaml.cyaml import CParser
except ImportError:  # the C extension (ruamel.yaml.clib) is optional
    CParser = None

from bot.knowledge import models
from bot.knowledge.models import (
    MAX_ANSWER_CHARS,
    TELEGRAM_MESSAGE_LIMIT,
    Category,
    ContrastGroup,
    Entry,
    KnowledgeBase,
    KnowledgeFile,
    Place,
    SynonymGroup,
)

#: File name endings the loader reads; anything else in the directory is ignored.
KNOWLEDGE_SUFFIXES = (".yaml", ".yml")

Section = Literal["entries", "places", "categories"]
_ITEM_NAMES: Mapping[str, str] = {
    "entries": "entry",
    "places": "place",
    "categories": "category",
}


@dataclass(frozen=True)
class Problem:
    """One error or warning, located as precisely as the file allows."""

    file: Path
    line: int | None
    message: str

    def __str__(self) -> str:
        return f"{format_location(self.file, self.line)}: {self.message}"


def format_location(file: Path, line: int | None) -> str:
    """`file:line` (or `file`), relative to the working directory when the file is inside it."""
    try:
        shown = str(file.resolve().relative_to(Path.cwd().resolve()))
    except (ValueError, OSError):
        shown = os.fspath(file)
    return shown if line is None else f"{shown}:{line}"


class KnowledgeError(ValueError):
    """The knowledge directory has errors; `problems` lists every one of them.

    A ValueError, so a caller refusing bad admin input catches one kind of error.
    """

    def __init__(self, problems: Sequence[Problem]) -> None:
        self.problems: tuple[Problem, ...] = tuple(problems)
        count = len(self.problems)
        lines = [f"the knowledge has {count} error{'s' if count != 1 else ''}:"]
        lines += [str(p) for p in self.problems]
        super().__init__("\n".join(lines))


class SourceMap:
    """Where each entry, place and category of a knowledge directory is written."""

    def __init__(self) -> None:
        self._items: dict[tuple[str, str], tuple[Path, Any, int]] = {}

    def _add(self, section: Section, item_id: str, file: Path, root: Any, index: int) -> None:
        # The first definition wins: it is the one a duplicate is reported against.
        self._items.setdefault((section, item_id), (file, root, index))

    def __contains__(self, key: tuple[str, str]) -> bool:
        return key in self._items

    def locate(self, section: Section, item_id: str, *path: str | int) -> tuple[Path, int | None]:
        """The file and line of an item, or of a node inside it.

        Args:
            section: "entries", "places" or "categories".
            item_id: the item's id.
            *path: keys and list indexes inside the item, e.g. "questions", "zh", 2.

        Returns:
            The file and the 1-based line of the deepest node found on `path`.

        Raises:
            KeyError: no item of `section` has that id.
        """
        file, root, index = self._items[(section, item_id)]
        return file, _line_at(root, (section, index, *path))


@dataclass(frozen=True)
class ValidationReport:
    """Everything found wrong (`errors`) or suspicious (`warnings`) in a knowledge directory."""

    errors: list[Problem]
    warnings: list[Problem]
    #: The knowledge, or None when there are errors.
    knowledge: KnowledgeBase | None
    #: Where each item is written; None when there are errors.
    sources: SourceMap | None = field(default=None, repr=False, compare=False)

    @property
    def ok(self) -> bool:
        """True when there are no errors (warnings allowed)."""
        return not self.errors


def load_knowledge(directory: Path) -> KnowledgeBase:
    """Load and validate every knowledge file of `directory`.

    Warnings (lint) are not computed here: they never stop the bot from starting.

    Args:
        directory: the folder holding the `*.yaml` / `*.yml` files (not searched recursively).

    Returns:
        The merged knowledge base.

    Raises:
        KnowledgeError: the files have errors; its message lists each as `file:line: message`.
    """
    errors, knowledge, _ = _check_directory(directory)
    if errors or knowledge is None:
        raise KnowledgeError(errors)
    return knowledge


def validate_knowledge(directory: Path, *, today: dt.date | None = None) -> ValidationReport:
    """Check `directory` for errors and, when it has none, for warnings.

    Args:
        directory: the knowledge folder.
        today: the date expiry (`valid_until`) is judged against; defaults to the local date.

    Returns:
        A report with errors, warnings, and the knowledge base when there are no errors.
    """
    # lint builds on this module's Problem and SourceMap, so it is imported here.
    from bot.knowledge.lint import lint_knowledge

    errors, knowledge, sources = _check_directory(directory)
    if errors or knowledge is None or sources is None:
        return ValidationReport(errors=errors, warnings=[], knowledge=None)
    warnings = lint_knowledge(knowledge, sources, today=today or dt.date.today())
    return ValidationReport(errors=[], warnings=warnings, knowledge=knowledge, sources=sources)


def knowledge_files(directory: Path) -> list[Path]:
    """The knowledge files of `directory`, sorted by name.

    Hidden files (editor locks, our own temporary files) and sub-folders such as
    `.backups` are skipped.
    """
    return sorted(
        p
        for p in directory.iterdir()
        if p.suffix in KNOWLEDGE_SUFFIXES and not p.name.startswith(".") and p.is_file()
    )


def content_hash(files: Iterable[tuple[str, bytes]]) -> str:
    """sha256 over (name, bytes) pairs in name order, so renames and edits both change it."""
    digest = hashlib.sha256()
    for name, data in sorted(files):
        encoded = name.encode()
        # Length prefixes keep ("ab", "c") and ("a", "bc") apart.
        digest.update(len(encoded).to_bytes(8, "big") + encoded)
        digest.update(len(data).to_bytes(8, "big") + data)
    return digest.hexdigest()


# --- parsing -----------------------------------------------------------------------------


class _Constructor(RoundTripConstructor):
    """Round-trip constructor that leaves timestamps as text.

    ruamel turns `2024-13-01` into an exception without a line number; as text
    it reaches pydantic, which reports it like any other bad field.
    """


_Constructor.add_constructor(
    "tag:yaml.org,2002:timestamp",
    lambda constructor, node: constructor.construct_scalar(node),
)


@dataclass
class _File:
    path: Path
    root: Any
    model: KnowledgeFile | None


# Without the C extension the class still has to be definable; it is never used then.
_LibyamlParser: Any = CParser if CParser is not None else type("_NoLibyaml", (), {})


class _FastLoader(_LibyamlParser, _Constructor, VersionedResolver):
    """libyaml's parser feeding the round-trip constructor.

    It builds the same nodes, with the same line numbers, as `YAML(typ="rt")`,
    several times faster: it drops comments, which the loader does not need.
    """

    def __init__(self, stream: bytes) -> None:
        _LibyamlParser.__init__(self, stream)
        self._parser = self._composer = self
        _Constructor.__init__(self, loader=self)
        VersionedResolver.__init__(self, loadumper=self)
        self.comment_handling = None

    @property
    def processing_version(self) -> Any:
        # libyaml does not pass a %YAML directive on to ruamel, so this is always
        # YAML 1.2; the inherited property finds that out through two caught
        # AttributeErrors for every scalar.
        return (1, 2)


def _load_yaml(data: bytes) -> Any:
    if CParser is None:  # ruamel.yaml.clib is not installed: same result, slower
        yaml = YAML(typ="rt")
        yaml.Constructor = _Constructor
        return yaml.load(data)
    loader = _FastLoader(data)
    try:
        return loader.get_single_data()
    finally:
        loader.dispose()


def _parse(path: Path, data: bytes) -> tuple[Any, list[Problem]]:
    try:
        return _load_yaml(data), []
    except DuplicateKeyError as exc:
        mark = exc.problem_mark
        return None, [Problem(path, mark.line + 1 if mark else None, str(exc.problem))]
    except MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else None
        what = exc.problem or exc.context or "invalid YAML"
        return None, [Problem(path, line, f"YAML syntax error: {what}")]
    except (ReaderError, UnicodeDecodeError):
        return None, [Problem(path, None, "is not UTF-8 text: save it with the UTF-8 encoding")]
    except YAMLError as exc:
        return None, [Problem(path, None, f"cannot be read as YAML: {exc}")]


def _plain(node: Any) -> Any:
    """ruamel's node types as plain Python values, so the models hold plain str/float."""
    if isinstance(node, dict):
        return {_plain(k): _plain(v) for k, v in node.items()}
    if isinstance(node, list):
        return [_plain(v) for v in node]
    if isinstance(node, bool) or node is None:
        return node
    if isinstance(node, str):
        return str(node)
    if isinstance(node, int):
        return int(node)
    if isinstance(node, float):
        return float(node)
    return node


def _check_directory(
    directory: Path,
) -> tuple[list[Problem], KnowledgeBase | None, SourceMap | None]:
    if not directory.is_dir():
        return [Problem(directory, None, "is not a folder")], None, None
    paths = knowledge_files(directory)
    if not paths:
        return [Problem(directory, None, "has no *.yaml knowledge files")], None, None

    errors: list[Problem] = []
    files: list[_File] = []
    contents: list[tuple[str, bytes]] = []
    for path in paths:
        data = path.read_bytes()
        contents.append((path.name, data))
        root, problems = _parse(path, data)
        if problems:
            errors += problems
            continue
        if root is None:  # an empty file holds nothing, which is fine
            root = CommentedMap()
        if not isinstance(root, dict):
            errors.append(
                Problem(path, 1, f"the file must be a mapping with the keys {_top_level_keys()}")
            )
            continue
        try:
            model = KnowledgeFile.model_validate(_plain(root))
        except ValidationError as exc:
            errors += [_describe(path, root, err) for err in exc.errors()]
            files.append(_File(path, root, None))
            continue
        errors += _check_items(path, root, model)
        files.append(_File(path, root, model))

    sources = SourceMap()
    errors += _check_duplicates(files, sources)
    if errors:
        # Cross-file references are only checked on a clean set of files: an
        # unreadable categories file would otherwise make every entry "unknown".
        return _sorted(errors), None, None

    errors += _check_references(directory, files, sources)
    if errors:
        return _sorted(errors), None, None

    return [], _merge(files, content_hash(contents)), sources


def _sorted(problems: list[Problem]) -> list[Problem]:
    return sorted(problems, key=lambda p: (str(p.file), p.line or 0))


def _top_level_keys() -> str:
    return ", ".join(KnowledgeFile.model_fields)


# --- line numbers ------------------------------------------------------------------------


def _line_at(root: Any, loc: Iterable[str | int]) -> int | None:
    """1-based line of the deepest node of `loc` that exists in the parsed file."""
    node, line = root, None
    for part in loc:
        try:
            if isinstance(node, CommentedMap) and part in node:
                line = node.lc.key(part)[0] + 1
            elif isinstance(node, CommentedSeq) and isinstance(part, int) and 0 <= part < len(node):
                line = node.lc.item(part)[0] + 1
            else:
                break
        except (KeyError, TypeError):  # merged (<<) keys have no position of their own
            break
        node = node[part]
    return line


def _format_path(loc: Sequence[str | int]) -> str:
    text = ""
    for part in loc:
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            text += f".{part}" if text else part
    return text


def _owner(root: Any, loc: Sequence[str | int]) -> tuple[str, Sequence[str | int]]:
    """Who a loc belongs to ("entry 'x'", "texts", ...) and the rest of the loc."""
    if not loc:
        return "", loc
    section = loc[0]
    if len(loc) >= 2 and isinstance(loc[1], int):
        index = loc[1]
        if section == "synonyms":
            return f"synonym group {index + 1}", loc[2:]
        if section == "contrasts":
            return f"contrast group {index + 1}", loc[2:]
        if section in _ITEM_NAMES:
            name = _ITEM_NAMES[str(section)]
            item = _get(root, (section, index))
            item_id = item.get("id") if isinstance(item, dict) else None
            if isinstance(item_id, str) and item_id.strip():
                return f"{name} '{item_id.strip()}'", loc[2:]
            return f"{name} #{index + 1}", loc[2:]
    return "", loc


def _get(root: Any, loc: Sequence[str | int]) -> Any:
    node = root
    for part in loc:
        try:
            node = node[part]
        except (KeyError, IndexError, TypeError):
            return None
    return node


# --- plain-words messages for pydantic errors --------------------------------------------


def _ranges() -> dict[str, tuple[float, float]]:
    """Fields with both a lower and an upper bound, e.g. lat -> (-90, 90)."""
    found: dict[str, tuple[float, float]] = {}
    for value in vars(models).values():
        if not (isinstance(value, type) and issubclass(value, BaseModel)):
            continue
        for name, info in value.model_fields.items():
            low = next((m.ge for m in info.metadata if isinstance(m, annotated_types.Ge)), None)
            high = next((m.le for m in info.metadata if isinstance(m, annotated_types.Le)), None)
            if low is not None and high is not None:
                found[name] = (low, high)  # type: ignore[assignment]
    return found


_RANGES = _ranges()

_TYPE_MESSAGES: Mapping[str, str] = {
    "string_type": "must be text",
    "int_type": "must be a whole number",
    "int_parsing": "must be a whole number",
    "int_from_float": "must be a whole number",
    "float_type": "must be a number",
    "float_parsing": "must be a number",
    "list_type": "must be a list",
    "model_type": "must be a mapping (key: value lines)",
    "dict_type": "must be a mapping (key: value lines)",
    "date_type": "must be a date like 2024-03-06",
    "date_parsing": "must be a date like 2024-03-06",
    "date_from_datetime_parsing": "must be a date like 2024-03-06",
    "date_from_datetime_inexact": "must be a date like 2024-03-06, without a time",
    "url_parsing": "is not a valid URL",
    "url_type": "is not a valid URL",
    "url_scheme": "is not a valid URL (it must start with http:// or https://)",
    "url_too_long": "is not a valid URL (too long)",
}


def _describe(path: Path, root: Any, err: Mapping[str, Any]) -> Problem:
    loc: tuple[str | int, ...] = tuple(err["loc"])
    line = _line_at(root, loc)
    kind: str = err["type"]
    ctx: Mapping[str, Any] = err.get("ctx") or {}

    if kind == "extra_forbidden" and len(loc) == 1:
        return Problem(
            path, line, f"unknown top-level key '{loc[0]}' (allowed: {_top_level_keys()})"
        )

    owner, rest = _owner(root, loc)
    field_path = _format_path(rest)
    if kind == "extra_forbidden":
        parent = _format_path(rest[:-1])
        message = f"unknown field '{rest[-1]}'" + (f" in {parent}" if parent else "")
    elif kind == "missing":
        if line is None:
            line = _line_at(root, loc[:-1])
        message = f"{field_path} is missing"
    elif kind in ("greater_than_equal", "less_than_equal", "greater_than", "less_than"):
        name = rest[-1] if rest else ""
        if isinstance(name, str) and name in _RANGES:
            low, high = _RANGES[name]
            message = f"{field_path} must be between {low:g} and {high:g}"
        else:
            message = f"{field_path}: {err['msg'].lower()}"
    elif kind == "literal_error":
        message = f"{field_path} must be one of: {ctx.get('expected', '')}"
    elif kind == "too_short":
        message = f"{field_path} needs at least {ctx.get('min_length')} items"
    elif kind == "value_error":
        reason = str(ctx.get("error", err["msg"]))
        if reason.startswith("is "):
            message = f"{field_path} {reason}"
        elif field_path and reason.startswith(f"{field_path} "):
            message = reason
        else:
            message = f"{field_path}: {reason}"
    elif kind in _TYPE_MESSAGES:
        message = f"{field_path or 'the value'} {_TYPE_MESSAGES[kind]}"
        if kind.startswith("url_"):
            message += f": {err.get('input')!r}"
    else:
        message = f"{field_path}: {err['msg']}"

    return Problem(path, line, f"{owner}: {message}" if owner else message)


# --- checks beyond the schema ------------------------------------------------------------


def _utf16_length(text: str) -> int:
    # Telegram measures message length in UTF-16 code units, so an emoji counts twice.
    return len(text.encode("utf-16-le")) // 2


def _check_items(path: Path, root: Any, model: KnowledgeFile) -> list[Problem]:
    """Rules about one entry that the schema cannot express."""
    problems: list[Problem] = []
    for index, entry in enumerate(model.entries):
        loc: tuple[str | int, ...] = ("entries", index)
        label = f"entry '{entry.id}'"
        if not entry.questions.zh:
            problems.append(
                Problem(
                    path,
                    _line_at(root, (*loc, "questions")),
                    f"{label}: questions.zh needs at least one question",
                )
            )
        for lang in models.LANGS:
            text = entry.answer.get(lang)
            line = _line_at(root, (*loc, "answer", lang))
            if _utf16_length(text) > TELEGRAM_MESSAGE_LIMIT:
                problems.append(
                    Problem(
                        path,
                        line,
                        f"{label}: answer.{lang} is {len(text)} characters, too long for one "
                        f"Telegram message ({TELEGRAM_MESSAGE_LIMIT})",
                    )
                )
            elif len(text) > MAX_ANSWER_CHARS:
                problems.append(
                    Problem(
                        path,
                        line,
                        f"{label}: answer.{lang} is {len(text)} characters, over the limit of "
                        f"{MAX_ANSWER_CHARS}",
                    )
                )
        seen: set[str] = set()
        for j, related in enumerate(entry.related):
            line = _line_at(root, (*loc, "related", j))
            if related == entry.id:
                problems.append(Problem(path, line, f"{label}: related lists the entry itself"))
            elif related in seen:
                problems.append(Problem(path, line, f"{label}: related lists '{related}' twice"))
            seen.add(related)
    return problems


def _check_duplicates(files: Sequence[_File], sources: SourceMap) -> list[Problem]:
    problems: list[Problem] = []
    for file in files:
        if file.model is None:
            continue
        sections: tuple[tuple[Section, Sequence[Entry | Place | Category]], ...] = (
            ("categories", file.model.categories),
            ("places", file.model.places),
            ("entries", file.model.entries),
        )
        for section, items in sections:
            for index, item in enumerate(items):
                if (section, item.id) in sources:
                    first_file, first_line = sources.locate(section, item.id)
                    problems.append(
                        Problem(
                            file.path,
                            _line_at(file.root, (section, index, "id")),
                            f"duplicate {_ITEM_NAMES[section]} id '{item.id}' "
                            f"(first defined at {format_location(first_file, first_line)})",
                        )
                    )
                else:
                    sources._add(section, item.id, file.path, file.root, index)
    return problems


def _check_references(directory: Path, files: Sequence[_File], sources: SourceMap) -> list[Problem]:
    problems: list[Problem] = []
    texts_at: str | None = None
    has_categories = False
    for file in files:
        model = file.model
        assert model is not None  # files with errors never get this far
        has_categories = has_categories or bool(model.categories)
        if model.texts is not None:
            line = _line_at(file.root, ("texts",))
            if texts_at is None:
                texts_at = format_location(file.path, line)
            else:
                problems.append(
                    Problem(
                        file.path,
                        line,
                        f"texts is defined twice (first at {texts_at})",
                    )
                )
        for i, entry in enumerate(model.entries):
            if ("categories", entry.category) not in sources:
                problems.append(
                    Problem(
                        file.path,
                        _line_at(file.root, ("entries", i, "category")),
                        f"entry '{entry.id}': unknown category '{entry.category}'",
                    )
                )
            for j, related in enumerate(entry.related):
                if related != entry.id and ("entries", related) not in sources:
                    problems.append(
                        Problem(
                            file.path,
                            _line_at(file.root, ("entries", i, "related", j)),
                            f"entry '{entry.id}': related entry '{related}' does not exist",
                        )
                    )
        for i, place in enumerate(model.places):
            if place.entry is not None and ("entries", place.entry) not in sources:
                problems.append(
                    Problem(
                        file.path,
                        _line_at(file.root, ("places", i, "entry")),
                        f"place '{place.id}': entry '{place.entry}' does not exist",
                    )
                )
    if texts_at is None:
        problems.append(Problem(directory, None, "no file defines texts (the bot's fixed texts)"))
    if not has_categories:
        problems.append(Problem(directory, None, "no categories are defined"))
    return problems


def _merge(files: Sequence[_File], digest: str) -> KnowledgeBase:
    entries: dict[str, Entry] = {}
    categories: dict[str, Category] = {}
    places: dict[str, Place] = {}
    synonyms: list[SynonymGroup] = []
    contrasts: list[ContrastGroup] = []
    texts = None
    for model in _models(files):
        entries.update((e.id, e) for e in model.entries)
        categories.update((c.id, c) for c in model.categories)
        places.update((p.id, p) for p in model.places)
        synonyms += model.synonyms
        contrasts += model.contrasts
        texts = texts or model.texts
    assert texts is not None  # _check_references made sure of it
    return KnowledgeBase(
        entries=entries,
        categories=categories,
        places=places,
        synonyms=synonyms,
        contrasts=contrasts,
        texts=texts,
        content_hash=digest,
    )


def _models(files: Sequence[_File]) -> Iterator[KnowledgeFile]:
    for file in files:
        if file.model is not None:
            yield file.model
