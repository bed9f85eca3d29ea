"""The embedded store seals what people wrote in every file it keeps (`bot.privacy`).

Real TinyStores on real files, given their key as Harbour gives it: opened,
then `attach_key`. Data written before sealing is read as it is and sealed by
the next write of its file; a store holding sealed data opens nothing but its
records until it has its key; `bot.store.migrate` still reads it all, opened.
`VOUCH_AFTER_NS` is 0 so that the index (which holds open cases whole) is
written for files written a moment ago, and `SHARD_SIZE` small so there are
several shards.
"""

from __future__ import annotations

import shutil
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

import bot.store.tiny as tiny
from bot.models import PersonRef, TextMessage
from bot.privacy.sealing import SEALED, Sealer
from bot.privacy.setup import attach_key
from bot.reports import DomainEvent, Report, ReportAnswers, ReportStatus
from bot.session import Session
from bot.store import RecordKind, StoreError, TinyStore
from bot.store.migrate import read_embedded
from tests.store_helpers import ANSWERS, Factory, draft, person, session

MARKER = "WOMBAT4417"
ALICE = person("U-ALICE")
BOB = person("U-BOB")
NAME = {"name": f"Ann {MARKER}"}
CONTACT = {"channel": "D1"}

OpenStore = Callable[[], TinyStore]


