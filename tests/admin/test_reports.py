"""Admin reports: statistics text, grouping of unanswered questions, text and CSV."""

from __future__ import annotations

import csv
import datetime as dt
import io

import pytest

from bot.admin.reports import (
    UnansweredGroup,
    format_stats,
    format_unanswered,
    group_unanswered,
    unanswered_csv,
)
from bot.matching.grouping import group_similar
from bot.storage import DayStats, EntryCount, Stats, StatusCounts, UnansweredQuestion

T0 = dt.datetime(2026, 3, 6, 9, 0, tzinfo=dt.UTC)


def make_stats(*, entries: tuple[EntryCount, ...] = (), empty: bool = False) -> Stats:
    day1 = StatusCounts() if empty else StatusCounts(answered=6, clarify=2, fallback=2, smalltalk=1)
    day2 = StatusCounts()
    totals = day1
    return Stats(
        start=dt.date(2026, 3, 5),
        end=dt.date(2026, 3, 6),
        days=(DayStats(dt.date(2026, 3, 5), day1), DayStats(dt.date(2026, 3, 6), day2)),
        totals=totals,
        entries=entries,
        helpful=4,
        unhelpful=3,
        unhelpful_entries=(EntryCount("marriage-points", 3),),
        users=5,
    )


def question(text: str, count: int, *kinds: str, hours_ago: int = 0) -> UnansweredQuestion:
    return UnansweredQuestion(text, count, frozenset(kinds), T0 - dt.timedelta(hours=hours_ago))


# ----- grouping ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("texts", "groups"),
    [
        ([], []),
        (["养狗要办证吗", "养狗需要办证吗"], [[0, 1]]),
        (["狗证怎么办", "狗证怎么办理"], [[0, 1]]),
        # One character changes the topic: marriage vs divorce must stay apart.
        (["结婚登记在哪里", "离婚登记在哪里"], [[0], [1]]),
        (["养老院", "养老金"], [[0], [1]]),
        # English word order does not matter; case and punctuation neither.
        (["where to register marriage", "Marriage registration, where?"], [[0, 1]]),
        (
            ["how do I register a marriage", "养狗要办证吗", "How to register a marriage"],
            [[0, 2], [1]],
        ),
        # The third text is similar enough to both groups (92 and 93) and joins the closer
        # one, not the first one found.
        (["abcdefghijkl", "abcdefghijklmnop", "abcdefghijklmn"], [[0], [1, 2]]),
    ],
    ids=[
        "empty",
        "one-word-inserted",
        "suffix",
        "marriage-vs-divorce",
        "care-home-vs-pension",
        "english-word-order",
        "interleaved",
        "best-group",
    ],
)
def test_group_similar(texts: list[str], groups: list[list[int]]) -> None:
    assert group_similar(texts) == groups


def test_group_similar_threshold() -> None:
    texts = ["结婚登记在哪里", "离婚登记在哪里"]
    assert group_similar(texts, threshold=80) == [[0, 1]]
    assert group_similar(texts, threshold=100) == [[0], [1]]


def test_group_unanswered_merges_and_asks_closest_once_per_group() -> None:
    asked: list[str] = []

    def closest(text: str) -> tuple[str, float] | None:
        asked.append(text)
        return ("dog-licence", 0.61) if "狗" in text else None

    groups = group_unanswered(
        [
            question("养狗需要办证吗", 2, "clarify", hours_ago=1),
            question("外星人", 4, "fallback"),
            question("养狗要办证吗", 3, "fallback", hours_ago=5),
        ],
        closest=closest,
    )

    assert [g.text for g in groups] == ["养狗要办证吗", "外星人"]
    dog = groups[0]
    assert dog.texts == ("养狗要办证吗", "养狗需要办证吗")
    assert dog.count == 5
    assert dog.kinds == {"fallback", "clarify"}
    assert dog.last_seen == T0 - dt.timedelta(hours=1)
    assert (dog.entry_id, dog.score) == ("dog-licence", 0.61)
    assert (groups[1].entry_id, groups[1].score) == (None, None)
    assert sorted(asked) == sorted(["养狗要办证吗", "外星人"])


