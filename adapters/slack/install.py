"""Installing Harbour in several Slack workspaces with "Add to Slack" (OAuth).

bolt runs the OAuth flow itself (`AsyncOAuthFlow`); Harbour gives it:

- an installation store on Harbour's own `Store` (`RecordKind.INSTALLATIONS`,
  sealed at rest: a bot token is a secret), keyed by workspace (T...), or for an
  Enterprise Grid org-wide install by the org (E...), so every instance on the
  same store (embedded or PostgreSQL) serves every workspace;
- the OAuth `state` as a signed, expiring token (slack_sdk's
  `StatelessOAuthStateStore`), so any instance can check a state another one
  issued with nothing stored; bolt also ties it to the installer's browser with
  a cookie it deletes once used, and Slack accepts each code once;
- an authorize function that builds a workspace's identity from its stored
  installation (its own, else its org's), without asking Slack (`auth.test`) on
  every request;
- its own install, success and failure pages, in Harbour's words.

Both kinds of install are offered (the manifest's `org_deploy_enabled` is on):
a workspace install answers in its workspace; an org-wide install, one token
for the whole org, answers in every workspace of the org an org administrator
added Harbour to. People are named by their workspace in both (`slack:T...:U...`).
"""

from __future__ import annotations

import hashlib
import hmac
import html
import logging
from typing import Any

from slack_bolt.authorization import AuthorizeResult
from slack_bolt.authorization.async_authorize import AsyncAuthorize
from slack_bolt.context.async_context import AsyncBoltContext
from slack_bolt.error import BoltError
from slack_bolt.oauth.async_callback_options import (
    AsyncCallbackOptions,
    AsyncFailureArgs,
    AsyncSuccessArgs,
)
from slack_bolt.oauth.async_oauth_flow import AsyncOAuthFlow
from slack_bolt.oauth.async_oauth_settings import AsyncOAuthSettings
from slack_bolt.request.async_request import AsyncBoltRequest
from slack_bolt.response import BoltResponse
from slack_sdk.oauth.installation_store import Bot, Installation
from slack_sdk.oauth.installation_store.async_installation_store import AsyncInstallationStore
from slack_sdk.oauth.state_store.stateless import StatelessOAuthStateStore
from slack_sdk.web.async_client import AsyncWebClient

from adapters.slack.config import SlackSettings
from bot.store import RecordKind, Store

log = logging.getLogger(__name__)

BOT_SCOPES = (
    "channels:history",
    "chat:write",
    "commands",
    "files:read",
    "files:write",
    "groups:history",
    "im:history",
    "im:write",
    "users:read",
)
"""What "Add to Slack" asks for: exactly the manifest's bot scopes (a test
checks they agree), and no user scopes."""

INSTALL_PATH = "/slack/install"
REDIRECT_PATH = "/slack/oauth_redirect"
STATE_LIFETIME_SECONDS = 300
"""How long an install link's state may wait for Slack's answer: long enough to
read the permissions page, short enough that a copied link soon stops working."""

STORED_FIELDS = (
    "app_id",
    "enterprise_id",
    "team_id",
    "bot_token",
    "bot_id",
    "bot_user_id",
    "bot_scopes",
    "user_id",
    "is_enterprise_install",
    "installed_at",
)
"""What is kept of an installation: ids, the bot token and its scopes, who
installed it and when. No workspace or person names, no user token."""

NOT_INSTALLED = (
    "Harbour isn't installed in this workspace any more, so I can't answer here. "
    "Please ask your Slack administrator to add Harbour again."
)
"""What a person sees, in place of an answer, from a workspace whose installation
was removed (bolt says it in the channel where she typed, to her alone)."""


def state_secret(settings: SlackSettings) -> str:
    """The key that signs OAuth states, derived from the client secret (which
    every instance already shares) so it is never the secret itself."""
    return hmac.new(
        settings.client_secret.encode(), b"harbour oauth state", hashlib.sha256
    ).hexdigest()


