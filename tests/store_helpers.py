"""Builders for the storage tests: people, sessions with drafts, reports, events."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from bot.engine import Draft
from bot.models import Option, PersonRef, Platform
from bot.reports import (
    DomainEvent,
    EventKind,
    Report,
    ReportAnswers,
    RiskLevel,
)
from bot.session import PendingChoice, Session
from bot.store.base import ReportFactory

# Microseconds are deliberately non-zero: see test_pending_order_survives_restart_whole_second.
T0 = datetime(2026, 3, 2, 9, 30, 0, 123456, tzinfo=UTC)

ANSWERS: dict[str, Any] = {
    "in_danger": False,
    "kinds": ["threatening_messages", "personal_details"],
    "details_exposed": ["home"],
    "platforms": ["facebook", "x"],
    "links": ["https://example.org/post/1", "https://example.org/post/2"],
    "evidence": "Screenshots saved on my work phone.",
    "started": "this_week",
    "frequency": "few",
    "affected": ["me", "children"],
    "poster": "service_user",
    "worry": 4,
    "description": "A parent from a case posted my street name and a photo of my car.",
}


def person(user: str = "U1", workspace: str = "T1") -> PersonRef:
    return PersonRef(platform=Platform.SLACK, workspace=workspace, user=user)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def draft(
    draft_id: str = "d1", *, flow: str = "report", revision: int = 0, **answers: Any
) -> Draft:
    return Draft(
        id=draft_id,
        flow=flow,
        step="review" if flow == "report" else "concern",
        answers={**ANSWERS, **answers} if flow == "report" else dict(answers),
        trail=list(ANSWERS) if flow == "report" else [],
        revision=revision,
        started_at=T0,
        updated_at=at(revision),
    )


def session(
    who: PersonRef,
    *drafts: Draft,
    active: str | None = "report",
    pending: PendingChoice | None = None,
) -> Session:
    by_flow = {d.flow: d for d in drafts}
    return Session(
        person=who,
        active=active if active in by_flow else None,
        drafts=by_flow,
        pending=pending,
        updated_at=T0,
    )


def reflect_offer(reference: str) -> PendingChoice:
    """What the app leaves in the session right after a report is filed."""
    return PendingChoice(
        question="reflect-offer",
        token="tok-1",
        prompt="Would you like to reflect now?",
        options=[Option(value="now", label="Yes, now"), Option(value="later", label="Not now")],
        context={"reference": reference},
    )


def event(
    who: PersonRef,
    kind: EventKind = EventKind.REPORT_FILED,
    *,
    when: datetime = T0,
    reference: str | None = None,
    source: str = "report",
    draft_id: str | None = None,
) -> DomainEvent:
    return DomainEvent.model_validate(
        {
            "kind": kind,
            "at": when,
            "reporter": who,
            "reference": reference,
            "source": source,
            "draft_id": draft_id,
        }
    )


def report(
    who: PersonRef, seq: int, reference: str, draft_id: str, *, filed_at: datetime = T0
) -> Report:
    year = int(reference.split("-")[1])
    return Report(
        reference=reference,
        year=year,
        seq=seq,
        reporter=who,
        filed_at=filed_at,
        draft_id=draft_id,
        answers=ReportAnswers.model_validate(ANSWERS),
        risk=RiskLevel.HIGH,
        risk_reasons=["Home details were exposed."],
    )


class Factory:
    """A `ReportFactory` that records its calls and queues one REPORT_FILED event."""

    def __init__(
        self,
        who: PersonRef,
        draft_id: str,
        *,
        filed_at: datetime = T0,
        extra_events: Sequence[DomainEvent] = (),
    ) -> None:
        self.who = who
        self.draft_id = draft_id
        self.filed_at = filed_at
        self.extra_events = list(extra_events)
        self.calls: list[tuple[int, str]] = []
        self.events: list[DomainEvent] = []

    def __call__(self, seq: int, reference: str) -> tuple[Report, list[DomainEvent]]:
        self.calls.append((seq, reference))
        made = report(self.who, seq, reference, self.draft_id, filed_at=self.filed_at)
        self.events = [
            event(self.who, when=self.filed_at, reference=reference, draft_id=self.draft_id),
            *self.extra_events,
        ]
        return made, self.events


def refuse_to_make(seq: int, reference: str) -> tuple[Report, list[DomainEvent]]:
    raise AssertionError(f"a second report ({reference}) was made for a draft already filed")


_: ReportFactory = refuse_to_make  # type check: the helpers fit the store's interface
