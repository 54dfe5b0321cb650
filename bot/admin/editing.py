"""Safe changes to the knowledge files: validated in a copy first, then replaced atomically.

A change that would leave the directory with errors never reaches the real
files, so the bot can always reload what is on disk.
"""

from __future__ import annotations

import copy
import datetime as dt
import difflib
import io
import os
import re
import shutil
import tempfile
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedSeq
from ruamel.yaml.scalarstring import DoubleQuotedScalarString

from bot.knowledge.lint import normalize_question
from bot.knowledge.loader import (
    KNOWLEDGE_SUFFIXES,
    KnowledgeError,
    Problem,
    ValidationReport,
    knowledge_files,
    validate_knowledge,
)
from bot.knowledge.models import LANGS, Entry, Lang

#: Where replaced files are kept, inside the knowledge directory (the loader skips it).
BACKUP_DIR_NAME = ".backups"

_FILENAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")

# Two admins editing at once must not lose each other's change: edits of this
# process run one at a time (the bot is a single process).
_LOCK = threading.Lock()


@dataclass(frozen=True)
class ChangeSummary:
    """What an uploaded knowledge file changed, by entry id (each tuple sorted)."""

    file: Path
    #: The previous version of the file, or None when the file is new or unchanged.
    backup: Path | None
    added: tuple[str, ...]
    removed: tuple[str, ...]
    edited: tuple[str, ...]
    #: Lint warnings about the knowledge as it is now.
    warnings: tuple[Problem, ...] = ()

    @property
    def changed(self) -> bool:
        """True when at least one entry was added, removed or edited."""
        return bool(self.added or self.removed or self.edited)

    def __str__(self) -> str:
        """Plain-text summary for the admin, one fact per line."""
        lines = [
            f"{label} {len(ids)} {'entry' if len(ids) == 1 else 'entries'}: {', '.join(ids)}"
            for label, ids in (
                ("added", self.added),
                ("removed", self.removed),
                ("edited", self.edited),
            )
            if ids
        ] or ["no entry changed"]
        if self.backup is not None:
            lines.append(f"previous version kept as {self.backup.name}")
        if self.warnings:
            lines.append(f"{len(self.warnings)} warning(s):")
            lines += [f"  {w}" for w in self.warnings]
        return "\n".join(lines)


def add_alternate_question(directory: Path, entry_id: str, question: str, *, lang: Lang) -> Path:
    """Append `question` to the `questions.<lang>` list of an entry, keeping the file's layout.

    The file is rewritten with ruamel.yaml's round-trip dumper, so comments, key
    order and indentation stay as they were; only the new line is added.

    Args:
        directory: the knowledge folder.
        entry_id: the entry that gets the question.
        question: the new phrasing, as a resident typed it.
        lang: "zh" or "en".

    Returns:
        The file that was changed.

    Raises:
        ValueError: the question is empty, the entry does not exist, or the question
            (ignoring case, punctuation and spaces) is already in this or another entry.
        KnowledgeError: the directory has errors, before or after the change (nothing
            is written then). It is a ValueError too.
    """
    if lang not in LANGS:
        raise ValueError(f"lang must be one of {', '.join(LANGS)}, not {lang!r}")
    question = question.strip()
    if not normalize_question(question):
        raise ValueError("the question is empty")
    with _LOCK:
        report = _valid_report(directory)
        assert report.knowledge is not None and report.sources is not None
        if entry_id not in report.knowledge.entries:
            raise ValueError(f"there is no entry '{entry_id}'")
        _refuse_duplicate(question, report.knowledge.entries)

        path, _ = report.sources.locate("entries", entry_id)
        original = path.read_bytes()
        yaml, root = _round_trip_load(original.decode("utf-8"))
        entry = next(e for e in root["entries"] if str(e.get("id", "")).strip() == entry_id)
        questions = entry["questions"]
        if questions.get(lang) is None:
            questions[lang] = CommentedSeq()
        _append(questions[lang], _as_list_item(question, questions[lang]))
        updated = _dump(yaml, root).encode("utf-8")

        _validate_change(directory, {path.name: updated})
        _atomic_write(path, updated)
        return path


