"""What a store seals and what it keeps in clear: one place for every store.

A stored document keeps in clear only what the store itself must read to find,
order and number things, and what says how serious a case is and where it
stands; everything else, all a person wrote and every name, goes into one
sealed value under the key `sealed` (`bot.privacy.keys`):

* a report: in clear its reference, number, version, who filed it (a platform
  id, never a name), when, from which draft, its risk and status, and who
  manages, acknowledged or claimed it (platform ids), when it was closed; sealed: the answers, the
  risk reasons, updates, reflections, the timeline (notes are in it),
  check-ins (their notes), why it was closed;
* a conversation: in clear whose it is and when it last changed; sealed: the
  drafts and the question waiting;
* an event accepted from a platform (the inbox): in clear its type, id and
  person; sealed: what it says;
* records of names and addresses (`people`, `contacts`, and danger raised
  before a report, which names the worker), files waiting to be sent, and
  Slack installations (their tokens): sealed whole;
* a file kept as evidence on a case: its bytes, sealed whole and bound to the
  case and their SHA-256 (`evidence_out`), so a file copied onto another case
  or under another hash does not open. Every store checks the SHA-256 of the
  bytes on the way in and on the way out (`check_evidence`).

Delivery records, outbox events, the directory, leads and channels hold ids,
statuses and times only: they stay in clear.

A document with no `sealed` key (written before sealing, or by a store with
no key ring: the in-memory store of the tests) is read as it is; the next
write seals it, and `harbour rotate-key` seals everything at once.
"""

from __future__ import annotations

import hashlib
import json
import re
from typing import Any

from bot.privacy.keys import KeyRing, SealError
from bot.store.base import RecordKind, StoreError

SEALED = "sealed"
EVIDENCE_NAME = re.compile(r"[0-9a-f]{64}")
"""What a kept evidence file is known by: the SHA-256 of its bytes, in lower-case hex."""

REPORT_CLEAR = frozenset(
    {
        "reference",
        "version",
        "year",
        "seq",
        "reporter",
        "filed_at",
        "draft_id",
        "risk",
        "status",
        "managers",
        "kept_out",
        "acknowledged_by",
        "claimed_by",
        "closed_at",
    }
)
SESSION_CLEAR = frozenset({"person", "updated_at"})
EVENT_CLEAR = frozenset({"type", "event_id", "person"})
SEALED_RECORDS = frozenset(
    {
        RecordKind.PEOPLE,
        RecordKind.CONTACTS,
        RecordKind.DANGER_ALERTS,
        RecordKind.OUTGOING_FILES,
        RecordKind.INSTALLATIONS,
    }
)


class Sealer:
    """Seals documents on their way into a store and opens them on the way
    out. With no ring (`Sealer(None)`) it passes everything through."""

    def __init__(self, ring: KeyRing | None) -> None:
        self.ring = ring

    @property
    def seals(self) -> bool:
        return self.ring is not None

    # ------------------------------------------------------------------ documents

    def seal(self, doc: dict[str, Any], clear: frozenset[str], where: str) -> dict[str, Any]:
        if self.ring is None:
            return doc
        kept = {k: v for k, v in doc.items() if k in clear}
        hidden = {k: v for k, v in doc.items() if k not in clear}
        text = json.dumps(hidden, ensure_ascii=False, separators=(",", ":"))
        return {**kept, SEALED: self.ring.seal_text(text, where)}

    def open(self, doc: dict[str, Any], where: str) -> dict[str, Any]:
        token = doc.get(SEALED)
        if token is None:
            return doc
        if self.ring is None:
            raise StoreError(
                f"{where} is sealed and Harbour was given no key: set HARBOUR_KEY_FILE "
                "(or HARBOUR_KEY) to the key this data was sealed with"
            )
        try:
            hidden = json.loads(self.ring.open_text(str(token), where))
        except SealError as exc:
            raise StoreError(f"{where}: {exc}") from None
        kept = {k: v for k, v in doc.items() if k != SEALED}
        return {**hidden, **kept}

    # ------------------------------------------------------------------ by kind

    def report_out(self, doc: dict[str, Any]) -> dict[str, Any]:
        return self.seal(doc, REPORT_CLEAR, f"report:{doc['reference']}")

    def report_in(self, doc: dict[str, Any]) -> dict[str, Any]:
        return self.open(doc, f"report:{doc.get('reference', '?')}")

    def session_out(self, person_key: str, doc: dict[str, Any]) -> dict[str, Any]:
        return self.seal(doc, SESSION_CLEAR, f"conversation:{person_key}")

    def session_in(self, person_key: str, doc: dict[str, Any]) -> dict[str, Any]:
        return self.open(doc, f"conversation:{person_key}")

    def event_out(self, person_key: str, doc: dict[str, Any]) -> dict[str, Any]:
        return self.seal(doc, EVENT_CLEAR, f"inbox:{person_key}:{doc.get('event_id', '')}")

    def event_in(self, person_key: str, doc: dict[str, Any]) -> dict[str, Any]:
        return self.open(doc, f"inbox:{person_key}:{doc.get('event_id', '')}")

    def record_out(self, kind: str, key: str, value: dict[str, Any]) -> dict[str, Any]:
        if kind not in SEALED_RECORDS:
            return value
        return self.seal(value, frozenset(), f"{kind}:{key}")

    def record_in(self, kind: str, key: str, value: dict[str, Any]) -> dict[str, Any]:
        return self.open(value, f"{kind}:{key}") if SEALED in value else value

    # ------------------------------------------------------------------ evidence files

    def evidence_out(self, reference: str, sha256: str, content: bytes) -> str | None:
        """A case's evidence file sealed, or None with no ring (kept as it is)."""
        if self.ring is None:
            return None
        return self.ring.seal(content, _evidence_place(reference, sha256))

    def evidence_in(self, reference: str, sha256: str, token: str) -> bytes:
        """The bytes of a sealed evidence file; `StoreError`, naming the case
        and the hash (never content), if it does not open here."""
        where = _evidence_place(reference, sha256)
        if self.ring is None:
            raise StoreError(
                f"{where} is sealed and Harbour was given no key: set HARBOUR_KEY_FILE "
                "(or HARBOUR_KEY) to the key this data was sealed with"
            )
        try:
            return self.ring.open(token, where)
        except SealError as exc:
            raise StoreError(f"{where}: {exc}") from None


def _evidence_place(reference: str, sha256: str) -> str:
    return f"evidence:{reference}:{sha256}"


def check_evidence(reference: str, sha256: str, content: bytes) -> None:
    """`StoreError` (naming the case and the hash, never content) unless
    `sha256` is the SHA-256 of `content`. Hashing 20 MB takes tens of
    milliseconds: callers run it off the event loop."""
    if not EVIDENCE_NAME.fullmatch(sha256) or hashlib.sha256(content).hexdigest() != sha256:
        raise StoreError(
            f"an evidence file of {reference} does not match its SHA-256 {sha256[:64]!r}: "
            "it was changed or damaged"
        )
