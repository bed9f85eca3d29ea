"""Reading a sent alert back by its delivery key: the real SlackAdapter against the
local fake Slack Web API, which keeps what was posted and answers
conversations.history from it. Teams and the console cannot read back."""

from __future__ import annotations

import io
import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest
from slack_sdk.errors import SlackApiError

from adapters.console import ConsoleMessenger
from adapters.slack.app import SlackAdapter
from adapters.slack.config import SlackSettings
from adapters.teams.app import TeamsAdapter
from adapters.teams.config import load_teams_settings
from bot.alerts.messenger import Messenger, Recipient
from bot.app import Harbour
from bot.models import Notice, NoticeLevel, Platform, Reply, Text
from bot.store import MemoryStore
from tests.fakes.slack import SIGNING_SECRET, TEAM, FakeSlack

POSTED_AT = datetime(2026, 3, 2, 9, 30, tzinfo=UTC)
BEFORE = POSTED_AT - timedelta(minutes=5)
AFTER = POSTED_AT + timedelta(minutes=5)
LEADS = Recipient(Platform.SLACK, "channel", "C0SAFETY1", "safety leads")
BOB = Recipient(Platform.SLACK, "person", f"slack:{TEAM}:U0BOB", "manager")
KEY = f"ev-42:slack:{LEADS.address}"
ALERT: list[Reply] = [
    Notice(title="HB-2026-0001", text="A critical report needs a lead.", level=NoticeLevel.DANGER)
]


class Slack:
    def __init__(self, fake: FakeSlack, adapter: SlackAdapter) -> None:
        self.fake = fake
        self.adapter = adapter
        self.now = POSTED_AT.timestamp()
        fake.clock = lambda: self.now  # every post's ts is this moment (plus a microsecond each)


@pytest.fixture
async def slack(harbour: Harbour) -> AsyncIterator[Slack]:
    fake = FakeSlack()
    base_url = await fake.start()
    settings = SlackSettings(
        bot_token="xoxb-test", signing_secret=SIGNING_SECRET, api_url=base_url, _env_file=None
    )  # type: ignore[call-arg]
    adapter = SlackAdapter(harbour, settings)
    await adapter.start()
    try:
        yield Slack(fake, adapter)
    finally:
        await adapter.close()
        await fake.close()


async def test_a_channel_alert_is_found_by_its_key_in_its_window(slack: Slack) -> None:
    sent = await slack.adapter.send(LEADS, ALERT, key=KEY)
    assert sent.startswith("C0SAFETY1|")
    assert await slack.adapter.find_sent(LEADS, KEY, BEFORE) == sent
    assert await slack.adapter.find_sent(LEADS, KEY + "x", BEFORE) is None
    assert await slack.adapter.find_sent(LEADS, KEY, AFTER) is None  # sent before the window
    [asked, *_] = slack.fake.called("conversations.history")
    assert asked["channel"] == "C0SAFETY1"
    assert asked["include_all_metadata"] == "1"
    assert float(asked["oldest"]) == BEFORE.timestamp()


async def test_a_dm_alert_is_found_in_the_persons_dm(slack: Slack) -> None:
    sent = await slack.adapter.send(BOB, ALERT, key=f"ev-42:slack:{BOB.address}")
    assert sent.startswith("DU0BOB|")
    assert await slack.adapter.find_sent(BOB, f"ev-42:slack:{BOB.address}", BEFORE) == sent
    assert await slack.adapter.find_sent(BOB, KEY, BEFORE) is None  # the channel's key
    assert await slack.adapter.find_sent(LEADS, f"ev-42:slack:{BOB.address}", BEFORE) is None
    assert [c["channel"] for c in slack.fake.called("conversations.history")] == [
        "DU0BOB",
        "DU0BOB",
        "C0SAFETY1",
    ]


async def test_the_metadata_holds_the_key_and_nothing_else(slack: Slack) -> None:
    await slack.adapter.send(LEADS, ALERT, key=KEY)
    [post] = slack.fake.posts("C0SAFETY1")
    assert post["metadata"] == {"event_type": "harbour_alert", "event_payload": {"key": KEY}}
    assert KEY not in json.dumps([post["text"], post["blocks"]])  # the key is not shown


async def test_a_send_of_several_messages_is_found_at_its_newest(slack: Slack) -> None:
    many: list[Reply] = [Text(text=f"line {n}") for n in range(80)]  # more than 50 blocks
    sent = await slack.adapter.send(LEADS, many, key=KEY)
    posts = slack.fake.posts("C0SAFETY1")
    assert len(posts) == 2
    assert all(p["metadata"]["event_payload"] == {"key": KEY} for p in posts)
    assert sent == f"C0SAFETY1|{posts[-1]['_ts']}"
    assert await slack.adapter.find_sent(LEADS, KEY, BEFORE) == sent


async def test_later_messages_and_pages_do_not_hide_an_alert(slack: Slack) -> None:
    sent = await slack.adapter.send(LEADS, ALERT, key=KEY)
    for n in range(3):
        slack.now += 60
        await slack.adapter.send(LEADS, ALERT, key=f"ev-{n}:slack:C0SAFETY1")
    await slack.adapter.send(LEADS, ALERT)  # no key: no metadata
    slack.fake.history_page = 2  # Slack may answer fewer than asked for
    assert await slack.adapter.find_sent(LEADS, KEY, BEFORE) == sent
    cursors = [c.get("cursor") for c in slack.fake.called("conversations.history")]
    assert cursors == [None, "2", "4"]
    assert "metadata" not in slack.fake.posts("C0SAFETY1")[-1]


async def test_another_apps_message_with_the_same_key_is_not_ours(slack: Slack) -> None:
    slack.fake.history["C0SAFETY1"] = [
        {
            "type": "message",
            "ts": f"{POSTED_AT.timestamp():.6f}",
            "bot_id": "BOTHER",
            "text": "",
            "metadata": {"event_type": "harbour_alert", "event_payload": {"key": KEY}},
        }
    ]
    assert await slack.adapter.find_sent(LEADS, KEY, BEFORE) is None


async def test_slack_errors_reach_the_caller(slack: Slack) -> None:
    slack.fake.fail("conversations.history", 400)
    with pytest.raises(SlackApiError):
        await slack.adapter.find_sent(LEADS, KEY, BEFORE)


async def test_the_fake_shows_metadata_only_when_asked(slack: Slack) -> None:
    await slack.adapter.send(LEADS, ALERT, key=KEY)
    client = slack.adapter.client
    plain = await client.conversations_history(channel="C0SAFETY1")
    full = await client.conversations_history(channel="C0SAFETY1", include_all_metadata=True)
    assert "metadata" not in plain["messages"][0]
    assert full["messages"][0]["metadata"]["event_payload"] == {"key": KEY}


async def test_teams_and_the_console_cannot_check_what_was_sent(harbour: Harbour) -> None:
    teams = TeamsAdapter(
        harbour, MemoryStore(), load_teams_settings({"HARBOUR_TEAMS_LOCAL_TRIAL": "true"})
    )
    printed = io.StringIO()
    console = ConsoleMessenger(printed)
    messengers: list[Messenger] = [teams, console]
    for messenger in messengers:
        assert messenger.can_check_sent is False
        with pytest.raises(NotImplementedError):
            await messenger.find_sent(LEADS, KEY, BEFORE)
    assert await console.send(LEADS, ALERT, key=KEY) == "1"
    assert KEY not in printed.getvalue()  # a key is no part of what people read


async def test_the_slack_adapter_is_a_messenger_that_can_check(slack: Slack) -> None:
    messenger: Messenger = slack.adapter
    assert messenger.can_check_sent is True