def replace_knowledge_file(
    directory: Path, filename: str, data: bytes, *, backup_dir: Path | None = None
) -> ChangeSummary:
    """Put an uploaded file into the knowledge directory, if the result is valid.

    Args:
        directory: the knowledge folder.
        filename: a plain file name such as "marriage.yaml" (new or existing).
        data: the file's new content.
        backup_dir: where the previous version is kept; defaults to `directory/.backups`.

    Returns:
        Which entries were added, removed or edited, and where the old file was saved.

    Raises:
        ValueError: `filename` is not a plain `*.yaml` name.
        KnowledgeError: the directory would have errors with this file; nothing was
            changed. It is a ValueError too.
    """
    _check_filename(filename)
    target = directory / filename
    backup_root = backup_dir if backup_dir is not None else directory / BACKUP_DIR_NAME
    with _LOCK:
        before = validate_knowledge(directory).knowledge
        after = _validate_change(directory, {filename: data})
        assert after.knowledge is not None

        backup = None
        if target.exists() and target.read_bytes() != data:
            backup_root.mkdir(parents=True, exist_ok=True)
            stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%S%fZ")
            backup = backup_root / f"{target.stem}.{stamp}{target.suffix}"
            shutil.copy2(target, backup)
        _atomic_write(target, data)

    old = before.entries if before is not None else {}
    new = after.knowledge.entries
    return ChangeSummary(
        file=target,
        backup=backup,
        added=tuple(sorted(new.keys() - old.keys())),
        removed=tuple(sorted(old.keys() - new.keys())),
        edited=tuple(sorted(i for i in new.keys() & old.keys() if new[i] != old[i])),
        warnings=tuple(after.warnings),
    )


# --- helpers -----------------------------------------------------------------------------


def _valid_report(directory: Path) -> ValidationReport:
    report = validate_knowledge(directory)
    if report.errors:
        raise KnowledgeError(report.errors)
    return report


def _refuse_duplicate(question: str, entries: Mapping[str, Entry]) -> None:
    wanted = normalize_question(question)
    for entry in entries.values():
        for existing in entry.questions.all():
            if normalize_question(existing) == wanted:
                raise ValueError(f"entry '{entry.id}' already has the question {existing!r}")


# Characters that may end a plain scalar inside [a, b] for libyaml, which the loader uses.
_FLOW_SPECIAL = frozenset(",[]{}#:?&*!|>'\"%@`")


def _as_list_item(question: str, items: CommentedSeq) -> str:
    """The question as it should be written into `items`.

    ruamel writes `[a, b?]` for a flow list, which libyaml refuses, so in a flow
    list a question with any special character is written in double quotes.
    """
    if items.fa.flow_style() and _FLOW_SPECIAL.intersection(question):
        return DoubleQuotedScalarString(question)
    return question


def _append(items: CommentedSeq, value: str) -> None:
    """Append to a block list, keeping the comments and blank lines that follow it in place.

    ruamel keeps what follows the last item (blank lines, a comment about the next
    key) in that item's comment token, so a plain append would put the new item
    after them. The token's first line (the item's own end-of-line comment) stays;
    the rest moves to the new last item.
    """
    last = len(items) - 1
    items.append(value)
    slot = items.ca.items.get(last)
    if items.fa.flow_style() or not slot or slot[0] is None:
        return
    token = slot[0]
    own, _, following = token.value.partition("\n")
    if not following:
        return
    moved = copy.copy(token)
    moved.value = "\n" + following
    items.ca.items[last + 1] = [moved] + [None] * (len(slot) - 1)
    if own:
        token.value = own + "\n"
    else:
        slot[0] = None


def _check_filename(filename: str) -> None:
    if (
        not _FILENAME.match(filename)
        or Path(filename).suffix not in KNOWLEDGE_SUFFIXES
        or Path(filename).name != filename
        or ".." in filename
    ):
        raise ValueError(
            f"{filename!r} is not a plain knowledge file name like 'marriage.yaml' "
            "(letters, digits, '-', '_' and '.', ending in .yaml)"
        )


