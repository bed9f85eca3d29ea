"""Evidence in the conversation: `add evidence HB-…`, the form's finisher, and
files shared in the private chat.

Only the reporter adds evidence to her case (`Action.UPDATE`, hers alone);
someone else's case answers exactly as a case that does not exist. A closed
case still takes evidence: posts keep coming after a case is closed, and
`Action.UPDATE` is not an open-only action. The case team adding evidence with
her consent (`Report.pack_consent`) is not offered yet.
"""

from __future__ import annotations

import asyncio
from itertools import count

from bot import engine
from bot.access import Action
from bot.conversation.session import resume, start, with_current
from bot.conversation.worker import own_report, own_reports
from bot.engine import Draft
from bot.evidence.intake import (
    EVIDENCE_MAX_BYTES,
    CheckedFile,
    Details,
    add_to_log,
    check_file,
    count_of,
    evidence_counts,
    new_items,
)
from bot.evidence.log import EvidenceFile, head
from bot.models import FilesShared, Notice, NoticeLevel, Reply, SharedFile, Text
from bot.outcome import Outcome
from bot.services import Services
from bot.session import Session
from flows import FLOWS
from flows.evidence import EVIDENCE, EvidenceAnswers


def _not_found(s: Services, session: Session) -> Notice:
    prefix = s.command_prefix(session.person)
    return Notice(
        level=NoticeLevel.WARNING,
        text="I couldn't find a report of yours with that reference. References look like "
        f"HB-2026-0042; say {prefix}mine to see yours.",
    )


async def add_evidence(s: Services, session: Session, args: str) -> Outcome:
    """`add evidence HB-…`: open the evidence form on one of her cases."""
    ref = args.split()[0] if args.split() else ""
    prefix = s.command_prefix(session.person)
    if not ref:
        reports = await own_reports(s, session.person)
        if not reports:
            return with_current(
                s,
                session,
                [
                    Text(
                        text="Evidence is kept with a report, and you haven't filed one yet. "
                        f"Say {prefix}report to start one; you can add links and files "
                        "while you do."
                    )
                ],
            )
        if len(reports) > 1:
            refs = ", ".join(r.reference for r in reports[:10])
            return with_current(
                s,
                session,
                [
                    Text(
                        text=f"Which report is it for? Say {prefix}add evidence and its "
                        f"reference, e.g. {prefix}add evidence {reports[0].reference}. Yours: {refs}."
                    )
                ],
            )
        ref = reports[0].reference
    report = await own_report(s, session.person, ref, Action.UPDATE)
    if report is None:
        return with_current(s, session, [_not_found(s, session)])
    existing = session.drafts.get(EVIDENCE.id)
    if existing is not None:
        lead: list[Reply] = []
        if existing.subject != report.reference:
            # Never discard what she has typed: finish (or cancel) that one first.
            lead.append(
                Text(
                    text=f"You have evidence for {existing.subject} that isn't added yet, so "
                    "let's finish that first (or say cancel to discard it)."
                )
            )
        resumed = resume(s, session, existing)
        resumed.replies[:0] = lead
        return resumed
    return start(
        s,
        session,
        EVIDENCE,
        subject=report.reference,
        lead=[Text(text=f"This is about {report.reference}.")],
    )


async def finish(s: Services, session: Session, draft: Draft) -> Outcome:
    """The evidence form confirmed: its items join the case's log."""
    answers: EvidenceAnswers = EVIDENCE.typed(draft.answers)
    if not answers.given:
        # Her other answers are kept: the draft goes back, at its summary.
        session.drafts[EVIDENCE.id] = draft.model_copy(update={"revision": draft.revision + 1})
        session.active = EVIDENCE.id
        return with_current(
            s,
            session,
            [
                Notice(
                    level=NoticeLevel.WARNING,
                    text="To add evidence I need at least a link, a file or a few words on "
                    "what it shows. Say back to add one, or share a file now.",
                )
            ],
        )
    report = await own_report(s, session.person, draft.subject or "", Action.UPDATE)
    if report is None:  # erased meanwhile: say so rather than lose it silently
        return Outcome([_not_found(s, session)], session)
    ids = (f"{draft.id}.{n}" for n in count(1))
    details = Details(
        platform=answers.platform,
        account=answers.account,
        posted=answers.posted,
        seen=answers.seen,
        what=answers.what,
        platform_reference=answers.platform_reference,
        witnesses=answers.witnesses,
    )
    now = s.clock()
    files: list[EvidenceFile | None] = list(answers.kept_files) or [None]
    items = new_items(
        by=session.person,
        at=now,
        ids=lambda: next(ids),
        links=answers.links,
        file=files[0],
        details=details,
    )
    # A second file is an item of its own, with the same details.
    for more in files[1:]:
        items += new_items(
            by=session.person, at=now, ids=lambda: next(ids), file=more, details=details
        )
    for pointer in answers.attachments:
        name = pointer.partition(" ")[0]
        items += new_items(
            by=session.person,
            at=now,
            ids=lambda: next(ids),
            details=Details(what=f"A file shared in the conversation (not kept): {name}"),
        )
    before = len(report.evidence)
    report.evidence = add_to_log(report.evidence, items)
    added = len(report.evidence) - before
    report.log(now, "evidence", session.person.key, detail=count_of(added, "item"))
    return Outcome(
        [
            Notice(
                level=NoticeLevel.SUCCESS,
                text=f"Added to {report.reference}: {count_of(added, 'item')}. Its evidence log "
                f"now holds {evidence_counts(report)}, each with a fingerprint (SHA-256) so "
                f"any change would show. Chain head: {head(report.evidence)[:12]}…",
            )
        ],
        session,
        report=report,
    )


