"""Delivering the outbox: alerts to managers and to the safety leads' channel.

Every alert comes from a durable outbox event. Each (event, recipient) pair is
delivered at least once and recorded under an idempotency key, so a restart or
a retry never sends it twice. A failed send is retried with growing waits; after
the last try the failure is written in the case's timeline and reported to the
safety leads (without content). Nothing is dropped silently.

Channel messages carry only a reference, the risk and the kinds of abuse, with
a Claim button; they are updated in place as the case moves on. What happened
goes only to the people the worker chose, in private messages.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Literal, Protocol

from bot import checkins
from bot.access import CaseView
from bot.cases import CASE_QUESTION, CLAIM, SHARE_QUESTION, action_options, channel_card
from bot.casework import case_card
from bot.directory import Directory, parse_person
from bot.escalation import TIMER, EscalationTimes, overdue
from bot.guidance import Audience as GuidanceAudience
from bot.logs import log_failure
from bot.models import (
    ChoiceQuestion,
    Notice,
    NoticeLevel,
    Option,
    Platform,
    Reply,
    SummaryCard,
    SummaryField,
)
from bot.reports import DomainEvent, EventKind, Report, ReportStatus, RiskLevel

if TYPE_CHECKING:
    from bot.app import Harbour

log = logging.getLogger(__name__)

CHECKIN_EVENTS = frozenset(
    {
        EventKind.CHECKIN_DUE,
        EventKind.CHECKIN_ANSWERED,
        EventKind.CHECKIN_MISSED,
        EventKind.CHECKIN_NOTE,
        EventKind.TALK_UNANSWERED,
    }
)

SHARED = "*"
"""The owner of a button anyone who sees it may press (permissions are checked
in the core, against whoever pressed it)."""


WORKER_EXPECTS = frozenset(
    {
        EventKind.REPORT_FILED,
        EventKind.MANAGER_NAMED,
        EventKind.REPORT_UPDATED,
        EventKind.CHECKIN_ANSWERED,
        EventKind.CHECKIN_NOTE,
    }
)
"""Alerts the worker knows their manager is sent (they were told so, or chose
it): if one cannot be delivered, the worker hears. Reminders and escalations
they never asked for fail silently to them (the safety leads still hear)."""


@dataclass(frozen=True)
class Recipient:
    platform: Platform
    kind: Literal["person", "channel"]
    address: str  # a person key, or a channel address the platform's messenger understands
    role: str  # "manager", "safety leads", "worker": for the timeline, never shown in channels


class Messenger(Protocol):
    """How one platform delivers messages outside a conversation."""

    async def send(self, to: Recipient, replies: Sequence[Reply]) -> str:
        """Send; returns a reference to the message, for later updates."""

    async def update(self, to: Recipient, message: str, replies: Sequence[Reply]) -> None: ...

    def leads_channel(self, directory: Directory) -> str | None:
        """Where this platform's safety leads get alerts, if it is set up."""


@dataclass(frozen=True)
class _Delivery:
    to: Recipient
    replies: tuple[Reply, ...]
    purpose: str
    update_channel: bool = False
    only_update: bool = False  # a change of status: edit the channel message if there is one


