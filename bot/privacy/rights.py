"""A person's rights over what Harbour holds about her (issue #14).

* `mydata`: anyone gets everything Harbour holds about her, as one JSON file
  in her private chat with Harbour, on every surface.
* `admin erase <id>`: an administrator erases a person (after seeing what
  will go, in counts, and confirming): her reports, her conversation, her
  records; on other people's cases her id becomes `ERASED`.
* Files waiting for her to accept them: Teams asks a person before a bot may
  send her a file, so the file is kept (sealed, `RecordKind.OUTGOING_FILES`)
  until she answers, on whichever instance her answer arrives.

What stays, and why (the README says the same): each case's audit chain and
the store-wide one keep the ids of who viewed or acted (they are
tamper-evident: rewriting them would break them); a worker's choice to keep a
manager out of her case (`Report.kept_out`) keeps that manager's id, because
it protects the worker; the record that someone is no longer a safety lead
stays, so a directory file still naming her cannot make her one again; and
delivery records of alerts sent to her about other people's cases go with
their own retention (`Store.prune_delivered`).
"""

from __future__ import annotations

import contextlib
import json
import logging
import secrets
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ValidationError

from bot.access import Role
from bot.conversation.session import pending_reply, with_current
from bot.directory import parse_person
from bot.models import FileReply, Notice, NoticeLevel, Option, PersonRef
from bot.outcome import Outcome
from bot.privacy.audit import AuditAction, AuditEntry
from bot.reports import DomainEvent, Report, TimelineEntry
from bot.services import Services
from bot.session import PendingChoice, Session
from bot.store import RecordKind, Store
from bot.store.base import ReportChange

log = logging.getLogger(__name__)

ERASED = "erased-person"
"""What replaces an erased person's id on other people's cases: the same for
everyone, so nothing links two erased people, and never a Harbour id (no
platform could ever send it, so it is nobody's access)."""
ERASE_QUESTION = "erase:"
"""The confirmation `admin erase` asks, as `erase:<person id>`."""
FILE_WAIT = timedelta(days=1)
"""How long a file waits for her to accept it before it is forgotten."""

MYDATA = "mydata"
NOTE_WITHHELD = (
    "A private note the people supporting you wrote for each other. Its words are not "
    "included: they may be about other people. Your organisation's data protection officer "
    "can release them to you after weighing those people's rights."
)
WHAT_THIS_IS = (
    "Everything Harbour holds about you, made when you asked (mydata). It has: the reports "
    "you filed as they are stored (your answers, updates, reflections, check-ins, their status "
    "and what was done about them), any conversation with Harbour you haven't finished, your "
    "name and how Harbour reaches you, who manages you, the cases you are named on (their "
    "references and what you did, nothing of what they say), any immediate danger you raised "
    "before a report was filed, and the audit entries of what you did in Harbour. Notes your "
    "case team wrote for each other are marked but their words are left out. Who else has "
    "looked at a report of yours: say audit and its reference."
)
CAPTION = (
    "Here is everything Harbour holds about you, in one file (JSON: any text editor opens "
    "it): your reports and what was done about them, any draft you haven't finished, your "
    "name and how Harbour reaches you, and the cases you're named on. It has your personal "
    "information in it, so please keep it somewhere private."
)
CAPTION_EMPTY = (
    "Harbour holds no reports, drafts or records about you. Here is the file all the same, "
    "so you can see for yourself. Keep it somewhere private: it has your Harbour id in it."
)


# ------------------------------------------------------------------ cases she is named on


class CaseRole(StrEnum):
    """What someone other than the worker was, or did, on a case."""

    MANAGER = "named as the worker's manager"
    ACKNOWLEDGED = "acknowledged it"
    CLAIMED = "claimed it"
    SCHEDULED_CHECKINS = "scheduled check-ins"
    TOOK_TALK = "took a request to talk"
    ACTED = "recorded something on it"


