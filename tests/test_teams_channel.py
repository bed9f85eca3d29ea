"""Teams, the safety leads' channel: alerts are new posts in the registered
channel (never replies in the thread it was registered from), a Claim pressed
there reaches the core like a press in the personal chat and is answered in the
presser's personal chat only, and the post is then edited in place.

The real Agents SDK app (local trial) against the fake Bot Connector."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer
from microsoft_agents.activity import Activity

from adapters.slack.config import SlackSettings
from adapters.teams.app import MESSAGE_RESPONSE, SAFETY_LEADS, NoAddress
from adapters.teams.config import load_teams_settings
from bot.alerts.messenger import Recipient
from bot.config import Settings
from bot.directory import Directory
from bot.models import Platform, Text
from bot.server import Server, build
from bot.store import MemoryStore, RecordKind
from tests.fakes.teams import BOT, TENANT, FakeConnector, activity, execute
from tests.test_teams import PAGES, TeamsHarness

CHANNEL = "19:leads@thread.tacv2"
TEAM = "19:team-general@thread.tacv2"
REGISTERED_IN = f"{CHANNEL};messageid=1700000000001"
"""The thread of the "@Harbour register safety-leads" message."""
SHARED_WITH_MANAGER = [*PAGES[:-1], {"audience": "manager_and_leads"}]
SECRETS = ("evil.example", "facebook.com/p/", "aad-alice", "29:alice", "Alice", "bold")
CARD = "application/vnd.microsoft.card.adaptive"


def channel_data() -> dict[str, Any]:
    return {"tenant": {"id": TENANT}, "team": {"id": TEAM}, "channel": {"id": CHANNEL}}


def in_channel(url: str, user: str, thread: str, **fields: Any) -> dict[str, Any]:
    """A message in a thread of the leads' channel, as Teams sends it."""
    return activity(
        url,
        user,
        conversation=thread,
        conversation_type="channel",
        channelData=channel_data(),
        **fields,
    )


def leads_directory() -> Directory:
    return Directory(
        managers={f"teams:{TENANT}:aad-alice": [f"teams:{TENANT}:aad-bob"]},
        leads={f"teams:{TENANT}:aad-carol"},
    )


@asynccontextmanager
async def served(
    store: MemoryStore, directory: Directory | None = None
) -> AsyncIterator[tuple[TeamsHarness, Server]]:
    """Harbour's server (started: its start-up work done) on `store`."""
    fake = FakeConnector()
    service_url = await fake.start()
    settings = Settings(_env_file=None, admins=f"teams:{TENANT}:aad-admin")  # type: ignore[call-arg]
    server = build(
        settings,
        SlackSettings(_env_file=None),  # type: ignore[call-arg]
        store,
        load_teams_settings({"HARBOUR_TEAMS_LOCAL_TRIAL": "true"}),
        directory=directory if directory is not None else leads_directory(),
    )
    assert server.teams is not None
    client = TestClient(TestServer(server.web_app, host="127.0.0.1"))
    await client.start_server()
    try:
        yield TeamsHarness(fake, service_url, client, server.teams, store), server
    finally:
        await client.close()
        await fake.close()


@pytest.fixture
async def teams() -> AsyncIterator[tuple[TeamsHarness, Server]]:
    async with served(MemoryStore()) as both:
        yield both


async def filed_and_alerted(t: TeamsHarness, server: Server) -> dict[str, Any]:
    """Register the channel from a thread, file a report Bob and the leads hear
    about, deliver the alerts; returns the new post the channel got."""
    assert server.notifier is not None
    response = await t.post(in_channel(t.url, "admin", REGISTERED_IN, text="register safety-leads"))
    assert response.status in (200, 202)
    await t.post(activity(t.url, "bob", kind="installationUpdate", action="add"))
    await t.say("report")
    for page in SHARED_WITH_MANAGER:
        await t.submit(page)
    await t.press("File report")
    await server.notifier.run_once()
    [post] = t.fake.created(CHANNEL)
    return post


