"""Check-ins: managers schedule private "how are you?" messages to the worker.

Harassment often peaks in the first days and can flare again, so a manager can
ask for one check-in or a cadence (days 1, 3 and 7). The check-ins scheduled
together are a series. Each is stored on the case, so it survives restarts; the
notifier's regular pass moves it along:

    scheduled --(due)--> sent --(answer)--> answered
        |                  |--(a day after it was sent, no answer)--> missed (the manager is told)
        |                  \\--(a newer one of its series is sent)--> cancelled
        \\--(the case is closed, or a newer one of its series is due too)--> cancelled

A series has at most one question open at a time. After downtime, only the
latest check-in due in a series is sent, marked late; the earlier ones are
cancelled unsent and an unanswered earlier question is superseded, each with a
"checkin-skipped" timeline entry. So the worker gets one question and the
manager at most one "missed" notice, a day after it was actually sent.
Answering a superseded question answers the series' open one. "Need to talk
now" reaches the manager at once, and the safety leads if the manager has not
taken it within `TALK_WAIT`. Closing the case cancels what is still scheduled.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from bot.models import Option
from bot.reports import CheckIn, DomainEvent, EventKind, Report, ReportStatus

CHECKIN_QUESTION = "checkin:"
TALK_QUESTION = "talk:"
ANSWER_WAIT = timedelta(days=1)
TALK_WAIT = timedelta(minutes=30)
LATE_AFTER = timedelta(minutes=5)
MAX_SNOOZES = 2

CADENCES = (
    Option(value="1", label="Tomorrow"),
    Option(value="3", label="In 3 days"),
    Option(value="7", label="In a week"),
    Option(value="1,3,7", label="Days 1, 3 and 7"),
)
ANSWERS = (
    Option(value="ok", label="I'm doing OK"),
    Option(value="affected", label="Still affected"),
    Option(value="talk", label="I need to talk now"),
    Option(value="snooze", label="Ask me tomorrow"),
)
ANSWER_WORDS = {
    "ok": "is doing OK",
    "affected": "is still affected",
    "talk": "needs to talk now",
}


def schedule(report: Report, cadence: str, by: str, now: datetime, new_id: str) -> list[CheckIn]:
    """Add check-ins on the given days from now ("1", "3", "7" or "1,3,7")."""
    added = [
        CheckIn(id=f"{new_id}-{n}", due=now + timedelta(days=int(days)), by=by)
        for n, days in enumerate(cadence.split(","))
    ]
    report.checkins.extend(added)
    report.log(now, "checkins-scheduled", by, cadence)
    return added


def _event(report: Report, kind: EventKind, at: datetime, checkin: CheckIn) -> DomainEvent:
    return DomainEvent(
        kind=kind,
        at=at,
        reporter=report.reporter,
        reference=report.reference,
        risk=report.risk,
        checkin_id=checkin.id,
    )


def _series_of(checkin_id: str) -> str:
    """The series a check-in belongs to: `schedule` numbers them `<id>-<n>`."""
    prefix, dash, n = checkin_id.rpartition("-")
    return prefix if dash and n.isdigit() else checkin_id


def _sent_at(checkin: CheckIn) -> datetime:
    return checkin.sent_at or checkin.due


def _supersede(report: Report, checkin: CheckIn, now: datetime) -> None:
    checkin.state = "cancelled"
    why = "superseded by a newer check-in" if checkin.sent_at else "superseded after downtime"
    report.log(now, "checkin-skipped", None, why)


def _advance_series(
    report: Report, series: list[CheckIn], now: datetime, closed: bool
) -> list[DomainEvent]:
    events: list[DomainEvent] = []
    due = sorted(
        (c for c in series if c.state == "scheduled" and c.due <= now), key=lambda c: c.due
    )
    if closed:
        for checkin in series:
            if checkin.state == "scheduled":
                checkin.state = "cancelled"
                report.log(now, "checkin-cancelled", None, "the case was closed")
    elif due:
        *earlier, latest = due
        for checkin in earlier:
            _supersede(report, checkin, now)
        latest.state = "sent"
        latest.sent_at = now
        latest.late = now - latest.due > LATE_AFTER
        report.log(now, "checkin-sent", None, "late" if latest.late else "")
        events.append(_event(report, EventKind.CHECKIN_DUE, now, latest))
    # One open question per series: the one sent last (older stored data may hold several).
    open_ = sorted((c for c in series if c.state == "sent" and c.sent_at), key=_sent_at)
    if open_:
        *older, current = open_
        for checkin in older:
            _supersede(report, checkin, now)
        if now - _sent_at(current) >= ANSWER_WAIT:
            current.state = "missed"
            report.log(now, "checkin-missed")
            events.append(_event(report, EventKind.CHECKIN_MISSED, now, current))
    return events


def next_due(report: Report) -> datetime | None:
    """When `advance` next has something to do on this case (None: nothing as
    it stands): a check-in to send, one unanswered for a day, or a "need to
    talk" nobody took in time."""
    found: list[datetime] = []
    for checkin in report.checkins:
        if checkin.state == "scheduled":
            found.append(checkin.due)
        elif checkin.state == "sent":
            found.append(_sent_at(checkin) + ANSWER_WAIT)
        if (
            checkin.answer == "talk"
            and checkin.talk_taken_by is None
            and checkin.answered_at
            and not _talk_escalated(report, checkin)
        ):
            found.append(checkin.answered_at + TALK_WAIT)
    return min(found, default=None)


