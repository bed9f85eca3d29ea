"""`harbour migrate`: an embedded store filled by a real Harbour is copied into
a real PostgreSQL, equal kind by kind, and numbering goes on where it stopped."""

from __future__ import annotations

import asyncio
import hashlib
import itertools
import os
import sys
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine

from bot.alerts.sender import Notifier
from bot.app import Harbour
from bot.config import Settings
from bot.directory import Directory
from bot.models import Platform, TextMessage
from bot.privacy.audit import AuditAction, AuditEntry, first_broken
from bot.privacy.keys import load_ring
from bot.privacy.sealing import Sealer
from bot.store import PostgresStore, RecordKind, Store, TinyStore
from bot.store.migrate import MigrationRefused, migrate, read_embedded, verify
from bot.store.postgres import _database_url
from bot.store.tiny import COUNTER, atomic_write, stamp
from tests.conftest import Chat, Clock, RecordingMessenger, person
from tests.test_cases import LOW_RISK, file, press

pytest_plugins = ["tests.pg"]

ROOT = Path(__file__).resolve().parents[1]


def _harbour(
    store: Store, clock: Clock, settings: Settings, directory: Directory, ids: str = "id"
) -> Harbour:
    counter = itertools.count(1)
    return Harbour(
        store,
        settings.flow_context(),
        clock=clock,
        ids=lambda: f"{ids}{next(counter)}",
        library=settings.guidance(),
        directory=directory,
        admins=frozenset({"console:local:admin"}),
    )


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


def sealer_of(data: Path) -> Sealer:
    """The sealer of the key `harbour migrate` made beside `data` (no key given)."""
    key_file = data.with_name(f"{data.name}.key")
    return Sealer(load_ring(key="", key_file=key_file, data_dir=data, fresh=False))


async def _fill(data: Path, clock: Clock, settings: Settings, directory: Directory) -> list[str]:
    """A working embedded store: two reports (one updated), alerts delivered and
    pending, a dead letter, a conversation in progress, records. Its references."""
    store = TinyStore(data)
    try:
        harbour = _harbour(store, clock, settings, directory)
        notifier = Notifier(harbour, {Platform.CONSOLE: RecordingMessenger()})
        first = await file(Chat(harbour, "alice"))
        await notifier.run_once()  # delivered
        await press(harbour, "bob", first, "ack")  # an update: version 2
        await notifier.run_once()
        clock.advance(minutes=5)
        third = await file(Chat(harbour, "erin"), LOW_RISK)
        [poison] = await store.pending_events()
        await store.park_event(poison.id, "ValueError while delivering")  # a dead letter
        second = await file(Chat(harbour, "dan"), LOW_RISK)  # its alerts stay pending
        assert await store.pending_events()
        carol = Chat(harbour, "carol")
        await carol.command("report")
        await carol.say("no")  # a conversation in progress
        await store.put_record(RecordKind.CONTACTS, "console:local:carol", {"to": "somewhere"})
        assert await store.load_session(carol.person) is not None
        return [first, second, third]
    finally:
        await store.close()


async def test_migrate_copies_everything_and_numbering_goes_on(
    tmp_path: Path,
    pg_url: str,
    schema: str,
    clock: Clock,
    settings: Settings,
    directory: Directory,
) -> None:
    data = tmp_path / "data"
    first, second, third = await _fill(data, clock, settings, directory)
    # A number handed out whose report was lost: it must never be given again.
    atomic_write(data / COUNTER, stamp('{"2026":5}'))

    outcome = await migrate(data, pg_url, schema=schema)
    assert outcome.differences == []
    assert any("reports" in line and line.strip().endswith("3") for line in outcome.summary)

    # The copy is sealed with the embedded store's key (made beside it by the first run).
    tiny = TinyStore(data, sealer=sealer_of(data))
    pg = await PostgresStore.open(pg_url, schema=schema, sealer=sealer_of(data))
    try:
        for ref in (first, second, third):
            ours, theirs = await tiny.get_report(ref), await pg.get_report(ref)
            assert ours is not None and theirs is not None
            assert theirs.model_dump() == ours.model_dump()
        assert (await pg.get_report(first)).version > 1  # type: ignore[union-attr]
        assert [r.reference for r in await pg.open_reports()] == [
            r.reference for r in await tiny.open_reports()
        ]
        alice, carol = person("alice"), person("carol")
        assert [r.reference for r in await pg.reports_by(alice)] == [first]
        assert await pg.load_session(carol) == await tiny.load_session(carol)
        assert await pg.seen(carol, "carol-2") and await pg.seen(alice, "alice-1")
        # Bob has no conversation, only the id of his button press: found by his key.
        assert await pg.seen(person("bob"), f"bob-ack-{first}")
        pending = await tiny.pending_events()
        assert pending and [e.model_dump() for e in await pg.pending_events()] == [
            e.model_dump() for e in pending
        ]
        assert await pg.dead_letters() == await tiny.dead_letters()
        assert len(await pg.dead_letters()) == 1
        for kind in RecordKind:
            assert await pg.records(kind) == await tiny.records(kind), kind
        assert await pg.records(RecordKind.DELIVERIES)  # delivered alerts were recorded
        assert (await read_embedded(tiny)).kinds()["alerts delivered"]
    finally:
        await tiny.close()

    try:
        harbour = _harbour(pg, clock, settings, directory, ids="after")
        assert await Chat(harbour, "alice").say("hello") == []  # alice-1: seen, ignored
        assert await file(Chat(harbour, "frank")) == "HB-2026-0006"
    finally:
        await pg.close()


