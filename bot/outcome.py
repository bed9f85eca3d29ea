"""What handling one event produced: the replies, and the one write to make."""

from __future__ import annotations

from dataclasses import dataclass, field

from bot.engine import Draft
from bot.models import Reply
from bot.reports import DomainEvent, Report
from bot.session import Session


@dataclass
class Outcome:
    """`session` is always saved; with `report` set, the report is saved first
    (and `events` go to the outbox with it); with `file_from`, a new report is
    filed from that draft."""

    replies: list[Reply]
    session: Session
    events: list[DomainEvent] = field(default_factory=list)
    file_from: Draft | None = None
    report: Report | None = None
