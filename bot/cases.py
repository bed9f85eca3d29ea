"""Cases: who may see and act on a report, and what managers and safety leads do.

A report is visible to the person who made it, their manager(s) unless the
worker chose not to tell them, and the safety leads; nobody else. Only a
manager (when allowed) or a safety lead may act on it. Every decision is made
for the person who pressed the button, never for whoever the message was sent
to, and every refusal is written in the case's timeline.
"""

from __future__ import annotations

from datetime import datetime

from bot.directory import Directory
from bot.models import Option, PersonRef, SummaryCard, SummaryField
from bot.reports import ABUSE_KIND_LABELS, Report, ReportStatus

CASE_QUESTION = "case:"
"""Buttons on alerts answer the question `case:<reference>`."""

MANAGER_ACTIONS = (
    Option(value="ack", label="Acknowledge"),
    Option(value="checkins", label="Schedule check-ins"),
    Option(value="action", label="Record an action"),
    Option(value="note", label="Add a note"),
    Option(value="escalate", label="Escalate to safety leads"),
    Option(value="close", label="Close"),
)
CLAIM = Option(value="claim", label="Claim")

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


def is_manager(person: PersonRef, report: Report, directory: Directory) -> bool:
    return report.manager_may_see and (
        person.key in report.managers or directory.is_manager_of(person, report.reporter)
    )


def can_view(person: PersonRef, report: Report, directory: Directory) -> bool:
    return (
        person == report.reporter
        or (directory.is_lead(person) and report.leads_may_see)
        or is_manager(person, report, directory)
    )


def can_act(person: PersonRef, report: Report, directory: Directory, action: str) -> bool:
    lead = directory.is_lead(person) and report.leads_may_see
    if action == "claim":
        return lead
    return lead or is_manager(person, report, directory)


def kinds_text(report: Report) -> str:
    kinds = list(
        dict.fromkeys(
            [*report.answers.kinds, *(k for u in report.updates for k in u.answers.kinds)]
        )
    )
    return ", ".join(ABUSE_KIND_LABELS[k].split(" (")[0] for k in kinds) or "Not stated"


def channel_card(report: Report) -> SummaryCard:
    """What the safety leads' channel may show: reference, risk, kinds, status.
    Never what happened, who reported it, links or names."""
    status = STATUS_WORDS[report.status]
    if report.claimed_by and report.status is not ReportStatus.CLOSED:
        status += " · claimed by a safety lead"
    return SummaryCard(
        title=f"{report.reference} · {report.risk.value} risk",
        fields=(
            SummaryField(label="Kind of abuse", value=kinds_text(report)),
            SummaryField(label="Status", value=status),
        ),
        footer="Details are shared privately with whoever claims the case.",
    )


def apply(report: Report, action: str, actor: PersonRef, at: datetime, detail: str = "") -> str:
    """Change the case for an action already allowed; returns what to tell the actor."""
    key = actor.key
    if action == "ack":
        report.acknowledged_by = report.acknowledged_by or key
        if report.status is ReportStatus.OPEN:
            report.status = ReportStatus.ACKNOWLEDGED
        report.log(at, "acknowledged", key)
        return f"Acknowledged {report.reference}. The worker will see that you have it."
    if action == "claim":
        report.claimed_by = key
        if report.status in (ReportStatus.OPEN, ReportStatus.ACKNOWLEDGED):
            report.status = ReportStatus.IN_PROGRESS
        report.log(at, "claimed", key)
        return f"You've claimed {report.reference}. Its details are below."
    if action == "note":
        report.log(at, "note", key, detail)
        return f"Note added to {report.reference}."
    if action == "action":
        if report.status is not ReportStatus.CLOSED:
            report.status = ReportStatus.IN_PROGRESS
        report.log(at, "action", key, detail)
        return f"Recorded on {report.reference}."
    if action == "escalate":
        report.log(at, "escalated", key)
        return f"{report.reference} has been escalated to the safety leads."
    if action == "close":
        report.status = ReportStatus.CLOSED
        report.closed_reason = detail
        report.log(at, "closed", key, detail)
        return f"{report.reference} is closed."
    raise ValueError(f"unknown case action {action!r}")
