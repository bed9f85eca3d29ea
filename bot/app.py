"""Harbour's core: one inbound event in, the replies out, state saved in between.

`Harbour.handle` is the only entry point adapters use. For each person it
handles one event at a time (a per-person lock), ignores an event id it has
already handled, runs the command or the flow step, makes exactly one durable
write, and only then returns the replies for the adapter to send.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from bot import casework, engine
from bot.access import Access, Action
from bot.cases import CASE_QUESTION, SHARE_QUESTION, refused
from bot.checkins import CHECKIN_QUESTION, TALK_QUESTION
from bot.directory import Directory, parse_person
from bot.engine import CONTROL_WORDS, Draft, FlowEvent
from bot.flow import LONG_TEXT_LIMIT, Flow, FlowContext
from bot.guidance import Audience as GuidanceAudience
from bot.guidance import GuidanceItem, Library
from bot.locks import KeyedLocks
from bot.logs import log_failure
from bot.models import (
    ChoiceMade,
    ChoiceQuestion,
    Command,
    Control,
    FilesShared,
    InboundEvent,
    Notice,
    NoticeLevel,
    Option,
    PersonQuestion,
    PersonRef,
    Platform,
    Reply,
    SummaryCard,
    SummaryField,
    Text,
    TextMessage,
    TextQuestion,
)
from bot.outcome import Outcome
from bot.reports import (
    ABUSE_KIND_LABELS,
    Audience,
    DomainEvent,
    EventKind,
    Report,
    ReportAnswers,
    ReportStatus,
    ReportUpdate,
    RiskLevel,
    UpdateAnswers,
    parse_reference,
)
from bot.session import PendingChoice, Session
from bot.store import StaleReport, Store, StoreError
from bot.triage import assess
from bot.validation import clean_text
from flows import FLOWS, REFLECTION, REPORT, UPDATE

log = logging.getLogger(__name__)

Clock = Callable[[], datetime]

COMMAND_WORDS: dict[str, str] = {
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
    "share": "share",
    "hi": "hello",
    "hello": "hello",
    "hey": "hello",
}

INTERRUPTIONS = frozenset({"report", "resume", "continue", "mine", "my reports"})
"""Words that mean a command even when typed in the middle of a flow."""

HELP_LINES = (
    ("report", "start a private report, or pick up the one you paused"),
    ("mine", "list your reports"),
    ("update HB-2026-0001", "add a new incident to one of your reports"),
    ("reflect HB-2026-0001", "answer reflective questions about a report"),
    ("share HB-2026-0001", "share one of your reports with your manager"),
    ("guidance", "practical guidance; add a topic or words, e.g. guidance evidence"),
    ("cases", "managers and safety leads: the open cases you look after"),
    ("checkin <person> in 3d", "managers: schedule private check-ins (or: tomorrow, cadence)"),
    ("whoami", "your Harbour id, for the team directory"),
    ("help", "show this list"),
)


DAMAGED_CONVERSATION = Notice(
    level=NoticeLevel.WARNING,
    text="I'm sorry: the file holding our conversation was damaged on Harbour's side, so "
    "an answer or a draft you hadn't filed yet may be missing. Anything you filed is safe. "
    "The damaged file has been kept for your Harbour administrator.",
)
RERUNS = 20
"""How many times one event is decided again when the case it changes moved
on meanwhile (each rerun reads the case afresh; a handful is plenty)."""


def utc_now() -> datetime:
    return datetime.now(UTC)


def new_id() -> str:
    return uuid.uuid4().hex[:16]


class Harbour:
    def __init__(
        self,
        store: Store,
        ctx: FlowContext,
        *,
        clock: Clock = utc_now,
        ids: Callable[[], str] = new_id,
        command_prefixes: dict[Platform, str] | None = None,
        library: Library | None = None,
        directory: Directory | None = None,
        admins: frozenset[str] = frozenset(),
    ) -> None:
        """`command_prefixes` says how each adapter's people type a command, for
        help text (e.g. "/report-abuse " in Slack); replies are otherwise the same."""
        self.store = store
        self.ctx = ctx
        self.clock = clock
        self.ids = ids
        self.prefixes = command_prefixes or {}
        self.library = library or Library([])
        self.directory = directory or Directory()
        self.access = Access(self.directory, admins)
        self.outbox_changed: asyncio.Event | None = None  # set by whoever delivers the outbox
        self._locks = KeyedLocks()
        self._names: dict[str, str] = {}  # display names already stored, to skip rewrites

    def command_prefix(self, person: PersonRef) -> str:
        return self.prefixes.get(person.platform, "")

    # ----------------------------------------------------------------- entry point

    async def handle(self, event: InboundEvent) -> list[Reply]:
        async with self._locks.hold(event.person.key):
            return await self._handle_locked(event)

    async def _handle_locked(self, event: InboundEvent) -> list[Reply]:
        if await self.store.seen(event.person, event.event_id):
            return []
        try:
            for _ in range(RERUNS):
                now = self.clock()
                session = await self.store.load_session(event.person) or Session(
                    person=event.person, updated_at=now
                )
                outcome = await self._dispatch(session, event)
                outcome.session.updated_at = now
                try:
                    await self._commit(event, outcome)
                except StaleReport:
                    # The case moved on while this event was handled (an alert
                    # recorded, someone else's action): decide again on what is
                    # stored now, so nobody's change is written over.
                    continue
                if await self.store.conversation_damaged(event.person):
                    outcome.replies.insert(0, DAMAGED_CONVERSATION)
                return outcome.replies
            raise StoreError("the case kept changing while this event was handled")
        except Exception as exc:
            log_failure(f"handling a {event.type} event", exc)
            return [
                Notice(
                    level=NoticeLevel.ERROR,
                    text="Something went wrong on my side and that last step wasn't saved. "
                    "Everything before it is safe. Please try again in a minute; if it keeps "
                    "happening, tell your manager or IT team.",
                )
            ]

    async def _commit(self, event: InboundEvent, outcome: Outcome) -> None:
        person = event.person
        if outcome.file_from is not None:
            draft = outcome.file_from
            offer: list[Reply] = []

            def make(seq: int, ref: str) -> tuple[Report, list[DomainEvent]]:
                # Runs before the store writes the session, so the offer to
                # reflect on the new report is saved with it.
                report, events = self._make_report(person, draft, seq, ref)
                if report.manager_may_see and not report.managers:
                    offer.extend(self._ask_manager(outcome.session, ref).replies)
                else:
                    offer.extend(self._reflect_offer(outcome.session, ref).replies)
                return report, events + outcome.events

            filed = await self.store.file_report(
                year=self.clock().year,
                draft_id=draft.id,
                make=make,
                person=person,
                session=outcome.session,
                event_id=event.event_id,
            )
            outcome.replies[:0] = self._filed_replies(filed) + offer
        elif outcome.report is not None:
            await self.store.save_report(
                outcome.report,
                events=outcome.events,
                person=person,
                session=outcome.session,
                event_id=event.event_id,
            )
        else:
            await self.store.save_session(
                person, outcome.session, event_id=event.event_id, events=outcome.events
            )
        if event.display_name and self._names.get(person.key) != event.display_name:
            # Remembered so managers read a name, not an id.
            await self.store.put_record("people", person.key, {"name": event.display_name})
            self._names[person.key] = event.display_name
        if self.outbox_changed is not None and (outcome.events or outcome.file_from):
            self.outbox_changed.set()

    # ----------------------------------------------------------------- routing

    async def _dispatch(self, session: Session, event: InboundEvent) -> Outcome:
        if isinstance(event, ChoiceMade) and event.question.startswith(CASE_QUESTION):
            return await casework.press(self, session, event)
        if isinstance(event, ChoiceMade) and event.question.startswith(
            (CHECKIN_QUESTION, TALK_QUESTION)
        ):
            return await casework.checkin_press(self, session, event)
        if isinstance(event, ChoiceMade) and event.question.startswith(casework.DANGER_QUESTION):
            return await casework.danger_claim(self, session, event)
        if isinstance(event, ChoiceMade) and event.question.startswith(SHARE_QUESTION):
            ref = event.question[len(SHARE_QUESTION) :]
            if event.values[:1] == ("share",):
                return await self._share(session, ref)
            return Outcome([Text(text=f"All right: {ref} stays as it is.")], session)
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
                return await self._step(session, draft, control)
            name, args = self._parse_command(text)
            return await self._command(session, name, args)
        if draft is not None and in_flow:
            if isinstance(event, TextMessage) and self._is_interruption(event.text):
                name, args = self._parse_command(event.text)
                return await self._command(session, name, args)
            return await self._step(session, draft, event)
        pending = session.pending
        if pending is not None:
            answered = self._pending_answer(pending, event)
            if answered is not None:
                return await self._answer_pending(session, pending, answered)
        if isinstance(event, TextMessage):
            name, args = self._parse_command(event.text)
            return await self._command(session, name, args)
        if isinstance(event, FilesShared):
            return Outcome(
                [
                    Text(
                        text="To keep files with a report, start a report (or an update to one) "
                        "first, then share them while it's open."
                    )
                ],
                session,
            )
        return Outcome(
            [
                Notice(
                    text="That button belongs to a conversation that has already finished, so "
                    "I've left everything as it was."
                ),
                self._help_reply(session),
            ],
            session,
        )

    def _is_interruption(self, text: str) -> bool:
        """Typed text that means a command even in the middle of a flow: only
        unmistakable ones, so an answer that starts with "update" stays an answer."""
        if clean_text(text).casefold() in INTERRUPTIONS:
            return True
        name, args = self._parse_command(text)
        return name in ("update", "reflect") and parse_reference(args) is not None

    def _parse_command(self, text: str) -> tuple[str, str]:
        words = clean_text(text).split()
        lowered = [w.casefold() for w in words]
        for size in (2, 1):
            head = " ".join(lowered[:size])
            if len(lowered) >= size and head in COMMAND_WORDS:
                return COMMAND_WORDS[head], " ".join(words[size:])
        if not words:
            return "report", ""
        return "unknown", ""

    async def _command(self, session: Session, name: str, args: str) -> Outcome:
        if name == "report":
            return self._report_command(session)
        if name == "mine":
            return await self._mine(session)
        if name in ("update", "reflect"):
            return await self._about_report(session, name, args)
        if name == "guidance":
            return self._with_current(session, self._guidance(session.person, args))
        if name == "cases":
            return await casework.cases(self, session, args)
        if name == "admin":
            return await casework.admin(self, session, args)
        if name == "whoami":
            return casework.whoami(self, session)
        if name == "checkin":
            return await casework.checkin_command(self, session, args)
        if name == "manager":
            return await self._name_manager(session, args, reference=None)
        if name == "share":
            return await self._share(session, args.split()[0] if args.split() else "")
        if name == "hello":
            return self._with_current(
                session,
                [
                    Text(
                        text="Hello. I'm Harbour. I'm here to help if you're being abused or "
                        "harassed online because of your work: you can report it privately, and "
                        "I'll make sure the right people know."
                    ),
                    self._help_reply(session),
                ],
            )
        if name == "help":
            return self._with_current(session, [self._help_reply(session)])
        return self._with_current(
            session,
            [
                Text(text="Sorry, I didn't understand that. Here's what I can do."),
                self._help_reply(session),
            ],
        )

    def _with_current(self, session: Session, replies: list[Reply]) -> Outcome:
        """Answer, then show the question in progress again so nothing is a dead end."""
        draft = session.active_draft
        if draft is not None and not draft.paused:
            replies = [*replies, *engine.prompt(FLOWS[draft.flow], draft, self.ctx)]
        return Outcome(replies, session)

    def help_for(self, person: PersonRef) -> Notice:
        """What Harbour can do, as this person types it (for adapters' own use)."""
        return self._help_reply(Session(person=person, updated_at=self.clock()))

    def _help_reply(self, session: Session) -> Notice:
        prefix = self.prefixes.get(session.person.platform, "")
        lines = [f"{prefix}{cmd} — {what}" for cmd, what in HELP_LINES]
        if any(d.paused for d in session.drafts.values()):
            lines.append("You have a paused draft: say report (or reflect) to pick it up.")
        lines.append(
            "Everything you tell me stays private to you and the people you choose. "
            "If anyone is in immediate danger, call the emergency services first."
        )
        return Notice(title="What I can do", text="\n".join(lines))

    # ----------------------------------------------------------------- flows

    def _start(
        self,
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
                    text=f"I've saved your unfinished {FLOWS[active.flow].title.lower()} "
                    "draft; you can go back to it later."
                )
            )
        started = engine.start(
            flow,
            draft_id=self.ids(),
            now=self.clock(),
            ctx=self.ctx,
            subject=subject,
            answers=answers,
        )
        session.drafts[flow.id] = started.draft
        session.active = flow.id
        session.pending = None
        return Outcome(replies + started.replies, session)

    def start_flow(
        self, session: Session, flow: Flow[Any], *, subject: str | None = None
    ) -> Outcome:
        return self._start(session, flow, subject=subject)

    async def set_managers(
        self, worker: PersonRef, managers: list[PersonRef], *, by: PersonRef
    ) -> list[str]:
        """Record who manages a worker: an administrator's word, or the worker's
        own when no administrator has named anyone (it never overrides one).

        When an administrator changes it, earlier reports follow the rule in
        `bot.access`: the old managers' access ends, and the worker is asked
        whether to share each open report with the new ones. Returns the
        references she is asked about."""
        keys = [m.key for m in managers]
        record = {"managers": keys, "by": by.key, "at": self.clock().isoformat()}
        await self.store.put_record("managers", worker.key, record)
        if by == worker:
            self.directory.named[worker.key] = keys
            return []
        self.directory.managers[worker.key] = keys
        return await self._reassign(worker, keys, by.key)

    async def reconcile_directory_file(self, file_managers: dict[str, list[str]]) -> list[str]:
        """At start: a manager changed in the directory file since the last start
        is a change like `admin manager` in chat (same rule, same question to the
        worker). Returns the workers whose manager changed."""
        applied = await self.store.records("directory-file")
        changed = []
        for worker_key, keys in sorted(file_managers.items()):
            before = applied.get(worker_key, {}).get("managers")
            if before == keys:
                continue
            await self.store.put_record("directory-file", worker_key, {"managers": keys})
            worker = parse_person(worker_key)
            chat = await self.store.get_record("managers", worker_key)
            if before is None or worker is None or (chat and chat.get("by") != worker_key):
                continue  # first sight of the file, or an administrator's chat change wins
            await self._reassign(worker, keys, "directory file")
            changed.append(worker_key)
        return changed

    async def _reassign(self, worker: PersonRef, keys: list[str], by: str) -> list[str]:
        """Earlier reports after a change of manager: the old managers' access ends,
        and the worker is asked whether to share each open report with the new ones.
        Returns the references she is asked about."""
        asked: list[str] = []
        now = self.clock()
        asking: dict[str, bool] = {}

        def reassign(report: Report) -> list[DomainEvent] | None:
            asking[report.reference] = False
            if not report.manager_may_see:
                # Kept from her manager: the names on it are who stays kept out.
                return None
            gone = [k for k in report.managers if k not in keys]
            ask = report.status is not ReportStatus.CLOSED and any(
                k not in report.managers for k in keys
            )
            if not gone and not ask:
                return None
            report.managers = [k for k in report.managers if k in keys]
            report.log(now, "manager-changed", by)
            asking[report.reference] = ask
            return [self._report_event(report, EventKind.MANAGER_CHANGED)] if ask else []

        for reference in [r.reference for r in await self.store.reports_by(worker)]:
            await self.store.update_report(reference, reassign)
            if asking.get(reference):
                asked.append(reference)
        if asked and self.outbox_changed is not None:
            self.outbox_changed.set()
        return asked

    def _resume(self, session: Session, draft: Draft) -> Outcome:
        resumed = draft.model_copy(update={"paused": False, "revision": draft.revision + 1})
        session.drafts[draft.flow] = resumed
        session.active = draft.flow
        session.pending = None
        return Outcome(
            [
                Text(
                    text="Welcome back. Here's where you left off; everything you'd answered is kept."
                ),
                *engine.prompt(FLOWS[draft.flow], resumed, self.ctx),
            ],
            session,
        )

    def _report_command(self, session: Session) -> Outcome:
        draft = session.drafts.get(REPORT.id)
        if draft is None:
            return self._start(session, REPORT)
        if session.active == REPORT.id and not draft.paused:
            return self._with_current(session, [Text(text="Let's carry on with your report.")])
        started = draft.started_at.strftime("%d %b %Y")
        return self._ask(
            session,
            "resume",
            f"You have an unfinished report, started {started}. Would you like to carry on "
            "with it, or start a new one? Starting again discards the draft.",
            [
                Option(value="resume", label="Carry on with my draft"),
                Option(value="restart", label="Start a new report"),
            ],
        )

    async def _step(self, session: Session, draft: Draft, event: FlowEvent) -> Outcome:
        flow = FLOWS[draft.flow]
        moved = engine.advance(flow, draft, event, now=self.clock(), ctx=self.ctx)
        events = [self._draft_event(session.person, moved.draft, kind) for kind in moved.events]
        if moved.outcome == "continue":
            session.drafts[flow.id] = moved.draft
            return Outcome(moved.replies, session, events)
        if moved.outcome == "paused":
            session.drafts[flow.id] = moved.draft
            session.active = None
            return Outcome(moved.replies, session, events)
        del session.drafts[flow.id]
        session.active = None
        if moved.outcome == "cancelled":
            return Outcome(moved.replies, session, events)
        return await self._finish(session, moved.draft)

    async def _finish(self, session: Session, draft: Draft) -> Outcome:
        if draft.flow in casework.CASE_FLOW_IDS:
            return await casework.finish(self, session, draft)
        if draft.flow == REPORT.id:
            # The report's number is chosen by the store, in `_commit`.
            return Outcome([], session, file_from=draft)
        report = await self.store.get_report(draft.subject or "")
        if report is None:  # deleted meanwhile; say so rather than lose the answers silently
            return Outcome(
                [Notice(level=NoticeLevel.ERROR, text="I couldn't find that report any more.")],
                session,
            )
        now = self.clock()
        if draft.flow == REFLECTION.id:
            report.reflection = REFLECTION.typed(draft.answers)
            report.reflection_draft_id = draft.id
            replies: list[Reply] = [
                REFLECTION.summary(report.reflection, self.ctx),
                Notice(
                    level=NoticeLevel.SUCCESS,
                    text=f"Saved with {report.reference}. You can change them any time with "
                    f"{self.command_prefix(report.reporter)}reflect {report.reference}.",
                ),
            ]
            return Outcome(replies, session, report=report)
        update = UPDATE.typed(draft.answers)
        before = report.risk
        if all(u.id != draft.id for u in report.updates):
            report.updates.append(ReportUpdate(id=draft.id, at=now, answers=update))
        assessment = assess(
            report.answers, updates=[_as_report(report, u.answers) for u in report.updates]
        )
        report.risk, report.risk_reasons = assessment.level, list(assessment.reasons)
        events = [self._report_event(report, EventKind.REPORT_UPDATED)]
        if report.risk is RiskLevel.CRITICAL and before is not RiskLevel.CRITICAL:
            events.append(self._report_event(report, EventKind.RISK_CRITICAL))
        return Outcome(
            [
                Notice(
                    level=NoticeLevel.SUCCESS,
                    text=f"Added to {report.reference}. Risk is now assessed as {report.risk.value}.",
                )
            ],
            session,
            events,
            report=report,
        )

    def _make_report(
        self, person: PersonRef, draft: Draft, seq: int, reference: str
    ) -> tuple[Report, list[DomainEvent]]:
        answers = REPORT.typed(draft.answers)
        assessment = assess(answers)
        now = self.clock()
        report = Report(
            reference=reference,
            year=now.year,
            seq=seq,
            reporter=person,
            filed_at=now,
            draft_id=draft.id,
            answers=answers,
            risk=assessment.level,
            risk_reasons=list(assessment.reasons),
            managers=[m.key for m in self.access.current_managers(person)],
        )
        if answers.audience is Audience.LEADS_ONLY:
            # Remembered for good: a later change of manager or a share must not
            # let a manager she kept out back in as a safety lead.
            report.kept_out = list(report.managers)
        report.log(now, "filed", person.key)
        events = [self._report_event(report, EventKind.REPORT_FILED)]
        if report.risk is RiskLevel.CRITICAL and "immediate-danger" not in draft.effects_done:
            events.append(self._report_event(report, EventKind.RISK_CRITICAL))
        return report, events

    def _ask_manager(self, session: Session, reference: str) -> Outcome:
        pending = PendingChoice(
            question="who-manager",
            kind="person",
            token=self.ids(),
            prompt="I don't know who your manager is yet. Who should I tell about this report? "
            "I'll remember for next time.",
            options=[],
            context={"reference": reference},
        )
        session.pending = pending
        return Outcome([self._pending_reply(pending)], session)

    async def _name_manager(self, session: Session, text: str, reference: str | None) -> Outcome:
        """The worker names their manager: remember it, and alert them about the
        report that was waiting for one."""
        manager = casework.manager_from_text(text, session.person)
        if manager is None:
            return Outcome(
                [
                    Notice(
                        level=NoticeLevel.WARNING,
                        text="I couldn't tell who that is. Choose your manager from the list, or "
                        "give their Harbour id (they can say whoami to me to find it).",
                    )
                ],
                session,
            )
        if self.directory.set_by_admin(session.person):
            # The administrator's directory is the agency's word on who manages whom.
            return Outcome(
                [
                    Notice(
                        text="Your manager is set by your Harbour administrator, so I haven't "
                        "changed it. If it's not right, please ask them to update it."
                    )
                ],
                session,
            )
        await self.set_managers(session.person, [manager], by=session.person)
        replies: list[Reply] = [
            Notice(level=NoticeLevel.SUCCESS, text="Thank you, I'll remember that.")
        ]
        report = await self._own_report(session.person, reference or "", Action.SHARE)
        if report is None or not report.manager_may_see or report.managers:
            return Outcome(replies, session)
        report.managers = [manager.key]
        report.log(self.clock(), "manager-named", session.person.key)
        replies.append(Text(text=f"I'll let them know about {report.reference} privately."))
        replies += self._reflect_offer(session, report.reference).replies
        events = [self._report_event(report, EventKind.MANAGER_NAMED)]
        return Outcome(replies, session, events, report=report)

    def _reflect_offer(self, session: Session, reference: str) -> Outcome:
        return self._ask(
            session,
            "reflect-offer",
            "Some people find it helps to think it through with a few reflective questions. "
            "Would you like to do that now? It's optional, and you can come back to it any time.",
            [
                Option(value="now", label="Yes, now"),
                Option(value="later", label="Not now"),
            ],
            context={"reference": reference},
        )

    def _filed_replies(self, report: Report) -> list[Reply]:
        audience = report.answers.audience or Audience.MANAGER_AND_LEADS
        who = {
            Audience.MANAGER_AND_LEADS: "I'll let your manager know privately, and the safety "
            "leads will get an alert with only the reference and how serious it is.",
            Audience.LEADS_ONLY: "Your manager won't be told. The safety leads will get an "
            "alert with only the reference and how serious it is.",
            Audience.ONLY_ME: "It's kept as your own record: nobody else is told unless someone "
            "is in immediate danger. You can share it later.",
        }[audience]
        replies: list[Reply] = [
            Notice(
                level=NoticeLevel.SUCCESS,
                title="Report filed",
                text=f"Your reference is {report.reference}. {who}",
            )
        ]
        if report.risk is RiskLevel.CRITICAL:
            replies.append(
                Notice(
                    level=NoticeLevel.DANGER,
                    title="This is serious",
                    text=self.ctx.emergency_guidance,
                )
            )
        replies.append(
            Text(
                text="Thank you for telling me. None of this is your fault, and you don't have "
                "to deal with it alone."
            )
        )
        items = self.guidance_for(report, GuidanceAudience.WORKER)
        if items:
            prefix = self.command_prefix(report.reporter)
            replies.append(
                SummaryCard(
                    title="Some guidance for now",
                    fields=tuple(
                        SummaryField(label=i.title, value=self.library.fill(i.summary))
                        for i in items
                    ),
                    footer=f"More on each: {prefix}guidance "
                    + f", {prefix}guidance ".join(i.id for i in items)
                    + f". Everything: {prefix}guidance.",
                )
            )
        return replies

    # ----------------------------------------------------------------- guidance

    def _guidance(self, person: PersonRef, args: str) -> list[Reply]:
        prefix = self.command_prefix(person)
        words = args.strip()
        if not words:
            rows = [
                SummaryField(label=item.title, value=f"{prefix}guidance {item.id}")
                for item in sorted(
                    self.library.items.values(), key=lambda i: (-i.priority, i.title)
                )
            ]
            return [
                SummaryCard(
                    title="Guidance",
                    fields=tuple(rows),
                    footer=f"Or search, e.g. {prefix}guidance police.",
                )
            ]
        item = self.library.get(words)
        if item is not None:
            return [self.guidance_card(item)]
        found = self.library.search(words)
        if not found:
            return [
                Text(
                    text=f"I couldn't find guidance about that. Say {prefix}guidance to see "
                    "every topic."
                )
            ]
        if len(found) == 1:
            return [self.guidance_card(found[0])]
        return [
            SummaryCard(
                title="Guidance that may help",
                fields=tuple(
                    SummaryField(
                        label=i.title,
                        value=f"{self.library.fill(i.summary)}\n{prefix}guidance {i.id}",
                    )
                    for i in found[:5]
                ),
            )
        ]

    def guidance_card(self, item: GuidanceItem) -> SummaryCard:
        """One guidance item in full: what to do, detail, pages to act on, sources."""
        fields = [SummaryField(label="In short", value=self.library.fill(item.summary))]
        if item.body:
            fields.append(SummaryField(label="In more detail", value=self.library.fill(item.body)))
        if item.links:
            fields.append(
                SummaryField(
                    label="Pages to act on (open in your browser)",
                    value="\n".join(f"{link.title}: {link.url}" for link in item.links),
                )
            )
        sources = "\n".join(f"{s.name}" + (f" ({s.url})" if s.url else "") for s in item.sources)
        if sources:
            fields.append(SummaryField(label="Sources", value=sources))
        return SummaryCard(title=item.title, fields=tuple(fields))

    def guidance_for(
        self, report: Report, audience: GuidanceAudience, limit: int = 3
    ) -> list[GuidanceItem]:
        """The few most useful items for this report and this reader."""
        kinds = list(report.answers.kinds)
        platforms = list(report.answers.platforms)
        for update in report.updates:
            kinds += update.answers.kinds
            platforms += update.answers.platforms
        return self.library.for_incident(
            audience, kinds=kinds, risk=report.risk, platforms=platforms
        )[:limit]

    async def reports_card(self, person: PersonRef) -> SummaryCard | Text:
        """A person's own reports, newest first (read-only: for "mine" and home tabs)."""
        reports = await self._own_reports(person)
        if not reports:
            return Text(
                text=f"You haven't filed any reports yet. Say {self.command_prefix(person)}report to start one."
            )
        rows = []
        for r in reports[:25]:
            extras = [f"{len(r.updates)} update(s)"] if r.updates else []
            if r.reflection:
                extras.append("reflections saved")
            detail = (
                f"{r.filed_at:%d %b %Y} · {r.risk.value} risk · {r.status.value.replace('_', ' ')}"
            )
            rows.append(SummaryField(label=r.reference, value=" · ".join([detail, *extras])))
        footer = f"Showing the newest 25 of {len(reports)}." if len(reports) > 25 else ""
        return SummaryCard(title="Your reports", fields=tuple(rows), footer=footer)

    async def _mine(self, session: Session) -> Outcome:
        return self._with_current(session, [await self.reports_card(session.person)])

    async def _about_report(self, session: Session, name: str, args: str) -> Outcome:
        flow = UPDATE if name == "update" else REFLECTION
        ref = args.split()[0] if args.split() else ""
        if ref:
            report = await self._own_report(session.person, ref, Action(name))
            if report is None:
                return self._with_current(
                    session,
                    [
                        Notice(
                            level=NoticeLevel.WARNING,
                            text="I couldn't find a report of yours with that reference. "
                            f"References look like HB-2026-0042; say {self.command_prefix(session.person)}mine to see yours.",
                        )
                    ],
                )
            return self._start_about(session, flow, report)
        reports = await self._own_reports(session.person)
        if not reports:
            return self._with_current(
                session,
                [
                    Text(
                        text=f"You haven't filed any reports yet. Say {self.command_prefix(session.person)}report to start one."
                    )
                ],
            )
        if len(reports) == 1:
            return self._start_about(session, flow, reports[0])
        verb = "add to" if flow is UPDATE else "reflect on"
        return self._ask(
            session,
            "pick-report",
            f"Which report would you like to {verb}?",
            [Option(value=r.reference, label=_report_label(r)) for r in reports[:10]],
            context={"flow": flow.id},
        )

    def _start_about(self, session: Session, flow: Flow[Any], report: Report) -> Outcome:
        lead: list[Reply] = [Text(text=f"This is about {report.reference}.")]
        if flow is REFLECTION:
            existing = session.drafts.get(REFLECTION.id)
            if existing is not None and existing.subject == report.reference:
                return self._resume(session, existing)
            answers = report.reflection.model_dump(mode="json") if report.reflection else None
            return self._start(session, flow, subject=report.reference, answers=answers, lead=lead)
        existing = session.drafts.get(UPDATE.id)
        if existing is not None and existing.subject == report.reference:
            return self._resume(session, existing)
        return self._start(session, flow, subject=report.reference, lead=lead)

    async def _own_reports(self, person: PersonRef) -> list[Report]:
        """A person's own reports, newest first, as the access policy lets her see them
        (for "mine", home tabs and choosing a report)."""
        reports = await self.store.reports_by(person)
        return [r for r in reports if self.access.decide(person, Action.VIEW, r)]

    async def _own_report(
        self, person: PersonRef, ref: str, action: Action = Action.UPDATE
    ) -> Report | None:
        """The report, if this person may do this to it as its reporter. Someone
        else's report is "not found" too: its existence is not ours to reveal."""
        if parse_reference(ref) is None:
            return None
        report = await self.store.get_report(ref)
        if report is None:
            return None
        if not self.access.decide(person, action, report):
            await self.store.update_report(report.reference, refused(person, action, self.clock()))
            return None
        return report

    async def _share(self, session: Session, ref: str) -> Outcome:
        """The worker shares one of her reports with her manager as the directory
        names them now (after a change of manager, or a report she kept back)."""
        person = session.person
        report = await self._own_report(person, ref, Action.SHARE)
        prefix = self.command_prefix(person)
        if report is None:
            return self._with_current(
                session,
                [
                    Notice(
                        level=NoticeLevel.WARNING,
                        text="I couldn't find an open report of yours with that reference. "
                        f"Say {prefix}mine to see yours.",
                    )
                ],
            )
        managers = self.access.current_managers(person)
        if not managers:
            return self._with_current(
                session,
                [
                    Text(
                        text="I don't know who your manager is yet, so I haven't shared it. "
                        "Your administrator can set it, or say manager followed by their "
                        "Harbour id."
                    )
                ],
            )
        report.managers = [m.key for m in managers]
        # She chose these managers now; anyone else she kept out stays out.
        report.kept_out = [k for k in report.kept_out if k not in report.managers]
        if not report.manager_may_see:
            report.answers = report.answers.model_copy(
                update={"audience": Audience.MANAGER_AND_LEADS}
            )
        report.log(self.clock(), "shared", person.key)
        events = [self._report_event(report, EventKind.MANAGER_NAMED)]
        replies: list[Reply] = [
            Notice(
                level=NoticeLevel.SUCCESS,
                text=f"Shared: your manager can now see {report.reference}, and I'm letting "
                "them know privately. The safety leads can see it too.",
            )
        ]
        return Outcome(replies, session, events, report=report)

    # ----------------------------------------------------------------- one-off questions

    def _ask(
        self,
        session: Session,
        question: str,
        prompt: str,
        options: list[Option],
        *,
        context: dict[str, str] | None = None,
    ) -> Outcome:
        pending = PendingChoice(
            question=question,
            token=self.ids(),
            prompt=prompt,
            options=options,
            context=context or {},
        )
        session.pending = pending
        return Outcome([self._pending_reply(pending)], session)

    def pending_reply(
        self, pending: PendingChoice
    ) -> ChoiceQuestion | PersonQuestion | TextQuestion:
        return self._pending_reply(pending)

    @staticmethod
    def _pending_reply(pending: PendingChoice) -> ChoiceQuestion | PersonQuestion | TextQuestion:
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

    @staticmethod
    def _pending_answer(pending: PendingChoice, event: InboundEvent) -> str | None:
        if pending.kind in ("person", "text"):
            if isinstance(event, ChoiceMade) and event.question == pending.question:
                return event.values[0] if event.values else None
            if isinstance(event, TextMessage):
                text = clean_text(event.text)
                is_command = text.split()[:1] and text.split()[0].casefold() in COMMAND_WORDS
                return None if is_command or not text else text
            return None
        if isinstance(event, ChoiceMade):
            if event.question != pending.question or (event.token and event.token != pending.token):
                return None
            values = {o.value for o in pending.options}
            return event.values[0] if event.values and event.values[0] in values else None
        if isinstance(event, TextMessage):
            text = clean_text(event.text).casefold()
            for number, option in enumerate(pending.options, start=1):
                if text in (str(number), option.value.casefold(), option.label.casefold()):
                    return option.value
            if text in engine.YES_WORDS and len(pending.options) == 2:
                return pending.options[0].value
            if text in ("no", "n", "not now") and len(pending.options) == 2:
                return pending.options[1].value
        return None

    async def _answer_pending(
        self, session: Session, pending: PendingChoice, value: str
    ) -> Outcome:
        session.pending = None
        if pending.question.startswith(CASE_QUESTION):
            press = ChoiceMade(
                event_id=f"pending:{pending.token}:{value}",
                person=session.person,
                question=pending.question,
                values=(value,),
                token=pending.token,
            )
            return await casework.press(self, session, press)
        if pending.question == "checkin-note":
            return await casework.checkin_note(self, session, pending, value)
        if pending.question == "who-manager":
            named = await self._name_manager(session, value, pending.context.get("reference"))
            if casework.manager_from_text(value, session.person) is None:
                session.pending = pending  # not understood: ask again, keep the question
                named.replies.append(self._pending_reply(pending))
            return named
        if pending.question == "resume":
            draft = session.drafts.get(REPORT.id)
            if value == "resume" and draft is not None:
                return self._resume(session, draft)
            session.drafts.pop(REPORT.id, None)
            return self._start(session, REPORT, lead=[Text(text="The old draft is discarded.")])
        if pending.question == "reflect-offer":
            ref = pending.context.get("reference", "")
            report = await self._own_report(session.person, ref, Action.REFLECT)
            if value == "now" and report is not None:
                return self._start_about(session, REFLECTION, report)
            return Outcome(
                [
                    Text(
                        text=f"That's fine. Whenever you want to, say {self.command_prefix(session.person)}reflect {ref}. "
                        "Look after yourself."
                    )
                ],
                session,
            )
        if pending.question == "pick-report":
            flow = UPDATE if pending.context.get("flow") == UPDATE.id else REFLECTION
            action = Action.UPDATE if flow is UPDATE else Action.REFLECT
            report = await self._own_report(session.person, value, action)
            if report is not None:
                return self._start_about(session, flow, report)
        return Outcome([self._help_reply(session)], session)

    # ----------------------------------------------------------------- events

    def _draft_event(self, person: PersonRef, draft: Draft, kind: EventKind) -> DomainEvent:
        return DomainEvent(
            kind=kind,
            at=self.clock(),
            reporter=person,
            risk=RiskLevel.CRITICAL if kind is EventKind.RISK_CRITICAL else None,
            source="draft",
            draft_id=draft.id,
        )

    def _report_event(self, report: Report, kind: EventKind) -> DomainEvent:
        return DomainEvent(
            kind=kind,
            at=self.clock(),
            reporter=report.reporter,
            reference=report.reference,
            risk=report.risk,
        )


def _as_report(report: Report, update: UpdateAnswers) -> ReportAnswers:
    """An update assessed as a report of its own, sharing the original's context."""
    return ReportAnswers.model_validate(
        {**update.model_dump(), "affected": report.answers.affected}
    )


def _report_label(report: Report) -> str:
    kinds = ", ".join(ABUSE_KIND_LABELS[k].split(" (")[0] for k in report.answers.kinds[:2])
    more = "…" if len(report.answers.kinds) > 2 else ""
    return f"{report.reference} ({report.filed_at:%d %b}): {kinds}{more}"[:75]
