"""The follow-up clock: a case nobody has taken on is never left to sit.

Nothing is scheduled ahead: what is due follows from the case itself (when it
was filed or shared, whether anyone acknowledged or claimed it, which
follow-ups its timeline already holds), so the clock survives restarts, fires
each step once, and catches up after downtime one step at a time.

The clock runs from when the case reached its team (filing, or the worker
sharing it), never from when an alert got through: an outage that stops the
alerts must not stop the follow-ups. For every audience the same steps:

    filed --(due, nobody took it)--> LEADS: every safety lead again, the manager reminded
          --(due again)------------> ADMINS: Harbour's administrators told
          --(critical: every `critical`, until someone takes it)--> REMINDER

"Taken" means a manager acknowledged it or a safety lead claimed it (or it
moved on: in progress, closed). A report the worker kept as her own record
(and in no danger) has no team, so no clock.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

import holidays

from bot import checkins
from bot.reports import DomainEvent, EventKind, FollowUp, Report, ReportStatus, RiskLevel

FOLLOW_UP_ENTRY = "follow-up"
"""The timeline entry of a follow-up (its detail: the `FollowUp` value)."""
LEGACY_TIMER = ("escalated", "timer")
"""How timelines before 2026-12-02 recorded the first follow-up."""
STARTS = frozenset({"filed", "shared"})
"""Timeline entries that (re)start the clock: the case reached its team."""


DUBLIN = ZoneInfo("Europe/Dublin")


@dataclass(frozen=True)
class EscalationTimes:
    critical: timedelta = timedelta(minutes=30)
    high: timedelta = timedelta(hours=4)
    other: timedelta | None = None  # None: one working day
    tz: ZoneInfo = DUBLIN
    """The organisation's time zone: where working days begin and end."""
    country: str = "IE"
    """Whose public holidays are not working days (see `public_holidays`)."""

    def due(self, report: Report, since: datetime) -> datetime:
        if report.risk is RiskLevel.CRITICAL:
            return since + self.critical
        if report.risk is RiskLevel.HIGH:
            return since + self.high
        if self.other:
            return since + self.other
        return add_working_day(since, tz=self.tz, country=self.country)

    @property
    def hours(self) -> WorkingHours:
        """The working hours check-ins keep to, in the same zone and calendar."""
        return WorkingHours(tz=self.tz, country=self.country)


@dataclass(frozen=True)
class WorkingHours:
    """When people are at work: `opens` to `closes` local time in `tz`, on days
    that are not a weekend or a public holiday of `country`. Check-ins are sent
    only then, so none arrives at night, at the weekend or on a holiday."""

    tz: ZoneInfo = DUBLIN
    country: str = "IE"
    opens: time = checkins.OPENS
    closes: time = checkins.CLOSES

    def working_day(self, day: date) -> bool:
        return working_day(day, self.country)

    def open_at(self, at: datetime) -> datetime:
        """`at` itself if it falls in working hours; else when the next working
        day opens (in UTC). `at` must be aware."""
        there = at.astimezone(self.tz)
        day = there.date()
        if self.working_day(day) and self.opens <= there.time() < self.closes:
            return at
        if not (self.working_day(day) and there.time() < self.opens):
            day += timedelta(days=1)
        while not self.working_day(day):
            day += timedelta(days=1)
        return datetime.combine(day, self.opens, tzinfo=self.tz).astimezone(UTC)


def add_working_day(start: datetime, *, tz: ZoneInfo = DUBLIN, country: str = "IE") -> datetime:
    """The same local time on the next working day in `tz`: not a Saturday or
    Sunday, nor a public holiday of `country`. Returned in UTC.

    Raises:
        ValueError: `start` has no time zone, or `country` has no holiday calendar.
    """
    if start.tzinfo is None:
        raise ValueError("add_working_day needs an aware datetime")
    there = start.astimezone(tz)
    day = there.date() + timedelta(days=1)
    while not working_day(day, country):
        day += timedelta(days=1)
    return datetime.combine(day, there.time(), tzinfo=tz).astimezone(UTC)


