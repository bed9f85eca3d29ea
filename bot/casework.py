"""The manager's and safety lead's side of a conversation with Harbour: pressing
a button on an alert, the short case forms, `cases`, naming a manager, and the
administrator's `admin` and `whoami` commands.

Every function here is a handler in `bot.conversation.routes`: it gets the
services, the person's session (loaded and locked) and their input, and
returns an Outcome for `bot.app.Harbour` to write.
"""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from bot import checkins
from bot.access import CASE_TEAM_ACTIONS, Action, CaseView, Decision, Refusal
from bot.cases import (
    CASE_QUESTION,
    STATUS_WORDS,
    action_options,
    apply,
    kinds_text,
    status_words,
)
from bot.conversation.session import Ask, pending_reply, start, typed_option
from bot.directory import describe, parse_person
from bot.engine import Draft
from bot.evidence.intake import evidence_counts
from bot.models import (
    ChannelRegistered,
    ChoiceMade,
    ChoiceQuestion,
    Notice,
    NoticeLevel,
    Option,
    PersonRef,
    Refresh,
    Reply,
    Shown,
    SummaryCard,
    SummaryField,
    Text,
)
from bot.outcome import Outcome
from bot.reports import CaseChange, DomainEvent, EventKind, Report, ReportStatus, parse_reference
from bot.services import Services
from bot.session import PendingChoice, Session
from bot.store import RecordKind
from bot.team import set_managers
from bot.when import Unclear, day, local, parse_when
from flows.case import CASE_ACTION, CASE_CHECKINS, CASE_CLOSE, CASE_NOTE, choice_words
from flows.report import AFFECTED_OPTIONS, FREQUENCY_OPTIONS, POSTER_OPTIONS, STARTED_OPTIONS
from flows.steps import DETAIL_OPTIONS, PLATFORM_OPTIONS

CASE_FLOWS = {
    Action.NOTE: CASE_NOTE,
    Action.RECORD_ACTION: CASE_ACTION,
    Action.CLOSE: CASE_CLOSE,
    Action.SCHEDULE_CHECKINS: CASE_CHECKINS,
}
CASE_FLOW_IDS = frozenset(flow.id for flow in CASE_FLOWS.values())
DANGER_QUESTION = "danger:"
"""The Claim on an immediate-danger alert sent before the report exists
answers `danger:<draft id>`."""
NOT_FOUND = (
    "I couldn't find a case with that reference that you can see or act on, so nothing was "
    "changed. If you think you should have access, ask a Harbour administrator."
)
"""The same words whether the case does not exist or is not this person's to
see, so a reference cannot be probed."""
REFUSED = (
    "Only the worker's manager or a safety lead can do that, so nothing was changed. "
    "If you think you should be able to, ask a Harbour administrator."
)


def refusal(
    h: Services,
    session: Session,
    report: Report | None,
    who: PersonRef,
    action: str,
    why: Decision,
    *,
    not_allowed: str = REFUSED,
) -> Outcome:
    """Say no kindly, change nothing, and write the refusal (without content) in
    the case's timeline when it was about access. `not_allowed` is what one
    who sees the case but may not do this is told."""
    if why.refusal in (Refusal.NOT_FOUND, Refusal.NOT_ALLOWED) and report is not None:
        report.log(h.clock(), "refused", who.key, action)
        keep: Report | None = report
    else:
        keep = None
    ref = report.reference if report is not None else "That case"
    text = {
        Refusal.NOT_FOUND: NOT_FOUND,
        Refusal.NOT_ALLOWED: not_allowed,
        Refusal.CLOSED: f"{ref} is already closed.",
        Refusal.ALREADY_CLAIMED: f"{ref} has already been claimed.",
        Refusal.ALREADY_ACKNOWLEDGED: f"{ref} has already been acknowledged.",
        None: NOT_FOUND,
    }[why.refusal]
    level = NoticeLevel.WARNING if why.refusal is Refusal.NOT_ALLOWED else NoticeLevel.INFO
    return Outcome([Notice(level=level, text=text)], session, report=keep)


NOT_A_CASE = Decision(False, Refusal.NOT_FOUND)


def _labels(options: tuple[Option, ...], values: list[str]) -> str:
    names = {o.value: o.label for o in options}
    return ", ".join(names.get(v, v) for v in values) or "Not stated"


