"""Every journey through the console adapter, by pressing and by typing.

In the console, pressing a button is choosing its number (or its name) from
the numbered options on screen, and typing is saying it in words. Each person
here has a console chat of their own, kept running (`chat`, fed one line at a
time), with this trial's alerts printed by `ConsoleMessenger` through the
real `Notifier`: alice the worker, bob her manager, carol a safety lead
(`tests.conftest.directory`)."""

from __future__ import annotations

import asyncio
import io
import queue
import re
from collections.abc import AsyncIterator

import pytest

from adapters.console import ConsoleMessenger, chat, console_person
from bot.alerts.sender import Notifier
from bot.app import Harbour
from bot.models import Platform
from bot.reports import AbuseKind, Audience, ReportStatus, RiskLevel
from bot.store import Store
from tests.conftest import Clock

REF = "HB-2026-0001"
HOW = ["pressing", "typing"]


class _Keyboard(io.StringIO):
    """A console's stdin: each readline waits for the next line typed."""

    def __init__(self) -> None:
        super().__init__()
        self.lines: queue.Queue[str] = queue.Queue()

    def readline(self, size: int | None = -1) -> str:
        return self.lines.get(timeout=30)


class _Screen(io.StringIO):
    """A console's stdout: the chat flushes it once the replies to a line are out."""

    def __init__(self) -> None:
        super().__init__()
        self.flushed = asyncio.Event()

    def flush(self) -> None:
        super().flush()
        self.flushed.set()


class Console:
    """One person's console chat, running until `close`."""

    def __init__(self, trial: Trial, user: str) -> None:
        self.user = user
        self.keyboard = _Keyboard()
        self.screen = _Screen()
        self.task = asyncio.create_task(
            chat(
                trial.harbour,
                console_person(user),
                stdin=self.keyboard,
                stdout=self.screen,
                stderr=io.StringIO(),
                interactive=False,
                alerts=trial.messenger,
            )
        )

    async def say(self, *lines: str) -> str:
        """Type each line in turn; everything printed in reply."""
        out = ""
        for line in lines:
            mark = len(self.screen.getvalue())
            self.screen.flushed.clear()
            self.keyboard.lines.put(line + "\n")
            await asyncio.wait_for(self.screen.flushed.wait(), timeout=10)
            out += self.screen.getvalue()[mark:]
        return _read(out)

    async def close(self) -> None:
        if not self.task.done():
            self.keyboard.lines.put("")  # Ctrl-D
        await asyncio.wait_for(self.task, timeout=10)  # and any failure in it is raised


class Trial:
    """A console trial: people chatting in their consoles, alerts printed."""

    def __init__(self, harbour: Harbour, clock: Clock) -> None:
        self.harbour = harbour
        self.clock = clock
        self.printed = io.StringIO()
        self.messenger = ConsoleMessenger(self.printed)
        self.notifier = Notifier(harbour, {Platform.CONSOLE: self.messenger})
        self.consoles: dict[str, Console] = {}

    def __getitem__(self, user: str) -> Console:
        if user not in self.consoles:
            self.consoles[user] = Console(self, user)
        return self.consoles[user]

    async def alerts(self) -> str:
        """What the notifier prints now (alerts due, check-ins due)."""
        mark = len(self.printed.getvalue())
        await self.notifier.run_once()
        return self.printed.getvalue()[mark:]

    @staticmethod
    def alert_to(printed: str, address: str) -> str:
        """The alerts in `printed` for one person (or the leads' channel), as read."""
        alerts = re.split(r"^(?=── (?:Harbour alert|alert \S+) to )", printed, flags=re.M)
        return _read(" ".join(a for a in alerts if f"({address})" in a.split("\n")[0]))


def _read(text: str) -> str:
    """Text as read, not as wrapped for a terminal."""
    return " ".join(text.split())


@pytest.fixture
async def trial(harbour: Harbour, clock: Clock) -> AsyncIterator[Trial]:
    t = Trial(harbour, clock)
    try:
        yield t
    finally:
        for console in t.consoles.values():
            await console.close()


ALICE, BOB, CAROL = (console_person(u).key for u in ("alice", "bob", "carol"))