def claim_of(post: dict[str, Any]) -> dict[str, Any]:
    [attachment] = post["activity"]["attachments"]
    claim = next(a for a in attachment["content"]["actions"] if a["title"] == "Claim")
    data: dict[str, Any] = claim["data"]
    return data


async def press_in_channel(t: TeamsHarness, user: str, post: dict[str, Any]) -> Any:
    """Press Claim on the channel post: an invoke from that post's thread."""
    body = execute(
        t.url,
        user,
        claim_of(post),
        conversation=post["created"],
        conversation_type="channel",
        channelData=channel_data(),
    )
    return await t.post(body)


def after(t: TeamsHarness, start: int) -> list[dict[str, Any]]:
    return t.fake.requests[start:]


async def test_alert_is_a_new_post_in_the_channel_not_a_reply_in_the_registration_thread(
    teams: tuple[TeamsHarness, Server],
) -> None:
    t, server = teams
    registered = await t.store.get_record("contacts", SAFETY_LEADS)
    assert registered is None
    post = await filed_and_alerted(t, server)
    registered = await t.store.get_record("contacts", SAFETY_LEADS)
    assert registered is not None and registered["channel"] == CHANNEL
    # Created as Teams wants a new channel post: the channel's id, a group, the card.
    assert post["isGroup"] is True
    assert post["channelData"] == {"channel": {"id": CHANNEL}}
    assert post["tenantId"] == TENANT
    assert post["bot"]["id"] == BOT
    card = post["activity"]["attachments"][0]
    assert card["contentType"] == CARD
    assert "HB-2026-0001" in json.dumps(card) and claim_of(post)
    for secret in SECRETS:
        assert secret not in json.dumps(post)
    # Nothing went into the thread it was registered from, after the "Done" reply.
    registration_thread = [r for r in t.fake.requests if REGISTERED_IN in r["path"]]
    assert len(registration_thread) == 1
    # The sender keeps what it needs to edit that post later.
    thread, _, message = post["created"].partition(";messageid=")
    assert thread == CHANNEL
    kept = await t.store.get_record("channel-messages", "HB-2026-0001")
    assert kept is not None and kept["message"] == f"{post['created']}|{message}"


async def test_claim_in_the_channel_reaches_the_core_and_answers_only_in_private(
    teams: tuple[TeamsHarness, Server],
) -> None:
    t, server = teams
    assert server.notifier is not None
    post = await filed_and_alerted(t, server)
    start = len(t.fake.requests)
    # Carol, a safety lead, has never opened a chat with Harbour.
    assert await t.store.get_record("contacts", f"teams:{TENANT}:aad-carol") is None
    response = await press_in_channel(t, "carol", post)
    assert response.status == 200
    body = await response.json()
    # An invoke response Teams accepts; the card itself stays as it is for her.
    assert body["statusCode"] == 200 and body["type"] == MESSAGE_RESPONSE
    assert "personal chat" in body["value"]
    report = await t.store.get_report("HB-2026-0001")
    assert report is not None and report.claimed_by == f"teams:{TENANT}:aad-carol"
    # Harbour opened her 1:1 chat, remembered it, and sent the details there only.
    [opened] = t.fake.created()[1:]
    assert opened["isGroup"] is False
    assert opened["members"] == [{"id": "29:carol"}]
    assert opened["tenantId"] == TENANT
    saved = await t.store.get_record("contacts", f"teams:{TENANT}:aad-carol")
    assert saved is not None
    assert saved["reference"]["conversation"]["id"] == "a:carol-personal"
    private = json.dumps(t.fake.cards("a:carol-personal"))
    assert "HB-2026-0001" in private and "evil.example" in private  # the case's details
    for request in after(t, start):
        assert CHANNEL not in request["path"], request["path"]  # nothing in the channel
    # The notifier then edits the channel post in place.
    await server.notifier.run_once()
    [edit] = [r for r in after(t, start) if r["method"] == "PUT"]
    message = post["created"].partition(";messageid=")[2]
    assert edit["path"].endswith(f"/v3/conversations/{post['created']}/activities/{message}")
    edited = json.dumps(edit["body"])
    assert "claimed by a safety lead" in edited and '"Claim"' not in edited
    for secret in SECRETS:
        assert secret not in edited


