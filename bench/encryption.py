"""What sealing costs: the same store operations with a key and without one, in one run.

    python -m bench.encryption                 # the embedded store: 600 steps, 200 filings each
    python -m bench.encryption --quick         # fewer of each
    python -m bench.encryption --postgres      # PostgreSQL too (pgserver, or --url URL)

Two stores of each kind are opened side by side: one with no key (everything
in clear, as a store was before sealing) and one sealed with a fresh key ring,
as Harbour runs (`bot.privacy`: AES-256-GCM over what people wrote). The
embedded ones (TinyStore, in a temporary directory: `--dir` to put it on the
disk the bot will use) already hold `SEEDED` reports in their shard, sealed in
the sealed one, so filing rewrites a shard of a realistic size. PostgreSQL ones
are a schema each, made by the migrations and dropped at the end.

The operations are those bench/storage.py times, built with its builders:

* save step: `save_session` of a session holding a report draft with a dozen
  answers, with its event id: what every answered question costs;
* file report: `file_report` of a realistic report (a ~500-character
  description, a few links) with its REPORT_FILED event, saving the session.

Each call is timed alone (time.perf_counter around the awaited call), and the
two stores take turns call by call, the one that goes first alternating, over
several rounds: noise on a shared machine falls on both alike. Printed: p50
and p95 of each operation on each store, and the ratio sealed / unsealed; and,
above the table, what sealing and opening one report and one conversation
costs alone (no disk; median).

Target: sealed / unsealed at most 1.3x, at p50 and at p95, for each operation
on each store. The exit status is 1 if a target is missed.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import json
import os
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import bot.store.tiny as tiny
from bench import common, storage
from bench.storage import YEAR, Stats, draft, filed_event, person, report, session, split
from bot.engine import Draft
from bot.models import Option, PersonRef
from bot.privacy.keys import new_ring
from bot.privacy.sealing import Sealer
from bot.reports import DomainEvent, Report, format_reference
from bot.session import PendingChoice
from bot.store import Store, TinyStore

RATIO_TARGET = 1.3
SEEDED = 128
"""Reports already in each embedded store's shard (half of `tiny.SHARD_SIZE`)."""
SEAL_RUNS = 2_000
"""Seals and opens timed for the cost of sealing alone."""
OPS = {"step": "save step", "file": "file report"}
KINDS = {"embedded": "embedded", "postgres": "PostgreSQL"}


# --------------------------------------------------------------------------- the work


@dataclass
class Worker:
    """One person answering questions and filing reports on one store."""

    store: Store
    me: PersonRef = field(default_factory=lambda: person(1))
    current: Draft = field(default_factory=lambda: draft(uuid.uuid4().hex, 0, storage.START))
    filed: int = 0

    async def step(self) -> None:
        self.current = self.current.model_copy(update={"revision": self.current.revision + 1})
        await self.store.save_session(
            self.me,
            session(self.me, self.current, storage.START),
            event_id=f"Ev{uuid.uuid4().hex}",
        )

    async def file(self) -> None:
        draft_id = uuid.uuid4().hex
        offer = PendingChoice(
            question="reflect-offer",
            token=uuid.uuid4().hex,
            prompt="Would you like to think it through with a few reflective questions?",
            options=[Option(value="now", label="Yes, now"), Option(value="later", label="No")],
        )
        after = session(self.me, None, storage.START)
        after.pending = offer

        def make(seq: int, ref: str) -> tuple[Report, list[DomainEvent]]:
            filed = report(seq, self.me, draft_id, storage.START)
            offer.context["reference"] = ref
            return filed, [filed_event(filed, storage.START)]

        await self.store.file_report(
            year=YEAR,
            draft_id=draft_id,
            make=make,
            person=self.me,
            session=after,
            event_id=f"Ev{uuid.uuid4().hex}",
        )
        self.filed += 1


@dataclass
class Pair:
    """The same store twice, unsealed and sealed, and the timings of each."""

    kind: str
    plain: Worker
    sealed: Worker
    times: dict[tuple[str, bool], list[float]] = field(default_factory=dict)

    async def take_turns(self, op: str, runs: int, warmup: int) -> None:
        """`runs` calls of `op` on each store, alternating call by call (and
        which store goes first), after `warmup` untimed calls on each."""
        workers = {False: self.plain, True: self.sealed}
        for _ in range(warmup):
            for worker in workers.values():
                await getattr(worker, op)()
        gc.collect()
        for n in range(runs):
            for sealed in (False, True) if n % 2 == 0 else (True, False):
                call: Callable[[], Awaitable[None]] = getattr(workers[sealed], op)
                t0 = time.perf_counter()
                await call()
                self.times.setdefault((op, sealed), []).append(time.perf_counter() - t0)


