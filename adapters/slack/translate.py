"""Slack payloads -> core events. Pure functions over the JSON bolt hands us."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from adapters.slack.render import (
    ACTION_CHOICE,
    ACTION_CHOICES,
    ACTION_CONTROL,
    ACTION_HOME_REPORT,
    ACTION_PERSON,
    ACTION_SELECT,
    ACTION_SUBMIT,
    ACTION_TICK,
    SEP,
)
from bot.alerts.messenger import SHARED
from bot.models import (
    ChannelRegistered,
    ChoiceMade,
    Command,
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
from bot.validation import clean_text

PageValues = dict[str, str | list[str] | None]
"""A page's answers by question id, as its inputs hold them."""


def person(team: str, user: str) -> PersonRef:
    return PersonRef(platform=Platform.SLACK, workspace=team, user=user)


MENTION = re.compile(r"<@([UW][A-Z0-9]+)(?:\|[^>]*)?>")
CHANNEL = re.compile(r"<#([CG][A-Z0-9]+)(?:\|[^>]*)?>")


def with_person_ids(text: str, team: str) -> str:
    """`<@U123>` or `<@U123|alice>` -> `slack:T1:U123`: the core names people by
    their Harbour id. Slack sends the first in a DM message, the second in a slash
    command's text (the manifest sets `should_escape`, so a typed `@alice` arrives
    escaped, never as bare text that names nobody)."""
    return MENTION.sub(lambda m: person(team, m[1]).key, text)


def in_a_dm(body: dict[str, Any]) -> bool:
    """Whether a slash command was typed in a direct message (with Harbour, or
    between people: only `conversations.open` tells which)."""
    return body.get("channel_name") == "directmessage" or str(
        body.get("channel_id") or ""
    ).startswith("D")


def in_a_group_dm(body: dict[str, Any]) -> bool:
    """A conversation between a few people (`mpdm-…`): never the leads' channel."""
    return str(body.get("channel_name") or "").startswith("mpdm-")


REGISTER_WORDS = frozenset({"register safety-leads", "register safety leads"})


def channel_registration(body: dict[str, Any]) -> ChannelRegistered | None:
    """`/report-abuse register safety-leads` typed in a shared channel -> the
    request that it become the safety leads' channel; anything else -> None."""
    channel = str(body.get("channel_id") or "")
    said = " ".join(clean_text(body.get("text") or "").casefold().split())
    if said not in REGISTER_WORDS or not channel or in_a_dm(body) or in_a_group_dm(body):
        return None
    return ChannelRegistered(
        event_id=f"cmd:{body.get('trigger_id') or body.get('command_ts', '')}",
        person=person(body["team_id"], body["user_id"]),
        display_name=body.get("user_name") or None,
        channel=channel,
    )


def command_event(body: dict[str, Any]) -> Command:
    """`/report-abuse mine` -> Command(name='mine'). The trigger id is unique per use.

    People mentioned become Harbour ids, and a #channel its id (as in
    `admin channel slack #safety-leads`)."""
    text = with_person_ids(body.get("text") or "", body.get("team_id", ""))
    text = CHANNEL.sub(lambda m: m[1], text)
    name, _, args = text.strip().partition(" ")
    return Command(
        event_id=f"cmd:{body.get('trigger_id') or body.get('command_ts', '')}",
        person=person(body["team_id"], body["user_id"]),
        display_name=body.get("user_name") or None,
        name=name,
        args=args.strip(),
    )


@dataclass(frozen=True)
class ActionEvent:
    """A translated button press, or the reason it must be refused. No event
    and no reason: nothing to do (a box ticked, before its question is sent)."""

    event: InboundEvent | None
    presser: PersonRef
    refused: str = ""


def _team(body: dict[str, Any]) -> str:
    return (body.get("user") or {}).get("team_id") or (body.get("team") or {}).get("id") or ""


