"""The Teams adapter, on the Microsoft 365 Agents SDK (CloudAdapter + AgentApplication).

Reports happen only in the personal chat with the bot. Each turn: remember how
to reach the person (their conversation reference), translate the activity
into a core event, let `Harbour.handle` save and answer, and send the replies
as one Adaptive Card. Card buttons are Action.Execute, so the pressed card is
replaced in the invoke response itself: by the core's `Refresh` when it sends
one (a case alert then shows its status and the actions still open), else by
its heading and a tick. In a team channel or group chat the bot only points
people to their private chat, and hands `register safety-leads` to the core,
which decides whether it becomes the safety leads' channel; Teams then keeps
how to post there. A button pressed there (a Claim on an alert) reaches the
core like any other, but its answer goes to the presser's personal chat, never
into the channel, and is never a refresh of the shared card. Alerts start a
new post in the registered channel (never a reply in the thread it was
registered from), and the notifier then edits that post in place. A file for
a person (`mydata`) is offered in her personal chat with a file consent card
and put in her OneDrive once she accepts it (`_on_file_consent`).

Every import of the Agents SDK stays inside adapters/teams.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
import random
import re
import warnings
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime
from functools import partial
from typing import Any

import aiohttp
from aiohttp import web
from aiohttp.web_exceptions import NotAppKeyWarning
from microsoft_agents.activity import (
    Activity,
    ActivityTypes,
    AdaptiveCardInvokeResponse,
    Attachment,
    ChannelAccount,
    ConversationAccount,
    ConversationParameters,
    ConversationReference,
)
from microsoft_agents.activity.teams import FileUploadInfo
from microsoft_agents.hosting.aiohttp import (
    CloudAdapter,
    jwt_authorization_decorator,
    start_agent_process,
)
from microsoft_agents.hosting.core import (
    AgentApplication,
    AgentAuthConfiguration,
    AnonymousTokenProvider,
    AuthenticationConstants,
    CardFactory,
    ClaimsIdentity,
    ConnectionManager,
    Connections,
    ConnectorClientBase,
    MemoryStorage,
    MessageFactory,
    TurnContext,
    TurnState,
)
from microsoft_agents.hosting.core.app.typing_indicator import TypingIndicator, TypingOptions
from yarl import URL

from adapters.slack.render import fallback_text
from adapters.teams import cards, translate
from adapters.teams.config import HOW_TO_TURN_ON, LOCAL_TRIAL, TeamsSettings
from adapters.teams.files import Fetched, fetch_all
from bot.alerts.messenger import SHARED, Recipient
from bot.app import Harbour
from bot.config import ConfigError
from bot.conversation.session import HELP_LINES, help_for
from bot.directory import Directory, parse_person
from bot.logs import log_failure
from bot.models import (
    ChannelRegistered,
    FileReply,
    FilesShared,
    Notice,
    NoticeLevel,
    PersonRef,
    Platform,
    Refresh,
    Reply,
    Shown,
    Text,
)
from bot.privacy import rights
from bot.store import RecordKind, Store

log = logging.getLogger(__name__)

RETRY_STATUSES = frozenset({412, 429, 500, 502, 503, 504})
SEND_ATTEMPTS = 4
MAX_WAIT = 10.0  # seconds, per wait: a Retry-After beyond this is capped
TYPING_AFTER = 1.0
"""Seconds a turn in the personal chat may take before Teams shows Harbour
typing: the Store asks for an answer within 2 s or a typing indicator."""
TYPING_EVERY = 3.0
"""Seconds between typing activities while a slow turn goes on (Teams shows
one for about three seconds)."""
SAFETY_LEADS = "safety-leads:teams"
"""The leads' channel as the sender addresses it, and the key of its contact
record (how to post there); the channel itself is directory.channels["teams"]."""
TEAMS = Platform.TEAMS.value
REGISTER = re.compile(r"^\s*register\s+safety[- ]?leads\s*$", re.IGNORECASE)
THREAD = ";messageid="
"""A channel conversation id ends in `;messageid=<id>` when it is a thread."""
SEP = "|"
"""Between a new channel post's conversation and its activity id, in the
message reference `send` returns (neither contains it)."""
MESSAGE_RESPONSE = "application/vnd.microsoft.activity.message"
"""An Action.Execute answered with a line of text for the presser; the card stays."""

IN_CHANNEL = (
    "Reports to Harbour are private, so they only happen in your personal chat with me; "
    "nothing about them is ever posted here. Open the chat and say report, or help."
)
WELCOME_TITLE = "Hello, I'm Harbour"
WELCOME_INTRO = (
    "If you're abused or harassed online because of your work, you can report it to me here, "
    "privately: a few short pages of questions, each one skippable, and you can pause and come "
    "back. I assess how serious it is, keep it under a reference, and you choose who is told."
)
CASE_TEAM_COMMANDS = frozenset({"cases", "checkin"})
EXAMPLE_REFERENCE = re.compile(r"HB-\d{4}-\d+")
"""Help's example reference: the welcome names the argument instead, so the
first message holds nothing that reads like a real case."""
"""Commands only managers and safety leads can use: named in their welcome only."""
WELCOME_LIMITS = (
    "What I can't do, and what to know:",
    "• Reports happen only here, in your personal chat. The safety leads' channel only ever "
    "sees a reference, the risk and the kind of abuse; the details go privately to the lead "
    "who claims the case.",
    "• Your organisation's administrator sets up who your manager is and the safety leads' "
    "channel; until then I still keep your reports safe.",
    "• Teams lets me message only people who have Harbour, so your manager and the safety leads "
    "need it installed to be alerted; until they have it, alerts wait and the safety leads are "
    "told one is not getting through.",
    "• I'm not an emergency service: if anyone is in immediate danger, call the emergency "
    "services first.",
)
ANSWERED_PRIVATELY = "I've answered you privately, in your personal chat with Harbour."
NOT_ANSWERED = (
    "I couldn't reach you in a personal chat. Open your chat with Harbour (search for "
    "Harbour under Chat) and press the button again."
)
FAILED = "Something went wrong on my side. Please try again in a minute."
FILE_DECLINED = "No problem: I haven't sent the file, and no copy of it is kept waiting."
FILE_GONE = (
    "That file is no longer waiting to be sent (a file waits a day, and goes once), so "
    "nothing was sent. Ask me for it again whenever you like."
)
FILE_FAILED = (
    "I couldn't send you the file, so nothing was sent. Please ask me for it again in a minute."
)
CHANNEL_WELCOME = (
    "Hello, I'm Harbour. People report online abuse to me privately, in their personal chat "
    "with me: nothing about a report is posted here. An administrator can make this channel "
    "the safety leads' alert channel by mentioning me with: register safety-leads"
)


class NoAddress(LookupError):
    """Nobody has told us how to reach this person or channel yet."""


class NotOnThisMachine(NoAddress):
    """Local trial: the stored address is not on this machine, so nothing is sent."""


class DeliveryFailed(RuntimeError):
    """Teams refused a message after every retry."""


async def send_with_retry(
    send: Callable[[], Awaitable[Any]],
    *,
    attempts: int = SEND_ATTEMPTS,
    base: float = 0.5,
    jitter: random.Random | None = None,
) -> Any:
    """Send, retrying throttling and server errors with exponential backoff and
    jitter (honouring Retry-After): the SDK itself never retries, so one 429 would
    lose a reply, and instances retrying in step would be throttled again together."""
    for attempt in range(attempts):
        try:
            return await send()
        except aiohttp.ClientResponseError as exc:
            if exc.status not in RETRY_STATUSES or attempt == attempts - 1:
                raise DeliveryFailed(f"Teams answered {exc.status}") from None
            await asyncio.sleep(retry_wait(exc, attempt, base, jitter or _JITTER))
    raise AssertionError("unreachable")


_JITTER = random.Random()


def retry_wait(
    exc: aiohttp.ClientResponseError, attempt: int, base: float, jitter: random.Random
) -> float:
    """How long to wait before retry number `attempt + 1`: at least what Teams
    asked for in Retry-After (capped at MAX_WAIT), else the exponential step; plus
    a random part of up to half the step, so retries from several instances or
    conversations spread out instead of arriving together."""
    step = base * 2**attempt
    header = exc.headers.get("Retry-After") if exc.headers else None
    try:
        floor = min(float(header), MAX_WAIT) if header else step / 2
    except ValueError:
        floor = step / 2
    return floor + jitter.uniform(0, step / 2)


def _reference(activity: Activity) -> dict[str, Any]:
    """The conversation reference to store: without per-message ids, so it only
    changes (and is only rewritten) when the conversation itself does."""
    return _dump_reference(activity.get_conversation_reference())


def _dump_reference(reference: ConversationReference) -> dict[str, Any]:
    dumped = reference.model_dump(mode="json", by_alias=True, exclude_none=True)
    for volatile in ("activityId", "requestId"):
        dumped.pop(volatile, None)
    return dumped


def _channel_of(activity: Activity) -> str | None:
    """The id of the Teams channel an activity came from (not of its thread)."""
    data = activity.channel_data if isinstance(activity.channel_data, dict) else {}
    channel = (data.get("channel") or {}).get("id")
    if channel:
        return str(channel)
    conversation = activity.conversation
    if conversation is None or conversation.conversation_type != "channel":
        return None
    return conversation.id.partition(THREAD)[0] or None


def _stored_channel(known: dict[str, Any]) -> str | None:
    """The channel id of a registration (older ones stored only the reference)."""
    if known.get("channel"):
        return str(known["channel"])
    conversation = (known.get("reference") or {}).get("conversation") or {}
    if conversation.get("conversationType") != "channel" or not conversation.get("id"):
        return None
    return str(conversation["id"]).partition(THREAD)[0]


def _connector(ctx: TurnContext) -> ConnectorClientBase | None:
    """The turn's client for the Bot Connector (set by the SDK for every turn)."""
    found: ConnectorClientBase | None = ctx.services.get(ConnectorClientBase)  # type: ignore[type-abstract]
    return found