def case_card(report: Report, view: CaseView, tz: ZoneInfo) -> SummaryCard:
    """A case in a private message. The case team sees everything the worker
    shared and its own notes; the worker sees her report, its status and what
    was done for her, never the case team's notes."""
    a = report.answers
    rows = [
        SummaryField(label="Risk", value=f"{report.risk.value}: " + " ".join(report.risk_reasons)),
        SummaryField(label="Kind of abuse", value=kinds_text(report)),
        SummaryField(label="Someone in immediate danger", value="Yes" if a.in_danger else "No"),
        SummaryField(label="Who is affected", value=_labels(AFFECTED_OPTIONS, a.affected)),
        SummaryField(label="Status", value=STATUS_WORDS[report.status]),
    ]
    if a.details_exposed:
        rows.append(
            SummaryField(
                label="Personal details posted", value=_labels(DETAIL_OPTIONS, a.details_exposed)
            )
        )
    if a.poster:
        rows.append(
            SummaryField(label="Who is behind it", value=_labels(POSTER_OPTIONS, [a.poster]))
        )
    if a.started or a.frequency:
        when = [
            _labels(STARTED_OPTIONS, [a.started]) if a.started else "",
            _labels(FREQUENCY_OPTIONS, [a.frequency]) if a.frequency else "",
        ]
        rows.append(
            SummaryField(label="Since when, how often", value=" · ".join(w for w in when if w))
        )
    if a.platforms:
        rows.append(SummaryField(label="Where", value=_labels(PLATFORM_OPTIONS, a.platforms)))
    if a.links:
        rows.append(SummaryField(label="Links", value="\n".join(a.links)))
    if a.evidence:
        rows.append(SummaryField(label="Evidence kept", value=a.evidence))
    if report.evidence:  # how much, never what: counts only
        rows.append(SummaryField(label="Evidence log", value=evidence_counts(report)))
    if a.description:
        rows.append(SummaryField(label="In their words", value=a.description))
    shown = ("note", "action", "closed") if view is CaseView.CASE_TEAM else ("action", "closed")
    entries = [e for e in report.timeline if e.action in shown][-5:]
    if view is CaseView.REPORTER:
        done = [
            f"{day(e.at, tz)} {ENTRY_WORDS[e.action]}: {e.detail}".rstrip(": ") for e in entries
        ]
        if report.acknowledged_by:
            done.insert(0, "Your manager or a safety lead has acknowledged it.")
        if report.claimed_by:
            done.insert(0, "A safety lead has taken it on.")
        if done:
            rows.append(SummaryField(label="What has been done", value="\n".join(done)))
        return SummaryCard(
            title=f"{report.reference}, filed {day(report.filed_at, tz)}",
            fields=tuple(rows),
            footer=f"To see who has opened it, say: audit {report.reference}",
            case=report.reference,
        )
    if entries:
        rows.append(
            SummaryField(
                label="Latest on the case",
                value="\n".join(f"{local(e.at, tz)} {e.action}: {e.detail}" for e in entries),
            )
        )
    return SummaryCard(
        title=f"{report.reference}, filed {local(report.filed_at, tz)}",
        fields=tuple(rows),
        footer="Confidential: please don't forward or share this outside the people supporting "
        "the worker.",
        case=report.reference,
    )


ENTRY_WORDS = {"action": "Action taken", "closed": "Closed"}


def case_event(h: Services, report: Report, kind: EventKind, action: Action) -> DomainEvent:
    return DomainEvent(
        kind=kind,
        at=h.clock(),
        reporter=report.reporter,
        reference=report.reference,
        risk=report.risk,
        change=CaseChange(action.value),
    )


def _action(value: str) -> Action | None:
    try:
        return Action(value)
    except ValueError:
        return None