class Notifier:
    def __init__(
        self,
        harbour: Harbour,
        messengers: dict[Platform, Messenger],
        *,
        attempts: int = 5,
        first_wait: timedelta = timedelta(seconds=30),
        escalation: EscalationTimes | None = None,
    ) -> None:
        self.harbour = harbour
        self.escalation = escalation or EscalationTimes()
        self.store = harbour.store
        self.messengers = messengers
        self.attempts = attempts
        self.first_wait = first_wait
        self.wake = asyncio.Event()
        self._pass = asyncio.Lock()
        self._worker_name = "A member of your team"  # of the event being delivered
        harbour.outbox_changed = self.wake

    # ------------------------------------------------------------------ running

    async def run(self, interval: float = 5.0) -> None:
        """Deliver until cancelled: at once when the outbox changes, and every
        `interval` seconds for retries that fall due."""
        while True:
            try:
                await self.run_once()
            except Exception as exc:
                log_failure("delivering alerts", exc)
            self.wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.wake.wait(), timeout=interval)

    async def run_once(self) -> int:
        """Escalate what is overdue, then deliver what is due; returns how many
        events were completed. One pass at a time: two at once could both send
        an alert before either had recorded it."""
        async with self._pass:
            return await self._run_once()

    async def _run_once(self) -> int:
        await self.escalate_overdue()
        await self.advance_checkins()
        done = 0
        for event in await self.store.pending_events():
            if await self._deliver(event):
                await self.store.mark_delivered([event.id], self.harbour.clock())
                done += 1
        return done

    async def escalate_overdue(self) -> int:
        """Alerts nobody acknowledged in time: tell the leads, remind the manager."""
        now = self.harbour.clock()
        count = 0
        for report in await self.store.open_reports():
            if not overdue(report, now, self.escalation):
                continue
            report.log(now, "escalated", None, TIMER)
            event = DomainEvent(
                kind=EventKind.ESCALATED,
                at=now,
                reporter=report.reporter,
                reference=report.reference,
                risk=report.risk,
                draft_id=TIMER,
            )
            await self.store.save_report(report, events=[event])
            count += 1
        return count

    async def advance_checkins(self) -> int:
        """Send check-ins that are due, and notice the ones nobody answered."""
        now = self.harbour.clock()
        count = 0
        for report in await self.store.open_reports():
            if not report.checkins:
                continue
            events = checkins.advance(report, now)
            if events:
                await self.store.save_report(report, events=events)
                count += len(events)
        return count

    # ------------------------------------------------------------------ one event

    async def _deliver(self, event: DomainEvent) -> bool:
        report = await self.store.get_report(event.reference) if event.reference else None
        finished = True
        changed = False
        known = await self.store.get_record("people", event.reporter.key) or {}
        self._worker_name = str(known.get("name") or "A member of your team")
        for delivery in self._plan(event, report):
            outcome = await self._send_once(event, delivery, report)
            finished &= outcome != "retry"
            changed |= outcome in ("sent", "failed")
        if report is not None and changed:
            await self.store.save_report(report)
        return finished

    async def _send_once(
        self, event: DomainEvent, delivery: _Delivery, report: Report | None
    ) -> Literal["sent", "failed", "retry", "skip"]:
        to = delivery.to
        key = f"{event.id}:{to.platform.value}:{to.address}"
        record = await self.store.get_record("deliveries", key) or {}
        if record.get("status") in ("sent", "failed"):
            return "skip"  # done before a restart or an earlier pass: never twice
        now = self.harbour.clock()
        due = record.get("next_at")
        if due and datetime.fromisoformat(due) > now:
            return "retry"
        messenger = self.messengers.get(to.platform)
        try:
            if messenger is None:
                raise LookupError(f"no messenger for {to.platform.value}")
            existing = await self._channel_message(report) if delivery.update_channel else None
            if existing is None and delivery.only_update:
                return "skip"
            if existing is not None:
                await messenger.update(to, existing, delivery.replies)
                ref = existing
            else:
                ref = await messenger.send(to, delivery.replies)
                if delivery.update_channel and report is not None:
                    await self.store.put_record(
                        "channel-messages",
                        report.reference,
                        {"platform": to.platform.value, "address": to.address, "message": ref},
                    )
        except Exception as exc:
            attempts = int(record.get("attempts", 0)) + 1
            log.warning(
                "alert %s to the %s not delivered (attempt %d of %d): %s",
                event.kind.value,
                to.role,
                attempts,
                self.attempts,
                type(exc).__name__,
            )
            if attempts < self.attempts:
                wait = self.first_wait * 2 ** (attempts - 1)
                await self.store.put_record(
                    "deliveries",
                    key,
                    {
                        "status": "retrying",
                        "attempts": attempts,
                        "next_at": (now + wait).isoformat(),
                    },
                )
                return "retry"
            await self.store.put_record(
                "deliveries", key, {"status": "failed", "at": now.isoformat()}
            )
            if report is not None:
                report.log(now, "alert-failed", None, f"{delivery.purpose} to the {to.role}")
            await self._report_failure(event, report, to)
            return "failed"
        await self.store.put_record(
            "deliveries", key, {"status": "sent", "message": ref, "at": now.isoformat()}
        )
        if report is not None:
            report.log(now, "alert-sent", None, f"{delivery.purpose} to the {to.role}")
        return "sent"

    async def _channel_message(self, report: Report | None) -> str | None:
        if report is None:
            return None
        found = await self.store.get_record("channel-messages", report.reference)
        return str(found["message"]) if found else None

    async def _report_failure(
        self, event: DomainEvent, report: Report | None, to: Recipient
    ) -> None:
        """Tell the safety leads (without content) that someone did not get an
        alert; and when that someone is the worker's manager, tell the worker,
        who was told their manager would know."""
        reference = report.reference if report else "a report in progress"
        log.error(
            "alert %s for %s could not be delivered to the %s", event.kind.value, reference, to.role
        )
        channel = self._leads_channel(event.reporter.platform)
        leads_told = False
        if channel is not None and channel != to:
            note = Notice(
                level=NoticeLevel.WARNING,
                text=f"Harbour could not deliver an alert about {reference} to the {to.role}, "
                "after several tries. Please make sure someone follows it up.",
            )
            leads_told = await self._send_quietly(channel, [note], "the safety leads")
        if to.role == "manager" and report is not None and event.kind in WORKER_EXPECTS:
            worker = Recipient(report.reporter.platform, "person", report.reporter.key, "worker")
            then = (
                "The safety leads have been asked to follow it up. "
                if leads_told
                else "I couldn't tell the safety leads either. "
            )
            note = Notice(
                level=NoticeLevel.WARNING,
                text=f"I couldn't reach your manager about {reference}, after several tries. "
                + then
                + "If you can, please tell your manager yourself; your report is safe.",
            )
            await self._send_quietly(worker, [note], "the worker")

    async def _send_quietly(self, to: Recipient, replies: list[Reply], who: str) -> bool:
        """One try, for a message about a failure: a failure of its own is logged
        (without content), not retried."""
        messenger = self.messengers.get(to.platform)
        try:
            if messenger is None:
                raise LookupError(to.platform.value)
            await messenger.send(to, replies)
            return True
        except Exception as exc:
            log.error("and %s could not be told either: %s", who, type(exc).__name__)
            return False

    # ------------------------------------------------------------------ who gets what

    def _leads_channel(self, platform: Platform) -> Recipient | None:
        messenger = self.messengers.get(platform)
        address = messenger.leads_channel(self.harbour.directory) if messenger else None
        return Recipient(platform, "channel", address, "safety leads") if address else None

    def _managers(self, report: Report) -> list[Recipient]:
        """The managers this case's alerts go to, as the access policy says."""
        people = self.harbour.access.managers_told(report)
        return [Recipient(p.platform, "person", p.key, "manager") for p in people]

    def _plan(self, event: DomainEvent, report: Report | None) -> list[_Delivery]:
        kind = event.kind
        channel = self._leads_channel(event.reporter.platform)
        if report is None:
            return self._danger_plan(event, channel)
        out: list[_Delivery] = []
        managers = self._managers(report)
        leads = self.harbour.access.leads_told(report)
        serious = report.risk in (RiskLevel.HIGH, RiskLevel.CRITICAL)
        to_leads = (
            leads
            and channel is not None
            and (
                serious or not report.manager_may_see or not managers or kind is EventKind.ESCALATED
            )
        )
        if kind in (EventKind.REPORT_FILED, EventKind.MANAGER_NAMED):
            for manager in managers:
                out.append(_Delivery(manager, tuple(self.manager_alert(report, manager)), "alert"))
        if kind is EventKind.MANAGER_CHANGED:
            worker = Recipient(report.reporter.platform, "person", report.reporter.key, "worker")
            ask = ChoiceQuestion(
                id=f"{SHARE_QUESTION}{report.reference}",
                prompt=f"Your manager in Harbour has been changed by an administrator. Your "
                f"previous manager no longer sees {report.reference}. Would you like to share it "
                "with your new manager?",
                options=(
                    Option(value="share", label="Share it with my new manager"),
                    Option(value="keep", label="Not now"),
                ),
                token=report.reference,
            )
            return [_Delivery(worker, (ask,), "question about sharing")]
        if kind is EventKind.REPORT_UPDATED:
            for manager in managers:
                lead = Notice(text=f"{report.reference} has a new update from the worker.")
                out.append(
                    _Delivery(manager, (lead, case_card(report, CaseView.CASE_TEAM)), "update")
                )
        if kind is EventKind.RISK_CRITICAL and report.updates:  # at filing, the alert says so
            for manager in managers:
                lead = Notice(
                    level=NoticeLevel.DANGER,
                    text=f"{report.reference} is now assessed as critical.",
                )
                out.append(
                    _Delivery(
                        manager, (lead, case_card(report, CaseView.CASE_TEAM)), "critical alert"
                    )
                )
        if kind is EventKind.ESCALATED and event.draft_id == TIMER:
            for manager in managers:
                note = Notice(
                    level=NoticeLevel.WARNING,
                    text=f"{report.reference} hasn't been acknowledged yet, so the safety leads "
                    "have been told too. Please acknowledge it when you can.",
                )
                alert = self.manager_alert(report, manager)[1:]
                out.append(_Delivery(manager, (note, *alert), "reminder"))
        if kind in CHECKIN_EVENTS:
            return self._checkin_plan(event, report, managers, channel)
        if kind is EventKind.CASE_CHANGED and event.draft_id == "ack":
            worker = Recipient(report.reporter.platform, "person", report.reporter.key, "worker")
            note = Notice(text=f"Your manager has seen {report.reference} and will be in touch.")
            out.append(_Delivery(worker, (note,), "acknowledgement"))
        if channel is None or not leads:
            return out
        status_only = kind in (EventKind.CASE_CHANGED, EventKind.REPORT_UPDATED) and not serious
        if kind is EventKind.MANAGER_NAMED and not serious:
            return out
        if to_leads or status_only:
            out.append(
                _Delivery(
                    channel,
                    tuple(self.channel_alert(report)),
                    "channel alert",
                    update_channel=True,
                    only_update=status_only and kind is not EventKind.ESCALATED,
                )
            )
        return out

    def _checkin_plan(
        self,
        event: DomainEvent,
        report: Report,
        managers: list[Recipient],
        channel: Recipient | None,
    ) -> list[_Delivery]:
        checkin = next((c for c in report.checkins if c.id == event.draft_id), None)
        if checkin is None:
            return []
        ref = report.reference
        if event.kind is EventKind.CHECKIN_DUE:
            worker = Recipient(report.reporter.platform, "person", report.reporter.key, "worker")
            late = " (a little later than planned: sorry)" if checkin.late else ""
            ask = ChoiceQuestion(
                id=f"{checkins.CHECKIN_QUESTION}{ref}:{checkin.id}",
                prompt=f"Your manager asked me to check in with you about {ref}{late}. How are "
                "you doing? Only your manager and the safety leads will see your answer.",
                options=checkins.ANSWERS,
                token=checkin.id,
            )
            return [_Delivery(worker, (ask,), "check-in")]
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
            return [_Delivery(m, replies, "check-in answer") for m in managers]
        if event.kind is EventKind.CHECKIN_NOTE:
            added = [e.detail for e in report.timeline if e.action == "checkin-note"][-1:]
            note = Notice(title=f"Check-in about {ref}", text="The worker added: " + "".join(added))
            return [_Delivery(m, (note,), "check-in note") for m in managers]
        if event.kind is EventKind.CHECKIN_MISSED:
            note = Notice(
                level=NoticeLevel.WARNING,
                text=f"The check-in about {ref} hasn't been answered for a day. You may want to "
                "contact the worker yourself.",
            )
            return [_Delivery(m, (note,), "missed check-in") for m in managers]
        if channel is None or not self.harbour.access.leads_told(report):
            return []
        note = Notice(
            level=NoticeLevel.DANGER,
            text=f"A worker with case {ref} asked to talk now and their manager hasn't responded "
            "yet. Could a safety lead contact them? Claim the case to see the details.",
        )
        return [_Delivery(channel, (note,), "need-to-talk alert")]

    def _danger_plan(self, event: DomainEvent, channel: Recipient | None) -> list[_Delivery]:
        """Immediate danger, said before the report is filed: the safety leads at
        once; the worker's manager only once she said her manager may be told."""
        urgent = Notice(
            level=NoticeLevel.DANGER,
            title="Urgent",
            text=f"{self._worker_name} has just told Harbour that someone may be in immediate "
            "danger. Their report is still being written; please contact them now.",
        )
        if event.kind is EventKind.DANGER_MANAGER:
            managers = self.harbour.access.danger_managers(event.reporter, manager_told=True)
            return [
                _Delivery(
                    Recipient(m.platform, "person", m.key, "manager"),
                    (urgent,),
                    "immediate-danger alert",
                )
                for m in managers
            ]
        if event.kind is not EventKind.RISK_CRITICAL or channel is None:
            return []
        note = Notice(
            level=NoticeLevel.DANGER,
            title="Urgent",
            text="Immediate danger has been reported by a worker. A reference will follow when "
            "the report is filed.",
        )
        return [_Delivery(channel, (note,), "immediate-danger alert")]

    def manager_alert(self, report: Report, manager: Recipient) -> list[Reply]:
        """The manager's private alert: why it came, the case, guidance, and the
        actions the access policy lets this manager take."""
        worker = self._worker_name
        why = Notice(
            level=NoticeLevel.DANGER if report.risk is RiskLevel.CRITICAL else NoticeLevel.INFO,
            title=f"New report from your team: {report.reference}",
            text=f"{worker} reported online abuse through Harbour and chose to share it with "
            "you. Please read it and acknowledge it, so they know you have it.",
        )
        replies: list[Reply] = [why, case_card(report, CaseView.CASE_TEAM)]
        items = self.harbour.guidance_for(report, GuidanceAudience.MANAGER)
        person = parse_person(manager.address)
        assert person is not None  # a manager recipient is always a person key
        if items:
            replies.append(
                SummaryCard(
                    title="Guidance for you",
                    fields=tuple(
                        SummaryField(label=i.title, value=self.harbour.library.fill(i.summary))
                        for i in items
                    ),
                )
            )
        replies.append(
            ChoiceQuestion(
                id=f"{CASE_QUESTION}{report.reference}",
                prompt="What would you like to do?",
                options=action_options(self.harbour.access.actions(person, report)),
                token=report.reference,
            )
        )
        return replies

    @staticmethod
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
