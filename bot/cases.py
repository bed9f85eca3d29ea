"""Cases: what managers and safety leads do to a report, and the words for it.

Who may do each of these things is decided in one place, `bot.access`; the
functions here only apply an action already allowed.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from bot.access import Action
from bot.models import Option, PersonRef, SummaryCard, SummaryField
from bot.reports import ABUSE_KIND_LABELS, Report, ReportStatus

CASE_QUESTION = "case:"
"""Buttons on alerts answer the question `case:<reference>`."""
SHARE_QUESTION = "share:"
"""After a change of manager, the worker answers `share:<reference>`."""

ACTION_LABELS: dict[Action, str] = {
    Action.CLAIM: "Claim",
    Action.ACKNOWLEDGE: "Acknowledge",
    Action.SCHEDULE_CHECKINS: "Schedule check-ins",
    Action.RECORD_ACTION: "Record an action",
    Action.NOTE: "Add a note",
    Action.ESCALATE: "Escalate to safety leads",
    Action.CLOSE: "Close",
}
CLAIM = Option(value=Action.CLAIM.value, label=ACTION_LABELS[Action.CLAIM])


def action_options(actions: list[Action]) -> tuple[Option, ...]:
    """Buttons for the case-team actions a person may take."""
    return tuple(Option(value=a.value, label=ACTION_LABELS[a]) for a in actions)


ACTIONS_TAKEN = (
    Option(value="reported_to_platform", label="Reported to the platform"),
    Option(value="police", label="Police contacted"),
    Option(value="legal", label="Legal advice sought"),
    Option(value="safety_plan", label="Safety plan made"),
    Option(value="other", label="Something else"),
)
CLOSE_REASONS = (
    Option(value="resolved", label="Resolved"),
    Option(value="no_further_action", label="No further action needed"),
    Option(value="worker_request", label="At the worker's request"),
    Option(value="duplicate", label="A duplicate of another report"),
    Option(value="other", label="Another reason"),
)
STATUS_WORDS = {
    ReportStatus.OPEN: "Open: not yet acknowledged",
    ReportStatus.ACKNOWLEDGED: "Acknowledged",
    ReportStatus.IN_PROGRESS: "In progress",
    ReportStatus.CLOSED: "Closed",
}


def kinds_text(report: Report) -> str:
    kinds = list(
        dict.fromkeys(
            [*report.answers.kinds, *(k for u in report.updates for k in u.answers.kinds)]
        )
    )
    return ", ".join(ABUSE_KIND_LABELS[k].split(" (")[0] for k in kinds) or "Not stated"


def status_words(report: Report) -> str:
    """Where the case stands, in words anyone it is shown to may read."""
    status = STATUS_WORDS[report.status]
    if report.claimed_by and report.status is not ReportStatus.CLOSED:
        status += " · claimed by a safety lead"
    return status


def channel_card(report: Report) -> SummaryCard:
    """What the safety leads' channel may show: reference, risk, kinds, status.
    Never what happened, who reported it, links or names."""
    status = status_words(report)
    return SummaryCard(
        title=f"{report.reference} · {report.risk.value} risk",
        fields=(
            SummaryField(label="Kind of abuse", value=kinds_text(report)),
            SummaryField(label="Status", value=status),
        ),
        footer="Details are shared privately with whoever claims the case.",
    )


def refused(actor: PersonRef, action: Action, at: datetime) -> Callable[[Report], list[Any]]:
    """The change that writes a refusal in the case's timeline: who tried what,
    never any content (a `bot.store.ReportChange`)."""

    def change(report: Report) -> list[Any]:
        report.log(at, "refused", actor.key, action.value)
        return []

    return change


def apply(
    report: Report, action: Action, actor: PersonRef, at: datetime, what: str = "", note: str = ""
) -> str:
    """Change the case for an action already allowed; returns what to tell the actor.

    `what` (an action taken, a reason for closing) is for the worker to see too;
    a `note` stays with the case team."""
    key = actor.key
    if note and action is not Action.NOTE:
        report.log(at, "note", key, note)
    if action is Action.ACKNOWLEDGE:
        report.acknowledged_by = report.acknowledged_by or key
        if report.status is ReportStatus.OPEN:
            report.status = ReportStatus.ACKNOWLEDGED
        report.log(at, "acknowledged", key)
        return f"Acknowledged {report.reference}. The worker will see that you have it."
    if action is Action.CLAIM:
        report.claimed_by = key
        if report.status in (ReportStatus.OPEN, ReportStatus.ACKNOWLEDGED):
            report.status = ReportStatus.IN_PROGRESS
        report.log(at, "claimed", key)
        return f"You've claimed {report.reference}. Its details are below."
    if action is Action.NOTE:
        report.log(at, "note", key, note or what)
        return f"Note added to {report.reference}."
    if action is Action.RECORD_ACTION:
        if report.status is not ReportStatus.CLOSED:
            report.status = ReportStatus.IN_PROGRESS
        report.log(at, "action", key, what)
        return f"Recorded on {report.reference}."
    if action is Action.ESCALATE:
        report.log(at, "escalated", key)
        return f"{report.reference} has been escalated to the safety leads."
    if action is Action.CLOSE:
        report.status = ReportStatus.CLOSED
        report.closed_reason = what
        report.closed_at = at
        report.log(at, "closed", key, what)
        return f"{report.reference} is closed."
    raise ValueError(f"unknown case action {action!r}")
