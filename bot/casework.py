"""The manager's and safety lead's side of a conversation with Harbour: pressing
a button on an alert, the short case forms, `cases`, naming a manager, and the
administrator's `admin` and `whoami` commands.

Every function here is called by `bot.app.Harbour` with the person's session
already loaded and locked, and returns an Outcome for it to write.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from bot import checkins
from bot.cases import (
    ACTIONS_TAKEN,
    CASE_QUESTION,
    CLAIM,
    CLOSE_REASONS,
    MANAGER_ACTIONS,
    STATUS_WORDS,
    apply,
    can_act,
    can_view,
    is_manager,
    kinds_text,
)
from bot.directory import describe, parse_person
from bot.engine import Draft
from bot.models import (
    ChoiceMade,
    Notice,
    NoticeLevel,
    Option,
    PersonRef,
    Reply,
    SummaryCard,
    SummaryField,
    Text,
)
from bot.outcome import Outcome
from bot.reports import DomainEvent, EventKind, Report, ReportStatus
from bot.session import PendingChoice, Session
from flows.case import CASE_ACTION, CASE_CHECKINS, CASE_CLOSE, CASE_NOTE
from flows.report import AFFECTED_OPTIONS
from flows.steps import PLATFORM_OPTIONS

if TYPE_CHECKING:
    from bot.app import Harbour

CASE_FLOWS = {
    "note": CASE_NOTE,
    "action": CASE_ACTION,
    "close": CASE_CLOSE,
    "checkins": CASE_CHECKINS,
}
CASE_FLOW_IDS = frozenset(flow.id for flow in CASE_FLOWS.values())
REFUSED = (
    "Only the worker's manager or a safety lead can do that, so nothing was changed. "
    "If you think you should be able to, ask a Harbour administrator."
)


def _labels(options: tuple[Option, ...], values: list[str]) -> str:
    names = {o.value: o.label for o in options}
    return ", ".join(names.get(v, v) for v in values) or "Not stated"


def case_card(report: Report, *, with_content: bool) -> SummaryCard:
    """A case as its manager or a safety lead sees it, in a private message.
    What happened (links, own words) only when the worker agreed to share it."""
    a = report.answers
    rows = [
        SummaryField(label="Risk", value=f"{report.risk.value}: " + " ".join(report.risk_reasons)),
        SummaryField(label="Kind of abuse", value=kinds_text(report)),
        SummaryField(label="Someone in immediate danger", value="Yes" if a.in_danger else "No"),
        SummaryField(label="Who is affected", value=_labels(AFFECTED_OPTIONS, a.affected)),
        SummaryField(label="Status", value=STATUS_WORDS[report.status]),
    ]
    if with_content:
        if a.platforms:
            rows.append(SummaryField(label="Where", value=_labels(PLATFORM_OPTIONS, a.platforms)))
        if a.links:
            rows.append(SummaryField(label="Links", value="\n".join(a.links)))
        if a.description:
            rows.append(SummaryField(label="In their words", value=a.description))
    notes = [e for e in report.timeline if e.action in ("note", "action", "closed")][-5:]
    if notes:
        rows.append(
            SummaryField(
                label="Latest on the case",
                value="\n".join(f"{e.at:%d %b %H:%M} {e.action}: {e.detail}" for e in notes),
            )
        )
    return SummaryCard(
        title=f"{report.reference}, filed {report.filed_at:%d %b %Y %H:%M}",
        fields=tuple(rows),
        footer="Confidential: please don't forward or share this outside the people supporting "
        "the worker.",
    )


def case_event(h: Harbour, report: Report, kind: EventKind, detail: str = "") -> DomainEvent:
    return DomainEvent(
        kind=kind,
        at=h.clock(),
        reporter=report.reporter,
        reference=report.reference,
        risk=report.risk,
        draft_id=detail or None,
    )


async def press(h: Harbour, session: Session, event: ChoiceMade) -> Outcome:
    """A button on an alert: acknowledge, claim, escalate, or open a short form."""
    who = event.person
    ref = event.question[len(CASE_QUESTION) :]
    action = event.values[0] if event.values else ""
    report = await h.store.get_report(ref)
    if report is None:
        return Outcome([Notice(text="I couldn't find that case.")], session)
    now = h.clock()
    if not can_act(who, report, h.directory, action):
        report.log(now, "refused", who.key, action)
        return Outcome([Notice(level=NoticeLevel.WARNING, text=REFUSED)], session, report=report)
    if report.status is ReportStatus.CLOSED and action != "note":
        return Outcome([Notice(text=f"{report.reference} is already closed.")], session)
    if action in CASE_FLOWS:
        return h.start_flow(session, CASE_FLOWS[action], subject=report.reference)
    if action == "claim" and report.claimed_by:
        return Outcome([Notice(text=f"{report.reference} has already been claimed.")], session)
    if action not in ("ack", "claim", "escalate"):
        return Outcome([Notice(text="I couldn't read that button press.")], session)
    text = apply(report, action, who, now)
    replies: list[Reply] = [Notice(level=NoticeLevel.SUCCESS, text=text)]
    if action == "claim":
        report.log(now, "viewed", who.key)
        replies.append(case_card(report, with_content=True))
    kind = EventKind.ESCALATED if action == "escalate" else EventKind.CASE_CHANGED
    return Outcome(replies, session, [case_event(h, report, kind, action)], report=report)


async def finish(h: Harbour, session: Session, draft: Draft) -> Outcome:
    """A short case form was confirmed: apply it, if the person still may."""
    who = session.person
    report = await h.store.get_report(draft.subject or "")
    action = next(a for a, flow in CASE_FLOWS.items() if flow.id == draft.flow)
    if report is None:
        return Outcome([Notice(text="I couldn't find that case any more.")], session)
    now = h.clock()
    if not can_act(who, report, h.directory, action):
        report.log(now, "refused", who.key, action)
        return Outcome([Notice(level=NoticeLevel.WARNING, text=REFUSED)], session, report=report)
    answers = CASE_FLOWS[action].typed(draft.answers)
    if action == "checkins":
        added = checkins.schedule(report, answers.what or "1", who.key, now, h.ids())
        when = ", ".join(f"{c.due:%a %d %b}" for c in added)
        text = f"Check-ins for {report.reference} scheduled: {when}. I'll tell you how they answer."
        return Outcome([Notice(level=NoticeLevel.SUCCESS, text=text)], session, report=report)
    labels = {o.value: o.label for o in (*ACTIONS_TAKEN, *CLOSE_REASONS)}
    detail = ": ".join(p for p in (labels.get(answers.what or "", ""), answers.note or "") if p)
    text = apply(report, action, who, now, detail)
    if action == "close":
        checkins.advance(report, now)  # cancels the check-ins still to come
    return Outcome(
        [Notice(level=NoticeLevel.SUCCESS, text=text)],
        session,
        [case_event(h, report, EventKind.CASE_CHANGED, action)],
        report=report,
    )


async def checkin_press(h: Harbour, session: Session, event: ChoiceMade) -> Outcome:
    """A worker answering a check-in, or a manager taking a "need to talk now"."""
    who = event.person
    kind, _, rest = event.question.partition(":")
    ref, _, checkin_id = rest.partition(":")
    report = await h.store.get_report(ref)
    value = event.values[0] if event.values else ""
    if report is None:
        return Outcome([Notice(text="I couldn't find that case.")], session)
    now = h.clock()
    if kind + ":" == checkins.CHECKIN_QUESTION:
        if who != report.reporter:
            report.log(now, "refused", who.key, "checkin")
            return Outcome(
                [Notice(level=NoticeLevel.WARNING, text=REFUSED)], session, report=report
            )
        text, events = checkins.answer(report, checkin_id, value, now)
        replies: list[Reply] = [Notice(level=NoticeLevel.SUCCESS, text=text)]
        if events:
            session.pending = PendingChoice(
                question="checkin-note",
                kind="text",
                token=h.ids(),
                prompt="If you'd like to add a few words for your manager, type them now. "
                "Otherwise, that's all: you don't need to reply.",
                options=[],
                context={"reference": report.reference, "checkin": checkin_id},
            )
            replies.append(h.pending_reply(session.pending))
        return Outcome(replies, session, events, report=report)
    if not can_act(who, report, h.directory, "talk"):
        report.log(now, "refused", who.key, "talk")
        return Outcome([Notice(level=NoticeLevel.WARNING, text=REFUSED)], session, report=report)
    text = checkins.take_talk(report, checkin_id, who.key, now)
    return Outcome([Notice(text=text)], session, report=report)


async def cases(h: Harbour, session: Session, args: str) -> Outcome:
    """`cases`: a manager's team's open cases, or every open case for a safety lead;
    `cases HB-…`: one case, for someone allowed to see it."""
    who = session.person
    if args.strip():
        report = await h.store.get_report(args.split()[0])
        if report is None or not can_view(who, report, h.directory):
            return Outcome(
                [Notice(text="I couldn't find a case you're allowed to see with that reference.")],
                session,
            )
        # Everyone who may see the case (worker, their manager, a lead) may see it all.
        report.log(h.clock(), "viewed", who.key)
        replies: list[Reply] = [case_card(report, with_content=True)]
        options = [o for o in MANAGER_ACTIONS if can_act(who, report, h.directory, o.value)]
        if h.directory.is_lead(who) and report.claimed_by is None:
            options.insert(0, CLAIM)
        if options and report.status is not ReportStatus.CLOSED:
            # Asked like any one-off question, so it can be answered by button or by typing.
            session.pending = PendingChoice(
                question=f"{CASE_QUESTION}{report.reference}",
                token=report.reference,
                prompt="What would you like to do?",
                options=options,
            )
            replies.append(h.pending_reply(session.pending))
        return Outcome(replies, session, report=report)
    lead = h.directory.is_lead(who)
    visible = [
        r
        for r in await h.store.open_reports()
        if r.reporter != who and (lead or is_manager(who, r, h.directory))
    ]
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
    title = "All open cases" if lead else "Your team's open cases"
    return Outcome([SummaryCard(title=title, fields=rows)], session)


def whoami(h: Harbour, session: Session) -> Outcome:
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


async def admin(h: Harbour, session: Session, args: str) -> Outcome:
    """Directory changes in chat, for administrators (HARBOUR_ADMINS)."""
    who = session.person
    if who.key not in h.admins and who.user not in h.admins:
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
        "admin channel slack <channel id>: the safety leads' Slack channel\n"
        "Ids look like slack:T0123:U0ALICE (whoami shows yours).",
    )
    if not words:
        rows = tuple(SummaryField(label=k, value=v) for k, v in describe(h.directory))
        return Outcome([SummaryCard(title="Team directory", fields=rows), usage], session)
    verb, rest = words[0].lower(), words[1:]
    people = [parse_person(w) for w in rest]
    now = h.clock().isoformat()
    if verb == "manager" and len(rest) == 2 and all(people):
        worker, manager = people[0], people[1]
        assert worker is not None and manager is not None
        if worker == manager:
            return Outcome([Notice(text="Someone can't be their own manager.")], session)
        await h.set_managers(worker, [manager], by=who)
        return Outcome(
            [Notice(level=NoticeLevel.SUCCESS, text=f"{manager.key} now manages {worker.key}.")],
            session,
        )
    if verb == "lead" and len(rest) == 2 and rest[0] in ("add", "remove") and people[1]:
        person = people[1]
        assert person is not None
        adding = rest[0] == "add"
        await h.store.put_record("leads", person.key, {"lead": adding, "by": who.key, "at": now})
        (h.directory.leads.add if adding else h.directory.leads.discard)(person.key)
        state = "is now a safety lead" if adding else "is no longer a safety lead"
        return Outcome([Notice(level=NoticeLevel.SUCCESS, text=f"{person.key} {state}.")], session)
    if verb == "channel" and len(rest) == 2 and rest[0] == "slack":
        await h.store.put_record(
            "channels", "slack", {"channel": rest[1], "by": who.key, "at": now}
        )
        h.directory.channels["slack"] = rest[1]
        return Outcome(
            [Notice(level=NoticeLevel.SUCCESS, text="Safety leads' Slack channel set.")], session
        )
    return Outcome(
        [Notice(level=NoticeLevel.WARNING, text="I didn't follow that."), usage], session
    )


def manager_from_text(text: str, person: PersonRef) -> PersonRef | None:
    """A manager named by typing their Harbour id (pickers send the id too)."""
    found = parse_person(text)
    return found if found != person else None


WHEN = {"tomorrow": "1", "cadence": "1,3,7", "week": "7"}


async def checkin_command(h: Harbour, session: Session, args: str) -> Outcome:
    """`checkin <worker id> [tomorrow | in 3d | in a week | cadence]`."""
    who = session.person
    words = args.split()
    worker = parse_person(words[0]) if words else None
    if worker is None:
        return Outcome(
            [
                Notice(
                    level=NoticeLevel.WARNING,
                    text="Say who to check in with, and when: for example checkin "
                    "slack:T0123:U0ALICE in 3d, or checkin <id> cadence for days 1, 3 and 7.",
                )
            ],
            session,
        )
    rest = " ".join(words[1:]).lower().replace("days", "d").replace("day", "d")
    digits = "".join(ch for ch in rest if ch.isdigit())
    cadence = next((v for k, v in WHEN.items() if k in rest), None) or (
        digits if digits and 1 <= int(digits) <= 30 else "1"
    )
    cases = [
        r
        for r in await h.store.open_reports()
        if r.reporter == worker and can_act(who, r, h.directory, "checkins")
    ]
    if not cases:
        return Outcome(
            [Notice(text="I couldn't find an open case of theirs that you look after.")], session
        )
    report = cases[-1]
    now = h.clock()
    added = checkins.schedule(report, cadence, who.key, now, h.ids())
    when = ", ".join(f"{c.due:%a %d %b}" for c in added)
    text = f"Check-ins for {report.reference} scheduled: {when}. I'll tell you how they answer."
    return Outcome([Notice(level=NoticeLevel.SUCCESS, text=text)], session, report=report)


async def checkin_note(h: Harbour, session: Session, pending: PendingChoice, note: str) -> Outcome:
    """Words the worker added after answering a check-in: for their manager only."""
    report = await h.store.get_report(pending.context.get("reference", ""))
    if report is None or report.reporter != session.person:
        return Outcome([Notice(text="I couldn't find that case.")], session)
    now = h.clock()
    report.log(now, "checkin-note", session.person.key, note)
    event = DomainEvent(
        kind=EventKind.CHECKIN_NOTE,
        at=now,
        reporter=report.reporter,
        reference=report.reference,
        risk=report.risk,
        draft_id=pending.context.get("checkin"),
    )
    thanks = Notice(
        level=NoticeLevel.SUCCESS, text="Thank you. I've passed that on to your manager."
    )
    return Outcome([thanks], session, [event], report=report)