@pytest.fixture(autouse=True)
def small(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(tiny, "VOUCH_AFTER_NS", 0)
    monkeypatch.setattr(tiny, "SHARD_SIZE", 4)


@pytest.fixture
def data(tmp_path: Path) -> Path:
    return tmp_path / "data"


@pytest.fixture
def key_file(tmp_path: Path) -> Path:
    return tmp_path / "harbour.key"


@pytest.fixture
async def open_store(data: Path) -> AsyncIterator[OpenStore]:
    """Opens a TinyStore on `data`, closing the one open before (one process at a time)."""
    opened: list[TinyStore] = []

    def open_() -> TinyStore:
        if opened:
            assert opened[-1]._closed, "close the store before opening another"
        opened.append(TinyStore(data))
        return opened[-1]

    yield open_
    for store in opened:
        await store.close()


class Marked(Factory):
    """Reports whose description holds the marker."""

    def __call__(self, seq: int, reference: str) -> tuple[Report, list[DomainEvent]]:
        made, events = super().__call__(seq, reference)
        answers = {**ANSWERS, "description": f"Posts naming me, {MARKER} ({seq})."}
        return made.model_copy(update={"answers": ReportAnswers.model_validate(answers)}), events


def files(directory: Path, *, previous: bool = True) -> dict[str, bytes]:
    """Every file under `directory` by its path there (`previous/` left out if not `previous`)."""
    return {
        str(p.relative_to(directory)): p.read_bytes()
        for p in sorted(directory.rglob("*"))
        if p.is_file() and (previous or p.relative_to(directory).parts[0] != tiny.PREVIOUS)
    }


def holding_marker(found: dict[str, bytes]) -> list[str]:
    return [name for name, raw in found.items() if MARKER.encode() in raw]


def drafted(who: PersonRef, draft_id: str) -> Session:
    return session(who, draft(draft_id, description=f"{MARKER} in progress"))


async def fill(store: TinyStore) -> tuple[list[Report], dict[str, Session]]:
    """Six reports over two shards (one closed), two conversations, an
    accepted event and a name, each holding the marker."""
    reports = []
    for n in range(6):
        who = ALICE if n % 2 else BOB
        filed = await store.file_report(
            year=2026, draft_id=f"r{n}", make=Marked(who, f"r{n}"), person=who, session=None
        )
        reports.append(filed)
    reports[1].status = ReportStatus.CLOSED
    await store.save_report(reports[1])
    sessions = {ALICE.key: drafted(ALICE, "a1"), BOB.key: drafted(BOB, "b1")}
    await store.save_session(ALICE, sessions[ALICE.key], event_id="e-1")
    await store.save_session(BOB, sessions[BOB.key], event_id="e-2")
    await store.accept(TextMessage(event_id="e-3", person=ALICE, text=f"later {MARKER}"))
    await store.put_record(RecordKind.PEOPLE, ALICE.key, NAME)
    await store.put_record(RecordKind.CONTACTS, ALICE.key, CONTACT)
    return reports, sessions


async def reads_back(store: TinyStore, reports: list[Report], sessions: dict[str, Session]) -> None:
    for filed in reports:
        assert await store.get_report(filed.reference) == filed
    assert await store.open_reports() == [r for r in reports if r.status is not ReportStatus.CLOSED]
    for who in (ALICE, BOB):
        assert await store.load_session(who) == sessions[who.key]
    soon = datetime.now(UTC) + timedelta(minutes=1)
    [accepted] = await store.unhandled(older_than=soon)
    assert isinstance(accepted, TextMessage) and MARKER in accepted.text
    assert await store.get_record(RecordKind.PEOPLE, ALICE.key) == NAME
    assert await store.records(RecordKind.PEOPLE) == {ALICE.key: NAME}
    assert await store.get_record(RecordKind.CONTACTS, ALICE.key) == CONTACT


async def test_data_from_before_sealing_is_read_and_sealed_by_the_next_write(
    open_store: OpenStore, data: Path, key_file: Path
) -> None:
    store = open_store()
    reports, sessions = await fill(store)
    await store.close()
    clear = holding_marker(files(data))
    for where in ("reports/", "conversations/", "records.json", "index/reports-"):
        assert any(name.startswith(where) for name in clear), where

    store = open_store()
    await attach_key(store, key="", key_file=key_file, data_dir=data)
    await reads_back(store, reports, sessions)
    # A write of each file: one report in each shard, each conversation (the
    # accepted event in Alice's is sealed with it), the name. A write seals
    # everything its file still held in clear, not only what it changed.
    for filed in (reports[0], reports[5]):
        await store.save_report(filed)
    for who in (ALICE, BOB):
        await store.save_session(who, sessions[who.key])
    await store.put_record(RecordKind.PEOPLE, ALICE.key, NAME)  # the same name: written sealed
    await store.close()
    # Previous copies (previous/) of the versions in clear may remain: each is
    # replaced at the next write of the same file, and so is gone after two.
    assert holding_marker(files(data, previous=False)) == []
    index = (data / tiny.INDEX / "reports-2026-0000.cache").read_text()
    assert SEALED in index

    store = open_store()
    await attach_key(store, key="", key_file=key_file, data_dir=data)
    await reads_back(store, reports, sessions)
    # A second write of each file, and the previous copies are sealed too.
    for filed in (reports[0], reports[5]):
        await store.save_report(filed)
    for who in (ALICE, BOB):
        await store.save_session(who, sessions[who.key])
    await store.put_record(RecordKind.CONTACTS, BOB.key, CONTACT)  # records.json written again
    await store.close()
    assert holding_marker(files(data)) == []


async def test_index_entries_holding_open_cases_in_clear_are_written_again_sealed(
    open_store: OpenStore, data: Path, key_file: Path
) -> None:
    """The index keeps open cases whole: written before sealing, it holds them
    in clear though their shard is not written again. The key has it written
    again, sealed, at its next write (here: at close)."""
    store = open_store()
    reports, _ = await fill(store)
    await store.close()
    index = data / tiny.INDEX
    assert holding_marker(files(index))

    store = open_store()
    await attach_key(store, key="", key_file=key_file, data_dir=data)
    await store.close()
    assert holding_marker(files(index)) == []
    store = open_store()
    await attach_key(store, key="", key_file=key_file, data_dir=data)
    assert await store.open_reports() == [r for r in reports if r.status is not ReportStatus.CLOSED]


async def test_a_sealed_store_opens_only_its_records_until_it_has_its_key(
    open_store: OpenStore, data: Path, key_file: Path
) -> None:
    store = open_store()
    await attach_key(store, key="", key_file=key_file, data_dir=data)
    reports, sessions = await fill(store)
    await store.close()
    assert holding_marker(files(data)) == []
    before = files(data)

    store = open_store()
    for ask in (
        store.load_session(ALICE),
        store.get_report(reports[0].reference),
        store.open_reports(),
        store.pending_events(),
        store.unhandled(older_than=datetime.now(UTC)),
        store.records(RecordKind.DELIVERIES),
        store.get_record(RecordKind.PEOPLE, ALICE.key),
        store.records(RecordKind.CONTACTS),
        store.put_record(RecordKind.PEOPLE, BOB.key, NAME),  # never a name in clear among sealed
    ):
        with pytest.raises(StoreError, match="given no key"):
            await ask
    assert await store.get_record(RecordKind.KEY_CHECK, "current")
    assert files(data).items() >= {k: v for k, v in before.items() if "lock" not in k}.items()

    await attach_key(store, key="", key_file=key_file, data_dir=data)
    await reads_back(store, reports, sessions)
    # Filing goes on where it stopped.
    filed = await store.file_report(
        year=2026, draft_id="r9", make=Marked(BOB, "r9"), person=BOB, session=None
    )
    assert filed.reference == "HB-2026-0007"
    await store.close()
    assert holding_marker(files(data)) == []


async def test_a_store_given_its_key_when_opened_reads_its_sealed_data(
    open_store: OpenStore, data: Path, key_file: Path
) -> None:
    store = open_store()
    ring = await attach_key(store, key="", key_file=key_file, data_dir=data)
    reports, sessions = await fill(store)
    await store.close()

    given = TinyStore(data, sealer=Sealer(ring))
    try:
        await reads_back(given, reports, sessions)
    finally:
        await given.close()


async def test_a_conversation_moved_to_another_person_s_file_does_not_open(
    open_store: OpenStore, data: Path, key_file: Path, caplog: pytest.LogCaptureFixture
) -> None:
    store = open_store()
    await attach_key(store, key="", key_file=key_file, data_dir=data)
    _, sessions = await fill(store)
    await store.close()
    folder = data / "conversations"
    shutil.copy(folder / tiny._file_name(ALICE.key), folder / tiny._file_name(BOB.key))

    store = open_store()  # one person's file that does not open stops no one else
    await attach_key(store, key="", key_file=key_file, data_dir=data)
    assert await store.load_session(ALICE) == sessions[ALICE.key]
    with pytest.raises(StoreError, match="does not open"):
        await store.load_session(BOB)
    assert MARKER not in caplog.text


async def test_migrate_reads_a_sealed_embedded_store_opened(
    open_store: OpenStore, data: Path, key_file: Path
) -> None:
    store = open_store()
    await attach_key(store, key="", key_file=key_file, data_dir=data)
    reports, sessions = await fill(store)
    await store.close()

    store = open_store()
    await attach_key(store, key="", key_file=key_file, data_dir=data)
    found = await read_embedded(store)
    assert found.reports == reports
    assert {k: s for k, (s, _) in found.conversations.items()} == sessions
    assert found.records[RecordKind.PEOPLE] == {ALICE.key: NAME}
    [(name, file)] = [(n, f) for n, f in store._people.items() if f.table("inbox").all()]
    [accepted] = file.table("inbox").all()
    assert MARKER in accepted["event"]["text"] and name == tiny._file_name(ALICE.key)
