"""The PostgreSQL store: the same `Store`, for a database several Harbour
processes can share (`PostgresStore.open(url)`).

SQLAlchemy 2 Core over asyncpg. The schema is Alembic's (`bot/store/migrations`),
brought up to date under an advisory lock each time a store opens, so two
processes starting together never migrate twice. Reports and conversations are
JSONB documents beside the columns their lookups need.

Tables:

* `conversations`: one row per person: their conversation (`session`, NULL
  when there is none, and `session_at`, when it last changed: `Session.updated_at`)
  and the ids of the last `SEEN_KEEP` events they sent (`seen`, oldest first),
  so a step is one row written;
* `reports`: one row per report, keyed by (`year`, `seq`), with its
  `reference`, `reporter_key`, `filed_at`, `status`, `version`, `due_at`
  (when the timers next look at it, by the core's rule: `Store.index_due`)
  and `closed_at` (when a closed one was closed: retention counts from it)
  beside the document (`doc`). `report_drafts` maps every draft a report consumed
  (`Report.consumed_drafts`) to it, one report per draft;
* `report_numbers`: {year: the last number handed out}. Filing bumps it past
  every stored report of the year, in the filing transaction: a number is never
  handed out twice and never lands on a stored report;
* `outbox`: one row per domain event, in arrival order (`n`), with its `at`
  and, once delivered, `delivered_at`. Delivered rows stay as the record;
* `records`: the small records by kind and key, in the order they were first
  put. Dead letters are records of kind `dead-letters`, as in the TinyStore,
  with the document that was set aside. Delivery records are also found by
  the event they are about (the start of their key: `records_by_event`);
* `evidence_files`: the files kept as evidence on a case, by its `reference`
  and their `sha256`, with their `size` and `data`: the bytes sealed
  (`Sealer.evidence_out`, as ASCII) by the key `key_id` names, or, with no
  key (NULL), as they were given. Erased with their case (a foreign key);
* `audit`: the audit chains (`bot.privacy.audit`), by `chain` (a case's
  reference, or `STORE_CHAIN`) and place `n`, in clear (ids, words, times);
* `writable_probe`: one row `check_writable` rewrites;
* `leases`: who holds a duty only one process does at a time (the timers), and
  until when;
* `inbox`: events a platform sent that were accepted (and acknowledged) but
  whose handling has not committed yet, by person and event id.

Several processes share one database (each `PostgresStore` is one `instance`):

* a person's events are handled one at a time across all of them: `person_turn`
  holds a session-level advisory lock on a connection of its own (a second,
  small pool, so a held lock never waits for a connection the holder needs);
  a process that dies drops its connections and with them its locks;
* each pending outbox event is delivered by one process at a time: `claim_events`
  locks the oldest pending rows with FOR UPDATE SKIP LOCKED (two claimers never
  wait on each other) and marks them `claimed_by` it `claimed_until` a lease
  runs out. A case's events go to one process together: a case whose first
  pending event someone else holds is left alone. A process that dies lets its
  claims lapse and another takes them over, reading back what the dead one had
  sent (`bot.alerts.sender`) instead of sending it twice;
* a duty such as the timers is held by one process under a renewed lease (`hold_lease`).

Every method that changes something runs in one transaction: the report (or
the conversation), the event id that caused it and its outbox events commit
together or not at all. Filing takes a transaction-scoped advisory lock on its
draft id, then the year's counter row: two processes filing the same draft get
one report; two filing different drafts get consecutive numbers. `save_report`
only replaces the version it read (`StaleReport` otherwise, and after an
erasure), so concurrent `update_report` callers re-read and re-apply instead of
writing over each other. An audit append takes a transaction-scoped advisory
lock on its chain, so two never take the same place. Marking events delivered,
parking them and marking dead letters reported are single-row updates guarded
by the state they change, so concurrent callers never lose each other's marks.
`reseal` alone is many transactions (a batch each), each writing a document
only if it is unchanged.

Nothing in a statement's parameters is ever logged or put in an error's text
(`hide_parameters`): they are what people reported.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import re
import socket
import sys
import uuid
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from pydantic import TypeAdapter, ValidationError
from sqlalchemy import (
    ARRAY,
    BigInteger,
    CheckConstraint,
    Column,
    ColumnElement,
    Connection,
    DateTime,
    Executable,
    ForeignKeyConstraint,
    Identity,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    PrimaryKeyConstraint,
    Table,
    Text,
    TextClause,
    and_,
    any_,
    bindparam,
    delete,
    func,
    literal,
    literal_column,
    or_,
    select,
    text,
    tuple_,
    update,
)
from sqlalchemy.dialects.postgresql import JSONB, distinct_on, insert
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

from bot.locks import KeyedLocks
from bot.logs import log_failure
from bot.models import InboundEvent, InboundEventField, PersonRef
from bot.privacy.audit import AuditEntry, link
from bot.privacy.keys import PREFIX as KEY_PREFIX
from bot.privacy.sealing import EVIDENCE_NAME, SEALED, SEALED_RECORDS, Sealer, check_evidence
from bot.reports import DomainEvent, Report, ReportStatus, format_reference, parse_reference
from bot.session import Session
from bot.store.base import (
    FINISHED_DELIVERIES,
    LIVE_GRACE,
    DeadLetter,
    DueRule,
    GoneCase,
    RecordKind,
    ReportFactory,
    StaleReport,
    Store,
    StoreError,
    unreadable_reason,
)

log = logging.getLogger(__name__)

SEEN_KEEP = 100
"""How many of a person's recent event ids are remembered (as `tiny.SEEN_KEEP`)."""

MIGRATIONS = Path(__file__).with_name("migrations")
VERSION_TABLE = "harbour_alembic_version"
"""Alembic's record of the schema's revision: named for Harbour, so a database
shared with another Alembic project keeps the two apart."""
MIGRATION_LOCK = 0x4842_5354_4F52_4531
"""The advisory lock held while the schema is brought up to date ("HBSTORE1")."""
PERSON_LOCKS = 0x4842_5031
"""The first key of every person's advisory lock ("HBP1"); the second is a hash
of her key (two people sharing a hash only take turns)."""
TURN_CONNECTIONS = 8
"""Connections kept for person locks; more open while more people are mid-event."""
CLAIM_BATCH = 10
"""The most pending events one claim takes: a burst is shared out among the
processes a batch at a time, not taken whole by the first to look, and a batch
is delivered well within its lease (each claim renews what is still held)."""
_EVENT = TypeAdapter(InboundEventField)
ALIVE = "alive:"
"""The lease each live process renews (`heartbeat`): `alive:<instance>`."""
DEAD_LETTERS = RecordKind.DEAD_LETTERS
OUTBOX = "outbox"
"""Where a dead letter was (`DeadLetter.where`): the outbox table."""

STORE_CHAIN = ""
"""The store-wide audit chain's name in the `audit` table (a case's chain is
named by its reference, which is never empty)."""
RESEAL_BATCH = 500
"""How many documents `reseal` reads and writes in one transaction."""
EVIDENCE_RESEAL_BATCH = 4
"""How many evidence files (up to ~20 MB each) `reseal` reads and writes in one transaction."""

_SCHEMA_NAME = re.compile(r"[a-z_][a-z0-9_]{0,62}")
_DRIVERS = ("postgresql", "postgres", "postgresql+asyncpg")

# --------------------------------------------------------------------------- tables
# What the migrations in bot/store/migrations/versions create, for the queries
# below (a test checks the two agree).

metadata = MetaData()