async def press(h: Services, session: Session, event: ChoiceMade) -> Outcome:
    """A button on an alert (or a typed choice): acknowledge, claim, escalate,
    or open a short form. Decided for whoever pressed, never for whoever the
    message was sent to."""
    who = event.person
    report = await h.store.get_report(event.question[len(CASE_QUESTION) :])
    action = _action(event.values[0] if event.values else "")
    if report is None:
        return refusal(h, session, None, who, "", NOT_A_CASE)
    seen = h.access.decide(who, Action.VIEW, report)
    if not seen:  # first, so a forged button can't tell a real reference from a wrong one
        return refusal(h, session, report, who, action.value if action else "", seen)
    if action is None or action not in CASE_TEAM_ACTIONS:
        return Outcome([Notice(text="I couldn't read that button press.")], session)
    decision = h.access.decide(who, action, report)
    if decision.refusal in (Refusal.CLOSED, Refusal.ALREADY_CLAIMED, Refusal.ALREADY_ACKNOWLEDGED):
        # A late press (someone else got there first): the alert shows how the
        # case stands now, with what is still open to her.
        said = refusal(h, session, report, who, action.value, decision)
        text = " ".join(r.text for r in said.replies if isinstance(r, Notice))
        return Outcome([alert_status(h, report, who, text)], session)
    if not decision:
        return refusal(h, session, report, who, action.value, decision)
    if action in CASE_FLOWS:
        form = start(h, session, CASE_FLOWS[action], subject=report.reference)
        form.replies.insert(0, alert_status(h, report, who, ""))  # the alert stays whole
        return form
    now = h.clock()
    text = apply(report, action, who, now)
    replies: list[Reply] = [alert_status(h, report, who, text)]
    if action is Action.CLAIM:
        replies.append(case_card(report, CaseView.CASE_TEAM, h.tz))
    kind = EventKind.ESCALATED if action is Action.ESCALATE else EventKind.CASE_CHANGED
    return Outcome(replies, session, [case_event(h, report, kind, action)], report=report)


async def danger_claim(h: Services, session: Session, event: ChoiceMade) -> Outcome:
    """A safety lead claims an immediate-danger alert raised before the report
    was filed: she alone is told, privately, who needs help."""
    who = event.person
    draft_id = event.question[len(DANGER_QUESTION) :]
    alert = await h.store.get_record(RecordKind.DANGER_ALERTS, draft_id) if draft_id else None
    reporter = parse_person(str(alert.get("reporter", ""))) if alert else None
    if (
        alert is None
        or reporter is None
        or not h.access.is_lead(who)
        # Her own manager hears only if she says so (his own alert): not by claiming.
        or who in h.access.current_managers(reporter)
    ):
        return Outcome([Notice(text=NOT_FOUND)], session)
    claimed = alert.get("claimed_by")
    if claimed and claimed != who.key:
        return Outcome(
            [Notice(text="Another safety lead has already claimed this and is contacting them.")],
            session,
        )
    if not claimed:
        alert = {**alert, "claimed_by": who.key, "claimed_at": h.clock().isoformat()}
        await h.store.put_record(RecordKind.DANGER_ALERTS, draft_id, alert)
    return Outcome(
        [
            Notice(
                level=NoticeLevel.DANGER,
                title="Please contact them now",
                text=f"{alert.get('name') or 'The worker'} (Harbour id {alert['reporter']}) has "
                "told Harbour that someone may be in immediate danger. Contact them directly "
                "now. Their report is still being written; it will reach the safety leads "
                "with a reference when it is filed.",
            )
        ],
        session,
    )


def alert_status(h: Services, report: Report, who: PersonRef, done: str) -> Refresh:
    """The alert a manager or lead pressed, as it stands now: the case's status,
    what she just did, and the actions still open to her (never one already
    done, like a second acknowledgement)."""
    status = status_words(report)
    shown: list[Shown] = [
        Notice(
            level=NoticeLevel.SUCCESS if done else NoticeLevel.INFO,
            title=f"{report.reference} · {status}",
            text=done or "Fill in the form below; the case's other actions stay here.",
        )
    ]
    options = action_options(h.access.actions(who, report))
    if options:
        shown.append(
            ChoiceQuestion(
                id=f"{CASE_QUESTION}{report.reference}",
                prompt="What else would you like to do?",
                options=options,
                token=report.reference,
            )
        )
    return Refresh(replies=tuple(shown))


