"""The embedded store's inbox: an event Harbour acknowledged is kept until its
answer went out, so a process killed anywhere in between loses nothing.

Each accepted event is kept in its person's own conversation file (one small
write); committing its handling leaves it there (the answer may not have gone
out yet); `drop_accepted` removes it. `unhandled` lists what is left, oldest
first, across people, without reading anyone's file while nobody has anything
waiting. Run on `TinyStore` (real files) and `MemoryStore`.
"""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

import bot.store.tiny as tiny
from bot.models import ChoiceMade, Command, TextMessage
from bot.reports import EventKind
from bot.store import MemoryStore, TinyStore
from bot.store.tiny import stamp
from tests.store_helpers import Factory, draft, event, person, session

ALICE = person("U-ALICE")
BOB = person("U-BOB")
SECRET = "the name of the man who follows me home"  # must never reach a log


def later() -> datetime:
    """A moment after everything accepted so far."""
    return datetime.now(UTC) + timedelta(seconds=5)


def typed(event_id: str, who: object = ALICE, text: str = SECRET) -> TextMessage:
    return TextMessage(event_id=event_id, person=who, text=text)


Opener = Callable[[], TinyStore]


@pytest.fixture(params=["tiny", "memory"])
async def opener(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Opener]:
    opened: list[TinyStore] = []
    memory = MemoryStore()

    def open_() -> TinyStore:
        store = TinyStore(tmp_path / "data") if request.param == "tiny" else memory
        opened.append(store)
        return store

    yield open_
    for store in opened:
        await store.close()


def person_file(directory: Path, who: object) -> Path:
    assert hasattr(who, "key")
    return directory / "conversations" / tiny._file_name(who.key)


async def test_an_accepted_event_is_listed_until_it_was_answered(opener: Opener) -> None:
    store = opener()
    assert await store.unhandled(older_than=later()) == []
    first, second = typed("ev-1"), typed("ev-2", text="and again")
    pressed = ChoiceMade(event_id="ev-3", person=BOB, question="in_danger", values=("no",))
    for accepted in (first, second, pressed):
        await store.accept(accepted)
    await store.accept(first)  # the platform sent it again: kept once
    assert await store.unhandled(older_than=later()) == [first, second, pressed]  # oldest first

    await store.save_session(ALICE, session(ALICE, draft("d1")), event_id="ev-1")
    # Handled, not yet answered: still kept.
    assert await store.unhandled(older_than=later()) == [first, second, pressed]
    await store.drop_accepted(ALICE, "ev-1")
    assert await store.unhandled(older_than=later()) == [second, pressed]
    await store.save_session(BOB, None, event_id="ev-3")
    await store.drop_accepted(BOB, "ev-3")
    assert await store.unhandled(older_than=later()) == [second]


async def test_filing_and_changing_a_report_keep_their_events_until_answered(
    opener: Opener,
) -> None:
    store = opener()
    for n in (1, 2, 3):
        await store.accept(typed(f"ev-{n}"))
    make = Factory(ALICE, "d1")
    filed = await store.file_report(
        year=2026, draft_id="d1", make=make, person=ALICE, session=None, event_id="ev-1"
    )
    filed.claimed_by = BOB.key
    await store.save_report(filed, person=ALICE, session=None, event_id="ev-2")
    await store.save_report(filed, events=[event(ALICE, reference=filed.reference)])
    listed = [e.event_id for e in await store.unhandled(older_than=later())]
    assert listed == ["ev-1", "ev-2", "ev-3"]
    # Which were handled is what she sent lately: recovery tells the two apart.
    assert [await store.seen(ALICE, e) for e in listed] == [True, True, False]


async def test_a_dropped_event_is_forgotten(opener: Opener) -> None:
    store = opener()
    await store.accept(typed("ev-1"))
    await store.accept(typed("ev-2"))
    await store.drop_accepted(ALICE, "ev-1")
    await store.drop_accepted(ALICE, "no-such-event")  # nothing to forget
    await store.drop_accepted(BOB, "ev-2")  # someone else's id: hers stays
    assert [e.event_id for e in await store.unhandled(older_than=later())] == ["ev-2"]


async def test_only_events_accepted_before_the_time_given_are_listed(opener: Opener) -> None:
    store = opener()
    before = datetime.now(UTC)
    await store.accept(typed("ev-1"))
    middle = datetime.now(UTC)
    await store.accept(typed("ev-2"))
    assert await store.unhandled(older_than=before) == []
    assert [e.event_id for e in await store.unhandled(older_than=middle)] == ["ev-1"]
    assert [e.event_id for e in await store.unhandled(older_than=later())] == ["ev-1", "ev-2"]


