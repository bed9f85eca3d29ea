"""Alerts, case actions, permissions and the directory, through the core with a
recording messenger (the platform adapters' messengers are tested with their fakes)."""

from __future__ import annotations

import asyncio
import json
from datetime import timedelta
from typing import Any

import pytest

from bot.alerts.sender import Notifier
from bot.app import Harbour
from bot.cases import CASE_QUESTION
from bot.directory import DirectoryError, parse_directory
from bot.models import ChoiceMade, Platform, Reply
from bot.reports import ReportStatus
from bot.store import Store
from tests.conftest import LEADS, TYPED_REPORT, Chat, Clock, RecordingMessenger, type_report

SECRETS = ("street", "facebook.com", "screenshots", "alice", "Four screenshots")


ALICE = "console:local:alice"
BOB, CAROL, DAN = "console:local:bob", "console:local:carol", "console:local:dan"


async def file(chat: Chat, answers: list[tuple[str, str]] = TYPED_REPORT) -> str:
    await chat.command("report")
    await type_report(chat, answers)
    await chat.say("yes")
    return next(w for w in chat.text().replace(".", " ").split() if w.startswith("HB-"))


def with_answer(step: str, value: str) -> list[tuple[str, str]]:
    return [(s, value if s == step else a) for s, a in TYPED_REPORT]


LOW_RISK = [
    ("danger", "no"),
    ("kinds", "complaints"),
    *[(s, "skip") for s in ("platforms", "links", "evidence", "started", "frequency")],
    *[(s, "skip") for s in ("affected", "poster", "worry", "description")],
    ("audience", "1"),
]


async def press(harbour: Harbour, user: str, ref: str, action: str) -> list[Reply]:
    chat = Chat(harbour, user)
    return await chat.send_event(
        ChoiceMade(
            event_id=f"{user}-{action}-{ref}",
            person=chat.person,
            question=f"{CASE_QUESTION}{ref}",
            values=(action,),
            token=ref,
        )
    )


# ------------------------------------------------------------------ alerts


async def test_serious_report_alerts_manager_privately_and_leads_without_content(
    harbour: Harbour, notifier: Notifier, messenger: RecordingMessenger, store: Store
) -> None:
    ref = await file(Chat(harbour, "alice"))
    assert await notifier.run_once() == 2  # report filed, risk critical
    [alert] = messenger.to(BOB)  # one alert, though the report is both filed and critical
    text = json.dumps([r.model_dump() for r in alert])
    assert ref in text and "Posts naming me and my street." in text  # the worker agreed
    assert "Acknowledge" in text and "chose to share it with you" in text
    assert messenger.to(LEADS)
    for channel_text in messenger.channel_texts():
        assert ref in channel_text and "critical" in channel_text
        for secret in SECRETS:
            assert secret not in channel_text
    report = await store.get_report(ref)
    assert report is not None
    assert [e.action for e in report.timeline].count("alert-sent") >= 2
    assert await store.pending_events() == []


async def test_low_risk_goes_to_the_manager_only(
    harbour: Harbour, notifier: Notifier, messenger: RecordingMessenger
) -> None:
    await file(Chat(harbour, "alice"), LOW_RISK)
    await notifier.run_once()
    assert messenger.to(BOB)
    assert messenger.to(LEADS) == []


async def test_excluding_the_manager_tells_the_leads_instead(
    harbour: Harbour, notifier: Notifier, messenger: RecordingMessenger
) -> None:
    await file(Chat(harbour, "alice"), LOW_RISK[:-1] + [("audience", "2")])
    await notifier.run_once()
    assert messenger.to(BOB) == []
    assert messenger.to(LEADS)


async def test_only_me_tells_nobody(
    harbour: Harbour, notifier: Notifier, messenger: RecordingMessenger
) -> None:
    await file(Chat(harbour, "alice"), LOW_RISK[:-1] + [("audience", "3")])
    await notifier.run_once()
    assert messenger.sent == []


