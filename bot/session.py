"""What Harbour remembers about one person's private chat with it."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field

from bot.engine import Draft
from bot.models import Option, PersonRef


class PendingChoice(BaseModel):
    """A one-off question outside any flow (resume a draft? reflect now?).

    `context` carries what the answer acts on, e.g. the report reference.
    """

    question: str
    kind: Literal["choice", "person", "text"] = "choice"
    token: str
    prompt: str
    options: list[Option]
    context: dict[str, str] = Field(default_factory=dict)


class Session(BaseModel):
    person: PersonRef
    active: str | None = Field(default=None, description="The flow id answers go to.")
    drafts: dict[str, Draft] = Field(default_factory=dict, description="By flow id.")
    pending: PendingChoice | None = None
    updated_at: datetime

    @property
    def is_empty(self) -> bool:
        return not self.drafts and self.pending is None

    @property
    def active_draft(self) -> Draft | None:
        return self.drafts.get(self.active) if self.active else None
