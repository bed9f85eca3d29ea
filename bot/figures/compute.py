"""Counting what is happening to staff, by quarter of filing, and what of it
may be published.

What a case is counted by is `bot.privacy.tally`'s vocabulary (one place): a
live report is counted through `tally.case_values`, an erased one through the
anonymous tally it was reduced to, so the figures follow retention. A case
being erased right now (its mark still in a tally) is counted once, through
the tally. Nothing here reads a word anyone wrote: only option values, risk
levels, statuses, time buckets and check-in answers reach a count.

`count` reads the store; `publish` is pure and applies small-cell and
secondary suppression (`bot.figures.suppress`).
"""

from __future__ import annotations

import statistics
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, timedelta
from enum import StrEnum
from zoneinfo import ZoneInfo

from bot.figures.suppress import Entry, Equation, suppress
from bot.privacy.tally import (
    ACKNOWLEDGE_BUCKETS,
    ALLOWED,
    CHECKIN_ANSWERS,
    CLOSE_BUCKETS,
    LONGER,
    NEVER,
    NOT_CLOSED,
    ONLY_ME,
    UNLISTED,
    Measure,
    Tally,
    case_values,
    checkin_answers,
    counts_in_figures,
    erase_mark,
    quarter,
)
from bot.reports import AbuseKind, Audience, Report, ReportStatus, RiskLevel
from bot.store.base import RecordKind, Store

SMALL_CELL = 5
"""Counts under this are shown as "<5" (setting HARBOUR_FIGURES_SMALL_CELL)."""
MIN_TEAM_SIZE = 10
"""Figures for one manager's team only when it has at least this many people
(setting HARBOUR_FIGURES_MIN_TEAM_SIZE)."""
COUNT_ONLY_ME = False
"""Whether reports a worker kept as her own record ("only me") are counted
(setting HARBOUR_FIGURES_COUNT_ONLY_ME): not unless the organisation's
policy says so and workers were told when filing."""
ALL = "all"
"""The column of totals over every quarter shown."""
ACKNOWLEDGING = frozenset({"acknowledged", "claimed"})
"""Timeline actions that count as a case taken on (as in `bot.privacy.tally`)."""


@dataclass(frozen=True)
class Policy:
    """What the organisation allows to be counted and shown."""

    small_cell: int = SMALL_CELL
    min_team_size: int = MIN_TEAM_SIZE
    count_only_me: bool = COUNT_ONLY_ME


DEFAULT_POLICY = Policy()


class Extra(StrEnum):
    """Tables besides the tally's measures."""

    REPORTS = "reports"


Table = Measure | Extra


class Timing(StrEnum):
    """The medians, in hours from filing (live cases only: an erased case
    keeps a time bucket, not a time)."""

    TO_ACKNOWLEDGE = "median_hours_to_acknowledge"
    TO_CLOSE = "median_hours_to_close"


MULTI: frozenset[Table] = frozenset(
    {Measure.KINDS, Measure.PLATFORMS, Measure.DETAILS_EXPOSED, Measure.CHECKINS}
)
"""Tables where one case may count in several rows (or none): their columns
do not add up to the quarter's reports."""
TABLES: tuple[Table, ...] = (
    Measure.KINDS,
    Measure.PLATFORMS,
    Measure.POSTER,
    Measure.RISK,
    Measure.DETAILS_EXPOSED,
    Measure.ESCALATED,
    Measure.STATUS,
    Measure.TIME_TO_ACKNOWLEDGE,
    Measure.TIME_TO_CLOSE,
    Measure.CHECKINS,
)
"""Every table published besides the reports, in the order shown."""


def rows(table: Table) -> tuple[str, ...]:
    """A table's rows: its whole vocabulary in a reader's order, every time
    (a row left out would say it was zero)."""
    ordered: dict[Table, Iterable[str]] = {
        Measure.KINDS: AbuseKind,
        Measure.RISK: RiskLevel,
        Measure.STATUS: ReportStatus,
        Measure.TIME_TO_ACKNOWLEDGE: [
            *(b for _, b in ACKNOWLEDGE_BUCKETS),
            LONGER[Measure.TIME_TO_ACKNOWLEDGE],
            NEVER,
        ],
        Measure.TIME_TO_CLOSE: [
            *(b for _, b in CLOSE_BUCKETS),
            LONGER[Measure.TIME_TO_CLOSE],
            NOT_CLOSED,
        ],
        Measure.CHECKINS: CHECKIN_ANSWERS,
    }
    if isinstance(table, Measure):
        known = [str(v) for v in ordered.get(table, sorted(ALLOWED[table]))]
        return (*known, UNLISTED)
    return tuple(str(v) for v in ordered.get(table, ()))


