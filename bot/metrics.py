"""Prometheus metrics at /metrics: how fast Harbour acknowledges each platform,
and how far behind its alerts are.

Each server has its own registry (no process-wide state, so tests can build as
many servers as they like). Two kinds of metric:

* measured as requests arrive, by an aiohttp middleware on the platforms'
  endpoints only: `harbour_requests_total{platform,status}` and the
  `harbour_ack_seconds{platform}` histogram (time to the HTTP answer, which is
  the acknowledgement: work happens after it);
* computed when scraped: the outbox (`Notifier.health`) and the timers due
  now (follow-ups, check-ins), from the store's indexes (a scrape never reads
  every delivery record or every case); failed sends and deliveries retrying
  now, as this process's notifier counts them (with several instances,
  Prometheus sums them). The notifier moves timers on every few seconds, so a
  due timer that stays above 0 means delivery is stuck.

Labels are only ever a platform name, an HTTP status code or a fixed kind:
never a user id, a case reference or anything a person wrote.
"""

from __future__ import annotations

import collections
import time
from collections.abc import Awaitable, Callable, Iterable
from datetime import datetime

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.exposition import generate_latest
from prometheus_client.registry import Collector

from bot.alerts.followups import next_follow_up
from bot.alerts.sender import Notifier
from bot.models import Platform

PLATFORM_PATHS = {"/slack/events": Platform.SLACK.value, "/api/messages": Platform.TEAMS.value}
"""The endpoints measured, and the platform each one's label names."""

ACK_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 3.0, 5.0, 10.0)
"""Slack retries a request not answered within 3 s: buckets around that."""

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class _Scraped(Collector):
    """The metrics computed on scrape: `Metrics.refresh` stores a snapshot,
    `collect` (called by the registry, synchronously) reports it."""

    def __init__(self) -> None:
        self.families: list[Metric] = []

    def collect(self) -> Iterable[Metric]:
        return list(self.families)


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.notifier: Notifier | None = None
        self.requests = Counter(
            "harbour_requests",
            "Requests received from each platform, by HTTP status answered.",
            ["platform", "status"],
            registry=self.registry,
        )
        self.ack_seconds = Histogram(
            "harbour_ack_seconds",
            "Time from a platform's request arriving to Harbour's HTTP answer (the ack).",
            ["platform"],
            buckets=ACK_BUCKETS,
            registry=self.registry,
        )
        self._scraped = _Scraped()
        self.registry.register(self._scraped)

    def watch(self, notifier: Notifier) -> None:
        """Report this notifier's outbox, deliveries and timers when scraped."""
        self.notifier = notifier

    @web.middleware
    async def middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        platform = PLATFORM_PATHS.get(request.path)
        if platform is None:
            return await handler(request)
        started = time.perf_counter()
        status = 500
        try:
            response = await handler(request)
            status = response.status
            return response
        except web.HTTPException as exc:
            status = exc.status
            raise
        finally:
            self.ack_seconds.labels(platform).observe(time.perf_counter() - started)
            self.requests.labels(platform, str(status)).inc()

    async def handle(self, _: web.Request) -> web.Response:
        await self.refresh()
        # The content type carries a charset, which aiohttp only takes as a header.
        return web.Response(
            body=generate_latest(self.registry), headers={"Content-Type": CONTENT_TYPE_LATEST}
        )

    def attach(self, web_app: web.Application, path: str = "/metrics") -> None:
        web_app.router.add_get(path, self.handle)

    async def refresh(self) -> None:
        if self.notifier is None:
            self._scraped.families = []
            return
        self._scraped.families = await scrape(self.notifier)


async def scrape(notifier: Notifier) -> list[Metric]:
    """The outbox, delivery and timer metrics, read from the store now."""
    health = await notifier.health()
    undelivered = GaugeMetricFamily(
        "harbour_outbox_undelivered", "Alert events in the outbox not yet delivered."
    )
    undelivered.add_metric([], health["undelivered"])
    oldest = GaugeMetricFamily(
        "harbour_outbox_oldest_undelivered_seconds",
        "Age of the oldest undelivered alert event (0 when none is waiting).",
    )
    oldest.add_metric([], health["oldest_undelivered_seconds"] or 0)
    letters = GaugeMetricFamily(
        "harbour_dead_letters_unreported",
        "Events set aside as undeliverable and not yet reported to the leads.",
    )
    letters.add_metric([], health["dead_letters_unreported"])

    failed = CounterMetricFamily(
        "harbour_delivery_failures",
        "Alert sends by this process that failed (each is retried).",
        labels=["platform"],
    )
    waiting = GaugeMetricFamily(
        "harbour_deliveries_retrying",
        "Alert deliveries this process is failing to make now, waiting for their next try.",
        labels=["platform"],
    )
    retrying = collections.Counter(notifier.retrying.values())
    for platform in Platform:
        failed.add_metric([platform.value], notifier.failed_sends[platform])
        waiting.add_metric([platform.value], retrying[platform])

    now = notifier.harbour.clock()
    follow_ups, checkins = await _timers_due(notifier, now)
    timers = GaugeMetricFamily(
        "harbour_timers_due",
        "Follow-ups and check-ins due now but not yet sent (the notifier sends them "
        "within seconds: a value that stays above 0 means it is stuck).",
        labels=["kind"],
    )
    timers.add_metric(["follow_up"], follow_ups)
    timers.add_metric(["checkin"], checkins)
    return [undelivered, oldest, letters, failed, waiting, timers]


async def _timers_due(notifier: Notifier, now: datetime) -> tuple[int, int]:
    follow_ups = checkins = 0
    for report in await notifier.store.reports_due(now):  # indexed: not every open case
        follow_ups += next_follow_up(report, now, notifier.escalation) is not None
        checkins += sum(c.state == "scheduled" and c.due <= now for c in report.checkins)
    return follow_ups, checkins
