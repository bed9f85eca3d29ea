"""Delivering the outbox: the only part of alerts that does I/O.

Every alert comes from a durable outbox event. The planners (`bot.alerts.plan`)
say who gets what; the sender sends each (event, recipient) pair and records
it under an idempotency key, so a restart or a retry never sends it twice where
the platform lets Harbour check:

* the intent is recorded before the send; after a crash between the two, a
  platform that can look a message up by its key (Slack: message metadata,
  read back from the conversation) is asked first, and the message is sent
  again only if it never went out. Where the platform cannot say (Teams, the
  console), it is sent again: at least once, never lost;
* a failed send is retried with waits that double up to `max_wait`, for as
  long as the case is open: an outage delays an alert, never drops it;
* while an alert is not getting through, the safety leads are told (without
  content) by any route that works: their channel on any platform, else each
  of them privately; and the worker is told if it was her manager she was
  promised would hear;
* an event that cannot be handled at all (damaged, or failing for a reason
  of its own) is set aside in the store's dead-letter list, reported to the
  leads and administrators without content, and never blocks the others.

The follow-up clock (`bot.alerts.followups`) and check-ins are moved on here
too, each through the store's one write path for cases.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import Counter
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from bot import checkins, team
from bot.alerts.followups import EscalationTimes, follow_up, next_follow_up, timers_due
from bot.alerts.messenger import Messenger, Recipient
from bot.alerts.plan import ANYONE, Card, Delivery, Reach, channel_alert, plan
from bot.conversation import worker
from bot.guidance import Audience as GuidanceAudience
from bot.logs import log_failure
from bot.models import (
    InboundEvent,
    Notice,
    NoticeLevel,
    Platform,
    Reply,
    SummaryField,
    TextMessage,
)
from bot.privacy import trail
from bot.reports import DomainEvent, EventKind, Report, ReportStatus
from bot.store import RecordKind
from bot.store.base import FINISHED_DELIVERIES, LIVE_GRACE
from bot.when import local

if TYPE_CHECKING:
    from bot.app import Harbour

log = logging.getLogger(__name__)

FAILOVER = timedelta(minutes=2)
"""How long the alerts a process claimed stay its own without a new pass (each
pass renews them): after that, another process delivers them. The timers and
the inbox recovery change hands in a quarter of it."""
TIMERS = "timers"
PROBE_EVERY = timedelta(minutes=1)
"""While a platform is failing, one waiting alert is tried this often, so its
return is noticed at once; the others then follow without waiting."""
DANGER_EVENTS = frozenset({EventKind.RISK_CRITICAL, EventKind.DANGER_MANAGER})
INTERRUPTED = Notice(
    level=NoticeLevel.INFO,
    text="Harbour was interrupted just as it answered your last message. What you sent "
    "was saved. Here is where we are:",
)


class Outcome(StrEnum):
    SENT = "sent"
    DONE_BEFORE = "done-before"  # sent (or settled) on an earlier pass
    WAITING = "waiting"  # failed for now: tried again later
    DROPPED = "dropped"  # the case closed while it was still failing
    NOTHING = "nothing"  # a status edit with no card to edit

    @property
    def settled(self) -> bool:
        return self is not Outcome.WAITING


def _note(text: str, level: NoticeLevel = NoticeLevel.WARNING, title: str = "") -> Notice:
    return Notice(level=level, title=title, text=text)


RECOVER_AT_ONCE = 16
"""How many people's interrupted steps recovery answers side by side."""


