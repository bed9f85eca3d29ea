"""The core vocabulary: who is talking, what they sent, and what Harbour answers.

Adapters translate a platform payload into one `InboundEvent` and render each
`Reply` natively (Block Kit, an Adaptive Card, terminal text). Nothing in here
knows which platform it is on; a capability one platform lacks is a reply type
that each renderer degrades on its own.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field


class Platform(StrEnum):
    SLACK = "slack"
    TEAMS = "teams"
    CONSOLE = "console"


class PersonRef(BaseModel):
    """A person on one platform: enough to find them again, nothing more."""

    model_config = ConfigDict(frozen=True)

    platform: Platform
    workspace: str = Field(description="Slack team id, Teams tenant id, or 'local'.")
    user: str

    @property
    def key(self) -> str:
        return f"{self.platform.value}:{self.workspace}:{self.user}"


class ConversationKey(BaseModel):
    """One flow a person has going with the bot (their private chat with it).

    A person may have a report paused while they answer reflective questions on
    an older one, so drafts are keyed by flow; events for the same person are
    still handled one at a time (see `bot.app.Harbour`).
    """

    model_config = ConfigDict(frozen=True)

    person: PersonRef
    flow: str


# --------------------------------------------------------------------------- inbound


class _Event(BaseModel):
    model_config = ConfigDict(frozen=True)

    event_id: str = Field(min_length=1, description="The platform's id for this delivery.")
    person: PersonRef
    at: datetime | None = None
    display_name: str | None = Field(
        default=None, max_length=200, description="The person's name, if the platform says."
    )


class Command(_Event):
    """An explicit command, e.g. `/report-abuse mine` -> name='mine'.

    `name` may be empty (the bare command), and is matched case-insensitively.
    """

    type: Literal["command"] = "command"
    name: str = ""
    args: str = ""


class TextMessage(_Event):
    """Free text typed in the private chat with the bot."""

    type: Literal["text"] = "text"
    text: str


class ChoiceMade(_Event):
    """A button, select menu or numbered option was chosen.

    `question` is the id of the question the choice answers and `token` the
    token that question was sent with, so a stale or repeated press is noticed.
    """

    type: Literal["choice"] = "choice"
    question: str
    values: tuple[str, ...]
    token: str = ""


class FormSubmitted(_Event):
    """A whole page answered at once (a modal or an Adaptive Card form)."""

    type: Literal["form"] = "form"
    form: str
    values: dict[str, str | list[str] | None] = Field(
        description="By question id. A choice's answer is option values: a list, or one "
        "string (several joined with commas)."
    )
    token: str = ""


class ControlAction(StrEnum):
    BACK = "back"
    SKIP = "skip"
    PAUSE = "pause"
    CANCEL = "cancel"
    HELP = "help"

    @property
    def label(self) -> str:
        """The word on the button."""
        return self.value.capitalize()


class Control(_Event):
    """One of the exits offered on every step: back, skip, pause, cancel, help."""

    type: Literal["control"] = "control"
    action: ControlAction
    token: str = ""
    values: dict[str, str | list[str] | None] = Field(
        default_factory=dict,
        description="What was on the page when the control was pressed (a whole-page form): "
        "kept, so pause, help or cancel never lose what was ticked or typed.",
    )
    by_page: bool = Field(
        default=False,
        description="Sent from a whole-page form: back goes to the previous page, not question.",
    )


class SharedFile(BaseModel):
    """A file a person shared: a pointer to it on her platform (`url`) and,
    where the adapter fetched it in the handler's turn (the console), its
    bytes, which the core checks and keeps as evidence (`bot.evidence`)."""

    model_config = ConfigDict(frozen=True)

    name: str
    url: str | None = None
    content: bytes | None = Field(default=None, repr=False, exclude=True)
    """Never serialised: an event kept in the inbox before its ack
    (`Store.accept`) carries no bytes, so none sit in the inbox."""
    media_type: str | None = Field(default=None, max_length=100)
    """What the platform says it is (a hint only: the core sniffs the bytes)."""


class FilesShared(_Event):
    """Files (screenshots, exports) shared into the private chat."""

    type: Literal["files"] = "files"
    files: tuple[SharedFile, ...]


class ChannelRegistered(_Event):
    """Someone asked, in a shared channel, that it become the safety leads'
    channel (`register safety-leads` in it). `channel` is the platform's
    address for it; whether they may is decided in the core."""

    type: Literal["register-channel"] = "register-channel"
    channel: str = Field(min_length=1, max_length=500)


InboundEvent = (
    Command | TextMessage | ChoiceMade | FormSubmitted | Control | FilesShared | ChannelRegistered
)
"""Any event an adapter can hand to `Harbour.handle`."""

InboundEventField = Annotated[InboundEvent, Field(discriminator="type")]
"""The same, as a pydantic field that reads the right type from `type`."""


# --------------------------------------------------------------------------- replies


class Option(BaseModel):
    model_config = ConfigDict(frozen=True)

    value: str
    label: str
    description: str = ""


class ChoiceQuestion(BaseModel):
    """Pick one option (buttons, a select) or several (`multiple`)."""

    model_config = ConfigDict(frozen=True)

    type: Literal["choice"] = "choice"
    id: str
    prompt: str
    options: tuple[Option, ...]
    multiple: bool = False
    required: bool = False
    hint: str = ""
    value: tuple[str, ...] = ()
    token: str = ""


class TextQuestion(BaseModel):
    """Ask for typed text. `lines` > 1 means one item per line (e.g. links)."""

    model_config = ConfigDict(frozen=True)

    type: Literal["text_question"] = "text_question"
    id: str
    prompt: str
    multiline: bool = False
    required: bool = False
    hint: str = ""
    max_length: int
    value: str = ""
    token: str = ""


class PersonQuestion(BaseModel):
    """Pick a colleague (a user picker where the platform has one). The answer
    comes back as a ChoiceMade whose value is the person's key."""

    model_config = ConfigDict(frozen=True)

    type: Literal["person"] = "person"
    id: str
    prompt: str
    hint: str = ""
    token: str = ""


