"""Several `harbour serve` processes on one PostgreSQL database, one killed with SIGKILL.

    python -m bench.multi_instance           # 1,000 reports on 3 instances, one killed; then
                                             # throughput on 1, 2 and 3 instances (~8 min)
    python -m bench.multi_instance --quick   # 200 reports, one killed; smaller throughput
                                             # runs (~4 min)
    python -m bench.multi_instance --no-throughput        # the kill run only
    python -m bench.multi_instance --no-kill-run          # the throughput runs only
    python -m bench.multi_instance --database-url postgresql://user:pw@host/postgres

Correctness counts first (answers lost, steps never answered, reports filed
twice, alerts lost or sent twice, dead letters), then how long recovery took,
then how filing scales with instances on this machine.

Set-up. A PostgreSQL server (pgserver, as the tests use, fsync off; or the
server at --database-url) gets a fresh database for each run, dropped at the
end. A fake Slack Web API (tests/fakes/slack.py) runs in this process and
records every message: the workers' DMs, their managers' DMs and the safety
leads' channel, with the message metadata each alert carries (its delivery
key). Harbour runs as `python -m bot serve` child processes (what the
`harbour serve` script runs), each on a port of its own, all with the same
HARBOUR_DATABASE_URL, signing secret and bot token, SLACK_API_URL at the
fake, HARBOUR_RECOVER_AFTER_SECONDS=15 (--recover-after) and a directory file
naming each worker's manager, one safety lead and the leads' channel.

The driver plays `people` workers at once; each files her share of the
reports one after the other through signed Slack requests, as Slack sends
them: the slash command typed in a channel, each page of the report
answered, and the report filed. Report n's profile is n mod 3:

* low (typed): each answer a DM message event (Events API): no danger, a
  complaint, the rest skipped. Alerts: her manager, privately;
* high (pressed): each page's answers sent by pressing its button
  (block_actions with the page's state): threats, with a link and a
  description unique to the report. Alerts: her manager, and the case's card
  in the leads' channel;
* critical (pressed): the same with home details exposed. Alerts: her
  manager, the card, and the card edited to say critical.

A request goes to the instances in turn, like a load balancer. One that
fails (connection refused or reset, or no HTTP 200 within Slack's 3 seconds)
is sent again at once to the next instance: the same payload (an event with
Slack's retry headers and the same event id; a press or command as it was),
newly signed. A refused connection takes that instance out of the rotation.
After each request the driver waits for Harbour's answer in the DM (the next
page, the summary, or "Report filed" with its reference). If none comes
within `step_timeout_s` (--recover-after plus STEP_MARGIN_S) although the
request was acknowledged, the step is counted as never answered, and the
database says what became of its event: still waiting in the inbox (the
driver waits once more), handled with its reply lost (the worker asks where
she is with the command in her DM; if it was the filing, her report is
taken as filed, unconfirmed), or neither: lost (she sends it again, as a new
press or message). Each such report is printed step by step: pages by their
question ids, which instance acknowledged each step, what came back.

The kill: once a third of the reports are filed, instance 1 gets SIGKILL;
the driver keeps going on the others. The steps it had acknowledged and not
yet answered are counted and followed: a survivor should answer each once
HARBOUR_RECOVER_AFTER_SECONDS has passed (and the dead one's timers lease,
`bot.alerts.sender.TIMERS_LEASE`, has lapsed).

At the end (once the outbox has drained, at most DRAIN_TIMEOUT_S: what the
dead instance had claimed waits for `bot.alerts.sender.CLAIM_LEASE`), read
from the database (SQL, nothing claimed) and the fake:

* answers: each worker's reports as stored, one per report she filed, each
  with every answer the driver gave (kinds, danger, audience; for pressed
  reports also platform, link, times, who is affected, worry, description);
* alerts, by the delivery key in their metadata: the manager's alert for
  each report exactly once, each high or critical case's card in the leads'
  channel exactly once (under any of its events' keys), each critical card
  edited; no key posted twice; no other message to a manager or the channel;
* the outbox: no event undelivered, none set aside as a dead letter, every
  delivery recorded as sent.

Nothing anyone "wrote" is printed: figures, counts, the driver's report
numbers, synthetic user ids, delivery keys and Harbour's own log lines.

Throughput: the same driver with no kill, on 1, 2 and 3 instances, then 3, 2
and 1 (each run on a database of its own): reports per second end to end,
from the first request until every report is filed and every one of its
alerts has reached the fake Slack, and filed only, each as a ratio to one
instance. Every process shares this machine's CPUs (the driver and the fake
Slack in this process, PostgreSQL, the instances): the ratios are what this
machine gives, not what separate hosts would.

The exit status is 1 if a correctness target is missed.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import copy
import itertools
import json
import os
import re
import shutil
import signal
import socket
import sys
import tempfile
import time
import uuid
import warnings
from collections import Counter
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from functools import partial
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

from aiohttp import (
    ClientConnectorError,
    ClientError,
    ClientSession,
    ClientTimeout,
    ServerDisconnectedError,
    TCPConnector,
)
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from adapters.slack import translate
from adapters.slack.app import ALERT_EVENT
from adapters.slack.render import ACTION_CHOICE, ACTION_SUBMIT
from bench import common
from bot.alerts.sender import INTERRUPTED
from bot.privacy.keys import KeyRing, new_ring
from bot.privacy.sealing import Sealer
from tests.fakes.slack import (
    SIGNING_SECRET,
    TEAM,
    FakeSlack,
    block_actions,
    command_body,
    event_body,
    interaction_body,
    signed_headers,
)

# --------------------------------------------------------------------------- settings

FULL_REPORTS = 1000
QUICK_REPORTS = 200
FULL_PEOPLE = 250
QUICK_PEOPLE = 100
"""Workers filing at once (each files reports/people of them, one after the other)."""
MANAGERS = 25
INSTANCES = 3
KILL_AFTER = 1 / 3
"""The share of reports filed when one instance is killed."""
VICTIM = 1
"""Which instance (0-based) is killed."""
THROUGHPUT_INSTANCES = (1, 2, 3)
THROUGHPUT_ROUNDS = 2
"""Rounds of throughput runs: 1, 2, 3 instances, then 3, 2, 1 (a slow patch of
this shared machine then lands on all of them alike)."""
FULL_THROUGHPUT_REPORTS = 200
QUICK_THROUGHPUT_REPORTS = 60
"""Reports per throughput run."""
THROUGHPUT_PEOPLE = 100
QUICK_THROUGHPUT_PEOPLE = 30
"""Workers filing at once in each throughput run."""

ACK_TIMEOUT_S = 3.0
"""Slack gives up on a request not answered within 3 seconds."""
MAX_ATTEMPTS = 6
"""Sends of one request (to the instances in turn) before the driver gives up on it."""
RECOVER_AFTER_S = 15
"""HARBOUR_RECOVER_AFTER_SECONDS for the instances: how long an acknowledged
event may wait unhandled before a survivor takes it over (Harbour's default is
60 s; shorter here so a run does not wait a minute)."""
STEP_MARGIN_S = 75.0
"""A step's answer is awaited for RECOVER_AFTER_S plus this long (a survivor may
first have to wait for the dead instance's timers lease, then for its next
pass) before it is counted lost."""
USER_RETRIES = 2
"""Times a worker tries a step again after it stalled, before giving up on her report."""
MAX_STEPS = 40
"""A report taking more steps than this is given up (a loop, not a flow)."""
DRAIN_TIMEOUT_S = 240.0
"""How long the outbox may take to drain after the last report (a claim held by
the killed instance lapses after bot.alerts.sender.CLAIM_LEASE)."""
GRACE_S = 1.0
"""Kept listening after the outbox drained, for a late duplicate."""
POLL_S = 0.1
TRACES = 3
"""Reports whose steps are printed when they stalled or were given up."""
START_TIMEOUT_S = 90.0
STOP_TIMEOUT_S = 20.0

BOT_TOKEN = "xoxb-bench-multi"
ORGANISATION = {
    "HARBOUR_POLICY_URL": "https://intranet.example.org/online-abuse-policy",
    "HARBOUR_INTERNAL_REPORTING": "the staff safety form on the intranet",
    "HARBOUR_EAP_PHONE": "0800 000 000",
    "HARBOUR_LEGAL_CONTACT": "the legal team",
}
"""The organisation's facts guidance quotes (else each instance warns at start)."""
LEADS_CHANNEL = "C0SAFETY1"
ASK_CHANNEL = "C0GENERAL"
FORM = "application/x-www-form-urlencoded"
JSON = "application/json"
SUBMIT = ACTION_SUBMIT
"""A page's primary button (Next, or Review on the last page)."""
FILE_REPORT = f"{ACTION_CHOICE}.yes"
"""The summary's "File report" button."""
REFERENCE = re.compile(r"HB-\d{4}-\d{4,}")
RECOVERED = INTERRUPTED.text[:40]
"""How a survivor's answer to a step whose own answer was lost begins."""
FILED_WORDS = "Report filed"
RUN_KEY = new_ring("HARBOUR_KEY").dumps()
"""The key ring every instance of a run is given (HARBOUR_KEY)."""
RUN_SEALER = Sealer(KeyRing.loads(RUN_KEY, "HARBOUR_KEY"))

