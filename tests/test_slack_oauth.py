"""Installing with Add to Slack: bolt's OAuth flow against the fake Web API,
installations kept sealed in Harbour's store, each workspace answered with its
own token, and a workspace's token deleted when Harbour is uninstalled there."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
from aiohttp.test_utils import TestClient, TestServer
from slack_sdk.oauth.installation_store import Installation

from adapters.slack.app import NotInstalled
from adapters.slack.config import load_slack_settings
from adapters.slack.install import BOT_SCOPES, REDIRECT_PATH
from bot.alerts.messenger import Recipient
from bot.config import ConfigError, Settings
from bot.models import Notice, Platform
from bot.privacy.setup import attach_key
from bot.server import Server, build
from bot.store import RecordKind, Store, TinyStore
from tests.fakes.slack import SIGNING_SECRET, FakeSlack, signed_headers

CLIENT_ID, CLIENT_SECRET = "1234.5678", "harbour-client-secret-0123456789"
AGENCY, OTHER = "T0AGENCY", "T0OTHER"
ORG, NORTH, SOUTH = "E0AGENCIES", "T0NORTH", "T0SOUTH"  # an Enterprise Grid org, two workspaces
COOKIE = "slack-app-oauth-state"
MANIFEST = Path(__file__).resolve().parent.parent / "manifest" / "slack" / "manifest.json"


class Installs:
    """A Harbour serving Add to Slack, a fake Slack, and a browser (its cookie)."""

    def __init__(
        self, fake: FakeSlack, server: Server, client: TestClient[Any, Any], store: Store
    ) -> None:
        self.fake, self.server, self.client, self.store = fake, server, client, store
        assert server.slack is not None
        self.slack = server.slack

    async def start_install(self) -> tuple[str, str]:
        """Open /slack/install: (the state in its Add to Slack link, the cookie set)."""
        response = await self.client.get("/slack/install")
        assert response.status == 200
        page = await response.text()
        assert "Add to Slack" in page and "Add Harbour to Slack" in page
        start = page.index("https://slack.com/oauth/v2/authorize")
        link = page[start : page.index('"', start)].replace("&amp;", "&")
        query = parse_qs(urlsplit(link).query)
        assert query["client_id"] == [CLIENT_ID]
        assert query["scope"] == [",".join(BOT_SCOPES)]
        assert query.get("user_scope", [""]) == [""]
        cookie = response.cookies[COOKIE].value
        assert cookie == query["state"][0]
        return query["state"][0], cookie

    async def come_back(self, state: str, code: str, cookie: str | None) -> tuple[int, str, Any]:
        """Slack sends the installer back to the redirect URL with state and code."""
        headers = {"Cookie": f"{COOKIE}={cookie}"} if cookie else {}
        query = urlencode({"state": state, "code": code})
        response = await self.client.get(f"{REDIRECT_PATH}?{query}", headers=headers)
        return response.status, await response.text(), response

    async def install(self, workspace: str) -> None:
        state, cookie = await self.start_install()
        status, page, _ = await self.come_back(state, self.fake.approve(workspace), cookie)
        assert status == 200, page

    async def dm(self, workspace: str, user: str, text: str, *, org: str | None = None) -> Any:
        event = {
            "type": "message",
            "channel_type": "im",
            "channel": f"D{user}",
            "user": user,
            "text": text,
            "ts": f"{time.time():.6f}",
        }
        return await self.event(workspace, event, org=org)

    async def event(self, workspace: str, event: dict[str, Any], *, org: str | None = None) -> Any:
        """An Events API delivery from a workspace; with `org`, as Slack sends it to
        an org-wide install: the envelope names the workspace, and its
        authorization names the org, no workspace, and is_enterprise_install."""
        envelope: dict[str, Any] = {
            "token": "unused",
            "team_id": workspace,
            "api_app_id": "A0HARBOUR",
            "event": event,
            "type": "event_callback",
            "event_id": f"Ev{time.monotonic_ns()}",
            "event_time": int(time.time()),
        }
        if org is not None:
            envelope["enterprise_id"] = org
            envelope["is_ext_shared_channel"] = False
            envelope["authorizations"] = [
                {
                    "enterprise_id": org,
                    "team_id": None,
                    "user_id": f"UBOT{org}",
                    "is_bot": True,
                    "is_enterprise_install": True,
                }
            ]
        body = json.dumps(envelope)
        headers = signed_headers(body, content_type="application/json")
        response = await self.client.post("/slack/events", data=body, headers=headers)
        await self.slack.drain()
        return response

    async def command(self, workspace: str, user: str, text: str, *, org: str) -> Any:
        """/report-abuse typed in a workspace of an org that installed Harbour org-wide."""
        body = urlencode(
            {
                "token": "unused",
                "team_id": workspace,
                "team_domain": workspace.lower(),
                "enterprise_id": org,
                "enterprise_name": "Agencies",
                "is_enterprise_install": "true",
                "channel_id": f"D{user}",
                "channel_name": "directmessage",
                "user_id": user,
                "user_name": user.lower(),
                "command": "/report-abuse",
                "text": text,
                "api_app_id": "A0HARBOUR",
                "response_url": "https://hooks.slack.invalid/commands/1",
                "trigger_id": f"trigger-{time.monotonic_ns()}",
            }
        )
        headers = signed_headers(body, content_type="application/x-www-form-urlencoded")
        response = await self.client.post("/slack/events", data=body, headers=headers)
        await self.slack.drain()
        return response

    def posts_to(self, user: str) -> list[str]:
        """The tokens every message to this person's DM was posted with."""
        return [
            token
            for (method, params), (_, token) in zip(
                self.fake.calls, self.fake.tokens_used, strict=True
            )
            if method == "chat.postMessage" and params.get("channel") == f"D{user}"
        ]


