"""The store contract for data protection (issue 14): the audit chains,
finding and erasing what retention and erasure remove, and resealing after a
key rotation, run on every store as tests/test_store_contract.py runs the
rest: `MemoryStore`, `TinyStore` (files in pytest's temporary directory) and
`PostgresStore` (a real PostgreSQL from tests/pg.py, a schema of each test's
own). A store that keeps nothing once closed (`MemoryStore`) skips only what
is about reopening.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

import pytest
from sqlalchemy import text

from bot.models import PersonRef, TextMessage
from bot.privacy.audit import GENESIS, AuditAction, AuditEntry, digest, first_broken
from bot.privacy.keys import KeyRing, new_ring
from bot.privacy.sealing import Sealer
from bot.reports import DomainEvent, EventKind, Report, ReportStatus
from bot.session import Session
from bot.store import RecordKind, StaleReport, Store, TinyStore
from bot.store.base import GoneCase
from bot.store.postgres import PostgresStore
from tests.store_helpers import Factory, at, draft, event, person, session

if TYPE_CHECKING:  # imported by pytest_plugins below: an import here would come first
    from tests.store_backends import Backend

    pass

pytest_plugins = ["tests.pg", "tests.store_backends"]  # PostgreSQL; kind, opener, backend
reopens = pytest.mark.parametrize("kind", ["tiny", "postgres"], indirect=True)

ALICE = person("U-ALICE")
BOB = person("U-BOB")
MARKER = "WOMBAT4417"
"""Typed into what is sealed, to look for it where it must not be."""

"""For tests about what is still there after a restart."""


async def file_one(
    store: Store,
    who: PersonRef,
    draft_id: str,
    *,
    year: int = 2026,
    filed_at_s: float = 0,
    extra_events: Sequence[DomainEvent] = (),
) -> tuple[Report, Factory]:
    make = Factory(who, draft_id, filed_at=at(filed_at_s), extra_events=extra_events)
    filed = await store.file_report(
        year=year, draft_id=draft_id, make=make, person=who, session=None
    )
    return filed, make


def entry(
    reference: str | None,
    seconds: float,
    action: AuditAction = AuditAction.VIEWED,
    actor: str = "slack:T1:U-LEAD",
) -> AuditEntry:
    """An entry as a caller makes it: its place in the chain left to the store."""
    return AuditEntry(
        n=0, at=at(seconds), actor=actor, action=action, reference=reference, surface="slack"
    )


def links(entries: Sequence[AuditEntry], after: str = GENESIS) -> bool:
    """Whether `entries` hold as a run of a chain whose entry before them had
    the hash `after` (the whole chain: GENESIS): each hash its own, each
    naming the one before, numbered one after another."""
    previous = after
    for before, entry_ in zip([None, *entries], entries, strict=False):
        if entry_.hash != digest(entry_) or entry_.previous != previous:
            return False
        if before is not None and entry_.n != before.n + 1:
            return False
        previous = entry_.hash
    return True


def closed(report: Report, seconds: float) -> Report:
    report.status = ReportStatus.CLOSED
    report.closed_at = at(seconds)
    report.log(at(seconds), "closed", actor="slack:T1:U-LEAD")
    return report


def stamped(who: PersonRef, seconds: float, *drafts: Any) -> Session:
    return session(who, *drafts).model_copy(update={"updated_at": at(seconds)})


# --------------------------------------------------------------------------- audit


async def test_audit_entries_are_appended_in_order_and_linked(backend: Backend) -> None:
    store = backend.store
    filed, _ = await file_one(store, ALICE, "d1")
    made = [
        await store.append_audit(entry(filed.reference, 1, AuditAction.FILED, "slack:T1:U-ALICE")),
        await store.append_audit(entry(filed.reference, 2)),
        await store.append_audit(entry(filed.reference, 3, AuditAction.ACTED)),
    ]
    assert [e.n for e in made] == [1, 2, 3]
    assert made[0].previous == GENESIS
    assert [e.previous for e in made[1:]] == [e.hash for e in made[:-1]]
    chain = await store.audit_chain(filed.reference)
    assert chain == made
    assert first_broken(chain) is None
    assert [e.action for e in chain] == [AuditAction.FILED, AuditAction.VIEWED, AuditAction.ACTED]
    # A case is found however people type its reference.
    assert await store.audit_chain("hb-2026-1") == made


async def test_appends_at_once_each_take_their_own_place(backend: Backend) -> None:
    store = backend.store
    filed, _ = await file_one(store, ALICE, "d1")
    made = await asyncio.gather(
        *(store.append_audit(entry(filed.reference, n)) for n in range(20)),
        *(store.append_audit(entry(None, n, AuditAction.PURGED, "harbour")) for n in range(5)),
    )
    assert sorted(e.n for e in made[:20]) == list(range(1, 21))
    assert sorted(e.n for e in made[20:]) == [1, 2, 3, 4, 5]
    chain = await store.audit_chain(filed.reference)
    assert len(chain) == 20 and first_broken(chain) is None
    assert first_broken(await store.audit_chain(None)) is None


async def test_each_case_has_its_chain_and_the_store_one_of_its_own(backend: Backend) -> None:
    store = backend.store
    assert await store.audit_chains() == []
    first, _ = await file_one(store, ALICE, "d1")
    second, _ = await file_one(store, BOB, "d2", year=2027)
    third, _ = await file_one(store, BOB, "d3")
    assert await store.audit_chains() == []  # filing alone writes no audit here
    await store.append_audit(entry(second.reference, 1))
    await store.append_audit(entry(first.reference, 2))
    await store.append_audit(entry(first.reference, 3))
    assert await store.audit_chains() == [first.reference, second.reference]
    await store.append_audit(entry(None, 4, AuditAction.ERASED, "harbour"))

    assert await store.audit_chains() == [None, first.reference, second.reference]
    assert [e.n for e in await store.audit_chain(first.reference)] == [1, 2]
    assert [e.n for e in await store.audit_chain(second.reference)] == [1]
    [wide] = await store.audit_chain(None)
    assert (wide.n, wide.reference, wide.action) == (1, None, AuditAction.ERASED)
    assert await store.audit_chain(third.reference) == []
    assert await store.audit_chain("HB-2026-0099") == []
    assert await store.audit_chain("not a reference") == []


@reopens
async def test_the_audit_survives_a_reopen(backend: Backend) -> None:
    store = backend.store
    filed, _ = await file_one(store, ALICE, "d1")
    case = [await store.append_audit(entry(filed.reference, n)) for n in range(3)]
    wide = [await store.append_audit(entry(None, n, AuditAction.PURGED, "harbour")) for n in (1, 2)]

    store = await backend.reopen()
    assert await store.audit_chain(filed.reference) == case
    assert await store.audit_chain(None) == wide
    assert await store.audit_chains() == [None, filed.reference]
    later = await store.append_audit(entry(filed.reference, 9))
    assert (later.n, later.previous) == (4, case[-1].hash)


async def test_trimming_the_store_audit_keeps_the_rest_verifiable(backend: Backend) -> None:
    store = backend.store
    filed, _ = await file_one(store, ALICE, "d1")
    case = [await store.append_audit(entry(filed.reference, n)) for n in range(3)]
    wide = [
        await store.append_audit(entry(None, n, AuditAction.PURGED, "harbour")) for n in range(5)
    ]

    assert await store.trim_audit(at(2)) == 2
    kept = await store.audit_chain(None)
    assert kept == wide[2:]
    assert links(kept, after=wide[1].hash)  # the first kept still names the one dropped
    assert await store.trim_audit(at(2)) == 0
    assert await store.audit_chain(filed.reference) == case  # cases' chains are not trimmed
    later = await store.append_audit(entry(None, 9, AuditAction.ERASED, "harbour"))
    assert (later.n, later.previous) == (6, wide[-1].hash)
    assert links([*kept, later], after=wide[1].hash)
    if backend.kind != "memory":
        store = await backend.reopen()
        assert await store.audit_chain(None) == [*kept, later]


async def test_an_entry_out_of_time_order_stops_a_trim(backend: Backend) -> None:
    """Instances' clocks differ: an entry older than the one before it. A trim
    removes from the start of the chain up to the first entry not older than
    its limit, never from the middle, so what is kept still links."""
    store = backend.store
    first = await store.append_audit(entry(None, 1, AuditAction.PURGED, "harbour"))
    second = await store.append_audit(entry(None, 5, AuditAction.PURGED, "harbour"))
    behind = await store.append_audit(entry(None, 2, AuditAction.ERASED, "harbour"))
    assert await store.trim_audit(at(3)) == 1
    assert await store.audit_chain(None) == [second, behind]
    assert links([second, behind], after=first.hash)


# --------------------------------------------------------------------------- references


async def test_references_oldest_first_and_those_closed_before_a_time(backend: Backend) -> None:
    store = backend.store
    a1, _ = await file_one(store, ALICE, "d1", filed_at_s=1)
    b1, _ = await file_one(store, BOB, "d2", filed_at_s=2)
    a2, _ = await file_one(store, ALICE, "d3", year=2027, filed_at_s=3)
    a3, _ = await file_one(store, ALICE, "d4", filed_at_s=4)
    every = [a1.reference, b1.reference, a3.reference, a2.reference]
    assert await store.references() == every
    assert await store.references(closed_before=at(10_000)) == []

    await store.save_report(closed(a2, 100))
    await store.save_report(closed(b1, 200))
    await store.save_report(closed(a1, 150))

    assert await store.references() == every
    assert await store.references(closed_before=at(100)) == []
    assert await store.references(closed_before=at(101)) == [a2.reference]
    assert await store.references(closed_before=at(151)) == [a1.reference, a2.reference]
    assert await store.references(closed_before=at(201)) == [
        a1.reference,
        b1.reference,
        a2.reference,
    ]
    # Opened again: no longer closed.
    b1.status = ReportStatus.ACKNOWLEDGED
    b1.closed_at = None
    await store.save_report(b1)
    assert await store.references(closed_before=at(201)) == [a1.reference, a2.reference]
    if backend.kind != "memory":
        store = await backend.reopen()
        assert await store.references() == every
        assert await store.references(closed_before=at(201)) == [a1.reference, a2.reference]


# --------------------------------------------------------------------------- erasure


async def case_with_everything(
    store: Store, who: PersonRef, draft_id: str
) -> tuple[Report, list[DomainEvent]]:
    """A filed case with what is kept with it: two events (the first
    delivered), a delivery record of each, its card in the leads' channel and
    an audit chain. Returns the case and its events."""
    filed, make = await file_one(store, who, draft_id)
    changed = event(who, EventKind.CASE_CHANGED, when=at(1), reference=filed.reference)
    await store.save_report(filed, events=[changed])
    raised = [*make.events, changed]
    for number, each in enumerate(raised):
        await store.put_record(
            RecordKind.DELIVERIES,
            f"{each.id}:slack:D{number}",
            {"status": "sent", "message": "m1", "at": at(2).isoformat(), "attempts": 1},
        )
    await store.mark_delivered([raised[0].id], at(2))
    await store.put_record(
        RecordKind.CHANNEL_MESSAGES,
        filed.reference,
        {"platform": "slack", "address": "C1", "message": "m2"},
    )
    await store.append_audit(entry(filed.reference, 3, AuditAction.FILED, who.key))
    await store.append_audit(entry(filed.reference, 4))
    return filed, raised


async def test_erasing_a_report_leaves_nothing_of_it(backend: Backend) -> None:
    store = backend.store
    store.index_due(lambda report: report.filed_at)
    kept, kept_make = await file_one(store, BOB, "b1")
    await store.append_audit(entry(kept.reference, 1))
    kept_record = {f"{kept_make.events[0].id}:slack:DB": {"said": "done"}}
    for key, value in kept_record.items():
        await store.put_record(RecordKind.DELIVERIES, key, value)
    await store.put_record(
        RecordKind.CHANNEL_MESSAGES,
        kept.reference,
        {"platform": "slack", "address": "C1", "message": "m3"},
    )
    kept_chain = await store.audit_chain(kept.reference)
    erased, _ = await case_with_everything(store, ALICE, "a1")
    assert len(await store.pending_events()) == 2

    assert await store.erase_report(erased.reference) is True

    async def gone() -> None:
        assert await store.get_report(erased.reference) is None
        assert await store.reports_by(ALICE) == []
        assert [r.reference for r in await store.open_reports()] == [kept.reference]
        assert [r.reference for r in await store.reports_due(at(10_000))] == [kept.reference]
        assert [e.id for e in await store.pending_events()] == [kept_make.events[0].id]
        assert await store.records(RecordKind.DELIVERIES) == kept_record
        assert list(await store.records(RecordKind.CHANNEL_MESSAGES)) == [kept.reference]
        assert await store.audit_chain(erased.reference) == []
        assert await store.audit_chains() == [kept.reference]
        assert await store.audit_chain(kept.reference) == kept_chain
        assert await store.references() == [kept.reference]
        assert await store.get_report(kept.reference) == kept

    await gone()
    assert await store.erase_report(erased.reference) is False
    assert await store.erase_report("HB-2026-0099") is False
    assert await store.erase_report("not a reference") is False
    if backend.kind != "memory":
        store = await backend.reopen()
        store.index_due(lambda report: report.filed_at)
        await gone()
    # Its number is never handed out again.
    again, _ = await file_one(store, ALICE, "a2")
    assert again.reference == "HB-2026-0003"


async def test_a_copy_read_before_an_erasure_is_never_written_back(backend: Backend) -> None:
    """Someone's step (or an alert's timeline entry) read the case, then the
    purge or an administrator erased it: the save is refused as stale, and
    read again the case is gone, so nothing of it comes back."""
    store = backend.store
    filed, _ = await file_one(store, ALICE, "d1")
    read = await store.get_report(filed.reference)
    assert read is not None
    assert await store.erase_report(filed.reference)
    read.log(at(5), "note", BOB.key, "written after the erasure")
    with pytest.raises(StaleReport):
        await store.save_report(read)

    def change(report: Report) -> list[DomainEvent]:
        report.log(at(6), "alert-sent")
        return []

    assert await store.update_report(filed.reference, change) is None
    assert await store.get_report(filed.reference) is None
    assert await store.reports_by(ALICE) == []
    assert filed.reference not in await store.references()


async def test_no_audit_chain_outlives_its_case(backend: Backend) -> None:
    """An entry about a case erased meanwhile (an alert delivered just then),
    or never stored, is refused: nothing is written for it."""
    store = backend.store
    filed, _ = await file_one(store, ALICE, "d1")
    await store.append_audit(entry(filed.reference, 1))
    assert await store.erase_report(filed.reference)
    for reference in (filed.reference, "HB-2026-0999", "not a reference"):
        with pytest.raises(GoneCase):
            await store.append_audit(entry(reference, 2))
    assert await store.audit_chain(filed.reference) == []
    assert filed.reference not in await store.audit_chains()


async def test_erasing_a_closed_report_takes_it_out_of_those_closed(backend: Backend) -> None:
    store = backend.store
    first, _ = await file_one(store, ALICE, "d1")
    second, _ = await file_one(store, ALICE, "d2")
    await store.save_report(closed(first, 10))
    await store.save_report(closed(second, 20))
    assert await store.erase_report(first.reference)
    assert await store.references(closed_before=at(30)) == [second.reference]
    assert await store.reports_by(ALICE) == [second]


async def test_erasing_one_case_leaves_her_other_case_waiting(backend: Backend) -> None:
    store = backend.store
    erased, _ = await case_with_everything(store, ALICE, "d1")
    kept, kept_events = await case_with_everything(store, ALICE, "d2")
    kept_records = {
        key: value
        for key, value in (await store.records(RecordKind.DELIVERIES)).items()
        if key.partition(":")[0] in {e.id for e in kept_events}
    }
    kept_chain = await store.audit_chain(kept.reference)
    danger = event(ALICE, EventKind.RISK_CRITICAL, when=at(9), source="draft", draft_id="d3")
    await store.save_session(ALICE, session(ALICE, draft("d3")), events=[danger])

    assert await store.erase_report(erased.reference)
    assert [e.id for e in await store.pending_events()] == [kept_events[1].id, danger.id]
    assert await store.records(RecordKind.DELIVERIES) == kept_records
    assert await store.get_record(RecordKind.CHANNEL_MESSAGES, kept.reference) is not None
    assert await store.audit_chain(kept.reference) == kept_chain
    assert await store.reports_by(ALICE) == [kept]
    assert await store.load_session(ALICE) == session(ALICE, draft("d3"))


# --------------------------------------------------------------------------- people


async def test_idle_sessions_are_those_unchanged_since_a_time(backend: Backend) -> None:
    store = backend.store
    carol = person("U-CAROL")
    await store.save_session(ALICE, stamped(ALICE, 10, draft("a1")))
    await store.save_session(BOB, stamped(BOB, 20, draft("b1")))
    await store.save_session(carol, stamped(carol, 5, draft("c1")))
    await store.save_session(carol, None)  # nothing saved: nothing idle
    assert await store.idle_sessions(at(10)) == []
    assert await store.idle_sessions(at(11)) == [ALICE]
    assert await store.idle_sessions(at(21)) == [ALICE, BOB]
    await store.save_session(ALICE, stamped(ALICE, 30, draft("a1", revision=2)))
    assert await store.idle_sessions(at(21)) == [BOB]
    if backend.kind != "memory":
        store = await backend.reopen()
        assert await store.idle_sessions(at(31)) == [BOB, ALICE]


async def test_forgetting_a_person_leaves_nothing_in_her_name(backend: Backend) -> None:
    store = backend.store
    mine = stamped(ALICE, 1, draft("a1"))
    await store.save_session(ALICE, mine, event_id="ev-a1")
    await store.accept(TextMessage(event_id="ev-a2", person=ALICE, text=MARKER))
    theirs = stamped(BOB, 1, draft("b1"))
    await store.save_session(BOB, theirs, event_id="ev-b1")
    await store.accept(TextMessage(event_id="ev-b2", person=BOB, text="mine"))
    filed, _ = await file_one(store, ALICE, "a0")

    await store.forget_person(ALICE)

    async def forgotten() -> None:
        assert await store.load_session(ALICE) is None
        assert not await store.seen(ALICE, "ev-a1")
        later = datetime.max.replace(tzinfo=at(0).tzinfo)
        assert [e.event_id for e in await store.unhandled(later)] == ["ev-b2"]
        assert await store.idle_sessions(at(2)) == [BOB]
        assert await store.load_session(BOB) == theirs
        assert await store.seen(BOB, "ev-b1")
        assert await store.reports_by(ALICE) == [filed]  # erased with erase_report, not here

    await forgotten()
    await store.forget_person(ALICE)  # twice, or someone never seen: nothing to do
    await store.forget_person(person("U-NOBODY"))
    if backend.kind != "memory":
        store = await backend.reopen()
        await forgotten()
    # She can start again.
    await store.save_session(ALICE, mine, event_id="ev-a3")
    assert await store.load_session(ALICE) == mine


# --------------------------------------------------------------------------- pruning


async def test_prune_forgets_deliveries_finished_before_a_time(backend: Backend) -> None:
    store = backend.store
    early = event(ALICE, EventKind.CASE_CHANGED, when=at(1), reference="HB-2026-0001")
    late = event(ALICE, EventKind.CASE_CHANGED, when=at(2), reference="HB-2026-0001")
    waiting = event(ALICE, EventKind.CASE_CHANGED, when=at(3), reference="HB-2026-0001")
    filed, make = await file_one(store, ALICE, "d1", extra_events=[early, late, waiting])
    records: dict[str, dict[str, Any]] = {
        f"{early.id}:slack:D1": {"status": "sent", "message": "m", "at": at(10).isoformat()},
        f"{early.id}:slack:D2": {
            "status": "dropped",
            "failed_at": at(11).isoformat(),
            "attempts": 3,
        },
        f"{early.id}:slack:D3": {"status": "failed", "at": at(12).isoformat()},
        f"{early.id}:receipt": {"said": "done"},  # no time: kept
        f"{late.id}:slack:D1": {"status": "sent", "message": "m", "at": at(100).isoformat()},
        f"{waiting.id}:slack:D1": {
            "status": "retrying",
            "failed_at": at(10).isoformat(),
            "next_at": at(1000).isoformat(),
        },
    }
    for key, value in records.items():
        await store.put_record(RecordKind.DELIVERIES, key, value)
    await store.mark_delivered([make.events[0].id, early.id], at(10))
    await store.mark_delivered([late.id], at(100))

    assert await store.prune_delivered(at(50)) == 2 + 3
    assert [e.id for e in await store.pending_events()] == [waiting.id]
    assert sorted(await store.records(RecordKind.DELIVERIES)) == sorted(
        [f"{early.id}:receipt", f"{late.id}:slack:D1", f"{waiting.id}:slack:D1"]
    )
    assert await store.prune_delivered(at(50)) == 0
    if backend.kind != "memory":
        store = await backend.reopen()
        assert await store.prune_delivered(at(50)) == 0
    assert await store.prune_delivered(at(101)) == 1 + 1
    assert [e.id for e in await store.pending_events()] == [waiting.id]
    assert sorted(await store.records(RecordKind.DELIVERIES)) == sorted(
        [f"{early.id}:receipt", f"{waiting.id}:slack:D1"]
    )
    assert await store.get_report(filed.reference) == filed


# --------------------------------------------------------------------------- resealing


async def everything_stored(store: Store) -> str:
    """What a store holds, as stored: every file's bytes, or every row as text."""
    if isinstance(store, PostgresStore):
        async with store._read() as conn:
            tables = (
                await conn.execute(
                    text("SELECT tablename FROM pg_tables WHERE schemaname = current_schema()")
                )
            ).scalars()
            dumped: list[str] = []
            for table in list(tables):
                rows = await conn.execute(text(f'SELECT t::text FROM "{table}" t'))
                dumped.extend(rows.scalars())
        return "\n".join(dumped)
    assert isinstance(store, TinyStore) and store._dir is not None
    files = sorted(p for p in store._dir.rglob("*") if p.is_file())
    return "\n".join(p.read_bytes().decode("utf-8", "replace") for p in files)