def _talk_escalated(report: Report, checkin: CheckIn) -> bool:
    return any(e.action == "talk-escalated" and e.detail == checkin.id for e in report.timeline)


def advance(report: Report, now: datetime) -> list[DomainEvent]:
    """Move the case's check-ins along; returns the events for the notifier."""
    closed = report.status is ReportStatus.CLOSED
    by_series: dict[str, list[CheckIn]] = {}
    for checkin in report.checkins:
        by_series.setdefault(_series_of(checkin.id), []).append(checkin)
    events = [e for s in by_series.values() for e in _advance_series(report, s, now, closed)]
    for checkin in report.checkins:
        if (
            checkin.answer == "talk"
            and checkin.talk_taken_by is None
            and checkin.answered_at
            and now - checkin.answered_at >= TALK_WAIT
            and not _talk_escalated(report, checkin)
        ):
            report.log(now, "talk-escalated", None, checkin.id)
            events.append(_event(report, EventKind.TALK_UNANSWERED, now, checkin))
    return events


def _answerable(report: Report, checkin_id: str) -> CheckIn | None:
    """The check-in an answer to `checkin_id` is for: a superseded question's series' open one."""
    checkin = next((c for c in report.checkins if c.id == checkin_id), None)
    if checkin is not None and checkin.state == "cancelled" and checkin.sent_at:
        series = _series_of(checkin.id)
        newer = [
            c
            for c in report.checkins
            if _series_of(c.id) == series and c.state in ("sent", "missed") and c.sent_at
        ]
        return max(newer, key=_sent_at, default=None)
    return checkin


def answer(
    report: Report, checkin_id: str, value: str, now: datetime
) -> tuple[str, list[DomainEvent]]:
    """The worker answered a check-in; returns what to tell them, and events."""
    checkin = _answerable(report, checkin_id)
    if checkin is None or checkin.state not in ("sent", "missed"):
        return "Thank you. That check-in has already been answered.", []
    if value == "snooze":
        if checkin.snoozes >= MAX_SNOOZES:
            return "I can't put this one off again, but you don't have to answer it.", []
        checkin.snoozes += 1
        checkin.state = "scheduled"
        checkin.due = now + timedelta(days=1)
        report.log(now, "checkin-snoozed")
        return "No problem: I'll ask again tomorrow.", []
    if value not in ANSWER_WORDS:
        return "I couldn't read that answer.", []
    checkin.state = "answered"
    checkin.answer = value  # type: ignore[assignment]
    checkin.answered_at = now
    report.log(now, "checkin-answered", report.reporter.key, value)
    # Whoever scheduled it hears the answer (`bot.alerts.plan`): her manager, or
    # on a case she kept from her manager, the safety lead who asked.
    who = "your manager" if checkin.by in report.managers else "the safety lead who asked"
    reply = {
        "ok": f"Thank you for letting me know. I'm passing that on to {who}.",
        "affected": f"Thank you for telling me. I'm letting {who} know, so they can check in "
        "with you.",
        "talk": f"I'm telling {who} now that you need to talk. If they can't reach you soon, "
        "the safety leads will be told too. If anyone is in danger, call the emergency "
        "services first.",
    }[value]
    return reply, [_event(report, EventKind.CHECKIN_ANSWERED, now, checkin)]


def take_talk(report: Report, checkin_id: str, by: str, now: datetime) -> str:
    checkin = next((c for c in report.checkins if c.id == checkin_id), None)
    if checkin is None or checkin.answer != "talk":
        return "I couldn't find that request."
    if checkin.talk_taken_by:
        return "Someone is already on it."
    checkin.talk_taken_by = by
    report.log(now, "talk-taken", by, checkin.id)
    return "Thank you: please contact them now."