@pytest.fixture
async def inst(tmp_path: Path) -> AsyncIterator[Installs]:
    fake = FakeSlack()
    fake.client_id, fake.client_secret = CLIENT_ID, CLIENT_SECRET
    base_url = await fake.start()
    store = TinyStore(tmp_path / "data")
    await attach_key(store, key="", key_file=tmp_path / "harbour.key", data_dir=tmp_path / "data")
    slack = load_slack_settings(
        client_id=CLIENT_ID,
        client_secret=CLIENT_SECRET,
        signing_secret=SIGNING_SECRET,
        install_workspaces=f"{AGENCY}, {OTHER}, {ORG}",
        api_url=base_url,
        _env_file=None,
    )
    server = build(Settings(_env_file=None), slack, store)  # type: ignore[call-arg]
    client = TestClient(TestServer(server.web_app, host="127.0.0.1"))
    await client.start_server()
    try:
        yield Installs(fake, server, client, store)
    finally:
        await client.close()
        await fake.close()
        await store.close()


async def test_a_workspace_installs_and_is_answered_with_its_own_token(
    inst: Installs, tmp_path: Path
) -> None:
    state, cookie = await inst.start_install()
    status, page, response = await inst.come_back(state, inst.fake.approve(AGENCY), cookie)
    assert status == 200
    assert "Harbour is installed" in page and "register safety-leads" in page
    assert AGENCY in page  # the workspace id, to give whoever runs Harbour
    assert "xoxb-" not in page  # no token ever reaches the browser
    gone = response.cookies[COOKIE]  # the state's cookie deleted: the link is used up
    assert gone.value == "deleted" and "1970" in gone["expires"]
    [token] = inst.fake.tokens_of(AGENCY)
    [access] = inst.fake.called("oauth.v2.access")
    assert access["code"].startswith(f"code-{AGENCY}")

    stored = await inst.store.records(RecordKind.INSTALLATIONS)
    assert stored[AGENCY]["bot_token"] == token
    assert stored[AGENCY]["bot_user_id"] == f"UBOT{AGENCY}"
    response = await inst.dm(AGENCY, "U0ALICE", "help")
    assert response.status == 200
    assert inst.posts_to("U0ALICE") and set(inst.posts_to("U0ALICE")) == {token}
    await inst.store.close()  # written out: the files hold the token only sealed
    on_disk = b"".join(p.read_bytes() for p in (tmp_path / "data").rglob("*") if p.is_file())
    assert token.encode() not in on_disk and b"T0AGENCY" in on_disk


async def test_two_workspaces_side_by_side_each_with_its_own_token(inst: Installs) -> None:
    await inst.install(AGENCY)
    await inst.install(OTHER)
    [agency_token], [other_token] = inst.fake.tokens_of(AGENCY), inst.fake.tokens_of(OTHER)
    assert agency_token != other_token
    await inst.dm(AGENCY, "U0ALICE", "report")
    await inst.dm(OTHER, "U0BRIAN", "report")
    assert set(inst.posts_to("U0ALICE")) == {agency_token}
    assert set(inst.posts_to("U0BRIAN")) == {other_token}
    opened = [
        token
        for (method, _), (_, token) in zip(inst.fake.calls, inst.fake.tokens_used, strict=True)
        if method == "conversations.open"
    ]
    assert sorted(opened) == sorted([agency_token, other_token])


