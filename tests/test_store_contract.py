"""The store contract: what every `Store` does, run on each of them.

The same tests run on `MemoryStore`, `TinyStore` (files in pytest's temporary
directory) and `PostgresStore` (a real PostgreSQL from tests/pg.py, a schema of
each test's own). A store that keeps nothing once closed (`MemoryStore`) skips
only the reopening test. What only the database store has (its schema, two
processes on one database, a failed transaction) is at the end.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import text

import bot.store.postgres as postgres
import bot.store.tiny as tiny
from bot.models import PersonRef, TextMessage
from bot.reports import DomainEvent, EventKind, Report, ReportStatus, ReportUpdate
from bot.session import Session
from bot.store import MemoryStore, RecordKind, StaleReport, Store, StoreError, TinyStore
from bot.store.postgres import PostgresStore
from tests.store_helpers import (
    Factory,
    at,
    draft,
    event,
    person,
    reflect_offer,
    refuse_to_make,
    report,
    session,
)

if TYPE_CHECKING:  # imported by pytest_plugins below: an import here would come first
    from tests.pg import OpenPostgres

pytest_plugins = ["tests.pg"]  # pg_url (one server for the session) and open_postgres

ALICE = person("U-ALICE")
BOB = person("U-BOB")
ELSEWHERE = "a-kind-from-elsewhere"
"""An event kind no Harbour knows: what makes an outbox entry unreadable here."""

Open = Callable[[], Awaitable[Store]]


class Backend:
    """One kind of store under test: `store` is the one open now; `reopen`
    closes it and opens another on the same data, as a restart does."""

    def __init__(self, kind: str, open_: Open) -> None:
        self.kind = kind
        self._open = open_
        self.opened: list[Store] = []
        self.store: Store

    async def start(self) -> Store:
        self.store = await self._open()
        self.opened.append(self.store)
        return self.store

    async def reopen(self) -> Store:
        await self.store.close()
        return await self.start()

    async def damage_event(self, event_id: str) -> None:
        """Make a pending outbox entry unreadable, as a newer Harbour or a hand
        edit could leave it."""
        store = self.store
        if isinstance(store, PostgresStore):
            async with store._write() as conn:
                await conn.execute(
                    text(
                        "UPDATE outbox SET doc = jsonb_set(doc, '{kind}', to_jsonb(CAST(:kind AS text))) "
                        "WHERE id = :id"
                    ),
                    {"kind": ELSEWHERE, "id": event_id},
                )
        else:
            assert isinstance(store, TinyStore)
            _, _, file, doc_id = store._pending[event_id]
            with file.batch():
                file.table("outbox").update({"kind": ELSEWHERE}, doc_ids=[doc_id])


@pytest.fixture(params=["memory", "tiny", "postgres"])
def kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def opener(kind: str, request: pytest.FixtureRequest, tmp_path: Path) -> Open:
    if kind == "postgres":
        open_pg: OpenPostgres = request.getfixturevalue("open_postgres")
        return open_pg
    if kind == "tiny":

        async def open_tiny() -> Store:
            return TinyStore(tmp_path / "data")

        return open_tiny
    memory = MemoryStore()

    async def open_memory() -> Store:
        return memory

    return open_memory


@pytest.fixture
async def backend(kind: str, opener: Open) -> AsyncIterator[Backend]:
    found = Backend(kind, opener)
    await found.start()
    yield found
    for store in found.opened:
        await store.close()


async def file_one(
    store: Store,
    who: PersonRef,
    draft_id: str,
    *,
    year: int = 2026,
    after: Session | None = None,
    event_id: str | None = None,
    filed_at_s: float = 0,
    extra_events: Sequence[DomainEvent] = (),
) -> tuple[Report, Factory]:
    make = Factory(who, draft_id, filed_at=at(filed_at_s), extra_events=extra_events)
    filed = await store.file_report(
        year=year, draft_id=draft_id, make=make, person=who, session=after, event_id=event_id
    )
    return filed, make


# --------------------------------------------------------------------------- conversations


async def test_a_conversation_is_saved_loaded_and_forgotten(backend: Backend) -> None:
    store = backend.store
    mine = session(ALICE, draft("d1", revision=3))
    assert await store.load_session(ALICE) is None
    await store.save_session(ALICE, mine, event_id="ev-1")
    assert await store.load_session(ALICE) == mine
    assert await store.load_session(BOB) is None

    changed = session(ALICE, draft("d1", revision=4), pending=reflect_offer("HB-2026-0001"))
    await store.save_session(ALICE, changed)  # no event id: a step Harbour took itself
    assert await store.load_session(ALICE) == changed

    await store.save_session(ALICE, session(ALICE), event_id="ev-2")  # nothing left in it
    assert await store.load_session(ALICE) is None
    await store.save_session(BOB, session(BOB, draft("b1")))
    await store.save_session(ALICE, None, event_id="ev-3")
    assert await store.load_session(ALICE) is None
    assert all([await store.seen(ALICE, f"ev-{n}") for n in (1, 2, 3)])
    assert await store.load_session(BOB) == session(BOB, draft("b1"))
    await store.save_session(BOB, None)
    assert await store.load_session(BOB) is None


async def test_event_ids_are_remembered_per_person_latest_first(
    backend: Backend, monkeypatch: pytest.MonkeyPatch
) -> None:
    for module in (tiny, postgres):
        monkeypatch.setattr(module, "SEEN_KEEP", 5)
    store = backend.store
    mine = session(ALICE, draft("d1"))
    for i in range(20):
        await store.save_session(ALICE, mine, event_id=f"ev-{i}")
    await store.save_session(ALICE, mine, event_id="ev-19")  # a redelivery adds nothing
    for i in range(30):  # Bob is busier: his events must not push Alice's out
        await store.save_session(BOB, None, event_id=f"bob-{i}")

    async def remembered(who: PersonRef, prefix: str, upto: int) -> list[int]:
        return [i for i in range(upto) if await store.seen(who, f"{prefix}-{i}")]

    assert await remembered(ALICE, "ev", 20) == [15, 16, 17, 18, 19]
    assert await remembered(BOB, "bob", 30) == [25, 26, 27, 28, 29]
    assert not await store.seen(BOB, "ev-19") and not await store.seen(ALICE, "bob-29")
    await store.save_session(ALICE, mine, event_id="ev-15")  # still remembered: stays put
    await store.save_session(ALICE, mine, event_id="ev-20")
    assert await remembered(ALICE, "ev", 21) == [16, 17, 18, 19, 20]


async def test_a_step_saves_its_session_event_id_and_events_together(backend: Backend) -> None:
    store = backend.store
    danger = event(ALICE, EventKind.RISK_CRITICAL, when=at(1), source="draft", draft_id="d1")
    mine = session(ALICE, draft("d1"))
    await store.save_session(ALICE, mine, event_id="ev-1", events=[danger])
    assert await store.load_session(ALICE) == mine
    assert await store.seen(ALICE, "ev-1")
    assert await store.pending_events() == [danger]
    # The same event queued again (a retried write) is one event.
    await store.save_session(ALICE, mine, events=[danger])
    assert await store.pending_events() == [danger]


# --------------------------------------------------------------------------- filing


async def test_reports_are_numbered_per_year_and_found_as_people_type_them(
    backend: Backend,
) -> None:
    store = backend.store
    refs = [
        (await file_one(store, ALICE, f"d{i}", year=y))[0]
        for i, y in enumerate([2026, 2026, 2027, 2026])
    ]
    assert [r.reference for r in refs] == [
        "HB-2026-0001",
        "HB-2026-0002",
        "HB-2027-0001",
        "HB-2026-0003",
    ]
    assert [(r.year, r.seq, r.version) for r in refs] == [
        (2026, 1, 1),
        (2026, 2, 1),
        (2027, 1, 1),
        (2026, 3, 1),
    ]
    assert await store.get_report("hb-2026-1") == refs[0]
    assert await store.get_report("HB-2027-0001") == refs[2]
    assert await store.get_report("HB-2026-0099") is None
    assert await store.get_report("HB-2031-0001") is None
    assert await store.get_report("not a reference") is None


async def test_filing_is_idempotent_per_draft(backend: Backend) -> None:
    store = backend.store
    before = session(ALICE, draft("d1", revision=12))
    await store.save_session(ALICE, before, event_id="ev-1")
    after = session(ALICE, pending=reflect_offer("HB-2026-0001"))
    filed, make = await file_one(store, ALICE, "d1", after=after, event_id="ev-2")
    assert make.calls == [(1, "HB-2026-0001")]
    assert await store.load_session(ALICE) == after and await store.seen(ALICE, "ev-2")
    assert await store.reports_by(ALICE) == [filed]

    # A double click, or a retry after the reply was lost: the report already filed.
    later = session(ALICE, draft("r1", flow="reflect", concern="the photos"))
    again = await store.file_report(
        year=2026, draft_id="d1", make=refuse_to_make, person=ALICE, session=later, event_id="ev-3"
    )
    assert again == filed
    assert await store.load_session(ALICE) == later  # the session part is still done
    assert await store.seen(ALICE, "ev-3")
    assert [e.id for e in await store.pending_events()] == [e.id for e in make.events]
    # Every draft whose result is in a report counts: an update's too.
    filed.updates.append(
        ReportUpdate.model_validate(
            {"id": "u1", "at": at(5), "answers": {"description": "More posts"}}
        )
    )
    await store.save_report(filed)
    assert (
        await store.file_report(
            year=2026, draft_id="u1", make=refuse_to_make, person=ALICE, session=None
        )
    ).reference == filed.reference
    assert (await file_one(store, ALICE, "d2"))[0].reference == "HB-2026-0002"


async def test_filing_one_draft_twice_at_once_files_it_once(backend: Backend) -> None:
    store = backend.store
    makes = [Factory(ALICE, "d1"), Factory(ALICE, "d1")]
    filed = await asyncio.gather(
        *(
            store.file_report(
                year=2026, draft_id="d1", make=make, person=ALICE, session=None, event_id=f"e{n}"
            )
            for n, make in enumerate(makes)
        )
    )
    assert filed[0] == filed[1]
    assert sorted(len(make.calls) for make in makes) == [0, 1]
    assert len(await store.pending_events()) == 1
    assert await store.seen(ALICE, "e0") and await store.seen(ALICE, "e1")


async def test_filing_many_drafts_at_once_gives_each_its_own_number(backend: Backend) -> None:
    store = backend.store
    who = [ALICE, BOB, person("U-CAROL"), person("U-DAN"), person("U-ERIN"), person("U-FAY")]
    filed = await asyncio.gather(*(file_one(store, p, f"d-{p.user}") for p in who))
    assert sorted(r.seq for r, _ in filed) == [1, 2, 3, 4, 5, 6]
    for (r, _), p in zip(filed, who, strict=True):
        assert await store.reports_by(p) == [r]


async def test_numbering_never_lands_on_a_stored_report(backend: Backend) -> None:
    store = backend.store
    await file_one(store, ALICE, "d1")
    # A report stored under a number the counter never gave (restored from elsewhere).
    placed = report(BOB, 3, "HB-2026-0003", "d-placed")
    await store.save_report(placed)
    assert placed.version == 1
    assert await store.get_report("HB-2026-0003") == placed
    nxt, _ = await file_one(store, ALICE, "d2")
    assert nxt.reference == "HB-2026-0004"
    assert await store.get_report("HB-2026-0003") == placed  # not written over
    assert (await file_one(store, ALICE, "d3", year=2027))[0].reference == "HB-2027-0001"


# --------------------------------------------------------------------------- versions


async def test_a_stale_copy_is_refused_and_nothing_is_written(backend: Backend) -> None:
    store = backend.store
    filed, make = await file_one(store, ALICE, "d1")
    stale = filed.model_copy(deep=True)
    filed.status = ReportStatus.ACKNOWLEDGED
    await store.save_report(filed)
    assert filed.version == 2

    stale.status = ReportStatus.CLOSED
    late = event(BOB, EventKind.CASE_CHANGED, when=at(9), reference=filed.reference)
    with pytest.raises(StaleReport):
        await store.save_report(
            stale, events=[late], person=BOB, session=session(BOB, draft("b1")), event_id="ev-b"
        )
    assert stale.version == 1
    stored = await store.get_report(filed.reference)
    assert stored == filed and stored is not None and stored.status is ReportStatus.ACKNOWLEDGED
    assert [e.id for e in await store.pending_events()] == [e.id for e in make.events]
    assert await store.load_session(BOB) is None and not await store.seen(BOB, "ev-b")
    assert [r.reference for r in await store.open_reports()] == [filed.reference]


async def test_two_concurrent_update_report_callers_both_land(
    backend: Backend, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = backend.store
    filed, _ = await file_one(store, ALICE, "d1")
    # Both callers read version 1 before either writes.
    real_get = store.get_report
    reads = 0
    both_read = asyncio.Event()

    async def get_report(reference: str) -> Report | None:
        nonlocal reads
        found = await real_get(reference)
        reads += 1
        if reads == 2:
            both_read.set()
        if reads <= 2:
            await asyncio.wait_for(both_read.wait(), 10)
        return found

    monkeypatch.setattr(store, "get_report", get_report)
    applied: list[str] = []

    def note(lead: str) -> Callable[[Report], list[DomainEvent]]:
        def change(report: Report) -> list[DomainEvent]:
            applied.append(lead)
            report.log(at(60), "note", actor=lead)
            return [event(ALICE, EventKind.CASE_CHANGED, when=at(60), reference=report.reference)]

        return change

    results = await asyncio.gather(
        store.update_report(filed.reference, note("lead-a")),
        store.update_report(filed.reference, note("lead-b")),
    )
    stored = await real_get(filed.reference)
    assert stored is not None and stored.version == 3
    assert sorted(e.actor or "" for e in stored.timeline if e.action == "note") == [
        "lead-a",
        "lead-b",
    ]
    # The one that lost re-read the report and applied its change again.
    assert len(applied) == 3 and set(applied) == {"lead-a", "lead-b"}
    assert sorted(r.version for r in results if r) == [2, 3]
    kinds = [e.kind for e in await store.pending_events()]
    assert kinds == [EventKind.REPORT_FILED, EventKind.CASE_CHANGED, EventKind.CASE_CHANGED]


async def test_update_report_of_nothing_or_no_change_writes_nothing(backend: Backend) -> None:
    store = backend.store
    assert await store.update_report("HB-2026-0001", lambda r: []) is None
    filed, _ = await file_one(store, ALICE, "d1")
    same = await store.update_report(filed.reference, lambda r: None)
    assert same == filed and same is not None and same.version == 1
    assert (await store.get_report(filed.reference)) == filed


async def test_reports_by_a_person_newest_first_and_open_reports_oldest_first(
    backend: Backend,
) -> None:
    store = backend.store
    a1, _ = await file_one(store, ALICE, "d1", filed_at_s=10)
    b1, _ = await file_one(store, BOB, "d2", filed_at_s=20)
    a2, _ = await file_one(store, ALICE, "d3", filed_at_s=30)
    a3, _ = await file_one(store, ALICE, "d4", year=2027, filed_at_s=40)
    assert await store.reports_by(ALICE) == [a3, a2, a1]
    assert await store.reports_by(BOB) == [b1]
    assert await store.reports_by(person("U-NOBODY")) == []
    assert await store.open_reports() == [a1, b1, a2, a3]
    a2.status = ReportStatus.CLOSED
    await store.save_report(a2)
    assert await store.open_reports() == [a1, b1, a3]
    assert await store.reports_by(ALICE) == [a3, a2, a1]  # closed ones are still hers


# --------------------------------------------------------------------------- outbox


async def test_the_outbox_lists_events_oldest_first_until_delivered(backend: Backend) -> None:
    store = backend.store
    e1 = event(ALICE, EventKind.RISK_CRITICAL, when=at(1), source="draft", draft_id="d1")
    await store.save_session(ALICE, session(ALICE, draft("d1")), events=[e1])
    e3 = event(ALICE, EventKind.RISK_CRITICAL, when=at(3), reference="HB-2026-0001")
    filed, make = await file_one(store, ALICE, "d1", filed_at_s=2, extra_events=[e3])
    e2 = make.events[0]
    e4 = event(ALICE, EventKind.REPORT_UPDATED, when=at(4), reference=filed.reference)
    filed.status = ReportStatus.IN_PROGRESS
    await store.save_report(filed, events=[e4], person=ALICE, session=None, event_id="ev-u")
    e5 = event(BOB, EventKind.RISK_CRITICAL, when=at(5), source="draft", draft_id="b1")
    e5_same_time = event(BOB, EventKind.RISK_CRITICAL, when=at(5), source="draft", draft_id="b1")
    await store.save_session(BOB, session(BOB, draft("b1")), events=[e5, e5_same_time])
    done = event(BOB, EventKind.RISK_CRITICAL, when=at(0)).model_copy(
        update={"delivered_at": at(0)}
    )
    await store.save_session(BOB, session(BOB, draft("b1")), events=[done])  # not pending
    # Queued late but raised early: listed by when it was raised.
    e0 = event(BOB, EventKind.RISK_CRITICAL, when=at(0.5), source="draft", draft_id="b1")
    await store.save_session(BOB, session(BOB, draft("b1")), events=[e0])

    assert await store.pending_events() == [e0, e1, e2, e3, e4, e5, e5_same_time]
    await store.mark_delivered([e2.id, e4.id, "no-such-event"], at(10))
    assert await store.pending_events() == [e0, e1, e3, e5, e5_same_time]
    await store.mark_delivered([e2.id], at(20))  # again: nothing changes
    await store.mark_delivered([], at(20))
    assert await store.pending_events() == [e0, e1, e3, e5, e5_same_time]


async def test_marks_made_at_the_same_time_are_all_kept(backend: Backend) -> None:
    store = backend.store
    events = [event(ALICE, EventKind.RISK_CRITICAL, when=at(i)) for i in range(12)]
    await store.save_session(ALICE, None, events=events)
    await asyncio.gather(*(store.mark_delivered([e.id], at(30)) for e in events[::2]))
    assert await store.pending_events() == events[1::2]
    await asyncio.gather(
        store.mark_delivered([e.id for e in events[1::4]], at(31)),
        store.mark_delivered([e.id for e in events[3::4]], at(31)),
        store.park_event(events[1].id, "ValueError while delivering"),
    )
    assert await store.pending_events() == []
    letters = await store.dead_letters()
    assert [d.id for d in letters] in ([], [events[1].id])  # parked, or delivered first


# --------------------------------------------------------------------------- dead letters


async def test_a_parked_event_leaves_the_outbox_for_the_dead_letters(backend: Backend) -> None:
    store = backend.store
    crit = event(ALICE, EventKind.RISK_CRITICAL, source="draft", draft_id="d1")
    await store.save_session(ALICE, session(ALICE, draft("d1")), events=[crit])
    filed, _ = await file_one(store, BOB, "d2")
    poison, good = await store.pending_events()
    assert poison == crit

    await store.park_event(poison.id, "ValueError while delivering")
    await store.park_event("no-such-event", "ValueError while delivering")  # nothing
    assert [e.reference for e in await store.pending_events()] == [filed.reference]
    [letter] = await store.dead_letters()
    assert (letter.id, letter.reason, letter.reported) == (
        poison.id,
        "ValueError while delivering",
        False,
    )
    assert letter.where
    await store.park_event(good.id, "KeyError while delivering")
    await store.mark_dead_letter_reported([poison.id, "no-such-letter"])
    await store.mark_dead_letter_reported([])
    assert {d.id: d.reported for d in await store.dead_letters()} == {
        poison.id: True,
        good.id: False,
    }
    assert [d.id for d in await store.dead_letters()] == [poison.id, good.id]  # oldest first
    assert await store.pending_events() == []
    await store.mark_delivered([poison.id], at(5))  # set aside: nothing to mark
    await store.park_event(poison.id, "again")  # no longer pending: left alone
    assert (await store.dead_letters())[0].reason == "ValueError while delivering"


async def test_an_unreadable_outbox_entry_is_set_aside_and_blocks_nothing(
    backend: Backend,
) -> None:
    store = backend.store
    first = event(ALICE, EventKind.RISK_CRITICAL, when=at(1), source="draft", draft_id="d1")
    await store.save_session(ALICE, session(ALICE, draft("d1")), events=[first])
    _, make = await file_one(store, BOB, "d2", filed_at_s=2)
    await backend.damage_event(first.id)

    assert await store.pending_events() == make.events
    [letter] = await store.dead_letters()
    assert letter.id == first.id and not letter.reported
    assert "kind" in letter.reason and ELSEWHERE not in letter.reason
    kept = await store.records(RecordKind.DEAD_LETTERS)  # kept whole, for whoever looks
    assert kept[first.id]["document"]["kind"] == ELSEWHERE
    assert await store.pending_events() == make.events  # set aside once
    assert [d.id for d in await store.dead_letters()] == [first.id]


# --------------------------------------------------------------------------- records


async def test_records_by_kind_and_key(backend: Backend) -> None:
    store = backend.store
    assert await store.get_record(RecordKind.CONTACTS, "slack:T1:U1") is None
    assert await store.records(RecordKind.CONTACTS) == {}
    await store.put_record(RecordKind.CONTACTS, "slack:T1:U2", {"channel": "D2"})
    await store.put_record(RecordKind.CONTACTS, "slack:T1:U1", {"channel": "D1", "n": [1, 2]})
    await store.put_record(RecordKind.PEOPLE, "slack:T1:U1", {"name": "Alice Jones"})
    await store.put_record(RecordKind.CONTACTS, "slack:T1:U2", {"channel": "D2b"})  # replaced
    await store.put_record(RecordKind.CONTACTS, "slack:T1:U2", {"channel": "D2b"})  # unchanged
    assert await store.get_record(RecordKind.CONTACTS, "slack:T1:U1") == {
        "channel": "D1",
        "n": [1, 2],
    }
    contacts = await store.records(RecordKind.CONTACTS)
    assert contacts == {
        "slack:T1:U2": {"channel": "D2b"},
        "slack:T1:U1": {"channel": "D1", "n": [1, 2]},
    }
    assert list(contacts) == ["slack:T1:U2", "slack:T1:U1"]  # in the order first put
    assert await store.records(RecordKind.PEOPLE) == {"slack:T1:U1": {"name": "Alice Jones"}}

    got = await store.get_record(RecordKind.CONTACTS, "slack:T1:U1")
    assert got is not None
    got["channel"] = "changed by the caller"  # a copy: the store is not changed by it
    assert (await store.get_record(RecordKind.CONTACTS, "slack:T1:U1") or {})["channel"] == "D1"

    await store.put_record(RecordKind.CONTACTS, "slack:T1:U2", None)
    await store.put_record(RecordKind.CONTACTS, "slack:T1:U9", None)  # nothing to forget
    assert list(await store.records(RecordKind.CONTACTS)) == ["slack:T1:U1"]
    assert await store.get_record(RecordKind.CONTACTS, "slack:T1:U2") is None
    for kind in RecordKind:  # every kind has room of its own
        await store.put_record(kind, "k", {"kind": kind.value})
    for kind in RecordKind:
        assert await store.get_record(kind, "k") == {"kind": kind.value}


async def test_the_store_is_writable_and_no_conversation_is_damaged(backend: Backend) -> None:
    store = backend.store
    await store.check_writable()
    await store.save_session(ALICE, session(ALICE, draft("d1")), event_id="ev-1")
    assert not await store.conversation_damaged(ALICE)


async def test_a_closed_store_refuses_work(backend: Backend) -> None:
    store = backend.store
    await store.close()
    with pytest.raises(StoreError, match="closed"):
        await store.load_session(ALICE)
    with pytest.raises(StoreError, match="closed"):
        await store.save_session(ALICE, None, event_id="ev-1")
    await store.close()  # twice is fine


# --------------------------------------------------------------------------- reopening


@pytest.mark.parametrize("kind", ["tiny", "postgres"], indirect=True)
async def test_everything_survives_a_reopen(backend: Backend) -> None:
    store = backend.store
    danger = event(ALICE, EventKind.RISK_CRITICAL, when=at(1), source="draft", draft_id="d1")
    await store.save_session(
        ALICE, session(ALICE, draft("d1", revision=1)), event_id="ev-1", events=[danger]
    )
    after = session(ALICE, draft("r1", flow="reflect", concern="the photos"))
    filed_a, make_a = await file_one(store, ALICE, "d1", after=after, event_id="ev-2", filed_at_s=2)
    filed_b, make_b = await file_one(store, BOB, "d2", event_id="ev-3", filed_at_s=3)
    filed_c, _ = await file_one(store, BOB, "d3", year=2027, filed_at_s=4)
    filed_b.status = ReportStatus.CLOSED
    await store.save_report(filed_b)
    await store.mark_delivered([make_b.events[0].id], at(5))
    await store.park_event(make_a.events[0].id, "ValueError while delivering")
    await store.put_record(RecordKind.CONTACTS, "slack:T1:U1", {"channel": "D1"})
    await store.put_record(RecordKind.LEADS, "slack:T1:U7", {"added_by": "admin"})
    before = {
        "pending": await store.pending_events(),
        "letters": await store.dead_letters(),
        "contacts": await store.records(RecordKind.CONTACTS),
    }

    store = await backend.reopen()
    assert await store.load_session(ALICE) == after
    assert await store.load_session(BOB) is None
    for who, event_id in ((ALICE, "ev-1"), (ALICE, "ev-2"), (BOB, "ev-3")):
        assert await store.seen(who, event_id), event_id
    assert not await store.seen(BOB, "ev-1")
    assert await store.get_report(filed_a.reference) == filed_a
    assert await store.get_report(filed_b.reference) == filed_b and filed_b.version == 2
    assert await store.reports_by(BOB) == [filed_c, filed_b]
    assert await store.open_reports() == [filed_a, filed_c]
    assert await store.pending_events() == before["pending"]
    assert [e.reference for e in before["pending"]] == [None, filed_c.reference]
    assert await store.dead_letters() == before["letters"]
    assert await store.records(RecordKind.CONTACTS) == before["contacts"]
    assert await store.get_record(RecordKind.LEADS, "slack:T1:U7") == {"added_by": "admin"}
    # Filing goes on where it stopped, and still knows the drafts already filed.
    assert (await file_one(store, BOB, "d4"))[0].reference == "HB-2026-0003"
    assert (await file_one(store, BOB, "d5", year=2027))[0].reference == "HB-2027-0002"
    again = await store.file_report(
        year=2026, draft_id="d1", make=refuse_to_make, person=ALICE, session=after
    )
    assert again == filed_a
    # A stale copy from before the restart is still refused.
    with pytest.raises(StaleReport):
        await store.save_report(filed_b.model_copy(update={"version": 1}))


# --------------------------------------------------------------------------- timers


def due_by_note(report: Report) -> datetime | None:
    """A due rule for the tests: the time in the report's last "due" entry, if any."""
    found = [e.detail for e in report.timeline if e.action == "due"]
    return datetime.fromisoformat(found[-1]) if found else None


