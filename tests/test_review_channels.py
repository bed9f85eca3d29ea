"""Review regression: register safety-leads is refused in a Slack group DM and a Teams group chat."""

from __future__ import annotations

from typing import Any

from adapters.slack import translate
from bot.server import Server
from tests.fakes.teams import TENANT, activity
from tests.test_teams import TeamsHarness
from tests.test_teams_channel import teams  # noqa: F401  (fixture)


def test_slack_group_dm_is_not_taken_as_the_leads_channel() -> None:
    body = {
        "team_id": "T1",
        "user_id": "UADMIN",
        "user_name": "admin",
        "channel_id": "G0GROUPDM",
        "channel_name": "mpdm-admin--bob--dan-1",
        "text": "register safety-leads",
        "trigger_id": "t1",
    }
    assert translate.channel_registration(body) is None, "a group DM was accepted"


async def test_teams_group_chat_is_not_taken_as_the_leads_channel(
    teams: tuple[TeamsHarness, Server],  # noqa: F811
) -> None:
    t, server = teams
    group = "19:groupchat-admin-bob-dan@thread.v2"
    body: dict[str, Any] = activity(
        t.url,
        "admin",
        conversation=group,
        conversation_type="groupChat",
        channelData={"tenant": {"id": TENANT}},
        text="register safety-leads",
    )
    await t.post(body)
    assert server.harbour.directory.channels.get("teams") != group, "a group chat was registered"