def roles_on(report: Report, key: str) -> list[CaseRole]:
    """Where a case names this person (not its worker), in `CaseRole` order.
    Being refused access is not a role (it names a case she may not see)."""
    roles: list[CaseRole] = []
    if key in report.managers:
        roles.append(CaseRole.MANAGER)
    if report.acknowledged_by == key:
        roles.append(CaseRole.ACKNOWLEDGED)
    if report.claimed_by == key:
        roles.append(CaseRole.CLAIMED)
    if any(c.by == key for c in report.checkins):
        roles.append(CaseRole.SCHEDULED_CHECKINS)
    if any(c.talk_taken_by == key for c in report.checkins):
        roles.append(CaseRole.TOOK_TALK)
    if any(e.actor == key and e.action not in ROLE_ENTRIES for e in report.timeline):
        roles.append(CaseRole.ACTED)
    return roles


ROLE_ENTRIES = frozenset({"acknowledged", "claimed", "checkins-scheduled", "talk-taken", "refused"})
"""Timeline entries a role above already says (or, refused, that are no role)."""


def names(report: Report, key: str) -> bool:
    """Whether erasing this person changes the case (`anonymise`)."""
    return (
        key in report.managers
        or key in (report.acknowledged_by, report.claimed_by)
        or any(key in (c.by, c.talk_taken_by) for c in report.checkins)
        or any(e.actor == key for e in report.timeline)
    )


def anonymise(key: str) -> ReportChange:
    """The change (a `ReportChange`) that puts `ERASED` wherever a case
    names this person: its managers, who acknowledged or claimed it, who
    scheduled a check-in or took a request to talk, and its timeline. Not
    `kept_out`: the worker's choice to keep that person out protects her."""

    def swap(value: str | None) -> str | None:
        return ERASED if value == key else value

    def change(report: Report) -> list[DomainEvent] | None:
        if not names(report, key):
            return None
        report.managers = [ERASED if k == key else k for k in report.managers]
        report.acknowledged_by = swap(report.acknowledged_by)
        report.claimed_by = swap(report.claimed_by)
        for checkin in report.checkins:
            checkin.by = ERASED if checkin.by == key else checkin.by
            checkin.talk_taken_by = swap(checkin.talk_taken_by)
        report.timeline = [
            e.model_copy(update={"actor": ERASED}) if e.actor == key else e for e in report.timeline
        ]
        return []

    return change


async def _others_cases(store: Store, key: str) -> list[Report]:
    """Every case filed by someone else that names this person. Reads every
    report: asked only by `mydata` and `admin erase`, never on a hot path."""
    found = []
    for reference in await store.references():
        report = await store.get_report(reference)
        if report is not None and report.reporter.key != key and names(report, key):
            found.append(report)
    return found


# ------------------------------------------------------------------ mydata


class NamedOn(BaseModel):
    reference: str
    roles: list[CaseRole]


class ManagerRecords(BaseModel):
    set_in_chat: dict[str, Any] | None
    """Who manages her, as set in chat (by an administrator, or by herself)."""
    in_directory: list[str]
    """Who the team directory says manages her now."""
    you_manage: list[str]
    """Whom the directory says she manages (their Harbour ids)."""


class WaitingFileShown(BaseModel):
    name: str
    expires_at: datetime


class MyData(BaseModel):
    """The `mydata` file: one document, in her words and Harbour's, with ids
    where Harbour keeps ids."""

    what_this_is: str
    made_at: datetime
    harbour_id: str
    name: dict[str, Any] | None
    how_harbour_reaches_you: dict[str, Any] | None
    managers: ManagerRecords
    safety_lead: dict[str, Any] | None
    reports: list[dict[str, Any]]
    conversation: dict[str, Any] | None
    danger_raised_before_a_report: list[dict[str, Any]]
    files_waiting_for_you: list[WaitingFileShown]
    cases_you_are_named_on: list[NamedOn]
    audit_entries_of_what_you_did: list[AuditEntry]

    @property
    def holds_nothing(self) -> bool:
        return not (
            self.name
            or self.how_harbour_reaches_you
            or self.managers.set_in_chat
            or self.safety_lead
            or self.reports
            or self.conversation
            or self.danger_raised_before_a_report
            or self.files_waiting_for_you
            or self.cases_you_are_named_on
        )


def report_as_hers(report: Report) -> dict[str, Any]:
    """Her report as stored, but for the words of the case team's private
    notes: they were written for the manager and safety leads only (the case
    card never shows them to her), and may be about other people, so each is
    marked, with when and by whom, and its words left out."""
    timeline = [
        TimelineEntry(at=e.at, actor=e.actor, action=e.action, detail=NOTE_WITHHELD)
        if e.action == "note"
        else e
        for e in report.timeline
    ]
    return report.model_copy(update={"timeline": timeline}).model_dump(mode="json")


