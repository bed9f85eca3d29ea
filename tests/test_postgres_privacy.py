"""What only the PostgreSQL store has to show for data protection: two
processes appending to one audit chain, the migration of a database holding
reports, an erasure that is one transaction, a reseal that leaves nothing
sealed with the old key, checked in the tables themselves."""

from __future__ import annotations

import asyncio
import io
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from alembic import command
from alembic.config import Config
from sqlalchemy import Connection, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection, create_async_engine

import bot.store.postgres as postgres
from bot.models import TextMessage
from bot.privacy import setup, trail
from bot.privacy.audit import AuditAction, AuditEntry, first_broken
from bot.privacy.keys import new_ring
from bot.privacy.sealing import Sealer
from bot.reports import EventKind, Report, ReportStatus
from bot.store import RecordKind, StaleReport, StoreError
from bot.store.postgres import PostgresStore, _database_url
from tests.store_helpers import T0, Factory, at, draft, event, person, report, session

if TYPE_CHECKING:  # imported by pytest_plugins below: an import here would come first
    from tests.pg import OpenPostgres

pytest_plugins = ["tests.pg"]

ALICE = person("U-ALICE")
BOB = person("U-BOB")
DAY = timedelta(days=1)


def entry(reference: str | None, seconds: float = 0, actor: str = "U-LEAD") -> AuditEntry:
    return AuditEntry(
        n=0, at=at(seconds), actor=actor, action=AuditAction.VIEWED, reference=reference
    )


async def file(store: PostgresStore, who: Any, draft_id: str, seconds: float = 0) -> Report:
    """A report filed, with a second event about it queued after."""
    make = Factory(who, draft_id, filed_at=at(seconds))
    filed = await store.file_report(
        year=2026, draft_id=draft_id, make=make, person=who, session=None
    )
    later = event(who, EventKind.RISK_CRITICAL, when=at(seconds + 1), reference=filed.reference)
    await store.save_report(filed, events=[later])
    return filed


async def rows_holding(store: PostgresStore, needle: str) -> dict[str, int]:
    """Every table of the store's schema with rows whose text holds `needle`, and how many."""
    found: dict[str, int] = {}
    async with store._read() as conn:
        tables = await conn.scalars(
            text("SELECT tablename FROM pg_tables WHERE schemaname = current_schema()")
        )
        for table in list(tables):
            count = await conn.scalar(
                text(f'SELECT count(*) FROM "{table}" AS t WHERE CAST(t.* AS text) LIKE :like'),
                {"like": f"%{needle}%"},
            )
            if count:
                found[table] = count
    return found


async def snapshot(store: PostgresStore) -> dict[str, list[str]]:
    """Every row of every table, as text."""
    found: dict[str, list[str]] = {}
    async with store._read() as conn:
        tables = await conn.scalars(
            text("SELECT tablename FROM pg_tables WHERE schemaname = current_schema()")
        )
        for table in list(tables):
            rows = await conn.scalars(text(f'SELECT CAST(t.* AS text) FROM "{table}" AS t'))
            found[table] = sorted(rows)
    return found


# --------------------------------------------------------------------------- audit


async def test_two_processes_appending_to_one_chain_make_one_unbroken_chain(
    open_postgres: OpenPostgres,
) -> None:
    one, two = await open_postgres(), await open_postgres()
    case = (await file(one, ALICE, "d1")).reference
    appends = [
        store.append_audit(entry(reference, seconds=i))
        for i in range(20)
        for store in (one, two)
        for reference in (case, None)
    ]
    placed = await asyncio.gather(*appends)
    for reference in (case, None):
        chain = await one.audit_chain(reference)
        assert [e.n for e in chain] == list(range(1, 41))
        assert first_broken(chain) is None
        assert chain == await two.audit_chain(reference)
        assert sorted(e.n for e in placed if e.reference == reference) == list(range(1, 41))
    assert await two.audit_chains() == [None, case]


