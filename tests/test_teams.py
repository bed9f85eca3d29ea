"""Teams, end to end: real-shaped activities posted to /api/messages on Harbour's
server (the real Agents SDK), with serviceUrl pointing at a local fake connector.
Without an app registration this is the unauthenticated local trial
(HARBOUR_TEAMS_LOCAL_TRIAL=true), which talks to this machine only."""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestClient, TestServer
from yarl import URL

from adapters.slack.config import SlackSettings
from adapters.teams import cards
from adapters.teams.app import (
    SAFETY_LEADS,
    NoAddress,
    NotOnThisMachine,
    TeamsAdapter,
    _is_loopback_url,
)
from adapters.teams.config import TeamsSettings, load_teams_settings
from adapters.teams.translate import person_of
from bot.alerts.messenger import Recipient
from bot.config import ConfigError, Settings
from bot.models import Notice, Platform, Text
from bot.server import build
from bot.store import MemoryStore
from tests.fakes.teams import TENANT, FakeConnector, activity, execute

ADMIN = f"teams:{TENANT}:aad-admin"  # the full id: platform, tenant, Entra object id
LOCAL_TRIAL = {"HARBOUR_TEAMS_LOCAL_TRIAL": "true"}


class TeamsHarness:
    def __init__(
        self,
        fake: FakeConnector,
        service_url: str,
        client: TestClient[Any, Any],
        adapter: TeamsAdapter,
        store: MemoryStore,
    ) -> None:
        self.fake = fake
        self.url = service_url
        self.client = client
        self.adapter = adapter
        self.store = store

    async def post(self, body: dict[str, Any], headers: dict[str, str] | None = None) -> Any:
        return await self.client.post("/api/messages", json=body, headers=headers or {})

    async def say(self, text: str, user: str = "alice", **fields: Any) -> Any:
        response = await self.post(activity(self.url, user, text=text, **fields))
        assert response.status in (200, 201, 202), await response.text()
        return response

    def last_card(self, user: str = "alice") -> dict[str, Any]:
        found = self.fake.cards(f"a:{user}-personal")
        assert found, "no card was sent to the personal chat"
        return found[-1]

    def text(self, user: str = "alice") -> str:
        return json.dumps(self.last_card(user), ensure_ascii=False)

    async def press(
        self,
        title: str,
        inputs: dict[str, Any] | None = None,
        user: str = "alice",
        card: dict[str, Any] | None = None,
        presser: str | None = None,
    ) -> dict[str, Any]:
        card = card or self.last_card(user)
        action = next(a for a in card.get("actions", []) if a["title"] == title)
        data = {**action["data"], **(inputs or {})}
        response = await self.post(execute(self.url, presser or user, data))
        assert response.status == 200, await response.text()
        body: dict[str, Any] = await response.json()
        return body

    async def submit(self, inputs: dict[str, Any], user: str = "alice") -> dict[str, Any]:
        card = self.last_card(user)
        primary = next(a for a in card["actions"] if a.get("style") == "positive")
        return await self.press(primary["title"], inputs, user)


@pytest.fixture
async def t() -> AsyncIterator[TeamsHarness]:
    fake = FakeConnector()
    service_url = await fake.start()
    store = MemoryStore()
    settings = Settings(_env_file=None, admins=ADMIN)  # type: ignore[call-arg]
    server = build(settings, SlackSettings(_env_file=None), store, load_teams_settings(LOCAL_TRIAL))  # type: ignore[call-arg]
    assert server.teams is not None
    client = TestClient(TestServer(server.web_app, host="127.0.0.1"))
    await client.start_server()
    try:
        yield TeamsHarness(fake, service_url, client, server.teams, store)
    finally:
        await client.close()
        await fake.close()


PAGES: list[dict[str, str]] = [
    {"danger": "no"},
    {"kinds": "threats,personal_details"},
    {"details_exposed": "home,school"},
    {"platforms": "facebook", "links": "https://facebook.com/p/9", "evidence": ""},
    {"started": "today", "frequency": "once"},
    {"affected": "me", "poster": "unknown"},
    {"worry": "5", "description": "**bold** [click](https://evil.example) <at>Everyone</at>"},
    {"audience": "leads_only"},
]


