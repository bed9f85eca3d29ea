"""How fast the embedded store is as reports pile up.

    python -m bench.storage            # 0, 1,000 and 10,000 reports already stored
    python -m bench.storage --quick    # 0 and 1,000, fewer iterations

For each size a fresh TinyStore is opened in a temporary directory that
already holds that many reports, then two operations are timed one by one
(time.perf_counter around the awaited call):

* save step: `save_session` of a realistic session (a report draft with a
  dozen answers) plus the event id, i.e. what every answered question costs;
* file report: `file_report` of a realistic report (a ~500-character
  description, a few links) with its REPORT_FILED event, saving the session.

The "my file" column is the size of the measured person's own conversation
file (`conversations/<digest>.json`, what each step rewrites) at the end; "all
conv." is the whole `conversations/` directory, every person's file together,
which no single write touches.

The sizes take turns over several rounds (each store is closed and reopened
between its rounds), so that disk hiccups on a shared machine fall on every
size alike; the "open" column is the first, cold open of each store.

The stored reports are written straight into shard files in the store's own
format (TinyDB JSON, `reports/<year>-<shard:04d>.json`, tables "reports" keyed
by seq and "outbox") before the store opens: filing 10,000 reports one fsynced
write at a time would take minutes. A same-run baseline, one `atomic_write` of
a small file, shows how much of each figure is the fsyncs themselves.

Targets: save-step p95 < 5 ms at every size and growing at most 1.5x from the
smallest to the largest size; file-report p95 < 25 ms at the largest size.
The exit status is 1 if a target is missed.

Aged stores (issue 13: what a store costs once years of cases pile up):

    python -m bench.storage --scale            # 0, 10,000 and 100,000 reports
    python -m bench.storage --scale --quick    # 0 and 1,000

Each size is a data directory as a Harbour of 2026-12 left it (`seed_aged`):
five reports per worker, `OPEN_CASES` open (most the newest, `LONG_RUNNING`
spread through the years), every alert delivered, with its delivery and
channel-message records in `records.json`, each worker's name there too, and
each worker's conversation file. Every size is measured in a process of its
own (so one's memory never counts in another's), twice: the first open
("1st open", and its peak memory: it moves the delivery records out of
`records.json` and builds the index; the store then stays open 2.5 s, as
Harbour runs on after an upgrade, since the index vouches only for files
written 2 s before it), then a restart: an open and

* open: until `TinyStore(...)` returns, the store usable;
* RSS: the process's resident memory right after that open (/proc, VmRSS);
* open_rep.: `open_reports()` (median), `OPEN_CASES` open; due: the timers'
  pass, `reports_due(now)` with the core's rule (median);
* cold get: `get_report` of a closed case, each in a shard not read before;
* step p95 and file p95: as above;
* delivery: one `put_record(DELIVERIES, ...)` for the alert of a case filed
  just before (median and p95), what each alert sent costs;
* below the table, one `records(DELIVERIES)`: every delivery record, read
  from every case's file (what each /metrics scrape asks for).

Ratios are against the empty store, measured the same way in the same run.
Targets: memory after open at the largest size within 2x of the empty store's;
open at the largest size under 3 s; a delivery record's write (median) within
2x of the empty store's.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import hashlib
import json
import math
import os
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import bot.store.tiny as tiny
from bench import common
from bot.alerts.followups import EscalationTimes, timers_due
from bot.engine import Draft
from bot.models import Option, PersonRef, Platform
from bot.reports import (
    DomainEvent,
    EventKind,
    Report,
    ReportAnswers,
    RiskLevel,
    format_reference,
)
from bot.session import PendingChoice, Session
from bot.store import RecordKind
from bot.store.tiny import TinyStore, atomic_write

YEAR = 2026
FULL_SIZES = (0, 1_000, 10_000)
QUICK_SIZES = (0, 1_000)
PEOPLE = 200
"""Seeded reports are spread over this many reporters."""
OTHER_SESSIONS = 25
"""Conversations in progress for other people, so the measured person's file is
not the only one in `conversations/`."""

STEP_P95_MS = 5.0
STEP_GROWTH = 1.5
FILE_P95_MS = 25.0

START = datetime(YEAR, 1, 5, 8, 0, 0, 250_000, tzinfo=UTC)

DESCRIPTION = (
    "Since the care proceedings started last month, the father of one of the children on "
    "my caseload has been posting about me on a local community page. He named me, said "
    "which office I work from and posted a photo of my car outside my house with the "
    "number plate visible. Several people commented asking where I live and one said they "
    "knew which school my children attend. He has also sent me direct messages on my "
    "personal account late at night, saying that I will 'see what it feels like' to lose "
    "my children. I have screenshots of all of it."
)
assert 450 <= len(DESCRIPTION) <= 550

LINKS = [
    "https://www.facebook.com/groups/local-community-page/posts/1234567890123456",
    "https://www.facebook.com/permalink.php?story_fbid=9876543210&id=100000000000001",
    "https://x.com/someaccount/status/1790000000000000000",
]


def person(n: int) -> PersonRef:
    return PersonRef(platform=Platform.SLACK, workspace="T0HARBOUR", user=f"U{n:08d}")


def answers() -> dict[str, Any]:
    """A report draft's answers as the engine saves them (12 answered fields)."""
    return {
        "in_danger": False,
        "kinds": ["threatening_messages", "personal_details", "family_photos"],
        "details_exposed": ["home", "children", "school"],
        "platforms": ["facebook", "x"],
        "links": list(LINKS),
        "evidence": "Screenshots of the posts and the messages, saved on my work phone.",
        "started": "this_month",
        "frequency": "daily",
        "affected": ["me", "children", "partner"],
        "poster": "relative",
        "worry": "4",
        "description": DESCRIPTION,
    }