def _validate_change(directory: Path, changes: Mapping[str, bytes]) -> ValidationReport:
    """Validate `directory` with `changes` applied, in a temporary copy.

    Problems are reported with the real directory's paths, as the admin knows them.
    """
    with tempfile.TemporaryDirectory(prefix="knowledge-check-") as tmp:
        copy = Path(tmp)
        for path in knowledge_files(directory):
            if path.name not in changes:
                shutil.copyfile(path, copy / path.name)
        for name, data in changes.items():
            (copy / name).write_bytes(data)
        report = validate_knowledge(copy)

    def relocate(problem: Problem) -> Problem:
        try:
            relative = problem.file.relative_to(copy)
        except ValueError:
            return problem
        return Problem(directory / relative, problem.line, problem.message)

    if report.errors:
        raise KnowledgeError([relocate(p) for p in report.errors])
    return ValidationReport(
        errors=[],
        warnings=[relocate(p) for p in report.warnings],
        knowledge=report.knowledge,
    )


def _atomic_write(path: Path, data: bytes) -> None:
    """Write `data` to `path` so that readers see the old file or the new one, never a mix."""
    # The temporary name starts with "." so a concurrent load never reads it.
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        if path.exists():
            shutil.copymode(path, tmp)
        else:
            tmp.chmod(0o644)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


# Indentation styles tried when rewriting a file: (mapping indent, dash offset).
_INDENT_STYLES = ((2, 2), (2, 0), (4, 2), (4, 0), (4, 4))


def _round_trip_load(text: str) -> tuple[YAML, Any]:
    """Load `text` for editing, with a YAML whose indentation reproduces it.

    ruamel does not detect indentation, so the usual styles are tried on the
    unchanged text, the one the text seems to use first; when none reproduces it
    exactly, the one that rewrites the fewest lines is kept.
    """
    guess = _guess_style(text)
    styles = [guess, *(style for style in _INDENT_STYLES if style != guess)]
    root = _make_yaml(*styles[0]).load(text)
    best: tuple[int, YAML] | None = None
    for style in styles:
        yaml = _make_yaml(*style)
        dumped = _dump(yaml, root)
        if dumped == text:
            return yaml, root
        diff = difflib.unified_diff(text.splitlines(), dumped.splitlines(), n=0, lineterm="")
        changed = sum(1 for line in diff if line[:1] in "+-")
        if best is None or changed < best[0]:
            best = (changed, yaml)
    assert best is not None
    return best[1], root


def _guess_style(text: str) -> tuple[int, int]:
    """(mapping indent, dash offset) the text seems to use, from the first nested blocks."""
    mapping: int | None = None
    offset: int | None = None
    parent: int | None = None  # indent of the previous line when it was a bare "key:"
    for line in text.splitlines():
        stripped = line.lstrip(" ")
        if not stripped or stripped.startswith("#"):
            continue
        indent = len(line) - len(stripped)
        if parent is not None and indent >= parent:
            if stripped.startswith("- "):
                offset = indent - parent if offset is None else offset
            elif mapping is None and indent > parent:
                mapping = indent - parent
        if mapping is not None and offset is not None:
            break
        bare_key = stripped.rstrip().endswith(":") and not stripped.startswith("- ")
        parent = indent if bare_key else None
    return (mapping or 2), (offset if offset is not None else 2)


def _make_yaml(mapping: int, offset: int) -> YAML:
    yaml = YAML(typ="rt")
    yaml.preserve_quotes = True
    # Long questions and answers stay on one line instead of being folded at 80.
    yaml.width = 100_000
    yaml.indent(mapping=mapping, sequence=offset + 2, offset=offset)
    return yaml


def _dump(yaml: YAML, root: Any) -> str:
    buffer = io.StringIO()
    yaml.dump(root, buffer)
    return buffer.getvalue()
