"""How a conversational flow is declared: as data, checked when it is built.

A flow is a sequence of short pages; a page is a few related steps. Each step
has a stable string id (saved in drafts, so reordering steps never breaks a
conversation in progress), the kind of answer it takes, whether it is
required, and optionally a condition (`when`) that decides whether it is asked
at all. Conditions may only read answers from earlier pages: a form shows a
whole page at once, so it cannot depend on itself.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Generic, TypeVar

from pydantic import BaseModel

from bot.models import Option, Reply, SummaryCard
from bot.reports import EventKind

A = TypeVar("A", bound=BaseModel)

# Documented limits (README "Limits"). Past them the worker is told plainly
# how long their answer was and what fits; nothing already saved is lost.
SHORT_TEXT_LIMIT = 500
LONG_TEXT_LIMIT = 5_000
LINK_LIMIT = 2_048
LINKS_PER_ANSWER = 25

REVIEW = "review"
"""The step id of the summary-and-confirm step every flow ends with."""


class AnswerKind(StrEnum):
    YES_NO = "yes_no"
    CHOICE = "choice"
    MULTI_CHOICE = "multi_choice"
    TEXT = "text"
    LONG_TEXT = "long_text"
    LINKS = "links"


@dataclass(frozen=True)
class FlowContext:
    """What flows may know about the organisation they run in."""

    emergency_guidance: str
    organisation: str = "your organisation"
    timezone: str = "Europe/Dublin"
    """The organisation's IANA time zone, for the times people are shown."""


@dataclass(frozen=True)
class Effects:
    """Extra replies and domain events caused by an answer, sent once per draft."""

    key: str
    replies: tuple[Reply, ...] = ()
    events: tuple[EventKind, ...] = ()


@dataclass(frozen=True)
class Step(Generic[A]):
    id: str
    prompt: str
    kind: AnswerKind
    field: str
    options: tuple[Option, ...] = ()
    required: bool = False
    hint: str = ""
    help: str = ""
    when: Callable[[A], bool] | None = None
    after: Callable[[A, FlowContext], Effects | None] | None = None
    other: str | None = None
    """For a single choice: the option value that words typed in place of an
    option are kept under, as "<value>: <their words>" (None: only the options)."""

    @property
    def max_length(self) -> int:
        if self.kind is AnswerKind.TEXT:
            return SHORT_TEXT_LIMIT
        if self.kind is AnswerKind.LINKS:
            return LINK_LIMIT * LINKS_PER_ANSWER
        return LONG_TEXT_LIMIT

    @property
    def is_choice(self) -> bool:
        return self.kind in (AnswerKind.YES_NO, AnswerKind.CHOICE, AnswerKind.MULTI_CHOICE)


YES_NO_OPTIONS = (Option(value="yes", label="Yes"), Option(value="no", label="No"))


@dataclass(frozen=True)
class Page(Generic[A]):
    id: str
    title: str
    steps: tuple[Step[A], ...]
    intro: str = ""
    when: Callable[[A], bool] | None = None


