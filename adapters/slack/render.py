"""Core replies -> Block Kit, with slack_sdk's models (they enforce Slack's limits).

A form page is one DM message with an input block per question and a row of
buttons (Next, Back, Pause, Cancel, Help): clicking a button sends the whole
page's state, so a page is answered in one go.

Nothing anyone wrote is read as markup. Slack's formatting docs give an escape
for only three characters, `&`, `<` and `>` (as `&amp;`, `&lt;`, `&gt;`), and
none for `*`, `_`, `~` or a backtick. So every text that can carry someone's
words (a `Text`, a notice's text, a question's or confirmation's prompt, a
form's intro, a summary's values and footer) goes in `plain_text`, where Slack
parses nothing: no formatting, no mentions, no links, and the text stays as
written (no invisible characters slipped in). mrkdwn is kept only for Harbour's
own bold labels and titles (`_label`): escaped, so `<!channel>`, `<@U123>` or a
crafted `<url|label>` can neither ping anyone nor become a link, and shown in
`plain_text` instead (not bold) when they hold a formatting character.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from typing import Any

from slack_sdk.models.blocks import (
    ActionsBlock,
    Block,
    ButtonElement,
    CheckboxesElement,
    ConfirmObject,
    ContextBlock,
    HeaderBlock,
    InputBlock,
    MarkdownTextObject,
    PlainTextInputElement,
    PlainTextObject,
    RadioButtonsElement,
    SectionBlock,
    StaticMultiSelectElement,
    StaticSelectElement,
    TextObject,
    UserSelectElement,
)
from slack_sdk.models.blocks import (
    Option as SlackOption,
)

from bot.cases import CLAIM, STATUS_WORDS
from bot.models import (
    ChoiceQuestion,
    Confirmation,
    ControlAction,
    FileReply,
    Form,
    Notice,
    NoticeLevel,
    Option,
    PersonQuestion,
    Refresh,
    Reply,
    SummaryCard,
    Text,
    TextQuestion,
)
from bot.reports import ReportStatus

MAX_BLOCKS = 50  # per message
SECTION_LIMIT = 3000
CHUNK = 2900  # leaves room for a label line and the "continued" note
INPUT_LIMIT = 3000  # plain_text_input max_length
OPTION_TEXT = 75
HEADER_TEXT = 150
FEW_BUTTONS = 6
FEW_CHECKS = 10

SEP = "|"
"""Separates the parts packed into a button value or block id."""

ACTION_CHOICE = "hb.choice"
ACTION_SELECT = "hb.select"
ACTION_CHOICES = "hb.choices"
"""The button that sends what is ticked in a question of several choices."""
ACTION_TICK = "hb.tick"
"""A tick box or a multi-select menu of several choices: Slack reports every
change, and only the button (`ACTION_CHOICES`) answers."""
ACTION_SUBMIT = "hb.submit"
ACTION_CONTROL = "hb.control"
ACTION_INPUT = "hb.input"
ACTION_HOME_REPORT = "hb.home.report"
ACTION_PERSON = "hb.person"
ACTION_OPEN = "hb.open"
MODAL_CALLBACK = "hb.form"

ICONS = {
    NoticeLevel.INFO: ":information_source:",
    NoticeLevel.SUCCESS: ":white_check_mark:",
    NoticeLevel.WARNING: ":warning:",
    NoticeLevel.ERROR: ":x:",
    NoticeLevel.DANGER: ":rotating_light:",
}


def escape(text: str) -> str:
    """Make user text inert in mrkdwn: no mentions, no links, no entities.

    These are the only characters Slack defines an escape for; formatting
    characters (`*`, `_`, `~`, a backtick) have none, and other entities are
    shown as typed. Text that must not be formatted either goes in `plain_text`
    (`_plain_sections`)."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


FORMATTING = re.compile(r"[*_~`]")
"""mrkdwn's formatting characters, which have no escape."""


