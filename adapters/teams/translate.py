"""Teams activities -> core events. Pure functions over the SDK's Activity."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from microsoft_agents.activity import Activity, Attachment

from adapters.teams.cards import KEY
from bot.alerts.messenger import SHARED
from bot.models import (
    ChoiceMade,
    Control,
    ControlAction,
    FilesShared,
    FormSubmitted,
    InboundEvent,
    PersonRef,
    Platform,
    SharedFile,
    TextMessage,
)

CARD_TYPES = ("application/vnd.microsoft.card.", "text/html")
FILE_DOWNLOAD_INFO = "application/vnd.microsoft.teams.file.download.info"
"""A file shared in the personal chat: its `content.downloadUrl` is pre-authorised."""
PASTED_PICTURE = "pasted picture"
"""The name of a picture pasted into the chat (Teams gives it none). No
ending: Teams' content type for it is a guess, and the core refuses a name
whose ending says one type over bytes of another."""


def tenant_of(activity: Activity) -> str:
    tenant = activity.conversation.tenant_id if activity.conversation else None
    if not tenant and isinstance(activity.channel_data, dict):
        tenant = (activity.channel_data.get("tenant") or {}).get("id")
    return tenant or "unknown-tenant"


def person_of(activity: Activity) -> PersonRef:
    """The Entra object id when Teams gives it (stable across apps), else the chat id."""
    sender = activity.from_property
    user = (sender.aad_object_id or sender.id) if sender else ""
    return PersonRef(platform=Platform.TEAMS, workspace=tenant_of(activity), user=user or "unknown")


def _name(activity: Activity) -> str | None:
    return activity.from_property.name if activity.from_property else None


def is_personal(activity: Activity) -> bool:
    kind = activity.conversation.conversation_type if activity.conversation else None
    return kind in (None, "personal")


@dataclass(frozen=True)
class ActionEvent:
    event: InboundEvent | None
    refused: str = ""
    title: str = ""


def _inputs(data: dict[str, Any], hb: dict[str, Any]) -> dict[str, str | list[str] | None]:
    """A form page's inputs, merged by Teams into the pressed action's data."""
    multi = set(hb.get("multi") or [])
    values: dict[str, str | list[str] | None] = {}
    for name, value in data.items():
        if name == KEY:
            continue
        text = "" if value is None else str(value)
        # Teams joins a multi-select's values with commas.
        values[name] = [v for v in text.split(",") if v] if name in multi else text
    return values


def action_event(activity: Activity, data: dict[str, Any]) -> ActionEvent:
    """Card data (Action.Execute or Action.Submit, inputs merged in) -> a core event.

    Buttons carry the person they were sent to; a press by anyone else is refused.
    """
    who = person_of(activity)
    hb = data.get(KEY)
    if not isinstance(hb, dict):
        return ActionEvent(None, refused="unreadable")
    title = str(hb.get("title") or "")
    if hb.get("owner") not in (who.user, SHARED):
        return ActionEvent(None, refused="not-yours", title=title)
    common: dict[str, Any] = {
        "event_id": activity.id or "",
        "person": who,
        "display_name": _name(activity),
    }
    token = str(hb.get("token") or "")
    kind = hb.get("kind")
    if kind == "submit":
        return ActionEvent(
            FormSubmitted(
                **common, form=str(hb.get("form")), values=_inputs(data, hb), token=token
            ),
            title=title,
        )
    if kind == "choice":
        picked = hb.get("value")
        if picked is None and hb.get("input"):
            picked = data.get(str(hb["input"]))
        if not picked:
            return ActionEvent(None, refused="empty", title=title)
        # Teams joins a multi-select's values with commas.
        picks = [v for v in str(picked).split(",") if v] if hb.get("multi") else [str(picked)]
        return ActionEvent(
            ChoiceMade(
                **common, question=str(hb.get("question")), values=tuple(picks), token=token
            ),
            title=title,
        )
    if kind == "person":
        question = str(hb.get("question"))
        chosen = str(data.get(question) or "")
        if not chosen:
            return ActionEvent(None, refused="empty", title=title)
        key = PersonRef(platform=Platform.TEAMS, workspace=who.workspace, user=chosen).key
        return ActionEvent(ChoiceMade(**common, question=question, values=(key,), token=token))
    if kind == "control":
        try:
            action = ControlAction(str(hb.get("action")))
        except ValueError:
            return ActionEvent(None, refused="unreadable", title=title)
        # A form page's buttons all send its inputs: the core keeps the valid ones.
        control = Control(
            **common, action=action, token=token, by_page=True, values=_inputs(data, hb)
        )
        return ActionEvent(control, title=title)
    return ActionEvent(None, refused="unreadable", title=title)


def with_people(activity: Activity) -> str:
    """The message's text with each person it mentions (`<at>Alice</at>`) as
    their Harbour id, the way `person_of` builds it. The bot's own mention was
    already taken out by the SDK; any left is not a person's and is kept."""
    text = activity.text or ""
    bot = activity.recipient.id if activity.recipient else None
    tenant = tenant_of(activity)
    for mention in activity.get_mentions():
        named = mention.mentioned
        if named is None or not named.id or named.id == bot:
            continue
        shown = mention.text or f"<at>{named.name}</at>"
        user = named.aad_object_id or named.id
        key = PersonRef(platform=Platform.TEAMS, workspace=tenant, user=user).key
        text = text.replace(shown, key, 1)
    return text


