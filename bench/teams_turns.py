"""What a Teams turn costs Harbour, next to a bare Agents SDK bot doing the same transport work.

    python -m bench.teams_turns                  # 1 and 50 at once, 8 rounds (~1 min)
    python -m bench.teams_turns --quick          # 1 and 50 at once, 1 round (a few seconds)
    python -m bench.teams_turns --store tiny     # Harbour on a TinyStore in a temporary directory
    python -m bench.teams_turns --profile        # then one cProfile'd round of each bot
    python -m bench.teams_turns --background 900 # 900 more reports in progress, never measured
    python -m bench.teams_turns --freeze-bare    # the bare bot gc.freeze()s its start-up too

Two kinds of turn, each posted to POST /api/messages as Teams would post it
(real-shaped activities from tests/fakes/teams.py, serviceUrl pointing at a
local fake Bot Connector):

* message: "help" typed in the personal chat by someone with no report in
  progress (they said "hi" once during set-up, so Harbour already has their
  conversation reference). Harbour answers with one Adaptive Card (its help
  notice), sent to the connector within the turn; the HTTP answer is 202 once
  the turn is over.
* card action: an Action.Execute (`adaptiveCard/action` invoke) pressing the
  primary button ("Next") of a report form page with valid inputs. Harbour
  saves the answers, sends the next page's card to the connector and returns
  the pressed card, answered, in the invoke response (HTTP 200).

Every simulated person of the card scenario has a report in progress,
started during set-up (a "report" message, then valid pages until they reach
their own page: person n is parked on page n mod 7, safety ... "How you are",
so every page of the form except the last is in the mix). Each measured press submits the page the
person is parked on, built from the last card Harbour sent them (read back
from the fake connector: the form id, the current token, the owner); after
the measured burst, and outside the measured window, each of them presses
"Back" on the new page, which puts them back on their page with a new token.
So every measured turn is a real page submission through the translation,
the engine, the store and the card renderer, every round does the same work,
and the report never reaches its review or gets filed. The chain is checked:
the card each press is built from must be the person's own page, and at the
end every turn either bot was sent must have produced exactly one card at the
connector. (Cycling each person through the pages instead would need several
unmeasured turns to start over after the last page, and would change the mix
from round to round.) Harbour's store therefore holds 100 reports in progress
(50 with --quick) and, after the warm-up, about a thousand remembered event
ids, each person's in their own small file; how many files, their total size
and the largest are printed. `--background N` adds N people who start a report
and are never measured, to show how the figures move as the store grows.

What is measured, for each kind of turn at 1 request at a time (30 people per
round, one after another) and at 50 at once (two bursts of 50 distinct
people, `asyncio.gather`):

* turn latency: from just before the client sends a request until its whole
  response has been read (time.perf_counter in the client); median and p99
  (nearest rank) over all rounds;
* server CPU per turn: `time.process_time()` of the server process (user +
  system, every thread) read through a small extra route, GET /bench/cpu,
  that the benchmark adds to each server's own aiohttp app, just before the
  first and just after the last measured request of a cell; the difference
  over all rounds divided by the number of measured turns. Nothing else is
  sent to a server inside that window, and the SDK finishes the whole turn
  (including the send to the connector) before it answers the HTTP request, so
  no work spills out of the window. Garbage collection runs as each server
  has it (Harbour's start-up objects frozen, as below): collecting garbage is
  part of what a turn costs (how much of the CPU went to it is shown, timed
  with gc.callbacks in the server).

The baseline is a bare Agents SDK bot: CloudAdapter + AgentApplication,
anonymous mode set up as Harbour sets it up (AgentAuthConfiguration(
anonymous_allowed=True) in a ConnectionManager with AnonymousTokenProvider,
start_typing_timer=False, the user_token_client logger quieted), hosted the
same way (jwt_authorization_decorator around start_agent_process), answering a
message with one Adaptive Card echoing the text, and an Action.Execute by
sending one card and returning a card in an AdaptiveCardInvokeResponse. It is
sent exactly the same activities as Harbour (only serviceUrl and id differ),
but not the unmeasured Back presses, which it has no use for. Its echo card
is about 0.2 KB; Harbour's form cards are about 2 KB, which makes the SDK's
own share of the work (it deep-copies and serialises every outgoing activity)
larger for Harbour too.
Harbour is `bot.server.build(Settings(...), SlackSettings(...), store,
TeamsSettings(local_trial=True))` exactly as `harbour serve` composes it in
the anonymous local trial (HARBOUR_TEAMS_LOCAL_TRIAL=true), and, as
`harbour serve` does before listening, with everything built at start-up
gc.freeze()d (`bot.server.freeze_long_lived`: Harbour's start-up heap
is several times the bare bot's, and unfrozen its full collections cost a
card action more than Harbour's own work). The bare bot is left as the SDK's
samples leave it; `--freeze-bare` freezes it too, for a like-for-like
comparison of everything else. Harbour runs on a MemoryStore by default (`--store tiny`: a TinyStore in a temporary
directory, the production default, which adds its file writes).

How the processes are laid out, and why: the fake connector
(tests.fakes.teams.FakeConnector, plus GET /bench/cards: the last form card
sent to each person), the bare bot and Harbour each run in their own child
process (`python -m bench.teams_turns --serve ...`) on 127.0.0.1; the load
generator runs in this process. So the client's CPU is not in either server's
figure, and the connector's (each reply is a POST to it, on a new TCP
connection: the SDK keeps no session) is neither in the servers' figures nor
competing with the client's event loop, which would add its delays to the
latencies of whichever bot is measured when the client is busiest. The two bots
are pinned to one CPU and the client and connector to the other (`--no-pin`
turns that off): unpinned, the scheduler may put the client on the measured
bot's CPU, and the same code read 1.20x, 1.32x and 1.22x (card action x1) in
three runs back to back; pinned, seven runs read 1.14x to 1.26x.

Noise and fairness: the two bots take turns at every (kind, concurrency)
cell, and which goes first alternates by round, so a slow patch of the
machine lands on both. A warm-up round (not counted) opens the client's
connections and warms both bots' code paths. The client collects its garbage
before each burst and not during it.

Profiling (`--profile`, `--profile-dir` to keep the pstats files): after the
measured rounds, one more round of each kind of turn is sent to each bot with
cProfile running in its event loop thread (the Back presses are left out of
the profile). The output shows, per turn, the cumulative time of the main
parts of a turn for both bots, Harbour's own functions (and the store's and
libraries' it calls) by cumulative time, and the top functions by self time.

Target: for each kind of turn, at each concurrency, Harbour's CPU per turn
within 1.3x of the bare bot's, in the default configuration (MemoryStore, no
background reports). The exit status is 1 if it is missed.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import io
import itertools
import json
import math
import os
import pstats
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiohttp import web

from bench import common
from tests.fakes.teams import FakeConnector, activity, execute

MESSAGES = "/api/messages"
JSON = {"Content-Type": "application/json"}
CARD_CONTENT_TYPE = "application/vnd.microsoft.card.adaptive"

APPS = ("bare", "harbour")
LABELS = {"bare": "bare SDK bot", "harbour": "Harbour"}
SCENARIOS = ("message", "card action")

FULL_CONCURRENCY = (1, 50)
FULL_ROUNDS = 8
QUICK_ROUNDS = 1
SEQUENTIAL = 30
QUICK_SEQUENTIAL = 10
"""Requests per round, one at a time, at concurrency 1."""
BURST_SAMPLES = 100
QUICK_BURST_SAMPLES = 50
"""Requests per round at each concurrency above 1 (in bursts of that size)."""
SETUP_BURST = 50

CPU_RATIO_TARGET = 1.3

REQUEST_TIMEOUT_S = 30.0
FULL_BUDGET_S = 100.0
QUICK_BUDGET_S = 20.0
"""No new round starts after this many seconds of measuring."""
PROFILE_TOP = 20
PROFILE_SELF_TOP = 12

# Valid answers for each report page (by form id), as a person would fill them in.
# "what" includes personal_details so that the "exposed" page is part of the form.
PAGE_INPUTS: dict[str, dict[str, str]] = {
    "safety": {"danger": "no"},
    "what": {"kinds": "threats,personal_details"},
    "exposed": {"details_exposed": "home,school"},
    "where": {
        "platforms": "facebook,x",
        "links": "https://www.facebook.com/groups/local-page/posts/1234567890123456",
        "evidence": "Six screenshots on my work phone, taken on 3 March.",
    },
    "when": {"started": "this_week", "frequency": "few"},
    "who": {"affected": "me,children", "poster": "relative"},
    "you": {
        "worry": "4",
        "description": "He posted my photo and the street I live on, and said people "
        "should pay me a visit. Two people replied asking for my house number.",
    },
}
PAGES = tuple(PAGE_INPUTS)
"""The pages people are parked on: person n on PAGES[n % 7]."""


def user_name(scenario: str, n: int) -> str:
    return f"{'m' if scenario == 'message' else 'c'}{n:04d}"


def conversation(user: str) -> str:
    return f"a:{user}-personal"  # what tests.fakes.teams.activity uses


def parked_page(user: str) -> str:
    return PAGES[int(user[1:]) % len(PAGES)]


# =========================================================================== servers
#
# Each runs in a child process (or, in tests, in the client's loop). The bots
# answer GET /bench/cpu (process CPU seconds so far) and POST /bench/profile
# (start or stop a cProfile of the event loop thread); the fake connector
# answers GET /bench/cards (the last form card sent to each person) and
# GET /bench/stats (cards received, by bot).


def _bench_routes(
    app: web.Application, diagnose: Callable[[], dict[str, float]] | None = None
) -> None:
    import cProfile

    profiler: list[cProfile.Profile] = []
    collecting = {"since": 0.0, "seconds": 0.0}

    def timed_gc(phase: str, _: dict[str, int]) -> None:
        # The collector runs on the thread that allocates, holding the GIL: wall time is CPU.
        if phase == "start":
            collecting["since"] = time.perf_counter()
        else:
            collecting["seconds"] += time.perf_counter() - collecting["since"]

    gc.callbacks.append(timed_gc)

    async def cpu(_: web.Request) -> web.Response:
        return web.json_response({"cpu": time.process_time(), "gc": collecting["seconds"]})

    async def profile(request: web.Request) -> web.Response:
        if request.query.get("action") == "start":
            if not profiler:
                profiler.append(cProfile.Profile())
                profiler[0].enable()
            return web.json_response({"profiling": True})
        if profiler:
            one = profiler.pop()
            one.disable()
            one.dump_stats(request.query["path"])
        return web.json_response({"profiling": False})

    async def diag(_: web.Request) -> web.Response:
        return web.json_response(diagnose() if diagnose else {})

    app.router.add_get("/bench/cpu", cpu)
    app.router.add_get("/bench/diag", diag)
    app.router.add_post("/bench/profile", profile)


async def start_fake() -> common.Served:
    fake = FakeConnector()
    counts: dict[str, int] = {}
    latest: dict[str, dict[str, Any]] = {}

    def absorb() -> None:
        """Fold the recorded requests into counts and the latest form card per
        person, and forget them, so the record stays small however long the run."""
        for r in fake.requests:
            app = r["path"].strip("/").split("/", 1)[0]
            body = r["body"] or {}
            for a in body.get("attachments") or []:
                if a.get("contentType") != CARD_CONTENT_TYPE:
                    continue
                counts[app] = counts.get(app, 0) + 1
                content = a.get("content") or {}
                if app == "harbour" and _primary(content) is not None:
                    conv = r["path"].split("/conversations/", 1)[-1].split("/", 1)[0]
                    latest[conv] = content
        fake.requests.clear()

    return await common.serve_fake(
        fake, "/bench/cards", absorb, counts, lambda u: latest.get(conversation(u))
    )


async def start_bare(freeze: bool = False) -> common.Served:
    """The baseline: the Agents SDK with Harbour's anonymous set-up and hosting,
    and handlers that only send one card (and return one, for Action.Execute)."""
    import logging
    import re
    import warnings

    from aiohttp.web_exceptions import NotAppKeyWarning
    from microsoft_agents.activity import ActivityTypes, AdaptiveCardInvokeResponse
    from microsoft_agents.hosting.aiohttp import (
        CloudAdapter,
        jwt_authorization_decorator,
        start_agent_process,
    )
    from microsoft_agents.hosting.core import (
        AgentApplication,
        AgentAuthConfiguration,
        AnonymousTokenProvider,
        CardFactory,
        ConnectionManager,
        MemoryStorage,
        MessageFactory,
        TurnContext,
        TurnState,
    )

    auth_config = AgentAuthConfiguration(anonymous_allowed=True)
    connections = ConnectionManager(
        provider_factory=lambda _config: AnonymousTokenProvider(),
        connections_configurations={"SERVICE_CONNECTION": auth_config},
    )
    logging.getLogger("microsoft_agents.hosting.core.connector.client.user_token_client").setLevel(
        logging.ERROR
    )
    adapter = CloudAdapter(connection_manager=connections)
    agent = AgentApplication[TurnState](
        storage=MemoryStorage(),
        connection_manager=connections,
        start_typing_timer=False,
        remove_recipient_mention=True,
    )

    def echo(text: str) -> dict[str, Any]:
        return {
            "type": "AdaptiveCard",
            "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
            "version": "1.5",
            "body": [{"type": "TextBlock", "text": text, "wrap": True}],
        }

    async def on_message(ctx: TurnContext, state: TurnState) -> None:
        card = CardFactory.adaptive_card(echo(ctx.activity.text or ""))
        await ctx.send_activity(MessageFactory.attachment(card))

    async def on_execute(ctx: TurnContext, state: TurnState, data: Any) -> Any:
        text = json.dumps(data)[:200]
        await ctx.send_activity(MessageFactory.attachment(CardFactory.adaptive_card(echo(text))))
        return AdaptiveCardInvokeResponse(
            status_code=200, type=CARD_CONTENT_TYPE, value=echo("Received")
        )

    agent.activity(ActivityTypes.message)(on_message)
    agent.adaptive_card.action_execute(re.compile(".*"))(on_execute)

    async def messages(request: web.Request) -> web.StreamResponse:
        response = await start_agent_process(request, agent, adapter)
        return response if response is not None else web.Response(status=202)

    app = web.Application(client_max_size=1024**2)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", NotAppKeyWarning)
        app["agent_configuration"] = auth_config
    app.router.add_post(MESSAGES, jwt_authorization_decorator(messages))  # type: ignore[no-untyped-call]
    _bench_routes(app)
    if freeze:  # what bot.server.freeze_long_lived does, not imported: no Harbour code here
        gc.collect()
        gc.freeze()
    return await common.site(app)


async def start_harbour(store_kind: str, data_dir: Path | None) -> common.Served:
    """Harbour as `harbour serve` composes it, Teams in anonymous mode."""
    from adapters.slack.config import SlackSettings
    from adapters.teams.config import TeamsSettings
    from bot.config import Settings
    from bot.server import build, freeze_long_lived

    store = common.make_store(store_kind, data_dir)
    server = build(
        Settings(_env_file=None),
        SlackSettings(_env_file=None, bot_token=""),
        store,
        TeamsSettings(local_trial=True),
    )
    assert server.teams is not None and server.slack is None

    def diagnose() -> dict[str, float]:
        """How big people's conversation files are: each person has their own,
        rewritten at each of their steps (private attributes: best effort)."""

        def size(storage: Any) -> int:
            if storage._path is not None:  # on disk: what is there
                return storage._path.stat().st_size if storage._path.exists() else 0
            return 0 if storage._committed == "{}" else len(storage._committed.encode())

        try:
            files = list(store._people.values())  # type: ignore[attr-defined]
            sizes = [n for n in (size(f.storage) for f in files) if n]  # 0: never written
            data = [f.storage.read() for f in files]
        except (AttributeError, RuntimeError):
            return {}
        return {
            "people_files": len(sizes),
            "conversations_kb": sum(sizes) / 1024,
            "largest_file_kb": max(sizes, default=0) / 1024,
            "sessions": sum(1 for d in data if d.get("session")),
            "seen": sum(
                len(doc.get("ids", [])) for d in data for doc in d.get("seen", {}).values()
            ),
        }

    _bench_routes(server.web_app, diagnose)
    freeze_long_lived()  # as `harbour serve` does before it starts listening
    served = await common.site(server.web_app)

    async def close() -> None:
        await served.close()
        await store.close()

    return common.Served(port=served.port, close=close)


async def start(
    kind: str, store_kind: str, data_dir: Path | None, freeze_bare: bool = False
) -> common.Served:
    if kind == "fake":
        return await start_fake()
    if kind == "bare":
        return await start_bare(freeze_bare)
    if kind == "harbour":
        return await start_harbour(store_kind, data_dir)
    raise ValueError(f"unknown server {kind!r}")


@contextlib.asynccontextmanager
async def servers(
    *,
    isolated: bool,
    store_kind: str,
    workdir: Path,
    freeze_bare: bool = False,
    layout: tuple[int, int] | None = None,
) -> AsyncIterator[tuple[dict[str, str], Callable[[], dict[str, str]]]]:
    """Start the fake connector, the bare bot and Harbour (with `layout`, the
    connector pinned to the client's CPU and the bots to the other); yield
    their base URLs and a function returning what each server logged (child
    processes only)."""
    data_dir = workdir / "harbour-data" if store_kind == "tiny" else None
    kinds = ("fake", *APPS)
    if not isolated:
        async with common.in_process() as started:
            for kind in kinds:
                started.append(await start(kind, store_kind, data_dir, freeze_bare))
            yield ({k: common.url(s.port) for k, s in zip(kinds, started, strict=True)}, dict)
        return
    args = ["--store", store_kind, *(["--data-dir", str(data_dir)] if data_dir else [])]
    args += ["--freeze-bare"] if freeze_bare else []

    def pinned(kind: str) -> list[str]:
        if layout is None:
            return args
        return [*args, "--cpu", str(layout[0] if kind == "fake" else layout[1])]

    async with common.child_processes("bench.teams_turns", kinds, workdir) as children:
        ports = await asyncio.gather(*(c.start(*pinned(k)) for k, c in children.items()))
        yield (
            {k: common.url(p) for k, p in zip(children, ports, strict=True)},
            common.logs_of(children),
        )


# =========================================================================== payloads


def _primary(card: dict[str, Any]) -> dict[str, Any] | None:
    """A form card's primary (submit) Action.Execute, if it has one."""
    action: dict[str, Any]
    for action in card.get("actions") or []:
        hb = (action.get("data") or {}).get("hb") or {}
        if action.get("type") == "Action.Execute" and hb.get("kind") == "submit":
            return action
    return None


def _titled(card: dict[str, Any], title: str) -> dict[str, Any] | None:
    action: dict[str, Any]
    for action in card.get("actions") or []:
        if action.get("title") == title:
            return action
    return None


_ids = itertools.count(1)


def _encode(body: dict[str, Any]) -> bytes:
    return json.dumps(body).encode()


def message_body(service_url: str, user: str, text: str) -> bytes:
    return _encode(activity(service_url, user, text=text, activity_id=f"bench-m{next(_ids)}"))


def press_body(service_url: str, user: str, data: dict[str, Any]) -> bytes:
    return _encode(execute(service_url, user, data, activity_id=f"bench-x{next(_ids)}"))


def next_press(user: str, card: dict[str, Any] | None) -> dict[str, Any]:
    """The data of a press on the primary button of `user`'s parked page, inputs filled in."""
    action = _primary(card or {})
    if action is None:
        raise RuntimeError(f"the last card sent to {user} is not a report form page")
    page = action["data"]["hb"]["form"]
    if page != parked_page(user):
        raise RuntimeError(f"{user} should be on page {parked_page(user)!r}, not {page!r}")
    return {**action["data"], **PAGE_INPUTS[page]}


def back_press(user: str, card: dict[str, Any] | None) -> dict[str, Any]:
    action = _titled(card or {}, "Back")
    if action is None:
        raise RuntimeError(f"the last card sent to {user} has no Back button")
    return dict(action["data"])


# =========================================================================== client


class Client(common.Client):
    def __init__(self, urls: dict[str, str], max_concurrency: int) -> None:
        super().__init__(urls, (*APPS, "fake"), max(100, max_concurrency + 20), REQUEST_TIMEOUT_S)
        self.service_urls = {app: f"{urls['fake']}/{app}/" for app in APPS}
        self.turns = dict.fromkeys(APPS, 0)
        """Turns sent to each bot, measured or not: each should send one card."""

    async def burst(self, app: str, bodies: Sequence[bytes], *, invoke: bool) -> list[float]:
        """Send `bodies` all at once and time each response."""
        to, session = self.urls[app] + MESSAGES, self.sessions[app]
        gc.collect()
        results = await common.all_at_once(
            (common.timed_post(session, to, body, JSON) for body in bodies), REQUEST_TIMEOUT_S
        )
        self.turns[app] += len(bodies)
        for _, status, text in results:
            if status != (200 if invoke else 202):
                raise RuntimeError(f"{app} answered HTTP {status}: {text[:300]!r}")
            if invoke:
                answer = json.loads(text)
                if answer.get("statusCode") != 200 or "Received" not in json.dumps(answer):
                    raise RuntimeError(f"{app} did not take the press: {text[:300]!r}")
        return [seconds for seconds, _, _ in results]

    async def sequence(self, app: str, bodies: Sequence[bytes], *, invoke: bool) -> list[float]:
        """Send `bodies` one at a time, each after the previous answer."""
        out: list[float] = []
        for body in bodies:
            out += await self.burst(app, [body], invoke=invoke)
        return out

    async def cpu(self, app: str) -> tuple[float, float]:
        """The server's process CPU seconds so far, and how many of them were
        spent collecting garbage."""
        async with self.sessions[app].get(self.urls[app] + "/bench/cpu") as r:
            r.raise_for_status()
            got = await r.json()
            return float(got["cpu"]), float(got["gc"])

    async def profile(self, app: str, path: Path | None) -> None:
        params = {"action": "stop", "path": str(path)} if path else {"action": "start"}
        async with self.sessions[app].post(self.urls[app] + "/bench/profile", params=params) as r:
            r.raise_for_status()

    async def diagnostics(self, app: str) -> dict[str, float]:
        async with self.sessions[app].get(self.urls[app] + "/bench/diag") as r:
            r.raise_for_status()
            found: dict[str, float] = await r.json()
            return found

    async def cards(self, users: Sequence[str]) -> dict[str, dict[str, Any]]:
        return await self.latest("/bench/cards", users, "form card was sent to")


# =========================================================================== the run


@dataclass(frozen=True)
class Cell:
    scenario: str
    concurrency: int
    latency: dict[str, common.Stats]
    cpu_ms: dict[str, float]
    """Server CPU milliseconds per measured turn, by bot."""
    gc_ms: dict[str, float]
    """Of which garbage collection."""

    @property
    def ratio(self) -> float:
        bare = self.cpu_ms["bare"]
        return self.cpu_ms["harbour"] / bare if bare > 0 else math.inf


@dataclass(frozen=True)
class ProfileRow:
    function: str
    per_turn_ms: float
    share: float


@dataclass
class Profile:
    app: str
    scenario: str
    turns: int
    total_ms: float
    """Profiled time per turn (profiler overhead included, the event loop's idle wait left out)."""
    parts: dict[str, float]
    """PROFILE_PARTS label -> cumulative ms per turn."""
    top_cumulative: list[ProfileRow]
    """Functions of Harbour, the store and the libraries they call, by cumulative time."""
    top_self: list[ProfileRow]
    """Every function, by time spent in its own code."""


@dataclass
class Result(common.Checked):
    store: str
    isolated: bool
    rounds: int
    people: int
    seconds: float
    cells: list[Cell] = field(default_factory=list)
    cards: dict[str, int] = field(default_factory=dict)
    """Adaptive Cards the fake connector received from each bot."""
    turns: dict[str, int] = field(default_factory=dict)
    """Turns each bot was sent (set-up, warm-up, Back presses and measured)."""
    logs: dict[str, str] = field(default_factory=dict)
    stopped_early: bool = False
    profiles: list[Profile] = field(default_factory=list)
    background: int = 0
    """People with a report in progress in Harbour who were never measured."""
    store_size: dict[str, float] = field(default_factory=dict)
    """Harbour's conversation files at the end (one per person): how many, their
    total and largest size in KB, sessions, remembered event ids."""

    def checks(self) -> list[tuple[bool, str]]:
        out = [
            (
                c.ratio <= CPU_RATIO_TARGET,
                f"{c.scenario} x{c.concurrency}: Harbour CPU per turn within "
                f"{CPU_RATIO_TARGET:g}x of the bare SDK bot's ({c.cpu_ms['harbour']:.2f} vs "
                f"{c.cpu_ms['bare']:.2f} ms, {c.ratio:.2f}x)",
            )
            for c in self.cells
        ]
        out.append(
            (
                self.cards == self.turns,
                "every turn answered with exactly one Adaptive Card "
                f"(cards {self.cards}, turns {self.turns})",
            )
        )
        return out


@dataclass
class _Samples:
    latency: dict[str, list[float]] = field(default_factory=lambda: {a: [] for a in APPS})
    cpu: dict[str, float] = field(default_factory=lambda: dict.fromkeys(APPS, 0.0))
    gc: dict[str, float] = field(default_factory=lambda: dict.fromkeys(APPS, 0.0))
    turns: dict[str, int] = field(default_factory=lambda: dict.fromkeys(APPS, 0))


def plan(concurrency: int, sequential: int, burst_samples: int) -> list[list[int]]:
    """The bursts of one cell per round, as lists of person numbers (distinct)."""
    if concurrency == 1:
        return [[n] for n in range(sequential)]
    bursts = max(1, math.ceil(burst_samples / concurrency))
    return [list(range(b * concurrency, (b + 1) * concurrency)) for b in range(bursts)]


async def _send(
    client: Client, app: str, bursts: list[bytes], size: int, invoke: bool
) -> list[float]:
    if size == 1:
        return await client.sequence(app, bursts, invoke=invoke)
    out: list[float] = []
    for start_at in range(0, len(bursts), size):
        out += await client.burst(app, bursts[start_at : start_at + size], invoke=invoke)
    return out


async def run_cell(
    client: Client,
    order: Sequence[str],
    scenario: str,
    concurrency: int,
    bursts: list[list[int]],
    into: _Samples | None,
) -> None:
    """Both bots, one cell, one round: the measured turns, then (Harbour, card
    action) the unmeasured Back presses that return everyone to their page."""
    users = [user_name(scenario, n) for burst in bursts for n in burst]
    invoke = scenario == "card action"
    bodies: dict[str, list[bytes]] = {}
    if invoke:
        cards = await client.cards(users)
        presses = [next_press(u, cards[u]) for u in users]
        for app in APPS:
            url = client.service_urls[app]
            bodies[app] = [press_body(url, u, d) for u, d in zip(users, presses, strict=True)]
    else:
        for app in APPS:
            bodies[app] = [message_body(client.service_urls[app], u, "help") for u in users]
    for app in order:
        cpu0 = await client.cpu(app)
        seconds = await _send(client, app, bodies[app], concurrency, invoke)
        cpu1 = await client.cpu(app)
        if into is not None:
            into.latency[app] += seconds
            into.cpu[app] += cpu1[0] - cpu0[0]
            into.gc[app] += cpu1[1] - cpu0[1]
            into.turns[app] += len(seconds)
    if invoke:
        await back_to_pages(client, users)


async def back_to_pages(client: Client, users: Sequence[str]) -> None:
    cards = await client.cards(users)
    url = client.service_urls["harbour"]
    backs = [press_body(url, u, back_press(u, cards[u])) for u in users]
    await _send(client, "harbour", backs, SETUP_BURST, True)


async def set_up(client: Client, people: int, background: int = 0) -> None:
    """Everyone says hello to both bots once (first contact: Harbour saves how
    to reach them); everyone in the card scenario starts a report and answers
    pages until they reach their own; `background` more people (never
    measured) start a report in Harbour and leave it there."""
    for app in APPS:
        url = client.service_urls[app]
        for start_at in range(0, people, SETUP_BURST):
            numbers = range(start_at, min(people, start_at + SETUP_BURST))
            await client.burst(
                app,
                [message_body(url, user_name("message", n), "hi") for n in numbers],
                invoke=False,
            )
    url = client.service_urls["harbour"]
    idle = [f"b{n:04d}" for n in range(background)]
    for start_at in range(0, background, SETUP_BURST):
        chunk = idle[start_at : start_at + SETUP_BURST]
        await client.burst("harbour", [message_body(url, u, "report") for u in chunk], invoke=False)
    users = [user_name("card action", n) for n in range(people)]
    for start_at in range(0, people, SETUP_BURST):
        chunk = users[start_at : start_at + SETUP_BURST]
        await client.burst("harbour", [message_body(url, u, "report") for u in chunk], invoke=False)
    for depth in range(len(PAGES)):
        behind = [u for u in users if PAGES.index(parked_page(u)) > depth]
        if not behind:
            break
        cards = await client.cards(behind)
        bodies = []
        for u in behind:
            action = _primary(cards[u])
            assert action is not None
            page = action["data"]["hb"]["form"]
            if page != PAGES[depth]:
                raise RuntimeError(f"set-up: {u} is on {page!r}, expected {PAGES[depth]!r}")
            bodies.append(press_body(url, u, {**action["data"], **PAGE_INPUTS[page]}))
        await _send(client, "harbour", bodies, SETUP_BURST, True)


async def measure(
    *,
    quick: bool = False,
    concurrency: Sequence[int] | None = None,
    rounds: int | None = None,
    sequential: int | None = None,
    burst_samples: int | None = None,
    store: str = "memory",
    isolated: bool = True,
    budget_s: float | None = None,
    profile: bool = False,
    profile_dir: Path | None = None,
    background: int = 0,
    freeze_bare: bool = False,
    pin: bool = True,
    progress: Callable[[str], None] = lambda _: None,
) -> Result:
    """Run the whole benchmark and return the figures (no printing, no exit).

    With `pin` (and child processes, and two CPUs or more) this process and the
    fake connector run on one CPU and the two bots on another."""
    with common.client_pinned(pin and isolated) as layout:
        return await _measure(
            quick=quick,
            concurrency=concurrency,
            rounds=rounds,
            sequential=sequential,
            burst_samples=burst_samples,
            store=store,
            isolated=isolated,
            budget_s=budget_s,
            profile=profile,
            profile_dir=profile_dir,
            background=background,
            freeze_bare=freeze_bare,
            layout=layout,
            progress=progress,
        )


async def _measure(
    *,
    quick: bool,
    concurrency: Sequence[int] | None,
    rounds: int | None,
    sequential: int | None,
    burst_samples: int | None,
    store: str,
    isolated: bool,
    budget_s: float | None,
    profile: bool,
    profile_dir: Path | None,
    background: int,
    freeze_bare: bool,
    layout: tuple[int, int] | None,
    progress: Callable[[str], None],
) -> Result:
    levels = tuple(concurrency or FULL_CONCURRENCY)
    rounds = max(1, rounds or (QUICK_ROUNDS if quick else FULL_ROUNDS))
    sequential = max(1, sequential or (QUICK_SEQUENTIAL if quick else SEQUENTIAL))
    burst_samples = max(1, burst_samples or (QUICK_BURST_SAMPLES if quick else BURST_SAMPLES))
    budget_s = budget_s or (QUICK_BUDGET_S if quick else FULL_BUDGET_S)
    plans = {c: plan(c, sequential, burst_samples) for c in levels}
    people = max(len({n for burst in p for n in burst}) for p in plans.values())
    cells = [(s, c) for s in SCENARIOS for c in levels]
    samples = {cell: _Samples() for cell in cells}
    profiles: list[Profile] = []
    t_start = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="harbour-bench-teams-") as tmp:
        where = "child processes" if isolated else "this process"
        progress(f"  starting the fake connector, the bare SDK bot and Harbour ({where})…")
        async with servers(
            isolated=isolated,
            store_kind=store,
            workdir=Path(tmp),
            freeze_bare=freeze_bare,
            layout=layout,
        ) as (urls, logs):
            client = Client(urls, max(levels))
            try:
                t0 = time.perf_counter()
                progress(
                    f"  set-up: {people} people per kind of turn, reports started"
                    + (f", {background} more reports in progress" if background else "")
                    + "…"
                )
                await set_up(client, people, background)
                gc.collect()
                gc.freeze()  # the client's own start-up objects: keeps its collections short
                progress(f"  warm-up round, not counted ({time.perf_counter() - t0:.1f} s so far)…")
                for scenario, c in cells:
                    await run_cell(client, APPS, scenario, c, plans[c], None)
                measured = common.Rounds(rounds, budget_s)
                for r in measured:
                    progress(
                        f"  round {r + 1} of {rounds} ({time.perf_counter() - t0:.1f} s so far)…"
                    )
                    order = APPS if r % 2 == 0 else APPS[::-1]
                    for scenario, c in cells:
                        await run_cell(client, order, scenario, c, plans[c], samples[(scenario, c)])
                if profile:
                    progress("  one more round of each kind of turn, each bot under cProfile…")
                    kept = profile_dir or Path(tmp)
                    kept.mkdir(parents=True, exist_ok=True)
                    for scenario in SCENARIOS:
                        for app in APPS:
                            profiles.append(await profile_round(client, app, scenario, plans, kept))
                cards = await client.stats()
                turns = dict(client.turns)
                store_size = await client.diagnostics("harbour")
            finally:
                await client.close()
            server_logs = logs()
    result = Result(
        store=store,
        isolated=isolated,
        rounds=measured.done,
        people=people,
        seconds=time.perf_counter() - t_start,
        cards=cards,
        turns=turns,
        logs=server_logs,
        stopped_early=measured.stopped_early,
        profiles=profiles,
        background=background,
        store_size=store_size,
    )
    for (scenario, c), got in samples.items():
        if all(got.turns.values()):
            result.cells.append(
                Cell(
                    scenario,
                    c,
                    {a: common.Stats.of(got.latency[a]) for a in APPS},
                    {a: got.cpu[a] / got.turns[a] * 1e3 for a in APPS},
                    {a: got.gc[a] / got.turns[a] * 1e3 for a in APPS},
                )
            )
    return result


