"""Check-ins: managers schedule private "how are you?" messages to the worker.

Harassment often peaks in the first days and can flare again, so a manager can
ask for one check-in or a cadence (days 1, 3 and 7). Each check-in is stored on
the case, so it survives restarts; the notifier's regular pass moves it along:

    scheduled --(due)--> sent --(answer)--> answered
                              \\--(a day, no answer)--> missed (the manager is told)

A check-in due while Harbour was down is sent at start-up, marked late; each is
sent once. "Need to talk now" reaches the manager at once, and the safety leads
if the manager has not taken it within `TALK_WAIT`. Closing the case cancels
what is still scheduled.
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
        draft_id=checkin.id,
    )


def advance(report: Report, now: datetime) -> list[DomainEvent]:
    """Move the case's check-ins along; returns the events for the notifier."""
    events: list[DomainEvent] = []
    for checkin in report.checkins:
        if report.status is ReportStatus.CLOSED and checkin.state == "scheduled":
            checkin.state = "cancelled"
            report.log(now, "checkin-cancelled", None, "the case was closed")
        elif checkin.state == "scheduled" and checkin.due <= now:
            checkin.state = "sent"
            checkin.sent_at = now
            checkin.late = now - checkin.due > LATE_AFTER
            report.log(now, "checkin-sent", None, "late" if checkin.late else "")
            events.append(_event(report, EventKind.CHECKIN_DUE, now, checkin))
        elif checkin.state == "sent" and checkin.sent_at and now - checkin.sent_at >= ANSWER_WAIT:
            checkin.state = "missed"
            report.log(now, "checkin-missed")
            events.append(_event(report, EventKind.CHECKIN_MISSED, now, checkin))
        elif (
            checkin.answer == "talk"
            and checkin.talk_taken_by is None
            and checkin.answered_at
            and now - checkin.answered_at >= TALK_WAIT
            and not any(
                e.action == "talk-escalated" and e.detail == checkin.id for e in report.timeline
            )
        ):
            report.log(now, "talk-escalated", None, checkin.id)
            events.append(_event(report, EventKind.TALK_UNANSWERED, now, checkin))
    return events


def answer(
    report: Report, checkin_id: str, value: str, now: datetime
) -> tuple[str, list[DomainEvent]]:
    """The worker answered a check-in; returns what to tell them, and events."""
    checkin = next((c for c in report.checkins if c.id == checkin_id), None)
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
    reply = {
        "ok": "Thank you for letting me know. I've told your manager.",
        "affected": "Thank you for telling me. I've let your manager know, so they can check in "
        "with you.",
        "talk": "I've told your manager that you need to talk now. If they can't reach you "
        "soon, the safety leads will be told too. If anyone is in danger, call the emergency "
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
