"""Adding a new incident to an earlier report (the same series of abuse)."""

from __future__ import annotations

from bot.flow import AnswerKind, Flow, FlowContext, Page, Step
from bot.models import SummaryCard, SummaryField
from bot.reports import AbuseKind, UpdateAnswers
from bot.validation import display_value
from flows.report import DETAIL_OPTIONS, KIND_OPTIONS, PLATFORM_OPTIONS, WORRY_OPTIONS

S = Step[UpdateAnswers]

PAGES: tuple[Page[UpdateAnswers], ...] = (
    Page(
        id="what",
        title="What happened this time",
        steps=(
            S(
                id="kinds",
                field="kinds",
                kind=AnswerKind.MULTI_CHOICE,
                options=KIND_OPTIONS,
                required=True,
                hint="choose one or more",
                prompt="What has happened since your report?",
            ),
        ),
    ),
    Page(
        id="exposed",
        title="Your personal details",
        when=lambda a: AbuseKind.PERSONAL_DETAILS in a.kinds,
        steps=(
            S(
                id="details_exposed",
                field="details_exposed",
                kind=AnswerKind.MULTI_CHOICE,
                options=DETAIL_OPTIONS,
                prompt="Which details were posted?",
            ),
        ),
    ),
    Page(
        id="where",
        title="Where",
        steps=(
            S(
                id="platforms",
                field="platforms",
                kind=AnswerKind.MULTI_CHOICE,
                options=PLATFORM_OPTIONS,
                prompt="Where did it happen?",
            ),
            S(
                id="links",
                field="links",
                kind=AnswerKind.LINKS,
                prompt="Links to the new posts or messages, if you have them.",
                hint="one web address per line",
            ),
            S(
                id="evidence",
                field="evidence",
                kind=AnswerKind.LONG_TEXT,
                prompt="Anything else you've kept, such as screenshots?",
            ),
        ),
    ),
    Page(
        id="you",
        title="How you are",
        steps=(
            S(
                id="worry",
                field="worry",
                kind=AnswerKind.CHOICE,
                options=WORRY_OPTIONS,
                prompt="How worried are you now?",
            ),
            S(
                id="description",
                field="description",
                kind=AnswerKind.LONG_TEXT,
                prompt="Anything you'd like to add in your own words?",
            ),
        ),
    ),
)


def summarise(answers: UpdateAnswers, ctx: FlowContext) -> SummaryCard:
    rows = [
        SummaryField(
            label=step.prompt,
            value=display_value(step, getattr(answers, step.field), UPDATE.options_for(step)),
        )
        for page in PAGES
        if page.when is None or page.when(answers)
        for step in page.steps
    ]
    if answers.attachments:
        rows.append(SummaryField(label="Files shared", value="\n".join(answers.attachments)))
    return SummaryCard(title="Your update, before it is added", fields=tuple(rows))


UPDATE: Flow[UpdateAnswers] = Flow(
    id="update",
    title="Add to an earlier report",
    pages=PAGES,
    answers=UpdateAnswers,
    summary=summarise,
    intro="Let's add what has happened since. The same people will be told.",
    review_prompt="Add this to your report?",
    confirm_label="Add update",
    attachments_field="attachments",
)
