"""Machinery the benchmarks share; what each one measures, and how, is in its own docstring.

Servers (started in this process's event loop, or each in a child process of
ours that prints `PORT <n>` once it listens on 127.0.0.1), the load generator's
connection pools and timed requests, median and nearest-rank percentiles,
measured rounds that stop starting after a time budget, and targets reported
as PASS/FAIL lines.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import math
import os
import statistics
import sys
import threading
import time
from abc import ABC, abstractmethod
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

from aiohttp import ClientSession, ClientTimeout, TCPConnector, web

if TYPE_CHECKING:
    from aiohttp.test_utils import TestServer

    from bot.store import Store

ROOT = Path(__file__).resolve().parents[1]
HOST = "127.0.0.1"
START_TIMEOUT_S = 60.0
"""How long a server child process may take to say which port it listens on."""
CHILD_LIFETIME_S = 900.0
"""A server child process stops after this long even if nobody tells it to."""

T = TypeVar("T")


# =========================================================================== figures


def summarise(seconds: Sequence[float], fraction: float) -> tuple[float, float, int]:
    """The median and the `fraction` percentile (nearest rank) of `seconds`, both
    in milliseconds, and how many there were."""
    ordered = sorted(seconds)
    ranked = ordered[max(0, math.ceil(fraction * len(ordered)) - 1)]  # nearest rank
    return statistics.median(ordered) * 1e3, ranked * 1e3, len(ordered)


@dataclass(frozen=True)
class Stats:
    """Median and p99 (nearest rank) of some timings, in milliseconds."""

    median_ms: float
    p99_ms: float
    n: int

    @classmethod
    def of(cls, seconds: Sequence[float]) -> Stats:
        return cls(*summarise(seconds, 0.99))


class Checked(ABC):
    """A benchmark's result with targets: `checks()` lists (met, what) pairs."""

    @abstractmethod
    def checks(self) -> list[tuple[bool, str]]: ...

    @property
    def passed(self) -> bool:
        return all(ok for ok, _ in self.checks())

    def check_lines(self) -> list[str]:
        """One `PASS  ...` or `FAIL  ...` line per target."""
        return [f"{'PASS' if ok else 'FAIL'}  {text}" for ok, text in self.checks()]


class Rounds:
    """Up to `count` measured rounds, numbered from 0; none starts once `budget_s`
    seconds have passed since the first began. Afterwards `done` says how many
    ran to the end and `stopped_early` whether the budget cut them short."""

    def __init__(self, count: int, budget_s: float) -> None:
        self.count = count
        self.budget_s = budget_s
        self.done = 0
        self.stopped_early = False

    def __iter__(self) -> Iterator[int]:
        t_measure = time.perf_counter()
        for r in range(self.count):
            if time.perf_counter() - t_measure > self.budget_s:
                self.stopped_early = True
                return
            yield r
            self.done += 1


# =========================================================================== servers


@dataclass
class Served:
    port: int
    close: Callable[[], Awaitable[None]]


def url(port: int) -> str:
    return f"http://{HOST}:{port}"


async def site(app: web.Application) -> Served:
    """Serve `app` on a random port of 127.0.0.1."""
    # Long keep-alive so the client's pooled connections survive between rounds.
    runner = web.AppRunner(app, access_log=None, keepalive_timeout=600)
    await runner.setup()
    tcp = web.TCPSite(runner, HOST, 0)
    await tcp.start()
    port = runner.addresses[0][1]
    return Served(port=port, close=runner.cleanup)


def make_store(store_kind: str, data_dir: Path | None) -> Store:
    """Harbour's store: a TinyStore in `data_dir` ("tiny") or a MemoryStore."""
    from bot.store import MemoryStore, TinyStore

    if store_kind == "tiny":
        if data_dir is None:
            raise ValueError("a TinyStore needs a data directory")
        return TinyStore(data_dir)
    return MemoryStore()


class Fake(Protocol):
    """A fake platform from tests/fakes (FakeSlack, FakeConnector)."""

    server: TestServer

    async def start(self) -> str: ...

    async def close(self) -> None: ...