async def finish(h: Services, session: Session, draft: Draft) -> Outcome:
    """A short case form was confirmed: apply it, if the person still may."""
    who = session.person
    report = await h.store.get_report(draft.subject or "")
    action = next(a for a, flow in CASE_FLOWS.items() if flow.id == draft.flow)
    if report is None:
        return refusal(h, session, None, who, action.value, NOT_A_CASE)
    decision = h.access.decide(who, action, report)
    if not decision:
        return refusal(h, session, report, who, action.value, decision)
    now = h.clock()
    answers = CASE_FLOWS[action].typed(draft.answers)
    if action is Action.SCHEDULE_CHECKINS:
        text = _schedule(h, report, answers.what or "1", who, now, between=", ")
        return Outcome([Notice(level=NoticeLevel.SUCCESS, text=text)], session, report=report)
    what = choice_words(CASE_FLOWS[action], answers)
    text = apply(report, action, who, now, what, answers.note or "")
    if action is Action.CLOSE:
        checkins.advance(report, now)  # cancels the check-ins still to come
    return Outcome(
        [Notice(level=NoticeLevel.SUCCESS, text=text)],
        session,
        [case_event(h, report, EventKind.CASE_CHANGED, action)],
        report=report,
    )


async def checkin_press(h: Services, session: Session, event: ChoiceMade) -> Outcome:
    """A worker answering a check-in, or a manager taking a "need to talk now"."""
    who = event.person
    kind, _, rest = event.question.partition(":")
    ref, _, checkin_id = rest.partition(":")
    report = await h.store.get_report(ref)
    value = event.values[0] if event.values else ""
    answering = kind + ":" == checkins.CHECKIN_QUESTION
    action = Action.ANSWER_CHECKIN if answering else Action.TAKE_TALK
    if report is None:
        return refusal(h, session, None, who, action.value, NOT_A_CASE)
    decision = h.access.decide(who, action, report)
    if not decision:
        return refusal(h, session, report, who, action.value, decision)
    now = h.clock()
    if answering:
        said = checkins.choice(value)
        if session.pending is not None and session.pending.question == event.question:
            session.pending = None  # "when shall I ask again?" is answered, by button or typing
        if said is checkins.Choice.NOT_NOW:
            return _when_again(h, session, report, checkin_id)
        text, events = checkins.answer(report, checkin_id, value, now, h.tz)
        replies: list[Reply] = [Notice(level=NoticeLevel.SUCCESS, text=text)]
        answered = [e for e in events if e.kind is EventKind.CHECKIN_ANSWERED]
        if answered:
            session.pending = PendingChoice(
                question=Ask.CHECKIN_NOTE.value,
                kind="text",
                token=h.ids(),
                prompt="If you'd like to add a few words for your manager, type them now. "
                "Otherwise, that's all: you don't need to reply.",
                options=[],
                context={
                    "reference": report.reference,
                    "checkin": answered[0].checkin_id or checkin_id,
                    "asked_at": now.isoformat(),
                },
            )
            replies.append(pending_reply(session.pending))
        return Outcome(replies, session, events, report=report)
    text = checkins.take_talk(report, checkin_id, who.key, now)
    # The alert she pressed keeps what it said, with who has it now.
    asked = Notice(
        level=NoticeLevel.DANGER,
        title=f"Check-in about {report.reference}",
        text="The worker asked to talk now.",
    )
    return Outcome([Refresh(replies=(asked, Notice(text=text)))], session, report=report)


async def when_again_answer(
    h: Services, session: Session, pending: PendingChoice, value: str
) -> Outcome:
    """A typed answer to "When shall I ask again?": as if its button was pressed."""
    press = ChoiceMade(
        event_id=f"pending:{pending.token}:{value}",
        person=session.person,
        question=pending.question,
        values=(value,),
        token=pending.token,
    )
    return await checkin_press(h, session, press)


def _when_again(h: Services, session: Session, report: Report, checkin_id: str) -> Outcome:
    """She said "Not now": ask when to ask again (or to stop), as a one-off
    question so a typed number answers it on every surface. Nothing changes
    until she says."""
    if checkins.waiting(report, checkin_id) is None:
        return Outcome([Notice(text=checkins.ALREADY_ANSWERED)], session)
    session.pending = PendingChoice(
        question=f"{checkins.CHECKIN_QUESTION}{report.reference}:{checkin_id}",
        token=checkin_id,
        prompt=checkins.WHEN_AGAIN_PROMPT,
        options=list(checkins.WHEN_AGAIN),
    )
    return Outcome([pending_reply(session.pending)], session)