async def test_claim_by_a_lead_who_already_chats_with_harbour_goes_to_that_chat(
    teams: tuple[TeamsHarness, Server],
) -> None:
    t, server = teams
    await t.post(activity(t.url, "carol", kind="installationUpdate", action="add"))
    post = await filed_and_alerted(t, server)
    start = len(t.fake.requests)
    response = await press_in_channel(t, "carol", post)
    assert (await response.json())["type"] == MESSAGE_RESPONSE
    assert [r for r in after(t, start) if r["path"].endswith("/v3/conversations")] == []
    sent = [r for r in after(t, start) if r["method"] == "POST"]
    assert sent and all("/conversations/a:carol-personal/" in r["path"] for r in sent)
    assert "HB-2026-0001" in json.dumps([r["body"] for r in sent])


async def test_a_refused_press_in_the_channel_is_answered_privately(
    teams: tuple[TeamsHarness, Server],
) -> None:
    t, server = teams
    post = await filed_and_alerted(t, server)
    start = len(t.fake.requests)
    # Dan is in the channel but is not a safety lead.
    response = await press_in_channel(t, "dan", post)
    assert response.status == 200
    assert (await response.json())["type"] == MESSAGE_RESPONSE
    report = await t.store.get_report("HB-2026-0001")
    assert report is not None and report.claimed_by is None
    assert "that you can see or act on" in json.dumps(t.fake.cards("a:dan-personal"))
    for request in after(t, start):
        assert CHANNEL not in request["path"], request["path"]
        for secret in SECRETS:
            assert secret not in json.dumps(request["body"])
    # A button from someone's private card, pressed in the channel: refused, privately.
    mine = {"hb": {"kind": "control", "action": "pause", "token": "t", "owner": "aad-alice"}}
    body = execute(
        t.url,
        "dan",
        mine,
        conversation=post["created"],
        conversation_type="channel",
        channelData=channel_data(),
    )
    response = await t.post(body)
    assert (await response.json())["type"] == MESSAGE_RESPONSE
    assert "someone else's private conversation" in json.dumps(t.fake.cards("a:dan-personal"))
    assert all(CHANNEL not in r["path"] for r in after(t, start))


async def test_an_alert_posted_before_the_change_is_still_edited_where_it_is(
    teams: tuple[TeamsHarness, Server],
) -> None:
    """Message references stored before alerts were new posts are a bare
    activity id in the registration's conversation."""
    t, _ = teams
    await t.post(in_channel(t.url, "admin", REGISTERED_IN, text="register safety-leads"))
    leads = Recipient(Platform.TEAMS, "channel", SAFETY_LEADS, "safety leads")
    await t.adapter.update(leads, "activity-7", [Text(text="HB-2026-0001: closed")])
    [edit] = [r for r in t.fake.requests if r["method"] == "PUT"]
    assert edit["path"].endswith(f"/v3/conversations/{REGISTERED_IN}/activities/activity-7")


async def test_notifications_say_what_each_alert_is_without_content(
    teams: tuple[TeamsHarness, Server],
) -> None:
    t, server = teams
    post = await filed_and_alerted(t, server)
    report = await t.store.get_report("HB-2026-0001")
    assert report is not None
    risk = report.risk.value
    assert (
        post["activity"]["summary"]
        == f"New case HB-2026-0001 ({risk} risk): can a safety lead claim it?"
    )
    to_bob = [b for b in t.fake.sent("a:bob-personal") if "HB-2026-0001" in json.dumps(b)]
    assert to_bob and to_bob[0]["summary"] == "New report from your team: HB-2026-0001"
    # The manager's card names the worker by her Teams display name (from.name),
    # never by an id; the notification names nobody.
    assert "Alice reported online abuse" in json.dumps(to_bob[0]["attachments"])
    assert "aad-alice" not in json.dumps(to_bob[0]["attachments"])
    start = len(t.fake.requests)
    await press_in_channel(t, "carol", post)
    await server.notifier.run_once()
    [edit] = [r for r in after(t, start) if r["method"] == "PUT"]
    assert edit["body"]["summary"].startswith(f"HB-2026-0001 ({risk} risk): ")
    assert "claimed by a safety lead" in edit["body"]["summary"]
    summaries = [r["body"].get("summary", "") for r in t.fake.requests if r["body"]]
    summaries += [c["activity"].get("summary", "") for c in t.fake.created() if "activity" in c]
    for summary in summaries:
        for secret in SECRETS:
            assert secret not in summary, summary


