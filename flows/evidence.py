"""Adding evidence to a case ("add evidence HB-…"): one piece of what a worker
kept before it could be deleted. Every question is optional; the finisher
(`bot.evidence.commands.finish`) asks for at least a link, a file or a few
words on what it shows. A file shared while it is open is checked and kept in
the store at once (`bot.evidence.commands.files_shared`)."""

from __future__ import annotations

from pydantic import BaseModel, Field

from bot.evidence.log import EvidenceFile
from bot.flow import AnswerKind, Flow, FlowContext, Page, Step
from bot.models import SummaryCard, SummaryField
from flows.steps import PLATFORM_OPTIONS, answer_rows


class EvidenceAnswers(BaseModel):
    """One piece of evidence, in the worker's words."""

    links: list[str] = Field(default_factory=list)
    what: str | None = None
    platform: str | None = None
    account: str | None = None
    posted: str | None = None
    seen: str | None = None
    platform_reference: str | None = None
    witnesses: str | None = None
    attachments: list[str] = Field(default_factory=list)
    """Files shared where Harbour keeps only a pointer (name and address)."""
    kept_files: list[EvidenceFile] = Field(default_factory=list)
    """Files checked and kept in the store while the form was open."""

    @property
    def given(self) -> bool:
        """At least a link, a file or words on what it shows."""
        return bool(self.links or self.what or self.kept_files or self.attachments)


S = Step[EvidenceAnswers]

PAGES: tuple[Page[EvidenceAnswers], ...] = (
    Page(
        id="what",
        title="What you kept",
        intro="You can share a screenshot or a document here at any point.",
        steps=(
            S(
                id="links",
                field="links",
                kind=AnswerKind.LINKS,
                prompt="The link to the post, message or profile, if you have it.",
                hint="paste one or more web addresses",
            ),
            S(
                id="what",
                field="what",
                kind=AnswerKind.LONG_TEXT,
                prompt="What does it say or show, in your own words?",
            ),
        ),
    ),
    Page(
        id="where",
        title="Where and when",
        steps=(
            S(
                id="platform",
                field="platform",
                kind=AnswerKind.CHOICE,
                options=PLATFORM_OPTIONS,
                other="other",
                prompt="Where was it?",
                hint="choose one, or type it in your own words",
            ),
            S(
                id="account",
                field="account",
                kind=AnswerKind.TEXT,
                prompt="Which account or handle posted it?",
            ),
            S(
                id="posted",
                field="posted",
                kind=AnswerKind.TEXT,
                prompt="When was it posted?",
                hint="a date, or roughly",
            ),
            S(
                id="seen",
                field="seen",
                kind=AnswerKind.TEXT,
                prompt="When did you see it?",
                hint="a date, or roughly",
            ),
        ),
    ),
    Page(
        id="reported",
        title="Reported and seen by others",
        steps=(
            S(
                id="platform_reference",
                field="platform_reference",
                kind=AnswerKind.TEXT,
                prompt="If you reported it to the site or app, the reference they gave you.",
            ),
            S(
                id="witnesses",
                field="witnesses",
                kind=AnswerKind.TEXT,
                prompt="Did anyone else see it? Who?",
            ),
        ),
    ),
)


def summarise(answers: EvidenceAnswers, ctx: FlowContext) -> SummaryCard:
    rows = answer_rows(EVIDENCE, answers)
    if answers.kept_files:
        rows.append(
            SummaryField(
                label="Files kept safely",
                value="\n".join(f"{f.name} ({f.size:,} bytes)" for f in answers.kept_files),
            )
        )
    return SummaryCard(title="Your evidence, before it is added", fields=tuple(rows))


EVIDENCE: Flow[EvidenceAnswers] = Flow(
    id="evidence",
    title="Add evidence",
    pages=PAGES,
    answers=EvidenceAnswers,
    summary=summarise,
    intro="Let's add a piece of evidence. Every question is optional: a link, a file or a "
    "few words on what it shows is enough. Only you can add evidence to your case.",
    review_prompt="Add this to your evidence?",
    confirm_label="Add evidence",
    noun="evidence",
    command="add evidence",
    attachments_field="attachments",
)
