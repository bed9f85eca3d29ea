"""Reflective questions after a report, for the worker and for supervision.

The nine questions are those of Burns et al. (2021), the practice tool on
social media abuse published by University College Cork's Online Social Work
Practice Initiative, put in our own words. Every one is optional.
"""

from __future__ import annotations

from bot.flow import AnswerKind, Flow, FlowContext, Page, Step
from bot.models import SummaryCard, SummaryField
from bot.reports import ReflectionAnswers

S = Step[ReflectionAnswers]
SOURCE = (
    "These questions come from Burns et al. (2021), 'Social media abuse, online harassment "
    "and social work', University College Cork."
)


def _q(step_id: str, prompt: str, hint: str = "") -> S:
    return S(id=step_id, field=step_id, kind=AnswerKind.LONG_TEXT, prompt=prompt, hint=hint)


PAGES: tuple[Page[ReflectionAnswers], ...] = (
    Page(
        id="concern",
        title="Your concerns",
        intro="Take these at your own pace. Every question is optional, and your answers stay "
        "with the report for you and the people you shared it with (useful in supervision).",
        steps=(
            _q("concerns", "What worries you most here, and who are you worried about?"),
            _q(
                "concern_list",
                "For each concern: how often does it happen, and how serious is it?",
                "one concern per line, e.g. 'posts about me: daily, moderate'",
            ),
            _q("impacted", "Who is affected by this?"),
        ),
    ),
    Page(
        id="meaning",
        title="What it means",
        steps=(
            _q("implications", "What could this lead to, for you and for others?"),
            _q("best_interests", "What would be best for the children and families you serve?"),
            _q(
                "justifiable",
                "Could the person have a fair reason to be upset, even if the way they show it "
                "online is hurting you?",
                "it's fine to say no, or to leave it",
            ),
        ),
    ),
    Page(
        id="practice",
        title="Your work and context",
        steps=(
            _q(
                "work_impact",
                "How might this affect your work with the family, the community, or colleagues?",
            ),
            _q(
                "poster_context",
                "How might the poster's own experience of trauma, or the strain of our "
                "involvement, be shaping what they do online?",
            ),
            _q(
                "culture_age",
                "How might differences in culture or age, in what people think is fine to "
                "share online, be colouring how you see this?",
            ),
        ),
    ),
)


def summarise(answers: ReflectionAnswers, ctx: FlowContext) -> SummaryCard:
    rows = tuple(
        SummaryField(label=step.prompt, value=getattr(answers, step.field) or "—")
        for page in PAGES
        for step in page.steps
    )
    return SummaryCard(title="Your reflections", fields=rows, footer=SOURCE)


REFLECTION: Flow[ReflectionAnswers] = Flow(
    id="reflect",
    title="Reflect on what happened",
    pages=PAGES,
    answers=ReflectionAnswers,
    summary=summarise,
    intro="These questions are for you, to help you think things through: none of them asks "
    "you to excuse what anyone has done. " + SOURCE,
    review_prompt="Keep these reflections with the report?",
    confirm_label="Save reflections",
    noun="reflection",
    command="reflect",
)
