"""The embedded store on real files: restarts, crashes, locking, recovery, numbering.

Everything runs on real tinydb files in pytest's temporary directories. The
failed-write tests are regression tests for the in-memory indexes once running
ahead of the disk when a write failed.

The layout under test: each person has a small file of their own,
`conversations/<sha256(person.key)[:32]>.json` (tables "session", "seen",
"outbox" and "inbox"); reports live in `reports/<year>-<shard>.json`; delivery
records with their cases in `deliveries/` (see test_tiny_index); addresses and
the directory in `records.json`; `index/` is a cache of what the files hold.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import re
import select
import signal
import subprocess
import sys
import threading
import time
from collections.abc import AsyncIterator, Callable, Sequence
from pathlib import Path
from typing import Any

import pytest

import bot.store.tiny as tiny
from bot.models import PersonRef
from bot.reports import DomainEvent, EventKind, Report, ReportStatus
from bot.session import Session
from bot.store import MemoryStore, StoreError, StoreLocked, TinyStore
from bot.store.base import Store
from bot.store.tiny import AtomicJSONStorage
from tests.store_helpers import (
    Factory,
    at,
    draft,
    event,
    person,
    reflect_offer,
    refuse_to_make,
    session,
)

REPO = Path(__file__).resolve().parents[1]
SUBPROCESS_ENV = {**os.environ, "PYTHONPATH": str(REPO)}

ALICE = person("U-ALICE")
BOB = person("U-BOB")

OpenStore = Callable[[Path], TinyStore]


@pytest.fixture
async def open_store() -> AsyncIterator[OpenStore]:
    """Open TinyStores that are all closed (lock released) when the test ends."""
    opened: list[TinyStore] = []

    def open_(directory: Path) -> TinyStore:
        store = TinyStore(directory)
        opened.append(store)
        return store

    yield open_
    for store in opened:
        await store.close()


async def file_one(
    store: Store,
    who: Any,
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


def tmp_files(directory: Path) -> list[Path]:
    return [
        *directory.glob(".*.tmp"),
        *(directory / "reports").glob(".*.tmp"),
        *(directory / "conversations").glob(".*.tmp"),
    ]


def read_json(path: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return data


ANY_PERSON = re.compile(r"[0-9a-f]{32}\.json")
"""The name of any person's conversation file."""


def file_name(who: PersonRef) -> str:
    """The name of a person's conversation file, worked out independently of the store."""
    return hashlib.sha256(who.key.encode()).hexdigest()[:32] + ".json"


def person_file(directory: Path, who: PersonRef) -> Path:
    return directory / "conversations" / file_name(who)


def seen_ids(path: Path) -> list[str]:
    """The event ids a person's file remembers, oldest first."""
    docs = read_json(path).get("seen", {})
    assert list(docs) == ["1"], "one document holds the list"
    ids: list[str] = docs["1"]["ids"]
    return ids


def fail_writes_to(monkeypatch: pytest.MonkeyPatch, name: str | re.Pattern[str]) -> None:
    """Make every atomic write of a file called `name` (or whose name matches the
    pattern) fail, as a full disk would."""
    real = tiny.atomic_write

    def atomic_write(path: Path, text: str) -> None:
        hit = name.fullmatch(path.name) if isinstance(name, re.Pattern) else path.name == name
        if hit:
            raise OSError(28, "No space left on device", str(path))
        real(path, text)

    monkeypatch.setattr(tiny, "atomic_write", atomic_write)


def record_writes(monkeypatch: pytest.MonkeyPatch) -> list[tuple[Path, int]]:
    """Record every atomic write the store makes: (path, bytes written)."""
    real = tiny.atomic_write
    writes: list[tuple[Path, int]] = []

    def atomic_write(path: Path, text: str) -> None:
        writes.append((path, len(text.encode())))
        real(path, text)

    monkeypatch.setattr(tiny, "atomic_write", atomic_write)
    return writes


def stamps(directory: Path) -> dict[Path, tuple[int, int]]:
    """Every stored file's inode and modification time, to tell which ones a write
    replaced (an atomic write renames a new file over the old one: a new inode)."""
    return {p: (p.stat().st_ino, p.stat().st_mtime_ns) for p in directory.rglob("*.json")}


# --------------------------------------------------------------------------- round trip


@pytest.mark.parametrize("kind", ["tiny", "memory"])
async def test_round_trip(kind: str, tmp_path: Path) -> None:
    store: Store = TinyStore(tmp_path / "data") if kind == "tiny" else MemoryStore()
    try:
        in_progress = session(ALICE, draft("d1", revision=3))
        await store.save_session(ALICE, in_progress, event_id="ev-1")
        assert await store.load_session(ALICE) == in_progress
        assert await store.load_session(BOB) is None
        assert await store.seen(ALICE, "ev-1")
        assert not await store.seen(ALICE, "ev-2")
        assert not await store.seen(BOB, "ev-1")  # event ids are remembered per person

        after = session(ALICE, pending=reflect_offer("HB-2026-0001"))
        filed, make = await file_one(store, ALICE, "d1", after=after, event_id="ev-2")
        assert make.calls == [(1, "HB-2026-0001")]
        assert filed.reference == "HB-2026-0001"
        assert await store.get_report("HB-2026-0001") == filed
        assert await store.reports_by(ALICE) == [filed]
        assert await store.reports_by(BOB) == []
        assert await store.load_session(ALICE) == after
        assert await store.seen(ALICE, "ev-2")
        assert [e.id for e in await store.pending_events()] == [e.id for e in make.events]

        await store.save_session(ALICE, None, event_id="ev-3")
        assert await store.load_session(ALICE) is None
    finally:
        await store.close()
    if kind == "memory":
        assert not (tmp_path / "data").exists()
    else:
        # Only Alice has a conversation file: Bob was only looked up, never saved.
        assert [p.name for p in (tmp_path / "data" / "conversations").iterdir()] == [
            file_name(ALICE)
        ]
        assert isinstance(store, TinyStore) and store._name(ALICE.key) == file_name(ALICE)


