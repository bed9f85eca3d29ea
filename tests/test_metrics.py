"""Issue 13, point 5: monitoring. Prometheus metrics at /metrics, through a real
server build; and JSON logs (HARBOUR_LOG_FORMAT=json) that withhold what the
text logs withhold.

The platforms' endpoints are measured as requests arrive (count and time to
the acknowledgement); the outbox, delivery failures and timers due are read
from the store when scraped. No label or value may carry a user id, a case
reference or anything a person wrote."""

from __future__ import annotations

import json
import logging
import re
import time
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager
from io import StringIO
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer

from adapters.slack.config import SlackSettings
from adapters.teams.config import load_teams_settings
from bot.config import ConfigError, Settings, load_settings
from bot.logging_setup import WITHHELD, configure_logging, logger_levels, set_format
from bot.models import Platform
from bot.server import Server, build
from bot.store import MemoryStore, TinyStore
from tests.conftest import TYPED_REPORT, Chat, Clock, RecordingMessenger, content_in
from tests.fakes.slack import SIGNING_SECRET, FakeSlack, command_body, signed_headers
from tests.fakes.teams import FakeConnector, activity
from tests.test_cases import LOW_RISK, file
from tests.test_logging import slack_server, typed_command

FORM = "application/x-www-form-urlencoded"
DESCRIPTION = dict(TYPED_REPORT)["description"]


def sample(body: str, name: str, **labels: str) -> float:
    """The value of one sample in the exposition text (0 when absent)."""
    for line in body.splitlines():
        if line.startswith("#"):
            continue
        match = re.fullmatch(r"([a-zA-Z_:][\w:]*)(\{(.*)\})? (\S+)", line)
        if match is None or match.group(1) != name:
            continue
        found = dict(re.findall(r'(\w+)="([^"]*)"', match.group(3) or ""))
        if all(found.get(k) == v for k, v in labels.items()):
            return float(match.group(4))
    return 0.0


@asynccontextmanager
async def serving(server: Server) -> AsyncIterator[TestClient[Any, Any]]:
    client = TestClient(TestServer(server.web_app, host="127.0.0.1"))
    await client.start_server()
    try:
        yield client
    finally:
        await client.close()


async def scrape(client: TestClient[Any, Any]) -> str:
    response = await client.get("/metrics")
    assert response.status == 200
    assert response.headers["Content-Type"].startswith("text/plain; version=")
    return await response.text()


async def test_metrics_show_an_outage_without_references_or_people(
    tmp_path: Path, clock: Clock
) -> None:
    store = TinyStore(tmp_path / "data")
    server = build(Settings(_env_file=None), SlackSettings(_env_file=None), store)  # type: ignore[call-arg]
    server.harbour.clock = clock
    assert server.notifier is not None
    messenger = RecordingMessenger()
    messenger.down = True
    server.notifier.messengers[Platform.CONSOLE] = messenger
    try:
        async with serving(server) as client:
            quiet = await scrape(client)
            assert sample(quiet, "harbour_outbox_undelivered") == 0
            assert sample(quiet, "harbour_outbox_oldest_undelivered_seconds") == 0
            assert sample(quiet, "harbour_dead_letters_unreported") == 0
            assert sample(quiet, "harbour_timers_due", kind="follow_up") == 0
            assert "harbour_delivery_failures_total" in quiet

            await file(Chat(server.harbour, "alice"), LOW_RISK)
            await server.notifier.run_once()
            clock.advance(minutes=20)
            await server.notifier.run_once()
            behind = await scrape(client)
            assert sample(behind, "harbour_outbox_undelivered") == 1
            assert sample(behind, "harbour_outbox_oldest_undelivered_seconds") >= 1200
            failed = sample(behind, "harbour_delivery_failures_total", platform="console")
            assert failed >= 1
            assert sample(behind, "harbour_deliveries_retrying", platform="console") >= 1
            assert sample(behind, "harbour_delivery_failures_total", platform="slack") == 0

            clock.advance(days=4)  # nobody took the case on; the notifier hasn't run
            due = await scrape(client)
            assert sample(due, "harbour_timers_due", kind="follow_up") == 1
            await server.notifier.run_once()
            assert sample(await scrape(client), "harbour_timers_due", kind="follow_up") == 0

            messenger.down = False
            clock.advance(minutes=30)
            await server.notifier.run_once()
            after = await scrape(client)
            assert sample(after, "harbour_outbox_undelivered") == 0
            assert sample(after, "harbour_deliveries_retrying", platform="console") == 0
            # A counter: the failures before the alert got through still count.
            assert sample(after, "harbour_delivery_failures_total", platform="console") >= failed

            for text in (quiet, behind, due, after):
                assert "HB-" not in text  # no case reference
                assert "alice" not in text and "bob" not in text and "carol" not in text
    finally:
        await store.close()