def _label(text: str, prefix: str = "") -> TextObject:
    """Harbour's label or title in bold, after `prefix` (an emoji name). A label
    holding a formatting character goes in `plain_text` instead: not bold, but
    shown as written rather than half-formatted."""
    text = _clip(text, SECTION_LIMIT - len(prefix))
    bold = f"{prefix}*{escape(text)}*"
    if FORMATTING.search(text) or len(bold) > SECTION_LIMIT:
        return PlainTextObject(text=prefix + text, emoji=True)
    return MarkdownTextObject(text=bold)


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


ACCESSIBILITY_LIMIT = 75
"""Slack's limit on a button's `accessibility_label`."""
CONTROL_SPOKEN = {
    ControlAction.BACK: "Back: go to the previous page, answers kept",
    ControlAction.SKIP: "Skip this optional question",
    ControlAction.PAUSE: "Pause: keep this draft and finish it later",
    ControlAction.CANCEL: "Cancel: discard this draft (I ask first)",
    ControlAction.HELP: "Help: what you can say and do here",
}
"""What a screen reader says for each page control: the word on the button and
what pressing it does."""


def _spoken(label: str, about: str) -> str:
    """A button's accessibility label: its own words, then what it answers, so a
    screen reader user hears more than "OK" or "Yes" out of context."""
    return _clip(f"{label}: {about}" if about else label, ACCESSIBILITY_LIMIT)


def _chunks(text: str, size: int = CHUNK) -> list[str]:
    """Split long text at line or word boundaries into pieces Slack accepts."""
    pieces: list[str] = []
    while len(text) > size:
        cut = text.rfind("\n", 0, size)
        if cut < size // 2:
            cut = text.rfind(" ", 0, size)
        if cut < size // 2:
            cut = size
        pieces.append(text[:cut])
        text = text[cut:].lstrip()
    pieces.append(text)
    return pieces


def _plain_sections(text: str) -> list[Block]:
    """Prose as written, in `plain_text` sections: Slack reads no formatting,
    mention or link in it (`:emoji:` names still show as emoji)."""
    return [SectionBlock(text=PlainTextObject(text=p, emoji=True)) for p in _chunks(text)]


def pack(*parts: str) -> str:
    return SEP.join(parts)


def _option(option: Option) -> SlackOption:
    return SlackOption(
        value=option.value,
        text=PlainTextObject(text=_clip(option.label, OPTION_TEXT)),
        description=PlainTextObject(text=_clip(option.description, OPTION_TEXT))
        if option.description
        else None,
    )


def _choice_input(question: ChoiceQuestion) -> Any:
    options = [_option(o) for o in question.options]
    chosen = [o for o in options if o.value in question.value]
    if question.multiple:
        if len(options) <= FEW_CHECKS:
            return CheckboxesElement(
                action_id=ACTION_INPUT, options=options, initial_options=chosen or None
            )
        return StaticMultiSelectElement(
            action_id=ACTION_INPUT,
            placeholder="Choose one or more",
            options=options,
            initial_options=chosen or None,
        )
    if len(options) <= FEW_CHECKS:
        return RadioButtonsElement(
            action_id=ACTION_INPUT, options=options, initial_option=chosen[0] if chosen else None
        )
    return StaticSelectElement(
        action_id=ACTION_INPUT,
        placeholder="Choose one",
        options=options,
        initial_option=chosen[0] if chosen else None,
    )


def _text_input(question: TextQuestion) -> PlainTextInputElement:
    return PlainTextInputElement(
        action_id=ACTION_INPUT,
        multiline=question.multiline,
        max_length=min(question.max_length, INPUT_LIMIT),
        initial_value=question.value[:INPUT_LIMIT] or None,
    )


def _form_head(form: Form) -> list[Block]:
    blocks: list[Block] = [
        HeaderBlock(text=PlainTextObject(text=_clip(form.title, HEADER_TEXT))),
        ContextBlock(elements=[PlainTextObject(text=form.progress or " ")]),
    ]
    if form.intro:
        blocks += _plain_sections(form.intro)
    return blocks


