"""What only the embedded store must show for data protection (issue 14): an
erased case or a forgotten person leaves nothing under the data directory
(previous copies and the index included), retention finds what it needs from
the index without reading every file, and a reseal leaves nothing the retired
key opens. What every store does is in tests/test_store_privacy_contract.py.

Real TinyStores on real files, with no key (so anything in clear would be
found by looking at the bytes) unless a test seals. `VOUCH_AFTER_NS` is 0 so
that the index vouches for files written a moment ago, and holds the open
cases whole: what is erased must leave it too.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

import bot.store.tiny as tiny
from bot.models import PersonRef, TextMessage
from bot.privacy.audit import AuditAction, AuditEntry
from bot.privacy.keys import new_ring
from bot.privacy.sealing import Sealer
from bot.reports import DomainEvent, EventKind, Report, ReportAnswers, ReportStatus
from bot.store import RecordKind, StoreError, TinyStore
from bot.store.tiny import read_index
from tests.store_helpers import ANSWERS, Factory, at, draft, event, person, session

ALICE = person("U-ALICE")
BOB = person("U-BOB")
MARKER = "PLATYPUS2290"
"""Typed into the case that is erased, or by the person who is forgotten."""
KEPT = "ECHIDNA7713"
"""Typed into what must stay."""

OpenStore = Callable[..., TinyStore]


@pytest.fixture(autouse=True)
def small(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(tiny, "VOUCH_AFTER_NS", 0)
    monkeypatch.setattr(tiny, "SHARD_SIZE", 4)
    monkeypatch.setattr(tiny, "DELIVERY_CASES", 2)


@pytest.fixture
def data(tmp_path: Path) -> Path:
    return tmp_path / "data"


@pytest.fixture
async def open_store(data: Path) -> AsyncIterator[OpenStore]:
    """Opens a TinyStore on `data`, closing the one open before (one process at a time)."""
    opened: list[TinyStore] = []

    def open_(sealer: Sealer | None = None) -> TinyStore:
        store = TinyStore(data, sealer=sealer)
        opened.append(store)
        return store

    yield open_
    for store in opened:
        await store.close()


class Reads:
    """Every stored file the store reads (by label)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.labels: list[str] = []
        real = tiny.Place.read

        def read(place: tiny.Place) -> Any:
            self.labels.append(place.label)
            return real(place)

        monkeypatch.setattr(tiny.Place, "read", read)


def files_under(directory: Path) -> str:
    """Every file under `directory`, as text (the markers are ASCII)."""
    found = sorted(p for p in directory.rglob("*") if p.is_file())
    assert found
    return "\n".join(p.read_bytes().decode("utf-8", "replace") for p in found)


def holding(directory: Path, text: str) -> list[str]:
    """The files under `directory` that hold `text`, by their path in it."""
    return sorted(
        str(p.relative_to(directory))
        for p in directory.rglob("*")
        if p.is_file() and text.encode() in p.read_bytes()
    )


class Marked(Factory):
    """A `Factory` whose report's description holds `words`."""

    def __init__(self, who: PersonRef, draft_id: str, words: str) -> None:
        super().__init__(who, draft_id)
        self.words = words

    def __call__(self, seq: int, reference: str) -> tuple[Report, list[DomainEvent]]:
        made, events = super().__call__(seq, reference)
        made.answers = ReportAnswers.model_validate(
            {**ANSWERS, "description": f"Posts naming me, {self.words}."}
        )
        return made, events


async def file_marked(store: TinyStore, who: PersonRef, draft_id: str, words: str) -> Report:
    return await store.file_report(
        year=2026, draft_id=draft_id, make=Marked(who, draft_id, words), person=who, session=None
    )


def seen(seconds: float, reference: str | None) -> AuditEntry:
    return AuditEntry(
        n=0, at=at(seconds), actor="slack:T1:U-LEAD", action=AuditAction.VIEWED, reference=reference
    )


# --------------------------------------------------------------------------- erasure


