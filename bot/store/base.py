"""The storage interface the core depends on: small, async, and atomic per call.

Each method that changes something does so in one durable write: a person's
conversation state, the id of the event that caused the change (so a
redelivery is ignored) and any domain events for the outbox land together or
not at all.
"""

from __future__ import annotations

import contextlib
import logging
import re
from abc import ABC, abstractmethod
from collections.abc import AsyncIterator, Callable, Sequence
from datetime import datetime, timedelta
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ValidationError

from bot.errors import StoreError as StoreError  # raised by every store: one class for all
from bot.models import InboundEvent, PersonRef
from bot.privacy.audit import AuditEntry
from bot.reports import DomainEvent, Report
from bot.session import Session

if TYPE_CHECKING:
    from bot.privacy.sealing import Sealer

ReportFactory = Callable[[int, str], tuple[Report, list[DomainEvent]]]
"""Builds the report (and its events) once the store has chosen its number."""


_FIELD = re.compile(r"[a-z_]{1,40}")


def unreadable_reason(exc: Exception) -> str:
    """Why an outbox document could not be read: error types and field names,
    never a value."""
    if not isinstance(exc, ValidationError):
        return f"unreadable outbox entry ({type(exc).__name__})"
    found = []
    for error in exc.errors(include_url=False, include_context=False, include_input=False):
        where = ".".join(
            str(p) if isinstance(p, int) or _FIELD.fullmatch(p) else "?" for p in error["loc"]
        )
        found.append(f"{error['type']} at {where or 'the entry'}")
    return "unreadable outbox entry: " + "; ".join(list(dict.fromkeys(found))[:5])


class RecordKind(StrEnum):
    """The small records Harbour keeps beside the reports, by kind and key."""

    PEOPLE = "people"
    """Display names, by person key: managers read a name, not an id."""
    CONTACTS = "contacts"
    """How to reach a person or a channel outside a conversation (Teams)."""
    MANAGERS = "managers"
    """Who manages a worker, set in chat (by an administrator or herself)."""
    LEADS = "leads"
    """Safety leads added or removed in chat."""
    CHANNELS = "channels"
    """The safety leads' channel on each platform, registered in chat."""
    DIRECTORY_FILE = "directory-file"
    """Managers as the directory file said at the last start."""
    DELIVERIES = "deliveries"
    """Each alert's delivery to each recipient: sent, retrying, dropped."""
    CHANNEL_MESSAGES = "channel-messages"
    """Each case's card in the leads' channel, to edit it in place."""
    DANGER_ALERTS = "danger-alerts"
    """Immediate danger raised before a report: who, and which lead claimed it."""
    DEAD_LETTERS = "dead-letters"
    """Alerts set aside because they could not be read or delivered at all."""
    KEY_CHECK = "key-check"
    """A value sealed with the key: a wrong key is found before anything is read."""
    TALLIES = "tallies"
    """Anonymous counts closed cases were reduced to when their retention ran
    out (by quarter and category: no reference, id or word anyone wrote)."""
    OUTGOING_FILES = "outgoing-files"
    """A file on its way to a person that waits for her to accept it (where a
    platform asks her first): sealed, forgotten once sent, declined or expired."""
    INSTALLATIONS = "slack-installations"
    """Each place a platform's own install flow put Harbour (a workspace, an
    organisation), by its id: the token and ids the adapter was given, sealed;
    deleted when it is uninstalled. (The stored name is its first platform's.)"""
    PURGES = "purges"
    """When the daily purge last ran, and what it removed (counts only)."""


FINISHED_DELIVERIES = frozenset({"sent", "failed", "dropped"})
"""The statuses of a delivery record (`RecordKind.DELIVERIES`) that is done
with: nothing more is tried for it (`bot.alerts.sender`), and retention may
forget it (`Store.prune_delivered`)."""


class StoreLocked(StoreError):
    pass


class GoneCase(StoreError):
    """An audit entry about a case that is not stored (erased meanwhile, or
    never was): nothing was written, so no chain outlives its case."""


class StaleReport(StoreError):
    """A report was changed by someone else since this copy was read: nothing
    was written. Read it again and re-apply the change (`Store.update_report`)."""


