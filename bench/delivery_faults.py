"""Alerts under faults: kill -9 during deliveries, platform outages, damaged files.

    python -m bench.delivery_faults          # 100 kills per platform; 10 min, 2 h outages (~2 min)
    python -m bench.delivery_faults --quick  # 6 kills per platform; the 10 min outage (~10 s)

These are correctness counts, not speeds: what is printed is how many alerts
were lost or sent twice, when follow-ups fired, and what the store did with a
damaged file. Timings are printed only so a slow run can be told apart.

1. Kills. Each platform's fake (tests/fakes: the Slack Web API, and the Bot
   Connector service that Teams proactive messages go to) runs in this process
   for the whole run, answering each call after a random 0-10 ms on the way in
   and out, so a kill can land while a message is on the wire. Reports are
   filed here through `Harbour.handle` (typed answers: critical, shared with
   the manager and the safety leads), on a TinyStore in a temporary directory.
   Each one should give a private alert to the worker's manager and the case's
   card in the leads' channel (new messages), then the card edited to say it
   is critical (an edit). Then, again and again: a child process opens the
   store, builds the platform's real adapter as its messenger (`SlackAdapter`
   against the fake Slack; `TeamsAdapter` in local-trial mode, with the
   conversation references first contact would have stored, pointing at the
   fake connector) and runs `Notifier.run_once()` until the outbox is empty;
   this process SIGKILLs it a random 0-0.4 s after its first pass began (for
   15% of lives, 0-0.1 s after it was started: while it opens the store and
   builds its adapter). Children are forked from a multiprocessing forkserver
   that has Harbour imported, so a restart costs ~0.1 s, not the second an
   import takes. Between lives this process opens the store as the next one
   would, and files more reports while fewer than `LOW_WATER` events wait and
   kills are still wanted; then lives run to the end. Every message that
   reached the fake is matched to what was expected: on Slack by the delivery
   key in its message metadata, on Teams by conversation and report
   reference (edits, on both, by channel and reference). Lost: an expected
   alert that never arrived (or an edit never made). Duplicate: an arrival
   beyond the first. Where each kill landed is read on reopening: a delivery
   left "sending" was killed between recording the intent and recording the
   outcome, and the fake says whether its message had gone out; a temporary
   file left behind was a kill in the middle of an atomic write. Targets: 0
   lost on both; 0 duplicates on Slack (after a restart the sender reads an
   alert back by its key before sending it again); at least 100 kills after
   delivering began. Teams cannot look a message up, so it sends again: its
   duplicates are counted and printed, not a target.

2. Outages. In this process, on a simulated clock: Harbour with the real
   SlackAdapter against the fake Slack, which answers 503 to every call while
   "down" (the Slack client's own retries still happen, with their real-time
   waits set to 0 so a simulated hour does not take real minutes). A critical
   and a low-risk report are filed as the outage starts; `Notifier.run_once()`
   runs every simulated 30 s; the outage ends after 10 minutes / 2 hours; 20
   minutes later (70 at least) a safety lead claims the critical case, and the
   run goes on 40 more minutes. Printed: alerts delivered, duplicates, and each
   follow-up (due at 30 min for the leads, 60 for the administrators, then a
   reminder every 30 until someone takes it) against when it was due and when
   it reached Slack. The same schedule is run with no outage and the alerts
   must match it. Targets: every alert delivered, none twice, each follow-up
   raised within one pass (30 s) of due and none after the claim.

3. Damaged files. Real data is written through the store (two reports filed
   and alerted, a third person's report in progress), the store is closed, and
   then each kind of file it writes (a report shard, the shard's deliveries
   file, a person's conversation file, the report-number counter) is damaged in a copy of the
   data directory: emptied to 0 bytes, cut in half, or one byte flipped; with
   its previous copy intact and with that damaged too. The store is reopened
   and what happened is printed: restored from the previous copy, refused with
   a message naming the file, or (a person's file only) set aside. A refusal
   is then followed as its message says (the file and its previous copy moved
   out) and the store opened again. In every case a new report is filed: its
   reference must never be one handed out before. Anything missing on reopening
   without a word logged or raised is "read as empty" and fails.

The exit status is 1 if a target is missed.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hashlib
import importlib
import itertools
import json
import logging
import multiprocessing
import random
import re
import shutil
import statistics
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from multiprocessing.connection import Connection
from pathlib import Path
from typing import TYPE_CHECKING, Any

from aiohttp import web

from bench import common
from bot.alerts.messenger import Messenger, Recipient
from bot.alerts.sender import Notifier
from bot.app import Harbour
from bot.cases import CASE_QUESTION
from bot.config import Settings
from bot.directory import Directory
from bot.models import ChoiceMade, Command, Form, PersonRef, Platform, Reply, TextMessage
from bot.reports import DomainEvent, EventKind
from bot.store import RecordKind, Store, StoreError, TinyStore
from tests.fakes.slack import SIGNING_SECRET, TEAM, FakeSlack
from tests.fakes.teams import TENANT, FakeConnector, activity

if TYPE_CHECKING:
    from multiprocessing.context import ForkServerContext, SpawnContext

    BaseContext = ForkServerContext | SpawnContext

# --------------------------------------------------------------------------- settings

FULL_KILLS = 100
QUICK_KILLS = 6
"""Kills per platform (Slack, then Teams)."""
KILL_TARGET = 100
"""Kills after delivering began (not while a child was still starting), across
both platforms, that a full run must make."""
KILL_WINDOW_S = 0.4
"""A life is killed a random 0 to this many seconds after its first pass began
(it delivers a report's alerts in ~0.05-0.1 s: kills land mid-send and between)..."""
EARLY_KILLS = 0.15
EARLY_WINDOW_S = 0.1
"""...or, for this share of lives, 0 to EARLY_WINDOW_S s after it was started:
while it forks, opens the store (and finishes what a kill interrupted) and
builds its adapter."""
LATENCY_S = 0.01
"""Each fake answers a call after a random 0 to this many seconds, before and after
handling it (so a message can have arrived while its answer is still on the way)."""
LOW_WATER = 8
BATCH = 6
"""While kills are wanted and fewer than LOW_WATER events wait, BATCH more reports are filed."""
LIFE_TIMEOUT_S = 120.0
"""How long a life that is not going to be killed may take to empty the outbox."""
MAX_PASSES = 200
"""A child gives up (and fails the run) after this many passes without an empty outbox."""
WORKERS = 8
MANAGERS = 3

PASS_S = 30
"""The simulated time between two sender passes in the outage runs."""
FULL_OUTAGES = (10, 120)
QUICK_OUTAGES = (10,)
"""Outage lengths, in minutes."""
CLAIM_AFTER_RECOVERY = timedelta(minutes=20)
CLAIM_NOT_BEFORE = timedelta(minutes=70)
AFTER_CLAIM = timedelta(minutes=40)
FILED = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)  # a Monday morning
FOLLOW_UP_EVERY = timedelta(minutes=30)
"""`EscalationTimes().critical`: the steps of a critical case nobody takes on."""

DAMAGES = ("0 bytes", "cut short", "byte flipped")

SLACK_CHANNEL = "C0SAFETY1"
TEAMS_CHANNEL = "19:leads@thread.tacv2"
BOT_TOKEN = "xoxb-bench"
REFERENCE = re.compile(r"HB-\d{4}-\d{4,}")

CRITICAL_REPORT: tuple[tuple[str, str], ...] = (
    ("danger", "no"),
    ("kinds", "1, 3"),
    ("details_exposed", "home, school"),
    ("platforms", "Facebook"),
    ("links", "skip"),
    ("evidence", "skip"),
    ("started", "this week"),
    ("frequency", "a few times"),
    ("affected", "me"),
    ("poster", "2"),
    ("worry", "4"),
    ("description", "skip"),
    ("audience", "1"),  # my manager and the safety leads
)
LOW_RISK_REPORT: tuple[tuple[str, str], ...] = (
    ("danger", "no"),
    ("kinds", "complaints"),
    *((s, "skip") for s in ("platforms", "links", "evidence", "started", "frequency")),
    *((s, "skip") for s in ("affected", "poster", "worry", "description")),
    ("audience", "1"),
)


