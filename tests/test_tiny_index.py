"""The embedded store keeps in memory what is in use, not everything ever stored.

At open it reads its index (`index/`: where each report is, whose it is, the
open cases whole, the undelivered alerts) instead of every shard; a closed case
is read from its shard when asked for, on the store's thread. The index is only
a cache: a file it does not vouch for (changed since, damaged, restored) is
read whole. Delivery records live with their case (`deliveries/`), not in the
ever-growing `records.json`, and an older `records.json` has them moved out at
the first open, in steps a crash cannot spoil.

Real TinyStores on real files. `VOUCH_AFTER_NS` is set to 0 so that the index
vouches for files written a moment ago (it waits 2 s otherwise).
"""

from __future__ import annotations

import asyncio
import gc
import json
import logging
import os
import re
import shutil
import threading
from collections.abc import AsyncIterator, Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

import bot.store.tiny as tiny
from bot.reports import EventKind, Report, ReportStatus
from bot.store import RecordKind, StoreError, TinyStore
from bot.store.tiny import stamp
from tests.store_helpers import ANSWERS, Factory, at, draft, event, person, reflect_offer, session

ALICE = person("U-ALICE")
BOB = person("U-BOB")
CONTENT = ANSWERS["description"]  # must never reach a log

OpenStore = Callable[[Path], TinyStore]


