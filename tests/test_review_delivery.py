"""Regressions for the review of the delivery reshape (issue 11): each of these failed before its fix."""

from __future__ import annotations

import json

from bot.alerts.sender import Notifier
from bot.app import Harbour
from bot.directory import Directory
from bot.models import ChoiceMade, Platform
from bot.store import Store
from tests.conftest import LEADS, TYPED_REPORT, Chat, Clock, RecordingMessenger, person
from tests.test_cases import LOW_RISK, file
from tests.test_nothing_lost import danger_start, dump, make_harbour, texts

ALICE, BOB, CAROL = "console:local:alice", "console:local:bob", "console:local:carol"


def claim_of(messenger: RecordingMessenger) -> str:
    [claim] = [
        r.id  # type: ignore[union-attr]
        for _, replies in messenger.sent
        for r in replies
        if getattr(r, "id", "").startswith("danger:")
    ][:1]
    return claim


# ------------------------------------------------------------------ F1 confidentiality
async def test_F1_kept_out_manager_who_is_a_lead_can_claim_the_danger_alert(
    store: Store, clock: Clock
) -> None:
    """Bob manages Alice and is also a safety lead. Alice says someone is in
    danger and answers 'No, not my manager', then files 'only the safety leads'.
    Bob presses the Claim on the danger alert in the leads' channel and is told,
    privately, that it is Alice."""
    directory = Directory(managers={ALICE: [BOB]}, leads={BOB, CAROL})
    harbour = make_harbour(store, clock, directory)
    messenger = RecordingMessenger()
    notifier = Notifier(harbour, {Platform.CONSOLE: messenger})
    alice = Chat(harbour, "alice")
    await danger_start(alice, tell_manager=False)  # "No, not my manager"
    await notifier.run_once()
    claim = claim_of(messenger)
    bob = Chat(harbour, "bob")
    await bob.send_event(
        ChoiceMade(event_id="bob-claims", person=bob.person, question=claim, values=("claim",))
    )

    assert ALICE not in bob.text(), "the manager she kept out learned who is in danger"


# ------------------------------------------------------------------ F2 delivery
async def test_F2_manager_on_a_platform_harbour_is_not_connected_to_is_dropped_silently(
    store: Store, clock: Clock
) -> None:
    """Alice's manager is on Teams, and Teams is not enabled (or its adapter
    failed to start). The worker was told 'I'll let your manager know
    privately'; the planner drops the recipient (Reach.person), the event is
    marked delivered, nobody (leads, worker) hears the alert never went."""
    teams_bob = "teams:tenant:bob"
    directory = Directory(managers={ALICE: [teams_bob]}, leads={CAROL})
    harbour = make_harbour(store, clock, directory)
    messenger = RecordingMessenger()
    notifier = Notifier(harbour, {Platform.CONSOLE: messenger})
    alice = Chat(harbour, "alice")
    await file(alice, LOW_RISK)
    for _ in range(10):
        clock.advance(minutes=5)
        await notifier.run_once()
    pending = await store.pending_events()

    told_anyone = pending or any(
        "hasn't been able to deliver" in dump(r) or "haven't been able to reach" in dump(r)
        for _, r in messenger.sent
    )
    assert told_anyone, "the manager's alert vanished: marked delivered, nobody told"


async def test_F3_pending_danger_alert_to_manager_still_goes_after_she_keeps_him_out(
    store: Store, clock: Clock, directory: Directory
) -> None:
    """Alice says 'tell my manager now'; Bob's DM is failing. She then files the
    report as 'only the safety leads' (Bob is now kept_out). The sender keeps
    retrying the DANGER_MANAGER alert (report None: never dropped) and delivers
    her name and 'immediate danger' to Bob once his DM works."""
    harbour = make_harbour(store, clock, directory)
    messenger = RecordingMessenger()
    notifier = Notifier(harbour, {Platform.CONSOLE: messenger})
    messenger.failures[BOB] = 2
    alice = Chat(harbour, "alice")
    await danger_start(alice, tell_manager=True)
    await notifier.run_once()
    assert messenger.to(BOB) == []
    for step, text in TYPED_REPORT[1:-1] + [("audience", "2")]:
        assert alice.focus() == step, (alice.focus(), step)
        await alice.say(text)
    await alice.say("yes")
    ref = next(w for w in alice.text().replace(".", " ").split() if w.startswith("HB-"))
    report = await store.get_report(ref)
    assert report is not None and report.kept_out == [BOB]
    for _ in range(20):
        clock.advance(minutes=2)
        await notifier.run_once()
    got = [dump(r) for r in messenger.to(BOB)]

    assert not got, "the manager she kept out got the danger alert naming her"