# =========================================================================== people


@dataclass(frozen=True)
class Side:
    """One platform as the benchmark sets it up: workers, their managers, a
    safety lead, an administrator and the leads' channel."""

    name: str
    platform: Platform
    workspace: str
    user_prefix: str  # Slack user ids look like U..., Teams people are aad-...

    def person(self, user: str) -> PersonRef:
        return PersonRef(platform=self.platform, workspace=self.workspace, user=user)

    def someone(self, role: str) -> PersonRef:
        """A person by role ("w007", "m001", "lead"), as the platform names people."""
        slack = self.platform is Platform.SLACK
        return self.person(self.user_prefix + (role.upper() if slack else role))

    def worker(self, n: int) -> PersonRef:
        return self.someone(f"w{n % WORKERS:03d}")

    def manager_of(self, worker: PersonRef) -> PersonRef:
        n = int(worker.user[-3:])
        return self.someone(f"m{n % MANAGERS:03d}")

    @property
    def lead(self) -> PersonRef:
        return self.someone("lead")

    @property
    def admin(self) -> PersonRef:
        return self.someone("admin")

    def directory(self) -> Directory:
        return Directory(
            managers={
                self.worker(n).key: [self.manager_of(self.worker(n)).key] for n in range(WORKERS)
            },
            leads={self.lead.key},
            channels={"slack": SLACK_CHANNEL} if self.platform is Platform.SLACK else {},
        )

    @property
    def channel_address(self) -> str:
        """The leads' channel as the sender addresses it (its delivery keys end with this)."""
        if self.platform is Platform.SLACK:
            return SLACK_CHANNEL
        from adapters.teams.app import SAFETY_LEADS

        return SAFETY_LEADS

    @property
    def channel_conversation(self) -> str:
        """Where the fake sees the leads' channel."""
        return SLACK_CHANNEL if self.platform is Platform.SLACK else TEAMS_CHANNEL

    def conversation_of(self, person: PersonRef) -> str:
        """Where the fake sees a person's private chat with the bot."""
        if self.platform is Platform.SLACK:
            return "D" + person.user  # what the fake's conversations.open answers
        return f"a:{person.user.removeprefix('aad-')}-personal"  # tests.fakes.teams.activity

    async def messenger(self, harbour: Harbour, store: Store, url: str) -> Messenger:
        """The platform's real adapter, pointed at the fake at `url`."""
        if self.platform is Platform.SLACK:
            from adapters.slack.app import SlackAdapter
            from adapters.slack.config import SlackSettings

            settings = SlackSettings(
                bot_token=BOT_TOKEN, signing_secret=SIGNING_SECRET, api_url=url, _env_file=None
            )
            slack = SlackAdapter(harbour, settings)
            await slack.start()
            return slack
        from adapters.teams.app import TeamsAdapter
        from adapters.teams.config import load_teams_settings

        return TeamsAdapter(
            harbour, store, load_teams_settings({"HARBOUR_TEAMS_LOCAL_TRIAL": "true"})
        )

    async def remember(self, store: Store, url: str) -> None:
        """Teams: the conversation references first contact would have stored (each
        manager opened their chat with the bot; an administrator registered the
        leads' channel), pointing at the fake connector on this machine."""
        if self.platform is not Platform.TEAMS:
            return
        for n in range(MANAGERS):
            manager = self.someone(f"m{n:03d}")
            user = manager.user.removeprefix("aad-")
            await store.put_record(
                RecordKind.CONTACTS, manager.key, {"reference": teams_reference(url, user)}
            )
        channel = teams_reference(url, "admin", TEAMS_CHANNEL, "channel")
        await store.put_record(
            RecordKind.CONTACTS,
            self.channel_address,
            {
                "reference": channel,
                "channel": TEAMS_CHANNEL,
                "registered_by": self.admin.key,
                "registered_at": FILED.isoformat(),
            },
        )


SLACK = Side("Slack", Platform.SLACK, TEAM, "U")
TEAMS = Side("Teams", Platform.TEAMS, TENANT, "aad-")
SIDES = {s.name: s for s in (SLACK, TEAMS)}


def teams_reference(
    service_url: str, user: str, conversation: str | None = None, kind: str = "personal"
) -> dict[str, Any]:
    """A conversation reference as the Teams adapter stores one at first contact."""
    from microsoft_agents.activity import Activity

    seen = Activity.model_validate(
        activity(service_url, user, conversation=conversation, conversation_type=kind)
    )
    reference = seen.get_conversation_reference().model_dump(
        mode="json", by_alias=True, exclude_none=True
    )
    for volatile in ("activityId", "requestId"):
        reference.pop(volatile, None)
    return reference


def make_harbour(store: Store, side: Side, clock: Callable[[], datetime] | None = None) -> Harbour:
    settings = Settings(_env_file=None)
    harbour = Harbour(
        store,
        settings.flow_context(),
        library=settings.guidance(),
        directory=side.directory(),
        admins=frozenset({side.admin.key}),
    )
    if clock is not None:
        harbour.clock = clock
    return harbour


async def file_report(
    harbour: Harbour, who: PersonRef, tag: str, answers: Sequence[tuple[str, str]]
) -> str:
    """File a report by typing the answers, as a person would in a chat; its
    reference. Raises if the flow asks something else than expected."""
    ids = (f"{tag}-{n}" for n in itertools.count())
    replies = await harbour.handle(Command(event_id=next(ids), person=who, name="report", args=""))
    for step, text in answers:
        forms = [r for r in replies if isinstance(r, Form)]
        if not forms or forms[-1].focus != step:
            asked = (
                forms[-1].focus if forms else type(replies[-1]).__name__ if replies else "nothing"
            )
            raise RuntimeError(f"the report flow asked {asked!r} where {step!r} was expected")
        replies = await harbour.handle(TextMessage(event_id=next(ids), person=who, text=text))
    replies = await harbour.handle(TextMessage(event_id=next(ids), person=who, text="yes"))
    found = REFERENCE.findall(" ".join(str(getattr(r, "text", "")) for r in replies))
    if not found:
        raise RuntimeError("filing the report gave no reference")
    return str(found[0])


# =========================================================================== fakes


def add_latency(app: web.Application, rng: random.Random, most_s: float) -> None:
    """Answer every call after a random wait, on the way in and on the way out."""

    @web.middleware
    async def slow(request: web.Request, handler: Any) -> web.StreamResponse:
        await asyncio.sleep(rng.uniform(0, most_s))
        response: web.StreamResponse = await handler(request)
        await asyncio.sleep(rng.uniform(0, most_s))
        return response

    app.middlewares.append(slow)


@dataclass
class Outage:
    """A switch that makes a fake answer 503 to every call while it is down."""

    down: bool = False
    refused: int = 0

    def install(self, app: web.Application) -> None:
        @web.middleware
        async def gate(request: web.Request, handler: Any) -> web.StreamResponse:
            if self.down:
                self.refused += 1
                return web.json_response({"ok": False, "error": "service_unavailable"}, status=503)
            response: web.StreamResponse = await handler(request)
            return response

        app.middlewares.append(gate)


@dataclass
class Arrivals:
    """What reached a fake, folded for counting."""

    posts: Counter[str]
    """New messages, by what identifies their delivery (Slack: its key; Teams:
    "conversation|reference")."""
    edits: Counter[str]
    """Edits of a message, by "conversation|reference"."""
    other: int
    """New messages that are no expected alert's."""