async def test_everything_survives_a_restart(tmp_path: Path, open_store: OpenStore) -> None:
    store = open_store(tmp_path)
    danger = event(ALICE, EventKind.RISK_CRITICAL, when=at(1), source="draft", draft_id="d1")
    await store.save_session(
        ALICE, session(ALICE, draft("d1", revision=1)), event_id="ev-1", events=[danger]
    )
    after = session(
        ALICE, draft("r1", flow="reflect", concern="the photos"), pending=reflect_offer("x")
    )
    filed_a, make_a = await file_one(store, ALICE, "d1", after=after, event_id="ev-2", filed_at_s=2)
    filed_b, make_b = await file_one(store, BOB, "d2", event_id="ev-3", filed_at_s=3)
    filed_a2, make_a2 = await file_one(
        store, ALICE, "d3", after=after, event_id="ev-4", filed_at_s=4
    )
    before = {
        "session": await store.load_session(ALICE),
        "pending": await store.pending_events(),
        "alice": await store.reports_by(ALICE),
    }
    await store.close()

    reopened = open_store(tmp_path)
    assert await reopened.load_session(ALICE) == after == before["session"]
    assert await reopened.load_session(BOB) is None
    assert await reopened.get_report("HB-2026-0001") == filed_a
    assert await reopened.get_report("HB-2026-0002") == filed_b
    assert await reopened.reports_by(ALICE) == [filed_a2, filed_a] == before["alice"]
    assert await reopened.reports_by(BOB) == [filed_b]
    for who, event_id in ((ALICE, "ev-1"), (ALICE, "ev-2"), (BOB, "ev-3"), (ALICE, "ev-4")):
        assert await reopened.seen(who, event_id), event_id
    assert not await reopened.seen(ALICE, "ev-5")
    assert not await reopened.seen(BOB, "ev-1")
    assert sorted(p.name for p in (tmp_path / "conversations").iterdir()) == sorted(
        [file_name(ALICE), file_name(BOB)]
    )
    pending = await reopened.pending_events()
    assert pending == before["pending"]
    assert [e.id for e in pending] == [
        danger.id,
        *(e.id for e in make_a.events),
        *(e.id for e in make_b.events),
        *(e.id for e in make_a2.events),
    ]
    # Numbering carries on where it stopped.
    filed_next, _ = await file_one(reopened, BOB, "d4")
    assert filed_next.reference == "HB-2026-0004"


# --------------------------------------------------------------------------- failed writes