async def serve_fake(
    fake: Fake,
    latest_path: str,
    absorb: Callable[[], None],
    counts: dict[str, int],
    latest_for: Callable[[str], Any],
) -> Served:
    """Start `fake` with two more routes: GET `latest_path`?users=a,b (the latest
    form sent to each of them, by `latest_for`) and GET /bench/stats (`counts`),
    each after `absorb()` has folded in what was recorded since."""

    async def latest(request: web.Request) -> web.Response:
        absorb()
        wanted = [u for u in request.query.get("users", "").split(",") if u]
        return web.json_response({u: latest_for(u) for u in wanted})

    async def stats(_: web.Request) -> web.Response:
        absorb()
        return web.json_response(counts)

    fake.server.app.router.add_get(latest_path, latest)
    fake.server.app.router.add_get("/bench/stats", stats)
    await fake.start()
    port = fake.server.port
    assert port is not None
    return Served(port=port, close=fake.close)


async def serve_child(
    start: Callable[[], Awaitable[Served]], *, log: bool, cpu: int | None = None
) -> None:
    """Child process: (pinned to `cpu` if given, logging as `harbour serve` does
    if `log`) start one server, print its port, serve until stdin closes."""
    if cpu is not None:
        os.sched_setaffinity(0, {cpu})
    if log:
        from bot.logging_setup import configure_logging

        configure_logging("INFO")  # as `harbour serve` does by default (stderr: a file)
    served = await start()
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()

    def wait_for_eof() -> None:
        with contextlib.suppress(Exception):
            sys.stdin.buffer.read()
        loop.call_soon_threadsafe(stop.set)

    threading.Thread(target=wait_for_eof, daemon=True).start()
    print(f"PORT {served.port}", flush=True)
    try:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), CHILD_LIFETIME_S)
    finally:
        await served.close()


def cpu_layout() -> tuple[int, int] | None:
    """(client CPU, servers' CPU), or None where affinity cannot be set."""
    if not hasattr(os, "sched_setaffinity"):
        return None
    allowed = sorted(os.sched_getaffinity(0))
    return (allowed[0], allowed[1]) if len(allowed) >= 2 else None


@contextlib.contextmanager
def client_pinned(pin: bool) -> Iterator[tuple[int, int] | None]:
    """With `pin` (and two CPUs or more): this process on the first CPU for the
    duration, the servers meant for the second; yields (client CPU, servers'
    CPU), or None when not pinned. The old affinity comes back after."""
    layout = cpu_layout() if pin else None
    saved = os.sched_getaffinity(0) if layout else None
    if layout:
        os.sched_setaffinity(0, {layout[0]})
    try:
        yield layout
    finally:
        if saved:
            os.sched_setaffinity(0, saved)


def add_child_arguments(parser: argparse.ArgumentParser, kinds: Sequence[str]) -> None:
    """The hidden options a server child process is started with."""
    parser.add_argument("--serve", choices=kinds, help=argparse.SUPPRESS)
    parser.add_argument("--data-dir", type=Path, default=None, help=argparse.SUPPRESS)
    parser.add_argument("--cpu", type=int, default=None, help=argparse.SUPPRESS)


def add_store_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--store",
        choices=("memory", "tiny"),
        default="memory",
        help="Harbour's store (default: memory)",
    )


