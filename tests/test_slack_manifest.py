"""The Slack app manifest: one paste creates an app with exactly what Harbour uses."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from adapters.slack.config import SlackSettings

HERE = Path(__file__).resolve().parent.parent / "manifest" / "slack"


def load(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((HERE / name).read_text(encoding="utf-8"))
    return data


def test_scopes_are_the_minimum_and_each_is_explained() -> None:
    manifest = load("manifest.json")
    scopes = manifest["oauth_config"]["scopes"]
    assert set(scopes) == {"bot"}  # no user token, no user scopes
    assert sorted(scopes["bot"]) == [
        "channels:history",  # reading back an alert in a public safety leads' channel
        "chat:write",
        "commands",
        "files:read",  # fetching a file she shares in her DM with Harbour, as evidence
        "files:write",  # sending a person the file she asked for (mydata), into her DM
        "groups:history",  # the same in a private one
        "im:history",
        "im:write",
        "users:read",  # a worker's name in Slack, for her manager's alert
    ]
    reasons = (HERE / "SCOPES.md").read_text(encoding="utf-8")
    for scope in scopes["bot"]:
        assert f"| `{scope}` |" in reasons


def test_command_events_and_urls_match_the_server() -> None:
    manifest = load("manifest.json")
    [command] = manifest["features"]["slash_commands"]
    assert command["command"] == SlackSettings(_env_file=None).command  # type: ignore[call-arg]
    assert len(command["description"]) <= 100
    assert set(manifest["settings"]["event_subscriptions"]["bot_events"]) == {
        "app_home_opened",
        "message.im",
        "app_uninstalled",
        "tokens_revoked",
    }
    urls = [
        command["url"],
        manifest["settings"]["event_subscriptions"]["request_url"],
        manifest["settings"]["interactivity"]["request_url"],
    ]
    assert all(u.startswith("https://") and u.endswith("/slack/events") for u in urls)
    assert manifest["features"]["app_home"]["home_tab_enabled"] is True
    assert 175 <= len(manifest["display_information"]["long_description"]) <= 4000
    assert len(manifest["display_information"]["description"]) <= 140


def test_socket_mode_variant_differs_only_in_transport() -> None:
    http, socket = load("manifest.json"), load("manifest.socket-mode.json")
    assert socket["settings"]["socket_mode_enabled"] is True
    assert "url" not in socket["features"]["slash_commands"][0]
    assert "request_url" not in socket["settings"]["event_subscriptions"]
    assert "request_url" not in socket["settings"]["interactivity"]
    assert socket["oauth_config"]["scopes"] == http["oauth_config"]["scopes"]
    assert "redirect_urls" not in socket["oauth_config"]  # Add to Slack needs HTTPS
    assert socket["display_information"] == http["display_information"]
