"""Core replies -> Adaptive Cards (schema 1.5) for Teams.

All the replies to one event become one card (Teams reviewers count separate
bot messages sent in a burst as spam). A form page is one card: an input per
question, with its label, and at most five buttons (Teams shows six). Text a
person typed is only ever shown through `TextRun`s, which Teams does not read
as Markdown, so a report cannot smuggle in links or formatting.
"""

from __future__ import annotations

import base64
from collections.abc import Sequence
from typing import Any

from bot.models import (
    ChoiceQuestion,
    Confirmation,
    ControlAction,
    FileReply,
    Form,
    Notice,
    NoticeLevel,
    PersonQuestion,
    Refresh,
    Reply,
    Shown,
    SummaryCard,
    Text,
    TextQuestion,
)

CARD_CONTENT_TYPE = "application/vnd.microsoft.card.adaptive"
FILE_CONSENT_TYPE = "application/vnd.microsoft.teams.card.file.consent"
FILE_INFO_TYPE = "application/vnd.microsoft.teams.card.file.info"
FILE_KEY = "hbFile"
"""The consent card's accept and decline contexts carry `{"hbFile": <token>}`,
the key of the waiting file (`bot.privacy.rights.WaitingFile`)."""
DESCRIPTION_LIMIT = 1000
VERSION = "1.5"
ALT_TEXT_LIMIT = 300
MAX_ACTIONS = 6
FEW_BUTTONS = 6
KEY = "hb"
"""Every action Harbour puts on a card carries `{"hb": {...}}` in its data."""
VERB = "hb"

STYLES = {
    NoticeLevel.INFO: "emphasis",
    NoticeLevel.SUCCESS: "good",
    NoticeLevel.WARNING: "warning",
    NoticeLevel.ERROR: "attention",
    NoticeLevel.DANGER: "attention",
}


def plain(text: str, **style: Any) -> dict[str, Any]:
    """Text shown exactly as written: no Markdown, no links."""
    return {"type": "RichTextBlock", "inlines": [{"type": "TextRun", "text": text, **style}]}


def heading(text: str, size: str = "Medium") -> dict[str, Any]:
    return plain(text, size=size, weight="Bolder")


def _choice_input(question: ChoiceQuestion) -> dict[str, Any]:
    element: dict[str, Any] = {
        "type": "Input.ChoiceSet",
        "id": question.id,
        "label": question.prompt,
        "style": "expanded" if len(question.options) <= 10 else "compact",
        "wrap": True,
        "choices": [{"title": o.label, "value": o.value} for o in question.options],
    }
    if question.multiple:
        element["isMultiSelect"] = True
    if question.value:
        element["value"] = ",".join(question.value)
    return element


def _text_input(question: TextQuestion) -> dict[str, Any]:
    element: dict[str, Any] = {
        "type": "Input.Text",
        "id": question.id,
        "label": question.prompt,
        "maxLength": question.max_length,
    }
    if question.multiline:
        element["isMultiline"] = True
    if question.hint:
        element["placeholder"] = question.hint
    if question.value:
        element["value"] = question.value
    return element


def _execute(
    title: str, data: dict[str, Any], *, style: str | None = None, inputs: bool = False
) -> dict[str, Any]:
    """An Action.Execute: Teams sends it as an `adaptiveCard/action` invoke, and
    the card in our invoke response replaces the pressed one for that person,
    so an answered card loses its buttons without another call to Teams."""
    action: dict[str, Any] = {
        "type": "Action.Execute",
        "verb": VERB,
        "title": title,
        "data": {KEY: data},
    }
    if style:
        action["style"] = style
    if not inputs:
        action["associatedInputs"] = "none"
    return action


def _form(form: Form, owner: str) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """A form page. Every button sends the page's inputs, so Pause, Help, Back
    and Cancel keep what was typed or ticked. No input is `isRequired`: Teams
    would then refuse to send any button until it was answered (Pause too);
    the core refuses a missing required answer on Next itself, keeping the rest."""
    body = [heading(form.title), plain(form.progress, isSubtle=True)]
    if form.intro:
        body.append(plain(form.intro))
    multi = []
    for question in form.questions:
        if isinstance(question, ChoiceQuestion):
            body.append(_choice_input(question))
            if question.multiple:
                multi.append(question.id)
        else:
            body.append(_text_input(question))
    actions = [
        _execute(
            form.submit_label,
            {
                "kind": "submit",
                "form": form.id,
                "title": form.title,  # kept on the answered card that replaces this one
                "token": form.token,
                "owner": owner,
                "multi": multi,
            },
            style="positive",
            inputs=True,
        )
    ]
    for control in form.controls:
        if control is not ControlAction.SKIP:  # skipping is leaving optional answers empty
            actions.append(
                _execute(
                    control.label,
                    {
                        "kind": "control",
                        "action": control.value,
                        "token": form.token,
                        "owner": owner,
                        "multi": multi,
                    },
                    inputs=True,
                )
            )
    return body, actions[:MAX_ACTIONS]


