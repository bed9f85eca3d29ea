"""The anonymous counts a closed case is reduced to when its retention runs out.

A tally is kept per quarter of filing (e.g. "2026-Q1", in the organisation's
time zone) as one `RecordKind.TALLIES` record: how many cases, and for each
measure how many cases had each value. Every value is one of a fixed list (the
flows' options, risk levels, statuses, time buckets), never a word anyone wrote,
a reference, an id or a time: a value outside its list is counted as
`UNLISTED`. Everything here is pure; `bot.privacy.retention` reads and writes.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from datetime import datetime, timedelta
from enum import StrEnum
from zoneinfo import ZoneInfo

from pydantic import BaseModel, Field

from bot.alerts.followups import FOLLOW_UP_ENTRY
from bot.models import Option
from bot.reports import AbuseKind, Audience, Report, ReportStatus, RiskLevel
from flows.report import POSTER_OPTIONS
from flows.steps import DETAIL_OPTIONS, PLATFORM_OPTIONS

UNLISTED = "unlisted"
"""What a value outside its measure's list is counted as (old data, a value
typed in place of an option): the count stays right and the words stay out."""
UNANSWERED = "unanswered"
NOT_CLOSED = "not_closed"
YES = "yes"
NO = "no"
NEVER = "never"


class Measure(StrEnum):
    """What a tally counts cases by."""

    RISK = "risk"
    KINDS = "kinds"
    """Kinds of abuse, in the report and its updates (each counted once a case)."""
    PLATFORMS = "platforms"
    POSTER = "poster"
    DETAILS_EXPOSED = "details_exposed"
    STATUS = "status"
    ESCALATED = "escalated"
    """Whether anyone escalated it, or Harbour followed it up because nobody took it."""
    TIME_TO_ACKNOWLEDGE = "time_to_acknowledge"
    """From filing to the first acknowledgement or claim."""
    TIME_TO_CLOSE = "time_to_close"
    CHECKINS = "checkins"
    """Each check-in's answer (doing OK, still affected, need to talk) or that
    it was missed: counted per check-in, not per case."""


ACKNOWLEDGE_BUCKETS: tuple[tuple[timedelta, str], ...] = (
    (timedelta(hours=1), "under_1_hour"),
    (timedelta(hours=4), "1_to_4_hours"),
    (timedelta(days=1), "4_to_24_hours"),
    (timedelta(days=7), "1_to_7_days"),
)
CLOSE_BUCKETS: tuple[tuple[timedelta, str], ...] = (
    (timedelta(days=1), "under_1_day"),
    (timedelta(days=7), "1_to_7_days"),
    (timedelta(days=30), "7_to_30_days"),
    (timedelta(days=90), "30_to_90_days"),
)
LONGER = {Measure.TIME_TO_ACKNOWLEDGE: "over_7_days", Measure.TIME_TO_CLOSE: "over_90_days"}


MISSED = "missed"
CHECKIN_ANSWERS = ("ok", "affected", "talk", MISSED)
"""What a check-in ends as, in the figures: its answer, or missed."""
ONLY_ME = "only-me"
"""The tally key's suffix for cases the worker kept as her own record (and
was told would be counted): e.g. "2026-Q1:only-me", counted only where the
organisation's policy counts them."""


def counts_in_figures(report: Report) -> bool:
    """Whether a case may be counted at all: not her own record unless she
    was told, when she filed it, that it would be (`Report.counted_while_private`).
    (Whether the organisation counts those it may is its policy's word.)"""
    return report.answers.audience is not Audience.ONLY_ME or report.counted_while_private


def tally_key(report: Report, tz: ZoneInfo) -> str:
    """Which tally a case is counted in: its quarter, apart for her own records."""
    own = report.answers.audience is Audience.ONLY_ME
    return f"{quarter(report, tz)}:{ONLY_ME}" if own else quarter(report, tz)


def checkin_answers(report: Report) -> list[str]:
    """Each check-in's answer, or missed, once per check-in (those still to come: none)."""
    found = [c.answer or (MISSED if c.state == MISSED else None) for c in report.checkins]
    return [a if a in CHECKIN_ANSWERS else UNLISTED for a in found if a is not None]


def _values(options: Iterable[Option]) -> frozenset[str]:
    return frozenset(o.value for o in options)