async def test_F4_admin_follow_up_reaches_the_manager_she_kept_out(
    store: Store, clock: Clock, settings
) -> None:
    """Bob is Alice's manager and a Harbour administrator. Alice files 'only
    the safety leads'. Nobody claims; the ADMINS follow-up tells Bob the
    reference, risk and filing time of a case he was kept out of."""
    import itertools

    directory = Directory(managers={ALICE: [BOB]}, leads={CAROL})
    counter = itertools.count(1)
    harbour = Harbour(
        store,
        settings.flow_context(),
        clock=clock,
        ids=lambda: f"id{next(counter)}",
        library=settings.guidance(),
        directory=directory,
        admins=frozenset({BOB}),
    )
    messenger = RecordingMessenger()
    notifier = Notifier(harbour, {Platform.CONSOLE: messenger})
    ref = await file(Chat(harbour, "alice"), TYPED_REPORT[:-1] + [("audience", "2")])
    for _ in range(40):
        clock.advance(minutes=30)
        await notifier.run_once()
    got = [dump(r) for r in messenger.to(BOB)]

    assert not any(ref in g for g in got), "kept-out manager (an admin) told of the case"


# ------------------------------------------------------------------ F5 store
def test_F5_one_persons_file_that_does_not_validate_stops_everyone(tmp_path) -> None:
    """A conversation file that is valid, stamped JSON in TinyDB's layout but
    whose session does not validate (hand edit, a Harbour version skew, a bug
    that once wrote a bad draft) is not 'set aside': Session.model_validate in
    TinyStore._load raises and the store does not open for anybody."""
    from bot.store import TinyStore
    from bot.store.tiny import stamp

    data = tmp_path / "data"
    import asyncio

    async def setup() -> None:
        s = TinyStore(data)
        await s.save_session(person("alice"), None, event_id="e1")
        await s.close()

    asyncio.run(setup())
    bad = data / "conversations" / ("f" * 32 + ".json")
    bad.write_text(stamp(json.dumps({"session": {"1": {"person": "not a person"}}})))
    try:
        TinyStore(data)
    except Exception as exc:
        print("\nSTORE WON'T OPEN:", type(exc).__name__, str(exc)[:200])
        raise AssertionError("one person's file stopped the whole store") from exc


async def test_F6_danger_receipt_claims_leads_alerted_when_they_were_not(
    harbour: Harbour, store: Store, clock: Clock
) -> None:
    """Erin (no manager known) is in danger and says 'tell my manager'. The
    leads' channel and Carol are down. The RISK_CRITICAL receipt says 'I haven't
    been able to reach the safety leads yet'; the DANGER_MANAGER receipt, in the
    same pass, says 'The safety leads have been alerted.'"""
    messenger = RecordingMessenger()
    notifier = Notifier(harbour, {Platform.CONSOLE: messenger})
    messenger.failures[LEADS] = 5
    messenger.failures[CAROL] = 5
    erin = Chat(harbour, "erin")
    await danger_start(erin, tell_manager=True)
    await notifier.run_once()
    told = texts(messenger, "console:local:erin")

    said_alerted = any("The safety leads have been alerted" in t for t in told)
    assert not said_alerted, "the worker in danger was told the leads were alerted; they were not"


async def test_F7_a_later_pass_wipes_the_danger_claim(store: Store, clock: Clock) -> None:
    """While the danger event is still pending (here: the worker's receipt did
    not get through), every pass rewrites the 'danger-alerts' record without
    'claimed_by'. Carol's claim is forgotten; Dave claims too and is told it's
    his; the record of who took it is gone."""
    DAVE = "console:local:dave"
    directory = Directory(managers={ALICE: [BOB]}, leads={CAROL, DAVE})
    harbour = make_harbour(store, clock, directory)
    messenger = RecordingMessenger()
    notifier = Notifier(harbour, {Platform.CONSOLE: messenger})
    messenger.failures[ALICE] = 3
    alice = Chat(harbour, "alice")
    await alice.command("report")
    await alice.say("yes")
    await notifier.run_once()
    claim = claim_of(messenger)
    carol = Chat(harbour, "carol")
    await carol.send_event(
        ChoiceMade(event_id="c1", person=carol.person, question=claim, values=("claim",))
    )

    clock.advance(seconds=5)
    await notifier.run_once()

    dave = Chat(harbour, "dave")
    await dave.send_event(
        ChoiceMade(event_id="d1", person=dave.person, question=claim, values=("claim",))
    )

    assert "Another safety lead has already claimed" in dave.text()


