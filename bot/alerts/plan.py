"""Who gets what: pure planners from a domain event (and its case) to deliveries.

Nothing here sends, reads the store or awaits: the sender gathers what the
planners need (`Reach`), asks them, and delivers what they return. So every
rule about who hears what is read, and tested, as plain data.

Channel messages carry only a reference, the risk and the kinds of abuse, with
a Claim button; what happened goes only to the people the worker chose, in
private messages.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from zoneinfo import ZoneInfo

from bot import checkins
from bot.access import Access, CaseView, Role
from bot.alerts.messenger import Recipient
from bot.cases import CASE_QUESTION, CLAIM, SHARE_QUESTION, action_options, channel_card
from bot.casework import DANGER_QUESTION, case_card
from bot.directory import parse_person
from bot.models import (
    ChoiceQuestion,
    Notice,
    NoticeLevel,
    Option,
    PersonRef,
    Platform,
    Reply,
    SummaryCard,
    SummaryField,
)
from bot.reports import (
    CHECKIN_EVENTS,
    CaseChange,
    DomainEvent,
    EventKind,
    FollowUp,
    Report,
    ReportStatus,
    RiskLevel,
)
from bot.when import local

DUBLIN = ZoneInfo("Europe/Dublin")
"""The default organisation time zone (`HARBOUR_TIMEZONE`)."""
ANYONE = "A member of your team"
"""How a worker is named when Harbour has no display name for her."""


class Card(StrEnum):
    """How a delivery treats the case's card in the leads' channel (one message
    per case, edited in place as the case moves on, so the channel reads as a
    list of cases, not a log)."""

    NONE = "none"
    """Not the card: a message of its own."""
    POST_OR_EDIT = "post-or-edit"
    """Edit the card if it was posted, else post it."""
    EDIT_ONLY = "edit-only"
    """A change of status: edit the card if there is one, else nothing."""
    POST_NEW = "post-new"
    """Post it afresh (the leads must notice) and edit that one from now on."""


@dataclass(frozen=True)
class Delivery:
    to: Recipient
    replies: tuple[Reply, ...]
    purpose: str
    card: Card = Card.NONE
    worker_expects: bool = False
    """The worker was told this person would hear: if it cannot get through,
    she is told so."""


@dataclass(frozen=True)
class Reach:
    """What the planners know about the world, gathered by the sender."""

    access: Access
    channels: Mapping[Platform, str] = field(default_factory=dict)
    """The safety leads' channel on each platform that has one set up."""
    platforms: frozenset[Platform] = frozenset()
    """Platforms Harbour can deliver on now."""
    worker_name: str = ANYONE
    manager_guidance: tuple[SummaryField, ...] = ()
    tz: ZoneInfo = DUBLIN
    """The organisation's time zone, for the times people read."""
    manager_withdrawn: bool = False
    """Immediate danger: she has since said her manager must not be told (in
    her draft, or by filing the report for the safety leads only)."""

    def person(self, who: PersonRef | str, role: str) -> Recipient | None:
        """A person to send to. One on a platform Harbour isn't connected to is
        still planned: the sender then retries and reports it, never drops it."""
        person = parse_person(who) if isinstance(who, str) else who
        if person is None:
            return None
        return Recipient(person.platform, "person", person.key, role)

    def worker(self, report: Report) -> Recipient:
        return Recipient(report.reporter.platform, "person", report.reporter.key, "worker")

    def managers(self, report: Report) -> list[Recipient]:
        found = (self.person(p, "manager") for p in self.access.managers_told(report))
        return [r for r in found if r is not None]

    def leads_channel(self, platform: Platform) -> Recipient | None:
        address = self.channels.get(platform) if platform in self.platforms else None
        return Recipient(platform, "channel", address, "safety leads") if address else None

    def leads(self, platform: Platform) -> list[Recipient]:
        """How the safety leads hear about a case from this platform: their
        channel there; with none set up, any leads' channel; else each lead
        privately. (The sender falls back along the same lines on failure.)"""
        channel = self.leads_channel(platform) or next(
            (c for p in sorted(self.channels) if (c := self.leads_channel(p))), None
        )
        if channel is not None:
            return [channel]
        return self.lead_people()

    def leads_of(self, report: Report) -> list[Recipient]:
        """How the safety leads hear about this case. When a lead is someone the
        worker kept out (her manager is a safety lead too), never the channel
        she reads: each of the other leads privately."""
        keys = sorted(self.access.directory.leads)
        people = [p for k in keys if (p := parse_person(k)) is not None]
        if any(Role.EXCLUDED in self.access.roles(p, report) for p in people):
            return [
                r
                for p in people
                if self.access.view(p, report) is CaseView.CASE_TEAM
                and (r := self.person(p, "safety lead")) is not None
            ]
        return self.leads(report.reporter.platform)

    def lead_people(self) -> list[Recipient]:
        found = (self.person(k, "safety lead") for k in sorted(self.access.directory.leads))
        return [r for r in found if r is not None]

    def leads_in_danger(self, reporter: PersonRef) -> list[Recipient]:
        """Who hears of immediate danger before the report exists: the leads as
        usual, unless one of them is her own manager (she may not want him
        told): then each of the other leads privately."""
        managers = {m.key for m in self.access.current_managers(reporter)}
        if not managers & self.access.directory.leads:
            return self.leads(reporter.platform)
        return [r for r in self.lead_people() if r.address not in managers]

    def admins(self, report: Report | None = None) -> list[Recipient]:
        """Harbour's administrators, but never one the worker kept out."""
        found = []
        for key in sorted(self.access.admins):
            person = parse_person(key)
            if person is None:
                continue
            if report is not None and Role.EXCLUDED in self.access.roles(person, report):
                continue
            if (r := self.person(person, "administrator")) is not None:
                found.append(r)
        return found


