"""The audit of every view and action on a case: append-only, tamper-evident.

Each entry carries the hash of the one before it (a hash chain, SHA-256 over
the entry's canonical JSON), so changing, removing or reordering an entry
breaks every link after it, and `first_broken` names where. Entries hold no
content: who (a person id), what (`AuditAction`), which case, when, and from
which surface.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from bot.chain import GENESIS, Chained, digest, first_broken, link

__all__ = ["GENESIS", "HARBOUR", "AuditAction", "AuditEntry", "digest", "first_broken", "link"]

HARBOUR = "harbour"
"""The actor of what Harbour did by itself (a purge, a rotation, a figures run
from the command line)."""


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


class AuditEntry(Chained):
    """One link of a case's audit (or of the store-wide one): `n`, `previous`
    and `hash` are its place in the chain (`bot.chain`)."""

    at: datetime
    actor: str
    """Who: a person id, or "harbour" for what Harbour did by itself."""
    action: AuditAction
    reference: str | None = None
    surface: str = ""
    """Where: slack, teams, console, cli."""
    detail: str = ""
    """A word about the action (e.g. "acknowledged"): never content."""
