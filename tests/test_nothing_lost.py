"""Nothing lost, nothing dropped: regressions for what broke when Harbour was
tried with outages, kills, interleaved actions and damaged events.

Each test drives the real core and the real sender over a recording messenger
(the transport), on a controllable clock."""

from __future__ import annotations

import asyncio
import errno
import json
import random
from collections.abc import Sequence
from datetime import timedelta
from pathlib import Path

import pytest

from bot.alerts.messenger import Recipient
from bot.alerts.sender import Notifier
from bot.app import Harbour
from bot.config import Settings
from bot.directory import Directory
from bot.models import ChoiceMade, ControlAction, Platform, Reply
from bot.privacy.audit import AuditAction
from bot.reports import ReportStatus
from bot.store import MemoryStore, Store, TinyStore, tiny
from tests.conftest import LEADS, Chat, Clock, RecordingMessenger
from tests.test_cases import BOB, CAROL, LOW_RISK, file, press, with_answer

ADMIN = "console:local:admin"
ERIN = "console:local:erin"  # no manager in the directory


def dump(replies: Sequence[Reply]) -> str:
    return json.dumps([r.model_dump() for r in replies])


def texts(messenger: RecordingMessenger, address: str) -> list[str]:
    return [dump(r) for r in messenger.to(address)]


async def drive(notifier: Notifier, clock: Clock, minutes: float, step: float = 0.5) -> None:
    """Run the sender's regular pass every `step` minutes for `minutes`."""
    for _ in range(int(minutes / step)):
        clock.advance(minutes=step)
        await notifier.run_once()


# ------------------------------------------------------------------ 1. lost updates


class ShakyMessenger(RecordingMessenger):
    """Sends that take a random number of turns of the event loop, so the
    sender's awaits interleave with people's actions in many orders."""

    def __init__(self, rng: random.Random) -> None:
        super().__init__()
        self.rng = rng

    async def send(self, to: Recipient, replies: Sequence[Reply], *, key: str = "") -> str:
        for _ in range(self.rng.randrange(6)):
            await asyncio.sleep(0)
        return await super().send(to, replies, key=key)

    async def update(self, to: Recipient, message: str, replies: Sequence[Reply]) -> None:
        for _ in range(self.rng.randrange(6)):
            await asyncio.sleep(0)
        await super().update(to, message, replies)


def make_harbour(store: Store, clock: Clock, directory: Directory) -> Harbour:
    counter = iter(range(1, 10**6))
    return Harbour(
        store,
        Settings().flow_context(),
        clock=clock,
        ids=lambda: f"id{next(counter)}",
        library=Settings().guidance(),
        directory=directory,
        admins=frozenset({ADMIN}),
    )


@pytest.mark.parametrize("on_disk", [False, True], ids=["memory", "files"])
async def test_no_action_is_undone_by_alerts_going_out_in_any_order(
    on_disk: bool, tmp_path: Path, clock: Clock, directory: Directory
) -> None:
    """The finding: an acknowledgement made while the filing alerts were going
    out was written over by the sender's stale copy of the case."""
    for seed in range(40):
        rng = random.Random(seed)
        store: Store = TinyStore(tmp_path / f"s{seed}") if on_disk else MemoryStore()
        harbour = make_harbour(store, clock, directory)
        messenger = ShakyMessenger(rng)
        notifier = Notifier(harbour, {Platform.CONSOLE: messenger})
        ref = await file(Chat(harbour, "alice"))

        async def later(action, rng: random.Random = rng):  # type: ignore[no-untyped-def]
            for _ in range(rng.randrange(12)):
                await asyncio.sleep(0)
            return await action

        await asyncio.gather(
            later(notifier.run_once()),
            later(press(harbour, "bob", ref, "ack")),
            later(press(harbour, "carol", ref, "claim")),
            later(Chat(harbour, "bob").command("cases", ref)),
            later(notifier.run_once()),
        )
        await notifier.run_once()
        report = await store.get_report(ref)
        assert report is not None, seed
        assert report.acknowledged_by == BOB, seed
        assert report.claimed_by == CAROL, seed
        assert report.status is ReportStatus.IN_PROGRESS, seed
        actions = [e.action for e in report.timeline]
        for done in ("acknowledged", "claimed"):
            assert done in actions, (seed, done)
        viewed = [e for e in await store.audit_chain(ref) if e.action is AuditAction.VIEWED]
        assert BOB in {e.actor for e in viewed}, seed
        sent = await store.records("deliveries")
        assert actions.count("alert-sent") == sum(
            1 for r in sent.values() if r.get("status") == "sent"
        ), seed
        await store.close()


