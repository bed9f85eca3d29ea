"""Check-ins: managers schedule private "how are you?" messages to the worker.

Harassment often peaks in the first days and can flare again, so a manager can
ask for one check-in or a cadence (days 1, 3 and 7). The check-ins scheduled
together are a series. Each is stored on the case, so it survives restarts; the
notifier's regular pass moves it along:

    scheduled --(due, in working hours)--> sent --(answer)--> answered
        |                  |--(a day after it was sent, no answer)--> missed (the manager is told)
        |                  |--(she puts it off)--> scheduled again, for when she chose
        |                  \\--(a newer one of its series is sent)--> cancelled
        \\--(the case is closed, she stops them, or a newer one of its series is due too)--> cancelled

They are sent only inside working hours in the organisation's time zone
(`bot.alerts.followups.WorkingHours`: 09:00 to 17:00 on working days, public
holidays off), so one due at 23:00 goes at the start of the next working day.
The worker controls them: she answers, puts one off (later today, tomorrow
morning, in a few days: no cap), or stops them on that case. Every third time
the same check-in is put off, whoever scheduled it is told (never what she
said), so an answer that never comes does not read as all being well. When she
stops them, everything still to come on that case is cancelled and whoever
scheduled them is told, kindly and without content; `checkins on HB-…` brings
back the ones still to come, and a manager scheduling new ones (she can ask
for them) turns them on too.

A series has at most one question open at a time. After downtime, only the
latest check-in due in a series is sent, marked late; the earlier ones are
cancelled unsent and an unanswered earlier question is superseded, each with a
"checkin-skipped" timeline entry. So the worker gets one question and the
manager at most one "missed" notice, a day after it was actually sent.
Answering a superseded question answers the series' open one. "Need to talk
now" reaches the manager at once, and the safety leads if the manager has not
taken it within `TALK_WAIT`, at any hour. Closing the case cancels what is
still scheduled.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, date, datetime, time, timedelta
from enum import StrEnum
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from bot.models import Option
from bot.reports import CheckIn, DomainEvent, EventKind, Report, ReportStatus

if TYPE_CHECKING:
    from bot.alerts.followups import WorkingHours

CHECKIN_QUESTION = "checkin:"
TALK_QUESTION = "talk:"
ANSWER_WAIT = timedelta(days=1)
TALK_WAIT = timedelta(minutes=30)
LATE_AFTER = timedelta(minutes=5)
OPENS = time(9, 0)
"""When a working day starts in the organisation's time zone: check-ins held
back overnight go then."""
CLOSES = time(17, 0)
"""When it ends: nothing is sent from then until the next working day opens."""
LATER_TODAY = timedelta(hours=3)
A_FEW_DAYS = 3
TELL_EVERY = 3
"""Every this many times one check-in is put off, whoever scheduled it is told."""


class Choice(StrEnum):
    """What the worker can say to a check-in (its buttons' values)."""

    OK = "ok"
    AFFECTED = "affected"
    TALK = "talk"
    NOT_NOW = "not-now"
    """Asks her when to ask again (`WHEN_AGAIN`)."""
    LATER_TODAY = "later-today"
    TOMORROW_MORNING = "tomorrow-morning"
    IN_A_FEW_DAYS = "few-days"
    STOP = "stop"
    SNOOZE = "snooze"
    """The one "Ask me tomorrow" button of check-ins sent before 2026-12: tomorrow morning."""


PUT_OFF = frozenset(
    {Choice.LATER_TODAY, Choice.TOMORROW_MORNING, Choice.IN_A_FEW_DAYS, Choice.SNOOZE}
)

CADENCES = (
    Option(value="1", label="Tomorrow"),
    Option(value="3", label="In 3 days"),
    Option(value="7", label="In a week"),
    Option(value="1,3,7", label="Days 1, 3 and 7"),
)
ANSWERS = (
    Option(value=Choice.OK.value, label="I'm doing OK"),
    Option(value=Choice.AFFECTED.value, label="Still affected"),
    Option(value=Choice.TALK.value, label="I need to talk now"),
    Option(value=Choice.NOT_NOW.value, label="Not now"),
    Option(value=Choice.STOP.value, label="Stop these check-ins"),
)
WHEN_AGAIN = (
    Option(value=Choice.LATER_TODAY.value, label="Later today"),
    Option(value=Choice.TOMORROW_MORNING.value, label="Tomorrow morning"),
    Option(value=Choice.IN_A_FEW_DAYS.value, label="In a few days"),
    Option(value=Choice.STOP.value, label="Stop these check-ins"),
)
"""Asked after "Not now": when to ask again, or not at all."""
WHEN_AGAIN_PROMPT = (
    "That's fine. When shall I ask again? Or, if you'd rather not have these check-ins, I can "
    "stop them."
)
ANSWER_WORDS = {
    "ok": "is doing OK",
    "affected": "is still affected",
    "talk": "needs to talk now",
}
STOPPED = "checkins-stopped"
"""Timeline entry: she stopped the check-ins (detail: the ids it cancelled)."""
TURNED_ON = "checkins-on"
"""Timeline entry: she turned them back on."""
SCHEDULED = "checkins-scheduled"
"""Timeline entry: someone scheduled check-ins (which turns them on again too)."""


def schedule(report: Report, cadence: str, by: str, now: datetime, new_id: str) -> list[CheckIn]:
    """Add check-ins on the given days from now ("1", "3", "7" or "1,3,7")."""
    added = [
        CheckIn(id=f"{new_id}-{n}", due=now + timedelta(days=int(days)), by=by)
        for n, days in enumerate(cadence.split(","))
    ]
    report.checkins.extend(added)
    report.log(now, SCHEDULED, by, cadence)
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
    report: Report, series: list[CheckIn], now: datetime, closed: bool, hours: WorkingHours
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
    elif due and hours.open_at(now) == now:
        *earlier, latest = due
        for checkin in earlier:
            _supersede(report, checkin, now)
        latest.state = "sent"
        latest.sent_at = now
        # Held back overnight is on time: late means Harbour was down when it could have gone.
        latest.late = now - hours.open_at(latest.due) > LATE_AFTER
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


def office_hours() -> WorkingHours:
    """Working hours when the caller names none: `EscalationTimes`' defaults
    (Dublin, Irish holidays). The notifier passes the organisation's own."""
    from bot.alerts.followups import WorkingHours  # that module's clock imports this one

    return WorkingHours()


def next_due(report: Report, hours: WorkingHours | None = None) -> datetime | None:
    """When `advance` next has something to do on this case (None: nothing as
    it stands): a check-in to send (at the first working moment from when it
    is due), one unanswered for a day, or a "need to talk" nobody took in time."""
    hours = hours or office_hours()
    found: list[datetime] = []
    for checkin in report.checkins:
        if checkin.state == "scheduled":
            found.append(hours.open_at(checkin.due))
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


def advance(report: Report, now: datetime, hours: WorkingHours | None = None) -> list[DomainEvent]:
    """Move the case's check-ins along; returns the events for the notifier.
    Nothing is sent outside `hours`; a "need to talk" escalates at any hour."""
    hours = hours or office_hours()
    closed = report.status is ReportStatus.CLOSED
    by_series: dict[str, list[CheckIn]] = {}
    for checkin in report.checkins:
        by_series.setdefault(_series_of(checkin.id), []).append(checkin)
    events = [e for s in by_series.values() for e in _advance_series(report, s, now, closed, hours)]
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


def waiting(report: Report, checkin_id: str) -> CheckIn | None:
    """The check-in a choice about `checkin_id` is for, if it still waits for one."""
    checkin = _answerable(report, checkin_id)
    return checkin if checkin is not None and checkin.state in ("sent", "missed") else None


def choice(value: str) -> Choice | None:
    try:
        return Choice(value)
    except ValueError:
        return None


ALREADY_ANSWERED = "Thank you. That check-in has already been answered."


def answer(
    report: Report, checkin_id: str, value: str, now: datetime, tz: ZoneInfo
) -> tuple[str, list[DomainEvent]]:
    """The worker answered a check-in, put it off or stopped them; returns what
    to tell her, and events. `tz` is the organisation's time zone, where
    "later today" and "tomorrow morning" are read."""
    said = choice(value)
    if said is Choice.STOP:
        return stop(report, report.reporter.key, now)
    checkin = waiting(report, checkin_id)
    if checkin is None:
        return ALREADY_ANSWERED, []
    if said in PUT_OFF:
        return put_off(report, checkin, said, now, tz)
    if said not in (Choice.OK, Choice.AFFECTED, Choice.TALK):
        return "I couldn't read that answer.", []
    checkin.state = "answered"
    checkin.answer = said.value  # type: ignore[assignment]
    checkin.answered_at = now
    report.log(now, "checkin-answered", report.reporter.key, said.value)
    # Whoever scheduled it hears the answer (`bot.alerts.plan`): her manager, or
    # on a case she kept from her manager, the safety lead who asked.
    who = _who_asked(report, checkin)
    reply = {
        Choice.OK: f"Thank you for letting me know. I'm passing that on to {who}.",
        Choice.AFFECTED: f"Thank you for telling me. I'm letting {who} know, so they can check "
        "in with you.",
        Choice.TALK: f"I'm telling {who} now that you need to talk. If they can't reach you "
        "soon, the safety leads will be told too. If anyone is in danger, call the emergency "
        "services first.",
    }[said]
    return reply, [_event(report, EventKind.CHECKIN_ANSWERED, now, checkin)]


def _who_asked(report: Report, checkin: CheckIn) -> str:
    return "your manager" if checkin.by in report.managers else "the safety lead who asked"


def _morning(day: date, tz: ZoneInfo) -> datetime:
    return datetime.combine(day, OPENS, tzinfo=tz).astimezone(UTC)


def put_off(
    report: Report, checkin: CheckIn, when: Choice, now: datetime, tz: ZoneInfo
) -> tuple[str, list[DomainEvent]]:
    """Ask again when she chose. The time is a wish the sending clock keeps to
    working hours (so a weekend or holiday morning becomes the next working
    one); every `TELL_EVERY`th time, whoever scheduled it hears it was put off."""
    today = now.astimezone(tz).date()
    if when is Choice.LATER_TODAY:
        again = now + LATER_TODAY
        there = again.astimezone(tz)
        if there.date() == today and there.time() < CLOSES and today.weekday() < 5:
            words = f"later today, around {there:%H:%M}"
        else:
            words = "at the start of the next working day, as the day is nearly over"
    elif when is Choice.IN_A_FEW_DAYS:
        again = _morning(today + timedelta(days=A_FEW_DAYS), tz)
        words = "in a few days, on a working morning"
    else:
        again = _morning(today + timedelta(days=1), tz)
        words = "tomorrow morning (or the next working morning, if tomorrow isn't one)"
    checkin.snoozes += 1
    checkin.state = "scheduled"
    checkin.due = again
    report.log(now, "checkin-snoozed", report.reporter.key, when.value)
    text = (
        f"No problem: I'll ask again {words}. You can stop these check-ins at any time by "
        f"saying checkins off {report.reference}."
    )
    if checkin.snoozes % TELL_EVERY:
        return text, []
    # Only that it was put off, never anything she said: she isn't asked to explain.
    return text, [_event(report, EventKind.CHECKIN_PUT_OFF, now, checkin)]


def stopped(report: Report) -> bool:
    """She stopped the check-ins on this case and nobody has turned them on since."""
    last = next(
        (
            e.action
            for e in reversed(report.timeline)
            if e.action in (STOPPED, TURNED_ON, SCHEDULED)
        ),
        None,
    )
    return last == STOPPED


def last_stopped(report: Report) -> list[CheckIn]:
    """The check-ins her last stop cancelled (whoever scheduled them is told)."""
    entry = next((e for e in reversed(report.timeline) if e.action == STOPPED), None)
    ids = set(entry.detail.split(",")) if entry is not None else set()
    return [c for c in report.checkins if c.id in ids]


def _still_to_come(checkins: Iterable[CheckIn]) -> list[CheckIn]:
    return [c for c in checkins if c.state in ("scheduled", "sent", "missed")]


def stop(report: Report, by: str, now: datetime) -> tuple[str, list[DomainEvent]]:
    """She asked for no more check-ins on this case: cancel every one still to
    come (and the question waiting), and tell whoever scheduled them."""
    ref = report.reference
    ending = _still_to_come(report.checkins)
    if not ending:
        return (
            f"There are no check-ins waiting on {ref}, so there's nothing to stop. If any are "
            f"scheduled later and you'd rather not have them, say checkins off {ref}.",
            [],
        )
    for checkin in ending:
        checkin.state = "cancelled"
    report.log(now, STOPPED, by, ",".join(c.id for c in ending))
    who = (
        _who_asked(report, ending[-1])
        if len({c.by for c in ending}) == 1
        else "everyone who scheduled them"
    )
    text = (
        f"Done: there will be no more check-ins about {ref}, and I've let {who} know you asked "
        f"for that, nothing more. If you'd like them again, say checkins on {ref}, or ask your "
        "manager."
    )
    return text, [_event(report, EventKind.CHECKINS_STOPPED, now, ending[-1])]


def turn_on(report: Report, by: str, now: datetime) -> tuple[str, list[DomainEvent]]:
    """She wants check-ins again: the ones her stop cancelled that are still
    to come are scheduled again, and whoever scheduled them is told."""
    ref = report.reference
    if not stopped(report):
        return f"Check-ins on {ref} are already on: nothing was changed.", []
    cancelled = last_stopped(report)
    back = [c for c in cancelled if c.state == "cancelled" and c.due > now]
    for checkin in back:
        checkin.state = "scheduled"
    report.log(now, TURNED_ON, by, ",".join(c.id for c in back))
    about = back[0] if back else (cancelled[-1] if cancelled else None)
    events = [_event(report, EventKind.CHECKINS_ON, now, about)] if about else []
    who = _who_asked(report, about) if about else "your manager"
    if back:
        text = f"Check-ins on {ref} are back on: {len(back)} still to come. I've let {who} know."
    else:
        text = (
            f"Check-ins on {ref} are on again. The ones planned have all passed, so I've let "
            f"{who} know you'd welcome more."
        )
    return text, events


def take_talk(report: Report, checkin_id: str, by: str, now: datetime) -> str:
    checkin = next((c for c in report.checkins if c.id == checkin_id), None)
    if checkin is None or checkin.answer != "talk":
        return "I couldn't find that request."
    if checkin.talk_taken_by:
        return "Someone is already on it."
    checkin.talk_taken_by = by
    report.log(now, "talk-taken", by, checkin.id)
    return "Thank you: please contact them now."