def _refusal(action: translate.ActionEvent) -> Notice:
    text = (
        "That button belongs to someone else's private conversation, so I haven't done anything."
        if action.refused == "not-yours"
        else "Please choose an option first."
        if action.refused == "empty"
        else "I couldn't read that button press."
    )
    return Notice(text=text, level=NoticeLevel.WARNING)


def _fingerprint(activity: Activity) -> tuple[object, ...]:
    """Every field of an activity that goes into its conversation reference, as
    plain values: when they are unchanged, so is the reference, and building
    and dumping one (a pydantic model, about ten times the work of comparing
    this tuple) is skipped."""
    user, bot, conversation = activity.from_property, activity.recipient, activity.conversation
    return (
        activity.service_url,
        str(activity.channel_id),
        activity.locale,
        conversation and (conversation.id, conversation.tenant_id, conversation.conversation_type),
        conversation and (conversation.name, conversation.is_group),
        user and (user.id, user.name, user.aad_object_id, user.role),
        bot and (bot.id, bot.name, bot.role),
    )


def _is_loopback_host(host: str | None) -> bool:
    """127.0.0.0/8, ::1 (also as ::ffff:127.x.y.z) or the name localhost."""
    if not host:
        return False
    if host.lower() == "localhost":
        return True
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped.is_loopback
    return address.is_loopback