SPEED_OVER_SAFETY = (
    "ALTER SYSTEM SET fsync = off; "
    "ALTER SYSTEM SET synchronous_commit = off; "
    "ALTER SYSTEM SET full_page_writes = off; "
    "SELECT pg_reload_conf();"
)
"""As tests/pg.py sets up its server (not imported: it is a pytest plugin): a
throwaway server, so disk-bound work is faster here than in production."""


# =========================================================================== people


def worker_id(p: int) -> str:
    return f"UW{p:05d}"


def manager_id(p: int) -> str:
    return f"UM{p % MANAGERS:03d}"


LEAD = "UL00001"


def person_key(user: str) -> str:
    return f"slack:{TEAM}:{user}"


def directory_file(people: int) -> str:
    """The directory file: each worker's manager, the safety lead, the leads' channel."""
    lines = []
    for p in range(people):
        lines += [
            "[[people]]",
            f'id = "{person_key(worker_id(p))}"',
            f'managers = ["{person_key(manager_id(p))}"]',
            "",
        ]
    lines += [
        "[safety_leads]",
        f'people = ["{person_key(LEAD)}"]',
        "",
        "[channels]",
        f'slack = "{LEADS_CHANNEL}"',
        "",
    ]
    return "\n".join(lines)


class Profile(StrEnum):
    LOW = "low"
    HIGH = "high"
    CRITICAL = "critical"

    @classmethod
    def of(cls, n: int) -> Profile:
        return (cls.LOW, cls.HIGH, cls.CRITICAL)[n % 3]

    @property
    def typed(self) -> bool:
        return self is Profile.LOW

    @property
    def card(self) -> bool:
        """The case's card goes to the leads' channel (high and critical risk)."""
        return self is not Profile.LOW

    @property
    def edited(self) -> bool:
        """The card is edited to say critical (a second event, RISK_CRITICAL)."""
        return self is Profile.CRITICAL


def link(n: int) -> str:
    return f"https://example.org/harbour-bench/post/{n}"


def description(n: int) -> str:
    return f"Multi-instance run, report number {n}."


TYPED: dict[str, str] = {
    "danger": "no",
    "kinds": "complaints",
    "platforms": "skip",
    "started": "skip",
    "affected": "skip",
    "worry": "skip",
    "audience": "1",
}
"""What a typing worker says on each page, by the page's first question."""


def pressed_answers(profile: Profile, n: int) -> dict[str, Any]:
    """What a pressing worker fills in, by question id (a page takes its own)."""
    return {
        "danger": ["no"],
        "kinds": ["threats", "personal_details"] if profile is Profile.CRITICAL else ["threats"],
        "details_exposed": ["home"],
        "platforms": ["facebook"],
        "links": link(n),
        "evidence": None,
        "started": ["this_week"],
        "frequency": ["few"],
        "affected": ["me"],
        "poster": None,
        "worry": ["3"],
        "description": description(n),
        "audience": ["manager_and_leads"],
    }


def expected_answers(profile: Profile, n: int) -> dict[str, Any]:
    """What the stored report's answers must hold (ReportAnswers fields, as JSON)."""
    common_part: dict[str, Any] = {"in_danger": False, "audience": "manager_and_leads"}
    if profile.typed:
        return {**common_part, "kinds": ["complaints"]}
    kinds = ["threats", "personal_details"] if profile is Profile.CRITICAL else ["threats"]
    found = {
        **common_part,
        "kinds": kinds,
        "platforms": ["facebook"],
        "links": [link(n)],
        "started": "this_week",
        "frequency": "few",
        "affected": ["me"],
        "worry": 3,
        "description": description(n),
    }
    if profile is Profile.CRITICAL:
        found["details_exposed"] = ["home"]
    return found


def expected_risk(profile: Profile) -> str:
    return {Profile.LOW: "low", Profile.HIGH: "high", Profile.CRITICAL: "critical"}[profile]


# =========================================================================== the fake Slack


class WatchedSlack(FakeSlack):
    """The fake Slack Web API, telling the driver when a DM gets a message and
    counting alerts by the delivery key in their metadata."""

    def __init__(self) -> None:
        super().__init__()
        self.changed: dict[str, asyncio.Event] = {}
        self.alerts: Counter[str] = Counter()
        """Messages posted per delivery key."""
        self.alert_ts: dict[str, list[str]] = {}
        self.alert_at: dict[str, float] = {}
        """When each key's first message arrived (time.monotonic)."""
        self.unkeyed: Counter[str] = Counter()
        """Messages without an alert key, by channel (managers' DMs, the leads' channel)."""
        self.edits: Counter[tuple[str, str]] = Counter()
        """chat.update calls per (channel, ts)."""

    def watch(self, channel: str) -> asyncio.Event:
        return self.changed.setdefault(channel, asyncio.Event())

    def _keep(self, params: dict[str, Any]) -> None:
        super()._keep(params)
        channel = str(params.get("channel"))
        metadata = params.get("metadata") or {}
        if metadata.get("event_type") == ALERT_EVENT:
            key = str((metadata.get("event_payload") or {}).get("key"))
            self.alerts[key] += 1
            self.alert_ts.setdefault(key, []).append(str(params["_ts"]))
            self.alert_at.setdefault(key, time.monotonic())
        elif not channel.startswith("DUW"):  # not a worker's own conversation
            self.unkeyed[channel] += 1
        event = self.changed.get(channel)
        if event is not None:
            event.set()

    def _edit(self, params: dict[str, Any]) -> None:
        super()._edit(params)
        self.edits[(str(params.get("channel")), str(params.get("ts")))] += 1

    def messages(self, channel: str) -> list[dict[str, Any]]:
        return self.history.setdefault(channel, [])


class Seen(StrEnum):
    PAGE = "page"
    REVIEW = "review"
    FILED = "filed"


def _buttons(message: dict[str, Any]) -> list[dict[str, Any]]:
    return [
        {**element, "block_id": block.get("block_id")}
        for block in message.get("blocks") or []
        for element in block.get("elements") or []
        if element.get("type") == "button"
    ]


def what_it_is(message: dict[str, Any]) -> Seen | None:
    """A message the driver acts on: a page of questions, the summary to file,
    or the note that the report was filed (with its reference); else None."""
    blocks = json.dumps(message.get("blocks") or [])
    if str(message.get("text", "")).startswith("Report filed") and REFERENCE.search(blocks):
        return Seen.FILED
    if RECOVERED in blocks and FILED_WORDS in blocks and REFERENCE.search(blocks):
        # The instance was killed after filing, before its answer: a survivor
        # said so, with what filing says.
        return Seen.FILED
    buttons = {b.get("action_id") for b in _buttons(message)}
    if SUBMIT in buttons and any(b.get("type") == "input" for b in message.get("blocks") or []):
        return Seen.PAGE
    if FILE_REPORT in buttons:
        return Seen.REVIEW
    return None


def questions(message: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """(block id, input element) for each question on a page, in order."""
    return [
        (str(block["block_id"]), block["element"])
        for block in message.get("blocks") or []
        if block.get("type") == "input"
    ]


def page_state(message: dict[str, Any], answers: dict[str, Any]) -> dict[str, Any]:
    """The page's inputs as Slack sends them with a press, filled with `answers`."""
    state: dict[str, Any] = {}
    for block_id, element in questions(message):
        value = answers.get(block_id.split("|")[-1])
        kind = element["type"]
        if kind == "plain_text_input":
            entry: dict[str, Any] = {"type": kind, "value": value}
        elif kind in ("checkboxes", "multi_static_select"):
            entry = {"type": kind, "selected_options": [{"value": v} for v in value or []]}
        else:
            chosen = value[0] if isinstance(value, list) and value else value
            entry = {"type": kind, "selected_option": {"value": chosen} if chosen else None}
        state[block_id] = {element.get("action_id", "hb.input"): entry}
    return state


def press_body(user: str, message: dict[str, Any], action_id: str, state: dict[str, Any]) -> str:
    """A press of the button `action_id` on `message`, with the page's `state`."""
    button = next((b for b in _buttons(message) if b.get("action_id") == action_id), None)
    if button is None:
        raise LookupError(f"no {action_id} button on the message")
    pressed = {
        "type": "button",
        "action_id": button["action_id"],
        "value": button.get("value"),
        "block_id": button["block_id"],
    }
    channel = f"D{user}"
    payload = block_actions(user, pressed, message=message, channel=channel, state=state)
    return interaction_body(payload)  # its action_ts (now) makes every press a new event


def typed_body(user: str, said: str) -> str:
    event = {
        "type": "message",
        "channel_type": "im",
        "channel": f"D{user}",
        "user": user,
        "text": said,
        "ts": f"{time.time():.6f}",
    }
    return event_body(event, event_id=f"Ev{uuid.uuid4().hex[:16].upper()}")


def command_request(user: str, channel: str) -> str:
    return command_body(user, "", channel=channel, trigger=f"trigger-{uuid.uuid4().hex}")


# =========================================================================== instances


@dataclass
class Instance:
    name: str
    port: int
    proc: asyncio.subprocess.Process
    log_path: Path
    up: bool = True
    killed_at: float | None = None
    acked: int = 0
    cpu_s: float | None = None

    @property
    def url(self) -> str:
        return f"{common.url(self.port)}/slack/events"

    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return ""

    def read_cpu(self) -> None:
        """CPU seconds used so far (Linux /proc), kept for the summary."""
        with contextlib.suppress(OSError, ValueError, IndexError):
            stat = Path(f"/proc/{self.proc.pid}/stat").read_text()
            self.cpu_s = _proc_ticks(stat, (11, 12)) / os.sysconf("SC_CLK_TCK")


def _proc_ticks(stat: str, fields: Sequence[int]) -> int:
    after = stat.rsplit(")", 1)[1].split()  # after the command name, which may hold spaces
    return sum(int(after[i]) for i in fields)


def postgres_cpu_s(server_url: str) -> float | None:
    """CPU seconds used by the PostgreSQL server at `server_url` (Linux /proc):
    its postmaster, its live backends and the ones it has reaped. Found by the
    postmaster.pid in its socket directory, as pgserver lays it out; None for a
    server elsewhere."""
    host = make_url(server_url).query.get("host")
    if not isinstance(host, str):
        return None
    try:
        postmaster = Path(host, "postmaster.pid").read_text().split()[0]
        ticks = _proc_ticks(Path(f"/proc/{postmaster}/stat").read_text(), (11, 12, 13, 14))
    except (OSError, ValueError, IndexError):
        return None
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError, ValueError, IndexError):
            found = stat.read_text()
            if found.rsplit(")", 1)[1].split()[1] == postmaster:  # its parent
                ticks += _proc_ticks(found, (11, 12, 13, 14))
    return ticks / os.sysconf("SC_CLK_TCK")