async def test_full_report_in_the_personal_chat(t: TeamsHarness) -> None:
    await t.say("report")
    card = t.last_card()
    assert card["version"] == "1.5"
    for page in PAGES:
        title = next(
            b["inlines"][0]["text"]
            for b in t.last_card()["body"]
            if b["type"] == "RichTextBlock" and b["inlines"][0].get("weight") == "Bolder"
        )
        replaced = await t.submit(page)
        assert replaced["statusCode"] == 200
        assert "Received" in json.dumps(replaced["value"])
        assert title in json.dumps(replaced["value"], ensure_ascii=False)  # which page it was
        assert "actions" not in replaced["value"]  # the pressed card loses its buttons
    assert "Shall I file this report?" in t.text()
    await t.press("File report")
    assert "HB-2026-0001" in t.text()
    report = await t.store.get_report("HB-2026-0001")
    assert report is not None
    assert report.answers.kinds == ["threats", "personal_details"]
    assert report.answers.details_exposed == ["home", "school"]
    assert report.reporter.user == "aad-alice" and report.reporter.workspace == "tenant-0001"


async def test_each_page_is_one_card_form_with_labelled_inputs(t: TeamsHarness) -> None:
    await t.say("report")
    await t.submit({"danger": "no"})
    await t.submit({"kinds": "stalking"})
    card = t.last_card()
    inputs = [e for e in card["body"] if e["type"].startswith("Input.")]
    assert [i["id"] for i in inputs] == ["platforms", "links", "evidence"]
    assert all(i["label"] for i in inputs)
    assert next(i for i in inputs if i["id"] == "platforms")["isMultiSelect"] is True
    assert 1 <= len(card["actions"]) <= 6
    assert all(a["type"] == "Action.Execute" for a in card["actions"])


async def test_user_text_never_becomes_markdown(t: TeamsHarness) -> None:
    await t.say("report")
    for page in PAGES:
        await t.submit(page)
    summary = t.last_card()
    described = [e for e in json.dumps(summary).split('"') if "evil.example" in e]
    assert described  # shown...
    for element in _walk(summary):
        if element.get("type") == "TextBlock":
            assert "evil.example" not in element.get("text", "")  # ...but only as a TextRun


def _walk(node: Any) -> list[dict[str, Any]]:
    found = []
    if isinstance(node, dict):
        found.append(node)
        for value in node.values():
            found += _walk(value)
    elif isinstance(node, list):
        for value in node:
            found += _walk(value)
    return found


async def test_action_submit_from_an_older_card_updates_it(t: TeamsHarness) -> None:
    await t.say("report")
    form = t.last_card()
    data = {**form["actions"][0]["data"], "danger": "no"}
    response = await t.post(activity(t.url, "alice", value=data, replyToId="activity-1"))
    assert response.status == 202
    [update] = [r for r in t.fake.requests if r["method"] == "PUT"]
    assert update["path"].endswith("/activities/activity-1")
    assert "Received" in json.dumps(update["body"])
    assert "What has been happening?" in t.text()


async def test_welcome_once_and_help_always(t: TeamsHarness) -> None:
    await t.post(activity(t.url, kind="installationUpdate", action="add"))
    await t.post(
        activity(t.url, kind="conversationUpdate", membersAdded=[{"id": "28:harbour-bot"}])
    )
    await t.post(activity(t.url, kind="installationUpdate", action="add"))
    welcomes = [c for c in t.fake.cards() if "I'm Harbour" in json.dumps(c)]
    assert len(welcomes) == 1
    for text in ("asdf qwer", "🙂"):
        await t.say(text)
        assert "not sure I understood" in t.text() and "Report what happened" in t.text()
    for text in ("help", "HELP", "Hello", "hi"):
        await t.say(text)
        assert "report" in t.text() and "mine" in t.text(), text
    assert len([c for c in t.fake.cards() if "administrator sets up" in json.dumps(c)]) == 1


async def test_reference_saved_on_first_contact_and_proactive_send(t: TeamsHarness) -> None:
    await t.post(activity(t.url, kind="installationUpdate", action="add"))
    alice = person_of(_activity_model(t.url))
    saved = await t.store.get_record("contacts", alice.key)
    assert saved and saved["reference"]["conversation"]["id"] == "a:alice-personal"
    before = len(t.fake.requests)
    await t.adapter.send_to(alice.key, [Notice(text="Your manager has seen your report.")])
    [request] = t.fake.requests[before:]
    assert request["path"].endswith("/v3/conversations/a:alice-personal/activities")
    assert "Your manager has seen" in json.dumps(request["body"])


async def test_proactive_send_without_reference_is_loud(
    t: TeamsHarness, caplog: pytest.LogCaptureFixture
) -> None:
    with pytest.raises(NoAddress):
        await t.adapter.send_to("teams:tenant-0001:aad-nobody", [Text(text="x")])
    assert "no conversation reference" in caplog.text