async def test_resealing_after_a_rotation_leaves_nothing_the_old_key_opens(
    backend: Backend,
) -> None:
    old = new_ring("test")
    store = await backend.reopen(Sealer(old))
    filed, _ = await file_one(store, ALICE, "d1")
    filed.log(at(5), "note", actor="slack:T1:U-LEAD", detail=MARKER)
    await store.save_report(filed)  # written twice: a previous copy sealed with the old key
    closing, _ = await file_one(store, BOB, "d2")
    await store.save_report(closed(closing, 6))
    mine = session(ALICE, draft("a1", description=MARKER))
    await store.save_session(ALICE, session(ALICE, draft("a1")), event_id="ev-1")
    await store.save_session(ALICE, mine, event_id="ev-2")
    await store.accept(TextMessage(event_id="ev-3", person=ALICE, text=MARKER))
    await store.put_record(RecordKind.PEOPLE, ALICE.key, {"name": f"Ann {MARKER}"})
    await store.put_record(RecordKind.CONTACTS, ALICE.key, {"channel": "D1"})
    if backend.kind != "memory":
        assert f"hb1.{old.current}." in await everything_stored(store)

    both: KeyRing = old.rotated()
    store.sealer = Sealer(both)
    assert await store.reseal() >= 6  # two reports, a conversation, an event, two records
    if backend.kind != "memory":
        assert f"hb1.{old.current}." not in await everything_stored(store)
        assert f"hb1.{both.current}." in await everything_stored(store)

    store = await backend.reopen(Sealer(both.only_current()))
    assert await store.get_report(filed.reference) == filed
    assert await store.get_report(closing.reference) == closing
    assert await store.open_reports() == [filed]
    assert await store.load_session(ALICE) == mine
    later = datetime.max.replace(tzinfo=at(0).tzinfo)
    [accepted] = await store.unhandled(later)
    assert isinstance(accepted, TextMessage) and accepted.text == MARKER
    assert await store.get_record(RecordKind.PEOPLE, ALICE.key) == {"name": f"Ann {MARKER}"}
    assert await store.get_record(RecordKind.CONTACTS, ALICE.key) == {"channel": "D1"}
    # Writing goes on with the new key.
    await store.save_session(ALICE, None, event_id="ev-3")
    assert await store.load_session(ALICE) is None