async def test_an_erased_case_leaves_nothing_of_it_in_the_data_directory(
    open_store: OpenStore, data: Path
) -> None:
    store = open_store()
    kept = await file_marked(store, BOB, "b1", KEPT)
    erased = await file_marked(store, ALICE, "a1", MARKER)
    # Written again and again: previous copies of its shard hold it.
    erased.log(at(1), "note", actor="slack:T1:U-LEAD", detail=MARKER)
    changed = event(ALICE, EventKind.CASE_CHANGED, when=at(2), reference=erased.reference)
    parked = event(ALICE, EventKind.CASE_CHANGED, when=at(3), reference=erased.reference)
    await store.save_report(erased, events=[changed, parked])
    # One of its events queued with one of her steps, in her own file.
    queued = event(ALICE, EventKind.CASE_CHANGED, when=at(4), reference=erased.reference)
    await store.save_session(ALICE, session(ALICE, draft("a2")), events=[queued])
    [filed_event] = [
        e
        for e in await store.pending_events()
        if e.kind is EventKind.REPORT_FILED and e.reference == erased.reference
    ]
    ours = [filed_event, changed, parked, queued]
    for each in ours:
        await store.put_record(
            RecordKind.DELIVERIES,
            f"{each.id}:slack:D1",
            {"status": "sent", "message": MARKER, "at": at(5).isoformat()},
        )
    await store.mark_delivered([filed_event.id], at(5))
    await store.park_event(parked.id, "ValueError while delivering")
    await store.put_record(
        RecordKind.CHANNEL_MESSAGES,
        erased.reference,
        {"platform": "slack", "address": "C1", "message": MARKER},
    )
    await store.append_audit(seen(6, erased.reference))
    await store.append_audit(seen(7, kept.reference))
    await store._run(store._write_index)
    # (What the test looks for is there to be found before.)
    assert {"index/reports-2026-0000.cache", "previous/reports/2026-0000.json.prev"} <= set(
        holding(data, MARKER)
    )
    assert any(each.id in files_under(data) for each in ours)

    assert await store.erase_report(erased.reference)

    def nothing_left() -> None:
        assert holding(data, MARKER) == []
        everything = files_under(data)
        assert erased.reference not in everything
        assert [each.id for each in ours if each.id in everything] == []
        assert KEPT in everything

    nothing_left()
    assert await store.get_report(kept.reference) == kept
    assert await store.load_session(ALICE) == session(ALICE, draft("a2"))
    assert await store.dead_letters() == []
    await store.close()
    nothing_left()  # (the index written at close does not bring it back)

    store = open_store()
    assert await store.get_report(erased.reference) is None
    assert await store.get_report(kept.reference) == kept
    assert [e.reference for e in await store.pending_events()] == [kept.reference]
    assert await store.audit_chains() == [kept.reference]
    nothing_left()


