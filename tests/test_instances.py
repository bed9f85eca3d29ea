"""Several Harbour processes on one PostgreSQL database, at the seams a person
meets: her events one at a time whichever process takes them, an answer
acknowledged by a process that died still handled, and every alert sent once
however many processes deliver."""

from __future__ import annotations

import asyncio
import itertools
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

import pytest

from bot import team
from bot.alerts.sender import INTERRUPTED, Notifier
from bot.app import Harbour
from bot.config import Settings
from bot.directory import Directory
from bot.models import Notice, Platform, TextMessage
from bot.store import MemoryStore, Store
from tests.conftest import Chat, Clock, RecordingMessenger, person
from tests.test_cases import file

if TYPE_CHECKING:
    from tests.pg import OpenPostgres

pytest_plugins = ["tests.pg"]

NOW = timedelta(0)


def process(store: Store, clock: Clock, directory: Directory, name: str) -> Harbour:
    """One Harbour process: its own ids, its own in-memory state, the shared store."""
    counter = itertools.count(1)
    settings = Settings(_env_file=None)  # type: ignore[call-arg]
    return Harbour(
        store,
        settings.flow_context(),
        clock=clock,
        ids=lambda: f"{name}-{next(counter)}",
        library=settings.guidance(),
        directory=directory,
        admins=frozenset({"console:local:admin"}),
    )


async def test_her_next_event_waits_while_another_process_handles_one(
    open_postgres: OpenPostgres, clock: Clock, directory: Directory
) -> None:
    first, second = await open_postgres(), await open_postgres()
    harbour = process(second, clock, directory, "b")
    alice = person("alice")
    async with first.person_turn(alice.key):  # the other process is mid-event for her
        waiting = asyncio.create_task(
            harbour.handle(TextMessage(event_id="e1", person=alice, text="help"))
        )
        await asyncio.sleep(0.2)
        assert not waiting.done()
    async with asyncio.timeout(5):
        assert await waiting


async def test_an_answer_acknowledged_by_a_process_that_died_is_handled_by_another(
    open_postgres: OpenPostgres, clock: Clock, directory: Directory
) -> None:
    dead, alive = await open_postgres(), await open_postgres()
    survivor = process(alive, clock, directory, "b")
    chat = Chat(survivor, "alice")
    await chat.command("report")
    asked = chat.asking()
    # The dead process kept her answer and acknowledged it, then was killed.
    answer = TextMessage(event_id="slack-ev-1", person=chat.person, text="no")
    await process(dead, clock, directory, "a").accept(answer)
    await dead.close()

    messenger = RecordingMessenger()
    notifier = Notifier(survivor, {Platform.CONSOLE: messenger}, recover_after=NOW)
    assert await notifier.recover() == 1
    told = messenger.to(chat.person.key)
    assert told and not any(isinstance(r, Notice) and "wrong" in r.text for r in told[0])
    assert told[0] != [asked]  # the conversation moved on: the answer was taken
    assert await alive.seen(chat.person, "slack-ev-1")
    # Handled once: not again on the next pass, nor if the platform sends it again.
    assert await notifier.recover() == 0
    assert await survivor.handle(answer) == []


async def test_every_alert_goes_out_once_however_many_processes_deliver(
    open_postgres: OpenPostgres, clock: Clock, directory: Directory
) -> None:
    stores = [await open_postgres() for _ in range(3)]
    harbours = [process(s, clock, directory, f"p{n}") for n, s in enumerate(stores)]
    messenger = RecordingMessenger()
    notifiers = [Notifier(h, {Platform.CONSOLE: messenger}) for h in harbours]
    # Three workers file on three processes; every process delivers at once.
    for n, user in enumerate(("alice", "dan", "erin")):
        await file(Chat(harbours[n], user))
    for _ in range(3):
        await asyncio.gather(*(n.run_once() for n in notifiers))
    keyed = [key for key in messenger.keys if key]
    assert keyed and len(keyed) == len(set(keyed))
    assert await stores[0].pending_events() == []
    # Alice's and Dan's manager heard about each of their reports once.
    assert len(messenger.to("console:local:bob")) == 2


