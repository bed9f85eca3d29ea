"""Whether the PostgreSQL store stays flat as a national agency's history grows.

    .venv/bin/python -m bench.postgres_scale            # 0, 100,000 and 1,000,000 old reports
    .venv/bin/python -m bench.postgres_scale --quick    # 0 and 2,000, fewer iterations
    .venv/bin/python -m bench.postgres_scale --sizes 0/300000 --rounds 3
    .venv/bin/python -m bench.postgres_scale --url postgresql://user:pw@host/db   # your server

The full run takes about 8 minutes on a 2-CPU machine, most of it seeding the
million reports (about 6 minutes; 100,000 take 20 s).

A real PostgreSQL is started with pgserver (as tests/pg.py does; its durable
defaults kept, fsync on, only `max_wal_size` raised so that seeding a million
reports is not one checkpoint after another), or `--url` (or
$HARBOUR_BENCH_DATABASE_URL) points at a server of your own: either way each
size gets a fresh schema of its own (made by `PostgresStore.open`, i.e. by the
migrations), dropped at the end.

What each database holds. Every one has the same live work: 300 open cases
(the 250 newest and 50 long-running ones spread through the history), the 50
newest of them just filed with their alerts still waiting in the outbox
(`claim_events` and `pending_events` find those 50), and five old closed
reports of one worker. On top of that come N reports of history (0, 100,000,
1,000,000), closed, one filed every 3 minutes, numbered per year. Every worker
has 5 reports. Each report has its REPORT_FILED outbox event (delivered), its
two delivery records (manager, leads' channel) and its leads' card
(`channel-messages`), and a closed one its case-closed event and delivery
record too, as old data looks; each worker has a conversation row (no
conversation in progress, the ids of her last 20 events) and a `people` name.

The rows are made by the server itself (INSERT ... SELECT over
generate_series, each document built from one template report with the
reference, reporter, dates and ids varied), then VACUUM ANALYZE and a
CHECKPOINT, so that the history looks as a long-running database's would. A
sample of the seeded reports (and records, and the live work) is then read
back through the store and compared with what the same rules give in Python,
so the figures are about data the store really reads.

Measuring. The sizes take turns over several rounds, each round a fresh
process per size (so memory is that size's alone, and noise on the shared
machine falls on every size alike). Each process times `PostgresStore.open`
(until it returns a usable store), then makes one pass of the reads below,
then reads its resident memory (VmRSS), then times, one awaited call at a time:

* `get_report` of an old closed case (a random one each time),
* `reports_by` of a worker with 5 reports (a random one each time),
* `open_reports()` (300 open cases), `claim_events` (50 pending events),
  `pending_events()` (the same 50),
* a step: `save_session` of a report draft with a dozen answers, with its
  event id, as every answered question costs,
* `file_report` of a realistic report with its REPORT_FILED event,
* `put_record(RecordKind.DELIVERIES, ...)`, a delivery record's update.

What it filed is closed and its events marked delivered afterwards (untimed),
so that every round finds the same live work.

Targets, largest size against the empty history, in the same run: save-step
and file-report p95 within 1.5x, `get_report` and `reports_by` p95 within 2x,
open time (median) within 2x, memory (median) within 1.5x. The exit status
is 1 if a target is missed.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import gc
import hashlib
import json
import math
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
import warnings
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, create_async_engine

from bench import common
from bench.storage import draft, session
from bench.storage import report as template_report
from bot.engine import Draft
from bot.models import Option, PersonRef, Platform
from bot.reports import DomainEvent, EventKind, Report, ReportStatus, RiskLevel, format_reference
from bot.session import PendingChoice
from bot.store import RecordKind
from bot.store.postgres import CLAIM_BATCH, PostgresStore, _database_url

FULL_SIZES = (0, 100_000, 1_000_000)
QUICK_SIZES = (0, 2_000)
FULL_ROUNDS = 5
QUICK_ROUNDS = 1
BUDGET_S = 300.0
"""No measuring round starts after this long (the sizes of a round all run)."""

PER_WORKER = 5
"""Reports per worker."""
NEWEST_OPEN = 250
LONG_RUNNING = 50
OPEN_CASES = NEWEST_OPEN + LONG_RUNNING
PENDING = 50
"""The newest reports, whose REPORT_FILED events are not delivered yet."""
OLD_CLOSED = PER_WORKER
"""The first worker's reports, closed, the oldest in every database."""
LIVE = OPEN_CASES + OLD_CLOSED
"""Reports every database holds besides its history."""
SEEN_PER_WORKER = 20

EVERY = timedelta(minutes=3)
"""One report filed every 3 minutes: 1,000,000 reports is about 5.7 years."""
END = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)
"""When the newest seeded report was filed."""
NOW = END + timedelta(days=1)
"""The measured filings and steps happen then (their year's numbers follow the seeded ones)."""
WORKSPACE = "T0HARBOUR"
LEAD = f"slack:{WORKSPACE}:UL0000001"
LEADS_CHANNEL = "C0SAFETYLEADS"
CLOSED_REASON = "Resolved with the worker"
MESSAGE_BASE = 1_767_600_000
LEASE = timedelta(minutes=5)

STEP_GROWTH = 1.5
FILE_GROWTH = 1.5
READ_GROWTH = 2.0
OPEN_GROWTH = 2.0
RSS_GROWTH = 1.5