TYPED_CHECKIN_WORDS: dict[checkins.Choice, frozenset[str]] = {
    checkins.Choice.TALK: frozenset(
        {"talk", "talk now", "need to talk", "i need to talk", "i need to talk now",
         "i need to talk to someone", "can we talk", "i want to talk"}
    ),
    checkins.Choice.AFFECTED: frozenset(
        {"still affected", "i'm still affected", "im still affected", "affected", "not great",
         "not ok", "not okay", "not good", "not fine", "struggling", "i'm struggling",
         "im struggling", "not really"}
    ),
    checkins.Choice.OK: frozenset(
        {"ok", "okay", "i'm ok", "im ok", "i am ok", "i'm okay", "im okay", "doing ok",
         "doing okay", "i'm doing ok", "im doing ok", "i'm doing okay", "fine", "i'm fine",
         "im fine", "all good", "good", "i'm good", "im good"}
    ),
    checkins.Choice.NOT_NOW: frozenset({"not now", "not right now", "later"}),
    checkins.Choice.LATER_TODAY: frozenset(
        {"later today", "ask me later today", "ask me later", "in a few hours"}
    ),
    checkins.Choice.TOMORROW_MORNING: frozenset(
        {"ask me tomorrow", "ask tomorrow", "not today", "tomorrow morning",
         "ask me tomorrow morning", "ask me in the morning"}
    ),
    checkins.Choice.IN_A_FEW_DAYS: frozenset(
        {"in a few days", "ask me in a few days", "in a couple of days", "ask me next week"}
    ),
    checkins.Choice.STOP: frozenset(
        {"stop these check-ins", "stop these checkins", "stop check-ins", "stop checkins",
         "stop the check-ins", "stop the checkins", "no more check-ins", "no more checkins",
         "please stop the check-ins", "please stop these check-ins"}
    ),
}  # fmt: skip
"""Typed answers to a check-in, as whole messages only: an answer that says
more ("I'm not doing ok") is never matched to a part of it."""


async def typed_checkin_answer(
    h: Services, session: Session, text: str, *, sent_after: datetime | None = None
) -> Outcome | None:
    """A worker answering her check-in by typing, on any surface (the console
    has no buttons). Only when one is waiting, only a whole message that is one
    of its answers (its label, or a phrase above), and with `sent_after`, only
    a check-in sent since then (not an older one she missed)."""
    typed = " ".join(text.casefold().replace("’", "'").split()).strip(".!")
    labels = (*checkins.ANSWERS, *checkins.WHEN_AGAIN)
    value = typed_option(typed, labels) if not typed.isdigit() else None
    value = value or next(
        (v.value for v, said in TYPED_CHECKIN_WORDS.items() if typed in said), None
    )
    if value is None:
        return None  # not an answer: nothing to look up
    person = session.person
    waiting = [
        (r, c)
        for r in await h.store.reports_by(person)
        for c in r.checkins
        if r.status is not ReportStatus.CLOSED
        and (
            (c.state == "sent" and (sent_after is None or (c.sent_at or c.due) > sent_after))
            or (c.state == "missed" and sent_after is None)
        )
    ]
    if not waiting:
        return None
    report, checkin = max(waiting, key=lambda rc: rc[1].sent_at or rc[1].due)
    press = ChoiceMade(
        event_id=f"typed:{checkin.id}:{value}",
        person=person,
        question=f"{checkins.CHECKIN_QUESTION}{report.reference}:{checkin.id}",
        values=(value,),
        token=checkin.id,
    )
    return await checkin_press(h, session, press)


TAKE_TALK_WORDS = ("i'm on it", "im on it", "on it", "i'll call", "i will call", "taking it")


async def typed_take_talk(h: Services, session: Session, text: str) -> Outcome | None:
    """A manager or lead saying "I'm on it" to a worker's "I need to talk now",
    typed (the console, or a message instead of the button): the newest such
    request on a case she may take it for."""
    typed = " ".join(text.casefold().replace("’", "'").split()).strip(".!")
    if typed not in TAKE_TALK_WORDS:
        return None
    who = session.person
    lead = h.access.is_lead(who)
    waiting = [
        (r, c)
        for r in await h.store.open_reports()
        if h.access.decide(who, Action.TAKE_TALK, r)
        for c in r.checkins
        if c.answer == "talk"
        and c.talk_taken_by is None
        # Only a request she was told of: hers to follow (her team, or she asked),
        # or one passed to the safety leads.
        and (
            who.key in r.managers
            or c.by == who.key
            or (lead and any(e.action == "talk-escalated" and e.detail == c.id for e in r.timeline))
        )
    ]
    if not waiting:
        return None
    if len(waiting) > 1:
        refs = ", ".join(sorted({r.reference for r, _ in waiting}))
        text = (
            f'More than one person is waiting to talk ({refs}). Please press "I\'m on it" on '
            f"the alert you're taking, or say cases <reference> to see each."
        )
        return Outcome([Notice(level=NoticeLevel.WARNING, text=text)], session)
    [(report, checkin)] = waiting
    press = ChoiceMade(
        event_id=f"typed-talk:{checkin.id}",
        person=who,
        question=f"{checkins.TALK_QUESTION}{report.reference}:{checkin.id}",
        values=("take",),
        token=checkin.id,
    )
    return await checkin_press(h, session, press)