# The report of tests.conftest.TYPED_REPORT, answered both ways.
REPORT_ANSWERS = {
    "pressing": [
        "2",
        "1, 3",
        "1, 3",
        "1",
        "https://www.facebook.com/some.post/123",
        "Four screenshots on my work phone",
        "2",
        "2",
        "1, 3",
        "2",
        "4",
        "Posts naming me and my street.",
        "1",
    ],
    "typing": [
        "No",
        "Threatening messages sent to my own accounts, My personal details posted",
        "Where I live, My children's school",
        "Facebook",
        "https://www.facebook.com/some.post/123",
        "Four screenshots on my work phone",
        "In the last week",
        "A few times",
        "Me, My children",
        "A relative of someone we work with",
        "4 — very worried",
        "Posts naming me and my street.",
        "My manager and the safety leads",
    ],
}
FILE = {"pressing": "1", "typing": "File report"}


async def file_report(trial: Trial, how: str = "pressing") -> str:
    alice = trial["alice"]
    out = await alice.say("report", *REPORT_ANSWERS[how])
    assert "── Your report, before it is filed ──" in out
    assert out.rstrip().endswith("2. Go back and change something")
    return await alice.say(FILE[how])


# ---------------------------------------------------------------- the worker


@pytest.mark.parametrize("how", HOW)
async def test_report(trial: Trial, store: Store, how: str) -> None:
    out = await file_report(trial, how)
    assert f"Your reference is {REF}" in out
    report = await store.get_report(REF)
    assert report is not None and report.reporter == console_person("alice")
    a = report.answers
    assert (a.in_danger, a.details_exposed) == (False, ["home", "school"])
    assert a.kinds == [AbuseKind.THREATENING_MESSAGES, AbuseKind.PERSONAL_DETAILS]
    assert (a.platforms, a.started, a.frequency) == (["facebook"], "this_week", "few")
    assert (a.affected, a.poster, a.worry) == (["me", "children"], "relative", 4)
    assert a.audience is Audience.MANAGER_AND_LEADS and report.risk is RiskLevel.CRITICAL
    printed = await trial.alerts()
    to_bob = trial.alert_to(printed, BOB)
    assert f"New report from your team: {REF}" in to_bob
    assert "Posts naming me and my street." in to_bob  # she chose to share it with him
    assert "1. Acknowledge" in to_bob and f"(or, any time: cases {REF})" in to_bob
    to_leads = trial.alert_to(printed, "safety-leads")
    assert f"{REF} · critical risk" in to_leads and "1. Claim" in to_leads
    assert "street" not in to_leads and "alice" not in to_leads


@pytest.mark.parametrize("how", HOW)
async def test_pause_and_resume(trial: Trial, store: Store, how: str) -> None:
    alice = trial["alice"]
    await alice.say("report", REPORT_ANSWERS[how][0])
    out = await alice.say("pause")
    assert "Your report draft is saved" in out
    out = await alice.say("report")
    assert "Would you like to carry on with it, or start a new one?" in out
    assert "1. Carry on with my draft" in out
    out = await alice.say({"pressing": "1", "typing": "Carry on with my draft"}[how])
    assert "Welcome back" in out and "What has been happening?" in out
    out = await alice.say("back")  # the answer given before the pause is kept
    assert "*2. No" in out
    await alice.say(REPORT_ANSWERS[how][0], *REPORT_ANSWERS[how][1:])
    out = await alice.say(FILE[how])
    assert f"Your reference is {REF}" in out
    # Paused by typing alone too, and picked up with the word.
    await alice.say("report", REPORT_ANSWERS[how][0], "pause")
    out = await alice.say("resume")
    assert "Would you like to carry on" in out
    out = await alice.say({"pressing": "2", "typing": "Start a new report"}[how])
    assert "First, your safety" in out


UPDATE_ANSWERS = {
    "pressing": ["7", "1, 8", "skip", "skip", "3", "They wrote again last night."],
    "typing": [
        "Threats against me or my family, open or veiled",
        "Facebook, WhatsApp",
        "skip",
        "skip",
        "3 — quite worried",
        "They wrote again last night.",
    ],
}