def _since(before: float | None, after: float | None) -> float | None:
    return after - before if before is not None and after is not None else None


def free_port() -> int:
    with socket.socket() as s:
        s.bind((common.HOST, 0))
        port: int = s.getsockname()[1]
        return port


def instance_env(
    database_url: str, api_url: str, directory: Path, port: int, extra: dict[str, str]
) -> dict[str, str]:
    inherited = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("HARBOUR_", "SLACK_")) and k != "PORT"
    }
    paths = [str(common.ROOT), *filter(None, [os.environ.get("PYTHONPATH")])]
    return {
        **inherited,
        "PYTHONPATH": os.pathsep.join(paths),
        "HARBOUR_DATABASE_URL": database_url,
        "HARBOUR_HOST": common.HOST,
        "PORT": str(port),
        "HARBOUR_DIRECTORY": str(directory),
        "HARBOUR_LOG_LEVEL": "INFO",
        **ORGANISATION,
        "SLACK_BOT_TOKEN": BOT_TOKEN,
        "SLACK_SIGNING_SECRET": SIGNING_SECRET,
        "SLACK_API_URL": api_url,
        # Every instance seals with the same key, as a secret manager would give it.
        "HARBOUR_KEY": RUN_KEY,
        **extra,
    }


async def start_instance(
    name: str,
    workdir: Path,
    database_url: str,
    api_url: str,
    directory: Path,
    extra: dict[str, str],
) -> Instance:
    """`python -m bot serve` (what the `harbour serve` script runs) in a child
    process; returns once its /healthz answers 200."""
    port = free_port()
    log_path = workdir / f"{name}.log"
    with log_path.open("wb") as log:
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "bot",
            "serve",
            stdin=asyncio.subprocess.DEVNULL,
            stdout=log,
            stderr=log,
            cwd=workdir,  # no .env file here
            env=instance_env(database_url, api_url, directory, port, extra),
        )
    instance = Instance(name=name, port=port, proc=proc, log_path=log_path)
    deadline = time.monotonic() + START_TIMEOUT_S
    async with ClientSession(timeout=ClientTimeout(total=2)) as session:
        while time.monotonic() < deadline:
            if proc.returncode is not None:
                break
            with contextlib.suppress(ClientError, TimeoutError):
                async with session.get(f"{common.url(port)}/healthz") as r:
                    if r.status == 200:
                        return instance
            await asyncio.sleep(0.1)
    await stop_instance(instance)
    raise RuntimeError(f"{name} did not start (exit {proc.returncode}):\n{instance.log()[-3000:]}")


def kill_instance(instance: Instance) -> None:
    """SIGKILL, by its process id (a child of ours)."""
    instance.read_cpu()
    with contextlib.suppress(ProcessLookupError):
        instance.proc.send_signal(signal.SIGKILL)
    instance.killed_at = time.monotonic()
    instance.up = False


async def stop_instance(instance: Instance) -> None:
    proc = instance.proc
    if proc.returncode is None:
        instance.read_cpu()
        with contextlib.suppress(ProcessLookupError):
            proc.send_signal(signal.SIGTERM)
        try:
            await asyncio.wait_for(proc.wait(), STOP_TIMEOUT_S)
        except TimeoutError:
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
            await proc.wait()
    else:
        await proc.wait()
    instance.up = False


@contextlib.asynccontextmanager
async def instances(
    count: int,
    workdir: Path,
    database_url: str,
    api_url: str,
    directory: Path,
    extra: dict[str, str],
    prefix: str = "harbour",
) -> AsyncIterator[list[Instance]]:
    """`count` instances started together; all stopped on leaving."""
    started = await asyncio.gather(
        *(
            start_instance(f"{prefix}-{i}", workdir, database_url, api_url, directory, extra)
            for i in range(count)
        ),
        return_exceptions=True,
    )
    running = [s for s in started if isinstance(s, Instance)]
    try:
        failed = [s for s in started if isinstance(s, BaseException)]
        if failed:
            raise failed[0]
        yield running
    finally:
        await asyncio.gather(*(stop_instance(i) for i in running))


# =========================================================================== PostgreSQL


@contextlib.asynccontextmanager
async def postgres_server(given: str | None) -> AsyncIterator[str]:
    """The URL of a PostgreSQL server: `given`, or pgserver's in a temporary directory."""
    if given:
        yield given
        return
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # platformdirs: XDG_RUNTIME_DIR is not set
        import pgserver

        pgdata = tempfile.mkdtemp(prefix="harbour-pg-")  # not under a private temp dir
        try:
            server = pgserver.get_server(pgdata, cleanup_mode="delete")  # type: ignore[attr-defined]
        except Exception:
            shutil.rmtree(pgdata, ignore_errors=True)
            raise
    try:
        server.psql(SPEED_OVER_SAFETY)
        yield str(server.get_uri())
    finally:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            server.cleanup()


def _engine(url: str, **kwargs: Any) -> AsyncEngine:
    from bot.store.postgres import _database_url

    return create_async_engine(_database_url(url), hide_parameters=True, **kwargs)


@contextlib.asynccontextmanager
async def fresh_database(server_url: str) -> AsyncIterator[str]:
    """A new, empty database on the server, for one run; dropped afterwards."""
    name = f"harbour_multi_{uuid.uuid4().hex[:12]}"
    admin = _engine(server_url, isolation_level="AUTOCOMMIT")
    try:
        async with admin.connect() as conn:
            await conn.execute(text(f'CREATE DATABASE "{name}"'))
        yield make_url(server_url).set(database=name).render_as_string(hide_password=False)
    finally:
        with contextlib.suppress(Exception):
            async with admin.connect() as conn:
                await conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        await admin.dispose()


@contextlib.asynccontextmanager
async def reading(url: str) -> AsyncIterator[Database]:
    db = Database(url)
    try:
        yield db
    finally:
        await db.close()


class Database:
    """Read-only questions to a run's database (SQL: no store is opened, so
    nothing is claimed or migrated by the checker)."""

    def __init__(self, url: str) -> None:
        self.engine = _engine(url, pool_size=2)

    async def close(self) -> None:
        await self.engine.dispose()

    async def rows(self, sql: str) -> list[Any]:
        async with self.engine.connect() as conn:
            return list((await conn.execute(text(sql))).all())

    async def undelivered(self) -> int:
        try:
            [(count,)] = await self.rows("SELECT count(*) FROM outbox WHERE delivered_at IS NULL")
        except Exception:  # not created yet
            return -1
        return int(count)

    async def event_state(self, person: str, event_id: str) -> tuple[bool, bool]:
        """(handled, waiting in the inbox) for a person's event."""
        async with self.engine.connect() as conn:
            handled = (
                await conn.execute(
                    text(
                        "SELECT count(*) FROM conversations "
                        "WHERE person_key = :p AND CAST(:e AS text) = ANY (seen)"
                    ),
                    {"p": person, "e": event_id},
                )
            ).scalar_one()
            waiting = 0
            if await self.table_exists("inbox"):
                waiting = (
                    await conn.execute(
                        text("SELECT count(*) FROM inbox WHERE person_key = :p AND event_id = :e"),
                        {"p": person, "e": event_id},
                    )
                ).scalar_one()
        return bool(handled), bool(waiting)

    async def table_exists(self, name: str) -> bool:
        [(found,)] = await self.rows(f"SELECT to_regclass('{name}') IS NOT NULL")
        return bool(found)


# =========================================================================== the driver


class Why(StrEnum):
    REFUSED = "connection refused"
    RESET = "connection reset"
    TIMEOUT = "no answer within 3 s"
    STATUS = "HTTP status not 200"


@dataclass
class Request:
    """One request a worker sends: a body and its content type, and whether it
    is an Events API event (sent again with Slack's retry headers)."""

    body: str
    content_type: str
    event: bool = False

    @property
    def event_id(self) -> str:
        """The id Harbour gives the event this request carries (its own
        translation), to look it up in the database when no answer came."""
        if self.event:
            return translate.message_events(json.loads(self.body))[0].event_id
        fields = dict(parse_qsl(self.body))
        if "payload" in fields:
            found = translate.action_event(json.loads(fields["payload"])).event
            return found.event_id if found is not None else ""
        return translate.command_event(fields).event_id