def plan(event: DomainEvent, report: Report | None, reach: Reach) -> list[Delivery]:
    """Every delivery an event causes."""
    if report is None:
        return _danger_plan(event, reach)
    if event.kind in CHECKIN_EVENTS:
        return _checkin_plan(event, report, reach)
    if event.kind is EventKind.MANAGER_CHANGED:
        return [_share_question(report, reach)]
    if event.kind is EventKind.FOLLOW_UP:
        return _follow_up_plan(event, report, reach)
    return _manager_plan(event, report, reach) + _leads_plan(event, report, reach)


# ---------------------------------------------------------------------- the case team


def _manager_plan(event: DomainEvent, report: Report, reach: Reach) -> list[Delivery]:
    kind = event.kind
    out: list[Delivery] = []
    for manager in reach.managers(report):
        if kind in (EventKind.REPORT_FILED, EventKind.MANAGER_NAMED):
            out.append(
                Delivery(
                    manager,
                    tuple(manager_alert(report, manager, reach)),
                    "alert",
                    worker_expects=True,
                )
            )
        elif kind is EventKind.REPORT_UPDATED:
            lead = Notice(text=f"{report.reference} has a new update from the worker.")
            card = case_card(report, CaseView.CASE_TEAM, reach.tz)
            out.append(Delivery(manager, (lead, card), "update", worker_expects=True))
        elif kind is EventKind.RISK_CRITICAL and report.updates:  # at filing, the alert says so
            lead = Notice(
                level=NoticeLevel.DANGER, text=f"{report.reference} is now assessed as critical."
            )
            card = case_card(report, CaseView.CASE_TEAM, reach.tz)
            out.append(Delivery(manager, (lead, card), "critical alert"))
    if kind is EventKind.CASE_CHANGED and event.change is CaseChange.ACKNOWLEDGE:
        note = Notice(text=f"Your manager has seen {report.reference} and will be in touch.")
        out.append(Delivery(reach.worker(report), (note,), "acknowledgement"))
    return out