async def test_immediate_danger_is_passed_on_before_the_report_is_filed(
    harbour: Harbour, notifier: Notifier, messenger: RecordingMessenger
) -> None:
    alice = Chat(harbour, "alice")
    await alice.command("report")
    await alice.say("yes")
    await notifier.run_once()
    assert messenger.to(LEADS)  # the leads at once
    assert messenger.to(BOB) == []  # her manager only once she says so
    assert alice.focus() == "danger_manager"
    await alice.say("1")
    await notifier.run_once()
    [urgent] = messenger.to(BOB)
    assert "immediate danger" in json.dumps([r.model_dump() for r in urgent])
    for channel_text in messenger.channel_texts():
        assert "alice" not in channel_text


async def test_in_danger_she_can_keep_her_manager_out_in_one_step(
    harbour: Harbour, notifier: Notifier, messenger: RecordingMessenger
) -> None:
    """Issue 10, point 8: the manager may be the problem."""
    alice = Chat(harbour, "alice")
    await alice.command("report")
    await alice.say("yes")
    assert "tell your manager" in alice.text()
    await alice.say("No, not my manager")
    await type_report(alice, TYPED_REPORT[1:-1] + [("audience", "2")])
    await alice.say("yes")
    await notifier.run_once()
    await notifier.run_once()
    assert messenger.to(BOB) == []  # never, not even the danger alert
    assert messenger.to(LEADS)


async def test_a_failed_send_is_retried_later_and_sent_once(
    harbour: Harbour,
    notifier: Notifier,
    messenger: RecordingMessenger,
    clock: Clock,
    store: Store,
) -> None:
    messenger.failures[BOB] = 1
    await file(Chat(harbour, "alice"), LOW_RISK)
    await notifier.run_once()
    assert messenger.to(BOB) == []
    assert len(await store.pending_events()) == 1
    await notifier.run_once()  # not due yet: nothing happens
    assert messenger.to(BOB) == []
    clock.advance(minutes=1)
    await notifier.run_once()
    await notifier.run_once()
    assert len(messenger.to(BOB)) == 1
    assert await store.pending_events() == []


async def test_restart_does_not_send_twice(
    harbour: Harbour, messenger: RecordingMessenger, store: Store, clock: Clock
) -> None:
    messenger.failures[LEADS] = 1
    await file(Chat(harbour, "alice"))
    first = Notifier(harbour, {Platform.CONSOLE: messenger})
    await first.run_once()
    assert len(messenger.to(BOB)) == 1  # the manager has it; the channel failed once
    clock.advance(minutes=5)
    again = Notifier(harbour, {Platform.CONSOLE: messenger})  # as after a restart
    await again.run_once()
    assert len(messenger.to(BOB)) == 1
    assert messenger.to(LEADS)


async def test_an_alert_that_cannot_get_through_is_reported_and_never_dropped(
    harbour: Harbour, notifier: Notifier, messenger: RecordingMessenger, clock: Clock, store: Store
) -> None:
    messenger.failures[BOB] = 99
    ref = await file(Chat(harbour, "alice"), LOW_RISK)
    for _ in range(6):
        await notifier.run_once()
        clock.advance(hours=1)
    report = await store.get_report(ref)
    assert report is not None
    assert [e.action for e in report.timeline].count("alert-failing") == 1
    [note] = messenger.to(LEADS)
    assert f"hasn't been able to deliver an alert about {ref} to one of its" in dump(note)
    assert "manager" not in dump(note)  # who it was for would say whom she told
    assert len(await store.pending_events()) == 1  # still trying
    # Alice was told her manager would know: she hears that they don't (yet), and what next.
    [told] = messenger.to(ALICE)
    assert f"I haven't been able to reach your manager about {ref} yet" in dump(told)
    assert "safety leads have been asked" in dump(told) and "contact them yourself" in dump(told)
    messenger.failures[BOB] = 0  # back
    clock.advance(minutes=15)
    await notifier.run_once()
    assert len(messenger.to(BOB)) == 1 and await store.pending_events() == []
    assert "has now been delivered" in dump(messenger.to(LEADS)[-1])