async def gather(h: Services, who: PersonRef) -> MyData:
    """Everything Harbour holds about `who`, from the `Store` interface.

    Not in it, by design: outbox events and delivery records (ids, statuses and
    times Harbour keeps to deliver alerts, pruned with their retention); the
    ids of the events she sent (kept only to ignore a platform's redelivery); the
    case team's note words (see `report_as_hers`); cases she is a manager of
    but was kept out of, or was only refused (telling her would say a case
    she may not see exists); other people's views of her reports (`audit`)."""
    store = h.store
    key = who.key
    mine = await store.reports_by(who)
    session = await store.load_session(who)
    others = [
        r for r in await _others_cases(store, key) if Role.EXCLUDED not in h.access.roles(who, r)
    ]
    named = [
        NamedOn(reference=r.reference, roles=roles) for r in others if (roles := roles_on(r, key))
    ]
    audit: list[AuditEntry] = []
    for chain in [None, *(r.reference for r in mine), *(n.reference for n in named)]:
        audit += [e for e in await store.audit_chain(chain) if e.actor == key]
    audit.sort(key=lambda e: (e.at, e.reference or "", e.n))
    danger = [
        v
        for v in (await store.records(RecordKind.DANGER_ALERTS)).values()
        if v.get("reporter") == key
    ]
    waiting = [
        WaitingFileShown(name=w.file.name, expires_at=w.expires_at)
        for w in await waiting_files(store)
        if w.person == key
    ]
    manages = sorted(w for w, ms in h.directory.managers.items() if key in ms)
    return MyData(
        what_this_is=WHAT_THIS_IS,
        made_at=h.clock(),
        harbour_id=key,
        name=await store.get_record(RecordKind.PEOPLE, key),
        how_harbour_reaches_you=await store.get_record(RecordKind.CONTACTS, key),
        managers=ManagerRecords(
            set_in_chat=await store.get_record(RecordKind.MANAGERS, key),
            in_directory=[m.key for m in h.directory.managers_of(who)],
            you_manage=manages,
        ),
        safety_lead=await store.get_record(RecordKind.LEADS, key),
        reports=[report_as_hers(r) for r in mine],
        conversation=session.model_dump(mode="json") if session is not None else None,
        danger_raised_before_a_report=danger,
        files_waiting_for_you=waiting,
        cases_you_are_named_on=named,
        audit_entries_of_what_you_did=audit,
    )


async def mydata_command(h: Services, session: Session, args: str) -> Outcome:
    """`mydata`: everything Harbour holds about the person asking, as a JSON
    file in her private chat, on every surface. The export is recorded in the
    store-wide audit (who, when, where; nothing of what it held) before the
    file goes."""
    who = session.person
    now = h.clock()
    found = await gather(h, who)
    content = json.dumps(found.model_dump(mode="json"), indent=2, ensure_ascii=False)
    await h.store.append_audit(
        AuditEntry(
            at=now,
            actor=who.key,
            action=AuditAction.EXPORTED,
            surface=who.platform.value,
            detail=MYDATA,
        )
    )
    file = FileReply(
        name=f"harbour-mydata-{now.astimezone(h.tz).date().isoformat()}.json",
        media_type="application/json",
        content=content.encode("utf-8"),
        caption=CAPTION_EMPTY if found.holds_nothing else CAPTION,
        ask_again=f"{h.command_prefix(who)}{MYDATA}",
    )
    return with_current(h, session, [file])


# ------------------------------------------------------------------ admin erase


@dataclass
class Erasable:
    """What Harbour holds about one person that `admin erase` would remove or
    anonymise (keys and references: shown to the administrator as counts)."""

    reports: list[str] = field(default_factory=list)
    conversation: bool = False
    records: list[tuple[RecordKind, str]] = field(default_factory=list)
    claimed_alerts: list[str] = field(default_factory=list)
    """Danger alerts (raised before a report) she claimed as a safety lead."""
    cases: list[str] = field(default_factory=list)
    """Other people's cases that name her."""
    events: list[str] = field(default_factory=list)
    """Alerts about her not yet sent that no report of hers holds (raised by
    a draft, before its report was filed)."""

    @property
    def nothing(self) -> bool:
        return not (
            self.reports
            or self.conversation
            or self.records
            or self.claimed_alerts
            or self.cases
            or self.events
        )


