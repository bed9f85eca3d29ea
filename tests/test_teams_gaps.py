"""Gaps found at the Teams seam, each walked through the real Agents SDK app
against the local fake Bot Connector (the journeys' harness): mentions of
people, several choices outside a form, the check-in choice's numeric values,
and a form page's answers kept by Pause."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest

from tests.fakes.teams import BOT, TENANT, mention
from tests.test_teams_journeys import ALICE, ALICE_REF, REF, START, Journey, _confirm, j

__all__ = ["j"]  # the journeys' fixture


def _days(report_checkins: list[object]) -> list[int]:
    return [round((c.due - START) / timedelta(days=1)) for c in report_checkins]  # type: ignore[attr-defined]


# ---------------------------------------------------------------------- mentions


async def _say(j: Journey, text: str, user: str, **fields: Any) -> str:
    """Type in the personal chat with extra activity fields (mention entities)."""
    mark = j.mark(user)
    await j.t.say(text, user, **fields)
    return j.seen(user, mark)


async def test_a_person_mentioned_in_teams_is_the_person_named(j: Journey) -> None:
    """Issue "People named the way each surface names them: … Teams mentions"."""
    await j.file_by_pressing()
    await j.deliver()
    said = await _say(j, "checkin <at>Alice</at> in 3 days", "bob", entities=[mention("alice")])
    assert f"Check-ins for {REF} scheduled" in said, said
    report = await j.t.store.get_report(REF)
    assert report is not None and _days(report.checkins) == [3]


async def test_the_bots_own_mention_is_not_read_as_a_person(j: Journey) -> None:
    await j.file_by_pressing()
    await j.deliver()
    harbour = {
        "type": "mention",
        "mentioned": {"id": BOT, "name": "Harbour"},
        "text": "<at>Harbour</at>",
    }
    said = await _say(
        j,
        "<at>Harbour</at> checkin <at>Alice</at> tomorrow",
        "bob",
        entities=[harbour, mention("alice")],
    )
    assert f"Check-ins for {REF} scheduled" in said, said
    report = await j.t.store.get_report(REF)
    assert report is not None and report.reporter.key == ALICE == f"teams:{TENANT}:aad-alice"
    assert _days(report.checkins) == [1]


# ---------------------------------------------------------------------- check-in choice


@pytest.mark.parametrize(("label", "value", "days"), [("In 3 days", "3", 3), ("In a week", "7", 7)])
async def test_checkin_choice_pressed_schedules_the_days_it_says(
    j: Journey, label: str, value: str, days: int
) -> None:
    """Numeric option values must not be read as positions in the list."""
    await j.file_by_pressing()
    await j.deliver()
    alert = j.card_with("bob", "New report from your team")
    await j.press("Schedule check-ins", "bob", card=alert)
    form = j.t.last_card("bob")
    [choice] = [e for e in form["body"] if e.get("id") == "what"]
    assert {"title": label, "value": value} in choice["choices"]
    await j.submit({"what": value}, "bob")
    confirm = _confirm(j.t.last_card("bob"))
    assert confirm and label in j.t.text("bob"), j.t.text("bob")
    await j.press(confirm, "bob")
    report = await j.t.store.get_report(REF)
    assert report is not None and _days(report.checkins) == [days]


@pytest.mark.parametrize(("label", "days"), [("In 3 days", 3), ("In a week", 7)])
async def test_checkin_choice_typed_schedules_the_days_it_says(
    j: Journey, label: str, days: int
) -> None:
    await j.file_by_pressing()
    await j.deliver()
    await j.say(f"cases {REF}", "bob")
    said = await j.say("schedule check-ins", "bob")
    assert "When should I check in" in said, said
    said = await j.say(label, "bob")
    assert label in said, said
    await j.say("yes", "bob")
    report = await j.t.store.get_report(REF)
    assert report is not None and _days(report.checkins) == [days]


# ---------------------------------------------------------------------- pause keeps answers


async def test_pause_on_a_page_keeps_what_was_typed_and_resume_shows_it(j: Journey) -> None:
    await j.say("report")
    await j.submit({"danger": "no"})
    await j.submit({"kinds": "threats,personal_details"})
    await j.submit({"details_exposed": "home"})
    page = j.t.last_card()
    assert "links" in json.dumps(page)
    await j.press("Pause", inputs={"platforms": "facebook", "links": "https://facebook.com/p/9"})
    assert "draft is saved" in j.seen("alice", -1)
    session = await j.t.store.load_session(ALICE_REF)
    assert session is not None
    kept = session.drafts["report"].answers
    assert kept.get("platforms") == ["facebook"]
    assert kept.get("links") == ["https://facebook.com/p/9"]
    await j.say("report")
    await j.press("Carry on with my draft")
    resumed = json.dumps(j.t.last_card())
    assert "https://facebook.com/p/9" in resumed


async def test_help_on_a_page_shows_it_again_with_what_was_typed(j: Journey) -> None:
    await j.say("report")
    await j.submit({"danger": "no"})
    await j.submit({"kinds": "threats,personal_details"})
    await j.submit({"details_exposed": "home"})
    await j.press("Help", inputs={"platforms": "facebook", "links": "https://facebook.com/p/9"})
    assert "https://facebook.com/p/9" in json.dumps(j.t.last_card())


async def test_a_missing_required_answer_is_refused_by_harbour_not_by_teams(j: Journey) -> None:
    """Inputs are not `isRequired` (Teams would block Pause until answered), so
    Next with a required answer missing gets the core's own kind refusal."""
    await j.say("report")
    page = j.t.last_card()
    assert "isRequired" not in json.dumps(page)
    assert not any(a.get("associatedInputs") == "none" for a in page["actions"])
    await j.submit({})
    assert "need another look" in j.seen("alice", -1)
    session = await j.t.store.load_session(ALICE_REF)
    assert session is not None and "in_danger" not in session.drafts["report"].answers