class Child:
    """One server in a child process of ours (`python -m <module> --serve <kind>
    ...`, which must print `PORT <n>` first); stopped by closing its stdin."""

    def __init__(self, module: str, kind: str, log_path: Path) -> None:
        self.module = module
        self.kind = kind
        self.log_path = log_path
        self.proc: asyncio.subprocess.Process | None = None

    async def start(self, *args: str) -> int:
        """Start it with `args` after `--serve <kind>`; return its port."""
        paths = [str(ROOT), *filter(None, [os.environ.get("PYTHONPATH")])]
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(paths)}
        with self.log_path.open("wb") as log:
            self.proc = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                self.module,
                "--serve",
                self.kind,
                *args,
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE,
                stderr=log,
                cwd=ROOT,
                env=env,
            )
        assert self.proc.stdout is not None
        try:
            line = await asyncio.wait_for(self.proc.stdout.readline(), START_TIMEOUT_S)
        except TimeoutError:
            line = b""
        words = line.decode(errors="replace").split()
        if len(words) != 2 or words[0] != "PORT":
            await self.stop()
            raise RuntimeError(f"the {self.kind} server did not start:\n{self.log()}")
        return int(words[1])

    async def stop(self) -> None:
        proc, self.proc = self.proc, None
        if proc is None:
            return
        if proc.stdin is not None:
            proc.stdin.close()
        try:
            await asyncio.wait_for(proc.wait(), 15)
        except TimeoutError:
            proc.kill()
            await proc.wait()

    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return ""


@contextlib.asynccontextmanager
async def child_processes(
    module: str, kinds: Iterable[str], workdir: Path
) -> AsyncIterator[dict[str, Child]]:
    """A Child (not yet started) per kind, logging to `workdir/<kind>.log`; all
    stopped on leaving, the last first."""
    children = {k: Child(module, k, workdir / f"{k}.log") for k in kinds}
    try:
        yield children
    finally:
        for child in reversed(children.values()):
            await child.stop()


def logs_of(children: dict[str, Child]) -> Callable[[], dict[str, str]]:
    """A function returning what each child has logged so far."""
    return lambda: {k: c.log() for k, c in children.items()}


@contextlib.asynccontextmanager
async def in_process() -> AsyncIterator[list[Served]]:
    """Servers in this process's event loop: append each one started to the list;
    all are closed on leaving, the last first."""
    started: list[Served] = []
    try:
        yield started
    finally:
        for one in reversed(started):
            await one.close()


# =========================================================================== client


class Client:
    """The load generator's connections: one aiohttp session (own connection pool)
    per name in `names`, each allowing `limit` kept-alive connections, and the
    fake platform's bench routes (its URL is `urls["fake"]`)."""

    def __init__(
        self, urls: dict[str, str], names: Iterable[str], limit: int, timeout_s: float
    ) -> None:
        self.urls = urls
        self.sessions = {
            name: ClientSession(
                connector=TCPConnector(limit=limit, limit_per_host=limit, keepalive_timeout=600),
                timeout=ClientTimeout(total=timeout_s),
            )
            for name in names
        }

    async def close(self) -> None:
        for session in self.sessions.values():
            await session.close()

    async def latest(self, path: str, users: Sequence[str], none: str) -> dict[str, dict[str, Any]]:
        """The latest form the fake platform sent each of `users` (GET `path`);
        an error naming `none` ("form card was sent to") if some got none."""
        async with self.sessions["fake"].get(
            self.urls["fake"] + path, params={"users": ",".join(users)}
        ) as r:
            r.raise_for_status()
            found: dict[str, dict[str, Any] | None] = await r.json()
        missing = [u for u in users if not found.get(u)]
        if missing:
            raise RuntimeError(f"no {none} {len(missing)} people, e.g. {missing[0]}")
        return {u: f for u, f in found.items() if f}

    async def stats(self) -> dict[str, int]:
        async with self.sessions["fake"].get(self.urls["fake"] + "/bench/stats") as r:
            r.raise_for_status()
            counts: dict[str, int] = await r.json()
            return counts


async def timed_post(
    session: ClientSession, to: str, body: bytes, headers: dict[str, str]
) -> tuple[float, int, str]:
    """POST `body` and read the whole response: (seconds, HTTP status, text)."""
    t0 = time.perf_counter()
    async with session.post(to, data=body, headers=headers) as r:
        text = await r.text()
    return time.perf_counter() - t0, r.status, text


async def all_at_once(requests: Iterable[Awaitable[T]], timeout_s: float) -> list[T]:
    """Await `requests` together (asyncio.gather), the garbage collector off meanwhile."""
    gc.disable()
    try:
        return await asyncio.wait_for(asyncio.gather(*requests), timeout_s)
    finally:
        gc.enable()