async def test_a_manager_picked_while_alerts_go_out_is_kept(
    harbour: Harbour, store: Store, clock: Clock
) -> None:
    """The other half of the finding: a manager named in the picker after
    filing, while the filing alerts were still being sent."""
    gate = asyncio.Event()

    class Held(RecordingMessenger):
        async def send(self, to: Recipient, replies: Sequence[Reply], *, key: str = "") -> str:
            await gate.wait()
            return await super().send(to, replies, key=key)

    messenger = Held()
    notifier = Notifier(harbour, {Platform.CONSOLE: messenger})
    erin = Chat(harbour, "erin")
    ref = await file(erin)
    sending = asyncio.create_task(notifier.run_once())
    await asyncio.sleep(0)
    await erin.say("console:local:bob")  # "Who should I tell about this report?"
    gate.set()
    await sending
    await notifier.run_once()
    report = await store.get_report(ref)
    assert report is not None and report.managers == [BOB]
    assert messenger.to(BOB)  # and Bob was told


# ------------------------------------------------------------------ 2. outages


@pytest.mark.parametrize("outage", [10, 120], ids=["10 minutes", "2 hours"])
async def test_an_outage_delays_alerts_but_loses_none_and_follow_ups_keep_time(
    outage: int, harbour: Harbour, store: Store, clock: Clock
) -> None:
    messenger = RecordingMessenger()
    notifier = Notifier(harbour, {Platform.CONSOLE: messenger})
    messenger.down = True
    filed = clock()
    ref = await file(Chat(harbour, "alice"))  # critical: follow-ups every 30 minutes
    await notifier.run_once()
    await drive(notifier, clock, outage)
    assert messenger.sent == []
    messenger.down = False
    await drive(notifier, clock, 1)  # the platform is back: nothing waits out its backoff
    assert messenger.to(BOB), "the manager's alert waited for its own retry time"
    told = " ".join(texts(messenger, "console:local:alice"))
    assert "Your manager has now got the alert" in told and "delayed" in told
    await drive(notifier, clock, 20)
    assert await store.pending_events() == []
    # Every alert once: one idempotency key per delivery, none sent twice.
    keys = [k for k in messenger.keys if k]
    assert len(keys) == len(set(keys))
    assert len(messenger.to(BOB)) >= 1
    report = await store.get_report(ref)
    assert report is not None
    follow_ups = [e for e in report.timeline if e.action == "follow-up"]
    # On time, from filing, though nothing got through while it was down.
    assert follow_ups and follow_ups[0].at - filed <= timedelta(minutes=31)
    assert follow_ups[0].detail == "leads"
    if outage >= 60:
        assert [e.detail for e in follow_ups][:2] == ["leads", "admins"]
        assert follow_ups[1].at - filed <= timedelta(minutes=62)
        assert messenger.to(ADMIN)  # administrators told, once the platform was back


async def test_leads_hear_by_another_route_while_the_channel_is_down(
    harbour: Harbour, store: Store, clock: Clock
) -> None:
    messenger = RecordingMessenger()
    notifier = Notifier(harbour, {Platform.CONSOLE: messenger})
    messenger.failures[LEADS] = 10**6
    ref = await file(Chat(harbour, "alice"))
    await drive(notifier, clock, 5)
    told = texts(messenger, CAROL)  # the safety lead, privately
    assert any(f"alert about {ref} to the safety leads" in t for t in told)
    assert all("screenshots" not in t for t in told)  # no content on a fallback route


# ------------------------------------------------------------------ 3. poison events


async def test_an_event_that_always_fails_is_set_aside_and_blocks_nothing(
    harbour: Harbour, store: Store, clock: Clock
) -> None:
    messenger = RecordingMessenger()
    notifier = Notifier(harbour, {Platform.CONSOLE: messenger})
    broken = await file(Chat(harbour, "alice"), LOW_RISK)
    original = notifier._deliver

    async def deliver(event):  # type: ignore[no-untyped-def]
        if event.reference == broken:
            raise ValueError("a planner bug")
        return await original(event)

    notifier._deliver = deliver  # type: ignore[method-assign]
    ok = await file(Chat(harbour, "dan"), LOW_RISK)
    for _ in range(4):
        await notifier.run_once()
    assert any(ok in t for t in texts(messenger, BOB))  # the later report was not blocked
    assert await store.pending_events() == []
    [letter] = await store.dead_letters()
    assert "ValueError" in letter.reason and letter.reported
    warned = texts(messenger, LEADS) + texts(messenger, ADMIN)
    assert any("set aside" in t for t in warned)
    assert all("screenshots" not in t for t in warned)