async def test_a_failure_behind_a_press_in_the_channel_says_so_to_the_presser_only(
    teams: tuple[TeamsHarness, Server], monkeypatch: pytest.MonkeyPatch
) -> None:
    t, server = teams
    post = await filed_and_alerted(t, server)

    async def broken(event: Any) -> Any:
        raise RuntimeError("the store is down")

    monkeypatch.setattr(server.harbour, "handle", broken)
    start = len(t.fake.requests)
    response = await press_in_channel(t, "carol", post)
    assert response.status == 200
    body = await response.json()
    assert body["type"] == MESSAGE_RESPONSE and "went wrong" in body["value"]
    assert after(t, start) == []  # no error message posted in the channel


# ---------------------------------------------------------------------- registering the channel


async def test_registering_is_decided_in_the_core_and_teams_keeps_the_address(
    teams: tuple[TeamsHarness, Server],
) -> None:
    t, server = teams
    assert server.teams is not None
    directory = server.harbour.directory
    assert server.teams.leads_channel(directory) is None  # none yet: leads hear privately
    # Dan is no administrator: the core refuses, and Teams keeps nothing.
    await t.post(in_channel(t.url, "dan", REGISTERED_IN, text="register safety-leads"))
    assert "Only Harbour administrators" in json.dumps(t.fake.cards(REGISTERED_IN)[-1])
    assert "teams" not in directory.channels
    assert await t.store.get_record(RecordKind.CHANNELS, "teams") is None
    assert await t.store.get_record(RecordKind.CONTACTS, SAFETY_LEADS) is None
    await t.post(in_channel(t.url, "admin", REGISTERED_IN, text="register safety-leads"))
    assert "never what happened" in json.dumps(t.fake.cards(REGISTERED_IN)[-1])
    assert directory.channels["teams"] == CHANNEL  # the channel's id, not its thread's
    record = await t.store.get_record(RecordKind.CHANNELS, "teams")
    assert record is not None and record["by"] == f"teams:{TENANT}:aad-admin"
    contact = await t.store.get_record(RecordKind.CONTACTS, SAFETY_LEADS)
    assert contact is not None and contact["address"] == CHANNEL
    assert contact["registered_by"] == f"teams:{TENANT}:aad-admin"
    assert server.teams.leads_channel(directory) == SAFETY_LEADS
    # Dan saying it again in the registered channel changes nothing Teams keeps.
    await t.post(in_channel(t.url, "dan", REGISTERED_IN, text="register safety-leads"))
    assert await t.store.get_record(RecordKind.CONTACTS, SAFETY_LEADS) == contact