OWN_RECORDS = (RecordKind.PEOPLE, RecordKind.CONTACTS, RecordKind.MANAGERS)
"""Records kept under her own id: her name, how to reach her, who manages her."""


async def survey(h: Services, person: PersonRef) -> Erasable:
    """What `admin erase` would erase about this person, now."""
    store = h.store
    key = person.key
    found = Erasable(
        reports=[r.reference for r in await store.reports_by(person)],
        conversation=await store.load_session(person) is not None,
    )
    for kind in OWN_RECORDS:
        if await store.get_record(kind, key) is not None:
            found.records.append((kind, key))
    for draft_id, alert in (await store.records(RecordKind.DANGER_ALERTS)).items():
        if alert.get("reporter") == key:
            found.records.append((RecordKind.DANGER_ALERTS, draft_id))
        elif alert.get("claimed_by") == key:
            found.claimed_alerts.append(draft_id)
    for token, record in (await store.records(RecordKind.OUTGOING_FILES)).items():
        if record.get("person") == key:
            found.records.append((RecordKind.OUTGOING_FILES, token))
    found.cases = [r.reference for r in await _others_cases(store, key)]
    found.events = [
        e.id
        for e in await store.pending_events()
        if e.reporter == person and e.reference not in found.reports
    ]
    return found


def _in_directory(h: Services, key: str) -> bool:
    d = h.directory
    return (
        key in d.managers
        or key in d.named
        or any(key in ms for ms in (*d.managers.values(), *d.named.values()))
    )


def _say(text: str, level: NoticeLevel = NoticeLevel.INFO, title: str = "") -> Notice:
    return Notice(level=level, text=text, title=title)


async def erase_command(h: Services, session: Session, args: str) -> Outcome:
    """`admin erase <id>`: show an administrator what erasing this person
    would remove (counts only), and ask her to confirm. Refused kindly, with
    nothing changed: for anyone not an administrator, for herself, for a
    current safety lead, and for someone Harbour holds nothing about."""
    admin = session.person
    prefix = h.command_prefix(admin)
    if not h.access.is_admin(admin):
        text = (
            "Only Harbour administrators can erase someone's data, so nothing was changed. "
            f"If you'd like to see everything Harbour holds about you, say {prefix}{MYDATA}."
        )
        return Outcome([_say(text, NoticeLevel.WARNING)], session)
    words = args.split()
    person = parse_person(words[0]) if len(words) == 1 else None
    if person is None:
        text = (
            f"Say whose data to erase by their Harbour id, for example {prefix}admin erase "
            f"{admin.platform.value}:{admin.workspace}:<someone> (whoami shows anyone their id)."
        )
        return Outcome([_say(text, NoticeLevel.WARNING)], session)
    refused = await _refusal(h, admin, person)
    if refused is not None:
        return Outcome([refused], session)
    found = await survey(h, person)
    if found.nothing:
        text = f"Harbour holds nothing about {person.key}, so there is nothing to erase."
        if _in_directory(h, person.key):
            text += (
                " They are only named in the team directory: take them out of the directory "
                "file (and admin manager, for managers set in chat)."
            )
        return Outcome([_say(text)], session)
    session.pending = PendingChoice(
        question=f"{ERASE_QUESTION}{person.key}",
        token=h.ids(),
        prompt="Erase all of this now? It can't be undone.",
        options=[
            Option(value="erase", label="Erase it all"),
            Option(value="cancel", label="Cancel: keep everything"),
        ],
        context={"person": person.key},
    )
    return Outcome([_preview(h, person, found), pending_reply(session.pending)], session)


async def _refusal(h: Services, admin: PersonRef, person: PersonRef) -> Notice | None:
    """Why this administrator may not erase this person now, if she may not."""
    prefix = h.command_prefix(admin)
    if person == admin:
        return _say(
            "You can't erase your own data: please ask another administrator, so no one "
            f"erases records about themselves alone. Say {prefix}{MYDATA} to see what "
            "Harbour holds about you.",
            NoticeLevel.WARNING,
        )
    if h.access.is_lead(person):
        return _say(
            f"{person.key} is a safety lead, so nothing was erased: cases rely on their "
            f"leads. Remove them as a lead first ({prefix}admin lead remove {person.key}), "
            "then erase them.",
            NoticeLevel.WARNING,
        )
    if await _manages(h, admin, person):
        return _say(
            f"You manage (or managed) {person.key}, so another administrator must erase their "
            "data: nobody erases records about their own team alone. Nothing was changed.",
            NoticeLevel.WARNING,
        )
    return None


