"""A worker is named to her manager as she names herself in Slack: her display
name (else her full name) from `users.info`, asked once per person and only
after Slack's ack; her handle (or "A member of your team") if Slack won't say."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer

from adapters.slack import app as slack_app
from adapters.slack import render
from adapters.slack.config import SlackSettings
from bot.config import Settings
from bot.directory import Directory
from bot.server import Server, build
from bot.store import MemoryStore, RecordKind
from tests.conftest import TYPED_REPORT
from tests.fakes.slack import SIGNING_SECRET, TEAM, FakeSlack, command_body, event_body
from tests.test_slack import FORM, REPORT_PAGES, SlackHarness

ALICE, BOB, CAROL = "U0ALICE", "U0BOB", "U0CAROL"


def key(user: str) -> str:
    return f"slack:{TEAM}:{user}"


@pytest.fixture
async def h() -> AsyncIterator[SlackHarness]:
    fake = FakeSlack()
    base_url = await fake.start()
    store = MemoryStore()
    directory = Directory(
        managers={key(ALICE): [key(BOB)]}, leads={key(CAROL)}, channels={"slack": "C0SAFETY1"}
    )
    slack = SlackSettings(
        bot_token="xoxb-test", signing_secret=SIGNING_SECRET, api_url=base_url, _env_file=None
    )  # type: ignore[call-arg]
    server = build(Settings(_env_file=None), slack, store, directory=directory)  # type: ignore[call-arg]
    client = TestClient(TestServer(server.web_app, host="127.0.0.1"))
    await client.start_server()
    try:
        yield SlackHarness(fake, server, client, store)
    finally:
        await client.close()
        await fake.close()


async def file_by_pressing(h: SlackHarness) -> None:
    await h.command(ALICE)
    for page in REPORT_PAGES:
        await h.submit(ALICE, page)
    await h.press(ALICE, render.ACTION_CHOICE + ".yes")
    await deliver(h.server)


async def deliver(server: Server) -> None:
    assert server.notifier is not None
    await server.notifier.run_once()


def managers_alert(h: SlackHarness) -> str:
    posts = [p for p in h.fake.posts(f"D{BOB}") if "HB-2026-0001" in json.dumps(p)]
    assert posts, "no alert reached the manager"
    return json.dumps(posts[0]["blocks"], ensure_ascii=False)


def asked_about(h: SlackHarness) -> list[str]:
    return [p["user"] for p in h.fake.called("users.info")]


async def test_the_managers_alert_names_her_by_her_display_name(h: SlackHarness) -> None:
    h.fake.profiles[ALICE] = {"display_name": "Alice Byrne", "real_name": "Alice M. Byrne"}
    await file_by_pressing(h)
    assert "Alice Byrne reported online abuse" in managers_alert(h)
    assert "u0alice" not in managers_alert(h)  # not her handle
    assert (await h.store.get_record(RecordKind.PEOPLE, key(ALICE)) or {}).get(
        "name"
    ) == "Alice Byrne"


async def test_her_full_name_when_she_set_no_display_name_even_in_a_typed_report(
    h: SlackHarness,
) -> None:
    """DM messages carry no name at all: without users.info the alert would say
    "A member of your team"."""
    h.fake.profiles[ALICE] = {"real_name": "Alice Byrne"}
    await h.dm(ALICE, "report")
    for _, answer in TYPED_REPORT:
        await h.dm(ALICE, answer)
    await h.dm(ALICE, "yes")
    await deliver(h.server)
    assert "Alice Byrne reported online abuse" in managers_alert(h)


async def test_her_handle_when_slack_wont_say_and_one_warning_naming_no_one(
    h: SlackHarness, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="adapters")
    h.fake.profiles[ALICE] = {"display_name": "Alice Byrne"}
    h.fake.users_info_error = "missing_scope"  # installed before users:read was asked for
    await file_by_pressing(h)
    assert "u0alice reported online abuse" in managers_alert(h)
    assert "Alice Byrne" not in managers_alert(h)
    # Refused for the whole app: not asked again for every event, nor for Bob.
    await h.command(BOB, "help", channel=f"D{BOB}")
    assert asked_about(h) == [ALICE]
    warnings = [r for r in caplog.records if r.name.startswith("adapters.slack")]
    assert [r.levelno for r in warnings] == [logging.WARNING]
    said = warnings[0].getMessage()
    assert "missing_scope" in said and "users:read" in said
    for who in (ALICE, BOB, "u0alice", "Alice"):
        assert who not in said


async def test_a_failed_lookup_is_tried_again_and_the_reply_still_goes_out(
    h: SlackHarness,
) -> None:
    h.fake.profiles[ALICE] = {"display_name": "Alice Byrne"}
    h.fake.users_info_error = "internal_error"
    await h.command(ALICE, "help", channel=f"D{ALICE}")
    assert "/report-abuse mine" in h.text_of(ALICE)  # answered all the same
    assert (await h.store.get_record(RecordKind.PEOPLE, key(ALICE)) or {}).get("name") == "u0alice"
    h.fake.users_info_error = ""
    await h.dm(ALICE, "help")
    assert asked_about(h) == [ALICE, ALICE]
    assert (await h.store.get_record(RecordKind.PEOPLE, key(ALICE)) or {}).get(
        "name"
    ) == "Alice Byrne"


async def test_each_person_is_looked_up_once_across_many_events(h: SlackHarness) -> None:
    h.fake.profiles[ALICE] = {"display_name": "Alice Byrne"}
    h.fake.profiles[BOB] = {"display_name": "Bob Nolan"}
    await file_by_pressing(h)  # a command, 8 pages, a button
    await h.dm(ALICE, "help")
    await h.command(BOB, "help", channel=f"D{BOB}")
    await h.dm(BOB, "mine")
    assert sorted(asked_about(h)) == [ALICE, BOB]
    assert (await h.store.get_record(RecordKind.PEOPLE, key(BOB)) or {}).get("name") == "Bob Nolan"


async def test_names_kept_in_memory_are_bounded(
    h: SlackHarness, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(slack_app, "NAMES_KEEP", 2)
    for user in (ALICE, BOB, CAROL, ALICE):
        await h.dm(user, "help")
    assert asked_about(h) == [ALICE, BOB, CAROL, ALICE]  # Alice was forgotten first
    assert len(h.slack._names) == 2


async def test_no_lookup_before_the_ack_and_a_slow_one_never_delays_it(
    h: SlackHarness, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Slack wants its ack within 3 s: users.info is asked only after the ack,
    by the work queue, so even a lookup that never answers delays no ack."""
    h.fake.profiles[ALICE] = {"display_name": "Alice Byrne"}
    gate = asyncio.Event()
    h.fake.users_info_gate = gate  # users.info hangs until the gate opens
    try:
        await _acks_come_first(h, gate, monkeypatch)
    finally:
        gate.set()  # the fake's server can close