async def test_the_timers_read_only_the_reports_that_are_due(backend: Backend) -> None:
    store = backend.store
    store.index_due(due_by_note)
    soon, later = await file_one(store, ALICE, "d1"), await file_one(store, BOB, "d2")
    never, _ = await file_one(store, person("U-CAROL"), "d3")
    first, second = soon[0], later[0]

    def due_at(seconds: float) -> Callable[[Report], list[DomainEvent]]:
        def change(report: Report) -> list[DomainEvent]:
            report.log(at(0), "due", None, at(seconds).isoformat())
            return []

        return change

    await store.update_report(first.reference, due_at(60))
    await store.update_report(second.reference, due_at(600))
    assert await store.reports_due(at(59)) == []
    assert [r.reference for r in await store.reports_due(at(60))] == [first.reference]
    assert [r.reference for r in await store.reports_due(at(600))] == [
        first.reference,
        second.reference,
    ]
    # A change moves it; closing a case takes it off the timers.
    await store.update_report(first.reference, due_at(900))
    closed = await store.get_report(second.reference)
    assert closed is not None
    closed.status = ReportStatus.CLOSED
    await store.save_report(closed)
    assert await store.reports_due(at(600)) == []
    assert [r.reference for r in await store.reports_due(at(900))] == [first.reference]
    assert never.reference not in {r.reference for r in await store.reports_due(at(10**6))}


