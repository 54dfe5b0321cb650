"""The daily chart is a real PNG of the right size, drawn headless."""

from __future__ import annotations

import datetime as dt
import struct

import pytest

from bot.admin.charts import daily_chart_png
from bot.storage import DayStats, Stats, StatusCounts

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def make_stats(days: int, *, traffic: bool = True) -> Stats:
    end = dt.date(2026, 3, 6)
    day_stats = tuple(
        DayStats(
            end - dt.timedelta(days=days - 1 - i),
            StatusCounts(answered=3 + i % 4, clarify=i % 2, fallback=1, smalltalk=i % 3)
            if traffic
            else StatusCounts(),
        )
        for i in range(days)
    )
    totals = StatusCounts(
        **{
            s: sum(d.counts.count(s) for d in day_stats)
            for s in ("answered", "clarify", "fallback", "smalltalk", "invalid")
        }
    )
    return Stats(
        start=day_stats[0].day,
        end=end,
        days=day_stats,
        totals=totals,
        entries=(),
        helpful=0,
        unhelpful=0,
        unhelpful_entries=(),
        users=0,
    )


def png_size(data: bytes) -> tuple[int, int]:
    # The IHDR chunk follows the signature: length, type, then width and height.
    assert data[12:16] == b"IHDR"
    width, height = struct.unpack(">II", data[16:24])
    return width, height


@pytest.mark.parametrize(
    ("days", "traffic"),
    [(7, True), (1, True), (90, True), (7, False)],
    ids=["week", "one-day", "ninety-days", "no-traffic"],
)
def test_daily_chart_is_a_png(days: int, traffic: bool) -> None:
    data = daily_chart_png(make_stats(days, traffic=traffic))
    assert data.startswith(PNG_SIGNATURE)
    assert data.rstrip().endswith(b"IEND\xaeB`\x82")
    assert len(data) > 5_000  # axes, bars and labels, not a blank image
    assert png_size(data) == (800, 400)


def test_size_options() -> None:
    data = daily_chart_png(make_stats(7), width=4, height=3, dpi=50)
    assert png_size(data) == (200, 150)


def test_drawing_uses_the_headless_backend() -> None:
    daily_chart_png(make_stats(3))
    import matplotlib

    assert matplotlib.get_backend().lower() == "agg"
