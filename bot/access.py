"""Who sees what: the one place that decides what a person may do to a case.

Every read and every action on every surface asks `Access.decide`; who an
alert goes to is asked of `Access.managers_told` and `Access.leads_told`.
Nothing else in Harbour decides.

The rules, as the README's "Who sees what" table states them:

- The reporter sees her own case (status and what was done for her, not the
  case team's notes), updates it, reflects on it and answers its check-ins.
  She never acts on it as case team, even when she is a safety lead.
- "Her manager" means the people named on the report when it was filed (or
  when she named or shared it with a manager afterwards), only while the
  worker chose to tell her manager. A later change in the directory does not
  give a new manager earlier reports: the worker is asked whether to share
  them, and the old manager's access ends when an administrator changes it.
- The safety leads see and act on every case except one the worker kept as
  her own record (unless someone was in immediate danger).
- A manager the worker kept out (she chose "only the safety leads") has no
  access at all, even if she is also a safety lead: she may be the problem.
- Administrators change the directory; being one gives no access to cases,
  only to the audit of those the safety leads may see (who looked and when,
  never what the case says).
- A case's audit (`audit HB-…`) is read by the safety leads, administrators
  and the worker herself (who has seen her report); not by her manager.
- Anyone else: the case does not exist (the same reply as a wrong reference,
  so references cannot be probed).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from bot.directory import Directory, parse_person
from bot.models import PersonRef
from bot.reports import Report, ReportStatus


class Action(StrEnum):
    """Everything a person can do to a case. The role matrix test has a row for each."""

    VIEW = "view"
    LIST = "list"
    ACKNOWLEDGE = "ack"
    CLAIM = "claim"
    RECORD_ACTION = "action"
    NOTE = "note"
    ESCALATE = "escalate"
    CLOSE = "close"
    SCHEDULE_CHECKINS = "checkins"
    ANSWER_CHECKIN = "answer-checkin"
    TAKE_TALK = "talk"
    UPDATE = "update"
    REFLECT = "reflect"
    SHARE = "share"
    READ_AUDIT = "audit"


class Role(StrEnum):
    REPORTER = "reporter"
    MANAGER = "manager"
    LEAD = "lead"
    EXCLUDED = "excluded"  # a manager the worker chose to keep out
    ADMIN = "admin"  # reads the audit of a case the leads may see; nothing of the case


class Refusal(StrEnum):
    NOT_FOUND = "not-found"  # may not even know the case exists
    NOT_ALLOWED = "not-allowed"  # sees the case, may not do this
    CLOSED = "closed"
    ALREADY_CLAIMED = "already-claimed"
    ALREADY_ACKNOWLEDGED = "already-acknowledged"


class CaseView(StrEnum):
    """What of a case a person is shown."""

    CASE_TEAM = "case-team"  # everything the worker shared, and the case team's notes
    REPORTER = "reporter"  # her own answers, the status and what was done for her


@dataclass(frozen=True)
class Decision:
    allowed: bool
    refusal: Refusal | None = None

    def __bool__(self) -> bool:
        return self.allowed


ALLOW = Decision(True)

WHO_MAY: dict[Action, frozenset[Role]] = {
    Action.VIEW: frozenset({Role.REPORTER, Role.MANAGER, Role.LEAD}),
    Action.LIST: frozenset({Role.MANAGER, Role.LEAD}),
    Action.ACKNOWLEDGE: frozenset({Role.MANAGER, Role.LEAD}),
    Action.CLAIM: frozenset({Role.LEAD}),
    Action.RECORD_ACTION: frozenset({Role.MANAGER, Role.LEAD}),
    Action.NOTE: frozenset({Role.MANAGER, Role.LEAD}),
    Action.ESCALATE: frozenset({Role.MANAGER}),
    Action.CLOSE: frozenset({Role.MANAGER, Role.LEAD}),
    Action.SCHEDULE_CHECKINS: frozenset({Role.MANAGER, Role.LEAD}),
    Action.ANSWER_CHECKIN: frozenset({Role.REPORTER}),
    Action.TAKE_TALK: frozenset({Role.MANAGER, Role.LEAD}),
    Action.UPDATE: frozenset({Role.REPORTER}),
    Action.REFLECT: frozenset({Role.REPORTER}),
    Action.SHARE: frozenset({Role.REPORTER}),
    Action.READ_AUDIT: frozenset({Role.REPORTER, Role.LEAD, Role.ADMIN}),
}
"""Which roles may do each action (a person may hold several roles)."""

OPEN_ONLY = frozenset(
    {
        Action.ACKNOWLEDGE,
        Action.CLAIM,
        Action.RECORD_ACTION,
        Action.ESCALATE,
        Action.CLOSE,
        Action.SCHEDULE_CHECKINS,
        Action.TAKE_TALK,
        Action.SHARE,
    }
)
"""Actions that make no sense on a closed case (a note may still be added)."""


class Access:
    """The access policy, over the live directory and the administrators' ids."""

    def __init__(self, directory: Directory, admins: frozenset[str] = frozenset()) -> None:
        self.directory = directory
        self.admins = admins

    # ------------------------------------------------------------------ people

    def is_admin(self, person: PersonRef) -> bool:
        """Administrators are named by their full Harbour id, never a bare user id."""
        return person.key in self.admins

    def is_lead(self, person: PersonRef) -> bool:
        return self.directory.is_lead(person)

    def roles(self, person: PersonRef, report: Report) -> frozenset[Role]:
        if person == report.reporter:
            return frozenset({Role.REPORTER})
        if person.key in report.kept_out or (
            not report.manager_may_see
            and (
                person.key in report.managers
                or self.directory.is_manager_of(person, report.reporter)
            )
        ):
            return frozenset({Role.EXCLUDED})
        roles: set[Role] = set()
        if report.manager_may_see and person.key in report.managers:
            roles.add(Role.MANAGER)
        if self.directory.is_lead(person) and report.leads_may_see:
            roles.add(Role.LEAD)
        if self.is_admin(person) and report.leads_may_see:
            roles.add(Role.ADMIN)
        return frozenset(roles)

    # ------------------------------------------------------------------ decisions

    def decide(self, person: PersonRef, action: Action, report: Report) -> Decision:
        """May this person do this to this case, and if not, why not."""
        roles = self.roles(person, report)
        if not roles & (WHO_MAY[Action.VIEW] | WHO_MAY[action]):
            return Decision(False, Refusal.NOT_FOUND)
        if not roles & WHO_MAY[action]:
            return Decision(False, Refusal.NOT_ALLOWED)
        if action in OPEN_ONLY and report.status is ReportStatus.CLOSED:
            return Decision(False, Refusal.CLOSED)
        if action is Action.CLAIM and report.claimed_by is not None:
            return Decision(False, Refusal.ALREADY_CLAIMED)
        if action is Action.ACKNOWLEDGE and report.acknowledged_by is not None:
            return Decision(False, Refusal.ALREADY_ACKNOWLEDGED)
        return ALLOW

    def view(self, person: PersonRef, report: Report) -> CaseView | None:
        """Which view of the case this person gets, or None: not for them."""
        roles = self.roles(person, report)
        if roles & {Role.MANAGER, Role.LEAD}:
            return CaseView.CASE_TEAM
        return CaseView.REPORTER if Role.REPORTER in roles else None

    def actions(self, person: PersonRef, report: Report) -> list[Action]:
        """The case-team actions this person may take now, in the order offered."""
        lead = Role.LEAD in self.roles(person, report)
        # A safety lead is never offered "escalate to the safety leads": she is one.
        return [
            a
            for a in CASE_TEAM_ACTIONS
            if self.decide(person, a, report) and not (lead and a is Action.ESCALATE)
        ]

    # ------------------------------------------------------------------ alerts

    def managers_told(self, report: Report) -> list[PersonRef]:
        """Who gets the manager's alerts about this case."""
        if not report.manager_may_see:
            return []
        people = (parse_person(k) for k in report.managers)
        return [p for p in people if p is not None and p != report.reporter]

    @staticmethod
    def leads_told(report: Report) -> bool:
        """Whether the safety leads hear about this case at all."""
        return report.leads_may_see

    def current_managers(self, worker: PersonRef) -> list[PersonRef]:
        """Who the directory says manages this worker now (for a new report, or
        one she shares); earlier reports keep the managers named on them."""
        return [m for m in self.directory.managers_of(worker) if m != worker]

    def danger_managers(self, reporter: PersonRef, *, manager_told: bool) -> list[PersonRef]:
        """Who hears of immediate danger before the report is filed: her current
        managers, and only once she said her manager may be told."""
        return self.current_managers(reporter) if manager_told else []


CASE_TEAM_ACTIONS = (
    Action.CLAIM,
    Action.ACKNOWLEDGE,
    Action.SCHEDULE_CHECKINS,
    Action.RECORD_ACTION,
    Action.NOTE,
    Action.ESCALATE,
    Action.CLOSE,
)
"""The buttons a case offers its team, in order."""
