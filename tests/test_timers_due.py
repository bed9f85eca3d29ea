"""The timers' due rule agrees with what the timers do: a case the rule says
is not due yet is left as it is, and at the time it names something happens.
The stores index the rule's answer, so a case it got wrong would never be
looked at: a follow-up or a check-in silently never sent."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

import pytest

from bot import checkins
from bot.alerts.followups import EscalationTimes, follow_up, timers_due
from bot.reports import CheckIn, Report, RiskLevel
from tests.store_helpers import T0, person, report

TIMES = EscalationTimes(critical=timedelta(minutes=30), high=timedelta(hours=4))
SECOND = timedelta(seconds=1)


def filed(risk: RiskLevel = RiskLevel.HIGH) -> Report:
    found = report(person("U-ALICE"), 1, "HB-2026-0001", "d1", filed_at=T0)
    found.risk = risk
    found.log(T0, "filed")
    return found


def acts(found: Report, now: datetime) -> bool:
    """Whether the timers would do anything to the case at `now`."""
    copy = found.model_copy(deep=True)
    before = copy.model_dump()
    raised = (follow_up(now, TIMES)(copy) or []) + checkins.advance(copy, now)
    return bool(raised) or copy.model_dump() != before


def after_leads(risk: RiskLevel) -> Report:
    found = filed(risk)
    follow_up(T0 + timedelta(hours=5), TIMES)(found)
    return found


def with_checkin(**fields: object) -> Report:
    found = filed()
    found.acknowledged_by = "console:local:bob"  # taken: only the check-in is on the clock
    found.checkins.append(CheckIn(id="c1-1", due=T0 + timedelta(days=1), by="x", **fields))
    return found


CASES: dict[str, Callable[[], Report]] = {
    "high risk, nobody took it": filed,
    "critical, nobody took it": lambda: filed(RiskLevel.CRITICAL),
    "high risk, leads already told": lambda: after_leads(RiskLevel.HIGH),
    "critical, leads already told": lambda: after_leads(RiskLevel.CRITICAL),
    "check-in scheduled": with_checkin,
    "check-in sent, unanswered": lambda: with_checkin(state="sent", sent_at=T0),
    "needs to talk, nobody took it": lambda: with_checkin(
        state="answered", answer="talk", answered_at=T0, sent_at=T0
    ),
}


@pytest.mark.parametrize("name", list(CASES))
def test_nothing_happens_before_the_due_time_and_something_does_at_it(name: str) -> None:
    found = CASES[name]()
    due = timers_due(found, TIMES)
    assert due is not None
    assert not acts(found, due - SECOND)
    assert acts(found, due)


def test_a_case_someone_took_with_nothing_scheduled_is_never_due() -> None:
    found = filed()
    found.claimed_by = "console:local:carol"
    assert timers_due(found, TIMES) is None
    assert not acts(found, T0 + timedelta(days=30))


def test_a_high_risk_case_needs_nothing_after_the_administrators_were_told() -> None:
    found = after_leads(RiskLevel.HIGH)
    follow_up(T0 + timedelta(hours=10), TIMES)(found)
    assert timers_due(found, TIMES) is None
    assert not acts(found, T0 + timedelta(days=30))