@dataclass
class Sent:
    ok: bool
    by: int | None
    """The instance that acknowledged it."""
    attempts: int


@dataclass
class StepRecord:
    n: int
    sent_at: float
    by: int | None
    answered_at: float | None = None


@dataclass
class Driving:
    """What the driver saw, in counts and the driver's own report numbers."""

    planned: int = 0
    filed: dict[int, str] = field(default_factory=dict)
    """Report number -> the reference Harbour gave."""
    filed_at: dict[int, float] = field(default_factory=dict)
    """Report number -> when its worker saw it filed (time.monotonic)."""
    abandoned: list[int] = field(default_factory=list)
    stalls: list[tuple[int, int]] = field(default_factory=list)
    """(report number, step) whose answer never came although acknowledged."""
    unacknowledged: list[tuple[int, int]] = field(default_factory=list)
    """(report number, step) that no instance acknowledged in MAX_ATTEMPTS sends."""
    requests: int = 0
    attempts: int = 0
    resent: Counter[str] = field(default_factory=Counter)
    step_seconds: list[float] = field(default_factory=list)
    filing_seconds: list[float] = field(default_factory=list)
    """The same for the step that files the report (the summary's "File report")."""
    user_retries: int = 0
    driver_errors: Counter[str] = field(default_factory=Counter)
    """Reports the driver itself failed on, by exception type."""
    unconfirmed: list[int] = field(default_factory=list)
    """Reports filed (the database says so) whose worker was never shown the reference."""
    stall_kinds: Counter[str] = field(default_factory=Counter)
    """Stalls by where their event stood in the database when given up on."""
    in_flight: list[StepRecord] = field(default_factory=list)
    """Steps acknowledged by the killed instance and not answered when it was killed."""
    started: float = 0.0
    all_filed: float = 0.0
    killed_at: float | None = None
    trace: dict[int, list[str]] = field(default_factory=dict)
    """Report number -> each step: when (s into the run), what the worker did
    (the page's question ids, never what she answered), which instance
    acknowledged it, and what Harbour showed next."""


class Balancer:
    """Sends a request to the instances in turn; a failed one again to the next."""

    def __init__(self, nodes: Sequence[Instance], session: ClientSession) -> None:
        self.nodes = list(nodes)
        self.session = session
        self._turn = itertools.count()

    def _order(self) -> list[int]:
        start = next(self._turn)
        ring = [(start + i) % len(self.nodes) for i in range(len(self.nodes))]
        up = [i for i in ring if self.nodes[i].up]
        return up or ring

    async def send(self, request: Request, drive: Driving) -> Sent:
        drive.requests += 1
        attempts = 0
        retry_reason = ""
        while attempts < MAX_ATTEMPTS:
            for i in self._order():
                if attempts >= MAX_ATTEMPTS:
                    break
                attempts += 1
                drive.attempts += 1
                headers = signed_headers(request.body, content_type=request.content_type)
                if request.event and attempts > 1:
                    headers["X-Slack-Retry-Num"] = str(attempts - 1)
                    headers["X-Slack-Retry-Reason"] = retry_reason or "http_error"
                why = await self._post(self.nodes[i], request.body, headers)
                if why is None:
                    self.nodes[i].acked += 1
                    return Sent(ok=True, by=i, attempts=attempts)
                drive.resent[why] += 1
                retry_reason = "http_timeout" if why is Why.TIMEOUT else "http_error"
            await asyncio.sleep(0.2)
        return Sent(ok=False, by=None, attempts=attempts)

    async def _post(self, node: Instance, body: str, headers: dict[str, str]) -> Why | None:
        try:
            async with self.session.post(node.url, data=body.encode(), headers=headers) as r:
                await r.read()
                return None if r.status == 200 else Why.STATUS
        except ClientConnectorError:
            node.up = False  # a health check would take it out of the rotation
            return Why.REFUSED
        except (ServerDisconnectedError, ClientError, ConnectionError):
            return Why.RESET
        except TimeoutError:
            return Why.TIMEOUT


class Driver:
    def __init__(
        self,
        fake: WatchedSlack,
        balancer: Balancer,
        *,
        reports: int,
        people: int,
        step_timeout_s: float,
        kill: Callable[[], None] | None = None,
        kill_after: int = 0,
        db: Database | None = None,
    ) -> None:
        self.db = db
        self.fake = fake
        self.lb = balancer
        self.reports = reports
        self.people = min(people, reports)
        self.step_timeout_s = step_timeout_s
        self.kill = kill
        self.kill_after = kill_after
        self.drive = Driving(planned=reports)
        self._pending: dict[int, StepRecord] = {}

    async def _where(self, user: str, request: Request) -> str:
        """Where a request no answer came to stands in the database: handled
        (its event id among the person's seen ones), waiting in the inbox, or
        neither."""
        if self.db is None:
            return ""
        try:
            event_id = request.event_id
            handled, waiting = await self.db.event_state(person_key(user), event_id)
        except Exception as exc:
            return f"not looked up ({type(exc).__name__})"
        return _stall_kind(handled, waiting)

    async def run(self) -> Driving:
        self.drive.started = time.monotonic()
        await asyncio.gather(*(self._person(p) for p in range(self.people)))
        self.drive.all_filed = time.monotonic()
        return self.drive

    async def _person(self, p: int) -> None:
        for n in range(p, self.reports, self.people):
            try:
                await self._file(p, n)
            except Exception as exc:  # the driver's own fault: counted by type, never content
                self.drive.abandoned.append(n)
                self.drive.driver_errors[type(exc).__name__] += 1

    def _maybe_kill(self) -> None:
        if self.kill is None or self.drive.killed_at is not None:
            return
        if len(self.drive.filed) < self.kill_after:
            return
        self.drive.killed_at = time.monotonic()
        self.drive.in_flight = [s for s in self._pending.values() if s.by == VICTIM]
        self.kill()

    async def _wait(self, channel: str, mark: int) -> dict[str, Any] | None:
        """The newest message the driver acts on posted to `channel` at or after
        index `mark`, once there is one; None after the step timeout."""
        messages = self.fake.messages(channel)
        changed = self.fake.watch(channel)
        deadline = time.monotonic() + self.step_timeout_s
        while True:
            for i in range(len(messages) - 1, mark - 1, -1):
                if what_it_is(messages[i]) is not None:
                    return messages[i]
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return None
            changed.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(changed.wait(), remaining)

    async def _file(self, p: int, n: int) -> None:
        """File report `n` as worker `p`: the command, every page, the summary.

        When no answer comes to an acknowledged step, where its event stands
        decides what happens next (each such step is counted either way): still
        waiting in the inbox, wait once more; handled (the reply was lost), ask
        where she is with the command in her DM, or, if it was the filing, take
        the report as filed; neither, send it again as a new press or message."""
        user = worker_id(p)
        dm = f"D{user}"
        profile = Profile.of(n)
        answers = pressed_answers(profile, n)
        trace = self.drive.trace.setdefault(n, [])
        again: Callable[[], Request] = partial(ask, user, ASK_CHANNEL)
        doing = "command"
        filing = False
        request = again()
        tries = 0
        send = True
        mark = 0
        record = StepRecord(n=n, sent_at=0.0, by=None)
        acked = ""
        for step in range(MAX_STEPS):
            if send:
                mark = len(self.fake.messages(dm))
                record = StepRecord(n=n, sent_at=time.monotonic(), by=None)
                sent = await self.lb.send(request, self.drive)
                if not sent.ok:
                    self.drive.unacknowledged.append((n, step))
                record.by = sent.by
                acked = f"instance {sent.by}" if sent.ok else "nobody"
                if sent.attempts > 1:
                    acked += f" (attempt {sent.attempts})"
            self._pending[n] = record
            message = await self._wait(dm, mark)
            self._pending.pop(n, None)
            at = record.sent_at - self.drive.started
            if message is None:
                where = await self._where(user, request) if record.by is not None else ""
                others = _texts(self.fake.messages(dm)[mark:])
                trace.append(
                    f"{at:7.1f}s {doing:<28} acked by {acked}: NOTHING CAME"
                    + (f" ({where})" if where else "")
                    + (f"; other messages: {others}" if others else "")
                )
                if record.by is not None and send:
                    self.drive.stalls.append((n, step))
                    self.drive.stall_kinds[where or "not looked up"] += 1
                tries += 1
                if tries > USER_RETRIES:
                    break
                send = True
                if where == STALL_WAITING:
                    send = False  # it may still be handled: wait once more
                elif where == STALL_HANDLED and filing:
                    self.drive.filed[n] = ""  # filed; she was never shown its reference
                    self.drive.unconfirmed.append(n)
                    return
                elif where == STALL_HANDLED:
                    again = partial(ask, user, dm)  # "where am I?"
                    doing = "command in her DM"
                else:
                    self.drive.user_retries += 1
                    doing = f"again: {doing.removeprefix('again: ')}"
                request = again()
                continue
            send = True
            record.answered_at = time.monotonic()
            self.drive.step_seconds.append(record.answered_at - record.sent_at)
            if filing:
                self.drive.filing_seconds.append(record.answered_at - record.sent_at)
            tries = 0
            seen = what_it_is(message)
            shown = f"{seen}" + (f" {_page(message)}" if seen is Seen.PAGE else "")
            trace.append(
                f"{at:7.1f}s {doing:<28} acked by {acked}: {shown} after "
                f"{record.answered_at - record.sent_at:.2f}s"
            )
            if seen is Seen.FILED:
                found = REFERENCE.search(json.dumps(message.get("blocks") or []))
                self.drive.filed[n] = found.group(0) if found else ""
                self.drive.filed_at[n] = record.answered_at
                self._maybe_kill()
                return
            seen_now = copy.deepcopy(message)  # as she saw it (Harbour edits it later)
            filing = seen is Seen.REVIEW
            if seen is Seen.PAGE and profile.typed:
                first = questions(seen_now)[0][0].split("|")[-1]
                again = partial(say, user, TYPED.get(first, "skip"))
                doing = f"type on {_page(seen_now)}"
            elif seen is Seen.PAGE:
                again = partial(press, user, seen_now, SUBMIT, page_state(seen_now, answers))
                doing = f"press Next on {_page(seen_now)}"
            elif profile.typed:  # the summary: file it
                again = partial(say, user, "yes")
                doing = "type yes to file"
            else:
                again = partial(press, user, seen_now, FILE_REPORT, {})
                doing = "press File report"
            request = again()
        self.drive.abandoned.append(n)


