"""Regressions for the review of the conversation reshape (issue 12): what a
worker or manager types reaches the answer she meant; nothing she said is lost."""

from __future__ import annotations

import json

import pytest

from bot.alerts.sender import Notifier
from bot.app import Harbour
from bot.directory import Directory
from bot.store import Store
from tests.conftest import Chat, Clock, RecordingMessenger
from tests.test_cases import (
    BOB,
    LOW_RISK,
    answer_checkin,
    checkin_question,
    file,
)


class Fresh(Chat):
    """A chat whose event ids never repeat another Chat's for the same person."""

    n = 0

    def next_id(self) -> str:
        Fresh.n += 1
        return f"fresh-{self.person.user}-{Fresh.n}"


async def schedule_checkins(harbour: Harbour, ref: str, cadence: str) -> Chat:
    bob = Fresh(harbour, "bob")
    await bob.send_event(
        __import__("bot.models", fromlist=["ChoiceMade"]).ChoiceMade(
            event_id=bob.next_id(),
            person=bob.person,
            question=f"case:{ref}",
            values=("checkins",),
            token=ref,
        )
    )
    await bob.say(cadence)
    await bob.say("yes")
    assert "Check-ins for " + ref + " scheduled" in bob.text(), bob.text()
    return bob


ALICE = "console:local:alice"


@pytest.fixture
def directory() -> Directory:
    """As conftest, plus Erin, whom Alice manages (Alice is a worker and a manager)."""
    return Directory(
        managers={
            "console:local:alice": ["console:local:bob"],
            "console:local:dan": ["console:local:bob"],
            "console:local:erin": ["console:local:alice"],
        },
        leads={"console:local:carol"},
    )


def dump(replies) -> str:  # type: ignore[no-untyped-def]
    return json.dumps([r.model_dump() for r in replies])


async def _one_checkin_sent(harbour, notifier, clock, cadence="1"):  # type: ignore[no-untyped-def]
    ref = await file(Chat(harbour, "alice"), LOW_RISK)
    await notifier.run_once()
    await schedule_checkins(harbour, ref, cadence)
    clock.advance(days=1, minutes=1)
    await notifier.run_once()
    return ref


# ---------------------------------------------------------------- wrong intent: typed check-in


@pytest.mark.parametrize(
    "typed",
    ["I'm not doing ok", "I'm not doing okay", "I don't feel fine", "it's not all good"],
)
async def test_a_negative_typed_answer_is_not_recorded_as_doing_ok(
    harbour: Harbour, notifier: Notifier, clock: Clock, store: Store, typed: str
) -> None:
    ref = await _one_checkin_sent(harbour, notifier, clock)
    await Fresh(harbour, "alice").say(typed)
    report = await store.get_report(ref)
    assert report is not None
    assert report.checkins[0].answer != "ok", f"{typed!r} was recorded as 'doing OK'"


async def test_checkin_command_typed_with_tomorrow_is_not_a_snooze_of_her_own_checkin(
    harbour: Harbour, notifier: Notifier, clock: Clock, store: Store
) -> None:
    """Alice (a worker with a check-in waiting, and Erin's manager) types the
    checkin command as a message: it must schedule Erin's check-in."""
    ref = await _one_checkin_sent(harbour, notifier, clock)
    erin_ref = await file(Chat(harbour, "erin"), LOW_RISK)
    alice = Fresh(harbour, "alice")
    await alice.say("checkin console:local:erin tomorrow")
    mine = await store.get_report(ref)
    erins = await store.get_report(erin_ref)
    assert mine is not None and erins is not None
    assert mine.checkins[0].snoozes == 0, "her own check-in was snoozed: " + alice.text()
    assert erins.checkins, "Erin's check-in was never scheduled"


async def test_tomorrow_typed_to_the_resume_question_does_not_snooze_a_checkin(
    harbour: Harbour, notifier: Notifier, clock: Clock, store: Store
) -> None:
    ref = await _one_checkin_sent(harbour, notifier, clock)
    alice = Fresh(harbour, "alice")
    await alice.command("report")
    await alice.say("pause")
    await alice.command("report")  # "carry on with your draft, or start a new one?"
    assert "unfinished report" in alice.text()
    await alice.say("tomorrow")  # meaning: I'll carry on tomorrow
    report = await store.get_report(ref)
    assert report is not None and report.checkins[0].snoozes == 0, alice.text()


