"""The report flow: what happened, where, when, to whom, and who may know.

Safety comes first: the opening question asks about immediate danger, and a
yes shows emergency guidance at once and raises a critical alert before any
other question. Every other question can be skipped unless the report would
mean nothing without it. The diagram is in flows/README.md.
"""

from __future__ import annotations

from bot.flow import AnswerKind, Effects, Flow, FlowContext, Page, Step
from bot.models import Notice, NoticeLevel, Option, SummaryCard
from bot.reports import Audience, EventKind, ReportAnswers
from flows.steps import answer_rows, details_page, feeling_steps, kinds_step, where_steps

S = Step[ReportAnswers]

STARTED_OPTIONS = (
    Option(value="today", label="Today"),
    Option(value="this_week", label="In the last week"),
    Option(value="this_month", label="In the last month"),
    Option(value="longer", label="Longer ago"),
)

FREQUENCY_OPTIONS = (
    Option(value="once", label="Once"),
    Option(value="few", label="A few times"),
    Option(value="daily", label="Most days"),
    Option(value="constant", label="All the time, it's ongoing"),
)

AFFECTED_OPTIONS = (
    Option(value="me", label="Me"),
    Option(value="partner", label="My partner"),
    Option(value="children", label="My children"),
    Option(value="family", label="Other family"),
    Option(value="foster_carers", label="Foster carers"),
    Option(value="service_users", label="Children or families we work with"),
    Option(value="colleagues", label="Colleagues"),
)

POSTER_OPTIONS = (
    Option(value="service_user", label="Someone we work with (a service user)"),
    Option(value="relative", label="A relative of someone we work with"),
    Option(value="public", label="A member of the public"),
    Option(value="other_known", label="Someone else I know of"),
    Option(value="unknown", label="I don't know who it is"),
)


AUDIENCE_OPTIONS = (
    Option(
        value=Audience.MANAGER_AND_LEADS.value,
        label="My manager and the safety leads",
        description="The usual choice: your manager is told privately.",
    ),
    Option(
        value=Audience.LEADS_ONLY.value,
        label="Only the safety leads, not my manager",
        description="For when your manager is involved or you'd rather they didn't see it.",
    ),
    Option(
        value=Audience.ONLY_ME.value,
        label="Nobody for now, keep it as my own record",
        description="You can share it later. Immediate danger is always passed on.",
    ),
)


def _danger_effects(answers: ReportAnswers, ctx: FlowContext) -> Effects | None:
    if answers.in_danger is not True:
        return None
    return Effects(
        key="immediate-danger",
        replies=(
            Notice(
                title="Get help now",
                level=NoticeLevel.DANGER,
                text=ctx.emergency_guidance
                + "\n\nI'm alerting the safety leads now. When you are safe, the rest of the "
                "questions will be here; answer what you can, when you can.",
            ),
        ),
        events=(EventKind.RISK_CRITICAL,),
    )


DANGER_MANAGER_OPTIONS = (
    Option(value="tell", label="Yes, tell my manager now"),
    Option(value="keep_out", label="No, not my manager"),
)


def _danger_manager_effects(answers: ReportAnswers, ctx: FlowContext) -> Effects | None:
    if answers.in_danger is not True or answers.danger_manager != "tell":
        return None
    return Effects(
        key="immediate-danger-manager",
        replies=(
            Notice(
                text="I'll tell your manager now as well, if I know who they are, and let you "
                "know when they've been told."
            ),
        ),
        events=(EventKind.DANGER_MANAGER,),
    )


