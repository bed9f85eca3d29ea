"""Adding a new incident to an earlier report (the same series of abuse)."""

from __future__ import annotations

from bot.flow import Flow, FlowContext, Page
from bot.models import SummaryCard
from bot.reports import UpdateAnswers
from flows.steps import answer_rows, details_page, feeling_steps, kinds_step, where_steps

PAGES: tuple[Page[UpdateAnswers], ...] = (
    Page(
        id="what",
        title="What happened this time",
        steps=(kinds_step("What has happened since your report?"),),
    ),
    details_page(),
    Page(
        id="where",
        title="Where",
        steps=where_steps(
            "Links to the new posts or messages, if you have them.",
            "Do you have anything else, such as screenshots?",
        ),
    ),
    Page(
        id="you",
        title="How you are",
        steps=feeling_steps(
            "How worried are you now?", "Anything you'd like to add in your own words?"
        ),
    ),
)


def summarise(answers: UpdateAnswers, ctx: FlowContext) -> SummaryCard:
    return SummaryCard(
        title="Your update, before it is added", fields=tuple(answer_rows(UPDATE, answers))
    )


UPDATE: Flow[UpdateAnswers] = Flow(
    id="update",
    title="Add to an earlier report",
    pages=PAGES,
    answers=UpdateAnswers,
    summary=summarise,
    intro="Let's add what has happened since. The same people as before will be told, and "
    "you can skip anything you'd rather not answer.",
    review_prompt="Add this to your report?",
    confirm_label="Add update",
    noun="update",
    command="update",
    attachments_field="attachments",
)