async def test_a_database_holding_reports_is_refused(
    tmp_path: Path,
    pg_url: str,
    schema: str,
    clock: Clock,
    settings: Settings,
    directory: Directory,
) -> None:
    data = tmp_path / "data"
    await _fill(data, clock, settings, directory)
    assert (await migrate(data, pg_url, schema=schema)).differences == []
    with pytest.raises(MigrationRefused, match="already holds Harbour data"):
        await migrate(data, pg_url, schema=schema)


async def test_a_damaged_copy_is_reported_by_count_and_reference(
    tmp_path: Path,
    pg_url: str,
    schema: str,
    clock: Clock,
    settings: Settings,
    directory: Directory,
) -> None:
    data = tmp_path / "data"
    first, second, _ = await _fill(data, clock, settings, directory)
    assert (await migrate(data, pg_url, schema=schema)).differences == []
    pg = await PostgresStore.open(pg_url, schema=schema, sealer=sealer_of(data))
    tiny = TinyStore(data, sealer=sealer_of(data))
    try:
        async with pg._engine.begin() as conn:
            await conn.execute(text("DELETE FROM records WHERE kind = 'contacts'"))
            await conn.execute(
                text('UPDATE reports SET doc = doc || \'{"risk": "low"}\' WHERE reference = :r'),
                {"r": first},
            )
        outcome = await verify(await read_embedded(tiny), pg)
    finally:
        await tiny.close()
        await pg.close()
    assert any(
        d.startswith("records: contacts: 1 in the embedded store, 0") for d in outcome.differences
    )
    [reports] = [d for d in outcome.differences if d.startswith("reports:")]
    assert "1 different" in reports and first in reports and second not in reports
    assert "street" not in "".join(outcome.differences)


async def _audit_and_inbox(data: Path, case: str, clock: Clock) -> list[TextMessage]:
    """Add to the embedded store: audit entries (to a case's chain, and to a
    store-wide chain whose oldest entries retention then trims) and events
    accepted but not answered. The events, oldest first."""
    store = TinyStore(data)
    try:
        for i, reference in enumerate([case, None, None, case, None]):
            await store.append_audit(
                AuditEntry(
                    n=0,
                    at=clock() + timedelta(minutes=i),
                    actor="console:local:bob",
                    action=AuditAction.VIEWED if reference else AuditAction.PURGED,
                    reference=reference,
                    surface="console",
                )
            )
        assert await store.trim_audit(clock() + timedelta(minutes=2)) >= 1
        accepted = [
            TextMessage(event_id="carol-9", person=person("carol"), text="my street again"),
            TextMessage(event_id="gina-1", person=person("gina"), text="hello"),
        ]
        for event in accepted:
            await store.accept(event)
        return accepted
    finally:
        await store.close()


def _counts(summary: list[str]) -> dict[str, int]:
    """The count of each kind in a migration's summary."""
    return {
        line[:32].strip(): int(line[32:])
        for line in summary
        if line.startswith("  ") and line[32:].strip().isdigit()
    }


