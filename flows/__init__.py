"""The conversational flows, declared as data. They know nothing of Slack or Teams."""

from bot.flow import Flow
from flows.case import CASE_ACTION, CASE_CHECKINS, CASE_CLOSE, CASE_NOTE
from flows.evidence import EVIDENCE
from flows.reflection import REFLECTION
from flows.report import REPORT
from flows.update import UPDATE


def _by_id(*flows: Flow) -> dict[str, Flow]:  # type: ignore[type-arg]
    """Flows by id; a second flow with an id already taken is an error, never a
    silent replacement (drafts and routes find flows by these ids)."""
    found: dict[str, Flow] = {}  # type: ignore[type-arg]
    for flow in flows:
        if flow.id in found:
            raise ValueError(f"two flows have the id {flow.id!r}")
        found[flow.id] = flow
    return found


FLOWS = _by_id(
    REPORT, REFLECTION, UPDATE, EVIDENCE, CASE_NOTE, CASE_ACTION, CASE_CLOSE, CASE_CHECKINS
)

__all__ = [
    "CASE_ACTION",
    "CASE_CLOSE",
    "CASE_NOTE",
    "EVIDENCE",
    "FLOWS",
    "REFLECTION",
    "REPORT",
    "UPDATE",
]
