"""`harbour migrate --to postgresql://…`: copy the embedded store into PostgreSQL, then check the copy.

The embedded store (the files in HARBOUR_DATA_DIR) is opened with `TinyStore`,
whose lock refuses a second process: Harbour must be stopped first, so nothing
is written after the copy is taken. Everything it holds is copied, in one
PostgreSQL transaction, into a database that holds no Harbour data yet (a
database that already does is refused, never merged into):

* reports, with their versions, and the drafts each one consumed;
* conversations (drafts in progress and the ids of the events each person sent
  lately), keyed by the person inside the saved conversation (`Session.person`);
* outbox events, pending and delivered;
* records of every kind, dead letters included, in the order they were put;
* the report number counter, per year, so numbering goes on where it stopped;
* the audit chains, each case's and the store-wide one, entry by entry as they
  are (their hashes still link: `harbour audit verify` holds on the copy);
* events accepted from a platform and not yet answered (the inbox), with when
  they were accepted, so the first Harbour on PostgreSQL answers them;
* the files kept as evidence on each case, one at a time (a file may be 20 MB:
  never all in memory at once), each read through `get_evidence_file` (which
  refuses one whose bytes no longer match their SHA-256: then nothing is
  copied) and sealed again with the key, bound to its case.

Then both stores are read again and compared kind by kind: the count and a
checksum of the content of each. What differs is named by report references
and counts only, never content. Evidence files are compared by count and by
the SHA-256 of each file's bytes as PostgreSQL gives them back.

Reading: the `Store` interface has no "every report" or "every person", so the
listing comes from TinyStore's internals (its shards, people's files, records
file and counter), read only, inside this module; each report is then read
through `get_report`, dead letters and records through `records`, audit chains
through `audit_chains` and `audit_chain`, and pending events through
`pending_events` (which, as when Harbour starts, sets aside an event that cannot
be read as a dead letter before anything is copied). Accepted events are read
from people's files, as conversations are: `unhandled` would not say when each
was accepted.

Writing: straight into PostgresStore's tables through its engine (the table
definitions in `bot.store.postgres`), as `Store` can neither keep a report's
version, nor a delivered event, nor a counter ahead of the reports, nor an
audit entry as it was linked, nor when an event was accepted.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pydantic import TypeAdapter
from sqlalchemy import select, text
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncConnection

from bot.models import InboundEvent, InboundEventField
from bot.privacy.audit import AuditEntry
from bot.privacy.sealing import Sealer
from bot.privacy.setup import attach_key
from bot.reports import DomainEvent, Report, ReportStatus, format_reference
from bot.session import Session
from bot.store.base import RecordKind, Store, StoreError, StoreLocked
from bot.store.postgres import (
    STORE_CHAIN,
    PostgresStore,
    _chain,
    _closed_at,
    _database_url,
    _evidence_sealed,
    audit,
    conversations,
    evidence_files,
    inbox,
    outbox,
    record_table,
    report_drafts,
    report_numbers,
    reports,
)
from bot.store.tiny import SESSION, TinyStore, _file_name

HARBOUR_TABLES = (
    "reports",
    "conversations",
    "outbox",
    "records",
    "report_numbers",
    "audit",
    "inbox",
    "evidence_files",
)
"""The tables that must be empty before a copy (in this order in the refusal)."""


class MigrationRefused(StoreError):
    """The copy was not made: nothing was written."""


@dataclass
class Contents:
    """Everything one store holds, as copied (and as compared)."""

    reports: list[Report] = field(default_factory=list)
    conversations: dict[str, tuple[Session | None, list[str]]] = field(default_factory=dict)
    """By person key: the conversation (None when only event ids are kept) and
    the ids of the events the person sent lately, oldest first."""
    events: list[DomainEvent] = field(default_factory=list)
    """Outbox events, delivered and pending, in the order they are to be kept."""
    records: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)
    """By kind, then key, in the order they were put."""
    numbers: dict[int, int] = field(default_factory=dict)
    """The last report number handed out, by year."""
    audit: dict[str | None, list[AuditEntry]] = field(default_factory=dict)
    """Each audit chain's entries in order, by case (None: the store-wide chain)."""
    accepted: list[tuple[datetime, InboundEvent]] = field(default_factory=list)
    """Events accepted and not yet answered, with when each was accepted, oldest first."""
    evidence: dict[str, str] = field(default_factory=dict)
    """Each evidence file, by "<reference> <its SHA-256>": the SHA-256 of its
    bytes (as read back: in the embedded store, the name `get_evidence_file`
    checked them against)."""
    unnamed: int = 0
    """People's files holding only event ids, whose person could not be named
    (not copied: the ids only serve to ignore a platform's redelivery)."""

    def kinds(self) -> dict[str, dict[str, Any]]:
        """Each kind of content, by key, in a form both stores give alike."""
        found: dict[str, dict[str, Any]] = {
            "reports": {r.reference: r.model_dump(mode="json") for r in self.reports},
            "conversations": {
                key: {"session": s.model_dump(mode="json") if s else None, "seen": seen}
                for key, (s, seen) in self.conversations.items()
            },
            "alerts pending": {},
            "alerts delivered": {},
        }
        for event in self.events:
            delivered = event.delivered_at
            doc = event.model_copy(
                update={"delivered_at": delivered.astimezone(UTC) if delivered else None}
            ).model_dump(mode="json")
            found["alerts delivered" if delivered else "alerts pending"][event.id] = doc
        for kind in sorted({*RecordKind, *self.records}):
            label = "dead letters" if kind == RecordKind.DEAD_LETTERS else f"records: {kind}"
            found[label] = self.records.get(kind, {})
        found["report numbers"] = {str(year): last for year, last in self.numbers.items()}
        found["audit entries"] = {
            f"{chain or 'store-wide'} #{entry.n}": entry.model_dump(mode="json")
            for chain, entries in self.audit.items()
            for entry in entries
        }
        found["accepted events"] = {
            f"{event.person.key} {event.event_id}": {
                "at": at.astimezone(UTC).isoformat(),
                "event": _EVENT.dump_python(event, mode="json"),
            }
            for at, event in self.accepted
        }
        found["evidence files"] = dict(self.evidence)
        return found