def slack_arrivals(fake: FakeSlack) -> Arrivals:
    posts: Counter[str] = Counter()
    other = 0
    for post in fake.called("chat.postMessage"):
        key = ((post.get("metadata") or {}).get("event_payload") or {}).get("key")
        if key:
            posts[str(key)] += 1
        else:
            other += 1
    edits: Counter[str] = Counter()
    for update in fake.called("chat.update"):
        for ref in set(REFERENCE.findall(json.dumps(update.get("blocks") or []))):
            edits[f"{update.get('channel')}|{ref}"] += 1
    return Arrivals(posts, edits, other)


_CONVERSATION = re.compile(r"/conversations/([^/]+)/activities")


def teams_arrivals(fake: FakeConnector) -> Arrivals:
    """Activities posted into a conversation, and new conversations started with
    one (a new post in a channel); edits (PUT). A channel thread's id
    ("<channel>;messageid=<post>") counts as its channel."""
    posts: Counter[str] = Counter()
    edits: Counter[str] = Counter()
    other = 0
    for request in fake.requests:
        body = request["body"] or {}
        found = _CONVERSATION.search(request["path"])
        if found:
            where = found[1]
        elif request["method"] == "POST" and request["path"].endswith("/conversations"):
            channel = ((body.get("channelData") or {}).get("channel") or {}).get("id")
            members = [str(m.get("id", "")).removeprefix("29:") for m in body.get("members") or []]
            where = channel or (f"a:{members[0]}-personal" if len(members) == 1 else "")
            body = body.get("activity") or {}
        else:
            continue
        if not body:
            continue
        refs = set(REFERENCE.findall(json.dumps(body)))
        into = edits if request["method"] == "PUT" else posts
        for ref in refs:
            into[f"{where.split(';')[0]}|{ref}"] += 1
        if into is posts and not refs:
            other += 1
    return Arrivals(posts, edits, other)


# =========================================================================== 1. kills


@dataclass(frozen=True)
class Expected:
    """One alert a report should cause, and how to recognise it at the fake."""

    key: str
    """The sender's idempotency key for it: "<event id>:<platform>:<address>"."""
    reference: str
    to: str
    conversation: str
    edit: bool

    def arrived(self, side: Side, seen: Arrivals) -> int:
        where = f"{self.conversation}|{self.reference}"
        if self.edit:
            return seen.edits[where]
        return seen.posts[self.key if side.platform is Platform.SLACK else where]


def expectations(side: Side, events: Sequence[DomainEvent]) -> tuple[list[Expected], list[str]]:
    """What each event should deliver, and the kinds of any event not understood."""
    found: list[Expected] = []
    unknown: list[str] = []
    p = side.platform.value
    channel = side.channel_conversation
    for event in events:
        ref = event.reference or ""
        if event.kind is EventKind.REPORT_FILED and ref:
            manager = side.manager_of(event.reporter)
            found += [
                Expected(
                    f"{event.id}:{p}:{manager.key}",
                    ref,
                    "manager",
                    side.conversation_of(manager),
                    False,
                ),
                Expected(f"{event.id}:{p}:{side.channel_address}", ref, "leads", channel, False),
            ]
        elif event.kind is EventKind.RISK_CRITICAL and ref:
            # The card posted for the filing is edited to say "critical".
            found.append(
                Expected(f"{event.id}:{p}:{side.channel_address}", ref, "leads", channel, True)
            )
        else:
            unknown.append(event.kind.value)
    return found, unknown


LANDINGS = (
    "while starting",
    "with an alert's intent recorded, the alert not yet out",
    "with an alert out, not yet recorded as sent",
    "elsewhere in a pass (between sends, writing records, marking delivered)",
)
"""Where a kill can land, as seen on reopening: before the child's first pass;
with a delivery recorded as "sending" whose message had not reached the fake,
or had; or anywhere else (between sends, writing a record, marking delivered)."""


@dataclass
class KillRun:
    side: str
    kills: int
    lives: int
    finished: int
    """Lives that emptied the outbox before their kill was due."""
    reports: int
    expected: int
    edits: int
    lost: int
    lost_edits: int
    duplicates: int
    duplicated: int
    """Alerts that arrived more than once."""
    other: int
    unknown: list[str]
    landed: dict[str, int]
    torn_writes: int
    """Kills that left an atomic write's temporary file behind."""
    found_again: int
    """Slack: sends the sender did not repeat because it read the message back."""
    sent_again: int
    """Teams: sends repeated because the platform could not say."""
    repairs: int
    """Files the store found damaged on reopening after a kill."""
    errors: list[str]
    startup_ms: float
    """Median time from starting a child to its first pass."""
    seconds: float

    @property
    def during(self) -> int:
        """Kills after the child began delivering."""
        return self.kills - self.landed[LANDINGS[0]]


@dataclass
class Life:
    up: bool = False
    done: bool = False
    killed: bool = False


def life(side_name: str, data_dir: str, url: str, log_path: str, writer: Connection) -> None:
    """A child process's life: deliver the outbox until it is empty (or killed)."""
    logging.basicConfig(
        filename=log_path,
        level=logging.INFO,
        format="%(process)d %(levelname)s %(name)s: %(message)s",
        force=True,
    )
    logging.getLogger("microsoft_agents").setLevel(logging.WARNING)  # a line per activity
    try:
        asyncio.run(_deliver(SIDES[side_name], Path(data_dir), url, writer))
    except BaseException:
        logging.getLogger("bench").exception("a life failed")
        raise


async def _deliver(side: Side, data_dir: Path, url: str, writer: Connection) -> None:
    store = TinyStore(data_dir)
    harbour = make_harbour(store, side)
    messenger = await side.messenger(harbour, store, url)
    notifier = Notifier(harbour, {side.platform: messenger})
    writer.send("up")
    for _ in range(MAX_PASSES):
        if not await store.pending_events():
            break
        await notifier.run_once()
    else:
        raise RuntimeError(f"the outbox was not empty after {MAX_PASSES} passes")
    close = getattr(messenger, "close", None)
    if close is not None:
        await close()
    await store.close()
    writer.send("done")


def forkserver() -> BaseContext:
    """Children forked from a server that has Harbour and both adapters imported."""
    if "forkserver" not in multiprocessing.get_all_start_methods():
        return multiprocessing.get_context("spawn")
    ctx = multiprocessing.get_context("forkserver")
    # Not this module itself: a child runs it afresh as the main module (as
    # `python -m` started it), and would warn that it was imported already.
    ctx.set_forkserver_preload(
        [
            "bot.alerts.sender",
            "bot.store",
            "adapters.slack.app",
            "adapters.teams.app",
            "tests.fakes.teams",
        ]
    )
    return ctx


async def receive(reader: Connection, within: float) -> str | None:
    """The child's next word, "eof" if it is gone, None if it said nothing in time."""
    if within <= 0 or not await asyncio.to_thread(reader.poll, within):
        return None
    try:
        return str(reader.recv())
    except (EOFError, OSError):
        return "eof"


@contextlib.contextmanager
def kept_warnings(logger: str = "bot.store") -> Iterator[list[str]]:
    """What `logger` (the store's, by default) logs at WARNING and above
    meanwhile: kept, and not printed."""
    found: list[str] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            found.append(record.getMessage())

    log = logging.getLogger(logger)
    handler = Keep(logging.WARNING)
    log.addHandler(handler)
    propagate, log.propagate = log.propagate, False
    try:
        yield found
    finally:
        log.removeHandler(handler)
        log.propagate = propagate


def leftovers(data_dir: Path) -> set[tuple[str, int]]:
    """Temporary files of atomic writes a kill interrupted, each as (path, inode)."""
    if not data_dir.exists():
        return set()
    return {(str(p), p.stat().st_ino) for p in data_dir.rglob(".*.tmp")}