@pytest.mark.parametrize("how", HOW)
async def test_update(trial: Trial, store: Store, how: str) -> None:
    await file_report(trial)
    await trial.alerts()
    alice = trial["alice"]
    out = await alice.say(f"update {REF}")
    assert f"This is about {REF}" in out and "What has happened since your report?" in out
    out = await alice.say(*UPDATE_ANSWERS[how])
    assert "Add this to your report?" in out and "1. Add update" in out
    out = await alice.say({"pressing": "1", "typing": "Add update"}[how])
    assert f"Added to {REF}" in out
    report = await store.get_report(REF)
    assert report is not None and len(report.updates) == 1
    update = report.updates[0].answers
    assert (update.kinds, update.platforms, update.worry) == (
        [AbuseKind.THREATS],
        ["facebook", "whatsapp"],
        3,
    )
    assert f"{REF} has a new update from the worker" in trial.alert_to(await trial.alerts(), BOB)


LOW_RISK = {
    "pressing": ["2", "5", *["skip"] * 9, "1"],
    "typing": [
        "no",
        "Complaints about me or the agency",
        *["skip"] * 9,
        "My manager and the safety leads",
    ],
}


@pytest.mark.parametrize("how", HOW)
async def test_reflect(trial: Trial, store: Store, how: str) -> None:
    alice = trial["alice"]
    await alice.say("report", *LOW_RISK[how])
    out = await alice.say(FILE[how])
    assert f"Your reference is {REF}" in out
    assert "Would you like to do that now?" in out and "1. Yes, now" in out
    out = await alice.say({"pressing": "1", "typing": "Yes, now"}[how])
    assert "What worries you most here" in out
    out = await alice.say("Whether they know where I live.", *["skip"] * 8)
    assert "Keep these reflections with the report?" in out
    out = await alice.say({"pressing": "1", "typing": "Save reflections"}[how])
    assert f"Saved with {REF}" in out
    report = await store.get_report(REF)
    assert report is not None and report.reflection is not None
    assert report.reflection.concerns == "Whether they know where I live."
    # Later, by the command: the answers so far are kept.
    out = await alice.say(f"reflect {REF}")
    assert "What worries you most here" in out
    assert "Whether they know where I live." in out


@pytest.mark.parametrize("how", HOW)
async def test_guidance(trial: Trial, how: str) -> None:
    alice = trial["alice"]
    if how == "pressing":
        out = await alice.say("hmm")
        assert "I'm not sure I understood that" in out and "2. See guidance" in out
        out = await alice.say("2")
    else:
        out = await alice.say("guidance")
    assert "── Guidance ──" in out and "Keep evidence before it disappears" in out
    out = await alice.say("guidance evidence")
    assert "── Keep evidence before it disappears ──" in out
    out = await alice.say("I need to talk to someone")
    assert "Someone to talk to" in out and "3. Find someone to talk to" in out


# ---------------------------------------------------------------- check-ins


async def schedule_checkin(trial: Trial, how: str = "pressing") -> None:
    """Bob asks for a check-in tomorrow; a day later it is sent to alice."""
    await file_report(trial)
    await trial.alerts()
    bob = trial["bob"]
    out = await bob.say(f"cases {REF}")
    assert "2. Schedule check-ins" in out
    out = await bob.say({"pressing": "2", "typing": "Schedule check-ins"}[how])
    assert "When should I check in with them privately?" in out
    await bob.say({"pressing": "1", "typing": "Tomorrow"}[how])
    out = await bob.say({"pressing": "1", "typing": "Schedule"}[how])
    assert f"Check-ins for {REF} scheduled" in out
    trial.clock.advance(days=1, minutes=1)
    printed = trial.alert_to(await trial.alerts(), ALICE)
    assert f"Your manager asked me to check in with you about {REF}" in printed
    assert "3. I need to talk now" in printed


CHECKIN = {
    # answer: (pressed, typed, what alice is told, what bob reads)
    "ok": ("1", "doing ok", "I'm passing that on to your manager", "The worker is doing OK."),
    "affected": ("2", "still affected", "I'm letting your manager know", "is still affected"),
    "talk": ("3", "I need to talk now", "you need to talk", "needs to talk now"),
}