def _form_inputs(form: Form) -> list[Block]:
    blocks: list[Block] = []
    for question in form.questions:
        element = (
            _choice_input(question)
            if isinstance(question, ChoiceQuestion)
            else _text_input(question)
        )
        hint = question.hint
        if isinstance(question, TextQuestion) and question.max_length > INPUT_LIMIT:
            hint = (hint + " · " if hint else "") + (
                f"longer than {INPUT_LIMIT:,} characters? type it as a message here instead"
            )
        blocks.append(
            InputBlock(
                block_id=pack("q", form.token, question.id),
                label=PlainTextObject(text=_clip(question.prompt, 2000)),
                element=element,
                hint=PlainTextObject(text=_clip(hint, 2000)) if hint else None,
                optional=not question.required,
            )
        )
    return blocks


def _form_buttons(form: Form, owner: str, *, in_modal: bool) -> ActionsBlock:
    first = (
        ButtonElement(
            text="Answer these questions",
            action_id=ACTION_OPEN,
            value=pack(owner, form.id, form.token),
            style="primary",
            accessibility_label=_spoken("Answer these questions", f"opens “{form.title}”"),
        )
        if in_modal
        else ButtonElement(
            text=form.submit_label,
            action_id=ACTION_SUBMIT,
            value=pack(owner, form.id, form.token),
            style="primary",
            accessibility_label=_spoken(form.submit_label, f"send your answers to “{form.title}”"),
        )
    )
    buttons = [first]
    for control in form.controls:
        if control is ControlAction.SKIP:
            continue  # on a whole-page form, leaving optional answers empty is skipping
        buttons.append(
            ButtonElement(
                text=control.label,
                action_id=f"{ACTION_CONTROL}.{control.value}",
                value=pack(owner, form.token),
                accessibility_label=CONTROL_SPOKEN[control],
            )
        )
    return ActionsBlock(block_id=pack("a", form.token), elements=buttons)


def form_blocks(form: Form, owner: str) -> list[Block]:
    """A page as one message: its questions as inputs, and the page's buttons."""
    return [*_form_head(form), *_form_inputs(form), _form_buttons(form, owner, in_modal=False)]


def form_launcher_blocks(form: Form, owner: str) -> list[Block]:
    """A page as a message whose button opens it in a modal (for workspaces where
    messages can't hold inputs): the questions are listed, answered in the modal."""
    asked = "\n".join(f"• {q.prompt}" for q in form.questions)
    return [*_form_head(form), *_plain_sections(asked), _form_buttons(form, owner, in_modal=True)]


def form_modal(form: Form, owner: str) -> dict[str, Any]:
    """The page's inputs in a modal; submitting it answers the page."""
    blocks = [*_form_head(form)[2:], *_form_inputs(form)] or _plain_sections(form.title)
    return {
        "type": "modal",
        "callback_id": MODAL_CALLBACK,
        "private_metadata": pack(owner, form.id, form.token),
        "title": {"type": "plain_text", "text": _clip(form.title, 24)},
        "submit": {"type": "plain_text", "text": _clip(form.submit_label, 24)},
        "close": {"type": "plain_text", "text": "Not now"},
        "blocks": [b.to_dict() for b in blocks[:100]],
    }


def _several_choices(question: ChoiceQuestion, owner: str) -> list[Block]:
    """Tick boxes (a multi-select menu when there are many options) and a button
    that sends what is ticked. The boxes sit in an actions block whose id is that
    of a form's input (`q|token|question`): a press carries what they hold in
    `state.values`, read as a page's answers are."""
    options = [_option(o) for o in question.options]
    chosen = [o for o in options if o.value in question.value] or None
    ticks: CheckboxesElement | StaticMultiSelectElement = (
        CheckboxesElement(action_id=ACTION_TICK, options=options, initial_options=chosen)
        if len(options) <= FEW_CHECKS
        else StaticMultiSelectElement(
            action_id=ACTION_TICK,
            placeholder="Choose one or more",
            options=options,
            initial_options=chosen,
        )
    )
    send = ButtonElement(
        text="OK",
        action_id=ACTION_CHOICES,
        value=pack(owner, question.id, question.token),
        style="primary",
        accessibility_label=_spoken("OK", f"send what you ticked for “{question.prompt}”"),
    )
    return [
        ActionsBlock(block_id=pack("q", question.token, question.id), elements=[ticks]),
        ActionsBlock(block_id=pack("m", question.token), elements=[send]),
    ]


