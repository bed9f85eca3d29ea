"""Regression: after downtime an overdue cadence sent three check-in questions at
once, then three "missed" notices. Now one question per series, and "missed"
counts from when it was actually sent."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from bot import checkins
from bot.alerts.followups import DUBLIN
from bot.reports import DomainEvent, EventKind, Report, ReportStatus
from tests.store_helpers import T0, person, report

BOB = person("UBOB").key
DAY = timedelta(days=1)
MINUTE = timedelta(minutes=1)


def case() -> Report:
    return report(person("UALICE"), 1, "HB-2026-0001", "d1")


def kinds(events: list[DomainEvent]) -> list[EventKind]:
    return [e.kind for e in events]


def about(events: list[DomainEvent]) -> list[str | None]:
    """The check-in each event is about (`checkin_id` on newer events, `draft_id` before)."""
    return [getattr(e, "checkin_id", None) or e.draft_id for e in events]


def skipped(r: Report) -> list[str]:
    return [e.detail for e in r.timeline if e.action == "checkin-skipped"]


def test_a_cadence_overdue_after_downtime_sends_only_its_latest_checkin() -> None:
    r = case()
    first, third, seventh = checkins.schedule(r, "1,3,7", BOB, T0, "s1")
    events = checkins.advance(r, T0 + 8 * DAY)
    assert kinds(events) == [EventKind.CHECKIN_DUE]
    assert about(events) == [seventh.id]
    assert seventh.state == "sent" and seventh.late and seventh.sent_at == T0 + 8 * DAY
    assert first.state == third.state == "cancelled"
    assert first.sent_at is None and third.sent_at is None
    assert skipped(r) == ["superseded after downtime"] * 2
    assert checkins.advance(r, T0 + 8 * DAY + MINUTE) == []  # sent once


def test_then_one_missed_notice_a_day_after_it_was_sent() -> None:
    r = case()
    *_, seventh = checkins.schedule(r, "1,3,7", BOB, T0, "s1")
    checkins.advance(r, T0 + 8 * DAY)
    assert checkins.advance(r, T0 + 9 * DAY - MINUTE) == []
    events = checkins.advance(r, T0 + 9 * DAY)
    assert kinds(events) == [EventKind.CHECKIN_MISSED]
    assert about(events) == [seventh.id] and seventh.state == "missed"
    assert checkins.advance(r, T0 + 12 * DAY) == []


def test_missed_counts_from_when_it_was_sent_not_when_it_was_due() -> None:
    r = case()
    [only] = checkins.schedule(r, "1", BOB, T0, "s1")
    checkins.advance(r, T0 + 3 * DAY)  # due on day 1, sent on day 3
    assert only.state == "sent" and only.late
    assert checkins.advance(r, T0 + 4 * DAY - MINUTE) == []
    assert kinds(checkins.advance(r, T0 + 4 * DAY)) == [EventKind.CHECKIN_MISSED]


def test_an_unanswered_question_is_superseded_by_the_newer_one_of_its_series() -> None:
    r = case()
    first, third, seventh = checkins.schedule(r, "1,3,7", BOB, T0, "s1")
    assert about(checkins.advance(r, T0 + DAY)) == [first.id]
    events = checkins.advance(r, T0 + 8 * DAY)  # down from just after day 1 to day 8
    assert kinds(events) == [EventKind.CHECKIN_DUE] and about(events) == [seventh.id]
    assert first.state == third.state == "cancelled"
    assert sorted(skipped(r)) == ["superseded after downtime", "superseded by a newer check-in"]
    assert kinds(checkins.advance(r, T0 + 9 * DAY)) == [EventKind.CHECKIN_MISSED]


def test_answering_a_superseded_question_answers_the_open_one() -> None:
    r = case()
    first, _, seventh = checkins.schedule(r, "1,3,7", BOB, T0, "s1")
    checkins.advance(r, T0 + DAY)
    checkins.advance(r, T0 + 8 * DAY)
    text, events = checkins.answer(r, first.id, "ok", T0 + 8 * DAY + MINUTE, DUBLIN)
    assert "passing that on" in text
    assert about(events) == [seventh.id] and seventh.state == "answered"
    assert first.state == "cancelled"


def test_several_open_questions_of_one_series_give_one_missed_notice() -> None:
    r = case()  # as stored before the fix: all three sent at once
    for checkin in checkins.schedule(r, "1,3,7", BOB, T0, "s1"):
        checkin.state, checkin.sent_at = "sent", T0 + 8 * DAY
    events = checkins.advance(r, T0 + 9 * DAY)
    assert kinds(events) == [EventKind.CHECKIN_MISSED]
    assert sorted(c.state for c in r.checkins) == ["cancelled", "cancelled", "missed"]


def test_two_series_on_one_case_each_send_and_miss_their_own() -> None:
    r = case()
    a = checkins.schedule(r, "1,3,7", BOB, T0, "s1")
    b = checkins.schedule(r, "1,3,7", BOB, T0 + DAY, "s2")
    events = checkins.advance(r, T0 + 9 * DAY)
    assert kinds(events) == [EventKind.CHECKIN_DUE] * 2
    assert set(about(events)) == {a[2].id, b[2].id}
    assert len(skipped(r)) == 4
    events = checkins.advance(r, T0 + 10 * DAY)
    assert kinds(events) == [EventKind.CHECKIN_MISSED] * 2
    assert set(about(events)) == {a[2].id, b[2].id}


def test_an_on_time_cadence_still_sends_each_checkin() -> None:
    r = case()
    added = checkins.schedule(r, "1,3,7", BOB, T0, "s1")
    sent: list[str | None] = []
    for day in (1, 3, 7):
        events = checkins.advance(r, T0 + day * DAY + MINUTE)
        assert kinds(events) == [EventKind.CHECKIN_DUE]
        sent.extend(about(events))
        assert kinds(checkins.advance(r, T0 + (day + 1) * DAY + MINUTE)) == [
            EventKind.CHECKIN_MISSED
        ]
    assert sent == [c.id for c in added]
    assert not any(c.late for c in added) and skipped(r) == []
    assert {c.state for c in added} == {"missed"}


def test_a_snoozed_checkin_is_asked_again_and_closing_cancels_the_rest() -> None:
    """The old "Ask me tomorrow" button (already in people's DMs) still works:
    it asks again when the next morning's working hours open."""
    r = case()
    first, third, seventh = checkins.schedule(r, "1,3,7", BOB, T0, "s1")
    checkins.advance(r, T0 + DAY)
    checkins.answer(r, first.id, "snooze", T0 + DAY + MINUTE, DUBLIN)
    wednesday_9am = datetime(2026, 3, 4, 9, 0, tzinfo=UTC)  # Dublin is on UTC in March
    assert checkins.advance(r, wednesday_9am - MINUTE) == []
    assert about(checkins.advance(r, wednesday_9am)) == [first.id]
    checkins.answer(r, first.id, "ok", wednesday_9am + MINUTE, DUBLIN)
    r.status = ReportStatus.CLOSED
    assert checkins.advance(r, T0 + 8 * DAY) == []
    assert third.state == seventh.state == "cancelled" and skipped(r) == []