async def test_a_trimmed_store_wide_chain_goes_on_from_its_last_entry(
    open_postgres: OpenPostgres,
) -> None:
    store = await open_postgres()
    case = (await file(store, ALICE, "d1")).reference
    for i in range(4):
        await store.append_audit(entry(None, seconds=i))
    await store.append_audit(entry(case))
    assert await store.trim_audit(at(2)) == 2
    kept = await store.audit_chain(None)
    assert [e.n for e in kept] == [3, 4] and first_broken(kept, trimmed=True) is None
    following = await store.append_audit(entry(None, seconds=9))
    assert following.n == 5 and following.previous == kept[-1].hash
    assert [e.n for e in await store.audit_chain(case)] == [1]  # a case's is not trimmed


# --------------------------------------------------------------------------- the migration


@pytest.fixture
async def schema(pg_url: str) -> AsyncIterator[str]:
    """A schema of this test's own, dropped when it ends."""
    name = f"test_{uuid.uuid4().hex[:16]}"
    yield name
    engine = create_async_engine(_database_url(pg_url))
    try:
        async with engine.begin() as conn:
            await conn.execute(text(f'DROP SCHEMA IF EXISTS "{name}" CASCADE'))
    finally:
        await engine.dispose()


def _upgrade(connection: Connection, schema: str, revision: str) -> None:
    """The schema as Harbour left it at `revision` (as `postgres._migrate` does, not to head)."""
    connection.execute(text(f'CREATE SCHEMA IF NOT EXISTS "{schema}"'))
    config = Config()
    config.set_main_option("script_location", str(postgres.MIGRATIONS).replace("%", "%%"))
    config.attributes["connection"] = connection
    config.attributes["schema"] = schema
    command.upgrade(config, revision)


def _closed(seq: int, filed: datetime, closed: datetime | None, *, says_when: bool) -> Report:
    """A closed report as an older Harbour wrote it: its timeline says when
    it was closed (if `closed`), and `closed_at` only if `says_when`."""
    made = report(ALICE, seq, f"HB-2026-{seq:04d}", f"d{seq}", filed_at=filed)
    made.status = ReportStatus.CLOSED
    made.log(filed + timedelta(hours=1), "acknowledged", "U-LEAD")
    if closed is not None:
        made.log(closed, "closed", "U-LEAD")
    made.closed_at = closed if says_when else None
    made.version = 1
    return made


async def _insert_at_0002(conn: AsyncConnection, sealer: Sealer, made: Report) -> None:
    doc = made.model_dump(mode="json")
    if made.closed_at is None:
        del doc["closed_at"]  # written before the field existed
    await conn.execute(
        text(
            "INSERT INTO reports (year, seq, reference, reporter_key, filed_at, status, version, "
            "doc, due_at) VALUES (:year, :seq, :reference, :reporter, :filed, :status, 1, "
            "CAST(:doc AS jsonb), NULL)"
        ),
        {
            "year": made.year,
            "seq": made.seq,
            "reference": made.reference,
            "reporter": made.reporter.key,
            "filed": made.filed_at,
            "status": made.status.value,
            "doc": postgres._to_json(sealer.report_out(doc)),
        },
    )