async def test_worker_told_when_neither_manager_nor_leads_can_be_reached(
    harbour: Harbour, notifier: Notifier, messenger: RecordingMessenger, clock: Clock
) -> None:
    messenger.failures[BOB] = 99
    messenger.failures[LEADS] = 99
    messenger.failures[CAROL] = 99  # the safety lead, privately: the last route
    ref = await file(Chat(harbour, "alice"), LOW_RISK)
    for _ in range(4):
        await notifier.run_once()
        clock.advance(hours=1)
    [told] = messenger.to(ALICE)
    assert f"I haven't been able to reach your manager about {ref} yet" in dump(told)
    assert "couldn't reach the safety leads either" in dump(told)


def dump(replies: list[Reply]) -> str:
    return json.dumps([r.model_dump() for r in replies])


# ------------------------------------------------------------------ acting on a case


async def test_manager_acknowledges_and_the_worker_is_told(
    harbour: Harbour, notifier: Notifier, messenger: RecordingMessenger, store: Store
) -> None:
    ref = await file(Chat(harbour, "alice"))
    await notifier.run_once()
    replies = await press(harbour, "bob", ref, "ack")
    assert "Acknowledged" in json.dumps([r.model_dump() for r in replies])
    await notifier.run_once()
    report = await store.get_report(ref)
    assert report is not None and report.status is ReportStatus.ACKNOWLEDGED
    assert report.acknowledged_by == BOB
    assert "Your manager has seen" in json.dumps(
        [r.model_dump() for r in messenger.to("console:local:alice")[0]]
    )
    assert messenger.updated and messenger.updated[-1][0].kind == "channel"  # updated in place


async def test_only_the_manager_or_a_lead_may_act_and_refusals_are_recorded(
    harbour: Harbour, store: Store
) -> None:
    ref = await file(Chat(harbour, "alice"))
    for user, words in (("dan", "that you can see or act on"), ("alice", "Only the worker's")):
        replies = await press(harbour, user, ref, "ack")
        assert words in json.dumps([r.model_dump() for r in replies])
    report = await store.get_report(ref)
    assert report is not None and report.status is ReportStatus.OPEN
    assert [e.actor for e in report.timeline if e.action == "refused"] == [
        DAN,
        "console:local:alice",
    ]
    replies = await press(harbour, "bob", ref, "claim")
    assert "Only" in json.dumps([r.model_dump() for r in replies])  # claiming is for leads


async def test_lead_claims_once_and_sees_the_case(
    harbour: Harbour, notifier: Notifier, messenger: RecordingMessenger, store: Store
) -> None:
    ref = await file(Chat(harbour, "alice"))
    await notifier.run_once()
    replies = await press(harbour, "carol", ref, "claim")
    text = json.dumps([r.model_dump() for r in replies])
    assert "claimed" in text and "Posts naming me and my street." in text  # privately, to her
    again = await press(harbour, "carol", ref + "", "claim")
    assert again == []  # the same delivery id: a duplicate press does nothing twice
    await notifier.run_once()
    report = await store.get_report(ref)
    assert report is not None and report.claimed_by == CAROL
    assert report.status is ReportStatus.IN_PROGRESS
    latest = messenger.updated[-1][2]
    assert "claimed by a safety lead" in json.dumps([r.model_dump() for r in latest])
    assert "Claim" not in json.dumps([r.model_dump() for r in latest])


async def test_note_action_and_close_forms(harbour: Harbour, store: Store) -> None:
    ref = await file(Chat(harbour, "alice"))
    bob = Chat(harbour, "bob")
    await press(harbour, "bob", ref, "note")
    bob.replies = ((await store.load_session(bob.person)) and bob.replies) or bob.replies
    await bob.command("report")  # a manager's own report draft is unaffected...
    await bob.say("cancel")
    await bob.say("yes")
    await press(harbour, "bob", ref, "action")
    await bob.say("police")
    await bob.say("Crime number 12345")
    await bob.say("yes")
    await press(harbour, "bob", ref, "close")
    await bob.say("1")
    await bob.say("skip")
    await bob.say("yes")
    report = await store.get_report(ref)
    assert report is not None
    actions = [(e.action, e.detail) for e in report.timeline if e.actor == BOB]
    assert ("action", "Police contacted") in actions  # the worker may see this line
    assert ("note", "Crime number 12345") in actions  # this stays with the case team
    assert ("closed", "Resolved") in actions
    assert report.status is ReportStatus.CLOSED
    replies = await press(harbour, "bob", ref, "ack")
    assert "already closed" in json.dumps([r.model_dump() for r in replies])