async def test_reports_stored_before_the_rule_was_known_are_looked_at_once(
    backend: Backend,
) -> None:
    """A store opened by a tool with no timers (or by an older Harbour) does not
    know when its reports are due: the next pass asks the rule and remembers."""
    store = backend.store
    filed, _ = await file_one(store, ALICE, "d1")
    if backend.kind != "memory":
        store = await backend.reopen()
    asked: list[str] = []

    def rule(report: Report) -> datetime | None:
        asked.append(report.reference)
        return at(3600)

    store.index_due(rule)
    assert await store.reports_due(at(60)) == []
    assert await store.reports_due(at(60)) == []
    assert [r.reference for r in await store.reports_due(at(3600))] == [filed.reference]
    if backend.kind == "postgres":  # indexed: read once while unknown, then only when due
        assert asked == [filed.reference, filed.reference]


# --------------------------------------------------------------------------- the database store


async def test_the_migrated_schema_is_the_one_the_queries_use(open_postgres: OpenPostgres) -> None:
    store = await open_postgres()

    def differences(connection: Any) -> list[Any]:
        context = MigrationContext.configure(
            connection, opts={"version_table": postgres.VERSION_TABLE}
        )
        return list(compare_metadata(context, postgres.metadata))

    async with store._read() as conn:
        assert await conn.run_sync(differences) == []
        version = await conn.scalar(text(f"SELECT version_num FROM {postgres.VERSION_TABLE}"))
    assert version == "0004"
    await store.close()
    await open_postgres()  # up to date: opening again changes nothing