async def test_platform_requests_are_counted_and_timed_without_content() -> None:
    fake, connector = FakeSlack(), FakeConnector()
    slack = SlackSettings(
        bot_token="xoxb-test",
        signing_secret=SIGNING_SECRET,
        api_url=await fake.start(),
        _env_file=None,
    )  # type: ignore[call-arg]
    teams = load_teams_settings({"HARBOUR_TEAMS_LOCAL_TRIAL": "true"})
    service_url = await connector.start()
    server = build(Settings(_env_file=None), slack, MemoryStore(), teams)  # type: ignore[call-arg]
    try:
        async with serving(server) as client:
            typed = command_body(
                "U0ALICE", DESCRIPTION, channel="D0ALICE", response_url=fake.response_url()
            )
            signed = signed_headers(typed, content_type=FORM)
            assert (await client.post("/slack/events", data=typed, headers=signed)).status == 200
            forged = signed_headers(typed, content_type=FORM, secret="not-the-secret")
            assert (await client.post("/slack/events", data=typed, headers=forged)).status == 401
            said = activity(service_url, "alice", text=DESCRIPTION)
            answered = await client.post("/api/messages", json=said)
            assert answered.status < 500
            await client.get("/healthz")
            assert server.slack is not None
            await server.slack.drain()

            body = await scrape(client)
            assert sample(body, "harbour_requests_total", platform="slack", status="200") == 1
            assert sample(body, "harbour_requests_total", platform="slack", status="401") == 1
            assert sample(body, "harbour_ack_seconds_count", platform="slack") == 2
            assert sample(body, "harbour_ack_seconds_bucket", platform="slack", le="+Inf") == 2
            status = str(answered.status)
            assert sample(body, "harbour_requests_total", platform="teams", status=status) == 1
            assert sample(body, "harbour_ack_seconds_count", platform="teams") == 1
            # /healthz and /metrics aren't measured: only the two platforms' endpoints.
            measured = set(re.findall(r'harbour_requests_total\{platform="(\w+)"', body))
            assert measured == {"slack", "teams"}
            for quoted in (DESCRIPTION, "U0ALICE", "D0ALICE", "alice", "T0"):
                assert quoted not in body
            labels = set(re.findall(r"(\w+)=\"", body))
            assert labels <= {"platform", "status", "kind", "le"}
    finally:
        await fake.close()
        await connector.close()


async def test_each_server_has_its_own_registry() -> None:
    """Building servers again (every test does) never raises a duplicate
    registration, and one server's counts are not another's."""
    slack = SlackSettings(_env_file=None)  # type: ignore[call-arg]
    first = build(Settings(_env_file=None), slack, MemoryStore())  # type: ignore[call-arg]
    second = build(Settings(_env_file=None), slack, MemoryStore())  # type: ignore[call-arg]
    assert first.metrics is not None and second.metrics is not None
    assert first.metrics.registry is not second.metrics.registry
    first.metrics.requests.labels("slack", "200").inc()
    async with serving(second) as client:
        assert sample(await scrape(client), "harbour_requests_total", platform="slack") == 0


# ------------------------------------------------------------------ JSON logs (HARBOUR_LOG_FORMAT)


@pytest.fixture
def json_logging() -> Iterator[Callable[[str], StringIO]]:
    """`configure(level)`: Harbour's logging as `harbour serve` sets it up with
    HARBOUR_LOG_FORMAT=json, into a buffer (see tests/test_logging.py)."""
    root = logging.getLogger()
    levels = {name: logging.getLogger(name or None).level for name in logger_levels("DEBUG")}
    ours: list[logging.Handler] = []

    def configure(level: str) -> StringIO:
        stream = StringIO()
        others = list(root.handlers)
        for handler in others:
            root.removeHandler(handler)
        try:
            configure_logging(level, stream=stream, log_format="json")
        finally:
            ours.extend(h for h in root.handlers if h not in others)
            for handler in others:
                root.addHandler(handler)
        return stream

    yield configure
    for handler in ours:
        root.removeHandler(handler)
    for name, level in levels.items():
        logging.getLogger(name or None).setLevel(level)