STEPS_BY_PAGE: tuple[Page[ReportAnswers], ...] = (
    Page(
        id="safety",
        title="First, your safety",
        steps=(
            S(
                id="danger",
                field="in_danger",
                kind=AnswerKind.YES_NO,
                required=True,
                prompt="Is anyone in immediate danger right now: you, your family, or anyone else?",
                help="Immediate danger means someone could be hurt soon, or someone is at or near "
                "your home, your children's school or your workplace. If you're unsure, say yes.",
                after=_danger_effects,
            ),
        ),
    ),
    Page(
        id="safety-manager",
        title="Your manager",
        when=lambda a: a.in_danger is True,
        steps=(
            S(
                id="danger_manager",
                field="danger_manager",
                kind=AnswerKind.CHOICE,
                options=DANGER_MANAGER_OPTIONS,
                prompt="Should I tell your manager straight away too?",
                help="Say no if your manager is part of what's happening, or you'd rather they "
                "weren't told yet. Either way, you choose who sees the full report at the end.",
                after=_danger_manager_effects,
            ),
        ),
    ),
    Page(
        id="what",
        title="What happened",
        intro="Choose everything that fits. There's room to describe it in your own words later.",
        steps=(
            kinds_step(
                "What has been happening?",
                help="Several may apply. If none of these fit, choose 'Something else'.",
            ),
        ),
    ),
    details_page(
        help="This helps your manager plan for your safety at home, for example with "
        "your children's school."
    ),
    Page(
        id="where",
        title="Where it happened",
        steps=where_steps(
            "Links to the posts, profiles or messages, if you have them.",
            "Do you have anything else, such as screenshots or saved messages?",
            links_help="Posts can be deleted, so a link together with a screenshot showing the "
            "date and the address makes the best record. If you don't have them, that's fine. "
            "Only you and the people you choose will see them.",
            evidence_hint="for example: 'six screenshots on my work phone, taken 3 March'",
        ),
    ),
    Page(
        id="when",
        title="When",
        steps=(
            S(
                id="started",
                field="started",
                kind=AnswerKind.CHOICE,
                options=STARTED_OPTIONS,
                prompt="When did it start?",
            ),
            S(
                id="frequency",
                field="frequency",
                kind=AnswerKind.CHOICE,
                options=FREQUENCY_OPTIONS,
                prompt="How often has it happened?",
            ),
        ),
    ),
    Page(
        id="who",
        title="Who is involved",
        steps=(
            S(
                id="affected",
                field="affected",
                kind=AnswerKind.MULTI_CHOICE,
                options=AFFECTED_OPTIONS,
                prompt="Who is affected?",
                hint="choose one or more",
            ),
            S(
                id="poster",
                field="poster",
                kind=AnswerKind.CHOICE,
                options=POSTER_OPTIONS,
                prompt="Do you know who is behind it?",
                help="A best guess is fine. You don't need to find out who it is, and it's "
                "safer not to look for them yourself, for example through personal or fake "
                "profiles.",
            ),
        ),
    ),
    Page(
        id="you",
        title="How you are",
        steps=feeling_steps(
            "How worried are you about this?",
            "Is there anything you'd like to add in your own words?",
            "optional; only you and the people you choose will read it",
        ),
    ),
    Page(
        id="sharing",
        title="Who may see this report",
        steps=(
            S(
                id="audience",
                field="audience",
                kind=AnswerKind.CHOICE,
                options=AUDIENCE_OPTIONS,
                required=True,
                prompt="Who should I share this report with?",
                help="Channel alerts never contain what happened: only a reference, how serious "
                "it is and the kind of abuse. Links and your own words go only to the people you "
                "choose here.",
            ),
        ),
    ),
)


def summarise(answers: ReportAnswers, ctx: FlowContext) -> SummaryCard:
    return SummaryCard(
        title="Your report, before it is filed",
        fields=tuple(answer_rows(REPORT, answers)),
        footer="Check it through. You can go back and change anything before filing.",
    )


REPORT: Flow[ReportAnswers] = Flow(
    id="report",
    title="Report online abuse",
    pages=STEPS_BY_PAGE,
    answers=ReportAnswers,
    summary=summarise,
    intro="I'm sorry this is happening. I'll ask a few short questions, a page at a time. "
    "You can skip anything optional, go back, or pause and finish later.",
    review_prompt="Shall I file this report?",
    confirm_label="File report",
    noun="report",
    command="report",
    attachments_field="attachments",
    effects_sent={
        "immediate-danger": "an urgent alert to the safety leads that someone may be in danger",
        "immediate-danger-manager": "the same alert to your manager, if Harbour knows who they are",
    },
)
