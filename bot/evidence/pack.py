"""The evidence pack: a case's evidence log as a PDF the worker can hand to the
police, a platform or the agency's legal team.

Its pages: a cover (the case, whose evidence, the dates it spans, when and by
whom it was exported, the chain head and whether the log held at export); every
incident and evidence item in time order; each picture on a page of its own
with its SHA-256; the case's timeline (who was told and when: actions and
alerts, never the case team's notes); and a manifest of every item's hash,
every file's SHA-256 and the chain head. The manifest is also attached to the
PDF as JSON (`MANIFEST_NAME`), and every kept file as it was kept, so
`bot.evidence.verify` needs nothing but the PDF.

Typst lays it out (pip only, fonts bundled, offline). What people wrote never
enters the Typst source: the fixed template below reads it from a JSON file
as strings, which Typst shows as text and never reads as markup, so no
character she types (`#`, `*`, `$`, `@`, `<`, `[`, `\\`…) can do anything.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import tempfile
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import typst
from PIL import Image, UnidentifiedImageError

from bot.evidence.log import EvidenceItem, first_broken, head
from bot.reports import ABUSE_KIND_LABELS, AbuseKind, Report, TimelineEntry
from bot.store.base import RecordKind, Store, StoreError
from flows.steps import PLATFORM_OPTIONS

PACK_FORMAT = "harbour-evidence-pack/1"
MANIFEST_NAME = "harbour-manifest.json"
"""The manifest's name among the PDF's attached files."""
CONSENT_ENTRY = "pack-consent"
"""The timeline entry for her agreement (detail: who may have the pack)."""
CLI_ENTRY = "pack-exported"
"""The timeline entry for an administrator's export (detail: who ran it)."""
HIDDEN_ENTRIES = frozenset({"note", "checkin-note", "refused", CONSENT_ENTRY, CLI_ENTRY})
"""Timeline entries a pack leaves out: the case team's notes, the words she
added for her manager at a check-in (not evidence, and not theirs to pass on),
who tried to see the case and was refused, and whom else she gave her pack
or who exported it (a pack her case team receives tells them none of that)."""
ITEM_FIELDS: dict[str, str] = {
    "link": "Link",
    "platform": "Platform",
    "account": "Account or handle",
    "posted": "Posted",
    "seen": "Seen",
    "what": "What it says or shows",
    "platform_reference": "The platform's reference",
    "witnesses": "Witnesses",
}
"""An item's own words, in the order a reader wants them, with their labels."""
FIELD_NAMES: dict[str, str] = {
    **ITEM_FIELDS,
    "n": "its number",
    "id": "its id",
    "added_at": "when it was added",
    "added_by": "who added it",
    "file": "its file",
    "previous": "its link to the item before",
}
"""What `verify` calls each field of an item when it says what changed."""
_PLATFORM_LABELS = {o.value: o.label for o in PLATFORM_OPTIONS}
_EXTENSIONS = {
    "image/png": "png",
    "image/jpeg": "jpg",
    "image/gif": "gif",
    "image/webp": "webp",
    "application/pdf": "pdf",
    "text/plain": "txt",
}
_SHM = Path("/dev/shm")


class PackError(RuntimeError):
    """The PDF could not be made (the message names no content)."""


@dataclass(frozen=True)
class PackSource:
    """Everything a pack shows, read from the store before any layout."""

    report: Report
    worker: str
    """Whose evidence: her display name, or her Harbour id."""
    exported_at: datetime
    exported_by: str
    tz: ZoneInfo
    files: Mapping[str, bytes] = field(default_factory=dict)
    """The kept files' bytes by SHA-256 (a file the store could not give is absent)."""
    unreadable: Mapping[str, str] = field(default_factory=dict)
    """SHA-256 -> why the store could not give the file."""
    names: Mapping[str, str] = field(default_factory=dict)
    """Display names by person key, for the timeline."""