OPS: dict[str, str] = {
    "step": "save step",
    "file": "file report",
    "get": "get_report (old, closed)",
    "by": "reports_by (5 reports)",
    "open_reports": "open_reports (300)",
    "claim": "claim_events (one batch)",
    "pending": "pending_events (50)",
    "delivery": "put_record (delivery)",
}
"""What is timed, in the order the table lists it."""


@dataclass(frozen=True)
class Counts:
    """Timed calls of each operation per measuring process (warm-up calls apart)."""

    step: int
    file: int
    get: int
    by: int
    open_reports: int
    claim: int
    pending: int
    delivery: int
    warmup: int

    @classmethod
    def full(cls) -> Counts:
        return cls(60, 30, 60, 60, 20, 20, 20, 60, 5)

    @classmethod
    def quick(cls) -> Counts:
        return cls(20, 8, 20, 20, 5, 5, 5, 20, 2)


# =========================================================================== the data


def md5(text_: str) -> str:
    return hashlib.md5(text_.encode()).hexdigest()


def person_of(worker: int) -> PersonRef:
    return PersonRef(platform=Platform.SLACK, workspace=WORKSPACE, user=f"U{worker:08d}")


def manager_of(worker: int) -> str:
    return f"slack:{WORKSPACE}:UM{worker // 8:07d}"