def draft(draft_id: str, revision: int, now: datetime) -> Draft:
    done = list(answers())
    return Draft(
        id=draft_id,
        flow="report",
        step="audience",
        answers=answers(),
        trail=done,
        revision=revision,
        effects_done=[],
        started_at=START,
        updated_at=now,
    )


def session(who: PersonRef, current: Draft | None, now: datetime) -> Session:
    return Session(
        person=who,
        active=current.flow if current else None,
        drafts={current.flow: current} if current else {},
        updated_at=now,
    )


def report(seq: int, who: PersonRef, draft_id: str, filed_at: datetime) -> Report:
    return Report(
        reference=format_reference(YEAR, seq),
        year=YEAR,
        seq=seq,
        reporter=who,
        filed_at=filed_at,
        draft_id=draft_id,
        answers=ReportAnswers.model_validate({**answers(), "audience": "manager_and_leads"}),
        risk=RiskLevel.HIGH,
        risk_reasons=[
            "Details of your home life (home, children, school) were exposed.",
            "It is happening most days.",
        ],
    )


def filed_event(filed: Report, at: datetime, delivered: bool = False) -> DomainEvent:
    return DomainEvent(
        kind=EventKind.REPORT_FILED,
        at=at,
        reporter=filed.reporter,
        reference=filed.reference,
        risk=filed.risk,
        draft_id=filed.draft_id,
        delivered_at=at + timedelta(seconds=2) if delivered else None,
    )


def conversation_file(who: PersonRef) -> str:
    """A person's own file in `conversations/`, as the store names it."""
    return hashlib.sha256(who.key.encode()).hexdigest()[:32] + ".json"


# --------------------------------------------------------------------------- seeding