async def test_two_processes_opening_at_once_migrate_once(open_postgres: OpenPostgres) -> None:
    first, second = await asyncio.gather(open_postgres(), open_postgres())
    await first.save_session(ALICE, session(ALICE, draft("d1")), event_id="ev-1")
    assert await second.seen(ALICE, "ev-1")


async def test_two_processes_share_one_database(open_postgres: OpenPostgres) -> None:
    one, two = await open_postgres(), await open_postgres()
    # Filing from both at once: one number each, and one report per draft.
    filed = await asyncio.gather(
        *(file_one(s, ALICE if s is one else BOB, f"d{i}") for i, s in enumerate([one, two] * 4))
    )
    assert sorted(r.seq for r, _ in filed) == list(range(1, 9))
    makes = [Factory(ALICE, "same"), Factory(ALICE, "same")]
    same = await asyncio.gather(
        *(
            s.file_report(year=2026, draft_id="same", make=m, person=ALICE, session=None)
            for s, m in zip([one, two], makes, strict=True)
        )
    )
    assert same[0] == same[1] and sorted(len(m.calls) for m in makes) == [0, 1]

    # Changing one report from both: every change lands, none over another.
    def noting(lead: str) -> Callable[[Report], list[DomainEvent]]:
        def change(report: Report) -> list[DomainEvent]:
            report.log(at(60), "note", actor=lead)
            return []

        return change

    ref = filed[0][0].reference
    await asyncio.gather(
        *(s.update_report(ref, noting(f"lead-{i}")) for i, s in enumerate([one, two] * 5))
    )
    stored = await one.get_report(ref)
    assert stored is not None and stored.version == 11
    assert sorted(e.actor or "" for e in stored.timeline) == sorted(f"lead-{i}" for i in range(10))

    # Delivering from both: every mark is kept.
    pending = await one.pending_events()
    assert len(pending) == 9
    await asyncio.gather(
        *((one if i % 2 else two).mark_delivered([e.id], at(70 + i)) for i, e in enumerate(pending))
    )
    assert await one.pending_events() == [] and await two.pending_events() == []


