"""`harbour serve`: one aiohttp server for every platform Harbour is set up for.

Slack's events, slash commands and interactivity arrive at /slack/events (or
over a Socket Mode connection, for agencies with no public URL); Teams
activities at /api/messages, served only when Teams is configured (an app
registration, or the explicit local trial); /healthz answers a load balancer
and monitoring (the store takes writes; how far behind alerts are), and
/metrics Prometheus (see bot.metrics).
The adapters are composed here and nowhere else.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import signal
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from aiohttp import web

from adapters.slack.app import SlackAdapter
from adapters.slack.config import SlackSettings
from adapters.teams.app import TeamsAdapter
from adapters.teams.config import HOW_TO_TURN_ON, TeamsSettings
from bot.alerts.messenger import Messenger
from bot.alerts.sender import Notifier
from bot.app import Harbour
from bot.config import Settings
from bot.directory import Directory
from bot.guidance import Library
from bot.logging_setup import set_format
from bot.metrics import Metrics
from bot.models import Platform
from bot.pages import attach_documents, organisation_details
from bot.privacy.retention import purge_daily
from bot.store import Store
from bot.team import reconcile_directory_file

log = logging.getLogger(__name__)


@dataclass
class Server:
    web_app: web.Application
    harbour: Harbour
    slack: SlackAdapter | None = None
    teams: TeamsAdapter | None = None
    notifier: Notifier | None = None
    metrics: Metrics | None = None


STALE_ALERT_S = 600
"""An alert undelivered for longer than this makes /healthz say "degraded"."""


def _health(server: Server) -> Callable[[web.Request], Awaitable[web.Response]]:
    async def health(_: web.Request) -> web.Response:
        """Ready when the store takes writes (503 otherwise: this instance can't
        keep what people tell it); "degraded" while an alert is not getting
        through, so monitoring sees a platform outage without failing over."""
        body: dict[str, Any] = {"status": "ok", "store": "writable"}
        try:
            await server.harbour.store.check_writable()
        except Exception as exc:
            body.update(status="failing", store=f"not writable ({type(exc).__name__})")
            return web.json_response(body, status=503)
        if server.notifier is not None:
            body.update(await server.notifier.health())
            late = (body["oldest_undelivered_seconds"] or 0) > STALE_ALERT_S
            if late or body["dead_letters_unreported"]:
                body["status"] = "degraded"
        return web.json_response(body)

    return health


def build(
    settings: Settings,
    slack: SlackSettings,
    store: Store,
    teams: TeamsSettings | None = None,
    library: Library | None = None,
    directory: Directory | None = None,
) -> Server:
    harbour = Harbour(
        store,
        settings.flow_context(),
        command_prefixes={Platform.SLACK: f"{slack.command} "},
        library=library if library is not None else settings.guidance(),
        directory=directory,
        admins=settings.admin_ids,
        figures=settings.figures_policy(),
    )
    metrics = Metrics()
    web_app = web.Application(client_max_size=1024**2, middlewares=[metrics.middleware])
    server = Server(web_app=web_app, harbour=harbour, metrics=metrics)
    web_app.router.add_get("/healthz", _health(server))
    attach_documents(web_app, organisation_details(settings))
    metrics.attach(web_app)
    if slack.enabled:
        server.slack = SlackAdapter(harbour, slack)
        if not slack.use_socket_mode:
            server.slack.attach(web_app)
    if teams is not None and teams.enabled:
        server.teams = TeamsAdapter(harbour, store, teams)
        server.teams.attach(web_app)
    messengers: dict[Platform, Messenger] = {}
    if server.slack is not None:
        messengers[Platform.SLACK] = server.slack
    if server.teams is not None:
        messengers[Platform.TEAMS] = server.teams
    server.notifier = Notifier(
        harbour,
        messengers,
        escalation=settings.escalation(),
        recover_after=timedelta(seconds=settings.recover_after_seconds),
        failover=timedelta(seconds=settings.failover_seconds),
    )
    metrics.watch(server.notifier)
    return server


def freeze_long_lived() -> None:
    """Everything built before serving lives as long as the server: move it out
    of the garbage collector's way, so collections under load scan only
    per-request objects (the gc.freeze pattern of long-running Python servers).
    Harbour's start-up heap (both platforms' SDKs, flows, guidance) is several
    times a bare bot's; unfrozen, a Teams card action spent 1.5-1.8 times as
    long collecting garbage as a bare Agents SDK bot's did."""
    gc.collect()
    gc.freeze()


async def run(
    settings: Settings,
    slack: SlackSettings,
    teams: TeamsSettings,
    store: Store,
    library: Library,
    directory: Directory,
) -> None:
    set_format(settings.log_format)  # also when the CLI set up logging as text
    server = build(settings, slack, store, teams, library, directory)
    assert server.notifier is not None
    for worker in await reconcile_directory_file(server.harbour, directory.file_managers):
        log.info("directory file: a new manager for %s; earlier reports follow the rule", worker)
    freeze_long_lived()
    delivering = asyncio.create_task(server.notifier.run())
    purging = asyncio.create_task(purge_daily(server.harbour, settings.retention()))
    if server.slack is not None and slack.use_socket_mode:
        await server.slack.connect_socket_mode()
        log.info("Slack: connected over Socket Mode")
    elif server.slack is not None:
        log.info("Slack: listening for requests at /slack/events")
    else:
        log.info("Slack: off (set SLACK_BOT_TOKEN to connect a workspace)")
    if server.teams is not None:
        log.info("Teams: listening for activities at /api/messages")
    else:
        log.info("Teams: off (%s)", HOW_TO_TURN_ON)
    runner = web.AppRunner(server.web_app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, settings.host, settings.port).start()
    log.info("Harbour is listening on %s:%d", settings.host, settings.port)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):  # no signal handlers on Windows
            loop.add_signal_handler(sig, stop.set)
    try:
        await stop.wait()
    finally:
        log.info("shutting down: finishing work already acknowledged")
        delivering.cancel()
        purging.cancel()
        await runner.cleanup()
        if server.slack is not None:
            await server.slack.close()