conversations = Table(
    "conversations",
    metadata,
    Column("person_key", Text, primary_key=True),
    Column("session", JSONB(none_as_null=True), nullable=True),
    Column("seen", ARRAY(Text), nullable=False, server_default=text("'{}'")),
    Column("updated_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("session_at", DateTime(timezone=True), nullable=True),
    Index("conversations_idle", "session_at", postgresql_where=text("session_at IS NOT NULL")),
)

reports = Table(
    "reports",
    metadata,
    Column("year", Integer, nullable=False),
    Column("seq", Integer, nullable=False),
    Column("reference", Text, nullable=False, unique=True),
    Column("reporter_key", Text, nullable=False),
    Column("filed_at", DateTime(timezone=True), nullable=False),
    Column("status", Text, nullable=False),
    Column("version", Integer, nullable=False),
    Column("doc", JSONB, nullable=False),
    Column("due_at", DateTime(timezone=True), nullable=True),
    Column("closed_at", DateTime(timezone=True), nullable=True),
    PrimaryKeyConstraint("year", "seq"),
    Index("reports_by_reporter", "reporter_key", "filed_at"),
    Index("reports_due", "due_at", postgresql_where=text("status <> 'closed'")),
    Index("reports_closed", "closed_at", postgresql_where=text("status = 'closed'")),
    Index(
        "reports_open",
        "year",
        "seq",
        postgresql_where=text("status <> 'closed'"),
    ),
)

report_drafts = Table(
    "report_drafts",
    metadata,
    Column("draft_id", Text, primary_key=True),
    Column("year", Integer, nullable=False),
    Column("seq", Integer, nullable=False),
    ForeignKeyConstraint(["year", "seq"], ["reports.year", "reports.seq"], ondelete="CASCADE"),
)

report_numbers = Table(
    "report_numbers",
    metadata,
    Column("year", Integer, primary_key=True, autoincrement=False),
    Column("last", Integer, nullable=False),
    CheckConstraint("last >= 0", name="report_numbers_last_check"),
)

outbox = Table(
    "outbox",
    metadata,
    Column("n", BigInteger, Identity(always=True), primary_key=True),
    Column("id", Text, nullable=False, unique=True),
    Column("at", DateTime(timezone=True), nullable=False),
    Column("reference", Text, nullable=True),
    Column("doc", JSONB, nullable=False),
    Column("delivered_at", DateTime(timezone=True), nullable=True),
    Column("claimed_by", Text, nullable=True),
    Column("claimed_until", DateTime(timezone=True), nullable=True),
    Index("outbox_pending", "at", "n", postgresql_where=text("delivered_at IS NULL")),
)

record_table = Table(
    "records",
    metadata,
    Column("kind", Text, nullable=False),
    Column("key", Text, nullable=False),
    Column("n", BigInteger, Identity(always=True), nullable=False),
    Column("value", JSONB, nullable=False),
    PrimaryKeyConstraint("kind", "key"),
    Index("records_in_order", "kind", "n"),
)
EVENT_OF_DELIVERY = func.split_part(record_table.c.key, literal_column("':'"), literal_column("1"))
"""The event a delivery record is about: its key is `<event id>:<platform>:<address>`
(`bot.alerts.sender`), or `<event id>:receipt`."""
Index(
    "records_by_event",
    EVENT_OF_DELIVERY,
    postgresql_where=text(f"kind = '{RecordKind.DELIVERIES}'"),
)

leases = Table(
    "leases",
    metadata,
    Column("name", Text, primary_key=True),
    Column("owner", Text, nullable=False),
    Column("until", DateTime(timezone=True), nullable=False),
)

inbox = Table(
    "inbox",
    metadata,
    Column("person_key", Text, nullable=False),
    Column("event_id", Text, nullable=False),
    Column("at", DateTime(timezone=True), nullable=False),
    Column("doc", JSONB, nullable=False),
    Column("instance", Text, nullable=True),
    PrimaryKeyConstraint("person_key", "event_id"),
    Index("inbox_by_age", "at"),
)

audit = Table(
    "audit",
    metadata,
    Column("chain", Text, nullable=False),
    Column("n", Integer, nullable=False),
    Column("at", DateTime(timezone=True), nullable=False),
    Column("doc", JSONB, nullable=False),
    PrimaryKeyConstraint("chain", "n"),
)

evidence_files = Table(
    "evidence_files",
    metadata,
    Column("reference", Text, nullable=False),
    Column("sha256", Text, nullable=False),
    Column("key_id", Text, nullable=True),
    Column("size", BigInteger, nullable=False),
    Column("data", LargeBinary, nullable=False),
    PrimaryKeyConstraint("reference", "sha256"),
    ForeignKeyConstraint(["reference"], ["reports.reference"], ondelete="CASCADE"),
)

writable_probe = Table(
    "writable_probe",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("at", DateTime(timezone=True), nullable=False),
)

# --------------------------------------------------------------------------- statements

_SAVE_SESSION_SEEN = text(
    """
    INSERT INTO conversations AS c (person_key, session, session_at, seen)
    VALUES (:key, :session, :session_at, ARRAY[CAST(:event_id AS text)])
    ON CONFLICT (person_key) DO UPDATE SET
        session = excluded.session,
        session_at = excluded.session_at,
        seen = CASE
            WHEN CAST(:event_id AS text) = ANY (c.seen) THEN c.seen
            ELSE (c.seen || CAST(:event_id AS text))
                [greatest(1, cardinality(c.seen) + 2 - CAST(:keep AS integer)):]
        END,
        updated_at = now()
    """
).bindparams(
    bindparam("session", type_=JSONB(none_as_null=True)),
    bindparam("session_at", type_=DateTime(timezone=True)),
)
"""A person's conversation and the id of the event that changed it: the id is
added (once) to her latest ids, and only the newest `SEEN_KEEP` are kept."""

_SAVE_SESSION = text(
    """
    INSERT INTO conversations AS c (person_key, session, session_at)
    VALUES (:key, :session, :session_at)
    ON CONFLICT (person_key) DO UPDATE SET
        session = excluded.session, session_at = excluded.session_at, updated_at = now()
    """
).bindparams(
    bindparam("session", type_=JSONB(none_as_null=True)),
    bindparam("session_at", type_=DateTime(timezone=True)),
)

_MARK_REPORTED = text(
    """
    UPDATE records SET value = value || '{"reported": true}'::jsonb
    WHERE kind = :kind AND key = ANY (:keys)
      AND NOT coalesce((value ->> 'reported')::boolean, false)
    """
).bindparams(bindparam("keys", type_=ARRAY(Text)))

_NUL_ESCAPE = re.compile(r"(?<!\\)((?:\\\\)*)\\u0000")


def _to_json(value: Any) -> str:
    """JSON for a JSONB column. PostgreSQL's JSONB cannot hold the character
    U+0000, which JSON can: it is stored as U+FFFD (the replacement character)
    rather than failing the whole write."""
    dumped = json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    return _NUL_ESCAPE.sub(r"\1\\ufffd", dumped) if "\\u0000" in dumped else dumped


def _closed_at(report: Report) -> datetime | None:
    """What the `closed_at` column keeps: when a closed report was closed. NULL
    for an open one, and for a closed one that does not say (`references`
    works it out from the report itself)."""
    return report.closed_at if report.status is ReportStatus.CLOSED else None


def _chain(reference: str | None) -> str:
    """The name of an audit chain in the `audit` table: its case's reference
    (as Harbour writes it, however it was typed), or `STORE_CHAIN`."""
    if reference is None:
        return STORE_CHAIN
    parsed = parse_reference(reference)
    return reference if parsed is None else format_reference(*parsed)


def _audit_lock(chain: str) -> ColumnElement[int]:
    """The key of the advisory lock appends to `chain` take turns on."""
    return func.hashtextextended(f"audit:{chain}", 0)


def _case_order(chain: str) -> tuple[int, int, str]:
    """Cases in the order they were filed (a chain that names no report last)."""
    year, seq = parse_reference(chain) or (sys.maxsize, 0)
    return year, seq, chain


def _time(value: str | None) -> datetime | None:
    """A time a record holds (ISO 8601; without a zone, UTC), or None if it holds none."""
    try:
        found = datetime.fromisoformat(value) if value else None
    except ValueError:
        return None
    return found.replace(tzinfo=UTC) if found and found.tzinfo is None else found


def _reseal_statement(
    table: Table, keys: tuple[Column[Any], ...], column: Column[Any]
) -> TextClause:
    """Write a batch of documents sealed again (`PostgresStore.reseal`): each
    row, by its keys, only if its document is still the one read (its md5);
    returns a row for each written."""
    names = [key.name for key in keys]
    arrays = ", ".join(f"CAST(:{key.name} AS {key.type.compile()}[])" for key in keys)
    same = " AND ".join(f"t.{name} = v.{name}" for name in names)
    return text(
        f"""
        UPDATE {table.name} AS t SET {column.name} = CAST(v.doc AS jsonb)
        FROM unnest({arrays}, CAST(:stamp AS text[]), CAST(:doc AS text[]))
            AS v({", ".join(names)}, stamp, doc)
        WHERE {same} AND md5(CAST(t.{column.name} AS text)) = v.stamp
        RETURNING 1
        """
    )


def _evidence_sealed(
    sealer: Sealer, place: str, sha256: str, content: bytes
) -> tuple[str | None, bytes]:
    """An evidence file's bytes checked against their SHA-256, then as the
    `key_id` and `data` columns keep them: sealed, or with no key (None) as
    they are."""
    check_evidence(place, sha256, content)
    token = sealer.evidence_out(place, sha256, content)
    if token is None or sealer.ring is None:
        return None, content
    return sealer.ring.current, token.encode("ascii")


def _evidence_opened(
    sealer: Sealer, place: str, sha256: str, key_id: str | None, data: bytes
) -> bytes:
    """A stored evidence file's bytes, opened if sealed (not checked)."""
    if key_id is None:
        return bytes(data)
    return sealer.evidence_in(place, sha256, bytes(data).decode("ascii", "replace"))


def _evidence_content(
    sealer: Sealer, place: str, sha256: str, key_id: str | None, data: bytes
) -> bytes:
    """A stored evidence file's bytes, opened and checked against their SHA-256."""
    content = _evidence_opened(sealer, place, sha256, key_id, data)
    check_evidence(place, sha256, content)
    return content


def _evidence_resealed(
    sealer: Sealer, place: str, sha256: str, key_id: str | None, data: bytes
) -> bytes:
    """A stored evidence file sealed again with the current key (`reseal`), as `data` keeps it.
    Its hash is not checked here: a changed file stays refused by `get`."""
    token = sealer.evidence_out(
        place, sha256, _evidence_opened(sealer, place, sha256, key_id, data)
    )
    assert token is not None  # only called with a key
    return token.encode("ascii")


def _database_url(url: str) -> URL:
    """`url` for SQLAlchemy with asyncpg: `postgresql://…` (libpq's form) is taken as is."""
    try:
        parsed = make_url(url)
    except ArgumentError:
        raise StoreError(
            "HARBOUR_DATABASE_URL is not a database URL: expected "
            "postgresql://user:password@host:5432/database"
        ) from None
    if parsed.drivername not in _DRIVERS:
        raise StoreError(
            f"Harbour's database store needs PostgreSQL (postgresql://…), not {parsed.drivername}"
        )
    return parsed.set(drivername="postgresql+asyncpg")


def _migrate(connection: Connection, schema: str | None) -> None:
    """Bring the schema up to date, in the caller's transaction (Alembic,
    configured here: no alembic.ini). The advisory lock makes a second process
    starting at the same time wait, then find nothing left to do."""
    connection.execute(select(func.pg_advisory_xact_lock(MIGRATION_LOCK)))
    if schema is not None:
        connection.execute(text(f'CREATE SCHEMA IF NOT EXISTS "{schema}"'))
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS).replace("%", "%%"))
    config.attributes["connection"] = connection
    config.attributes["schema"] = schema
    command.upgrade(config, "head")