def iso(at: datetime) -> str:
    """A time as the seeding SQL writes it into the documents."""
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass(frozen=True)
class Layout:
    """Which report is which, the same rules as the seeding SQL (report k = 1 is
    the oldest, k = `total` the newest)."""

    history: int

    @property
    def total(self) -> int:
        return self.history + LIVE

    @property
    def workers(self) -> int:
        return self.total // PER_WORKER

    @property
    def spread(self) -> int:
        """The distance between two long-running open cases."""
        return (self.total - NEWEST_OPEN - OLD_CLOSED) // LONG_RUNNING

    def filed_at(self, k: int) -> datetime:
        return END - (self.total - k) * EVERY

    def year_seq(self, k: int) -> tuple[int, int]:
        year = self.filed_at(k).year
        first = max(1, self.total - (END - datetime(year, 1, 1, tzinfo=UTC)) // EVERY)
        return year, k - first + 1

    def reference(self, k: int) -> str:
        return format_reference(*self.year_seq(k))

    def worker(self, k: int) -> int:
        return (k - 1) // PER_WORKER

    def is_open(self, k: int) -> bool:
        first = OLD_CLOSED + 1
        return k > self.total - NEWEST_OPEN or (
            k >= first
            and (k - first) % self.spread == 0
            and (k - first) // self.spread < LONG_RUNNING
        )

    def is_pending(self, k: int) -> bool:
        return k > self.total - PENDING

    def status(self, k: int) -> ReportStatus:
        if self.is_pending(k):
            return ReportStatus.OPEN
        return ReportStatus.ACKNOWLEDGED if self.is_open(k) else ReportStatus.CLOSED

    def open_ks(self) -> list[int]:
        first = OLD_CLOSED + 1
        spread = [first + i * self.spread for i in range(LONG_RUNNING)]
        return sorted({*spread, *range(self.total - NEWEST_OPEN + 1, self.total + 1)})

    def closed_k(self, rng: random.Random) -> int:
        """A closed case from before the newest open ones, at random."""
        while True:
            k = rng.randint(1, self.total - NEWEST_OPEN)
            if not self.is_open(k):
                return k

    def expected_report(self, k: int, template: dict[str, Any]) -> Report:
        """Report k as the store should read it back."""
        at = self.filed_at(k)
        year, seq = self.year_seq(k)
        who = person_of(self.worker(k))
        status = self.status(k)
        timeline: list[dict[str, Any]] = [
            {"at": iso(at), "actor": who.key, "action": "filed", "detail": ""}
        ]
        if status is not ReportStatus.OPEN:
            sent = iso(at + timedelta(seconds=2))
            timeline += [
                {"at": sent, "actor": None, "action": "alert-sent", "detail": "to the manager"},
                {"at": sent, "actor": None, "action": "alert-sent", "detail": "to the leads"},
                {"at": iso(at + timedelta(hours=1)), "actor": LEAD, "action": "ack", "detail": ""},
            ]
        if status is ReportStatus.CLOSED:
            closed = iso(at + timedelta(days=3))
            timeline.append({"at": closed, "actor": LEAD, "action": "close", "detail": ""})
        doc = {
            **template,
            "reference": format_reference(year, seq),
            "year": year,
            "seq": seq,
            "reporter": who.model_dump(mode="json"),
            "filed_at": iso(at),
            "draft_id": md5(f"draft:{k}"),
            "managers": [manager_of(self.worker(k))],
            "status": status.value,
            "acknowledged_by": None if status is ReportStatus.OPEN else LEAD,
            "closed_reason": CLOSED_REASON if status is ReportStatus.CLOSED else None,
            "timeline": timeline,
        }
        found = Report.model_validate(doc)
        found.version = version_of(status)
        return found


def version_of(status: ReportStatus) -> int:
    return {ReportStatus.OPEN: 1, ReportStatus.ACKNOWLEDGED: 2}.get(status, 3)


def report_template() -> dict[str, Any]:
    """The document every seeded report is made from (a ~500-character
    description, a dozen answers, two risk reasons)."""
    doc = template_report(1, person_of(0), "template", END).model_dump(mode="json")
    for varied in ("reference", "year", "seq", "reporter", "filed_at", "draft_id", "version"):
        doc.pop(varied)
    return doc


# --------------------------------------------------------------------------- seeding SQL
# Numbers and times are this module's own constants, written into the text;
# the template document is in a temporary table (`template`).


def _spine_sql(layout: Layout) -> str:
    total, first = layout.total, OLD_CLOSED + 1
    return f"""
    CREATE TEMP TABLE spine AS
    SELECT k, at, year, seq, status,
           CASE status WHEN 'open' THEN 1 WHEN 'acknowledged' THEN 2 ELSE 3 END AS version,
           'HB-' || year || '-' || lpad(seq::text, greatest(4, length(seq::text)), '0') AS ref,
           worker, 'U' || lpad(worker::text, 8, '0') AS uid,
           'slack:{WORKSPACE}:U' || lpad(worker::text, 8, '0') AS reporter,
           'slack:{WORKSPACE}:UM' || lpad((worker / 8)::text, 7, '0') AS manager,
           md5('draft:' || k) AS draft, md5('filed:' || k) AS filed_id,
           md5('closed:' || k) AS closed_id,
           '{LEADS_CHANNEL}:' || ({MESSAGE_BASE} + k) || '.000100' AS message
    FROM (
        SELECT k, at, year, (k - 1) / {PER_WORKER} AS worker,
               CAST(row_number() OVER (PARTITION BY year ORDER BY k) AS integer) AS seq,
               CASE WHEN k > {total - PENDING} THEN 'open'
                    WHEN k > {total - NEWEST_OPEN}
                      OR (k >= {first} AND (k - {first}) % {layout.spread} = 0
                          AND (k - {first}) / {layout.spread} < {LONG_RUNNING})
                    THEN 'acknowledged'
                    ELSE 'closed' END AS status
        FROM (
            SELECT k, at, CAST(extract(year FROM at AT TIME ZONE 'UTC') AS integer) AS year
            FROM (
                SELECT k, TIMESTAMPTZ '{END.isoformat()}'
                          - ({total} - k) * INTERVAL '{int(EVERY.total_seconds())} seconds' AS at
                FROM generate_series(1, {total}) AS k
            ) AS times
        ) AS years
    ) AS facts
    """


_ISO_SQL = """
CREATE FUNCTION pg_temp.iso(t timestamptz) RETURNS text LANGUAGE sql IMMUTABLE AS
$$ SELECT to_char(t AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"') $$
"""

_REPORTS_SQL = f"""
INSERT INTO reports (year, seq, reference, reporter_key, filed_at, status, version, doc)
SELECT year, seq, ref, reporter, at, status, version,
       (SELECT doc FROM template) || jsonb_build_object(
           'reference', ref, 'year', year, 'seq', seq,
           'reporter', jsonb_build_object('platform', 'slack', 'workspace', '{WORKSPACE}', 'user', uid),
           'filed_at', pg_temp.iso(at), 'draft_id', draft,
           'managers', jsonb_build_array(manager), 'status', status,
           'acknowledged_by', CASE WHEN status <> 'open' THEN '{LEAD}' END,
           'closed_reason', CASE WHEN status = 'closed' THEN '{CLOSED_REASON}' END,
           'timeline', CASE status
               WHEN 'open' THEN jsonb_build_array(filed)
               WHEN 'acknowledged' THEN jsonb_build_array(filed, manager_sent, leads_sent, ack)
               ELSE jsonb_build_array(filed, manager_sent, leads_sent, ack, closed) END)
FROM spine, LATERAL (
    SELECT jsonb_build_object('at', pg_temp.iso(at), 'actor', reporter, 'action', 'filed',
                              'detail', '') AS filed,
           jsonb_build_object('at', pg_temp.iso(at + INTERVAL '2 seconds'), 'actor', NULL,
                              'action', 'alert-sent', 'detail', 'to the manager') AS manager_sent,
           jsonb_build_object('at', pg_temp.iso(at + INTERVAL '2 seconds'), 'actor', NULL,
                              'action', 'alert-sent', 'detail', 'to the leads') AS leads_sent,
           jsonb_build_object('at', pg_temp.iso(at + INTERVAL '1 hour'), 'actor', '{LEAD}',
                              'action', 'ack', 'detail', '') AS ack,
           jsonb_build_object('at', pg_temp.iso(at + INTERVAL '3 days'), 'actor', '{LEAD}',
                              'action', 'close', 'detail', '') AS closed
) AS entries
ORDER BY k
"""

_DRAFTS_SQL = "INSERT INTO report_drafts (draft_id, year, seq) SELECT draft, year, seq FROM spine"

_NUMBERS_SQL = (
    'INSERT INTO report_numbers (year, "last") SELECT year, max(seq) FROM spine GROUP BY year'
)

_OUTBOX_SQL = f"""
INSERT INTO outbox (id, at, reference, doc, delivered_at)
SELECT id, at, ref,
       jsonb_build_object(
           'id', id, 'kind', kind, 'at', pg_temp.iso(at),
           'reporter', jsonb_build_object('platform', 'slack', 'workspace', '{WORKSPACE}', 'user', uid),
           'reference', ref, 'risk', 'high', 'source', 'report', 'draft_id', draft,
           'change', change, 'checkin_id', NULL, 'follow_up', NULL,
           'delivered_at', pg_temp.iso(delivered)),
       delivered
FROM (
    SELECT filed_id AS id, at, ref, uid, '{EventKind.REPORT_FILED.value}' AS kind, draft,
           CAST(NULL AS text) AS change,
           CASE WHEN status = 'open' THEN NULL ELSE at + INTERVAL '2 seconds' END AS delivered
    FROM spine
    UNION ALL
    SELECT closed_id, at + INTERVAL '3 days', ref, uid, '{EventKind.CASE_CHANGED.value}', NULL,
           'close', at + INTERVAL '3 days 1 second'
    FROM spine WHERE status = 'closed'
) AS events
ORDER BY at, id
"""

_RECORDS_SQL = f"""
INSERT INTO records (kind, key, value)
SELECT kind, key, value FROM (
    SELECT at, 0 AS o, 'people' AS kind, reporter AS key,
           jsonb_build_object('name', 'Worker ' || worker) AS value
    FROM spine WHERE k % {PER_WORKER} = 1
    UNION ALL
    SELECT at, 1, 'deliveries', filed_id || ':slack:' || manager,
           jsonb_build_object('status', 'sent', 'at', pg_temp.iso(at + INTERVAL '2 seconds'),
                              'attempts', 1, 'message', 'D' || k || ':1')
    FROM spine WHERE status <> 'open'
    UNION ALL
    SELECT at, 2, 'deliveries', filed_id || ':slack:{LEADS_CHANNEL}',
           jsonb_build_object('status', 'sent', 'at', pg_temp.iso(at + INTERVAL '2 seconds'),
                              'attempts', 1, 'message', message)
    FROM spine WHERE status <> 'open'
    UNION ALL
    SELECT at, 3, 'channel-messages', ref,
           jsonb_build_object('platform', 'slack', 'address', '{LEADS_CHANNEL}', 'message', message)
    FROM spine WHERE status <> 'open'
    UNION ALL
    SELECT at + INTERVAL '3 days', 4, 'deliveries', closed_id || ':slack:{LEADS_CHANNEL}',
           jsonb_build_object('status', 'sent', 'at', pg_temp.iso(at + INTERVAL '3 days 1 second'),
                              'attempts', 1, 'message', message)
    FROM spine WHERE status = 'closed'
) AS made
ORDER BY at, o
"""

_CONVERSATIONS_SQL = f"""
INSERT INTO conversations (person_key, session, seen, updated_at)
SELECT reporter, NULL,
       ARRAY(SELECT md5('seen:' || worker || ':' || i) FROM generate_series(1, {SEEN_PER_WORKER}) AS i),
       max(at)
FROM spine GROUP BY reporter, worker
"""

SEED_STEPS = (
    ("reports", _REPORTS_SQL),
    ("report_drafts", _DRAFTS_SQL),
    ("report_numbers", _NUMBERS_SQL),
    ("outbox", _OUTBOX_SQL),
    ("records", _RECORDS_SQL),
    ("conversations", _CONVERSATIONS_SQL),
)
TABLES = ("reports", "report_drafts", "report_numbers", "outbox", "records", "conversations")


# =========================================================================== the server


@contextlib.contextmanager
def postgres(url: str | None) -> Iterator[str]:
    """The server at `url`, or a throwaway one pgserver starts (its data
    directory in the system temp directory, removed after; see tests/pg.py)."""
    if url:
        _database_url(url)  # refuses what is not a PostgreSQL URL
        yield url
        return
    with warnings.catch_warnings():
        # platformdirs warns that XDG_RUNTIME_DIR is not set (pgserver keeps a lock there).
        warnings.simplefilter("ignore")
        from pgserver.postgres_server import get_server

        pgdata = tempfile.mkdtemp(prefix="harbour-pg-bench-")
        try:
            server = get_server(pgdata, cleanup_mode="delete")
        except BaseException:
            shutil.rmtree(pgdata, ignore_errors=True)
            raise
    try:
        server.psql("ALTER SYSTEM SET max_wal_size = '8GB'; SELECT pg_reload_conf();")
        yield server.get_uri()
    finally:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            server.cleanup()  # stops it and removes its data directory


@contextlib.asynccontextmanager
async def connection(url: str, schema: str | None = None) -> AsyncIterator[AsyncConnection]:
    engine = create_async_engine(
        _database_url(url),
        connect_args={"server_settings": {"search_path": schema}} if schema else {},
        hide_parameters=True,
    )
    try:
        async with engine.connect() as conn:
            yield conn
    finally:
        await engine.dispose()


async def server_settings(url: str) -> dict[str, str]:
    names = ("server_version", "shared_buffers", "fsync", "synchronous_commit", "max_wal_size")
    async with connection(url) as conn:
        return {n: str(await conn.scalar(text(f"SHOW {n}"))) for n in names}


async def drop_schemas(url: str, schemas: Sequence[str]) -> None:
    async with connection(url) as conn:
        for schema in schemas:
            await conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        await conn.commit()


# =========================================================================== seeding


@dataclass(frozen=True)
class Seeded:
    history: int
    schema: str
    seconds: float
    megabytes: float
    """The schema's tables, indexes and TOAST on disk."""
    rows: dict[str, int]
    steps: dict[str, float]
    """Seconds each part of the seeding took."""


async def seed(url: str, schema: str, layout: Layout) -> Seeded:
    """Make the schema (the store's migrations), fill it, VACUUM ANALYZE it."""
    t0 = time.perf_counter()
    steps: dict[str, float] = {}
    store = await PostgresStore.open(url, schema=schema)
    await store.close()
    template = json.dumps(report_template(), ensure_ascii=False, separators=(",", ":"))
    async with connection(url, schema) as conn:
        await conn.execute(
            text("CREATE TEMP TABLE template AS SELECT CAST(CAST(:doc AS text) AS jsonb) AS doc"),
            {"doc": template},
        )
        await conn.exec_driver_sql(_ISO_SQL)
        t1 = time.perf_counter()
        await conn.exec_driver_sql(_spine_sql(layout))
        steps["spine"] = time.perf_counter() - t1
        for table, sql in SEED_STEPS:
            t1 = time.perf_counter()
            await conn.exec_driver_sql(sql)
            steps[table] = time.perf_counter() - t1
        await conn.exec_driver_sql("DROP TABLE spine, template")
        await conn.commit()
        autocommit = await conn.execution_options(isolation_level="AUTOCOMMIT")
        t1 = time.perf_counter()
        for table in TABLES:
            await autocommit.execute(text(f"VACUUM (ANALYZE) {table}"))
        steps["vacuum analyze"] = time.perf_counter() - t1
        t1 = time.perf_counter()
        with contextlib.suppress(Exception):  # not everyone may (a server of your own)
            await autocommit.execute(text("CHECKPOINT"))
        steps["checkpoint"] = time.perf_counter() - t1
        rows = {
            t: int(await autocommit.scalar(text(f"SELECT count(*) FROM {t}")) or 0) for t in TABLES
        }
        size = await autocommit.scalar(
            text(
                "SELECT sum(pg_total_relation_size(c.oid)) FROM pg_class c "
                "JOIN pg_namespace s ON s.oid = c.relnamespace "
                "WHERE s.nspname = :schema AND c.relkind = 'r'"
            ),
            {"schema": schema},
        )
    seconds = time.perf_counter() - t0
    return Seeded(layout.history, schema, seconds, int(size or 0) / 2**20, rows, steps)


async def verify(url: str, schema: str, layout: Layout) -> int:
    """Read a sample of what was seeded back through the store, compared with
    what the layout's rules say; returns how many reports were compared."""
    template = report_template()
    store = await PostgresStore.open(url, schema=schema)
    try:
        total = layout.total
        first_open = OLD_CLOSED + 1
        sample = {1, OLD_CLOSED, first_open, first_open + layout.spread, total // 2, total}
        sample |= {total - PENDING, total - PENDING + 1, total - NEWEST_OPEN}
        rng = random.Random(layout.history)
        sample |= {layout.closed_k(rng) for _ in range(10)}
        for k in sorted(sample):
            expected = layout.expected_report(k, template)
            if await store.get_report(expected.reference) != expected:
                raise AssertionError(f"seeded report {k} of {total} did not read back as made")
        if await store.get_report(format_reference(NOW.year, 9_999_999)) is not None:
            raise AssertionError("found a report that was never seeded")
        for k in (1, total):
            mine = await store.reports_by(person_of(layout.worker(k)))
            if [r.filed_at for r in mine] != sorted((r.filed_at for r in mine), reverse=True):
                raise AssertionError("reports_by is not newest first")
            if len(mine) != PER_WORKER:
                raise AssertionError(f"reports_by found {len(mine)}, expected {PER_WORKER}")
        found = [r.reference for r in await store.open_reports()]
        if sorted(found) != sorted(layout.reference(k) for k in layout.open_ks()):
            raise AssertionError(f"open_reports found {len(found)}, expected {OPEN_CASES}")
        pending = await store.pending_events()
        wanted = [md5(f"filed:{k}") for k in range(total - PENDING + 1, total + 1)]
        if [e.id for e in pending] != wanted:
            raise AssertionError(f"pending_events found {len(pending)}, expected {PENDING}")
        closed = next(k for k in range(1, total) if layout.status(k) is ReportStatus.CLOSED)
        message = f"{LEADS_CHANNEL}:{MESSAGE_BASE + closed}.000100"
        delivered = await store.get_record(
            RecordKind.DELIVERIES, f"{md5(f'closed:{closed}')}:slack:{LEADS_CHANNEL}"
        )
        card = await store.get_record(RecordKind.CHANNEL_MESSAGES, layout.reference(closed))
        if (delivered or {}).get("message") != message or (card or {}).get("message") != message:
            raise AssertionError("a seeded delivery record or card did not read back")
        return len(sample)
    finally:
        await store.close()


# =========================================================================== measuring (child)


def rss_mib() -> float:
    """This process's resident memory, from /proc (Linux), in MiB."""
    with contextlib.suppress(OSError):
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return math.nan


async def timed(
    call: Callable[[], Awaitable[object]], runs: int, warmup: int, into: list[float]
) -> None:
    for _ in range(warmup):
        await call()
    gc.collect()
    for _ in range(runs):
        t0 = time.perf_counter()
        await call()
        into.append(time.perf_counter() - t0)


@dataclass
class Worker:
    """The measured worker: answers questions and files reports."""

    store: PostgresStore
    me: PersonRef
    current: Draft = field(default_factory=lambda: draft(uuid.uuid4().hex, 0, NOW))
    filed: list[Report] = field(default_factory=list)
    events: list[str] = field(default_factory=list)

    async def step(self) -> None:
        self.current = self.current.model_copy(
            update={"revision": self.current.revision + 1, "updated_at": NOW}
        )
        await self.store.save_session(
            self.me, session(self.me, self.current, NOW), event_id=f"Ev{uuid.uuid4().hex}"
        )

    async def file(self) -> None:
        draft_id = uuid.uuid4().hex
        offer = PendingChoice(
            question="reflect-offer",
            token=uuid.uuid4().hex,
            prompt="Would you like to think it through with a few reflective questions?",
            options=[Option(value="now", label="Yes, now"), Option(value="later", label="No")],
        )
        after = session(self.me, None, NOW)
        after.pending = offer

        def make(seq: int, ref: str) -> tuple[Report, list[DomainEvent]]:
            filed = template_report(seq, self.me, draft_id, NOW).model_copy(
                update={"reference": ref, "year": NOW.year}
            )
            offer.context["reference"] = ref
            event = DomainEvent(
                kind=EventKind.REPORT_FILED,
                at=NOW,
                reporter=self.me,
                reference=ref,
                risk=RiskLevel.HIGH,
                draft_id=draft_id,
            )
            self.events.append(event.id)
            return filed, [event]

        filed = await self.store.file_report(
            year=NOW.year,
            draft_id=draft_id,
            make=make,
            person=self.me,
            session=after,
            event_id=f"Ev{uuid.uuid4().hex}",
        )
        self.filed.append(filed)

    async def tidy(self) -> None:
        """Close what was filed and mark its events delivered, so the next round
        finds the same open cases and pending events."""
        for filed in self.filed:
            filed.status = ReportStatus.CLOSED
            await self.store.save_report(filed)
        await self.store.mark_delivered(self.events, NOW)
        self.filed.clear()
        self.events.clear()


async def measure_one(
    url: str, schema: str, history: int, counts: Counts, seed_: int
) -> dict[str, Any]:
    """In the child process: open the store, one pass of the reads, memory, then
    each operation timed one call at a time. Returns raw samples (seconds)."""
    layout = Layout(history)
    rng = random.Random(seed_)
    gc.collect()
    t0 = time.perf_counter()
    store = await PostgresStore.open(url, schema=schema)
    open_s = time.perf_counter() - t0
    try:
        # One pass of the reads (checked), then the memory of a process that did it.
        if len(await store.open_reports()) != OPEN_CASES:
            raise AssertionError("open_reports did not find the open cases")
        if len(await store.reports_by(person_of(rng.randrange(layout.workers)))) != PER_WORKER:
            raise AssertionError("reports_by did not find a worker's reports")
        old = await store.get_report(layout.reference(layout.closed_k(rng)))
        if old is None or old.status is not ReportStatus.CLOSED:
            raise AssertionError("get_report did not find an old closed case")
        if len(await store.pending_events()) != PENDING:
            raise AssertionError("pending_events did not find the pending events")
        claimed = await store.claim_events(LEASE)
        expected = min(PENDING, CLAIM_BATCH)  # one claim takes a batch at most
        if len(claimed) != expected:
            raise AssertionError(f"claim_events claimed {len(claimed)}, expected {expected}")
        gc.collect()
        rss = rss_mib()

        samples: dict[str, list[float]] = {op: [] for op in OPS}

        async def get() -> None:
            await store.get_report(layout.reference(layout.closed_k(rng)))

        async def by() -> None:
            await store.reports_by(person_of(rng.randrange(layout.workers)))

        n = 0
        event_id = claimed[0].id

        async def deliver() -> None:
            nonlocal n
            n += 1
            to = (f"slack:{manager_of(0)}", f"slack:{LEADS_CHANNEL}")[n % 2]
            value = {"status": "sending" if n % 2 else "sent", "attempts": n, "at": iso(NOW)}
            await store.put_record(RecordKind.DELIVERIES, f"{event_id}:{to}", value)

        me = Worker(store, person_of(layout.workers + 1))
        w = counts.warmup
        await timed(get, counts.get, w, samples["get"])
        await timed(by, counts.by, w, samples["by"])
        await timed(store.open_reports, counts.open_reports, w, samples["open_reports"])
        await timed(lambda: store.claim_events(LEASE), counts.claim, w, samples["claim"])
        await timed(store.pending_events, counts.pending, w, samples["pending"])
        await timed(me.step, counts.step, w, samples["step"])
        await timed(me.file, counts.file, w, samples["file"])
        await timed(deliver, counts.delivery, w, samples["delivery"])
        await me.tidy()
        await store.put_record(RecordKind.DELIVERIES, f"{event_id}:slack:{manager_of(0)}", None)
        await store.put_record(RecordKind.DELIVERIES, f"{event_id}:slack:{LEADS_CHANNEL}", None)
    finally:
        await store.close()
    return {"open_s": open_s, "rss_mib": rss, "samples": samples}


def _child() -> int:
    """`python -m bench.postgres_scale --child`, its orders as JSON on stdin:
    measure one size in this process, print `RESULT <json>`."""
    orders = json.loads(sys.stdin.read())
    out = asyncio.run(
        measure_one(
            orders["url"],
            orders["schema"],
            int(orders["history"]),
            Counts(**orders["counts"]),
            int(orders["seed"]),
        )
    )
    print("RESULT " + json.dumps(out), flush=True)
    return 0


def run_child(url: str, schema: str, history: int, counts: Counts, seed_: int) -> dict[str, Any]:
    paths = [str(common.ROOT), *filter(None, [os.environ.get("PYTHONPATH")])]
    orders = {
        "url": url,  # on stdin, not in the command line: it may hold a password
        "schema": schema,
        "history": history,
        "counts": dataclasses.asdict(counts),
        "seed": seed_,
    }
    done = subprocess.run(
        [sys.executable, "-m", "bench.postgres_scale", "--child"],
        input=json.dumps(orders),
        cwd=common.ROOT,
        env={**os.environ, "PYTHONPATH": os.pathsep.join(paths)},
        capture_output=True,
        text=True,
        timeout=900,
    )
    lines = [line for line in done.stdout.splitlines() if line.startswith("RESULT ")]
    if done.returncode != 0 or not lines:
        raise RuntimeError(f"the measuring process failed:\n{done.stderr[-3000:]}")
    found: dict[str, Any] = json.loads(lines[-1].removeprefix("RESULT "))
    return found


# =========================================================================== results


@dataclass(frozen=True)
class Stats:
    """Median and p95 (nearest rank) of some timings, in milliseconds."""

    median_ms: float
    p95_ms: float
    n: int

    @classmethod
    def of(cls, seconds: Sequence[float]) -> Stats:
        return cls(*common.summarise(seconds, 0.95))


@dataclass
class SizeResult:
    seeded: Seeded
    verified: int
    open_s: list[float] = field(default_factory=list)
    rss_mib: list[float] = field(default_factory=list)
    samples: dict[str, list[float]] = field(default_factory=lambda: {op: [] for op in OPS})

    @property
    def history(self) -> int:
        return self.seeded.history

    @property
    def reports(self) -> int:
        return self.seeded.rows["reports"]

    @property
    def open_median_s(self) -> float:
        return float(sorted(self.open_s)[(len(self.open_s) - 1) // 2])

    @property
    def rss_median_mib(self) -> float:
        return float(sorted(self.rss_mib)[(len(self.rss_mib) - 1) // 2])

    def stats(self, op: str) -> Stats:
        return Stats.of(self.samples[op])


def ratio(value: float, base: float) -> float:
    return value / base if base > 0 else math.inf


@dataclass
class Result(common.Checked):
    settings: dict[str, str]
    sizes: list[SizeResult] = field(default_factory=list)
    rounds: int = 0
    stopped_early: bool = False

    def checks(self) -> list[tuple[bool, str]]:
        first, last = self.sizes[0], self.sizes[-1]
        vs = f"at {last.history:,} old reports vs {first.history:,}"
        out = []
        for op, limit in (("step", STEP_GROWTH), ("file", FILE_GROWTH)):
            grew = ratio(last.stats(op).p95_ms, first.stats(op).p95_ms)
            out.append((grew <= limit, f"{OPS[op]} p95 {vs} within {limit:g}x ({grew:.2f}x)"))
        for op in ("get", "by"):
            grew = ratio(last.stats(op).p95_ms, first.stats(op).p95_ms)
            out.append(
                (grew <= READ_GROWTH, f"{OPS[op]} p95 {vs} within {READ_GROWTH:g}x ({grew:.2f}x)")
            )
        grew = ratio(last.open_median_s, first.open_median_s)
        out.append(
            (grew <= OPEN_GROWTH, f"open (median) {vs} within {OPEN_GROWTH:g}x ({grew:.2f}x)")
        )
        grew = ratio(last.rss_median_mib, first.rss_median_mib)
        out.append(
            (grew <= RSS_GROWTH, f"memory (median) {vs} within {RSS_GROWTH:g}x ({grew:.2f}x)")
        )
        return out


def measure(
    *,
    quick: bool = False,
    sizes: Sequence[int] | None = None,
    rounds: int | None = None,
    counts: Counts | None = None,
    url: str | None = None,
    budget_s: float = BUDGET_S,
    progress: Callable[[str], None] = lambda _: None,
) -> Result:
    """Seed a schema per size, then measure them in turns (no printing, no exit)."""
    sizes = sizes if sizes is not None else QUICK_SIZES if quick else FULL_SIZES
    rounds = rounds if rounds is not None else QUICK_ROUNDS if quick else FULL_ROUNDS
    counts = counts or (Counts.quick() if quick else Counts.full())
    if any(n < 0 or n % PER_WORKER for n in sizes):
        raise ValueError(f"each size must be a multiple of {PER_WORKER} (reports per worker)")
    run = uuid.uuid4().hex[:8]
    with postgres(url) as server_url:
        schemas = [f"bench_scale_{run}_{n}" for n in sizes]
        try:
            result = Result(asyncio.run(server_settings(server_url)))
            for n, schema in zip(sizes, schemas, strict=True):
                layout = Layout(n)
                progress(f"  seeding {n:,} old reports ({layout.total:,} in all)…")
                seeded = asyncio.run(seed(server_url, schema, layout))
                verified = asyncio.run(verify(server_url, schema, layout))
                progress(
                    f"    {seeded.seconds:.1f} s, {seeded.megabytes:,.0f} MiB; "
                    f"{verified} reports read back as made ("
                    + ", ".join(f"{k} {v:.1f} s" for k, v in seeded.steps.items())
                    + ")"
                )
                result.sizes.append(SizeResult(seeded, verified))
            progress(f"  measuring, {rounds} round(s), a process per size each…")
            turns = common.Rounds(rounds, budget_s)
            for r in turns:
                for one in result.sizes:
                    found = run_child(server_url, one.seeded.schema, one.history, counts, r)
                    one.open_s.append(found["open_s"])
                    one.rss_mib.append(found["rss_mib"])
                    for op, got in found["samples"].items():
                        one.samples[op].extend(got)
            result.rounds, result.stopped_early = turns.done, turns.stopped_early
        finally:
            asyncio.run(drop_schemas(server_url, schemas))
    return result


def format_result(result: Result) -> str:
    first = result.sizes[0]
    width = 22
    head = f"{'':<30}" + "".join(f"{f'{s.history:,} old':>{width}}" for s in result.sizes)
    sub = f"{'':<30}" + "".join(
        f"{'median   p95':>{width}}" if i == 0 else f"{'median   p95  ratio':>{width}}"
        for i, _ in enumerate(result.sizes)
    )
    lines = [
        "reports stored: " + ", ".join(f"{s.reports:,}" for s in result.sizes),
        "seeding (s):    " + ", ".join(f"{s.seeded.seconds:.1f}" for s in result.sizes),
        "on disk (MiB):  " + ", ".join(f"{s.seeded.megabytes:,.0f}" for s in result.sizes),
        "",
        head,
        sub,
    ]

    def row(label: str, values: list[tuple[float, float]], digits: int) -> str:
        cells = []
        for i, (median, p95) in enumerate(values):
            cell = f"{median:>8.{digits}f} {p95:>6.{digits}f}"
            if i:
                cell += f" {ratio(p95, values[0][1]):>5.2f}x"
            cells.append(f"{cell:>{width}}")
        return f"{label:<30}" + "".join(cells)

    def single(label: str, values: list[float], digits: int) -> str:
        cells = []
        for i, value in enumerate(values):
            cell = f"{value:>8.{digits}f} {'':>6}"
            if i:
                cell += f" {ratio(value, values[0]):>5.2f}x"
            cells.append(f"{cell:>{width}}")
        return f"{label:<30}" + "".join(cells)

    lines.append(single("open (s, median)", [s.open_median_s for s in result.sizes], 3))
    lines.append(single("memory (MiB, median)", [s.rss_median_mib for s in result.sizes], 1))
    for op, label in OPS.items():
        values = [(s.stats(op).median_ms, s.stats(op).p95_ms) for s in result.sizes]
        lines.append(row(f"{label} (ms)", values, 2))
    early = " (stopped early: time budget)" if result.stopped_early else ""
    lines += [
        "",
        f"ratios: p95 (open and memory: median) against {first.history:,} old reports; "
        f"{result.rounds} round(s){early}, a process per size each",
        "calls timed per size: "
        + ", ".join(f"{OPS[op].split(' (')[0]} {first.stats(op).n}" for op in OPS),
        "",
        *result.check_lines(),
    ]
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    args_in = list(sys.argv[1:] if argv is None else argv)
    if args_in[:1] == ["--child"]:
        return _child()
    parser = argparse.ArgumentParser(
        prog="python -m bench.postgres_scale",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--quick", action="store_true", help="0 and 2,000 old reports, one round, fewer calls"
    )
    parser.add_argument(
        "--sizes",
        type=lambda s: tuple(int(n.replace(",", "").replace("_", "")) for n in s.split("/")),
        default=None,
        help="old reports per database, e.g. 0/100000 (the first is the baseline)",
    )
    parser.add_argument("--rounds", type=int, default=None, help="measuring rounds")
    parser.add_argument(
        "--url",
        default=os.environ.get("HARBOUR_BENCH_DATABASE_URL"),
        help="a PostgreSQL server of your own (default: $HARBOUR_BENCH_DATABASE_URL, or "
        "one started with pgserver); schemas are made and dropped in it",
    )
    args = parser.parse_args(args_in)
    sizes = args.sizes or (QUICK_SIZES if args.quick else FULL_SIZES)
    print(
        f"Harbour PostgreSQL scale benchmark: sizes {', '.join(f'{n:,}' for n in sizes)} old "
        f"reports (+{LIVE} live each){' (quick)' if args.quick else ''}, "
        f"{'your server' if args.url else 'a pgserver PostgreSQL'}",
        flush=True,
    )
    result = measure(
        quick=args.quick,
        sizes=sizes,
        rounds=args.rounds,
        url=args.url,
        progress=lambda m: print(m, flush=True),
    )
    print("server: " + ", ".join(f"{k} {v}" for k, v in result.settings.items()))
    print()
    print(format_result(result))
    return 0 if result.passed else 1


if __name__ == "__main__":
    sys.exit(main())