def seed(directory: Path, count: int) -> dict[int, Report]:
    """Write `count` reports as shard files, exactly as the store lays them out.

    Returns a few of them (first, last, some in between) to check after opening.
    """
    reports_dir = directory / "reports"
    reports_dir.mkdir(parents=True, exist_ok=True)
    shards: dict[int, dict[str, dict[str, Any]]] = {}
    samples: dict[int, Report] = {}
    for seq in range(1, count + 1):
        filed_at = START + timedelta(minutes=seq)
        filed = report(seq, person(seq % PEOPLE), f"seed-{seq}", filed_at)
        tables = shards.setdefault(seq // tiny.SHARD_SIZE, {"reports": {}, "outbox": {}})
        tables["reports"][str(seq)] = filed.model_dump(mode="json")
        outbox = tables["outbox"]
        event = filed_event(filed, filed_at, delivered=True)  # long since delivered
        outbox[str(len(outbox) + 1)] = event.model_dump(mode="json")
        if seq in (1, count, count // 2, min(count, tiny.SHARD_SIZE)):
            samples[seq] = filed
    for shard, tables in shards.items():
        text = json.dumps(tables, ensure_ascii=False, separators=(",", ":"))
        (reports_dir / f"{YEAR}-{shard:04d}.json").write_text(text, encoding="utf-8")
    return samples


async def verify_seeded(store: TinyStore, count: int, samples: dict[int, Report]) -> None:
    for seq, expected in samples.items():
        found = await store.get_report(expected.reference)
        if found != expected:
            raise AssertionError(f"seeded report {expected.reference} did not load back")
        mine = await store.reports_by(expected.reporter)
        per_person = len(range(seq % PEOPLE or PEOPLE, count + 1, PEOPLE))
        if len(mine) != per_person or expected not in mine:
            raise AssertionError(
                f"reports_by({expected.reporter.user}) found {len(mine)}, expected {per_person}"
            )
    if await store.get_report(format_reference(YEAR, count + 1)) is not None:
        raise AssertionError("found a report past the seeded ones")


# --------------------------------------------------------------------------- timing


@dataclass(frozen=True)
class Stats:
    median_ms: float
    p95_ms: float
    n: int

    @classmethod
    def of(cls, seconds: Sequence[float]) -> Stats:
        return cls(*common.summarise(seconds, 0.95))


@dataclass(frozen=True)
class SizeResult:
    reports: int
    open_s: float
    step: Stats
    file: Stats
    person_kb: float
    """The measured person's own conversation file: what a step rewrites."""
    conversations_kb: float
    """Every person's conversation file together."""
    people: int
    """How many conversation files there are."""
    shards: int


@dataclass
class Result(common.Checked):
    baseline: Stats
    sizes: list[SizeResult] = field(default_factory=list)

    @property
    def step_growth(self) -> float:
        first, last = self.sizes[0].step.p95_ms, self.sizes[-1].step.p95_ms
        return last / first if first else math.inf

    def checks(self) -> list[tuple[bool, str]]:
        out = [
            (
                s.step.p95_ms < STEP_P95_MS,
                f"save-step p95 < {STEP_P95_MS:g} ms at {s.reports:,} reports "
                f"({s.step.p95_ms:.2f} ms)",
            )
            for s in self.sizes
        ]
        first, last = self.sizes[0], self.sizes[-1]
        out.append(
            (
                self.step_growth <= STEP_GROWTH,
                f"save-step p95 grows at most {STEP_GROWTH:g}x from {first.reports:,} to "
                f"{last.reports:,} reports ({self.step_growth:.2f}x)",
            )
        )
        out.append(
            (
                last.file.p95_ms < FILE_P95_MS,
                f"file-report p95 < {FILE_P95_MS:g} ms at {last.reports:,} reports "
                f"({last.file.p95_ms:.2f} ms)",
            )
        )
        return out


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


def baseline(directory: Path, runs: int) -> Stats:
    """One atomic_write (write, fsync, rename, fsync the directory) of ~200 bytes."""
    path = directory / "baseline.json"
    text = json.dumps({"seen": {"1": {"ids": [uuid.uuid4().hex for _ in range(4)]}}})
    samples = []
    for _ in range(runs):
        t0 = time.perf_counter()
        atomic_write(path, text)
        samples.append(time.perf_counter() - t0)
    return Stats.of(samples)


def split(total: int, parts: int) -> list[int]:
    """`total` iterations over `parts` rounds, as evenly as possible."""
    share, extra = divmod(total, parts)
    return [share + (1 if i < extra else 0) for i in range(parts)]


@dataclass
class Series:
    """One store size, measured over several rounds."""

    reports: int
    directory: Path
    samples: dict[int, Report]
    me: PersonRef = field(default_factory=lambda: person(1))
    now: datetime = START + timedelta(days=30)
    current: Draft | None = None
    filed: int = 0
    open_s: list[float] = field(default_factory=list)
    step: list[float] = field(default_factory=list)
    file: list[float] = field(default_factory=list)

    async def run_round(self, steps: int, filings: int, warmup: int) -> None:
        first = not self.open_s
        t0 = time.perf_counter()
        store = TinyStore(self.directory)
        self.open_s.append(time.perf_counter() - t0)
        try:
            if first:
                await verify_seeded(store, self.reports, self.samples)
                for n in range(OTHER_SESSIONS):  # other conversations in progress
                    other = person(10_000 + n)
                    started = draft(uuid.uuid4().hex, 3, self.now)
                    await store.save_session(
                        other, session(other, started, self.now), event_id=f"o{n}"
                    )
                self.current = draft(uuid.uuid4().hex, 0, self.now)
            await timed(lambda: self.save_step(store), steps, warmup, self.step)
            await timed(lambda: self.file_one(store), filings, max(1, warmup // 4), self.file)
        finally:
            await store.close()

    async def save_step(self, store: TinyStore) -> None:
        assert self.current is not None
        self.current = self.current.model_copy(
            update={"revision": self.current.revision + 1, "updated_at": self.now}
        )
        await store.save_session(
            self.me, session(self.me, self.current, self.now), event_id=f"Ev{uuid.uuid4().hex}"
        )

    async def file_one(self, store: TinyStore) -> None:
        draft_id = uuid.uuid4().hex
        offer = PendingChoice(
            question="reflect-offer",
            token=uuid.uuid4().hex,
            prompt="Would you like to think it through with a few reflective questions?",
            options=[Option(value="now", label="Yes, now"), Option(value="later", label="No")],
        )
        after = session(self.me, None, self.now)
        after.pending = offer

        def make(seq: int, ref: str) -> tuple[Report, list[DomainEvent]]:
            filed = report(seq, self.me, draft_id, self.now)
            offer.context["reference"] = ref
            return filed, [filed_event(filed, self.now)]

        filed = await store.file_report(
            year=YEAR,
            draft_id=draft_id,
            make=make,
            person=self.me,
            session=after,
            event_id=f"Ev{uuid.uuid4().hex}",
        )
        self.filed += 1
        expected = format_reference(YEAR, self.reports + self.filed)
        if filed.reference != expected:
            raise AssertionError(f"filed {filed.reference}, expected {expected}")

    def result(self) -> SizeResult:
        conversations = self.directory / "conversations"
        files = list(conversations.glob("*.json"))
        return SizeResult(
            self.reports,
            self.open_s[0],
            Stats.of(self.step),
            Stats.of(self.file),
            (conversations / conversation_file(self.me)).stat().st_size / 1024,
            sum(f.stat().st_size for f in files) / 1024,
            len(files),
            len(list((self.directory / "reports").glob("*.json"))),
        )


async def measure(
    *,
    quick: bool = False,
    sizes: Sequence[int] | None = None,
    steps: int | None = None,
    filings: int | None = None,
    warmup: int | None = None,
    rounds: int | None = None,
    baseline_writes: int | None = None,
    root: Path | None = None,
    progress: Callable[[str], None] = lambda _: None,
) -> Result:
    """Run the whole benchmark and return the figures (no printing, no exit).

    The sizes take turns, `rounds` times (reopening each store every round), so
    that a slow patch of the disk, common on shared machines, lands on every
    size alike instead of on whichever one happened to run then; only one store
    is open at a time, so each is measured with its own memory.
    """
    sizes = sizes if sizes is not None else QUICK_SIZES if quick else FULL_SIZES
    steps = steps if steps is not None else 100 if quick else 300
    filings = filings if filings is not None else 60 if quick else 200
    warmup = warmup if warmup is not None else 10 if quick else 20
    rounds = max(1, min(rounds or (2 if quick else 5), steps, filings))
    writes = baseline_writes if baseline_writes is not None else steps
    with tempfile.TemporaryDirectory(prefix="harbour-bench-", dir=root) as tmp:
        result = Result(baseline(Path(tmp), writes))
        series = []
        for count in sizes:
            progress(f"  seeding {count:,} reports…")
            directory = Path(tmp) / f"store-{count}"
            series.append(Series(count, directory, seed(directory, count)))
        progress(
            f"  timing {steps} steps and {filings} filings per size, in {rounds} rounds "
            f"({warmup} warm-up steps per round)…"
        )
        for step_n, file_n in zip(split(steps, rounds), split(filings, rounds), strict=True):
            for one in series:
                await one.run_round(step_n, file_n, warmup)
        result.sizes = [one.result() for one in series]
    return result


def format_result(result: Result) -> str:
    b = result.baseline
    lines = [
        f"baseline atomic_write of a small file: median {b.median_ms:.2f} ms, "
        f"p95 {b.p95_ms:.2f} ms (n={b.n})",
        "",
        f"{'reports':>8}  {'open':>7}  {'save step (ms)':>17}  {'file report (ms)':>17}"
        f"  {'my file':>8}  {'all conv.':>9}  {'people':>6}  {'shards':>6}",
        f"{'':>8}  {'(s)':>7}  {'median':>8} {'p95':>8}  {'median':>8} {'p95':>8}"
        f"  {'(KB)':>8}  {'(KB)':>9}  {'':>6}  {'':>6}",
    ]
    for s in result.sizes:
        lines.append(
            f"{s.reports:>8,}  {s.open_s:>7.2f}  {s.step.median_ms:>8.2f} {s.step.p95_ms:>8.2f}"
            f"  {s.file.median_ms:>8.2f} {s.file.p95_ms:>8.2f}  {s.person_kb:>8.1f}"
            f"  {s.conversations_kb:>9.1f}  {s.people:>6}  {s.shards:>6}"
        )
    first, last = result.sizes[0], result.sizes[-1]
    lines += [
        "",
        f"save-step p95 growth {first.reports:,} -> {last.reports:,} reports: "
        f"{result.step_growth:.2f}x",
        "",
        *result.check_lines(),
    ]
    return "\n".join(lines)


# --------------------------------------------------------------------------- scale

SCALE_SIZES = (0, 10_000, 100_000)
QUICK_SCALE_SIZES = (0, 1_000)
OPEN_CASES = 300
"""Cases still open in an aged store: most of them the newest, some long-running."""
LONG_RUNNING = 50
"""Of the open cases, how many are old ones spread through the history."""
REPORTS_PER_WORKER = 5
SEEN_PER_WORKER = 20
"""Event ids each worker's conversation file remembers (what her steps left)."""
LEADS_CHANNEL = "C0SAFETYLEADS"
COLD_READS = 12
"""Closed cases read once each, every one in a shard not read before."""

RSS_GROWTH = 2.0
OPEN_LARGEST_S = 3.0
DELIVERY_GROWTH = 2.0


def _manager(worker: int) -> str:
    return f"slack:T0HARBOUR:UM{worker // 8:07d}"


def _scale_report(template: dict[str, Any], seq: int, worker: int, is_open: bool) -> dict[str, Any]:
    filed_at = START + timedelta(minutes=seq)
    who = person(worker).key
    lead = "slack:T0HARBOUR:UL0000001"
    timeline = [
        {"at": filed_at.isoformat(), "actor": who, "action": "filed", "detail": ""},
        {
            "at": (filed_at + timedelta(seconds=2)).isoformat(),
            "actor": None,
            "action": "alert-sent",
            "detail": "new report to the manager",
        },
        {
            "at": (filed_at + timedelta(seconds=2)).isoformat(),
            "actor": None,
            "action": "alert-sent",
            "detail": "new report to the leads",
        },
        {"at": (filed_at + timedelta(hours=1)).isoformat(), "actor": lead, "action": "ack"},
    ]
    if not is_open:
        timeline.append(
            {
                "at": (filed_at + timedelta(days=3)).isoformat(),
                "actor": lead,
                "action": "close",
                "detail": "Resolved with the worker",
            }
        )
    return {
        **template,
        "reference": format_reference(YEAR, seq),
        "version": 4 if is_open else 6,
        "seq": seq,
        "reporter": person(worker).model_dump(mode="json"),
        "filed_at": filed_at.isoformat(),
        "draft_id": uuid.UUID(int=seq).hex,
        "managers": [_manager(worker)],
        "status": "acknowledged" if is_open else "closed",
        "acknowledged_by": lead,
        "closed_reason": None if is_open else "Resolved with the worker",
        "timeline": timeline,
    }


@dataclass
class Aged:
    """What an aged data directory holds, to check and to read back."""

    count: int
    open_refs: list[str]
    cold_refs: list[str]
    """Closed cases, each in a different shard (oldest shards first)."""


def seed_aged(directory: Path, count: int) -> Aged:
    """An aged data directory as a Harbour of 2026-12 left it, written straight
    in the store's files (stamped, as it writes them): `count` reports, five per
    worker, `OPEN_CASES` of them open; each report's alert delivered (to the
    manager and the leads' channel) and, for a closed case, the closing edit of
    the channel card; their delivery and channel-message records and every
    worker's display name in `records.json`; and each worker's conversation file
    with the event ids her steps left."""
    reports_dir = directory / "reports"
    conversations = directory / "conversations"
    for folder in (reports_dir, conversations):
        folder.mkdir(parents=True, exist_ok=True)
    workers = max(1, count // REPORTS_PER_WORKER)
    newest = max(0, count - (OPEN_CASES - LONG_RUNNING))
    spread = (
        {1 + i * (newest // LONG_RUNNING) for i in range(LONG_RUNNING)} if newest > 0 else set()
    )
    opened = set(range(newest + 1, count + 1)) | {s for s in spread if s <= count}
    template = report(1, person(0), "template", START).model_dump(mode="json")
    shards: dict[int, dict[str, dict[str, Any]]] = {}
    records: dict[str, dict[str, Any]] = {"people": {}, "deliveries": {}, "channel-messages": {}}

    def record(kind: str, key: str, value: dict[str, Any]) -> None:
        table = records[kind]
        table[str(len(table) + 1)] = {"key": key, "value": value}

    for seq in range(1, count + 1):
        worker = seq % workers
        is_open = seq in opened
        doc = _scale_report(template, seq, worker, is_open)
        tables = shards.setdefault(seq // tiny.SHARD_SIZE, {"reports": {}, "outbox": {}})
        tables["reports"][str(seq)] = doc
        outbox = tables["outbox"]
        at = datetime.fromisoformat(doc["filed_at"])
        ref = doc["reference"]
        message = f"{LEADS_CHANNEL}:{1_767_600_000 + seq}.000100"
        filed = {
            "id": uuid.UUID(int=(1 << 64) + seq).hex,
            "kind": "report_filed",
            "at": at.isoformat(),
            "reporter": doc["reporter"],
            "reference": ref,
            "risk": "high",
            "source": "report",
            "draft_id": doc["draft_id"],
            "change": None,
            "checkin_id": None,
            "follow_up": None,
            "delivered_at": (at + timedelta(seconds=2)).isoformat(),
        }
        outbox[str(len(outbox) + 1)] = filed
        sent = {"status": "sent", "at": filed["delivered_at"], "attempts": 1}
        record(
            "deliveries",
            f"{filed['id']}:slack:{_manager(worker)}",
            {**sent, "message": f"D{seq}:1"},
        )
        record("deliveries", f"{filed['id']}:slack:{LEADS_CHANNEL}", {**sent, "message": message})
        card = {"platform": "slack", "address": LEADS_CHANNEL, "message": message}
        record("channel-messages", ref, card)
        if not is_open:
            closed_at = at + timedelta(days=3)
            change = {
                **filed,
                "id": uuid.UUID(int=(2 << 64) + seq).hex,
                "kind": "case_changed",
                "at": closed_at.isoformat(),
                "draft_id": None,
                "change": "close",
                "delivered_at": (closed_at + timedelta(seconds=1)).isoformat(),
            }
            outbox[str(len(outbox) + 1)] = change
            edited = {**sent, "at": change["delivered_at"], "message": message}
            record("deliveries", f"{change['id']}:slack:{LEADS_CHANNEL}", edited)
    for worker in range(workers if count else 0):
        record("people", person(worker).key, {"name": f"Worker {worker}"})
        ids = [
            uuid.UUID(int=(3 << 64) + worker * SEEN_PER_WORKER + n).hex
            for n in range(SEEN_PER_WORKER)
        ]
        seen = {"seen": {"1": {"ids": [f"Ev{i}" for i in ids]}}}
        _write_stored(conversations / conversation_file(person(worker)), seen)
    for shard, tables in shards.items():
        _write_stored(reports_dir / f"{YEAR}-{shard:04d}.json", tables)
    _write_stored(directory / "records.json", records)
    if count:
        _write_stored(directory / tiny.COUNTER, {str(YEAR): count})
    closed_by_shard: dict[int, str] = {}
    for seq in range(1, count + 1):
        if seq not in opened:
            closed_by_shard.setdefault(seq // tiny.SHARD_SIZE, format_reference(YEAR, seq))
    return Aged(
        count,
        [format_reference(YEAR, s) for s in sorted(opened)],
        list(closed_by_shard.values())[:COLD_READS],
    )


def _write_stored(path: Path, data: dict[str, Any]) -> None:
    path.write_text(
        tiny.stamp(json.dumps(data, ensure_ascii=False, separators=(",", ":"))), "utf-8"
    )


_VOUCH_S = getattr(tiny, "VOUCH_AFTER_NS", 0) / 1e9 + 0.5


def rss_mib(field: str = "VmRSS") -> float:
    """This process's resident memory (`VmHWM`: its peak), from /proc (Linux), in MiB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1]) / 1024
    return math.nan


@dataclass(frozen=True)
class AgedResult:
    """One aged store's figures, measured in a process of its own."""

    reports: int
    first_open_s: float
    """The first open of the directory as the older Harbour left it."""
    first_peak_mib: float
    """The peak resident memory of that first open."""
    open_s: float
    """An open after that one (what every later start costs)."""
    rss_mib: float
    """Resident memory right after that open."""
    open_reports: Stats
    reports_due: Stats
    """The timers' pass: the open cases due (`Store.reports_due`)."""
    open_cases: int
    cold_read: Stats | None
    step: Stats
    file: Stats
    delivery: Stats
    all_deliveries_s: float = math.nan
    """One `records(DELIVERIES)`: every delivery record (each /metrics scrape asks)."""
    all_deliveries: int = 0


def _stats(samples: Sequence[float]) -> dict[str, float]:
    found = Stats.of(samples)
    return {"median_ms": found.median_ms, "p95_ms": found.p95_ms, "n": found.n}


async def _measure_aged_store(
    directory: Path, aged: Aged, *, steps: int, filings: int, deliveries: int, reads: int
) -> dict[str, Any]:
    """Run in the child process: open the store, then time each operation."""
    gc.collect()
    t0 = time.perf_counter()
    store = TinyStore(directory)
    opened_s = time.perf_counter() - t0
    gc.collect()
    rss = rss_mib()
    out: dict[str, Any] = {"open_s": opened_s, "rss_mib": rss}
    try:
        found = await store.open_reports()
        if [r.reference for r in found] != aged.open_refs:
            raise AssertionError(f"open_reports found {len(found)}, expected {len(aged.open_refs)}")
        listed: list[float] = []
        await timed(store.open_reports, reads, 1, listed)
        out["open_reports"] = _stats(listed)
        # The delivery pass asks for the cases whose timers are due, twice every 5 s.
        store.index_due(lambda report: timers_due(report, EscalationTimes()))
        passes: list[float] = []
        now = START + timedelta(days=800)
        await timed(lambda: store.reports_due(now), reads, 1, passes)
        out["reports_due"] = _stats(passes)
        cold: list[float] = []
        for ref in aged.cold_refs:
            t0 = time.perf_counter()
            got = await store.get_report(ref)
            cold.append(time.perf_counter() - t0)
            if got is None or got.status.value != "closed":
                raise AssertionError(f"{ref} did not read back as a closed case")
        out["cold_read"] = _stats(cold) if cold else None
        series = Series(aged.count, directory, {})
        series.current = draft(uuid.uuid4().hex, 0, series.now)
        steps_s: list[float] = []
        await timed(lambda: series.save_step(store), steps, 10, steps_s)
        out["step"] = _stats(steps_s)
        files_s: list[float] = []
        await timed(lambda: series.file_one(store), filings, 3, files_s)
        out["file"] = _stats(files_s)
        newest = format_reference(YEAR, aged.count + series.filed)
        [event] = [e for e in await store.pending_events() if e.reference == newest]
        writes: list[float] = []
        n = 0

        async def deliver() -> None:
            nonlocal n
            n += 1
            to = ("slack:T0HARBOUR:UM0000001", LEADS_CHANNEL, "slack:T0HARBOUR:UL0000001")[n % 3]
            value = {"status": "sending" if n % 2 else "sent", "attempts": n, "at": f"{n}"}
            await store.put_record(RecordKind.DELIVERIES, f"{event.id}:slack:{to}", value)

        await timed(deliver, deliveries, 3, writes)
        out["delivery"] = _stats(writes)
        t0 = time.perf_counter()
        every = await store.records(RecordKind.DELIVERIES)  # what /metrics reads
        out["all_deliveries_s"] = time.perf_counter() - t0
        out["all_deliveries"] = len(every)
    finally:
        await store.close()
    return out


def _child(argv: Sequence[str]) -> int:
    """`python -m bench.storage --aged-child DIR MODE`: one store size in a
    process of its own (MODE "open": open and close only; "measure": all)."""
    directory, mode = Path(argv[0]), argv[1]
    meta = json.loads((directory.parent / f"{directory.name}.meta.json").read_text())
    aged = Aged(meta["count"], meta["open_refs"], meta["cold_refs"])
    if mode == "open":
        t0 = time.perf_counter()
        store = TinyStore(directory)
        out: dict[str, Any] = {"open_s": time.perf_counter() - t0, "peak_mib": rss_mib("VmHWM")}
        # Running a while, as Harbour does after an upgrade: the index then
        # vouches for the files the move wrote (not for those 2 s old or less).
        time.sleep(float(meta.get("settle_s", _VOUCH_S)))
        asyncio.run(store.close())
    else:
        out = asyncio.run(
            _measure_aged_store(
                directory,
                aged,
                steps=int(meta["steps"]),
                filings=int(meta["filings"]),
                deliveries=int(meta["deliveries"]),
                reads=int(meta["reads"]),
            )
        )
    print("RESULT " + json.dumps(out), flush=True)
    return 0


def _run_child(directory: Path, mode: str) -> dict[str, Any]:
    done = subprocess.run(
        [sys.executable, "-m", "bench.storage", "--aged-child", str(directory), mode],
        cwd=common.ROOT,
        env={**os.environ, "PYTHONPATH": str(common.ROOT)},
        capture_output=True,
        text=True,
        timeout=1800,
    )
    lines = [line for line in done.stdout.splitlines() if line.startswith("RESULT ")]
    if done.returncode != 0 or not lines:
        raise RuntimeError(f"the measuring process failed:\n{done.stderr[-3000:]}")
    found: dict[str, Any] = json.loads(lines[-1].removeprefix("RESULT "))
    return found


def _as_stats(found: dict[str, float] | None) -> Stats | None:
    return None if found is None else Stats(found["median_ms"], found["p95_ms"], int(found["n"]))


@dataclass
class ScaleResult(common.Checked):
    sizes: list[AgedResult] = field(default_factory=list)

    def checks(self) -> list[tuple[bool, str]]:
        first, last = self.sizes[0], self.sizes[-1]
        rss = last.rss_mib / first.rss_mib
        delivery = last.delivery.median_ms / first.delivery.median_ms
        return [
            (
                rss <= RSS_GROWTH,
                f"memory after open at {last.reports:,} reports within {RSS_GROWTH:g}x of "
                f"{first.reports:,} ({rss:.2f}x)",
            ),
            (
                last.open_s < OPEN_LARGEST_S,
                f"open at {last.reports:,} reports < {OPEN_LARGEST_S:g} s ({last.open_s:.2f} s)",
            ),
            (
                delivery <= DELIVERY_GROWTH,
                f"delivery-record write (median) at {last.reports:,} reports within "
                f"{DELIVERY_GROWTH:g}x of {first.reports:,} ({delivery:.2f}x)",
            ),
        ]


def measure_scale(
    *,
    sizes: Sequence[int] = SCALE_SIZES,
    steps: int = 200,
    filings: int = 40,
    deliveries: int = 100,
    reads: int = 20,
    settle_s: float = _VOUCH_S,
    root: Path | None = None,
    progress: Callable[[str], None] = lambda _: None,
) -> ScaleResult:
    """Seed an aged store of each size, then measure each in a process of its
    own (twice: the first open, then an open and every operation)."""
    result = ScaleResult()
    with tempfile.TemporaryDirectory(prefix="harbour-scale-", dir=root) as tmp:
        for count in sizes:
            directory = Path(tmp) / f"aged-{count}"
            progress(f"  seeding an aged store of {count:,} reports…")
            aged = seed_aged(directory, count)
            meta = {
                "count": count,
                "open_refs": aged.open_refs,
                "cold_refs": aged.cold_refs,
                "steps": steps,
                "filings": filings,
                "deliveries": deliveries,
                "reads": reads,
                "settle_s": settle_s,
            }
            (Path(tmp) / f"{directory.name}.meta.json").write_text(json.dumps(meta))
            progress(f"  measuring {count:,} reports…")
            first = _run_child(directory, "open")
            found = _run_child(directory, "measure")
            cold = _as_stats(found["cold_read"])
            result.sizes.append(
                AgedResult(
                    reports=count,
                    first_open_s=first["open_s"],
                    first_peak_mib=first.get("peak_mib", math.nan),
                    open_s=found["open_s"],
                    rss_mib=found["rss_mib"],
                    open_reports=_as_stats(found["open_reports"]) or Stats(0, 0, 0),
                    reports_due=_as_stats(found.get("reports_due")) or Stats(0, 0, 0),
                    open_cases=len(aged.open_refs),
                    cold_read=cold,
                    step=_as_stats(found["step"]) or Stats(0, 0, 0),
                    file=_as_stats(found["file"]) or Stats(0, 0, 0),
                    delivery=_as_stats(found["delivery"]) or Stats(0, 0, 0),
                    all_deliveries_s=found.get("all_deliveries_s", math.nan),
                    all_deliveries=found.get("all_deliveries", 0),
                )
            )
    return result


def format_scale_result(result: ScaleResult) -> str:
    first = result.sizes[0]

    def ratio(value: float, base: float) -> str:
        return f"{value / base:.2f}x" if base else "-"

    lines = [
        f"{'reports':>8}  {'1st open':>8} {'peak':>6}  {'open':>5}  {'RSS':>6}  {'open_rep.':>9}"
        f"  {'due':>5}  {'cold get':>8}  {'step p95':>8}  {'file p95':>8}  {'delivery':>8}"
        f" {'p95':>6}",
        f"{'':>8}  {'(s)':>8} {'(MiB)':>6}  {'(s)':>5}  {'(MiB)':>6}  {'(ms,med)':>9}"
        f"  {'(ms)':>5}  {'(ms,med)':>8}  {'(ms)':>8}  {'(ms)':>8}  {'(ms,med)':>8} {'(ms)':>6}",
    ]
    for s in result.sizes:
        cold = f"{s.cold_read.median_ms:8.2f}" if s.cold_read else f"{'-':>8}"
        lines.append(
            f"{s.reports:>8,}  {s.first_open_s:>8.2f} {s.first_peak_mib:>6.0f}  {s.open_s:>5.2f}"
            f"  {s.rss_mib:>6.1f}  {s.open_reports.median_ms:>9.2f}  {s.reports_due.median_ms:>5.2f}"
            f"  {cold}  {s.step.p95_ms:>8.2f}"
            f"  {s.file.p95_ms:>8.2f}  {s.delivery.median_ms:>8.2f} {s.delivery.p95_ms:>6.2f}"
        )
    lines += ["", f"ratios against {first.reports:,} reports:"]
    for s in result.sizes[1:]:
        lines.append(
            f"  {s.reports:>8,}: open {ratio(s.open_s, first.open_s)}, RSS "
            f"{ratio(s.rss_mib, first.rss_mib)}, step p95 {ratio(s.step.p95_ms, first.step.p95_ms)}"
            f", file p95 {ratio(s.file.p95_ms, first.file.p95_ms)}, delivery "
            f"{ratio(s.delivery.median_ms, first.delivery.median_ms)}"
        )
    lines += ["", f"open_reports() lists {result.sizes[-1].open_cases} open cases"]
    lines += [
        f"records(DELIVERIES) at {s.reports:,} reports: {s.all_deliveries:,} records in "
        f"{s.all_deliveries_s:.2f} s"
        for s in result.sizes
    ]
    lines.append("")
    lines += result.check_lines()
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    args_in = list(sys.argv[1:] if argv is None else argv)
    if args_in[:1] == ["--aged-child"]:
        return _child(args_in[1:])
    parser = argparse.ArgumentParser(prog="python -m bench.storage", description=__doc__)
    parser.add_argument(
        "--quick", action="store_true", help="sizes 0 and 1,000 only, fewer iterations"
    )
    parser.add_argument(
        "--scale",
        action="store_true",
        help="aged stores of 0, 10,000 and 100,000 reports (with --quick: 0 and 1,000): "
        "open time, memory, delivery records, open_reports, cold reads",
    )
    parser.add_argument(
        "--dir",
        type=Path,
        default=None,
        help="where to make the temporary data directories (default: the system temp dir); "
        "fsync costs depend on the disk, so point it at the disk the bot will use",
    )
    args = parser.parse_args(args_in)
    where = args.dir or Path(tempfile.gettempdir())
    if args.scale:
        scale_sizes = QUICK_SCALE_SIZES if args.quick else SCALE_SIZES
        print(
            f"Harbour storage benchmark (aged stores): TinyStore in {where}, "
            f"SHARD_SIZE={tiny.SHARD_SIZE}, sizes {', '.join(f'{n:,}' for n in scale_sizes)}",
            flush=True,
        )
        scaled = measure_scale(
            sizes=scale_sizes, root=args.dir, progress=lambda m: print(m, flush=True)
        )
        print()
        print(format_scale_result(scaled))
        return 0 if scaled.passed else 1
    sizes = QUICK_SIZES if args.quick else FULL_SIZES
    print(
        f"Harbour storage benchmark: TinyStore in {where}, SHARD_SIZE={tiny.SHARD_SIZE}, "
        f"sizes {', '.join(f'{n:,}' for n in sizes)}{' (quick)' if args.quick else ''}",
        flush=True,
    )
    result = asyncio.run(
        measure(quick=args.quick, root=args.dir, progress=lambda m: print(m, flush=True))
    )
    print()
    print(format_result(result))
    return 0 if result.passed else 1


if __name__ == "__main__":
    sys.exit(main())