DueRule = Callable[[Report], datetime | None]
"""When a report next needs the timers (None: never as it stands). The core's
rule (`bot.alerts.followups.timers_due`); a store only keeps its answers."""

ReportChange = Callable[[Report], Sequence[DomainEvent] | None]
"""A change to a report, applied to its current stored version: changes the
report in place and returns the events it raises, or None if it changed nothing.
Pure (no I/O, no awaits): it may run more than once if the report moves under it."""

log = logging.getLogger(__name__)

UPDATE_ATTEMPTS = 50
LIVE_GRACE = timedelta(minutes=10)
"""How long an event a live process accepted is left to it before another
takes it over (it is stuck, not dead: its answer still must go out)."""


class DeadLetter(BaseModel):
    """An outbox event set aside: it could not be read, or delivery gave up on
    it (`Store.park_event`). It no longer holds back the events after it.
    Nothing here is content: `reason` names error types and fields only, and
    `where` is the name of the file it was in."""

    id: str
    """The event's id (or, for one with no readable id, where it was)."""
    reason: str
    at: datetime
    """When it was set aside."""
    where: str
    reported: bool = False
    """Whether the leads and administrators have been told."""


class Store(ABC):
    sealer: Sealer
    """Seals what people wrote on its way to disk (`bot.privacy.sealing`); each
    store starts with one that seals nothing until `bot.privacy.setup` gives it the key."""

    # ------------------------------------------------------------------ instances
    # An embedded store belongs to one process (its lock file refuses a second),
    # so these are trivially true there; a store several processes share
    # (PostgreSQL) makes each hold across all of them.

    @contextlib.asynccontextmanager
    async def person_turn(self, key: str) -> AsyncIterator[None]:
        """Held while one event of this person is handled, so no other process
        handles another of hers meanwhile (in-process order is `Harbour`'s)."""
        yield

    async def claim_events(self, lease: timedelta) -> list[DomainEvent]:
        """The pending events this process may deliver now, oldest first: none
        another live process is delivering. Held for `lease`, renewed by
        claiming again; a process that dies lets them go when it runs out."""
        return await self.pending_events()

    async def still_mine(self, event_id: str, lease: timedelta) -> bool:
        """Renew this process's claim on one event right before delivering it,
        for another `lease`: False if it is no longer this process's (its lease
        ran out and another process took it, or it was delivered), and then it
        is left alone. So a batch that took long cannot send an alert another
        process is sending too."""
        return True  # one process per embedded store

    async def heartbeat(self, lease: timedelta) -> None:
        """Say this process is alive for the next `lease`: the events it
        accepted are its own to answer meanwhile (`unhandled`)."""
        return  # one process per embedded store: nobody else to tell

    async def live_instances(self) -> tuple[int, timedelta]:
        """How many other processes say they are alive on this store (`heartbeat`),
        and how long until the last of them stops saying so unless it renews."""
        return 0, timedelta(0)  # one process per embedded store: its lock file refuses a second

    async def hold_lease(self, name: str, lease: timedelta) -> bool:
        """Whether this process holds the named duty (e.g. the timers) for the
        next `lease`: taken if nobody live holds it, renewed if it is ours."""
        return True

    # ------------------------------------------------------------------ timers

    due_rule: DueRule | None = None

    def index_due(self, rule: DueRule) -> None:
        """Keep, for each open report, when `rule` says it next needs the timers,
        so `reports_due` need not read every open case on every pass."""
        self.due_rule = rule

    def due_at(self, report: Report) -> datetime | None:
        """What a store keeps for `report` in its due index: `due_rule`'s answer.
        With no rule yet, or a rule that fails on it (logged, no content), when
        it was filed: due, so the timers' next pass looks at it again."""
        if self.due_rule is None:
            return report.filed_at
        try:
            return self.due_rule(report)
        except Exception as exc:
            log.warning("when a case next needs the timers is unknown (%s)", type(exc).__name__)
            return report.filed_at

    async def reports_due(self, now: datetime) -> list[Report]:
        """The open reports whose timers are due at `now` by the rule given to
        `index_due` (every open report when none was given), oldest first.
        A store with an index reads only those; this one asks the rule of each."""
        rule = self.due_rule
        return [
            report
            for report in await self.open_reports()
            if rule is None or ((due := rule(report)) is not None and due <= now)
        ]

    # ------------------------------------------------------------------ inbox
    # What a platform sent is kept before it is told the event arrived (the
    # ack), and until its answer has gone out, so a process killed anywhere in
    # between loses nothing: whoever comes next
    # (`bot.alerts.sender.Notifier.recover`) handles it, or, if it was handled,
    # tells the person it was saved.

    @abstractmethod
    async def accept(self, event: InboundEvent) -> None:
        """Keep an inbound event durably until `drop_accepted`."""

    @abstractmethod
    async def drop_accepted(self, person: PersonRef, event_id: str) -> None:
        """Forget an accepted event: its answer went out, or its handling
        failed and the person was told to try again."""

    @abstractmethod
    async def unhandled(self, older_than: datetime) -> list[InboundEvent]:
        """Accepted events still kept, accepted before `older_than`, oldest
        first: not handled, or handled with the answer not yet sent (the
        person's seen events tell which). Not those another live process
        accepted (`heartbeat`) unless older than `LIVE_GRACE`: it may still be
        answering them. (This process's own are `Harbour`'s to tell apart.)"""

    # ------------------------------------------------------------------ audit
    # Who viewed or acted on a case (`bot.privacy.audit`): one chain per case,
    # kept with it and erased with it, and one store-wide chain (reference
    # None) for what concerns no single case (an erasure, a purge, a rotation).
    # Entries hold ids, action words and times only: kept in clear.

    @abstractmethod
    async def append_audit(self, entry: AuditEntry) -> AuditEntry:
        """Add `entry` at the end of its chain (`entry.reference`'s, or the
        store-wide one), linked to the last entry (`bot.privacy.audit.link`),
        in one durable write and atomically across processes: two appends never
        take the same place. Returns the entry as stored (its `n`, `previous`
        and `hash` set). `GoneCase` if its case is not stored (an alert
        delivered, say, just as the case was erased)."""

    @abstractmethod
    async def audit_chain(self, reference: str | None) -> list[AuditEntry]:
        """A chain's entries in order: a case's, or the store-wide one (None).
        Empty for a case that has none (or does not exist)."""

    @abstractmethod
    async def audit_chains(self) -> list[str | None]:
        """Every chain there is: the store-wide one (None, if it has entries)
        and each case with an audit, oldest first (for `harbour audit verify`)."""

    @abstractmethod
    async def trim_audit(self, before: datetime) -> int:
        """Drop the store-wide chain's entries made before `before` (retention);
        the first kept entry still names the hash of the one before it, so the
        rest of the chain verifies. Returns how many were dropped."""

    # ------------------------------------------------------------------ retention, erasure
    # `bot.privacy.retention` decides what goes and when; these only find and
    # erase, each in one durable write, and leave every index as if what they
    # erased had never been stored.

    @abstractmethod
    async def references(self, *, closed_before: datetime | None = None) -> list[str]:
        """Every stored report's reference, oldest first; with `closed_before`,
        only the closed reports closed (`Report.closed_at`) before it. Reads the
        index, not the reports."""

    @abstractmethod
    async def erase_report(self, reference: str) -> bool:
        """Erase a report and everything kept with it: its delivery and channel
        card records, its outbox events (pending or delivered), its audit chain
        and its place in every index; a session still pointing at it is left to
        its owner. False if there was no such report."""

    @abstractmethod
    async def idle_sessions(self, before: datetime) -> list[PersonRef]:
        """People whose saved conversation (drafts, a question waiting) last
        changed (`Session.updated_at`) before `before`."""

    @abstractmethod
    async def forget_person(self, person: PersonRef) -> None:
        """Erase what the store keeps in a person's own name: her conversation,
        the ids of events she sent, and events accepted from her not yet
        answered. (Her reports and records are erased with the calls above and
        `put_record(..., None)`.)"""

    @abstractmethod
    async def prune_delivered(self, before: datetime, *, dry_run: bool = False) -> int:
        """Forget outbox events delivered before `before`, and delivery records
        (`RecordKind.DELIVERIES`) that finished (sent, failed, dropped) before
        it. Returns how many went (with `dry_run`, how many would go: nothing
        changes)."""

    @abstractmethod
    async def reseal(self) -> int:
        """Write every sealed document again with the sealer's current key (the
        last step of `harbour rotate-key`), copies kept to recover from damage
        included, so the old key opens nothing any more. Returns how many
        documents were written."""

    # ------------------------------------------------------------------ evidence files
    # The screenshots and documents a worker keeps as evidence on her case
    # (`bot.evidence`): the bytes, sealed, by case and SHA-256; the log that
    # names them is on the report.

    @abstractmethod
    async def put_evidence_file(self, reference: str, sha256: str, content: bytes) -> None:
        """Keep a file of a case's evidence, sealed, by the SHA-256 of its bytes
        (which the store checks: `StoreError` if they differ); the same file
        twice is kept once. Erased with its case (`erase_report`), sealed again
        by `reseal`. `GoneCase` if the case is not stored."""

    @abstractmethod
    async def get_evidence_file(self, reference: str, sha256: str) -> bytes | None:
        """A kept file's bytes, or None if the case keeps no such file. A file
        whose bytes no longer match their SHA-256 raises `StoreError`."""

    @abstractmethod
    async def evidence_files(self, reference: str) -> list[str]:
        """The SHA-256 of every file kept for a case, in no particular order."""

    # ------------------------------------------------------------------ storage

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

    async def update_report(self, reference: str, change: ReportChange) -> Report | None:
        """The one way to change a stored report outside a person's own event:
        read its current version, apply `change`, write it if nobody wrote in
        between, else read and apply again. Returns the report as stored (None
        if there is no such report)."""
        for _ in range(UPDATE_ATTEMPTS):
            report = await self.get_report(reference)
            if report is None:
                return None
            events = change(report)
            if events is None:
                return report
            try:
                await self.save_report(report, events=events)
            except StaleReport:
                continue
            return report
        raise StoreError(f"{reference} kept changing while Harbour was updating it")

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
        """Store a changed report with its events, then the session (if a person is given).

        Only over the version it was read at: if the stored report has moved on
        since (`Report.version`), nothing is written and `StaleReport` is raised.
        On success `report.version` is the new stored version."""

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
        """Outbox events not yet delivered, oldest first. One that cannot be
        read is moved to the dead letters instead: it never raises here."""

    @abstractmethod
    async def mark_delivered(self, event_ids: Sequence[str], at: datetime) -> None: ...

    @abstractmethod
    async def park_event(self, event_id: str, reason: str) -> None:
        """Move a pending event that cannot be delivered (it keeps failing for a
        reason of its own) to the dead letters, so it stops being retried.
        `reason` must hold no content. An event not pending is left alone."""

    @abstractmethod
    async def dead_letters(self) -> list[DeadLetter]:
        """Every event set aside, oldest first (kept across restarts)."""

    @abstractmethod
    async def mark_dead_letter_reported(self, ids: Sequence[str]) -> None:
        """Remember that the leads and administrators were told about these."""

    @abstractmethod
    async def put_record(self, kind: RecordKind, key: str, value: dict[str, Any] | None) -> None:
        """Keep a small record by kind and key, or forget it (None): how to reach a
        person or channel (kind "contacts"), the team directory, deliveries made."""

    @abstractmethod
    async def get_record(self, kind: RecordKind, key: str) -> dict[str, Any] | None: ...

    @abstractmethod
    async def records(self, kind: RecordKind) -> dict[str, dict[str, Any]]:
        """Every record of a kind, by key."""

    @abstractmethod
    async def conversation_damaged(self, person: PersonRef) -> bool:
        """Whether this person's saved conversation was found damaged (and set
        aside, or put back as it was one step earlier) since she last wrote:
        asked once, so she can be told."""

    @abstractmethod
    async def check_writable(self) -> None:
        """Raise if the store cannot take a durable write now (for /healthz)."""

    @abstractmethod
    async def close(self) -> None: ...
