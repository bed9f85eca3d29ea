"""Who gets an evidence pack, and how: `pack HB-…` in chat, `harbour export`
and `harbour verify` on the command line.

    pack HB-2026-0001                  the worker: her pack, in her private chat
    pack HB-2026-0001 share <id>       the worker: she agrees <id> may have it
    pack HB-2026-0001                  her manager or a safety lead she agreed to

The pack is hers: her case team gets it only once she has agreed (recorded
on the case, `Report.pack_consent`, and in its timeline), and only while the
access policy lets them see the case. Anyone else is told what someone asking
about a case that does not exist is told. Every pack made is written in the
case's audit (who, when, where: never what it holds). An administrator's
`harbour export` states that the worker agreed (`--consent-from-worker`), and
that statement is written in the audit and the case's timeline.
"""

from __future__ import annotations

import asyncio
import logging
import os
import sys
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, TextIO
from zoneinfo import ZoneInfo

from bot.access import Action
from bot.cases import refused
from bot.directory import parse_person
from bot.evidence import pack
from bot.evidence.log import head
from bot.evidence.verify import NotAPack, verify_pack
from bot.models import FileReply, Notice, NoticeLevel, PersonRef, Reply, Text
from bot.outcome import Outcome
from bot.privacy.audit import AuditAction, AuditEntry
from bot.reports import DomainEvent, Report, parse_reference
from bot.store.base import GoneCase, Store, StoreError

if TYPE_CHECKING:
    from bot.config import Settings
    from bot.services import Services
    from bot.session import Session

log = logging.getLogger(__name__)

PACK = "pack"
"""The command's word."""
DETAIL = "evidence pack"
"""The audit's detail for a pack made."""
CLI_DETAIL = "evidence pack, the worker's agreement stated on the command line"
NOT_FOUND = (
    "I couldn't find a case with that reference that you can see, so nothing was sent. "
    "References look like HB-2026-0042."
)
"""The same words whether the case does not exist or is not this person's to
see, so a reference cannot be probed."""
USAGE = (
    "Say pack followed by the case's reference, e.g. pack HB-2026-0042, for its evidence "
    "pack (a PDF). To let your manager or a safety lead have it too, add share and their "
    "Harbour id (whoami shows anyone their own)."
)
FAILED = (
    "I couldn't make the evidence pack just now. Nothing was changed and your evidence is "
    "safe: please ask again in a little while."
)


def parse_args(args: str) -> tuple[str, PersonRef | None] | str:
    """(reference, who she shares it with) or, if the words can't be read, what to say."""
    words = args.split()
    if not words or parse_reference(words[0]) is None:
        return USAGE
    if len(words) == 1:
        return words[0].upper(), None
    if words[1].casefold() != "share" or len(words) != 3:
        return USAGE
    with_whom = parse_person(words[2])
    if with_whom is None:
        return (
            f"I couldn't read {words[2]!r} as a Harbour id. Ask the person to say whoami: "
            "it shows their id, to give here as it is."
        )
    return words[0].upper(), with_whom


def file_name(reference: str, at: datetime, tz: ZoneInfo) -> str:
    return f"harbour-evidence-{reference}-{at.astimezone(tz).date().isoformat()}.pdf"


async def pack_command(h: Services, session: Session, args: str) -> Outcome:
    """`pack HB-…` and `pack HB-… share <id>` in chat."""
    from bot.conversation.session import with_current  # (imports the flows: kept out of the CLI)

    def say(text: str, level: NoticeLevel = NoticeLevel.INFO) -> Outcome:
        return with_current(h, session, [Notice(level=level, text=text)])

    who = session.person
    parsed = parse_args(args)
    if isinstance(parsed, str):
        return say(parsed, NoticeLevel.WARNING)
    reference, share_with = parsed
    report = await h.store.get_report(reference)
    if report is None:
        return say(NOT_FOUND)
    mine = who == report.reporter
    if not h.access.decide(who, Action.VIEW, report) or (share_with is not None and not mine):
        await h.store.update_report(reference, refused(who, Action.VIEW, h.clock()))
        return say(NOT_FOUND)
    if share_with is not None:
        return with_current(h, session, await _consent(h, report, who, share_with))
    if not mine and who.key not in report.pack_consent:
        return say(
            f"The evidence pack for {reference} is the worker's to give: she can send it to "
            f"you, or agree that you may have it (by saying pack {reference} share "
            f"{who.key}). Nothing was sent.",
        )
    if not report.evidence:
        return say(_no_evidence(h, who, report, mine))
    now = h.clock()
    source = await pack.gather(h.store, report, exported_by=who.key, at=now, tz=h.tz)
    try:
        pdf = await asyncio.to_thread(pack.build, source)
    except pack.PackError as exc:
        log.error("evidence pack not made: %s", type(exc.__cause__ or exc).__name__)
        return say(FAILED, NoticeLevel.WARNING)
    try:
        await _audit(h.store, who.key, who.platform.value, reference, now, DETAIL)
    except GoneCase:  # erased while it was being made: nothing goes out
        return say(NOT_FOUND)
    files = sum(1 for i in report.evidence if i.file is not None)
    caption = (
        f"The evidence pack for {reference}: {len(report.evidence)} items"
        f"{f' and {files} files' if files else ''}, in time order, with the case's "
        "timeline and every hash. Every file is attached inside the PDF as it was kept, so "
        "the police or a platform can check nothing was changed. Keep it somewhere private."
    )
    reply = FileReply(
        name=file_name(reference, now, h.tz),
        media_type="application/pdf",
        content=pdf,
        caption=caption,
        ask_again=f"{h.command_prefix(who)}{PACK} {reference}",
    )
    return with_current(h, session, [reply])


