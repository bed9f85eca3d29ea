"""What the handlers of a conversation work with: the store, the clock, ids,
the team directory and its access policy, the flows' context and guidance.

Handlers are plain functions that take these services, the person's session
and their input, and return an `Outcome`; only `bot.app.Harbour` writes it.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from bot.access import Access
from bot.directory import Directory
from bot.engine import Draft
from bot.figures.compute import DEFAULT_POLICY, Policy
from bot.flow import FlowContext
from bot.guidance import Audience as GuidanceAudience
from bot.guidance import GuidanceItem, Library
from bot.locks import KeyedLocks
from bot.models import PersonRef, Platform
from bot.reports import DomainEvent, EventKind, Report, RiskLevel
from bot.store import Store

Clock = Callable[[], datetime]


def utc_now() -> datetime:
    return datetime.now(UTC)


def new_id() -> str:
    return uuid.uuid4().hex[:16]


class Services:
    def __init__(
        self,
        store: Store,
        ctx: FlowContext,
        *,
        clock: Clock = utc_now,
        ids: Callable[[], str] = new_id,
        command_prefixes: dict[Platform, str] | None = None,
        library: Library | None = None,
        directory: Directory | None = None,
        admins: frozenset[str] = frozenset(),
        figures: Policy = DEFAULT_POLICY,
    ) -> None:
        """`command_prefixes` says how each adapter's people type a command, for
        help text (e.g. "/report-abuse " in Slack); replies are otherwise the same."""
        self.store = store
        self.ctx = ctx
        self.clock = clock
        self.ids = ids
        self.prefixes = command_prefixes or {}
        self.library = library or Library([])
        self.directory = directory or Directory()
        self.access = Access(self.directory, admins)
        self.figures = figures
        """What the figures may count and show (HARBOUR_FIGURES_*)."""
        self.outbox_changed: asyncio.Event | None = None  # set by whoever delivers the outbox
        self._locks = KeyedLocks()

    @contextlib.asynccontextmanager
    async def turn(self, person_key: str) -> AsyncIterator[None]:
        """A person's turn, as each of her events holds it: in this process (in
        order) and across every process sharing the store (`Store.person_turn`).
        Work on her data outside her own events (a purge, an erasure) holds it too."""
        async with self._locks.hold(person_key), self.store.person_turn(person_key):
            yield

    @property
    def tz(self) -> ZoneInfo:
        """The organisation's time zone: every time people read is shown in it."""
        return ZoneInfo(self.ctx.timezone)

    def command_prefix(self, person: PersonRef) -> str:
        return self.prefixes.get(person.platform, "")

    def outbox_has_news(self) -> None:
        """Wake whoever delivers the outbox (events were written outside `Harbour.handle`)."""
        if self.outbox_changed is not None:
            self.outbox_changed.set()

    def guidance_for(
        self, report: Report, audience: GuidanceAudience, limit: int = 3
    ) -> list[GuidanceItem]:
        """The few most useful guidance items for this report and this reader."""
        kinds = list(report.answers.kinds)
        platforms = list(report.answers.platforms)
        for update in report.updates:
            kinds += update.answers.kinds
            platforms += update.answers.platforms
        return self.library.for_incident(
            audience, kinds=kinds, risk=report.risk, platforms=platforms
        )[:limit]

    def draft_event(self, person: PersonRef, draft: Draft, kind: EventKind) -> DomainEvent:
        """An event raised before the report exists (immediate danger)."""
        return DomainEvent(
            kind=kind,
            at=self.clock(),
            reporter=person,
            risk=RiskLevel.CRITICAL if kind is EventKind.RISK_CRITICAL else None,
            source="draft",
            draft_id=draft.id,
        )

    def report_event(self, report: Report, kind: EventKind) -> DomainEvent:
        return DomainEvent(
            kind=kind,
            at=self.clock(),
            reporter=report.reporter,
            reference=report.reference,
            risk=report.risk,
        )