_EVENT: TypeAdapter[InboundEvent] = TypeAdapter(InboundEventField)


def checksum(items: dict[str, Any]) -> str:
    canonical = json.dumps(items, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()[:16]


# --------------------------------------------------------------------------- reading


def _unreadable(what: str, where: str) -> MigrationRefused:
    return MigrationRefused(
        f"{where} holds {what} this Harbour cannot read; nothing was copied. Run the Harbour "
        "version that wrote it, or move the file out of the data directory to go on without it."
    )


async def read_embedded(store: TinyStore) -> Contents:
    """Everything the embedded store holds (see the module's note on internals)."""
    found = Contents()
    pending = await store.pending_events()  # sets aside what cannot be read, as at a start
    for reference in await store.references():  # from the index, oldest first
        report = await store.get_report(reference)
        if report is not None:
            found.reports.append(report)

    delivered: list[DomainEvent] = []
    for shard in store._shards.values():
        for doc in shard.table("outbox").all():
            if doc.get("delivered_at") is None:
                continue  # pending: read above
            try:
                delivered.append(DomainEvent.model_validate(doc))
            except (ValueError, TypeError):
                raise _unreadable("a delivered alert", shard.label) from None
    delivered.sort(key=lambda e: e.at)
    found.events = [*delivered, *pending]

    kinds = [*RecordKind, *(k for k in store._records.db.tables() if k not in set(RecordKind))]
    for kind in kinds:
        if kind in set(RecordKind):
            values = await store.records(RecordKind(kind))
        else:  # a kind this Harbour does not name: kept as it is
            values = {d["key"]: dict(d["value"]) for d in store._records.table(kind).all()}
        if values:
            found.records[str(kind)] = values

    # A person's file is named by a digest of her key; a file with a
    # conversation names her inside it, one with only event ids is matched
    # against every person key the store knows.
    known = {_file_name(key): key for key in set(_person_keys(found)) if ":" in key}
    for name, file in sorted(store._people.items()):
        seen = list(file.seen)
        saved = file.table("session").get(doc_id=SESSION)
        if saved is not None:
            try:
                session = Session.model_validate(saved)
            except ValueError:
                raise _unreadable("a conversation", file.label) from None
            found.conversations[session.person.key] = (session, seen)
        elif seen:
            key = known.get(name)
            if key is None:
                found.unnamed += 1
            else:
                found.conversations[key] = (None, seen)
        for entry in file.table("inbox").all():
            try:
                accepted = datetime.fromisoformat(entry["at"])
                event = _EVENT.validate_python(entry["event"])
            except (KeyError, TypeError, ValueError):
                raise _unreadable("an accepted event", file.label) from None
            if accepted.tzinfo is None:
                accepted = accepted.replace(tzinfo=UTC)
            found.accepted.append((accepted, event))
    found.accepted.sort(key=lambda accepted: accepted[0])
    for chain in await store.audit_chains():
        found.audit[chain] = await store.audit_chain(chain)

    for report in found.reports:
        for digest in sorted(await store.evidence_files(report.reference)):
            found.evidence[f"{report.reference} {digest}"] = digest

    for year in sorted({*store._counted, *store._max_seq}):
        found.numbers[year] = max(store._counted.get(year, 0), store._max_seq.get(year, 0))
    return found


def _person_keys(found: Contents) -> Iterable[str]:
    """Every string the store holds outside conversations (keys and values):
    every person key it knows is among them (reporters, recipients, actors)."""

    def strings(value: Any) -> Iterable[str]:
        if isinstance(value, str):
            yield value
        elif isinstance(value, dict):
            for key, item in value.items():
                yield key
                yield from strings(item)
        elif isinstance(value, list):
            for item in value:
                yield from strings(item)

    for report in found.reports:
        yield from strings(report.model_dump(mode="json"))
    for event in found.events:
        yield from strings(event.model_dump(mode="json"))
    yield from strings(found.records)


async def read_postgres(store: PostgresStore) -> Contents:
    """Everything the PostgreSQL store holds, read straight from its tables."""
    found = Contents()
    async with store._engine.connect() as conn:
        rows = await conn.execute(
            select(reports.c.doc, reports.c.version).order_by(reports.c.year, reports.c.seq)
        )
        found.reports = [store._report(row.doc, row.version) for row in rows]
        rows = await conn.execute(
            select(conversations.c.person_key, conversations.c.session, conversations.c.seen)
        )
        for row in rows:
            session = (
                None
                if row.session is None
                else Session.model_validate(store.sealer.session_in(row.person_key, row.session))
            )
            found.conversations[row.person_key] = (session, list(row.seen))
        rows = await conn.execute(select(outbox.c.doc, outbox.c.delivered_at).order_by(outbox.c.n))
        for row in rows:
            event = DomainEvent.model_validate(row.doc)
            event.delivered_at = row.delivered_at
            found.events.append(event)
        rows = await conn.execute(
            select(record_table.c.kind, record_table.c.key, record_table.c.value).order_by(
                record_table.c.kind, record_table.c.n
            )
        )
        for row in rows:
            found.records.setdefault(row.kind, {})[row.key] = store.sealer.record_in(
                row.kind, row.key, dict(row.value)
            )
        rows = await conn.execute(select(report_numbers.c.year, report_numbers.c.last))
        found.numbers = {row.year: row.last for row in rows}
        rows = await conn.execute(
            select(audit.c.chain, audit.c.doc).order_by(audit.c.chain, audit.c.n)
        )
        for row in rows:
            chain = None if row.chain == STORE_CHAIN else row.chain
            found.audit.setdefault(chain, []).append(AuditEntry.model_validate(row.doc))
        rows = await conn.execute(
            select(inbox.c.person_key, inbox.c.at, inbox.c.doc).order_by(
                inbox.c.at, inbox.c.person_key, inbox.c.event_id
            )
        )
        found.accepted = [
            (row.at, _EVENT.validate_python(store.sealer.event_in(row.person_key, row.doc)))
            for row in rows
        ]
        files = (
            await conn.execute(
                select(evidence_files.c.reference, evidence_files.c.sha256).order_by(
                    evidence_files.c.reference, evidence_files.c.sha256
                )
            )
        ).all()
    for row in files:  # one at a time, each opened and checked by the store
        try:
            content = await store.get_evidence_file(row.reference, row.sha256)
        except StoreError:
            content = None
        found.evidence[f"{row.reference} {row.sha256}"] = (
            "unreadable" if content is None else hashlib.sha256(content).hexdigest()
        )
    return found


# --------------------------------------------------------------------------- writing


async def _refuse_if_used(conn: AsyncConnection) -> None:
    held = []
    for name in HARBOUR_TABLES:
        if await conn.scalar(text(f"SELECT EXISTS (SELECT 1 FROM {name})")):
            held.append(name)
    if held:
        raise MigrationRefused(
            f"The database already holds Harbour data ({', '.join(held)}): Harbour will not "
            "copy into it, as the two would mix. Nothing was written. Create an empty database "
            "for the copy (createdb harbour) and run harbour migrate --to its URL; if this "
            "database is an earlier copy to be replaced, drop it and create it again first."
        )


async def write_postgres(store: PostgresStore, found: Contents, files: Store | None = None) -> None:
    """Copy `found` into the store's tables in one transaction, if they are empty,
    and its evidence files, read from `files` (the embedded store) one at a time."""
    if found.evidence and files is None:
        raise MigrationRefused("the evidence files were not given to the copy: nothing was written")
    async with store._engine.begin() as conn:
        # No Harbour on PostgreSQL may write while the copy is checked and made.
        await conn.execute(text(f"LOCK TABLE {', '.join(HARBOUR_TABLES)} IN EXCLUSIVE MODE"))
        await _refuse_if_used(conn)
        if found.reports:
            await conn.execute(
                insert(reports),
                [
                    {
                        "year": r.year,
                        "seq": r.seq,
                        "reference": r.reference,
                        "reporter_key": r.reporter.key,
                        "filed_at": r.filed_at,
                        "status": r.status.value,
                        "version": r.version,
                        "doc": store.sealer.report_out(r.model_dump(mode="json")),
                        # Looked at by the timers' first pass, which works out the rest.
                        "due_at": None if r.status is ReportStatus.CLOSED else r.filed_at,
                        "closed_at": _closed_at(r),
                    }
                    for r in found.reports
                ],
            )
            drafts = [
                {"draft_id": draft_id, "year": r.year, "seq": r.seq}
                for r in found.reports
                for draft_id in sorted(r.consumed_drafts())
            ]
            await conn.execute(
                insert(report_drafts).on_conflict_do_nothing(
                    index_elements=[report_drafts.c.draft_id]
                ),
                drafts,
            )
        if found.conversations:
            await conn.execute(
                insert(conversations),
                [
                    {
                        "person_key": key,
                        "session": (
                            store.sealer.session_out(key, session.model_dump(mode="json"))
                            if session
                            else None
                        ),
                        "session_at": session.updated_at if session else None,
                        "seen": seen,
                    }
                    for key, (session, seen) in found.conversations.items()
                ],
            )
        if found.events:
            await conn.execute(
                insert(outbox),
                [
                    {
                        "id": e.id,
                        "at": e.at,
                        "reference": e.reference,
                        "doc": e.model_dump(mode="json"),
                        "delivered_at": e.delivered_at,
                    }
                    for e in found.events
                ],
            )
        records = [
            {"kind": kind, "key": key, "value": store.sealer.record_out(kind, key, value)}
            for kind, values in found.records.items()
            for key, value in values.items()
        ]
        if records:
            await conn.execute(insert(record_table), records)
        if found.numbers:
            await conn.execute(
                insert(report_numbers),
                [{"year": year, "last": last} for year, last in found.numbers.items()],
            )
        entries = [
            {"chain": _chain(chain), "n": e.n, "at": e.at, "doc": e.model_dump(mode="json")}
            for chain, chain_entries in found.audit.items()
            for e in chain_entries
        ]
        if entries:
            await conn.execute(insert(audit), entries)
        if found.accepted:
            await conn.execute(
                insert(inbox),
                [
                    {
                        "person_key": e.person.key,
                        "event_id": e.event_id,
                        "at": accepted,
                        "doc": store.sealer.event_out(
                            e.person.key, _EVENT.dump_python(e, mode="json")
                        ),
                        "instance": None,  # nobody's: the first Harbour to look answers it
                    }
                    for accepted, e in found.accepted
                ],
            )
        if files is not None:
            for key in found.evidence:
                await _copy_evidence(conn, store, files, *key.split(" "))


async def _copy_evidence(
    conn: AsyncConnection, store: PostgresStore, files: Store, reference: str, digest: str
) -> None:
    """One evidence file, read (and checked) from `files` and sealed for `store`."""
    try:
        content = await files.get_evidence_file(reference, digest)
    except StoreError:
        content = None
    if content is None:
        raise MigrationRefused(
            f"an evidence file of {reference} ({digest}) could not be read, or no longer "
            "matches its SHA-256; nothing was copied. Restore the data directory from a "
            "backup, or erase the case, then run harbour migrate again."
        )
    key_id, data = await asyncio.to_thread(
        _evidence_sealed, store.sealer, reference, digest, content
    )
    await conn.execute(
        insert(evidence_files).values(
            reference=reference, sha256=digest, key_id=key_id, size=len(content), data=data
        )
    )


# --------------------------------------------------------------------------- checking


@dataclass
class Outcome:
    """What was copied and whether the copy matches, line by line, with no content."""

    summary: list[str]
    differences: list[str]


def compare(source: Contents, target: Contents) -> Outcome:
    """Count and checksum each kind in both; name what differs (references and counts only)."""
    ours, theirs = source.kinds(), target.kinds()
    summary: list[str] = []
    differences: list[str] = []
    for kind in [*ours, *(k for k in theirs if k not in ours)]:
        a, b = ours.get(kind, {}), theirs.get(kind, {})
        summary.append(f"  {kind:<30} {len(a):>6}")
        if len(a) == len(b) and checksum(a) == checksum(b):
            continue
        missing = a.keys() - b.keys()
        extra = b.keys() - a.keys()
        changed = sorted(k for k in a.keys() & b.keys() if a[k] != b[k])
        parts = [f"{len(a)} in the embedded store, {len(b)} in PostgreSQL"]
        for word, keys in (("missing", missing), ("not in the embedded store", extra)):
            if keys:
                parts.append(f"{len(keys)} {word}")
        if changed:
            parts.append(f"{len(changed)} different")
        if kind == "reports":
            named = sorted(missing | extra | set(changed))
            parts.append("references: " + ", ".join(named[:20]))
        differences.append(f"{kind}: " + "; ".join(parts))
    return Outcome(summary, differences)


async def verify(source: Contents, target: PostgresStore) -> Outcome:
    return compare(source, await read_postgres(target))


# --------------------------------------------------------------------------- the command


def _open_embedded(data_dir: Path) -> TinyStore:
    if not data_dir.is_dir():
        raise MigrationRefused(
            f"There is no embedded store at {data_dir}: point --data-dir (or HARBOUR_DATA_DIR) "
            "at the directory Harbour kept its files in."
        )
    try:
        return TinyStore(data_dir)
    except StoreLocked:
        raise MigrationRefused(
            f"Harbour is still running on {data_dir}. Stop it first (the copy must be taken "
            "with nothing writing to it, or what is written after would not reach "
            "PostgreSQL), then run harbour migrate again."
        ) from None


async def migrate(
    data_dir: Path,
    url: str,
    *,
    schema: str | None = None,
    key: str = "",
    key_file: Path | None = None,
) -> Outcome:
    """Copy the embedded store in `data_dir` into the PostgreSQL database at
    `url` (into `schema`, if given), then compare the two. The copy is sealed
    with the embedded store's key (`key`, else `key_file`: Harbour's key ring),
    so the database opens with the same key. Raises `MigrationRefused`
    (nothing written) or another `StoreError`."""
    _database_url(url)  # a bad URL is refused before the store is opened
    tiny = _open_embedded(data_dir)
    try:  # open (and locked) until the evidence files are copied
        beside = data_dir.with_name(f"{data_dir.name}.key")  # as Settings.key_path
        ring = await attach_key(tiny, key=key, key_file=key_file or beside, data_dir=data_dir)
        found = await read_embedded(tiny)
        target = await PostgresStore.open(url, schema=schema, sealer=Sealer(ring))
        try:
            await write_postgres(target, found, tiny)
            outcome = await verify(found, target)
        finally:
            await target.close()
    finally:
        await tiny.close()
    for year, last in sorted(found.numbers.items()):
        outcome.summary.append(
            f"  the next report of {year} will be {format_reference(year, last + 1)}"
        )
    if found.unnamed:
        outcome.summary.append(
            f"  ({found.unnamed} conversation file(s) held only recent event ids and no "
            "conversation, for a person Harbour could not name: not copied, nothing is lost)"
        )
    return outcome