@dataclass(frozen=True)
class Flow(Generic[A]):
    """A whole conversation: pages, the typed answers, and how it ends.

    `summary` renders the answers for the final review; `attachments_field`
    names the list that files shared during the flow are added to.
    """

    id: str
    title: str
    pages: tuple[Page[A], ...]
    answers: type[A]
    summary: Callable[[A, FlowContext], SummaryCard]
    intro: str = ""
    review_prompt: str = "Is this right?"
    confirm_label: str = "Save"
    noun: str = "form"
    """What the person is filling in, as they would name it ("report",
    "reflection"): "your unfinished report", "the report can't be saved without it"."""
    command: str = ""
    """What the person says to open this flow again ("report"; the draft's
    reference is added when it is about one): named when they pause or cancel."""
    picks_up: bool = True
    """Whether `command` carries on with a paused draft (a case form opens afresh)."""
    attachments_field: str | None = None
    effects_sent: Mapping[str, str] = field(default_factory=dict)
    """What each effect (by key) sends to others, in words for the person, so a
    pause says truthfully what has already gone out."""
    step_index: dict[str, tuple[Page[A], Step[A]]] = field(init=False, repr=False)
    _last_typed: tuple[dict[str, Any], A] | None = field(
        default=None, init=False, repr=False, compare=False
    )
    _last_visible: tuple[dict[str, Any], tuple[tuple[Page[A], Step[A]], ...]] | None = field(
        default=None, init=False, repr=False, compare=False
    )

    def __post_init__(self) -> None:
        index: dict[str, tuple[Page[A], Step[A]]] = {}
        page_ids: set[str] = set()
        fields = self.answers.model_fields
        if not self.pages:
            raise ValueError(f"flow {self.id!r} has no pages")
        for page in self.pages:
            if page.id in page_ids:
                raise ValueError(f"flow {self.id!r}: page id {page.id!r} is used twice")
            page_ids.add(page.id)
            if not page.steps:
                raise ValueError(f"flow {self.id!r}: page {page.id!r} has no steps")
            for step in page.steps:
                if step.id in index or step.id == REVIEW:
                    raise ValueError(f"flow {self.id!r}: step id {step.id!r} is used twice")
                if step.field not in fields:
                    raise ValueError(
                        f"flow {self.id!r}: step {step.id!r} saves to unknown field {step.field!r}"
                    )
                if step.kind in (AnswerKind.CHOICE, AnswerKind.MULTI_CHOICE) and not step.options:
                    raise ValueError(f"flow {self.id!r}: choice step {step.id!r} has no options")
                if step.kind is AnswerKind.YES_NO and step.options not in ((), YES_NO_OPTIONS):
                    raise ValueError(f"flow {self.id!r}: yes/no step {step.id!r} sets options")
                values = [o.value for o in step.options]
                if len(set(values)) != len(values):
                    raise ValueError(f"flow {self.id!r}: step {step.id!r} repeats an option")
                if step.other is not None and (
                    step.kind is not AnswerKind.CHOICE or step.other not in values
                ):
                    raise ValueError(
                        f"flow {self.id!r}: step {step.id!r} keeps typed words under "
                        f"{step.other!r}, which is not one of its options"
                    )
                index[step.id] = (page, step)
        if self.attachments_field and self.attachments_field not in fields:
            raise ValueError(f"flow {self.id!r}: unknown attachments field")
        object.__setattr__(self, "step_index", index)

    def stored(self, step: Step[A], value: Any) -> dict[str, Any]:
        """The update that saves `value` for `step`; an empty answer takes the
        field's default (an empty list for multi-answers)."""
        if value is None:
            value = self.answers.model_fields[step.field].get_default(call_default_factory=True)
        return {step.field: value}

    def typed(self, answers: dict[str, Any]) -> A:
        """The answers as the flow's model. One step asks for this several times
        with the same dict (the engine never changes a dict once made, it makes
        a new one), so the last result is kept for that dict."""
        last = self._last_typed
        if last is not None and last[0] is answers:
            return last[1]
        typed = self.answers.model_validate(answers)
        object.__setattr__(self, "_last_typed", (answers, typed))
        return typed

    def visible(self, answers: dict[str, Any]) -> tuple[tuple[Page[A], Step[A]], ...]:
        """The steps that are asked, in order, given the answers so far (kept
        for the last answers dict, as `typed` is: a step asks several times)."""
        last = self._last_visible
        if last is not None and last[0] is answers:
            return last[1]
        typed = self.typed(answers)
        steps = tuple(
            (page, step)
            for page in self.pages
            if page.when is None or page.when(typed)
            for step in page.steps
            if step.when is None or step.when(typed)
        )
        object.__setattr__(self, "_last_visible", (answers, steps))
        return steps

    def options_for(self, step: Step[A]) -> tuple[Option, ...]:
        return YES_NO_OPTIONS if step.kind is AnswerKind.YES_NO else step.options

    def mermaid(self) -> str:
        """A Mermaid diagram of the flow, for the docs beside it."""
        lines = ["flowchart TD"]
        previous = ["start([start])"]
        for page in self.pages:
            node = f'{page.id}["{page.title}<br/>' + "<br/>".join(s.id for s in page.steps) + '"]'
            label = "|if applicable|" if page.when else ""
            lines.append(f"  {previous[0]} -->{label} {node}")
            lines.extend(f"  {p} -->|otherwise| {page.id}" for p in previous[1:])
            # A page that may be passed over leaves two ways into the next one.
            previous = [page.id, previous[0]] if page.when else [page.id]
        lines.append(f"  {previous[0]} --> {REVIEW}{{{{review and confirm}}}}")
        lines.append(f"  {REVIEW} -->|confirm| done([saved])")
        lines.append(f"  {REVIEW} -->|go back| {previous[0]}")
        return "\n".join(lines)