async def test_escalation_reaches_the_leads(
    harbour: Harbour, notifier: Notifier, messenger: RecordingMessenger
) -> None:
    ref = await file(Chat(harbour, "alice"), LOW_RISK)
    await notifier.run_once()
    assert messenger.to(LEADS) == []
    await press(harbour, "bob", ref, "escalate")
    await notifier.run_once()
    [alert] = messenger.to(LEADS)
    assert ref in json.dumps([r.model_dump() for r in alert])


async def test_cases_lists_what_each_person_may_see(harbour: Harbour) -> None:
    ref = await file(Chat(harbour, "alice"))
    chats = {user: Chat(harbour, user) for user in ("bob", "carol", "dan")}
    for user, expected in (("bob", True), ("carol", True), ("dan", False)):
        await chats[user].command("cases")
        assert (ref in chats[user].text()) is expected, user
    dan, bob = chats["dan"], chats["bob"]
    await dan.command("cases", ref)
    assert "that you can see or act on" in dan.text()
    await bob.command("cases", ref)
    assert "Posts naming me and my street." in bob.text()


# ------------------------------------------------------------------ directory


async def test_worker_without_a_manager_is_asked_and_the_manager_alerted(
    harbour: Harbour, notifier: Notifier, messenger: RecordingMessenger, store: Store
) -> None:
    erin = Chat(harbour, "erin")
    ref = await file(erin, LOW_RISK)
    assert erin.asking().id == "who-manager"
    await erin.say("console:local:erin")  # not yourself
    assert erin.asking().id == "who-manager"
    assert "couldn't tell who that is" in erin.text()
    await erin.say("console:local:bob")
    assert "I'll let them know about " + ref in erin.text()
    assert erin.asking().id == "reflect-offer"
    await notifier.run_once()
    assert messenger.to(BOB)
    report = await store.get_report(ref)
    assert report is not None and report.managers == [BOB]
    assert await store.get_record("managers", "console:local:erin") is not None


async def test_admin_commands(harbour: Harbour, store: Store) -> None:
    dan = Chat(harbour, "dan")
    await dan.command("admin", "lead add console:local:dan")
    assert "Only Harbour administrators" in dan.text()
    admin = Chat(harbour, "admin")
    await admin.command("admin", "manager console:local:dan console:local:carol")
    await admin.command("admin", "lead add console:local:dan")
    await admin.command("admin")
    assert "console:local:carol" in admin.text()
    assert harbour.directory.is_lead(dan.person)
    assert harbour.directory.managers["console:local:dan"] == ["console:local:carol"]
    await admin.command("admin", "manager nonsense")
    assert "didn't follow" in admin.text()
    await dan.command("whoami")
    assert "console:local:dan" in dan.text()


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            '[[people]]\nid = "slack:T1:U1"\nmanagers = ["bob"]\n',
            "line 1: people.managers: 'bob' is not a person id",
        ),
        ('\n\n[[people]]\nmanagers = ["slack:T1:U2"]\n', "line 3: people.id is missing"),
        (
            '[[people]]\nid = "slack:T1:U1"\nmanger = ["slack:T1:U2"]\n',
            "line 1: people.manger is not a known field",
        ),
        ("[people]\nid = 1\n", "people must be written as [[people]] tables"),
        ('[safety_leads]\npeople = "slack:T1:U3"\n', "line 1: safety_leads.people: must be a list"),
        ('[channels]\nslack = "safety leads"\n', "channels.slack must be the channel's id"),
        ('[channels]\nfax = "C0123ABCD"\n', "channels.fax: not a platform Harbour knows"),
        ("[[people]\n", "not valid TOML"),
        ("[teams]\n", "unknown section 'teams'"),
    ],
)
def test_directory_file_errors_name_the_line_and_field(text: str, message: str) -> None:
    with pytest.raises(DirectoryError) as caught:
        parse_directory(text, "directory.toml")
    assert "directory.toml" in str(caught.value)
    assert message in str(caught.value)


