"""The Teams adapter, on the Microsoft 365 Agents SDK (CloudAdapter + AgentApplication).

Reports happen only in the personal chat with the bot. Each turn: remember how
to reach the person (their conversation reference), translate the activity
into a core event, let `Harbour.handle` save and answer, and send the replies
as one Adaptive Card. Card buttons are Action.Execute, so the pressed card is
replaced in the invoke response itself. In a team channel or group chat the bot
only points people to their private chat, and lets an administrator register
the channel as the safety leads' one.

Every import of the Agents SDK stays inside adapters/teams.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import re
import warnings
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime
from typing import Any

import aiohttp
from aiohttp import web
from aiohttp.web_exceptions import NotAppKeyWarning
from microsoft_agents.activity import (
    Activity,
    ActivityTypes,
    AdaptiveCardInvokeResponse,
    ConversationReference,
)
from microsoft_agents.hosting.aiohttp import (
    CloudAdapter,
    jwt_authorization_decorator,
    start_agent_process,
)
from microsoft_agents.hosting.core import (
    AgentApplication,
    AgentAuthConfiguration,
    AnonymousTokenProvider,
    CardFactory,
    ClaimsIdentity,
    ConnectionManager,
    MemoryStorage,
    MessageFactory,
    TurnContext,
    TurnState,
)
from yarl import URL

from adapters.teams import cards, translate
from adapters.teams.config import HOW_TO_TURN_ON, LOCAL_TRIAL, TeamsSettings
from bot.alerts.messenger import SHARED, Recipient
from bot.app import Harbour
from bot.config import ConfigError
from bot.directory import Directory
from bot.logs import log_failure
from bot.models import Notice, NoticeLevel, PersonRef, Reply, Text
from bot.store import Store

log = logging.getLogger(__name__)

RETRY_STATUSES = frozenset({412, 429, 500, 502, 503, 504})
SEND_ATTEMPTS = 4
MAX_WAIT = 10.0  # seconds, per wait: a Retry-After beyond this is capped
SAFETY_LEADS = "safety-leads:teams"
REGISTER = re.compile(r"^\s*register\s+safety[- ]?leads\s*$", re.IGNORECASE)

IN_CHANNEL = (
    "Reports to Harbour are private, so they only happen in your personal chat with me; "
    "nothing about them is ever posted here. Open the chat and say report, or help."
)
WELCOME = (
    "Hello, I'm Harbour. If you're abused or harassed online because of your work, you can "
    "report it to me here, privately: a few short pages of questions, each one skippable, and "
    "you can pause and come back. I assess how serious it is, keep it under a reference, and "
    "you choose who is told. Your organisation's administrator sets up who your manager is "
    "and the safety leads' channel; until then I still keep your reports safe. "
    "Say report to start, or help for everything I can do."
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
    send: Callable[[], Awaitable[Any]], *, attempts: int = SEND_ATTEMPTS, base: float = 0.5
) -> Any:
    """Send, retrying throttling and server errors with backoff (honouring
    Retry-After): the SDK itself never retries, so one 429 would lose a reply."""
    for attempt in range(attempts):
        try:
            return await send()
        except aiohttp.ClientResponseError as exc:
            if exc.status not in RETRY_STATUSES or attempt == attempts - 1:
                raise DeliveryFailed(f"Teams answered {exc.status}") from None
            await asyncio.sleep(_wait(exc, base * 2**attempt))
    raise AssertionError("unreachable")


def _wait(exc: aiohttp.ClientResponseError, backoff: float) -> float:
    header = exc.headers.get("Retry-After") if exc.headers else None
    try:
        return min(float(header), MAX_WAIT) if header else backoff
    except ValueError:
        return backoff


def _reference(activity: Activity) -> dict[str, Any]:
    """The conversation reference to store: without per-message ids, so it only
    changes (and is only rewritten) when the conversation itself does."""
    reference = activity.get_conversation_reference().model_dump(
        mode="json", by_alias=True, exclude_none=True
    )
    for volatile in ("activityId", "requestId"):
        reference.pop(volatile, None)
    return reference


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
        self._remembered: dict[str, tuple[object, ...]] = {}
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
        if self.settings.local_trial:
            log.warning(
                "Teams: %s=true, so /api/messages runs unauthenticated for local trial: it "
                "accepts requests from this machine only and replies only to addresses on "
                "this machine. Never put it behind a proxy reachable from elsewhere. Unset it "
                "and set CONNECTIONS__SERVICE_CONNECTION__SETTINGS__CLIENTID, __CLIENTSECRET "
                "and __TENANTID to connect to Teams.",
                LOCAL_TRIAL,
            )

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

    async def _on_message(self, ctx: TurnContext, state: TurnState) -> None:
        activity = ctx.activity
        who = translate.person_of(activity)
        await self._remember(activity, who)
        if not translate.is_personal(activity):
            await self._in_shared_chat(ctx, who)
            return
        if isinstance(activity.value, dict) and cards.KEY in activity.value:
            # An Action.Submit from an older card: handled like Action.Execute.
            action = translate.action_event(activity, activity.value)
            await self._act(ctx, who, action)
            if activity.reply_to_id:
                answered = Activity(
                    type=ActivityTypes.message,
                    id=activity.reply_to_id,
                    attachments=[CardFactory.adaptive_card(cards.answered(action.title))],
                )
                await send_with_retry(lambda: ctx.update_activity(answered))
            return
        for event in translate.message_events(activity):
            await self._send(ctx, who, await self.harbour.handle(event))

    async def _on_execute(
        self, ctx: TurnContext, state: TurnState, data: Any
    ) -> AdaptiveCardInvokeResponse:
        who = translate.person_of(ctx.activity)
        await self._remember(ctx.activity, who)
        action = translate.action_event(ctx.activity, data if isinstance(data, dict) else {})
        if translate.is_personal(ctx.activity):
            await self._act(ctx, who, action)
        note = "Received" if action.event is not None else "Not changed"
        return AdaptiveCardInvokeResponse(
            status_code=200, type=cards.CARD_CONTENT_TYPE, value=cards.answered(action.title, note)
        )

    async def _act(self, ctx: TurnContext, who: PersonRef, action: translate.ActionEvent) -> None:
        if action.event is not None:
            await self._send(ctx, who, await self.harbour.handle(action.event))
            return
        text = (
            "That button belongs to someone else's private conversation, so I haven't done "
            "anything."
            if action.refused == "not-yours"
            else "Please choose an option first."
            if action.refused == "empty"
            else "I couldn't read that button press."
        )
        await self._send(ctx, who, [Notice(text=text, level=NoticeLevel.WARNING)])

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
        known = await self.store.get_record("contacts", key) or {}
        await self.store.put_record(
            "contacts", key, {**known, "reference": _reference(activity), "welcomed": True}
        )
        if known.get("welcomed"):
            return
        if personal:
            await self._send(ctx, translate.person_of(activity), [Text(text=WELCOME)])
        else:
            await self._post_card(ctx, cards.card([cards.plain(CHANNEL_WELCOME)]))

    async def _in_shared_chat(self, ctx: TurnContext, who: PersonRef) -> None:
        text = (ctx.activity.text or "").strip()
        if REGISTER.match(text):
            if not self.harbour.access.is_admin(who):
                reply = (
                    "Only Harbour administrators can choose the safety leads' channel. Ask "
                    "your IT team to add your account to HARBOUR_ADMINS."
                )
            else:
                await self.store.put_record(
                    "contacts",
                    SAFETY_LEADS,
                    {
                        "reference": _reference(ctx.activity),
                        "registered_by": who.key,
                        "registered_at": datetime.now(UTC).isoformat(),
                    },
                )
                reply = (
                    "Done: this channel will get safety alerts. They only ever say a report's "
                    "reference, how serious it is and the kind of abuse, never what happened "
                    "or who reported it."
                )
            await self._post_card(ctx, cards.card([cards.plain(reply)]))
            return
        await self._post_card(ctx, cards.invite(IN_CHANNEL, self._chat_url()))
        if await self.store.get_record("contacts", who.key):
            # They have a personal chat with us: open it with a way forward.
            await self.send_to(who.key, [self.harbour.help_for(who)])

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
        known = await self.store.get_record("contacts", who.key) or {}
        if known.get("reference") != reference:
            await self.store.put_record("contacts", who.key, {**known, "reference": reference})
        self._remembered[who.key] = fingerprint

    # ------------------------------------------------------------------ sending

    async def _send(self, ctx: TurnContext, who: PersonRef, replies: Sequence[Reply]) -> None:
        for content in cards.cards(replies, who.user):
            await self._post_card(ctx, content)

    async def _post_card(self, ctx: TurnContext, content: dict[str, Any]) -> Any:
        activity = MessageFactory.attachment(CardFactory.adaptive_card(content))
        return await send_with_retry(lambda: ctx.send_activity(activity))

    can_check_sent = False
    """Teams keeps nothing to look a sent message up by: after a crash mid-send,
    an alert is sent again (at least once)."""

    async def send(self, to: Recipient, replies: Sequence[Reply], *, key: str = "") -> str:
        """Deliver an alert (the notifier's messenger interface). Teams has no place
        for `key` on a message, and the text is no place for it."""
        return await self.send_to(to.address, replies, shared=to.kind == "channel")

    async def find_sent(self, to: Recipient, key: str, since: datetime) -> str | None:
        raise NotImplementedError("Teams keeps no way to look a sent message up by key")

    def leads_channel(self, directory: Directory) -> str | None:
        """Registered from inside the channel; sending fails loudly if it wasn't."""
        return SAFETY_LEADS

    async def update(self, to: Recipient, message: str, replies: Sequence[Reply]) -> None:
        known = await self.store.get_record("contacts", to.address)
        if not known or "reference" not in known:
            raise NoAddress(to.address)
        reference = ConversationReference.model_validate(known["reference"])
        owner = SHARED if to.kind == "channel" else to.address.rsplit(":", 1)[-1]
        [content] = cards.cards(replies, owner)[:1]
        failure: list[BaseException] = []

        async def replace(ctx: TurnContext) -> None:
            try:
                updated = Activity(
                    type=ActivityTypes.message,
                    id=message,
                    attachments=[CardFactory.adaptive_card(content)],
                )
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

    async def send_to(self, key: str, replies: Sequence[Reply], *, shared: bool = False) -> str:
        """Send replies to a person or channel outside any turn (alerts, check-ins).

        Raises NoAddress when nobody has given us a way to reach them, and
        DeliveryFailed when Teams refused after every retry: never a silent drop.
        """
        known = await self.store.get_record("contacts", key)
        if not known or "reference" not in known:
            log.error("Teams: no conversation reference for %s; the message was not sent", key)
            raise NoAddress(key)
        reference = ConversationReference.model_validate(known["reference"])
        owner = SHARED if shared else key.rsplit(":", 1)[-1]
        failure: list[BaseException] = []
        sent: list[str] = []

        async def deliver(ctx: TurnContext) -> None:
            try:
                for content in cards.cards(replies, owner):
                    response = await self._post_card(ctx, content)
                    sent.append(str(getattr(response, "id", "") or ""))
            except BaseException as exc:  # re-raised below, outside the SDK's turn
                failure.append(exc)

        await self._continue(reference, deliver)
        if failure:
            raise failure[0]
        return sent[-1] if sent else ""

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
