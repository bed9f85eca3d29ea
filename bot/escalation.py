"""Escalation: an alert nobody acknowledged in time goes to the safety leads.

Nothing is scheduled ahead: whether a case is overdue follows from the case
itself (when its manager was alerted, whether anyone acknowledged it, whether
it was escalated already), so the check survives restarts, fires once, and
catches up at start-up on whatever fell due while Harbour was down.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from bot.reports import Report, ReportStatus, RiskLevel

TIMER = "timer"
"""The detail of a timeline entry (and event) for an escalation Harbour made itself."""


@dataclass(frozen=True)
class EscalationTimes:
    critical: timedelta = timedelta(minutes=30)
    high: timedelta = timedelta(hours=4)
    other: timedelta | None = None  # None: one working day

    def due(self, report: Report, alerted: datetime) -> datetime:
        if report.risk is RiskLevel.CRITICAL:
            return alerted + self.critical
        if report.risk is RiskLevel.HIGH:
            return alerted + self.high
        return alerted + self.other if self.other else add_working_day(alerted)


def add_working_day(start: datetime) -> datetime:
    """The same time on the next working day (Monday to Friday)."""
    later = start + timedelta(days=1)
    while later.weekday() >= 5:
        later += timedelta(days=1)
    return later


def overdue(report: Report, now: datetime, times: EscalationTimes) -> bool:
    """An alert went to the manager, nobody acknowledged it in time, and Harbour
    has not escalated it yet."""
    if report.status is not ReportStatus.OPEN or not report.manager_may_see:
        return False
    if any(e.action == "escalated" and e.detail == TIMER for e in report.timeline):
        return False
    alerted = [e.at for e in report.timeline if e.action == "alert-sent" and "manager" in e.detail]
    return bool(alerted) and now >= times.due(report, alerted[0])