class PlatformMessenger(RecordingMessenger):
    """A recording messenger whose message references name their platform,
    and whose update refuses a reference it did not issue (as Slack/Teams do)."""

    def __init__(self, name: str, channel: str | None) -> None:
        super().__init__()
        self.name, self.channel = name, channel

    async def send(self, to, replies, *, key: str = "") -> str:  # type: ignore[no-untyped-def]
        ref = await super().send(to, replies, key=key)
        return f"{self.name}:{ref}"

    async def update(self, to, message, replies) -> None:  # type: ignore[no-untyped-def]
        if not message.startswith(f"{self.name}:"):
            raise ValueError("message_not_found")
        await super().update(to, message, replies)

    def leads_channel(self, directory) -> str | None:  # type: ignore[no-untyped-def]
        return self.channel


async def test_F8_card_posted_on_another_platforms_channel_is_then_edited_through_the_wrong_one(
    store: Store, clock: Clock
) -> None:
    """Slack worker, no Slack leads' channel yet: the new 'any channel' fallback
    (Reach.leads) posts the case card in the Teams channel. An administrator then
    sets the Slack channel. Every later POST_OR_EDIT for the case calls Slack's
    update with a Teams message id (`_card` ignores the recorded platform and
    address): it fails for as long as the case is open, and the Slack channel
    never gets the card."""
    alice_s, bob_s, carol_s = "slack:T1:alice", "slack:T1:bob", "slack:T1:carol"
    directory = Directory(managers={alice_s: [bob_s]}, leads={carol_s})
    harbour = make_harbour(store, clock, directory)
    slack = PlatformMessenger("slack", None)
    teams = PlatformMessenger("teams", "teams-leads")
    notifier = Notifier(harbour, {Platform.SLACK: slack, Platform.TEAMS: teams})
    from bot.models import PersonRef

    alice = Chat(harbour, "alice")
    alice.person = PersonRef(platform=Platform.SLACK, workspace="T1", user="alice")
    ref = await file(alice)  # high/critical: the card goes to a channel
    await notifier.run_once()
    assert teams.to("teams-leads"), "card posted in the Teams channel"
    slack.channel = "C-SLACK-LEADS"  # admin channel slack C-SLACK-LEADS
    bob = Chat(harbour, "bob")
    bob.person = PersonRef(platform=Platform.SLACK, workspace="T1", user="bob")
    await bob.send_event(
        ChoiceMade(
            event_id="b-ack", person=bob.person, question=f"case:{ref}", values=("ack",), token=ref
        )
    )
    for _ in range(6):
        clock.advance(minutes=15)
        await notifier.run_once()
    pending = await store.pending_events()

    assert not pending, "the ack's card edit never succeeds"


async def test_F9_a_check_in_note_is_replaced_by_a_later_one_before_it_is_delivered(
    harbour: Harbour, store: Store, clock: Clock
) -> None:
    """(Pre-existing, kept by the new planner: plan.py:324.) The CHECKIN_NOTE
    planner sends 'the latest checkin-note in the timeline', not this event's
    note. While Bob's DM is failing, Alice answers two check-ins with a note
    each; when Bob's DM works he gets the second note twice, the first never."""
    messenger = RecordingMessenger()
    notifier = Notifier(harbour, {Platform.CONSOLE: messenger})
    alice = Chat(harbour, "alice")
    await file(alice, LOW_RISK)
    await notifier.run_once()
    await Chat(harbour, "bob").command("checkin", "console:local:alice cadence")
    messenger.failures[BOB] = 10**6
    for note in ("first note: they found my car", "second note: all quiet"):
        clock.advance(days=2)
        await notifier.run_once()
        [ask] = [r for r in messenger.to(ALICE)[-1] if getattr(r, "id", "").startswith("checkin:")]
        await alice.choose("affected", question=ask.id, token=ask.token)  # type: ignore[union-attr]
        await alice.say(note)
        print("\nALICE:", alice.text()[:100])
        await notifier.run_once()
    messenger.failures[BOB] = 0
    for _ in range(4):
        clock.advance(minutes=20)
        await notifier.run_once()

    got = " ".join(dump(r) for r in messenger.to(BOB))

    assert "first note" in got, "what she said in her first note never reaches her manager"