def test_directory_file_and_chat_changes() -> None:
    directory = parse_directory(
        '[[people]]\nid = "slack:T1:U1"\nmanagers = ["slack:T1:U2"]\n\n'
        '[safety_leads]\npeople = ["slack:T1:U3"]\n\n[channels]\nslack = "C0SAFETY1"\n',
        "directory.toml",
    )
    assert [m.key for m in directory.managers_of(_slack("U1"))] == ["slack:T1:U2"]
    directory.apply(
        {
            "managers": {"slack:T1:U1": {"managers": ["slack:T1:U9"]}},
            "leads": {"slack:T1:U3": {"lead": False}, "slack:T1:U4": {"lead": True}},
        }
    )
    assert directory.managers["slack:T1:U1"] == ["slack:T1:U9"]
    assert directory.leads == {"slack:T1:U4"}
    assert directory.channels == {"slack": "C0SAFETY1"}


def _slack(user: str) -> Any:
    from bot.models import PersonRef

    return PersonRef(platform=Platform.SLACK, workspace="T1", user=user)


def test_first_wait_doubles() -> None:
    assert timedelta(seconds=30) * 2**2 == timedelta(minutes=2)


# ------------------------------------------------------------------ escalation


async def test_unacknowledged_critical_alert_escalates_once_after_30_minutes(
    harbour: Harbour, notifier: Notifier, messenger: RecordingMessenger, clock: Clock, store: Store
) -> None:
    ref = await file(Chat(harbour, "alice"))
    await notifier.run_once()
    channel_before = len(messenger.to(LEADS)) + len(messenger.updated)
    clock.advance(minutes=29)
    await notifier.run_once()
    assert len(messenger.to(BOB)) == 1
    clock.advance(minutes=2)
    await notifier.run_once()
    reminder = json.dumps([r.model_dump() for r in messenger.to(BOB)[-1]])
    assert "hasn't been acknowledged yet" in reminder
    assert len(messenger.to(LEADS)) + len(messenger.updated) > channel_before
    clock.advance(hours=5)
    await notifier.run_once()
    assert len(messenger.to(BOB)) == 2  # the next step is the administrators', not a reminder
    report = await store.get_report(ref)
    assert report is not None
    assert [e.detail for e in report.timeline if e.action == "follow-up"] == ["leads", "admins"]


async def test_acknowledged_in_time_does_not_escalate(
    harbour: Harbour, notifier: Notifier, messenger: RecordingMessenger, clock: Clock
) -> None:
    ref = await file(Chat(harbour, "alice"))
    await notifier.run_once()
    clock.advance(minutes=10)
    await press(harbour, "bob", ref, "ack")
    clock.advance(hours=2)
    await notifier.run_once()
    assert not any(
        "hasn't been acknowledged" in json.dumps([r.model_dump() for r in m])
        for m in messenger.to(BOB)
    )


async def test_escalation_due_while_down_fires_once_at_start_up(
    harbour: Harbour, messenger: RecordingMessenger, clock: Clock
) -> None:
    await file(Chat(harbour, "alice"))
    await Notifier(harbour, {Platform.CONSOLE: messenger}).run_once()
    clock.advance(hours=3)  # Harbour was down meanwhile
    restarted = Notifier(harbour, {Platform.CONSOLE: messenger})
    assert await restarted.follow_ups() == 1
    assert await restarted.follow_ups() == 0  # the next step is timed from this one