ALLOWED: dict[Measure, frozenset[str]] = {
    Measure.RISK: frozenset(RiskLevel),
    Measure.KINDS: frozenset(AbuseKind),
    Measure.PLATFORMS: _values(PLATFORM_OPTIONS),
    Measure.POSTER: _values(POSTER_OPTIONS) | {UNANSWERED},
    Measure.DETAILS_EXPOSED: _values(DETAIL_OPTIONS),
    Measure.STATUS: frozenset(ReportStatus),
    Measure.ESCALATED: frozenset({YES, NO}),
    Measure.TIME_TO_ACKNOWLEDGE: frozenset(
        {b for _, b in ACKNOWLEDGE_BUCKETS} | {LONGER[Measure.TIME_TO_ACKNOWLEDGE], NEVER}
    ),
    Measure.TIME_TO_CLOSE: frozenset(
        {b for _, b in CLOSE_BUCKETS} | {LONGER[Measure.TIME_TO_CLOSE], NOT_CLOSED}
    ),
    Measure.CHECKINS: frozenset(CHECKIN_ANSWERS),
}
"""Every value a tally may hold, by measure (besides `UNLISTED`)."""


class Tally(BaseModel):
    """One quarter's counts (the value of a `RecordKind.TALLIES` record)."""

    cases: int = 0
    counts: dict[Measure, dict[str, int]] = Field(default_factory=dict)
    erasing: list[str] = Field(default_factory=list)
    """`erase_mark`s of the cases counted here whose erasure has not finished
    yet: a purge interrupted between counting a case and erasing it finds the
    mark on its next run and erases without counting the case again. A mark
    is taken off once its case is gone."""

    def add(self, report: Report, tz: ZoneInfo) -> None:
        """Count `report` in, and mark it as being erased."""
        self.cases += 1
        values = {**case_values(report, tz), Measure.CHECKINS: checkin_answers(report)}
        for measure, found in values.items():
            if not found:
                continue  # (no check-in answered yet)
            bucket = self.counts.setdefault(measure, {})
            for value in found:
                bucket[value] = bucket.get(value, 0) + 1
        self.erasing.append(erase_mark(report.reference))


def erase_mark(reference: str) -> str:
    """What a tally keeps of a case it counted, until the case is erased.

    A plain hash: references are few and guessable, so this hides nothing from
    someone who can read the store, and need not, because it is only kept while
    the case itself is still stored (it goes when the erasure is seen done)."""
    return hashlib.sha256(f"harbour-tally:{reference}".encode()).hexdigest()


def quarter(report: Report, tz: ZoneInfo) -> str:
    """The quarter the case was filed in, e.g. "2026-Q1" (the tally's key)."""
    filed = report.filed_at.astimezone(tz)
    return f"{filed.year}-Q{(filed.month - 1) // 3 + 1}"


def _listed(measure: Measure, values: Iterable[str | None]) -> list[str]:
    """Each value once, as counted: one outside the list is `UNLISTED`."""
    allowed = ALLOWED[measure]
    return list(
        dict.fromkeys(str(v) if v in allowed else UNLISTED for v in values if v is not None)
    )


def _bucket(measure: Measure, took: timedelta, buckets: tuple[tuple[timedelta, str], ...]) -> str:
    return next((name for limit, name in buckets if took < limit), LONGER[measure])


def _first(report: Report, actions: frozenset[str]) -> datetime | None:
    return next((e.at for e in report.timeline if e.action in actions), None)


def case_values(report: Report, tz: ZoneInfo) -> dict[Measure, list[str]]:
    """What one case adds to its quarter's tally: the values it had, by measure."""
    answers = report.answers
    updates = [u.answers for u in report.updates]
    acknowledged = _first(report, frozenset({"acknowledged", "claimed"}))
    escalated = _first(report, frozenset({"escalated", FOLLOW_UP_ENTRY})) is not None
    return {
        Measure.RISK: _listed(Measure.RISK, [report.risk]),
        Measure.KINDS: _listed(
            Measure.KINDS, [*answers.kinds, *(k for u in updates for k in u.kinds)]
        ),
        Measure.PLATFORMS: _listed(
            Measure.PLATFORMS, [*answers.platforms, *(p for u in updates for p in u.platforms)]
        ),
        Measure.POSTER: _listed(Measure.POSTER, [answers.poster or UNANSWERED]),
        Measure.DETAILS_EXPOSED: _listed(
            Measure.DETAILS_EXPOSED,
            [*answers.details_exposed, *(d for u in updates for d in u.details_exposed)],
        ),
        Measure.STATUS: _listed(Measure.STATUS, [report.status]),
        Measure.ESCALATED: [YES if escalated else NO],
        Measure.TIME_TO_ACKNOWLEDGE: [
            NEVER
            if acknowledged is None
            else _bucket(
                Measure.TIME_TO_ACKNOWLEDGE, acknowledged - report.filed_at, ACKNOWLEDGE_BUCKETS
            )
        ],
        Measure.TIME_TO_CLOSE: [
            NOT_CLOSED
            if report.closed_at is None
            else _bucket(Measure.TIME_TO_CLOSE, report.closed_at - report.filed_at, CLOSE_BUCKETS)
        ],
    }