async def test_audit_chains_and_accepted_events_are_copied_and_checked(
    tmp_path: Path,
    pg_url: str,
    schema: str,
    clock: Clock,
    settings: Settings,
    directory: Directory,
) -> None:
    data = tmp_path / "data"
    first, _, _ = await _fill(data, clock, settings, directory)
    accepted = await _audit_and_inbox(data, first, clock)

    outcome = await migrate(data, pg_url, schema=schema)
    assert outcome.differences == []
    assert "street" not in "".join(outcome.summary)

    tiny = TinyStore(data, sealer=sealer_of(data))
    pg = await PostgresStore.open(pg_url, schema=schema, sealer=sealer_of(data))
    try:
        chains = await tiny.audit_chains()
        assert chains[:1] == [None] and first in chains
        assert await pg.audit_chains() == chains
        entries = 0
        for chain in chains:
            copied = await pg.audit_chain(chain)
            assert copied == await tiny.audit_chain(chain)  # the same hashes, verbatim
            assert first_broken(copied, trimmed=chain is None) is None
            entries += len(copied)
        assert _counts(outcome.summary)["audit entries"] == entries
        assert _counts(outcome.summary)["accepted events"] == 2
        store_wide = await pg.audit_chain(None)
        assert store_wide[0].n > 1  # trimmed before the copy: copied as it was
        # Appending on PostgreSQL goes on from the copied chain.
        following = await pg.append_audit(
            AuditEntry(n=0, at=clock(), actor="harbour", action=AuditAction.PURGED)
        )
        assert following.n == store_wide[-1].n + 1
        assert following.previous == store_wide[-1].hash

        # The first Harbour on PostgreSQL finds the accepted events to answer, sealed at rest.
        soon = datetime.now(UTC) + timedelta(seconds=5)
        assert await pg.unhandled(older_than=soon) == accepted
        async with pg._engine.connect() as conn:
            docs = list(await conn.scalars(text("SELECT CAST(doc AS text) FROM inbox")))
        assert len(docs) == 2 and not any("street" in doc for doc in docs)
    finally:
        await tiny.close()
        await pg.close()


async def test_a_damaged_audit_or_inbox_copy_is_reported(
    tmp_path: Path,
    pg_url: str,
    schema: str,
    clock: Clock,
    settings: Settings,
    directory: Directory,
) -> None:
    data = tmp_path / "data"
    first, _, _ = await _fill(data, clock, settings, directory)
    await _audit_and_inbox(data, first, clock)
    assert (await migrate(data, pg_url, schema=schema)).differences == []
    pg = await PostgresStore.open(pg_url, schema=schema, sealer=sealer_of(data))
    tiny = TinyStore(data, sealer=sealer_of(data))
    try:
        async with pg._engine.begin() as conn:
            await conn.execute(
                text(
                    'UPDATE audit SET doc = doc || \'{"actor": "someone"}\' '
                    "WHERE chain = :chain AND n = 1"
                ),
                {"chain": first},
            )
            await conn.execute(text("DELETE FROM inbox WHERE event_id = 'gina-1'"))
        source = await read_embedded(tiny)
        outcome = await verify(source, pg)
    finally:
        await tiny.close()
        await pg.close()
    entries = sum(len(chain) for chain in source.audit.values())
    assert sorted(outcome.differences) == [
        "accepted events: 2 in the embedded store, 1 in PostgreSQL; 1 missing",
        f"audit entries: {entries} in the embedded store, {entries} in PostgreSQL; 1 different",
    ]


EVIDENCE = [b"a screenshot: my street, my car", os.urandom(1024 * 1024), b"a PDF of the posts"]
"""Kept as evidence by `_keep_evidence`: two files on the first case, one on the second."""


async def _keep_evidence(data: Path, first: str, second: str) -> list[str]:
    """Evidence files on two cases of the embedded store: their SHA-256."""
    store = TinyStore(data)
    try:
        for reference, content in zip([first, first, second], EVIDENCE, strict=True):
            await store.put_evidence_file(reference, hashlib.sha256(content).hexdigest(), content)
    finally:
        await store.close()
    return [hashlib.sha256(content).hexdigest() for content in EVIDENCE]


