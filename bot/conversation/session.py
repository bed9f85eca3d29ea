"""Flows and one-off questions inside a person's session: start, resume, ask.

A one-off question (`PendingChoice`) waits in the session for its answer,
typed or pressed; `bot.conversation.routes` says who handles each kind.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from bot import engine
from bot.engine import Draft
from bot.flow import LONG_TEXT_LIMIT, Flow
from bot.models import (
    ChoiceMade,
    ChoiceQuestion,
    InboundEvent,
    Notice,
    Option,
    PersonQuestion,
    PersonRef,
    Reply,
    Text,
    TextMessage,
    TextQuestion,
)
from bot.outcome import Outcome
from bot.services import Services
from bot.session import PendingChoice, Session
from bot.validation import clean_text
from flows import FLOWS


class Ask(StrEnum):
    """The one-off questions Harbour asks, each answered by its handler in
    `bot.conversation.routes` (a case's own question is asked as `case:<ref>`)."""

    RESUME = "resume"
    REFLECT_OFFER = "reflect-offer"
    PICK_REPORT = "pick-report"
    WHO_MANAGER = "who-manager"
    CHECKIN_NOTE = "checkin-note"
    NEXT_STEP = "next-step"


HELP_LINES = (
    ("report", "start a private report, or pick up the one you paused"),
    ("mine", "list your reports"),
    ("update HB-2026-0001", "add a new incident to one of your reports"),
    ("reflect HB-2026-0001", "answer reflective questions about a report"),
    ("share HB-2026-0001", "share one of your reports with your manager"),
    ("guidance", "practical guidance; add a topic or words, e.g. guidance evidence"),
    ("cases", "managers and safety leads: the open cases you look after"),
    ("checkin <person> in 3 days", "managers: schedule private check-ins (or: tomorrow, cadence)"),
    (
        "checkins off HB-…",
        "no more check-ins about your report (checkins on HB-… brings them back)",
    ),
    ("whoami", "your Harbour id, for the team directory"),
    ("add evidence HB-…", "keep a link, a screenshot or what you saw with your report"),
    ("pack HB-…", "your evidence as one PDF, ready for the police or a platform"),
    ("mydata", "everything Harbour holds about you, as a file in this chat"),
    ("help", "show this list"),
)


def help_reply(s: Services, session: Session) -> Notice:
    prefix = s.command_prefix(session.person)
    lines = [f"{prefix}{cmd} — {what}" for cmd, what in HELP_LINES]
    if any(d.paused for d in session.drafts.values()):
        lines.append("You have a paused draft: say report (or reflect) to pick it up.")
    lines.append(
        "Everything you tell me stays private to you and the people you choose. "
        "If anyone is in immediate danger, call the emergency services first."
    )
    return Notice(title="What I can do", text="\n".join(lines))


def help_for(s: Services, person: PersonRef) -> Notice:
    """What Harbour can do, as this person types it (for adapters' own use)."""
    return help_reply(s, Session(person=person, updated_at=s.clock()))


def with_current(s: Services, session: Session, replies: list[Reply]) -> Outcome:
    """Answer, then show the question in progress again so nothing is a dead end."""
    draft = session.active_draft
    if draft is not None and not draft.paused:
        replies = [*replies, *engine.prompt(FLOWS[draft.flow], draft, s.ctx)]
    return Outcome(replies, session)


def start(
    s: Services,
    session: Session,
    flow: Flow[Any],
    *,
    subject: str | None = None,
    answers: dict[str, Any] | None = None,
    lead: list[Reply] | None = None,
) -> Outcome:
    replies = list(lead or [])
    active = session.active_draft
    if active is not None and active.flow != flow.id and not active.paused:
        session.drafts[active.flow] = active.model_copy(update={"paused": True})
        replies.append(
            Text(
                text=f"I've saved your unfinished {FLOWS[active.flow].noun} as a draft; you "
                "can go back to it later."
            )
        )
    started = engine.start(
        flow, draft_id=s.ids(), now=s.clock(), ctx=s.ctx, subject=subject, answers=answers
    )
    session.drafts[flow.id] = started.draft
    session.active = flow.id
    if session.pending is not None and session.pending.kind == "choice":
        # A name or words still wanted (who is her manager?) wait for after the flow.
        session.pending = None
    return Outcome(replies + started.replies, session)


def resume(s: Services, session: Session, draft: Draft) -> Outcome:
    resumed = draft.model_copy(update={"paused": False, "revision": draft.revision + 1})
    session.drafts[draft.flow] = resumed
    session.active = draft.flow
    session.pending = None
    return Outcome(
        [
            Text(
                text="Welcome back. Here's where you left off; everything you'd answered is kept."
            ),
            *engine.prompt(FLOWS[draft.flow], resumed, s.ctx),
        ],
        session,
    )


def ask(
    s: Services,
    session: Session,
    question: Ask,
    prompt: str,
    options: list[Option],
    *,
    context: dict[str, str] | None = None,
) -> Outcome:
    pending = PendingChoice(
        question=question.value,
        token=s.ids(),
        prompt=prompt,
        options=options,
        context=context or {},
    )
    session.pending = pending
    return Outcome([pending_reply(pending)], session)


def pending_reply(pending: PendingChoice) -> ChoiceQuestion | PersonQuestion | TextQuestion:
    if pending.kind == "person":
        return PersonQuestion(id=pending.question, prompt=pending.prompt, token=pending.token)
    if pending.kind == "text":
        return TextQuestion(
            id=pending.question,
            prompt=pending.prompt,
            multiline=True,
            max_length=LONG_TEXT_LIMIT,
            token=pending.token,
        )
    return ChoiceQuestion(
        id=pending.question,
        prompt=pending.prompt,
        options=tuple(pending.options),
        required=True,
        token=pending.token,
    )


def pending_answer(pending: PendingChoice, event: InboundEvent, commands: set[str]) -> str | None:
    """The answer to the waiting question in this input, if it is one: a press
    of its buttons, or typed (a number, a label, a value; yes/no for two)."""
    if pending.kind in ("person", "text"):
        if isinstance(event, ChoiceMade) and event.question == pending.question:
            return event.values[0] if event.values else None
        if isinstance(event, TextMessage):
            text = clean_text(event.text)
            is_command = text.split()[:1] and text.split()[0].casefold() in commands
            return None if is_command or not text else text
        return None
    if isinstance(event, ChoiceMade):
        if event.question != pending.question or (event.token and event.token != pending.token):
            return None
        values = {o.value for o in pending.options}
        return event.values[0] if event.values and event.values[0] in values else None
    if isinstance(event, TextMessage):
        return typed_option(event.text, pending.options)
    return None


def typed_option(text: str, options: list[Option] | tuple[Option, ...]) -> str | None:
    """The option a person typed: its number as shown, its label or its value."""
    typed = clean_text(text).casefold().strip(".")
    for number, option in enumerate(options, start=1):
        if typed in (str(number), option.value.casefold(), option.label.casefold()):
            return option.value
    if typed in engine.YES_WORDS and len(options) == 2:
        return options[0].value
    if typed in ("no", "n", "not now") and len(options) == 2:
        return options[1].value
    return None