def _leads_plan(event: DomainEvent, report: Report, reach: Reach) -> list[Delivery]:
    """The case's card for the safety leads: new when they must act, edited in
    place when only its status moved."""
    if not reach.access.leads_told(report):
        return []
    kind = event.kind
    serious = report.risk in (RiskLevel.HIGH, RiskLevel.CRITICAL)
    no_manager = not report.manager_may_see or not reach.access.managers_told(report)
    if kind is EventKind.MANAGER_NAMED and not serious:
        return []
    act = serious or no_manager or kind is EventKind.ESCALATED
    status_only = kind in (EventKind.CASE_CHANGED, EventKind.REPORT_UPDATED) and not serious
    if not act and not status_only:
        return []
    lead: tuple[Reply, ...] = ()
    mode = Card.EDIT_ONLY if status_only else Card.POST_OR_EDIT
    if kind is EventKind.ESCALATED:
        mode = Card.POST_NEW
        lead = (
            Notice(
                level=NoticeLevel.WARNING,
                text=f"{report.reference} has been escalated to the safety leads.",
            ),
        )
    out = []
    for to in reach.leads_of(report):
        if to.kind == "channel":
            out.append(Delivery(to, (*lead, *channel_alert(report)), "channel alert", mode))
        elif mode is not Card.EDIT_ONLY and kind is not EventKind.CASE_CHANGED:
            # No channel: each lead privately, but not every change of status.
            out.append(Delivery(to, (*lead, *channel_alert(report)), "alert to a safety lead"))
    return out


def _follow_up_plan(event: DomainEvent, report: Report, reach: Reach) -> list[Delivery]:
    ref = report.reference
    step = event.follow_up
    out: list[Delivery] = []
    if step in (FollowUp.LEADS, FollowUp.REMINDER):
        for manager in reach.managers(report):
            note = Notice(
                level=NoticeLevel.WARNING,
                text=f"{ref} hasn't been acknowledged yet, so the safety leads have been told "
                "too. Please acknowledge it when you can.",
            )
            alert = manager_alert(report, manager, reach)[1:]
            out.append(Delivery(manager, (note, *alert), "reminder"))
    if reach.access.leads_told(report):
        words = {
            FollowUp.LEADS: f"Nobody has taken {ref} on yet. Can a safety lead claim it?",
            FollowUp.ADMINS: f"{ref} still hasn't been taken on, so Harbour's administrators "
            "have been told. Can a safety lead claim it now?",
            FollowUp.REMINDER: f"{ref} is critical and still nobody has taken it on. Please "
            "claim it now.",
        }[step or FollowUp.LEADS]
        note = Notice(level=NoticeLevel.WARNING, title="Follow-up", text=words)
        for to in reach.leads_of(report):
            out.append(
                Delivery(
                    to,
                    (note, *channel_alert(report)),
                    "follow-up to the safety leads",
                    Card.POST_NEW if to.kind == "channel" else Card.NONE,
                )
            )
    if step is FollowUp.ADMINS:
        note = Notice(
            level=NoticeLevel.WARNING,
            title="A case nobody has taken on",
            text=f"{ref} ({report.risk.value} risk, filed {local(report.filed_at, reach.tz)}) "
            "hasn't been acknowledged by a manager or claimed by a safety lead. Please make "
            "sure someone picks it up. (As an administrator you don't see its content.)",
        )
        out += [
            Delivery(a, (note,), "follow-up to the administrators") for a in reach.admins(report)
        ]
    return out


def _share_question(report: Report, reach: Reach) -> Delivery:
    ask = ChoiceQuestion(
        id=f"{SHARE_QUESTION}{report.reference}",
        prompt=f"Your manager in Harbour has been changed by an administrator. Your previous "
        f"manager no longer sees {report.reference}. Would you like to share it with your new "
        "manager?",
        options=(
            Option(value="share", label="Share it with my new manager"),
            Option(value="keep", label="Not now"),
        ),
        token=report.reference,
    )
    return Delivery(reach.worker(report), (ask,), "question about sharing")


