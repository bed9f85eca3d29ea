"""The App Home tab: guidance every time, a welcome only the first time."""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator

import pytest

from adapters.slack import home
from bot.store import RecordKind
from tests.fakes.slack import TEAM, event_body
from tests.test_slack import SlackHarness, running

ALICE, BOB = "U0ALICE", "U0BOB"


@pytest.fixture
async def h() -> AsyncIterator[SlackHarness]:
    async with running(SlackHarness) as harness:
        yield harness


async def open_home(h: SlackHarness, user: str) -> str:
    event = {"type": "app_home_opened", "user": user, "tab": "home", "channel": f"D{user}"}
    body = event_body(event, event_id=f"Ev{time.monotonic_ns()}")
    response = await h.post(body, "application/json")
    assert response.status == 200
    await h.slack.drain()
    published = h.fake.called("views.publish")[-1]
    assert published["user_id"] == user
    view = published["view"]
    view = json.loads(view) if isinstance(view, str) else view
    assert view["type"] == "home" and len(view["blocks"]) <= home.BLOCKS_MAX
    return json.dumps(view["blocks"], ensure_ascii=False)


async def test_the_first_visit_is_welcomed_once_and_guidance_stays(h: SlackHarness) -> None:
    first = await open_home(h, ALICE)
    assert "Welcome to Harbour" in first
    for words in ("/report-abuse", "How to use Harbour", "Where help is", "emergency services"):
        assert words in first
    again = await open_home(h, ALICE)
    assert "Welcome to Harbour" not in again
    assert "Where help is" in again and "Start a report" in again
    assert "Welcome to Harbour" in await open_home(h, BOB)  # each person once
    kept = await h.store.get_record(RecordKind.CONTACTS, f"slack:{TEAM}:{ALICE}")
    assert kept == {home.WELCOMED: True}


async def test_the_welcome_is_not_remembered_if_slack_did_not_show_it(h: SlackHarness) -> None:
    h.fake.errors["views.publish"] = "internal_error"
    event = {"type": "app_home_opened", "user": ALICE, "tab": "home", "channel": "DALICE"}
    await h.post(event_body(event, event_id="Ev1"), "application/json")
    await h.slack.drain()
    assert await h.store.get_record(RecordKind.CONTACTS, f"slack:{TEAM}:{ALICE}") is None
    del h.fake.errors["views.publish"]
    assert "Welcome to Harbour" in await open_home(h, ALICE)