async def gather(
    store: Store, report: Report, *, exported_by: str, at: datetime, tz: ZoneInfo
) -> PackSource:
    """Read the kept files and the names a pack shows."""
    files: dict[str, bytes] = {}
    unreadable: dict[str, str] = {}
    for item in report.evidence:
        if item.file is None or item.file.sha256 in files:
            continue
        try:
            content = await store.get_evidence_file(report.reference, item.file.sha256)
        except StoreError:
            unreadable[item.file.sha256] = "the kept copy no longer matches its SHA-256"
            continue
        if content is None:
            unreadable[item.file.sha256] = "the file is no longer kept"
        else:
            files[item.file.sha256] = content
    keys = {report.reporter.key, *(e.actor for e in report.timeline if e.actor)}
    names: dict[str, str] = {}
    for key in keys:
        record = await store.get_record(RecordKind.PEOPLE, key)
        if record and record.get("name"):
            names[key] = str(record["name"])
    return PackSource(
        report=report,
        worker=names.get(report.reporter.key, report.reporter.key),
        exported_at=at,
        exported_by=names.get(exported_by, exported_by),
        tz=tz,
        files=files,
        unreadable=unreadable,
        names=names,
    )


# ---------------------------------------------------------------------- manifest


def field_hashes(item: EvidenceItem) -> dict[str, str]:
    """A SHA-256 of each field, so `verify` can say which one changed."""
    body = item.model_dump(mode="json", exclude={"hash"})
    return {
        name: hashlib.sha256(
            json.dumps(value, sort_keys=True, ensure_ascii=False).encode("utf-8")
        ).hexdigest()
        for name, value in body.items()
    }


def attachment_name(item: EvidenceItem) -> str:
    """A kept file's name among the PDF's attachments: never the name she gave it."""
    assert item.file is not None
    extension = _EXTENSIONS.get(item.file.media_type, "bin")
    return f"evidence-{item.n}-{item.file.sha256[:16]}.{extension}"


def manifest(source: PackSource, shown: Collection[int] = ()) -> dict[str, Any]:
    """The manifest attached to the PDF: everything `verify` re-checks (`shown`:
    the items whose picture has a page)."""
    log = source.report.evidence
    return {
        "format": PACK_FORMAT,
        "reference": source.report.reference,
        "exported_at": source.exported_at.isoformat(),
        "exported_by": source.exported_by,
        "head": head(log),
        "items": [item.model_dump(mode="json") for item in log],
        "field_hashes": [field_hashes(item) for item in log],
        "files": [
            {
                "item": item.n,
                "sha256": item.file.sha256,
                "attachment": attachment_name(item),
                "shown": item.n in shown,
            }
            for item in log
            if item.file is not None and item.file.sha256 in source.files
        ],
    }


# ---------------------------------------------------------------------- layout


def _when(at: datetime, tz: ZoneInfo) -> str:
    there = at.astimezone(tz)
    return f"{there.day} {there:%b %Y, %H:%M}"


def _picture(source: PackSource, item: EvidenceItem) -> bytes | None:
    """The picture a page shows for an item: lossless PNG, so the pixels on the
    page are exactly the kept file's (`verify` compares them); None for a file
    that is no picture (it is attached, not shown)."""
    if item.file is None or item.file.sha256 not in source.files:
        return None
    content = source.files[item.file.sha256]
    if content.startswith(b"\x89PNG\r\n\x1a\n"):
        return content
    try:
        with Image.open(io.BytesIO(content)) as image:
            out = io.BytesIO()
            image.save(out, format="PNG")
    except (UnidentifiedImageError, Image.DecompressionBombError, OSError, ValueError):
        return None  # attached as kept, not drawn
    return out.getvalue()


def picture_pixels(content: bytes) -> bytes | None:
    """A picture's pixels, as RGBA: how a kept file and the page showing it are
    compared (None: not a picture Pillow can read)."""
    try:
        with Image.open(io.BytesIO(content)) as image:
            return image.convert("RGBA").tobytes()
    except (UnidentifiedImageError, Image.DecompressionBombError, OSError, ValueError):
        return None


def _item_details(item: EvidenceItem, source: PackSource) -> list[str]:
    lines = []
    for name, label in ITEM_FIELDS.items():
        value = getattr(item, name)
        if value:
            shown = _PLATFORM_LABELS.get(value, value) if name == "platform" else value
            lines.append(f"{label}: {shown}")
    if item.file is not None:
        lines.append(f"File: {item.file.name} ({item.file.media_type}, {item.file.size:,} bytes)")
        lines.append(f"File SHA-256: {item.file.sha256}")
        if item.file.sha256 in source.unreadable:
            lines.append(f"Not in this pack: {source.unreadable[item.file.sha256]}.")
    lines.append(f"Item hash: {item.hash}")
    return lines