# ---------------------------------------------------------------------- check-ins


def _checkin_plan(event: DomainEvent, report: Report, reach: Reach) -> list[Delivery]:
    checkin = next((c for c in report.checkins if c.id == event.checkin_id), None)
    if checkin is None:
        return []
    ref = report.reference
    # Whoever scheduled it hears the answers too (a safety lead, on a case kept
    # from the manager), as long as they may still see the case; a stop is
    # heard by whoever scheduled any of the check-ins it cancelled.
    about = checkins.last_stopped(report) if event.kind is EventKind.CHECKINS_STOPPED else []
    team = reach.managers(report)
    for key in dict.fromkeys(c.by for c in [*about, checkin]):
        scheduler = parse_person(key)
        if scheduler is None or reach.access.view(scheduler, report) is not CaseView.CASE_TEAM:
            continue
        role = "manager" if scheduler.key in report.managers else "safety lead"
        by = reach.person(scheduler, role)
        if by is not None and by.address not in {m.address for m in team}:
            team.append(by)
    if event.kind is EventKind.CHECKIN_DUE:
        late = " (a little later than planned: sorry)" if checkin.late else ""
        asker = "Your manager" if checkin.by in report.managers else "A safety lead"
        ask = ChoiceQuestion(
            id=f"{checkins.CHECKIN_QUESTION}{ref}:{checkin.id}",
            prompt=f"{asker} asked me to check in with you about {ref}{late}. How are you "
            "doing? Only the people supporting you on this case will see your answer.",
            options=checkins.ANSWERS,
            token=checkin.id,
        )
        return [Delivery(reach.worker(report), (ask,), "check-in")]
    if event.kind is EventKind.CHECKIN_ANSWERED:
        words = checkins.ANSWER_WORDS.get(checkin.answer or "", "answered")
        talk = checkin.answer == "talk"
        note = Notice(
            level=NoticeLevel.DANGER if talk else NoticeLevel.INFO,
            title=f"Check-in about {ref}",
            text=f"The worker {words}." + (" Please contact them now." if talk else ""),
        )
        replies: tuple[Reply, ...] = (note,)
        if talk:
            take = ChoiceQuestion(
                id=f"{checkins.TALK_QUESTION}{ref}:{checkin.id}",
                prompt="Let the safety leads know you have it:",
                options=(Option(value="take", label="I'm on it"),),
                token=checkin.id,
            )
            replies = (note, take)
        return [Delivery(m, replies, "check-in answer", worker_expects=True) for m in team]
    if event.kind is EventKind.CHECKIN_NOTE:
        note = Notice(title=f"Check-in about {ref}", text=f"The worker added: {checkin.note or ''}")
        return [Delivery(m, (note,), "check-in note", worker_expects=True) for m in team]
    if event.kind is EventKind.CHECKIN_MISSED:
        note = Notice(
            level=NoticeLevel.WARNING,
            text=f"The check-in about {ref} hasn't been answered for a day. You may want to "
            "contact the worker yourself.",
        )
        return [Delivery(m, (note,), "missed check-in") for m in team]
    if event.kind is EventKind.CHECKIN_PUT_OFF:
        note = Notice(
            level=NoticeLevel.WARNING,
            text=f"The check-in about {ref} has been put off {checkin.snoozes} times, so the "
            "worker hasn't said how they are for a while. That's their choice; you may want to "
            "contact them yourself.",
        )
        return [Delivery(m, (note,), "check-in put off") for m in team]
    if event.kind is EventKind.CHECKINS_STOPPED:
        note = Notice(
            text=f"The worker asked for no more check-ins about {ref}, so the ones still to "
            "come are cancelled. They can turn them back on, or ask you to schedule more. You "
            "can still contact them yourself if you're concerned.",
        )
        return [Delivery(m, (note,), "check-ins stopped") for m in team]
    if event.kind is EventKind.CHECKINS_ON:
        coming = any(c.state == "scheduled" for c in report.checkins)
        more = "" if coming else " None are planned now: you can schedule more."
        note = Notice(text=f"The worker turned check-ins about {ref} back on.{more}")
        return [Delivery(m, (note,), "check-ins on") for m in team]
    if not reach.access.leads_told(report):
        return []
    note = Notice(
        level=NoticeLevel.DANGER,
        text=f"A worker with case {ref} asked to talk now and nobody has responded yet. Could a "
        "safety lead contact them? Claim the case to see the details.",
    )
    return [
        Delivery(to, (note, *channel_alert(report)), "need-to-talk alert")
        for to in reach.leads_of(report)
    ]


