"""Re-check an evidence pack from the PDF alone (`harbour verify pack.pdf`).

It reads the manifest attached to the PDF (`bot.evidence.pack.MANIFEST_NAME`)
and checks: every item against its hash and the chain (the first item that
does not hold is named by number, with the fields that changed where the
manifest's per-field hashes still tell); the chain head, in the manifest and
on the cover; every attached file against its SHA-256; and every picture shown
on a page, pixel for pixel, against the file kept for its item.
"""

from __future__ import annotations

import hashlib
import io
import json
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from PIL import Image
from pydantic import ValidationError
from pypdf import PdfReader
from pypdf.errors import PyPdfError

from bot.evidence.log import GENESIS, EvidenceItem, digest, head
from bot.evidence.pack import FIELD_NAMES, MANIFEST_NAME, PACK_FORMAT, field_hashes, picture_pixels

_SHA = re.compile(r"[0-9a-f]{64}")


class NotAPack(ValueError):
    """The file is no PDF, or no Harbour evidence pack (the message says which)."""


@dataclass(frozen=True)
class Finding:
    """One thing that does not hold."""

    what: str
    item: int | None = None
    """The item it is about, by number (None: the pack as a whole)."""


@dataclass(frozen=True)
class Verdict:
    reference: str
    items: int
    files: int
    head: str
    findings: list[Finding] = field(default_factory=list)

    @property
    def holds(self) -> bool:
        return not self.findings


def _broken_link(items: Sequence[EvidenceItem], hashes: Sequence[Any]) -> Finding | None:
    """The first item that does not hold, and what about it changed."""
    previous = GENESIS
    for expected, item in enumerate(items, start=1):
        if item.n != expected:
            return Finding(
                f"item {expected} is numbered {item.n}: an item was removed, added or moved",
                expected,
            )
        if item.previous != previous:
            return Finding(
                f"item {expected} does not follow item {expected - 1}: an item before it was "
                "removed, added or changed",
                expected,
            )
        if item.hash != digest(item):
            kept = hashes[expected - 1] if expected - 1 < len(hashes) else None
            now = field_hashes(item)
            changed = (
                [FIELD_NAMES.get(k, k) for k in now if kept.get(k) != now[k]]
                if isinstance(kept, dict)
                else []
            )
            said = (
                f": {', '.join(changed)} changed"
                if changed
                else ": what it holds changed after it was kept"
            )
            return Finding(
                f"item {expected} no longer matches its hash{said}",
                expected,
            )
        previous = item.hash
    return None


