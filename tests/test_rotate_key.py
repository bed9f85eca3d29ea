"""`harbour rotate-key` (`bot.privacy.rotate`): everything sealed again with a
new key, read back with it alone, the old key retired beside the key file;
refused while Harbour runs; with HARBOUR_KEY, two runs around the secret
manager. On the embedded store and on PostgreSQL, with data put there as
Harbour puts it (reports, a conversation, a name, an event accepted)."""

from __future__ import annotations

import io
import stat
from collections.abc import Awaitable, Callable
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from sqlalchemy import text

from bot.config import Settings
from bot.models import TextMessage
from bot.privacy import rotate
from bot.privacy.audit import AuditAction
from bot.privacy.keys import KeyProblem, KeyRing, new_ring, read_key_file
from bot.privacy.rotate import DONE, NOT_VERIFIED, REFUSED, rotate_file, rotate_key
from bot.privacy.setup import attach_key, attach_ring
from bot.reports import DomainEvent, Report, ReportAnswers
from bot.store import RecordKind, Store, StoreError, TinyStore
from bot.store.postgres import PostgresStore
from tests.store_helpers import ANSWERS, at, draft, event, person, report, session

if TYPE_CHECKING:
    from tests.pg import OpenPostgres

pytest_plugins = ["tests.pg"]

MARKER = "WOMBAT4417"
"""Typed into everything stored: never printed by the rotation."""
PEOPLE = [person(f"U{n}") for n in range(3)]


def settings_for(tmp_path: Path, **overrides: object) -> Settings:
    values: dict[str, Any] = {
        "data_dir": tmp_path / "data",
        "key_file": tmp_path / "keys" / "harbour.key",
        "key": "",
        "database_url": "",
        "store": "tinydb",
        **overrides,
    }
    return Settings(_env_file=None, **values)


def marked_report(n: int) -> Callable[[int, str], tuple[Report, list[DomainEvent]]]:
    def make(seq: int, reference: str) -> tuple[Report, list[DomainEvent]]:
        made = report(PEOPLE[n], seq, reference, f"draft-{n}")
        made.answers = ReportAnswers.model_validate(
            {**ANSWERS, "description": f"{MARKER} posted my street, report {n}"}
        )
        return made, [event(PEOPLE[n], reference=reference, draft_id=f"draft-{n}")]

    return make


async def fill(store: Store) -> None:
    """What Harbour keeps of three people: a report each, a draft in progress
    each, a display name, and an event accepted and not yet handled."""
    for n, who in enumerate(PEOPLE):
        await store.file_report(
            year=2026,
            draft_id=f"draft-{n}",
            make=marked_report(n),
            person=who,
            session=session(who, draft(f"next-{n}", description=f"{MARKER} again")),
        )
        await store.put_record(RecordKind.PEOPLE, who.key, {"name": f"Ann {MARKER} {n}"})
    await store.accept(TextMessage(event_id="waiting", person=PEOPLE[0], text=MARKER, at=at(5)))


async def read_all(store: Store) -> list[str]:
    """Everything `fill` put there, as read back (it fails if anything does not open)."""
    found = []
    for n, who in enumerate(PEOPLE):
        [mine] = await store.reports_by(who)
        found.append(mine.answers.description or "")
        saved = await store.load_session(who)
        assert saved is not None
        found.append(str(saved.drafts["report"].answers["description"]))
        name = await store.get_record(RecordKind.PEOPLE, who.key) or {}
        found.append(name["name"])
        assert f"report {n}" in found[-3]
    [waiting] = await store.unhandled(older_than=at(10**9))
    assert isinstance(waiting, TextMessage)
    found.append(waiting.text)
    return found


async def filled_tiny(settings: Settings) -> str:
    """An embedded store filled and closed; returns its key's id."""
    store = TinyStore(settings.data_dir)
    try:
        ring = await attach_key(
            store, key="", key_file=settings.key_path(), data_dir=settings.data_dir
        )
        await fill(store)
    finally:
        await store.close()
    return ring.current


async def reopen_tiny(settings: Settings, ring: KeyRing) -> list[str]:
    store = TinyStore(settings.data_dir)
    try:
        await attach_ring(store, ring)
        return await read_all(store)
    finally:
        await store.close()


def stored_bytes(directory: Path) -> str:
    return "\n".join(
        p.read_bytes().decode("utf-8", "replace")
        for p in sorted(directory.rglob("*"))
        if p.is_file()
    )


def retired_files(directory: Path) -> list[Path]:
    return sorted(directory.glob("*.retired-*"))