@pytest.mark.parametrize("problem", ["forged", "expired", "no cookie", "other browser"])
async def test_a_bad_state_is_refused_kindly_and_installs_nothing(
    inst: Installs, problem: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    state, cookie = await inst.start_install()
    if problem == "forged":
        state = cookie = state[:-4] + "AAAA"
    elif problem == "expired":
        later = time.time() + 301
        monkeypatch.setattr(time, "time", lambda: later)
    code = inst.fake.approve(AGENCY)
    given = {"no cookie": None, "other browser": "someone-else"}.get(problem, cookie)
    status, page, _ = await inst.come_back(state, code, given)
    assert status in (400, 401)
    assert "install link can't be used" in page and "Nothing was installed" in page
    assert "Start again" in page and "/slack/install" in page
    assert not inst.fake.called("oauth.v2.access")
    assert await inst.store.records(RecordKind.INSTALLATIONS) == {}


async def test_a_state_used_again_is_refused(inst: Installs) -> None:
    state, cookie = await inst.start_install()
    code = inst.fake.approve(AGENCY)
    status, _, _ = await inst.come_back(state, code, cookie)
    assert status == 200
    # The same browser again: its cookie was deleted, so the link is refused.
    status, page, _ = await inst.come_back(state, code, None)
    assert status == 400 and "install link can't be used" in page
    # The cookie put back by hand: Slack accepts a code once, so nothing more.
    status, page, _ = await inst.come_back(state, code, cookie)
    assert status == 401 and "Slack didn't confirm the install" in page
    assert len(inst.fake.tokens_of(AGENCY)) == 1


async def test_declining_on_slack_says_nothing_was_installed(inst: Installs) -> None:
    response = await inst.client.get(f"{REDIRECT_PATH}?error=access_denied&state=x")
    page = await response.text()
    assert "You chose not to allow Harbour" in page and "nothing was changed" in page
    assert await inst.store.records(RecordKind.INSTALLATIONS) == {}


async def test_uninstalling_deletes_the_token_and_nothing_more_is_sent(
    inst: Installs, caplog: pytest.LogCaptureFixture
) -> None:
    await inst.install(AGENCY)
    await inst.install(OTHER)
    [agency_token] = inst.fake.tokens_of(AGENCY)
    caplog.set_level(logging.INFO)
    response = await inst.event(AGENCY, {"type": "app_uninstalled"})
    assert response.status == 200
    assert set(await inst.store.records(RecordKind.INSTALLATIONS)) == {OTHER}
    assert any(AGENCY in r.getMessage() and "deleted" in r.getMessage() for r in caplog.records)

    before = len(inst.fake.calls)
    await inst.dm(AGENCY, "U0ALICE", "report")
    assert all(token != agency_token for _, token in inst.fake.tokens_used[before:])
    assert not inst.posts_to("U0ALICE")
    await inst.dm(OTHER, "U0BRIAN", "help")  # the other workspace carries on
    assert inst.posts_to("U0BRIAN")


async def test_a_revoked_bot_token_is_deleted_but_a_user_token_changes_nothing(
    inst: Installs,
) -> None:
    await inst.install(AGENCY)
    await inst.event(AGENCY, {"type": "tokens_revoked", "tokens": {"oauth": ["U0ADMIN"]}})
    assert set(await inst.store.records(RecordKind.INSTALLATIONS)) == {AGENCY}
    await inst.event(AGENCY, {"type": "tokens_revoked", "tokens": {"bot": [f"UBOT{AGENCY}"]}})
    assert await inst.store.records(RecordKind.INSTALLATIONS) == {}


def test_add_to_slack_asks_for_the_manifests_scopes() -> None:
    manifest = json.loads(MANIFEST.read_text(encoding="utf-8"))
    assert sorted(BOT_SCOPES) == sorted(manifest["oauth_config"]["scopes"]["bot"])
    assert manifest["oauth_config"]["redirect_urls"] == [
        "https://harbour.example.org/slack/oauth_redirect"
    ]
    events = manifest["settings"]["event_subscriptions"]["bot_events"]
    assert {"app_uninstalled", "tokens_revoked"} <= set(events)
    assert manifest["settings"]["org_deploy_enabled"] is True  # org-wide installs offered


@pytest.mark.parametrize(
    ("settings", "named"),
    [
        ({"client_id": CLIENT_ID}, "SLACK_CLIENT_SECRET go together"),
        ({"client_id": CLIENT_ID, "client_secret": CLIENT_SECRET}, "SLACK_SIGNING_SECRET"),
        (
            {
                "client_id": CLIENT_ID,
                "client_secret": CLIENT_SECRET,
                "signing_secret": SIGNING_SECRET,
                "app_token": "xapp-1",
            },
            "not Socket Mode",
        ),
        ({"redirect_uri": "http://harbour.example.org/x"}, "SLACK_REDIRECT_URI"),
        (
            {
                "client_id": CLIENT_ID,
                "client_secret": CLIENT_SECRET,
                "signing_secret": SIGNING_SECRET,
            },
            "SLACK_INSTALL_WORKSPACES",
        ),
        ({"install_workspaces": "T0AGENCY, agency.slack.com"}, "not a Slack id.*E\\.\\.\\."),
    ],
)
def test_incomplete_oauth_settings_stop_harbour_saying_what_to_set(
    settings: dict[str, str], named: str
) -> None:
    with pytest.raises(ConfigError, match=named):
        load_slack_settings(_env_file=None, **settings)


async def test_a_workspace_the_organisation_did_not_list_cannot_install(inst: Installs) -> None:
    """Reports filed there would reach this organisation's safety leads: the
    install is refused with a page saying why, and nothing is kept."""
    stranger = "T0STRANGER"
    state, cookie = await inst.start_install()
    status, page, _ = await inst.come_back(state, inst.fake.approve(stranger), cookie)
    assert status >= 400 and "serves only its organisation's own Slack workspaces" in page
    assert await inst.store.get_record(RecordKind.INSTALLATIONS, stranger) is None


def test_a_bot_token_keeps_todays_single_workspace_mode() -> None:
    both = load_slack_settings(
        _env_file=None,
        bot_token="xoxb-1",
        signing_secret=SIGNING_SECRET,
        client_id=CLIENT_ID,
        client_secret=CLIENT_SECRET,
    )
    assert both.enabled and not both.installs
    oauth = load_slack_settings(
        _env_file=None,
        signing_secret=SIGNING_SECRET,
        client_id=CLIENT_ID,
        client_secret=CLIENT_SECRET,
        install_workspaces=AGENCY,
    )
    assert oauth.enabled and oauth.installs


# ------------------------------------------------------- Enterprise Grid, org-wide


async def test_an_org_wide_install_answers_every_workspace_of_the_org_with_its_token(
    inst: Installs,
) -> None:
    inst.fake.org_teams[ORG] = [NORTH, SOUTH]  # the workspaces its administrator added it to
    state, cookie = await inst.start_install()
    status, page, _ = await inst.come_back(state, inst.fake.approve(ORG), cookie)
    assert status == 200, page
    assert "Harbour is installed for your organisation" in page
    assert ORG in page and f"/manage/{ORG}/integrations/profile/A0HARBOUR/workspaces/add" in page
    assert "xoxb-" not in page
    [org_token] = inst.fake.tokens_of(ORG)
    stored = await inst.store.records(RecordKind.INSTALLATIONS)
    assert set(stored) == {ORG}  # one installation, kept under the org
    assert stored[ORG]["is_enterprise_install"] is True and stored[ORG]["team_id"] is None

    # A DM in one workspace, a slash command in the other: both answered with the org's token.
    await inst.dm(NORTH, "W0ALICE", "help", org=ORG)
    response = await inst.command(SOUTH, "W0BRIAN", "help", org=ORG)
    assert response.status == 200
    assert inst.posts_to("W0ALICE") and set(inst.posts_to("W0ALICE")) == {org_token}
    assert inst.posts_to("W0BRIAN") and set(inst.posts_to("W0BRIAN")) == {org_token}
    # People keep their workspace in their key, as with workspace installs.
    assert await inst.store.get_record(RecordKind.CONTACTS, f"slack:{NORTH}:W0ALICE") is not None
    assert await inst.store.get_record(RecordKind.CONTACTS, f"slack:{SOUTH}:W0BRIAN") is not None

    # Alerts: to someone who never wrote to Harbour, and to the leads' channel.
    before = len(inst.fake.calls)
    alert = [Notice(text="A new report needs a safety lead.")]
    manager = Recipient(Platform.SLACK, "person", f"slack:{SOUTH}:W0CAROL", "manager")
    await inst.slack.send(manager, alert, key="alert-1")
    leads = Recipient(Platform.SLACK, "channel", "C0LEADS", "safety leads")
    await inst.slack.send(leads, alert, key="alert-2")
    posted = [
        (params.get("channel"), token)
        for (method, params), (_, token) in zip(
            inst.fake.calls[before:], inst.fake.tokens_used[before:], strict=True
        )
        if method == "chat.postMessage"
    ]
    assert posted == [("DW0CAROL", org_token), ("C0LEADS", org_token)]


async def test_a_workspace_the_org_did_not_add_harbour_to_is_not_answered(
    inst: Installs,
) -> None:
    inst.fake.org_teams[ORG] = [NORTH]
    await inst.install(ORG)
    await inst.dm(SOUTH, "W0BRIAN", "help", org=ORG)
    assert not inst.posts_to("W0BRIAN")
    with pytest.raises(NotInstalled):
        await inst.slack.api(SOUTH)


async def test_an_org_or_a_workspace_of_it_not_listed_cannot_install(inst: Installs) -> None:
    """Only the org's id listed allows an org-wide install; a workspace of a
    listed org installing on its own needs its own id listed."""
    state, cookie = await inst.start_install()
    status, page, _ = await inst.come_back(state, inst.fake.approve("E0STRANGERS"), cookie)
    assert status >= 400 and "this Enterprise Grid org isn't listed" in page
    assert "(E...)" in page and "nothing was installed" in page
    assert await inst.store.records(RecordKind.INSTALLATIONS) == {}

    state, cookie = await inst.start_install()
    status, page, _ = await inst.come_back(state, inst.fake.approve(NORTH), cookie)
    assert status >= 400 and "serves only its organisation's own Slack workspaces" in page
    assert await inst.store.records(RecordKind.INSTALLATIONS) == {}


@pytest.mark.parametrize(
    "event",
    [{"type": "app_uninstalled"}, {"type": "tokens_revoked", "tokens": {"bot": [f"UBOT{ORG}"]}}],
    ids=["uninstalled", "revoked"],
)
async def test_uninstalling_the_org_deletes_its_token_for_every_workspace(
    inst: Installs, event: dict[str, Any], caplog: pytest.LogCaptureFixture
) -> None:
    inst.fake.org_teams[ORG] = [NORTH, SOUTH]
    await inst.install(ORG)
    await inst.install(OTHER)
    [org_token] = inst.fake.tokens_of(ORG)
    await inst.dm(NORTH, "W0ALICE", "help", org=ORG)  # its client is now kept for reuse
    assert inst.posts_to("W0ALICE")
    caplog.set_level(logging.INFO)
    response = await inst.event(NORTH, event, org=ORG)
    assert response.status == 200
    assert set(await inst.store.records(RecordKind.INSTALLATIONS)) == {OTHER}
    assert any(ORG in r.getMessage() and "deleted" in r.getMessage() for r in caplog.records)

    before = len(inst.fake.calls)
    await inst.dm(NORTH, "W0ALICE", "report", org=ORG)
    await inst.dm(SOUTH, "W0BRIAN", "report", org=ORG)
    assert all(token != org_token for _, token in inst.fake.tokens_used[before:])
    assert not inst.posts_to("W0BRIAN")
    with pytest.raises(NotInstalled):
        await inst.slack.api(NORTH)
    await inst.dm(OTHER, "U0CHRIS", "help")  # a workspace installed on its own carries on
    assert inst.posts_to("U0CHRIS")


async def test_a_request_for_the_org_install_uses_it_beside_a_workspaces_own(
    inst: Installs,
) -> None:
    """A workspace of the org may also have installed Harbour on its own: what
    Slack sends to the org-wide install is answered with the org's token, what
    it sends to the workspace's install with the workspace's, and its people's
    own messages (found by their workspace) with the workspace's."""
    installations = inst.slack.installations
    assert installations is not None
    for team, org_wide in ((NORTH, False), (None, True)):
        await installations.async_save(
            Installation(
                app_id="A0HARBOUR",
                enterprise_id=ORG,
                team_id=team,
                bot_token=f"xoxb-{team or ORG}",
                bot_id="B1",
                bot_user_id="UBOT1",
                user_id="W0ADMIN",
                is_enterprise_install=org_wide,
            )
        )
    assert set(await inst.store.records(RecordKind.INSTALLATIONS)) == {NORTH, ORG}
    to_org = await installations.async_find_bot(
        enterprise_id=ORG, team_id=NORTH, is_enterprise_install=True
    )
    to_workspace = await installations.async_find_bot(
        enterprise_id=ORG, team_id=NORTH, is_enterprise_install=False
    )
    assert to_org is not None and to_org.bot_token == f"xoxb-{ORG}"
    assert to_workspace is not None and to_workspace.bot_token == f"xoxb-{NORTH}"
    assert (await inst.slack.api(NORTH)).token == f"xoxb-{NORTH}"
