"""Evidence coming in: the one place a shared file is checked, and where what a
worker gives (the "add evidence" form, or the links and files given while
reporting or in an update) becomes items on her case's log. Pure: no I/O.

A file is judged by its bytes, not its name: its first bytes must be those of
an image (PNG, JPEG, GIF, WebP, HEIC), a PDF, or it must be plain UTF-8 text;
a name that says one kind over bytes of another ("shot.png" holding a
program, or text) is refused. Pillow is installed (under matplotlib) but
cannot read HEIC, and a header is all that is needed here, so the signatures
are checked directly.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import PurePath

from bot.evidence.log import EvidenceFile, EvidenceItem, append, file_digest
from bot.models import PersonRef
from bot.reports import Report, ReportAnswers, UpdateAnswers
from bot.validation import clean_text, normalise_link

EVIDENCE_MAX_BYTES = 10 * 1024 * 1024
MAX_PIXELS = 40_000_000
"""The most pixels a kept picture may have (an 8K screen is 33 million): a
small file can claim enormous dimensions, and the pack draws every picture."""
PICTURES_PILLOW_READS = frozenset({"image/png", "image/jpeg", "image/gif", "image/webp"})
"""The largest file kept as evidence (10 MB; a setting to come)."""

NAME_LIMIT = 255
"""Longest file name kept (EvidenceFile.name)."""

KINDS_ALLOWED = "pictures (PNG, JPEG, GIF, WebP, HEIC), PDFs and plain text files"
"""The allowed types, as the worker is told them."""

HEIC_BRANDS = frozenset({b"heic", b"heix", b"hevc", b"hevx", b"heim", b"heis", b"mif1", b"msf1"})

EXTENSIONS: dict[str, frozenset[str]] = {
    "image/png": frozenset({".png"}),
    "image/jpeg": frozenset({".jpg", ".jpeg", ".jfif"}),
    "image/gif": frozenset({".gif"}),
    "image/webp": frozenset({".webp"}),
    "image/heic": frozenset({".heic", ".heif"}),
    "application/pdf": frozenset({".pdf"}),
    "text/plain": frozenset({".txt", ".text", ".log", ".md", ".csv"}),
}
"""Each allowed type and the names it goes by: a name with one of these
endings must hold that type's bytes."""

KNOWN_ENDINGS = frozenset(e for endings in EXTENSIONS.values() for e in endings)


def sniff(content: bytes) -> str | None:
    """The allowed media type these bytes are, or None."""
    if content.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if content.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if content.startswith((b"GIF87a", b"GIF89a")):
        return "image/gif"
    if content[:4] == b"RIFF" and content[8:12] == b"WEBP":
        return "image/webp"
    if content[4:8] == b"ftyp" and content[8:12] in HEIC_BRANDS:
        return "image/heic"
    if content.startswith(b"%PDF-"):
        return "application/pdf"
    if content and _plain_text(content):
        return "text/plain"
    return None


def _plain_text(content: bytes) -> bool:
    """UTF-8 with no control characters but line breaks and tabs."""
    try:
        text = content.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return all(c.isprintable() or c in "\n\r\t" for c in text.lstrip("\ufeff"))


@dataclass(frozen=True)
class CheckedFile:
    """A file that may be kept: its bytes, and what the log records of it."""

    file: EvidenceFile
    content: bytes


@dataclass(frozen=True)
class RefusedFile:
    """A file that may not be kept, and the kind words that say why."""

    name: str
    message: str


def too_large(name: str, max_bytes: int = EVIDENCE_MAX_BYTES) -> RefusedFile:
    """A file larger than Harbour keeps (also when a platform says so before
    it is downloaded)."""
    shown = _file_name(name)
    return RefusedFile(
        shown,
        f"{shown} is larger than I can keep: files up to {_megabytes(max_bytes)}. If it's a "
        "screenshot, a smaller copy or a crop of the part that matters works well. "
        "Nothing else has changed.",
    )


def check_file(
    name: str, content: bytes, max_bytes: int = EVIDENCE_MAX_BYTES
) -> CheckedFile | RefusedFile:
    """Whether a shared file may be kept as evidence, judged by its bytes."""
    shown = _file_name(name)
    if not content:
        return RefusedFile(shown, f"{shown} is empty, so there is nothing to keep.")
    if len(content) > max_bytes:
        return too_large(name, max_bytes)
    media_type = sniff(content)
    ending = PurePath(shown).suffix.casefold()
    if media_type is None:
        return RefusedFile(
            shown,
            f"I can't keep {shown}: I can keep {KINDS_ALLOWED}, and it isn't one of "
            "those. A screenshot of it would work. Nothing else has changed.",
        )
    if ending in KNOWN_ENDINGS and ending not in EXTENSIONS[media_type]:
        return RefusedFile(
            shown,
            f"I can't keep {shown}: its name says {ending} but what's inside is something "
            f"else. I can keep {KINDS_ALLOWED}; please share the original file, or a "
            "screenshot. Nothing else has changed.",
        )
    if media_type in PICTURES_PILLOW_READS and not _sensible_size(content):
        return RefusedFile(
            shown,
            f"I can't keep {shown}: it says it is a picture of more than "
            f"{MAX_PIXELS // 1_000_000} million pixels, far bigger than any screen. A screenshot "
            "of it would work. Nothing else has changed.",
        )
    return CheckedFile(
        EvidenceFile(
            name=shown, media_type=media_type, size=len(content), sha256=file_digest(content)
        ),
        content,
    )


