"""Installing Harbour in several Slack workspaces with "Add to Slack" (OAuth).

bolt runs the OAuth flow itself (`AsyncOAuthFlow`); Harbour gives it:

- an installation store on Harbour's own `Store` (`RecordKind.SLACK_INSTALLATIONS`,
  sealed at rest: a bot token is a secret), keyed by workspace, so every
  instance on the same store (embedded or PostgreSQL) serves every workspace;
- the OAuth `state` as a signed, expiring token (slack_sdk's
  `StatelessOAuthStateStore`), so any instance can check a state another one
  issued with nothing stored; bolt also ties it to the installer's browser with
  a cookie it deletes once used, and Slack accepts each code once;
- an authorize function that builds a workspace's identity from its stored
  installation, without asking Slack (`auth.test`) on every request;
- its own install, success and failure pages, in Harbour's words.

Only workspace installs are offered (the manifest's `org_deploy_enabled` is
off), so an installation is found by its workspace (team) id alone.
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
    workspace, holding its bot (Harbour asks for no user token)."""

    def __init__(self, store: Store) -> None:
        self.store = store

    @property
    def logger(self) -> logging.Logger:
        return log

    async def async_save(self, installation: Installation) -> None:
        await self.async_save_bot(installation.to_bot())
        if installation.user_id:
            record = await self.store.get_record(RecordKind.SLACK_INSTALLATIONS, _key(installation))
            if record is not None:
                record["user_id"] = installation.user_id
                await self.store.put_record(
                    RecordKind.SLACK_INSTALLATIONS, _key(installation), record
                )

    async def async_save_bot(self, bot: Bot) -> None:
        standard = bot.to_dict_for_copying()
        record: dict[str, Any] = {k: standard.get(k) for k in STORED_FIELDS}
        record["installed_at"] = bot.installed_at
        record["user_id"] = None
        await self.store.put_record(RecordKind.SLACK_INSTALLATIONS, _key(bot), record)
        log.info("Slack workspace %s: Harbour was installed", bot.team_id or bot.enterprise_id)

    async def async_find_bot(
        self,
        *,
        enterprise_id: str | None,
        team_id: str | None,
        is_enterprise_install: bool | None = False,
    ) -> Bot | None:
        record = await self.store.get_record(
            RecordKind.SLACK_INSTALLATIONS, team_id or enterprise_id or ""
        )
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
        bot = await self.async_find_bot(enterprise_id=enterprise_id, team_id=team_id)
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
        key = team_id or enterprise_id or ""
        if await self.store.get_record(RecordKind.SLACK_INSTALLATIONS, key) is None:
            return
        await self.store.put_record(RecordKind.SLACK_INSTALLATIONS, key, None)
        log.info("Slack workspace %s: its bot token was deleted", key)

    async def async_delete_installation(
        self, *, enterprise_id: str | None, team_id: str | None, user_id: str | None = None
    ) -> None:
        # Harbour keeps no user token: a person's token revoked leaves the bot's.
        if user_id is None:
            await self.async_delete_bot(enterprise_id=enterprise_id, team_id=team_id)

    async def bot_token(self, workspace: str) -> str | None:
        """The bot token of an installed workspace, or None."""
        bot = await self.async_find_bot(enterprise_id=None, team_id=workspace)
        return bot.bot_token if bot is not None else None

    async def workspaces(self) -> list[str]:
        """Every workspace installed, by id."""
        return sorted(await self.store.records(RecordKind.SLACK_INSTALLATIONS))


def _key(found: Bot | Installation) -> str:
    return found.team_id or found.enterprise_id or ""


class InstalledAuthorize(AsyncAuthorize):
    """Who Harbour is in the workspace a request came from, from that workspace's
    stored installation (bolt's own asks Slack again with `auth.test` for every
    request). None when the workspace has no installation: bolt then refuses."""

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
        bot = await self.installations.async_find_bot(enterprise_id=enterprise_id, team_id=team_id)
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
    open_app = f"slack://app?team={found.team_id or ''}&id={found.app_id or ''}"
    text = page(
        "Harbour is installed",
        "Harbour is now in your Slack workspace. Three things finish the setup:",
        "1. Choose the safety leads' channel: invite Harbour to it (/invite @Harbour), then a "
        "Harbour administrator types /report-abuse register safety-leads there. Alerts in it "
        "only ever show a reference, how serious it is and the kind of abuse.",
        "2. Tell whoever runs Harbour your workspace id, "
        f"{found.team_id or found.enterprise_id}, so they can name managers and safety "
        "leads in its team directory and its administrators (HARBOUR_ADMINS).",
        "3. Tell staff: anyone can type /report-abuse in any channel or direct message; the "
        "conversation continues privately in their direct messages with Harbour.",
        link=(open_app, "Open Harbour in Slack"),
    )
    return BoltResponse(
        status=200,
        body=text,
        headers={
            "Content-Type": "text/html; charset=utf-8",
            "Set-Cookie": args.settings.state_utils.build_set_cookie_for_deletion(),
        },
    )


async def not_installed(args: AsyncFailureArgs) -> BoltResponse:
    """A kind failure page that says what happened and how to try again. Only
    the reason's name is logged, and only if it is one bolt or Slack define
    (the `error` query parameter could hold anything)."""
    reason = args.reason if args.reason in FAILURES else "other"
    if isinstance(args.error, WorkspaceNotListed):
        log.warning("A Slack install was refused: workspace %s is not listed", args.error.team)
        title, why = NOT_THIS_WORKSPACE
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
    """An install from a workspace the organisation did not list: nothing is kept."""

    def __init__(self, team: str) -> None:
        super().__init__(f"workspace {team} is not in SLACK_INSTALL_WORKSPACES")
        self.team = team


class InstallFlow(AsyncOAuthFlow):
    """bolt's OAuth flow with Harbour's own install page, keeping only the
    installs of the workspaces the organisation listed."""

    workspaces: frozenset[str] = frozenset()

    async def build_install_page_html(self, url: str, request: AsyncBoltRequest) -> str:
        return install_page(url)

    async def store_installation(
        self, request: AsyncBoltRequest, installation: Installation
    ) -> None:
        team = installation.team_id or installation.enterprise_id or ""
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
