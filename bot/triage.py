"""Risk triage: a pure function from a report's answers to a risk level.

The rules are a table, read top to bottom; every rule that matches adds its
reason, and the level is the highest level among them (low when none match).
A manager reads the reasons in the alert, so each one says plainly why.

| rule id                 | level    | matches when                                                  |
|-------------------------|----------|---------------------------------------------------------------|
| immediate-danger        | critical | the worker said someone is in immediate danger                |
| threat-and-home-exposed | critical | threats of any kind, and home, children or school exposed     |
| threats                 | high     | threatening messages, or threats against the worker or family |
| stalking                | high     | being followed or watched through personal accounts           |
| home-exposed            | high     | home, children or school details posted                       |
| case-information        | high     | case or foster carer details shared (may breach in camera)    |
| children-affected       | high     | the worker's children are affected by photos or details       |
| very-worried            | high     | the worker rates their worry 5 of 5                           |
| other-details-exposed   | medium   | other personal details posted (phone, email, workplace…)      |
| family-photos           | medium   | family photos reshared                                        |
| recordings              | medium   | recordings of practice shared without consent                 |
| ongoing                 | medium   | it happens most days or constantly                            |
| worried                 | medium   | the worker rates their worry 4 of 5                           |
| complaint               | low      | a complaint about the worker or the agency                    |
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

from bot.reports import HOME_DETAILS, AbuseKind, Assessment, ReportAnswers, RiskLevel

THREAT_KINDS = frozenset({AbuseKind.THREATENING_MESSAGES, AbuseKind.THREATS})


@dataclass(frozen=True)
class Rule:
    id: str
    level: RiskLevel
    reason: str
    matches: Callable[[ReportAnswers], bool]


def _home_exposed(a: ReportAnswers) -> bool:
    return AbuseKind.PERSONAL_DETAILS in a.kinds and bool(HOME_DETAILS & set(a.details_exposed))


def _threatened(a: ReportAnswers) -> bool:
    return bool(THREAT_KINDS & set(a.kinds))


RULES: tuple[Rule, ...] = (
    Rule(
        "immediate-danger",
        RiskLevel.CRITICAL,
        "Someone may be in immediate danger.",
        lambda a: a.in_danger is True,
    ),
    Rule(
        "threat-and-home-exposed",
        RiskLevel.CRITICAL,
        "Threats together with home, children or school details made public.",
        lambda a: _threatened(a) and _home_exposed(a),
    ),
    Rule("threats", RiskLevel.HIGH, "Threats were made.", _threatened),
    Rule(
        "stalking",
        RiskLevel.HIGH,
        "The worker is being followed or watched online.",
        lambda a: AbuseKind.STALKING in a.kinds,
    ),
    Rule(
        "home-exposed",
        RiskLevel.HIGH,
        "Home, children or school details were posted.",
        _home_exposed,
    ),
    Rule(
        "case-information",
        RiskLevel.HIGH,
        "Case or foster carer information was shared; this may breach court rules (in camera).",
        lambda a: AbuseKind.CASE_INFORMATION in a.kinds,
    ),
    Rule(
        "children-affected",
        RiskLevel.HIGH,
        "The worker's children are affected.",
        lambda a: (
            "children" in a.affected
            and bool({AbuseKind.FAMILY_PHOTOS, AbuseKind.PERSONAL_DETAILS} & set(a.kinds))
        ),
    ),
    Rule(
        "very-worried",
        RiskLevel.HIGH,
        "The worker is extremely worried (5 of 5).",
        lambda a: a.worry == 5,
    ),
    Rule(
        "other-details-exposed",
        RiskLevel.MEDIUM,
        "Personal details were posted.",
        lambda a: AbuseKind.PERSONAL_DETAILS in a.kinds and not _home_exposed(a),
    ),
    Rule(
        "family-photos",
        RiskLevel.MEDIUM,
        "Family photos were reshared.",
        lambda a: AbuseKind.FAMILY_PHOTOS in a.kinds,
    ),
    Rule(
        "recordings",
        RiskLevel.MEDIUM,
        "Recordings of practice were shared without consent.",
        lambda a: AbuseKind.RECORDINGS in a.kinds,
    ),
    Rule(
        "ongoing",
        RiskLevel.MEDIUM,
        "It is happening most days or constantly.",
        lambda a: a.frequency in {"daily", "constant"},
    ),
    Rule(
        "worried",
        RiskLevel.MEDIUM,
        "The worker is very worried (4 of 5).",
        lambda a: a.worry == 4,
    ),
    Rule(
        "complaint",
        RiskLevel.LOW,
        "A complaint about the worker or the agency.",
        lambda a: AbuseKind.COMPLAINTS in a.kinds,
    ),
)


def matching_rules(answers: ReportAnswers) -> list[Rule]:
    return [rule for rule in RULES if rule.matches(answers)]


def assess(answers: ReportAnswers, *, updates: Iterable[ReportAnswers] = ()) -> Assessment:
    """The risk of a report, taking later updates in the same series into account.

    Each update is assessed as if it were its own report; the series is as
    serious as its most serious part.
    """
    matched: list[Rule] = []
    for part in (answers, *updates):
        matched.extend(rule for rule in matching_rules(part) if rule not in matched)
    if not matched:
        return Assessment(level=RiskLevel.LOW, reasons=())
    matched.sort(key=lambda rule: -rule.level.rank)
    return Assessment(level=matched[0].level, reasons=tuple(rule.reason for rule in matched))
