"""A worker's own reports: starting and filing one, adding updates and
reflections, listing them, sharing one with her manager, naming her manager.

Each function takes the services, her session and her input, and returns an
`Outcome`; `bot.conversation.routes` says which input reaches which.
"""

from __future__ import annotations

from collections.abc import Callable
from itertools import count
from typing import Any

from bot import casework
from bot.access import Action
from bot.cases import SHARE_QUESTION, refused
from bot.conversation.session import (
    Ask,
    ask,
    help_reply,
    pending_reply,
    resume,
    start,
    with_current,
)
from bot.engine import Draft
from bot.evidence.intake import add_to_log, from_answers
from bot.flow import Flow
from bot.guidance import Audience as GuidanceAudience
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
from bot.services import Services
from bot.session import PendingChoice, Session
from bot.team import set_managers
from bot.triage import assess
from bot.when import day
from flows import REFLECTION, REPORT, UPDATE


def report_command(s: Services, session: Session) -> Outcome:
    draft = session.drafts.get(REPORT.id)
    if draft is None:
        return start(s, session, REPORT)
    if session.active == REPORT.id and not draft.paused:
        return with_current(s, session, [Text(text="Let's carry on with your report.")])
    started = day(draft.started_at, s.tz)
    return ask(
        s,
        session,
        Ask.RESUME,
        f"You have an unfinished report, started {started}. Would you like to carry on "
        "with it, or start a new one? Starting again discards the draft.",
        [
            Option(value="resume", label="Carry on with my draft"),
            Option(value="restart", label="Start a new report"),
        ],
    )


async def finish_report(s: Services, session: Session, draft: Draft) -> Outcome:
    """The worker confirmed her report: it is filed when the outcome is written
    (the store chooses its number; `bot.app.Harbour`)."""
    return Outcome([], session, file_from=draft)


async def finish_about_report(s: Services, session: Session, draft: Draft) -> Outcome:
    """An update or reflections confirmed: added to the report they are about."""
    report = await s.store.get_report(draft.subject or "")
    if report is None:  # deleted meanwhile; say so rather than lose the answers silently
        return Outcome(
            [Notice(level=NoticeLevel.ERROR, text="I couldn't find that report any more.")],
            session,
        )
    now = s.clock()
    if draft.flow == REFLECTION.id:
        report.reflection = REFLECTION.typed(draft.answers)
        report.reflection_draft_id = draft.id
        replies: list[Reply] = [
            REFLECTION.summary(report.reflection, s.ctx),
            Notice(
                level=NoticeLevel.SUCCESS,
                text=f"Saved with {report.reference}. You can change them any time with "
                f"{s.command_prefix(report.reporter)}reflect {report.reference}.",
            ),
        ]
        return Outcome(replies, session, report=report)
    update = UPDATE.typed(draft.answers)
    before = report.risk
    if all(u.id != draft.id for u in report.updates):
        report.updates.append(ReportUpdate(id=draft.id, at=now, answers=update))
        # Its links and files join the case's evidence log.
        found = from_answers(update, by=report.reporter, at=now, ids=_item_ids(draft))
        report.evidence = add_to_log(report.evidence, found)
    assessment = assess(
        report.answers, updates=[_as_report(report, u.answers) for u in report.updates]
    )
    report.risk, report.risk_reasons = assessment.level, list(assessment.reasons)
    events = [s.report_event(report, EventKind.REPORT_UPDATED)]
    if report.risk is RiskLevel.CRITICAL and before is not RiskLevel.CRITICAL:
        events.append(s.report_event(report, EventKind.RISK_CRITICAL))
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


def make_report(
    s: Services, person: PersonRef, draft: Draft, seq: int, reference: str
) -> tuple[Report, list[DomainEvent]]:
    answers = REPORT.typed(draft.answers)
    assessment = assess(answers)
    now = s.clock()
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
        managers=[m.key for m in s.access.current_managers(person)],
    )
    # Her links and files start the case's evidence log.
    report.evidence = add_to_log([], from_answers(answers, by=person, at=now, ids=_item_ids(draft)))
    # Counted in the figures only if she is told so now, as she files it.
    report.counted_while_private = answers.audience is Audience.ONLY_ME and s.figures.count_only_me
    if answers.audience is Audience.LEADS_ONLY:
        # Remembered for good: a later change of manager or a share must not
        # let a manager she kept out back in as a safety lead.
        report.kept_out = list(report.managers)
    report.log(now, "filed", person.key)
    events = [s.report_event(report, EventKind.REPORT_FILED)]
    if report.risk is RiskLevel.CRITICAL and "immediate-danger" not in draft.effects_done:
        events.append(s.report_event(report, EventKind.RISK_CRITICAL))
    return report, events