def test_other_risks_escalate_after_one_working_day() -> None:
    from datetime import UTC, datetime

    from bot.alerts.followups import add_working_day

    friday = datetime(2026, 11, 27, 17, 0, tzinfo=UTC)
    assert add_working_day(friday).weekday() == 0  # Monday, same time
    assert add_working_day(friday).hour == 17
    tuesday = datetime(2026, 11, 24, 9, 0, tzinfo=UTC)
    assert add_working_day(tuesday) == datetime(2026, 11, 25, 9, 0, tzinfo=UTC)


# ------------------------------------------------------------------ check-ins


async def schedule_checkins(harbour: Harbour, ref: str, cadence: str) -> Chat:
    bob = Chat(harbour, "bob")
    await press(harbour, "bob", ref, "checkins")
    await bob.say(cadence)
    await bob.say("yes")
    assert "Check-ins for " + ref + " scheduled" in bob.text()
    return bob


def checkin_question(messenger: RecordingMessenger) -> Any:
    from bot.models import ChoiceQuestion

    asks = [
        r
        for replies in messenger.to("console:local:alice")
        for r in replies
        if isinstance(r, ChoiceQuestion)
    ]
    return asks[-1]


async def answer_checkin(harbour: Harbour, user: str, ask: Any, value: str) -> list[Reply]:
    chat = Chat(harbour, user)
    return await chat.send_event(
        ChoiceMade(
            event_id=f"{user}-{ask.id}-{value}",
            person=chat.person,
            question=ask.id,
            values=(value,),
            token=ask.token,
        )
    )


async def test_checkins_are_sent_when_due_and_answers_reach_the_manager(
    harbour: Harbour, notifier: Notifier, messenger: RecordingMessenger, clock: Clock, store: Store
) -> None:
    ref = await file(Chat(harbour, "alice"), LOW_RISK)
    await notifier.run_once()
    await schedule_checkins(harbour, ref, "1,3,7")
    report = await store.get_report(ref)
    assert report is not None and len(report.checkins) == 3
    clock.advance(hours=23)
    await notifier.run_once()
    assert messenger.to("console:local:alice") == []
    clock.advance(hours=1, minutes=1)
    await notifier.run_once()
    ask = checkin_question(messenger)
    assert (
        "Your manager asked me to check in" in ask.prompt and "later than planned" not in ask.prompt
    )
    replies = await answer_checkin(harbour, "dan", ask, "ok")  # not Dan's to answer
    assert "that you can see or act on" in json.dumps([r.model_dump() for r in replies])
    await answer_checkin(harbour, "alice", ask, "ok")
    await notifier.run_once()
    assert "The worker is doing OK." in json.dumps([r.model_dump() for r in messenger.to(BOB)[-1]])
    again = await answer_checkin(harbour, "alice", ask.model_copy(update={}), "affected")
    assert again == [] or "already been answered" in json.dumps([r.model_dump() for r in again])


async def test_checkin_due_while_down_is_sent_once_marked_late(
    harbour: Harbour, messenger: RecordingMessenger, clock: Clock
) -> None:
    ref = await file(Chat(harbour, "alice"), LOW_RISK)
    await Notifier(harbour, {Platform.CONSOLE: messenger}).run_once()
    await schedule_checkins(harbour, ref, "1")
    clock.advance(days=2)  # down for the whole time
    restarted = Notifier(harbour, {Platform.CONSOLE: messenger})
    await restarted.run_once()
    await restarted.run_once()
    asks = [
        r
        for replies in messenger.to("console:local:alice")
        for r in replies
        if "check in" in getattr(r, "prompt", "")
    ]
    assert len(asks) == 1 and "later than planned" in asks[0].prompt


async def test_unanswered_checkin_is_reported_and_snooze_moves_it(
    harbour: Harbour, notifier: Notifier, messenger: RecordingMessenger, clock: Clock
) -> None:
    ref = await file(Chat(harbour, "alice"), LOW_RISK)
    await notifier.run_once()
    await schedule_checkins(harbour, ref, "1")
    clock.advance(days=1, minutes=1)
    await notifier.run_once()
    first = checkin_question(messenger)
    replies = await answer_checkin(harbour, "alice", first, "snooze")
    assert "ask again tomorrow" in json.dumps([r.model_dump() for r in replies])
    clock.advance(days=1, minutes=1)
    await notifier.run_once()
    assert checkin_question(messenger).id == first.id  # asked again
    clock.advance(days=1, minutes=1)
    await notifier.run_once()
    assert any(
        "hasn't been answered for a day" in json.dumps([r.model_dump() for r in m])
        for m in messenger.to(BOB)
    )