def _sensible_size(content: bytes) -> bool:
    """Whether a picture's stated dimensions are within `MAX_PIXELS` (read from
    its header: nothing is decoded)."""
    from PIL import Image  # only when a picture is shared

    try:
        with Image.open(io.BytesIO(content)) as image:
            width, height = image.size
    except Exception:  # unreadable, or Pillow's own decompression-bomb refusal
        return False
    return width * height <= MAX_PIXELS


def _file_name(name: str) -> str:
    """The name as kept and shown: no folders, no control characters."""
    base = PurePath(name.replace("\\", "/")).name
    return clean_text(base)[:NAME_LIMIT] or "the file"


def _megabytes(size: int) -> str:
    return f"{size / (1024 * 1024):.1f} MB"


# ------------------------------------------------------------------ items


@dataclass(frozen=True)
class Details:
    """What the worker says about a piece of evidence (all optional)."""

    platform: str | None = None
    account: str | None = None
    posted: str | None = None
    seen: str | None = None
    what: str | None = None
    platform_reference: str | None = None
    witnesses: str | None = None


def new_items(
    *,
    by: PersonRef,
    at: datetime,
    ids: Callable[[], str],
    links: Sequence[str] = (),
    file: EvidenceFile | None = None,
    details: Details = Details(),
) -> list[EvidenceItem]:
    """Items for what was given at once: one per link (a pack lists one link a
    row), each with the same details, the file on the first; one item when
    there is no link. Not yet in a chain (`add_to_log` places them)."""

    def item(link: str | None, kept: EvidenceFile | None) -> EvidenceItem:
        return EvidenceItem(
            id=ids(),
            added_at=at,
            added_by=by.key,
            link=link,
            file=kept,
            platform=details.platform,
            account=details.account,
            posted=details.posted,
            seen=details.seen,
            what=details.what,
            platform_reference=details.platform_reference,
            witnesses=details.witnesses,
        )

    if not links:
        return [item(None, file)]
    return [item(link, file if n == 0 else None) for n, link in enumerate(links)]


def from_answers(
    answers: ReportAnswers | UpdateAnswers,
    *,
    by: PersonRef,
    at: datetime,
    ids: Callable[[], str],
    files: Sequence[EvidenceFile] = (),
) -> list[EvidenceItem]:
    """The evidence in a report or an update: each link an item, each file
    kept an item, and each file shared where Harbour keeps only a pointer (a
    Slack or Teams share, today) an item saying so. The platform is named when
    she named one only; her words about the evidence go with the first."""
    platform = answers.platforms[0] if len(answers.platforms) == 1 else None
    items: list[EvidenceItem] = []
    if answers.links:
        items += new_items(
            by=by,
            at=at,
            ids=ids,
            links=answers.links,
            details=Details(platform=platform, what=answers.evidence),
        )
    items += [
        new_items(by=by, at=at, ids=ids, file=f, details=Details(platform=platform))[0]
        for f in files
    ]
    kept = {f.name for f in files}
    for pointer in answers.attachments:
        name, _, url = pointer.partition(" ")
        if name in kept:
            continue
        items += new_items(
            by=by,
            at=at,
            ids=ids,
            links=[url] if url and normalise_link(url) else [],
            details=Details(what=f"A file shared in the conversation: {name}"),
        )
    if items and answers.evidence and not answers.links:
        items[0] = items[0].model_copy(update={"what": answers.evidence})
    return items


def add_to_log(log: Sequence[EvidenceItem], items: Sequence[EvidenceItem]) -> list[EvidenceItem]:
    """The log with `items` appended, each a link of the chain; an item whose
    id is already in the log is not added again (a step decided twice)."""
    placed = list(log)
    known = {i.id for i in log}
    for item in items:
        if item.id not in known:
            placed.append(append(placed, item))
            known.add(item.id)
    return placed


def count_of(n: int, noun: str) -> str:
    """`1 item`, `2 items`."""
    return f"{n} {noun}" + ("" if n == 1 else "s")


def evidence_counts(report: Report) -> str:
    """How much evidence a case keeps, in counts only (never content)."""
    files = sum(1 for i in report.evidence if i.file is not None)
    return f"{count_of(len(report.evidence), 'item')}, {count_of(files, 'file')} kept"