def verify_pack(pdf: bytes) -> Verdict:
    """Check a pack. Raises `NotAPack` if there is no pack to check."""
    try:
        reader = PdfReader(io.BytesIO(pdf))
        attached = {name: data[0] for name, data in reader.attachments.items() if data}
    except (PyPdfError, ValueError, KeyError, OSError) as exc:
        raise NotAPack(f"this is not a PDF that can be read ({type(exc).__name__})") from exc
    if MANIFEST_NAME not in attached:
        raise NotAPack("this PDF is not a Harbour evidence pack: it carries no manifest")
    try:
        manifest = json.loads(attached[MANIFEST_NAME])
    except ValueError as exc:
        raise NotAPack("the pack's manifest is not JSON any more: it was changed") from exc
    if not isinstance(manifest, dict) or manifest.get("format") != PACK_FORMAT:
        raise NotAPack("the pack's manifest is not one this Harbour can read")
    findings: list[Finding] = []
    items: list[EvidenceItem] = []
    for place, raw in enumerate(manifest.get("items") or [], start=1):
        try:
            items.append(EvidenceItem.model_validate(raw))
        except ValidationError as exc:
            fields = sorted({str(e["loc"][0]) for e in exc.errors() if e["loc"]})
            names = ", ".join(FIELD_NAMES.get(f, f) for f in fields)
            findings.append(Finding(f"item {place} cannot be read ({names})", place))
            return Verdict(str(manifest.get("reference")), place, 0, "", findings)
    broken = _broken_link(items, manifest.get("field_hashes") or [])
    if broken is not None:
        findings.append(broken)
    stated_head = str(manifest.get("head", ""))
    if stated_head != head(items):
        findings.append(Finding("the manifest's chain head is not the last item's hash"))
    cover = reader.pages[0].extract_text() if reader.pages else ""
    if stated_head not in cover.replace("\n", ""):
        findings.append(Finding("the chain head on the cover is not the manifest's"))
    by_n = {item.n: item for item in items}
    files = manifest.get("files") or []
    originals: dict[str, bytes] = {}
    for entry in files:
        n = int(entry.get("item", 0))
        item = by_n.get(n)
        content = attached.get(str(entry.get("attachment")))
        if item is None or item.file is None:
            findings.append(Finding(f"a file is listed for item {n}, which keeps none", n))
        elif content is None:
            findings.append(Finding(f"the file of item {n} is missing from the pack", n))
        elif hashlib.sha256(content).hexdigest() != item.file.sha256:
            findings.append(Finding(f"the file of item {n} no longer matches its SHA-256", n))
        else:
            originals[item.file.sha256] = content
    shown = {str(e.get("sha256")): int(e.get("item", 0)) for e in files if e.get("shown")}
    seen: set[str] = set()
    for number, page in enumerate(reader.pages, start=1):
        images = list(_images(page.get("/Resources")))
        if not images:
            continue
        named = [h for h in _SHA.findall(page.extract_text().replace("\n", "")) if h in shown]
        if not named:
            continue
        sha = named[0]
        seen.add(sha)
        n = shown[sha]
        if sha not in originals:
            continue  # its file is already reported
        if picture_pixels(originals[sha]) != _page_pixels(images[0]):
            findings.append(
                Finding(f"the picture of item {n} on page {number} is not the file kept", n)
            )
    for sha in sorted(set(shown) - seen, key=lambda s: shown[s]):
        findings.append(Finding(f"the page showing the picture of item {shown[sha]} is gone"))
    return Verdict(
        reference=str(manifest.get("reference")),
        items=len(items),
        files=len(files),
        head=stated_head,
        findings=findings,
    )


def _images(resources: Any, depth: int = 0) -> Iterator[Any]:
    """The image XObjects a page draws, inside the forms it draws too."""
    if resources is None or depth > 8:
        return
    xobjects = resources.get_object().get("/XObject")
    if xobjects is None:
        return
    for ref in xobjects.get_object().values():
        xobj = ref.get_object()
        if xobj.get("/Subtype") == "/Image":
            yield xobj
        elif xobj.get("/Subtype") == "/Form":
            yield from _images(xobj.get("/Resources"), depth + 1)


_MODES = {1: "L", 3: "RGB", 4: "CMYK"}


def _page_pixels(xobj: Any) -> bytes | None:
    """An image's pixels as RGBA, read from the PDF's own stream (pypdf's
    `page.images` would encode each as a PNG first: most of the time spent)."""
    try:
        filters = xobj.get("/Filter")
        names = [str(f) for f in filters] if isinstance(filters, list) else [str(filters)]
        data = xobj.get_data()
        if "/DCTDecode" in names or "/JPXDecode" in names:
            with Image.open(io.BytesIO(data)) as encoded:
                return encoded.convert("RGBA").tobytes()
        size = (int(xobj["/Width"]), int(xobj["/Height"]))
        components, rest = divmod(len(data), size[0] * size[1])
        if int(xobj.get("/BitsPerComponent", 8)) != 8 or rest or components not in _MODES:
            return None
        image = Image.frombytes(_MODES[components], size, data).convert("RGB")
        mask = xobj.get("/SMask")
        if mask is not None:
            alpha = mask.get_object().get_data()
            if len(alpha) != size[0] * size[1]:
                return None
            image.putalpha(Image.frombytes("L", size, alpha))
        return image.convert("RGBA").tobytes()
    except (PyPdfError, OSError, ValueError, KeyError, TypeError):
        return None
