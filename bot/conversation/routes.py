"""The route table: what each input means, and which handler deals with it.

Everything a person can send reaches exactly one handler through this table:
a typed command (by its words), a button (by its question's prefix), the
answer to a one-off question Harbour asked (by `Ask`), a flow step, and a flow
confirmed at its end (by flow id). The table is checked when it is built:
every word names a command that has a handler, every question Harbour can ask
has one, no button prefix hides another, and every flow has a finisher.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TypeVar

from bot import casework, engine
from bot.cases import CASE_QUESTION, SHARE_QUESTION
from bot.checkins import CHECKIN_QUESTION, TALK_QUESTION
from bot.conversation import talk, worker
from bot.conversation.session import Ask, help_reply, pending_answer, pending_reply, with_current
from bot.engine import CONTROL_WORDS, Draft, FlowEvent
from bot.evidence import commands as evidence
from bot.evidence.export import pack_command
from bot.figures.command import figures_command
from bot.flow import REVIEW
from bot.models import (
    ChannelRegistered,
    ChoiceMade,
    Command,
    Control,
    FilesShared,
    InboundEvent,
    Notice,
    TextMessage,
)
from bot.outcome import Outcome
from bot.privacy import rights, trail
from bot.reports import parse_reference
from bot.services import Services
from bot.session import PendingChoice, Session
from bot.validation import clean_text
from flows import EVIDENCE, FLOWS, REFLECTION, REPORT, UPDATE

H = TypeVar("H")
NOTE_WAIT = timedelta(hours=1)
"""How long "add a few words for your manager?" waits for its answer."""
CommandHandler = Callable[[Services, Session, str], Awaitable[Outcome]]
ButtonHandler = Callable[[Services, Session, ChoiceMade], Awaitable[Outcome]]
AnswerHandler = Callable[[Services, Session, PendingChoice, str], Awaitable[Outcome]]
FlowFinisher = Callable[[Services, Session, Draft], Awaitable[Outcome]]


class RouteError(ValueError):
    """The route table is inconsistent (a programming error, found at import)."""


@dataclass(frozen=True)
class Routes:
    commands: Mapping[str, CommandHandler]
    """Command name -> handler (it gets the rest of the line)."""
    words: Mapping[str, str]
    """What people type (one or two words) -> command name."""
    interruptions: frozenset[str]
    """Words that mean their command even typed in the middle of a flow."""
    buttons: Mapping[str, ButtonHandler]
    """Question-id prefix of a button -> handler."""
    answers: Mapping[Ask, AnswerHandler]
    """A one-off question Harbour asked -> the handler of its answer."""
    answer_prefixes: Mapping[str, AnswerHandler]
    """A one-off question asked under a prefixed id (a case's own question)."""
    finishers: Mapping[str, FlowFinisher]
    """Flow id -> what happens when the person confirms it."""
    unknown: CommandHandler
    """Typed words that are no command, outside any flow."""
    register_channel: Callable[[Services, Session, ChannelRegistered], Awaitable[Outcome]]
    """`register safety-leads` said in a shared channel."""

    def __post_init__(self) -> None:
        missing = sorted({name for name in self.words.values()} - set(self.commands))
        if missing:
            raise RouteError(f"words lead to commands with no handler: {missing}")
        if unknown_words := sorted(self.interruptions - set(self.words)):
            raise RouteError(f"interruptions that are not command words: {unknown_words}")
        if unanswered := sorted(set(Ask) - set(self.answers)):
            raise RouteError(f"questions Harbour asks with no handler: {unanswered}")
        for table in (self.buttons, self.answer_prefixes):
            for a in table:
                for b in table:
                    if a != b and b.startswith(a):
                        raise RouteError(f"question prefix {a!r} hides {b!r}")
        if unfinished := sorted(set(FLOWS) - set(self.finishers)):
            raise RouteError(f"flows with no finisher: {unfinished}")

    # ------------------------------------------------------------------ dispatch

    async def dispatch(self, s: Services, session: Session, event: InboundEvent) -> Outcome:
        if isinstance(event, ChannelRegistered):
            return await self.register_channel(s, session, event)
        if isinstance(event, ChoiceMade):
            button = self._by_prefix(self.buttons, event.question)
            if button is not None:
                return await button(s, session, event)
        if isinstance(event, FilesShared):  # checked and kept as evidence, or noted
            return await evidence.files_shared(s, session, event)
        draft = session.active_draft
        in_flow = draft is not None and not draft.paused
        if isinstance(event, Command):
            text = clean_text(f"{event.name} {event.args}")
            if draft is not None and in_flow and text.casefold() in CONTROL_WORDS:
                control = Control(
                    event_id=event.event_id,
                    person=event.person,
                    action=CONTROL_WORDS[text.casefold()],
                )
                return await self.step(s, session, draft, control)
            return await self.command(s, session, text)
        if draft is not None and in_flow:
            if isinstance(event, TextMessage) and self._interrupts(event.text):
                return await self.command(s, session, event.text)
            if isinstance(event, TextMessage) and draft.step == REVIEW:
                # At the summary nothing is being answered: a command, or words
                # asking for someone to talk to, are what they say.
                if self.parse(event.text)[0] not in (None, "report", "help"):
                    return await self.command(s, session, event.text)
                if talk.meaning(event.text) in (talk.Meaning.TALK, talk.Meaning.DANGER):
                    shown = talk.someone_to_talk_to(s, session.person)
                    return with_current(s, session, shown)
            return await self.step(s, session, draft, event)
        pending = session.pending
        if pending is not None and pending.question == Ask.CHECKIN_NOTE.value:
            since = pending.context.get("asked_at")  # (not kept before 2026-12-02)
            asked = datetime.fromisoformat(since) if since else None
            if asked is not None and s.clock() - asked > NOTE_WAIT:
                # Words typed days later are not a note for her manager.
                session.pending = pending = None
            elif isinstance(event, TextMessage):
                # A check-in sent since wins over "add a few words?".
                checkin = await casework.typed_checkin_answer(
                    s, session, event.text, sent_after=asked
                )
                if checkin is not None:
                    return checkin
        if (
            pending is not None
            and pending.question == Ask.NEXT_STEP.value
            and isinstance(event, TextMessage)
        ):
            # "What can I do?" never catches an answer to a check-in waiting for one.
            checkin = await casework.typed_checkin_answer(s, session, event.text)
            if checkin is not None:
                return checkin
        if pending is not None:
            answered = pending_answer(pending, event, set(self.words))
            if answered is not None:
                session.pending = None
                return await self._answer(s, session, pending, answered)
        if isinstance(event, TextMessage):
            checkin = await casework.typed_checkin_answer(s, session, event.text)
            if checkin is None:
                checkin = await casework.typed_take_talk(s, session, event.text)
            if checkin is not None:
                return checkin
            return await self.command(s, session, event.text)
        finished = Notice(
            text="That button belongs to a conversation that has already finished, so I've "
            "left everything as it was."
        )
        if session.pending is not None:  # a question still waits: ask it again, keep it
            return Outcome([finished, pending_reply(session.pending)], session)
        steps = talk.next_steps(s, session)
        return Outcome([finished, *steps.replies], steps.session)

    async def command(self, s: Services, session: Session, text: str) -> Outcome:
        if session.pending is not None and session.pending.kind == "choice":
            # Something else was asked for: a number typed later must not press
            # options scrolled out of sight (a name or text question still waits).
            session.pending = None
        name, args = self.parse(text)
        if name is None:
            return await self.unknown(s, session, text)
        return await self.commands[name](s, session, args)

    def parse(self, text: str) -> tuple[str | None, str]:
        """(command name, the rest) for typed text; an empty line means report."""
        words = clean_text(text).split()
        lowered = [w.casefold() for w in words]
        for size in (2, 1):
            head = " ".join(lowered[:size])
            if len(lowered) >= size and head in self.words:
                return self.words[head], " ".join(words[size:])
        if not words:
            return self.words[""], ""
        return None, ""

    async def step(self, s: Services, session: Session, draft: Draft, event: FlowEvent) -> Outcome:
        flow = FLOWS[draft.flow]
        moved = engine.advance(flow, draft, event, now=s.clock(), ctx=s.ctx)
        events = [s.draft_event(session.person, moved.draft, kind) for kind in moved.events]
        if moved.outcome in ("continue", "paused"):
            session.drafts[flow.id] = moved.draft
            if moved.outcome == "paused":
                session.active = None
            return Outcome(moved.replies, session, events)
        del session.drafts[flow.id]
        session.active = None
        if moved.outcome == "cancelled":
            return Outcome(moved.replies, session, events)
        return await self.finishers[flow.id](s, session, moved.draft)

    def _interrupts(self, text: str) -> bool:
        """Typed text that means a command even in the middle of a flow: only
        unmistakable ones, so an answer that starts with "update" stays an answer."""
        if clean_text(text).casefold() in self.interruptions:
            return True
        name, args = self.parse(text)
        return name in ("update", "reflect", "evidence") and parse_reference(args) is not None

    async def _answer(
        self, s: Services, session: Session, pending: PendingChoice, value: str
    ) -> Outcome:
        try:
            handler = self.answers[Ask(pending.question)]
        except ValueError:
            found = self._by_prefix(self.answer_prefixes, pending.question)
            if found is None:
                return with_current(s, session, [help_reply(s, session)])
            handler = found
        return await handler(s, session, pending, value)

    @staticmethod
    def _by_prefix(table: Mapping[str, H], question: str) -> H | None:
        return next((h for prefix, h in table.items() if question.startswith(prefix)), None)


# ---------------------------------------------------------------------- the table


async def _report(s: Services, session: Session, args: str) -> Outcome:
    return worker.report_command(s, session)


async def _mine(s: Services, session: Session, args: str) -> Outcome:
    return await worker.mine(s, session)


async def _update(s: Services, session: Session, args: str) -> Outcome:
    return await worker.about_report(s, session, UPDATE, args)


async def _reflect(s: Services, session: Session, args: str) -> Outcome:
    return await worker.about_report(s, session, REFLECTION, args)


async def _manager(s: Services, session: Session, args: str) -> Outcome:
    return await worker.name_manager(s, session, args, reference=None)


async def _share(s: Services, session: Session, args: str) -> Outcome:
    return await worker.share(s, session, args.split()[0] if args.split() else "")


async def _whoami(s: Services, session: Session, args: str) -> Outcome:
    return casework.whoami(s, session)


async def _hello(s: Services, session: Session, args: str) -> Outcome:
    return talk.hello(s, session)


async def _help(s: Services, session: Session, args: str) -> Outcome:
    return talk.show_help(s, session)


async def _guidance(s: Services, session: Session, args: str) -> Outcome:
    return talk.show_guidance(s, session, args)


async def _case_question(
    s: Services, session: Session, pending: PendingChoice, value: str
) -> Outcome:
    """`cases HB-…` asked "What would you like to do?": answered like its buttons."""
    press = ChoiceMade(
        event_id=f"pending:{pending.token}:{value}",
        person=session.person,
        question=pending.question,
        values=(value,),
        token=pending.token,
    )
    return await casework.press(s, session, press)


ROUTES = Routes(
    commands={
        "report": _report,
        "mine": _mine,
        "update": _update,
        "reflect": _reflect,
        "guidance": _guidance,
        "cases": casework.cases,
        "admin": casework.admin,
        "whoami": _whoami,
        "manager": _manager,
        "checkin": casework.checkin_command,
        "audit": trail.audit_command,
        "mydata": rights.mydata_command,
        "figures": figures_command,
        "pack": pack_command,
        "share": _share,
        "evidence": evidence.add_evidence,
        "hello": _hello,
        "help": _help,
    },
    words={
        "": "report",
        "report": "report",
        "new": "report",
        "start": "report",
        "resume": "report",
        "continue": "report",
        "help": "help",
        "?": "help",
        "commands": "help",
        "mine": "mine",
        "list": "mine",
        "reports": "mine",
        "my reports": "mine",
        "update": "update",
        "add": "update",
        "reflect": "reflect",
        "guidance": "guidance",
        "advice": "guidance",
        "tips": "guidance",
        "cases": "cases",
        "admin": "admin",
        "whoami": "whoami",
        "manager": "manager",
        "checkin": "checkin",
        "checkins": "checkin",
        "audit": "audit",
        "seen": "audit",
        "mydata": "mydata",
        "my data": "mydata",
        "figures": "figures",
        "statistics": "figures",
        "pack": "pack",
        "evidence pack": "pack",
        "share": "share",
        "add evidence": "evidence",
        "evidence": "evidence",
        "hi": "hello",
        "hello": "hello",
        "hey": "hello",
    },
    interruptions=frozenset({"report", "resume", "continue", "mine", "my reports", "guidance"}),
    buttons={
        CASE_QUESTION: casework.press,
        CHECKIN_QUESTION: casework.checkin_press,
        TALK_QUESTION: casework.checkin_press,
        SHARE_QUESTION: worker.share_button,
        casework.DANGER_QUESTION: casework.danger_claim,
    },
    answers={
        Ask.RESUME: worker.answer_resume,
        Ask.REFLECT_OFFER: worker.answer_reflect_offer,
        Ask.PICK_REPORT: worker.answer_pick_report,
        Ask.WHO_MANAGER: worker.answer_who_manager,
        Ask.CHECKIN_NOTE: casework.checkin_note,
        Ask.NEXT_STEP: talk.answer_next_step,
    },
    answer_prefixes={
        CASE_QUESTION: _case_question,
        CHECKIN_QUESTION: casework.when_again_answer,
        rights.ERASE_QUESTION: rights.answer_erase,
    },
    finishers={
        REPORT.id: worker.finish_report,
        UPDATE.id: worker.finish_about_report,
        REFLECTION.id: worker.finish_about_report,
        EVIDENCE.id: evidence.finish,
        **{flow_id: casework.finish for flow_id in casework.CASE_FLOW_IDS},
    },
    unknown=talk.plain_words,
    register_channel=casework.register_channel,
)