def working_day(day: date, country: str) -> bool:
    """Not a Saturday or Sunday, nor a public holiday of `country`."""
    return day.weekday() < 5 and day not in public_holidays(country, day.year)


@lru_cache(maxsize=32)
def public_holidays(country: str, year: int) -> frozenset[date]:
    """The public holidays of `country` in `year`, from the `holidays` package
    (offline): an ISO code ("IE", "GB"), or one with a subdivision ("GB-ENG").

    Raises:
        ValueError: the package has no calendar for it.
    """
    code, _, subdiv = country.upper().partition("-")
    try:
        calendar = holidays.country_holidays(code, subdiv=subdiv or None, years=year)
    except NotImplementedError:
        raise ValueError(f"no public holiday calendar is known for {country!r}") from None
    return frozenset(calendar)


def taken(report: Report) -> bool:
    """Someone has it: acknowledged, claimed, or moved on."""
    return (
        report.acknowledged_by is not None
        or report.claimed_by is not None
        or report.status is not ReportStatus.OPEN
    )


def has_team(report: Report) -> bool:
    """Whether anyone besides the worker is meant to hear about it."""
    return report.manager_may_see or report.leads_may_see


def _done(report: Report) -> list[tuple[datetime, FollowUp]]:
    done: list[tuple[datetime, FollowUp]] = []
    for entry in report.timeline:
        if (entry.action, entry.detail) == LEGACY_TIMER:
            done.append((entry.at, FollowUp.LEADS))
        elif entry.action == FOLLOW_UP_ENTRY:
            try:
                done.append((entry.at, FollowUp(entry.detail)))
            except ValueError:
                continue
    return done


def _next(report: Report, times: EscalationTimes) -> tuple[datetime, FollowUp] | None:
    """The case's next follow-up and when it falls due; None if it has none to come."""
    if taken(report) or not has_team(report):
        return None
    started = max((e.at for e in report.timeline if e.action in STARTS), default=report.filed_at)
    done = [(at, step) for at, step in _done(report) if at >= started]
    last = done[-1][0] if done else started
    steps = [step for _, step in done]
    if FollowUp.LEADS not in steps:
        step = FollowUp.LEADS
    elif FollowUp.ADMINS not in steps:
        step = FollowUp.ADMINS
    elif report.risk is RiskLevel.CRITICAL:
        step = FollowUp.REMINDER
    else:
        return None
    return times.due(report, last), step


def next_follow_up(report: Report, now: datetime, times: EscalationTimes) -> FollowUp | None:
    """The follow-up due now, if any. At most one per call, each timed from the
    one before, so downtime never fires a burst of them."""
    found = _next(report, times)
    return found[1] if found is not None and now >= found[0] else None


def timers_due(report: Report, times: EscalationTimes) -> datetime | None:
    """When the case next needs the timers (its next follow-up, or a check-in to
    send, to mark missed, or a "need to talk" to escalate); None if never as it
    stands. The stores index this, so a delivery pass reads only what is due."""
    found = _next(report, times)
    times_due = [found[0]] if found is not None else []
    checkin = checkins.next_due(report, times.hours)
    if checkin is not None:
        times_due.append(checkin)
    return min(times_due, default=None)


def follow_up(
    now: datetime, times: EscalationTimes
) -> Callable[[Report], list[DomainEvent] | None]:
    """The change (a `bot.store.ReportChange`) that records the follow-up due
    now and raises its event; None when nothing is due."""

    def change(report: Report) -> list[DomainEvent] | None:
        step = next_follow_up(report, now, times)
        if step is None:
            return None
        report.log(now, FOLLOW_UP_ENTRY, None, step.value)
        return [
            DomainEvent(
                kind=EventKind.FOLLOW_UP,
                at=now,
                reporter=report.reporter,
                reference=report.reference,
                risk=report.risk,
                follow_up=step,
            )
        ]

    return change