def _incident_details(
    kinds: Sequence[AbuseKind],
    platforms: Sequence[str],
    links: Sequence[str],
    evidence: str | None,
    description: str | None,
) -> list[str]:
    lines = []
    if kinds:
        lines.append("What happened: " + "; ".join(ABUSE_KIND_LABELS[k] for k in kinds))
    if platforms:
        lines.append("Where: " + ", ".join(_PLATFORM_LABELS.get(p, p) for p in platforms))
    lines += [f"Link: {link}" for link in links]
    if evidence:
        lines.append(f"Evidence she noted: {evidence}")
    if description:
        lines.append(f"In her words: {description}")
    return lines


def _rows(source: PackSource) -> list[tuple[datetime, dict[str, Any]]]:
    report, tz = source.report, source.tz
    a = report.answers
    rows = [
        (
            report.filed_at,
            {
                "when": _when(report.filed_at, tz),
                "what": "Incident reported",
                "details": _incident_details(
                    a.kinds, a.platforms, a.links, a.evidence, a.description
                ),
            },
        )
    ]
    for update in report.updates:
        u = update.answers
        rows.append(
            (
                update.at,
                {
                    "when": _when(update.at, tz),
                    "what": "Further incident",
                    "details": _incident_details(
                        u.kinds, u.platforms, u.links, u.evidence, u.description
                    ),
                },
            )
        )
    for item in report.evidence:
        rows.append(
            (
                item.added_at,
                {
                    "when": _when(item.added_at, tz),
                    "what": f"Evidence item {item.n}",
                    "details": _item_details(item, source),
                },
            )
        )
    return sorted(rows, key=lambda row: row[0])


def _timeline(source: PackSource) -> list[dict[str, str]]:
    def who(entry: TimelineEntry) -> str:
        if entry.actor is None:
            return "Harbour"
        return source.names.get(entry.actor, entry.actor)

    return [
        {
            "when": _when(e.at, source.tz),
            "who": who(e),
            "what": e.action.replace("-", " "),
            "detail": e.detail,
        }
        for e in source.report.timeline
        if e.action not in HIDDEN_ENTRIES
    ]


def _check(log: Sequence[EvidenceItem]) -> str:
    broken = first_broken(log)
    if broken is None:
        return f"All {len(log)} items hold: each matches its hash and follows the one before."
    return (
        f"Item {broken} does not hold: it changed, or an item before it was removed or moved, "
        "after it was kept. The items are shown as they are now."
    )


def layout(source: PackSource, pictures: Mapping[int, str]) -> dict[str, Any]:
    """What the template shows, as plain data (every value a string, a list or a
    number: the template only ever shows them as text)."""
    report = source.report
    rows = _rows(source)
    first, last = rows[0][0], rows[-1][0]
    return {
        "reference": report.reference,
        "worker": source.worker,
        "span": f"{_when(first, source.tz)} to {_when(last, source.tz)}",
        "exported": _when(source.exported_at, source.tz) + f" ({source.tz.key})",
        "exported_by": source.exported_by,
        "items": str(len(report.evidence)),
        "files": str(sum(1 for i in report.evidence if i.file is not None)),
        "head": head(report.evidence),
        "check": _check(report.evidence),
        "rows": [row for _, row in rows],
        "pictures": [
            {
                "path": path,
                "title": f"Evidence item {n}",
                "caption": next(
                    f"{i.file.name}, added {_when(i.added_at, source.tz)}"
                    for i in report.evidence
                    if i.n == n and i.file is not None
                ),
                "sha256": next(i.file.sha256 for i in report.evidence if i.n == n and i.file),
            }
            for n, path in pictures.items()
        ],
        "timeline": _timeline(source),
        "manifest": [
            {
                "n": str(i.n),
                "hash": i.hash,
                "file": i.file.sha256 if i.file is not None else "",
            }
            for i in report.evidence
        ],
        "attachments": [],
    }