async def test_need_to_talk_reaches_the_manager_then_the_leads(
    harbour: Harbour, notifier: Notifier, messenger: RecordingMessenger, clock: Clock
) -> None:
    ref = await file(Chat(harbour, "alice"), LOW_RISK)
    await notifier.run_once()
    await press(harbour, "bob", ref, "ack")  # so nothing else goes to the leads
    await schedule_checkins(harbour, ref, "1")
    clock.advance(days=1, minutes=1)
    await notifier.run_once()
    await answer_checkin(harbour, "alice", checkin_question(messenger), "talk")
    await notifier.run_once()
    urgent = json.dumps([r.model_dump() for r in messenger.to(BOB)[-1]])
    assert "needs to talk now" in urgent and "I'm on it" in urgent
    assert messenger.to(LEADS) == []
    clock.advance(minutes=31)
    await notifier.run_once()
    [lead_alert] = messenger.to(LEADS)
    text = json.dumps([r.model_dump() for r in lead_alert])
    assert ref in text and "alice" not in text


async def test_closing_the_case_stops_the_cadence(
    harbour: Harbour, notifier: Notifier, messenger: RecordingMessenger, clock: Clock, store: Store
) -> None:
    ref = await file(Chat(harbour, "alice"), LOW_RISK)
    await notifier.run_once()
    bob = await schedule_checkins(harbour, ref, "1,3,7")
    await press(harbour, "bob", ref, "close")
    await bob.say("1")
    await bob.say("skip")
    await bob.say("yes")
    clock.advance(days=8)
    await notifier.run_once()
    assert messenger.to("console:local:alice") == []
    report = await store.get_report(ref)
    assert report is not None and {c.state for c in report.checkins} == {"cancelled"}


async def test_checkin_command(harbour: Harbour, store: Store) -> None:
    ref = await file(Chat(harbour, "alice"), LOW_RISK)
    bob = Chat(harbour, "bob")
    await bob.command("checkin", "console:local:alice in 3 days")
    assert f"Check-ins for {ref} scheduled" in bob.text()
    await bob.command("checkin", "console:local:alice cadence")
    report = await store.get_report(ref)
    assert report is not None and len(report.checkins) == 4
    dan = Chat(harbour, "dan")
    await dan.command("checkin", "console:local:alice tomorrow")
    assert "couldn't find an open case" in dan.text()
    await dan.command("checkin")
    assert "Say who to check in with" in dan.text()


def test_slack_mentions_become_person_ids() -> None:
    from adapters.slack.translate import with_person_ids

    assert (
        with_person_ids("checkin <@U0ALICE|alice> in 2d", "T1") == "checkin slack:T1:U0ALICE in 2d"
    )


async def test_a_note_with_a_checkin_answer_goes_to_the_manager_only(
    harbour: Harbour, notifier: Notifier, messenger: RecordingMessenger, clock: Clock
) -> None:
    alice = Chat(harbour, "alice")
    ref = await file(alice, LOW_RISK)
    await notifier.run_once()
    await press(harbour, "bob", ref, "ack")
    await schedule_checkins(harbour, ref, "1")
    clock.advance(days=1, minutes=1)
    await notifier.run_once()
    await alice.send_event(
        ChoiceMade(
            event_id="a-note-1",
            person=alice.person,
            question=checkin_question(messenger).id,
            values=("affected",),
        )
    )
    assert "type them now" in alice.text()
    await alice.say("The posts started again last night")
    assert "passing that on" in alice.text()
    await notifier.run_once()
    assert "The posts started again last night" in json.dumps(
        [r.model_dump() for r in messenger.to(BOB)[-1]]
    )
    for channel_text in messenger.channel_texts():
        assert "posts started again" not in channel_text