# ---------------------------------------------------------------- lost input: the check-in note


async def test_her_note_is_not_taken_as_an_answer_to_an_older_missed_checkin(
    harbour: Harbour,
    notifier: Notifier,
    messenger: RecordingMessenger,
    clock: Clock,
    store: Store,
) -> None:
    """Cadence 1,3,7: day 1 missed, day 3 answered by button "Still affected";
    the few words she then types for her manager must be kept as the note."""
    ref = await file(Chat(harbour, "alice"), LOW_RISK)
    await notifier.run_once()
    await schedule_checkins(harbour, ref, "1,3,7")
    clock.advance(days=1, minutes=1)
    await notifier.run_once()  # day 1 sent
    clock.advance(days=1, minutes=1)
    await notifier.run_once()  # day 1 missed
    clock.advance(days=1)
    await notifier.run_once()  # day 3 sent
    day3 = checkin_question(messenger)
    await answer_checkin(harbour, "alice", day3, "affected")
    alice = Fresh(harbour, "alice")
    note = "Still struggling, the posts keep coming"
    await alice.say(note)
    report = await store.get_report(ref)
    assert report is not None
    states = [(c.id, c.state, c.answer, c.note) for c in report.checkins]
    assert any(c.note == note for c in report.checkins), f"note lost: {states}\n{alice.text()}"


async def test_words_meant_for_a_new_report_are_not_forwarded_as_a_stale_checkin_note(
    harbour: Harbour,
    notifier: Notifier,
    messenger: RecordingMessenger,
    clock: Clock,
    store: Store,
) -> None:
    """She answered a check-in days ago and never added a note. Now she types
    about something new (about her manager): it must not be sent to him."""
    await _one_checkin_sent(harbour, notifier, clock)
    await answer_checkin(harbour, "alice", checkin_question(messenger), "affected")
    await notifier.run_once()
    clock.advance(days=5)
    alice = Fresh(harbour, "alice")
    secret = "My manager Bob shared my home address in a group chat"
    await alice.say(secret)
    await notifier.run_once()
    to_bob = " ".join(dump(m) for m in messenger.to(BOB))
    assert secret not in to_bob, "her words went to Bob as a check-in note: " + alice.text()


# ---------------------------------------------------------------- wrong intent: typed "on it"


async def test_typed_on_it_takes_the_request_the_lead_was_told_about(
    harbour: Harbour,
    notifier: Notifier,
    messenger: RecordingMessenger,
    clock: Clock,
    store: Store,
) -> None:
    """Alice's need-to-talk goes unanswered and reaches the leads; later Dan
    asks to talk (only Bob is told so far). Carol, a lead, answers the leads'
    alert by typing "I'm on it": she must get Alice's, not Dan's."""
    from tests.test_cases import press

    alice_ref = await file(Chat(harbour, "alice"), LOW_RISK)
    dan_ref = await file(Chat(harbour, "dan"), LOW_RISK)
    await notifier.run_once()
    await press(harbour, "bob", alice_ref, "ack")
    await press(harbour, "bob", dan_ref, "ack")
    await schedule_checkins(harbour, alice_ref, "1")
    await schedule_checkins(harbour, dan_ref, "1")
    clock.advance(days=1, minutes=1)
    await notifier.run_once()
    asks = {
        a.id.split(":")[1]: a
        for who in ("alice", "dan")
        for replies in messenger.to(f"console:local:{who}")
        for a in replies
        if getattr(a, "id", "").startswith("checkin:")
    }
    await answer_checkin(harbour, "alice", asks[alice_ref], "talk")
    clock.advance(minutes=31)
    await notifier.run_once()
    await notifier.run_once()  # the leads hear about Alice's, not Dan's
    clock.advance(minutes=5)
    await answer_checkin(harbour, "dan", asks[dan_ref], "talk")
    await notifier.run_once()
    carol = Fresh(harbour, "carol")
    await carol.say("I'm on it")
    a = await store.get_report(alice_ref)
    d = await store.get_report(dan_ref)
    assert a is not None and d is not None
    taken = {alice_ref: a.checkins[0].talk_taken_by, dan_ref: d.checkins[0].talk_taken_by}
    assert taken[alice_ref] == "console:local:carol", f"{taken}\n{carol.text()}"