# ------------------------------------------------------------------ 5. kills


class Killed(BaseException):
    """The process dying: nothing after it runs."""


@pytest.mark.parametrize("can_check", [True, False], ids=["read-back", "no read-back"])
async def test_a_kill_between_sending_and_recording(
    can_check: bool, harbour: Harbour, store: Store, clock: Clock
) -> None:
    messenger = RecordingMessenger(can_check_sent=can_check)
    notifier = Notifier(harbour, {Platform.CONSOLE: messenger})
    await file(Chat(harbour, "alice"), LOW_RISK)
    real_put = store.put_record

    async def put_record(kind, key, value):  # type: ignore[no-untyped-def]
        if kind == "deliveries" and value and value.get("status") == "sent":
            raise Killed
        return await real_put(kind, key, value)

    store.put_record = put_record  # type: ignore[method-assign]
    with pytest.raises(Killed):
        await notifier.run_once()
    store.put_record = real_put  # type: ignore[method-assign]
    assert len(messenger.to(BOB)) == 1
    restarted = Notifier(harbour, {Platform.CONSOLE: messenger})
    await restarted.run_once()
    # Where the platform can say it went out, never twice; where it can't, at least once.
    assert len(messenger.to(BOB)) == (1 if can_check else 2)
    assert await store.pending_events() == []


# ------------------------------------------------------------------ 6. follow-ups for every audience


@pytest.mark.parametrize(
    ("who", "answers"),
    [("alice", with_answer("audience", "2")), ("erin", LOW_RISK)],
    ids=["kept from the manager", "no manager known"],
)
async def test_a_case_nobody_takes_is_followed_up_for_every_audience(
    who: str,
    answers: list[tuple[str, str]],
    harbour: Harbour,
    notifier: Notifier,
    messenger: RecordingMessenger,
    store: Store,
    clock: Clock,
) -> None:
    ref = await file(Chat(harbour, who), answers)
    await notifier.run_once()
    for _ in range(3):
        clock.advance(days=3)
        await notifier.run_once()
    report = await store.get_report(ref)
    assert report is not None
    assert [e.detail for e in report.timeline if e.action == "follow-up"][:2] == [
        "leads",
        "admins",
    ]
    assert any(f"Nobody has taken {ref} on yet" in t for t in messenger.channel_texts())
    assert any(ref in t for t in texts(messenger, ADMIN))
    assert all("screenshots" not in t for t in texts(messenger, ADMIN))
    if who == "alice":
        assert messenger.to(BOB) == []  # she kept it from him: no reminders either


async def test_a_critical_case_keeps_reminding_until_someone_takes_it(
    harbour: Harbour, notifier: Notifier, messenger: RecordingMessenger, store: Store, clock: Clock
) -> None:
    ref = await file(Chat(harbour, "alice"))
    await notifier.run_once()
    await drive(notifier, clock, 150, step=5)
    report = await store.get_report(ref)
    assert report is not None
    steps = [e.detail for e in report.timeline if e.action == "follow-up"]
    assert steps[:2] == ["leads", "admins"] and steps.count("reminder") >= 2
    await press(harbour, "carol", ref, "claim")
    before = len(steps)
    await drive(notifier, clock, 120, step=5)
    report = await store.get_report(ref)
    assert report is not None
    assert len([e for e in report.timeline if e.action == "follow-up"]) == before


# ------------------------------------------------------------------ 7. the danger path


async def danger_start(chat: Chat, *, tell_manager: bool) -> None:
    await chat.command("report")
    await chat.say("yes")  # someone is in immediate danger
    await chat.say("1" if tell_manager else "2")