class _Kills:
    """One platform's kill run: the fake, the data directory, and the books kept
    between lives."""

    def __init__(
        self, side: Side, wanted: int, workdir: Path, ctx: BaseContext, rng: random.Random
    ) -> None:
        self.side = side
        self.wanted = wanted
        self.ctx = ctx
        self.rng = rng
        self.data_dir = workdir / side.name.lower()
        self.log_path = workdir / f"{side.name.lower()}-lives.log"
        self.slack: FakeSlack | None = None
        self.teams: FakeConnector | None = None
        fake: common.Fake
        if side.platform is Platform.SLACK:
            fake = self.slack = FakeSlack()
        else:
            fake = self.teams = FakeConnector()
        self.fake = fake
        add_latency(fake.server.app, rng, LATENCY_S)
        self.url = ""
        self.expected: dict[str, Expected] = {}
        self.unknown: list[str] = []
        self.landed = dict.fromkeys(LANDINGS, 0)
        self.startups: list[float] = []
        self.sending: set[tuple[str, str]] = set()
        self.repairs: list[str] = []
        self.errors: list[str] = []
        self.torn = self.kills = self.lives = self.finished = self.reports = 0
        self.torn_seen: set[tuple[str, int]] = set()

    def arrivals(self) -> Arrivals:
        if self.slack is not None:
            return slack_arrivals(self.slack)
        assert self.teams is not None
        return teams_arrivals(self.teams)

    async def between_lives(self, last: Life | None) -> bool:
        """Open the store as the next process would: see where the last kill
        landed, file more reports if kills are still wanted; whether there is
        anything left to deliver."""
        torn = leftovers(self.data_dir)
        self.torn += len(torn - self.torn_seen)  # one left from before is not a new one
        self.torn_seen = torn
        with kept_warnings() as warned:
            store = TinyStore(self.data_dir)
            try:
                if self.reports == 0:
                    await self.side.remember(store, self.url)
                pending = await store.pending_events()
                records = await store.records(RecordKind.DELIVERIES)
                if self.kills < self.wanted and len(pending) < LOW_WATER:
                    await self.file_more(store, {e.id for e in pending})
                    pending = await store.pending_events()
            finally:
                await store.close()
        self.repairs += warned
        sending = {
            (key, str(r.get("at"))) for key, r in records.items() if r.get("status") == "sending"
        }
        if last is not None and last.killed:
            where = _landing(
                last, sending - self.sending, self.expected, self.side, self.arrivals()
            )
            self.landed[where] += 1
        self.sending = sending
        return bool(pending)

    async def file_more(self, store: Store, known: set[str]) -> None:
        harbour = make_harbour(store, self.side)
        for n in range(self.reports, self.reports + BATCH):
            await file_report(harbour, self.side.worker(n), f"r{n}", CRITICAL_REPORT)
        self.reports += BATCH
        new = [e for e in await store.pending_events() if e.id not in known]
        found, odd = expectations(self.side, new)
        self.expected.update((e.key, e) for e in found)
        self.unknown += odd

    async def live(self) -> Life:
        """Start a child that delivers the outbox; kill it at random while kills
        are wanted, else let it finish."""
        last = Life()
        self.lives += 1
        reader, writer = self.ctx.Pipe(duplex=False)
        process = self.ctx.Process(
            target=importlib.import_module("bench.delivery_faults").life,
            args=(self.side.name, str(self.data_dir), self.url, str(self.log_path), writer),
            daemon=True,
        )
        started = time.perf_counter()
        process.start()
        writer.close()
        to_kill = self.kills < self.wanted
        give_up = started + LIFE_TIMEOUT_S
        early = to_kill and self.rng.random() < EARLY_KILLS
        kill_at = started + self.rng.uniform(0, EARLY_WINDOW_S) if early else None
        while not last.done:
            word = await receive(reader, (kill_at or give_up) - time.perf_counter())
            if word is None or word == "eof":
                break
            if word == "up":
                last.up = True
                self.startups.append(time.perf_counter() - started)
                if to_kill and kill_at is None:
                    kill_at = time.perf_counter() + self.rng.uniform(0, KILL_WINDOW_S)
            last.done |= word == "done"
        if not last.done and process.is_alive() and to_kill:
            process.kill()
            last.killed = True
            self.kills += 1
        await asyncio.to_thread(process.join, 30)
        reader.close()
        self.finished += last.done
        if not last.done and not last.killed:
            if process.is_alive():
                process.kill()
            raise RuntimeError(
                f"a {self.side.name} delivery process stopped without emptying the outbox "
                f"(exit code {process.exitcode}); its log:\n{_tail(self.log_path)}"
            )
        return last

    def result(self, seconds: float) -> KillRun:
        seen = self.arrivals()
        counted = [(e, e.arrived(self.side, seen)) for e in self.expected.values()]
        posts = [(e, n) for e, n in counted if not e.edit]
        edits = [(e, n) for e, n in counted if e.edit]
        slack = self.side.platform is Platform.SLACK
        matched = {e.key if slack else f"{e.conversation}|{e.reference}" for e, _ in posts}
        logged = self.log_path.read_text(errors="replace") if self.log_path.exists() else ""
        errors = [line for line in logged.splitlines() if " ERROR " in line or "Traceback" in line]
        return KillRun(
            side=self.side.name,
            kills=self.kills,
            lives=self.lives,
            finished=self.finished,
            reports=self.reports,
            expected=len(posts),
            edits=len(edits),
            lost=sum(1 for _, n in posts if n == 0),
            lost_edits=sum(1 for _, n in edits if n == 0),
            duplicates=sum(max(0, n - 1) for _, n in posts),
            duplicated=sum(1 for _, n in posts if n > 1),
            other=seen.other + sum(n for k, n in seen.posts.items() if k not in matched),
            unknown=self.unknown,
            landed=self.landed,
            torn_writes=self.torn,
            found_again=logged.count("was found: not sent again"),
            sent_again=logged.count("so it is sent again"),
            repairs=len(self.repairs),
            errors=self.errors + errors,
            startup_ms=statistics.median(self.startups) * 1e3 if self.startups else 0.0,
            seconds=seconds,
        )


async def kill_run(
    side: Side,
    kills_wanted: int,
    workdir: Path,
    ctx: BaseContext,
    rng: random.Random,
    progress: Callable[[str], None],
) -> KillRun:
    """Kill a delivering child again and again until `kills_wanted`, then let
    lives run until the outbox is empty; count what reached the fake."""
    t0 = time.perf_counter()
    run = _Kills(side, kills_wanted, workdir, ctx, rng)
    run.url = await run.fake.start()
    try:
        last: Life | None = None
        while True:
            try:
                more = await run.between_lives(last)
            except StoreError as exc:
                run.errors.append(f"the store would not open after a kill: {exc}")
                break
            if not more and run.kills >= kills_wanted:
                break
            last = await run.live()
            if last.killed and (run.kills % 20 == 0 or run.kills == kills_wanted):
                progress(f"  {side.name}: {run.kills} kills, {run.reports} reports filed")
        return run.result(time.perf_counter() - t0)
    finally:
        await run.fake.close()


def _landing(
    last: Life,
    interrupted: set[tuple[str, str]],
    expected: dict[str, Expected],
    side: Side,
    seen: Arrivals,
) -> str:
    if not last.up:
        return LANDINGS[0]
    if not interrupted:
        return LANDINGS[3]
    arrived = any(
        (e := expected.get(key)) is not None and e.arrived(side, seen) > 0 for key, _ in interrupted
    )
    return LANDINGS[2] if arrived else LANDINGS[1]


def _tail(path: Path, lines: int = 30) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


# =========================================================================== 2. outages


class SimClock:
    def __init__(self, start: datetime) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now


ONE_PASS = timedelta(seconds=PASS_S)