def _is_loopback(request: web.Request) -> bool:
    return _is_loopback_host(request.remote)


def _is_loopback_url(url: object) -> bool:
    """An http(s) URL whose host, as aiohttp would connect to it, is this machine."""
    if not isinstance(url, str):
        return False
    try:
        parsed = URL(url)
    except ValueError:
        return False
    return parsed.scheme in ("http", "https") and _is_loopback_host(parsed.host)


def _is_https_url(url: str) -> bool:
    try:
        return URL(url).scheme == "https"
    except ValueError:
        return False


async def _service_url(request: web.Request) -> object:
    """The serviceUrl of the activity in the request body (None if there is none)."""
    try:
        body = await request.json()  # aiohttp keeps the body: the SDK reads it again
    except (ValueError, LookupError):  # not JSON, or an unknown charset
        return None
    return body.get("serviceUrl") if isinstance(body, dict) else None


class TeamsAdapter:
    def __init__(
        self,
        harbour: Harbour,
        store: Store,
        settings: TeamsSettings,
    ) -> None:
        self.harbour = harbour
        self.store = store
        self.settings = settings
        if not settings.enabled:
            raise ConfigError(f"Teams is off: {HOW_TO_TURN_ON}")
        if settings.local_trial:
            self.auth_config = AgentAuthConfiguration(anonymous_allowed=True)
            connections: Any = ConnectionManager(
                provider_factory=lambda _config: AnonymousTokenProvider(),
                connections_configurations={"SERVICE_CONNECTION": self.auth_config},
            )
            # Without an app id the SDK warns on every turn; we warn once, at start.
            logging.getLogger(
                "microsoft_agents.hosting.core.connector.client.user_token_client"
            ).setLevel(logging.ERROR)
        else:
            from microsoft_agents.authentication.msal import MsalConnectionManager

            connections = MsalConnectionManager(**settings.sdk_config)
            self.auth_config = connections.get_default_connection_configuration()
        self.connections: Connections = connections  # also the bot's token for a pasted picture
        self._remembered: dict[str, tuple[object, ...]] = {}
        self.typing_after = TYPING_AFTER
        self._migrated = False
        self.adapter = CloudAdapter(connection_manager=connections)
        self.adapter.on_turn_error = self._on_turn_error
        self.app = AgentApplication[TurnState](
            storage=MemoryStorage(),
            connection_manager=connections,
            start_typing_timer=False,
            remove_recipient_mention=True,
        )
        self._register()

    # ------------------------------------------------------------------ HTTP

    def attach(self, web_app: web.Application, path: str = "/api/messages") -> None:
        """Serve `path`; with a client id, the SDK's JWT check guards it (and only it).
        Without one (the local trial), only this machine may talk to it."""
        with warnings.catch_warnings():
            # The SDK's JWT check looks this up by its plain string name.
            warnings.simplefilter("ignore", NotAppKeyWarning)
            web_app["agent_configuration"] = self.auth_config
        web_app.router.add_post(path, jwt_authorization_decorator(self._messages))  # type: ignore[no-untyped-call]
        web_app.on_startup.append(self._on_startup)
        if self.settings.local_trial:
            log.warning(
                "Teams: %s=true, so /api/messages runs unauthenticated for local trial: it "
                "accepts requests from this machine only and replies only to addresses on "
                "this machine. Never put it behind a proxy reachable from elsewhere. Unset it "
                "and set CONNECTIONS__SERVICE_CONNECTION__SETTINGS__CLIENTID, __CLIENTSECRET "
                "and __TENANTID to connect to Teams.",
                LOCAL_TRIAL,
            )

    async def _on_startup(self, _: web.Application) -> None:
        await self.migrate_leads_channel()

    async def _messages(self, request: web.Request) -> web.StreamResponse:
        if self.settings.local_trial:
            # Unauthenticated: anyone who reaches this could forge an activity, and the
            # bot would post wherever its serviceUrl said. Behind a reverse proxy every
            # peer is "this machine", so the serviceUrl must be on this machine too.
            if not _is_loopback(request):
                return web.json_response(
                    {"error": "Unauthenticated mode is local only."}, status=401
                )
            if not _is_loopback_url(await _service_url(request)):
                log.warning(
                    "Teams local trial: refused an activity whose serviceUrl is not on this machine"
                )
                return web.json_response(
                    {"error": "Unauthenticated mode replies on this machine only."}, status=401
                )
        response = await start_agent_process(request, self.app, self.adapter)
        return response if response is not None else web.Response(status=202)

    # ------------------------------------------------------------------ routes

    def _register(self) -> None:
        app = self.app
        app.activity(ActivityTypes.message)(self._on_message)
        app.activity(ActivityTypes.conversation_update)(self._on_conversation_update)
        app.activity(ActivityTypes.installation_update)(self._on_installation_update)
        app.adaptive_card.action_execute(re.compile(".*"))(self._on_execute)
        app.invoke("fileConsent/invoke")(self._on_file_consent)

    async def _on_message(self, ctx: TurnContext, state: TurnState) -> None:
        activity = ctx.activity
        who = translate.person_of(activity)
        await self._remember(activity, who)
        if not translate.is_personal(activity):
            if isinstance(activity.value, dict) and cards.KEY in activity.value:
                # An Action.Submit on a card in a channel: answered privately.
                await self._act_in_shared(
                    ctx, who, translate.action_event(activity, activity.value)
                )
                return
            await self._in_shared_chat(ctx, who)
            return
        if isinstance(activity.value, dict) and cards.KEY in activity.value:
            # An Action.Submit from an older card: handled like Action.Execute,
            # the pressed card (replyToId) edited as an invoke response would replace it.
            action = translate.action_event(activity, activity.value)
            shown = await self._act(ctx, who, action)
            if activity.reply_to_id:
                content = (
                    cards.refreshed(shown, who.user) if shown else cards.answered(action.title)
                )
                answered = Activity(
                    type=ActivityTypes.message,
                    id=activity.reply_to_id,
                    attachments=[CardFactory.adaptive_card(content)],
                )
                await send_with_retry(lambda: ctx.update_activity(answered))
            elif shown:
                await self._send(ctx, who, [Refresh(replies=tuple(shown))])
            return
        async with self._typing(ctx):
            for event in translate.message_events(activity):
                if not isinstance(event, FilesShared):
                    await self._send(ctx, who, await self.harbour.handle(event))
                    continue
                # Kept first (pointers only, never bytes): if this process dies
                # while fetching, recovery answers the step from the inbox (the
                # files noted, not kept) instead of her hearing nothing.
                await self.harbour.accept(event)
                fetched = await self._fetch_files(ctx)
                # A file refused before fetching is said so here; the rest go to the core.
                handed = event.model_copy(update={"files": tuple(fetched.files)})
                replies = await self.harbour.handle(handed) if handed.files else []
                await self._send(ctx, who, [*fetched.said, *replies])
                await self.harbour.answered(event)

    async def _fetch_files(self, ctx: TurnContext) -> Fetched:
        """The files her message shares, with their bytes where Teams gives
        them (`adapters.teams.files`), in her turn: the core checks and keeps
        them. In the local trial only this machine is asked, without a token."""
        activity = ctx.activity
        try:
            return await fetch_all(
                translate.file_sources(activity),
                may_fetch=_is_loopback_url if self.settings.local_trial else _is_https_url,
                token=partial(self._bot_token, ctx),
                service_url=activity.service_url,
            )
        except Exception as exc:  # never the step: the files go on as pointers
            log_failure("fetching a file shared in Teams", exc)
            return Fetched(files=[s.pointer for s in translate.file_sources(activity)])

    async def _bot_token(self, ctx: TurnContext) -> str:
        """The bot's token for the Bot Connector, as the SDK gets it for the
        turn's own client (cached by MSAL); "" in the local trial."""
        identity = ctx.identity or ClaimsIdentity({})
        provider = self.connections.get_token_provider(identity, ctx.activity.service_url or "")
        token: str = await provider.get_access_token(
            AuthenticationConstants.AGENTS_SDK_SCOPE, identity.get_token_scope()
        )
        return token

    def _typing(self, ctx: TurnContext) -> TypingIndicator:
        """The SDK's typing indicator, shown only once a turn has taken
        `typing_after` seconds, and stopped by the SDK as soon as a reply is sent
        (never after one)."""
        options = TypingOptions(
            initial_delay_ms=int(self.typing_after * 1000), interval_ms=int(TYPING_EVERY * 1000)
        )
        return TypingIndicator(ctx, typing_options=options)

    async def _on_execute(
        self, ctx: TurnContext, state: TurnState, data: Any
    ) -> AdaptiveCardInvokeResponse:
        who = translate.person_of(ctx.activity)
        await self._remember(ctx.activity, who)
        action = translate.action_event(ctx.activity, data if isinstance(data, dict) else {})
        if not translate.is_personal(ctx.activity):
            return await self._act_in_shared(ctx, who, action)
        shown = await self._act(ctx, who, action)
        if shown:
            # The core asked for the pressed card to be shown as it stands now
            # (a case alert: its status and the actions still open), never a tick.
            value = cards.refreshed(shown, who.user)
        else:
            note = "Received" if action.event is not None else "Not changed"
            value = cards.answered(action.title, note)
        return AdaptiveCardInvokeResponse(
            status_code=200, type=cards.CARD_CONTENT_TYPE, value=value
        )

    async def _act(
        self, ctx: TurnContext, who: PersonRef, action: translate.ActionEvent
    ) -> list[Shown]:
        """A press in the personal chat: the core's replies are sent as new
        messages, except a Refresh, returned to take the pressed card's place."""
        replies = (
            await self.harbour.handle(action.event)
            if action.event is not None
            else [_refusal(action)]
        )
        shown, rest = cards.split_refresh(replies)
        if rest:
            await self._send(ctx, who, rest)
        return shown

    async def _act_in_shared(
        self, ctx: TurnContext, who: PersonRef, action: translate.ActionEvent
    ) -> AdaptiveCardInvokeResponse:
        """A button pressed in a channel or group chat (a safety lead's Claim on an
        alert): the core handles it exactly as a press in the personal chat, and
        whatever it answers (the case's details, or a refusal) goes to the
        presser's personal chat, never to the shared conversation. Teams is
        answered with a line of text for the presser and the card left as it is:
        the notifier edits the card in place, for everyone, once the case changed."""
        try:
            replies = (
                await self.harbour.handle(action.event)
                if action.event is not None
                else [_refusal(action)]
            )
        except Exception as exc:  # answered here: the turn's error reply would go to the channel
            log_failure("a press in a Teams channel", exc)
            return AdaptiveCardInvokeResponse(status_code=200, type=MESSAGE_RESPONSE, value=FAILED)
        try:
            await self._send_privately(ctx, who, replies)
            said = ANSWERED_PRIVATELY
        except (NoAddress, DeliveryFailed) as exc:
            log.error(
                "Teams: a press in a shared chat could not be answered privately (%s)",
                type(exc).__name__,
            )
            said = NOT_ANSWERED
        return AdaptiveCardInvokeResponse(status_code=200, type=MESSAGE_RESPONSE, value=said)

    async def _send_privately(
        self, ctx: TurnContext, who: PersonRef, replies: Sequence[Reply]
    ) -> None:
        """To the person's personal chat with the bot; if they never opened one,
        the bot opens it (Teams lets a bot in a team start a 1:1 chat with a member)."""
        known = await self.store.get_record(RecordKind.CONTACTS, who.key) or {}
        if "reference" not in known:
            await self._open_personal_chat(ctx, who, known)
        await self.send_to(who.key, replies)

    async def _open_personal_chat(
        self, ctx: TurnContext, who: PersonRef, known: dict[str, Any]
    ) -> None:
        activity = ctx.activity
        connector = _connector(ctx)
        if connector is None or activity.from_property is None or not activity.service_url:
            raise NoAddress(who.key)
        tenant = translate.tenant_of(activity)
        parameters = ConversationParameters(
            is_group=False,
            agent=activity.recipient,
            members=[ChannelAccount(id=activity.from_property.id)],
            tenant_id=tenant,
            channel_data={"tenant": {"id": tenant}},
        )
        created = await send_with_retry(
            lambda: connector.conversations.create_conversation(parameters)
        )
        if not created.id:
            raise NoAddress(who.key)
        reference = activity.get_conversation_reference()
        reference.conversation = ConversationAccount(
            id=created.id, conversation_type="personal", tenant_id=tenant
        )
        await self.store.put_record(
            RecordKind.CONTACTS, who.key, {**known, "reference": _dump_reference(reference)}
        )

    async def _on_conversation_update(self, ctx: TurnContext, state: TurnState) -> None:
        activity = ctx.activity
        bot = activity.recipient.id if activity.recipient else None
        if any(m.id == bot for m in activity.members_added or []):
            await self._welcome(ctx)

    async def _on_installation_update(self, ctx: TurnContext, state: TurnState) -> None:
        if (ctx.activity.action or "").startswith("add"):
            await self._welcome(ctx)

    # ------------------------------------------------------------------ behaviour

    async def _welcome(self, ctx: TurnContext) -> None:
        """Once per person (personal) or per conversation (team, group chat), however
        many install and member events Teams sends."""
        activity = ctx.activity
        personal = translate.is_personal(activity)
        key = (
            translate.person_of(activity).key
            if personal
            else f"teams-conversation:{activity.conversation.id}"
        )
        known = await self.store.get_record(RecordKind.CONTACTS, key) or {}
        await self.store.put_record(
            RecordKind.CONTACTS, key, {**known, "reference": _reference(activity), "welcomed": True}
        )
        if known.get("welcomed"):
            return
        if personal:
            who = translate.person_of(activity)
            await self._send(ctx, who, [welcome(self.harbour.directory, who)])
        else:
            await self._post_card(ctx, cards.card([cards.plain(CHANNEL_WELCOME)]))

    async def _in_shared_chat(self, ctx: TurnContext, who: PersonRef) -> None:
        text = (ctx.activity.text or "").strip()
        if REGISTER.match(text):
            await self._register_channel(ctx, who)
            return
        await self._post_card(ctx, cards.invite(IN_CHANNEL, self._chat_url()))
        if await self.store.get_record(RecordKind.CONTACTS, who.key):
            # They have a personal chat with us: open it with a way forward.
            await self.send_to(who.key, [help_for(self.harbour, who)])

    async def _register_channel(self, ctx: TurnContext, who: PersonRef) -> None:
        """`register safety-leads` in a channel: the core decides (an administrator
        only) and records the channel; Teams keeps how to post there, only once
        the core took it."""
        activity = ctx.activity
        conversation = activity.conversation
        if conversation is None or conversation.conversation_type != "channel":
            # A group chat is a few people talking, never the leads' channel.
            text = "The safety leads' channel must be a channel in a team, not a group chat."
            await self._post_card(ctx, cards.card([cards.plain(text)]))
            return
        channel = _channel_of(activity)
        address = channel or conversation.id
        event = ChannelRegistered(
            event_id=activity.id or f"register:{address}",
            person=who,
            display_name=activity.from_property.name if activity.from_property else None,
            channel=address,
        )
        replies = await self.harbour.handle(event)
        if await self._registered_by(who, address):
            await self.store.put_record(
                RecordKind.CONTACTS,
                SAFETY_LEADS,
                {
                    "reference": _reference(activity),
                    "address": address,  # as the core has it (directory.channels["teams"])
                    "channel": channel,  # the Teams channel to start new posts in, if one
                    "registered_by": who.key,
                    "registered_at": datetime.now(UTC).isoformat(),
                },
            )
        for content in cards.cards(replies, SHARED):
            await self._post_card(ctx, content, fallback_text(replies))

    async def _registered_by(self, who: PersonRef, address: str) -> bool:
        """Whether the core has just made `address` the Teams leads' channel on
        this person's word (not merely kept someone else's registration of it)."""
        if self.harbour.directory.channels.get(TEAMS) != address:
            return False
        record = await self.store.get_record(RecordKind.CHANNELS, TEAMS) or {}
        return record.get("channel") == address and record.get("by") == who.key

    async def migrate_leads_channel(self) -> None:
        """A channel registered before the core decided registrations was kept
        only as the SAFETY_LEADS contact: record it as the core's registration
        (unless the core has one), once, so the directory names it."""
        if self._migrated:
            return
        known = await self.store.get_record(RecordKind.CONTACTS, SAFETY_LEADS) or {}
        if known.get("reference") and not known.get("address"):
            conversation = known["reference"].get("conversation") or {}
            address = _stored_channel(known) or str(conversation.get("id") or "")
            if address and await self.store.get_record(RecordKind.CHANNELS, TEAMS) is None:
                record = {
                    "channel": address,
                    "by": str(known.get("registered_by") or ""),
                    "at": str(known.get("registered_at") or datetime.now(UTC).isoformat()),
                }
                await self.store.put_record(RecordKind.CHANNELS, TEAMS, record)
                self.harbour.directory.channels[TEAMS] = address
                log.info("Teams: the safety leads' channel registered earlier is kept")
            known = {**known, "address": address, "channel": _stored_channel(known)}
            await self.store.put_record(RecordKind.CONTACTS, SAFETY_LEADS, known)
        if TEAMS not in self.harbour.directory.channels:
            record = await self.store.get_record(RecordKind.CHANNELS, TEAMS) or {}
            if record.get("channel"):
                self.harbour.directory.channels[TEAMS] = str(record["channel"])
        self._migrated = True

    async def _leads_contact(self) -> dict[str, Any]:
        """How to post in the channel the core names as the leads' one. Never
        another channel: one registered earlier and since replaced gets nothing."""
        await self.migrate_leads_channel()
        channel = self.harbour.directory.channels.get(TEAMS)
        known = await self.store.get_record(RecordKind.CONTACTS, SAFETY_LEADS) or {}
        if not channel or known.get("address") != channel or "reference" not in known:
            log.error(
                "Teams: no way to post in the safety leads' channel (%s); an administrator "
                "can say register safety-leads to Harbour in it",
                "none is registered" if not channel else "it was not registered from inside it",
            )
            raise NoAddress(SAFETY_LEADS)
        return known

    def _chat_url(self) -> str | None:
        if not self.settings.client_id:
            return None
        return f"https://teams.microsoft.com/l/chat/0/0?users=28:{self.settings.client_id}"

    async def _remember(self, activity: Activity, who: PersonRef) -> None:
        """Save how to reach this person (first contact, or when it changed)."""
        if not translate.is_personal(activity):
            return
        fingerprint = _fingerprint(activity)
        if self._remembered.get(who.key) == fingerprint:
            return  # unchanged since this process last saved it: nothing to build or store
        reference = _reference(activity)
        known = await self.store.get_record(RecordKind.CONTACTS, who.key) or {}
        if known.get("reference") != reference:
            await self.store.put_record(
                RecordKind.CONTACTS, who.key, {**known, "reference": reference}
            )
        self._remembered[who.key] = fingerprint

    # ------------------------------------------------------------------ sending

    async def _send(self, ctx: TurnContext, who: PersonRef, replies: Sequence[Reply]) -> None:
        shown = [r for r in replies if not isinstance(r, FileReply)]
        summary = fallback_text(shown)
        for content in cards.cards(shown, who.user):
            await self._post_card(ctx, content, summary)
        for file in (r for r in replies if isinstance(r, FileReply)):
            await self._send_file(ctx, who, file)

    # ------------------------------------------------------------------ files

    async def _send_file(self, ctx: TurnContext, who: PersonRef, file: FileReply) -> None:
        """A small picture (a chart) is shown in the chat; any other file is
        offered with a consent card (`_offer_file`)."""
        if cards.shown_inline(file):
            await self._post_card(ctx, cards.image_card(file), file.caption)
        else:
            await self._offer_file(ctx, who, file)

    async def _offer_file(self, ctx: TurnContext, who: PersonRef, file: FileReply) -> None:
        """Ask her to accept a file (Teams' file consent card). The file waits
        for her answer in the store, sealed, for a day: any instance may
        receive it (`_on_file_consent`)."""
        token = await rights.keep_waiting_file(self.store, who, file, self.harbour.clock())
        offer = Activity(
            type=ActivityTypes.message,
            attachments=[Attachment.model_validate(cards.file_consent(file, token))],
        )
        await send_with_retry(lambda: ctx.send_activity(offer))

    async def _on_file_consent(self, ctx: TurnContext, state: TurnState) -> None:
        """Her answer to a file consent card. Accepted: the file is put where
        Teams said (its upload URL, with Content-Range), then shown as a file
        card. Declined: she is told nothing was sent. Either way the waiting
        file is forgotten, and Teams gets its invoke response (200)."""
        activity = ctx.activity
        who = translate.person_of(activity)
        value = activity.value if isinstance(activity.value, dict) else {}
        context = value.get("context")
        token = str(context.get(cards.FILE_KEY) or "") if isinstance(context, dict) else ""
        accepted = value.get("action") == "accept"
        try:
            waiting = await rights.take_waiting_file(self.store, token, who, self.harbour.clock())
            if waiting is None:
                await self._send(ctx, who, [Notice(text=FILE_GONE)])
            elif not accepted:
                again = (
                    f" If you'd like it later, say {waiting.file.ask_again}."
                    if waiting.file.ask_again
                    else ""
                )
                await self._send(ctx, who, [Text(text=FILE_DECLINED + again)])
            else:
                info = FileUploadInfo.model_validate(value.get("uploadInfo") or {})
                await self._upload(info, waiting.file)
                shown = Activity(
                    type=ActivityTypes.message,
                    attachments=[
                        Attachment.model_validate(
                            cards.file_info(
                                info.name, info.content_url, info.unique_id, info.file_type
                            )
                        )
                    ],
                )
                await send_with_retry(lambda: ctx.send_activity(shown))
        except Exception as exc:
            log_failure("sending a file in Teams", exc)
            with contextlib.suppress(Exception):
                await self._send(ctx, who, [Notice(level=NoticeLevel.WARNING, text=FILE_FAILED)])
        await ctx.send_activity(Activity(type=ActivityTypes.invoke_response, value={"status": 200}))

    async def _upload(self, info: FileUploadInfo, file: FileReply) -> None:
        """PUT the whole file to the upload session Teams opened for it (in her
        OneDrive), in one range. In the local trial, only to this machine."""
        if self.settings.local_trial and not _is_loopback_url(info.upload_url):
            raise NotOnThisMachine(info.upload_url)
        size = file.size
        headers = {"Content-Range": f"bytes 0-{size - 1}/{size}"}

        async def put() -> None:
            async with (
                aiohttp.ClientSession() as session,
                session.put(info.upload_url, data=file.content, headers=headers) as response,
            ):
                response.raise_for_status()

        await send_with_retry(put)

    async def _post_card(
        self, ctx: TurnContext, content: dict[str, Any], summary: str | None = None
    ) -> Any:
        activity = _card_activity(content, summary)
        return await send_with_retry(lambda: ctx.send_activity(activity))

    can_check_sent = False
    """Teams keeps nothing to look a sent message up by: after a crash mid-send,
    an alert is sent again (at least once)."""

    async def send(self, to: Recipient, replies: Sequence[Reply], *, key: str = "") -> str:
        """Deliver an alert (the notifier's messenger interface). Teams has no place
        for `key` on a message, and the text is no place for it."""
        if to.kind == "channel" and to.address == SAFETY_LEADS:
            return await self.send_to(
                to.address, replies, shared=True, known=await self._leads_contact()
            )
        return await self.send_to(to.address, replies, shared=to.kind == "channel")

    async def find_sent(self, to: Recipient, key: str, since: datetime) -> str | None:
        raise NotImplementedError("Teams keeps no way to look a sent message up by key")

    def leads_channel(self, directory: Directory) -> str | None:
        """The channel the directory names for Teams, as this messenger addresses
        it. Until a registration made before the core decided them has been looked
        for (at start), one is assumed: sending then fails loudly if there is none."""
        if directory.channels.get(TEAMS) or not self._migrated:
            return SAFETY_LEADS
        return None

    async def update(self, to: Recipient, message: str, replies: Sequence[Reply]) -> None:
        known = await self.store.get_record(RecordKind.CONTACTS, to.address)
        if not known or "reference" not in known:
            raise NoAddress(to.address)
        reference = ConversationReference.model_validate(known["reference"])
        thread, _, message = message.rpartition(SEP)
        if thread and reference.conversation is not None:
            # A post of its own in a channel: a conversation of its own.
            reference.conversation = reference.conversation.model_copy(update={"id": thread})
        owner = SHARED if to.kind == "channel" else to.address.rsplit(":", 1)[-1]
        [content] = cards.cards(replies, owner)[:1]
        summary = fallback_text(replies)
        failure: list[BaseException] = []

        async def replace(ctx: TurnContext) -> None:
            try:
                updated = _card_activity(content, summary)
                updated.id = message
                await send_with_retry(lambda: ctx.update_activity(updated))
            except BaseException as exc:
                failure.append(exc)

        await self._continue(reference, replace)
        if failure:
            raise failure[0]

    async def _continue(self, reference: ConversationReference, callback: Any) -> None:
        if self.settings.local_trial and not _is_loopback_url(reference.service_url):
            # Unauthenticated: never send outside this machine, whatever was stored.
            log.error("Teams local trial: a stored address is not on this machine; not sent")
            raise NotOnThisMachine(reference.service_url or "")
        continuation = reference.get_continuation_activity()
        continuation.id = None  # a new message, not a reply to an old one
        if self.settings.local_trial:
            await self.adapter.continue_conversation_with_claims(
                ClaimsIdentity({}), continuation, callback
            )
        else:
            await self.adapter.continue_conversation(
                self.settings.client_id, continuation, callback
            )

    async def send_to(
        self,
        key: str,
        replies: Sequence[Reply],
        *,
        shared: bool = False,
        known: dict[str, Any] | None = None,
    ) -> str:
        """Send replies to a person or channel outside any turn (alerts, check-ins).

        Raises NoAddress when nobody has given us a way to reach them, and
        DeliveryFailed when Teams refused after every retry: never a silent drop.
        """
        known = known or await self.store.get_record(RecordKind.CONTACTS, key)
        if not known or "reference" not in known:
            log.error("Teams: no conversation reference for %s; the message was not sent", key)
            raise NoAddress(key)
        reference = ConversationReference.model_validate(known["reference"])
        owner = SHARED if shared else key.rsplit(":", 1)[-1]
        shown = [r for r in replies if not isinstance(r, FileReply)]
        files = [r for r in replies if isinstance(r, FileReply)]
        person = None if shared else parse_person(key)
        if files and person is None:  # a file is only ever for its person, in her chat
            log.error("Teams: a file was addressed to a channel; it was not sent")
            files = []
        contents = cards.cards(shown, owner)
        summary = fallback_text(shown)
        channel = _stored_channel(known) if shared else None
        failure: list[BaseException] = []
        sent: list[str] = []

        async def deliver(ctx: TurnContext) -> None:
            try:
                if channel and contents:
                    sent.append(await self._new_post(ctx, channel, contents, summary))
                    return
                for content in contents:
                    response = await self._post_card(ctx, content, summary)
                    sent.append(str(getattr(response, "id", "") or ""))
                for file in files:
                    assert person is not None
                    await self._send_file(ctx, person, file)
            except BaseException as exc:  # re-raised below, outside the SDK's turn
                failure.append(exc)

        await self._continue(reference, deliver)
        if failure:
            raise failure[0]
        return sent[-1] if sent else ""

    async def _new_post(
        self, ctx: TurnContext, channel: str, contents: list[dict[str, Any]], summary: str
    ) -> str:
        """Start a new post in a channel (the Bot Framework's "create conversation"
        with the channel's id, as Teams wants it), not a reply in whatever thread
        the channel's address came from. Any further cards go into its thread.
        Returns "<the post's conversation>|<its activity id>", what `update` edits."""
        connector = _connector(ctx)
        if connector is None:
            raise DeliveryFailed("no connector for this turn")
        first, *rest = contents
        parameters = ConversationParameters(
            is_group=True,
            channel_data={"channel": {"id": channel}},
            activity=_card_activity(first, summary),
        )
        if ctx.activity.recipient is not None:
            parameters.agent = ctx.activity.recipient
        if ctx.activity.conversation is not None and ctx.activity.conversation.tenant_id:
            parameters.tenant_id = ctx.activity.conversation.tenant_id
        created = await send_with_retry(
            lambda: connector.conversations.create_conversation(parameters)
        )
        thread = created.id or ""
        post = created.activity_id or thread.partition(THREAD)[2]
        if not thread or not post:
            raise DeliveryFailed("Teams did not say where the new post is")
        for content in rest:
            reply = _card_activity(content, summary)
            reply.conversation = ConversationAccount(id=thread)
            await send_with_retry(
                partial(connector.conversations.send_to_conversation, thread, reply)
            )
        return f"{thread}{SEP}{post}"

    async def _on_turn_error(self, ctx: TurnContext, error: Exception) -> None:
        # The SDK's default would print the error and send its text (with URLs) to the user.
        log_failure("a Teams turn", error)
        if isinstance(error, DeliveryFailed):
            return  # Teams itself is refusing: a further message would fail too
        try:
            await ctx.send_activity(
                MessageFactory.attachment(
                    CardFactory.adaptive_card(
                        cards.card(
                            [
                                cards.plain(
                                    "Something went wrong on my side. Everything you'd already "
                                    "answered is safe; please try again in a minute."
                                )
                            ]
                        )
                    )
                )
            )
        except Exception as exc:
            log_failure("telling a Teams user about an error", exc)


def _card_activity(content: dict[str, Any], summary: str | None = None) -> Activity:
    """A message holding one card. `summary` is what Teams shows in a
    notification instead of "Sent a card": what the message is, never its content."""
    if summary:
        # Shown by a Teams client that cannot render the card (an old mobile
        # client, a screen reader's message list): the same words as the summary.
        content = cards.Card({**content, "fallbackText": summary})
    activity: Activity = MessageFactory.attachment(CardFactory.adaptive_card(content))
    if summary:
        activity.summary = summary
    return activity


def welcome(directory: Directory, person: PersonRef) -> Notice:
    """The first message in the personal chat, sent once: what Harbour is for,
    every command this person can use (the case team's only for managers and
    safety leads), how it is set up, and its limits."""
    case_team = directory.is_lead(person) or any(
        person.key in managers for managers in directory.managers.values()
    )
    commands = [
        f"• {EXAMPLE_REFERENCE.sub('<reference>', command)} — {what}"
        for command, what in HELP_LINES
        if case_team or command.split()[0] not in CASE_TEAM_COMMANDS
    ]
    text = "\n".join([WELCOME_INTRO, "", "What you can say:", *commands, "", *WELCOME_LIMITS])
    return Notice(title=WELCOME_TITLE, text=text)
