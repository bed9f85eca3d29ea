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
from collections.abc import Sequence
from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from bot.chain import GENESIS, Chained, digest, first_broken, link

__all__ = [
    "GENESIS",
    "EvidenceFile",
    "EvidenceItem",
    "append",
    "digest",
    "file_digest",
    "first_broken",
    "head",
]


class EvidenceFile(BaseModel):
    """A file kept with an item: what it is, never its bytes (the store keeps
    those, by case and SHA-256)."""

    model_config = ConfigDict(frozen=True)

    name: str = Field(max_length=255)
    media_type: str = Field(max_length=100)
    size: int = Field(ge=0)
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")


class EvidenceItem(Chained):
    """One piece of evidence, as the worker gave it. Every field but the ids,
    times and hashes is her own words (sealed at rest, never logged). `n`,
    `previous` and `hash` are its place in the case's chain (`bot.chain`)."""

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


def file_digest(content: bytes) -> str:
    return hashlib.sha256(content).hexdigest()


def append(log: Sequence[EvidenceItem], item: EvidenceItem) -> EvidenceItem:
    """`item` as the next link of `log`."""
    return link(item, log[-1] if log else None)


def head(log: Sequence[EvidenceItem]) -> str:
    """The chain's head: the last item's hash (GENESIS for an empty log)."""
    return log[-1].hash if log else GENESIS
