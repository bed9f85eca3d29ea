"""Regressions for findings of the conversation issue that had no test of
their own: each names the finding it protects."""

from __future__ import annotations

import io
import json

from adapters.console import chat, console_person
from bot.app import Harbour
from bot.casework import example_id
from bot.models import ChoiceQuestion, Reply
from bot.store import Store
from tests.conftest import TYPED_REPORT, Chat, person, type_report
from tests.test_cases import LOW_RISK, file, press, with_answer


def dump(replies: list[Reply]) -> str:
    return json.dumps([r.model_dump() for r in replies])


async def test_the_case_card_carries_what_a_manager_needs_to_act(harbour: Harbour) -> None:
    """Finding: the case card left out which personal details were posted, who
    is behind it, evidence kept, since when and how often."""
    ref = await file(Chat(harbour, "alice"))
    bob = Chat(harbour, "bob")
    await bob.command("cases", ref)
    card = bob.text()
    for label in (
        "Personal details posted",
        "Who is behind it",
        "Evidence kept",
        "Since when, how often",
    ):
        assert label in card, label
    assert "Home address" in card or "home" in card.casefold()


async def test_i_need_help_outside_a_report_is_understood(chat: Chat) -> None:
    """Finding: "I need help" outside a report got "Sorry, I didn't understand"."""
    await chat.say("I need help")
    assert "Someone to talk to" in chat.text()
    assert "not sure I understood" not in chat.text()


async def test_what_happened_said_outside_a_report_offers_to_report_it(chat: Chat) -> None:
    """Finding: "someone posted my address" outside a report was a dead end."""
    await chat.say("someone posted my address")
    assert "Would you like to report it" in chat.text()
    await chat.say("1")
    assert chat.form() is not None  # the report has started


async def test_at_the_review_commands_and_a_call_for_help_are_what_they_say(chat: Chat) -> None:
    """Finding: at a review step, other commands just reprinted the whole card."""
    await chat.command("report")
    await type_report(chat)
    await chat.say("guidance evidence")
    assert "evidence" in chat.text().casefold() and "Shall I file" in chat.text()
    await chat.say("I need to talk to someone")
    assert "Someone to talk to" in chat.text() and "Shall I file" in chat.text()
    await chat.say("mine")
    assert "report in progress" in chat.text()
    await chat.say("yes")
    assert "Your reference is HB-" in chat.text()


async def test_no_promise_to_tell_a_manager_nobody_knows(harbour: Harbour) -> None:
    """Finding: "I'll let your manager know privately" was followed by "I don't
    know who your manager is yet"."""
    erin = Chat(harbour, "erin")  # no manager in the directory
    await file(erin, LOW_RISK)
    assert "let your manager know privately" not in erin.text()
    assert "I don't know who your manager is yet" in erin.text()


async def test_after_filing_nobody_is_told_the_report_can_wait(chat: Chat) -> None:
    """Finding: "[!!] This is serious… the report can wait" after it was filed."""
    await file(chat)
    assert "can wait" not in chat.text()
    assert "call the emergency services first" in chat.text()


async def test_updates_are_counted_in_words(harbour: Harbour, store: Store) -> None:
    """Finding: "1 update(s)"."""
    alice = Chat(harbour, "alice")
    ref = await file(alice, LOW_RISK)
    await alice.choose("later")  # the reflective questions, not now
    for n in (1, 2):
        await alice.command("update", ref)
        await alice.say("complaints")
        for _ in range(8):  # skip the rest, up to the summary
            await alice.say("skip")
        await alice.say("yes")
        assert f"Added to {ref}" in alice.text()
        await alice.command("mine")
        said = alice.text()
        assert "update(s)" not in said
        assert ("1 update" in said) if n == 1 else ("2 updates" in said)


async def test_mine_mentions_a_report_in_progress(chat: Chat) -> None:
    """Finding: "You haven't filed any reports yet" while one was in progress."""
    await chat.command("report")
    await chat.say("no")
    await chat.say("pause")
    await chat.command("mine")
    assert "report in progress" in chat.text()


async def test_examples_of_ids_are_in_the_persons_own_platform_form() -> None:
    """Finding: the error's example id was a Slack id, whatever the surface."""
    assert example_id(person("alice")).startswith("console:local:")


async def test_a_manager_who_is_also_a_lead_is_not_offered_escalate(harbour: Harbour) -> None:
    """Finding: a safety lead was offered "Escalate to safety leads"."""
    harbour.directory.leads.add("console:local:bob")
    ref = await file(Chat(harbour, "alice"))
    replies = await press(harbour, "bob", ref, "ack")
    shown = [
        o.label
        for r in replies
        for x in getattr(r, "replies", (r,))
        if isinstance(x, ChoiceQuestion)
        for o in x.options
    ]
    assert shown and "Escalate to safety leads" not in shown


async def _console(harbour: Harbour, user: str, lines: str) -> str:
    out = io.StringIO()
    await chat(
        harbour,
        console_person(user),
        stdin=io.StringIO(lines),
        stdout=out,
        stderr=io.StringIO(),
        interactive=False,
    )
    return out.getvalue()


async def test_the_console_names_people_plainly(harbour: Harbour) -> None:
    """Finding: in the console, commands needed full ids (console:local:carl)."""
    answers = "".join(f"{a}\n" for _, a in with_answer("audience", "1"))
    await _console(harbour, "alice", f"report\n{answers}yes\n")
    out = await _console(harbour, "bob", "checkin alice in 3 days\n")
    assert "Check-ins for HB-" in out and "scheduled" in out


async def test_numbered_options_are_not_numbered_twice(harbour: Harbour) -> None:
    """Finding: "1. 1 — a little" in the console."""
    answers = [a for _, a in TYPED_REPORT]
    worry = answers.index("4")
    lines = "report\n" + "".join(f"{a}\n" for a in answers[:worry])
    out = await _console(harbour, "alice", lines)
    assert "1. 1 —" not in out and "1 — " in out