async def test_a_manager_named_through_one_process_is_known_to_the_others(
    open_postgres: OpenPostgres, clock: Clock, directory: Directory
) -> None:
    first, second = await open_postgres(), await open_postgres()
    here = process(first, clock, Directory(), "a")
    there = process(second, clock, Directory(), "b")
    erin, frank = person("erin"), person("frank")
    await team.set_managers(here, erin, [frank], by=person("admin"))
    assert there.directory.manager_keys(erin.key) == []
    await Notifier(there, {Platform.CONSOLE: RecordingMessenger()}).run_once()
    assert there.directory.manager_keys(erin.key) == [frank.key]


async def test_a_step_saved_by_a_process_killed_before_it_answered_is_not_left_silent(
    open_postgres: OpenPostgres, clock: Clock, directory: Directory
) -> None:
    dead, alive = await open_postgres(), await open_postgres()
    killed = process(dead, clock, directory, "a")
    chat = Chat(killed, "alice")
    await chat.command("report")
    answer = TextMessage(event_id="slack-ev-9", person=chat.person, text="no")
    await killed.accept(answer)
    assert await killed.handle(answer)  # saved; killed before the reply was posted
    await dead.close()

    survivor = process(alive, clock, directory, "b")
    messenger = RecordingMessenger()
    notifier = Notifier(survivor, {Platform.CONSOLE: messenger}, recover_after=NOW)
    assert await notifier.recover() == 1
    [told] = messenger.to(chat.person.key)
    assert told[0] == INTERRUPTED and len(told) > 1  # then where she is now
    session = await alive.load_session(chat.person)
    assert session is not None and session.active_draft is not None  # the answer stood
    assert await notifier.recover() == 0


async def test_a_step_a_live_process_is_still_answering_is_left_to_it(
    open_postgres: OpenPostgres, clock: Clock, directory: Directory
) -> None:
    """Recovery takes over only what a dead process left: a busy one (a backlog,
    a slow platform) answers its own steps, once, as it got them."""
    busy_store, other_store = await open_postgres(), await open_postgres()
    busy = process(busy_store, clock, directory, "a")
    other = process(other_store, clock, directory, "b")
    await busy_store.heartbeat(timedelta(minutes=2))
    alice, dan = person("alice"), person("dan")
    await busy.accept(TextMessage(event_id="slack-ev-1", person=alice, text="help"))
    await other.accept(TextMessage(event_id="slack-ev-2", person=dan, text="help"))
    messenger = RecordingMessenger()
    here = Notifier(other, {Platform.CONSOLE: messenger}, recover_after=NOW)
    # Neither the live process's step nor this process's own step in flight.
    assert await here.recover() == 0
    # Once the busy process is gone, what it left is taken over.
    await busy_store.close()
    assert await here.recover() == 1
    assert messenger.to(alice.key) and not messenger.to(dan.key)


async def test_a_step_she_was_told_to_retry_is_not_handled_later_behind_her_back(
    clock: Clock, directory: Directory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Her step failed and the store failed too, so it could not be
    forgotten: she was told to try again; recovery drops it rather than
    apply it later (her retry is a step of its own)."""
    store = MemoryStore()
    harbour = process(store, clock, directory, "a")
    chat = Chat(harbour, "alice")
    await chat.command("report")
    step = TextMessage(event_id="slack-ev-9", person=chat.person, text="no")
    await harbour.accept(step)

    async def down(*args: object, **kwargs: object) -> None:
        raise OSError("database unreachable")

    with monkeypatch.context() as broken:
        broken.setattr(store, "save_session", down)
        broken.setattr(store, "drop_accepted", down)
        said = await harbour.handle(step)
    assert any(isinstance(r, Notice) and "try again" in r.text for r in said)
    assert [
        e.event_id for e in await store.unhandled(older_than=datetime.now(UTC) + timedelta(days=1))
    ] == ["slack-ev-9"]
    messenger = RecordingMessenger()
    notifier = Notifier(harbour, {Platform.CONSOLE: messenger}, recover_after=timedelta(0))
    monkeypatch.setattr(harbour, "in_flight", lambda event, grace: False)
    await notifier.recover()
    assert messenger.to(chat.person.key) == []
    assert not await store.seen(chat.person, "slack-ev-9")
    assert await store.unhandled(older_than=datetime.now(UTC) + timedelta(days=1)) == []