async def test_evidence_files_are_copied_sealed_and_checked_by_hash(
    tmp_path: Path,
    pg_url: str,
    schema: str,
    clock: Clock,
    settings: Settings,
    directory: Directory,
) -> None:
    data = tmp_path / "data"
    first, second, _ = await _fill(data, clock, settings, directory)
    hashes = await _keep_evidence(data, first, second)

    outcome = await migrate(data, pg_url, schema=schema)
    assert outcome.differences == []
    assert _counts(outcome.summary)["evidence files"] == 3

    pg = await PostgresStore.open(pg_url, schema=schema, sealer=sealer_of(data))
    tiny = TinyStore(data, sealer=sealer_of(data))
    try:
        assert sorted(await pg.evidence_files(first)) == sorted(hashes[:2])
        assert await pg.evidence_files(second) == hashes[2:]
        for reference, digest, content in zip(
            [first, first, second], hashes, EVIDENCE, strict=True
        ):
            assert await pg.get_evidence_file(reference, digest) == content
        async with pg._engine.begin() as conn:
            rows = list(await conn.scalars(text("SELECT CAST(t AS text) FROM evidence_files t")))
            assert len(rows) == 3 and not any(b"street".hex() in row for row in rows)  # sealed
            await conn.execute(  # one file's bytes changed after the copy
                text(
                    "UPDATE evidence_files SET data = overlay(data placing 'x' from 50 for 1) "
                    "WHERE sha256 = :digest"
                ),
                {"digest": hashes[2]},
            )
        outcome = await verify(await read_embedded(tiny), pg)
    finally:
        await tiny.close()
        await pg.close()
    assert outcome.differences == [
        "evidence files: 3 in the embedded store, 3 in PostgreSQL; 1 different"
    ]


async def test_an_evidence_file_changed_on_disk_stops_the_copy(
    tmp_path: Path,
    pg_url: str,
    schema: str,
    clock: Clock,
    settings: Settings,
    directory: Directory,
) -> None:
    data = tmp_path / "data"
    first, second, _ = await _fill(data, clock, settings, directory)
    hashes = await _keep_evidence(data, first, second)
    [changed] = data.glob(f"evidence/*/{hashes[0]}")
    changed.write_bytes(changed.read_bytes().replace(b"street", b"STREET"))

    with pytest.raises(MigrationRefused) as refused:
        await migrate(data, pg_url, schema=schema)
    assert first in str(refused.value) and hashes[0] in str(refused.value)
    assert "street" not in str(refused.value).lower()
    pg = await PostgresStore.open(pg_url, schema=schema, sealer=sealer_of(data))
    try:
        assert await pg.references() == []  # nothing was copied
    finally:
        await pg.close()


async def test_a_running_harbour_is_named_and_nothing_is_copied(
    tmp_path: Path, pg_url: str, schema: str
) -> None:
    running = TinyStore(tmp_path / "data")
    try:
        with pytest.raises(MigrationRefused, match=r"still running.*Stop it first"):
            await migrate(tmp_path / "data", pg_url, schema=schema)
    finally:
        await running.close()


async def _database(pg_url: str) -> str:
    """A database of this test's own on the session's server; its URL."""
    name = f"harbour_migrate_{uuid.uuid4().hex[:12]}"
    engine = create_async_engine(_database_url(pg_url), isolation_level="AUTOCOMMIT")
    try:
        async with engine.connect() as conn:
            await conn.execute(text(f'CREATE DATABASE "{name}"'))
    finally:
        await engine.dispose()
    return make_url(pg_url).set(database=name).render_as_string(hide_password=False)


async def _run(*args: str) -> tuple[int, str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HARBOUR_")}
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot", *args,
        cwd=ROOT, env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await asyncio.wait_for(proc.communicate(), timeout=120)
    return proc.returncode or 0, out.decode(), err.decode()


async def test_the_harbour_migrate_command(
    tmp_path: Path, pg_url: str, clock: Clock, settings: Settings, directory: Directory
) -> None:
    data = tmp_path / "data"
    first, second, third = await _fill(data, clock, settings, directory)
    url = await _database(pg_url)
    code, out, err = await _run("migrate", "--data-dir", str(data), "--to", url)
    assert code == 0, err
    assert "verified" in out and "HB-2026-0004" in out
    assert "street" not in out + err
    password = make_url(url).password
    assert not password or password not in out + err
    code, out, err = await _run("migrate", "--data-dir", str(data), "--to", url)
    assert code == 2 and "already holds Harbour data" in err
    store = await PostgresStore.open(url, sealer=sealer_of(data))
    try:
        assert [r.reference for r in await store.open_reports()] == sorted([first, second, third])
    finally:
        await store.close()