Question = Annotated[ChoiceQuestion | TextQuestion, Field(discriminator="type")]


class Form(BaseModel):
    """A page of related questions answered together.

    Form-capable adapters render every question and send back `FormSubmitted`;
    the console asks `focus` alone and sends each answer as it comes. Questions
    before `focus` on the page are already answered (their `value` is set).
    """

    model_config = ConfigDict(frozen=True)

    type: Literal["form"] = "form"
    id: str
    title: str
    intro: str = ""
    questions: tuple[Question, ...]
    focus: str
    token: str
    progress: str = ""
    controls: tuple[ControlAction, ...] = ()
    submit_label: str = "Next"

    @property
    def focused(self) -> ChoiceQuestion | TextQuestion:
        return next(q for q in self.questions if q.id == self.focus)

    @property
    def starts_page(self) -> bool:
        return self.questions[0].id == self.focus


class Confirmation(BaseModel):
    """A yes/no decision with its consequences spelled out."""

    model_config = ConfigDict(frozen=True)

    type: Literal["confirmation"] = "confirmation"
    id: str
    prompt: str
    confirm_label: str
    deny_label: str
    token: str = ""
    danger: bool = Field(default=False, description="Confirming destroys something.")


class SummaryField(BaseModel):
    model_config = ConfigDict(frozen=True)

    label: str
    value: str


class SummaryCard(BaseModel):
    """A titled set of label/value pairs: a report summary, a list of reports."""

    model_config = ConfigDict(frozen=True)

    type: Literal["summary"] = "summary"
    title: str
    fields: tuple[SummaryField, ...]
    footer: str = ""
    case: str | None = None
    """The case this card shows (its reference), if it shows one: showing it
    to someone is a view the case's audit records (`bot.privacy.audit`)."""


class NoticeLevel(StrEnum):
    INFO = "info"
    SUCCESS = "success"
    WARNING = "warning"
    ERROR = "error"
    DANGER = "danger"


class Notice(BaseModel):
    """A short message with a weight: a kind error, a confirmation, emergency help."""

    model_config = ConfigDict(frozen=True)

    type: Literal["notice"] = "notice"
    text: str
    level: NoticeLevel = NoticeLevel.INFO
    title: str = ""


class Text(BaseModel):
    """Plain prose. Renderers escape it: it never carries platform markup."""

    model_config = ConfigDict(frozen=True)

    type: Literal["text"] = "text"
    text: str


Shown = Annotated[
    Text
    | ChoiceQuestion
    | TextQuestion
    | PersonQuestion
    | Form
    | Confirmation
    | SummaryCard
    | Notice,
    Field(discriminator="type"),
]
"""A reply that is shown as it is."""


class FileReply(BaseModel):
    """A file for the person, sent into her private chat with Harbour (her own
    data, an evidence pack). Each surface delivers it its own way: Slack
    uploads it, Teams asks her to accept it first, the console writes it to a
    private folder. `content` is never shown in a repr (it is what she told us)."""

    model_config = ConfigDict(frozen=True, ser_json_bytes="base64", val_json_bytes="base64")

    type: Literal["file"] = "file"
    name: str = Field(
        min_length=1,
        max_length=120,
        pattern=r"^[\w][\w.-]*$",
        description="The file's name: letters, digits, dots and dashes (no path).",
    )
    media_type: str = Field(min_length=1, max_length=100, description="e.g. application/json")
    content: bytes = Field(repr=False)
    caption: str = Field(
        min_length=1,
        max_length=1000,
        description="Harbour's words about what the file holds, shown with it.",
    )
    ask_again: str = Field(
        default="",
        max_length=100,
        description="What to say to Harbour for another copy (e.g. mydata), told to her "
        "when she declines it or it has expired.",
    )

    @property
    def size(self) -> int:
        return len(self.content)


class Refresh(BaseModel):
    """Shows `replies` in place of the private message the person just pressed
    a button on (a manager's alert after an action: its status now, and the
    actions still open to her), where the platform can edit a message; else
    they are sent as a new message. A press on a shared message (the safety
    leads' channel) is never refreshed for one person: the notifier edits it."""

    model_config = ConfigDict(frozen=True)

    type: Literal["refresh"] = "refresh"
    replies: tuple[Shown, ...]


Reply = Annotated[
    Text
    | ChoiceQuestion
    | TextQuestion
    | PersonQuestion
    | Form
    | Confirmation
    | SummaryCard
    | Notice
    | FileReply
    | Refresh,
    Field(discriminator="type"),
]