def _choice_blocks(question: ChoiceQuestion, owner: str) -> list[Block]:
    blocks = _plain_sections(question.prompt)
    if question.multiple:
        return [*blocks, *_several_choices(question, owner)]
    if len(question.options) <= FEW_BUTTONS:
        buttons = [
            ButtonElement(
                text=_clip(o.label, OPTION_TEXT),
                action_id=f"{ACTION_CHOICE}.{n}",
                value=pack(owner, question.id, question.token, o.value),
                style="primary" if n == 0 else None,
                accessibility_label=_spoken(o.label, f"your answer to “{question.prompt}”"),
            )
            for n, o in enumerate(question.options)
        ]
        blocks.append(ActionsBlock(block_id=pack("c", question.token), elements=buttons))
    else:
        select = StaticSelectElement(
            action_id=ACTION_SELECT,
            placeholder="Choose one",
            options=[_option(o) for o in question.options],
        )
        blocks.append(
            ActionsBlock(block_id=pack("s", owner, question.id, question.token), elements=[select])
        )
    return blocks


def _confirmation_blocks(confirm: Confirmation, owner: str) -> list[Block]:
    dialog = (
        ConfirmObject(
            title="Are you sure?",
            text=PlainTextObject(text=_clip(confirm.prompt, 300), emoji=True),
            confirm=_clip(confirm.confirm_label, 30),
            deny="Go back",
            style="danger",
        )
        if confirm.danger
        else None
    )
    buttons = [
        ButtonElement(
            text=_clip(confirm.confirm_label, OPTION_TEXT),
            action_id=f"{ACTION_CHOICE}.yes",
            value=pack(owner, confirm.id, confirm.token, "yes"),
            style="danger" if confirm.danger else "primary",
            confirm=dialog,
            accessibility_label=_spoken(confirm.confirm_label, confirm.prompt),
        ),
        ButtonElement(
            text=_clip(confirm.deny_label, OPTION_TEXT),
            action_id=f"{ACTION_CHOICE}.no",
            value=pack(owner, confirm.id, confirm.token, "no"),
            accessibility_label=_spoken(confirm.deny_label, confirm.prompt),
        ),
    ]
    return [
        *_plain_sections(confirm.prompt),
        ActionsBlock(block_id=pack("c", confirm.token), elements=buttons),
    ]


def _summary_blocks(card: SummaryCard) -> list[Block]:
    """Each field's label in bold (`_label`), then its value as written: a value
    can be the worker's own words, so it is `plain_text`, as is the footer."""
    blocks: list[Block] = [HeaderBlock(text=PlainTextObject(text=_clip(card.title, HEADER_TEXT)))]
    for field in card.fields:
        if field.label:
            blocks.append(SectionBlock(text=_label(field.label)))
        if field.value:
            blocks += _plain_sections(field.value)
    if card.footer:
        blocks.append(
            ContextBlock(elements=[PlainTextObject(text=_clip(card.footer, 3000), emoji=True)])
        )
    return blocks


def _notice_blocks(notice: Notice) -> list[Block]:
    """The icon and the title in bold (Harbour's words, escaped), then the text as
    written (it can quote or name a person: never read as mrkdwn)."""
    icon = ICONS[notice.level]
    if not notice.title:
        return _plain_sections(f"{icon} {notice.text}")
    head = SectionBlock(text=_label(_clip(notice.title, HEADER_TEXT), f"{icon} "))
    return [head, *_plain_sections(notice.text)] if notice.text else [head]