def sealed_with(kid: str) -> str:
    return f"hb1.{kid}."


# --------------------------------------------------------------------------- embedded store


async def test_rotation_seals_everything_with_a_new_key_and_retires_the_old_one(
    tmp_path: Path,
) -> None:
    settings = settings_for(tmp_path)
    old = await filled_tiny(settings)
    before = await reopen_tiny(settings, read_key_file(settings.key_path()))
    assert sealed_with(old) in stored_bytes(settings.data_dir)

    out = io.StringIO()
    assert await rotate_key(settings, out=out) == DONE

    ring = read_key_file(settings.key_path())
    assert list(ring.keys) == [ring.current] and ring.current != old
    # Every file, previous copies and the index included, is sealed with the new key.
    stored = stored_bytes(settings.data_dir)
    assert sealed_with(old) not in stored and sealed_with(ring.current) in stored
    assert MARKER not in stored
    assert await reopen_tiny(settings, ring) == before
    # The old key, retired beside the key file, private, and opening nothing now.
    retired_file = settings.key_path().with_name(f"harbour.key.retired-{old}")
    assert stat.S_IMODE(retired_file.stat().st_mode) == 0o600
    retired = read_key_file(retired_file)
    assert list(retired.keys) == [old]
    store = TinyStore(settings.data_dir)
    try:
        with pytest.raises(KeyProblem, match="not the one"):
            await attach_key(store, key="", key_file=retired_file, data_dir=settings.data_dir)
    finally:
        await store.close()
    # What it said: counts and what to do, nothing anyone wrote.
    said = out.getvalue()
    assert MARKER not in said
    assert "3 reports, 3 saved conversations, 1 accepted events, 3 sealed records" in said
    assert str(retired_file) in said and "backup policy" in said and "destroy it" in said


async def test_rotation_is_refused_while_harbour_runs_on_the_data(tmp_path: Path) -> None:
    settings = settings_for(tmp_path)
    await filled_tiny(settings)
    key_before = settings.key_path().read_bytes()
    running = TinyStore(settings.data_dir)  # Harbour, running
    try:
        out = io.StringIO()
        assert await rotate_key(settings, out=out) == REFUSED
    finally:
        await running.close()
    assert "Another Harbour process is already using the data directory" in out.getvalue()
    assert settings.key_path().read_bytes() == key_before
    assert list(settings.key_path().parent.iterdir()) == [settings.key_path()]


async def test_a_read_back_that_fails_keeps_both_keys_and_a_second_run_finishes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = settings_for(tmp_path)
    old = await filled_tiny(settings)
    real = TinyStore.get_report

    async def unreadable(self: TinyStore, reference: str) -> Report | None:
        if reference.endswith("0002"):
            raise StoreError(f"report:{reference}: a value sealed with key 'x' does not open")
        return await real(self, reference)

    monkeypatch.setattr(TinyStore, "get_report", unreadable)
    out = io.StringIO()
    assert await rotate_key(settings, out=out) == NOT_VERIFIED
    said = out.getvalue()
    assert "1 problem(s) reading back" in said and "report HB-2026-0002" in said
    two = read_key_file(settings.key_path())
    assert old in two.keys and len(two.keys) == 2  # both kept: nothing lost
    assert not retired_files(settings.key_path().parent)

    monkeypatch.setattr(TinyStore, "get_report", real)
    out = io.StringIO()
    assert await rotate_key(settings, out=out) == DONE
    assert "finishing the rotation" in out.getvalue()
    assert list(read_key_file(settings.key_path()).keys) == [two.current]  # no third key
    assert MARKER in "".join(await reopen_tiny(settings, two.only_current()))


async def test_nothing_to_rotate_is_refused_and_makes_no_key(tmp_path: Path) -> None:
    out = io.StringIO()
    assert await rotate_key(settings_for(tmp_path, store="memory"), out=out) == REFUSED
    assert "memory" in out.getvalue()
    # No data directory at all, then one never sealed.
    settings = settings_for(tmp_path)
    out = io.StringIO()
    assert await rotate_key(settings, out=out) == REFUSED
    assert f"no data directory at {settings.data_dir}" in out.getvalue()
    await TinyStore(settings.data_dir).close()
    out = io.StringIO()
    assert await rotate_key(settings, out=out) == REFUSED
    assert "never sealed" in out.getvalue()
    assert not settings.key_path().exists()
    # With a key file, a ring for a secret manager is not written.
    await filled_tiny(settings)
    out = io.StringIO()
    assert await rotate_key(settings, out=out, new_ring_out=tmp_path / "ring.json") == REFUSED
    assert "--new-ring-out is for a key given in HARBOUR_KEY" in out.getvalue()
    assert not (tmp_path / "ring.json").exists()
    # --finish with one key in the file: nothing under way.
    out = io.StringIO()
    assert await rotate_key(settings, out=out, finish=True) == REFUSED
    assert "no rotation to finish" in out.getvalue()
    assert len(read_key_file(settings.key_path()).keys) == 1