def seed(directory: Path, count: int, sealer: Sealer) -> None:
    """`count` reports (and their delivered events) in the first shard, as the
    store writes them (stamped; sealed if `sealer` seals)."""
    tables: dict[str, dict[str, Any]] = {"reports": {}, "outbox": {}}
    for seq in range(1, count + 1):
        at = storage.START + timedelta(minutes=seq)
        filed = report(seq, person(seq % storage.PEOPLE), f"seed-{seq}", at)
        tables["reports"][str(seq)] = sealer.report_out(filed.model_dump(mode="json"))
        event = filed_event(filed, at, delivered=True)
        tables["outbox"][str(seq)] = event.model_dump(mode="json")
    folder = directory / "reports"
    folder.mkdir(parents=True)
    text = json.dumps(tables, ensure_ascii=False, separators=(",", ":"))
    (folder / f"{YEAR}-0000.json").write_text(tiny.stamp(text), encoding="utf-8")


@contextlib.asynccontextmanager
async def embedded_pair(root: Path) -> AsyncIterator[Pair]:
    sealer = Sealer(new_ring("bench"))
    seed(root / "plain", SEEDED, Sealer(None))
    seed(root / "sealed", SEEDED, sealer)
    plain = TinyStore(root / "plain")
    try:
        sealed = TinyStore(root / "sealed", sealer=sealer)
        try:
            yield Pair("embedded", Worker(plain), Worker(sealed))
        finally:
            await sealed.close()
    finally:
        await plain.close()


@contextlib.asynccontextmanager
async def postgres_pair(url: str) -> AsyncIterator[Pair]:
    from bench.postgres_scale import drop_schemas
    from bot.store.postgres import PostgresStore

    run = uuid.uuid4().hex[:8]
    schemas = [f"bench_seal_{run}_plain", f"bench_seal_{run}_sealed"]
    try:
        plain = await PostgresStore.open(url, schema=schemas[0])
        try:
            sealer = Sealer(new_ring("bench"))
            sealed = await PostgresStore.open(url, schema=schemas[1], sealer=sealer)
            try:
                yield Pair("postgres", Worker(plain), Worker(sealed))
            finally:
                await sealed.close()
        finally:
            await plain.close()
    finally:
        await drop_schemas(url, schemas)


# --------------------------------------------------------------------------- sealing alone


@dataclass(frozen=True)
class SealingAlone:
    """Median microseconds to seal and to open one document, no disk."""

    report_seal_us: float
    report_open_us: float
    session_seal_us: float
    session_open_us: float


def sealing_alone(runs: int) -> SealingAlone:
    sealer = Sealer(new_ring("bench"))
    me = person(1)
    filed = report(1, me, "draft", storage.START).model_dump(mode="json")
    saved = session(me, draft("d", 12, storage.START), storage.START).model_dump(mode="json")

    def median_us(call: Callable[[], object]) -> float:
        samples = []
        for _ in range(runs):
            t0 = time.perf_counter()
            call()
            samples.append(time.perf_counter() - t0)
        return statistics.median(samples) * 1e6

    sealed_report = sealer.report_out(filed)
    sealed_session = sealer.session_out(me.key, saved)
    return SealingAlone(
        median_us(lambda: sealer.report_out(filed)),
        median_us(lambda: sealer.report_in(sealed_report)),
        median_us(lambda: sealer.session_out(me.key, saved)),
        median_us(lambda: sealer.session_in(me.key, sealed_session)),
    )


# --------------------------------------------------------------------------- figures


@dataclass(frozen=True)
class Row:
    kind: str
    op: str
    plain: Stats
    sealed: Stats

    @property
    def p50_ratio(self) -> float:
        return self.sealed.median_ms / self.plain.median_ms

    @property
    def p95_ratio(self) -> float:
        return self.sealed.p95_ms / self.plain.p95_ms


@dataclass
class Result(common.Checked):
    alone: SealingAlone
    rows: list[Row]
    filed: dict[str, int]
    """Reports filed on each store kind (each of the two stores)."""

    def checks(self) -> list[tuple[bool, str]]:
        out = []
        for row in self.rows:
            where = f"{KINDS[row.kind]} {OPS[row.op]}"
            for label, ratio in (("p50", row.p50_ratio), ("p95", row.p95_ratio)):
                out.append(
                    (
                        ratio <= RATIO_TARGET,
                        f"{where}: sealed / unsealed {label} <= {RATIO_TARGET:g}x ({ratio:.2f}x)",
                    )
                )
        return out