# ---------------------------------------------------------------- wrong intent: stale next step


async def test_talk_typed_for_a_checkin_is_not_taken_by_a_stale_next_step_question(
    harbour: Harbour, notifier: Notifier, clock: Clock, store: Store
) -> None:
    ref = await file(Chat(harbour, "alice"), LOW_RISK)
    await notifier.run_once()
    alice = Fresh(harbour, "alice")
    await alice.say("hmm")  # "I'm not sure I understood that" + next steps (waits)
    await schedule_checkins(harbour, ref, "1")
    clock.advance(days=1, minutes=1)
    await notifier.run_once()
    await alice.say("talk")  # answering the check-in she was just sent
    report = await store.get_report(ref)
    assert report is not None and report.checkins[0].answer == "talk", alice.text()


# ---------------------------------------------------------------- lost input: _keep_page


async def test_pause_keeps_the_links_she_typed_even_if_one_is_malformed(
    harbour: Harbour,
) -> None:
    from bot.models import Control, ControlAction

    chat = Fresh(harbour, "alice")
    await chat.command("report")
    await chat.say("no")
    await chat.say("threats")  # the "what" page
    await chat.say("skip")  # details exposed
    page = chat.form()
    assert page.id == "where", page.id
    typed = "facebook.com/posts/1 instagram.com/p/2 the-third-one"
    await chat.send_event(
        Control(
            event_id="pause-where",
            person=chat.person,
            action=ControlAction.PAUSE,
            token=page.token,
            by_page=True,
            values={"platforms": ["facebook"], "links": typed, "evidence": "screenshots"},
        )
    )
    assert "saved" in chat.text()
    await chat.command("report")
    await chat.choose("resume")
    links = next(q for q in chat.form().questions if q.id == "links")
    assert links.value, "every link she typed was dropped on Pause (one was malformed)"


# ---------------------------------------------------------------- wrong intent: a stale case question


async def test_a_number_typed_for_a_new_alert_does_not_act_on_the_case_pressed_earlier(
    harbour: Harbour,
    notifier: Notifier,
    messenger: RecordingMessenger,
    store: Store,
) -> None:
    """Bob acknowledges Alice's case (its remaining actions now wait as a typed
    question). Later Dan's alert arrives with its own numbered actions; Bob types
    "1" to acknowledge it. Nothing must happen to Alice's case."""
    from bot.models import ChoiceMade

    alice_ref = await file(Chat(harbour, "alice"), LOW_RISK)
    await notifier.run_once()
    bob = Fresh(harbour, "bob")
    await bob.send_event(
        ChoiceMade(
            event_id=bob.next_id(),
            person=bob.person,
            question=f"case:{alice_ref}",
            values=("ack",),
            token=alice_ref,
        )
    )
    dan_ref = await file(Chat(harbour, "dan"), LOW_RISK)
    await notifier.run_once()
    dan_alert = [q for q in messenger.to(BOB)[-1] if getattr(q, "id", "") == f"case:{dan_ref}"]
    assert dan_alert and dan_alert[0].options[0].value == "ack"  # "1" on Dan's alert = acknowledge
    await bob.say("1")
    session = await store.load_session(bob.person)
    draft = session.active_draft if session else None
    assert draft is None or draft.subject != alice_ref, (
        f"Bob's '1' opened a form on {alice_ref}: " + bob.text()
    )


