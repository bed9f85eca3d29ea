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
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import hashlib
import json
import math
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


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.storage", description=__doc__)
    parser.add_argument(
        "--quick", action="store_true", help="sizes 0 and 1,000 only, fewer iterations"
    )
    parser.add_argument(
        "--dir",
        type=Path,
        default=None,
        help="where to make the temporary data directories (default: the system temp dir); "
        "fsync costs depend on the disk, so point it at the disk the bot will use",
    )
    args = parser.parse_args(argv)
    sizes = QUICK_SIZES if args.quick else FULL_SIZES
    where = args.dir or Path(tempfile.gettempdir())
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
