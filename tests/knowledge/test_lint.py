"""Lint: warnings about knowledge that loads but is probably not what the editors meant."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from bot.knowledge import load_knowledge, validate_knowledge
from bot.knowledge.lint import normalize_question


def add_line_after(path: Path, anchor: str, line: str) -> int:
    """Insert `line` after the one line equal to `anchor`; returns the new line's number."""
    lines = path.read_text(encoding="utf-8").splitlines()
    assert lines.count(anchor) == 1, anchor
    index = lines.index(anchor) + 1
    lines.insert(index, line)
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return index + 1


def line_of(path: Path, text: str) -> int:
    lines = path.read_text(encoding="utf-8").splitlines()
    (number,) = [n for n, line in enumerate(lines, start=1) if line == text]
    return number


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("结婚登记点在哪？", "结婚登记点在哪"),
        ("  Can I register my marriage?  ", "caniregistermymarriage"),
        ("ＡＢＣ　１２３！", "abc123"),  # full-width letters, digits and space
        ("想在景点扯证 有地方吗", "想在景点扯证有地方吗"),
        ("“沈阳喜事”是什么", "沈阳喜事是什么"),
        ("？！…", ""),
    ],
    ids=[
        "zh-punctuation",
        "en-case-spaces",
        "full-width",
        "inner-space",
        "quotes",
        "only-punctuation",
    ],
)
def test_normalize_question(text: str, expected: str) -> None:
    assert normalize_question(text) == expected


NEAR_DUPLICATES = {
    # Only punctuation differs from "结婚登记点在哪" of marriage-points.
    "same-after-normalising": ("zh", "结婚登记点在哪？", True),
    # Case, spaces and punctuation differ from "Can I register my marriage in a park?".
    "same-english-words": ("en", "can i REGISTER my marriage in a park", True),
    # One extra particle: ratio 94.7 >= 90.
    "one-extra-character": ("zh", "公园里能登记结婚吗呀", True),
    # Shares "婚登记在哪" with "结婚登记点在哪" but asks about another service: ratio 66.
    "different-topic-sharing-words": ("zh", "离婚登记在哪里办", False),
    # A genuinely new phrasing.
    "new-phrasing": ("zh", "老人吃饭有补贴吗", False),
}


@pytest.mark.parametrize(
    ("lang", "question", "warns"), NEAR_DUPLICATES.values(), ids=NEAR_DUPLICATES.keys()
)
def test_near_duplicate_questions_in_two_entries(
    knowledge_dir: Path, lang: str, question: str, warns: bool
) -> None:
    elderly = knowledge_dir / "elderly.yaml"
    anchor = {"zh": "老年助餐有什么新政策", "en": "Is there a meal service for older people?"}[lang]
    new_line = add_line_after(elderly, f"        - {anchor}", f"        - {question}")

    report = validate_knowledge(knowledge_dir)

    assert report.errors == []
    duplicates = [w for w in report.warnings if "nearly the same" in w.message]
    if not warns:
        assert duplicates == []
        return
    (warning,) = duplicates
    marriage = knowledge_dir / "marriage.yaml"
    text = str(warning)
    assert "'elderly-meal-service'" in text and "'marriage-points'" in text
    assert (warning.file, warning.line) == (elderly, new_line)
    assert f"{marriage}:" in warning.message
    other_line = int(warning.message.split(f"{marriage}:")[1].split(")")[0])
    assert (
        marriage.read_text(encoding="utf-8").splitlines()[other_line - 1].startswith("        - ")
    )


def test_same_question_twice_in_one_entry_is_not_a_cross_entry_warning(
    knowledge_dir: Path,
) -> None:
    marriage = knowledge_dir / "marriage.yaml"
    add_line_after(marriage, "        - 公园里能登记结婚吗", "        - 结婚登记点在哪？")
    assert validate_knowledge(knowledge_dir).warnings == []


@pytest.mark.parametrize(
    ("today", "warns"),
    [
        (dt.date(2024, 12, 31), False),  # still valid on its last day
        (dt.date(2025, 1, 1), True),
    ],
    ids=["last-valid-day", "day-after"],
)
def test_expired_entry(knowledge_dir: Path, today: dt.date, warns: bool) -> None:
    elderly = knowledge_dir / "elderly.yaml"
    line = add_line_after(elderly, "    updated: 2024-03-06", "    valid_until: 2024-12-31")

    report = validate_knowledge(knowledge_dir, today=today)

    expired = [w for w in report.warnings if "expired" in w.message]
    if warns:
        (warning,) = expired
        assert (warning.file, warning.line) == (elderly, line)
        assert warning.message.startswith("entry 'elderly-meal-service' expired on 2024-12-31")
    else:
        assert expired == []


def test_category_without_entries(knowledge_dir: Path) -> None:
    categories = knowledge_dir / "categories.yaml"
    text = categories.read_text(encoding="utf-8")
    categories.write_text(
        text + "  - id: funeral\n    title: {zh: 殡葬服务, en: Funeral services}\n",
        encoding="utf-8",
    )

    (warning,) = validate_knowledge(knowledge_dir).warnings

    assert warning.file == categories
    assert warning.line == line_of(categories, "  - id: funeral")
    assert warning.message == "category 'funeral' has no entries"


def test_warnings_do_not_stop_loading(knowledge_dir: Path) -> None:
    elderly = knowledge_dir / "elderly.yaml"
    add_line_after(elderly, "    updated: 2024-03-06", "    valid_until: 2024-03-07")
    assert validate_knowledge(knowledge_dir, today=dt.date(2030, 1, 1)).warnings
    assert "elderly-meal-service" in load_knowledge(knowledge_dir).entries