# =========================================================================== profiling


IDLE = ("method 'poll' of 'select.epoll'", "method 'select' of 'select.")
PROFILE_PARTS: tuple[tuple[str, str, str], ...] = (
    ("the whole turn (aiohttp request handler)", "aiohttp/web_protocol.py", "_handle_request"),
    ("SDK: TurnContext.send_activity (the reply card)", "core/turn_context.py", "send_activity"),
    ("  deepcopy of each outgoing activity", "core/turn_context.py", "<listcomp>"),
    (
        "SDK: UserTokenClient product info (metadata)",
        "connector/get_product_info.py",
        "get_product_info",
    ),
    ("Harbour core: Harbour.handle", "bot/app.py", "handle"),
    ("  store: save_session", "bot/store/tiny.py", "save_session"),
    ("    json.dumps of the person's own file", "bot/store/tiny.py", "_flush"),
    ("    TinyDB table rebuild (_update_table)", "tinydb/table.py", "_update_table"),
    ("  store: load_session", "bot/store/tiny.py", "load_session"),
    ("  flow engine and commands (_dispatch)", "bot/app.py", "_dispatch"),
    ("adapter: _remember (conversation reference)", "adapters/teams/app.py", "_remember"),
    ("adapter: render the Adaptive Cards", "adapters/teams/cards.py", "cards"),
    ("adapter: translate a card action", "adapters/teams/translate.py", "action_event"),
    ("adapter: translate a message", "adapters/teams/translate.py", "message_events"),
)
"""Where a turn's time goes, as (label, file path ending, function): cumulative
times, so nested rows (indented) are part of the row above them."""
FOCUS = ("/adapters/", "/bot/", "/flows/", "/tinydb/", "/json/", "/copy.py", "/pydantic/")


