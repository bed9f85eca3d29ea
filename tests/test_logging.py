"""Issue 10, point 9: library loggers never print what a person reported.

slack_bolt logged the whole body of a request it refused (a stale signature,
or the server's clock off by a few minutes) at INFO: what the worker typed, the
form state. Here real signed-but-stale requests go through the real bolt app
over HTTP, and real activities through the Agents SDK, with Harbour's own
logging configured (`configure_logging`, writing to a buffer) at each level it
allows; nothing the person typed may come out."""

from __future__ import annotations

import json
import logging
import sys
import time
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager
from io import StringIO
from pathlib import Path
from typing import Any

import pytest
from aiohttp import ClientSession
from aiohttp.test_utils import TestClient, TestServer

from adapters.slack.config import SlackSettings
from adapters.teams.config import load_teams_settings
from bot.config import Settings
from bot.logging_setup import WITHHELD, WithholdLibraryDetails, logger_levels
from bot.server import build
from bot.store import MemoryStore
from tests.conftest import TYPED_REPORT, content_in
from tests.fakes.slack import (
    SIGNING_SECRET,
    FakeSlack,
    block_actions,
    command_body,
    interaction_body,
    signed_headers,
)
from tests.fakes.teams import FakeConnector, activity
from tests.test_server import serving

ALICE = "U0ALICE"
FORM = "application/x-www-form-urlencoded"
LEVELS = ["DEBUG", "INFO", "WARNING", "ERROR"]
ANSWERS = dict(TYPED_REPORT)
DESCRIPTION = ANSWERS["description"]  # "Posts naming me and my street."
LINK = ANSWERS["links"]
EVIDENCE = ANSWERS["evidence"]
# Slack refuses a request more than 5 minutes from its own clock, either way.
STALE = [-6 * 60, 6 * 60]  # sent 6 minutes ago; the server's clock 6 minutes behind


@pytest.fixture
def harbour_logging() -> Iterator[Callable[[str], StringIO]]:
    """`configure(level)`: Harbour's logging as `harbour serve` sets it up, into a
    buffer. pytest's own handlers stay on the root, but after Harbour's, and
    without its filter; levels and handlers are put back afterwards."""
    root = logging.getLogger()
    levels = {name: logging.getLogger(name or None).level for name in logger_levels("DEBUG")}
    ours: list[logging.Handler] = []

    def configure(level: str) -> StringIO:
        from bot.cli import configure_logging  # importable from the CLI, as before

        stream = StringIO()
        others = list(root.handlers)
        for handler in others:
            root.removeHandler(handler)
        try:
            configure_logging(level, stream=stream)
        finally:
            ours.extend(h for h in root.handlers if h not in others)
            for handler in others:
                root.addHandler(handler)
        assert len(ours) == 1, "configure_logging adds one handler to a bare root"
        return stream

    yield configure
    for handler in ours:
        root.removeHandler(handler)
    for name, level in levels.items():
        logging.getLogger(name or None).setLevel(level)


@asynccontextmanager
async def slack_server() -> AsyncIterator[tuple[TestClient[Any, Any], FakeSlack]]:
    fake = FakeSlack()
    base_url = await fake.start()
    slack = SlackSettings(
        bot_token="xoxb-test", signing_secret=SIGNING_SECRET, api_url=base_url, _env_file=None
    )  # type: ignore[call-arg]
    server = build(Settings(_env_file=None), slack, MemoryStore())  # type: ignore[call-arg]
    client = TestClient(TestServer(server.web_app, host="127.0.0.1"))
    await client.start_server()
    try:
        yield client, fake
        assert server.slack is not None
        await server.slack.drain()
    finally:
        await client.close()
        await fake.close()


def typed_form_state() -> dict[str, Any]:
    """A report page's inputs as Slack sends them with any press on the page."""

    def typed(value: str) -> dict[str, Any]:
        return {"hb.input": {"type": "plain_text_input", "value": value}}

    return {
        "tok1|links": typed(LINK),
        "tok1|evidence": typed(EVIDENCE),
        "tok1|description": typed(DESCRIPTION),
    }


def typed_command() -> str:
    return command_body(ALICE, DESCRIPTION, channel=f"D{ALICE}")


def typed_press() -> str:
    message = {"ts": "1700000000.000001", "channel": f"D{ALICE}", "blocks": []}
    button = {"type": "button", "action_id": "hb.submit", "value": "tok1", "block_id": "tok1"}
    payload = block_actions(ALICE, button, message=message, channel=f"D{ALICE}")
    payload["state"]["values"] = typed_form_state()
    return interaction_body(payload)