def _no_evidence(h: Services, who: PersonRef, report: Report, mine: bool) -> str:
    if mine:
        return (
            f"There's no evidence kept on {report.reference} yet, so there's nothing to put in "
            f"a pack. Say {h.command_prefix(who)}add evidence {report.reference} to keep a "
            "link, a screenshot or what you saw, whenever you're ready."
        )
    return f"There's no evidence kept on {report.reference} yet, so there's no pack to send."


async def _consent(h: Services, report: Report, her: PersonRef, other: PersonRef) -> list[Reply]:
    if other == her:
        return [Text(text=f"You can always have your own pack: say pack {report.reference}.")]
    now = h.clock()

    def agree(stored: Report) -> list[DomainEvent] | None:
        if other.key in stored.pack_consent:
            return None
        stored.pack_consent.append(other.key)
        stored.log(now, pack.CONSENT_ENTRY, her.key, other.key)
        return []

    await h.store.update_report(report.reference, agree)
    said = (
        f"Noted: {other.key} may now ask for the evidence pack for {report.reference} "
        f"(pack {report.reference}). It's recorded on your case."
    )
    if not h.access.decide(other, Action.VIEW, report):
        said += " They can't see this case at the moment, so they'd need to be on it first."
    return [Notice(level=NoticeLevel.SUCCESS, text=said)]


async def _audit(
    store: Store, actor: str, surface: str, reference: str, at: datetime, detail: str
) -> None:
    await store.append_audit(
        AuditEntry(
            at=at,
            actor=actor,
            action=AuditAction.EXPORTED,
            reference=reference,
            surface=surface,
            detail=detail,
        )
    )


# ---------------------------------------------------------------------- command line


async def run_export(
    settings: Settings,
    reference: str,
    out: Path,
    by: str,
    *,
    consent_from_worker: bool = False,
    say: TextIO = sys.stdout,
    err: TextIO = sys.stderr,
) -> int:
    """`harbour export HB-… --out pack.pdf --consent-from-worker`: an
    administrator's export. 0: written; 1: refused (no consent stated, no such
    case, no evidence, or `out` can't be written); 2: the store could not be
    opened or the pack made."""
    from bot.cli import open_store  # the command line's imports stay light until it runs

    if not consent_from_worker:
        print(
            "harbour: an evidence pack is the worker's. Export it only with her agreement, "
            "and say so with --consent-from-worker (it is written in the case's audit).",
            file=err,
        )
        return 1
    if parse_reference(reference) is None:
        print(f"harbour: {reference!r} is not a reference (they look like HB-2026-0042)", file=err)
        return 1
    reference = reference.upper()
    try:
        store = await open_store(settings)
    except StoreError as exc:
        print(f"harbour: {exc}", file=err)
        return 2
    try:
        report = await store.get_report(reference)
        if report is None:
            print(f"harbour: no case {reference} is stored", file=err)
            return 1
        if not report.evidence:
            print(f"harbour: {reference} keeps no evidence, so there is no pack", file=err)
            return 1
        now = datetime.now(UTC)
        tz = ZoneInfo(settings.flow_context().timezone)
        source = await pack.gather(store, report, exported_by=by, at=now, tz=tz)
        source = replace(source, exported_by=f"{by} (Harbour administrator)")
        try:
            pdf = await asyncio.to_thread(pack.build, source)
        except pack.PackError as exc:
            print(f"harbour: {exc}", file=err)
            return 2
        try:
            _write_private(out, pdf)
        except OSError as exc:
            print(f"harbour: could not write {out} ({exc.strerror})", file=err)
            return 1
        await _audit(store, by, "cli", reference, now, CLI_DETAIL)

        def note(stored: Report) -> list[DomainEvent]:
            stored.log(now, pack.CLI_ENTRY, None, f"by {by}, her agreement stated")
            return []

        await store.update_report(reference, note)
    finally:
        await store.close()
    print(
        f"Written: {out} ({len(pdf):,} bytes; {len(report.evidence)} items; chain head "
        f"{head(report.evidence)}). Check it with: harbour verify {out}",
        file=say,
    )
    return 0


def _write_private(path: Path, content: bytes) -> None:
    """Write a file only its owner can read (it holds what she kept)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(content)


async def run_verify(path: Path, out: TextIO) -> int:
    """`harbour verify pack.pdf`: 0 when everything holds, 1 when something
    does not (each finding on its own line), 2 when it is no pack at all."""
    try:
        content = await asyncio.to_thread(path.read_bytes)
    except OSError as exc:
        print(f"harbour: could not read {path} ({exc.strerror})", file=out)
        return 2
    try:
        verdict = await asyncio.to_thread(verify_pack, content)
    except NotAPack as exc:
        print(f"harbour: {exc}", file=out)
        return 2
    print(
        f"{verdict.reference}: {verdict.items} items, {verdict.files} files, chain head "
        f"{verdict.head}",
        file=out,
    )
    if verdict.holds:
        print("OK: every item, file and picture holds.", file=out)
        return 0
    for finding in verdict.findings:
        print(f"BROKEN: {finding.what}", file=out)
    return 1
