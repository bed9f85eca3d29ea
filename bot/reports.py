"""What a report is: the answers a worker gives, and the record Harbour files.

The vocabulary comes from DESIGN.md, which lists the kinds of online abuse that
child protection staff described to Burns et al. (2021).
"""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from bot.evidence.log import EvidenceItem
from bot.models import PersonRef


class AbuseKind(StrEnum):
    THREATENING_MESSAGES = "threatening_messages"
    STALKING = "stalking"
    PERSONAL_DETAILS = "personal_details"
    FAMILY_PHOTOS = "family_photos"
    COMPLAINTS = "complaints"
    CASE_INFORMATION = "case_information"
    THREATS = "threats"
    RECORDINGS = "recordings"
    OTHER = "other"


ABUSE_KIND_LABELS: dict[AbuseKind, str] = {
    AbuseKind.THREATENING_MESSAGES: "Threatening messages sent to my own accounts",
    AbuseKind.STALKING: "Being followed or watched through my own accounts",
    AbuseKind.PERSONAL_DETAILS: "My personal details posted (home, children, school)",
    AbuseKind.FAMILY_PHOTOS: "Family photos reshared, with comments",
    AbuseKind.COMPLAINTS: "Complaints about me or the agency",
    AbuseKind.CASE_INFORMATION: "Details of a case or foster carers shared",
    AbuseKind.THREATS: "Threats against me or my family, open or veiled",
    AbuseKind.RECORDINGS: "Recordings of my work shared without consent",
    AbuseKind.OTHER: "Something else",
}

# Details whose exposure puts a worker's home life at risk (doxxing).
HOME_DETAILS = frozenset({"home", "children", "school"})


class RiskLevel(StrEnum):
    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"
    CRITICAL = "critical"

    @property
    def rank(self) -> int:
        return _RISK_ORDER.index(self)


_RISK_ORDER = [RiskLevel.LOW, RiskLevel.MEDIUM, RiskLevel.HIGH, RiskLevel.CRITICAL]


class Audience(StrEnum):
    """Who the worker agreed may see the report (besides themselves)."""

    MANAGER_AND_LEADS = "manager_and_leads"
    LEADS_ONLY = "leads_only"
    ONLY_ME = "only_me"


class ReportAnswers(BaseModel):
    """Everything the report flow asks. Every field may still be unanswered."""

    in_danger: bool | None = None
    danger_manager: Literal["tell", "keep_out"] | None = Field(
        default=None, description="In danger: whether her manager is told at once too."
    )
    kinds: list[AbuseKind] = Field(default_factory=list)
    details_exposed: list[str] = Field(default_factory=list)
    platforms: list[str] = Field(default_factory=list)
    links: list[str] = Field(default_factory=list)
    evidence: str | None = None
    started: str | None = None
    frequency: str | None = None
    affected: list[str] = Field(default_factory=list)
    poster: str | None = None
    worry: int | None = Field(default=None, ge=1, le=5)
    description: str | None = None
    audience: Audience | None = None
    attachments: list[str] = Field(default_factory=list)


class UpdateAnswers(BaseModel):
    """A new incident in the same series as an earlier report."""

    kinds: list[AbuseKind] = Field(default_factory=list)
    details_exposed: list[str] = Field(default_factory=list)
    platforms: list[str] = Field(default_factory=list)
    links: list[str] = Field(default_factory=list)
    evidence: str | None = None
    worry: int | None = Field(default=None, ge=1, le=5)
    description: str | None = None
    attachments: list[str] = Field(default_factory=list)


class ReflectionAnswers(BaseModel):
    """The reflective questions of Burns et al. (2021), each optional."""

    concerns: str | None = None
    concern_list: str | None = None
    impacted: str | None = None
    implications: str | None = None
    best_interests: str | None = None
    justifiable: str | None = None
    work_impact: str | None = None
    poster_context: str | None = None
    culture_age: str | None = None


class Assessment(BaseModel):
    model_config = ConfigDict(frozen=True)

    level: RiskLevel
    reasons: tuple[str, ...]


class ReportUpdate(BaseModel):
    id: str = Field(description="The id of the draft it came from, so it is added once.")
    at: datetime
    answers: UpdateAnswers


class ReportStatus(StrEnum):
    OPEN = "open"
    ACKNOWLEDGED = "acknowledged"
    IN_PROGRESS = "in_progress"
    CLOSED = "closed"