async def _manages(h: Services, admin: PersonRef, person: PersonRef) -> bool:
    """Whether the administrator manages this person now, or was named (or
    kept out) as her manager on a report of hers: a manager she kept out may
    be the problem, and must neither learn of her reports nor erase them."""
    if admin in h.access.current_managers(person):
        return True
    return any(
        admin.key in report.managers or admin.key in report.kept_out
        for report in await h.store.reports_by(person)
    )


def _preview(h: Services, person: PersonRef, found: Erasable) -> Notice:
    kinds = {kind for kind, _ in found.records}
    lines = [
        # No count: an administrator has no access to reports, not even to how many.
        "• every report of theirs, with its alerts, check-ins and audit",
        f"• their conversation with Harbour{' (drafts included)' if found.conversation else ': none kept'}",
        f"• their name and contact records{'' if kinds & {RecordKind.PEOPLE, RecordKind.CONTACTS} else ': none kept'}",
    ]
    if RecordKind.MANAGERS in kinds:
        lines.append("• who manages them, as set in chat")
    dangers = sum(1 for kind, _ in found.records if kind is RecordKind.DANGER_ALERTS)
    if dangers:
        lines.append(f"• {dangers} immediate-danger alert record(s) about them")
    files = sum(1 for kind, _ in found.records if kind is RecordKind.OUTGOING_FILES)
    if files:
        lines.append(f"• {files} file(s) waiting for them to accept")
    if found.events:
        lines.append(f"• {len(found.events)} alert(s) about them not yet sent: never sent")
    if found.cases or found.claimed_alerts:
        count = len(found.cases) + len(found.claimed_alerts)
        lines.append(
            f"• {count} case(s) or alert(s) of other people that name them (as manager, or "
            f'for what they did): their id is replaced by "{ERASED}"'
        )
    lines.append("Audit entries keep their id: the audit cannot be rewritten without breaking it.")
    if _in_directory(h, person.key):
        lines.append(
            "They are also named in the team directory: change that too (the directory "
            "file, or admin manager), or alerts may still be meant for them."
        )
    return _say("\n".join(lines), NoticeLevel.WARNING, f"Erasing {person.key} removes")


async def answer_erase(
    h: Services, session: Session, pending: PendingChoice, value: str
) -> Outcome:
    """The administrator's answer to "Erase all of this now?"."""
    admin = session.person
    person = parse_person(pending.context.get("person", ""))
    if value != "erase" or person is None:
        return Outcome([_say("Nothing was erased.")], session)
    if not h.access.is_admin(admin):
        return Outcome(
            [_say("Only Harbour administrators can erase someone's data.", NoticeLevel.WARNING)],
            session,
        )
    refused = await _refusal(h, admin, person)  # a lead named since she was asked
    if refused is not None:
        return Outcome([refused], session)
    done = await erase_person(h, person, by=admin)
    text = (
        f"Done: {person.key} is erased. Their reports and the records about them are gone, "
        f'and {done.cases} case(s) of other people now say "{ERASED}" where they named them.'
    )
    return Outcome([_say(text, NoticeLevel.SUCCESS)], session)


@dataclass(frozen=True)
class Erased:
    """How much one erasure removed or changed (what the audit keeps: counts)."""

    reports: int
    records: int
    cases: int
    events: int

    @property
    def detail(self) -> str:
        return (
            f"a person: {self.reports} reports, {self.records} records, "
            f"{self.cases} cases anonymised, {self.events} alerts unsent"
        )