# ------------------------------------------------------------------ shared files


def _not_kept_yet(names: list[str]) -> Notice:
    return Notice(
        text=f"I've noted {', '.join(names)} with this, but I couldn't fetch a copy to keep "
        "just now. Please share it again in a minute so I can keep it safely, and keep "
        "your own copy too."
    )


MAX_FILES_PER_CASE = 30
"""The most files one case keeps: each may be 10 MB, and its evidence pack
holds them all at once (30 phone screenshots are a few tens of MB)."""
FULL = (
    "I can't keep {name}: this case already keeps "
    f"{MAX_FILES_PER_CASE} files, as many as its evidence pack can hold. A link and a few words "
    "on what it shows are kept as evidence too. Nothing else has changed."
)


async def files_shared(s: Services, session: Session, event: FilesShared) -> Outcome:
    """Files shared in the private chat. With the bytes (the console), each is
    checked (`check_file`) and, in the evidence form, kept in the store at
    once; a file refused is said so kindly and nothing else changes. Files
    known only by a pointer (a Slack or Teams share, today) are noted as
    before. Outside a form, she is told how to keep them."""
    draft = session.active_draft
    prefix = s.command_prefix(session.person)
    if draft is None or draft.paused:
        return with_current(
            s,
            session,
            [
                Text(
                    text="To keep a file as evidence, say "
                    f"{prefix}add evidence followed by your report's reference (or start a "
                    "report first), then share it while that's open."
                )
            ],
        )
    flow = FLOWS[draft.flow]
    replies: list[Reply] = []
    passed_on: list[SharedFile] = []
    pointers: list[str] = []
    kept: list[EvidenceFile] = []
    keeping = flow is EVIDENCE and bool(draft.subject)
    held = set(await s.store.evidence_files(draft.subject)) if keeping and draft.subject else set()
    for shared in event.files:
        if shared.content is None:
            passed_on.append(shared)
            pointers.append(shared.name)
            continue
        # Hashing and reading up to 10 MB: off the event loop.
        checked = await asyncio.to_thread(
            check_file, shared.name, shared.content, EVIDENCE_MAX_BYTES
        )
        if not isinstance(checked, CheckedFile):
            replies.append(Notice(level=NoticeLevel.WARNING, text=checked.message))
            continue
        if keeping and draft.subject:
            if checked.file.sha256 not in held and len(held) >= MAX_FILES_PER_CASE:
                replies.append(
                    Notice(level=NoticeLevel.WARNING, text=FULL.format(name=checked.file.name))
                )
                continue
            await s.store.put_evidence_file(draft.subject, checked.file.sha256, checked.content)
            held.add(checked.file.sha256)
            kept.append(checked.file)
            continue
        # No case to keep it with yet (a report), or a form that keeps pointers only.
        passed_on.append(SharedFile(name=checked.file.name))
        where = (
            f"{prefix}add evidence {draft.subject}"
            if draft.subject
            else (f"{prefix}add evidence with the reference you'll get")
        )
        replies.append(
            Notice(
                text=f"I've noted {checked.file.name} with this {flow.noun}. To keep the file "
                f"itself safely with the case, once you've finished say {where} and share it "
                "there."
            )
        )
    if kept:
        typed: EvidenceAnswers = EVIDENCE.typed(draft.answers)
        have = {f.sha256 for f in typed.kept_files}
        files = [*typed.kept_files, *(f for f in kept if f.sha256 not in have)]
        draft = draft.model_copy(
            update={
                "answers": {
                    **draft.answers,
                    "kept_files": [f.model_dump(mode="json") for f in files],
                },
                "updated_at": s.clock(),
            }
        )
        session.drafts[flow.id] = draft
        names = ", ".join(f.name for f in kept)
        replies.append(
            Notice(
                level=NoticeLevel.SUCCESS,
                text=f"Kept {names} safely with {draft.subject}'s evidence. It will be part "
                "of the evidence log once you add it.",
            )
        )
    if pointers:
        replies.insert(0, _not_kept_yet(pointers))
    if passed_on:
        moved = engine.advance(
            flow,
            draft,
            event.model_copy(update={"files": tuple(passed_on)}),
            now=s.clock(),
            ctx=s.ctx,
        )
        session.drafts[flow.id] = moved.draft
        return Outcome([*replies, *moved.replies], session)
    return Outcome([*replies, *engine.prompt(flow, draft, s.ctx)], session)