def _texts(messages: Sequence[dict[str, Any]], limit: int = 3) -> str:
    """What messages are, by their notification text (Harbour builds it from its
    own words only: titles, references, risk; never what anyone wrote)."""
    said = [str(m.get("text", ""))[:40] for m in messages[-limit:]]
    return "; ".join(repr(t) for t in said)


STALL_HANDLED = "its event was handled (the answer kept, the reply lost)"
STALL_WAITING = "its event waits in the inbox, unhandled"
STALL_GONE = "its event is neither handled nor in the inbox (lost)"


def _stall_kind(handled: bool, waiting: bool) -> str:
    return STALL_HANDLED if handled else STALL_WAITING if waiting else STALL_GONE


def _page(message: dict[str, Any]) -> str:
    """A page by its question ids (no answers)."""
    return "/".join(block_id.split("|")[-1] for block_id, _ in questions(message))


def ask(user: str, channel: str) -> Request:
    """The slash command, typed in a channel (or in her DM with Harbour)."""
    return Request(command_request(user, channel), FORM)


def say(user: str, said: str) -> Request:
    """A DM message to the bot (a new event each time)."""
    return Request(typed_body(user, said), JSON, event=True)


def press(user: str, message: dict[str, Any], action_id: str, state: dict[str, Any]) -> Request:
    """A press of a button on `message` (a new press each time)."""
    return Request(press_body(user, message, action_id, state), FORM)


# =========================================================================== checking


@dataclass
class Outbox:
    """What the database holds once the run is over."""

    events: list[tuple[str, str | None, str, bool]]
    """(event id, report reference, kind, delivered) for every outbox event."""
    reports: list[dict[str, Any]]
    """{reference, reporter, risk, answers} per stored report, in filing order."""
    dead_letters: int
    deliveries: Counter[str]
    """Delivery records by status."""
    inbox_left: int | None
    """Accepted events never handled (None: no inbox table)."""


async def read_outbox(db: Database) -> Outbox:
    events = [
        (str(r[0]), r[1], str(r[2]), r[3] is not None)
        for r in await db.rows(
            "SELECT id, reference, doc->>'kind', delivered_at FROM outbox ORDER BY n"
        )
    ]
    reports = [
        {
            "reference": str(r[0]),
            "reporter": str(r[1]),
            "risk": str(r[2].get("risk")),
            # Sealed at rest: opened with the run's key.
            "answers": RUN_SEALER.report_in(dict(r[2])).get("answers") or {},
        }
        for r in await db.rows(
            "SELECT reference, reporter_key, doc FROM reports ORDER BY year, seq"
        )
    ]
    [(dead,)] = await db.rows("SELECT count(*) FROM records WHERE kind = 'dead-letters'")
    deliveries: Counter[str] = Counter(
        {
            str(status): int(count)
            for status, count in await db.rows(
                "SELECT value->>'status', count(*) FROM records WHERE kind = 'deliveries' "
                "GROUP BY 1"
            )
        }
    )
    inbox_left = None
    if await db.table_exists("inbox"):
        [(left,)] = await db.rows("SELECT count(*) FROM inbox")
        inbox_left = int(left)
    return Outbox(events, reports, int(dead), deliveries, inbox_left)


@dataclass
class Checked:
    reports_missing: list[int] = field(default_factory=list)
    reports_extra: dict[str, int] = field(default_factory=dict)
    """Worker -> reports stored beyond the ones she filed."""
    answers_wrong: dict[int, list[str]] = field(default_factory=dict)
    """Report number -> the fields that differ (names only)."""
    risk_wrong: list[int] = field(default_factory=list)
    references_wrong: list[int] = field(default_factory=list)
    """The reference the worker was shown is not the report stored for her."""
    alerts_expected: int = 0
    alerts_lost: list[str] = field(default_factory=list)
    """What is missing: 'manager n' / 'card n' / 'edit n' (report numbers)."""
    duplicate_keys: dict[str, int] = field(default_factory=dict)
    """Delivery key -> times posted, for those posted more than once."""
    cards_extra: list[int] = field(default_factory=list)
    """Report numbers with more than one card in the leads' channel."""
    alert_seconds: list[float] = field(default_factory=list)
    """From a worker seeing her report filed to her manager's alert reaching Slack."""
    unknown_keys: int = 0
    unkeyed_messages: int = 0
    undelivered: int = 0
    dead_letters: int = 0
    deliveries: Counter[str] = field(default_factory=Counter)
    inbox_left: int | None = None


def match_reports(
    drive: Driving, stored: list[dict[str, Any]], people: int
) -> tuple[dict[int, dict[str, Any]], Checked]:
    """Each report the driver filed -> the report stored for it: by the reference
    its worker was shown, else (she never saw one) her next unclaimed report."""
    c = Checked()
    by_reference = {r["reference"]: r for r in stored}
    by_reporter: dict[str, list[dict[str, Any]]] = {}
    for report in stored:
        by_reporter.setdefault(report["reporter"], []).append(report)
    matched: dict[int, dict[str, Any]] = {}
    workers = min(people, drive.planned)
    for p in range(workers):
        key = person_key(worker_id(p))
        mine = list(range(p, drive.planned, workers))
        taken: set[str] = set()
        for n in mine:
            reference = drive.filed.get(n)
            if not reference:
                continue
            shown = by_reference.get(reference)
            if shown is None or shown["reporter"] != key:
                c.references_wrong.append(n)
                continue
            matched[n] = shown
            taken.add(reference)
        rest = [r for r in by_reporter.get(key, []) if r["reference"] not in taken]
        unconfirmed = [n for n in mine if n not in matched and n not in c.references_wrong]
        for n, report in zip(unconfirmed, rest, strict=False):
            matched[n] = report
        c.reports_missing += unconfirmed[len(rest) :]
        if len(rest) > len(unconfirmed):
            c.reports_extra[worker_id(p)] = len(rest) - len(unconfirmed)
    return matched, c


def check(drive: Driving, out: Outbox, fake: WatchedSlack, people: int) -> Checked:
    """Everything the driver filed against what the database and the fake hold."""
    matched, c = match_reports(drive, out.reports, people)
    events_of: dict[str, list[tuple[str, str]]] = {}
    for event_id, reference, kind, _ in out.events:
        if reference:
            events_of.setdefault(reference, []).append((event_id, kind))
    known_events = {e[0] for e in out.events}
    workers = min(people, drive.planned)
    for n, report in sorted(matched.items()):
        profile = Profile.of(n)
        got = report["answers"]
        wrong = [k for k, v in expected_answers(profile, n).items() if got.get(k) != v]
        if wrong:
            c.answers_wrong[n] = wrong
        if report["risk"] != expected_risk(profile):
            c.risk_wrong.append(n)
        # Alerts: her manager's, the case's card, the card's edit.
        events = events_of.get(report["reference"], [])
        filed_event = next((e for e, kind in events if kind == "report_filed"), None)
        manager = person_key(manager_id(n % workers))
        c.alerts_expected += 1
        manager_key = f"{filed_event}:slack:{manager}"
        if filed_event is None or not fake.alerts.get(manager_key):
            c.alerts_lost.append(f"manager {n}")
        elif n in drive.filed_at:
            c.alert_seconds.append(max(0.0, fake.alert_at[manager_key] - drive.filed_at[n]))
        if not profile.card:
            continue
        c.alerts_expected += 1
        cards = [k for e, _ in events if fake.alerts.get(k := f"{e}:slack:{LEADS_CHANNEL}")]
        if not cards:
            c.alerts_lost.append(f"card {n}")
        elif len(cards) > 1:
            c.cards_extra.append(n)
        if profile.edited:
            c.alerts_expected += 1
            if not any(
                fake.edits.get((LEADS_CHANNEL, ts))
                for key in cards
                for ts in fake.alert_ts.get(key, [])
            ):
                c.alerts_lost.append(f"edit {n}")
    c.duplicate_keys = {k: v for k, v in fake.alerts.items() if v > 1}
    c.unknown_keys = sum(1 for k in fake.alerts if k.split(":", 1)[0] not in known_events)
    c.unkeyed_messages = sum(fake.unkeyed.values())
    c.undelivered = sum(1 for e in out.events if not e[3])
    c.dead_letters = out.dead_letters
    c.deliveries = out.deliveries
    c.inbox_left = out.inbox_left
    return c