@pytest.mark.parametrize("skew", STALE, ids=["sent-6-min-ago", "server-clock-6-min-behind"])
@pytest.mark.parametrize("body", [typed_command, typed_press], ids=["slash-command", "form-press"])
@pytest.mark.parametrize("level", LEVELS)
async def test_a_refused_slack_request_is_not_logged_with_its_body(
    harbour_logging: Callable[[str], StringIO],
    caplog: pytest.LogCaptureFixture,
    level: str,
    body: Callable[[], str],
    skew: int,
) -> None:
    log = harbour_logging(level)
    sent = body()
    assert content_in(sent), "the request carries what the worker typed"
    async with slack_server() as (client, fake):
        headers = signed_headers(sent, content_type=FORM, at=int(time.time()) + skew)
        response = await client.post("/slack/events", data=sent, headers=headers)
        assert response.status == 401
        assert fake.calls == []  # refused before anything was done with it
    assert content_in(log.getvalue()) == []
    assert content_in(caplog.text) == []  # no library even made such a record


async def test_library_records_are_withheld_even_when_a_library_logs_at_debug(
    harbour_logging: Callable[[str], StringIO], caplog: pytest.LogCaptureFixture
) -> None:
    """Harbour caps the libraries' loggers, but a host (or bolt, which copies its
    app logger's level onto the loggers it makes) may lower them again: then
    Harbour's handler still prints none of their records below WARNING."""
    log = harbour_logging("DEBUG")
    for name in ("slack_bolt", "slack_sdk", "aiohttp"):
        logging.getLogger(name).setLevel(logging.DEBUG)
    async with slack_server() as (client, _):
        stale = typed_command()
        headers = signed_headers(stale, content_type=FORM, at=int(time.time()) - 6 * 60)
        assert (await client.post("/slack/events", data=stale, headers=headers)).status == 401
        # And a request that is accepted, with everything a page can carry.
        press = typed_press()
        response = await client.post(
            "/slack/events", data=press, headers=signed_headers(press, content_type=FORM)
        )
        assert response.status == 200
    # The libraries did log the bodies (pytest's handler has no filter) ...
    assert "Invalid request signature detected" in caplog.text
    assert content_in(caplog.text)
    # ... and Harbour's handler printed none of it.
    assert content_in(log.getvalue()) == []
    assert "Invalid request signature detected" not in log.getvalue()


UNHANDLED = {
    # A typeahead's text, and an old-style dialog's answers: Harbour has neither,
    # so bolt answers 404 and warns with the request's "filtered" body.
    "block_suggestion": {"action_id": "hb.search", "block_id": "b1", "value": DESCRIPTION},
    "dialog_submission": {"callback_id": "old", "submission": {"what": DESCRIPTION}},
}


@pytest.mark.parametrize("kind", UNHANDLED)
@pytest.mark.parametrize("level", LEVELS)
async def test_an_unhandled_slack_request_is_warned_about_without_its_content(
    harbour_logging: Callable[[str], StringIO], level: str, kind: str
) -> None:
    log = harbour_logging(level)
    payload = {
        "type": kind,
        "user": {"id": ALICE, "team_id": "T0HARBOUR"},
        "team": {"id": "T0HARBOUR"},
        **UNHANDLED[kind],
    }
    body = interaction_body(payload)
    async with slack_server() as (client, _):
        response = await client.post(
            "/slack/events", data=body, headers=signed_headers(body, content_type=FORM)
        )
        assert response.status == 404
    assert content_in(log.getvalue()) == []
    if level != "ERROR":
        assert f"Unhandled request {WITHHELD}" in log.getvalue()


@asynccontextmanager
async def teams_server() -> AsyncIterator[tuple[TestClient[Any, Any], str]]:
    fake = FakeConnector()
    service_url = await fake.start()
    server = build(
        Settings(_env_file=None),  # type: ignore[call-arg]
        SlackSettings(_env_file=None),  # type: ignore[call-arg]
        MemoryStore(),
        load_teams_settings({"HARBOUR_TEAMS_LOCAL_TRIAL": "true"}),
    )
    client = TestClient(TestServer(server.web_app, host="127.0.0.1"))
    await client.start_server()
    try:
        yield client, service_url
    finally:
        await client.close()
        await fake.close()