# ----- stats text ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("lang", "expected"),
    [
        (
            "en",
            [
                "2026-03-05 to 2026-03-06",
                "Questions: 10",
                "answered 60%",
                "clarify 20%",
                "fallback 20%",
                "03-05    11  ✅6 ❓2 ⚠️2",
                "03-06     0",
                "1. Marriage registration points [marriage-points] — 7",
                "2. [removed-entry] — 1",
                "1. Marriage — 7",
                "👍 4 · 👎 3",
            ],
        ),
        (
            "zh",
            ["问题:10", "直接回答 60%", "需澄清 20%", "未能回答 20%", "热门分类", "👎 3"],
        ),
    ],
    ids=["english", "chinese"],
)
def test_format_stats(lang: str, expected: list[str]) -> None:
    stats = make_stats(entries=(EntryCount("marriage-points", 7), EntryCount("removed-entry", 1)))
    text = format_stats(
        stats,
        lang=lang,
        titles={"marriage-points": "Marriage registration points"},
        categories={"marriage-points": "Marriage"},
    )
    for fragment in expected:
        assert fragment in text


def test_format_stats_without_traffic() -> None:
    text = format_stats(make_stats(empty=True), lang="en", titles={}, categories={})
    assert "Questions: 0" in text
    assert "Top entries" not in text
    assert "%" not in text  # no rates of nothing


# ----- unanswered text and CSV --------------------------------------------------------------


def group(text: str, *variants: str, entry: str | None = "dog-licence") -> UnansweredGroup:
    return UnansweredGroup(
        text=text,
        texts=(text, *variants),
        count=3,
        kinds=frozenset({"fallback", "unhelpful"}),
        last_seen=T0,
        entry_id=entry,
        score=0.61 if entry else None,
    )


def test_format_unanswered() -> None:
    text = format_unanswered(
        [group("养狗要办证吗", "养狗需要办证吗"), group("外星人", entry=None)],
        titles={"dog-licence": "Dog licence"},
        lang="en",
    )
    assert "(2 groups)" in text
    assert "1. ×3 “养狗要办证吗” (fallback, 👎) — last 03-06" in text
    assert "similar: “养狗需要办证吗”" in text
    assert "closest: Dog licence [dog-licence] 0.61" in text
    assert "no close entry" in text


@pytest.mark.parametrize(
    ("lang", "expected"),
    [("en", "No unanswered questions."), ("zh", "暂无未答问题。")],
    ids=["english", "chinese"],
)
def test_format_unanswered_empty(lang: str, expected: str) -> None:
    assert format_unanswered([], titles={}, lang=lang) == expected


def test_format_unanswered_shortens_long_lists() -> None:
    text = format_unanswered([group("x" * 200, "a", "b", "c", "d", "e")], titles={}, lang="en")
    assert "x" * 200 not in text
    assert "+2 more" in text


def test_unanswered_csv_round_trips() -> None:
    data = unanswered_csv([group("养狗要办证吗", "养狗需要办证吗"), group("外星人", entry=None)])
    rows = list(csv.DictReader(io.StringIO(data)))
    assert rows[0] == {
        "count": "3",
        "question": "养狗要办证吗",
        "similar_questions": "养狗需要办证吗",
        "kinds": "fallback unhelpful",
        "last_seen_utc": "2026-03-06T09:00:00+00:00",
        "closest_entry": "dog-licence",
        "score": "0.610",
    }
    assert rows[1]["closest_entry"] == ""
    assert rows[1]["score"] == ""


@pytest.mark.parametrize(
    "text",
    ['=HYPERLINK("x")', "+1+1", "-2", "@SUM(A1)"],
    ids=["equals", "plus", "minus", "at"],
)
def test_unanswered_csv_neutralises_formulas(text: str) -> None:
    data = unanswered_csv([group(text, text)])
    row = next(csv.DictReader(io.StringIO(data)))
    assert row["question"] == "'" + text
    assert row["similar_questions"] == "'" + text


def test_unanswered_dates_follow_the_given_zone() -> None:
    # 20:30 UTC on 1 March is already 2 March in Shenyang: the admin sees the local date.
    group = UnansweredGroup(
        text="沈阳北站几点开门",
        texts=("沈阳北站几点开门",),
        count=2,
        kinds=frozenset({"fallback"}),
        last_seen=dt.datetime(2024, 3, 1, 20, 30, tzinfo=dt.UTC),
        entry_id=None,
        score=None,
    )
    utc = format_unanswered([group], titles={}, lang="en")
    shenyang = format_unanswered([group], titles={}, lang="en", utc_offset=dt.timedelta(hours=8))
    assert "03-01" in utc
    assert "03-02" in shenyang