@pytest.fixture(autouse=True)
def small(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(tiny, "VOUCH_AFTER_NS", 0)
    monkeypatch.setattr(tiny, "SHARD_SIZE", 4)
    monkeypatch.setattr(tiny, "DELIVERY_CASES", 2)


@pytest.fixture
async def open_store() -> AsyncIterator[OpenStore]:
    opened: list[TinyStore] = []

    def open_(directory: Path) -> TinyStore:
        store = TinyStore(directory)
        opened.append(store)
        return store

    yield open_
    for store in opened:
        await store.close()


class Reads:
    """Every stored file the store reads (by label), and on which thread."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.labels: list[str] = []
        self.threads: set[str] = set()
        real = tiny.Place.read

        def read(place: tiny.Place) -> Any:
            self.labels.append(place.label)
            self.threads.add(threading.current_thread().name)
            return real(place)

        monkeypatch.setattr(tiny.Place, "read", read)

    def clear(self) -> None:
        self.labels.clear()
        self.threads.clear()


async def file_one(store: TinyStore, who: Any, draft_id: str, filed_at_s: float = 0) -> Report:
    make = Factory(who, draft_id, filed_at=at(filed_at_s))
    return await store.file_report(
        year=2026, draft_id=draft_id, make=make, person=who, session=None
    )


async def twelve_cases(store: TinyStore) -> list[Report]:
    """Twelve reports over three shards, the first eight closed."""
    filed = [await file_one(store, ALICE if n % 2 else BOB, f"d{n}", n) for n in range(12)]
    for report in filed[:8]:
        report.status = ReportStatus.CLOSED
        await store.save_report(report)
    return filed


def rewrite_in_place(path: Path, raw: bytes, was: os.stat_result) -> None:
    """As a flipped bit on disk: the same inode, size and modification time."""
    with open(path, "r+b") as f:
        f.write(raw)
    os.utime(path, ns=(was.st_atime_ns, was.st_mtime_ns))


def read_json(path: Path) -> dict[str, Any]:
    found: dict[str, Any] = json.loads(path.read_text())
    return found


# --------------------------------------------------------------------------- reading


async def test_closed_cases_are_read_when_asked_for_on_the_stores_thread(
    tmp_path: Path, open_store: OpenStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = open_store(tmp_path)
    filed = await twelve_cases(store)
    await store.close()

    reads = Reads(monkeypatch)
    reopened = open_store(tmp_path)
    assert not [label for label in reads.labels if label.startswith("reports/")]
    reads.clear()
    assert await reopened.open_reports() == filed[8:]  # kept whole: no shard read
    assert reads.labels == []

    assert await reopened.get_report(filed[1].reference) == filed[1]
    assert reads.labels == ["reports/2026-0000.json"]
    assert reads.threads == {t for t in reads.threads if t.startswith("harbour-store")}
    reads.clear()
    assert await reopened.get_report(filed[2].reference) == filed[2]  # its shard is in memory
    assert reads.labels == []
    assert await reopened.reports_by(ALICE) == filed[1::2][::-1]
    assert await reopened.get_report("HB-2026-0013") is None
    assert (await file_one(reopened, BOB, "d99")).reference == "HB-2026-0013"


async def test_only_a_few_files_stay_in_memory(
    tmp_path: Path, open_store: OpenStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(tiny, "REPORT_FILES_KEPT", 2)
    monkeypatch.setattr(tiny, "PEOPLE_KEPT", 3)
    store = open_store(tmp_path)
    filed = await twelve_cases(store)
    people = [person(f"U-{n}") for n in range(8)]
    for n, who in enumerate(people):
        await store.save_session(who, session(who, draft(f"p{n}")), event_id=f"ev-{n}")
    await store.close()

    reopened = open_store(tmp_path)
    for report in filed:
        assert await reopened.get_report(report.reference) == report
        assert len(reopened._report_files) <= 2
    for n, who in enumerate(people):
        assert await reopened.load_session(who) == session(who, draft(f"p{n}"))
        assert await reopened.seen(who, f"ev-{n}")
        assert len(reopened._people_files) <= 3
    assert len(reopened._live_people) <= 3


async def test_a_persons_file_is_read_at_open_only_if_something_in_it_must_not_wait(
    tmp_path: Path, open_store: OpenStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = open_store(tmp_path)
    crit = event(ALICE, EventKind.RISK_CRITICAL, source="draft", draft_id="d1")
    await store.save_session(ALICE, session(ALICE, draft("d1")), events=[crit])
    await store.save_session(BOB, session(BOB, draft("b1")), event_id="ev-b")
    await store.close()

    reads = Reads(monkeypatch)
    reopened = open_store(tmp_path)
    assert [label for label in reads.labels if label.startswith("conversations/")] == [
        f"conversations/{tiny._file_name(ALICE.key)}"
    ]
    assert await reopened.pending_events() == [crit]
    reads.clear()
    assert await reopened.load_session(BOB) == session(BOB, draft("b1"))
    assert reads.labels == [f"conversations/{tiny._file_name(BOB.key)}"]
    assert reads.threads == {t for t in reads.threads if t.startswith("harbour-store")}


async def test_a_filing_a_crash_interrupted_is_finished_from_the_index(
    tmp_path: Path, open_store: OpenStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The report is in its shard, her conversation still holds the draft: the
    index knows the drafts in each conversation, so it is found without reading
    everyone's file, and finished."""
    store = open_store(tmp_path)
    before = session(ALICE, draft("d1", revision=3))
    await store.save_session(ALICE, before, event_id="ev-1")
    real = tiny.atomic_write

    def fails_for_her(path: Path, text: str) -> None:
        if path.name == tiny._file_name(ALICE.key):
            raise OSError(28, "No space left on device")
        real(path, text)

    with monkeypatch.context() as m:
        m.setattr(tiny, "atomic_write", fails_for_her)
        with pytest.raises(OSError):
            await store.file_report(
                year=2026,
                draft_id="d1",
                make=Factory(ALICE, "d1"),
                person=ALICE,
                session=session(ALICE, pending=reflect_offer("HB-2026-0001")),
                event_id="ev-2",
            )
    await store.close()
    index = read_json(tmp_path / "index" / "conversations.cache")
    assert index["files"][tiny._file_name(ALICE.key)][4] == ["d1"]

    reopened = open_store(tmp_path)
    loaded = await reopened.load_session(ALICE)
    assert loaded is not None and loaded.drafts == {}  # the filed draft was dropped
    assert [r.draft_id for r in await reopened.reports_by(ALICE)] == ["d1"]


# --------------------------------------------------------------------------- the index


async def test_the_index_is_only_a_cache(
    tmp_path: Path, open_store: OpenStore, caplog: pytest.LogCaptureFixture
) -> None:
    store = open_store(tmp_path)
    filed = await twelve_cases(store)
    crit = event(ALICE, EventKind.RISK_CRITICAL, source="draft", draft_id="d1")
    await store.save_session(ALICE, session(ALICE, draft("d1")), events=[crit])
    pending = await store.pending_events()

    async def same(reopened: TinyStore) -> None:
        assert await reopened.open_reports() == filed[8:]
        assert await reopened.reports_by(BOB) == filed[0::2][::-1]
        assert await reopened.pending_events() == pending
        assert reopened._max_seq == {2026: 12}

    await store.close()
    shutil.rmtree(tmp_path / "index")  # gone: every shard is read
    reopened = open_store(tmp_path)
    await same(reopened)
    await reopened.close()

    for cached in (tmp_path / "index").iterdir():  # damaged: not trusted, nothing said
        cached.write_bytes(cached.read_bytes()[:-10])
    with caplog.at_level(logging.WARNING, logger="bot.store.tiny"):
        again = open_store(tmp_path)
        await same(again)
    assert [r for r in caplog.records if r.levelno >= logging.WARNING] == []


async def test_a_shard_changed_after_the_index_was_written_is_read_whole(
    tmp_path: Path, open_store: OpenStore
) -> None:
    store = open_store(tmp_path)
    filed = await twelve_cases(store)
    await store.close()
    shard = tmp_path / "reports" / "2026-0002.json"
    data = read_json(shard)
    del data["reports"]["10"]  # by hand, leaving plain JSON
    shard.write_text(json.dumps(data))

    reopened = open_store(tmp_path)
    assert await reopened.get_report("HB-2026-0010") is None
    assert filed[9] not in await reopened.open_reports()
    assert filed[9] not in await reopened.reports_by(ALICE)


async def test_damage_the_open_did_not_see_is_repaired_when_the_file_is_read(
    tmp_path: Path, open_store: OpenStore, caplog: pytest.LogCaptureFixture
) -> None:
    """A byte flipped on disk leaves the size and time of a file as they were:
    the index vouches for it, and the damage shows when it is read. Put back
    from its previous copy (one write behind), what it holds is indexed again."""
    store = open_store(tmp_path)
    first = await file_one(store, ALICE, "d1")
    second = await file_one(store, ALICE, "d2")
    closed = first.model_copy(deep=True)
    closed.status = ReportStatus.CLOSED
    await store.save_report(closed)  # the shard's last write
    await store.close()
    shard = tmp_path / "reports" / "2026-0000.json"
    found = os.stat(shard)
    raw = bytearray(shard.read_bytes())
    where = raw.rindex(b'"seq":2')
    raw[where + 6] = ord("7")
    rewrite_in_place(shard, bytes(raw), found)

    with caplog.at_level(logging.WARNING, logger="bot.store.tiny"):
        reopened = open_store(tmp_path)
        assert [r for r in caplog.records if r.levelno >= logging.WARNING] == []  # not read
        assert await reopened.open_reports() == [second]
        # The previous copy is from before the first case was closed.
        assert await reopened.get_report(first.reference) == first
    assert "2026-0000.json does not match its checksum" in caplog.text
    assert "restored from its previous copy" in caplog.text
    assert CONTENT not in caplog.text
    # What the index knew is worked out again from the copy put back.
    assert await reopened.open_reports() == [first, second]
    assert await reopened.reports_by(ALICE) == [second, first]
    assert (await file_one(reopened, BOB, "d3")).reference == "HB-2026-0003"


async def test_damage_with_no_previous_copy_is_refused_when_read_naming_the_file(
    tmp_path: Path, open_store: OpenStore
) -> None:
    store = open_store(tmp_path)
    first = await file_one(store, ALICE, "d1")  # written once: no previous copy
    first.status = ReportStatus.CLOSED
    await store.close()
    shard = tmp_path / "reports" / "2026-0000.json"
    found = os.stat(shard)
    raw = bytearray(shard.read_bytes())
    raw[-3] = ord("x") if raw[-3] != ord("x") else ord("y")
    rewrite_in_place(shard, bytes(raw), found)

    reopened = open_store(tmp_path)
    with pytest.raises(StoreError, match=re.escape(str(shard))) as refused:
        await reopened.save_report(first)
    assert "no good previous copy" in str(refused.value)


# --------------------------------------------------------------------------- records


async def test_delivery_records_live_with_their_case(
    tmp_path: Path, open_store: OpenStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = open_store(tmp_path)
    await store.put_record(RecordKind.CONTACTS, ALICE.key, {"channel": "D1"})
    crit = event(ALICE, EventKind.RISK_CRITICAL, source="draft", draft_id="d0")
    await store.save_session(ALICE, session(ALICE, draft("d0")), events=[crit])
    filed = [await file_one(store, BOB, f"d{n}") for n in range(4)]
    pending = {e.reference: e for e in await store.pending_events()}

    written: list[str] = []
    real = tiny.atomic_write

    def spy(path: Path, text: str) -> None:
        written.append(str(path.relative_to(tmp_path)))
        real(path, text)

    monkeypatch.setattr(tiny, "atomic_write", spy)
    for report in filed:
        key = f"{pending[report.reference].id}:slack:C1"
        await store.put_record(RecordKind.DELIVERIES, key, {"status": "sent"})
        await store.put_record(RecordKind.CHANNEL_MESSAGES, report.reference, {"message": "m"})
    await store.put_record(RecordKind.DELIVERIES, f"{crit.id}:receipt", {"said": "done"})
    await store.put_record(RecordKind.DELIVERIES, "names-no-event", {"n": 1})
    await store.put_record(RecordKind.CHANNEL_MESSAGES, "HB-2026-0099", {"message": "x"})
    # Two cases to a file (DELIVERY_CASES), never records.json.
    assert set(written) == {
        "deliveries/2026-0000.json",  # HB-2026-0001
        "deliveries/2026-0001.json",  # HB-2026-0002 and 0003
        "deliveries/2026-0002.json",  # HB-2026-0004
        "deliveries/no-report.json",
    }
    assert list(read_json(tmp_path / "deliveries" / "2026-0001.json")) == [
        "deliveries",
        "channel-messages",
    ]

    everything = await store.records(RecordKind.DELIVERIES)
    assert len(everything) == 6 and everything[f"{crit.id}:receipt"] == {"said": "done"}
    assert set(await store.records(RecordKind.CHANNEL_MESSAGES)) == {
        *(r.reference for r in filed),
        "HB-2026-0099",
    }
    assert await store.records(RecordKind.CONTACTS) == {ALICE.key: {"channel": "D1"}}

    # Delivered, an event's records are found where they are (it is slow, and rare).
    delivered = pending[filed[2].reference]
    await store.mark_delivered([delivered.id], at(9))
    await store.close()
    reopened = open_store(tmp_path)
    found = await reopened.get_record(RecordKind.DELIVERIES, f"{delivered.id}:slack:C1")
    assert found == {"status": "sent"}
    await reopened.put_record(RecordKind.DELIVERIES, f"{delivered.id}:slack:C1", {"status": "x"})
    assert read_json(tmp_path / "deliveries" / "2026-0001.json")["deliveries"]["2"]["value"] == {
        "status": "x"
    }
    assert await reopened.get_record(RecordKind.CHANNEL_MESSAGES, "HB-2026-0004") == {
        "message": "m"
    }


def old_records(directory: Path, records: dict[str, list[tuple[str, dict[str, Any]]]]) -> None:
    """records.json as a Harbour before 2026-12 wrote it (stamped, TinyDB tables)."""
    tables = {
        kind: {str(n): {"key": k, "value": v} for n, (k, v) in enumerate(items, 1)}
        for kind, items in records.items()
    }
    (directory / "records.json").write_text(stamp(json.dumps(tables)))


async def aged(directory: Path) -> tuple[list[Report], dict[str, list[tuple[str, Any]]]]:
    """A data directory as an older Harbour left it: delivered alerts, their
    delivery and channel-message records in records.json."""
    store = TinyStore(directory)
    crit = event(ALICE, EventKind.RISK_CRITICAL, source="draft", draft_id="d0")
    await store.save_session(ALICE, session(ALICE, draft("d0")), events=[crit])
    filed = [await file_one(store, BOB, f"d{n}") for n in range(5)]
    pending = await store.pending_events()
    await store.mark_delivered([e.id for e in pending], at(5))
    await store.close()
    shutil.rmtree(directory / "index")
    records: dict[str, list[tuple[str, Any]]] = {
        "deliveries": [
            (f"{e.id}:slack:C1", {"status": "sent", "n": n}) for n, e in enumerate(pending)
        ]
        + [(f"{crit.id}:receipt", {"said": "done"})],
        "channel-messages": [(r.reference, {"message": r.reference}) for r in filed]
        + [("HB-2026-0099", {"message": "no such case"})],
        "contacts": [(ALICE.key, {"channel": "D1"})],
    }
    old_records(directory, records)
    return filed, records


async def test_an_older_records_json_has_its_deliveries_moved_to_their_cases(
    tmp_path: Path, open_store: OpenStore, caplog: pytest.LogCaptureFixture
) -> None:
    _, records = await aged(tmp_path)
    with caplog.at_level(logging.INFO, logger="bot.store.tiny"):
        store = open_store(tmp_path)
    assert "moved 13 delivery and channel-message records" in caplog.text
    assert set(read_json(tmp_path / "records.json")) == {"contacts"}
    for kind in ("deliveries", "channel-messages"):
        assert await store.records(RecordKind(kind)) == dict(records[kind])
    assert await store.records(RecordKind.CONTACTS) == dict(records["contacts"])
    shard_one = read_json(tmp_path / "deliveries" / "2026-0001.json")  # HB-2026-0002 and 0003
    assert sorted(d["key"] for d in shard_one["channel-messages"].values()) == [
        "HB-2026-0002",
        "HB-2026-0003",
    ]
    assert len(shard_one["deliveries"]) == 2
    no_report = read_json(tmp_path / "deliveries" / "no-report.json")
    assert {d["key"] for d in no_report["channel-messages"].values()} == {"HB-2026-0099"}
    assert len(no_report["deliveries"]) == 2  # the danger alert and its receipt
    await store.close()
    again = open_store(tmp_path)  # moved once: nothing to move again
    assert await again.records(RecordKind.DELIVERIES) == dict(records["deliveries"])


async def test_a_crash_while_moving_leaves_every_record_once(
    tmp_path: Path, open_store: OpenStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    _, records = await aged(tmp_path)
    real = tiny.atomic_write

    def dies_at_records_json(path: Path, text: str) -> None:
        if path.name == "records.json":
            raise OSError(5, "Input/output error")  # the process goes no further
        real(path, text)

    with monkeypatch.context() as m:
        m.setattr(tiny, "atomic_write", dies_at_records_json)
        with pytest.raises(OSError):
            TinyStore(tmp_path)
    assert (tmp_path / "deliveries" / "2026-0001.json").exists()  # written first
    assert "deliveries" in read_json(tmp_path / "records.json")  # not yet removed

    # One moved record changed since (it cannot be, as nothing is served
    # before the move ends, but a record already moved is never written over).
    moved = tmp_path / "deliveries" / "2026-0001.json"
    data = read_json(moved)
    first = next(iter(data["deliveries"].values()))
    first["value"] = {"status": "changed since"}
    moved.write_text(json.dumps(data))

    store = open_store(tmp_path)
    found = await store.records(RecordKind.DELIVERIES)
    assert found == {**dict(records["deliveries"]), first["key"]: {"status": "changed since"}}
    assert await store.records(RecordKind.CHANNEL_MESSAGES) == dict(records["channel-messages"])
    assert set(read_json(tmp_path / "records.json")) == {"contacts"}
    every = [
        d["key"]
        for path in (tmp_path / "deliveries").glob("*.json")
        for d in read_json(path).get("deliveries", {}).values()
    ]
    assert sorted(every) == sorted(k for k, _ in records["deliveries"])  # each once


async def test_deliveries_an_older_harbour_wrote_after_a_newer_one_are_moved_too(
    tmp_path: Path, open_store: OpenStore
) -> None:
    """Run back on an older Harbour after this one: it writes delivery records
    in records.json again, while the index still vouches for every shard."""
    store = open_store(tmp_path)
    filed = [await file_one(store, BOB, f"d{n}") for n in range(6)]
    pending = await store.pending_events()
    await store.mark_delivered([e.id for e in pending], at(5))
    await store.close()
    old_records(
        tmp_path, {"deliveries": [(f"{e.id}:slack:C1", {"n": e.reference}) for e in pending]}
    )

    reopened = open_store(tmp_path)
    assert not (tmp_path / "deliveries" / "no-report.json").exists()
    for n in range(3):  # two cases to a file
        kept = read_json(tmp_path / "deliveries" / f"2026-{n:04d}.json")["deliveries"]
        assert sorted(d["value"]["n"] for d in kept.values()) == sorted(
            r.reference for r in filed if r.seq // 2 == n
        )
    assert len(await reopened.records(RecordKind.DELIVERIES)) == 6


# --------------------------------------------------------------------------- timers


async def test_the_timers_read_only_the_cases_that_are_due(
    tmp_path: Path, open_store: OpenStore
) -> None:
    store = open_store(tmp_path)
    filed = await twelve_cases(store)
    asked: list[str] = []

    def rule(report: Report) -> datetime | None:
        asked.append(report.reference)
        return report.filed_at if report.seq % 3 == 0 else None

    store.index_due(rule)
    due = await store.reports_due(at(100))
    assert [r.reference for r in due] == ["HB-2026-0009", "HB-2026-0012"]
    assert sorted(asked) == sorted(r.reference for r in filed[8:])
    asked.clear()
    assert await store.reports_due(at(100)) == due  # the answers are kept
    assert asked == []
    assert await store.reports_due(at(-1)) == []
    changed = filed[10]
    changed.claimed_by = ALICE.key
    await store.save_report(changed)
    assert asked == [changed.reference]  # asked again for the case written
    changed.status = ReportStatus.CLOSED
    await store.save_report(changed)
    assert [r.reference for r in await store.reports_due(at(100))] == [
        "HB-2026-0009",
        "HB-2026-0012",
    ]
    assert (await store.reports_due(at(100)))[0] is not (await store.reports_due(at(100)))[0]


async def test_a_file_written_just_before_the_index_is_vouched_for_at_a_later_turn(
    tmp_path: Path, open_store: OpenStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A file written within the filesystem clock's tick of the index could be
    written again unnoticed: the index waits until it is old enough."""
    monkeypatch.setattr(tiny, "VOUCH_AFTER_NS", 300_000_000)
    store = open_store(tmp_path)
    filed = await file_one(store, ALICE, "d1")
    [alert] = await store.pending_events()
    await store.put_record(RecordKind.DELIVERIES, f"{alert.id}:slack:C1", {"status": "sent"})
    await store.check_writable()  # a turn on the store's thread
    store._write_index()
    cached = tmp_path / "index" / "deliveries.cache"
    assert "deliveries/2026-0000.json" not in read_json(cached).get("files", {})
    assert not (tmp_path / "index" / "reports-2026-0000.cache").exists()

    await asyncio.sleep(0.35)
    await store.check_writable()  # the next turn, once it is old enough
    assert "deliveries/2026-0000.json" in read_json(cached)["files"]
    assert (tmp_path / "index" / "reports-2026-0000.cache").exists()
    assert store._fresh == set()
    await store.close()

    reads = Reads(monkeypatch)
    reopened = open_store(tmp_path)
    assert sorted(reads.labels) == ["deliveries/no-report.json", "records.json", "report-numbers"]
    assert await reopened.get_report(filed.reference) == filed


async def test_many_copies_pause_the_collector_only_while_they_are_made(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(tiny, "MANY_COPIES", 3)
    store = TinyStore(None)
    filed = [await file_one(store, ALICE, f"d{n}") for n in range(5)]
    seen: list[bool] = []
    real = Report.model_validate

    def validate(obj: Any, *args: Any, **kwargs: Any) -> Report:
        seen.append(gc.isenabled())
        return real(obj, *args, **kwargs)

    monkeypatch.setattr(Report, "model_validate", validate)
    assert await store.open_reports() == filed
    assert seen == [False] * 5 and gc.isenabled()
    gc.disable()
    try:
        assert await store.open_reports() == filed
        assert not gc.isenabled()  # left as it was found
    finally:
        gc.enable()
    seen.clear()
    await store.reports_by(ALICE)  # one by one: the collector runs as ever
    assert all(seen)