async def _acks_come_first(
    h: SlackHarness, gate: asyncio.Event, monkeypatch: pytest.MonkeyPatch
) -> None:
    adapter = h.slack
    acked_after: list[list[str]] = []  # the Web API calls made when each ack was ready
    dispatch = adapter.app.async_dispatch

    async def dispatch_and_note(request: Any) -> Any:
        response = await dispatch(request)
        acked_after.append([name for name, _ in h.fake.calls])
        return response

    monkeypatch.setattr(adapter.app, "async_dispatch", dispatch_and_note)
    # The first ack is ready before any lookup is asked for...
    response = await h.post(command_body(ALICE, "help", channel="C0GENERAL"), FORM)
    assert response.status == 200 and "private message" in (await response.json())["text"]
    assert acked_after == [["auth.test"]]
    # ...which the work queue then asks for, and which hangs.
    for _ in range(200):
        if h.fake.called("users.info"):
            break
        await asyncio.sleep(0.005)
    assert [name for name, _ in h.fake.calls] == ["auth.test", "users.info"]
    # Another request meanwhile is acknowledged at once all the same.
    dm = event_body(_dm(ALICE, "help"), event_id="Ev1")
    response = await asyncio.wait_for(h.post(dm, "application/json"), 2)
    assert response.status == 200
    assert not h.fake.posts()  # the replies wait for the lookup, the acks do not
    gate.set()
    await adapter.drain()
    names = [name for name, _ in h.fake.calls]
    assert names.count("users.info") == 1
    assert names.index("users.info") < names.index("chat.postMessage")
    assert (await h.store.get_record(RecordKind.PEOPLE, key(ALICE)) or {}).get(
        "name"
    ) == "Alice Byrne"


def _dm(user: str, text: str) -> dict[str, Any]:
    return {
        "type": "message",
        "channel_type": "im",
        "channel": f"D{user}",
        "user": user,
        "text": text,
        "ts": "1700000000.000100",
    }
