"""The storage interface the core depends on: small, async, and atomic per call.

Each method that changes something does so in one durable write: a person's
conversation state, the id of the event that caused the change (so a
redelivery is ignored) and any domain events for the outbox land together or
not at all.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

from bot.models import PersonRef
from bot.reports import DomainEvent, Report
from bot.session import Session

ReportFactory = Callable[[int, str], tuple[Report, list[DomainEvent]]]
"""Builds the report (and its events) once the store has chosen its number."""


class StoreError(RuntimeError):
    """A storage problem the person running Harbour must act on."""


class StoreLocked(StoreError):
    pass


class Store(ABC):
    @abstractmethod
    async def load_session(self, person: PersonRef) -> Session | None: ...

    @abstractmethod
    async def seen(self, person: PersonRef, event_id: str) -> bool:
        """Whether an event with this id, from this person, has already been handled."""

    @abstractmethod
    async def save_session(
        self,
        person: PersonRef,
        session: Session | None,
        *,
        event_id: str | None = None,
        events: Sequence[DomainEvent] = (),
    ) -> None:
        """Save (or, with None, forget) a person's conversation state."""

    @abstractmethod
    async def file_report(
        self,
        *,
        year: int,
        draft_id: str,
        make: ReportFactory,
        person: PersonRef,
        session: Session | None,
        event_id: str | None = None,
    ) -> Report:
        """Number and store a new report with its events, then save the session.

        Filing is idempotent per `draft_id`: a second call for the same draft
        returns the report already filed. If the process dies between the two
        writes, the draft is recognised (`Report.draft_id`) and dropped when
        the store opens.
        """

    @abstractmethod
    async def save_report(
        self,
        report: Report,
        *,
        events: Sequence[DomainEvent] = (),
        person: PersonRef | None = None,
        session: Session | None = None,
        event_id: str | None = None,
    ) -> None:
        """Store a changed report with its events, then the session (if a person is given)."""

    @abstractmethod
    async def get_report(self, reference: str) -> Report | None: ...

    @abstractmethod
    async def reports_by(self, person: PersonRef) -> list[Report]:
        """A person's own reports, newest first."""

    @abstractmethod
    async def open_reports(self) -> list[Report]:
        """Every report not closed, oldest first."""

    @abstractmethod
    async def pending_events(self) -> list[DomainEvent]:
        """Outbox events not yet delivered, oldest first."""

    @abstractmethod
    async def mark_delivered(self, event_ids: Sequence[str], at: datetime) -> None: ...

    @abstractmethod
    async def put_record(self, kind: str, key: str, value: dict[str, Any] | None) -> None:
        """Keep a small record by kind and key, or forget it (None): how to reach a
        person or channel (kind "contacts"), the team directory, deliveries made."""

    @abstractmethod
    async def get_record(self, kind: str, key: str) -> dict[str, Any] | None: ...

    @abstractmethod
    async def records(self, kind: str) -> dict[str, dict[str, Any]]:
        """Every record of a kind, by key."""

    @abstractmethod
    async def close(self) -> None: ...