async def test_escalate_typed_later_escalates_the_case_pressed_earlier(
    harbour: Harbour, notifier: Notifier, store: Store
) -> None:
    from bot.models import ChoiceMade

    alice_ref = await file(Chat(harbour, "alice"), LOW_RISK)
    await notifier.run_once()
    bob = Fresh(harbour, "bob")
    await bob.send_event(
        ChoiceMade(
            event_id=bob.next_id(),
            person=bob.person,
            question=f"case:{alice_ref}",
            values=("ack",),
            token=alice_ref,
        )
    )
    n = 4  # checkins, action, note, escalate, close
    await file(Chat(harbour, "dan"), LOW_RISK)
    await notifier.run_once()
    await bob.say(str(n))  # meant for Dan's new alert
    report = await store.get_report(alice_ref)
    assert report is not None
    assert not any(e.action == "escalated" for e in report.timeline), (n, bob.text())


# ---------------------------------------------------------------- old stored sessions still route


@pytest.mark.parametrize(
    ("question", "kind", "options", "typed", "expect"),
    [
        (
            "resume",
            "choice",
            [("resume", "Carry on with my draft"), ("restart", "Start a new report")],
            "2",
            "old draft is discarded",
        ),
        (
            "reflect-offer",
            "choice",
            [("now", "Yes, now"), ("later", "Not now")],
            "no",
            "Whenever you want to",
        ),
        ("who-manager", "person", [], "console:local:bob", "set by your Harbour administrator"),
        ("checkin-note", "text", [], "some words", "passing that on"),
        (
            "next-step",
            "choice",
            [("report", "Report"), ("guidance", "G"), ("talk", "T")],
            "3",
            "Someone to talk to",
        ),
    ],
)
async def test_a_question_stored_by_the_previous_release_is_answered(
    harbour: Harbour,
    store: Store,
    question: str,
    kind: str,
    options,
    typed: str,
    expect: str,  # type: ignore[no-untyped-def]
) -> None:
    from bot.models import Option
    from bot.session import PendingChoice, Session

    ref = await file(Chat(harbour, "alice"), LOW_RISK)
    alice = Fresh(harbour, "alice")
    session = await store.load_session(alice.person) or Session(
        person=alice.person, updated_at=harbour.clock()
    )
    session.pending = PendingChoice(
        question=question,
        kind=kind,  # type: ignore[arg-type]
        token="old",
        prompt="?",
        options=[Option(value=v, label=label) for v, label in options],
        context={"reference": ref, "checkin": "x"},
    )
    await store.save_session(alice.person, session, event_id="seed")
    await alice.say(typed)
    assert expect in alice.text(), alice.text()


async def test_who_manager_question_survives_starting_something_else(
    harbour: Harbour, notifier: Notifier, messenger: RecordingMessenger, store: Store
) -> None:
    """Zoe has no manager: after filing she is asked who to tell. She first
    starts a new report (or answers a check-in...), then names her manager: the
    report that was waiting for one must reach him."""
    zoe = Fresh(harbour, "zoe")
    ref = await file(zoe, LOW_RISK)
    assert "Who should I tell" in zoe.text()
    await zoe.say("report")  # something else first
    await zoe.say("pause")
    await zoe.say("manager console:local:bob")
    report = await store.get_report(ref)
    assert report is not None and report.managers == [BOB], (report.managers, zoe.text())


async def test_a_stale_button_does_not_wipe_the_who_manager_question(
    harbour: Harbour, store: Store
) -> None:
    """Zoe has no manager and is asked who to tell. She presses an old button
    further up her DM (a finished question), then picks Bob in the person
    picker she was shown: Bob must be told about the report."""
    from bot.models import ChoiceMade, PersonQuestion

    zoe = Fresh(harbour, "zoe")
    ref = await file(zoe, LOW_RISK)
    picker = next(r for r in zoe.replies if isinstance(r, PersonQuestion))
    await zoe.send_event(
        ChoiceMade(
            event_id=zoe.next_id(),
            person=zoe.person,
            question="reflect-offer",
            values=("later",),
            token="an-old-one",
        )
    )
    await zoe.send_event(
        ChoiceMade(
            event_id=zoe.next_id(),
            person=zoe.person,
            question=picker.id,
            values=(BOB,),
            token=picker.token,
        )
    )
    report = await store.get_report(ref)
    assert report is not None and report.managers == [BOB], zoe.text()
