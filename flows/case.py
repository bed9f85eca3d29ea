"""Short forms managers and safety leads fill in on a case: a note, an action
taken, or closing it. Each is one page; the case is the draft's subject."""

from __future__ import annotations

from pydantic import BaseModel

from bot.cases import ACTIONS_TAKEN, CLOSE_REASONS
from bot.checkins import CADENCES
from bot.flow import AnswerKind, Flow, FlowContext, Page, Step
from bot.models import Option, SummaryCard
from bot.validation import display_value
from flows.steps import answer_rows


class CaseAnswers(BaseModel):
    what: str | None = None
    note: str | None = None


S = Step[CaseAnswers]


def _note(prompt: str, required: bool) -> S:
    return S(id="note", field="note", kind=AnswerKind.LONG_TEXT, prompt=prompt, required=required)


def _choice(
    options: tuple[Option, ...], prompt: str, help: str = "", other: str | None = None
) -> S:
    return S(
        id="what",
        field="what",
        kind=AnswerKind.CHOICE,
        options=options,
        required=True,
        prompt=prompt,
        help=help,
        other=other,
        hint="choose one, or type it in your own words" if other else "",
    )


def _flow(
    flow_id: str, title: str, steps: tuple[S, ...], confirm: str, noun: str
) -> Flow[CaseAnswers]:
    def summarise(answers: CaseAnswers, ctx: FlowContext) -> SummaryCard:
        return SummaryCard(title=title, fields=tuple(answer_rows(flow, answers)))

    flow: Flow[CaseAnswers] = Flow(
        id=flow_id,
        title=title,
        pages=(Page(id="details", title=title, steps=steps),),
        answers=CaseAnswers,
        summary=summarise,
        review_prompt=f"{confirm}?",
        confirm_label=confirm,
        noun=noun,
        command="cases",
        picks_up=False,
    )
    return flow


def choice_words(flow: Flow[CaseAnswers], answers: CaseAnswers) -> str:
    """The form's choice as the case timeline and the worker read it: the
    option's label, or "Something else: <the manager's own words>"."""
    if not answers.what or "what" not in flow.step_index:
        return ""
    _, step = flow.step_index["what"]
    return display_value(step, answers.what, flow.options_for(step))


CASE_NOTE = _flow(
    "case-note",
    "Add a note to the case",
    (_note("Your note (only the worker's manager and the safety leads can read it)", True),),
    "Add note",
    "note",
)
CASE_ACTION = _flow(
    "case-action",
    "Record an action taken",
    (
        _choice(ACTIONS_TAKEN, "What was done?", other="other"),
        _note("Anything to add?", False),
    ),
    "Record it",
    "action record",
)
CASE_CLOSE = _flow(
    "case-close",
    "Close the case",
    (
        _choice(CLOSE_REASONS, "Why is it being closed?", other="other"),
        _note("Anything to add?", False),
    ),
    "Close case",
    "case closure",
)
CASE_CHECKINS = _flow(
    "case-checkins",
    "Schedule check-ins",
    (
        _choice(
            CADENCES,
            "When should I check in with them privately?",
            help="Online abuse is often worst in the first days and can flare up again; "
            "days 1, 3 and 7 cover that.",
        ),
    ),
    "Schedule",
    "check-in schedule",
)