class Notifier:
    def __init__(
        self,
        harbour: Harbour,
        messengers: dict[Platform, Messenger],
        *,
        first_wait: timedelta = timedelta(seconds=30),
        max_wait: timedelta = timedelta(minutes=15),
        tell_leads_after: int = 3,
        poison_after: int = 3,
        escalation: EscalationTimes | None = None,
        recover_after: timedelta = timedelta(minutes=1),
        failover: timedelta = FAILOVER,
    ) -> None:
        self.harbour = harbour
        self.recover_after = recover_after
        self.claim_lease = failover
        self.timers_lease = failover / 4
        self.escalation = escalation or EscalationTimes()
        self.store = harbour.store
        self.messengers = messengers
        self.first_wait = first_wait
        self.max_wait = max_wait
        self.tell_leads_after = tell_leads_after
        self.poison_after = poison_after
        self.wake = asyncio.Event()
        self._pass = asyncio.Lock()
        self._failures: dict[str, int] = {}  # event id -> passes that raised
        # For monitoring (bot.metrics), this process's own view: sends that
        # failed since it started, and the deliveries failing now, by key.
        self.failed_sends: Counter[Platform] = Counter()
        self.retrying: dict[str, Platform] = {}
        self._delivered_on: dict[Platform, datetime] = {}  # the last time each platform took one
        self._probed_on: dict[Platform, datetime] = {}
        harbour.outbox_changed = self.wake
        self.store.index_due(lambda report: timers_due(report, self.escalation))

    # ------------------------------------------------------------------ running

    async def run(self, interval: float = 5.0) -> None:
        """Deliver until cancelled: at once when the outbox changes, and every
        `interval` seconds for retries and follow-ups that fall due."""
        while True:
            # Cleared before the pass: an alert queued during it wakes the next at once.
            self.wake.clear()
            try:
                await self.run_once()
            except Exception as exc:
                log_failure("delivering alerts", exc)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.wake.wait(), timeout=interval)

    async def run_once(self) -> int:
        """Follow up what is overdue, move check-ins on, handle what a dead
        process accepted but never handled, then deliver what is due; returns
        how many events were completed. One pass at a time: two at once could
        both send an alert before either had recorded it. With several
        processes on one store, the timers are one process's duty at a time
        and each event is delivered by the process that claimed it."""
        async with self._pass:
            # Alive for a quarter of the failover time: a killed process's
            # acknowledged steps are taken over soon after it stops renewing.
            await self.store.heartbeat(self.timers_lease)
            await team.apply_chat_changes(self.store, self.harbour.directory)
            if await self.store.hold_lease(TIMERS, self.timers_lease):
                await self.follow_ups()
                await self.advance_checkins()
                await self._report_dead_letters()
                await self.recover()
            done = 0
            tried: set[str] = set()
            # A shared store hands out a batch at a time, so several processes
            # share a burst; claiming again renews what this one still holds.
            while fresh := [
                e for e in await self.store.claim_events(self.claim_lease) if e.id not in tried
            ]:
                for event in fresh:
                    tried.add(event.id)
                    if not await self.store.still_mine(event.id, self.claim_lease):
                        continue  # this batch took long: another process has it now
                    try:
                        finished = await self._deliver(event)
                    except Exception as exc:
                        await self._poisoned(event, exc)
                        continue
                    self._failures.pop(event.id, None)
                    if finished:
                        await self.store.mark_delivered([event.id], self.harbour.clock())
                        done += 1
            return done

    async def follow_ups(self) -> int:
        """Cases nobody has taken on in time: the next follow-up, for each."""
        now = self.harbour.clock()
        count = 0
        change = follow_up(now, self.escalation)
        for report in await self.store.reports_due(now):
            if next_follow_up(report, now, self.escalation) is None:
                continue  # nothing due: no write
            await self.store.update_report(report.reference, change)
            count += 1
        return count

    async def advance_checkins(self) -> int:
        """Send check-ins that are due, and notice the ones nobody answered."""
        now = self.harbour.clock()
        moved: set[str] = set()

        def advance(report: Report) -> list[DomainEvent] | None:
            before = report.model_dump()
            events = checkins.advance(report, now, self.escalation.hours)
            if not events and report.model_dump() == before:
                return None  # nothing moved: no write
            moved.add(report.reference)
            return events

        for report in await self.store.reports_due(now):
            if report.checkins:
                await self.store.update_report(report.reference, advance)
        return len(moved)

    async def recover(self) -> int:
        """Answer what a process accepted (and the platform was told had arrived)
        but never answered: it was killed in between. An event never handled is
        handled now; one handled whose answer never went out gets a word that
        it was saved and where things stand. Each person hears it in her own
        conversation. Returns how many were recovered."""
        since = datetime.now(UTC) - self.recover_after
        by_person: dict[str, list[InboundEvent]] = {}
        for event in await self.store.unhandled(older_than=since):
            if not self.harbour.in_flight(event, LIVE_GRACE):  # else still being answered here
                by_person.setdefault(event.person.key, []).append(event)
        at_once = asyncio.Semaphore(RECOVER_AT_ONCE)

        async def in_order(events: list[InboundEvent]) -> None:
            # One person's steps in the order she sent them; people side by side,
            # so a killed process's hundred conversations aren't answered one by one.
            async with at_once:
                for event in events:
                    await self._recover_one(event)

        outcomes = await asyncio.gather(
            *(in_order(events) for events in by_person.values()), return_exceptions=True
        )
        for outcome in outcomes:
            if isinstance(outcome, Exception):
                log_failure("answering a step a stopped process had accepted", outcome)
        return sum(len(events) for events in by_person.values())

    async def _recover_one(self, event: InboundEvent) -> None:
        if self.harbour.told_to_retry(event):
            await self.harbour.forget_retried(event)  # she was told; her retry is its own step
            return
        who = event.person
        if await self.store.seen(who, event.event_id):
            replies: list[Reply] = [INTERRUPTED, *await self._where_now(event)]
        else:
            replies = await self.harbour.handle(event)
        to = Recipient(platform=who.platform, kind="person", address=who.key, role="worker")
        if not replies or await self._send_quietly(to, replies):
            await self.harbour.answered(event)

    async def _where_now(self, event: InboundEvent) -> list[Reply]:
        """For a step handled whose answer was lost: if it filed a report (one
        filed since the step arrived), what filing says (her reference); else
        the question in progress, or what she can do."""
        who = event.person
        mine = await self.store.reports_by(who)
        if mine and event.at is not None and mine[0].filed_at >= event.at:
            return worker.filed_replies(self.harbour, mine[0])
        again = TextMessage(event_id=f"{event.event_id}:again", person=who, text="help")
        return await self.harbour.handle(again)

    async def health(self) -> dict[str, Any]:
        """For monitoring: how far behind delivery is (no content, no references)."""
        pending = await self.store.pending_events()
        oldest = min((e.at for e in pending), default=None)
        letters = [d for d in await self.store.dead_letters() if not d.reported]
        age = (self.harbour.clock() - oldest).total_seconds() if oldest else None
        return {
            "undelivered": len(pending),
            "oldest_undelivered_seconds": round(age) if age is not None else None,
            "dead_letters_unreported": len(letters),
        }

    # ------------------------------------------------------------------ one event

    async def _deliver(self, event: DomainEvent) -> bool:
        report = await self.store.get_report(event.reference) if event.reference else None
        if event.reference and report is None:
            raise LookupError("the event's report is not in the store")
        reach = await self._reach(event, report)
        # Who needs help, for the safety lead who claims the alert (and nobody
        # else). Written once: a later pass must not forget who claimed it.
        if (
            event.kind is EventKind.RISK_CRITICAL
            and report is None
            and event.draft_id
            and await self.store.get_record(RecordKind.DANGER_ALERTS, event.draft_id) is None
        ):
            await self.store.put_record(
                RecordKind.DANGER_ALERTS,
                event.draft_id,
                {
                    "reporter": event.reporter.key,
                    "name": reach.worker_name,
                    "at": event.at.isoformat(),
                },
            )
        deliveries = plan(event, report, reach)
        if not deliveries and report is not None and event.kind is EventKind.REPORT_FILED:
            await self._nobody_to_tell(report, reach)
        outcomes = [await self._send(event, d, report, reach) for d in deliveries]
        settled = all(o.settled for o in outcomes)
        if report is None and event.kind in DANGER_EVENTS:
            settled &= await self._danger_receipt(event, deliveries, outcomes, reach)
        return settled

    async def _reach(self, event: DomainEvent, report: Report | None) -> Reach:
        known = await self.store.get_record(RecordKind.PEOPLE, event.reporter.key) or {}
        guidance: tuple[SummaryField, ...] = ()
        if report is not None:
            items = self.harbour.guidance_for(report, GuidanceAudience.MANAGER)
            fill = self.harbour.library.fill
            guidance = tuple(SummaryField(label=i.title, value=fill(i.summary)) for i in items)
        return Reach(
            access=self.harbour.access,
            channels=self._channels(),
            platforms=frozenset(self.messengers),
            worker_name=str(known.get("name") or ANYONE),
            manager_guidance=guidance,
            tz=self.harbour.tz,
            manager_withdrawn=await self._manager_withdrawn(event)
            if event.kind is EventKind.DANGER_MANAGER
            else False,
        )

    def _channels(self) -> dict[Platform, str]:
        """The safety leads' channel on each platform that has one set up now."""
        directory = self.harbour.directory
        return {
            platform: address
            for platform, messenger in self.messengers.items()
            if (address := messenger.leads_channel(directory))
        }

    async def _manager_withdrawn(self, event: DomainEvent) -> bool:
        """She said her manager may be told of the danger, then changed her mind:
        in her draft, or by filing the report for the safety leads only."""
        filed = [
            r for r in await self.store.reports_by(event.reporter) if r.draft_id == event.draft_id
        ]
        if filed:
            return not filed[0].manager_may_see
        session = await self.store.load_session(event.reporter)
        drafts = session.drafts.values() if session else ()
        draft = next((d for d in drafts if d.id == event.draft_id), None)
        return draft is not None and draft.answers.get("danger_manager") == "keep_out"

    async def _nobody_to_tell(self, report: Report, reach: Reach) -> None:
        """A report filed for others to see, and Harbour knows nobody to tell
        (no manager, no safety leads set up): the administrators must hear."""
        if not (report.manager_may_see or report.leads_may_see):
            return
        log.error("%s was filed but Harbour has nobody to tell about it", report.reference)
        note = _note(
            f"{report.reference} ({report.risk.value} risk) was filed, but Harbour knows no "
            "manager for the worker and no safety leads are set up, so nobody has been told. "
            "Please set up the team directory (safety leads and managers) now.",
            NoticeLevel.DANGER,
        )
        for admin in reach.admins(report):
            await self._send_quietly(admin, [note])

    async def _send(
        self, event: DomainEvent, delivery: Delivery, report: Report | None, reach: Reach
    ) -> Outcome:
        to = delivery.to
        key = f"{event.id}:{to.platform.value}:{to.address}"
        record = await self.store.get_record(RecordKind.DELIVERIES, key) or {}
        status = record.get("status")
        if status in FINISHED_DELIVERIES:
            self.retrying.pop(key, None)
            return Outcome.DONE_BEFORE
        now = self.harbour.clock()
        if status == "retrying" and datetime.fromisoformat(record["next_at"]) > now:
            # Not due yet, unless the platform has delivered something since this
            # one failed: it is back, so nobody waits out a long backoff.
            back = self._delivered_on.get(to.platform)
            failed = record.get("failed_at")
            recovered = back is not None and failed and back > datetime.fromisoformat(failed)
            if not recovered and not self._probe(to.platform, now):
                return Outcome.WAITING
        if status == "retrying" and report is not None and report.status is ReportStatus.CLOSED:
            self.retrying.pop(key, None)
            await self.store.put_record(RecordKind.DELIVERIES, key, {**record, "status": "dropped"})
            await self._log(report, now, "alert-dropped", delivery, "the case was closed")
            return Outcome.DROPPED
        messenger = self.messengers.get(to.platform)
        try:
            if messenger is None:
                raise LookupError(f"Harbour is not connected to {to.platform.value}")
            card = await self._card(report, to) if delivery.card is not Card.NONE else None
            if delivery.card is Card.EDIT_ONLY and card is None:
                return Outcome.NOTHING
            edited = False
            if card is not None and delivery.card is not Card.POST_NEW:
                await messenger.update(to, card, delivery.replies)
                ref, edited = card, True
            else:
                ref = await self._send_once(messenger, to, delivery.replies, key, record, now)
                if delivery.card is not Card.NONE and report is not None:
                    await self.store.put_record(
                        RecordKind.CHANNEL_MESSAGES,
                        report.reference,
                        {"platform": to.platform.value, "address": to.address, "message": ref},
                    )
        except Exception as exc:
            return await self._failed(event, delivery, report, reach, key, record, now, exc)
        self.retrying.pop(key, None)
        await self.store.put_record(
            RecordKind.DELIVERIES,
            key,
            {
                "status": "sent",
                "message": ref,
                "at": now.isoformat(),
                "attempts": 1 + int(record.get("attempts", 0)),
            },
        )
        await self._log(report, now, "alert-sent", delivery)
        self._delivered_on[to.platform] = now
        if report is not None and not edited:
            # An alert that reached someone counts as a view in the case's audit
            # (a card edited in place to show where the case stands is not another).
            await trail.record(
                self.store, [trail.delivery_entry(to, report.reference, now, delivery.replies)]
            )
        if record.get("worker_told") or (
            delivery.worker_expects
            and to.role != "worker"
            and int(record.get("attempts", 0)) >= self.tell_leads_after
        ):
            # She was told (or should have been) that it wasn't getting through.
            whom = "Your manager has" if to.role == "manager" else "The safety leads have"
            late = _note(
                f"{whom} now got the alert about {self._about(event, report)}. It was delayed "
                "because Harbour couldn't reach them for a while; I'm sorry.",
                NoticeLevel.SUCCESS,
            )
            worker = Recipient(event.reporter.platform, "person", event.reporter.key, "worker")
            await self._send_quietly(worker, [late])
        if record.get("leads_told"):
            await self._tell_leads(
                event,
                report,
                reach,
                [
                    _note(
                        f"The alert about {self._about(event, report)} that wasn't getting through has now been delivered.",
                        NoticeLevel.SUCCESS,
                    )
                ],
                avoid=to,
            )
        return Outcome.SENT

    def _probe(self, platform: Platform, now: datetime) -> bool:
        """Whether to try one waiting alert early on this platform: once a
        minute, so its return is noticed within a minute, not a backoff."""
        last = self._probed_on.get(platform)
        if last is not None and now - last < PROBE_EVERY:
            return False
        self._probed_on[platform] = now
        return True

    async def _send_once(
        self,
        messenger: Messenger,
        to: Recipient,
        replies: Sequence[Reply],
        key: str,
        record: dict[str, Any],
        now: datetime,
    ) -> str:
        """Send, unless a send of the same key already went out before a crash
        (where the platform can tell)."""
        tried = record.get("intent_at")  # a send was begun before: did it go out?
        if tried and messenger.can_check_sent:
            since = datetime.fromisoformat(tried) - timedelta(minutes=1)
            found = await messenger.find_sent(to, key, since)
            if found is not None:
                log.info("an alert sent before (a restart, a timeout) was found: not sent again")
                return found
        elif record.get("status") == "sending":
            log.info(
                "an alert may have gone out before a restart; %s can't tell, so it is sent again",
                to.platform.value,
            )
        record.update(status="sending", intent_at=tried or now.isoformat())  # seen by _failed
        await self.store.put_record(RecordKind.DELIVERIES, key, dict(record))
        return await messenger.send(to, replies, key=key)

    async def _failed(
        self,
        event: DomainEvent,
        delivery: Delivery,
        report: Report | None,
        reach: Reach,
        key: str,
        record: dict[str, Any],
        now: datetime,
        exc: Exception,
    ) -> Outcome:
        to = delivery.to
        attempts = int(record.get("attempts", 0)) + 1
        wait = min(self.first_wait * 2 ** min(attempts - 1, 20), self.max_wait)
        failing_since = record.get("failing_since") or now.isoformat()
        log.warning(
            "alert %s to the %s not delivered (attempt %d, next in %ds): %s",
            event.kind.value,
            to.role,
            attempts,
            int(wait.total_seconds()),
            type(exc).__name__,
        )
        self._probed_on[to.platform] = now  # a failure is a probe too
        self.failed_sends[to.platform] += 1
        self.retrying[key] = to.platform
        updated = {
            "status": "retrying",
            "failed_at": now.isoformat(),
            "intent_at": record.get("intent_at"),
            "attempts": attempts,
            "next_at": (now + wait).isoformat(),
            "failing_since": failing_since,
            "leads_told": bool(record.get("leads_told")),
            "worker_told": bool(record.get("worker_told")),
        }
        if attempts >= self.tell_leads_after:
            if not updated["leads_told"]:
                since = datetime.fromisoformat(failing_since)
                updated["leads_told"] = await self._tell_leads(
                    event,
                    report,
                    reach,
                    self._undelivered(event, report, delivery, since),
                    avoid=to,
                )
                await self._log(report, now, "alert-failing", delivery)
            if delivery.worker_expects and to.role != "worker" and not updated["worker_told"]:
                updated["worker_told"] = await self._tell_worker_undelivered(
                    event, report, delivery, bool(updated["leads_told"])
                )
        await self.store.put_record(RecordKind.DELIVERIES, key, updated)
        return Outcome.WAITING

    # ------------------------------------------------------------------ when it isn't getting through

    @staticmethod
    def _about(event: DomainEvent, report: Report | None) -> str:
        return report.reference if report else "a worker in immediate danger"

    def _undelivered(
        self, event: DomainEvent, report: Report | None, delivery: Delivery, since: datetime
    ) -> list[Reply]:
        about = self._about(event, report)
        # Never who it was for (the manager? the worker?): that says who she told.
        whom = "the safety leads" if delivery.to.role == "safety leads" else "one of its recipients"
        text = (
            f"Harbour hasn't been able to deliver an alert about {about} to {whom} since "
            f"{local(since, self.harbour.tz)}. It keeps trying; please make sure someone follows "
            "it up now."
        )
        replies: list[Reply] = [
            _note(text, NoticeLevel.DANGER if report is None else NoticeLevel.WARNING)
        ]
        if report is not None and self.harbour.access.leads_told(report):
            replies += channel_alert(report)
        elif report is None:
            replies += [r for r in delivery.replies if not isinstance(r, Notice)]  # the Claim
        return replies

    async def _tell_leads(
        self,
        event: DomainEvent,
        report: Report | None,
        reach: Reach,
        replies: Sequence[Reply],
        *,
        avoid: Recipient | None = None,
    ) -> bool:
        """Tell the safety leads by any route that works: their channel on the
        worker's platform, then on any other, then each of them privately."""
        home = event.reporter.platform
        platforms = [home, *sorted(p for p in reach.channels if p != home)]
        channels = [c for p in platforms if (c := reach.leads_channel(p)) and c != avoid]
        people = reach.lead_people()
        if report is not None and not any(r.kind == "channel" for r in reach.leads_of(report)):
            channels, people = [], reach.leads_of(report)  # a lead was kept out: privately only
        for channel in channels:
            if await self._send_quietly(channel, replies):
                return True
        told = False
        for lead in people:
            if lead != avoid:
                told |= await self._send_quietly(lead, replies)
        if not told:
            log.error("the safety leads could not be told by any route")
        return told

    async def _tell_worker_undelivered(
        self, event: DomainEvent, report: Report | None, delivery: Delivery, leads_told: bool
    ) -> bool:
        worker = Recipient(event.reporter.platform, "person", event.reporter.key, "worker")
        then = (
            "The safety leads have been asked to follow it up. "
            if leads_told
            else "I couldn't reach the safety leads either. "
        )
        about = f"about {report.reference}" if report else "that someone is in danger"
        role = delivery.to.role
        whom = f"your {role}" if role == "manager" else f"the {role}"
        text = (
            f"I haven't been able to reach {whom} {about} yet. I'll keep "
            f"trying. {then}If you can, please contact them yourself"
            + (
                "; your report is safe."
                if report
                else ", and if anyone is in danger, call the emergency services now."
            )
        )
        return await self._send_quietly(worker, [_note(text)])

    async def _send_quietly(self, to: Recipient, replies: Sequence[Reply]) -> bool:
        """One try, for a message about delivery itself: a failure is logged
        (without content); whoever called decides whether to try again later."""
        messenger = self.messengers.get(to.platform)
        try:
            if messenger is None:
                raise LookupError(to.platform.value)
            await messenger.send(to, replies, key="")
            return True
        except Exception as exc:
            log.error("a notice to the %s could not be sent: %s", to.role, type(exc).__name__)
            return False

    async def _danger_receipt(
        self,
        event: DomainEvent,
        deliveries: list[Delivery],
        outcomes: list[Outcome],
        reach: Reach,
    ) -> bool:
        """Tell the worker in danger what was actually sent, to whom, and what
        is still being tried: never a promise Harbour has not kept. Returns
        whether there is nothing more to say."""
        key = f"{event.id}:receipt"
        said = (await self.store.get_record(RecordKind.DELIVERIES, key) or {}).get("said")
        waiting = any(o is Outcome.WAITING for o in outcomes)
        state = "trying" if waiting else "done"
        if said == state or said == "done":
            return not waiting
        who = "the safety leads" if event.kind is EventKind.RISK_CRITICAL else "your manager"
        now = self.harbour.clock()
        if not deliveries and event.kind is EventKind.DANGER_MANAGER:
            text = "I don't know who your manager is, so I couldn't tell them."
        elif not deliveries:
            text = (
                "Harbour has no safety leads set up to alert, so nobody has been told yet. "
                "Please call the emergency services if anyone is in danger, and tell your "
                "manager or a colleague directly."
            )
        elif waiting:
            text = (
                f"I haven't been able to reach {who} yet. I'm still trying and will tell you "
                "when they have it. If anyone is in danger, call the emergency services now."
            )
        else:
            verb = "have" if event.kind is EventKind.RISK_CRITICAL else "has"
            text = f"{who[0].upper()}{who[1:]} {verb} now been alerted ({local(now, self.harbour.tz)})."
        level = NoticeLevel.WARNING if waiting or not deliveries else NoticeLevel.SUCCESS
        worker = Recipient(event.reporter.platform, "person", event.reporter.key, "worker")
        if await self._send_quietly(worker, [_note(text, level)]):
            await self.store.put_record(RecordKind.DELIVERIES, key, {"said": state})
            return not waiting
        return False

    # ------------------------------------------------------------------ what cannot be delivered at all

    async def _poisoned(self, event: DomainEvent, exc: Exception) -> None:
        count = self._failures[event.id] = self._failures.get(event.id, 0) + 1
        log_failure(f"delivering a {event.kind.value} alert (pass {count})", exc)
        if count < self.poison_after:
            return
        self._failures.pop(event.id, None)
        await self.store.park_event(event.id, f"{type(exc).__name__} while delivering")

    async def _report_dead_letters(self) -> None:
        """Tell the leads and administrators (without content) about alerts set
        aside because they could not be read or delivered at all."""
        letters = [d for d in await self.store.dead_letters() if not d.reported]
        if not letters:
            return
        reach = Reach(
            access=self.harbour.access,
            channels=self._channels(),
            platforms=frozenset(self.messengers),
        )
        text = (
            f"{len(letters)} alert(s) could not be read or delivered and have been set aside. "
            "Some people may not have been told about a case. Please ask your Harbour "
            "administrator to look at Harbour's log and its dead-letter list today."
        )
        note = [_note(text, NoticeLevel.DANGER)]
        told = False
        channels = [c for p in sorted(reach.channels) if (c := reach.leads_channel(p))]
        for channel in channels:
            told |= await self._send_quietly(channel, note)
        if not told:
            for lead in reach.lead_people():
                told |= await self._send_quietly(lead, note)
        for admin in reach.admins():
            told |= await self._send_quietly(admin, note)
        if told:
            await self.store.mark_dead_letter_reported([d.id for d in letters])

    # ------------------------------------------------------------------ records

    async def _card(self, report: Report | None, to: Recipient) -> str | None:
        """The case's card in this channel, if one was posted there (a card in
        another platform's channel, or an older channel, is not edited here)."""
        if report is None:
            return None
        found = await self.store.get_record(RecordKind.CHANNEL_MESSAGES, report.reference)
        if not found or (found.get("platform"), found.get("address")) != (
            to.platform.value,
            to.address,
        ):
            return None
        return str(found["message"])

    async def _log(
        self, report: Report | None, at: datetime, action: str, delivery: Delivery, why: str = ""
    ) -> None:
        """The case's timeline says what reached whom (roles only, no content)."""
        if report is None:
            return
        detail = f"{delivery.purpose} to the {delivery.to.role}" + (f": {why}" if why else "")

        def change(stored: Report) -> list[DomainEvent]:
            stored.log(at, action, None, detail)
            return []

        await self.store.update_report(report.reference, change)
