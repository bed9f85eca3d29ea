"""The conversational flows, declared as data. They know nothing of Slack or Teams."""

from bot.flow import Flow
from flows.case import CASE_ACTION, CASE_CHECKINS, CASE_CLOSE, CASE_NOTE
from flows.reflection import REFLECTION
from flows.report import REPORT
from flows.update import UPDATE

FLOWS: dict[str, Flow] = {  # type: ignore[type-arg]
    flow.id: flow
    for flow in (REPORT, REFLECTION, UPDATE, CASE_NOTE, CASE_ACTION, CASE_CLOSE, CASE_CHECKINS)
}

__all__ = ["CASE_ACTION", "CASE_CLOSE", "CASE_NOTE", "FLOWS", "REFLECTION", "REPORT", "UPDATE"]