@dataclass(frozen=True)
class Period:
    """Whole quarters, in the organisation's time zone."""

    first: date
    last: date

    @classmethod
    def covering(cls, start: date, end: date) -> Period:
        """From the first day of `start`'s quarter to the last day of `end`'s:
        the tallies of erased cases are kept by quarter, so figures are too."""
        if end < start:
            raise ValueError("the end comes before the start")
        first = date(start.year, 3 * ((start.month - 1) // 3) + 1, 1)
        after = 3 * ((end.month - 1) // 3) + 4
        next_quarter = date(end.year + after // 13, (after - 1) % 12 + 1, 1)
        return cls(first, next_quarter - timedelta(days=1))

    @property
    def quarters(self) -> tuple[str, ...]:
        found: list[str] = []
        day = self.first
        while day <= self.last:
            found.append(f"{day.year}-Q{(day.month - 1) // 3 + 1}")
            day = date(day.year + (day.month > 9), (day.month + 2) % 12 + 1, 1)
        return tuple(found)

    @property
    def name(self) -> str:
        quarters = self.quarters
        return quarters[0] if len(quarters) == 1 else f"{quarters[0]} to {quarters[-1]}"


@dataclass
class Counts:
    """What was counted, before anything is suppressed."""

    period: Period
    team: bool
    """Counted for one team (live reports only: tallies keep no team)."""
    cases: dict[str, int] = field(default_factory=dict)
    tables: dict[Table, dict[str, dict[str, int]]] = field(default_factory=dict)
    """table -> row -> quarter -> count."""
    hours: dict[Timing, dict[str, list[float]]] = field(default_factory=dict)
    live: int = 0
    from_tallies: int = 0

    def __post_init__(self) -> None:
        quarters = self.period.quarters
        self.cases = dict.fromkeys(quarters, 0)
        self.tables = {t: {r: dict.fromkeys(quarters, 0) for r in rows(t)} for t in TABLES}
        self.hours = {t: {q: [] for q in quarters} for t in Timing}

    def add(self, table: Table, value: str, at: str, n: int = 1) -> None:
        known = self.tables[table]
        known[value if value in known else UNLISTED][at] += n

    def add_report(self, report: Report, at: str, tz: ZoneInfo) -> None:
        self.live += 1
        self.cases[at] += 1
        for measure, values in case_values(report, tz).items():
            for value in values:
                self.add(measure, value, at)
        for answer in checkin_answers(report):
            self.add(Measure.CHECKINS, answer, at)
        taken = next((e.at for e in report.timeline if e.action in ACKNOWLEDGING), None)
        for timing, when in ((Timing.TO_ACKNOWLEDGE, taken), (Timing.TO_CLOSE, report.closed_at)):
            if when is not None:
                self.hours[timing][at].append(_hours(when - report.filed_at))

    def add_tally(self, tally: Tally, at: str) -> None:
        self.from_tallies += tally.cases
        self.cases[at] += tally.cases
        for measure, counts in tally.counts.items():
            if measure in self.tables:
                for value, n in counts.items():
                    self.add(measure, value if value in ALLOWED[measure] else UNLISTED, at, n)


def _hours(took: timedelta) -> float:
    return took.total_seconds() / 3600


async def count(
    store: Store,
    tz: ZoneInfo,
    period: Period,
    policy: Policy = DEFAULT_POLICY,
    *,
    team: frozenset[str] | None = None,
) -> Counts:
    """Count the cases filed in `period`: live reports, and the tallies of
    erased ones. With `team` (person keys), only that team's live reports."""
    counts = Counts(period, team=team is not None)
    quarters = set(period.quarters)
    counted_in_tallies: set[str] = set()
    if team is None:
        for key, record in (await store.records(RecordKind.TALLIES)).items():
            tally = Tally.model_validate(record)
            counted_in_tallies.update(tally.erasing)
            at, _, kept_apart = key.partition(":")
            if kept_apart == ONLY_ME and not policy.count_only_me:
                continue  # her own records: only where the organisation counts them
            if at in quarters:
                counts.add_tally(tally, at)
    for reference in await store.references():
        report = await store.get_report(reference)
        if report is None or erase_mark(reference) in counted_in_tallies:
            continue  # erased meanwhile, or already counted in its tally
        at = quarter(report, tz)
        if at not in quarters or (team is not None and report.reporter.key not in team):
            continue
        own = report.answers.audience is Audience.ONLY_ME
        if not counts_in_figures(report) or (own and not policy.count_only_me):
            continue  # her own record: where she was told, and the organisation counts them
        counts.add_report(report, at, tz)
    return counts


HIDDEN = "[c]"
"""How a count hidden only to protect a small one nearby is shown (it is the
threshold or more: "<5" would be untrue of it)."""


@dataclass(frozen=True)
class Figure:
    """One published count: its value, or None where it is suppressed: for
    being small (`small`, shown "<5"), or to protect a small one (shown "[c]")."""

    value: int | None
    threshold: int
    small: bool = True

    @property
    def text(self) -> str:
        if self.value is not None:
            return str(self.value)
        return f"<{self.threshold}" if self.small else HIDDEN


@dataclass(frozen=True)
class Median:
    """A median in hours, or None where fewer cases than the threshold had one."""

    hours: float | None
    threshold: int

    @property
    def text(self) -> str:
        return f"fewer than {self.threshold} cases" if self.hours is None else f"{self.hours:.1f}"


@dataclass(frozen=True)
class Figures:
    """What may be shown: every count, total and median, suppressed where it must be."""

    period: Period
    threshold: int
    team: bool
    reports: dict[str, Figure]
    """quarter (or `ALL`) -> reports."""
    tables: dict[Table, dict[str, dict[str, Figure]]]
    """table -> row -> quarter (or `ALL`) -> count."""
    medians: dict[Timing, dict[str, Median]]

    @property
    def columns(self) -> tuple[str, ...]:
        return (*self.period.quarters, ALL)


def equations(counts: Counts) -> tuple[dict[Entry, int], list[Equation]]:
    """Every figure that will be published, and the sums that hold between them."""
    quarters = counts.period.quarters
    values: dict[Entry, int] = {(Extra.REPORTS, q): counts.cases[q] for q in quarters}
    values[(Extra.REPORTS, ALL)] = sum(counts.cases.values())
    sums = [Equation(tuple((Extra.REPORTS, q) for q in quarters), (Extra.REPORTS, ALL))]
    for table, by_row in counts.tables.items():
        for row, by_quarter in by_row.items():
            for q, n in by_quarter.items():
                values[(table, row, q)] = n
            values[(table, row, ALL)] = sum(by_quarter.values())
            sums.append(Equation(tuple((table, row, q) for q in quarters), (table, row, ALL)))
        if table not in MULTI:  # each case once: columns add up to the reports
            for q in (*quarters, ALL):
                sums.append(Equation(tuple((table, r, q) for r in by_row), (Extra.REPORTS, q)))
    return values, sums


def publish(counts: Counts, policy: Policy = DEFAULT_POLICY) -> Figures:
    """The figures that may be shown: counts under the threshold, and as many
    more as it takes that none can be worked out from the totals, suppressed."""
    threshold = policy.small_cell
    values, sums = equations(counts)
    hidden = suppress(values, sums, threshold)

    def figure(entry: Entry) -> Figure:
        value = values[entry]
        return Figure(None if entry in hidden else value, threshold, small=value < threshold)

    columns = (*counts.period.quarters, ALL)
    medians: dict[Timing, dict[str, Median]] = {}
    for timing, by_quarter in counts.hours.items():
        together = {**by_quarter, ALL: [h for hs in by_quarter.values() for h in hs]}
        medians[timing] = {
            q: Median(statistics.median(hs) if len(hs) >= threshold else None, threshold)
            for q, hs in together.items()
        }
    return Figures(
        period=counts.period,
        threshold=threshold,
        team=counts.team,
        reports={q: figure((Extra.REPORTS, q)) for q in columns},
        tables={
            table: {row: {q: figure((table, row, q)) for q in columns} for row in by_row}
            for table, by_row in counts.tables.items()
        },
        medians=medians,
    )