class PostgresStore(Store):
    """The store in PostgreSQL. Open it with `PostgresStore.open(url)`."""

    def __init__(
        self, engine: AsyncEngine, turns: AsyncEngine | None = None, sealer: Sealer | None = None
    ) -> None:
        self._engine = engine
        self.sealer = sealer or Sealer(None)
        """Seals what people wrote on its way in (`bot.privacy.sealing`)."""
        self._turn_engine = turns or engine
        self._turns = KeyedLocks()
        self._due_settled: DueRule | None = None
        """The rule every open case's `due_at` was last worked out by (`reports_due`)."""
        self._closed = False
        self.instance = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        """This process, as its claims and leases name it."""

    @classmethod
    async def open(
        cls, url: str, *, schema: str | None = None, sealer: Sealer | None = None
    ) -> PostgresStore:
        """Connect to the database at `url` (`postgresql://user:password@host/db`)
        and bring its schema up to date. With `schema`, Harbour's tables live in
        that schema (created if missing) instead of the connection's default."""
        if schema is not None and not _SCHEMA_NAME.fullmatch(schema):
            raise StoreError(f"not a schema name Harbour uses: {schema!r} (a-z, 0-9, _)")
        parsed = _database_url(url)
        connect_args: dict[str, Any] = {}
        if schema is not None:
            connect_args["server_settings"] = {"search_path": schema}
        engine = create_async_engine(
            parsed,
            connect_args=connect_args,
            json_serializer=_to_json,
            hide_parameters=True,  # they hold what people reported: never in a log
            pool_pre_ping=True,
        )
        # Person locks are held on connections of their own: a turn holding its
        # lock never waits for one of the connections its own work needs.
        turns = create_async_engine(
            parsed,
            connect_args=connect_args,
            hide_parameters=True,
            pool_pre_ping=True,
            pool_size=TURN_CONNECTIONS,
            max_overflow=4 * TURN_CONNECTIONS,
        )
        try:
            async with engine.begin() as conn:
                await conn.run_sync(_migrate, schema)
        except BaseException as exc:
            await engine.dispose()
            await turns.dispose()
            if isinstance(exc, OSError):
                raise StoreError(
                    f"Harbour could not reach the database at "
                    f"{parsed.render_as_string(hide_password=True)} ({exc.strerror or exc}). "
                    "Check HARBOUR_DATABASE_URL and that PostgreSQL is running."
                ) from None
            raise
        return cls(engine, turns, sealer)

    # ------------------------------------------------------------------ plumbing

    def _report(self, doc: Any, version: int) -> Report:
        """A stored report; one this Harbour cannot read stops the call with a
        message that quotes nothing of it (pydantic's would)."""
        try:
            report = Report.model_validate(self.sealer.report_in(doc))
        except ValidationError as exc:
            raise StoreError(
                f"the database holds a report this version of Harbour cannot read "
                f"({exc.error_count()} error(s)); run the Harbour version that wrote it"
            ) from None
        report.version = version
        return report

    @asynccontextmanager
    async def _write(self) -> AsyncIterator[AsyncConnection]:
        """One transaction: everything in it commits together, or nothing does."""
        if self._closed:
            raise StoreError("the store is closed")
        async with self._engine.begin() as conn:
            yield conn

    @asynccontextmanager
    async def _read(self) -> AsyncIterator[AsyncConnection]:
        if self._closed:
            raise StoreError("the store is closed")
        async with self._engine.connect() as conn:
            yield conn

    async def _put_session(
        self,
        conn: AsyncConnection,
        person: PersonRef,
        session: Session | None,
        event_id: str | None,
    ) -> None:
        kept = None if session is None or session.is_empty else session
        doc = (
            None
            if kept is None
            else self.sealer.session_out(person.key, kept.model_dump(mode="json"))
        )
        row = {
            "key": person.key,
            "session": doc,
            "session_at": None if kept is None else kept.updated_at,
        }
        if event_id is not None:
            await conn.execute(_SAVE_SESSION_SEEN, {**row, "event_id": event_id, "keep": SEEN_KEEP})
        elif doc is not None:
            await conn.execute(_SAVE_SESSION, row)
        else:  # nothing to keep: no row is made for it
            await conn.execute(
                update(conversations)
                .where(conversations.c.person_key == person.key)
                .values(session=None, session_at=None, updated_at=func.now())
            )

    @staticmethod
    async def _queue(conn: AsyncConnection, events: Sequence[DomainEvent]) -> None:
        if not events:
            return
        await conn.execute(
            insert(outbox).on_conflict_do_nothing(index_elements=[outbox.c.id]),
            [
                {
                    "id": event.id,
                    "at": event.at,
                    "reference": event.reference,
                    "doc": event.model_dump(mode="json"),
                    "delivered_at": event.delivered_at,
                }
                for event in events
            ],
        )

    @staticmethod
    async def _consume(conn: AsyncConnection, report: Report) -> None:
        """Remember every draft whose result is in `report` (one report per draft)."""
        await conn.execute(
            insert(report_drafts).on_conflict_do_nothing(index_elements=[report_drafts.c.draft_id]),
            [
                {"draft_id": draft_id, "year": report.year, "seq": report.seq}
                for draft_id in sorted(report.consumed_drafts())
            ],
        )

    @staticmethod
    async def _number(conn: AsyncConnection, year: int) -> int:
        """The next number for `year`: one past both the counter and every
        stored report of the year, counted in the caller's transaction (the
        counter's row stays locked until it commits, so filers take turns)."""
        highest = (
            select(func.coalesce(func.max(reports.c.seq), 0))
            .where(reports.c.year == year)
            .scalar_subquery()
        )
        bump = (
            insert(report_numbers)
            .values(year=year, last=highest + 1)
            .on_conflict_do_update(
                index_elements=[report_numbers.c.year],
                set_={"last": func.greatest(report_numbers.c.last, highest) + 1},
            )
            .returning(report_numbers.c.last)
        )
        return int((await conn.execute(bump)).scalar_one())

    # ------------------------------------------------------------------ instances

    @asynccontextmanager
    async def person_turn(self, key: str) -> AsyncIterator[None]:
        if self._closed:
            raise StoreError("the store is closed")
        lock_key = (literal(PERSON_LOCKS), func.hashtext(key))
        # One connection per person per process: her other events here wait in memory.
        async with self._turns.hold(key), self._turn_engine.connect() as conn:
            await conn.execute(select(func.pg_advisory_lock(*lock_key)))
            await conn.commit()
            try:
                yield
            finally:
                await conn.execute(select(func.pg_advisory_unlock(*lock_key)))
                await conn.commit()

    async def claim_events(self, lease: timedelta) -> list[DomainEvent]:
        """What this process holds, renewed, and up to `CLAIM_BATCH` more.
        What it holds never crowds out what is new: an outage holding back a
        few alerts does not stop the others being claimed."""
        group = func.coalesce(outbox.c.reference, outbox.c.doc["draft_id"].astext, outbox.c.id)
        pending = outbox.c.delivered_at.is_(None)
        async with self._write() as conn:
            renewed = (
                await conn.execute(
                    update(outbox)
                    .where(pending, outbox.c.claimed_by == self.instance)
                    .values(claimed_until=func.now() + lease)
                    .returning(outbox.c.n, outbox.c.at, outbox.c.id, outbox.c.doc)
                )
            ).all()
            rows = (
                await conn.execute(
                    select(
                        outbox.c.n,
                        outbox.c.at,
                        outbox.c.id,
                        outbox.c.doc,
                        group.label("case"),
                    )
                    .where(
                        pending,
                        # Nobody's, or a process's that stopped renewing: never
                        # another live one's (locking those would only make it
                        # skip its own renewal).
                        or_(
                            outbox.c.claimed_by.is_(None),
                            and_(
                                outbox.c.claimed_by != self.instance,
                                outbox.c.claimed_until < func.now(),
                            ),
                        ),
                    )
                    .order_by(outbox.c.at, outbox.c.n)
                    .limit(CLAIM_BATCH)
                    .with_for_update(skip_locked=True)
                )
            ).all()
            mine = []
            if rows:
                held = {row.n for row in rows} | {row.n for row in renewed}
                # A case is taken whole, from its first pending event: not if
                # that event is another live process's, or being claimed by
                # someone else right now (either way not held here).
                firsts = await conn.execute(
                    select(group.label("case"), outbox.c.n)
                    .ext(distinct_on(group))
                    .where(pending, group.in_({row.case for row in rows}))
                    .order_by(group, outbox.c.at, outbox.c.n)
                )
                blocked = {first.case for first in firsts if first.n not in held}
                mine = [row for row in rows if row.case not in blocked]
            if mine:
                await conn.execute(
                    update(outbox)
                    .where(outbox.c.n.in_([row.n for row in mine]))
                    .values(claimed_by=self.instance, claimed_until=func.now() + lease)
                )
        found: list[DomainEvent] = []
        for row in sorted([*renewed, *mine], key=lambda r: (r.at, r.n)):
            try:
                found.append(DomainEvent.model_validate(row.doc))
            except (ValueError, TypeError) as exc:
                await self._set_aside(row.id, unreadable_reason(exc), check=True)
        return found

    async def still_mine(self, event_id: str, lease: timedelta) -> bool:
        async with self._write() as conn:
            renewed = await conn.scalar(
                update(outbox)
                .where(
                    outbox.c.id == event_id,
                    outbox.c.claimed_by == self.instance,
                    outbox.c.delivered_at.is_(None),
                )
                .values(claimed_until=func.now() + lease)
                .returning(outbox.c.id)
            )
        return renewed is not None

    async def live_instances(self) -> tuple[int, timedelta]:
        query = select(func.count(), func.max(leases.c.until) - func.now()).where(
            leases.c.name.startswith(ALIVE),
            leases.c.until > func.now(),
            leases.c.owner != self.instance,
        )
        async with self._read() as conn:
            count, wait = (await conn.execute(query)).one()
        return int(count), wait or timedelta(0)

    async def heartbeat(self, lease: timedelta) -> None:
        await self.hold_lease(f"{ALIVE}{self.instance}", lease)

    async def hold_lease(self, name: str, lease: timedelta) -> bool:
        stmt = insert(leases).values(name=name, owner=self.instance, until=func.now() + lease)
        taken = stmt.on_conflict_do_update(
            index_elements=[leases.c.name],
            set_={"owner": stmt.excluded.owner, "until": stmt.excluded.until},
            where=or_(leases.c.owner == stmt.excluded.owner, leases.c.until < func.now()),
        ).returning(leases.c.owner)
        async with self._write() as conn:
            return (await conn.execute(taken)).one_or_none() is not None

    # ------------------------------------------------------------------ inbox

    async def accept(self, event: InboundEvent) -> None:
        stmt = insert(inbox).values(
            person_key=event.person.key,
            event_id=event.event_id,
            at=func.now(),
            doc=self.sealer.event_out(event.person.key, _EVENT.dump_python(event, mode="json")),
            instance=self.instance,
        )
        async with self._write() as conn:
            await conn.execute(stmt.on_conflict_do_nothing())

    async def drop_accepted(self, person: PersonRef, event_id: str) -> None:
        async with self._write() as conn:
            await conn.execute(
                delete(inbox).where(inbox.c.person_key == person.key, inbox.c.event_id == event_id)
            )

    async def unhandled(self, older_than: datetime) -> list[InboundEvent]:
        async with self._read() as conn:
            rows = (
                await conn.execute(
                    select(inbox.c.person_key, inbox.c.event_id, inbox.c.doc)
                    .where(
                        inbox.c.at < older_than,
                        # Not one another live process took and may still be
                        # answering (this one's own are Harbour's to tell apart).
                        or_(
                            inbox.c.instance.is_(None),
                            inbox.c.instance == self.instance,
                            inbox.c.instance.not_in(
                                select(func.substr(leases.c.name, len(ALIVE) + 1)).where(
                                    leases.c.name.startswith(ALIVE), leases.c.until > func.now()
                                )
                            ),
                            inbox.c.at < func.now() - LIVE_GRACE,
                        ),
                    )
                    .order_by(inbox.c.at, inbox.c.person_key, inbox.c.event_id)
                )
            ).all()
        found: list[InboundEvent] = []
        for row in rows:
            try:
                found.append(_EVENT.validate_python(self.sealer.event_in(row.person_key, row.doc)))
            except (ValueError, TypeError, StoreError) as exc:
                log.warning(
                    "an accepted event could not be read and was dropped (%s)", type(exc).__name__
                )
                async with self._write() as conn:
                    await conn.execute(
                        delete(inbox).where(
                            inbox.c.person_key == row.person_key, inbox.c.event_id == row.event_id
                        )
                    )
        return found

    # ------------------------------------------------------------------ conversations

    async def load_session(self, person: PersonRef) -> Session | None:
        async with self._read() as conn:
            doc = await conn.scalar(
                select(conversations.c.session).where(conversations.c.person_key == person.key)
            )
        return (
            None if doc is None else Session.model_validate(self.sealer.session_in(person.key, doc))
        )

    async def seen(self, person: PersonRef, event_id: str) -> bool:
        async with self._read() as conn:
            found = await conn.scalar(
                select(literal(event_id, Text) == any_(conversations.c.seen)).where(
                    conversations.c.person_key == person.key
                )
            )
        return bool(found)

    async def save_session(
        self,
        person: PersonRef,
        session: Session | None,
        *,
        event_id: str | None = None,
        events: Sequence[DomainEvent] = (),
    ) -> None:
        async with self._write() as conn:
            await self._put_session(conn, person, session, event_id)
            await self._queue(conn, events)

    async def conversation_damaged(self, person: PersonRef) -> bool:
        """Never: a conversation here is a row the database keeps whole (a
        TinyStore's damaged file has no equivalent)."""
        if self._closed:
            raise StoreError("the store is closed")
        return False

    # ------------------------------------------------------------------ reports

    async def file_report(
        self,
        *,
        year: int,
        draft_id: str,
        make: ReportFactory,
        person: PersonRef,
        session: Session | None,
        event_id: str | None = None,
    ) -> Report:
        async with self._write() as conn:
            # Whoever files this draft first does it; anyone else waits here, then finds it.
            await conn.execute(
                select(func.pg_advisory_xact_lock(func.hashtextextended(f"draft:{draft_id}", 0)))
            )
            found = (
                await conn.execute(
                    select(reports.c.doc, reports.c.version)
                    .join(
                        report_drafts,
                        and_(
                            report_drafts.c.year == reports.c.year,
                            report_drafts.c.seq == reports.c.seq,
                        ),
                    )
                    .where(report_drafts.c.draft_id == draft_id)
                )
            ).one_or_none()
            if found is not None:
                report = self._report(found.doc, found.version)
            else:
                seq = await self._number(conn, year)
                # `make` may change the session (what to ask next), so it runs
                # before the session is written.
                report, events = make(seq, format_reference(year, seq))
                report.version = 1
                await conn.execute(
                    insert(reports).values(
                        year=report.year,
                        seq=report.seq,
                        reference=report.reference,
                        reporter_key=report.reporter.key,
                        filed_at=report.filed_at,
                        status=report.status.value,
                        version=report.version,
                        doc=self.sealer.report_out(report.model_dump(mode="json")),
                        due_at=self._due(report),
                        closed_at=_closed_at(report),
                    )
                )
                await self._consume(conn, report)
                await self._queue(conn, events)
            await self._put_session(conn, person, session, event_id)
        return report

    async def save_report(
        self,
        report: Report,
        *,
        events: Sequence[DomainEvent] = (),
        person: PersonRef | None = None,
        session: Session | None = None,
        event_id: str | None = None,
    ) -> None:
        written = report.model_copy(update={"version": report.version + 1})
        row = {
            "year": written.year,
            "seq": written.seq,
            "reference": written.reference,
            "reporter_key": written.reporter.key,
            "filed_at": written.filed_at,
            "status": written.status.value,
            "version": written.version,
            "doc": self.sealer.report_out(written.model_dump(mode="json")),
            "due_at": self._due(written),
            "closed_at": _closed_at(written),
        }
        write: Executable
        if report.version == 0:  # never stored: written unless a report took its place
            stmt = insert(reports).values(row)
            write = stmt.on_conflict_do_update(
                index_elements=[reports.c.year, reports.c.seq],
                set_={name: stmt.excluded[name] for name in row if name not in ("year", "seq")},
                where=reports.c.version == report.version,
            ).returning(reports.c.version)
        else:
            # Only over the version it was read at, and never back after an
            # erasure (`erase_report`) that came in between.
            write = (
                update(reports)
                .where(
                    reports.c.year == written.year,
                    reports.c.seq == written.seq,
                    reports.c.version == report.version,
                )
                .values({name: value for name, value in row.items() if name not in ("year", "seq")})
                .returning(reports.c.version)
            )
        async with self._write() as conn:
            if (await conn.execute(write)).one_or_none() is None:
                raise StaleReport(f"{report.reference} changed since it was read")
            await self._consume(conn, written)
            await self._queue(conn, events)
            if person is not None:
                await self._put_session(conn, person, session, event_id)
        report.version = written.version

    async def get_report(self, reference: str) -> Report | None:
        parsed = parse_reference(reference)
        if parsed is None:
            return None
        year, seq = parsed
        async with self._read() as conn:
            found = (
                await conn.execute(
                    select(reports.c.doc, reports.c.version).where(
                        reports.c.year == year, reports.c.seq == seq
                    )
                )
            ).one_or_none()
        return None if found is None else self._report(found.doc, found.version)

    async def reports_by(self, person: PersonRef) -> list[Report]:
        async with self._read() as conn:
            rows = await conn.execute(
                select(reports.c.doc, reports.c.version)
                .where(reports.c.reporter_key == person.key)
                .order_by(reports.c.filed_at.desc(), reports.c.year.desc(), reports.c.seq.desc())
            )
            return [self._report(row.doc, row.version) for row in rows]

    async def open_reports(self) -> list[Report]:
        async with self._read() as conn:
            rows = await conn.execute(
                select(reports.c.doc, reports.c.version)
                .where(reports.c.status != ReportStatus.CLOSED.value)
                .order_by(reports.c.year, reports.c.seq)
            )
            return [self._report(row.doc, row.version) for row in rows]

    def _due(self, report: Report) -> datetime | None:
        return None if report.status is ReportStatus.CLOSED else self.due_at(report)

    async def reports_due(self, now: datetime) -> list[Report]:
        """Only the open reports whose `due_at` has come; each is asked the rule
        again, and a `due_at` that no longer holds (an older Harbour's, or the
        rule changed with the settings) is put right."""
        rule = self.due_rule
        if rule is None:
            return await self.open_reports()
        query = (
            select(reports.c.year, reports.c.seq, reports.c.version, reports.c.due_at)
            .add_columns(reports.c.doc)
            .where(reports.c.status != ReportStatus.CLOSED.value)
            .order_by(reports.c.year, reports.c.seq)
        )
        if self._due_settled is rule:
            query = query.where(reports.c.due_at <= now)
        # Else the first pass under this rule: every open case is asked again,
        # so a rule that now answers sooner (shorter escalation settings) is not
        # left waiting for a time worked out under the old one.
        async with self._read() as conn:
            rows = (await conn.execute(query)).all()
        due: list[Report] = []
        wrong: list[dict[str, Any]] = []
        for row in rows:
            report = self._report(row.doc, row.version)
            when = rule(report)
            if when != row.due_at:
                wrong.append({"y": row.year, "s": row.seq, "v": row.version, "due": when})
            if when is not None and when <= now:
                due.append(report)
        if wrong:
            async with self._write() as conn:
                await conn.execute(
                    update(reports)
                    .where(
                        reports.c.year == bindparam("y"),
                        reports.c.seq == bindparam("s"),
                        reports.c.version == bindparam("v"),  # not over a newer write
                    )
                    .values(due_at=bindparam("due")),
                    wrong,
                )
        self._due_settled = rule
        return due

    # ------------------------------------------------------------------ outbox

    async def pending_events(self) -> list[DomainEvent]:
        """Undelivered events, oldest first. One that cannot be read is moved to
        the dead letters, so it never holds back the events after it."""
        async with self._read() as conn:
            rows = (
                await conn.execute(
                    select(outbox.c.id, outbox.c.doc)
                    .where(outbox.c.delivered_at.is_(None))
                    .order_by(outbox.c.at, outbox.c.n)
                )
            ).all()
        found: list[DomainEvent] = []
        for row in rows:
            try:
                found.append(DomainEvent.model_validate(row.doc))
            except (ValueError, TypeError) as exc:  # a ValidationError is a ValueError
                await self._set_aside(row.id, unreadable_reason(exc), check=True)
        return found

    async def mark_delivered(self, event_ids: Sequence[str], at: datetime) -> None:
        """Each event is marked on its own row, and only if still pending: two
        processes marking different events (or the same) never undo each other."""
        if not event_ids:
            return
        async with self._write() as conn:
            await conn.execute(
                update(outbox)
                .where(outbox.c.id.in_(list(event_ids)), outbox.c.delivered_at.is_(None))
                .values(delivered_at=at)
            )

    async def _set_aside(self, event_id: str, reason: str, *, check: bool) -> None:
        """Move a pending outbox row to the dead letters, with its document, in
        one transaction. With `check`, only if it is still unreadable (it may
        have been replaced, delivered or set aside meanwhile)."""
        async with self._write() as conn:
            row = (
                await conn.execute(
                    select(outbox.c.n, outbox.c.doc)
                    .where(outbox.c.id == event_id, outbox.c.delivered_at.is_(None))
                    .with_for_update()
                )
            ).one_or_none()
            if row is None:
                return
            if check:
                try:
                    DomainEvent.model_validate(row.doc)
                    return
                except (ValueError, TypeError):
                    pass
            log.warning("an alert was set aside as a dead letter (%s in %s)", reason, OUTBOX)
            letter = DeadLetter(id=event_id, reason=reason, at=datetime.now(UTC), where=OUTBOX)
            await conn.execute(
                insert(record_table)
                .values(
                    kind=str(DEAD_LETTERS),
                    key=event_id,
                    value={**letter.model_dump(mode="json"), "document": row.doc},
                )
                .on_conflict_do_nothing(index_elements=[record_table.c.kind, record_table.c.key])
            )
            await conn.execute(delete(outbox).where(outbox.c.n == row.n))

    async def park_event(self, event_id: str, reason: str) -> None:
        await self._set_aside(event_id, reason, check=False)

    async def dead_letters(self) -> list[DeadLetter]:
        letters = await self.records(DEAD_LETTERS)
        return sorted(
            (DeadLetter.model_validate(value) for value in letters.values()),
            key=lambda d: (d.at, d.id),
        )

    async def mark_dead_letter_reported(self, ids: Sequence[str]) -> None:
        if not ids:
            return
        async with self._write() as conn:
            await conn.execute(_MARK_REPORTED, {"kind": str(DEAD_LETTERS), "keys": list(ids)})

    # ------------------------------------------------------------------ records

    async def put_record(self, kind: RecordKind, key: str, value: dict[str, Any] | None) -> None:
        async with self._write() as conn:
            if value is None:
                await conn.execute(
                    delete(record_table).where(
                        record_table.c.kind == str(kind), record_table.c.key == key
                    )
                )
                return
            sealed = self.sealer.record_out(str(kind), key, value)
            stmt = insert(record_table).values(kind=str(kind), key=key, value=sealed)
            await conn.execute(
                stmt.on_conflict_do_update(
                    index_elements=[record_table.c.kind, record_table.c.key],
                    set_={"value": stmt.excluded.value},
                    where=record_table.c.value.is_distinct_from(stmt.excluded.value),
                )
            )

    async def get_record(self, kind: RecordKind, key: str) -> dict[str, Any] | None:
        async with self._read() as conn:
            value = await conn.scalar(
                select(record_table.c.value).where(
                    record_table.c.kind == str(kind), record_table.c.key == key
                )
            )
        return None if value is None else self.sealer.record_in(str(kind), key, dict(value))

    async def records(self, kind: RecordKind) -> dict[str, dict[str, Any]]:
        async with self._read() as conn:
            rows = await conn.execute(
                select(record_table.c.key, record_table.c.value)
                .where(record_table.c.kind == str(kind))
                .order_by(record_table.c.n)
            )
            return {
                row.key: self.sealer.record_in(str(kind), row.key, dict(row.value)) for row in rows
            }

    # ------------------------------------------------------------------ audit

    async def append_audit(self, entry: AuditEntry) -> AuditEntry:
        """Read the chain's last entry, link `entry` after it and insert it, in
        one transaction holding the chain's advisory lock: an append in another
        process waits for this one to commit, then links after it."""
        chain = _chain(entry.reference)
        async with self._write() as conn:
            await conn.execute(select(func.pg_advisory_xact_lock(_audit_lock(chain))))
            if chain != STORE_CHAIN:
                # Held until commit: an erasure waits, then takes this entry with the case.
                stored = await conn.scalar(
                    select(reports.c.reference)
                    .where(reports.c.reference == chain)
                    .with_for_update(key_share=True)
                )
                if stored is None:
                    raise GoneCase(f"{chain} is not stored")
            last = await conn.scalar(
                select(audit.c.doc)
                .where(audit.c.chain == chain)
                .order_by(audit.c.n.desc())
                .limit(1)
            )
            placed = link(entry, None if last is None else AuditEntry.model_validate(last))
            await conn.execute(
                insert(audit).values(
                    chain=chain, n=placed.n, at=placed.at, doc=placed.model_dump(mode="json")
                )
            )
        return placed

    async def audit_chain(self, reference: str | None) -> list[AuditEntry]:
        async with self._read() as conn:
            docs = await conn.scalars(
                select(audit.c.doc).where(audit.c.chain == _chain(reference)).order_by(audit.c.n)
            )
            return [AuditEntry.model_validate(doc) for doc in docs]

    async def audit_chains(self) -> list[str | None]:
        async with self._read() as conn:
            chains = list(await conn.scalars(select(audit.c.chain).distinct()))
        cases = sorted((c for c in chains if c != STORE_CHAIN), key=_case_order)
        return [*([None] if STORE_CHAIN in chains else []), *cases]

    async def trim_audit(self, before: datetime) -> int:
        async with self._write() as conn:
            # Not while an append is reading the last entry it links after.
            await conn.execute(select(func.pg_advisory_xact_lock(_audit_lock(STORE_CHAIN))))
            # From the start of the chain up to the first entry not older: an
            # entry out of time order (another instance's clock) stops it, so
            # what is kept still links entry to entry.
            first_kept = (
                select(func.min(audit.c.n))
                .where(audit.c.chain == STORE_CHAIN, audit.c.at >= before)
                .scalar_subquery()
            )
            past_the_end = (
                select(func.max(audit.c.n) + 1).where(audit.c.chain == STORE_CHAIN)
            ).scalar_subquery()
            trimmed = await conn.execute(
                delete(audit).where(
                    audit.c.chain == STORE_CHAIN,
                    audit.c.n < func.coalesce(first_kept, past_the_end),
                )
            )
        return trimmed.rowcount

    # ------------------------------------------------------------------ retention, erasure

    async def references(self, *, closed_before: datetime | None = None) -> list[str]:
        """From the columns. With `closed_before`, a closed report whose
        `closed_at` column is NULL (closed before the column existed, sealed,
        so the migration could not read when) is read once here: `Report`
        works out when it was closed from its timeline, and the column is
        filled in, so the next call finds it by the index alone."""
        if closed_before is None:
            async with self._read() as conn:
                return list(
                    await conn.scalars(
                        select(reports.c.reference).order_by(reports.c.year, reports.c.seq)
                    )
                )
        closed = reports.c.status == ReportStatus.CLOSED.value
        async with self._read() as conn:
            found = (
                await conn.execute(
                    select(reports.c.year, reports.c.seq, reports.c.reference).where(
                        closed, reports.c.closed_at < closed_before
                    )
                )
            ).all()
            unknown = (
                await conn.execute(
                    select(reports.c.year, reports.c.seq, reports.c.version, reports.c.doc).where(
                        closed, reports.c.closed_at.is_(None)
                    )
                )
            ).all()
        chosen = {(row.year, row.seq): row.reference for row in found}
        learnt: list[dict[str, Any]] = []
        for row in unknown:
            report = self._report(row.doc, row.version)
            if report.closed_at is None:
                continue
            learnt.append({"y": row.year, "s": row.seq, "v": row.version, "at": report.closed_at})
            if report.closed_at < closed_before:
                chosen[(row.year, row.seq)] = report.reference
        if learnt:
            async with self._write() as conn:
                await conn.execute(
                    update(reports)
                    .where(
                        reports.c.year == bindparam("y"),
                        reports.c.seq == bindparam("s"),
                        reports.c.version == bindparam("v"),  # not over a newer write
                        reports.c.closed_at.is_(None),
                    )
                    .values(closed_at=bindparam("at")),
                    learnt,
                )
        return [chosen[key] for key in sorted(chosen)]

    async def erase_report(self, reference: str) -> bool:
        """One transaction: the report (its drafts and evidence files go with
        it, by the foreign keys), its outbox events, the delivery records of those events, its
        channel card and its audit chain. A process delivering one of its
        alerts at that moment may still record the delivery afterwards: ids,
        statuses and times, no content, and `prune_delivered` takes it."""
        parsed = parse_reference(reference)
        if parsed is None:
            return False
        year, seq = parsed
        async with self._write() as conn:
            erased = await conn.scalar(
                delete(reports)
                .where(reports.c.year == year, reports.c.seq == seq)
                .returning(reports.c.reference)
            )
            if erased is None:
                return False
            events = list(
                await conn.scalars(
                    delete(outbox).where(outbox.c.reference == erased).returning(outbox.c.id)
                )
            )
            if events:
                await conn.execute(
                    delete(record_table).where(
                        record_table.c.kind == str(RecordKind.DELIVERIES),
                        EVENT_OF_DELIVERY.in_(events),
                    )
                )
            await conn.execute(
                delete(record_table).where(
                    record_table.c.kind == str(RecordKind.CHANNEL_MESSAGES),
                    record_table.c.key == erased,
                )
            )
            await conn.execute(delete(audit).where(audit.c.chain == erased))
        return True

    async def idle_sessions(self, before: datetime) -> list[PersonRef]:
        async with self._read() as conn:
            people = await conn.scalars(
                select(conversations.c.session["person"])
                .where(conversations.c.session_at < before)
                .order_by(conversations.c.session_at, conversations.c.person_key)
            )
            return [PersonRef.model_validate(person) for person in people]

    async def forget_person(self, person: PersonRef) -> None:
        async with self._write() as conn:
            await conn.execute(
                delete(conversations).where(conversations.c.person_key == person.key)
            )
            await conn.execute(delete(inbox).where(inbox.c.person_key == person.key))

    async def prune_delivered(self, before: datetime, *, dry_run: bool = False) -> int:
        """One transaction. A delivery record finished when it says (`at` once
        sent, `failed_at` once given up on); one whose time cannot be read is
        kept, as is one still under way."""
        delivered = and_(outbox.c.delivered_at.is_not(None), outbox.c.delivered_at < before)
        deliveries = record_table.c.kind == str(RecordKind.DELIVERIES)
        finished = record_table.c.value["status"].astext.in_(sorted(FINISHED_DELIVERIES))
        async with self._read() if dry_run else self._write() as conn:
            if dry_run:
                events = int(
                    await conn.scalar(select(func.count()).select_from(outbox).where(delivered))
                    or 0
                )
            else:
                events = (await conn.execute(delete(outbox).where(delivered))).rowcount
            rows = await conn.execute(
                select(
                    record_table.c.key,
                    func.coalesce(
                        record_table.c.value["at"].astext, record_table.c.value["failed_at"].astext
                    ).label("at"),
                ).where(deliveries, finished)
            )
            done = [row.key for row in rows if (at := _time(row.at)) is not None and at < before]
            if dry_run or not done:
                return events + len(done)
            pruned = await conn.execute(
                delete(record_table).where(
                    deliveries,
                    finished,
                    record_table.c.key == any_(bindparam("keys", done, type_=ARRAY(Text))),
                )
            )
        return events + pruned.rowcount

    async def reseal(self) -> int:
        """Table by table, `RESEAL_BATCH` rows a transaction, in key order (so
        100,000 reports are never in memory at once): every sealed column's
        document not yet sealed with the current key is opened and sealed
        again, and written only if nobody wrote it meanwhile (whoever did
        sealed it with the current key). Run it again after an interruption
        and it goes on with what is left."""
        sealer = self.sealer
        written = await self._reseal(
            reports,
            (reports.c.year, reports.c.seq),
            reports.c.doc,
            lambda row: sealer.report_out(sealer.report_in(dict(row.doc))),
        )
        written += await self._reseal(
            conversations,
            (conversations.c.person_key,),
            conversations.c.session,
            lambda row: sealer.session_out(
                row.person_key, sealer.session_in(row.person_key, dict(row.session))
            ),
        )
        written += await self._reseal(
            inbox,
            (inbox.c.person_key, inbox.c.event_id),
            inbox.c.doc,
            lambda row: sealer.event_out(
                row.person_key, sealer.event_in(row.person_key, dict(row.doc))
            ),
        )
        written += await self._reseal(
            record_table,
            (record_table.c.kind, record_table.c.key),
            record_table.c.value,
            lambda row: sealer.record_out(
                row.kind, row.key, sealer.record_in(row.kind, row.key, dict(row.value))
            ),
            record_table.c.kind.in_([str(kind) for kind in SEALED_RECORDS]),
        )
        return written + await self._reseal_evidence()

    async def _reseal_evidence(self) -> int:
        """Every evidence file not sealed with the current key, sealed again,
        `EVIDENCE_RESEAL_BATCH` a transaction, in key order; each written only
        if nobody resealed it meanwhile (its `key_id` is still the one read)."""
        sealer = self.sealer
        ring = sealer.ring
        if ring is None:
            return 0
        key = (evidence_files.c.reference, evidence_files.c.sha256)
        stale = evidence_files.c.key_id.is_distinct_from(ring.current)
        written = 0
        after: tuple[str, str] | None = None
        while True:
            query = select(*key, evidence_files.c.key_id, evidence_files.c.data).where(stale)
            if after is not None:
                query = query.where(tuple_(*key) > tuple_(*after))
            async with self._read() as conn:
                rows = (await conn.execute(query.order_by(*key).limit(EVIDENCE_RESEAL_BATCH))).all()
            if not rows:
                return written
            async with self._write() as conn:
                for row in rows:
                    data = await asyncio.to_thread(
                        _evidence_resealed, sealer, row.reference, row.sha256, row.key_id, row.data
                    )
                    done = await conn.execute(
                        update(evidence_files)
                        .where(
                            evidence_files.c.reference == row.reference,
                            evidence_files.c.sha256 == row.sha256,
                            evidence_files.c.key_id.is_not_distinct_from(row.key_id),
                        )
                        .values(key_id=ring.current, data=data)
                    )
                    written += done.rowcount
            after = (rows[-1].reference, rows[-1].sha256)

    # ------------------------------------------------------------------ evidence files

    async def put_evidence_file(self, reference: str, sha256: str, content: bytes) -> None:
        """One transaction, holding the case's row (`FOR KEY SHARE`) so an
        erasure waits for it, or it for the erasure (then `GoneCase`).
        Checking and sealing the bytes run off the event loop."""
        parsed = parse_reference(reference)
        if parsed is None:
            raise GoneCase("evidence was given for a case reference Harbour does not recognise")
        year, seq = parsed
        key_id, data = await asyncio.to_thread(
            _evidence_sealed, self.sealer, format_reference(year, seq), sha256, content
        )
        async with self._write() as conn:
            stored = await conn.scalar(
                select(reports.c.reference)
                .where(reports.c.year == year, reports.c.seq == seq)
                .with_for_update(key_share=True)
            )
            if stored is None:
                raise GoneCase(
                    f"{format_reference(year, seq)} is not stored: its evidence file was not kept"
                )
            await conn.execute(
                insert(evidence_files)
                .values(
                    reference=stored,
                    sha256=sha256,
                    key_id=key_id,
                    size=len(content),
                    data=data,
                )
                .on_conflict_do_nothing(
                    index_elements=[evidence_files.c.reference, evidence_files.c.sha256]
                )
            )

    async def get_evidence_file(self, reference: str, sha256: str) -> bytes | None:
        parsed = parse_reference(reference)
        if parsed is None or not EVIDENCE_NAME.fullmatch(sha256):
            return None
        place = format_reference(*parsed)
        sealer = self.sealer
        async with self._read() as conn:
            row = (
                await conn.execute(
                    select(evidence_files.c.key_id, evidence_files.c.data).where(
                        evidence_files.c.reference == place, evidence_files.c.sha256 == sha256
                    )
                )
            ).one_or_none()
        if row is None:
            return None
        return await asyncio.to_thread(
            _evidence_content, sealer, place, sha256, row.key_id, row.data
        )

    async def evidence_files(self, reference: str) -> list[str]:
        parsed = parse_reference(reference)
        if parsed is None:
            return []
        async with self._read() as conn:
            return list(
                await conn.scalars(
                    select(evidence_files.c.sha256).where(
                        evidence_files.c.reference == format_reference(*parsed)
                    )
                )
            )

    async def _reseal(
        self,
        table: Table,
        keys: tuple[Column[Any], ...],
        column: Column[Any],
        again: Callable[[Any], dict[str, Any]],
        *where: ColumnElement[bool],
    ) -> int:
        """Seal `column` of every row of `table` again (`reseal`); `again`
        gives a row's document sealed with the current key."""
        ring = self.sealer.ring
        token = column[SEALED].astext
        if ring is None:  # nothing can be sealed: only a sealed document is looked at (and refused)
            stale = token.is_not(None)
        else:
            stale = or_(
                token.is_(None), ~token.startswith(f"{KEY_PREFIX}.{ring.current}.", autoescape=True)
            )
        stamp = func.md5(column.cast(Text))
        rewrite = _reseal_statement(table, keys, column)
        written = 0
        after: tuple[Any, ...] | None = None
        while True:
            query = select(*keys, column, stamp.label("stamp")).where(
                column.is_not(None), stale, *where
            )
            if after is not None:
                query = query.where(tuple_(*keys) > tuple_(*after))
            async with self._write() as conn:
                rows = (await conn.execute(query.order_by(*keys).limit(RESEAL_BATCH))).all()
                if not rows:
                    return written
                changes: dict[str, list[Any]] = {key.name: [] for key in keys}
                changes["stamp"], changes["doc"] = [], []
                for row in rows:
                    for key in keys:
                        changes[key.name].append(row._mapping[key.name])
                    changes["stamp"].append(row.stamp)
                    changes["doc"].append(_to_json(again(row)))
                written += len((await conn.execute(rewrite, changes)).all())
            after = tuple(rows[-1]._mapping[key.name] for key in keys)

    # ------------------------------------------------------------------ health

    async def check_writable(self) -> None:
        """A one-row durable write: a read-only or unreachable database shows."""
        stmt = insert(writable_probe).values(id=1, at=func.now())
        async with self._write() as conn:
            await conn.execute(
                stmt.on_conflict_do_update(
                    index_elements=[writable_probe.c.id], set_={"at": stmt.excluded.at}
                )
            )

    async def close(self) -> None:
        """Let go of this process's claims and leases (another takes them at
        once, not when they lapse), then of the connections."""
        if self._closed:
            return
        try:
            async with self._write() as conn:
                await conn.execute(
                    update(outbox)
                    .where(outbox.c.claimed_by == self.instance, outbox.c.delivered_at.is_(None))
                    .values(claimed_by=None, claimed_until=None)
                )
                await conn.execute(delete(leases).where(leases.c.owner == self.instance))
        except Exception as exc:  # they lapse on their own
            log_failure("letting go of claims at close", exc)
        finally:
            self._closed = True
            await self._engine.dispose()
            if self._turn_engine is not self._engine:
                await self._turn_engine.dispose()