def expected_alert_count(reports: int) -> tuple[int, int, int]:
    """(manager alerts, cards, card edits) that `reports` reports make."""
    profiles = [Profile.of(n) for n in range(reports)]
    return reports, sum(p.card for p in profiles), sum(p.edited for p in profiles)


# =========================================================================== runs


@dataclass
class KillRun(common.Checked):
    instances: int
    reports: int
    people: int
    killed: bool
    drive: Driving
    checked: Checked
    drain_s: float
    drained: bool
    seconds: float
    acked: list[int]
    cpu_s: list[float | None]
    driver_cpu_s: float
    postgres_cpu_s: float | None
    logs: dict[str, Counter[str]]
    recover_after_s: int
    step_timeout_s: float

    def recovered(self) -> list[StepRecord]:
        return [s for s in self.drive.in_flight if s.answered_at is not None]

    def events_lost(self) -> int:
        """Acknowledged steps whose event was neither handled nor kept to be."""
        kept = (STALL_HANDLED, STALL_WAITING)
        return sum(n for kind, n in self.drive.stall_kinds.items() if kind not in kept)

    def answers_lost(self) -> int:
        c = self.checked
        return (
            self.events_lost()
            + len(c.reports_missing)
            + len(c.answers_wrong)
            + len(self.drive.unacknowledged)
        )

    def checks(self) -> list[tuple[bool, str]]:
        c, d = self.checked, self.drive
        dupes = sum(v - 1 for v in c.duplicate_keys.values()) + len(c.cards_extra)
        out = [
            (
                self.answers_lost() == 0,
                f"0 answers lost ({self.events_lost()} acknowledged events neither handled nor "
                f"kept, {len(c.reports_missing)} reports missing, {len(c.answers_wrong)} with "
                f"answers missing or wrong, {len(d.unacknowledged)} requests no instance "
                "acknowledged)",
            ),
            (
                not d.stalls and not d.abandoned,
                f"every acknowledged step answered in the worker's DM ({len(d.stalls)} never "
                f"answered: {d.stall_kinds[STALL_HANDLED]} handled with the reply lost, "
                f"{d.stall_kinds[STALL_WAITING]} still waiting in the inbox, "
                f"{self.events_lost()} lost; {len(d.unconfirmed)} workers never shown their "
                f"reference; {len(d.abandoned)} reports given up)",
            ),
            (
                not c.reports_extra and not c.references_wrong and not c.risk_wrong,
                f"every report filed exactly once ({len(self.checked_reports())} of "
                f"{self.reports}; {sum(c.reports_extra.values())} extra, "
                f"{len(c.references_wrong)} references differ, {len(c.risk_wrong)} risks differ)",
            ),
            (
                dupes == 0,
                f"0 duplicate alerts ({len(c.duplicate_keys)} keys posted more than once, "
                f"{len(c.cards_extra)} cases with a second card)",
            ),
            (
                not c.alerts_lost and c.undelivered == 0 and self.drained,
                f"every alert delivered ({c.alerts_expected - len(c.alerts_lost)} of "
                f"{c.alerts_expected}; {c.undelivered} outbox events undelivered after "
                f"{self.drain_s:.0f} s)",
            ),
            (
                c.dead_letters == 0,
                f"0 dead letters ({c.dead_letters})",
            ),
        ]
        if self.killed:
            out.append(
                (
                    d.killed_at is not None,
                    f"one instance killed with SIGKILL after {self.kill_after_reports()} reports",
                )
            )
        return out

    def checked_reports(self) -> list[int]:
        return [n for n in range(self.reports) if n not in self.checked.reports_missing]

    def kill_after_reports(self) -> int:
        return max(1, round(self.reports * KILL_AFTER))


def log_summary(text_: str) -> Counter[str]:
    """Lines by level (Harbour's log format: `time LEVEL logger: message`)."""
    levels: Counter[str] = Counter()
    for line in text_.splitlines():
        parts = line.split(" ", 3)
        if len(parts) >= 3 and parts[2] in ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"):
            levels[parts[2]] += 1
        elif line.startswith("Traceback"):
            levels["traceback"] += 1
    return levels


def log_samples(text_: str, limit: int = 3) -> list[str]:
    """The most frequent warning and error lines, times and numbers blanked out
    (Harbour logs no report content; these are its own words)."""
    shapes: Counter[str] = Counter()
    for line in text_.splitlines():
        parts = line.split(" ", 3)
        if len(parts) == 4 and parts[2] in ("WARNING", "ERROR", "CRITICAL"):
            shapes[re.sub(r"\d+", "N", f"{parts[2]} {parts[3]}")[:200]] += 1
    return [f"{n} x {shape}" for shape, n in shapes.most_common(limit)]


async def kill_run(
    server_url: str,
    *,
    reports: int = FULL_REPORTS,
    people: int = FULL_PEOPLE,
    count: int = INSTANCES,
    kill: bool = True,
    recover_after_s: int = RECOVER_AFTER_S,
    step_timeout_s: float | None = None,
    drain_timeout_s: float = DRAIN_TIMEOUT_S,
    extra_env: dict[str, str] | None = None,
    progress: Callable[[str], None] = lambda _: None,
) -> tuple[KillRun, dict[str, str]]:
    """File `reports` reports through `count` instances on a fresh database,
    killing one once a third are filed (if `kill`), and check everything. Also
    returns what each instance logged."""
    step_timeout = step_timeout_s or recover_after_s + STEP_MARGIN_S
    env = {
        "HARBOUR_RECOVER_AFTER_SECONDS": str(recover_after_s),
        "HARBOUR_FAILOVER_SECONDS": "30",  # the least allowed: the run need not wait 2 min
        **(extra_env or {}),
    }
    workers = min(people, reports)
    kill_after = max(1, round(reports * KILL_AFTER))
    t_run = time.monotonic()
    cpu0 = time.process_time()
    pg0 = postgres_cpu_s(server_url)
    with tempfile.TemporaryDirectory(prefix="harbour-mi-") as tmp:
        workdir = Path(tmp)
        directory = workdir / "directory.toml"
        directory.write_text(directory_file(workers))
        fake = WatchedSlack()
        api_url = await fake.start()
        try:
            async with (
                fresh_database(server_url) as db_url,
                instances(count, workdir, db_url, api_url, directory, env) as nodes,
                reading(db_url) as db,
            ):
                killing = kill and len(nodes) > VICTIM
                progress(
                    f"  {reports} reports by {workers} workers at once on {count} instances"
                    + (f"; {nodes[VICTIM].name} killed after {kill_after}" if killing else "")
                    + "…"
                )
                async with ClientSession(
                    connector=TCPConnector(limit=0, keepalive_timeout=30),
                    timeout=ClientTimeout(total=ACK_TIMEOUT_S),
                ) as session:
                    driver = Driver(
                        fake,
                        Balancer(nodes, session),
                        reports=reports,
                        people=people,
                        step_timeout_s=step_timeout,
                        kill=partial(kill_instance, nodes[VICTIM]) if killing else None,
                        kill_after=kill_after,
                        db=db,
                    )
                    drive = await driver.run()
                progress(
                    f"  every worker done after {drive.all_filed - drive.started:.1f} s; "
                    "waiting for the outbox to drain…"
                )
                t0 = time.monotonic()
                drained = False
                while time.monotonic() - t0 < drain_timeout_s:
                    if await db.undelivered() == 0:
                        drained = True
                        break
                    await asyncio.sleep(0.25)
                drain_s = time.monotonic() - t0
                await asyncio.sleep(GRACE_S)  # a late duplicate would land now
                out = await read_outbox(db)
                for node in nodes:
                    if node.up:
                        node.read_cpu()
        finally:
            await fake.close()
        logs = {n.name: n.log() for n in nodes}
    result = KillRun(
        instances=count,
        reports=reports,
        people=workers,
        killed=killing,
        drive=drive,
        checked=check(drive, out, fake, people),
        drain_s=drain_s,
        drained=drained,
        seconds=time.monotonic() - t_run,
        acked=[n.acked for n in nodes],
        cpu_s=[n.cpu_s for n in nodes],
        driver_cpu_s=time.process_time() - cpu0,
        postgres_cpu_s=_since(pg0, postgres_cpu_s(server_url)),
        logs={name: log_summary(t) for name, t in logs.items()},
        recover_after_s=recover_after_s,
        step_timeout_s=step_timeout,
    )
    return result, logs


@dataclass
class Throughput:
    instances: int
    reports: int
    people: int
    filed_s: float
    """From the first request until the last report was filed."""
    delivered_s: float
    """...until every report's alerts had reached the fake Slack too."""
    complete: bool
    step_median_ms: float
    step_p99_ms: float
    filing_median_ms: float
    alert_median_s: float
    """From a report filed to its manager's alert at the fake Slack."""
    cpu_s: list[float | None]
    driver_cpu_s: float
    postgres_cpu_s: float | None
    problems: list[str]

    @property
    def per_second(self) -> float:
        return self.reports / self.delivered_s if self.delivered_s else 0.0