def _state_values(body: dict[str, Any], token: str) -> PageValues:
    """The answers on a form message, by question id (only this form's inputs)."""
    values: PageValues = {}
    prefix = f"q{SEP}{token}{SEP}"
    for block_id, elements in ((body.get("state") or {}).get("values") or {}).items():
        if not block_id.startswith(prefix):
            continue
        question = block_id[len(prefix) :]
        for element in elements.values():
            kind = element.get("type")
            if kind in ("radio_buttons", "static_select"):
                selected = element.get("selected_option")
                values[question] = [selected["value"]] if selected else None
            elif kind in ("checkboxes", "multi_static_select"):
                values[question] = [o["value"] for o in element.get("selected_options") or []]
            elif kind == "plain_text_input":
                values[question] = element.get("value")
    return values


def action_event(body: dict[str, Any]) -> ActionEvent:
    """A block_actions payload -> the core event it means.

    Buttons carry the id of the Slack user they were sent to; a press by
    anyone else is refused (checked against who pressed, not the message).
    """
    action = (body.get("actions") or [{}])[0]
    action_id: str = action.get("action_id", "")
    presser = person(_team(body), (body.get("user") or {}).get("id", ""))
    container = body.get("container") or {}
    event_id = f"act:{container.get('message_ts', '')}:{action.get('action_ts', '')}:{action_id}"
    user = body.get("user") or {}
    common: dict[str, Any] = {
        "event_id": event_id,
        "person": presser,
        "display_name": user.get("name") or user.get("username"),
    }

    if action_id == ACTION_TICK:
        return ActionEvent(None, presser)  # the OK button sends what is ticked then
    if action_id == ACTION_HOME_REPORT:
        return ActionEvent(Command(**common, name="report"), presser)
    if action_id == ACTION_PERSON:
        parts = (action.get("block_id") or "").split(SEP)
        chosen = action.get("selected_user")
        if len(parts) != 4 or not chosen:
            return ActionEvent(None, presser, refused="unreadable")
        _, owner, question, token = parts
        if owner != presser.user:
            return ActionEvent(None, presser, refused="not-yours")
        key = person(presser.workspace, chosen).key
        return ActionEvent(
            ChoiceMade(**common, question=question, values=(key,), token=token), presser
        )
    if action_id == ACTION_SELECT:
        parts = (action.get("block_id") or "").split(SEP)
        selected = (action.get("selected_option") or {}).get("value")
        if len(parts) != 4 or selected is None:
            return ActionEvent(None, presser, refused="unreadable")
        _, owner, question, token = parts
        values: tuple[str, ...] = (selected,)
    else:
        parts = (action.get("value") or "").split(SEP)
        owner = parts[0] if parts else ""
    if owner not in (presser.user, SHARED):
        return ActionEvent(None, presser, refused="not-yours")
    if action_id == ACTION_SELECT:
        return ActionEvent(
            ChoiceMade(**common, question=question, values=values, token=token), presser
        )
    if action_id.startswith(ACTION_CHOICE) and len(parts) == 4:
        _, question, token, value = parts
        return ActionEvent(
            ChoiceMade(**common, question=question, values=(value,), token=token), presser
        )
    if action_id == ACTION_CHOICES and len(parts) == 3:
        _, question, token = parts
        ticked = _state_values(body, token).get(question)
        chosen = tuple(ticked) if isinstance(ticked, list) else ()
        return ActionEvent(
            ChoiceMade(**common, question=question, values=chosen, token=token), presser
        )
    if action_id == ACTION_SUBMIT and len(parts) == 3:
        _, form, token = parts
        return ActionEvent(
            FormSubmitted(**common, form=form, values=_state_values(body, token), token=token),
            presser,
        )
    if action_id.startswith(ACTION_CONTROL + ".") and len(parts) == 2:
        try:
            control = ControlAction(action_id.rsplit(".", 1)[1])
        except ValueError:
            return ActionEvent(None, presser, refused="unreadable")
        # What the page held goes with the control: the core keeps it in the draft.
        page = _state_values(body, parts[1])
        return ActionEvent(
            Control(**common, action=control, token=parts[1], by_page=True, values=page),
            presser,
        )
    return ActionEvent(None, presser, refused="unreadable")


