"""The figures as files for a researcher: CSV (one figure a row), JSON, and a
data dictionary saying what every measure and value means.

Only `Figures` reach these files: counts already suppressed, medians, and the
fixed vocabulary of `bot.privacy.tally`. Pure: the caller writes or sends them.
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import astuple, dataclass, fields
from typing import Any

from bot.figures.compute import ALL, HIDDEN, MULTI, TABLES, Extra, Figures, Table, Timing, rows
from bot.privacy.tally import UNLISTED, Measure

MEANINGS: dict[Table | Timing, str] = {
    Extra.REPORTS: "Reports filed in the quarter (erased cases included, through their "
    "anonymous tallies).",
    Measure.KINDS: "Kinds of abuse, in the report and its updates; a case counts once for "
    "each kind it had, so a column can add up to more than the reports.",
    Measure.PLATFORMS: "Where it happened; a case counts once for each platform.",
    Measure.POSTER: "Who the worker thinks was behind it.",
    Measure.RISK: "Harbour's risk level when the case was filed.",
    Measure.DETAILS_EXPOSED: "Personal details the worker said were exposed; a case counts "
    "once for each.",
    Measure.ESCALATED: "Whether a manager escalated the case, or Harbour followed it up "
    "because nobody took it on in time.",
    Measure.STATUS: "Where the case stands now (or stood when it was erased).",
    Measure.TIME_TO_ACKNOWLEDGE: "From filing to the first acknowledgement or claim.",
    Measure.TIME_TO_CLOSE: "From filing to closing.",
    Measure.CHECKINS: "Check-ins sent to workers about their cases, by answer: ok (doing OK), "
    "affected (still affected), talk (need to talk), missed (no answer). Live cases only: "
    "an erased case's tally keeps no check-ins.",
    Timing.TO_ACKNOWLEDGE: "Median hours from filing to the first acknowledgement or claim, "
    "over the live cases that had one.",
    Timing.TO_CLOSE: "Median hours from filing to closing, over the live closed cases.",
}


@dataclass(frozen=True)
class Row:
    """One published figure as a line of the CSV."""

    measure: str
    value: str
    quarter: str
    figure: str


COLUMNS = tuple(f.name for f in fields(Row))


def table_rows(figures: Figures) -> list[Row]:
    """Every published figure, in the order tables are shown."""
    found = [Row(Extra.REPORTS.value, "cases", q, f.text) for q, f in figures.reports.items()]
    for table in TABLES:
        for value, by_quarter in figures.tables[table].items():
            found += [Row(table.value, value, q, f.text) for q, f in by_quarter.items()]
    for timing, medians in figures.medians.items():
        found += [Row(timing.value, "hours", q, m.text) for q, m in medians.items()]
    return found


def to_csv(figures: Figures) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(COLUMNS)
    writer.writerows(astuple(row) for row in table_rows(figures))
    return out.getvalue()


def read_csv(text: str) -> list[Row]:
    """The rows of a CSV `to_csv` wrote (for whoever reads it back)."""
    reader = csv.DictReader(io.StringIO(text))
    if tuple(reader.fieldnames or ()) != COLUMNS:
        raise ValueError(f"not a Harbour figures CSV: the columns must be {', '.join(COLUMNS)}")
    return [Row(**line) for line in reader]


def to_json(figures: Figures) -> str:
    document: dict[str, Any] = {
        "period": {
            "first": figures.period.first.isoformat(),
            "last": figures.period.last.isoformat(),
        },
        "quarters": list(figures.period.quarters),
        "suppressed_below": figures.threshold,
        "one_team": figures.team,
        "reports": {q: f.text for q, f in figures.reports.items()},
        "tables": {
            table.value: {
                value: {q: f.text for q, f in by_quarter.items()}
                for value, by_quarter in figures.tables[table].items()
            }
            for table in TABLES
        },
        "medians": {
            timing.value: {q: m.text for q, m in by_quarter.items()}
            for timing, by_quarter in figures.medians.items()
        },
    }
    return json.dumps(document, indent=2)


def dictionary(figures: Figures) -> str:
    """The data dictionary (Markdown): every column, measure and value."""
    lines = [
        f"# Harbour figures: data dictionary ({figures.period.name})",
        "",
        "Counts of reports made to Harbour by staff harassed online because of their work, by "
        "quarter of filing (in the organisation's time zone). No names, references, links or "
        "words anyone wrote are in these files: only the fixed values below.",
        "",
        "## Columns (figures.csv)",
        "",
        "- `measure`: what is counted (below).",
        "- `value`: one of the measure's values (below).",
        f"- `quarter`: e.g. 2026-Q1; `{ALL}` for every quarter in the file together.",
        f"- `figure`: a count; `<{figures.threshold}` where it is suppressed for being small, "
        f"`{HIDDEN}` where it is hidden to protect a small one; a median in hours "
        "for the `median_hours_*` measures.",
        "",
        "## Privacy",
        "",
        f"- Any count under {figures.threshold}, zero included, is shown as "
        f"`<{figures.threshold}`.",
        f"- More counts are hidden (`{HIDDEN}`: these are {figures.threshold} or more) where a "
        "total would let a suppressed one be worked out, by solving the sums or from what is "
        "known of hidden counts (none is negative; one shown as "
        f"`<{figures.threshold}` is at most {figures.threshold - 1}), across every table in "
        "the file (secondary suppression).",
        f"- A median is shown only when at least {figures.threshold} cases had one.",
        "- Reports a worker kept as her own record are counted only where the organisation's "
        "policy says so.",
        "- Cases erased under the retention policy are counted through the anonymous tallies "
        "they were reduced to, never twice.",
    ]
    if figures.team:
        lines.append("- These are one team's figures: live cases only (tallies keep no team).")
    lines += ["", "## Measures", ""]
    lines.append(f"- `{Extra.REPORTS.value}` (value `cases`): {MEANINGS[Extra.REPORTS]}")
    for table in TABLES:
        kind = "several values a case" if table in MULTI else "one value a case"
        values = ", ".join(f"`{v}`" for v in rows(table))
        lines.append(f"- `{table.value}` ({kind}): {MEANINGS[table]} Values: {values}.")
    for timing in Timing:
        lines.append(f"- `{timing.value}` (value `hours`): {MEANINGS[timing]}")
    lines += [
        "",
        f"`{UNLISTED}` counts a value outside the measure's list (old data): the count stays "
        "right and no typed words are kept.",
        "",
    ]
    return "\n".join(lines)