class HarbourInstallationStore(AsyncInstallationStore):
    """bolt's installation store, on Harbour's store: one sealed record per
    workspace, or per Enterprise Grid org installed org-wide, holding its bot
    (Harbour asks for no user token)."""

    def __init__(self, store: Store) -> None:
        self.store = store

    @property
    def logger(self) -> logging.Logger:
        return log

    async def async_save(self, installation: Installation) -> None:
        await self._put(installation.to_bot(), installation.user_id)

    async def async_save_bot(self, bot: Bot) -> None:
        await self._put(bot, None)

    async def _put(self, bot: Bot, user_id: str | None) -> None:
        """One write of the sealed record: the bot, and who installed it."""
        standard = bot.to_dict_for_copying()
        record: dict[str, Any] = {k: standard.get(k) for k in STORED_FIELDS}
        record["installed_at"] = bot.installed_at
        record["user_id"] = user_id
        await self.store.put_record(RecordKind.INSTALLATIONS, installation_key(bot), record)
        if bot.is_enterprise_install:
            log.info("Slack org %s: Harbour was installed org-wide", bot.enterprise_id)
        else:
            log.info("Slack workspace %s: Harbour was installed", bot.team_id)

    async def async_find_bot(
        self,
        *,
        enterprise_id: str | None,
        team_id: str | None,
        is_enterprise_install: bool | None = False,
    ) -> Bot | None:
        """The workspace's own installation; else (or for a request Slack sent to
        an org-wide install) its org's org-wide one."""
        if team_id and not is_enterprise_install:
            found = await self.kept_under(team_id)
            if found is not None:
                return found
        if enterprise_id:
            org = await self.kept_under(enterprise_id)
            if org is not None and org.is_enterprise_install:
                return org
        return None

    async def kept_under(self, key: str) -> Bot | None:
        """The installation kept under a workspace's id (T...), or under an
        org's id (E...) for an org-wide install; None if there is none."""
        record = await self.store.get_record(RecordKind.INSTALLATIONS, key)
        if not record or not record.get("bot_token"):
            return None
        return Bot(
            app_id=record.get("app_id"),
            enterprise_id=record.get("enterprise_id"),
            team_id=record.get("team_id"),
            bot_token=record["bot_token"],
            bot_id=record.get("bot_id") or "",
            bot_user_id=record.get("bot_user_id") or "",
            bot_scopes=record.get("bot_scopes") or "",
            is_enterprise_install=bool(record.get("is_enterprise_install")),
            installed_at=float(record.get("installed_at") or 0),
        )

    async def async_find_installation(
        self,
        *,
        enterprise_id: str | None,
        team_id: str | None,
        user_id: str | None = None,
        is_enterprise_install: bool | None = False,
    ) -> Installation | None:
        bot = await self.async_find_bot(
            enterprise_id=enterprise_id,
            team_id=team_id,
            is_enterprise_install=is_enterprise_install,
        )
        if bot is None:
            return None
        return Installation(
            app_id=bot.app_id,
            enterprise_id=bot.enterprise_id,
            team_id=bot.team_id,
            bot_token=bot.bot_token,
            bot_id=bot.bot_id,
            bot_user_id=bot.bot_user_id,
            bot_scopes=bot.bot_scopes,
            user_id=user_id or "",
            is_enterprise_install=bot.is_enterprise_install,
            installed_at=bot.installed_at,
        )

    async def async_delete_bot(self, *, enterprise_id: str | None, team_id: str | None) -> None:
        """Delete the workspace's installation, or with no workspace given, the
        org's org-wide one (never an org's for one of its workspaces: removing
        Harbour from one workspace leaves the others their answers)."""
        key = team_id or enterprise_id or ""
        if await self.store.get_record(RecordKind.INSTALLATIONS, key) is None:
            return
        await self.store.put_record(RecordKind.INSTALLATIONS, key, None)
        log.info("Slack %s %s: its bot token was deleted", _kind_of(key), key)

    async def async_delete_installation(
        self, *, enterprise_id: str | None, team_id: str | None, user_id: str | None = None
    ) -> None:
        # Harbour keeps no user token: a person's token revoked leaves the bot's.
        if user_id is None:
            await self.async_delete_bot(enterprise_id=enterprise_id, team_id=team_id)

    async def workspaces(self) -> list[str]:
        """Every installation, by id: workspaces (T...) and orgs installed org-wide (E...)."""
        return sorted(await self.store.records(RecordKind.INSTALLATIONS))

    async def org_installs(self) -> list[Bot]:
        """Every Enterprise Grid org installed org-wide."""
        found = [
            await self.kept_under(key) for key in await self.workspaces() if key.startswith("E")
        ]
        return [bot for bot in found if bot is not None and bot.is_enterprise_install]