def ask_manager(s: Services, session: Session, reference: str) -> Outcome:
    pending = PendingChoice(
        question=Ask.WHO_MANAGER.value,
        kind="person",
        token=s.ids(),
        prompt="I don't know who your manager is yet. Who should I tell about this report? "
        "I'll remember for next time.",
        options=[],
        context={"reference": reference},
    )
    session.pending = pending
    return Outcome([pending_reply(pending)], session)


async def name_manager(s: Services, session: Session, text: str, reference: str | None) -> Outcome:
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
    if s.directory.set_by_admin(session.person):
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
    await set_managers(s, session.person, [manager], by=session.person)
    replies: list[Reply] = [
        Notice(level=NoticeLevel.SUCCESS, text="Thank you, I'll remember that.")
    ]
    if reference is None:
        # Named outside the question: the newest open report still waiting for
        # a manager is the one she means.
        waiting = [
            r
            for r in await own_reports(s, session.person)
            if r.manager_may_see and not r.managers and r.status is not ReportStatus.CLOSED
        ]
        reference = waiting[0].reference if waiting else None
    report = await own_report(s, session.person, reference or "", Action.SHARE)
    if report is None or not report.manager_may_see or report.managers:
        return Outcome(replies, session)
    report.managers = [manager.key]
    report.log(s.clock(), "manager-named", session.person.key)
    replies.append(Text(text=f"I'll let them know about {report.reference} privately."))
    replies += reflect_offer(s, session, report).replies
    events = [s.report_event(report, EventKind.MANAGER_NAMED)]
    return Outcome(replies, session, events, report=report)


def reflect_offer(s: Services, session: Session, report: Report) -> Outcome:
    """Offer the reflective questions. Not straight after a high or critical
    report: questions about the poster's side of things are for later, when
    she chooses (one line says how), never as the next thing she reads."""
    reference = report.reference
    if report.risk in (RiskLevel.HIGH, RiskLevel.CRITICAL):
        prefix = s.command_prefix(session.person)
        return Outcome(
            [
                Text(
                    text="If and when it would help, there are some reflective questions you "
                    f"can answer just for yourself: say {prefix}reflect {reference}. They're "
                    "for you, never to excuse anyone. There's no hurry."
                )
            ],
            session,
        )
    return ask(
        s,
        session,
        Ask.REFLECT_OFFER,
        "Some people find it helps to think it through with a few reflective questions. "
        "Would you like to do that now? It's optional, and you can come back to it any time.",
        [
            Option(value="now", label="Yes, now"),
            Option(value="later", label="Not now"),
        ],
        context={"reference": reference},
    )


def filed_replies(s: Services, report: Report) -> list[Reply]:
    audience = report.answers.audience or Audience.MANAGER_AND_LEADS
    manager = (
        "I'll let your manager know privately"
        if report.managers
        else "I don't know who your manager is yet, so I'll ask you in a moment"
    )
    who = {
        Audience.MANAGER_AND_LEADS: f"{manager}, and the safety leads will get an alert with "
        "only the reference and how serious it is.",
        Audience.LEADS_ONLY: "Your manager won't be told. The safety leads will get an "
        "alert with only the reference and how serious it is.",
        Audience.ONLY_ME: "It's kept as your own record: nobody else is told unless someone "
        "is in immediate danger. You can share it later."
        + (
            " It is counted, anonymously, in the agency's figures (how many reports, of "
            "which kinds: never what you wrote or who you are)."
            if report.counted_while_private
            else ""
        ),
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
                text="If you or anyone else is in danger now, please call the emergency "
                "services first.",
            )
        )
    replies.append(
        Text(
            text="Thank you for telling me. None of this is your fault, and you don't have "
            "to deal with it alone."
        )
    )
    items = s.guidance_for(report, GuidanceAudience.WORKER)
    if items:
        prefix = s.command_prefix(report.reporter)
        replies.append(
            SummaryCard(
                title="Some guidance for now",
                fields=tuple(
                    SummaryField(label=i.title, value=s.library.fill(i.summary)) for i in items
                ),
                footer=f"More on each: {prefix}guidance "
                + f", {prefix}guidance ".join(i.id for i in items)
                + f". Everything: {prefix}guidance.",
            )
        )
    return replies