@pytest.mark.parametrize("level", LEVELS)
async def test_teams_activities_the_sdk_complains_about_are_logged_without_content(
    harbour_logging: Callable[[str], StringIO], level: str
) -> None:
    """The Agents SDK logs the text of an activity no route takes (an edited
    message arrives as `messageUpdate`) at WARNING, and a malformed activity's
    fields, in a pydantic error, at ERROR (aiohttp then logs the same error)."""
    log = harbour_logging(level)
    async with teams_server() as (client, url):
        edited = activity(url, "alice", kind="messageUpdate", text=DESCRIPTION)
        assert (await client.post("/api/messages", json=edited)).status == 202
        malformed = activity(url, "alice", text={"typed": DESCRIPTION, "link": LINK})
        assert (await client.post("/api/messages", json=malformed)).status == 500
    printed = log.getvalue()
    assert content_in(printed) == []
    # What went wrong is still there for whoever reads the log.
    if level != "ERROR":
        assert f"No route found for activity type: messageUpdate with {WITHHELD}" in printed
    assert "Validation error for Activity: <ValidationError>" in printed
    assert "pydantic_core._pydantic_core.ValidationError (message withheld)" in printed
    assert "Error handling request" in printed
    assert 'File "' in printed  # the traceback's frames are kept


def record(
    message: str, *args: object, name: str = "slack_bolt.harbour", level: int = logging.WARNING
) -> logging.LogRecord:
    return logging.LogRecord(name, level, __file__, 1, message, args, None)


def printed(rec: logging.LogRecord) -> str | None:
    if not WithholdLibraryDetails().filter(rec):
        return None
    return logging.Formatter("%(message)s").format(rec)


def test_the_filter_withholds_library_details_and_leaves_harbours_records_alone() -> None:
    body = command_body(ALICE, DESCRIPTION)
    payload = {"type": "block_actions", "state": typed_form_state()}
    # bolt's refusal, at INFO (dropped) and as if it were a WARNING (withheld)
    refusal = f"Invalid request signature detected (signature: v0=1, timestamp: 1, body: {body})"
    assert printed(record(refusal, name="slack_bolt.RequestVerification", level=20)) is None
    assert printed(record(refusal, name="slack_bolt.RequestVerification")) == (
        f"Invalid request signature detected (signature: v0=1, timestamp: 1 {WITHHELD}"
    )
    # bolt's "Unhandled request ({...})", slack_sdk's "Unknown block ... ({...})"
    assert printed(record(f"Unhandled request ({payload})")) == f"Unhandled request {WITHHELD}"
    assert printed(record("skipped (%s)", payload, name="slack_sdk.models")) == (
        f"skipped {WITHHELD}"
    )
    # a form or JSON body quoted bare
    assert content_in(printed(record("got %s", body, name="aiohttp.web")) or "") == []
    assert content_in(printed(record("got %s", json.dumps(payload), name="x")) or "") == []
    # Harbour's own records are its own business: untouched, at any level
    mine = record("Teams: off (%s)", "no settings", name="bot.server", level=logging.DEBUG)
    assert printed(mine) == "Teams: off (no settings)"


def test_an_exceptions_message_is_withheld_and_its_traceback_kept() -> None:
    def fail() -> None:
        try:
            raise KeyError(LINK)
        except KeyError as exc:
            raise ValueError(f"could not read {DESCRIPTION!r}") from exc

    try:
        fail()
    except ValueError as exc:
        rec = logging.LogRecord("asyncio", logging.ERROR, __file__, 1, "failed: %r", (exc,), None)
        rec.exc_info = sys.exc_info()
    text = printed(rec) or ""
    assert content_in(text) == []
    assert text.startswith("failed: <ValueError>\nTraceback (most recent call last):")
    assert "builtins.KeyError (message withheld)" in text
    assert "builtins.ValueError (message withheld)" in text
    assert "in fail" in text


@pytest.mark.skipif(sys.platform == "win32", reason="signals")
async def test_harbour_serve_at_debug_logs_no_refused_body(tmp_path: Path) -> None:
    """The whole way: `harbour serve` with HARBOUR_LOG_LEVEL=DEBUG, its stderr."""
    fake = FakeSlack()
    api_url = await fake.start()
    try:
        async with (
            serving(
                tmp_path,
                HARBOUR_LOG_LEVEL="DEBUG",
                HARBOUR_STORE="memory",
                SLACK_BOT_TOKEN="xoxb-test",
                SLACK_SIGNING_SECRET=SIGNING_SECRET,
                SLACK_API_URL=api_url,
            ) as served,
            ClientSession() as session,
        ):
            for body in (typed_command(), typed_press()):
                headers = signed_headers(body, content_type=FORM, at=int(time.time()) - 400)
                async with session.post(
                    f"{served.url}/slack/events", data=body, headers=headers
                ) as response:
                    assert response.status == 401
    finally:
        await fake.close()
    assert served.code == 0, served.log
    assert "Slack: listening for requests at /slack/events" in served.log  # it did log
    assert content_in(served.log) == []