async def measure(
    *,
    quick: bool = False,
    steps: int | None = None,
    filings: int | None = None,
    warmup: int | None = None,
    rounds: int | None = None,
    postgres_url: str | None = None,
    root: Path | None = None,
    progress: Callable[[str], None] = lambda _: None,
) -> Result:
    """Run the benchmark and return the figures (no printing, no exit): the
    embedded store always, PostgreSQL at `postgres_url` if given."""
    steps = steps if steps is not None else 150 if quick else 600
    filings = filings if filings is not None else 50 if quick else 200
    warmup = warmup if warmup is not None else 10 if quick else 20
    rounds = max(1, min(rounds or (2 if quick else 5), steps, filings))
    progress(f"  sealing alone: {SEAL_RUNS if not quick else SEAL_RUNS // 4} runs…")
    alone = sealing_alone(SEAL_RUNS if not quick else SEAL_RUNS // 4)
    rows: list[Row] = []
    filed: dict[str, int] = {}
    with tempfile.TemporaryDirectory(prefix="harbour-bench-seal-", dir=root) as tmp:
        async with contextlib.AsyncExitStack() as stack:
            pairs = [await stack.enter_async_context(embedded_pair(Path(tmp)))]
            if postgres_url:
                pairs.append(await stack.enter_async_context(postgres_pair(postgres_url)))
            progress(
                f"  timing {steps} steps and {filings} filings on each store, in {rounds} "
                f"rounds, the two stores of a kind taking turns…"
            )
            for step_n, file_n in zip(split(steps, rounds), split(filings, rounds), strict=True):
                for pair in pairs:
                    await pair.take_turns("step", step_n, warmup)
                    await pair.take_turns("file", file_n, max(1, warmup // 4))
            for pair in pairs:
                filed[pair.kind] = pair.sealed.filed
                for op in OPS:
                    rows.append(
                        Row(
                            pair.kind,
                            op,
                            Stats.of(pair.times[(op, False)]),
                            Stats.of(pair.times[(op, True)]),
                        )
                    )
                await check_filed(pair)
    return Result(alone, rows, filed)


async def check_filed(pair: Pair) -> None:
    """Both stores hold what was filed, and the sealed one reads it back."""
    for worker in (pair.plain, pair.sealed):
        seeded = SEEDED if pair.kind == "embedded" else 0
        last = format_reference(YEAR, seeded + worker.filed)
        if await worker.store.get_report(last) is None:
            raise AssertionError(f"{last} was not found on the {pair.kind} store")


def format_result(result: Result) -> str:
    a = result.alone
    lines = [
        f"sealing alone (median): a report sealed in {a.report_seal_us:.0f} µs, opened in "
        f"{a.report_open_us:.0f} µs; a conversation sealed in {a.session_seal_us:.0f} µs, "
        f"opened in {a.session_open_us:.0f} µs",
        "",
        f"{'store':<11} {'operation':<12} {'unsealed (ms)':>17}  {'sealed (ms)':>17}  "
        f"{'sealed / unsealed':>17}",
        f"{'':<11} {'':<12} {'p50':>8} {'p95':>8}  {'p50':>8} {'p95':>8}  {'p50':>8} {'p95':>8}",
    ]
    for row in result.rows:
        lines.append(
            f"{KINDS[row.kind]:<11} {OPS[row.op]:<12} {row.plain.median_ms:>8.2f} "
            f"{row.plain.p95_ms:>8.2f}  {row.sealed.median_ms:>8.2f} {row.sealed.p95_ms:>8.2f}"
            f"  {row.p50_ratio:>7.2f}x {row.p95_ratio:>7.2f}x"
        )
    lines += ["", *result.check_lines()]
    return "\n".join(lines)


@contextlib.contextmanager
def _no_postgres() -> Iterator[None]:
    yield None


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.encryption",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--quick", action="store_true", help="fewer steps and filings")
    parser.add_argument(
        "--postgres", action="store_true", help="PostgreSQL too (pgserver's, or --url)"
    )
    parser.add_argument(
        "--url",
        default=os.environ.get("HARBOUR_BENCH_DATABASE_URL"),
        help="with --postgres: a server of your own (default: $HARBOUR_BENCH_DATABASE_URL, "
        "or one started with pgserver); two schemas are made and dropped in it",
    )
    parser.add_argument(
        "--dir",
        type=Path,
        default=None,
        help="where to make the embedded stores (default: the system temp directory); "
        "fsync costs depend on the disk, so point it at the disk the bot will use",
    )
    args = parser.parse_args(argv)
    where = args.dir or Path(tempfile.gettempdir())
    print(
        f"Harbour encryption benchmark{' (quick)' if args.quick else ''}: unsealed and sealed "
        f"stores side by side; embedded in {where} ({SEEDED} reports stored before)"
        f"{', and PostgreSQL' if args.postgres else ''}",
        flush=True,
    )
    if args.postgres:
        from bench.postgres_scale import postgres

        server: contextlib.AbstractContextManager[str | None] = postgres(args.url)
    else:
        server = _no_postgres()
    with server as url:
        result = asyncio.run(
            measure(
                quick=args.quick,
                postgres_url=url,
                root=args.dir,
                progress=lambda m: print(m, flush=True),
            )
        )
    print(f"filed: {', '.join(f'{n} on each {KINDS[k]} store' for k, n in result.filed.items())}")
    print()
    print(format_result(result))
    return 0 if result.passed else 1


if __name__ == "__main__":
    sys.exit(main())
