"""The audit as people meet it: what each step and each alert adds to a case's
audit, `audit HB-…` in chat, and `harbour audit` for whoever runs Harbour.

What counts, decided here and nowhere else:

* a view: a case card (`SummaryCard.case`) shown to someone in a conversation;
* an action: an event a person's step raised about a case (filing, an update,
  a case action, a check-in answer…), named by its kind or case change;
* an alert delivered about a case: to a person (a view, when it carried the
  case card) or to the safety leads' channel.

Entries hold who (a platform id), what, which case, when and where; never a
word anyone wrote. The chain itself (`bot.privacy.audit`) makes a changed,
removed or reordered entry show.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, TextIO

from bot.access import Action
from bot.directory import parse_person
from bot.models import Notice, NoticeLevel, PersonRef, Refresh, Reply, SummaryCard, SummaryField
from bot.outcome import Outcome
from bot.privacy.audit import HARBOUR, AuditAction, AuditEntry, first_broken
from bot.reports import DomainEvent, EventKind, Report
from bot.store import RecordKind, Store
from bot.store.base import GoneCase
from bot.when import local

if TYPE_CHECKING:
    from bot.alerts.messenger import Recipient
    from bot.services import Services
    from bot.session import Session

log = logging.getLogger(__name__)

AUDIT_REFUSED = (
    "A case's audit is read by the safety leads, Harbour's administrators and the worker "
    "herself, so nothing was shown."
)
SHOWN = 25
"""The newest entries `audit HB-…` shows in chat (the CLI shows all)."""


# ------------------------------------------------------------------ what is recorded


def shown_cases(replies: Iterable[Reply]) -> list[str]:
    """The cases whose card is among these replies, once each, in order."""
    found: list[str] = []
    for reply in replies:
        inner: Iterable[Reply] = reply.replies if isinstance(reply, Refresh) else (reply,)
        for shown in inner:
            if isinstance(shown, SummaryCard) and shown.case and shown.case not in found:
                found.append(shown.case)
    return found


def action_word(event: DomainEvent) -> str:
    """What a person did, in the word the audit keeps: the case change, else the kind."""
    return event.change.value if event.change is not None else event.kind.value


def step_entries(
    person: PersonRef,
    at: datetime,
    replies: Sequence[Reply],
    events: Sequence[DomainEvent],
    filed: str | None = None,
) -> list[AuditEntry]:
    """What one person's step adds to the audit: the report she filed, what
    she did to cases (the events her step raised), and the cases shown to her."""
    surface = person.platform.value
    entries: list[AuditEntry] = []
    if filed is not None:
        entries.append(_entry(person.key, AuditAction.FILED, filed, at, surface))
    for event in events:
        if event.reference is None or event.kind is EventKind.REPORT_FILED:
            continue
        entries.append(
            _entry(person.key, AuditAction.ACTED, event.reference, at, surface, action_word(event))
        )
    for reference in shown_cases(replies):
        entries.append(_entry(person.key, AuditAction.VIEWED, reference, at, surface))
    return entries


def delivery_entry(
    to: Recipient, reference: str, at: datetime, replies: Sequence[Reply]
) -> AuditEntry:
    """An alert about a case that reached someone: a view of the case when it
    carried the case card, else a notice (the channel's card, a reminder)."""
    actor = to.address if to.kind == "person" else channel_actor(to.platform.value, to.address)
    detail = "case shown" if reference in shown_cases(replies) else "notice"
    return _entry(actor, AuditAction.ALERT_DELIVERED, reference, at, to.platform.value, detail)


def channel_actor(platform: str, address: str) -> str:
    return f"channel:{platform}:{address}"


def _entry(
    actor: str,
    action: AuditAction,
    reference: str | None,
    at: datetime,
    surface: str,
    detail: str = "",
) -> AuditEntry:
    return AuditEntry(
        at=at, actor=actor, action=action, reference=reference, surface=surface, detail=detail
    )


async def record(store: Store, entries: Iterable[AuditEntry]) -> None:
    """Append entries to their chains. What they record has already happened,
    so a store that cannot take them now is logged (no content) and the step
    goes on: the person is not told her step failed when it did not."""
    for entry in entries:
        try:
            await store.append_audit(entry)
        except GoneCase:
            continue  # erased meanwhile: its audit went with it
        except Exception as exc:
            log.error(
                "an audit entry (%s) could not be written (%s)", entry.action, type(exc).__name__
            )


# ------------------------------------------------------------------ reading it in chat


async def audit_command(h: Services, session: Session, args: str) -> Outcome:
    """`audit HB-…`: who viewed or acted on a case, and when. For the safety
    leads and administrators (not on a case the worker kept as her own), and
    for the worker, who sees who else has looked at her report."""
    from bot.casework import NOT_A_CASE, refusal

    who = session.person
    words = args.split()
    if not words:
        prefix = h.command_prefix(who)
        text = f"Which case? Say {prefix}audit and its reference, for example {prefix}audit HB-2026-0001."
        return Outcome([Notice(level=NoticeLevel.INFO, text=text)], session)
    report = await h.store.get_report(words[0])
    if report is None:
        return refusal(h, session, None, who, Action.READ_AUDIT.value, NOT_A_CASE)
    decision = h.access.decide(who, Action.READ_AUDIT, report)
    if not decision:  # her manager is told why: she knows the case exists
        action = Action.READ_AUDIT.value
        return refusal(h, session, report, who, action, decision, not_allowed=AUDIT_REFUSED)
    entries = await h.store.audit_chain(report.reference)
    names = await _names(h.store, {e.actor for e in entries})
    return Outcome([audit_card(h, report, who, entries, names)], session)


def audit_card(
    h: Services,
    report: Report,
    reader: PersonRef,
    entries: Sequence[AuditEntry],
    names: dict[str, str],
) -> SummaryCard:
    """The audit of a case in chat. The worker reads who else has looked at or
    acted on her report; the leads and administrators read every entry, and
    whether the chain holds."""
    own = reader == report.reporter
    listed = [e for e in entries if not (own and e.actor == reader.key)]
    rows = [
        SummaryField(
            label=local(e.at, h.tz),
            value=f"{describe_actor(e.actor, names, report)} {ACTION_WORDS[e.action]}"
            + (f" ({e.detail})" if e.detail and e.action is AuditAction.ACTED else "")
            + (f" · {e.surface}" if e.surface else ""),
        )
        for e in listed[-SHOWN:]
    ]
    if not rows:
        rows = [SummaryField(label="So far", value="Nobody else has looked at it yet.")]
    broken = first_broken(entries)
    if own:
        title = f"Who has seen {report.reference}"
        footer = "Everyone who opens or acts on your report is recorded here."
    else:
        title = f"Audit of {report.reference}"
        footer = (
            f"{len(entries)} entries; the record is intact."
            if broken is None
            else f"{len(entries)} entries. Entry {broken} has been changed or removed: "
            "tell your Harbour administrator (harbour audit verify)."
        )
    if len(listed) > SHOWN:
        footer = f"The newest {SHOWN} of {len(listed)}. " + footer
    return SummaryCard(title=title, fields=tuple(rows), footer=footer)


ACTION_WORDS = {
    AuditAction.FILED: "filed it",
    AuditAction.VIEWED: "opened it",
    AuditAction.ALERT_DELIVERED: "was alerted",
    AuditAction.ACTED: "acted on it",
    AuditAction.EXPORTED: "exported it",
    AuditAction.ERASED: "erased data",
    AuditAction.PURGED: "purged data",
    AuditAction.KEY_ROTATED: "rotated the key",
}


def describe_actor(actor: str, names: dict[str, str], report: Report | None = None) -> str:
    """Who an entry names, as a reader knows them: a name Harbour was told,
    "the worker", the leads' channel, or the id."""
    if actor == HARBOUR:
        return "Harbour"
    if actor.startswith("channel:"):
        return "The safety leads' channel"
    if report is not None and actor == report.reporter.key:
        return "The worker"
    return names.get(actor) or actor


async def _names(store: Store, actors: set[str]) -> dict[str, str]:
    names: dict[str, str] = {}
    for actor in actors:
        if parse_person(actor) is None:
            continue
        record = await store.get_record(RecordKind.PEOPLE, actor)
        if record and record.get("name"):
            names[actor] = str(record["name"])
    return names


# ------------------------------------------------------------------ for whoever runs Harbour


async def verify(store: Store, out: TextIO) -> int:
    """Check every chain; print one line per broken chain (where it first
    breaks) and a total. Returns how many chains are broken."""
    broken = 0
    chains = await store.audit_chains()
    entries = 0
    for chain in chains:
        found = await store.audit_chain(chain)
        entries += len(found)
        at = first_broken(found, trimmed=chain is None)
        if at is not None:
            broken += 1
            print(
                f"{chain or 'store-wide audit'}: entry {at} has been changed, removed or "
                "reordered (every entry after it is unproven)",
                file=out,
            )
    verdict = "all intact" if broken == 0 else f"{broken} broken"
    print(f"Checked {len(chains)} audit chains, {entries} entries: {verdict}.", file=out)
    return broken


async def show(store: Store, reference: str | None, out: TextIO) -> int:
    """Print a chain (a case's, or the store-wide one), every entry, ids as
    stored. Returns 0, or 1 if it has no entries."""
    entries = await store.audit_chain(reference)
    if not entries:
        print(f"No audit entries for {reference or 'the store-wide chain'}.", file=out)
        return 1
    for e in entries:
        detail = f" ({e.detail})" if e.detail else ""
        print(
            f"{e.n:>6} {e.at.isoformat()} {e.actor} {e.action.value}{detail} [{e.surface}]",
            file=out,
        )
    at = first_broken(entries, trimmed=reference is None)
    print("Intact." if at is None else f"Broken at entry {at}.", file=out)
    return 0