# ---------------------------------------------------------------------- immediate danger


def _danger_plan(event: DomainEvent, reach: Reach) -> list[Delivery]:
    """Immediate danger, said before the report is filed: the safety leads at
    once, with a Claim that tells the lead who claims it (privately) who needs
    help; the worker's manager only once she said her manager may be told."""
    if event.kind is EventKind.DANGER_MANAGER and reach.manager_withdrawn:
        return []  # she has since kept her manager out: not sent, even late
    if event.kind is EventKind.DANGER_MANAGER:
        urgent = Notice(
            level=NoticeLevel.DANGER,
            title="Urgent",
            text=f"{reach.worker_name} has just told Harbour that someone may be in immediate "
            "danger. Their report is still being written; please contact them now.",
        )
        managers = reach.access.danger_managers(event.reporter, manager_told=True)
        found = (reach.person(m, "manager") for m in managers)
        return [Delivery(m, (urgent,), "immediate-danger alert") for m in found if m is not None]
    if event.kind is not EventKind.RISK_CRITICAL:
        return []
    note = Notice(
        level=NoticeLevel.DANGER,
        title="Urgent: a worker needs help now",
        text="A worker has just told Harbour that someone may be in immediate danger. Their "
        "report is still being written. Claim this to see, privately, who they are, and "
        "contact them now.",
    )
    claim = ChoiceQuestion(
        id=f"{DANGER_QUESTION}{event.draft_id}",
        prompt="Can you contact them now?",
        options=(Option(value="claim", label="Claim: I'll contact them"),),
        token=event.draft_id,
    )
    return [
        Delivery(to, (note, claim), "immediate-danger alert", worker_expects=True)
        for to in reach.leads_in_danger(event.reporter)
    ]


# ---------------------------------------------------------------------- messages


def manager_alert(report: Report, manager: Recipient, reach: Reach) -> list[Reply]:
    """The manager's private alert: why it came, the case, guidance, and the
    actions the access policy lets this manager take."""
    why = Notice(
        level=NoticeLevel.DANGER if report.risk is RiskLevel.CRITICAL else NoticeLevel.INFO,
        title=f"New report from your team: {report.reference}",
        text=f"{reach.worker_name} reported online abuse through Harbour and chose to share it "
        "with you. Please read it and acknowledge it, so they know you have it.",
    )
    replies: list[Reply] = [why, case_card(report, CaseView.CASE_TEAM, reach.tz)]
    if reach.manager_guidance:
        replies.append(SummaryCard(title="Guidance for you", fields=reach.manager_guidance))
    person = parse_person(manager.address)
    assert person is not None  # a manager recipient is always a person key
    replies.append(
        ChoiceQuestion(
            id=f"{CASE_QUESTION}{report.reference}",
            prompt="What would you like to do?",
            options=action_options(reach.access.actions(person, report)),
            token=report.reference,
        )
    )
    return replies


def channel_alert(report: Report) -> list[Reply]:
    replies: list[Reply] = [channel_card(report)]
    if report.claimed_by is None and report.status is not ReportStatus.CLOSED:
        replies.append(
            ChoiceQuestion(
                id=f"{CASE_QUESTION}{report.reference}",
                prompt="Can you take this on?",
                options=(CLAIM,),
                token=report.reference,
            )
        )
    return replies
