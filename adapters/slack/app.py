"""The Slack adapter: a bolt AsyncApp that acknowledges first and works after.

Every listener calls `ack()` straight away (bolt runs with
`process_before_response=True`, so the HTTP response leaves as soon as the ack
is made) and queues the real work for a few background workers: translate the
payload into a core event, let `Harbour.handle` save and answer, then post the
replies in the person's DM with the bot. The conversation never happens in a
channel, and a file for a person (`mydata`) is uploaded into her DM alone.

People are named as they name themselves in Slack: the first time someone's
event is handled (after its ack, never before), `users.info` gives her display
name (else her full name), remembered from then on; if Slack won't say, the
name in the payload (her handle; none in a DM message) is kept.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import aiohttp
from aiohttp import web
from slack_bolt.adapter.aiohttp import to_aiohttp_response, to_bolt_request
from slack_bolt.async_app import AsyncApp
from slack_bolt.authorization import AuthorizeResult
from slack_bolt.context.async_context import AsyncBoltContext
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_async_handlers import (
    AsyncConnectionErrorRetryHandler,
    AsyncRateLimitErrorRetryHandler,
    AsyncServerErrorRetryHandler,
)
from slack_sdk.oauth.installation_store import Bot
from slack_sdk.web.async_client import AsyncWebClient

from adapters.slack import files, home, render, translate
from adapters.slack.config import SlackSettings
from adapters.slack.install import (
    INSTALL_PATH,
    NOT_INSTALLED,
    REDIRECT_PATH,
    HarbourInstallationStore,
    InstalledAuthorize,
    InstallFlow,
    install_flow,
)
from bot import engine
from bot.alerts.messenger import SHARED, Recipient
from bot.app import Harbour
from bot.config import ConfigError
from bot.conversation.worker import reports_card
from bot.directory import Directory, parse_person
from bot.engine import Draft, page_problems
from bot.evidence.intake import EVIDENCE_MAX_BYTES
from bot.flow import REVIEW
from bot.locks import KeyedLocks
from bot.logs import log_failure
from bot.models import (
    ChannelRegistered,
    ChoiceQuestion,
    Command,
    Control,
    ControlAction,
    FileReply,
    FilesShared,
    Form,
    FormSubmitted,
    InboundEvent,
    Notice,
    NoticeLevel,
    PersonRef,
    Refresh,
    Reply,
    SharedFile,
    TextMessage,
    TextQuestion,
)
from bot.store import RecordKind
from bot.validation import clean_text
from flows import FLOWS

log = logging.getLogger(__name__)

FORMS_KEEP = 5_000
"""Pages remembered to open in a modal; an older one is shown again from the
current position instead."""

WORKERS = 8
"""Background workers: enough to keep Web API calls overlapping (they mostly
wait on the network), few enough to leave the event loop to acknowledgements."""
ACKS_FIRST_MAX_WAIT = 0.05
"""How long (seconds) a step of work that follows an acknowledgement may be held
back while other requests still wait for theirs. Under load that never lets up
it then goes ahead anyway: a burst of 200 is acknowledged in about 0.1 s, and
steady traffic must not starve replies (8 workers still take 80 events/s)."""

PRESSED_KEEP = 10_000
"""How many acted-on messages are remembered to swallow double clicks. Every
acted-on message also loses its buttons, and the core refuses a stale token, so
forgetting one later only means a kind "already answered" reply."""

NAMES_KEEP = 10_000
"""People whose name in Slack is remembered (the longest unseen forgotten first):
`users.info` is asked once per person, not once per event."""
NAME_MAX = 200
"""The longest name kept (Slack allows 80; `InboundEvent.display_name` 200)."""
NAMES_REFUSED_WAIT = 3600.0
"""Seconds before `users.info` is asked again after Slack refused it for the
whole app (the `users:read` scope missing, say, until the app is reinstalled)."""
NAMES_REFUSED = frozenset(
    {"missing_scope", "not_allowed_token_type", "no_permission", "invalid_auth", "token_revoked"}
)
"""users.info errors that say no one's name will be given, not just this one's."""

IN_CHANNEL_NOTE = (
    "I've sent you a private message. Reports always happen there, never in a channel."
)
NOT_YOURS = (
    "That button belongs to someone else's private conversation, so I haven't done anything."
)
FILE_NOT_SENT = "I couldn't send you the file, so nothing was sent and nothing was shared."
FILES_REFUSED = frozenset({"missing_scope", "not_allowed_token_type", "no_permission"})
"""Upload errors that say the app may not send files at all (its setup, not this file)."""

INSTALLED_CLIENT_SECONDS = 60.0
"""How long a workspace's client (its token from the store) is reused before the
store is read again: a workspace uninstalled through another instance stops
being written to within this time (Slack refuses its revoked token anyway)."""


class NotInstalled(RuntimeError):
    """Harbour has no installation (so no token) for this workspace."""


SLACK_CHANNEL_ID = re.compile(r"^[CG][A-Z0-9]{6,}$")
"""What a Slack channel id looks like (public C…, private G…)."""


def check_leads_channel(directory: Directory) -> None:
    """Refuse to start with a safety leads' channel that cannot be a Slack
    channel id (a name like #safety-leads, a Teams id, a typo): every alert
    meant for the leads would fail to post."""
    channel = directory.channels.get("slack")
    if channel and not SLACK_CHANNEL_ID.match(channel):
        raise ConfigError(
            f"The directory file's [channels] slack entry ({channel!r}) is not a Slack channel "
            "id. Use the id, like C0123ABCD (in Slack: open the channel's details; the id is at "
            "the bottom), or leave it out and have an administrator type "
            "`/report-abuse register safety-leads` in the channel."
        )


def web_client(settings: SlackSettings, token: str | None = None) -> AsyncWebClient:
    """A Web API client that retries on rate limits (honouring Retry-After),
    server errors and dropped connections, with backoff; with the bot token
    set, or `token` (a workspace's, installed with Add to Slack)."""
    return AsyncWebClient(
        token=token or settings.bot_token or None,
        base_url=settings.api_url,
        retry_handlers=[
            AsyncConnectionErrorRetryHandler(max_retry_count=2),
            AsyncRateLimitErrorRetryHandler(max_retry_count=3),
            AsyncServerErrorRetryHandler(max_retry_count=3),
        ],
    )


@dataclass
class _Live:
    """The last message whose buttons still work, per person."""

    channel: str
    ts: str
    blocks: list[dict[str, Any]]


class SlackAdapter:
    def __init__(
        self,
        harbour: Harbour,
        settings: SlackSettings,
        *,
        client: AsyncWebClient | None = None,
    ) -> None:
        self.harbour = harbour
        self.settings = settings
        self.client = client or web_client(settings)
        self._auth: AuthorizeResult | None = None
        self._auth_lock = asyncio.Lock()
        # Installed with Add to Slack: each workspace's token is in the store.
        self.installations = HarbourInstallationStore(harbour.store) if settings.installs else None
        self._installed: dict[str, tuple[AsyncWebClient, float]] = {}  # by workspace
        # The workspaces each org-wide install reaches (auth.teams.list), by org, and when asked.
        self._org_teams: dict[str, tuple[frozenset[str], float]] = {}
        # Bolt reads a client's token as a single-workspace token and, since
        # `authorize` is given too, warns at every start that it ignores it. The
        # token is for Harbour's own calls: bolt gets the client without it.
        token, self.client.token = self.client.token, None
        # A library logger (bolt logs payloads through it): under `slack_bolt`,
        # so bot.logging_setup caps it and withholds what it quotes.
        bolt_log = logging.getLogger("slack_bolt.harbour")
        self.install: InstallFlow | None = None
        if self.installations is not None:
            self.install = install_flow(settings, self.installations, self.client)
            self.app = AsyncApp(
                client=self.client,
                # bolt takes an AsyncAuthorize as it is (its hint names only functions).
                authorize=InstalledAuthorize(self.installations),  # type: ignore[arg-type]
                installation_store=self.installations,
                oauth_flow=self.install,
                signing_secret=settings.signing_secret,
                process_before_response=True,
                logger=bolt_log,
                user_facing_authorize_error_message=NOT_INSTALLED,
            )
        else:
            self.app = AsyncApp(
                client=self.client,
                authorize=lambda team_id=None: self._authorize(),
                signing_secret=settings.signing_secret or None,
                request_verification_enabled=not settings.use_socket_mode,
                process_before_response=True,
                logger=bolt_log,
            )
        self.client.token = token
        self._backlog: asyncio.Queue[Coroutine[Any, Any, None]] | None = None
        self._workers: list[asyncio.Task[None]] = []
        self._socket_mode: Any = None
        self._dm: dict[str, str] = {}
        self._live: dict[str, _Live] = {}
        self._pressed: dict[str, None] = {}  # message ts already acted on, oldest first
        self._forms_in_modals = settings.forms == "modal"
        self._forms: dict[str, Form] = {}  # by token: pages that may be opened in a modal
        # What a page's inputs held when one of its controls was pressed, by
        # person and draft: shown again on the page when it comes back.
        self._queues = KeyedLocks()
        # The name each person uses in Slack (None: none found), by person key.
        self._names: OrderedDict[str, str | None] = OrderedDict()
        self._names_refused_until = 0.0  # monotonic time; users.info refused till then
        self._names_warned = False
        self._acking = 0  # HTTP requests in the handler, not yet acknowledged
        self._no_acks_due = asyncio.Event()
        self._no_acks_due.set()
        check_leads_channel(harbour.directory)
        self._register()

    # ------------------------------------------------------------------ HTTP

    async def handle_http(self, request: web.Request) -> web.Response:
        """POST /slack/events: events, slash commands and interactivity alike."""
        self._acking += 1
        self._no_acks_due.clear()
        try:
            bolt_response = await self.app.async_dispatch(await to_bolt_request(request))
            return await to_aiohttp_response(bolt_response)
        finally:
            self._acking -= 1
            if not self._acking:
                self._no_acks_due.set()

    async def _acks_first(self) -> None:
        """Let requests waiting for their acknowledgement go before work that
        follows one: an ack is due within 3 s, a reply is not. (Yielding once,
        as before, let the work of a burst's first requests take turns with
        the acks of the rest.)"""
        if not self._acking:
            await asyncio.sleep(0)
            return
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._no_acks_due.wait(), ACKS_FIRST_MAX_WAIT)

    async def handle_install(self, request: web.Request) -> web.Response:
        """GET /slack/install ("Add to Slack") and /slack/oauth_redirect (Slack
        sends the installer back here): bolt's OAuth flow, Harbour's pages."""
        assert self.install is not None
        bolt_request = await to_bolt_request(request)
        if request.path == REDIRECT_PATH:
            answer = await self.install.handle_callback(bolt_request)
        else:
            answer = await self.install.handle_installation(bolt_request)
        return await to_aiohttp_response(answer)

    def attach(self, web_app: web.Application, path: str = "/slack/events") -> None:
        web_app.router.add_post(path, self.handle_http)
        if self.install is not None:
            web_app.router.add_get(INSTALL_PATH, self.handle_install)
            web_app.router.add_get(REDIRECT_PATH, self.handle_install)
        web_app.on_startup.append(lambda _: self.start())
        web_app.on_shutdown.append(lambda _: self.close())

    async def start(self) -> None:
        """Check the leads' channel, and open one HTTP session for every Web
        API call (no new connection, and in production no new TLS handshake,
        per call)."""
        check_leads_channel(self.harbour.directory)
        if self.client.session is None:
            self.client.session = aiohttp.ClientSession()

    async def api(self, workspace: str) -> AsyncWebClient:
        """The Web API client for a workspace: with SLACK_BOT_TOKEN the one client;
        installed with Add to Slack, one with the token of the installation that
        serves it (its own, else its Enterprise Grid org's), read from the store
        (and reused for a minute). Raises NotInstalled if Harbour has no
        installation there (uninstalled, or never installed)."""
        if self.installations is None:
            return self.client
        kept = self._installed.get(workspace)
        if kept is not None and time.monotonic() - kept[1] < INSTALLED_CLIENT_SECONDS:
            return kept[0]
        bot = await self._installation_for(workspace)
        if bot is None:
            self._installed.pop(workspace, None)
            raise NotInstalled(workspace)
        client = self._client_with(bot.bot_token)
        self._installed[workspace] = (client, time.monotonic())
        return client

    def _client_with(self, token: str | None) -> AsyncWebClient:
        client = web_client(self.settings, token)
        client.session = self.client.session
        return client

    async def _installation_for(self, workspace: str) -> Bot | None:
        """The installation that answers in a workspace: its own; else the
        org-wide install of the Enterprise Grid org that added Harbour to it.
        (A workspace's id is also what names its people, `slack:T...:U...`, so
        the org is found from the workspace, not carried in every key.) An org's
        own id (E...), where a channel was known only by the one installation,
        finds that org's."""
        assert self.installations is not None
        own = await self.installations.kept_under(workspace)
        if own is not None:
            return own
        for org in await self.installations.org_installs():
            if workspace in await self._teams_of(org):
                return org
        return None

    async def _teams_of(self, org: Bot) -> frozenset[str]:
        """The workspaces an org-wide install reaches, as Slack lists them for
        its token (`auth.teams.list`), asked again after a minute: an org
        administrator adds Harbour to workspaces, or removes it, at any time."""
        enterprise = org.enterprise_id or ""
        kept = self._org_teams.get(enterprise)
        if kept is not None and time.monotonic() - kept[1] < INSTALLED_CLIENT_SECONDS:
            return kept[0]
        teams: set[str] = set()
        try:
            async for listed in await self._client_with(org.bot_token).auth_teams_list(limit=200):
                teams.update(str(team["id"]) for team in listed.get("teams") or [])
        except SlackApiError as exc:
            log.error(
                "Slack org %s: its workspaces could not be listed: %s",
                enterprise,
                exc.response.get("error", "unknown"),
            )
        found = frozenset(teams)
        self._org_teams[enterprise] = (found, time.monotonic())
        return found

    async def _workspace_of(self, channel: str) -> str:
        """The workspace a channel is in, for an alert to it: remembered when the
        channel was registered; else, with one installation (a workspace's, or an
        org's installed org-wide: its id then, E..., finds it), that one."""
        known = await self.harbour.store.get_record(RecordKind.CONTACTS, _channel_key(channel))
        if known and isinstance(known.get("workspace"), str):
            return str(known["workspace"])
        assert self.installations is not None
        installed = await self.installations.workspaces()
        if len(installed) == 1:
            return installed[0]
        log.error(
            "Harbour does not know which Slack workspace the safety leads' channel is in: an "
            "administrator types `%s register safety-leads` in that channel to tell it",
            self.settings.command,
        )
        raise NotInstalled(channel)

    async def _workspace_for(self, to: Recipient) -> str:
        person = parse_person(to.address) if to.kind == "person" else None
        if person is not None:
            return person.workspace
        return await self._workspace_of(to.address) if self.installations is not None else ""

    async def _api_for(self, to: Recipient) -> AsyncWebClient:
        if self.installations is None:
            return self.client
        return await self.api(await self._workspace_for(to))

    async def _forget_workspace(
        self, body: dict[str, Any], context: AsyncBoltContext, why: str
    ) -> None:
        """The app was uninstalled, or its bot token revoked: delete the token of
        the installation Slack names at once (a workspace's, or an org-wide
        one's: then every workspace of the org loses its answers). Its data
        stays in the store, under retention."""
        org = context.enterprise_id if context.is_enterprise_install else None
        team = None if org else str(context.team_id or body.get("team_id") or "")
        named = org or team or ""
        kind = "org" if org else "workspace"
        if self.installations is None:
            log.warning(
                "Slack %s %s: %s, so SLACK_BOT_TOKEN no longer works there", kind, named, why
            )
            return
        gone = await self.installations.async_find_bot(
            enterprise_id=org, team_id=team, is_enterprise_install=org is not None
        )
        await self.installations.async_delete_bot(enterprise_id=org, team_id=team)
        # Every workspace answered with the deleted token stops being answered now.
        for workspace, (client, _) in list(self._installed.items()):
            if workspace == named or (gone is not None and client.token == gone.bot_token):
                del self._installed[workspace]
        if org:
            self._org_teams.pop(org, None)
        log.info("Slack %s %s: %s; its bot token was deleted", kind, named, why)

    async def _bot_id(self, workspace: str) -> str | None:
        if self.installations is None:
            return (await self._authorize()).bot_id
        bot = await self._installation_for(workspace)
        return bot.bot_id if bot is not None else None

    async def _authorize(self) -> AuthorizeResult:
        """Who the bot is, from one auth.test call shared by every request: bolt's
        default asks again for each request that arrives before the first answer."""
        if self._auth is None:
            async with self._auth_lock:
                if self._auth is None:
                    found = await self.client.auth_test()
                    self._auth = AuthorizeResult.from_auth_test_response(
                        bot_token=self.settings.bot_token, auth_test_response=found
                    )
        return self._auth

    async def connect_socket_mode(self) -> None:
        """Receive everything over a Socket Mode websocket instead of HTTP
        (for agencies behind a firewall with no public URL)."""
        from slack_bolt.adapter.socket_mode.aiohttp import AsyncSocketModeHandler

        await self.start()
        self._socket_mode = AsyncSocketModeHandler(self.app, self.settings.app_token)
        await self._socket_mode.connect_async()

    async def close(self) -> None:
        if self._socket_mode is not None:
            await self._socket_mode.close_async()
            self._socket_mode = None
        await self.drain()
        for worker in self._workers:
            worker.cancel()
        self._workers, self._backlog = [], None
        if self.client.session is not None and not self.client.session.closed:
            await self.client.session.close()

    async def drain(self) -> None:
        """Wait for work already acknowledged (on shutdown, and in tests)."""
        if self._backlog is not None:
            await self._backlog.join()

    # ------------------------------------------------------------------ listeners

    def _register(self) -> None:
        app = self.app

        @app.error
        async def on_error(error: Exception) -> None:
            # bolt's own handler would log the message, which can quote a payload.
            log_failure("a Slack listener", error)

        @app.command(self.settings.command)
        async def on_command(ack: Any, body: dict[str, Any], respond: Any) -> None:
            who = translate.person(body.get("team_id", ""), body.get("user_id", ""))
            registering = translate.channel_registration(body)
            if registering is not None:
                await ack()
                self._spawn(self._register_channel(registering, respond))
                return
            channel = str(body.get("channel_id") or "")
            known = self._dm.get(who.key)
            maybe_dm = known is None and translate.in_a_dm(body)
            await self._accept(lambda: [translate.command_event(body)])
            if (channel and channel == known) or maybe_dm:
                await ack()  # a DM not yet known: whose it is is checked after the ack
            else:
                await ack(response_type="ephemeral", text=IN_CHANNEL_NOTE)
            self._spawn(
                self._command(who, body, channel if maybe_dm else None, respond),
            )

        @app.action(render.ACTION_OPEN)
        async def on_open(ack: Any, body: dict[str, Any]) -> None:
            await ack()
            # Not queued: the trigger id that opens a modal expires in about 3 s.
            asyncio.get_running_loop().create_task(self._open_form(body))

        @app.action({"action_id": _HB_ACTIONS})
        async def on_action(ack: Any, body: dict[str, Any]) -> None:
            await self._accept(lambda: [translate.action_event(body).event])
            await ack()
            self._spawn(self._act(body))

        @app.view(render.MODAL_CALLBACK)
        async def on_modal(ack: Any, body: dict[str, Any]) -> None:
            errors = await self._modal_errors(body)
            if errors:
                # The modal stays open, what she typed kept, each message beside its field.
                await ack(response_action="errors", errors=errors)
                return
            await self._accept(lambda: [translate.modal_event(body).event])
            await ack()
            self._spawn(self._submit_modal(body))

        @app.event("message")
        async def on_message(body: dict[str, Any]) -> None:
            user = (body.get("event") or {}).get("user") or ""
            who = translate.person(body.get("team_id", ""), user)
            # bolt acknowledges an event when this returns: what it says is kept first.
            await self._accept(lambda: translate.message_events(body))
            # A shared file's bytes are fetched after the ack, in her turn.
            self._spawn(
                self._work(
                    who,
                    lambda: translate.message_events(body),
                    fetch=lambda shared: self._with_contents(shared, body),
                )
            )

        @app.event("app_uninstalled")
        async def on_uninstalled(body: dict[str, Any], context: AsyncBoltContext) -> None:
            await self._forget_workspace(body, context, "the app was uninstalled")

        @app.event("tokens_revoked")
        async def on_tokens_revoked(body: dict[str, Any], context: AsyncBoltContext) -> None:
            tokens = (body.get("event") or {}).get("tokens") or {}
            if tokens.get("bot"):  # Harbour holds no user tokens: only the bot's matter
                await self._forget_workspace(body, context, "its bot token was revoked")

        @app.event("app_home_opened")
        async def on_home(body: dict[str, Any]) -> None:
            event = body.get("event") or {}
            if event.get("tab") == "home" and event.get("user"):
                who = translate.person(body.get("team_id", ""), event["user"])
                self._spawn(self._publish_home(who))

    async def _accept(self, events_from: Callable[[], Sequence[InboundEvent | None]]) -> None:
        """Keep what a request says before it is acknowledged (`Harbour.accept`),
        so an instance killed after the ack loses nothing: another handles it.
        A request that cannot be read is acknowledged all the same, and its
        failure dealt with after, as any other."""
        try:
            events = [event for event in events_from() if event is not None]
        except Exception:
            return
        for event in events:
            await self.harbour.accept(event)

    async def _command(
        self, who: PersonRef, body: dict[str, Any], dm_to_check: str | None, respond: Any
    ) -> None:
        """A slash command. Typed in a DM Harbour did not know yet (after a
        restart): if it was not Harbour's own, say where the answer went."""
        if dm_to_check is not None:
            try:
                if await self.dm_channel(who) != dm_to_check:
                    await respond(text=IN_CHANNEL_NOTE, response_type="ephemeral")
            except SlackApiError as exc:
                log.error("Slack API call failed: %s", exc.response.get("error", "unknown"))
            except Exception as exc:
                log_failure("answering a slash command in a DM", exc)
        await self._work(who, lambda: [translate.command_event(body)])

    async def _register_channel(self, event: ChannelRegistered, respond: Any) -> None:
        """`register safety-leads` in a channel: the answer goes to the person
        alone (an ephemeral message, or their DM), never to the channel."""
        who = event.person
        try:
            async with self._queues.hold(who.key):
                replies = await self.harbour.handle(await self._named(event))
                registered = self.leads_channel(self.harbour.directory) == event.channel
                if registered and self.harbour.access.is_admin(who):
                    # Registered, by one who may: alerts to it go with this
                    # workspace's token (anyone else's attempt was refused, and
                    # must not move the channel to another workspace's token).
                    await self.harbour.store.put_record(
                        RecordKind.CONTACTS,
                        _channel_key(event.channel),
                        {"workspace": who.workspace},
                    )
                if not replies:
                    return
                try:
                    for blocks in render.messages(replies, who.user):
                        sent = await respond(
                            text=render.fallback_text(replies),
                            blocks=blocks,
                            response_type="ephemeral",
                            replace_original=False,
                        )
                        if sent.status_code != 200:
                            raise RuntimeError(f"response URL answered {sent.status_code}")
                except Exception as exc:  # no response URL, or it expired: the DM
                    log_failure("answering privately in the channel", exc)
                    await self._post(who, await self.dm_channel(who), replies)
        except SlackApiError as exc:
            log.error("Slack API call failed: %s", exc.response.get("error", "unknown"))
        except Exception as exc:
            log_failure("registering a channel", exc)

    async def _open_form(self, body: dict[str, Any]) -> None:
        try:
            found = translate.form_to_open(body)
            if found is None:
                return
            who, token, trigger = found
            form = self._forms.get(token)
            if form is None:  # restarted since, or an old page
                draft = await self._draft_now(who)
                if draft is not None and draft.token == token:
                    form = self._page_of(who, draft)
                if form is None:  # show where the conversation is now
                    event = _where_now(who, token, trigger, in_flow=draft is not None)
                    await self._work(who, lambda: [event])
                    return
            await (await self.api(who.workspace)).views_open(
                trigger_id=trigger, view=render.form_modal(form, who.user)
            )
        except SlackApiError as exc:
            log.error("Slack API call failed: %s", exc.response.get("error", "unknown"))
        except Exception as exc:
            log_failure("opening a form", exc)

    async def _modal_errors(self, body: dict[str, Any]) -> dict[str, str]:
        """What is wrong on a submitted modal page, by the block id of each field
        (for `response_action: errors`), checked as the core will check it; {}
        if nothing is, or the page is not the one her conversation is on (the
        core then says so, after the ack)."""
        try:
            event = translate.modal_event(body).event
            if not isinstance(event, FormSubmitted):
                return {}
            draft = await self._draft_now(event.person)
            if draft is None or draft.flow not in FLOWS:
                return {}
            problems = page_problems(FLOWS[draft.flow], draft, event)
            return {render.pack("q", event.token, step): said for step, said in problems.items()}
        except Exception as exc:
            log_failure("checking a submitted form", exc)
            return {}

    async def _submit_modal(self, body: dict[str, Any]) -> None:
        try:
            action = translate.modal_event(body)
        except Exception as exc:
            log_failure("reading a submitted form", exc)
            return
        if action.event is None:
            await self._refuse(action.presser, action.refused)
            return
        event = action.event
        await self._work(action.presser, lambda: [event])

    async def _act(self, body: dict[str, Any]) -> None:
        try:
            action = translate.action_event(body)
        except Exception as exc:
            log_failure("reading a Slack button press", exc)
            return
        if action.event is None:
            if action.refused:  # else nothing to do: a box ticked, sent with its OK
                await self._refuse(action.presser, action.refused)
            return
        container = body.get("container") or {}
        source = _Live(
            channel=container.get("channel_id", ""),
            ts=container.get("message_ts", ""),
            blocks=(body.get("message") or {}).get("blocks") or [],
        )
        if source.ts:
            pressed = f"{source.ts}:{action.presser.key}"  # a channel message is everyone's
            if pressed in self._pressed:
                # A double click: this person already acted on this message.
                await self.harbour.answered(action.event)
                return
            self._pressed[pressed] = None
            while len(self._pressed) > PRESSED_KEEP:
                del self._pressed[next(iter(self._pressed))]
        event = action.event
        await self._work(action.presser, lambda: [event], source=source)

    def _spawn(self, work: Coroutine[Any, Any, None]) -> None:
        """Queue work that follows an acknowledgement. A fixed set of workers
        takes it in turn, so a burst of requests never puts hundreds of busy
        tasks between the event loop and the next request to acknowledge."""
        if self._backlog is None:
            self._backlog = asyncio.Queue()
            self._workers = [
                asyncio.get_running_loop().create_task(self._worker()) for _ in range(WORKERS)
            ]
        self._backlog.put_nowait(work)

    async def _worker(self) -> None:
        assert self._backlog is not None
        while True:
            work = await self._backlog.get()
            try:
                await self._acks_first()
                await work
            except Exception as exc:
                log_failure("Slack background work", exc)
            finally:
                self._backlog.task_done()

    # ------------------------------------------------------------------ work

    async def _work(
        self,
        who: PersonRef,
        events_from: Callable[[], list[InboundEvent]],
        *,
        source: _Live | None = None,
        fetch: Callable[[FilesShared], Awaitable[FilesShared]] | None = None,
    ) -> None:
        """Translate, handle one person's events in order, and post the replies
        in their DM. Nothing here is logged with its content. `fetch` gives
        files shared their bytes (in her turn, so her steps stay in order)."""
        try:
            async with self._queues.hold(who.key):
                for event in events_from():
                    await self._acks_first()
                    if fetch is not None and isinstance(event, FilesShared):
                        event = await fetch(event)
                    event = await self._on_a_page(await self._named(event))
                    replies = await self.harbour.handle(event)
                    await self._acks_first()
                    if replies:
                        await self._deliver(who, replies, source)
                    # Answered: no other instance need take it over (`Harbour.accept`).
                    await self.harbour.answered(event)
                    source = None
        except SlackApiError as exc:
            log.error("Slack API call failed: %s", exc.response.get("error", "unknown"))
        except Exception as exc:
            log_failure("a Slack conversation step", exc)

    async def _with_contents(self, shared: FilesShared, body: dict[str, Any]) -> FilesShared:
        """The files of a `file_share` message with their bytes, fetched from
        Slack with the workspace's token (`files.fetch`). A file whose bytes
        can't be had goes on as it came (its pointer, which the core keeps and
        says so), so a failed download never loses the step."""
        sources = translate.file_sources(body)
        if len(sources) != len(shared.files):
            return shared
        given: list[SharedFile] = []
        try:
            client = await self.api(shared.person.workspace)
            for file, source in zip(shared.files, sources, strict=True):
                if source.details_withheld:
                    source = await files.described(client, source)
                content = await files.fetch(
                    self.client.session,
                    source,
                    token=client.token,
                    api_url=self.settings.api_url,
                    max_bytes=EVIDENCE_MAX_BYTES,
                    media_type=file.media_type,
                )
                given.append(
                    file if content is None else file.model_copy(update={"content": content})
                )
        except Exception as exc:
            log_failure("fetching a shared file from Slack", exc)
        return shared.model_copy(update={"files": (*given, *shared.files[len(given) :])})

    async def _deliver(self, who: PersonRef, replies: list[Reply], source: _Live | None) -> None:
        channel = await self.dm_channel(who)
        if source is not None and source.channel != channel:
            # A shared message (an alert in a channel): the notifier edits it for
            # everyone and nothing is said there. What a Refresh holds for the
            # one who pressed (what she did, what she can still do) reaches
            # her privately, as a new message in her DM.
            source = None
        pressed = source if source and source.ts else None
        refreshed = [shown for r in replies if isinstance(r, Refresh) for shown in r.replies]
        if pressed is not None and refreshed:
            # The pressed message (a manager's alert) shows how things stand now,
            # with the actions still open: nothing else on it is taken away.
            replies = [r for r in replies if not isinstance(r, Refresh)]
            self._live.pop(who.key, None)
            await self._refresh(who, pressed, refreshed)
        else:
            answered = pressed or self._live.pop(who.key, None)
            if answered is not None:
                self._live.pop(who.key, None)
                await (await self.api(who.workspace)).chat_update(
                    channel=answered.channel,
                    ts=answered.ts,
                    blocks=render.answered(answered.blocks, "Received"),
                    text="Harbour: received",
                )
        if not replies:
            return
        for reply in replies:
            if isinstance(reply, Form):
                self._forms[reply.token] = reply
                while len(self._forms) > FORMS_KEEP:
                    del self._forms[next(iter(self._forms))]
        try:
            await self._post(who, channel, replies)
        except SlackApiError as exc:
            if exc.response.get("error") != "invalid_blocks" or self._forms_in_modals:
                raise
            if self.settings.forms != "auto":
                raise
            log.warning("Slack refused inputs in a message: pages open in a modal from now on")
            self._forms_in_modals = True
            await self._post(who, channel, replies)

    async def _refresh(self, who: PersonRef, pressed: _Live, shown: Sequence[Reply]) -> None:
        """Show `shown` in place of the message just pressed. Its buttons are new,
        so a press on them is not taken for a second click on the old ones."""
        first, *more = render.messages(shown, who.user)
        await (await self.api(who.workspace)).chat_update(
            channel=pressed.channel,
            ts=pressed.ts,
            blocks=first,
            text=render.fallback_text(shown),
        )
        self._pressed.pop(f"{pressed.ts}:{who.key}", None)
        for blocks in more:  # more than one message holds: the rest follows
            await (await self.api(who.workspace)).chat_postMessage(
                channel=pressed.channel, blocks=blocks, text=render.fallback_text(shown)
            )

    # ------------------------------------------------------------------ names

    async def _named(self, event: InboundEvent) -> InboundEvent:
        """The event, carrying the name its person uses in Slack when Slack says
        it; else as it came (her handle, or no name at all in a DM message)."""
        name = await self._name_in_slack(event.person)
        if name is None or name == event.display_name:
            return event
        return event.model_copy(update={"display_name": name})

    async def _name_in_slack(self, who: PersonRef) -> str | None:
        """Her display name in Slack, else her full name: from `users.info` the
        first time, from memory after. Only ever called after an ack (from the
        work queue), so a slow or failing lookup never delays one. A failure is
        logged without naming anyone, and only the first time."""
        if who.key in self._names:
            self._names.move_to_end(who.key)
            return self._names[who.key]
        if time.monotonic() < self._names_refused_until:
            return None
        client = await self.api(who.workspace)
        try:
            found = await client.users_info(user=who.user)
        except SlackApiError as exc:
            error = str(exc.response.get("error", "unknown"))
            refused = error in NAMES_REFUSED
            if refused:
                self._names_refused_until = time.monotonic() + NAMES_REFUSED_WAIT
            self._names_unknown(f"users.info answered {error}", refused=refused)
            if error != "user_not_found":
                return None  # not remembered: asked again (if refused, after a wait)
            name = None
        except Exception as exc:
            self._names_unknown(f"users.info failed ({type(exc).__name__})")
            return None
        else:
            user = found.get("user") or {}
            profile = user.get("profile") or {}
            name = _a_name(profile.get("display_name")) or _a_name(profile.get("real_name"))
        self._names[who.key] = name
        while len(self._names) > NAMES_KEEP:
            self._names.popitem(last=False)
        return name

    def _names_unknown(self, why: str, *, refused: bool = False) -> None:
        if self._names_warned:
            return
        self._names_warned = True
        fix = " It needs the users:read bot scope: add it and reinstall the app." if refused else ""
        log.warning(
            "Slack did not give a person's name (%s), so Harbour names people by their "
            "Slack handle for now.%s",
            why,
            fix,
        )

    # ------------------------------------------------------------------ pages

    async def _draft_now(self, who: PersonRef) -> Draft | None:
        """The flow the person has going (not paused), from what is saved, so
        nothing about it is lost to a restart; None if none or unreadable."""
        try:
            session = await self.harbour.store.load_session(who)
        except Exception as exc:
            log_failure("finding the conversation in progress", exc)
            return None
        draft = session.active_draft if session is not None else None
        return draft if draft is not None and not draft.paused else None

    def _page_of(self, who: PersonRef, draft: Draft) -> Form | None:
        """The page the draft is on, as the core shows it (None at the summary
        or the discard question)."""
        if draft.confirming_cancel or draft.step == REVIEW:
            return None
        try:
            shown = engine.prompt(FLOWS[draft.flow], draft, self.harbour.ctx)
        except Exception as exc:
            log_failure("finding the page in progress", exc)
            return None
        form = next((r for r in shown if isinstance(r, Form)), None)
        return form

    async def _on_a_page(self, event: InboundEvent) -> InboundEvent:
        """ "back" and "skip", typed (or after the slash command) in a flow, mean
        the page: back to the previous page, and skip what is left unanswered
        on this one. The core takes a typed word for one question, so on a
        page of several it would show the same page again."""
        if isinstance(event, TextMessage):
            said = event.text
        elif isinstance(event, Command):
            said = f"{event.name} {event.args}"
        else:
            return event
        word = engine.CONTROL_WORDS.get(" ".join(said.casefold().split()))
        if word not in (ControlAction.BACK, ControlAction.SKIP):
            return event
        who = event.person
        draft = await self._draft_now(who)
        if draft is None or draft.confirming_cancel:
            return event  # the core's own meaning (at the discard question, back is no)
        if word is ControlAction.BACK:
            return Control(
                event_id=event.event_id,
                person=who,
                display_name=event.display_name,
                action=ControlAction.BACK,
                token=draft.token,
                by_page=True,
            )
        page = self._page_of(who, draft)
        if page is None:
            return event
        # Skipping a page is sending it as it stands: what is left empty stays
        # empty, and a question that needs an answer says so.
        return FormSubmitted(
            event_id=event.event_id,
            person=who,
            display_name=event.display_name,
            form=page.id,
            values={q.id: _as_page_value(q) for q in page.questions},
            token=page.token,
        )

    async def _post(self, who: PersonRef, channel: str, replies: list[Reply]) -> None:
        """Post the replies in her DM, then upload any file they carry there."""
        shown = [r for r in replies if not isinstance(r, FileReply)]
        for blocks in render.messages(shown, who.user, forms_in_modals=self._forms_in_modals):
            sent = await (await self.api(who.workspace)).chat_postMessage(
                channel=channel, blocks=blocks, text=render.fallback_text(shown)
            )
            if render.is_interactive(blocks):
                self._live[who.key] = _Live(channel=channel, ts=str(sent["ts"]), blocks=blocks)
        for file in (r for r in replies if isinstance(r, FileReply)):
            await self._upload(who, channel, file)

    async def _upload(self, who: PersonRef, channel: str, file: FileReply) -> None:
        """Upload a file into her DM with Harbour (`files_upload_v2`: the DM's id
        is the one `dm_channel` keeps), its caption as the message with it. If
        Slack refuses, she is told plainly that nothing was sent, and why if it
        is Harbour's setup (the `files:write` scope missing)."""
        try:
            await (await self.api(who.workspace)).files_upload_v2(
                channel=channel,
                file=file.content,
                filename=file.name,
                title=file.name,
                initial_comment=render.escape(file.caption),
            )
            return
        except SlackApiError as exc:
            error = str(exc.response.get("error", "unknown"))
            log.error("Slack refused a file upload: %s", error)
        except Exception as exc:
            error = ""
            log_failure("uploading a file to Slack", exc)
        text = FILE_NOT_SENT
        if error in FILES_REFUSED:
            text += (
                " Harbour isn't allowed to send files here yet: please tell your Harbour "
                "administrator (the Slack app needs the files:write permission)."
            )
        again = f" Say {file.ask_again} to try again." if file.ask_again else ""
        note = Notice(level=NoticeLevel.WARNING, text=text + again)
        await (await self.api(who.workspace)).chat_postMessage(
            channel=channel,
            text=render.fallback_text([note]),
            blocks=[b.to_dict() for b in render.reply_blocks(note, who.user)],
        )

    async def _refuse(self, who: PersonRef, reason: str) -> None:
        text = NOT_YOURS if reason == "not-yours" else "I couldn't read that button press."
        note = Notice(text=text, level=NoticeLevel.WARNING)
        try:
            await (await self.api(who.workspace)).chat_postMessage(
                channel=await self.dm_channel(who),
                text=text,
                blocks=[b.to_dict() for b in render.reply_blocks(note, who.user)],
            )
        except SlackApiError as exc:
            log.error("Slack API call failed: %s", exc.response.get("error", "unknown"))

    # ------------------------------------------------------------------ messenger

    can_check_sent = True
    """An alert carries its delivery key as message metadata, read back by `find_sent`."""

    async def send(self, to: Recipient, replies: Sequence[Reply], *, key: str = "") -> str:
        """Deliver an alert: to a person's DM, or to a channel (buttons anyone may press).

        Every message posted carries `key` (and nothing else) as message metadata,
        so `find_sent` can tell after a crash whether it went out. The default
        (no key, no metadata) is only for callers that do not pass one yet.
        """
        person = parse_person(to.address) if to.kind == "person" else None
        channel = await self._channel_of(to)
        owner = person.user if person else SHARED
        metadata = _alert_metadata(key) if key else None
        shown = [r for r in replies if not isinstance(r, FileReply)]
        sent: Any = None
        client = await self._api_for(to)
        for blocks in render.messages(shown, owner):
            sent = await client.chat_postMessage(
                channel=channel,
                blocks=blocks,
                text=render.fallback_text(shown),
                metadata=metadata,
            )
        for file in (r for r in replies if isinstance(r, FileReply)):
            if person is None:  # a file is only ever for its person, in her DM
                log.error("a file was addressed to a channel; it was not sent")
                continue
            await self._upload(person, channel, file)
        return f"{channel}|{sent['ts'] if sent else ''}"

    async def find_sent(self, to: Recipient, key: str, since: datetime) -> str | None:
        """The newest message this bot posted to `to` under `key` after `since`, as
        `send` returns it ("channel|ts"), or None. Slack errors propagate."""
        channel = await self._channel_of(to)
        client = await self._api_for(to)
        bot_id = await self._bot_id(await self._workspace_for(to))
        cursor: str | None = None
        while True:
            page = await client.conversations_history(
                channel=channel,
                oldest=str(since.timestamp()),
                include_all_metadata=True,
                limit=200,
                cursor=cursor,
            )
            for message in page.get("messages") or []:  # newest first
                if _is_alert(message, key) and message.get("bot_id") == bot_id:
                    return f"{channel}|{message['ts']}"
            cursor = (page.get("response_metadata") or {}).get("next_cursor") or None
            if cursor is None:
                return None

    async def _channel_of(self, to: Recipient) -> str:
        person = parse_person(to.address) if to.kind == "person" else None
        return await self.dm_channel(person) if person else to.address

    def leads_channel(self, directory: Directory) -> str | None:
        return directory.channels.get("slack")

    async def update(self, to: Recipient, message: str, replies: Sequence[Reply]) -> None:
        channel, _, ts = message.partition("|")
        owner = SHARED if to.kind == "channel" else to.address.rsplit(":", 1)[-1]
        blocks = render.messages(replies, owner)[0]
        await (await self._api_for(to)).chat_update(
            channel=channel, ts=ts, blocks=blocks, text=render.fallback_text(replies)
        )

    async def dm_channel(self, who: PersonRef) -> str:
        """The person's DM with the bot: opened once, then remembered in the
        store, so every instance serving this workspace knows it."""
        channel = self._dm.get(who.key)
        if channel is None:
            known = await self.harbour.store.get_record(RecordKind.CONTACTS, who.key) or {}
            channel = known.get("slack_dm")
            if not isinstance(channel, str) or not channel:
                opened = await (await self.api(who.workspace)).conversations_open(users=who.user)
                channel = str(opened["channel"]["id"])
                await self.harbour.store.put_record(
                    RecordKind.CONTACTS, who.key, {**known, "slack_dm": channel}
                )
            self._dm[who.key] = channel
        return channel

    async def _publish_home(self, who: PersonRef) -> None:
        """Show her Home tab: with a welcome the first time she opens it, which
        is remembered (in her contacts record) once Slack has shown it."""
        try:
            async with self._queues.hold(who.key):  # her contacts record: one writer at a time
                card = await reports_card(self.harbour, who)
                known = await self.harbour.store.get_record(RecordKind.CONTACTS, who.key) or {}
                first_visit = not known.get(home.WELCOMED)
                view = home.home_view(
                    card, self.harbour.ctx, self.settings.command, first_visit=first_visit
                )
                await (await self.api(who.workspace)).views_publish(user_id=who.user, view=view)
                if first_visit:
                    await self.harbour.store.put_record(
                        RecordKind.CONTACTS, who.key, {**known, home.WELCOMED: True}
                    )
        except SlackApiError as exc:
            log.error("Slack API call failed: %s", exc.response.get("error", "unknown"))
        except Exception as exc:
            log_failure("publishing the App Home", exc)


_HB_ACTIONS = re.compile(r"^hb\.")
"""Every action id Harbour puts on a button or menu starts with `hb.`."""


ALERT_EVENT = "harbour_alert"
"""The metadata event type of an alert message. Slack shows message metadata to
every app and member of the workspace: it holds the delivery key, never content."""


def _alert_metadata(key: str) -> dict[str, Any]:
    return {"event_type": ALERT_EVENT, "event_payload": {"key": key}}


def _is_alert(message: dict[str, Any], key: str) -> bool:
    metadata = message.get("metadata") or {}
    payload = metadata.get("event_payload") or {}
    return bool(key) and metadata.get("event_type") == ALERT_EVENT and payload.get("key") == key


def _channel_key(channel: str) -> str:
    """Where the workspace a channel is in is remembered (in `RecordKind.CONTACTS`)."""
    return f"slack-channel:{channel}"


def _a_name(value: Any) -> str | None:
    """A name from a Slack profile field, cleaned; None if there is none."""
    name = " ".join(clean_text(value).split())[:NAME_MAX] if isinstance(value, str) else ""
    return name.strip() or None


def _where_now(who: PersonRef, token: str, trigger: str, *, in_flow: bool) -> InboundEvent:
    """For a page that can't be opened. In a flow, the page's own token makes
    the core say it was answered already and show where the flow is now;
    outside one, help (which keeps any question still waiting)."""
    if not in_flow:
        return TextMessage(event_id=f"open:{trigger}", person=who, text="help")
    return Control(
        event_id=f"open:{trigger}",
        person=who,
        action=ControlAction.HELP,
        token=token,
        by_page=True,
    )


def _as_page_value(question: ChoiceQuestion | TextQuestion) -> str | list[str] | None:
    if isinstance(question, ChoiceQuestion):
        return list(question.value) or None
    return question.value or None
