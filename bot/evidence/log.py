"""The evidence log of a case: what a worker keeps before it is deleted.

Each item is what she saw (a link, the platform, the account, when it was
posted and when she saw it, what it says or shows in her words, the
platform's own report reference, witnesses) and, if she shared one, a file
(a screenshot, a document), kept in the store and named here by its SHA-256.
Items form a hash chain per case: each carries the hash of the one before it,
over its canonical JSON (the file's SHA-256 included), so changing, removing
or reordering an item, or changing a kept file, shows (`first_broken`). The
log lives on the report (`Report.evidence`), sealed at rest with the rest of
what she wrote; the files' bytes live beside it (`Store.put_evidence_file`).
Pure: no I/O.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

GENESIS = "0" * 64
"""The `previous` of a case's first item."""


class EvidenceFile(BaseModel):
    """A file kept with an item: what it is, never its bytes (the store keeps
    those, by case and SHA-256)."""

    model_config = ConfigDict(frozen=True)

    name: str = Field(max_length=255)
    media_type: str = Field(max_length=100)
    size: int = Field(ge=0)
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")


class EvidenceItem(BaseModel):
    """One piece of evidence, as the worker gave it. Every field but the ids,
    times and hashes is her own words (sealed at rest, never logged)."""

    model_config = ConfigDict(frozen=True)

    n: int = 0
    """Its place in the case's chain, from 1."""
    id: str
    added_at: datetime
    added_by: str
    """Who added it (a person key): the worker, or the case team with her consent."""
    link: str | None = None
    platform: str | None = None
    account: str | None = None
    """The account or handle that posted it."""
    posted: str | None = None
    """When it was posted, as she knows it (a date, or her words)."""
    seen: str | None = None
    """When she saw it."""
    what: str | None = None
    """What it says or shows, in her words."""
    platform_reference: str | None = None
    """The platform's own reference, if she reported it there."""
    witnesses: str | None = None
    file: EvidenceFile | None = None
    previous: str = GENESIS
    hash: str = ""


def digest(item: EvidenceItem) -> str:
    """The hash of an item: everything in it but its own hash, canonical JSON."""
    body = item.model_dump(mode="json", exclude={"hash"})
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def file_digest(content: bytes) -> str:
    return hashlib.sha256(content).hexdigest()


def append(log: Sequence[EvidenceItem], item: EvidenceItem) -> EvidenceItem:
    """`item` as the next link of `log`."""
    last = log[-1] if log else None
    placed = item.model_copy(
        update={
            "n": 1 if last is None else last.n + 1,
            "previous": GENESIS if last is None else last.hash,
            "hash": "",
        }
    )
    return placed.model_copy(update={"hash": digest(placed)})


def first_broken(log: Sequence[EvidenceItem]) -> int | None:
    """The place (`n`, as it should be) of the first item that does not hold,
    or None if the whole log holds."""
    previous = GENESIS
    for expected, item in enumerate(log, start=1):
        if item.n != expected or item.previous != previous or item.hash != digest(item):
            return expected
        previous = item.hash
    return None


def head(log: Sequence[EvidenceItem]) -> str:
    """The chain's head: the last item's hash (GENESIS for an empty log)."""
    return log[-1].hash if log else GENESIS