async def profile_round(
    client: Client, app: str, scenario: str, plans: dict[int, list[list[int]]], where: Path
) -> Profile:
    """One round of one kind of turn (every concurrency) with cProfile on in `app`."""
    stem = f"{app}-{scenario.replace(' ', '-')}"
    for stale in _profile_files(where, stem):
        stale.unlink()
    invoke = scenario == "card action"
    turns = 0
    await client.profile(app, None)
    try:
        for c, bursts in plans.items():
            users = [user_name(scenario, n) for burst in bursts for n in burst]
            url = client.service_urls[app]
            if invoke:
                cards = await client.cards(users)
                bodies = [press_body(url, u, next_press(u, cards[u])) for u in users]
            else:
                bodies = [message_body(url, u, "help") for u in users]
            turns += len(await _send(client, app, bodies, c, invoke))
            if invoke and app == "harbour":
                # The Back presses are not part of the profile: stop, go back, start again.
                await client.profile(app, where / f"{stem}.{c}.prof")
                await back_to_pages(client, users)
                await client.profile(app, None)
    finally:
        await client.profile(app, where / f"{stem}.prof")
    return summarise_profile(app, scenario, _profile_files(where, stem), turns)


def _profile_files(where: Path, stem: str) -> list[Path]:
    return sorted(where.glob(f"{stem}*.prof"))