async def test_the_migration_fills_in_when_closed_reports_were_closed(
    pg_url: str, schema: str
) -> None:
    ring = new_ring("test")
    sealed, clear = Sealer(ring), Sealer(None)
    unsealed_closed = _closed(1, T0, T0 + 10 * DAY, says_when=False)
    says_when = _closed(2, T0, T0 + 20 * DAY, says_when=True)
    sealed_timeline = _closed(3, T0, T0 + 30 * DAY, says_when=False)
    never_said = _closed(5, T0 + 2 * DAY, None, says_when=False)
    still_open = report(BOB, 4, "HB-2026-0004", "d4")
    still_open.version = 1
    waiting = session(ALICE, draft("d9"))

    engine = create_async_engine(
        _database_url(pg_url), connect_args={"server_settings": {"search_path": schema}}
    )
    try:
        async with engine.begin() as conn:
            await conn.run_sync(_upgrade, schema, "0002")
            await _insert_at_0002(conn, clear, unsealed_closed)
            for made in (says_when, sealed_timeline, still_open):
                await _insert_at_0002(conn, sealed, made)
            await _insert_at_0002(conn, clear, never_said)
            await conn.execute(
                text(
                    "INSERT INTO conversations (person_key, session) VALUES (:k, CAST(:s AS jsonb))"
                ),
                {
                    "k": ALICE.key,
                    "s": postgres._to_json(
                        sealed.session_out(ALICE.key, waiting.model_dump(mode="json"))
                    ),
                },
            )
    finally:
        await engine.dispose()

    store = await PostgresStore.open(pg_url, schema=schema, sealer=sealed)
    try:

        async def column() -> dict[str, datetime | None]:
            async with store._read() as conn:
                rows = await conn.execute(text("SELECT reference, closed_at FROM reports"))
                return {row.reference: row.closed_at for row in rows}

        assert await column() == {
            "HB-2026-0001": T0 + 10 * DAY,  # from its timeline, in clear
            "HB-2026-0002": T0 + 20 * DAY,  # it says, in clear
            "HB-2026-0003": None,  # its timeline is sealed: the store works it out
            "HB-2026-0004": None,  # open
            "HB-2026-0005": T0 + 2 * DAY,  # closed with no word of when: when it was filed
        }
        assert await store.references(closed_before=T0 + 25 * DAY) == [
            "HB-2026-0001",
            "HB-2026-0002",
            "HB-2026-0005",
        ]
        assert (await column())["HB-2026-0003"] == T0 + 30 * DAY  # read once, then kept
        assert await store.references(closed_before=T0 + 31 * DAY) == [
            "HB-2026-0001",
            "HB-2026-0002",
            "HB-2026-0003",
            "HB-2026-0005",
        ]
        assert await store.references() == [f"HB-2026-{n:04d}" for n in range(1, 6)]
        old = await store.get_report("HB-2026-0003")
        assert old is not None and old.closed_at == T0 + 30 * DAY

        assert await store.idle_sessions(T0) == []
        assert await store.idle_sessions(T0 + timedelta(seconds=1)) == [ALICE]
        assert await store.load_session(ALICE) == waiting
        async with store._read() as conn:
            version = await conn.scalar(text(f"SELECT version_num FROM {postgres.VERSION_TABLE}"))
        assert version == "0004"
    finally:
        await store.close()


# --------------------------------------------------------------------------- erasure


async def test_an_erasure_is_one_transaction_and_leaves_nothing_of_the_case(
    open_postgres: OpenPostgres,
) -> None:
    store = await open_postgres()
    erased = await file(store, ALICE, "draft-erased")
    kept = await file(store, ALICE, "draft-kept", seconds=5)
    events: dict[str | None, list[str]] = {}
    for pending in await store.pending_events():
        events.setdefault(pending.reference, []).append(pending.id)
    [first, _] = events[erased.reference]
    [kept_event, _] = events[kept.reference]
    await store.mark_delivered([first], at(60))
    for key, value in (
        (f"{first}:slack:U-LEAD", {"status": "sent", "at": at(60).isoformat()}),
        (f"{first}:receipt", {"said": "done"}),
        (f"{events[erased.reference][1]}:slack:C-LEADS", {"status": "retrying"}),
        (f"{kept_event}:slack:U-LEAD", {"status": "sent", "at": at(60).isoformat()}),
    ):
        await store.put_record(RecordKind.DELIVERIES, key, value)
    for case in (erased, kept):
        await store.put_record(
            RecordKind.CHANNEL_MESSAGES, case.reference, {"platform": "slack", "message": "m1"}
        )
        await store.append_audit(entry(case.reference))
    await store.append_audit(entry(erased.reference, seconds=1))
    await store.append_audit(entry(None))

    # A failure at the last step (the audit chain) undoes the whole erasure.
    async with store._write() as conn:
        await conn.execute(
            text(
                "CREATE FUNCTION refuse() RETURNS trigger LANGUAGE plpgsql AS "
                "$$ BEGIN RAISE EXCEPTION 'refused'; END $$"
            )
        )
        await conn.execute(
            text(
                "CREATE TRIGGER refuse BEFORE DELETE ON audit FOR EACH ROW EXECUTE FUNCTION refuse()"
            )
        )
    before = await snapshot(store)
    with pytest.raises(DBAPIError):
        await store.erase_report(erased.reference)
    assert await snapshot(store) == before
    async with store._write() as conn:
        await conn.execute(text("DROP TRIGGER refuse ON audit"))

    stale = await store.get_report(erased.reference)
    assert stale is not None
    assert await store.erase_report(erased.reference)
    for needle in (erased.reference, "draft-erased", *events[erased.reference]):
        assert await rows_holding(store, needle) == {}, needle
    # Everything of the other case is there.
    assert await store.get_report(kept.reference) == kept
    assert [e.reference for e in await store.pending_events()] == [kept.reference] * 2
    assert list(await store.records(RecordKind.DELIVERIES)) == [f"{kept_event}:slack:U-LEAD"]
    assert list(await store.records(RecordKind.CHANNEL_MESSAGES)) == [kept.reference]
    assert len(await store.audit_chain(kept.reference)) == 1
    assert await store.audit_chains() == [None, kept.reference]

    # A change read before the erasure never brings the case back.
    with pytest.raises(StaleReport):
        await store.save_report(stale)
    assert await store.get_report(erased.reference) is None
    assert await store.update_report(erased.reference, lambda r: []) is None
    assert not await store.erase_report(erased.reference)
    assert not await store.erase_report("not a reference")
    assert await store.references() == [kept.reference]