@dataclass(frozen=True)
class FollowUpSeen:
    step: str
    due: timedelta
    raised: timedelta
    """When it was raised (recorded on the case), from filing."""
    reached: timedelta | None
    """When its first alert reached Slack, from filing (None: never)."""

    @property
    def on_time(self) -> bool:
        return self.due <= self.raised <= self.due + ONE_PASS


@dataclass
class OutageRun:
    minutes: int
    delivered: int
    """Deliveries the sender recorded as sent (new messages and edits)."""
    posts: int
    """Alert messages that reached Slack (each carries its delivery key)."""
    edits: int
    duplicates: int
    undelivered: list[str]
    """Pending events and deliveries not recorded as sent, at the end."""
    follow_ups: list[FollowUpSeen]
    expected_steps: list[str]
    after_claim: int
    """Follow-ups raised after a safety lead claimed the case (must be none)."""
    notices: int
    """Messages without a delivery key: people told an alert is held up, and when it got through."""
    refused: int
    """Calls the fake Slack refused while it was down."""
    warnings: list[str]
    """What Harbour logged at WARNING and above."""
    caught_up: timedelta | None
    """After the outage ended, when the last alert raised during it reached Slack."""
    filing_alerts: dict[str, timedelta | None]
    """When each report's first alert reached Slack, from filing."""
    signature: Counter[str]
    seconds: float
    missing: list[str] = field(default_factory=list)
    """Alerts the same schedule with no outage delivered and this run did not."""
    extra: list[str] = field(default_factory=list)
    """Alerts this run delivered and the same schedule with no outage did not."""
    calm: int = 0
    """Alerts the same schedule with no outage delivered."""

    @property
    def lost(self) -> list[str]:
        return self.undelivered + self.missing

    @property
    def follow_ups_ok(self) -> bool:
        return (
            [f.step for f in self.follow_ups] == self.expected_steps
            and all(f.on_time and f.reached is not None for f in self.follow_ups)
            and self.after_claim == 0
        )


def expected_steps(claim_at: timedelta) -> list[str]:
    """The follow-ups of a critical case claimed at `claim_at` after filing."""
    due = int((claim_at - timedelta(seconds=1)) / FOLLOW_UP_EVERY)
    return ["leads", "admins", *["reminder"] * (due - 2)][:due]


def _key_of(post: dict[str, Any]) -> str | None:
    key = ((post.get("metadata") or {}).get("event_payload") or {}).get("key")
    return str(key) if key else None


async def _schedule(
    harbour: Harbour,
    notifier: Notifier,
    outage: Outage,
    clock: SimClock,
    ended: timedelta,
    claim_at: timedelta,
    events: dict[str, DomainEvent],
) -> tuple[str, str]:
    """File the two reports as the outage starts, run a pass every 30 s, end the
    outage, have a lead claim the critical case; their references (critical,
    low risk). Every event raised is kept in `events`."""
    side = SLACK
    outage.down = ended > timedelta(0)
    critical = await file_report(harbour, side.worker(0), "critical", CRITICAL_REPORT)
    low = await file_report(harbour, side.worker(1), "low", LOW_RISK_REPORT)
    claimed = False
    while clock() - FILED <= claim_at + AFTER_CLAIM:
        elapsed = clock() - FILED
        if outage.down and elapsed >= ended:
            outage.down = False
        if not claimed and elapsed >= claim_at:
            await harbour.handle(
                ChoiceMade(
                    event_id="lead-claims",
                    person=side.lead,
                    question=f"{CASE_QUESTION}{critical}",
                    values=("claim",),
                    token=critical,
                )
            )
            claimed = True
        # What the pass does first, done here so that the follow-ups it raises
        # are seen before they are delivered (and leave the outbox).
        await notifier.follow_ups()
        for event in await harbour.store.pending_events():
            events.setdefault(event.id, event)
        await notifier.run_once()
        clock.now += ONE_PASS
    return critical, low


async def outage_run(minutes: int, claim_at: timedelta, workdir: Path, name: str) -> OutageRun:
    """One outage of `minutes` (0: none) from the moment of filing, on a simulated
    clock, in this process; a safety lead claims the critical case at `claim_at`."""
    from slack_sdk.http_retry.builtin_interval_calculators import (
        FixedValueRetryIntervalCalculator,
    )

    t0 = time.perf_counter()
    clock = SimClock(FILED)
    fake = FakeSlack()
    fake.clock = lambda: clock().timestamp()  # a post's ts is the simulated time
    outage = Outage()
    outage.install(fake.server.app)
    url = await fake.start()
    store = TinyStore(workdir / name)
    side = SLACK
    harbour = make_harbour(store, side, clock)
    messenger = await side.messenger(harbour, store, url)
    for handler in getattr(getattr(messenger, "client", None), "retry_handlers", None) or []:
        handler.interval_calculator = FixedValueRetryIntervalCalculator(0.0)
    notifier = Notifier(harbour, {side.platform: messenger})
    events: dict[str, DomainEvent] = {}
    ended = timedelta(minutes=minutes)
    logs: list[list[str]] = []
    try:
        with contextlib.ExitStack() as quiet:
            for logger in ("bot", "adapters", "slack_sdk"):
                logs.append(quiet.enter_context(kept_warnings(logger)))
            critical, low = await _schedule(
                harbour, notifier, outage, clock, ended, claim_at, events
            )
        pending = await store.pending_events()
        records = await store.records(RecordKind.DELIVERIES)
        report = await store.get_report(critical)
    finally:
        close = getattr(messenger, "close", None)
        if close is not None:
            await close()
        await store.close()
        await fake.close()
    if report is None:
        raise RuntimeError(f"{critical} is not in the store")

    posts = fake.called("chat.postMessage")
    keyed = Counter(k for p in posts if (k := _key_of(p)))
    arrived: dict[str, list[timedelta]] = {}  # event id -> when its alerts reached Slack
    for p in posts:
        if key := _key_of(p):
            at = datetime.fromtimestamp(float(p["_ts"]), UTC) - FILED
            arrived.setdefault(key.split(":", 1)[0], []).append(at)
    alerts = {k: r for k, r in records.items() if k.count(":") >= 2}  # not the danger receipts
    sent = {k: r for k, r in alerts.items() if r.get("status") == "sent"}
    undelivered = [f"still in the outbox: {e.kind.value} {e.reference or ''}" for e in pending]
    undelivered += [
        f"{_describe(k, events)}: {r.get('status')}"
        for k, r in alerts.items()
        if r.get("status") != "sent"
    ]
    steps = [(e.at, str(e.detail)) for e in report.timeline if e.action == "follow-up"]
    raised = sorted(
        (e for e in events.values() if e.kind is EventKind.FOLLOW_UP and e.reference == critical),
        key=lambda e: e.at,
    )
    follow_ups = [
        FollowUpSeen(
            step=step,
            due=FOLLOW_UP_EVERY * (n + 1),
            raised=at - FILED,
            reached=min(arrived.get(raised[n].id, []), default=None) if n < len(raised) else None,
        )
        for n, (at, step) in enumerate(steps)
    ]
    claim_time = next((e.at for e in report.timeline if e.action == "claimed"), None)
    filed = {
        what: min(arrived.get(e.id, []), default=None)
        for what, ref in (("critical", critical), ("low-risk", low))
        for e in events.values()
        if e.kind is EventKind.REPORT_FILED and e.reference == ref
    }
    held = [
        at
        for event_id, ats in arrived.items()
        if (e := events.get(event_id)) is not None and e.at - FILED < ended
        for at in ats
    ]
    return OutageRun(
        minutes=minutes,
        delivered=len(sent),
        posts=sum(keyed.values()),
        edits=len(fake.called("chat.update")),
        duplicates=sum(n - 1 for n in keyed.values()),
        undelivered=undelivered,
        follow_ups=follow_ups,
        expected_steps=expected_steps(claim_at),
        after_claim=sum(1 for at, _ in steps if claim_time is not None and at > claim_time),
        notices=sum(1 for p in posts if not _key_of(p)),
        warnings=[w for found in logs for w in found],
        refused=outage.refused,
        caught_up=(max(held) - ended) if minutes and held else None,
        filing_alerts=filed,
        signature=_signature(sent, events),
        seconds=time.perf_counter() - t0,
    )