# --------------------------------------------------------------------------- HARBOUR_KEY


async def test_with_harbour_key_it_takes_two_runs_around_the_secret_manager(
    tmp_path: Path,
) -> None:
    settings = settings_for(tmp_path)
    old = await filled_tiny(settings)
    secret = settings.key_path().read_text()
    settings.key_path().unlink()  # the key lives in the secret manager now
    with_secret = settings_for(tmp_path, key=secret)
    before = stored_bytes(settings.data_dir)

    # With no file to write to: what to do, and nothing done.
    out = io.StringIO()
    assert await rotate_key(with_secret, out=out) == REFUSED
    assert "--new-ring-out FILE" in out.getvalue() and "--finish" in out.getvalue()
    # Nothing to finish with one key.
    out = io.StringIO()
    ring_file = tmp_path / "out" / "two.json"
    assert await rotate_key(with_secret, out=out, new_ring_out=ring_file, finish=True) == REFUSED
    assert "no rotation to finish" in out.getvalue()

    # Step 1: the two-key ring, private; the data untouched.
    out = io.StringIO()
    assert await rotate_key(with_secret, out=out, new_ring_out=ring_file) == DONE
    assert stat.S_IMODE(ring_file.stat().st_mode) == 0o600
    two = read_key_file(ring_file)
    assert set(two.keys) == {old, two.current}
    assert stored_bytes(settings.data_dir) == before
    # A file already there is never written over.
    out = io.StringIO()
    assert await rotate_key(with_secret, out=out, new_ring_out=ring_file) == REFUSED
    assert "never written over" in out.getvalue()
    assert read_key_file(ring_file).keys == two.keys

    # Step 3, with the two-key ring as HARBOUR_KEY: resealed, the new key alone written.
    with_two = settings_for(tmp_path, key=ring_file.read_text())
    one_file = tmp_path / "out" / "one.json"
    out = io.StringIO()
    assert await rotate_key(with_two, out=out, new_ring_out=one_file) == REFUSED  # a rotation
    assert "a rotation is under way" in out.getvalue()  # is under way: finish it
    out = io.StringIO()
    assert await rotate_key(with_two, out=out, new_ring_out=one_file, finish=True) == DONE
    one = read_key_file(one_file)
    assert list(one.keys) == [two.current]
    assert sealed_with(old) not in stored_bytes(settings.data_dir)
    assert MARKER in "".join(await reopen_tiny(settings, one))
    assert "secret manager's earlier versions" in out.getvalue() and MARKER not in out.getvalue()
    # Run again: its file is there, so nothing is done.
    out = io.StringIO()
    assert await rotate_key(with_two, out=out, new_ring_out=one_file, finish=True) == REFUSED
    assert read_key_file(one_file).keys == one.keys
    assert not settings.key_path().exists()  # no key file was made on the way


async def test_a_ring_for_the_secret_manager_is_not_written_inside_the_data(
    tmp_path: Path,
) -> None:
    settings = settings_for(tmp_path)
    await filled_tiny(settings)
    with_secret = settings_for(tmp_path, key=settings.key_path().read_text())
    out = io.StringIO()
    inside = settings.data_dir / "ring.json"
    assert await rotate_key(with_secret, out=out, new_ring_out=inside) == REFUSED
    assert "inside the data directory" in out.getvalue()
    assert not inside.exists()


# --------------------------------------------------------------------------- PostgreSQL


async def postgres_text(store: PostgresStore) -> str:
    """Every row of every table, as text."""
    async with store._read() as conn:
        tables = list(
            (
                await conn.execute(
                    text("SELECT tablename FROM pg_tables WHERE schemaname = current_schema()")
                )
            ).scalars()
        )
        rows: list[str] = []
        for table in tables:
            rows.extend((await conn.execute(text(f'SELECT t::text FROM "{table}" t'))).scalars())
    return "\n".join(rows)


