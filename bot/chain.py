"""Hash chains: records each carrying the hash of the one before it, so that
changing, removing or reordering one breaks every link after it. The audit of
who looked at a case (`bot.privacy.audit`) and a case's evidence log
(`bot.evidence.log`) are both kept this way. Pure: no I/O."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from typing import TypeVar

from pydantic import BaseModel, ConfigDict

GENESIS = "0" * 64
"""The `previous` of a chain's first record."""


class Chained(BaseModel):
    """A record of a hash chain: its place, the hash of the record before it,
    and its own hash (SHA-256 over its canonical JSON, its own hash left out)."""

    model_config = ConfigDict(frozen=True)

    n: int = 0
    """Its place in the chain, from 1."""
    previous: str = GENESIS
    hash: str = ""


Linked = TypeVar("Linked", bound=Chained)


def digest(record: Chained) -> str:
    """The hash of a record: everything in it but its own hash, canonical JSON."""
    body = record.model_dump(mode="json", exclude={"hash"})
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def link(record: Linked, after: Linked | None) -> Linked:
    """`record` as the next link after `after` (None: the first)."""
    placed = record.model_copy(
        update={
            "n": 1 if after is None else after.n + 1,
            "previous": GENESIS if after is None else after.hash,
            "hash": "",
        }
    )
    return placed.model_copy(update={"hash": digest(placed)})


def first_broken(records: Sequence[Chained], *, trimmed: bool = False) -> int | None:
    """The place (`n`, as it should be) of the first record that does not hold,
    or None if the whole chain holds. A `trimmed` chain (whose oldest records
    retention removes) is checked from its first kept record on; any other
    starts at 1."""
    previous = GENESIS
    first = 1
    if trimmed and records:
        first, previous = records[0].n, records[0].previous
    for expected, record in enumerate(records, start=first):
        if record.n != expected or record.previous != previous or record.hash != digest(record):
            return expected
        previous = record.hash
    return None