def _describe(key: str, events: dict[str, DomainEvent]) -> str:
    event_id, _, to = key.partition(":")
    event = events.get(event_id)
    what = f"{event.kind.value} {event.reference or ''}" if event else event_id
    return f"{what} to {to}"


def _signature(sent: dict[str, Any], events: dict[str, DomainEvent]) -> Counter[str]:
    """The alerts delivered, named by what they were about rather than by ids,
    so two runs can be compared."""
    named: Counter[str] = Counter()
    for key in sent:
        event_id, _, to = key.partition(":")
        event = events.get(event_id)
        step = event.follow_up.value if event and event.follow_up else ""
        what = f"{event.kind.value}{'/' + step if step else ''} {event.reference}" if event else "?"
        named[f"{what} -> {to}"] += 1
    return named


async def outages(lengths: Sequence[int], workdir: Path) -> list[OutageRun]:
    """Each outage, and the same schedule with none to compare with."""
    runs = []
    for minutes in lengths:
        claim_at = max(timedelta(minutes=minutes) + CLAIM_AFTER_RECOVERY, CLAIM_NOT_BEFORE)
        calm = await outage_run(0, claim_at, workdir, f"outage-{minutes}-none")
        run = await outage_run(minutes, claim_at, workdir, f"outage-{minutes}")
        run.missing = sorted((calm.signature - run.signature).elements())
        run.extra = sorted((run.signature - calm.signature).elements())
        run.calm = sum(calm.signature.values())
        runs.append(run)
    return runs


# =========================================================================== 3. damaged files


class Recorder:
    """A messenger that only counts (the damage check needs delivery records, not a platform)."""

    can_check_sent = False

    def __init__(self) -> None:
        self.sent = 0

    async def send(self, to: Recipient, replies: Sequence[Reply], *, key: str) -> str:
        self.sent += 1
        return f"m{self.sent}"

    async def find_sent(self, to: Recipient, key: str, since: datetime) -> str | None:
        raise NotImplementedError

    async def update(self, to: Recipient, message: str, replies: Sequence[Reply]) -> None:
        return None

    def leads_channel(self, directory: Directory) -> str | None:
        return directory.channels.get("slack")


RECORD_KINDS = (
    RecordKind.DELIVERIES,
    RecordKind.CHANNEL_MESSAGES,
    RecordKind.CONTACTS,
    RecordKind.PEOPLE,
)


@dataclass(frozen=True)
class State:
    """What a reopened store shows, to compare with what was written."""

    reports: dict[str, int]  # reference -> version
    records: dict[RecordKind, int]  # kind -> how many
    sent: int  # deliveries recorded as sent
    draft: str | None  # the person's conversation in progress, as JSON
    pending: int  # events in the outbox

    def missing(self, before: State) -> list[str]:
        """What `before` held that this does not, in words."""
        lost = [f"{ref} gone" for ref in before.reports if ref not in self.reports]
        lost += [
            f"{ref} back at version {self.reports[ref]} of {v}"
            for ref, v in before.reports.items()
            if ref in self.reports and self.reports[ref] < v
        ]
        lost += [
            f"{before.records[k] - self.records.get(k, 0)} of {before.records[k]} {k} records gone"
            for k in before.records
            if self.records.get(k, 0) < before.records[k]
        ]
        if self.sent < before.sent:
            lost.append(f"{before.sent - self.sent} delivery(ies) no longer recorded as sent")
        if before.draft is not None and self.draft is None:
            lost.append("the report in progress gone")
        elif before.draft is not None and self.draft != before.draft:
            lost.append("the report in progress back one step")
        if self.pending > before.pending:
            lost.append(
                f"{self.pending - before.pending} delivered event(s) back in the outbox "
                "(their alerts are recorded as sent: not sent again)"
            )
        return lost


async def state_of(store: Store, refs: Sequence[str], drafter: PersonRef) -> State:
    reports = {}
    for ref in refs:
        report = await store.get_report(ref)
        if report is not None:
            reports[ref] = report.version
    records = {k: len(await store.records(k)) for k in RECORD_KINDS}
    sent = sum(
        1
        for r in (await store.records(RecordKind.DELIVERIES)).values()
        if r.get("status") == "sent"
    )
    session = await store.load_session(drafter)
    draft = session.model_dump_json() if session is not None and not session.is_empty else None
    return State(reports, records, sent, draft, len(await store.pending_events()))


@dataclass
class Base:
    directory: Path
    refs: list[str]
    drafter: PersonRef
    state: State
    files: dict[str, Path]
    """Each kind of file the store writes -> one of them, relative to the data directory."""


async def damage_base(directory: Path) -> Base:
    """Real data, written through the store: two reports filed and alerted (so
    the shard, the counter and the shard's deliveries file have each been written more than
    once), and a third person part-way through a report of her own."""
    from bot.store import tiny

    clock = SimClock(FILED)
    store = TinyStore(directory)
    harbour = make_harbour(store, SLACK, clock)
    refs = [await file_report(harbour, SLACK.worker(n), f"b{n}", CRITICAL_REPORT) for n in (0, 1)]
    await Notifier(harbour, {Platform.SLACK: Recorder()}).run_once()
    drafter = SLACK.worker(2)
    await harbour.handle(Command(event_id="d-0", person=drafter, name="report", args=""))
    for n, (_, text) in enumerate(CRITICAL_REPORT[:3], 1):
        await harbour.handle(TextMessage(event_id=f"d-{n}", person=drafter, text=text))
    state = await state_of(store, refs, drafter)
    await store.close()
    digest = hashlib.sha256(drafter.key.encode()).hexdigest()[:32] + ".json"
    conversation = directory / "conversations" / digest
    if not conversation.exists():  # named otherwise now: the newest one is hers
        found = sorted(
            (directory / "conversations").glob("*.json"), key=lambda p: p.stat().st_mtime
        )
        conversation = found[-1] if found else conversation
    files = {
        "report shard": directory / "reports" / f"{FILED.year}-0000.json",
        "deliveries file": directory / "deliveries" / f"{FILED.year}-0000.json",
        "conversation": conversation,
        "report counter": directory / getattr(tiny, "COUNTER", "report-numbers"),
    }
    return Base(
        directory, refs, drafter, state, {k: p.relative_to(directory) for k, p in files.items()}
    )