TEMPLATE = r"""
#let d = json("pack.json")
#set document(title: "Evidence pack " + d.reference, author: "Harbour")
#set page(paper: "a4", margin: 2cm, footer: context [
  #set text(size: 8pt)
  #d.reference, evidence pack #h(1fr) page #counter(page).display() of #counter(page).final().first()
])
#set text(size: 10pt)
#set table(stroke: 0.5pt + gray, inset: 5pt)
#let lines(xs) = xs.map(x => [#x]).join(linebreak())
#let hash(x) = text(size: 7.5pt, raw(x))

#align(center, text(size: 22pt, weight: "bold")[Evidence pack])
#v(1em)
#table(
  columns: (auto, 1fr),
  [Case], [#d.reference],
  [Whose evidence], [#d.worker],
  [Evidence dated], [#d.span],
  [Exported], [#d.exported],
  [Exported by], [#d.exported_by],
  [Evidence items], [#d.items (#d.files with a file)],
  [Chain head], hash(d.head),
  [Check at export], [#d.check],
)
#v(1em)
Harbour keeps each piece of evidence as an item in a hash chain: every item
carries the SHA-256 of its contents and of the item before it, so changing,
removing or reordering an item shows. The chain head is the last item's hash.
Every file is attached to this PDF exactly as it was kept, with the manifest
of hashes (#raw("harbour-manifest.json")); #raw("harbour verify <this file>")
checks them all again.

#pagebreak()
= Incidents and evidence, in time order
#table(
  columns: (auto, auto, 1fr),
  table.header([*When*], [*What*], [*Details*]),
  ..d.rows.map(r => ([#r.when], [#r.what], lines(r.details))).flatten(),
)

#for p in d.pictures {
  pagebreak()
  heading(level: 2, p.title)
  [#p.caption]
  linebreak()
  hash("SHA-256 " + p.sha256)
  v(0.5em)
  image(p.path, width: 100%, height: 1fr, fit: "contain")
}

#pagebreak()
= Who was told, and when
#if d.timeline.len() == 0 [Nothing recorded.] else {
  table(
    columns: (auto, auto, auto, 1fr),
    table.header([*When*], [*Who*], [*What*], [*Detail*]),
    ..d.timeline.map(e => ([#e.when], [#e.who], [#e.what], [#e.detail])).flatten(),
  )
}

#pagebreak()
= Manifest
#table(
  columns: (auto, 1fr),
  table.header([*Item*], [*Item hash, file SHA-256*]),
  ..d.manifest.map(m => ([#m.n], [#hash(m.hash) #if m.file != "" [#linebreak() #hash(m.file)]])).flatten(),
)
Chain head: #hash(d.head)

#pdf.attach("harbour-manifest.json", mime-type: "application/json", description: "Manifest of the evidence pack")
#for a in d.attachments {
  pdf.attach(a.path, mime-type: a.mime, description: a.description)
}
"""


def build(source: PackSource) -> bytes:
    """The PDF. CPU and a private scratch folder: run it off the event loop.
    Raises `PackError` if it cannot be made, and `ValueError` for a case with
    no evidence (there would be nothing to show)."""
    report = source.report
    if not report.evidence:
        raise ValueError(f"{report.reference} keeps no evidence")
    # Typst reads images and attachments from files: they live for the moment
    # it takes, in a folder only this process can read, in memory where the
    # system has a tmpfs (so her screenshots never reach a disk in clear).
    scratch = _SHM if _SHM.is_dir() and os.access(_SHM, os.W_OK) else None
    with tempfile.TemporaryDirectory(prefix="harbour-pack-", dir=scratch) as folder:
        root = Path(folder)
        pictures: dict[int, str] = {}
        attachments = []
        for item in report.evidence:
            if item.file is None or item.file.sha256 not in source.files:
                continue
            name = attachment_name(item)
            (root / name).write_bytes(source.files[item.file.sha256])
            attachments.append(
                {
                    "path": name,
                    "mime": item.file.media_type,
                    "description": f"The file of evidence item {item.n}",
                }
            )
            shown = _picture(source, item)
            if shown is not None:
                picture = f"shown-{item.n}.png"
                (root / picture).write_bytes(shown)
                pictures[item.n] = picture
        data = layout(source, pictures)
        data["attachments"] = attachments
        (root / "pack.json").write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
        (root / MANIFEST_NAME).write_text(
            json.dumps(manifest(source, pictures), ensure_ascii=False, indent=1), encoding="utf-8"
        )
        (main := root / "pack.typ").write_text(TEMPLATE, encoding="utf-8")
        try:
            return typst.compile(
                str(main),
                root=str(root),
                ignore_system_fonts=True,
                timestamp=source.exported_at.replace(microsecond=0),
            )
        except typst.TypstError as exc:  # the template's own fault: no content in it
            raise PackError(
                f"the evidence pack could not be laid out ({type(exc).__name__})"
            ) from exc