async def test_a_crash_part_way_through_an_erasure_leaves_the_case_to_erase_again(
    open_store: OpenStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = open_store()
    erased = await file_marked(store, ALICE, "a1", MARKER)
    [raised] = await store.pending_events()
    await store.put_record(
        RecordKind.DELIVERIES, f"{raised.id}:slack:D1", {"status": "sent", "at": at(1).isoformat()}
    )
    await store.append_audit(seen(2, erased.reference))
    # The records go first and the report last: a crash before the report's
    # write leaves it stored, and its erasure is simply asked for again.
    real = tiny.Place.write
    monkeypatch.setattr(tiny.Place, "write", _failing_for("reports/"))
    with pytest.raises(OSError):
        await store.erase_report(erased.reference)
    monkeypatch.setattr(tiny.Place, "write", real)
    await store.close()

    store = open_store()
    assert await store.get_report(erased.reference) == erased
    assert await store.audit_chain(erased.reference) == []  # its records went first
    assert await store.erase_report(erased.reference)
    assert await store.get_report(erased.reference) is None
    assert await store.pending_events() == []


def _failing_for(prefix: str) -> Callable[[tiny.Place, str], None]:
    real = tiny.Place.write

    def write(place: tiny.Place, text: str) -> None:
        if place.label.startswith(prefix):
            raise OSError("the machine went down")
        real(place, text)

    return write


# --------------------------------------------------------------------------- people


async def test_a_forgotten_person_leaves_no_file_no_copy_and_no_index_entry(
    open_store: OpenStore, data: Path
) -> None:
    store = open_store()
    await store.save_session(ALICE, session(ALICE, draft("a1", description=MARKER)), event_id="e1")
    await store.save_session(ALICE, session(ALICE, draft("a1", description=MARKER)), event_id="e2")
    await store.save_session(BOB, session(BOB, draft("b1", description=KEPT)), event_id="e1")
    await store.close()  # the index now names both
    name = tiny._file_name(ALICE.key)
    assert name in (read_index(data / "index" / "conversations.cache") or {})["files"]
    assert (data / "conversations" / name).exists()
    assert (data / "previous" / "conversations" / f"{name}.prev").exists()

    store = open_store()
    await store.accept(TextMessage(event_id="e3", person=ALICE, text=MARKER))
    await store.forget_person(ALICE)
    assert not (data / "conversations" / name).exists()
    assert not (data / "previous" / "conversations" / f"{name}.prev").exists()
    assert name not in (read_index(data / "index" / "conversations.cache") or {})["files"]
    assert holding(data, MARKER) == []
    assert ALICE.user not in files_under(data)
    assert await store.load_session(BOB) == session(BOB, draft("b1", description=KEPT))
    await store.close()

    store = open_store()
    assert await store.load_session(ALICE) is None
    assert not await store.seen(ALICE, "e1")
    assert await store.idle_sessions(datetime.max.replace(tzinfo=at(0).tzinfo)) == [BOB]


async def test_a_forgotten_person_s_undelivered_danger_alert_still_goes_out(
    open_store: OpenStore, data: Path
) -> None:
    store = open_store()
    danger = event(ALICE, EventKind.RISK_CRITICAL, when=at(1), source="draft", draft_id="a1")
    await store.save_session(
        ALICE, session(ALICE, draft("a1", description=MARKER)), event_id="e1", events=[danger]
    )
    await store.save_session(ALICE, session(ALICE, draft("a1", description=MARKER)), event_id="e2")

    await store.forget_person(ALICE)
    assert holding(data, MARKER) == []
    assert await store.load_session(ALICE) is None and not await store.seen(ALICE, "e1")
    assert await store.pending_events() == [danger]  # ids and times only: it is delivered
    await store.mark_delivered([danger.id], at(2))
    await store.close()
    store = open_store()
    assert await store.pending_events() == []
    assert await store.idle_sessions(at(10_000)) == []


async def test_idle_sessions_are_found_from_the_index_without_reading_people_s_files(
    open_store: OpenStore, data: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = open_store()
    for n, who in enumerate([ALICE, BOB, person("U-CAROL")]):
        mine = session(who, draft("d1")).model_copy(update={"updated_at": at(n * 10)})
        await store.save_session(who, mine, event_id="e1")
    await store.close()

    reads = Reads(monkeypatch)
    store = open_store()
    assert await store.idle_sessions(at(15)) == [ALICE, BOB]
    assert not [label for label in reads.labels if label.startswith("conversations/")]
    await store.close()

    # An index written before it kept the conversations' times: each file is
    # read once, by the first call that needs it (not at open), and its
    # entry written again.
    cache = data / "index" / "conversations.cache"
    found = read_index(cache) or {}
    older = {name: entry[:5] for name, entry in found["files"].items()}
    tiny.write_index(cache, {"files": older})
    reads.labels.clear()
    store = open_store()
    assert not [label for label in reads.labels if label.startswith("conversations/")]
    assert await store.idle_sessions(at(15)) == [ALICE, BOB]
    assert sum(label.startswith("conversations/") for label in reads.labels) == 3
    await store.close()
    reads.labels.clear()
    store = open_store()
    assert await store.idle_sessions(at(25)) == [ALICE, BOB, person("U-CAROL")]
    assert not [label for label in reads.labels if label.startswith("conversations/")]


# --------------------------------------------------------------------------- references


async def test_closed_cases_are_found_from_the_index_or_their_files_alike(
    open_store: OpenStore, data: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = open_store()
    filed = [await file_marked(store, ALICE, f"d{n}", KEPT) for n in range(6)]
    for n in (1, 4):
        filed[n].status = ReportStatus.CLOSED
        filed[n].closed_at = at(100 + n)
        await store.save_report(filed[n])
    # One closed before `closed_at` was kept: when its timeline says.
    filed[5].status = ReportStatus.CLOSED
    filed[5].log(at(50), "closed", actor="slack:T1:U-LEAD")
    await store.save_report(filed[5])
    await store.close()
    # As an older Harbour wrote it, and edited by hand (no stamp): the index
    # no longer vouches for its shard, which is read at open.
    shard = data / "reports" / "2026-0001.json"
    stored = json.loads(tiny.unstamp(shard.read_bytes()))
    stored["reports"][str(filed[5].seq)].pop("closed_at")
    shard.write_text(json.dumps(stored))

    reads = Reads(monkeypatch)
    store = open_store()
    assert await store.references(closed_before=at(104)) == [filed[1].reference, filed[5].reference]
    assert "reports/2026-0000.json" not in reads.labels  # the index said, not the shard
    assert await store.references() == [r.reference for r in filed]
    await store.close()

    for cache in (data / "index").glob("reports-*.cache"):
        cache.unlink()
    store = open_store()
    assert await store.references(closed_before=at(105)) == [
        filed[1].reference,
        filed[4].reference,
        filed[5].reference,
    ]


# --------------------------------------------------------------------------- pruning


async def test_prune_reads_only_what_may_hold_something_to_go(
    open_store: OpenStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = open_store()
    filed = [await file_marked(store, ALICE, f"d{n}", KEPT) for n in range(6)]
    raised = await store.pending_events()
    for n, each in enumerate(raised):
        await store.put_record(
            RecordKind.DELIVERIES,
            f"{each.id}:slack:D1",
            {"status": "sent", "at": at(n).isoformat()},
        )
    await store.mark_delivered([e.id for e in raised], at(10))
    assert await store.prune_delivered(at(3)) == 3  # three records: the events were delivered later
    assert await store.prune_delivered(at(11)) == 6 + 3
    await store.close()

    reads = Reads(monkeypatch)
    store = open_store()
    assert await store.prune_delivered(at(11)) == 0
    assert not [label for label in reads.labels if label.startswith(("reports/", "deliveries/2"))]
    assert [r.reference for r in await store.open_reports()] == [r.reference for r in filed]
    # What is delivered and finished later is found again (the index said none was).
    later = event(ALICE, EventKind.CASE_CHANGED, when=at(20), reference=filed[0].reference)
    await store.save_report(filed[0], events=[later])
    await store.put_record(
        RecordKind.DELIVERIES, f"{later.id}:slack:D1", {"status": "sent", "at": at(20).isoformat()}
    )
    await store.mark_delivered([later.id], at(20))
    assert await store.prune_delivered(at(21)) == 1 + 1
    await store.close()
    store = open_store()
    assert await store.prune_delivered(at(21)) == 0


# --------------------------------------------------------------------------- resealing


async def test_a_reseal_leaves_no_copy_or_index_entry_the_retired_key_opens(
    open_store: OpenStore, data: Path
) -> None:
    old = new_ring("test")
    store = open_store(Sealer(old))
    await store.put_record(RecordKind.KEY_CHECK, "current", {"value": old.check_value()})
    filed = await file_marked(store, ALICE, "d1", MARKER)
    await store.save_report(filed)
    await store.save_session(BOB, session(BOB, draft("b1", description=MARKER)), event_id="e1")
    await store.save_session(BOB, session(BOB, draft("b1", description=KEPT)), event_id="e2")
    await store._run(store._write_index)  # the open case, sealed, in the index
    # A previous copy of a person's file removed since (a conversation reset by hand).
    gone = data / "previous" / "conversations" / "0123456789abcdef0123456789abcdef.json.prev"
    bob = data / "previous" / "conversations" / f"{tiny._file_name(BOB.key)}.prev"
    gone.write_bytes(bob.read_bytes())
    assert {"index/reports-2026-0000.cache", "previous/reports/2026-0000.json.prev"} <= set(
        holding(data, f"hb1.{old.current}.")
    )

    both = old.rotated()
    store.sealer = Sealer(both)
    await store.reseal()
    await store.close()  # (the index is written at close, sealed with the new key)
    assert holding(data, f"hb1.{old.current}.") == []
    assert "index/reports-2026-0000.cache" in holding(data, f"hb1.{both.current}.")
    assert not gone.exists()  # a copy of a file no longer there is never read: it went

    new = both.only_current()
    store = open_store(Sealer(new))
    assert new.opens_check((await store.get_record(RecordKind.KEY_CHECK, "current") or {})["value"])
    assert await store.open_reports() == [filed]
    assert await store.load_session(BOB) == session(BOB, draft("b1", description=KEPT))


# --------------------------------------------------------------------------- audit


async def test_a_case_s_audit_lives_with_it_and_the_store_s_in_a_file_of_its_own(
    open_store: OpenStore, data: Path
) -> None:
    store = open_store()
    filed = await file_marked(store, ALICE, "d1", KEPT)
    entry = await store.append_audit(seen(1, filed.reference))
    dropped = [await store.append_audit(seen(n, None)) for n in (2, 3)]
    kept = await store.append_audit(seen(10, None))
    assert entry.hash in (data / "deliveries" / "2026-0000.json").read_text()
    assert entry.hash not in (data / "audit.json").read_text()
    assert await store.trim_audit(at(5)) == 2
    # Nor does a previous copy keep what retention dropped.
    assert holding(data, dropped[0].hash) == []
    # The last one dropped is named only by the first kept (its `previous`).
    assert holding(data, dropped[1].hash) == ["audit.json", "previous/audit.json.prev"]
    assert await store.audit_chain(None) == [kept]
    await store.erase_report(filed.reference)
    assert holding(data, entry.hash) == []


async def test_a_record_put_to_none_is_gone_from_its_previous_copy_too(
    open_store: OpenStore, data: Path
) -> None:
    store = open_store()
    await store.put_record(RecordKind.PEOPLE, ALICE.key, {"name": f"Ann {MARKER}"})
    await store.put_record(RecordKind.CONTACTS, ALICE.key, {"channel": "D1"})
    assert "previous/records.json.prev" in holding(data, MARKER)
    await store.put_record(RecordKind.PEOPLE, ALICE.key, None)
    assert holding(data, MARKER) == []
    assert await store.get_record(RecordKind.CONTACTS, ALICE.key) == {"channel": "D1"}


# --------------------------------------------------------------------------- a value that does not open


async def test_a_report_whose_sealed_value_does_not_open_stops_only_itself(
    open_store: OpenStore, data: Path, caplog: pytest.LogCaptureFixture
) -> None:
    ring = new_ring("test")
    store = open_store(Sealer(ring))
    filed = [await file_marked(store, who, f"d{n}", KEPT) for n, who in enumerate([ALICE, BOB])]
    await store.close()
    # One character of Bob's sealed report changed, the file's checksum made
    # to match (damage made before the stamp was written, or by hand).
    shard = data / "reports" / "2026-0000.json"
    stored = json.loads(tiny.unstamp(shard.read_bytes()))
    token = stored["reports"][str(filed[1].seq)]["sealed"]
    middle = len(token) // 2
    stored["reports"][str(filed[1].seq)]["sealed"] = (
        token[:middle] + ("A" if token[middle] != "A" else "B") + token[middle + 1 :]
    )
    shard.write_text(tiny.stamp(json.dumps(stored)))
    (data / "index" / "reports-2026-0000.cache").unlink()  # read whole at open

    store = open_store(Sealer(ring))
    assert await store.get_report(filed[0].reference) == filed[0]
    assert await store.open_reports() == [filed[0]]
    with pytest.raises(StoreError, match=filed[1].reference):
        await store.get_report(filed[1].reference)
    assert await store.references() == [r.reference for r in filed]
    assert f"reports/2026-0000.json: report:{filed[1].reference}" in caplog.text
    assert KEPT not in caplog.text
    later = await file_marked(store, ALICE, "d2", KEPT)
    assert later.reference == "HB-2026-0003"  # its number stays taken
