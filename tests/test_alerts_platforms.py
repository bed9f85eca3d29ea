"""Alerts through the real adapters' messengers, with the local fakes: a Slack
Web API and a Bot Connector. Nothing about a report reaches a channel."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

import pytest
from aiohttp.test_utils import TestClient, TestServer

from adapters.slack import render
from adapters.slack.config import SlackSettings
from adapters.teams.app import SAFETY_LEADS
from adapters.teams.config import load_teams_settings
from bot.config import Settings
from bot.directory import Directory
from bot.reports import EventKind
from bot.server import Server, build
from bot.store import MemoryStore
from tests.fakes.slack import (
    SIGNING_SECRET,
    TEAM,
    FakeSlack,
    block_actions,
    interaction_body,
)
from tests.fakes.teams import TENANT, FakeConnector, activity, execute
from tests.test_slack import REPORT_PAGES, SlackHarness, find_button
from tests.test_teams import PAGES, TeamsHarness

SHARED_WITH_MANAGER = [*PAGES[:-1], {"audience": "manager_and_leads"}]
SECRETS = ("evil.example", "facebook.com/p/", "U0ALICE", "aad-alice", "<!channel>", "bold")


def slack_directory() -> Directory:
    return Directory(
        managers={f"slack:{TEAM}:U0ALICE": [f"slack:{TEAM}:U0BOB"]},
        leads={f"slack:{TEAM}:U0CAROL"},
        channels={"slack": "C0SAFETY1"},
    )


@pytest.fixture
async def slack() -> AsyncIterator[tuple[SlackHarness, Server]]:
    fake = FakeSlack()
    base_url = await fake.start()
    store = MemoryStore()
    settings = SlackSettings(
        bot_token="xoxb-test", signing_secret=SIGNING_SECRET, api_url=base_url, _env_file=None
    )  # type: ignore[call-arg]
    server = build(Settings(_env_file=None), settings, store, directory=slack_directory())  # type: ignore[call-arg]
    client = TestClient(TestServer(server.web_app, host="127.0.0.1"))
    await client.start_server()
    try:
        yield SlackHarness(fake, server, client, store), server
    finally:
        await client.close()
        await fake.close()


async def test_slack_manager_dm_and_redacted_channel_alert_claimed_in_place(
    slack: tuple[SlackHarness, Server],
) -> None:
    h, server = slack
    assert server.notifier is not None
    await h.command("U0ALICE")
    for page in REPORT_PAGES:
        await h.submit("U0ALICE", page)
    await h.press("U0ALICE", render.ACTION_CHOICE + ".yes")
    await server.notifier.run_once()
    manager_posts = h.fake.posts("DU0BOB")
    assert manager_posts and "HB-2026-0001" in json.dumps(manager_posts)
    assert "evil.example" in json.dumps(manager_posts)  # the worker shared it with the manager
    [channel_post] = h.fake.posts("C0SAFETY1")
    dumped = json.dumps(channel_post)
    assert "HB-2026-0001" in dumped and "critical" in dumped
    for secret in SECRETS:
        assert secret not in dumped
    # Carol, a safety lead, claims it from the channel message.
    message = {"ts": channel_post["_ts"], "channel": "C0SAFETY1", "blocks": channel_post["blocks"]}
    button = find_button(message, render.ACTION_CHOICE)
    payload = block_actions("U0CAROL", button, message=message, channel="C0SAFETY1")
    response = await h.post(interaction_body(payload), "application/x-www-form-urlencoded")
    await h.slack.drain()
    assert response.status == 200
    assert "claimed" in json.dumps(h.fake.posts("DU0CAROL"))  # details go to her privately
    await server.notifier.run_once()
    update = [u for u in h.fake.called("chat.update") if u["channel"] == "C0SAFETY1"][-1]
    assert "claimed by a safety lead" in json.dumps(update) and "Claim" not in json.dumps(
        update["blocks"]
    )
    for secret in SECRETS:
        assert secret not in json.dumps(update)
    # Dan is nobody's manager: the same button does nothing for him.
    payload = block_actions("U0DAN", button, message=message, channel="C0SAFETY1")
    await h.post(interaction_body(payload), "application/x-www-form-urlencoded")
    await h.slack.drain()
    assert "that you can see or act on" in json.dumps(h.fake.posts("DU0DAN"))


@pytest.fixture
async def teams() -> AsyncIterator[tuple[TeamsHarness, Server]]:
    fake = FakeConnector()
    service_url = await fake.start()
    store = MemoryStore()
    directory = Directory(
        managers={f"teams:{TENANT}:aad-alice": [f"teams:{TENANT}:aad-bob"]},
        leads={f"teams:{TENANT}:aad-carol"},
    )
    settings = Settings(_env_file=None, admins=f"teams:{TENANT}:aad-admin")  # type: ignore[call-arg]
    server = build(
        settings,
        SlackSettings(_env_file=None),
        store,
        load_teams_settings({"HARBOUR_TEAMS_LOCAL_TRIAL": "true"}),
        directory=directory,
    )  # type: ignore[call-arg]
    assert server.teams is not None
    client = TestClient(TestServer(server.web_app, host="127.0.0.1"))
    await client.start_server()
    try:
        yield TeamsHarness(fake, service_url, client, server.teams, store), server
    finally:
        await client.close()
        await fake.close()


async def test_teams_manager_and_channel_alerts(teams: tuple[TeamsHarness, Server]) -> None:
    t, server = teams
    assert server.notifier is not None
    channel = "19:leads@thread.tacv2"
    await t.post(
        activity(
            t.url,
            "admin",
            text="register safety-leads",
            conversation=channel,
            conversation_type="channel",
        )
    )
    await t.post(
        activity(t.url, "bob", kind="installationUpdate", action="add")
    )  # Bob's chat is known
    await t.say("report")
    for page in SHARED_WITH_MANAGER:
        await t.submit(page)
    await t.press("File report")
    await server.notifier.run_once()
    manager_cards = t.fake.cards("a:bob-personal")
    assert any(
        "HB-2026-0001" in json.dumps(c) and "Acknowledge" in json.dumps(c) for c in manager_cards
    )
    channel_cards = [c for c in t.fake.cards(channel) if "HB-2026-0001" in json.dumps(c)]
    assert channel_cards
    for card in channel_cards:
        for secret in SECRETS:
            assert secret not in json.dumps(card)
    claim = next(a for a in channel_cards[-1]["actions"] if a["title"] == "Claim")
    response = await t.post(
        execute(t.url, "carol", claim["data"], conversation=channel, conversationType="channel")
    )
    assert response.status == 200
    report = await t.store.get_report("HB-2026-0001")
    assert report is not None and report.claimed_by == f"teams:{TENANT}:aad-carol"
    await server.notifier.run_once()
    updates = [r for r in t.fake.requests if r["method"] == "PUT" and channel in r["path"]]
    assert updates and "claimed by a safety lead" in json.dumps(updates[-1]["body"])
    assert await t.store.get_record("contacts", SAFETY_LEADS) is not None


async def test_teams_alert_to_a_manager_never_seen_is_reported(
    teams: tuple[TeamsHarness, Server],
) -> None:
    t, server = teams
    assert server.notifier is not None
    server.notifier.tell_leads_after = 1
    await t.say("report")
    for page in SHARED_WITH_MANAGER:
        await t.submit(page)
    await t.press("File report")
    await server.notifier.run_once()  # Bob never opened Harbour: no way to reach him
    report = await t.store.get_report("HB-2026-0001")
    assert report is not None
    assert any(e.action == "alert-failing" for e in report.timeline)
    # Still trying: once Bob opens Harbour in Teams, it reaches him.
    assert EventKind.REPORT_FILED in [e.kind for e in await t.store.pending_events()]


async def test_slack_checkin_scheduled_from_the_alert_and_answered(
    slack: tuple[SlackHarness, Server],
) -> None:
    from datetime import UTC, datetime, timedelta

    h, server = slack
    assert server.notifier is not None
    now = [datetime(2026, 3, 2, 9, 0, tzinfo=UTC)]
    server.harbour.clock = lambda: now[0]
    await h.command("U0ALICE")
    for page in REPORT_PAGES:
        await h.submit("U0ALICE", page)
    await h.press("U0ALICE", render.ACTION_CHOICE + ".yes")
    await server.notifier.run_once()
    alert = h.last_message("U0BOB")
    schedule = next(
        {"type": "button", "action_id": e["action_id"], "value": e["value"]}
        for b in alert["blocks"]
        for e in b.get("elements", [])
        if e.get("type") == "button" and e["value"].endswith("|checkins")
    )
    await h.act("U0BOB", schedule, alert)
    await h.submit("U0BOB", {"what": ["1,3,7"]})
    await h.press("U0BOB", render.ACTION_CHOICE + ".yes")
    assert "scheduled" in h.text_of("U0BOB")
    now[0] += timedelta(days=1, minutes=1)
    await server.notifier.run_once()
    ask = h.last_message("U0ALICE")
    assert "check in with you" in json.dumps(ask["blocks"])
    ok = next(
        {"type": "button", "action_id": e["action_id"], "value": e["value"]}
        for b in ask["blocks"]
        for e in b.get("elements", [])
        if e.get("type") == "button" and e["value"].endswith("|ok")
    )
    await h.act("U0ALICE", ok, ask)
    await server.notifier.run_once()
    assert "The worker is doing OK." in json.dumps(h.fake.posts("DU0BOB")[-1]["blocks"])


async def test_slack_alert_notifications_say_what_they_are_without_content(
    slack: tuple[SlackHarness, Server],
) -> None:
    """The `text` of chat.postMessage is what notifications and previews show."""
    h, server = slack
    assert server.notifier is not None
    await h.command("U0ALICE")
    for page in REPORT_PAGES:
        await h.submit("U0ALICE", page)
    await h.press("U0ALICE", render.ACTION_CHOICE + ".yes")
    await server.notifier.run_once()
    [channel_post] = h.fake.posts("C0SAFETY1")
    assert (
        channel_post["text"] == "New case HB-2026-0001 (critical risk): can a safety lead claim it?"
    )
    to_manager = [p for p in h.fake.posts("DU0BOB") if "HB-2026-0001" in json.dumps(p)]
    assert to_manager[0]["text"] == "New report from your team: HB-2026-0001"
    # Bob acknowledges from his DM; the worker hears, and the channel card is edited.
    alert = h.last_message("U0BOB")
    ack = next(
        {"type": "button", "action_id": e["action_id"], "value": e["value"]}
        for b in alert["blocks"]
        for e in b.get("elements", [])
        if e.get("type") == "button" and e["value"].endswith("|ack")
    )
    await h.act("U0BOB", ack, alert)
    await server.notifier.run_once()
    assert h.fake.posts("DU0ALICE")[-1]["text"] == "Harbour: an update about HB-2026-0001"
    edit = [u for u in h.fake.called("chat.update") if u["channel"] == "C0SAFETY1"][-1]
    assert edit["text"] == "HB-2026-0001 (critical risk): Acknowledged: can a safety lead claim it?"
    texts = [p["text"] for p in h.fake.posts()] + [u["text"] for u in h.fake.called("chat.update")]
    for text in texts:
        for secret in (*SECRETS, "u0alice", "They wrote"):
            assert secret not in text, text


async def test_slack_immediate_danger_alert_notifies_as_urgent(
    slack: tuple[SlackHarness, Server],
) -> None:
    h, server = slack
    assert server.notifier is not None
    await h.command("U0ALICE")
    await h.submit("U0ALICE", {"danger": ["yes"]})
    await server.notifier.run_once()
    [channel_post] = h.fake.posts("C0SAFETY1")
    assert channel_post["text"] == "Urgent: a worker needs help now"


def test_notification_text_never_carries_a_notices_words_or_a_fields_value() -> None:
    from bot.models import ChoiceQuestion, Notice, NoticeLevel, Option, SummaryCard, SummaryField

    said = "Alice Byrne wrote: they posted my address https://evil.example"
    field = SummaryField(label="In their words", value=said)
    claim = ChoiceQuestion(
        id="case:HB-2026-0009",
        prompt="Can you take this on?",
        options=(Option(value="claim", label="Claim"),),
        token="HB-2026-0009",
    )
    for replies in (
        [Notice(text=said)],
        [Notice(level=NoticeLevel.DANGER, text=said)],
        [Notice(text=f"HB-2026-0009 {said}")],
        [Notice(text=said), SummaryCard(title="HB-2026-0009 · high risk", fields=(field,)), claim],
        [Notice(level=NoticeLevel.WARNING, title="Follow-up", text=said), claim],
        [SummaryCard(title="HB-2026-0009, filed 02 Mar 2026 09:00", fields=(field,))],
    ):
        text = render.fallback_text(replies)
        assert text and "Alice" not in text and "evil" not in text and "address" not in text