async def throughput_run(
    server_url: str,
    count: int,
    *,
    reports: int,
    people: int,
    extra_env: dict[str, str] | None = None,
    progress: Callable[[str], None] = lambda _: None,
) -> Throughput:
    """File `reports` reports on `count` instances (no kill); time it end to end."""
    env = {"HARBOUR_RECOVER_AFTER_SECONDS": str(RECOVER_AFTER_S), **(extra_env or {})}
    managers, cards, edits = expected_alert_count(reports)
    with tempfile.TemporaryDirectory(prefix="harbour-mi-") as tmp:
        workdir = Path(tmp)
        directory = workdir / "directory.toml"
        directory.write_text(directory_file(min(people, reports)))
        fake = WatchedSlack()
        api_url = await fake.start()
        try:
            async with (
                fresh_database(server_url) as db_url,
                instances(count, workdir, db_url, api_url, directory, env) as nodes,
                reading(db_url) as db,
            ):
                progress(f"  {count} instance(s): {reports} reports…")
                cpu0 = time.process_time()
                pg0 = postgres_cpu_s(server_url)
                async with ClientSession(
                    connector=TCPConnector(limit=0, keepalive_timeout=30),
                    timeout=ClientTimeout(total=ACK_TIMEOUT_S),
                ) as session:
                    driver = Driver(
                        fake,
                        Balancer(nodes, session),
                        reports=reports,
                        people=people,
                        step_timeout_s=RECOVER_AFTER_S + STEP_MARGIN_S,
                        db=db,
                    )
                    drive = await driver.run()
                deadline = time.monotonic() + DRAIN_TIMEOUT_S
                complete = False
                while time.monotonic() < deadline:
                    posted = sum(1 for k in fake.alerts if k.endswith(f":{LEADS_CHANNEL}"))
                    edited = sum(1 for (ch, _), _n in fake.edits.items() if ch == LEADS_CHANNEL)
                    if (
                        len(fake.alerts) - posted >= managers
                        and posted >= cards
                        and edited >= edits
                        and await db.undelivered() == 0
                    ):
                        complete = True
                        break
                    await asyncio.sleep(POLL_S)
                done = time.monotonic()
                out = await read_outbox(db)
                driver_cpu = time.process_time() - cpu0
                pg_cpu = _since(pg0, postgres_cpu_s(server_url))
                for node in nodes:
                    node.read_cpu()
        finally:
            await fake.close()
    checked = check(drive, out, fake, people)
    problems = []
    if drive.stalls or drive.abandoned or checked.reports_missing or checked.answers_wrong:
        problems.append(
            f"{len(drive.stalls)} stalls, {len(checked.reports_missing)} reports missing, "
            f"{len(checked.answers_wrong)} with wrong answers"
        )
    if checked.alerts_lost or checked.duplicate_keys or checked.cards_extra:
        problems.append(
            f"{len(checked.alerts_lost)} alerts lost, {len(checked.duplicate_keys)} keys posted "
            f"twice, {len(checked.cards_extra)} second cards"
        )
    steps = common.Stats.of(drive.step_seconds) if drive.step_seconds else None
    filing = common.Stats.of(drive.filing_seconds) if drive.filing_seconds else None
    return Throughput(
        instances=count,
        reports=reports,
        people=min(people, reports),
        filed_s=drive.all_filed - drive.started,
        delivered_s=done - drive.started,
        complete=complete,
        step_median_ms=steps.median_ms if steps else 0.0,
        step_p99_ms=steps.p99_ms if steps else 0.0,
        filing_median_ms=filing.median_ms if filing else 0.0,
        alert_median_s=common.Stats.of(checked.alert_seconds).median_ms / 1e3
        if checked.alert_seconds
        else 0.0,
        cpu_s=[n.cpu_s for n in nodes],
        driver_cpu_s=driver_cpu,
        postgres_cpu_s=pg_cpu,
        problems=problems,
    )


# =========================================================================== output


def _cpu(seconds: float | None, digits: int = 1) -> str:
    return "?" if seconds is None else f"{seconds:.{digits}f}"


def _numbers(ns: Sequence[int], limit: int = 12) -> str:
    shown = ", ".join(str(n) for n in sorted(ns)[:limit])
    return shown + (f" … ({len(ns)} in all)" if len(ns) > limit else "")


def format_kill_run(r: KillRun, logs: dict[str, str] | None = None) -> str:
    d, c = r.drive, r.checked
    lines = [
        f"{r.reports} reports by {r.people} workers at once through {r.instances} instances"
        + (
            f", one killed with SIGKILL after {r.kill_after_reports()} were filed"
            if r.killed
            else ""
        )
        + f"; {r.seconds:.0f} s in all",
        f"  driving: {d.all_filed - d.started:.1f} s ({r.reports / max(d.all_filed - d.started, 1e-9):.1f} reports/s); "
        f"outbox drained {r.drain_s:.1f} s after the last report"
        + ("" if r.drained else " (NOT drained: gave up)"),
        f"  requests: {d.requests} sent, {d.attempts} attempts; resent to another instance: "
        + (", ".join(f"{n} {why}" for why, n in d.resent.most_common()) or "none")
        + f"; acknowledged per instance: {', '.join(map(str, r.acked))}",
    ]
    if d.step_seconds:
        steps = common.Stats.of(d.step_seconds)
        lines.append(
            f"  a step (request to Harbour's answer in the DM): median {steps.median_ms:.0f} ms, "
            f"p99 {steps.p99_ms:.0f} ms, max {max(d.step_seconds) * 1e3:.0f} ms, {steps.n} steps"
        )
    if d.filing_seconds:
        filing = common.Stats.of(d.filing_seconds)
        lines.append(
            f"    of which filing (File report to 'Report filed'): median {filing.median_ms:.0f} ms, "
            f"p99 {filing.p99_ms:.0f} ms"
        )
    if r.killed and d.killed_at is not None:
        recovered = r.recovered()
        waits = [s.answered_at - d.killed_at for s in recovered if s.answered_at is not None]
        lines.append(
            f"  the kill of instance {VICTIM}, {d.killed_at - d.started:.1f} s in: "
            f"{len(d.in_flight)} steps it had "
            f"acknowledged were not answered yet; {len(recovered)} answered later by a survivor"
            + (f" (the last {max(waits):.1f} s after the kill)" if waits else "")
            + f" (HARBOUR_RECOVER_AFTER_SECONDS={r.recover_after_s})"
        )
    lines.append(
        f"  answers: {len(d.filed)} reports confirmed to their workers; {len(d.stalls)} steps "
        f"acknowledged but never answered (waited {r.step_timeout_s:.0f} s each), "
        f"{d.user_retries} tried again by the worker, {len(d.abandoned)} reports given up, "
        f"{len(d.unacknowledged)} requests no instance acknowledged"
    )
    if d.stalls:
        lines.append(f"    stalled (report number): {_numbers(sorted({n for n, _ in d.stalls}))}")
        for kind, count in d.stall_kinds.most_common():
            lines.append(f"    {count} stalled: {kind}")
    if d.abandoned:
        lines.append(f"    given up (report number): {_numbers(d.abandoned)}")
    if d.driver_errors:
        lines.append(
            "    the driver failed on: "
            + ", ".join(f"{n} x {name}" for name, n in d.driver_errors.most_common())
        )
    if d.unconfirmed:
        lines.append(
            f"    filed, but the worker was never shown the reference: {_numbers(d.unconfirmed)}"
        )
    for n in sorted({n for n, _ in d.stalls} | set(d.abandoned))[:TRACES]:
        lines.append(
            f"    report {n} (worker {worker_id(n % r.people)}, {Profile.of(n)}), step by step:"
        )
        lines += [f"      {entry}" for entry in d.trace.get(n, [])]
    lines.append(
        f"  reports stored: {len(c.reports_missing)} missing, {sum(c.reports_extra.values())} "
        f"extra, {len(c.answers_wrong)} with answers missing or wrong, {len(c.risk_wrong)} "
        f"with another risk, {len(c.references_wrong)} not the reference the worker was shown"
    )
    if c.reports_missing:
        lines.append(f"    missing (report number): {_numbers(c.reports_missing)}")
    if c.reports_extra:
        lines.append(f"    extra reports by: {', '.join(sorted(c.reports_extra)[:12])}")
    if c.answers_wrong:
        fields = Counter(f for wrong in c.answers_wrong.values() for f in wrong)
        lines.append(
            f"    answers wrong (report number): {_numbers(list(c.answers_wrong))}; fields: "
            + ", ".join(f"{f} x{n}" for f, n in fields.most_common())
        )
    dupes = sum(v - 1 for v in c.duplicate_keys.values())
    lines.append(
        f"  alerts: {c.alerts_expected} expected (managers' alerts, leads' cards, critical "
        f"edits), {len(c.alerts_lost)} lost, {dupes} duplicate posts of "
        f"{len(c.duplicate_keys)} keys, {len(c.cards_extra)} second cards, "
        f"{c.unknown_keys} keys of unknown events, {c.unkeyed_messages} other messages to "
        "managers or the channel"
    )
    if c.alert_seconds:
        late = common.Stats.of(c.alert_seconds)
        lines.append(
            f"    a manager's alert reached Slack a median {late.median_ms / 1e3:.1f} s after "
            f"her worker saw the report filed (p99 {late.p99_ms / 1e3:.1f} s, max "
            f"{max(c.alert_seconds):.1f} s)"
        )
    if c.alerts_lost:
        lines.append(f"    lost: {', '.join(c.alerts_lost[:12])}")
    if c.duplicate_keys:
        lines.append(f"    posted twice: {', '.join(sorted(c.duplicate_keys)[:5])}")
    if c.cards_extra:
        lines.append(f"    second card (report number): {_numbers(c.cards_extra)}")
    lines.append(
        f"  outbox: {c.undelivered} undelivered, {c.dead_letters} dead letters; deliveries "
        + (", ".join(f"{n} {s}" for s, n in c.deliveries.most_common()) or "none")
        + (f"; inbox: {c.inbox_left} accepted events left unhandled" if c.inbox_left else "")
    )
    cpu = ", ".join(f"{s:.1f}" if s is not None else "?" for s in r.cpu_s)
    lines.append(
        f"  CPU seconds: instances {cpu}; driver and fake Slack {r.driver_cpu_s:.1f}; "
        f"PostgreSQL {_cpu(r.postgres_cpu_s)} ({os.cpu_count()} CPUs)"
    )
    for name, levels in r.logs.items():
        bad = {k: v for k, v in levels.items() if k != "INFO"}
        if bad:
            lines.append(
                f"  {name} logged " + ", ".join(f"{n} {lvl}" for lvl, n in sorted(bad.items()))
            )
            for sample in log_samples((logs or {}).get(name, "")):
                lines.append(f"    {sample}")
    lines += ["", *r.check_lines()]
    return "\n".join(lines)