# --------------------------------------------------------------------------- delivery records


async def test_delivery_records_whose_time_cannot_be_read_are_kept_and_a_dry_run_counts(
    open_postgres: OpenPostgres,
) -> None:
    store = await open_postgres()
    when = datetime(2026, 3, 2, 9, 0)  # no zone: UTC
    for key, value in (
        ("e1:slack:U1", {"status": "sent", "at": when.isoformat()}),
        ("e2:slack:U1", {"status": "dropped", "failed_at": when.isoformat()}),
        ("e3:slack:U1", {"status": "sent", "at": "yesterday"}),
        ("e4:slack:U1", {"status": "sent"}),
        ("e5:slack:U1", {"status": "retrying", "failed_at": when.isoformat()}),
    ):
        await store.put_record(RecordKind.DELIVERIES, key, value)
    assert await store.prune_delivered(when.replace(tzinfo=UTC)) == 0
    after = when.replace(tzinfo=UTC) + timedelta(seconds=1)
    before = await snapshot(store)
    assert await store.prune_delivered(after, dry_run=True) == 2
    assert await snapshot(store) == before  # a dry run changes nothing
    assert await store.prune_delivered(after) == 2
    assert list(await store.records(RecordKind.DELIVERIES)) == [
        "e3:slack:U1",
        "e4:slack:U1",
        "e5:slack:U1",
    ]


# --------------------------------------------------------------------------- reseal