def message_events(body: dict[str, Any]) -> list[InboundEvent]:
    """A direct message to the bot -> events; anything else (bots, edits) -> none."""
    event = body.get("event") or {}
    if (
        event.get("channel_type") != "im"
        or event.get("bot_id")
        or event.get("subtype") not in (None, "file_share")
        or not event.get("user")
    ):
        return []
    who = person(body.get("team_id") or event.get("team") or "", event["user"])
    event_id = body.get("event_id") or f"msg:{event.get('ts', '')}"
    out: list[InboundEvent] = []
    files = [_shared_file(f) for f in event.get("files") or []]
    if files:
        out.append(FilesShared(event_id=f"{event_id}:files", person=who, files=tuple(files)))
    text = with_person_ids(event.get("text") or "", who.workspace)
    if text.strip() or not files:
        out.append(TextMessage(event_id=event_id, person=who, text=text))
    return out


MEDIA_TYPE_MAX = 100
"""The longest media type kept (`SharedFile.media_type`); Slack's are far shorter."""


def _shared_file(described: dict[str, Any]) -> SharedFile:
    """One file of a `file_share` message, as the core is given it before its
    bytes are fetched: its name, its permalink (the pointer kept if the bytes
    can't be had) and what Slack says it is."""
    mimetype = described.get("mimetype")
    return SharedFile(
        name=str(described.get("name") or described.get("title") or "file"),
        url=described.get("permalink") or None,
        media_type=mimetype
        if isinstance(mimetype, str) and mimetype and len(mimetype) <= MEDIA_TYPE_MAX
        else None,
    )


@dataclass(frozen=True)
class FileSource:
    """Where Slack keeps one shared file's bytes, as its message event says."""

    file_id: str
    download_url: str | None
    """`url_private_download` (else `url_private`): fetched with the bot token."""
    details_withheld: bool = False
    """`file_access: check_file_info` (a file from another organisation, in
    Slack Connect): the event leaves its addresses out, and `files.info` has them."""


def file_source(described: dict[str, Any]) -> FileSource:
    return FileSource(
        file_id=str(described.get("id") or ""),
        download_url=described.get("url_private_download") or described.get("url_private") or None,
        details_withheld=described.get("file_access") == "check_file_info",
    )


def file_sources(body: dict[str, Any]) -> list[FileSource]:
    """Where each file of a `file_share` message is, in the order
    `message_events` gives them to the core."""
    return [file_source(f) for f in (body.get("event") or {}).get("files") or []]


def modal_event(body: dict[str, Any]) -> ActionEvent:
    """A submitted form modal (view_submission) -> the page's answers."""
    view = body.get("view") or {}
    presser = person(
        _team(body) or (view.get("team_id") or ""), (body.get("user") or {}).get("id", "")
    )
    parts = (view.get("private_metadata") or "").split(SEP)
    if len(parts) != 3:
        return ActionEvent(None, presser, refused="unreadable")
    owner, form, token = parts
    if owner != presser.user:
        return ActionEvent(None, presser, refused="not-yours")
    values = _state_values({"state": view.get("state") or {}}, token)
    event_id = f"view:{view.get('id', '')}:{view.get('hash', '')}"
    return ActionEvent(
        FormSubmitted(event_id=event_id, person=presser, form=form, values=values, token=token),
        presser,
    )


def form_to_open(body: dict[str, Any]) -> tuple[PersonRef, str, str] | None:
    """An "Answer these questions" press -> (who, the form's token), if theirs."""
    action = (body.get("actions") or [{}])[0]
    presser = person(_team(body), (body.get("user") or {}).get("id", ""))
    parts = (action.get("value") or "").split(SEP)
    if len(parts) != 3 or parts[0] != presser.user:
        return None
    return presser, parts[2], str(body.get("trigger_id") or "")