def summarise_profile(app: str, scenario: str, files: Sequence[Path], turns: int) -> Profile:
    stats = pstats.Stats(str(files[0]), stream=io.StringIO())
    for extra in files[1:]:
        stats.add(str(extra))
    raw: dict[tuple[str, int, str], tuple[Any, ...]] = stats.stats  # type: ignore[attr-defined]
    per_turn = 1e3 / max(1, turns)
    busy = {k: v for k, v in raw.items() if not _is_idle(k[2])}
    total = sum(v[2] for v in busy.values())

    def row(key: tuple[str, int, str], seconds: float) -> ProfileRow:
        return ProfileRow(_where(*key), seconds * per_turn, seconds / total if total else 0.0)

    parts = {}
    for label, path, name in PROFILE_PARTS:
        found = [v[3] for (f, _, n), v in busy.items() if f.endswith(path) and n == name]
        if found:
            parts[label] = sum(found) * per_turn
    focus = [(k, v) for k, v in busy.items() if any(m in k[0] for m in FOCUS)]
    focus.sort(key=lambda kv: kv[1][3], reverse=True)
    by_self = sorted(busy.items(), key=lambda kv: kv[1][2], reverse=True)
    return Profile(
        app=app,
        scenario=scenario,
        turns=turns,
        total_ms=total * per_turn,
        parts=parts,
        top_cumulative=[row(k, v[3]) for k, v in focus[:PROFILE_TOP]],
        top_self=[row(k, v[2]) for k, v in by_self[:PROFILE_SELF_TOP]],
    )