def damage(raw: bytes, how: str) -> tuple[bytes, str]:
    """`raw` emptied, cut in half, or with one byte flipped so that the JSON still
    parses (a letter's case, else a digit): only a checksum can tell. Also says
    what was done."""
    if how == "0 bytes":
        return b"", f"{len(raw)} bytes -> 0"
    if how == "cut short":
        return raw[: len(raw) // 2], f"{len(raw)} bytes -> {len(raw) // 2}"
    start = raw.index(b"\n") + 1 if raw[:1] in (b" ", b"\t") and b"\n" in raw else 0
    middle = start + (len(raw) - start) // 2
    order = [*range(middle, len(raw)), *range(start, middle)]
    for wanted, mask in ((bytes(range(0x61, 0x7B)), 0x20), (b"0123456789", 0x01)):
        for i in order:
            if raw[i] in wanted:
                flipped = raw[i] ^ mask
                said = f"{chr(raw[i])!r} -> {chr(flipped)!r} at byte {i} of {len(raw)}"
                return raw[:i] + bytes([flipped]) + raw[i + 1 :], said
    flipped = raw[middle] ^ 0xFF
    return raw[:middle] + bytes([flipped]) + raw[middle + 1 :], f"byte {middle} of {len(raw)}"


SAFE_OUTCOMES = ("restored from its previous copy", "refused, naming the file", "set aside")


@dataclass
class DamageCase:
    kind: str
    name: str
    damage: str
    previous: str
    outcome: str
    lost: list[str]
    """What the reopened store no longer holds, with the file named in a warning or error."""
    silent: list[str]
    """What it no longer holds without a word."""
    new_reference: str | None
    reused: bool
    note: str = ""
    detail: str = ""
    """What exactly was done to the file."""

    @property
    def passed(self) -> bool:
        safe = self.outcome.startswith(SAFE_OUTCOMES)
        if self.outcome.startswith("set aside") and self.kind != "conversation":
            safe = False  # only one person's file may be set aside with no copy put back
        return safe and not self.silent and not self.reused and self.new_reference is not None


async def damage_case(
    base: Base, kind: str, how: str, previous: str, workdir: Path
) -> DamageCase | None:
    from bot.store import tiny

    place = workdir / "-".join(w.replace(" ", "-").replace(".", "-") for w in (kind, how, previous))
    shutil.copytree(base.directory, place)
    try:
        return await _damage_case(base, kind, how, previous, place, tiny.__dict__)
    finally:
        shutil.rmtree(place, ignore_errors=True)
        shutil.rmtree(place.with_name(place.name + "-aside"), ignore_errors=True)


async def _damage_case(
    base: Base, kind: str, how: str, previous: str, place: Path, tiny: dict[str, Any]
) -> DamageCase | None:
    rel = base.files[kind]
    path = place / rel
    copy = place / tiny.get("PREVIOUS", "previous") / f"{rel}.prev"
    case = DamageCase(kind, str(rel), how, previous, "", [], [], None, False)
    if not path.exists():
        case.outcome = "the store wrote no such file"
        return case
    kept = copy.read_bytes() if copy.exists() else None
    if kept is None:
        if previous != "intact":
            return None  # the same case as with it "intact"
        case.previous = "none kept"
    damaged_bytes, case.detail = damage(path.read_bytes(), how)
    path.write_bytes(damaged_bytes)
    if previous == "damaged too" and kept is not None:
        copy.write_bytes(damage(kept, how)[0])
    store: TinyStore | None = None
    with kept_warnings() as warned:
        try:
            store = TinyStore(place)
        except Exception as exc:  # what the person running Harbour would see
            said = f"{type(exc).__name__}: {exc}"
            named = rel.name in said
            case.outcome = (
                "refused, naming the file"
                if named and isinstance(exc, StoreError)
                else f"refused without naming the file ({said[:100]})"
                if isinstance(exc, StoreError)
                else f"crashed ({said[:100]})"
            )
    words = " ".join(warned)
    if store is not None:
        damaged = place / "damaged"
        set_aside = damaged.exists() and any(damaged.iterdir())
        if not (rel.name in words or str(rel) in words):
            case.outcome = "opened as if nothing had happened"
        elif kept is not None and path.exists() and path.read_bytes() == kept:
            case.outcome = "restored from its previous copy"
        elif set_aside:
            case.outcome = "set aside" + (
                ": that person starts afresh" if kind == "conversation" else ""
            )
        else:
            case.outcome = f"opened, with a warning ({words[:100]})"
        missing = (await state_of(store, base.refs, base.drafter)).missing(base.state)
        told = getattr(store, "conversation_damaged", None)
        if kind == "conversation" and told is not None and await told(base.drafter):
            case.note = "she will be told an answer may be missing"
        if case.outcome == "opened as if nothing had happened":
            case.silent = missing
        else:
            case.lost = missing
    else:
        # As the refusal says: move the file (and its previous copy) out, and go on.
        aside = place.with_name(place.name + "-aside")
        aside.mkdir()
        for found in (path, copy):
            if found.exists():
                shutil.move(str(found), aside / f"{found.name}")
        try:
            store = TinyStore(place)
            case.note = "opened again once the file was moved out"
            case.lost = (await state_of(store, base.refs, base.drafter)).missing(base.state)
        except Exception as exc:
            case.note = (
                f"still refused once it was moved out: {type(exc).__name__}: {str(exc)[:100]}"
            )
            return case
    try:
        harbour = make_harbour(store, SLACK, SimClock(FILED + timedelta(hours=1)))
        case.new_reference = await file_report(harbour, SLACK.worker(5), "after", CRITICAL_REPORT)
        case.reused = case.new_reference in base.refs
    except Exception as exc:
        case.note += f"; filing a new report failed: {type(exc).__name__}: {str(exc)[:100]}"
    finally:
        await store.close()
    return case


async def damaged_files(damages: Sequence[str], workdir: Path) -> tuple[list[DamageCase], str]:
    """Every kind of file x every damage x (previous copy intact, damaged too).
    Also returns an error that stopped the check, if any."""
    try:
        base = await damage_base(workdir / "written")
    except Exception as exc:
        return [], f"writing the data failed: {type(exc).__name__}: {exc}"
    cases = []
    for kind in base.files:
        for how in damages:
            for previous in ("intact", "damaged too"):
                case = await damage_case(base, kind, how, previous, workdir)
                if case is not None:
                    cases.append(case)
    return cases, ""


# =========================================================================== all of it


@dataclass
class Result(common.Checked):
    quick: bool
    kills: list[KillRun]
    kill_target: int
    outages: list[OutageRun]
    damage: list[DamageCase]
    damage_error: str
    seconds: dict[str, float]

    def run(self, side: str) -> KillRun | None:
        return next((k for k in self.kills if k.side == side), None)

    def checks(self) -> list[tuple[bool, str]]:
        total = sum(k.kills for k in self.kills)
        during = sum(k.during for k in self.kills)
        out: list[tuple[bool, str]] = [
            (
                (total if self.quick else during) >= self.kill_target,
                f"at least {self.kill_target} kill -9s "
                + ("in all" if self.quick else "after delivering began")
                + f" ({during} of {total} after delivering began)",
            )
        ]
        for k in self.kills:
            lost = k.lost + k.lost_edits
            out.append(
                (
                    lost == 0 and not k.unknown and not k.errors,
                    f"{k.side}: 0 alerts lost after {k.kills} kills ({lost} of "
                    f"{k.expected + k.edits} lost)",
                )
            )
        slack = self.run("Slack")
        if slack is not None:
            out.append(
                (
                    slack.duplicates == 0,
                    f"Slack: 0 duplicates, read back after a restart ({slack.duplicates})",
                )
            )
        for o in self.outages:
            name = _outage_name(o.minutes)
            out.append(
                (
                    not o.lost and o.duplicates == 0,
                    f"{name} outage: every alert delivered once ({len(o.lost)} lost, "
                    f"{o.duplicates} duplicates)",
                )
            )
            out.append(
                (
                    o.follow_ups_ok,
                    f"{name} outage: {len(o.follow_ups)} follow-ups each raised within one pass "
                    "of due, and none after the claim",
                )
            )
        if self.damage_error:
            out.append((False, f"damaged files: {self.damage_error}"))
        for kind in dict.fromkeys(c.kind for c in self.damage):
            cases = [c for c in self.damage if c.kind == kind]
            bad = [c for c in cases if not c.passed]
            out.append(
                (
                    not bad,
                    f"damaged {kind}: every damage noticed, no reference reused, nothing read "
                    f"as empty ({len(cases) - len(bad)} of {len(cases)} cases)",
                )
            )
        return out


def _outage_name(minutes: int) -> str:
    return f"{minutes // 60}-hour" if minutes % 60 == 0 else f"{minutes}-minute"


def _clock(d: timedelta | None) -> str:
    if d is None:
        return "never"
    seconds = int(d.total_seconds())
    return f"+{seconds // 3600}:{seconds % 3600 // 60:02d}:{seconds % 60:02d}"


async def measure(
    *,
    quick: bool = False,
    kills: int | None = None,
    outage_minutes: Sequence[int] | None = None,
    damages: Sequence[str] | None = None,
    seed: int = 1,
    progress: Callable[[str], None] = lambda _: None,
) -> Result:
    per_side = kills if kills is not None else QUICK_KILLS if quick else FULL_KILLS
    lengths = (
        outage_minutes if outage_minutes is not None else QUICK_OUTAGES if quick else FULL_OUTAGES
    )
    rng = random.Random(seed)
    seconds: dict[str, float] = {}
    with tempfile.TemporaryDirectory(prefix="harbour-faults-") as tmp:
        workdir = Path(tmp)
        t0 = time.perf_counter()
        ctx = forkserver()
        runs = []
        for side in (SLACK, TEAMS):
            progress(f"kills through the {side.name} fake...")
            runs.append(await kill_run(side, per_side, workdir, ctx, rng, progress))
        seconds["kills"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        progress("outages on a simulated clock...")
        outage_runs = await outages(lengths, workdir)
        seconds["outages"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        progress("damaged files...")
        cases, error = await damaged_files(damages or DAMAGES, workdir)
        seconds["damaged files"] = time.perf_counter() - t0
    return Result(
        quick=quick,
        kills=runs,
        kill_target=2 * per_side if quick else KILL_TARGET,
        outages=outage_runs,
        damage=cases,
        damage_error=error,
        seconds=seconds,
    )


def format_result(result: Result) -> str:
    lines = [
        "1. kill -9 during deliveries (a child process delivers the outbox; killed at random)",
        "",
    ]
    lines.append(
        f"{'':<6} {'kills':>5} {'lives':>5} {'reports':>7} {'alerts':>6} {'edits':>5} "
        f"{'lost':>4} {'dupl.':>5} {'other':>5} {'time':>6}"
    )
    for k in result.kills:
        lines.append(
            f"{k.side:<6} {k.kills:>5} {k.lives:>5} {k.reports:>7} {k.expected:>6} {k.edits:>5} "
            f"{k.lost + k.lost_edits:>4} {k.duplicates:>5} {k.other:>5} {k.seconds:>5.0f}s"
        )
    lines += [
        "",
        "alerts: new messages expected (each report: the manager's private alert and the "
        "case's card in the leads' channel); edits: the card edited to say critical; lost: "
        "expected, never arrived; dupl.: arrivals beyond the first; other: messages no "
        "expected alert accounts for.",
    ]
    for k in result.kills:
        where = "; ".join(f"{n} {w}" for w, n in k.landed.items())
        lines += [
            "",
            f"{k.side}: kills landed {where}.",
            f"{k.side}: {k.torn_writes} kill(s) interrupted an atomic write (its temporary "
            f"file was left behind); on reopening after a kill the store found {k.repairs} "
            "damaged file(s); a restart (fork, open the store, build the adapter) took a "
            f"median {k.startup_ms:.0f} ms.",
        ]
        if k.side == "Slack":
            lines.append(
                f"{k.side}: after a restart the sender read {k.found_again} alert(s) back from "
                "the conversation (sent, not recorded) and did not send them again; a channel "
                "card already recorded as posted is edited in place instead."
            )
        else:
            lines.append(
                f"{k.side}: {k.sent_again} send(s) repeated after a restart, as Teams can't say "
                f"whether a message went out: {k.duplicates} duplicate(s) in {k.duplicated} "
                "alert(s)."
            )
        if k.finished:
            lines.append(
                f"{k.side}: {k.finished} life(s) emptied the outbox before their kill was due"
            )
        if k.unknown:
            lines.append(f"{k.side}: events not checked (unexpected kinds): {Counter(k.unknown)}")
        if k.errors:
            lines.append(
                f"{k.side}: the delivery processes logged {len(k.errors)} error(s), e.g. "
                + k.errors[0]
            )
    lines += ["", "2. outages of the Slack Web API (simulated clock, a pass every 30 s)"]
    for o in result.outages:
        lines += [
            "",
            f"{_outage_name(o.minutes)} outage: {o.delivered} alerts delivered "
            f"({o.posts} messages, {o.edits} card edits), {o.duplicates} duplicates, "
            f"{len(o.lost)} lost; "
            f"{o.refused} calls refused while down; {o.notices} notices that an alert was held up "
            f"or got through; the last held-up alert reached Slack {_clock(o.caught_up)} after it "
            f"ended ({o.seconds:.1f} s)",
            "  the first alert about each report reached Slack at "
            + ", ".join(f"{what} {_clock(at)}" for what, at in o.filing_alerts.items()),
            f"  {'follow-up':<10} {'due':>8} {'raised':>8} {'reached Slack':>14}",
        ]
        for f in o.follow_ups:
            late = "" if f.on_time else "  LATE"
            times = f"{_clock(f.due):>8} {_clock(f.raised):>8} {_clock(f.reached):>14}"
            lines.append(f"  {f.step:<10} {times}{late}")
        if [f.step for f in o.follow_ups] != o.expected_steps:
            lines.append(f"  expected follow-ups: {', '.join(o.expected_steps)}")
        if o.after_claim:
            lines.append(f"  {o.after_claim} follow-up(s) raised after the case was claimed")
        lines.append(
            f"  the same schedule with no outage delivered {o.calm} alerts: "
            + (
                "the same ones"
                if not o.missing and not o.extra
                else f"{len(o.missing)} missing here, {len(o.extra)} more here"
            )
        )
        for what in o.extra[:5]:
            lines.append(f"  more here: {what}")
        if o.warnings:
            top = Counter(o.warnings).most_common(1)[0][0]
            lines.append(
                f"  Harbour logged {len(o.warnings)} warnings or errors, most often: {top}"
            )
        for what in o.lost[:5]:
            lines.append(f"  lost: {what}")
    lines += ["", "3. damaged files (written through the store, damaged, reopened)", ""]
    if result.damage_error:
        lines.append(result.damage_error)
    for kind in dict.fromkeys(c.kind for c in result.damage):
        cases = [c for c in result.damage if c.kind == kind]
        lines.append(f"{kind}: {cases[0].name}")
        for c in cases:
            text = c.outcome
            if c.note:
                text += f"; {c.note.lstrip('; ')}"
            if c.new_reference:
                text += f"; next report {c.new_reference}" + (" REUSED" if c.reused else "")
            lines.append(f"  {c.damage:<13} previous copy {c.previous:<12} {text}")
            if c.damage == "byte flipped" and c.previous != "damaged too" and c.detail:
                lines.append(f"  {'':<40} (the byte: {c.detail})")
            if c.lost:
                lines.append(f"  {'':<40} no longer as written: {'; '.join(c.lost)}")
            if c.silent:
                lines.append(f"  {'':<40} lost WITHOUT A WORD: {'; '.join(c.silent)}")
    lines += [
        "",
        "time: " + ", ".join(f"{name} {s:.0f} s" for name, s in result.seconds.items()),
        "",
        *result.check_lines(),
    ]
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.delivery_faults",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--quick", action="store_true", help="6 kills per platform, the 10-minute outage"
    )
    parser.add_argument("--kills", type=int, default=None, help="kills per platform (default 100)")
    parser.add_argument("--seed", type=int, default=1, help="random seed (default 1)")
    args = parser.parse_args(argv)
    print(
        f"Harbour delivery-fault benchmark{' (quick)' if args.quick else ''}",
        flush=True,
    )
    result = asyncio.run(
        measure(
            quick=args.quick,
            kills=args.kills,
            seed=args.seed,
            progress=lambda m: print(m, flush=True),
        )
    )
    print()
    print(format_result(result))
    return 0 if result.passed else 1


if __name__ == "__main__":
    sys.exit(main())