async def reports_card(s: Services, person: PersonRef) -> SummaryCard | Text:
    """A person's own reports, newest first (read-only: for "mine" and home tabs)."""
    reports = await own_reports(s, person)
    if not reports:
        return Text(
            text=f"You haven't filed any reports yet. Say {s.command_prefix(person)}report to start one."
        )
    rows = []
    for r in reports[:25]:
        n = len(r.updates)
        extras = [f"{n} update" + ("s" if n > 1 else "")] if n else []
        if r.reflection:
            extras.append("reflections saved")
        detail = (
            f"{day(r.filed_at, s.tz)} · {r.risk.value} risk · {r.status.value.replace('_', ' ')}"
        )
        rows.append(SummaryField(label=r.reference, value=" · ".join([detail, *extras])))
    footer = f"Showing the newest 25 of {len(reports)}." if len(reports) > 25 else ""
    return SummaryCard(title="Your reports", fields=tuple(rows), footer=footer)


async def mine(s: Services, session: Session) -> Outcome:
    replies: list[Reply] = [await reports_card(s, session.person)]
    if REPORT.id in session.drafts:
        prefix = s.command_prefix(session.person)
        replies.append(
            Text(
                text=f"You also have a report in progress: say {prefix}report to carry on with it."
            )
        )
    return with_current(s, session, replies)


async def about_report(s: Services, session: Session, flow: Flow[Any], args: str) -> Outcome:
    """`update` or `reflect`, with a reference or choosing among her reports."""
    action = Action.UPDATE if flow is UPDATE else Action.REFLECT
    ref = args.split()[0] if args.split() else ""
    if ref:
        report = await own_report(s, session.person, ref, action)
        if report is None:
            return with_current(
                s,
                session,
                [
                    Notice(
                        level=NoticeLevel.WARNING,
                        text="I couldn't find a report of yours with that reference. "
                        f"References look like HB-2026-0042; say {s.command_prefix(session.person)}mine to see yours.",
                    )
                ],
            )
        return start_about(s, session, flow, report)
    reports = await own_reports(s, session.person)
    if not reports:
        return with_current(
            s,
            session,
            [
                Text(
                    text=f"You haven't filed any reports yet. Say {s.command_prefix(session.person)}report to start one."
                )
            ],
        )
    if len(reports) == 1:
        return start_about(s, session, flow, reports[0])
    verb = "add to" if flow is UPDATE else "reflect on"
    return ask(
        s,
        session,
        Ask.PICK_REPORT,
        f"Which report would you like to {verb}?",
        [Option(value=r.reference, label=_report_label(r)) for r in reports[:10]],
        context={"flow": flow.id},
    )


def start_about(s: Services, session: Session, flow: Flow[Any], report: Report) -> Outcome:
    lead: list[Reply] = [Text(text=f"This is about {report.reference}.")]
    if flow is REFLECTION:
        existing = session.drafts.get(REFLECTION.id)
        if existing is not None and existing.subject == report.reference:
            return resume(s, session, existing)
        answers = report.reflection.model_dump(mode="json") if report.reflection else None
        return start(s, session, flow, subject=report.reference, answers=answers, lead=lead)
    existing = session.drafts.get(UPDATE.id)
    if existing is not None and existing.subject == report.reference:
        return resume(s, session, existing)
    return start(s, session, flow, subject=report.reference, lead=lead)


async def own_reports(s: Services, person: PersonRef) -> list[Report]:
    """A person's own reports, newest first, as the access policy lets her see them
    (for "mine", home tabs and choosing a report)."""
    reports = await s.store.reports_by(person)
    return [r for r in reports if s.access.decide(person, Action.VIEW, r)]


async def own_report(
    s: Services, person: PersonRef, ref: str, action: Action = Action.UPDATE
) -> Report | None:
    """The report, if this person may do this to it as its reporter. Someone
    else's report is "not found" too: its existence is not ours to reveal."""
    if parse_reference(ref) is None:
        return None
    report = await s.store.get_report(ref)
    if report is None:
        return None
    if not s.access.decide(person, action, report):
        await s.store.update_report(report.reference, refused(person, action, s.clock()))
        return None
    return report