class TimesOutAfterPosting(RecordingMessenger):
    """Slack took the message but the HTTP response timed out (once)."""

    def __init__(self) -> None:
        super().__init__()
        self.timeouts = 1

    async def send(self, to, replies, *, key: str = "") -> str:  # type: ignore[no-untyped-def]
        ref = await super().send(to, replies, key=key)
        if self.timeouts and to.address == BOB:
            self.timeouts -= 1
            raise TimeoutError("read timed out")
        return ref


async def test_F10_a_send_that_timed_out_after_posting_is_sent_again(
    harbour: Harbour, store: Store, clock: Clock
) -> None:
    """The read-back (`find_sent`) is only asked after a crash ('sending'); a
    send that raised is recorded 'retrying', so the retry posts again although
    the platform could have said it went out."""
    messenger = TimesOutAfterPosting()
    notifier = Notifier(harbour, {Platform.CONSOLE: messenger})
    await file(Chat(harbour, "alice"), LOW_RISK)
    await notifier.run_once()
    clock.advance(minutes=1)
    await notifier.run_once()

    assert len(messenger.to(BOB)) == 1


def test_F11_a_reset_conversation_comes_back_from_a_stale_previous_copy(tmp_path) -> None:
    """An administrator resets Alice's conversation by removing her file (as
    Place.read documents). `keep_previous` finds no file to link on the next
    write and returns, leaving the OLD previous copy in place. If the new file
    is then damaged, Place.read 'repairs' it from that stale copy: the
    conversation that was reset comes back (drafts, pending events, seen ids).
    The reset also never removed the content from previous/."""
    import asyncio
    from datetime import UTC, datetime

    from bot.session import PendingChoice, Session
    from bot.store import TinyStore
    from bot.store.tiny import _file_name

    data = tmp_path / "data"
    alice = person("alice")

    def old_session() -> Session:
        return Session(
            person=alice,
            updated_at=datetime.now(UTC),
            pending=PendingChoice(question="q", token="t", prompt="OLD CONVERSATION", options=[]),
        )

    async def step(fn) -> None:  # type: ignore[no-untyped-def]
        s = TinyStore(data)
        try:
            await fn(s)
        finally:
            await s.close()

    asyncio.run(step(lambda s: s.save_session(alice, old_session(), event_id="old-1")))
    asyncio.run(step(lambda s: s.save_session(alice, old_session(), event_id="old-2")))
    name = _file_name(alice.key)
    (data / "conversations" / name).unlink()  # the administrator's reset
    asyncio.run(step(lambda s: s.save_session(alice, None, event_id="new-1")))

    (data / "conversations" / name).write_bytes(b"")  # damage

    async def check(s) -> None:  # type: ignore[no-untyped-def]
        session = await s.load_session(alice)
        print("after repair:", session.pending.prompt if session and session.pending else None)
        assert session is None, "the reset conversation was resurrected"

    asyncio.run(step(check))


def test_F12_a_danger_alert_in_a_damaged_conversation_file_vanishes_without_a_dead_letter(
    tmp_path, clock: Clock, directory: Directory
) -> None:
    """Alice says someone is in immediate danger; the RISK_CRITICAL event is
    queued in her conversation file. Harbour stops before the sender runs and
    the file is found damaged at start: it is 'repaired' from the previous copy
    (one write behind, without the event). Nothing is pending, no dead letter,
    the leads are never told (only a log line names the file)."""
    import asyncio

    from bot.store import TinyStore

    data = tmp_path / "data"

    async def before() -> None:
        store = TinyStore(data)
        harbour = make_harbour(store, clock, directory)
        alice = Chat(harbour, "alice")
        await alice.command("report")
        await alice.say("yes")
        assert [e.kind.value for e in await store.pending_events()] == ["risk_critical"]
        await store.close()

    asyncio.run(before())
    [f] = list((data / "conversations").glob("*.json"))
    f.write_bytes(f.read_bytes()[:-20])  # cut short

    async def after() -> None:
        store = TinyStore(data)
        pending = await store.pending_events()
        letters = await store.dead_letters()
        print("\npending:", pending, "dead letters:", letters)
        await store.close()
        assert pending or letters, "the immediate-danger alert is gone and nobody will be told"

    asyncio.run(after())