async def erase_person(h: Services, person: PersonRef, *, by: PersonRef) -> Erased:
    """Erase what Harbour holds about `person`. Each step can be taken again,
    so running it again after an interruption finishes what the first run
    did not. Her own data goes while her turn is held (none of her events is
    handled meanwhile); other people's cases change through
    `Store.update_report`, never over a change made meanwhile."""
    store = h.store
    key = person.key
    async with h.turn(key):
        found = await survey(h, person)
        done = Erased(
            reports=len(found.reports),
            records=len(found.records),
            cases=len(found.cases) + len(found.claimed_alerts),
            events=len(found.events),
        )
        # Audited before anything goes: an erasure stopped half-way is on
        # record, and the run that finishes it adds what was left.
        await store.append_audit(
            AuditEntry(
                at=h.clock(),
                actor=by.key,
                action=AuditAction.ERASED,
                surface=by.platform.value,
                detail=done.detail,
            )
        )
        if found.events:
            # Raised by a draft of hers (immediate danger) before any report:
            # no report erases them, and nobody is to be alerted about her now.
            # Settled first, so her own file holds nothing still to deliver.
            await store.mark_delivered(found.events, h.clock())
        for reference in found.reports:
            await store.erase_report(reference)
        await store.forget_person(person)
        for kind, record_key in found.records:
            await store.put_record(kind, record_key, None)
    for draft_id in found.claimed_alerts:
        alert = await store.get_record(RecordKind.DANGER_ALERTS, draft_id)
        if alert is not None and alert.get("claimed_by") == key:
            await store.put_record(
                RecordKind.DANGER_ALERTS, draft_id, {**alert, "claimed_by": ERASED}
            )
    change = anonymise(key)
    for reference in found.cases:
        await store.update_report(reference, change)
    _forget_in_directory(h, key)
    log.info("a person's data was erased (%s)", done.detail)
    return done


def _forget_in_directory(h: Services, key: str) -> None:
    """This process's directory, as if her chat record had never been: the
    directory file's word for her stays (Harbour cannot change that file)."""
    directory = h.directory
    directory.named.pop(key, None)
    if key in directory.file_managers:
        directory.managers[key] = list(directory.file_managers[key])
    else:
        directory.managers.pop(key, None)


# ------------------------------------------------------------------ files waiting for her


class WaitingFile(BaseModel):
    """A file kept until its person accepts or declines it (Teams asks first),
    as a `RecordKind.OUTGOING_FILES` record (sealed whole) under a random token."""

    person: str
    file: FileReply
    expires_at: datetime


async def keep_waiting_file(store: Store, person: PersonRef, file: FileReply, now: datetime) -> str:
    """Keep a file for her to accept within `FILE_WAIT`; returns its token.
    Files that waited too long are forgotten first."""
    await forget_expired_files(store, now)
    token = secrets.token_urlsafe(18)
    waiting = WaitingFile(person=person.key, file=file, expires_at=now + FILE_WAIT)
    await store.put_record(RecordKind.OUTGOING_FILES, token, waiting.model_dump(mode="json"))
    return token


async def take_waiting_file(
    store: Store, token: str, person: PersonRef, now: datetime
) -> WaitingFile | None:
    """The file waiting under `token` for this person, forgotten as it is
    taken (so it goes once, whichever instance her answer reaches). None if
    there is none for her: sent, declined, expired, or someone else's."""
    record = await store.get_record(RecordKind.OUTGOING_FILES, token) if token else None
    if record is None or record.get("person") != person.key:
        return None
    await store.put_record(RecordKind.OUTGOING_FILES, token, None)
    try:
        waiting = WaitingFile.model_validate(record)
    except ValidationError as exc:
        log.error("a file waiting to be sent could not be read (%s)", exc.error_count())
        return None
    return waiting if waiting.expires_at > now else None


async def waiting_files(store: Store) -> list[WaitingFile]:
    """Every file waiting to be accepted that can be read."""
    found = []
    for record in (await store.records(RecordKind.OUTGOING_FILES)).values():
        with contextlib.suppress(ValidationError):
            found.append(WaitingFile.model_validate(record))
    return found


async def forget_expired_files(store: Store, now: datetime) -> int:
    """Forget files nobody accepted in time (and any that cannot be read).
    Returns how many went."""
    gone = 0
    for token, record in (await store.records(RecordKind.OUTGOING_FILES)).items():
        try:
            expired = WaitingFile.model_validate(record).expires_at <= now
        except ValidationError:
            expired = True
        if expired:
            await store.put_record(RecordKind.OUTGOING_FILES, token, None)
            gone += 1
    return gone