async def test_a_failed_transaction_writes_nothing(
    open_postgres: OpenPostgres, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = await open_postgres()
    before = session(ALICE, draft("d1", revision=3))
    await store.save_session(ALICE, before, event_id="ev-1")

    async def broken(conn: Any, events: Sequence[DomainEvent]) -> None:
        raise ConnectionError("the database went away")

    with monkeypatch.context() as m:
        m.setattr(PostgresStore, "_queue", staticmethod(broken))
        with pytest.raises(ConnectionError):
            await file_one(store, ALICE, "d1", after=None, event_id="ev-2")
        with pytest.raises(ConnectionError):
            await store.save_session(
                ALICE, session(ALICE, draft("d1", revision=4)), event_id="ev-3"
            )
    assert await store.get_report("HB-2026-0001") is None
    assert await store.reports_by(ALICE) == []
    assert await store.load_session(ALICE) == before
    assert not await store.seen(ALICE, "ev-2") and not await store.seen(ALICE, "ev-3")
    assert await store.pending_events() == []
    # The number it had counted was never told to anyone: it is given now.
    assert (await file_one(store, ALICE, "d1"))[0].reference == "HB-2026-0001"


async def test_numbers_are_never_given_again_even_if_a_report_is_lost(
    open_postgres: OpenPostgres,
) -> None:
    store = await open_postgres()
    for i in range(3):
        await file_one(store, ALICE, f"d{i}")
    async with store._write() as conn:  # someone deletes the newest report by hand
        await conn.execute(text("DELETE FROM reports WHERE year = 2026 AND seq = 3"))
    assert (await file_one(store, ALICE, "d9"))[0].reference == "HB-2026-0004"


async def test_text_postgres_cannot_hold_is_stored_not_refused(open_postgres: OpenPostgres) -> None:
    store = await open_postgres()
    value = {"name": "A\x00B", "literal": "\\u0000 stays as typed", "esc": "\\\x00"}
    await store.put_record(RecordKind.PEOPLE, "k", value)
    assert await store.get_record(RecordKind.PEOPLE, "k") == {
        "name": "A\ufffdB",
        "literal": "\\u0000 stays as typed",
        "esc": "\\\ufffd",
    }


async def test_opening_refuses_what_is_not_a_reachable_postgresql() -> None:
    with pytest.raises(StoreError, match="not a database URL"):
        await PostgresStore.open("harbour")
    with pytest.raises(StoreError, match="needs PostgreSQL"):
        await PostgresStore.open("sqlite:///harbour.db")
    with pytest.raises(StoreError, match="not a schema name"):
        await PostgresStore.open("postgresql://h/db", schema="Robert'); DROP")
    with pytest.raises(StoreError, match="could not reach the database") as refused:
        await PostgresStore.open("postgresql://harbour:s3cret@/harbour?host=/nonexistent-dir")
    assert "s3cret" not in str(refused.value)


# --------------------------------------------------------------------------- several processes, one database
# Two PostgresStores on one schema are two Harbour processes.

LEASE = timedelta(minutes=2)


async def test_a_pending_event_is_claimed_by_one_process_at_a_time(
    open_postgres: OpenPostgres,
) -> None:
    first, second = await open_postgres(), await open_postgres()
    filed = event(ALICE, reference="HB-2026-0001")
    await first.save_session(ALICE, None, event_id="ev-1", events=[filed])

    assert [e.id for e in await first.claim_events(LEASE)] == [filed.id]
    assert await second.claim_events(LEASE) == []
    # Renewing its own claim is claiming again.
    assert [e.id for e in await first.claim_events(LEASE)] == [filed.id]

    # A later event of the same case stays with whoever holds its first one.
    later = event(ALICE, EventKind.REPORT_UPDATED, reference="HB-2026-0001")
    other_case = event(BOB, reference="HB-2026-0002")
    await first.save_session(BOB, None, event_id="ev-2", events=[later, other_case])
    assert [e.id for e in await second.claim_events(LEASE)] == [other_case.id]
    assert {e.id for e in await first.claim_events(LEASE)} == {filed.id, later.id}

    # Delivered, it is nobody's; closed, a process lets go of what it held at once.
    await first.mark_delivered([filed.id], at(0))
    await first.close()
    assert {e.id for e in await second.claim_events(LEASE)} == {later.id, other_case.id}


async def test_a_dead_process_s_claims_lapse(open_postgres: OpenPostgres) -> None:
    first, second = await open_postgres(), await open_postgres()
    filed = event(ALICE, reference="HB-2026-0001")
    await first.save_session(ALICE, None, event_id="ev-1", events=[filed])
    assert await first.claim_events(timedelta(milliseconds=1))
    await asyncio.sleep(0.01)  # it never renewed: as if killed
    assert [e.id for e in await second.claim_events(LEASE)] == [filed.id]
    assert await first.claim_events(LEASE) == []


async def test_a_process_asks_before_each_send_whether_an_event_is_still_its_own(
    open_postgres: OpenPostgres,
) -> None:
    """A batch that took longer than its lease: another process took one of
    its events meanwhile, so the first leaves it rather than send it twice;
    one still its own is renewed, and nobody can take it for another lease."""
    first, second = await open_postgres(), await open_postgres()
    slow = event(ALICE, reference="HB-2026-0001")
    await first.save_session(ALICE, None, event_id="ev-1", events=[slow])
    assert [e.id for e in await first.claim_events(timedelta(milliseconds=1))] == [slow.id]
    assert await first.still_mine(slow.id, timedelta(milliseconds=1))
    await asyncio.sleep(0.01)
    assert [e.id for e in await second.claim_events(LEASE)] == [slow.id]
    assert not await first.still_mine(slow.id, LEASE)
    assert await second.claim_events(LEASE) == [slow], "renewing is claiming again"
    assert await second.still_mine(slow.id, LEASE)
    await second.mark_delivered([slow.id], at(0))
    assert not await second.still_mine(slow.id, LEASE), "delivered: nobody's"


async def test_two_processes_claiming_at_once_never_share_an_event(
    open_postgres: OpenPostgres,
) -> None:
    stores = [await open_postgres() for _ in range(3)]
    events = [event(person(f"U-{n}"), reference=f"HB-2026-{n:04d}") for n in range(1, 61)]
    await stores[0].save_session(ALICE, None, event_id="ev-1", events=events)
    claimed = await asyncio.gather(*(s.claim_events(LEASE) for s in stores))
    ids = [e.id for batch in claimed for e in batch]
    assert len(ids) == len(set(ids))
    # Whatever a claimer skipped while another was claiming is claimed next time.
    # Claiming again (a batch at a time) until nothing new comes: every event
    # is claimed, each by one process.
    owner: dict[str, int] = {}
    for n, store in enumerate(stores):
        while fresh := [e for e in await store.claim_events(LEASE) if e.id not in owner]:
            for e in fresh:
                owner[e.id] = n
    assert set(owner) == {e.id for e in events}
    assert all(owner[i] == n for n, batch in enumerate(claimed) for i in (e.id for e in batch))


async def test_a_duty_is_held_by_one_process_until_it_lapses_or_is_let_go(
    open_postgres: OpenPostgres,
) -> None:
    first, second, third = await open_postgres(), await open_postgres(), await open_postgres()
    assert await first.hold_lease("timers", LEASE)
    assert not await second.hold_lease("timers", LEASE)
    assert await first.hold_lease("timers", LEASE)  # renewed
    assert await second.hold_lease("other duty", LEASE)
    await first.close()
    assert await second.hold_lease("timers", timedelta(milliseconds=1))
    await asyncio.sleep(0.01)
    assert await third.hold_lease("timers", LEASE)


async def test_one_event_per_person_at_a_time_across_processes(
    open_postgres: OpenPostgres,
) -> None:
    first, second = await open_postgres(), await open_postgres()
    async with first.person_turn(ALICE.key):
        waiting = asyncio.create_task(_turn(second, ALICE.key))
        await asyncio.sleep(0.2)
        assert not waiting.done()  # her next event waits in the other process
        async with asyncio.timeout(5):
            await _turn(second, BOB.key)  # someone else's does not
    async with asyncio.timeout(5):
        await waiting


async def _turn(store: Store, key: str) -> None:
    async with store.person_turn(key):
        pass


async def test_an_accepted_event_is_kept_until_it_was_answered(
    open_postgres: OpenPostgres,
) -> None:
    first, second = await open_postgres(), await open_postgres()
    typed = TextMessage(event_id="ev-1", person=ALICE, text="hello")
    pressed = TextMessage(event_id="ev-2", person=ALICE, text="again")
    dropped = TextMessage(event_id="ev-3", person=BOB, text="later")
    for e in (typed, pressed, dropped):
        await first.accept(e)
    await first.accept(typed)  # accepted twice (a platform's retry): kept once
    soon = datetime.now(UTC) + timedelta(seconds=5)
    assert await second.unhandled(older_than=datetime.now(UTC) - timedelta(minutes=1)) == []
    assert await second.unhandled(older_than=soon) == [typed, pressed, dropped]

    # Handled, it is kept until its answer went out (the process may die between).
    await first.save_session(ALICE, session(ALICE, draft("d1")), event_id="ev-1")
    assert await second.unhandled(older_than=soon) == [typed, pressed, dropped]
    await first.drop_accepted(ALICE, "ev-1")
    await first.drop_accepted(BOB, "ev-3")
    assert await second.unhandled(older_than=soon) == [pressed]


async def test_alerts_a_process_still_holds_never_crowd_out_new_ones(
    open_postgres: OpenPostgres,
) -> None:
    """An outage holding back more alerts than one claim takes must not stop
    the alerts after them from being claimed (they would wait forever)."""
    store = await open_postgres()
    waiting = [event(person(f"U-{n}"), reference=f"HB-2026-{n:04d}") for n in range(1, 26)]
    await store.save_session(ALICE, None, event_id="ev-1", events=waiting)
    held: set[str] = set()
    while fresh := {e.id for e in await store.claim_events(LEASE)} - held:
        held |= fresh
    assert held == {e.id for e in waiting}
    later = event(BOB, reference="HB-2026-0099")
    await store.save_session(BOB, None, event_id="ev-2", events=[later])
    assert later.id in {e.id for e in await store.claim_events(LEASE)}