async def test_rotation_on_postgres_waits_for_every_instance_then_reseals_every_row(
    open_postgres: OpenPostgres, tmp_path: Path
) -> None:
    key_file = tmp_path / "harbour.key"
    first = await open_postgres()
    old = (await attach_key(first, key="", key_file=key_file, data_dir=None)).current
    await fill(first)
    before = await read_all(first)
    await first.heartbeat(timedelta(seconds=40))  # an instance, running
    opener: Callable[[], Awaitable[Store]] = open_postgres

    out = io.StringIO()
    with pytest.raises(StoreError) as refused:
        await rotate_file(opener, key_file, out=out, finish=False, data_dir=None)
    message = str(refused.value)
    assert "1 Harbour instance(s) are running" in message and "Nothing was changed" in message
    assert any(f"up to {s} s" in message for s in range(30, 41))
    assert list(read_key_file(key_file).keys) == [old]

    await first.close()  # stopped: its lease goes with it
    out = io.StringIO()
    assert await rotate_file(opener, key_file, out=out, finish=False, data_dir=None) == DONE
    ring = read_key_file(key_file)
    assert list(ring.keys) == [ring.current] != [old]
    assert "Every Harbour instance must start with this key file" in out.getvalue()
    after = await open_postgres()
    await attach_ring(after, ring)
    assert await read_all(after) == before
    rows = await postgres_text(after)
    assert sealed_with(old) not in rows and sealed_with(ring.current) in rows
    assert MARKER not in rows
    # The rotation is in the store-wide audit, and its lease is gone.
    [entry] = await after.audit_chain(None)
    assert (entry.actor, entry.action) == ("harbour", AuditAction.KEY_ROTATED)
    assert await rotate.live_instances(after) == (0, timedelta(0))
    assert await after.hold_lease(rotate.ROTATING, timedelta(seconds=5))


def test_a_retired_key_file_is_never_written_over(tmp_path: Path) -> None:
    """The keys a rotation retires go to a file of their own: one already
    there with other keys is kept and another name taken; one holding the same
    keys (left by a run stopped part-way) is kept as it is."""
    key_file = tmp_path / "harbour.key"
    ring = new_ring(str(key_file)).rotated()
    retired = ring.retired()
    assert retired is not None and ring.only_current().retired() is None
    name = tmp_path / f"harbour.key.retired-{retired.current}"
    name.write_text("someone else's file")
    kept = rotate._keep_retired(key_file, retired)
    assert kept == tmp_path / f"{name.name}-2"
    assert name.read_text() == "someone else's file"
    assert read_key_file(kept).keys == retired.keys
    assert rotate._keep_retired(key_file, retired) == kept  # the same keys: kept as is
    assert sorted(p.name for p in tmp_path.iterdir()) == [name.name, kept.name]


async def test_an_instance_started_during_a_rotation_keeps_the_old_key_in_the_file(
    open_postgres: OpenPostgres, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """One that started before the new key was in the key file may seal with
    the old key alone: the old key is not retired while it runs."""
    key_file = tmp_path / "harbour.key"
    first = await open_postgres()
    old = (await attach_key(first, key="", key_file=key_file, data_dir=None)).current
    await fill(first)
    await first.close()
    late = await open_postgres()
    real = rotate.read_everything

    async def meanwhile(store: Store) -> rotate.ReadBack:
        await late.heartbeat(timedelta(seconds=40))  # it started, and says it is alive
        return await real(store)

    monkeypatch.setattr(rotate, "read_everything", meanwhile)
    out = io.StringIO()
    opener: Callable[[], Awaitable[Store]] = open_postgres
    assert await rotate_file(opener, key_file, out=out, finish=False, data_dir=None) == (
        NOT_VERIFIED
    )
    assert "1 Harbour instance(s) started during the rotation" in out.getvalue()
    both = read_key_file(key_file)
    assert old in both.keys and len(both.keys) == 2
    assert not retired_files(tmp_path)

    monkeypatch.undo()
    await late.close()
    out = io.StringIO()
    assert await rotate_file(opener, key_file, out=out, finish=False, data_dir=None) == DONE
    assert list(read_key_file(key_file).keys) == [both.current]


async def test_a_store_error_part_way_says_both_keys_are_kept(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = settings_for(tmp_path)
    old = await filled_tiny(settings)

    async def damaged(self: TinyStore) -> int:
        raise StoreError("report:HB-2026-0002: a value sealed with key 'k' does not open")

    monkeypatch.setattr(TinyStore, "reseal", damaged)
    out = io.StringIO()
    assert await rotate_key(settings, out=out) == REFUSED
    said = out.getvalue()
    assert "report:HB-2026-0002" in said
    assert f"stopped part-way, safely: {settings.key_path()} holds both keys" in said
    assert old in read_key_file(settings.key_path()).keys
    assert len(read_key_file(settings.key_path()).keys) == 2
