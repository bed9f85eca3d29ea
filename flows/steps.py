"""Steps and helpers shared by the flows that ask about an incident (report, update).

The step ids and fields are the same in both flows, so an update reads like the
report it adds to; each flow words its own prompts.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

from bot.flow import AnswerKind, Flow, Page, Step
from bot.models import Option, SummaryField
from bot.reports import ABUSE_KIND_LABELS, AbuseKind
from bot.validation import display_value

KIND_OPTIONS = tuple(Option(value=k.value, label=label) for k, label in ABUSE_KIND_LABELS.items())

DETAIL_OPTIONS = (
    Option(value="home", label="Where I live"),
    Option(value="children", label="Who my children are"),
    Option(value="school", label="My children's school"),
    Option(value="family", label="My partner or other family"),
    Option(value="contact", label="My phone number or personal email"),
    Option(value="other", label="Something else about my private life"),
)

PLATFORM_OPTIONS = tuple(
    Option(value=v, label=label)
    for v, label in (
        ("facebook", "Facebook"),
        ("instagram", "Instagram"),
        ("x", "X (Twitter)"),
        ("tiktok", "TikTok"),
        ("youtube", "YouTube"),
        ("linkedin", "LinkedIn"),
        ("reddit", "Reddit"),
        ("whatsapp", "WhatsApp"),
        ("messages", "Text messages or email"),
        ("other", "Another site or app"),
    )
)

WORRY_OPTIONS = (
    Option(value="1", label="1 — a little"),
    Option(value="2", label="2 — somewhat"),
    Option(value="3", label="3 — quite worried"),
    Option(value="4", label="4 — very worried"),
    Option(value="5", label="5 — extremely worried"),
)


def kinds_step(prompt: str, help: str = "") -> Step[Any]:
    return Step(
        id="kinds",
        field="kinds",
        kind=AnswerKind.MULTI_CHOICE,
        options=KIND_OPTIONS,
        required=True,
        hint="choose one or more",
        prompt=prompt,
        help=help,
    )


def details_page(help: str = "") -> Page[Any]:
    """Asked only when personal details were posted (doxxing)."""
    return Page(
        id="exposed",
        title="Your personal details",
        when=lambda a: AbuseKind.PERSONAL_DETAILS in a.kinds,
        steps=(
            Step(
                id="details_exposed",
                field="details_exposed",
                kind=AnswerKind.MULTI_CHOICE,
                options=DETAIL_OPTIONS,
                prompt="Which details were posted?",
                help=help,
            ),
        ),
    )


def where_steps(links_prompt: str, evidence_prompt: str, **hints: str) -> tuple[Step[Any], ...]:
    return (
        Step(
            id="platforms",
            field="platforms",
            kind=AnswerKind.MULTI_CHOICE,
            options=PLATFORM_OPTIONS,
            prompt="Where did it happen?",
            hint="choose one or more",
        ),
        Step(
            id="links",
            field="links",
            kind=AnswerKind.LINKS,
            prompt=links_prompt,
            hint="paste one or more web addresses",
            help=hints.get("links_help", ""),
        ),
        Step(
            id="evidence",
            field="evidence",
            kind=AnswerKind.LONG_TEXT,
            prompt=evidence_prompt,
            hint=hints.get("evidence_hint", ""),
        ),
    )


def feeling_steps(
    worry_prompt: str, description_prompt: str, description_hint: str = ""
) -> tuple[Step[Any], ...]:
    return (
        Step(
            id="worry",
            field="worry",
            kind=AnswerKind.CHOICE,
            options=WORRY_OPTIONS,
            prompt=worry_prompt,
        ),
        Step(
            id="description",
            field="description",
            kind=AnswerKind.LONG_TEXT,
            prompt=description_prompt,
            hint=description_hint,
        ),
    )


def answer_rows(flow: Flow[Any], answers: BaseModel) -> list[SummaryField]:
    """Every question asked, with its answer as the person would read it."""
    rows = [
        SummaryField(
            label=step.prompt,
            value=display_value(step, getattr(answers, step.field), flow.options_for(step)),
        )
        for page in flow.pages
        if page.when is None or page.when(answers)
        for step in page.steps
    ]
    attachments = getattr(answers, "attachments", None)
    if attachments:
        rows.append(SummaryField(label="Files shared", value="\n".join(attachments)))
    return rows
