"""Harbour's core: one inbound event in, the replies out, state saved in between.

`Harbour.handle` is the only entry point adapters use. For each person it
handles one event at a time (a per-person lock), ignores an event id it has
already handled, asks the route table (`bot.conversation.routes`) which
handler deals with the event, makes exactly one durable write of what the
handler decided, and only then returns the replies for the adapter to send.
"""

from __future__ import annotations

import logging
from datetime import UTC, date, datetime, timedelta
from typing import Any

from bot.conversation import worker
from bot.conversation.routes import ROUTES, Routes
from bot.logs import log_failure
from bot.models import (
    InboundEvent,
    Notice,
    NoticeLevel,
    PersonRef,
    Reply,
)
from bot.outcome import Outcome
from bot.privacy import trail
from bot.reports import DomainEvent, Report
from bot.services import Services
from bot.session import Session
from bot.store import RecordKind, StaleReport, StoreError
from bot.store.base import LIVE_GRACE

log = logging.getLogger(__name__)

DAMAGED_CONVERSATION = Notice(
    level=NoticeLevel.WARNING,
    text="I'm sorry: the file holding our conversation was damaged on Harbour's side, so "
    "an answer or a draft you hadn't filed yet may be missing. Anything you filed is safe. "
    "The damaged file has been kept for your Harbour administrator.",
)
RERUNS = 20
"""How many times one event is decided again when the case it changes moved
on meanwhile (each rerun reads the case afresh; a handful is plenty)."""


class Harbour(Services):
    """Handles events: `handle` and the one write it makes (`_commit`). What
    each event means is decided in `bot.conversation`; the services it uses
    are `bot.services.Services`."""

    def __init__(self, *args: Any, routes: Routes = ROUTES, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.routes = routes
        # Display names stored today, to skip rewrites.
        self._names: dict[str, tuple[str, date]] = {}
        # Events this process accepted and has not answered yet, with when: the
        # notifier's recovery leaves them to it (`in_flight`).
        self._in_flight: dict[str, datetime] = {}
        # Events whose handling failed and whose person was told to try again,
        # when the store could not forget them then: recovery drops them here
        # rather than handle them later behind her back (`told_to_retry`).
        self._told_to_retry: set[str] = set()

    async def accept(self, event: InboundEvent) -> None:
        """Keep an event before the platform is told it arrived, so a process
        that dies right after telling it loses nothing (`Store.accept`). If the
        store cannot keep it now, the event is still handled here: its handling
        then fails too, and the person is told so."""
        try:
            # When it arrived: recovery tells by it whether a report filed since came from it.
            kept = event if event.at is not None else event.model_copy(update={"at": self.clock()})
            now = datetime.now(UTC)
            # Forget ids whose answer never came (a failure after the ack):
            # past the grace, recovery takes them over anyway.
            for stale in [k for k, at in self._in_flight.items() if now - at > LIVE_GRACE]:
                del self._in_flight[stale]
            self._in_flight[event.event_id] = now
            await self.store.accept(kept)
        except Exception as exc:
            log_failure(f"keeping a {event.type} event before acknowledging it", exc)

    async def answered(self, event: InboundEvent) -> None:
        """The event's answer went out (or there was none): nobody need take it over."""
        self._in_flight.pop(event.event_id, None)
        await self.store.drop_accepted(event.person, event.event_id)

    def told_to_retry(self, event: InboundEvent) -> bool:
        """Whether this process told the person her step failed and to try
        again (the store then failing too, so it could not forget the step)."""
        return event.event_id in self._told_to_retry

    async def forget_retried(self, event: InboundEvent) -> None:
        await self.answered(event)
        self._told_to_retry.discard(event.event_id)

    def in_flight(self, event: InboundEvent, grace: timedelta) -> bool:
        """Whether this process accepted the event less than `grace` ago and is
        still answering it (a backlog, a slow platform): not for recovery."""
        since = self._in_flight.get(event.event_id)
        return since is not None and datetime.now(UTC) - since < grace

    async def handle(self, event: InboundEvent) -> list[Reply]:
        """One event at a time for each person (`Services.turn`)."""
        async with self._locks.hold(event.person.key):
            try:
                async with self.store.person_turn(event.person.key):
                    return await self._handle_in_turn(event)
            except Exception as exc:
                log_failure(f"handling a {event.type} event", exc)
                try:
                    # She is told to try again: it is not handled later behind her back.
                    await self.answered(event)
                except Exception:
                    self._told_to_retry.add(event.event_id)
                return [
                    Notice(
                        level=NoticeLevel.ERROR,
                        text="Something went wrong on my side and that last step wasn't "
                        "saved. Everything before it is safe. Please try again in a minute; "
                        "if it keeps happening, tell your manager or IT team.",
                    )
                ]

    async def _handle_in_turn(self, event: InboundEvent) -> list[Reply]:
        if await self.store.seen(event.person, event.event_id):
            return []
        for _ in range(RERUNS):
            now = self.clock()
            session = await self.store.load_session(event.person) or Session(
                person=event.person, updated_at=now
            )
            outcome = await self.routes.dispatch(self, session, event)
            outcome.session.updated_at = now
            try:
                await self._commit(event, outcome)
            except StaleReport:
                # The case moved on while this event was handled (an alert
                # recorded, someone else's action): decide again on what is
                # stored now, so nobody's change is written over.
                continue
            if await self.store.conversation_damaged(event.person):
                outcome.replies.insert(0, DAMAGED_CONVERSATION)
            return outcome.replies
        raise StoreError("the case kept changing while this event was handled")

    async def _remember_name(self, person: PersonRef, name: str | None) -> None:
        """Keep the name a platform gave, so managers read a name, not an id;
        with when it was last seen (once a day at most), so retention can
        forget the names of people Harbour no longer hears from."""
        if not name:
            return
        today = self.clock().date()
        if self._names.get(person.key) == (name, today):
            return
        await self.store.put_record(
            RecordKind.PEOPLE, person.key, {"name": name, "at": self.clock().isoformat()}
        )
        self._names[person.key] = (name, today)

    async def _commit(self, event: InboundEvent, outcome: Outcome) -> None:
        person = event.person
        filed: str | None = None
        if outcome.file_from is not None:
            draft = outcome.file_from
            offer: list[Reply] = []

            def make(seq: int, ref: str) -> tuple[Report, list[DomainEvent]]:
                # Runs before the store writes the session, so the offer to
                # reflect on the new report is saved with it.
                report, events = worker.make_report(self, person, draft, seq, ref)
                if report.manager_may_see and not report.managers:
                    offer.extend(worker.ask_manager(self, outcome.session, ref).replies)
                else:
                    offer.extend(worker.reflect_offer(self, outcome.session, report).replies)
                return report, events + outcome.events

            report = await self.store.file_report(
                year=self.clock().year,
                draft_id=draft.id,
                make=make,
                person=person,
                session=outcome.session,
                event_id=event.event_id,
            )
            outcome.replies[:0] = worker.filed_replies(self, report) + offer
            filed = report.reference
        elif outcome.report is not None:
            await self.store.save_report(
                outcome.report,
                events=outcome.events,
                person=person,
                session=outcome.session,
                event_id=event.event_id,
            )
        else:
            await self.store.save_session(
                person, outcome.session, event_id=event.event_id, events=outcome.events
            )
        await trail.record(
            self.store,
            trail.step_entries(person, self.clock(), outcome.replies, outcome.events, filed),
        )
        await self._remember_name(person, event.display_name)
        if outcome.events or outcome.file_from:
            self.outbox_has_news()