class TimelineEntry(BaseModel):
    """One thing that happened to a case. The timeline is only ever appended to."""

    at: datetime
    actor: str | None = Field(default=None, description="Person key, or None for Harbour.")
    action: str
    detail: str = ""


class CheckIn(BaseModel):
    """A private "how are you?" to the worker, scheduled by their manager or a lead."""

    id: str
    due: datetime
    by: str = Field(description="Who scheduled it (person key).")
    state: Literal["scheduled", "sent", "answered", "missed", "cancelled"] = "scheduled"
    sent_at: datetime | None = None
    late: bool = Field(default=False, description="Sent after Harbour had been down.")
    answer: Literal["ok", "affected", "talk"] | None = None
    answered_at: datetime | None = None
    talk_taken_by: str | None = None
    snoozes: int = 0
    note: str | None = Field(default=None, description="Words she added for her manager.")


class Report(BaseModel):
    reference: str
    version: int = Field(
        default=0,
        description="How many times it has been stored: a write based on an older version is "
        "refused (`StaleReport`), so no change is ever written over one it did not see.",
    )
    year: int
    seq: int
    reporter: PersonRef
    filed_at: datetime
    draft_id: str = Field(description="The draft it was filed from (recovery after a crash).")
    answers: ReportAnswers
    risk: RiskLevel
    risk_reasons: list[str]
    status: ReportStatus = ReportStatus.OPEN
    updates: list[ReportUpdate] = Field(default_factory=list)
    reflection: ReflectionAnswers | None = None
    reflection_draft_id: str | None = None
    managers: list[str] = Field(default_factory=list, description="Person keys, at filing.")
    kept_out: list[str] = Field(
        default_factory=list,
        description="Managers the worker kept out (leads only): never shown it, even as leads.",
    )
    acknowledged_by: str | None = None
    claimed_by: str | None = None
    closed_reason: str | None = None
    closed_at: datetime | None = Field(
        default=None,
        description="When it was closed: kept in clear, retention counts from it.",
    )
    timeline: list[TimelineEntry] = Field(default_factory=list)
    checkins: list[CheckIn] = Field(default_factory=list)
    evidence: list[EvidenceItem] = Field(
        default_factory=list,
        description="The evidence log: a hash chain of what she kept (bot.evidence.log).",
    )
    counted_while_private: bool = Field(
        default=False,
        description="Kept as her own record, and she was told when she filed it that it is "
        "counted, anonymously, in the agency's figures (HARBOUR_FIGURES_COUNT_ONLY_ME).",
    )
    pack_consent: list[str] = Field(
        default_factory=list,
        description="Who she agreed may have her evidence pack (person keys), besides her.",
    )

    @model_validator(mode="before")
    @classmethod
    def _closed_when(cls, data: Any) -> Any:
        """Reports stored closed before `closed_at` existed (2026-12-02) were
        closed when their timeline says (or, failing that, when filed)."""
        if not isinstance(data, dict) or "closed_at" in data:
            return data
        if data.get("status") != ReportStatus.CLOSED.value:
            return data
        closings = [
            e.at if isinstance(e, TimelineEntry) else e.get("at")
            for e in data.get("timeline") or ()
            if (e.action if isinstance(e, TimelineEntry) else e.get("action")) == "closed"
        ]
        return {**data, "closed_at": closings[-1] if closings else data.get("filed_at")}

    def log(self, at: datetime, action: str, actor: str | None = None, detail: str = "") -> None:
        self.timeline.append(TimelineEntry(at=at, actor=actor, action=action, detail=detail))

    @property
    def manager_may_see(self) -> bool:
        return self.answers.audience in (None, Audience.MANAGER_AND_LEADS)

    @property
    def leads_may_see(self) -> bool:
        """Not when the worker kept it as their own record (danger is passed on regardless)."""
        return self.answers.audience is not Audience.ONLY_ME or self.answers.in_danger is True

    def consumed_drafts(self) -> set[str]:
        """Ids of every draft whose result is already in this report."""
        ids = {self.draft_id, *(u.id for u in self.updates)}
        if self.reflection_draft_id:
            ids.add(self.reflection_draft_id)
        return ids


def format_reference(year: int, seq: int) -> str:
    return f"HB-{year}-{seq:04d}"