async def test_reseal_leaves_nothing_sealed_with_the_old_key(
    open_postgres: OpenPostgres, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(postgres, "RESEAL_BATCH", 2)  # several batches of each
    old = new_ring("test")
    unsealed = await open_postgres()  # an older Harbour's report, written before sealing
    legacy = await file(unsealed, BOB, "d-legacy")
    store = await open_postgres()
    store.sealer = Sealer(old)
    filed = [await file(store, ALICE, f"d{i}", seconds=i) for i in range(5)]
    for who in (ALICE, BOB):
        await store.save_session(who, session(who, draft("d9")), event_id=f"ev-{who.user}")
    await store.accept(TextMessage(event_id="ev-typed", person=ALICE, text="my street"))
    sealed_records: list[tuple[RecordKind, str, dict[str, Any]]] = [
        (RecordKind.PEOPLE, ALICE.key, {"name": "Alice A"}),
        (RecordKind.CONTACTS, ALICE.key, {"channel": "D1"}),
        (RecordKind.DANGER_ALERTS, "d9", {"worker": ALICE.key}),
    ]
    for kind, key, value in sealed_records:
        await store.put_record(kind, key, value)
    await store.put_record(RecordKind.LEADS, BOB.key, {"added_by": "admin"})  # in clear
    old_token = f"hb1.{old.current}."
    assert await rows_holding(store, old_token)

    rotated = old.rotated()
    store.sealer = Sealer(rotated)
    written = await store.reseal()
    assert written == 6 + 2 + 1 + 3  # reports, conversations, the inbox, sealed records
    assert await rows_holding(store, old_token) == {}
    assert set(await rows_holding(store, f"hb1.{rotated.current}.")) == {
        "reports",
        "conversations",
        "inbox",
        "records",
    }
    assert await store.reseal() == 0  # nothing left with another key

    only_new = await open_postgres()
    only_new.sealer = Sealer(rotated.only_current())
    for made in [legacy, *filed]:
        assert await only_new.get_report(made.reference) == made
    for who in (ALICE, BOB):
        assert await only_new.load_session(who) == session(who, draft("d9"))
    soon = datetime.now(UTC) + timedelta(seconds=5)
    assert [e.event_id for e in await only_new.unhandled(older_than=soon)] == ["ev-typed"]
    for kind, key, value in sealed_records:
        assert await only_new.get_record(kind, key) == value


async def test_reseal_without_a_key_refuses_sealed_data(open_postgres: OpenPostgres) -> None:
    store = await open_postgres()
    assert await store.reseal() == 0  # nothing sealed, nothing to do
    store.sealer = Sealer(new_ring("test"))
    await file(store, ALICE, "d1")
    store.sealer = Sealer(None)
    with pytest.raises(StoreError, match="no key"):
        await store.reseal()


async def test_a_rule_that_now_answers_sooner_is_asked_of_every_open_case(
    open_postgres: OpenPostgres,
) -> None:
    """A restart with shorter escalation settings: a case whose stored due
    time was worked out under the old rule (a day away) is asked the new rule
    (an hour) on the first timers pass, not when the old time comes."""
    before = await open_postgres()

    def in_a_day(r: Report) -> datetime:
        return r.filed_at + DAY

    def in_an_hour(r: Report) -> datetime:
        return r.filed_at + timedelta(hours=1)

    before.index_due(in_a_day)
    filed = await file(before, ALICE, "d1")
    soon = filed.filed_at + timedelta(hours=2)
    assert await before.reports_due(soon) == []
    after = await open_postgres()
    after.index_due(in_an_hour)
    assert [r.reference for r in await after.reports_due(soon)] == [filed.reference]
    # Its stored time now follows the new rule, so later passes read only what is due.
    assert [r.reference for r in await after.reports_due(soon)] == [filed.reference]
    assert await after.reports_due(filed.filed_at + timedelta(minutes=30)) == []


async def test_an_entry_changed_in_the_database_is_found_by_verify(
    open_postgres: OpenPostgres,
) -> None:
    """Someone with the database edits who viewed a case: the chain no longer
    holds from that entry, and `harbour audit verify`'s check names it; an
    entry deleted is found the same way."""
    store = await open_postgres()
    filed = await file(store, ALICE, "d1")
    for n in range(4):
        await store.append_audit(entry(filed.reference, n))
    async with store._write() as conn:
        await conn.execute(
            text(
                "UPDATE audit SET doc = jsonb_set(doc, '{actor}', '\"U-SOMEONE-ELSE\"') "
                "WHERE chain = :chain AND n = 3"
            ),
            {"chain": filed.reference},
        )
    out = io.StringIO()
    assert await trail.verify(store, out) == 1
    assert f"{filed.reference}: entry 3 has been changed" in out.getvalue()
    async with store._write() as conn:
        await conn.execute(
            text("DELETE FROM audit WHERE chain = :chain AND n IN (2, 3)"),
            {"chain": filed.reference},
        )
    assert first_broken(await store.audit_chain(filed.reference)) == 2


async def test_instances_starting_together_wait_for_one_to_set_the_key_up(
    open_postgres: OpenPostgres, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Three instances start on an empty database at once, as a deployment
    does: one sets the key up, the others wait for it (they used to stop)."""
    ring = new_ring("HARBOUR_KEY")
    slow = setup.seal_check

    async def slowly(store: Any, given: Any) -> None:
        await asyncio.sleep(0.6)  # long enough for the others to find the lease held
        await slow(store, given)

    monkeypatch.setattr(setup, "seal_check", slowly)
    stores = [await open_postgres() for _ in range(3)]
    rings = await asyncio.gather(
        *(
            setup.attach_key(s, key=ring.dumps(), key_file=tmp_path / "unused.key", data_dir=None)
            for s in stores
        )
    )
    assert {r.current for r in rings} == {ring.current}
    assert all(s.sealer.seals for s in stores)
