"""The audit of every view and action on a case: append-only, tamper-evident.

Each entry carries the hash of the one before it (a hash chain, SHA-256 over
the entry's canonical JSON), so changing, removing or reordering an entry
breaks every link after it, and `first_broken` names where. Entries hold no
content: who (a person id), what (`AuditAction`), which case, when, and from
which surface.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from datetime import datetime
from enum import StrEnum

from pydantic import BaseModel, ConfigDict

GENESIS = "0" * 64
"""The `previous` of the first entry."""


class AuditAction(StrEnum):
    FILED = "filed"
    VIEWED = "viewed"
    ALERT_DELIVERED = "alert-delivered"
    """An alert about the case reached someone: it counts as a view."""
    ACTED = "acted"
    """A case action (acknowledged, claimed, closed…): `detail` says which."""
    EXPORTED = "exported"
    ERASED = "erased"
    PURGED = "purged"
    KEY_ROTATED = "key-rotated"


class AuditEntry(BaseModel):
    model_config = ConfigDict(frozen=True)

    n: int
    """Its place in the chain, from 1."""
    at: datetime
    actor: str
    """Who: a person id, or "harbour" for what Harbour did by itself."""
    action: AuditAction
    reference: str | None = None
    surface: str = ""
    """Where: slack, teams, console, cli."""
    detail: str = ""
    """A word about the action (e.g. "acknowledged"): never content."""
    previous: str = GENESIS
    hash: str = ""


def digest(entry: AuditEntry) -> str:
    """The hash of an entry: everything in it but its own hash, canonical JSON."""
    body = entry.model_dump(mode="json", exclude={"hash"})
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def link(entry: AuditEntry, after: AuditEntry | None) -> AuditEntry:
    """`entry` as the next link after `after` (None: the first)."""
    placed = entry.model_copy(
        update={
            "n": 1 if after is None else after.n + 1,
            "previous": GENESIS if after is None else after.hash,
            "hash": "",
        }
    )
    return placed.model_copy(update={"hash": digest(placed)})


def first_broken(entries: Sequence[AuditEntry], *, trimmed: bool = False) -> int | None:
    """The number (`n`, as it should be) of the first entry that does not hold,
    or None if the whole chain holds. A `trimmed` chain (the store-wide one,
    whose oldest entries retention removes) is checked from its first kept
    entry on; a case's chain is only ever removed whole, so it starts at 1."""
    previous = GENESIS
    first = 1
    if trimmed and entries:
        first, previous = entries[0].n, entries[0].previous
    for expected, entry in enumerate(entries, start=first):
        if entry.n != expected or entry.previous != previous or entry.hash != digest(entry):
            return expected
        previous = entry.hash
    return None