async def test_throttled_reply_is_retried_and_delivered_once(t: TeamsHarness) -> None:
    t.fake.fail(429, {"Retry-After": "1"})
    t.fake.fail(503)
    started = time.monotonic()
    await t.say("help")
    assert time.monotonic() - started >= 1.0
    posts = [r for r in t.fake.requests if r["method"] == "POST"]
    assert len(posts) == 3
    assert posts[0]["body"] == posts[2]["body"]
    assert "mine" in t.text()


async def test_channel_gets_no_report_content_and_points_to_private_chat(t: TeamsHarness) -> None:
    channel = "19:safety@thread.tacv2"
    await t.post(
        activity(t.url, "alice", text="report", conversation=channel, conversation_type="channel")
    )
    [card] = t.fake.cards(channel)
    assert "personal chat" in json.dumps(card)
    assert "First, your safety" not in json.dumps(t.fake.sent())
    assert await t.store.load_session(person_of(_activity_model(t.url))) is None


async def test_channel_welcome_once_not_to_every_member(t: TeamsHarness) -> None:
    channel = "19:team@thread.tacv2"
    for _ in range(2):
        await t.post(
            activity(
                t.url,
                kind="conversationUpdate",
                conversation=channel,
                conversation_type="channel",
                membersAdded=[{"id": "28:harbour-bot"}, {"id": "29:bob"}],
            )
        )
    sent = t.fake.sent()
    assert len(sent) == 1 and channel in json.dumps(t.fake.requests[0]["path"])


async def test_register_safety_leads_channel_admin_only(t: TeamsHarness) -> None:
    channel = "19:leads@thread.tacv2"
    await t.post(
        activity(
            t.url,
            "bob",
            text="register safety-leads",
            conversation=channel,
            conversation_type="channel",
        )
    )
    assert "Only Harbour administrators" in json.dumps(t.fake.cards(channel)[-1])
    assert await t.store.get_record("contacts", SAFETY_LEADS) is None
    await t.post(
        activity(
            t.url,
            "admin",
            text="register safety-leads",
            conversation=channel,
            conversation_type="channel",
        )
    )
    saved = await t.store.get_record("contacts", SAFETY_LEADS)
    assert saved and saved["reference"]["conversation"]["id"] == channel
    # The core decided and recorded it; Teams kept how to post there.
    assert t.adapter.harbour.directory.channels["teams"] == channel == saved["address"]
    assert t.adapter.leads_channel(t.adapter.harbour.directory) == SAFETY_LEADS
    assert "never what happened" in json.dumps(t.fake.cards(channel)[-1])
    before = len(t.fake.requests)
    leads = Recipient(Platform.TEAMS, "channel", SAFETY_LEADS, "safety leads")
    sent = await t.adapter.send(leads, [Text(text="HB-2026-0001: high risk")])
    [new_post] = t.fake.requests[before:]  # a new post in the channel, not a reply
    assert new_post["path"].endswith("/v3/conversations")
    assert new_post["body"]["channelData"] == {"channel": {"id": channel}}
    assert sent == f"{new_post['created']}|{new_post['created'].partition(';messageid=')[2]}"


async def test_another_users_card_press_is_refused(t: TeamsHarness) -> None:
    await t.say("report")
    alices = t.last_card()
    response = await t.press(
        alices["actions"][0]["title"], {"danger": "yes"}, card=alices, presser="bob"
    )
    assert "Not changed" in json.dumps(response["value"])
    assert "someone else's private conversation" in json.dumps(t.fake.cards("a:bob-personal")[-1])
    session = await t.store.load_session(person_of(_activity_model(t.url)))
    assert session is not None and session.drafts["report"].step == "danger"


async def test_stale_card_gets_a_kind_reply(t: TeamsHarness) -> None:
    await t.say("report")
    first = t.last_card()
    await t.submit({"danger": "no"})
    await t.press(first["actions"][0]["title"], {"danger": "yes"}, card=first)
    assert "already been answered" in t.text()


async def test_unknown_card_verb_or_garbage_data_is_handled(t: TeamsHarness) -> None:
    response = await t.post(execute(t.url, "alice", {"hb": "nonsense"}))
    assert response.status == 200
    response = await t.post(execute(t.url, "alice", {"something": "else"}))
    assert response.status == 200