@pytest.mark.parametrize("failing", ["os.replace", "os.fsync"])
async def test_failed_write_leaves_previous_state_on_disk(
    failing: str, tmp_path: Path, open_store: OpenStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = open_store(tmp_path)
    first = session(ALICE, draft("d1", revision=1))
    await store.save_session(ALICE, first, event_id="ev-1")
    mine = person_file(tmp_path, ALICE)
    on_disk = mine.read_bytes()

    name = failing.split(".")[1]
    real = getattr(os, name)

    def broken(*args: Any) -> Any:
        if name == "fsync" or str(tmp_path) in str(args[1]):
            raise OSError(5, "Input/output error")
        return real(*args)

    second = session(ALICE, draft("d1", revision=2))
    crit = event(ALICE, EventKind.RISK_CRITICAL, source="draft", draft_id="d1")
    with monkeypatch.context() as m:
        m.setattr(f"bot.store.tiny.os.{name}", broken)  # tiny.os is the os module
        with pytest.raises(OSError, match="Input/output error"):
            await store.save_session(ALICE, second, event_id="ev-2", events=[crit])

    assert mine.read_bytes() == on_disk
    assert tmp_files(tmp_path) == []  # atomic_write removed its temporary file
    # The live store rolled back to what is on disk.
    assert await store.load_session(ALICE) == first
    assert await store.pending_events() == []
    await store.close()  # the lock is held until close, even after a failure

    reopened = open_store(tmp_path)
    assert await reopened.load_session(ALICE) == first
    assert await reopened.seen(ALICE, "ev-1")
    assert not await reopened.seen(ALICE, "ev-2")
    assert await reopened.pending_events() == []


async def test_leftover_temporary_files_are_removed_at_open(
    tmp_path: Path, open_store: OpenStore
) -> None:
    store = open_store(tmp_path)
    first = session(ALICE, draft("d1", revision=1))
    await store.save_session(ALICE, first)
    filed, _ = await file_one(store, BOB, "d2")
    await store.close()
    # What a crash between writing a temporary file and renaming it leaves behind.
    leftovers = [
        tmp_path / "conversations" / f".{file_name(ALICE)}.tmp",
        tmp_path / "conversations" / f".{file_name(person('U-NEW'))}.tmp",  # a first save
        tmp_path / "reports" / ".2026-0000.json.tmp",
        tmp_path / ".records.json.tmp",
    ]
    for leftover in leftovers:
        leftover.write_text('{"session":{"1":{"per', "utf-8")
    assert sorted(tmp_files(tmp_path)) == sorted(leftovers)

    reopened = open_store(tmp_path)
    assert tmp_files(tmp_path) == []
    assert await reopened.load_session(ALICE) == first
    assert await reopened.load_session(person("U-NEW")) is None
    assert await reopened.get_report(filed.reference) == filed


async def test_failed_batch_keeps_live_store_consistent_with_disk(
    tmp_path: Path, open_store: OpenStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = open_store(tmp_path)
    first = session(ALICE, draft("d1", revision=1))
    await store.save_session(ALICE, first, event_id="ev-1")
    filed, make = await file_one(store, BOB, "b1", event_id="ev-b1")

    with monkeypatch.context() as m:
        fail_writes_to(m, file_name(ALICE))
        with pytest.raises(OSError):
            await store.save_session(
                ALICE,
                session(ALICE, draft("d1", revision=2)),
                event_id="ev-2",
                events=[event(ALICE, EventKind.RISK_CRITICAL, source="draft")],
            )
        fail_writes_to(m, "2026-0000.json")
        with pytest.raises(OSError):
            await file_one(store, ALICE, "d1", event_id="ev-3")

    # In memory, the rolled-back writes are gone, exactly as on disk.
    assert await store.load_session(ALICE) == first
    assert await store.get_report("HB-2026-0002") is None
    assert await store.reports_by(ALICE) == []
    assert [e.id for e in await store.pending_events()] == [e.id for e in make.events]
    assert store._person(ALICE.key).storage.read() == read_json(person_file(tmp_path, ALICE))
    assert store._person(BOB.key).storage.read() == read_json(person_file(tmp_path, BOB))
    shard = store._shard(2026, 1)
    assert shard.storage.read() == read_json(tmp_path / "reports" / "2026-0000.json")

    # And the store goes on working: the number was not used up, later writes land.
    third = session(ALICE, draft("d1", revision=3))
    await store.save_session(ALICE, third, event_id="ev-4")
    again, _ = await file_one(store, ALICE, "d9", after=third, event_id="ev-5")
    assert again.reference == "HB-2026-0002"
    await store.close()

    reopened = open_store(tmp_path)
    assert await reopened.load_session(ALICE) == third
    assert await reopened.get_report("HB-2026-0001") == filed
    assert await reopened.get_report("HB-2026-0002") == again


@pytest.mark.parametrize("on_disk", [True, False])
def test_atomic_storage_batch_rolls_back(
    on_disk: bool, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "db.json"
    storage = AtomicJSONStorage(str(path) if on_disk else None)
    storage.write({"t": {"1": {"v": 1}}})

    with pytest.raises(RuntimeError), storage.batch():
        storage.write({"t": {"1": {"v": 2}}})
        raise RuntimeError("the operation failed half-way")
    assert storage.read() == {"t": {"1": {"v": 1}}}

    if not on_disk:
        assert not path.exists()
        return
    fail_writes_to(monkeypatch, "db.json")
    with pytest.raises(OSError), storage.batch():
        storage.write({"t": {"1": {"v": 3}}})
    assert storage.read() == {"t": {"1": {"v": 1}}}
    assert read_json(path) == {"t": {"1": {"v": 1}}}


# After a failed write the store's in-memory indexes (_seen, _pending, the
# report indexes) must agree with the rolled-back tables and with the disk.


async def test_failed_write_does_not_mark_event_seen(
    tmp_path: Path, open_store: OpenStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = open_store(tmp_path)
    with monkeypatch.context() as m:
        fail_writes_to(m, file_name(ALICE))
        with pytest.raises(OSError):
            await store.save_session(ALICE, session(ALICE, draft("d1")), event_id="ev-1")
    assert await store.load_session(ALICE) is None  # rolled back...
    assert not await store.seen(ALICE, "ev-1")  # ...and not remembered as handled
    assert not person_file(tmp_path, ALICE).exists()
    await store.save_session(ALICE, session(ALICE, draft("d1")), event_id="ev-1")  # a retry
    assert await store.seen(ALICE, "ev-1")


async def test_failed_first_save_does_not_hand_its_document_to_another_person(
    tmp_path: Path, open_store: OpenStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = open_store(tmp_path)
    bobs = session(BOB, draft("b1"))
    with monkeypatch.context() as m:
        fail_writes_to(m, file_name(ALICE))
        with pytest.raises(OSError):
            await store.save_session(ALICE, session(ALICE, draft("a1")))
        await store.save_session(BOB, bobs)  # one person's failing file does not block others
    alices = session(ALICE, draft("a2"))
    await store.save_session(ALICE, alices)
    assert await store.load_session(BOB) == bobs
    assert await store.load_session(ALICE) == alices
    await store.close()
    reopened = open_store(tmp_path)
    assert await reopened.load_session(BOB) == bobs
    assert await reopened.load_session(ALICE) == alices


async def test_failed_forget_keeps_the_session(
    tmp_path: Path, open_store: OpenStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = open_store(tmp_path)
    kept = session(ALICE, draft("d1", revision=1))
    await store.save_session(ALICE, kept)
    with monkeypatch.context() as m:
        fail_writes_to(m, file_name(ALICE))
        with pytest.raises(OSError):
            await store.save_session(ALICE, None)
    assert await store.load_session(ALICE) == kept
    await store.save_session(ALICE, session(ALICE, draft("d2")))
    await store.save_session(ALICE, None)  # discard everything
    await store.close()
    assert await open_store(tmp_path).load_session(ALICE) is None


async def test_failed_filing_leaves_no_phantom_outbox_entry(
    tmp_path: Path, open_store: OpenStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = open_store(tmp_path)
    with monkeypatch.context() as m:
        fail_writes_to(m, "2026-0000.json")
        with pytest.raises(OSError):
            await file_one(store, ALICE, "d1")
    _, make = await file_one(store, ALICE, "d1")
    pending = await store.pending_events()
    assert [e.id for e in pending] == [make.events[0].id]
    await store.mark_delivered([make.events[0].id], at(10))
    assert await store.pending_events() == []


async def test_pending_order_survives_restart_whole_second(
    tmp_path: Path, open_store: OpenStore
) -> None:
    store = open_store(tmp_path)
    whole = at(0).replace(microsecond=0)
    first = event(ALICE, EventKind.RISK_CRITICAL, when=whole, source="draft")
    second = event(ALICE, EventKind.RISK_CRITICAL, when=whole.replace(microsecond=500_000))
    await store.save_session(ALICE, None, events=[first])
    await store.save_session(ALICE, None, events=[second])
    assert [e.id for e in await store.pending_events()] == [first.id, second.id]
    await store.close()
    reopened = open_store(tmp_path)
    assert [e.id for e in await reopened.pending_events()] == [first.id, second.id]


# --------------------------------------------------------------------------- a real crash

SAVE_FOREVER = """
import asyncio, sys
from pathlib import Path
from bot.store import TinyStore
from tests.store_helpers import draft, person, session

async def main():
    store = TinyStore(Path(sys.argv[1]))
    who = person("U-CRASH")
    i = 0
    while True:
        i += 1
        await store.save_session(
            who, session(who, draft("d1", revision=i, counter=i)), event_id=f"ev-{i}"
        )
        sys.stdout.write(f"{i}\\n")
        sys.stdout.flush()

asyncio.run(main())
"""


def run_writer_and_kill(directory: Path, run_for: float = 0.5) -> int:
    """Start SAVE_FOREVER, SIGKILL it `run_for` seconds after its first save, and
    return the number of the last save it acknowledged."""
    proc = subprocess.Popen(
        [sys.executable, "-c", SAVE_FOREVER, str(directory)],
        cwd=REPO,
        env=SUBPROCESS_ENV,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None and proc.stderr is not None
    try:
        ready, _, _ = select.select([proc.stdout], [], [], 30)
        assert ready, "the writer did not start within 30 s"
        first = proc.stdout.readline()
        assert first.strip(), proc.stderr.read()
        time.sleep(run_for)
        proc.send_signal(signal.SIGKILL)
        out, _ = proc.communicate(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == -signal.SIGKILL
    return [int(line) for line in [first, *out.splitlines()] if line.strip()][-1]


async def test_sigkill_mid_writes_leaves_a_saved_version(
    tmp_path: Path, open_store: OpenStore
) -> None:
    last = run_writer_and_kill(tmp_path)
    assert last > 20, f"only {last} saves in 0.5 s"

    store = open_store(tmp_path)
    assert tmp_files(tmp_path) == []
    loaded = await store.load_session(person("U-CRASH"))
    assert loaded is not None
    saved = loaded.drafts["report"]
    # One complete version: every acknowledged save, and at most the one in flight.
    assert saved.answers["counter"] == saved.revision
    assert last <= saved.revision <= last + 1
    assert await store.seen(person("U-CRASH"), f"ev-{saved.revision}")
    assert not await store.seen(person("U-CRASH"), f"ev-{saved.revision + 1}")


# --------------------------------------------------------------------------- locking

TRY_OPEN = """
import asyncio, sys
from pathlib import Path
from bot.store import StoreLocked, TinyStore
from tests.store_helpers import person

async def main():
    try:
        store = TinyStore(Path(sys.argv[1]))
    except StoreLocked as exc:
        print("LOCKED", exc)
        sys.exit(3)
    found = await store.load_session(person("U-ALICE"))
    await store.close()
    print("OPEN", found.drafts["report"].revision if found else None)

asyncio.run(main())
"""


def try_open_elsewhere(directory: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", TRY_OPEN, str(directory)],
        cwd=REPO,
        env=SUBPROCESS_ENV,
        capture_output=True,
        text=True,
        timeout=60,
    )


async def test_second_store_in_same_process_is_refused(
    tmp_path: Path, open_store: OpenStore
) -> None:
    store = open_store(tmp_path)
    await store.save_session(ALICE, session(ALICE, draft("d1", revision=7)))
    in_flight = tmp_path / "conversations" / f".{file_name(ALICE)}.tmp"
    in_flight.write_text("{}", "utf-8")  # as if the first store were mid-write

    with pytest.raises(StoreLocked, match=re.escape(str(tmp_path))) as refused:
        TinyStore(tmp_path)
    assert "Another Harbour process" in str(refused.value)
    assert in_flight.exists()  # the refused store did not clean up the owner's files

    await store.close()
    again = open_store(tmp_path)
    loaded = await again.load_session(ALICE)
    assert loaded is not None and loaded.drafts["report"].revision == 7


async def test_second_process_is_refused(tmp_path: Path, open_store: OpenStore) -> None:
    store = open_store(tmp_path)
    await store.save_session(ALICE, session(ALICE, draft("d1", revision=7)))

    refused = try_open_elsewhere(tmp_path)
    assert refused.returncode == 3, refused.stderr
    assert refused.stdout.startswith("LOCKED")
    assert str(tmp_path) in refused.stdout

    await store.close()
    allowed = try_open_elsewhere(tmp_path)
    assert allowed.returncode == 0, allowed.stderr
    assert allowed.stdout.split() == ["OPEN", "7"]


async def test_unreadable_file_is_reported_and_releases_the_lock(
    tmp_path: Path, open_store: OpenStore
) -> None:
    # (One person's half-written file no longer stops the store: see test_store_damage.)
    broken = tmp_path / "records.json"
    broken.write_text('{"contacts": {', "utf-8")
    with pytest.raises(StoreError, match=re.escape(f"{broken} is not valid JSON")):
        TinyStore(tmp_path)
    broken.unlink()
    assert await open_store(tmp_path).get_record("contacts", "x") is None  # lock released


# --------------------------------------------------------------------------- recovery


async def _file_but_fail_session_write(
    store: TinyStore, monkeypatch: pytest.MonkeyPatch
) -> tuple[Session, Session]:
    """Alice confirms her report; the shard write lands, the session write fails."""
    before = session(
        ALICE, draft("d1", revision=12), draft("r1", flow="reflect", concern="the photos")
    )
    await store.save_session(ALICE, before, event_id="ev-1")
    after = session(
        ALICE, draft("r1", flow="reflect", concern="the photos"), pending=reflect_offer("x")
    )
    with monkeypatch.context() as m:
        fail_writes_to(m, ANY_PERSON)
        with pytest.raises(OSError):
            await file_one(store, ALICE, "d1", after=after, event_id="ev-2")
    return before, after


async def test_filed_draft_is_dropped_on_reopen(
    tmp_path: Path, open_store: OpenStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = open_store(tmp_path)
    before, _ = await _file_but_fail_session_write(store, monkeypatch)
    assert (tmp_path / "reports" / "2026-0000.json").exists()
    assert await store.load_session(ALICE) == before  # the draft is still there
    await store.close()

    for attempt in range(2):  # the repair is written back, not redone at every open
        with monkeypatch.context() as m:
            writes = record_writes(m)
            reopened = open_store(tmp_path)
        assert [path.name for path, _ in writes] == ([file_name(ALICE)] if attempt == 0 else [])
        assert (await reopened.get_report("HB-2026-0001")) is not None
        loaded = await reopened.load_session(ALICE)
        assert loaded is not None
        assert list(loaded.drafts) == ["reflect"]  # the filed draft is gone, the other kept
        assert loaded.drafts["reflect"] == before.drafts["reflect"]
        assert loaded.active is None  # it was the active one
        assert [e.kind for e in await reopened.pending_events()] == [EventKind.REPORT_FILED]
        await reopened.close()
    stored = read_json(person_file(tmp_path, ALICE))["session"]
    assert [list(s["drafts"]) for s in stored.values()] == [["reflect"]]


async def test_filing_again_returns_the_report_already_filed(
    tmp_path: Path, open_store: OpenStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = open_store(tmp_path)
    _, after = await _file_but_fail_session_write(store, monkeypatch)
    first = await store.get_report("HB-2026-0001")
    assert first is not None and first.draft_id == "d1"

    again = await store.file_report(
        year=2026,
        draft_id="d1",
        make=refuse_to_make,
        person=ALICE,
        session=after,
        event_id="ev-3",
    )
    assert again == first
    assert await store.reports_by(ALICE) == [first]
    assert await store.load_session(ALICE) == after  # the session part is finished now
    assert await store.seen(ALICE, "ev-3")
    assert not await store.seen(ALICE, "ev-2")  # the failed write's event id was not kept
    assert len(await store.pending_events()) == 1  # no second REPORT_FILED
    nxt, _ = await file_one(store, ALICE, "d2", after=after, filed_at_s=60)
    assert nxt.reference == "HB-2026-0002"

    await store.close()
    reopened = open_store(tmp_path)
    assert await reopened.load_session(ALICE) == after
    assert [r.reference for r in await reopened.reports_by(ALICE)] == [
        "HB-2026-0002",
        "HB-2026-0001",
    ]
    assert (
        await reopened.file_report(
            year=2026, draft_id="d1", make=refuse_to_make, person=ALICE, session=after
        )
        == first
    )


# --------------------------------------------------------------------------- numbering


async def test_reference_numbers_run_per_year(tmp_path: Path, open_store: OpenStore) -> None:
    store = open_store(tmp_path)
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
    assert [(r.year, r.seq) for r in refs] == [(2026, 1), (2026, 2), (2027, 1), (2026, 3)]
    # Filing the same draft twice (a double-click) files it once.
    same, make = await file_one(store, ALICE, "d0")
    assert same == refs[0] and make.calls == []
    assert await store.get_report("hb-2026-1") == refs[0]  # as people type it
    assert await store.get_report("HB-2026-0099") is None
    assert await store.get_report("HB-2031-0001") is None
    assert await store.get_report("not a reference") is None
    assert sorted(p.name for p in (tmp_path / "reports").iterdir()) == [
        "2026-0000.json",
        "2027-0000.json",
    ]
    await store.close()

    reopened = open_store(tmp_path)
    assert (await file_one(reopened, BOB, "e1", year=2026))[0].reference == "HB-2026-0004"
    assert (await file_one(reopened, BOB, "e2", year=2027))[0].reference == "HB-2027-0002"


async def test_reports_are_split_into_shards(
    tmp_path: Path, open_store: OpenStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(tiny, "SHARD_SIZE", 4)
    store = open_store(tmp_path)
    filed = []
    for i in range(10):
        who = ALICE if i % 2 == 0 else BOB
        filed.append((await file_one(store, who, f"d{i}", filed_at_s=i))[0])
    assert [r.seq for r in filed] == list(range(1, 11))
    shards = {
        p.name: sorted(map(int, read_json(p)["reports"])) for p in (tmp_path / "reports").iterdir()
    }
    assert shards == {
        "2026-0000.json": [1, 2, 3],
        "2026-0001.json": [4, 5, 6, 7],
        "2026-0002.json": [8, 9, 10],
    }
    # Each report's outbox event sits in the report's shard.
    assert len(read_json(tmp_path / "reports" / "2026-0001.json")["outbox"]) == 4
    await store.close()

    reopened = open_store(tmp_path)
    for report in filed:
        assert await reopened.get_report(report.reference) == report
    assert await reopened.reports_by(ALICE) == filed[::2][::-1]
    assert await reopened.reports_by(BOB) == filed[1::2][::-1]
    assert len(await reopened.pending_events()) == 10
    nxt, _ = await file_one(reopened, ALICE, "d10")
    assert nxt.reference == "HB-2026-0011"
    assert (tmp_path / "reports" / "2026-0002.json").exists()

    # A changed report is rewritten in its own shard only.
    shard0 = (tmp_path / "reports" / "2026-0000.json").read_bytes()
    changed = filed[5].model_copy(update={"status": ReportStatus.ACKNOWLEDGED})
    await reopened.save_report(changed)
    assert (tmp_path / "reports" / "2026-0000.json").read_bytes() == shard0
    assert (await reopened.get_report(changed.reference)) == changed


# --------------------------------------------------------------------------- seen events


async def test_a_read_waits_behind_the_writes_before_it_and_not_otherwise(
    tmp_path: Path, open_store: OpenStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = open_store(tmp_path)
    real = tiny.atomic_write
    threads: list[str] = []

    def slow_write(path: Path, text: str) -> None:
        threads.append(threading.current_thread().name)
        time.sleep(0.05)  # a slow disk
        real(path, text)

    monkeypatch.setattr(tiny, "atomic_write", slow_write)
    mine = session(ALICE, draft("d1"))
    saving = asyncio.ensure_future(store.save_session(ALICE, mine, event_id="ev-1"))
    await asyncio.sleep(0)  # the write is queued on the store's thread
    # Reads issued meanwhile see it, whether they were asked before it finished...
    assert await store.seen(ALICE, "ev-1")
    assert await store.load_session(ALICE) == mine
    await saving
    assert threads and all(t.startswith("harbour-store") for t in threads)
    # ...and with nothing queued a read does not wait for the thread at all.
    monkeypatch.setattr(store, "_run", None)  # any hop to the thread would fail
    assert await store.load_session(ALICE) == mine
    assert await store.seen(ALICE, "ev-1") and not await store.seen(BOB, "ev-1")
    await store.close()


async def test_seen_events_keep_the_most_recent_per_person(
    tmp_path: Path, open_store: OpenStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(tiny, "SEEN_KEEP", 5)
    store = open_store(tmp_path)
    mine = session(ALICE, draft("d1"))
    for i in range(20):
        await store.save_session(ALICE, mine, event_id=f"ev-{i}")
    await store.save_session(ALICE, mine, event_id="ev-19")  # a redelivery adds nothing
    # Bob is busier than Alice: his events must not push hers out.
    bobs = session(BOB, draft("b1"))
    for i in range(30):
        await store.save_session(BOB, bobs, event_id=f"bob-{i}")

    async def check(s: TinyStore, who: PersonRef, prefix: str, newest: int) -> None:
        for i in range(newest - 4, newest + 1):
            assert await s.seen(who, f"{prefix}-{i}"), f"{prefix}-{i} forgotten"
        for i in range(newest - 4):
            assert not await s.seen(who, f"{prefix}-{i}"), f"{prefix}-{i} still kept"

    def kept(who: PersonRef) -> int:
        return len(seen_ids(person_file(tmp_path, who)))

    await check(store, ALICE, "ev", 19)
    await check(store, BOB, "bob", 29)
    assert not await store.seen(BOB, "ev-19") and not await store.seen(ALICE, "bob-29")
    assert kept(ALICE) == 5 and kept(BOB) == 5
    await store.close()

    reopened = open_store(tmp_path)
    await check(reopened, ALICE, "ev", 19)
    await check(reopened, BOB, "bob", 29)
    for i in range(20, 27):  # pruning still drops the oldest after a restart
        await reopened.save_session(ALICE, mine, event_id=f"ev-{i}")
    await check(reopened, ALICE, "ev", 26)
    await check(reopened, BOB, "bob", 29)
    assert kept(ALICE) == 5 and kept(BOB) == 5


async def test_seen_events_in_the_older_one_document_per_id_form_are_read_and_rewritten(
    tmp_path: Path, open_store: OpenStore
) -> None:
    store = open_store(tmp_path)
    mine = session(ALICE, draft("d1"))
    await store.save_session(ALICE, mine, event_id="ev-0")
    await store.close()
    path = person_file(tmp_path, ALICE)
    data = read_json(path)
    data["seen"] = {str(n): {"id": f"ev-{n}"} for n in range(1, 4)}  # as written before
    path.write_text(json.dumps(data), encoding="utf-8")

    reopened = open_store(tmp_path)
    for n in range(1, 4):
        assert await reopened.seen(ALICE, f"ev-{n}")
    assert await reopened.load_session(ALICE) == mine
    await reopened.save_session(ALICE, mine, event_id="ev-4")
    assert seen_ids(path) == ["ev-1", "ev-2", "ev-3", "ev-4"]
    await reopened.close()
    again = open_store(tmp_path)
    assert all([await again.seen(ALICE, f"ev-{n}") for n in range(1, 5)])


# --------------------------------------------------------------------------- outbox


async def test_outbox_lists_events_oldest_first_until_delivered(
    tmp_path: Path, open_store: OpenStore
) -> None:
    store = open_store(tmp_path)
    e1 = event(ALICE, EventKind.RISK_CRITICAL, when=at(1), source="draft", draft_id="d1")
    await store.save_session(ALICE, session(ALICE, draft("d1")), events=[e1])
    e3 = event(ALICE, EventKind.RISK_CRITICAL, when=at(3), reference="HB-2026-0001")
    filed, make = await file_one(store, ALICE, "d1", filed_at_s=2, extra_events=[e3])
    e2 = make.events[0]
    e4 = event(ALICE, EventKind.REPORT_UPDATED, when=at(4), reference=filed.reference)
    updated = filed.model_copy(update={"status": ReportStatus.IN_PROGRESS})
    await store.save_report(updated, events=[e4], person=ALICE, session=None, event_id="ev-u")
    e5 = event(BOB, EventKind.RISK_CRITICAL, when=at(5), source="draft", draft_id="b1")
    await store.save_session(BOB, session(BOB, draft("b1")), events=[e5])

    expected = [e1, e2, e3, e4, e5]
    assert await store.pending_events() == expected
    assert await store.get_report(filed.reference) == updated
    assert await store.load_session(ALICE) is None and await store.seen(ALICE, "ev-u")
    # Alerts raised before a report exists wait in the person's own file.
    assert [d["id"] for d in read_json(person_file(tmp_path, ALICE))["outbox"].values()] == [e1.id]
    assert [d["id"] for d in read_json(person_file(tmp_path, BOB))["outbox"].values()] == [e5.id]

    await store.mark_delivered([e2.id, e4.id, "no-such-event"], at(10))
    assert await store.pending_events() == [e1, e3, e5]
    await store.close()

    reopened = open_store(tmp_path)
    # People's files' and the shard's events interleaved, oldest first.
    assert await reopened.pending_events() == [e1, e3, e5]
    await reopened.mark_delivered([e1.id, e3.id, e5.id], at(11))
    assert await reopened.pending_events() == []
    await reopened.close()

    assert await open_store(tmp_path).pending_events() == []
    outbox = read_json(tmp_path / "reports" / "2026-0000.json")["outbox"]
    assert all(doc["delivered_at"] for doc in outbox.values())  # kept as the report's record
    for who in (ALICE, BOB):  # delivered, they leave the person's file: it stays small
        assert read_json(person_file(tmp_path, who))["outbox"] == {}


# --------------------------------------------------------------------------- people's files


async def test_filing_reports_does_not_grow_the_reporters_file(
    tmp_path: Path, open_store: OpenStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(tiny, "SEEN_KEEP", 5)  # so the cap on remembered ids is reached
    store = open_store(tmp_path)
    someone = session(BOB, draft("b-live", revision=4))
    await store.save_session(BOB, someone)
    bobs = stamps(tmp_path)[person_file(tmp_path, BOB)]
    mine = person_file(tmp_path, ALICE)
    reflecting = session(
        ALICE, draft("r1", flow="reflect", concern="the photos"), pending=reflect_offer("x")
    )

    def apart_from_seen() -> dict[str, Any]:
        return {table: docs for table, docs in read_json(mine).items() if table != "seen"}

    await file_one(store, ALICE, "d0", after=reflecting, event_id="ev-0")
    after_one = mine.stat().st_size
    rest_after_one = apart_from_seen()
    reports_after_one = sum(p.stat().st_size for p in (tmp_path / "reports").iterdir())
    sizes = []
    for i in range(1, 50):
        await file_one(store, ALICE, f"d{i}", after=reflecting, event_id=f"ev-{i}")
        sizes.append(mine.stat().st_size)

    # Reports and their events went to the shard; Alice's file only remembers her
    # latest event ids, and at most SEEN_KEEP of them.
    assert apart_from_seen() == rest_after_one
    assert read_json(mine).get("outbox", {}) == {}
    assert seen_ids(mine) == [f"ev-{i}" for i in range(45, 50)]
    assert max(sizes) <= after_one + 5 * len('"ev-49",')  # room for 5 more ids
    reports_after_50 = sum(p.stat().st_size for p in (tmp_path / "reports").iterdir())
    assert reports_after_50 > 40 * reports_after_one
    # Nobody else's file was written.
    assert stamps(tmp_path)[person_file(tmp_path, BOB)] == bobs
    assert await store.load_session(BOB) == someone
    assert len(await store.reports_by(ALICE)) == 50


async def test_saving_a_step_writes_only_that_persons_file(
    tmp_path: Path, open_store: OpenStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = open_store(tmp_path)
    carol = person("U-CAROL")
    for who in (ALICE, BOB, carol):
        await store.save_session(who, session(who, draft(f"d-{who.user}")), event_id="ev-1")
    await file_one(store, BOB, "b-filed", after=session(BOB, draft(f"d-{BOB.user}")))
    await store.put_record("contacts", "teams:tenant:user-1", {"conversation": {"id": "a:1"}})
    before = stamps(tmp_path)
    assert len(before) == 5  # three people's files, a shard, records.json

    writes = record_writes(monkeypatch)
    step = session(ALICE, draft(f"d-{ALICE.user}", revision=2))
    await store.save_session(ALICE, step, event_id="ev-2")
    assert [path for path, _ in writes] == [person_file(tmp_path, ALICE)]
    after = stamps(tmp_path)
    assert set(after) == set(before)
    assert [p.name for p in after if after[p] != before[p]] == [file_name(ALICE)]

    # A step that raises an alert keeps it in the same one write.
    writes.clear()
    alert = event(ALICE, EventKind.RISK_CRITICAL, source="draft", draft_id=f"d-{ALICE.user}")
    await store.save_session(ALICE, step, event_id="ev-3", events=[alert])
    assert [path for path, _ in writes] == [person_file(tmp_path, ALICE)]
    assert [e.id for e in await store.pending_events()][-1] == alert.id
    await store.close()

    reopened = open_store(tmp_path)
    assert await reopened.load_session(ALICE) == step
    for who in (BOB, carol):
        assert await reopened.load_session(who) == session(who, draft(f"d-{who.user}"))
        assert await reopened.seen(who, "ev-1") and not await reopened.seen(who, "ev-2")


async def test_many_peoples_sessions_do_not_make_a_step_write_more(
    tmp_path: Path, open_store: OpenStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A step writes the person's own file, the same size whether they are alone
    or 300 other people have drafts in progress."""

    async def alices_step(directory: Path, others: int) -> list[tuple[Path, int]]:
        store = open_store(directory)
        for n in range(others):
            who = person(f"U-OTHER-{n:04d}")
            started = session(who, draft(f"o{n}", revision=3))
            await store.save_session(who, started, event_id=f"o-{n}")
        await store.save_session(ALICE, session(ALICE, draft("d1", revision=1)), event_id="ev-1")
        with monkeypatch.context() as m:
            writes = record_writes(m)
            step = session(ALICE, draft("d1", revision=2))
            await store.save_session(ALICE, step, event_id="ev-2")
        await store.close()
        return writes

    alone = await alices_step(tmp_path / "alone", 0)
    crowded = await alices_step(tmp_path / "crowded", 300)

    assert len(list((tmp_path / "crowded" / "conversations").glob("*.json"))) == 301
    assert [p.name for p, _ in alone] == [p.name for p, _ in crowded] == [file_name(ALICE)]
    written = crowded[0][1]
    assert written == alone[0][1]
    assert written == person_file(tmp_path / "crowded", ALICE).stat().st_size
    assert written < 4096  # one draft and two event ids


# --------------------------------------------------------------------------- contacts


async def test_contacts_survive_a_restart_apart_from_conversations(
    tmp_path: Path, open_store: OpenStore
) -> None:
    store = open_store(tmp_path)
    await store.save_session(ALICE, session(ALICE, draft("d1")))
    alices = stamps(tmp_path)[person_file(tmp_path, ALICE)]
    reference = {"conversation": {"id": "a:1"}, "serviceUrl": "https://smba.example/emea/"}
    await store.put_record("contacts", "teams:tenant:user-1", reference)
    await store.put_record(
        "contacts", "channel:safety-leads:teams", {"conversation": {"id": "19:x"}}
    )
    assert await store.get_record("contacts", "teams:tenant:user-1") == reference
    assert await store.get_record("contacts", "nobody") is None
    assert [p.name for p in (tmp_path / "conversations").iterdir()] == [file_name(ALICE)]
    assert "smba.example" not in person_file(tmp_path, ALICE).read_text()
    assert stamps(tmp_path)[person_file(tmp_path, ALICE)] == alices  # not rewritten
    before = (tmp_path / "records.json").stat().st_mtime_ns
    await store.put_record(
        "contacts", "teams:tenant:user-1", dict(reference)
    )  # unchanged: not rewritten
    assert (tmp_path / "records.json").stat().st_mtime_ns == before
    await store.put_record(
        "contacts", "teams:tenant:user-1", {**reference, "serviceUrl": "https://new/"}
    )
    await store.close()
    reopened = open_store(tmp_path)
    assert (await reopened.get_record("contacts", "teams:tenant:user-1") or {})[
        "serviceUrl"
    ] == "https://new/"
    assert await reopened.get_record("contacts", "channel:safety-leads:teams") == {
        "conversation": {"id": "19:x"}
    }
    await reopened.put_record("contacts", "channel:safety-leads:teams", None)
    assert await reopened.get_record("contacts", "channel:safety-leads:teams") is None
    assert set(await reopened.records("contacts")) == {"teams:tenant:user-1"}