async def cases(h: Services, session: Session, args: str) -> Outcome:
    """`cases`: the open cases this person looks after (a manager's team's, or
    every one the leads may see for a safety lead); `cases HB-…`: one case,
    as this person may see it, with the actions they may take."""
    who = session.person
    if args.strip():
        report = await h.store.get_report(args.split()[0])
        if report is None:
            return refusal(h, session, None, who, Action.VIEW.value, NOT_A_CASE)
        view = h.access.view(who, report)
        if view is None:
            return refusal(h, session, report, who, Action.VIEW.value, NOT_A_CASE)
        replies: list[Reply] = [case_card(report, view, h.tz)]  # a view: the audit records it
        options = action_options(h.access.actions(who, report))
        if options:
            # Asked like any one-off question, so it can be answered by button or by typing.
            session.pending = PendingChoice(
                question=f"{CASE_QUESTION}{report.reference}",
                token=report.reference,
                prompt="What would you like to do?",
                options=list(options),
            )
            replies.append(pending_reply(session.pending))
        return Outcome(replies, session)
    visible = [r for r in await h.store.open_reports() if h.access.decide(who, Action.LIST, r)]
    if not visible:
        return Outcome([Text(text="There are no open cases for you.")], session)
    prefix = h.command_prefix(who)
    rows = tuple(
        SummaryField(
            label=f"{r.reference} · {r.risk.value} risk",
            value=f"{kinds_text(r)} · {STATUS_WORDS[r.status]}\n{prefix}cases {r.reference}",
        )
        for r in visible[:25]
    )
    title = "Open cases you can see" if h.access.is_lead(who) else "Your team's open cases"
    return Outcome([SummaryCard(title=title, fields=rows)], session)


def whoami(h: Services, session: Session) -> Outcome:
    person = session.person
    return Outcome(
        [
            Text(
                text=f"Your Harbour id is {person.key}. Administrators use ids like this in the "
                "team directory."
            )
        ],
        session,
    )