def reply_blocks(reply: Reply, owner: str) -> list[Block]:
    """One core reply as blocks. `owner` is the Slack user the buttons belong to."""
    if isinstance(reply, Refresh):  # where the pressed message is not edited: shown as new
        return [b for shown in reply.replies for b in reply_blocks(shown, owner)]
    if isinstance(reply, Text):
        return _plain_sections(reply.text)
    if isinstance(reply, Notice):
        return _notice_blocks(reply)
    if isinstance(reply, Form):
        return form_blocks(reply, owner)
    if isinstance(reply, ChoiceQuestion):
        return _choice_blocks(reply, owner)
    if isinstance(reply, TextQuestion):
        return [
            *_plain_sections(reply.prompt),
            ContextBlock(elements=[PlainTextObject(text="Type your answer as a message here.")]),
        ]
    if isinstance(reply, Confirmation):
        return _confirmation_blocks(reply, owner)
    if isinstance(reply, PersonQuestion):
        picker = UserSelectElement(action_id=ACTION_PERSON, placeholder="Choose a person")
        return [
            *_plain_sections(reply.prompt),
            ActionsBlock(block_id=pack("p", owner, reply.id, reply.token), elements=[picker]),
        ]
    if isinstance(reply, SummaryCard):
        return _summary_blocks(reply)
    if isinstance(reply, FileReply):
        return file_blocks(reply)
    raise TypeError(f"no Block Kit rendering for {type(reply).__name__}")


def file_blocks(file: FileReply) -> list[Block]:
    """A file as a message says it, where it is not uploaded with it (the app
    sends files with `files_upload_v2`): its caption, and its name and size."""
    return [
        *_plain_sections(file.caption),
        ContextBlock(elements=[PlainTextObject(text=f"📎 {file.name} · {size_words(file.size)}")]),
    ]


def size_words(size: int) -> str:
    """A file's size as people read it."""
    if size < 1024:
        return f"{size} bytes"
    if size < 1024 * 1024:
        return f"{size / 1024:.0f} KB"
    return f"{size / (1024 * 1024):.1f} MB"


def messages(
    replies: Sequence[Reply], owner: str, *, forms_in_modals: bool = False
) -> list[list[dict[str, Any]]]:
    """All the replies to one event, in as few messages as Slack allows."""
    out: list[list[dict[str, Any]]] = [[]]
    for reply in replies:
        parts = (
            form_launcher_blocks(reply, owner)
            if forms_in_modals and isinstance(reply, Form)
            else reply_blocks(reply, owner)
        )
        blocks = [b.to_dict() for b in parts]
        if out[-1] and len(out[-1]) + len(blocks) > MAX_BLOCKS:
            out.append([])
        while len(blocks) > MAX_BLOCKS:  # one huge summary: split it over messages
            out[-1].extend(blocks[:MAX_BLOCKS])
            blocks = blocks[MAX_BLOCKS:]
            out.append([])
        out[-1].extend(blocks)
    return [m for m in out if m]


REFERENCE = re.compile(r"\bHB-\d{4}-\d+\b")
CASE_TITLE = re.compile(r"^(HB-\d{4}-\d+) · (\w+) risk$")
"""A case's card for the safety leads (`bot.cases.channel_card`): reference and risk."""


def fallback_text(replies: Sequence[Reply]) -> str:
    """What a notification says (Slack's `text`, the summary of a Teams card):
    what the message is, never what is in it. It shows on lock screens and in
    channel previews, so it is built only from words Harbour wrote itself: a
    notice's title, a case's reference and risk, a case's status, a page's
    title. Never a notice's text (it can name the worker or quote her: only a
    case reference is taken from it), a field's value, a link or a name.

    Slack reads a message's `text` as mrkdwn (a `<!channel>` in it would notify
    the channel), so it is escaped like any other text, within the same length."""
    said = escape(_what_it_is(replies))
    if len(said) <= HEADER_TEXT:
        return said
    return ENTITY_CUT.sub("", said[: HEADER_TEXT - 1]) + "…"


ENTITY_CUT = re.compile(r"&[a-z]*$")
"""An entity cut short by clipping (`&am`): dropped rather than shown."""