def installation_key(found: Bot | Installation) -> str:
    """What an installation is kept under: its org (E...) if installed org-wide,
    else its workspace (T...). Slack's ids never mix the two."""
    if found.is_enterprise_install:
        return found.enterprise_id or ""
    return found.team_id or ""


def _kind_of(key: str) -> str:
    return "org" if key.startswith("E") else "workspace"


class InstalledAuthorize(AsyncAuthorize):
    """Who Harbour is in the workspace a request came from, from the stored
    installation that serves it: the workspace's, or its org's org-wide one
    (bolt's own asks Slack again with `auth.test` for every request). None when
    neither is installed: bolt then refuses."""

    def __init__(self, installations: HarbourInstallationStore) -> None:
        self.installations = installations

    async def __call__(
        self,
        *,
        context: AsyncBoltContext,
        enterprise_id: str | None,
        team_id: str | None,
        user_id: str | None,
        actor_enterprise_id: str | None = None,
        actor_team_id: str | None = None,
        actor_user_id: str | None = None,
    ) -> AuthorizeResult | None:
        # An event for an org-wide install names the org and no workspace; a
        # command or a button names both, and says it is for the org's install.
        bot = await self.installations.async_find_bot(
            enterprise_id=enterprise_id,
            team_id=team_id,
            is_enterprise_install=context.is_enterprise_install,
        )
        if bot is None:
            return None
        return AuthorizeResult(
            enterprise_id=bot.enterprise_id,
            team_id=bot.team_id,
            bot_token=bot.bot_token,
            bot_id=bot.bot_id,
            bot_user_id=bot.bot_user_id,
            bot_scopes=bot.bot_scopes,
            user_id=user_id,
        )


# ---------------------------------------------------------------------- pages

FAILURES = {
    "access_denied": (
        "Harbour wasn't installed",
        "You chose not to allow Harbour in your workspace, so nothing was installed and "
        "nothing was changed.",
    ),
    "invalid_browser": (
        "This install link can't be used",
        "It has expired, was used already, or was opened in a different browser from the "
        "one that started the install. Nothing was installed.",
    ),
    "invalid_state": (
        "This install link can't be used",
        "It has expired (an install link works for five minutes) or it was changed on the "
        "way. Nothing was installed.",
    ),
    "missing_code": (
        "Slack didn't finish the install",
        "Slack's answer didn't say the install was approved, so nothing was installed.",
    ),
    "invalid_code": (
        "Slack didn't confirm the install",
        "Slack didn't accept the answer it sent (it may have been used already), so "
        "nothing was installed.",
    ),
    "storage_error": (
        "Harbour couldn't save the install",
        "Slack approved it, but Harbour couldn't keep it, so it isn't installed yet. Please "
        "try again in a few minutes; if it happens again, tell whoever runs Harbour (its "
        "log says what went wrong).",
    ),
}
NOT_THIS_WORKSPACE = (
    "Harbour can't be installed here",
    "This Harbour serves only its organisation's own Slack workspaces, and this one isn't "
    "among them, so nothing was installed. If it should be, ask whoever runs Harbour to add "
    "this workspace (SLACK_INSTALL_WORKSPACES).",
)
NOT_THIS_ORG = (
    "Harbour can't be installed here",
    "This Harbour serves only its organisation's own Slack, and this Enterprise Grid org "
    "isn't listed for an org-wide install, so nothing was installed. If it should be, ask "
    "whoever runs Harbour to add the org's id (E...) to SLACK_INSTALL_WORKSPACES.",
)
"""The page for a workspace the organisation has not listed: reports filed
there would reach its safety leads and count in its figures."""
OTHER_FAILURE = (
    "Harbour wasn't installed",
    "Slack stopped the install before it finished, so nothing was installed.",
)