async def test_with_a_client_id_unauthenticated_requests_are_refused() -> None:
    env = {
        "CONNECTIONS__SERVICE_CONNECTION__SETTINGS__CLIENTID": "6f1c2a3b-4d5e-4f60-8a7b-9c0d1e2f3a4b",
        "CONNECTIONS__SERVICE_CONNECTION__SETTINGS__CLIENTSECRET": "secret",
        "CONNECTIONS__SERVICE_CONNECTION__SETTINGS__TENANTID": "11111111-2222-3333-4444-555555555555",
    }
    fake = FakeConnector()
    service_url = await fake.start()
    server = build(
        Settings(_env_file=None),
        SlackSettings(_env_file=None),
        MemoryStore(),
        load_teams_settings(env),
    )  # type: ignore[call-arg]
    client = TestClient(TestServer(server.web_app, host="127.0.0.1"))
    await client.start_server()
    try:
        body = activity(service_url, text="report")
        missing = await client.post("/api/messages", json=body)
        forged = await client.post(
            "/api/messages", json=body, headers={"Authorization": "Bearer not.a.jwt"}
        )
        health = await client.get("/healthz")
        assert missing.status == forged.status == 401
        assert health.status == 200
        assert fake.requests == []
    finally:
        await client.close()
        await fake.close()


def test_incomplete_teams_settings_name_the_variable() -> None:
    with pytest.raises(ConfigError, match="CLIENTSECRET"):
        load_teams_settings({"CONNECTIONS__SERVICE_CONNECTION__SETTINGS__CLIENTID": "x"})


APP_REGISTRATION = {
    "CONNECTIONS__SERVICE_CONNECTION__SETTINGS__CLIENTID": "6f1c2a3b-4d5e-4f60-8a7b-9c0d1e2f3a4b",
    "CONNECTIONS__SERVICE_CONNECTION__SETTINGS__CLIENTSECRET": "secret",
    "CONNECTIONS__SERVICE_CONNECTION__SETTINGS__TENANTID": "11111111-2222-3333-4444-555555555555",
}


def test_teams_is_off_unless_configured_and_the_local_trial_is_explicit() -> None:
    off = load_teams_settings({})
    assert not off.enabled and not off.local_trial
    assert not load_teams_settings({"HARBOUR_TEAMS_LOCAL_TRIAL": "false"}).enabled
    trial = load_teams_settings({"HARBOUR_TEAMS_LOCAL_TRIAL": " True "})
    assert trial.enabled and trial.local_trial and not trial.client_id
    registered = load_teams_settings(APP_REGISTRATION)
    assert registered.enabled and not registered.local_trial
    with pytest.raises(ConfigError, match="HARBOUR_TEAMS_LOCAL_TRIAL"):
        load_teams_settings({"HARBOUR_TEAMS_LOCAL_TRIAL": "maybe"})
    with pytest.raises(ConfigError, match="pick one"):
        load_teams_settings({**APP_REGISTRATION, "HARBOUR_TEAMS_LOCAL_TRIAL": "true"})
    with pytest.raises(ConfigError, match="pick one"):
        TeamsSettings(client_id="x", local_trial=True)


async def test_without_teams_settings_there_is_no_api_messages() -> None:
    fake = FakeConnector()
    service_url = await fake.start()
    store = MemoryStore()
    settings = Settings(_env_file=None)  # type: ignore[call-arg]
    server = build(settings, SlackSettings(_env_file=None), store, load_teams_settings({}))  # type: ignore[call-arg]
    assert server.teams is None
    with pytest.raises(ConfigError, match="Teams is off"):
        TeamsAdapter(server.harbour, store, TeamsSettings())
    client = TestClient(TestServer(server.web_app, host="127.0.0.1"))
    await client.start_server()
    try:
        forged = activity(
            service_url,
            "forger",
            text="help",
            **{"from": {"id": "29:forger", "name": "Admin", "aadObjectId": "U0ADMIN"}},
        )
        response = await client.post("/api/messages", json=forged)
        assert response.status == 404
        assert fake.requests == []
        assert await store.records("contacts") == {}
    finally:
        await client.close()
        await fake.close()


@pytest.fixture
def outbound(monkeypatch: pytest.MonkeyPatch, t: TeamsHarness) -> list[str]:
    """Every HTTP request made in the test other than to Harbour's test server and the
    fake connector: recorded and refused before any lookup or connection."""
    attempts: list[str] = []
    real = aiohttp.ClientSession._request
    ours = {URL(str(t.client.make_url("/"))).origin(), URL(t.url).origin()}

    async def guarded(self: aiohttp.ClientSession, method: str, url: Any, **kw: Any) -> Any:
        target = URL(str(url))
        if self._base_url is not None and not target.is_absolute():
            target = self._base_url.join(target)
        if target.origin() not in ours:
            attempts.append(f"{method} {target}")
            raise AssertionError(f"Harbour tried to reach {target}")
        return await real(self, method, url, **kw)

    monkeypatch.setattr(aiohttp.ClientSession, "_request", guarded)
    return attempts