async def share(s: Services, session: Session, ref: str) -> Outcome:
    """The worker shares one of her reports with her manager as the directory
    names them now (after a change of manager, or a report she kept back)."""
    person = session.person
    report = await own_report(s, person, ref, Action.SHARE)
    prefix = s.command_prefix(person)
    if report is None:
        return with_current(
            s,
            session,
            [
                Notice(
                    level=NoticeLevel.WARNING,
                    text="I couldn't find an open report of yours with that reference. "
                    f"Say {prefix}mine to see yours.",
                )
            ],
        )
    managers = s.access.current_managers(person)
    if not managers:
        return with_current(
            s,
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
        report.answers = report.answers.model_copy(update={"audience": Audience.MANAGER_AND_LEADS})
    report.log(s.clock(), "shared", person.key)
    events = [s.report_event(report, EventKind.MANAGER_NAMED)]
    replies: list[Reply] = [
        Notice(
            level=NoticeLevel.SUCCESS,
            text=f"Shared: your manager can now see {report.reference}, and I'm letting "
            "them know privately. The safety leads can see it too.",
        )
    ]
    return Outcome(replies, session, events, report=report)


async def answer_resume(
    s: Services, session: Session, pending: PendingChoice, value: str
) -> Outcome:
    draft = session.drafts.get(REPORT.id)
    if value == "resume" and draft is not None:
        return resume(s, session, draft)
    session.drafts.pop(REPORT.id, None)
    return start(s, session, REPORT, lead=[Text(text="The old draft is discarded.")])


async def answer_who_manager(
    s: Services, session: Session, pending: PendingChoice, value: str
) -> Outcome:
    named = await name_manager(s, session, value, pending.context.get("reference"))
    if casework.manager_from_text(value, session.person) is None:
        session.pending = pending  # not understood: ask again, keep the question
        named.replies.append(pending_reply(pending))
    return named


async def answer_reflect_offer(
    s: Services, session: Session, pending: PendingChoice, value: str
) -> Outcome:
    ref = pending.context.get("reference", "")
    report = await own_report(s, session.person, ref, Action.REFLECT)
    if value == "now" and report is not None:
        return start_about(s, session, REFLECTION, report)
    return Outcome(
        [
            Text(
                text=f"That's fine. Whenever you want to, say "
                f"{s.command_prefix(session.person)}reflect {ref}. Look after yourself."
            )
        ],
        session,
    )


async def answer_pick_report(
    s: Services, session: Session, pending: PendingChoice, value: str
) -> Outcome:
    flow = UPDATE if pending.context.get("flow") == UPDATE.id else REFLECTION
    action = Action.UPDATE if flow is UPDATE else Action.REFLECT
    report = await own_report(s, session.person, value, action)
    if report is not None:
        return start_about(s, session, flow, report)
    return Outcome([help_reply(s, session)], session)


async def share_button(s: Services, session: Session, event: ChoiceMade) -> Outcome:
    """The worker's answer to "share it with your new manager?" after a change of manager."""
    ref = event.question[len(SHARE_QUESTION) :]
    if event.values[:1] == ("share",):
        return await share(s, session, ref)
    return Outcome([Text(text=f"All right: {ref} stays as it is.")], session)


def _item_ids(draft: Draft) -> Callable[[], str]:
    """Ids for the evidence items a draft gives, the same each time it is
    decided (a rerun after a stale write adds nothing twice)."""
    numbers = count(1)
    return lambda: f"{draft.id}.{next(numbers)}"


def _as_report(report: Report, update: UpdateAnswers) -> ReportAnswers:
    """An update assessed as a report of its own, sharing the original's context."""
    return ReportAnswers.model_validate(
        {**update.model_dump(), "affected": report.answers.affected}
    )


def _report_label(report: Report) -> str:
    kinds = ", ".join(ABUSE_KIND_LABELS[k].split(" (")[0] for k in report.answers.kinds[:2])
    more = "…" if len(report.answers.kinds) > 2 else ""
    return f"{report.reference} ({report.filed_at:%d %b}): {kinds}{more}"[:75]