@pytest.mark.parametrize("answer", sorted(CHECKIN))
@pytest.mark.parametrize("how", HOW)
async def test_answering_a_checkin(trial: Trial, store: Store, how: str, answer: str) -> None:
    await schedule_checkin(trial)
    pressed, typed, told, read = CHECKIN[answer]
    alice = trial["alice"]
    out = await alice.say(pressed if how == "pressing" else typed)
    assert told in out
    assert "If you'd like to add a few words for your manager" in out
    report = await store.get_report(REF)
    assert report is not None and report.checkins[0].answer == answer
    to_bob = trial.alert_to(await trial.alerts(), BOB)
    assert f"Check-in about {REF}" in to_bob and read in to_bob
    out = await alice.say("Work has been hard this week.")
    assert "I'm passing that on to the people supporting you" in out
    assert "The worker added: Work has been hard this week." in await trial.alerts()
    if answer == "talk":
        assert "1. I'm on it" in to_bob
        out = await trial["bob"].say({"pressing": "1", "typing": "I'm on it"}[how])
        assert "Thank you: please contact them now." in out
        report = await store.get_report(REF)
        assert report is not None and report.checkins[0].talk_taken_by == BOB


async def test_a_checkin_is_not_answered_by_a_number_meant_for_a_draft(
    trial: Trial, store: Store
) -> None:
    """Her numbers answer the draft she is in, whatever alert came in meanwhile;
    her words answer the check-in once she has paused it."""
    await file_report(trial)
    await trial.alerts()
    alice = trial["alice"]
    await alice.say("report", "2")  # a second report, under way
    await trial["bob"].say(f"cases {REF}", "2", "1", "1")
    trial.clock.advance(days=1, minutes=1)
    assert "How are you doing?" in trial.alert_to(await trial.alerts(), ALICE)
    out = await alice.say("1")
    assert "Which details were posted?" not in out and "Where did it happen?" in out
    report = await store.get_report(REF)
    assert report is not None and report.checkins[0].answer is None
    session = await store.load_session(console_person("alice"))
    assert session is not None
    assert session.drafts["report"].answers["kinds"] == [AbuseKind.THREATENING_MESSAGES]
    await alice.say("pause")
    out = await alice.say("3")  # the check-in's numbers scrolled away under the draft
    assert "you need to talk" not in out
    out = await alice.say("I need to talk now")
    assert "you need to talk" in out
    report = await store.get_report(REF)
    assert report is not None and report.checkins[0].answer == "talk"


async def test_a_checkin_snoozed(trial: Trial, store: Store) -> None:
    await schedule_checkin(trial)
    out = await trial["alice"].say("4")  # Not now
    assert "When shall I ask again?" in out and "2. Tomorrow morning" in out
    out = await trial["alice"].say("2")
    assert "I'll ask again tomorrow morning" in out
    trial.clock.advance(days=1, minutes=1)
    assert "How are you doing?" in trial.alert_to(await trial.alerts(), ALICE)
    out = await trial["alice"].say("ask me tomorrow")
    assert "I'll ask again tomorrow" in out


# ---------------------------------------------------------------- the manager and the lead


MANAGER = {
    # What bob presses (numbers), or types (words), at each step. Pressing, he
    # acknowledges on the alert printed for him; typing, he asks for the case.
    "pressing": {
        "acknowledge": ["1"],  # on the alert itself
        "schedule": ["1", "1", "1"],  # on what the alert became
        "record": ["2", "2", "skip", "1"],
        "close": ["5", "1", "All sorted with the platform.", "1"],
    },
    "typing": {
        "acknowledge": [f"cases {REF}", "Acknowledge"],
        "schedule": ["Schedule check-ins", "In 3 days", "Schedule"],
        "record": ["Record an action", "Police contacted", "skip", "Record it"],
        "close": ["Close", "Resolved", "All sorted with the platform.", "Close case"],
    },
}


@pytest.mark.parametrize("how", HOW)
async def test_manager_acknowledges_schedules_records_and_closes(
    trial: Trial, store: Store, how: str
) -> None:
    await file_report(trial)
    assert "1. Acknowledge" in trial.alert_to(await trial.alerts(), BOB)
    steps = MANAGER[how]
    bob = trial["bob"]

    out = await bob.say(*steps["acknowledge"])
    assert f"Acknowledged {REF}. The worker will see that you have it." in out
    assert "What else would you like to do?" in out and "1. Schedule check-ins" in out
    assert "Acknowledge" not in out.split("What else would you like to do?")[1]
    assert f"Your manager has seen {REF}" in trial.alert_to(await trial.alerts(), ALICE)

    out = await bob.say(*steps["schedule"])
    assert f"Check-ins for {REF} scheduled" in out

    out = await bob.say(f"cases {REF}")
    assert "What would you like to do?" in out and "2. Record an action" in out
    out = await bob.say(*steps["record"])
    assert f"Recorded on {REF}." in out

    out = await bob.say(f"cases {REF}")
    assert "5. Close" in out
    out = await bob.say(*steps["close"])
    assert f"{REF} is closed." in out

    report = await store.get_report(REF)
    assert report is not None and report.status is ReportStatus.CLOSED
    assert report.acknowledged_by == BOB
    actions = [(e.action, e.detail) for e in report.timeline if e.actor == BOB]
    assert ("action", "Police contacted") in actions
    assert ("closed", "Resolved") in actions
    assert ("note", "All sorted with the platform.") in actions
    assert all(c.state == "cancelled" for c in report.checkins)  # closing cancels them
    printed = await trial.alerts()
    assert "Closed" in trial.alert_to(printed, "safety-leads")


