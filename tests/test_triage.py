"""Risk triage, rule by rule: each rule alone, then how rules combine."""

from __future__ import annotations

from typing import Any

import pytest

from bot.reports import AbuseKind, ReportAnswers, RiskLevel
from bot.triage import RULES, assess, matching_rules

K = AbuseKind

# One case per rule: answers that should make exactly that rule match.
CASES: dict[str, tuple[dict[str, Any], RiskLevel]] = {
    "immediate-danger": ({"in_danger": True}, RiskLevel.CRITICAL),
    "threat-and-home-exposed": (
        {"kinds": [K.THREATS, K.PERSONAL_DETAILS], "details_exposed": ["school"]},
        RiskLevel.CRITICAL,
    ),
    "threats": ({"kinds": [K.THREATENING_MESSAGES]}, RiskLevel.HIGH),
    "stalking": ({"kinds": [K.STALKING]}, RiskLevel.HIGH),
    "home-exposed": (
        {"kinds": [K.PERSONAL_DETAILS], "details_exposed": ["home"]},
        RiskLevel.HIGH,
    ),
    "case-information": ({"kinds": [K.CASE_INFORMATION]}, RiskLevel.HIGH),
    "children-affected": (
        {"kinds": [K.FAMILY_PHOTOS], "affected": ["children"]},
        RiskLevel.HIGH,
    ),
    "very-worried": ({"worry": 5}, RiskLevel.HIGH),
    "other-details-exposed": (
        {"kinds": [K.PERSONAL_DETAILS], "details_exposed": ["contact"]},
        RiskLevel.MEDIUM,
    ),
    "family-photos": ({"kinds": [K.FAMILY_PHOTOS]}, RiskLevel.MEDIUM),
    "recordings": ({"kinds": [K.RECORDINGS]}, RiskLevel.MEDIUM),
    "ongoing": ({"frequency": "daily"}, RiskLevel.MEDIUM),
    "worried": ({"worry": 4}, RiskLevel.MEDIUM),
    "complaint": ({"kinds": [K.COMPLAINTS]}, RiskLevel.LOW),
}


def test_every_rule_has_a_case() -> None:
    assert set(CASES) == {rule.id for rule in RULES}


@pytest.mark.parametrize("rule_id", list(CASES))
def test_rule(rule_id: str) -> None:
    fields, level = CASES[rule_id]
    answers = ReportAnswers(**fields)
    matched = {rule.id for rule in matching_rules(answers)}
    # Combination rules also match the simpler rules they build on.
    implied = {
        "threat-and-home-exposed": {"threats", "home-exposed"},
        "children-affected": {"family-photos"},
    }.get(rule_id, set())
    assert matched == {rule_id} | implied
    result = assess(answers)
    assert result.level is level
    rule = next(r for r in RULES if r.id == rule_id)
    assert rule.reason in result.reasons


def test_nothing_matches_is_low_with_no_reasons() -> None:
    result = assess(ReportAnswers())
    assert result.level is RiskLevel.LOW
    assert result.reasons == ()


def test_danger_no_is_not_critical() -> None:
    assert assess(ReportAnswers(in_danger=False)).level is RiskLevel.LOW


def test_constant_counts_as_ongoing_but_a_few_times_does_not() -> None:
    assert assess(ReportAnswers(frequency="constant")).level is RiskLevel.MEDIUM
    assert assess(ReportAnswers(frequency="few")).level is RiskLevel.LOW


def test_threats_without_home_details_are_high_not_critical() -> None:
    answers = ReportAnswers(kinds=[K.THREATS, K.PERSONAL_DETAILS], details_exposed=["contact"])
    assert assess(answers).level is RiskLevel.HIGH


def test_home_details_ticked_without_the_kind_do_not_count() -> None:
    # details are only asked when personal details were chosen; stale ones are ignored
    answers = ReportAnswers(kinds=[K.THREATS], details_exposed=["home"])
    assert assess(answers).level is RiskLevel.HIGH


def test_reasons_are_ordered_most_serious_first() -> None:
    answers = ReportAnswers(kinds=[K.COMPLAINTS, K.RECORDINGS, K.STALKING], in_danger=True)
    result = assess(answers)
    assert result.level is RiskLevel.CRITICAL
    assert result.reasons[0] == "Someone may be in immediate danger."
    assert result.reasons[-1] == "A complaint about the worker or the agency."
    assert len(result.reasons) == 4


def test_updates_raise_the_series_risk() -> None:
    original = ReportAnswers(kinds=[K.COMPLAINTS])
    later = ReportAnswers(kinds=[K.THREATS, K.PERSONAL_DETAILS], details_exposed=["children"])
    assert assess(original).level is RiskLevel.LOW
    result = assess(original, updates=[later])
    assert result.level is RiskLevel.CRITICAL
    assert len(result.reasons) == len(set(result.reasons))