def page(title: str, *paragraphs: str, link: tuple[str, str] | None = None) -> str:
    """A small, self-contained HTML page (no scripts, nothing loaded from elsewhere).
    Paragraphs are plain text, escaped here; `link` is (address, words)."""
    body = "".join(f"<p>{html.escape(p, quote=False)}</p>" for p in paragraphs)
    if link is not None:
        href, words = link
        body += f'<p><a class="button" href="{html.escape(href)}">{html.escape(words, quote=False)}</a></p>'
    return (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{html.escape(title, quote=False)} · Harbour</title><style>"
        "body{font-family:system-ui,sans-serif;max-width:36em;margin:3em auto;padding:0 1em;"
        "line-height:1.5;color:#1d1c1d}h1{color:#1d4e89}"
        "a.button{display:inline-block;background:#1d4e89;color:#fff;padding:.6em 1.2em;"
        "border-radius:6px;text-decoration:none}"
        f"</style></head><body><h1>{html.escape(title, quote=False)}</h1>{body}</body></html>"
    )


def install_page(url: str) -> str:
    return page(
        "Add Harbour to Slack",
        "Harbour gives staff who are abused or harassed online because of their work a "
        "private place to report it, in a direct message with Harbour, and tells only the "
        "people they choose.",
        "Slack will ask you to allow what Harbour needs: to answer /report-abuse, to talk "
        "with people in direct messages, to post alerts in the safety leads' channel you "
        "choose, and to read people's names. Nothing about a report is posted anywhere else.",
        link=(url, "Add to Slack"),
    )


async def installed(args: AsyncSuccessArgs) -> BoltResponse:
    """The success page: what to do next, and the cookie that tied the state to
    this browser deleted (so the same link cannot be used again)."""
    found = args.installation
    if found.is_enterprise_install:
        text = _installed_org_wide(found)
    else:
        text = _installed_in_workspace(found)
    return BoltResponse(
        status=200,
        body=text,
        headers={
            "Content-Type": "text/html; charset=utf-8",
            "Set-Cookie": args.settings.state_utils.build_set_cookie_for_deletion(),
        },
    )


def _installed_in_workspace(found: Installation) -> str:
    open_app = f"slack://app?team={found.team_id or ''}&id={found.app_id or ''}"
    return page(
        "Harbour is installed",
        "Harbour is now in your Slack workspace. Three things finish the setup:",
        "1. Choose the safety leads' channel: invite Harbour to it (/invite @Harbour), then a "
        "Harbour administrator types /report-abuse register safety-leads there. Alerts in it "
        "only ever show a reference, how serious it is and the kind of abuse.",
        "2. Tell whoever runs Harbour your workspace id, "
        f"{found.team_id}, so they can name managers and safety "
        "leads in its team directory and its administrators (HARBOUR_ADMINS).",
        "3. Tell staff: anyone can type /report-abuse in any channel or direct message; the "
        "conversation continues privately in their direct messages with Harbour.",
        link=(open_app, "Open Harbour in Slack"),
    )


def _installed_org_wide(found: Installation) -> str:
    """An org-wide install is in no workspace yet: an org administrator adds it
    to the workspaces that should have it (Slack's page, linked)."""
    add_to_workspaces = (
        f"https://app.slack.com/manage/{found.enterprise_id or ''}/integrations/profile/"
        f"{found.app_id or ''}/workspaces/add"
    )
    return page(
        "Harbour is installed for your organisation",
        "Harbour is now installed for your whole Enterprise Grid organisation, with one "
        "token for all of it. Four things finish the setup:",
        "1. Add Harbour to the workspaces whose staff should use it (an org administrator "
        "does this in Slack's admin pages: the button below opens them). Harbour answers in "
        "every workspace it is added to, and in no other.",
        "2. Choose the safety leads' channel: invite Harbour to it (/invite @Harbour), then a "
        "Harbour administrator types /report-abuse register safety-leads there. Alerts in it "
        "only ever show a reference, how serious it is and the kind of abuse.",
        f"3. Tell whoever runs Harbour your organisation's id, {found.enterprise_id}, and the "
        "ids (T...) of the workspaces you added Harbour to: people are named by the workspace "
        "they are in, so its team directory and its administrators (HARBOUR_ADMINS) use those.",
        "4. Tell staff: anyone can type /report-abuse in any channel or direct message; the "
        "conversation continues privately in their direct messages with Harbour.",
        link=(add_to_workspaces, "Add Harbour to workspaces"),
    )


