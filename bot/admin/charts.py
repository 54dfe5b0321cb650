"""A PNG chart of daily traffic for admins; matplotlib is imported only when drawing."""

from __future__ import annotations

import io

from bot.storage import Stats

# Outcome, bar colour, legend label; bottom of the stack first. English labels: the
# chart must render without a CJK font on a headless server.
_SERIES: tuple[tuple[str, str, str], ...] = (
    ("answered", "#2e7d32", "answered"),
    ("clarify", "#f9a825", "clarify"),
    ("fallback", "#c62828", "fallback"),
    ("smalltalk", "#90a4ae", "small talk"),
    ("invalid", "#cfd8dc", "invalid"),
)


def daily_chart_png(
    stats: Stats, *, width: float = 8.0, height: float = 4.0, dpi: int = 100
) -> bytes:
    """Stacked bars of each day's messages by outcome.

    Args:
        stats: From `Storage.stats`.
        width: Figure width in inches.
        height: Figure height in inches.
        dpi: Pixels per inch.

    Returns:
        The PNG file's bytes.
    """
    # Imported here: matplotlib is slow to import and only admins ever need a chart.
    import matplotlib

    # Headless: never try to open a window or need a display.
    matplotlib.use("Agg")
    from matplotlib.figure import Figure
    from matplotlib.ticker import MaxNLocator

    # A bare Figure, not pyplot: no global figure registry to leak or share between threads.
    figure = Figure(figsize=(width, height), dpi=dpi, layout="constrained")
    axes = figure.subplots()
    positions = list(range(len(stats.days)))
    bottom = [0] * len(stats.days)
    for status, colour, label in _SERIES:
        values = [day.counts.count(status) for day in stats.days]
        axes.bar(positions, values, bottom=bottom, color=colour, label=label, width=0.8)
        bottom = [b + v for b, v in zip(bottom, values, strict=True)]

    # About ten date labels whatever the window, so they never overlap.
    step = max(1, len(positions) // 10)
    axes.set_xticks(
        positions[::step], [f"{day.day:%m-%d}" for day in stats.days][::step], rotation=45
    )
    axes.yaxis.set_major_locator(MaxNLocator(integer=True))
    if not any(bottom):
        axes.set_ylim(0, 1)
    axes.set_ylabel("messages")
    axes.set_title(f"Messages per day, {stats.start:%Y-%m-%d} to {stats.end:%Y-%m-%d}")
    figure.legend(loc="outside lower center", fontsize="small", ncols=len(_SERIES), frameon=False)
    axes.spines[["top", "right"]].set_visible(False)

    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    return buffer.getvalue()