def parse_reference(text: str) -> tuple[int, int] | None:
    """`hb-2026-42` or `HB-2026-0042` -> (2026, 42); anything else -> None."""
    parts = text.strip().upper().split("-")
    if len(parts) != 3 or parts[0] != "HB":
        return None
    year, seq = parts[1], parts[2]
    if not (year.isdigit() and len(year) == 4 and seq.isdigit() and 0 < len(seq) <= 7):
        return None
    return int(year), int(seq)


class EventKind(StrEnum):
    REPORT_FILED = "report_filed"
    RISK_CRITICAL = "risk_critical"
    REPORT_UPDATED = "report_updated"
    CASE_CHANGED = "case_changed"
    ESCALATED = "escalated"
    FOLLOW_UP = "follow_up"
    MANAGER_NAMED = "manager_named"
    MANAGER_CHANGED = "manager_changed"
    DANGER_MANAGER = "danger_manager"
    CHECKIN_DUE = "checkin_due"
    CHECKIN_ANSWERED = "checkin_answered"
    CHECKIN_MISSED = "checkin_missed"
    CHECKIN_NOTE = "checkin_note"
    CHECKIN_PUT_OFF = "checkin_put_off"
    CHECKINS_STOPPED = "checkins_stopped"
    CHECKINS_ON = "checkins_on"
    TALK_UNANSWERED = "talk_unanswered"


CHECKIN_EVENTS = frozenset(
    {
        EventKind.CHECKIN_DUE,
        EventKind.CHECKIN_ANSWERED,
        EventKind.CHECKIN_MISSED,
        EventKind.CHECKIN_NOTE,
        EventKind.CHECKIN_PUT_OFF,
        EventKind.CHECKINS_STOPPED,
        EventKind.CHECKINS_ON,
        EventKind.TALK_UNANSWERED,
    }
)


class FollowUp(StrEnum):
    """What Harbour does, on its own clock, about a case nobody has taken on."""

    LEADS = "leads"
    """Not taken in time: every safety lead hears again, the manager is reminded."""
    ADMINS = "admins"
    """Still nobody: Harbour's administrators are told (without content)."""
    REMINDER = "reminder"
    """A critical case still nobody has taken: reminded until someone does."""


class CaseChange(StrEnum):
    """What a person did to a case (the case-team actions of `bot.access.Action`)."""

    ACKNOWLEDGE = "ack"
    CLAIM = "claim"
    RECORD_ACTION = "action"
    NOTE = "note"
    ESCALATE = "escalate"
    CLOSE = "close"


class DomainEvent(BaseModel):
    """Something others must hear about, kept in the outbox until delivered.

    It carries references only, never incident content: whoever delivers it
    reads the report and decides what the recipient may see. Each kind fills
    the field that says what it is about: `draft_id` (raised before the report
    existed, or the report's own draft), `change` (a case action), `checkin_id`
    or `follow_up`.
    """

    id: str = Field(default_factory=lambda: uuid.uuid4().hex)
    kind: EventKind
    at: datetime
    reporter: PersonRef
    reference: str | None = None
    risk: RiskLevel | None = None
    source: Literal["report", "draft"] = "report"
    draft_id: str | None = None
    change: CaseChange | None = None
    checkin_id: str | None = None
    follow_up: FollowUp | None = None
    delivered_at: datetime | None = None

    @model_validator(mode="before")
    @classmethod
    def _from_one_field(cls, data: Any) -> Any:
        """Events stored before 2026-12-02 carried everything in `draft_id`:
        a check-in id, a case action, or "timer" for an escalation."""
        if not isinstance(data, dict) or data.get("draft_id") is None:
            return data
        kind, detail = data.get("kind"), data["draft_id"]
        if kind in CHECKIN_EVENTS and not data.get("checkin_id"):
            return {**data, "checkin_id": detail, "draft_id": None}
        if kind == EventKind.ESCALATED and detail == "timer":
            return {
                **data,
                "kind": EventKind.FOLLOW_UP,
                "follow_up": FollowUp.LEADS,
                "draft_id": None,
            }
        if kind in (EventKind.CASE_CHANGED, EventKind.ESCALATED) and not data.get("change"):
            known = detail in {c.value for c in CaseChange}
            return {**data, "change": detail if known else None, "draft_id": None}
        return data