async def test_accepted_events_survive_a_restart(tmp_path: Path) -> None:
    data = tmp_path / "data"
    store = TinyStore(data)
    accepted = [
        typed("ev-1"),
        Command(event_id="ev-2", person=BOB, name="report", display_name="Bob"),
        ChoiceMade(event_id="ev-3", person=ALICE, question="q", values=("a", "b"), token="t"),
    ]
    for one in accepted:
        await store.accept(one)
    await store.save_session(ALICE, session(ALICE, draft("d1")), event_id="ev-9")
    await store.drop_accepted(ALICE, "ev-9")  # none such: nothing changes
    await store.close()

    reopened = TinyStore(data)
    try:
        # Those holding an accepted event are known from the open on.
        assert reopened._inbox_people == {tiny._file_name(ALICE.key), tiny._file_name(BOB.key)}
        assert await reopened.unhandled(older_than=later()) == accepted
        await reopened.drop_accepted(BOB, "ev-2")
    finally:
        await reopened.close()
    again = TinyStore(data)
    try:
        assert [e.event_id for e in await again.unhandled(older_than=later())] == ["ev-1", "ev-3"]
    finally:
        await again.close()


async def test_accepting_writes_only_that_persons_file_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = TinyStore(tmp_path)
    await store.save_session(BOB, session(BOB, draft("b1")))
    written: list[Path] = []
    real = tiny.atomic_write

    def spy(path: Path, text: str) -> None:
        written.append(path)
        real(path, text)

    monkeypatch.setattr(tiny, "atomic_write", spy)
    await store.accept(typed("ev-1"))
    assert written == [person_file(tmp_path, ALICE)]
    written.clear()
    await store.drop_accepted(ALICE, "ev-1")
    assert written == [person_file(tmp_path, ALICE)]
    kept = json.loads(person_file(tmp_path, ALICE).read_text())
    assert kept.get("inbox") == {}
    await store.close()


async def test_nobody_waiting_means_no_file_is_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = TinyStore(tmp_path)
    await store.accept(typed("ev-1"))
    await store.save_session(ALICE, None, event_id="ev-1")
    await store.drop_accepted(ALICE, "ev-1")
    await store.close()
    reopened = TinyStore(tmp_path)
    try:
        read: list[str] = []
        real = tiny.Place.read

        def spy(place: tiny.Place) -> object:
            read.append(place.label)
            return real(place)

        monkeypatch.setattr(tiny.Place, "read", spy)
        monkeypatch.setattr(reopened, "_run", None)  # and no hop to the store's thread
        assert await reopened.unhandled(older_than=later()) == []
        assert read == []
    finally:
        monkeypatch.undo()
        await reopened.close()


async def test_an_accepted_event_this_harbour_cannot_read_is_dropped_without_its_content(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    store = TinyStore(tmp_path)
    await store.accept(typed("ev-1"))
    await store.accept(typed("ev-2", text="fine"))
    await store.close()
    path = person_file(tmp_path, ALICE)
    data = json.loads(path.read_text())
    first = next(iter(data["inbox"].values()))
    first["event"]["type"] = "a-type-from-elsewhere"
    path.write_text(stamp(json.dumps(data)))

    reopened = TinyStore(tmp_path)
    try:
        with caplog.at_level(logging.WARNING, logger="bot.store.tiny"):
            found = await reopened.unhandled(older_than=later())
        assert [e.event_id for e in found] == ["ev-2"]
        assert "cannot be read" in caplog.text
        assert SECRET not in caplog.text and "a-type-from-elsewhere" not in caplog.text
        assert [e.event_id for e in await reopened.unhandled(older_than=later())] == ["ev-2"]
    finally:
        await reopened.close()


async def test_a_danger_alert_and_an_accepted_event_in_one_file(opener: Opener) -> None:
    """The inbox sits beside the rest of her file: an alert queued by the step
    that handled the event is kept, and delivering it leaves the inbox alone."""
    store = opener()
    await store.accept(typed("ev-1"))
    await store.accept(typed("ev-2"))
    crit = event(ALICE, EventKind.RISK_CRITICAL, source="draft", draft_id="d1")
    await store.save_session(ALICE, session(ALICE, draft("d1")), event_id="ev-1", events=[crit])
    assert await store.pending_events() == [crit]
    await store.mark_delivered([crit.id], datetime.now(UTC))
    assert await store.pending_events() == []
    assert [e.event_id for e in await store.unhandled(older_than=later())] == ["ev-1", "ev-2"]