async def test_danger_with_no_manager_known_tells_the_truth(
    harbour: Harbour, notifier: Notifier, messenger: RecordingMessenger, store: Store
) -> None:
    erin = Chat(harbour, "erin")
    await danger_start(erin, tell_manager=True)
    await notifier.run_once()
    channel = messenger.channel_texts()
    assert any("needs help now" in t and "Claim" in t for t in channel)
    assert not any("manager has been told" in t for t in channel)
    assert not any("erin" in t for t in channel)  # who it is: only to the lead who claims
    told = " ".join(texts(messenger, ERIN))
    assert "safety leads have now been alerted" in told
    assert "I don't know who your manager is, so I couldn't tell them" in told
    # Pause: what already went out, truthfully.
    await erin.control(ControlAction.PAUSE)
    assert "Already sent: an urgent alert to the safety leads" in erin.text()
    assert "Nothing has been sent" not in erin.text()
    # A safety lead claims it and alone learns who needs help.
    [claim] = [
        r
        for replies in messenger.to(LEADS)
        for r in replies
        if getattr(r, "id", "").startswith("danger:")
    ]
    carol = Chat(harbour, "carol")
    await carol.send_event(
        ChoiceMade(
            event_id="carol-claims",
            person=carol.person,
            question=claim.id,  # type: ignore[union-attr]
            values=("claim",),
        )
    )
    assert ERIN in carol.text() and "contact them" in carol.text()
    dan = Chat(harbour, "dan")  # not a safety lead
    await dan.send_event(
        ChoiceMade(event_id="dan-claims", person=dan.person, question=claim.id, values=("claim",))  # type: ignore[union-attr]
    )
    assert ERIN not in dan.text() and "couldn't find" in dan.text()


async def test_danger_receipt_says_when_the_leads_could_not_be_reached_yet(
    harbour: Harbour, store: Store, clock: Clock
) -> None:
    messenger = RecordingMessenger()
    notifier = Notifier(harbour, {Platform.CONSOLE: messenger})
    messenger.failures[LEADS] = 3
    messenger.failures[CAROL] = 3
    alice = Chat(harbour, "alice")
    await danger_start(alice, tell_manager=False)
    await notifier.run_once()
    assert "haven't been able to reach the safety leads yet" in " ".join(
        texts(messenger, "console:local:alice")
    )
    await drive(notifier, clock, 10)
    assert "safety leads have now been alerted" in " ".join(texts(messenger, "console:local:alice"))
    assert await store.pending_events() == []


# ------------------------------------------------------------------ monitoring


async def test_healthz_shows_an_outage_and_a_store_that_cannot_write(
    tmp_path: Path, clock: Clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    from aiohttp.test_utils import TestClient, TestServer

    from adapters.slack.config import SlackSettings
    from bot.server import build

    store = TinyStore(tmp_path / "data")
    server = build(Settings(_env_file=None), SlackSettings(_env_file=None), store)  # type: ignore[call-arg]
    server.harbour.clock = clock
    assert server.notifier is not None
    messenger = RecordingMessenger()
    messenger.down = True
    server.notifier.messengers[Platform.CONSOLE] = messenger
    client = TestClient(TestServer(server.web_app, host="127.0.0.1"))
    await client.start_server()
    try:
        healthy = await (await client.get("/healthz")).json()
        assert healthy["status"] == "ok" and healthy["undelivered"] == 0
        await file(Chat(server.harbour, "alice"), LOW_RISK)
        await server.notifier.run_once()
        clock.advance(minutes=20)
        behind = await (await client.get("/healthz")).json()
        assert behind["status"] == "degraded"
        assert behind["undelivered"] == 1 and behind["oldest_undelivered_seconds"] >= 1200
        assert "HB-" not in json.dumps(behind)  # no references, no content

        def disk_full(path: Path, text: str) -> None:
            raise OSError(errno.ENOSPC, "No space left on device")

        monkeypatch.setattr(tiny, "atomic_write", disk_full)  # (root ignores file modes)
        broken = await client.get("/healthz")
        assert broken.status == 503
        assert (await broken.json())["store"] == "not writable (OSError)"
    finally:
        await client.close()
        await store.close()


# ------------------------------------------------------------------ 4. damaged files


def empty_conversations(data: Path) -> None:
    for path in data.rglob("*.json*"):
        if "conversations" in path.parts:
            path.write_bytes(b"")


async def test_a_worker_whose_conversation_file_was_damaged_is_told(
    tmp_path: Path, clock: Clock, directory: Directory
) -> None:
    store = TinyStore(tmp_path)
    alice = Chat(make_harbour(store, clock, directory), "alice")
    await alice.command("report")
    await alice.say("no")  # not in danger: a draft in progress
    await store.close()
    empty_conversations(tmp_path)  # the file and its previous copy, both emptied
    store = TinyStore(tmp_path)  # opens: one person's damage stops nobody
    alice = Chat(make_harbour(store, clock, directory), "alice")
    await alice.command("report")
    assert "the file holding our conversation was damaged" in alice.text()
    await alice.command("help")
    assert "damaged" not in alice.text()  # said once
    await store.close()