def _is_idle(name: str) -> bool:
    return any(i in name for i in IDLE)


def _where(filename: str, line: int, name: str) -> str:
    if filename == "~":
        return name
    for marker in ("site-packages/", str(common.ROOT) + "/", "lib/python3.11/", "lib/python3"):
        if marker in filename:
            filename = filename.split(marker, 1)[1]
            break
    return f"{filename}:{line}({name})"


# =========================================================================== output


def format_result(result: Result) -> str:
    lines = [
        f"{'':<12} {'at':>4}  {'bare SDK bot':^27}  {'Harbour':^27}  {'CPU':>6}",
        f"{'turn':<12} {'once':>4}  {'median':>8} {'p99':>8} {'CPU/turn':>9}  "
        f"{'median':>8} {'p99':>8} {'CPU/turn':>9}  {'ratio':>6}  {'n':>5}",
    ]
    for c in result.cells:
        b, h = c.latency["bare"], c.latency["harbour"]
        lines.append(
            f"{c.scenario:<12} {c.concurrency:>4}  {_ms(b.median_ms)} {_ms(b.p99_ms)} "
            f"{_ms(c.cpu_ms['bare'], 9)}  {_ms(h.median_ms)} {_ms(h.p99_ms)} "
            f"{_ms(c.cpu_ms['harbour'], 9)}  {c.ratio:>5.2f}x  {h.n:>5}"
        )
    lines += [
        "",
        "median, p99: turn latency (POST /api/messages round trip, nearest-rank p99); CPU/turn: "
        "server process CPU (user+system) per measured turn; n: measured turns per bot per row.",
        "of which garbage collection (ms per turn, bare / Harbour): "
        + "; ".join(
            f"{c.scenario} x{c.concurrency} {c.gc_ms['bare']:.2f} / {c.gc_ms['harbour']:.2f}"
            for c in result.cells
        ),
    ]
    size = result.store_size
    if size:
        lines.append(
            f"Harbour's store ({result.store}) at the end: {size['people_files']:.0f} people's "
            f"conversation files, {size['conversations_kb']:.0f} KB in all (largest "
            f"{size['largest_file_kb']:.1f} KB), "
            f"{size['sessions']:.0f} sessions, {size['seen']:.0f} event ids remembered"
            + (f"; {result.background} of the sessions never measured" if result.background else "")
        )
    for name, text in result.logs.items():
        loggers: dict[str, int] = {}
        for line in text.splitlines():
            words = line.split(" ", 4)
            if len(words) == 5 and words[2] in ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"):
                key = f"{words[2]} {words[3].rstrip(':')}"
                loggers[key] = loggers.get(key, 0) + 1
        if loggers:
            counted = ", ".join(
                f"{n} {k}" for k, n in sorted(loggers.items(), key=lambda kv: -kv[1])
            )
            lines.append(f"the {name} server logged: {counted}")
    if result.stopped_early:
        lines.append(f"stopped after {result.rounds} rounds: the time budget ran out")
    lines += format_profiles(result.profiles)
    lines.append("")
    lines += result.check_lines()
    return "\n".join(lines)