async def test_checkin_due_while_the_process_was_down_is_sent_once_after_a_real_restart(
    tmp_path: Any, settings: Any, clock: Clock, directory: Any
) -> None:
    from bot.store import TinyStore

    def harbour_on(store: Store) -> Harbour:
        return Harbour(store, settings.flow_context(), clock=clock, directory=directory)

    store = TinyStore(tmp_path)
    first = harbour_on(store)
    messenger = RecordingMessenger()
    ref = await file(Chat(first, "alice"), LOW_RISK)
    await Notifier(first, {Platform.CONSOLE: messenger}).run_once()
    await press(first, "bob", ref, "ack")
    bob = Chat(first, "bob")
    await press(first, "bob", ref, "checkins")
    await bob.say("1")
    await bob.say("yes")
    await store.close()  # the process stops...
    clock.advance(days=3)  # ...and stays down past the check-in
    reopened = TinyStore(tmp_path)
    second = harbour_on(reopened)
    after = RecordingMessenger()
    notifier = Notifier(second, {Platform.CONSOLE: after})
    await notifier.run_once()
    await notifier.run_once()
    asks = [
        r
        for m in after.to("console:local:alice")
        for r in m
        if "check in" in getattr(r, "prompt", "")
    ]
    assert len(asks) == 1 and "later than planned" in asks[0].prompt
    await reopened.close()


def test_people_pickers_become_person_ids() -> None:
    from microsoft_agents.activity import Activity

    from adapters.slack import render as slack_render
    from adapters.slack.translate import action_event
    from adapters.teams.translate import action_event as teams_action
    from tests.fakes.teams import TENANT
    from tests.fakes.teams import activity as teams_activity

    body = {
        "user": {"id": "U0ERIN", "team_id": "T1"},
        "container": {"message_ts": "1.1"},
        "actions": [
            {
                "action_id": slack_render.ACTION_PERSON,
                "block_id": "p|U0ERIN|who-manager|tok",
                "selected_user": "U0BOB",
                "action_ts": "2",
            }
        ],
    }
    picked = action_event(body).event
    assert isinstance(picked, ChoiceMade) and picked.values == ("slack:T1:U0BOB",)
    bob_picks = action_event({**body, "user": {"id": "U0BOB", "team_id": "T1"}})
    assert bob_picks.event is None and bob_picks.refused == "not-yours"
    act = Activity.model_validate(teams_activity("https://svc.example/", "erin"))
    data = {
        "hb": {"kind": "person", "question": "who-manager", "token": "t", "owner": "aad-erin"},
        "who-manager": "aad-bob",
    }
    chosen = teams_action(act, data).event
    assert isinstance(chosen, ChoiceMade) and chosen.values == (f"teams:{TENANT}:aad-bob",)


async def test_cases_reference_offers_the_actions_this_person_may_take(
    harbour: Harbour, store: Store
) -> None:
    alice = Chat(harbour, "alice")
    ref = await file(alice)
    bob = Chat(harbour, "bob")
    await bob.command("cases", ref)
    ask = bob.asking()
    assert [o.value for o in ask.options][:2] == ["ack", "checkins"]  # type: ignore[union-attr]
    await bob.say("1")  # typed, as in the console
    assert "Acknowledged" in bob.text()
    carol = Chat(harbour, "carol")
    await carol.command("cases", ref)
    assert carol.asking().options[0].value == "claim"  # type: ignore[union-attr]
    report = await store.get_report(ref)
    assert report is not None and report.status is ReportStatus.ACKNOWLEDGED
    await alice.command("cases", ref)
    assert not any(getattr(r, "id", "").startswith("case:") for r in alice.replies)


async def test_two_passes_at_once_send_each_alert_once(
    harbour: Harbour, notifier: Notifier, messenger: RecordingMessenger
) -> None:

    await file(Chat(harbour, "alice"), LOW_RISK)
    await asyncio.gather(notifier.run_once(), notifier.run_once())
    assert len(messenger.to(BOB)) == 1