async def test_a_channel_registered_before_the_core_decided_keeps_getting_alerts() -> None:
    """Stored before the change: only the SAFETY_LEADS contact (no core record)."""
    store = MemoryStore()
    registered = activity(
        "http://127.0.0.1:1/teams/",
        "admin",
        conversation=REGISTERED_IN,
        conversation_type="channel",
    )
    reference = Activity.model_validate(registered).get_conversation_reference()
    dumped = reference.model_dump(mode="json", by_alias=True, exclude_none=True)
    await store.put_record(
        RecordKind.CONTACTS,
        SAFETY_LEADS,
        {
            "reference": dumped,
            "channel": CHANNEL,
            "registered_by": f"teams:{TENANT}:aad-admin",
            "registered_at": "2026-01-05T10:00:00+00:00",
        },
    )
    async with served(store) as (t, server):
        assert server.teams is not None and server.notifier is not None
        contact = await store.get_record(RecordKind.CONTACTS, SAFETY_LEADS)
        assert contact is not None
        assert server.harbour.directory.channels["teams"] == CHANNEL
        record = await store.get_record(RecordKind.CHANNELS, "teams")
        assert record is not None and record["by"] == f"teams:{TENANT}:aad-admin"
        assert contact["address"] == CHANNEL
        assert server.teams.leads_channel(server.harbour.directory) == SAFETY_LEADS
        contact["reference"]["serviceUrl"] = t.url  # this run's fake connector
        await store.put_record(RecordKind.CONTACTS, SAFETY_LEADS, contact)
        await t.post(activity(t.url, "bob", kind="installationUpdate", action="add"))
        await t.say("report")
        for page in SHARED_WITH_MANAGER:
            await t.submit(page)
        await t.press("File report")
        await server.notifier.run_once()
        [post] = t.fake.created(CHANNEL)
        assert "HB-2026-0001" in json.dumps(post["activity"])


async def test_an_earlier_registration_is_read_even_without_start_up() -> None:
    """An adapter used before its web app started (a script, the delivery bench):
    the first alert looks for an earlier registration itself."""
    store = MemoryStore()
    async with served(store) as (t, server):
        assert server.teams is not None
        await t.post(in_channel(t.url, "admin", REGISTERED_IN, text="register safety-leads"))
        contact = await store.get_record(RecordKind.CONTACTS, SAFETY_LEADS)
        assert contact is not None
        legacy = {k: v for k, v in contact.items() if k != "address"}
        await store.put_record(RecordKind.CONTACTS, SAFETY_LEADS, legacy)
        await store.put_record(RecordKind.CHANNELS, "teams", None)
        harbour = server.harbour
        fresh = type(server.teams)(harbour, store, server.teams.settings)
        harbour.directory.channels.pop("teams", None)
        assert fresh.leads_channel(harbour.directory) == SAFETY_LEADS  # not looked yet
        leads = Recipient(Platform.TEAMS, "channel", SAFETY_LEADS, "safety leads")
        await fresh.send(leads, [Text(text="HB-2026-0001: high risk")])
        assert harbour.directory.channels["teams"] == CHANNEL
        assert [c["channelData"] for c in t.fake.created(CHANNEL)] == [{"channel": {"id": CHANNEL}}]


async def test_registering_another_channel_moves_the_alerts_there(
    teams: tuple[TeamsHarness, Server],
) -> None:
    t, server = teams
    other = "19:other-leads@thread.tacv2"
    await t.post(in_channel(t.url, "admin", REGISTERED_IN, text="register safety-leads"))
    await t.post(
        activity(
            t.url,
            "admin",
            text="register safety-leads",
            conversation=f"{other};messageid=1700000000009",
            conversation_type="channel",
            channelData={"tenant": {"id": TENANT}, "channel": {"id": other}},
        )
    )
    assert server.harbour.directory.channels["teams"] == other
    leads = Recipient(Platform.TEAMS, "channel", SAFETY_LEADS, "safety leads")
    await t.adapter.send(leads, [Text(text="HB-2026-0001: high risk")])
    assert t.fake.created(CHANNEL) == [] and len(t.fake.created(other)) == 1


async def test_a_channel_the_directory_names_but_nobody_registered_fails_loudly(
    caplog: pytest.LogCaptureFixture,
) -> None:
    directory = leads_directory()
    directory.channels["teams"] = CHANNEL  # from the directory file
    async with served(MemoryStore(), directory) as (t, server):
        assert server.teams is not None
        assert server.teams.leads_channel(directory) == SAFETY_LEADS
        leads = Recipient(Platform.TEAMS, "channel", SAFETY_LEADS, "safety leads")
        with pytest.raises(NoAddress):
            await t.adapter.send(leads, [Text(text="HB-2026-0001: high risk")])
        assert "register safety-leads" in caplog.text
        assert t.fake.requests == []