async def admin(h: Services, session: Session, args: str) -> Outcome:
    """Directory changes in chat, for administrators (HARBOUR_ADMINS), and
    `admin erase <id>` (`bot.privacy.rights`, which answers non-administrators itself)."""
    who = session.person
    subcommand, _, named = args.strip().partition(" ")
    if subcommand.lower() == "erase":
        from bot.privacy import rights  # erasure is a person's right, not a directory change

        return await rights.erase_command(h, session, named)
    if not h.access.is_admin(who):
        return Outcome(
            [
                Notice(
                    level=NoticeLevel.WARNING,
                    text="Only Harbour administrators can change the team directory. Your "
                    f"id is {who.key}; an administrator can add it to HARBOUR_ADMINS.",
                )
            ],
            session,
        )
    words = args.split()
    usage = Notice(
        title="Administration",
        text="admin: show the directory\n"
        "admin manager <worker id> <manager id>: set someone's manager\n"
        "admin lead add <id> / admin lead remove <id>: safety leads\n"
        "admin erase <id>: erase everything Harbour holds about someone (asks first)\n"
        "The safety leads' channel: in that channel, say register safety-leads to Harbour.\n"
        f"Ids look like {example_id(who)} (whoami shows yours).",
    )
    if not words:
        rows = tuple(SummaryField(label=k, value=v) for k, v in describe(h.directory))
        return Outcome([SummaryCard(title="Team directory", fields=rows), usage], session)
    verb, rest = words[0].lower(), words[1:]
    people = [parse_person(w) for w in rest]
    if verb in ("manager", "lead") and who in people[-1:]:
        # Access to reports must not be something an administrator grants herself.
        return Outcome(
            [
                Notice(
                    level=NoticeLevel.WARNING,
                    text="You can't give yourself access to reports (as a safety lead or "
                    "someone's manager). Please ask another administrator, or change the team "
                    "directory file.",
                )
            ],
            session,
        )
    now = h.clock().isoformat()
    if verb == "manager" and len(rest) == 2 and all(people):
        worker, manager = people[0], people[1]
        assert worker is not None and manager is not None
        if worker == manager:
            return Outcome([Notice(text="Someone can't be their own manager.")], session)
        asked = await set_managers(h, worker, [manager], by=who)
        text = f"{manager.key} now manages {worker.key}."
        if asked:
            text += (
                " Any previous manager no longer sees the worker's earlier reports; the worker "
                f"has been asked whether to share {len(asked)} open report(s) with {manager.key}."
            )
        return Outcome([Notice(level=NoticeLevel.SUCCESS, text=text)], session)
    if verb == "lead" and len(rest) == 2 and rest[0] in ("add", "remove") and people[1]:
        person = people[1]
        assert person is not None
        adding = rest[0] == "add"
        await h.store.put_record(
            RecordKind.LEADS, person.key, {"lead": adding, "by": who.key, "at": now}
        )
        (h.directory.leads.add if adding else h.directory.leads.discard)(person.key)
        state = "is now a safety lead" if adding else "is no longer a safety lead"
        return Outcome([Notice(level=NoticeLevel.SUCCESS, text=f"{person.key} {state}.")], session)
    return Outcome(
        [Notice(level=NoticeLevel.WARNING, text="I didn't follow that."), usage], session
    )


async def register_channel(h: Services, session: Session, event: ChannelRegistered) -> Outcome:
    """`register safety-leads`, said in a shared channel on any platform: an
    administrator makes it the safety leads' channel there."""
    who = event.person
    if not h.access.is_admin(who):
        text = (
            "Only Harbour administrators can choose the safety leads' channel. Ask your IT "
            f"team to add your Harbour id ({who.key}) to HARBOUR_ADMINS."
        )
        return Outcome([Notice(level=NoticeLevel.WARNING, text=text)], session)
    platform = who.platform.value
    record = {"channel": event.channel, "by": who.key, "at": h.clock().isoformat()}
    await h.store.put_record(RecordKind.CHANNELS, platform, record)
    h.directory.channels[platform] = event.channel
    text = (
        "Done: this channel will get safety alerts. They only ever say a report's reference, "
        "how serious it is and the kind of abuse, never what happened or who reported it."
    )
    return Outcome([Notice(level=NoticeLevel.SUCCESS, text=text)], session)


def example_id(person: PersonRef) -> str:
    """A Harbour id in the form this person's platform uses, for examples."""
    return f"{person.platform.value}:{person.workspace}:<someone>"


def manager_from_text(text: str, person: PersonRef) -> PersonRef | None:
    """A manager named by typing their Harbour id (pickers send the id too)."""
    found = parse_person(text)
    return found if found != person else None


async def checkin_command(h: Services, session: Session, args: str) -> Outcome:
    """`checkin <worker id> [tomorrow | in 3 days | in 2 weeks | friday | cadence]`;
    `checkin on|off HB-…` is the worker's own switch (`checkins_switch`)."""
    who = session.person
    worker_id, said = [*args.split(maxsplit=1), "", ""][:2]
    if worker_id.casefold() in SWITCH_WORDS:
        return await checkins_switch(h, session, args)
    worker = parse_person(worker_id) if worker_id else None
    if worker is None:
        return Outcome(
            [
                Notice(
                    level=NoticeLevel.WARNING,
                    text="Say who to check in with, and when: for example checkin "
                    f"{example_id(who)} in 3 days, or checkin <id> cadence for days 1, 3 and 7.",
                )
            ],
            session,
        )
    tz = ZoneInfo(h.ctx.timezone)
    now = h.clock()
    when = parse_when(said, now, tz)
    if isinstance(when, Unclear):
        return Outcome([Notice(level=NoticeLevel.WARNING, text=when.message)], session)
    cases = [
        r
        for r in await h.store.open_reports()
        if r.reporter == worker and h.access.decide(who, Action.SCHEDULE_CHECKINS, r)
    ]
    if not cases:
        return Outcome(
            [Notice(text="I couldn't find an open case of theirs that you look after.")], session
        )
    report = cases[-1]
    text = _schedule(h, report, when.cadence, who, now, between="; ")
    return Outcome([Notice(level=NoticeLevel.SUCCESS, text=text)], session, report=report)