def _what_it_is(replies: Sequence[Reply]) -> str:
    titled = next((r for r in replies if isinstance(r, Notice) and r.title), None)
    urgent = any(isinstance(r, Notice) and r.level is NoticeLevel.DANGER for r in replies)
    case = _case(replies)
    # Only on the leads' card (a manager's own buttons may include Claim too).
    ask = ": can a safety lead claim it?" if case.endswith(" risk)") and _claims(replies) else ""
    if titled is not None:
        said = titled.title
        if case and not REFERENCE.search(said):
            said = f"{said}: {case}"
        return _clip(said + ask, HEADER_TEXT)
    status = _status(replies)
    if ask and status and not status.startswith(STATUS_WORDS[ReportStatus.OPEN]):
        return _clip(f"{case}: {status}{ask}", HEADER_TEXT)  # moved on, still unclaimed
    if ask:
        lead = "Urgent: " if urgent else "New case " if isinstance(replies[0], SummaryCard) else ""
        return _clip(f"{lead}{case}{ask}", HEADER_TEXT)
    if case:
        return _clip(
            f"{case}: {status}"
            if status
            else f"{'Urgent' if urgent else 'Harbour'}: an update about {case}",
            HEADER_TEXT,
        )
    mentioned = next(
        (
            found[0]
            for r in replies
            if isinstance(r, Notice) and (found := REFERENCE.search(r.text))
        ),
        "",
    )
    if mentioned:  # only the reference is taken from a notice's text
        return f"{'Urgent' if urgent else 'Harbour'}: an update about {mentioned}"
    if urgent:
        return "Harbour: urgent safety information"
    form = next((r for r in replies if isinstance(r, Form)), None)
    if form is not None:
        return _clip(f"Harbour: {form.title}", HEADER_TEXT)
    if any(isinstance(r, FileReply) for r in replies):
        return "Harbour has sent you a file"
    return "Harbour has replied"


def _claims(replies: Sequence[Reply]) -> bool:
    return any(
        isinstance(r, ChoiceQuestion) and any(o.value == CLAIM.value for o in r.options)
        for r in replies
    )


def _case(replies: Sequence[Reply]) -> str:
    """The case the replies are about, as "HB-… (high risk)" from the leads'
    card, or the reference in the title of a case's card; else ""."""
    for reply in replies:
        if isinstance(reply, SummaryCard):
            card = CASE_TITLE.match(reply.title)
            if card:
                return f"{card[1]} ({card[2]} risk)"
    for reply in replies:
        if isinstance(reply, SummaryCard) and (found := REFERENCE.match(reply.title)):
            return found[0]
    return ""


def _status(replies: Sequence[Reply]) -> str:
    """The status on the leads' card, when it is one of Harbour's own words."""
    for reply in replies:
        if isinstance(reply, SummaryCard) and CASE_TITLE.match(reply.title):
            for field in reply.fields:
                if field.label == "Status" and field.value.split(" · ")[0] in STATUS_WORDS.values():
                    return field.value
    return ""


def has_inputs(blocks: Iterable[dict[str, Any]]) -> bool:
    return any(b.get("type") == "input" for b in blocks)


def is_interactive(blocks: Iterable[dict[str, Any]]) -> bool:
    return any(b.get("type") in ("actions", "input") for b in blocks)


def answered(blocks: Sequence[dict[str, Any]], note: str = "Answered") -> list[dict[str, Any]]:
    """The same message with its inputs and buttons taken away, so an answered
    question cannot be answered again."""
    kept = [b for b in blocks if b.get("type") not in ("actions", "input")]
    kept.append(
        ContextBlock(elements=[MarkdownTextObject(text=f":heavy_check_mark: {note}")]).to_dict()
    )
    return kept[-MAX_BLOCKS:]


def home_blocks(card: SummaryCard | Text, command: str) -> list[dict[str, Any]]:
    """The App Home tab: a way to start a report, and the person's own reports."""
    blocks: list[Block] = [
        HeaderBlock(text="Harbour"),
        SectionBlock(
            text=MarkdownTextObject(
                text="If you're being abused or harassed online because of your work, you can "
                "report it here, privately. Only you and the people you choose will see it."
            )
        ),
        ActionsBlock(
            block_id="home",
            elements=[
                ButtonElement(
                    text="Start a report",
                    action_id=ACTION_HOME_REPORT,
                    value="report",
                    style="primary",
                    accessibility_label="Start a private report in your messages with Harbour",
                )
            ],
        ),
        *reply_blocks(card, ""),
        ContextBlock(
            elements=[
                MarkdownTextObject(
                    text=f"In any channel or DM: `{command} help`. If anyone is in immediate "
                    "danger, call the emergency services first."
                )
            ]
        ),
    ]
    return [b.to_dict() for b in blocks[:100]]