def format_throughput(runs: Sequence[Throughput]) -> str:
    """Each run, then per number of instances: reports per second over all its
    runs (all reports over all their time) and the ratio to one instance."""
    if not runs:
        return ""
    lines = [
        f"{'instances':>9} {'reports':>7} {'filed':>8} {'+alerts':>8} {'reports/s':>9} "
        f"{'step p50':>9} {'step p99':>9} {'filing p50':>10} {'alert p50':>9}  "
        "CPU s (instances; driver; PostgreSQL)",
    ]
    for t in runs:
        cpu = "+".join(f"{s:.0f}" if s is not None else "?" for s in t.cpu_s)
        lines.append(
            f"{t.instances:>9} {t.reports:>7} {t.filed_s:>7.1f}s {t.delivered_s:>7.1f}s "
            f"{t.per_second:>9.1f} {t.step_median_ms:>7.0f}ms {t.step_p99_ms:>7.0f}ms"
            f" {t.filing_median_ms:>8.0f}ms {t.alert_median_s:>8.1f}s  {cpu}; {t.driver_cpu_s:.0f}; "
            f"{_cpu(t.postgres_cpu_s, 0)}" + ("" if t.complete else "  (alerts NOT all delivered)")
        )
        for problem in t.problems:
            lines.append(f"{'':>9} {problem}")
    counts = sorted({t.instances for t in runs})

    def rate(count: int, seconds: Callable[[Throughput], float]) -> float:
        same = [t for t in runs if t.instances == count]
        return sum(t.reports for t in same) / max(sum(seconds(t) for t in same), 1e-9)

    def instances_(count: int) -> str:
        return f"{count} instance{'s' if count > 1 else ''}"

    base = counts[0]
    lines += [
        "filed: from the first request until the last report was filed; +alerts: until every "
        "alert had reached the fake Slack too (reports/s is over this); step: a request to "
        "Harbour's answer in the DM; filing: the File report step; alert: a report filed to "
        "its manager's alert.",
        "",
        f"over all rounds, as a ratio to {instances_(base)}:",
    ]
    for count in counts:
        both = rate(count, lambda t: t.delivered_s)
        filed = rate(count, lambda t: t.filed_s)
        lines.append(
            f"  {instances_(count):<11} {both:5.1f} reports/s end to end "
            f"({both / rate(base, lambda t: t.delivered_s):.2f}x); "
            f"{filed:5.1f} reports/s filed ({filed / rate(base, lambda t: t.filed_s):.2f}x)"
        )
    lines.append(
        f"All on this machine's {os.cpu_count()} CPUs, shared with PostgreSQL and with the "
        "driver and the fake Slack (one process)."
    )
    return "\n".join(lines)


# =========================================================================== main


@dataclass
class Outcome:
    kill: KillRun | None
    kill_logs: dict[str, str]
    throughput: list[Throughput]


async def measure(
    *,
    quick: bool = False,
    database_url: str | None = None,
    reports: int | None = None,
    people: int | None = None,
    throughput: bool = True,
    kill_run_too: bool = True,
    throughput_reports: int | None = None,
    throughput_people: int | None = None,
    recover_after_s: int = RECOVER_AFTER_S,
    step_timeout_s: float | None = None,
    extra_env: dict[str, str] | None = None,
    progress: Callable[[str], None] = lambda _: None,
) -> Outcome:
    n = reports or (QUICK_REPORTS if quick else FULL_REPORTS)
    workers = people or (QUICK_PEOPLE if quick else FULL_PEOPLE)
    t_reports = throughput_reports or (
        QUICK_THROUGHPUT_REPORTS if quick else FULL_THROUGHPUT_REPORTS
    )
    t_people = throughput_people or (QUICK_THROUGHPUT_PEOPLE if quick else THROUGHPUT_PEOPLE)
    outcome = Outcome(None, {}, [])
    async with postgres_server(database_url) as server_url:
        if kill_run_too:
            progress(f"kill run: {INSTANCES} instances, {n} reports…")
            outcome.kill, outcome.kill_logs = await kill_run(
                server_url,
                reports=n,
                people=workers,
                recover_after_s=recover_after_s,
                step_timeout_s=step_timeout_s,
                extra_env=extra_env,
                progress=progress,
            )
        if throughput:
            progress("throughput: 1, 2 and 3 instances, no kill…")
            for r in range(THROUGHPUT_ROUNDS):
                progress(f"  round {r + 1} of {THROUGHPUT_ROUNDS}…")
                order = THROUGHPUT_INSTANCES if r % 2 == 0 else THROUGHPUT_INSTANCES[::-1]
                for count in order:
                    outcome.throughput.append(
                        await throughput_run(
                            server_url,
                            count,
                            reports=t_reports,
                            people=t_people,
                            extra_env=extra_env,
                            progress=progress,
                        )
                    )
    return outcome


def _env_pairs(values: Sequence[str]) -> dict[str, str]:
    found = {}
    for value in values:
        name, sep, setting = value.partition("=")
        if not sep or not name:
            raise SystemExit(f"--env wants NAME=VALUE, not {value!r}")
        found[name] = setting
    return found


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.multi_instance",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--quick", action="store_true", help="200 reports; throughput runs of 60 reports"
    )
    parser.add_argument("--reports", type=int, default=None, help="reports in the kill run")
    parser.add_argument("--people", type=int, default=None, help="workers filing at once")
    parser.add_argument(
        "--throughput-reports", type=int, default=None, help="reports per throughput run"
    )
    parser.add_argument(
        "--throughput-people", type=int, default=None, help="workers at once, throughput runs"
    )
    parser.add_argument("--no-throughput", action="store_true", help="the kill run only")
    parser.add_argument("--no-kill-run", action="store_true", help="the throughput runs only")
    parser.add_argument(
        "--recover-after", type=int, default=RECOVER_AFTER_S, help="HARBOUR_RECOVER_AFTER_SECONDS"
    )
    parser.add_argument(
        "--step-timeout",
        type=float,
        default=None,
        help=f"seconds a step's answer is awaited (default: recover-after + {STEP_MARGIN_S:g})",
    )
    parser.add_argument(
        "--keep-logs", type=Path, default=None, help="copy the instances' logs into this directory"
    )
    parser.add_argument(
        "--env", action="append", default=[], help="NAME=VALUE for every instance (repeatable)"
    )
    parser.add_argument(
        "--database-url",
        default=None,
        help="a PostgreSQL server of your own (a database is made and dropped per run); "
        "default: pgserver in a temporary directory",
    )
    args = parser.parse_args(argv)
    print(
        f"Harbour multi-instance benchmark{' (quick)' if args.quick else ''}: "
        f"{os.cpu_count()} CPUs",
        flush=True,
    )
    outcome = asyncio.run(
        measure(
            quick=args.quick,
            database_url=args.database_url,
            reports=args.reports,
            people=args.people,
            throughput=not args.no_throughput,
            kill_run_too=not args.no_kill_run,
            throughput_reports=args.throughput_reports,
            throughput_people=args.throughput_people,
            recover_after_s=args.recover_after,
            step_timeout_s=args.step_timeout,
            extra_env=_env_pairs(args.env),
            progress=lambda m: print(m, flush=True),
        )
    )
    if args.keep_logs is not None:
        args.keep_logs.mkdir(parents=True, exist_ok=True)
        for name, logged in outcome.kill_logs.items():
            (args.keep_logs / f"{name}.log").write_text(logged)
    passed = True
    if outcome.kill is not None:
        print()
        print(format_kill_run(outcome.kill, outcome.kill_logs))
        passed = outcome.kill.passed
    if outcome.throughput:
        print()
        print(format_throughput(outcome.throughput))
    return 0 if passed else 1


if __name__ == "__main__":
    sys.exit(main())