def json_lines(stream: StringIO) -> list[dict[str, Any]]:
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    for line in lines:
        assert {"time", "level", "logger", "message"} <= set(line)
        assert set(line) <= {"time", "level", "logger", "message", "exception", "stack"}
    return lines


def test_json_logs_are_one_object_per_line(json_logging: Callable[[str], StringIO]) -> None:
    stream = json_logging("INFO")
    logging.getLogger("bot.server").info("Harbour is listening on %s:%d", "0.0.0.0", 3978)
    logging.getLogger("bot.server").debug("not at INFO")
    try:
        raise OSError("No space left on device")
    except OSError:
        logging.getLogger("bot.alerts").exception("delivering alerts failed")
    first, second = json_lines(stream)
    assert first["level"] == "INFO" and first["logger"] == "bot.server"
    assert first["message"] == "Harbour is listening on 0.0.0.0:3978"
    assert first["time"].endswith("+00:00") and "T" in first["time"]
    assert second["level"] == "ERROR" and "OSError" in second["exception"]


def log_what_libraries_quote(bolt: logging.Logger) -> None:
    bolt.info("Invalid request signature detected (body: text=%s)", DESCRIPTION)
    bolt.warning("Unhandled request (body: %s)", json.dumps({"text": DESCRIPTION}))
    try:
        raise ValueError(f"could not parse {DESCRIPTION}")
    except ValueError:
        logging.getLogger("microsoft_agents.hosting").exception("activity rejected")


@pytest.mark.parametrize("level", ["DEBUG", "WARNING"])
def test_json_logs_withhold_what_libraries_quote(
    json_logging: Callable[[str], StringIO], level: str
) -> None:
    stream = json_logging(level)
    bolt = logging.getLogger("slack_bolt.harbour")
    level_before = bolt.level
    bolt.setLevel(logging.DEBUG)  # as bolt does to the loggers it makes
    try:
        log_what_libraries_quote(bolt)
    finally:
        bolt.setLevel(level_before)
    lines = json_lines(stream)
    assert [line["level"] for line in lines] == ["WARNING", "ERROR"]
    assert lines[0]["message"] == f"Unhandled request {WITHHELD}"
    assert "ValueError (message withheld)" in lines[1]["exception"]
    assert content_in(stream.getvalue()) == []


async def test_a_refused_slack_request_is_not_in_json_logs(
    json_logging: Callable[[str], StringIO], caplog: pytest.LogCaptureFixture
) -> None:
    """The real bolt app refusing a stale request that carries what she typed."""
    stream = json_logging("DEBUG")
    for name in ("slack_bolt", "slack_sdk", "aiohttp"):
        logging.getLogger(name).setLevel(logging.DEBUG)
    async with slack_server() as (client, _):
        stale = typed_command()
        headers = signed_headers(stale, content_type=FORM, at=int(time.time()) - 6 * 60)
        assert (await client.post("/slack/events", data=stale, headers=headers)).status == 401
    assert content_in(caplog.text)  # bolt did log the body, to pytest's unfiltered handler
    json_lines(stream)
    assert content_in(stream.getvalue()) == []


def test_set_format_switches_only_harbours_handlers(
    json_logging: Callable[[str], StringIO],
) -> None:
    stream = json_logging("INFO")
    set_format("text")
    logging.getLogger("bot").info("as text")
    set_format("json")
    logging.getLogger("bot").info("as json")
    text, as_json = stream.getvalue().splitlines()
    assert text.endswith("INFO bot: as text")
    assert json.loads(as_json)["message"] == "as json"


def test_log_format_is_a_checked_setting() -> None:
    assert load_settings(log_format="json").log_format == "json"
    assert Settings(_env_file=None).log_format == "text"  # type: ignore[call-arg]
    with pytest.raises(ConfigError, match="HARBOUR_LOG_FORMAT"):
        load_settings(log_format="xml")
