"""Charts of the figures as PNG, with matplotlib's Agg renderer (no display).

A chart draws only published figures: a suppressed count has no bar, and its
place says "<5" (or "[c]"), so a picture shows nothing the table hides. matplotlib is
imported when a chart is drawn (it takes a second), never at start.
"""

from __future__ import annotations

import io
from dataclasses import dataclass

from bot.figures.compute import ALL, Figures, Table
from bot.privacy.tally import UNLISTED, Measure

WIDTH, HEIGHT, DPI = 8.0, 4.0, 100
"""800 x 400 pixels: readable in a chat, small enough to send (~30 KB)."""


@dataclass(frozen=True)
class Chart:
    """One chart: what it shows, and the PNG."""

    table: Table
    name: str
    """The file's name, e.g. figures-kinds.png."""
    title: str
    png: bytes


CHARTED: dict[Table, str] = {
    Measure.KINDS: "Reports by kind of abuse and quarter",
    Measure.TIME_TO_ACKNOWLEDGE: "Time from filing to acknowledgement, by quarter",
}
"""The tables drawn, and their titles."""


def draw(figures: Figures) -> list[Chart]:
    """Every chart of `CHARTED`, as PNG."""
    return [
        Chart(
            table,
            f"figures-{table.value.replace('_', '-')}.png",
            title,
            _bars(figures, table, title),
        )
        for table, title in CHARTED.items()
    ]


def _bars(figures: Figures, table: Table, title: str) -> bytes:
    """Grouped bars: one group per row of the table, one bar per quarter."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure as Canvas
    from matplotlib.ticker import MaxNLocator

    by_row = {row: f for row, f in figures.tables[table].items() if row != UNLISTED}
    labels = [row.replace("_", " ") for row in by_row]
    quarters = [q for q in figures.columns if q != ALL]
    width = 0.8 / max(len(quarters), 1)
    canvas = Canvas(figsize=(WIDTH, HEIGHT), dpi=DPI, layout="constrained")
    axes = canvas.subplots()
    for n, q in enumerate(quarters):
        xs = [i + (n - (len(quarters) - 1) / 2) * width for i in range(len(labels))]
        shown = [by_row[row][q] for row in by_row]
        bars = axes.bar(xs, [f.value or 0 for f in shown], width, label=q)
        for x, figure in zip(xs, shown, strict=True):
            if figure.value is None:
                axes.annotate(
                    figure.text,
                    (x, 0),
                    ha="center",
                    va="bottom",
                    fontsize=7,
                    rotation=90,
                    color=bars.patches[0].get_facecolor(),
                )
    axes.set_xticks(range(len(labels)), labels, rotation=30, ha="right", fontsize=8)
    axes.set_ylabel("cases")
    axes.set_title(f"{title} ({figures.period.name})", fontsize=10)
    axes.yaxis.set_major_locator(MaxNLocator(integer=True))
    axes.legend(fontsize=7, ncols=min(len(quarters), 4))
    canvas.text(
        0.99,
        0.01,
        f"Counts under {figures.threshold} are not shown",
        ha="right",
        va="bottom",
        fontsize=6,
        color="grey",
    )
    png = io.BytesIO()
    canvas.savefig(png, format="png")
    return png.getvalue()