async def not_installed(args: AsyncFailureArgs) -> BoltResponse:
    """A kind failure page that says what happened and how to try again. Only
    the reason's name is logged, and only if it is one bolt or Slack define
    (the `error` query parameter could hold anything)."""
    reason = args.reason if args.reason in FAILURES else "other"
    if isinstance(args.error, WorkspaceNotListed):
        kind = _kind_of(args.error.team)
        log.warning("A Slack install was refused: %s %s is not listed", kind, args.error.team)
        title, why = NOT_THIS_ORG if kind == "org" else NOT_THIS_WORKSPACE
    else:
        log.warning("A Slack install did not finish: %s", reason)
        title, why = FAILURES.get(reason, OTHER_FAILURE)
    text = page(
        title,
        why,
        "To try again, start from the install page; if it keeps happening, tell whoever "
        "runs Harbour.",
        link=(INSTALL_PATH, "Start again"),
    )
    return BoltResponse(
        status=args.suggested_status_code,
        body=text,
        headers={"Content-Type": "text/html; charset=utf-8"},
    )


class WorkspaceNotListed(BoltError):
    """An install from a workspace (or an org-wide one from an Enterprise Grid org)
    the organisation did not list: nothing is kept."""

    def __init__(self, team: str) -> None:
        super().__init__(f"{_kind_of(team)} {team} is not in SLACK_INSTALL_WORKSPACES")
        self.team = team


class InstallFlow(AsyncOAuthFlow):
    """bolt's OAuth flow with Harbour's own install page, keeping only the
    installs of the workspaces the organisation listed, and the org-wide ones
    of the Enterprise Grid orgs it listed (an org's id does not let one of its
    workspaces install on its own)."""

    workspaces: frozenset[str] = frozenset()

    async def build_install_page_html(self, url: str, request: AsyncBoltRequest) -> str:
        return install_page(url)

    async def store_installation(
        self, request: AsyncBoltRequest, installation: Installation
    ) -> None:
        team = installation_key(installation)
        if team not in self.workspaces:
            raise WorkspaceNotListed(team)
        await super().store_installation(request, installation)


def install_flow(
    settings: SlackSettings, installations: HarbourInstallationStore, client: AsyncWebClient
) -> InstallFlow:
    """The OAuth flow: `/slack/install` and `/slack/oauth_redirect`, with the
    state signed and the installation kept in Harbour's store. `client` makes
    the `oauth.v2.access` and `auth.test` calls (the settings' API URL)."""
    oauth = AsyncOAuthSettings(
        client_id=settings.client_id,
        client_secret=settings.client_secret,
        scopes=list(BOT_SCOPES),
        user_scopes=[],
        redirect_uri=settings.redirect_uri or None,
        install_path=INSTALL_PATH,
        redirect_uri_path=REDIRECT_PATH,
        installation_store=installations,
        installation_store_bot_only=True,
        state_store=StatelessOAuthStateStore(
            expiration_seconds=STATE_LIFETIME_SECONDS,
            signing_secret=state_secret(settings),
            logger=log,
        ),
        state_expiration_seconds=STATE_LIFETIME_SECONDS,
        callback_options=AsyncCallbackOptions(success=installed, failure=not_installed),
    )
    flow = InstallFlow(
        client=client, logger=logging.getLogger("slack_bolt.harbour"), settings=oauth
    )
    flow.workspaces = settings.install_workspace_ids
    return flow