def _schedule(
    h: Services, report: Report, cadence: str, who: PersonRef, now: datetime, *, between: str
) -> str:
    """Schedule check-ins on `report`; what to tell whoever asked: when, that
    they keep to working hours, and that they undo her stop if she made one."""
    was_stopped = checkins.stopped(report)
    added = checkins.schedule(report, cadence, who.key, now, h.ids())
    dates = between.join(local(c.due, h.tz) for c in added)
    text = (
        f"Check-ins for {report.reference} scheduled: {dates}. They go out in working hours, "
        "so one due outside them waits for the next working morning. I'll tell you how they "
        "answer."
    )
    if was_stopped:
        text += (
            " They had asked for no more check-ins on this case: these turn them back on, so "
            "please make sure that's what they want. They can stop them again at any time."
        )
    return text


SWITCH_WORDS = {"on": True, "off": False, "stop": False}
"""`checkins on HB-…` / `checkins off HB-…` (or `stop`): the worker's switch."""


async def checkins_switch(h: Services, session: Session, args: str) -> Outcome:
    """`checkins off HB-…` stops the check-ins on her case; `checkins on HB-…`
    brings back the ones still to come. Hers alone: the case team schedules new
    ones instead (which she can ask for)."""
    who = session.person
    words = args.split()
    turn = next((SWITCH_WORDS[w.casefold()] for w in words if w.casefold() in SWITCH_WORDS), None)
    ref = next((w for w in words if parse_reference(w) is not None), None)
    if turn is None or ref is None:
        text = (
            "Say checkins off followed by your report's reference to stop its check-ins (for "
            "example checkins off HB-2026-0042), or checkins on with the reference to have them "
            "again. Say mine to see your references."
        )
        return Outcome([Notice(level=NoticeLevel.WARNING, text=text)], session)
    report = await h.store.get_report(ref)
    if report is None:
        return refusal(h, session, None, who, Action.ANSWER_CHECKIN.value, NOT_A_CASE)
    seen = h.access.decide(who, Action.VIEW, report)
    if not seen:
        return refusal(h, session, report, who, Action.ANSWER_CHECKIN.value, seen)
    decision = h.access.decide(who, Action.ANSWER_CHECKIN, report)
    if not decision:
        only_hers = (
            "Only the worker can stop or restart the check-ins on their case, so nothing was "
            "changed. You can schedule new ones with checkin <their id> in 3 days."
        )
        action = Action.ANSWER_CHECKIN.value
        return refusal(h, session, report, who, action, decision, not_allowed=only_hers)
    now = h.clock()
    if turn:
        text, events = checkins.turn_on(report, who.key, now)
    else:
        text, events = checkins.stop(report, who.key, now)
    return Outcome([Notice(level=NoticeLevel.SUCCESS, text=text)], session, events, report=report)


async def checkin_note(h: Services, session: Session, pending: PendingChoice, note: str) -> Outcome:
    """Words the worker added after answering a check-in: for their manager only."""
    report = await h.store.get_report(pending.context.get("reference", ""))
    if report is None:
        return refusal(h, session, None, session.person, "", NOT_A_CASE)
    decision = h.access.decide(session.person, Action.ANSWER_CHECKIN, report)
    if not decision:
        return refusal(h, session, report, session.person, Action.ANSWER_CHECKIN.value, decision)
    now = h.clock()
    report.log(now, "checkin-note", session.person.key, note)
    checkin = next((c for c in report.checkins if c.id == pending.context.get("checkin")), None)
    if checkin is not None:
        checkin.note = note
    event = DomainEvent(
        kind=EventKind.CHECKIN_NOTE,
        at=now,
        reporter=report.reporter,
        reference=report.reference,
        risk=report.risk,
        checkin_id=pending.context.get("checkin"),
    )
    thanks = Notice(
        level=NoticeLevel.SUCCESS,
        text="Thank you. I'm passing that on to the people supporting you.",
    )
    return Outcome([thanks], session, [event], report=report)
