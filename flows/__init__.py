"""The conversational flows, declared as data. They know nothing of Slack or Teams."""

from bot.flow import Flow
from flows.reflection import REFLECTION
from flows.report import REPORT
from flows.update import UPDATE

FLOWS: dict[str, Flow] = {flow.id: flow for flow in (REPORT, REFLECTION, UPDATE)}  # type: ignore[type-arg]

__all__ = ["FLOWS", "REFLECTION", "REPORT", "UPDATE"]