def _ms(value: float, width: int = 8) -> str:
    return f"{value:>{width - 3}.2f} ms"


def format_profiles(profiles: Sequence[Profile]) -> list[str]:
    lines: list[str] = []
    for scenario in SCENARIOS:
        got = {p.app: p for p in profiles if p.scenario == scenario}
        if set(got) != set(APPS):
            continue
        bare, harbour = got["bare"], got["harbour"]
        lines += [
            "",
            f"cProfile, {scenario} ({harbour.turns} turns each; profiler overhead included, the "
            "event loop's idle wait left out). Cumulative ms per turn:",
            f"    {'':<50} {'bare':>8} {'Harbour':>8} {'share':>7}",
            f"    {'everything the server process did':<50} {bare.total_ms:>8.3f} "
            f"{harbour.total_ms:>8.3f} {1:>7.1%}",
        ]
        for label, _, _ in PROFILE_PARTS:
            if label not in bare.parts and label not in harbour.parts:
                continue
            b = f"{bare.parts[label]:>8.3f}" if label in bare.parts else f"{'-':>8}"
            h = harbour.parts.get(label)
            share = h / harbour.total_ms if h is not None and harbour.total_ms else None
            lines.append(
                f"    {label:<50} {b} "
                + (
                    f"{h:>8.3f} {share:>7.1%}"
                    if h is not None and share is not None
                    else f"{'-':>8}"
                )
            )
        lines += [
            f"  Harbour, {scenario}: its own code, the store and the libraries they call, by "
            "cumulative time:",
            f"    {'ms/turn':>8} {'share':>6}  function",
        ]
        lines += [
            f"    {r.per_turn_ms:>8.3f} {r.share:>6.1%}  {r.function}"
            for r in harbour.top_cumulative
        ]
        lines += [
            f"  Harbour, {scenario}: by time in the function itself:",
            f"    {'ms/turn':>8} {'share':>6}  function",
        ]
        lines += [
            f"    {r.per_turn_ms:>8.3f} {r.share:>6.1%}  {r.function}" for r in harbour.top_self
        ]
    return lines


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.teams_turns",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--quick", action="store_true", help="1 round, fewer turns")
    common.add_store_argument(parser)
    parser.add_argument(
        "--rounds", type=int, default=None, help=f"measured rounds (default {FULL_ROUNDS})"
    )
    parser.add_argument(
        "--profile",
        action="store_true",
        help="after measuring, profile one more round of each bot with cProfile",
    )
    parser.add_argument(
        "--profile-dir",
        type=Path,
        default=None,
        help="with --profile: keep the raw pstats files there (implies --profile)",
    )
    parser.add_argument(
        "--background",
        type=int,
        default=0,
        help="this many more people start a report in Harbour during set-up and are never "
        "measured (how the figures change as reports in progress pile up)",
    )
    parser.add_argument(
        "--freeze-bare",
        action="store_true",
        help="gc.freeze() the bare bot after start-up too, as Harbour's server does for itself "
        "(by default the bare bot is left as the SDK's samples leave it)",
    )
    parser.add_argument(
        "--no-pin",
        action="store_true",
        help="do not pin the client (and fake connector) and the bots to different CPUs",
    )
    common.add_child_arguments(parser, ("fake", *APPS))
    args = parser.parse_args(argv)
    if args.serve:
        kind: str = args.serve
        asyncio.run(
            common.serve_child(
                lambda: start(kind, args.store, args.data_dir, args.freeze_bare),
                log=kind != "fake",
                cpu=args.cpu,
            )
        )
        return 0
    print(
        f"Harbour Teams turn benchmark: bare Agents SDK bot vs Harbour ({args.store} store), "
        f"{', '.join(map(str, FULL_CONCURRENCY))} at once, servers in child processes"
        f"{', not pinned' if args.no_pin else ' (the bots pinned to one CPU, client and connector to another)'}, "
        f"{os.cpu_count()} CPUs{' (quick)' if args.quick else ''}"
        f"{', bare bot gc-frozen too' if args.freeze_bare else ''}",
        flush=True,
    )
    result = asyncio.run(
        measure(
            quick=args.quick,
            rounds=args.rounds,
            store=args.store,
            profile=args.profile or args.profile_dir is not None,
            profile_dir=args.profile_dir,
            background=args.background,
            freeze_bare=args.freeze_bare,
            pin=not args.no_pin,
            progress=lambda m: print(m, flush=True),
        )
    )
    print()
    print(f"{result.rounds} rounds, {result.people} people per kind, {result.seconds:.0f} s in all")
    print(format_result(result))
    return 0 if result.passed else 1


if __name__ == "__main__":
    sys.exit(main())