@pytest.mark.parametrize("how", HOW)
async def test_lead_claims(trial: Trial, store: Store, how: str) -> None:
    await file_report(trial)
    to_leads = trial.alert_to(await trial.alerts(), "safety-leads")
    assert "Can you take this on?" in to_leads and "1. Claim" in to_leads
    carol = trial["carol"]
    if how == "pressing":
        out = await carol.say("1")  # on the leads' card
    else:
        out = await carol.say("cases")
        assert f"{REF} · critical risk" in out and f"cases {REF}" in out
        out = await carol.say(f"cases {REF}")
        assert "1. Claim" in out
        out = await carol.say("Claim")
    assert f"You've claimed {REF}. Its details are below." in out
    assert "Posts naming me and my street." in out  # the case, to her alone
    report = await store.get_report(REF)
    assert report is not None and report.claimed_by == CAROL
    assert "claimed by a safety lead" in trial.alert_to(await trial.alerts(), "safety-leads")


async def test_lead_claims_an_immediate_danger_alert(trial: Trial) -> None:
    alice = trial["alice"]
    await alice.say("report", "yes")
    printed = trial.alert_to(await trial.alerts(), "safety-leads")
    assert "Urgent: a worker needs help now" in printed and "1. Claim: I'll contact them" in printed
    assert "alice" not in printed
    out = await trial["carol"].say("1")
    assert "Please contact them now" in out and ALICE in out
    out = await trial["carol"].say("1")  # the alert's buttons were used: "1" is hers again
    assert "Please contact them now" not in out
    out = await trial["carol"].say("hello")
    assert "I'm Harbour" in out


async def test_only_a_lead_presses_the_leads_card(trial: Trial, store: Store) -> None:
    """The leads' card is printed for the leads: dan's "1" is his own."""
    await file_report(trial)
    await trial.alerts()
    out = await trial["dan"].say("1")
    assert "I'm not sure I understood that" in out
    report = await store.get_report(REF)
    assert report is not None and report.claimed_by is None


async def test_numbers_press_only_what_was_just_shown(trial: Trial, store: Store) -> None:
    """A question's buttons are pressed once, and a number typed after replies
    that ask nothing presses nothing scrolled away."""
    await file_report(trial)
    await trial.alerts()
    bob = trial["bob"]
    out = await bob.say("1")
    assert f"Acknowledged {REF}" in out and "1. Schedule check-ins" in out
    out = await bob.say("help")
    assert "What I can do" in out
    out = await bob.say("1")
    assert "When should I check in" not in out
    assert "I'm not sure I understood that" in out
    report = await store.get_report(REF)
    assert report is not None and not report.checkins


async def test_typing_labels_that_hold_commas(trial: Trial) -> None:
    out = await trial["alice"].say(
        "report",
        "no",
        "Threatening messages sent to my own accounts, "
        "My personal details posted (home, children, school)",
    )
    assert "Which details were posted?" in out


async def test_a_question_waiting_at_start_is_pressed_by_its_number(
    trial: Trial, harbour: Harbour, store: Store
) -> None:
    await file_report(trial)
    await trial["bob"].say(f"cases {REF}")
    await trial["bob"].close()
    stdout, stderr = io.StringIO(), io.StringIO()
    await chat(
        harbour,
        console_person("bob"),
        stdin=io.StringIO("1\n"),
        stdout=stdout,
        stderr=stderr,
        interactive=True,
    )
    assert "A question is waiting for your answer" in stderr.getvalue()
    assert f"Acknowledged {REF}" in _read(stdout.getvalue())
    report = await store.get_report(REF)
    assert report is not None and report.acknowledged_by == BOB
