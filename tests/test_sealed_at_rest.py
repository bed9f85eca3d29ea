"""What a person wrote is stored sealed: a marker typed into a report, a draft
in progress, a note and a display name appears nowhere Harbour stores in clear.
Driven through the core as a worker and her manager use it, on every store
that keeps anything (`bot.privacy`): PostgreSQL (every table row, as text) and
the embedded store (every file under its data directory, as bytes: the index,
previous copies, deliveries and conversations included)."""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from sqlalchemy import text

import bot.store.tiny as tiny
from bot.alerts.sender import Notifier
from bot.app import Harbour
from bot.config import Settings
from bot.directory import Directory
from bot.models import Platform, TextMessage
from bot.privacy.keys import KeyProblem, new_ring, write_key_file
from bot.privacy.setup import attach_key
from bot.store import RecordKind, Store, TinyStore
from bot.store.postgres import PostgresStore
from tests.conftest import TYPED_REPORT, Chat, Clock, RecordingMessenger, type_report

if TYPE_CHECKING:
    from tests.pg import OpenPostgres

pytest_plugins = ["tests.pg"]

MARKER = "QUOKKA9931"
Looks = Callable[[], Awaitable[str]]
"""Everything the store holds, as stored (files' bytes, or every table row as text)."""
Opens = Callable[[], Awaitable[Store]]
"""Opens the store again on the same data (a restart: for files, the one open is closed first)."""


def with_marker() -> list[tuple[str, str]]:
    marked = {"description": f"Posts naming me, {MARKER}.", "evidence": f"{MARKER} screenshots"}
    return [(step, marked.get(step, answer)) for step, answer in TYPED_REPORT]


async def postgres_rows(store: PostgresStore) -> str:
    async with store._read() as conn:
        tables = (
            await conn.execute(
                text("SELECT tablename FROM pg_tables WHERE schemaname = current_schema()")
            )
        ).scalars()
        dumped = []
        for table in list(tables):
            rows = await conn.execute(text(f'SELECT t::text FROM "{table}" t'))
            dumped.extend(rows.scalars())
    return "\n".join(dumped)


def files_under(directory: Path) -> str:
    """Every file under `directory`, as bytes (decoded leniently: the marker is ASCII)."""
    found = sorted(p for p in directory.rglob("*") if p.is_file())
    assert found
    return "\n".join(p.read_bytes().decode("utf-8", "replace") for p in found)


@pytest.fixture
async def tiny_stores() -> AsyncIterator[list[TinyStore]]:
    """The embedded stores opened by a test: the last one is closed after it."""
    opened: list[TinyStore] = []
    yield opened
    if opened:
        await opened[-1].close()


@pytest.fixture(params=["postgres", "tiny"])
def opens(
    request: pytest.FixtureRequest,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    tiny_stores: list[TinyStore],
) -> Opens:
    """Opens the store under test on the same data each time it is called."""
    if request.param == "postgres":
        open_postgres: OpenPostgres = request.getfixturevalue("open_postgres")
        return open_postgres  # (which closes them all)
    # The index vouches for files written a moment ago (it waits 2 s otherwise),
    # so that the open cases it holds whole are written into it and looked at.
    monkeypatch.setattr(tiny, "VOUCH_AFTER_NS", 0)

    async def open_tiny() -> Store:
        if tiny_stores:
            await tiny_stores[-1].close()  # one process at a time on a data directory
        tiny_stores.append(TinyStore(tmp_path / "data"))
        return tiny_stores[-1]

    return open_tiny


@pytest.fixture
async def sealed_store(opens: Opens, tmp_path: Path) -> AsyncIterator[tuple[Store, Looks]]:
    store = await opens()
    data_dir = store._dir if isinstance(store, TinyStore) else None
    await attach_key(store, key="", key_file=tmp_path / "harbour.key", data_dir=data_dir)

    async def looks() -> str:
        if isinstance(store, PostgresStore):
            return await postgres_rows(store)
        assert isinstance(store, TinyStore) and store._dir is not None
        await store._run(store._write_index)  # as every few minutes, and at close
        assert list((store._dir / tiny.INDEX).glob("reports-*.cache"))  # the open case, whole
        for folder in ("index", "previous", "deliveries", "conversations", "reports"):
            assert [p for p in (store._dir / folder).rglob("*") if p.is_file()], folder
        return files_under(store._dir)

    yield store, looks


async def test_nothing_a_worker_typed_is_stored_in_clear(
    sealed_store: tuple[Store, Looks], clock: Clock, directory: Directory
) -> None:
    store, looks = sealed_store
    settings = Settings(_env_file=None)  # type: ignore[call-arg]
    counter = itertools.count(1)
    harbour = Harbour(
        store,
        settings.flow_context(),
        clock=clock,
        ids=lambda: f"id{next(counter)}",
        library=settings.guidance(),
        directory=directory,
    )
    worker = Chat(harbour, "alice")
    await worker.command("report")
    await type_report(worker, with_marker())
    await worker.say("yes")
    await Notifier(harbour, {Platform.CONSOLE: RecordingMessenger()}).run_once()
    # A second draft left open, a name, and an answer accepted but not handled.
    await worker.command("report")
    await worker.say(MARKER)
    await harbour.handle(
        TextMessage(
            event_id="named", person=worker.person, text="mine", display_name=f"Ann {MARKER}"
        )
    )
    await harbour.accept(TextMessage(event_id="later", person=worker.person, text=MARKER))

    stored = await looks()
    assert stored and MARKER not in stored
    # ...and all of it reads back.
    [report] = await store.reports_by(worker.person)
    assert MARKER in report.answers.model_dump_json()
    named = await store.get_record(RecordKind.PEOPLE, worker.person.key) or {}
    assert MARKER in named["name"]
    soon = datetime.now(UTC) + timedelta(minutes=1)
    assert [e.event_id for e in await store.unhandled(older_than=soon)] == ["later"]


async def test_sealed_data_opened_with_no_key_or_another_key_is_refused(
    opens: Opens, tmp_path: Path
) -> None:
    store = await opens()
    await attach_key(store, key="", key_file=tmp_path / "harbour.key", data_dir=None)
    name = {"name": f"Ann {MARKER}"}
    await store.put_record(RecordKind.PEOPLE, "slack:T1:U1", name)
    again = await opens()
    with pytest.raises(KeyProblem, match="no key"):
        await attach_key(again, key="", key_file=tmp_path / "gone.key", data_dir=None)
    other = tmp_path / "other.key"
    write_key_file(other, new_ring(str(other)))
    with pytest.raises(KeyProblem, match="not the one"):
        await attach_key(again, key="", key_file=other, data_dir=None)
    assert await attach_key(again, key="", key_file=tmp_path / "harbour.key", data_dir=None)
    assert await again.get_record(RecordKind.PEOPLE, "slack:T1:U1") == name