@dataclass(frozen=True)
class FileSource:
    """A file shared in the personal chat: the pointer the core keeps, and
    where its bytes are. Never logged, never kept: `download_url` is a bearer
    link (anyone holding it can read the file for a while)."""

    pointer: SharedFile
    download_url: str | None
    with_token: bool = False
    """A picture pasted into the chat: Teams serves it to the bot's token only.
    A file's downloadUrl needs none, and must never be sent one."""


def _file_source(attachment: Attachment) -> FileSource | None:
    kind = attachment.content_type or ""
    if not kind or kind.startswith(CARD_TYPES):
        return None
    if kind == FILE_DOWNLOAD_INFO:
        info = attachment.content if isinstance(attachment.content, dict) else {}
        url = info.get("downloadUrl")
        ending = str(info.get("fileType") or "")
        name = attachment.name or (f"file.{ending}" if ending.isalnum() else "file")
        # The pointer is the file's place in her OneDrive, never the bearer link.
        pointer = SharedFile(name=name, url=attachment.content_url)
        return FileSource(pointer, str(url) if isinstance(url, str) and url else None)
    if kind.startswith("image/"):
        pointer = SharedFile(name=attachment.name or PASTED_PICTURE, url=attachment.content_url)
        return FileSource(pointer, attachment.content_url or None, with_token=True)
    return FileSource(SharedFile(name=attachment.name or "file", url=attachment.content_url), None)


def file_sources(activity: Activity) -> list[FileSource]:
    """The files a personal-chat message shares, in the order `message_events`
    gives them to the core (cards and the message's own HTML are not files)."""
    return [s for s in map(_file_source, activity.attachments or []) if s is not None]


def message_events(activity: Activity) -> list[InboundEvent]:
    """A personal-chat message -> events (typed text, shared files: pointers
    only; the adapter fetches their bytes in the turn, `adapters.teams.files`)."""
    who = person_of(activity)
    event_id = activity.id or ""
    out: list[InboundEvent] = []
    files = [source.pointer for source in file_sources(activity)]
    if files:
        out.append(FilesShared(event_id=f"{event_id}:files", person=who, files=tuple(files)))
    text = with_people(activity)
    if text.strip() or not files:
        out.append(
            TextMessage(event_id=event_id, person=who, text=text, display_name=_name(activity))
        )
    return out