OFF_THIS_MACHINE = [
    "https://evil.example.com/",
    "http://127.0.0.1@evil.example.com/",
    "http://localhost.evil.example.com/",
    "http://10.0.0.5:3978/",
    "http://[::2]/",
    "file://127.0.0.1/etc/",
    "not a url",
    None,
]


@pytest.mark.parametrize("service_url", OFF_THIS_MACHINE)
async def test_local_trial_refuses_a_service_url_off_this_machine(
    t: TeamsHarness, outbound: list[str], service_url: str | None
) -> None:
    """Even from this machine (e.g. a reverse proxy on the same host), an
    unauthenticated activity never makes Harbour talk to anywhere else."""
    for body in (
        activity("", text="register safety-leads"),
        activity("", conversation="19:x@thread.tacv2", conversation_type="channel", text="hi"),
        execute("", "alice", {"hb": "nonsense"}),
        activity("", kind="conversationUpdate", membersAdded=[{"id": "28:harbour-bot"}]),
    ):
        body["serviceUrl"] = service_url
        response = await t.post(body)
        assert response.status == 401, await response.text()
    assert outbound == []
    assert t.fake.requests == []
    assert await t.store.records("contacts") == {}
    assert await t.store.load_session(person_of(_activity_model(t.url))) is None


@pytest.mark.parametrize(
    "service_url",
    ["http://127.0.0.1:1/", "http://127.9.9.9/x/", "https://localhost/", "http://[::1]:3978/"],
)
def test_loopback_service_urls_are_this_machine(service_url: str) -> None:
    assert _is_loopback_url(service_url)


async def test_local_trial_never_sends_proactively_off_this_machine(
    t: TeamsHarness, outbound: list[str]
) -> None:
    await t.say("help")
    key = person_of(_activity_model(t.url)).key
    saved = await t.store.get_record("contacts", key)
    assert saved is not None
    # A reference saved some other way (an older run, a copied data directory).
    elsewhere = {**saved["reference"], "serviceUrl": "https://evil.example.com/"}
    await t.store.put_record("contacts", key, {**saved, "reference": elsewhere})
    await t.store.put_record("contacts", SAFETY_LEADS, {"reference": elsewhere})
    before = len(t.fake.requests)
    with pytest.raises(NotOnThisMachine):
        await t.adapter.send_to(key, [Text(text="HB-2026-0001: high risk")])
    leads = Recipient(
        platform=Platform.TEAMS, kind="channel", address=SAFETY_LEADS, role="safety leads"
    )
    with pytest.raises(NoAddress):  # a kind of NoAddress: what callers already handle
        await t.adapter.send(leads, [Text(text="HB-2026-0001: high risk")])
    with pytest.raises(NotOnThisMachine):
        await t.adapter.update(leads, "activity-1", [Text(text="HB-2026-0001: closed")])
    assert outbound == []
    assert len(t.fake.requests) == before


def test_cards_keep_within_teams_limits() -> None:
    from bot.models import ChoiceQuestion, Option

    many = ChoiceQuestion(
        id="q",
        prompt="Pick",
        options=tuple(Option(value=str(i), label=f"Option {i}") for i in range(8)),
        token="t",
    )
    [card] = cards.cards([Notice(text="hi"), many], "aad-alice")
    assert len(card["actions"]) == 1  # a menu and one OK, not eight buttons
    assert card["body"][0]["type"] == "Container"


def _activity_model(service_url: str) -> Any:
    from microsoft_agents.activity import Activity

    return Activity.model_validate(activity(service_url, "alice"))


async def test_nothing_reported_reaches_the_logs(
    t: TeamsHarness, caplog: pytest.LogCaptureFixture
) -> None:
    import logging

    from bot.cli import configure_logging

    configure_logging("DEBUG")
    caplog.set_level(logging.DEBUG)
    await t.say("report")
    for page in PAGES:
        await t.submit(page)
    await t.press("File report")
    assert "HB-2026-0001" in t.text()
    for secret in ("evil.example", "facebook.com/p/9", "Everyone</at>"):
        assert secret not in caplog.text