def _choice(
    question: ChoiceQuestion, owner: str
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    body = [plain(question.prompt, weight="Bolder")]
    base: dict[str, Any] = {
        "kind": "choice",
        "question": question.id,
        "token": question.token,
        "owner": owner,
        "title": question.prompt[:120],
    }
    if question.multiple:
        base["multi"] = True  # its values come back comma-joined
    if len(question.options) <= FEW_BUTTONS and not question.multiple:
        actions = [
            _execute(o.label, {**base, "value": o.value}, style="positive" if n == 0 else None)
            for n, o in enumerate(question.options)
        ]
        return body, actions
    body.append(_choice_input(question.model_copy(update={"prompt": "Choose"})))
    return body, [_execute("OK", {**base, "input": question.id}, style="positive", inputs=True)]


def _confirmation(
    confirm: Confirmation, owner: str
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    base = {
        "kind": "choice",
        "question": confirm.id,
        "token": confirm.token,
        "owner": owner,
        "title": confirm.prompt[:120],
    }
    return [plain(confirm.prompt, weight="Bolder")], [
        _execute(
            confirm.confirm_label,
            {**base, "value": "yes"},
            style="destructive" if confirm.danger else "positive",
        ),
        _execute(confirm.deny_label, {**base, "value": "no"}),
    ]


def _summary(card: SummaryCard) -> list[dict[str, Any]]:
    body: list[dict[str, Any]] = [heading(card.title)]
    for field in card.fields:
        body.append(
            {
                "type": "Container",
                "spacing": "Small",
                "items": [plain(field.label, weight="Bolder"), plain(field.value)],
            }
        )
    if card.footer:
        body.append(plain(card.footer, isSubtle=True))
    return body


def _notice(notice: Notice) -> dict[str, Any]:
    items = [heading(notice.title, size="Default")] if notice.title else []
    items.append(
        plain(notice.text, weight="Bolder" if notice.level is NoticeLevel.DANGER else "Default")
    )
    return {"type": "Container", "style": STYLES[notice.level], "items": items}


def reply_parts(reply: Reply, owner: str) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """One reply as card body elements and card actions."""
    if isinstance(reply, Refresh):  # where the pressed card is not replaced: shown as new
        body: list[dict[str, Any]] = []
        actions: list[dict[str, Any]] = []
        for shown in reply.replies:
            b, a = reply_parts(shown, owner)
            body += b
            actions += a
        return body, actions
    if isinstance(reply, Text):
        return [plain(reply.text)], []
    if isinstance(reply, Notice):
        return [_notice(reply)], []
    if isinstance(reply, Form):
        return _form(reply, owner)
    if isinstance(reply, ChoiceQuestion):
        return _choice(reply, owner)
    if isinstance(reply, TextQuestion):
        return [
            plain(reply.prompt, weight="Bolder"),
            plain("Type your answer as a message.", isSubtle=True),
        ], []
    if isinstance(reply, Confirmation):
        return _confirmation(reply, owner)
    if isinstance(reply, PersonQuestion):
        picker = {
            "type": "Input.ChoiceSet",
            "id": reply.id,
            "label": reply.prompt,
            "isRequired": True,
            "errorMessage": "Please choose a person.",
            "choices": [],
            # Teams' people picker: searches the organisation's directory as you type.
            "choices.data": {"type": "Data.Query", "dataset": "graph.microsoft.com/users"},
        }
        data = {"kind": "person", "question": reply.id, "token": reply.token, "owner": owner}
        return [picker], [_execute("OK", data, style="positive", inputs=True)]
    if isinstance(reply, SummaryCard):
        return _summary(reply), []
    if isinstance(reply, FileReply):
        # Where a file is not offered with its consent card (`file_consent`): what it is.
        return [plain(reply.caption), plain(f"📎 {reply.name}", isSubtle=True)], []
    raise TypeError(f"no Adaptive Card rendering for {type(reply).__name__}")


class Card(dict[str, Any]):
    """A rendered card. Nothing changes a card once it is built, so a copy of one
    is the card itself: the SDK deep-copies every activity it sends, and copying
    a form page's nested dicts and lists cost about 0.1 ms per card action."""

    def __deepcopy__(self, memo: dict[int, Any]) -> Card:
        return self


def card(body: list[dict[str, Any]], actions: list[dict[str, Any]] | None = None) -> Card:
    # Only what differs from the schema's defaults (and no "$schema", which only
    # editors read): the SDK serialises every value twice on the way out.
    content = Card({"type": "AdaptiveCard", "version": VERSION, "body": body})
    if actions:
        content["actions"] = actions
    return content


def cards(replies: Sequence[Reply], owner: str) -> list[dict[str, Any]]:
    """All the replies to one event as few cards as possible: one, unless two
    replies each need their own buttons."""
    out: list[dict[str, Any]] = []
    body: list[dict[str, Any]] = []
    actions: list[dict[str, Any]] = []
    for reply in replies:
        part_body, part_actions = reply_parts(reply, owner)
        if part_actions and actions:
            out.append(card(body, actions))
            body, actions = [], []
        body.extend(part_body)
        actions.extend(part_actions)
    if body:
        out.append(card(body, actions))
    return out


def split_refresh(replies: Sequence[Reply]) -> tuple[list[Shown], list[Reply]]:
    """(what replaces the card the person pressed, the replies sent as new
    messages). Empty first when the core asked for no refresh."""
    shown: list[Shown] = []
    rest: list[Reply] = []
    for reply in replies:
        if isinstance(reply, Refresh):
            shown.extend(reply.replies)
        else:
            rest.append(reply)
    return shown, rest


def refreshed(replies: Sequence[Shown], owner: str) -> Card:
    """A Refresh as the one card an Action.Execute's invoke response holds: it
    replaces the pressed card for the person who pressed (a manager's alert now
    shows the case's status and the actions still open to her)."""
    body: list[dict[str, Any]] = []
    actions: list[dict[str, Any]] = []
    for reply in replies:
        part_body, part_actions = reply_parts(reply, owner)
        body.extend(part_body)
        actions.extend(part_actions)
    return card(body, actions[:MAX_ACTIONS])


def answered(title: str, note: str = "Received") -> Card:
    """What a pressed card turns into: its heading and a tick, no buttons."""
    body = [heading(title, size="Default")] if title else []
    body.append(plain(f"✓ {note}", isSubtle=True))
    return card(body)


def invite(text: str, chat_url: str | None) -> dict[str, Any]:
    """A short card for a team channel or group chat: reports happen in private."""
    actions = [{"type": "Action.OpenUrl", "title": "Open my private chat", "url": chat_url}]
    return card([plain(text)], actions if chat_url else None)


def is_interactive(content: dict[str, Any]) -> bool:
    return bool(content.get("actions"))


INLINE_IMAGE_BYTES = 60_000
"""An image up to this size is shown in the chat itself, as an Adaptive Card
image with a data URI, instead of being offered as a file: Teams caps a bot's
message at about 100 KB (PLATFORM-NOTES-2 §6), and base64 adds a third."""
INLINE_IMAGE_TYPES = frozenset({"image/png", "image/jpeg", "image/gif"})


def shown_inline(file: FileReply) -> bool:
    """Whether a file is a small picture shown in the chat (a chart), not
    offered with a consent card (a document, a large screenshot)."""
    return file.media_type in INLINE_IMAGE_TYPES and file.size <= INLINE_IMAGE_BYTES


def image_card(file: FileReply) -> Card:
    """A small picture, with its caption, in a card of its own."""
    data = base64.b64encode(file.content).decode("ascii")
    picture = {
        "type": "Image",
        "url": f"data:{file.media_type};base64,{data}",
        "altText": file.caption[:ALT_TEXT_LIMIT],
    }
    return card([plain(file.caption), picture], [])


def file_consent(file: FileReply, token: str) -> dict[str, Any]:
    """The attachment that asks her to accept a file (Teams lets a bot send a
    file in a personal chat only once she has): its name, size and caption;
    her answer comes back as a `fileConsent/invoke` carrying `token`."""
    context = {FILE_KEY: token}
    return {
        "contentType": FILE_CONSENT_TYPE,
        "name": file.name,
        "content": {
            "description": file.caption[:DESCRIPTION_LIMIT],
            "sizeInBytes": file.size,
            "acceptContext": context,
            "declineContext": context,
        },
    }


def file_info(name: str, content_url: str, unique_id: str, file_type: str) -> dict[str, Any]:
    """The attachment that shows a file now in her OneDrive (after she accepted
    it and it was uploaded), as Teams' own file card."""
    return {
        "contentType": FILE_INFO_TYPE,
        "name": name,
        "contentUrl": content_url,
        "content": {"uniqueId": unique_id, "fileType": file_type},
    }
