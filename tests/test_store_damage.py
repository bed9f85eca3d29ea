"""The store never reads damage as empty (regression tests for the issue "A 0-byte
report shard is read as empty").

Real TinyStores on real files in pytest's temporary directories. For every kind
of file the store writes (a report shard, records.json, a person's conversation
file, the report-number counter, the delivery records of a group of cases and
those of alerts raised before any report), each kind of damage (emptied, cut short, cut
inside its stamp, garbage, a changed byte that leaves valid JSON) is repaired
from the previous copy when there is one, back to what the file held before its
last write; with none, the store refuses to start and names the file, except for
a person's file, which is set aside so that everyone else carries on.

Numbers come from a counter that never goes back, and an unreadable or
undeliverable outbox event is set aside as a dead letter instead of blocking
the events after it.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import shutil
import stat
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

import bot.store.tiny as tiny
from bot.models import PersonRef
from bot.reports import EventKind
from bot.store import MemoryStore, RecordKind, StoreError, TinyStore
from tests.store_helpers import ANSWERS, Factory, at, draft, event, person, session

ALICE = person("U-ALICE")
BOB = person("U-BOB")
CAROL = person("U-CAROL")
CONTENT = ANSWERS["description"]  # must never reach a log

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


def file_name(who: PersonRef) -> str:
    return hashlib.sha256(who.key.encode()).hexdigest()[:32] + ".json"


def previous(directory: Path, path: Path) -> Path:
    return directory / "previous" / f"{path.relative_to(directory)}.prev"


def damaged(directory: Path) -> list[Path]:
    folder = directory / "damaged"
    return sorted(folder.iterdir()) if folder.exists() else []


def stamped(path: Path) -> bool:
    """Whether the file carries a stamp that checks out."""
    raw = path.read_bytes()
    return raw[:1] in (b" ", b"\t") and tiny.unstamp(raw) == raw[tiny._STAMP_LEN :]


async def file_one(store: TinyStore | MemoryStore, who: PersonRef, draft_id: str) -> str:
    filed = await store.file_report(
        year=2026, draft_id=draft_id, make=Factory(who, draft_id), person=who, session=None
    )
    return filed.reference


# --------------------------------------------------------------------------- kinds of damage


def change_a_digit(raw: bytes) -> bytes:
    """Change the last digit of the JSON: still valid JSON, only the checksum can tell."""
    i = max(i for i, b in enumerate(raw) if chr(b).isdigit())
    changed = raw[:i] + str((int(chr(raw[i])) + 1) % 10).encode() + raw[i + 1 :]
    json.loads(changed)
    return changed


DAMAGE: dict[str, Callable[[bytes], bytes]] = {
    "empty": lambda raw: b"",
    "truncated": lambda raw: raw[: len(raw) // 2],
    "cut-in-stamp": lambda raw: raw[:100],
    "garbage": lambda raw: b"\x00\x89PNG\r\n\x1a\n\xff\xfe not Harbour's" * 8,
    "checksum": change_a_digit,
}


# --------------------------------------------------------------------------- kinds of file


@dataclass(frozen=True)
class Kind:
    """One kind of file the store writes: how to write it twice, and what it holds."""

    name: str
    path: Callable[[Path], Path]
    first: Callable[[TinyStore], Awaitable[None]]
    second: Callable[[TinyStore], Awaitable[None]]
    state: Callable[[TinyStore, Path], Awaitable[Any]]


async def _file_d1(store: TinyStore) -> None:
    await file_one(store, ALICE, "d1")


async def _file_d2(store: TinyStore) -> None:
    await file_one(store, BOB, "d2")


async def _open_refs(store: TinyStore, directory: Path) -> Any:
    return [r.reference for r in await store.open_reports()]


async def _put_directory(store: TinyStore) -> None:
    await store.put_record("directory", "team", {"lead": ALICE.key})


async def _put_contact(store: TinyStore) -> None:
    await store.put_record("contacts", ALICE.key, {"channel": "D1"})


async def _records(store: TinyStore, directory: Path) -> Any:
    return (
        await store.get_record("directory", "team"),
        await store.get_record("contacts", ALICE.key),
    )


async def _save_1(store: TinyStore) -> None:
    await store.save_session(BOB, session(BOB, draft("b1")))  # someone else's, apart
    await store.save_session(ALICE, session(ALICE, draft("d1", revision=1)), event_id="ev-1")


async def _save_2(store: TinyStore) -> None:
    await store.save_session(ALICE, session(ALICE, draft("d1", revision=2)), event_id="ev-2")


async def _alices(store: TinyStore, directory: Path) -> Any:
    return (await store.load_session(ALICE), await store.seen(ALICE, "ev-2"))


async def _counter(store: TinyStore, directory: Path) -> Any:
    return json.loads((directory / "report-numbers").read_text())  # stamped, still plain JSON


async def _deliver(store: TinyStore, status: str) -> None:
    if not await store.pending_events():
        await file_one(store, ALICE, "d1")
    [filed] = await store.pending_events()
    await store.put_record(RecordKind.DELIVERIES, f"{filed.id}:slack:C1", {"status": status})


async def _sending(store: TinyStore) -> None:
    await _deliver(store, "sending")


async def _sent(store: TinyStore) -> None:
    await _deliver(store, "sent")


async def _delivery(store: TinyStore, directory: Path) -> Any:
    [filed] = await store.pending_events()
    return await store.get_record(RecordKind.DELIVERIES, f"{filed.id}:slack:C1")


async def _receipt(store: TinyStore, said: str) -> None:
    if not await store.pending_events():
        crit = event(ALICE, EventKind.RISK_CRITICAL, source="draft", draft_id="d1")
        await store.save_session(ALICE, session(ALICE, draft("d1")), events=[crit])
    [danger] = await store.pending_events()
    await store.put_record(RecordKind.DELIVERIES, f"{danger.id}:receipt", {"said": said})


async def _trying(store: TinyStore) -> None:
    await _receipt(store, "trying")


async def _done(store: TinyStore) -> None:
    await _receipt(store, "done")


async def _said(store: TinyStore, directory: Path) -> Any:
    [danger] = await store.pending_events()
    return await store.get_record(RecordKind.DELIVERIES, f"{danger.id}:receipt")


SHARD = Kind("shard", lambda d: d / "reports" / "2026-0000.json", _file_d1, _file_d2, _open_refs)
RECORDS = Kind("records", lambda d: d / "records.json", _put_directory, _put_contact, _records)
CONVERSATION = Kind(
    "conversation", lambda d: d / "conversations" / file_name(ALICE), _save_1, _save_2, _alices
)
COUNTER = Kind("counter", lambda d: d / "report-numbers", _file_d1, _file_d2, _counter)
DELIVERIES = Kind(
    "deliveries", lambda d: d / "deliveries" / "2026-0000.json", _sending, _sent, _delivery
)
NO_REPORT = Kind("no-report", lambda d: d / "deliveries" / "no-report.json", _trying, _done, _said)
KINDS = [SHARD, RECORDS, CONVERSATION, COUNTER, DELIVERIES, NO_REPORT]


# --------------------------------------------------------------------------- repaired


@pytest.mark.parametrize("damage", DAMAGE)
@pytest.mark.parametrize("kind", KINDS, ids=lambda k: k.name)
async def test_damage_is_repaired_from_the_previous_copy(
    kind: Kind,
    damage: str,
    tmp_path: Path,
    open_store: OpenStore,
    caplog: pytest.LogCaptureFixture,
) -> None:
    store = open_store(tmp_path)
    await kind.first(store)
    before = await kind.state(store, tmp_path)
    await kind.second(store)
    assert await kind.state(store, tmp_path) != before
    await store.close()

    path = kind.path(tmp_path)
    assert previous(tmp_path, path).exists()
    broken = DAMAGE[damage](path.read_bytes())
    path.write_bytes(broken)
    with caplog.at_level(logging.WARNING, logger="bot.store.tiny"):
        reopened = open_store(tmp_path)
        assert await kind.state(reopened, tmp_path) == before  # as before the last write

    label = str(path.relative_to(tmp_path))
    [warning] = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert warning.startswith(label)
    assert "restored from its previous copy" in warning
    assert CONTENT not in caplog.text
    [aside] = damaged(tmp_path)  # the damaged file is kept for whoever looks into it
    assert aside.read_bytes() == broken
    assert stat.S_IMODE(aside.stat().st_mode) == 0o600
    assert stamped(path)

    # The store goes on: numbers never go back, and the repair holds across a restart.
    if kind in (SHARD, COUNTER):
        assert await file_one(reopened, ALICE, "d3") == "HB-2026-0003"
    await reopened.close()
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="bot.store.tiny"):
        again = open_store(tmp_path)
    assert caplog.records == []
    if kind not in (SHARD, COUNTER):
        assert await kind.state(again, tmp_path) == before


# --------------------------------------------------------------------------- refused


@pytest.mark.parametrize("damage", DAMAGE)
@pytest.mark.parametrize(
    "kind", [SHARD, RECORDS, COUNTER, DELIVERIES, NO_REPORT], ids=lambda k: k.name
)
async def test_damage_with_no_previous_copy_stops_the_store_and_names_the_file(
    kind: Kind, damage: str, tmp_path: Path, open_store: OpenStore
) -> None:
    store = open_store(tmp_path)
    await kind.first(store)  # written once: there is no previous copy
    await store.close()
    path = kind.path(tmp_path)
    assert not previous(tmp_path, path).exists()
    good = path.read_bytes()
    broken = DAMAGE[damage](good)
    path.write_bytes(broken)

    with pytest.raises(StoreError, match=re.escape(str(path))) as refused:
        TinyStore(tmp_path)
    message = str(refused.value)
    assert "no good previous copy" in message
    assert "from a backup" in message and "move it" in message
    assert path.read_bytes() == broken  # left as it was, for the administrator
    assert damaged(tmp_path) == []

    path.write_bytes(good)  # restored from a backup: the lock was released
    assert await kind.state(open_store(tmp_path), tmp_path) is not None


async def test_a_zero_byte_shard_stops_harbour_so_its_numbers_are_never_given_again(
    tmp_path: Path, open_store: OpenStore
) -> None:
    """The issue: a 0-byte shard was read as empty, `mine` no longer listed
    HB-2026-0001, and the next report reused HB-2026-0001 and overwrote the shard."""
    store = open_store(tmp_path)
    assert await file_one(store, ALICE, "d1") == "HB-2026-0001"
    await store.close()
    shard = tmp_path / "reports" / "2026-0000.json"
    shard.write_bytes(b"")

    with pytest.raises(StoreError, match=re.escape(f"{shard} is empty")):
        TinyStore(tmp_path)
    assert shard.read_bytes() == b""  # not overwritten

    # With no backup, the administrator moves it aside, as the error says.
    aside = tmp_path.parent / "set-aside-shard.json"
    shard.rename(aside)
    reopened = open_store(tmp_path)
    assert await reopened.reports_by(ALICE) == []
    assert await file_one(reopened, BOB, "d2") == "HB-2026-0002"  # never HB-2026-0001
    assert aside.read_bytes() == b""


# --------------------------------------------------------------------------- set aside


@pytest.mark.parametrize("damage", DAMAGE)
async def test_a_damaged_conversation_with_no_previous_copy_is_set_aside(
    damage: str, tmp_path: Path, open_store: OpenStore, caplog: pytest.LogCaptureFixture
) -> None:
    store = open_store(tmp_path)
    bobs = session(BOB, draft("b1", revision=3))
    await store.save_session(BOB, session(BOB, draft("b1")))
    await store.save_session(BOB, bobs)
    await store.save_session(ALICE, session(ALICE, draft("d1")), event_id="ev-1")  # once
    await file_one(store, CAROL, "c1")
    await store.close()
    mine = tmp_path / "conversations" / file_name(ALICE)
    assert not previous(tmp_path, mine).exists()
    broken = DAMAGE[damage](mine.read_bytes())
    mine.write_bytes(broken)

    with caplog.at_level(logging.WARNING, logger="bot.store.tiny"):
        reopened = open_store(tmp_path)  # Harbour opens for everyone
    assert await reopened.load_session(ALICE) is None  # Alice starts afresh
    assert not await reopened.seen(ALICE, "ev-1")
    assert await reopened.load_session(BOB) == bobs  # everyone else carries on
    assert [r.reference for r in await reopened.reports_by(CAROL)] == ["HB-2026-0001"]
    [warning] = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert warning.startswith(f"conversations/{file_name(ALICE)}")
    assert "starts again with no conversation" in warning
    assert CONTENT not in caplog.text and ALICE.user not in caplog.text
    [aside] = damaged(tmp_path)
    assert aside.read_bytes() == broken
    assert not mine.exists()

    again = session(ALICE, draft("d9"))
    await reopened.save_session(ALICE, again)
    await reopened.close()
    assert await open_store(tmp_path).load_session(ALICE) == again


async def test_a_half_written_person_file_from_an_older_harbour_does_not_stop_everyone(
    tmp_path: Path, open_store: OpenStore
) -> None:
    """The issue: "A half-written person file stops Harbour starting for everyone"."""
    store = open_store(tmp_path)
    await store.save_session(BOB, session(BOB, draft("b1")))
    await store.close()
    broken = tmp_path / "conversations" / file_name(ALICE)
    broken.write_text('{"session": {', "utf-8")  # no stamp: as an older Harbour left it

    reopened = open_store(tmp_path)
    assert await reopened.load_session(ALICE) is None
    assert await reopened.load_session(BOB) == session(BOB, draft("b1"))
    assert [p.read_text() for p in damaged(tmp_path)] == ['{"session": {']


# --------------------------------------------------------------------------- older files


async def test_files_written_before_stamps_are_read_and_stamped_at_their_next_write(
    tmp_path: Path, open_store: OpenStore
) -> None:
    store = open_store(tmp_path)
    await store.save_session(ALICE, session(ALICE, draft("d1")), event_id="ev-1")
    await store.save_session(BOB, session(BOB, draft("d2")))
    reference = await file_one(store, BOB, "d2")
    await store.put_record("contacts", ALICE.key, {"channel": "D1"})
    await store.close()
    # As an older Harbour left the directory: plain JSON, no counter, no previous copies.
    shutil.rmtree(tmp_path / "previous")
    (tmp_path / "report-numbers").unlink()
    files = [
        tmp_path / "records.json",
        tmp_path / "reports" / "2026-0000.json",
        tmp_path / "conversations" / file_name(ALICE),
        tmp_path / "conversations" / file_name(BOB),
    ]
    for path in files:
        data = json.loads(path.read_text("utf-8"))
        path.write_text(json.dumps(data, ensure_ascii=False, separators=(",", ":")), "utf-8")
        assert not stamped(path)

    reopened = open_store(tmp_path)
    assert await reopened.load_session(ALICE) == session(ALICE, draft("d1"))
    assert await reopened.seen(ALICE, "ev-1")
    assert [r.reference for r in await reopened.reports_by(BOB)] == [reference]
    assert await reopened.get_record("contacts", ALICE.key) == {"channel": "D1"}
    assert len(await reopened.pending_events()) == 1
    assert not any(stamped(p) for p in files)  # opening writes nothing

    await reopened.save_session(ALICE, session(ALICE, draft("d1", revision=1)))
    await reopened.put_record("contacts", ALICE.key, {"channel": "D2"})
    assert await file_one(reopened, ALICE, "d3") == "HB-2026-0002"  # numbered from the shards
    await reopened.save_session(BOB, session(BOB, draft("d4")))
    assert all(stamped(p) for p in files)
    assert stamped(tmp_path / "report-numbers")
    # The older version is the previous copy, and still good for a repair.
    assert previous(tmp_path, files[0]).read_text().startswith("{")


# --------------------------------------------------------------------------- numbers


async def test_a_report_removed_from_its_shard_never_has_its_number_given_again(
    tmp_path: Path, open_store: OpenStore
) -> None:
    store = open_store(tmp_path)
    assert [await file_one(store, ALICE, f"d{i}") for i in (1, 2)] == [
        "HB-2026-0001",
        "HB-2026-0002",
    ]
    await store.close()
    shard = tmp_path / "reports" / "2026-0000.json"
    data = json.loads(shard.read_text())
    del data["reports"]["2"]  # by hand, leaving plain JSON
    shard.write_text(json.dumps(data))

    reopened = open_store(tmp_path)
    assert await reopened.get_report("HB-2026-0002") is None
    assert await file_one(reopened, BOB, "d3") == "HB-2026-0003"


async def test_a_crash_between_counting_and_writing_the_report_only_skips_a_number(
    tmp_path: Path, open_store: OpenStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = open_store(tmp_path)
    assert await file_one(store, ALICE, "d1") == "HB-2026-0001"
    real = tiny.atomic_write

    def dies_at_the_shard(path: Path, text: str) -> None:
        if path.name == "2026-0000.json":
            raise OSError(5, "Input/output error")  # and the process goes no further
        real(path, text)

    with monkeypatch.context() as m:
        m.setattr(tiny, "atomic_write", dies_at_the_shard)
        with pytest.raises(OSError):
            await file_one(store, BOB, "d2")
    await store.close()
    assert json.loads((tmp_path / "report-numbers").read_text()) == {"2026": 2}

    reopened = open_store(tmp_path)
    assert await reopened.get_report("HB-2026-0002") is None
    assert await file_one(reopened, BOB, "d2") == "HB-2026-0003"  # 2 might have been told
    assert await reopened.get_report("HB-2026-0001") is not None


async def test_filing_never_writes_over_a_stored_report(
    tmp_path: Path, open_store: OpenStore
) -> None:
    """A report stored under a number its own fields do not claim (edited by
    hand) is still never written over."""
    store = open_store(tmp_path)
    await file_one(store, ALICE, "d1")
    await store.close()
    shard = tmp_path / "reports" / "2026-0000.json"
    data = json.loads(shard.read_text())
    data["reports"]["2"] = {**data["reports"]["1"], "draft_id": "stray"}  # seq still says 1
    shard.write_text(json.dumps(data))

    reopened = open_store(tmp_path)
    assert await file_one(reopened, BOB, "d2") == "HB-2026-0003"
    assert json.loads(shard.read_text())["reports"]["2"]["draft_id"] == "stray"


async def test_a_missing_file_with_a_good_previous_copy_is_put_back(
    tmp_path: Path, open_store: OpenStore, caplog: pytest.LogCaptureFixture
) -> None:
    store = open_store(tmp_path)
    await file_one(store, ALICE, "d1")
    await file_one(store, ALICE, "d2")
    await store.put_record("contacts", ALICE.key, {"channel": "D1"})
    await store.put_record("contacts", BOB.key, {"channel": "D2"})
    await store.close()
    (tmp_path / "reports" / "2026-0000.json").unlink()
    (tmp_path / "records.json").unlink()

    with caplog.at_level(logging.WARNING, logger="bot.store.tiny"):
        reopened = open_store(tmp_path)
    assert await reopened.get_report("HB-2026-0001") is not None
    assert await reopened.get_record("contacts", ALICE.key) == {"channel": "D1"}
    assert "was missing" in caplog.text
    assert await file_one(reopened, BOB, "d3") == "HB-2026-0003"


# --------------------------------------------------------------------------- previous copies


async def test_previous_copies_are_private_links_kept_apart(
    tmp_path: Path, open_store: OpenStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    old = os.umask(0o022)
    try:
        store = open_store(tmp_path)
        await store.save_session(ALICE, session(ALICE, draft("d1")))
        mine = tmp_path / "conversations" / file_name(ALICE)
        first = mine.stat().st_ino
        written: list[Path] = []
        real = tiny.atomic_write

        def spy(path: Path, text: str) -> None:
            written.append(path)
            real(path, text)

        monkeypatch.setattr(tiny, "atomic_write", spy)
        await store.save_session(ALICE, session(ALICE, draft("d1", revision=1)))
    finally:
        os.umask(old)
    assert written == [mine]  # still one write per step: the copy is a link, not a write
    kept = previous(tmp_path, mine)
    assert kept.stat().st_ino == first  # the version replaced, not a copy of it
    assert stat.S_IMODE(kept.stat().st_mode) == 0o600
    assert stat.S_IMODE((tmp_path / "previous").stat().st_mode) == 0o700
    assert [p.name for p in (tmp_path / "conversations").iterdir()] == [file_name(ALICE)]
    await store.close()

    leftover = kept.with_name(f".{kept.name}.tmp")  # a link made just before a crash
    os.link(mine, leftover)
    reopened = open_store(tmp_path)
    assert not leftover.exists()
    assert await reopened.load_session(ALICE) == session(ALICE, draft("d1", revision=1))


# --------------------------------------------------------------------------- dead letters


def outbox_of(path: Path) -> dict[str, Any]:
    found: dict[str, Any] = json.loads(path.read_text()).get("outbox", {})
    return found


async def test_an_unreadable_outbox_entry_does_not_block_the_alerts_after_it(
    tmp_path: Path, open_store: OpenStore, caplog: pytest.LogCaptureFixture
) -> None:
    store = open_store(tmp_path)
    crit = event(ALICE, EventKind.RISK_CRITICAL, source="draft", draft_id="d1")
    timeless = event(ALICE, EventKind.RISK_CRITICAL, when=at(1), source="draft")
    await store.save_session(ALICE, session(ALICE, draft("d1")), events=[crit, timeless])
    await store.close()
    mine = tmp_path / "conversations" / file_name(ALICE)
    data = json.loads(mine.read_text())
    first, second = data["outbox"].values()
    first["kind"] = "a-kind-from-elsewhere"  # fails validation
    del second["at"]  # and one no longer has a time at all
    data["outbox"]["3"] = {"note": CONTENT}  # nor an id: Harbour must still open
    mine.write_text(json.dumps(data))  # as plain JSON, as a hand edit leaves it

    reopened = open_store(tmp_path)
    filed = await file_one(reopened, BOB, "d2")  # an alert raised after them
    with caplog.at_level(logging.DEBUG, logger="bot.store.tiny"):
        pending = await reopened.pending_events()
    assert [(e.kind, e.reference) for e in pending] == [(EventKind.REPORT_FILED, filed)]
    letters = await reopened.dead_letters()
    assert sorted(d.id for d in letters) == sorted(
        [crit.id, timeless.id, f"conversations/{file_name(ALICE)}#3"]
    )
    by_id = {d.id: d for d in letters}
    assert "kind" in by_id[crit.id].reason and "a-kind-from-elsewhere" not in by_id[crit.id].reason
    assert "missing at at" in by_id[timeless.id].reason
    assert all(d.where == f"conversations/{file_name(ALICE)}" for d in letters)
    assert not any(d.reported for d in letters)
    assert CONTENT not in caplog.text and "a-kind-from-elsewhere" not in caplog.text
    assert outbox_of(mine) == {}  # gone from the outbox...
    kept = await reopened.records("dead-letters")  # ...kept whole for whoever looks
    assert kept[crit.id]["document"]["kind"] == "a-kind-from-elsewhere"
    await reopened.close()

    again = open_store(tmp_path)
    assert [d.id for d in await again.dead_letters()] == [d.id for d in letters]
    assert [e.reference for e in await again.pending_events()] == [filed]


@pytest.mark.parametrize("kind", ["tiny", "memory"])
async def test_a_parked_event_leaves_the_outbox_for_the_dead_letters(
    kind: str, tmp_path: Path
) -> None:
    data = tmp_path / "data"
    store = TinyStore(data) if kind == "tiny" else MemoryStore()
    try:
        crit = event(ALICE, EventKind.RISK_CRITICAL, source="draft", draft_id="d1")
        await store.save_session(ALICE, session(ALICE, draft("d1")), events=[crit])
        filed = await file_one(store, BOB, "d2")
        poison, good = await store.pending_events()
        assert poison == crit

        await store.park_event(poison.id, "ValueError while delivering")
        await store.park_event("no-such-event", "ValueError while delivering")  # nothing
        assert [e.reference for e in await store.pending_events()] == [filed]
        [letter] = await store.dead_letters()
        assert (letter.id, letter.reason, letter.reported) == (
            poison.id,
            "ValueError while delivering",
            False,
        )
        assert letter.where == f"conversations/{file_name(ALICE)}"
        await store.park_event(good.id, "KeyError while delivering")  # one in a shard
        await store.mark_dead_letter_reported([poison.id])
        letters = {d.id: d for d in await store.dead_letters()}
        assert letters[poison.id].reported and not letters[good.id].reported
        assert letters[good.id].where == "reports/2026-0000.json"
        assert await store.pending_events() == []
        await store.mark_delivered([poison.id], at(5))  # set aside: nothing to mark
    finally:
        await store.close()
    if kind == "memory":
        assert not data.exists()
        return
    reopened = TinyStore(data)
    try:
        assert await reopened.pending_events() == []
        assert {d.id: d.reported for d in await reopened.dead_letters()} == {
            poison.id: True,
            good.id: False,
        }
    finally:
        await reopened.close()


async def test_everything_works_in_memory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """`MemoryStore`: the same numbering and dead letters, and never a file."""
    monkeypatch.chdir(tmp_path)
    store = MemoryStore()
    assert [await file_one(store, ALICE, f"d{i}") for i in (1, 2)] == [
        "HB-2026-0001",
        "HB-2026-0002",
    ]
    bad = store._person(ALICE.key)
    bad.table("outbox").insert({"id": "broken", "kind": "nonsense", "at": "later"})
    store._index()
    assert [e.reference for e in await store.pending_events()] == ["HB-2026-0001", "HB-2026-0002"]
    [letter] = await store.dead_letters()
    assert letter.id == "broken" and letter.where == f"conversations/{file_name(ALICE)}"
    await store.close()
    assert os.listdir(tmp_path) == []
