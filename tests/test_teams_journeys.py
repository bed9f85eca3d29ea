"""The Done-when journeys, at the Teams seam: the real Agents SDK app (local
trial) against the local fake Bot Connector, alerts delivered by the real
Notifier. Each journey is walked twice where Teams allows both: by pressing
(Action.Execute on the cards Harbour sent, as Teams shows them after each
press) and by typing in the personal chat.

Who is who: Alice reports (her manager is Bob), Carol is a safety lead, Admin
registers the safety leads' channel.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer

from adapters.slack.config import SlackSettings
from adapters.teams import cards
from adapters.teams.app import MESSAGE_RESPONSE
from adapters.teams.config import load_teams_settings
from bot.config import Settings
from bot.directory import Directory
from bot.models import PersonRef, Platform
from bot.reports import ReportStatus
from bot.server import Server, build
from bot.store import MemoryStore
from tests.conftest import TYPED_REPORT
from tests.fakes.teams import TENANT, FakeConnector, activity, execute
from tests.test_teams import PAGES, TeamsHarness

ALICE_REF = PersonRef(platform=Platform.TEAMS, workspace=TENANT, user="aad-alice")
ALICE = ALICE_REF.key
BOB = f"teams:{TENANT}:aad-bob"
CAROL = f"teams:{TENANT}:aad-carol"
ADMIN = f"teams:{TENANT}:aad-admin"
CHANNEL = "19:leads@thread.tacv2"
REF = "HB-2026-0001"
SHARED_WITH_MANAGER = [*PAGES[:-1], {"audience": "manager_and_leads"}]
START = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


class Journey:
    """A Teams harness with a clock, the notifier, and what each person sees."""

    def __init__(self, t: TeamsHarness, server: Server, now: list[datetime]) -> None:
        self.t, self.server, self.now = t, server, now

    # ------------------------------------------------------------ what people see

    def cards(self, user: str) -> list[dict[str, Any]]:
        return self.t.fake.cards(f"a:{user}-personal")

    def seen(self, user: str, since: int = 0) -> str:
        return json.dumps(self.cards(user)[since:], ensure_ascii=False)

    def mark(self, user: str) -> int:
        return len(self.cards(user))

    def card_with(self, user: str, words: str) -> dict[str, Any]:
        found = [c for c in self.cards(user) if words in json.dumps(c, ensure_ascii=False)]
        assert found, f"no card for {user} says {words!r}"
        return found[-1]

    # ------------------------------------------------------------ doing things

    async def say(self, text: str, user: str = "alice") -> str:
        """Type in the personal chat; returns what Harbour sent back."""
        mark = self.mark(user)
        await self.t.say(text, user)
        return self.seen(user, mark)

    async def press(
        self,
        title: str,
        user: str = "alice",
        card: dict[str, Any] | None = None,
        inputs: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """Press a button (Action.Execute); returns the card Teams now shows in
        the pressed one's place."""
        body = await self.t.press(title, inputs, user=user, card=card)
        assert body["statusCode"] == 200 and body["type"] == cards.CARD_CONTENT_TYPE, body
        shown: dict[str, Any] = body["value"]
        return shown

    async def submit(self, inputs: dict[str, Any], user: str = "alice") -> dict[str, Any]:
        return await self.press(_primary(self.t.last_card(user)), user, inputs=inputs)

    async def deliver(self) -> None:
        assert self.server.notifier is not None
        await self.server.notifier.run_once()

    def later(self, **delta: float) -> None:
        self.now[0] += timedelta(**delta)

    async def open_chat(self, user: str) -> None:
        """The person installs Harbour (so Teams has told it how to reach them)."""
        await self.t.post(activity(self.t.url, user, kind="installationUpdate", action="add"))

    async def register_channel(self, user: str = "admin") -> None:
        await self.t.post(
            activity(
                self.t.url,
                user,
                text="register safety-leads",
                conversation=f"{CHANNEL};messageid=1700000000001",
                conversation_type="channel",
                channelData={"tenant": {"id": TENANT}, "channel": {"id": CHANNEL}},
            )
        )

    async def file_by_pressing(self, pages: list[dict[str, str]] = SHARED_WITH_MANAGER) -> str:
        await self.say("report")
        for page in pages:
            await self.submit(page)
        await self.press("File report")
        return self.seen("alice", self.mark("alice") - 1)


def _primary(card: dict[str, Any]) -> str:
    title: str = next(a for a in card["actions"] if a.get("style") == "positive")["title"]
    return title


def _dump(card: dict[str, Any]) -> str:
    return json.dumps(card, ensure_ascii=False)


def _titles(card: dict[str, Any]) -> list[str]:
    return [a["title"] for a in card.get("actions", [])]


@pytest.fixture
async def j() -> AsyncIterator[Journey]:
    fake = FakeConnector()
    service_url = await fake.start()
    store = MemoryStore()
    directory = Directory(managers={ALICE: [BOB]}, leads={CAROL})
    server = build(
        Settings(_env_file=None, admins=ADMIN),  # type: ignore[call-arg]
        SlackSettings(_env_file=None),  # type: ignore[call-arg]
        store,
        load_teams_settings({"HARBOUR_TEAMS_LOCAL_TRIAL": "true"}),
        directory=directory,
    )
    assert server.teams is not None
    now = [START]
    server.harbour.clock = lambda: now[0]
    client = TestClient(TestServer(server.web_app, host="127.0.0.1"))
    await client.start_server()
    journey = Journey(TeamsHarness(fake, service_url, client, server.teams, store), server, now)
    await journey.open_chat("alice")
    await journey.open_chat("bob")
    try:
        yield journey
    finally:
        await client.close()
        await fake.close()


# ---------------------------------------------------------------------- the worker


async def test_report_filed_by_pressing(j: Journey) -> None:
    filed = await j.file_by_pressing()
    assert f"Your reference is {REF}" in filed
    report = await j.t.store.get_report(REF)
    assert report is not None and report.reporter.key == ALICE
    assert report.answers.kinds == ["threats", "personal_details"]
    await j.deliver()
    assert "New report from your team" in j.seen("bob")


async def test_report_filed_by_typing(j: Journey) -> None:
    said = await j.say("report")
    assert "First, your safety" in said
    for _, answer in TYPED_REPORT:  # its last answer, "1": my manager and the leads
        said = await j.say(answer)
    assert "Shall I file this report?" in said
    said = await j.say("yes")
    assert f"Your reference is {REF}" in said
    report = await j.t.store.get_report(REF)
    assert report is not None
    assert report.answers.details_exposed == ["home", "school"]
    assert report.answers.description == "Posts naming me and my street."
    await j.deliver()
    assert "New report from your team" in j.seen("bob")


async def test_pause_and_resume_by_pressing(j: Journey) -> None:
    await j.say("report")
    await j.submit({"danger": "no"})
    paused = await j.press("Pause")
    assert "actions" not in paused  # the paused page can't be pressed again
    assert "draft is saved" in j.seen("alice", -1)
    await j.say("hello")  # a paused draft is kept whatever else is said
    await j.say("report")
    assert "Carry on with my draft" in j.t.text()
    await j.press("Carry on with my draft")
    page = j.t.last_card()
    assert "What has been happening?" in json.dumps(page)
    await j.submit({"kinds": "stalking"})
    session = await j.t.store.load_session(ALICE_REF)
    assert session is not None and session.drafts["report"].answers["kinds"] == ["stalking"]


async def test_pause_and_resume_by_typing(j: Journey) -> None:
    await j.say("report")
    await j.say("no")
    said = await j.say("pause")
    assert "draft is saved" in said
    said = await j.say("resume")
    assert "carry on with it" in said
    said = await j.say("carry on with my draft")
    assert "What has been happening?" in said
    await j.say("2")
    session = await j.t.store.load_session(ALICE_REF)
    assert session is not None and session.drafts["report"].answers["kinds"] == ["stalking"]


async def _fill_by_pressing(j: Journey, first: dict[str, str]) -> str:
    """Answer the first page, leave the rest empty, and confirm at the review."""
    await j.submit(first)
    for _ in range(6):
        if _confirm(j.t.last_card()):
            break
        await j.submit({})
    confirm = _confirm(j.t.last_card())
    assert confirm, j.t.text()
    await j.press(confirm)
    return j.t.text()


def _confirm(card: dict[str, Any]) -> str | None:
    """The confirming button of a review card (a flow's last question)."""
    return next(
        (a["title"] for a in card.get("actions", []) if a["data"][cards.KEY].get("value") == "yes"),
        None,
    )


async def test_update_and_reflect_by_pressing(j: Journey) -> None:
    await j.file_by_pressing()
    await j.deliver()
    await j.say("update")
    assert f"This is about {REF}" in j.t.text()
    said = await _fill_by_pressing(j, {"kinds": "stalking"})
    assert f"Added to {REF}" in said
    report = await j.t.store.get_report(REF)
    assert report is not None and report.updates[-1].answers.kinds == ["stalking"]
    await j.deliver()
    assert f"{REF} has a new update from the worker" in j.seen("bob", -1)
    await j.say("reflect")
    assert f"This is about {REF}" in j.t.text() and "Your concerns" in j.t.text()
    await _fill_by_pressing(j, {"concerns": "That they will find my home."})
    report = await j.t.store.get_report(REF)
    assert report is not None and report.reflection is not None
    assert report.reflection.concerns == "That they will find my home."


async def _type_through(j: Journey, first: str) -> str:
    """Type the first answer, skip the rest, and say yes at the review."""
    await j.say(first)
    for _ in range(8):
        if _confirm(j.t.last_card()):
            break
        await j.say("skip")
    assert _confirm(j.t.last_card()), j.t.text()
    return await j.say("yes")


async def test_update_and_reflect_by_typing(j: Journey) -> None:
    await j.file_by_pressing()
    said = await j.say(f"update {REF}")
    assert f"This is about {REF}" in said
    said = await _type_through(j, "2")  # the second kind: stalking
    assert f"Added to {REF}" in said
    report = await j.t.store.get_report(REF)
    assert report is not None and report.updates[-1].answers.kinds == ["stalking"]
    said = await j.say(f"reflect {REF}")
    assert "Your concerns" in said
    await _type_through(j, "That they will find my home.")
    report = await j.t.store.get_report(REF)
    assert report is not None and report.reflection is not None
    assert report.reflection.concerns == "That they will find my home."


async def test_guidance_by_pressing_and_typing(j: Journey) -> None:
    said = await j.say("guidance evidence")
    assert "Keep evidence before it disappears" in said
    said = await j.say("asdf qwer")
    assert "See guidance" in said
    await j.press("See guidance")
    assert "guidance evidence" in j.seen("alice", -1)


# ---------------------------------------------------------------------- check-ins


async def _checkins_scheduled(j: Journey, cadence: str = "1,3,7") -> None:
    """Alice files; Bob schedules check-ins by typing (the pressed way is in the
    manager's journey)."""
    await j.file_by_pressing()
    await j.deliver()
    said = await j.say(f"checkin {ALICE} {'cadence' if cadence == '1,3,7' else 'tomorrow'}", "bob")
    assert "scheduled" in said


async def test_checkin_answered_by_pressing(j: Journey) -> None:
    await _checkins_scheduled(j)
    j.later(days=1, minutes=1)
    await j.deliver()
    ask = j.card_with("alice", "check in with you")
    assert "I need to talk now" in _titles(ask)
    shown = await j.press("I'm doing OK", card=ask)
    assert "actions" not in shown  # answered: it can't be answered twice
    assert "passing that on to your manager" in j.seen("alice", -1)
    await j.deliver()
    assert "The worker is doing OK." in j.seen("bob", -1)
    # The next one: she needs to talk, and presses it.
    j.later(days=2)
    await j.deliver()
    ask = j.card_with("alice", "check in with you")
    await j.press("I need to talk now", card=ask)
    await j.deliver()
    told = j.card_with("bob", "Please contact them now")
    mark = j.mark("bob")
    taken = await j.press("I'm on it", "bob", card=told)
    assert "I'm on it" not in json.dumps(taken)
    report = await j.t.store.get_report(REF)
    assert report is not None
    talked = [c for c in report.checkins if c.answer == "talk"]
    assert talked and talked[0].talk_taken_by == BOB
    assert "please contact them now" in json.dumps(taken)  # the alert, refreshed in place
    assert j.seen("bob", mark) == "[]" or "please contact" not in j.seen("bob", mark)


async def test_checkin_answered_by_typing_including_i_need_to_talk_now(j: Journey) -> None:
    await _checkins_scheduled(j)
    j.later(days=1, minutes=1)
    await j.deliver()
    said = await j.say("I need to talk now")
    assert "few words for your manager" in said
    said = await j.say("Another post went up about my kids' school.")
    assert "passing that on" in said
    await j.deliver()
    to_bob = j.seen("bob")
    assert "Please contact them now" in to_bob and "I'm on it" in to_bob
    assert "Another post went up about my kids" in to_bob
    j.later(days=2)
    await j.deliver()
    said = await j.say("I'm doing ok")
    assert "passing that on to your manager" in said
    await j.deliver()
    assert "The worker is doing OK." in j.seen("bob", -1)
    report = await j.t.store.get_report(REF)
    assert report is not None and [c.answer for c in report.checkins][:2] == ["talk", "ok"]


async def test_i_need_to_talk_now_typed_days_after_an_earlier_checkin_is_an_answer(
    j: Journey,
) -> None:
    await _checkins_scheduled(j)
    j.later(days=1, minutes=1)
    await j.deliver()
    await j.say("I'm doing ok")  # she doesn't take up the offer to add a few words
    j.later(days=2)
    await j.deliver()
    await j.say("I need to talk now")
    report = await j.t.store.get_report(REF)
    assert report is not None and [c.answer for c in report.checkins][:2] == ["ok", "talk"]


# ---------------------------------------------------------------------- the manager


async def _form_and_confirm(j: Journey, user: str, inputs: dict[str, str]) -> str:
    """Fill the case form Harbour just sent (a new card) and confirm its review."""
    form = j.t.last_card(user)
    assert any(e["type"].startswith("Input.") for e in form["body"]), json.dumps(form)
    await j.submit(inputs, user)
    confirm = _confirm(j.t.last_card(user))
    assert confirm, j.t.text(user)
    await j.press(confirm, user)
    return j.t.text(user)


async def test_manager_acknowledges_schedules_records_and_closes_by_pressing(j: Journey) -> None:
    await j.file_by_pressing()
    await j.deliver()
    alert = j.card_with("bob", "New report from your team")
    assert _titles(alert)[:2] == ["Acknowledge", "Schedule check-ins"]
    # Acknowledge: the alert now shows the case's status and what is still open.
    shown = await j.press("Acknowledge", "bob", card=alert)
    assert "Received" not in json.dumps(shown)
    assert f"{REF} · Acknowledged" in _dump(shown)
    assert "Acknowledge" not in _titles(shown) and "Close" in _titles(shown)
    # Schedule check-ins, from the refreshed alert: the form comes as a new card.
    shown = await j.press("Schedule check-ins", "bob", card=shown)
    assert "Received" not in json.dumps(shown) and "Record an action" in _titles(shown)
    said = await _form_and_confirm(j, "bob", {"what": "1,3,7"})
    assert f"Check-ins for {REF} scheduled" in said
    # Record an action, from the same card.
    shown = await j.press("Record an action", "bob", card=shown)
    said = await _form_and_confirm(j, "bob", {"what": "police", "note": "Rang the police."})
    assert "Received" not in json.dumps(shown)
    # Close.
    await j.press("Close", "bob", card=shown)
    said = await _form_and_confirm(j, "bob", {"what": "resolved", "note": ""})
    report = await j.t.store.get_report(REF)
    assert report is not None
    assert report.acknowledged_by == BOB and report.status is ReportStatus.CLOSED
    assert [e.action for e in report.timeline if e.actor == BOB][-1] == "closed"
    assert any(e.action == "action" for e in report.timeline)
    assert len(report.checkins) == 3
    assert all(c.state == "cancelled" for c in report.checkins)  # closing stops them
    # Alice heard that her manager has it, and sees what was done for her.
    await j.deliver()
    assert f"Your manager has seen {REF}" in j.seen("alice")
    said = await j.say("mine")
    assert "critical risk · closed" in said


async def test_manager_acknowledges_schedules_records_and_closes_by_typing(j: Journey) -> None:
    await j.file_by_pressing()
    await j.deliver()
    said = await j.say(f"cases {REF}", "bob")
    assert "What would you like to do?" in said
    said = await j.say("acknowledge", "bob")
    assert f"{REF} · Acknowledged" in said
    said = await j.say(f"checkin {ALICE} cadence", "bob")
    assert f"Check-ins for {REF} scheduled" in said
    await j.say(f"cases {REF}", "bob")
    said = await j.say("record an action", "bob")
    assert "What was done?" in said
    said = await j.say("police", "bob")
    said = await j.say("Rang the police.", "bob")
    assert "Record it" in said
    said = await j.say("yes", "bob")
    await j.say(f"cases {REF}", "bob")
    said = await j.say("close", "bob")
    said = await j.say("resolved", "bob")
    said = await j.say("skip", "bob")
    said = await j.say("yes", "bob")
    report = await j.t.store.get_report(REF)
    assert report is not None
    assert report.acknowledged_by == BOB and report.status is ReportStatus.CLOSED
    assert any(e.action == "action" and "police" in e.detail.casefold() for e in report.timeline)


async def test_a_case_alert_is_never_replaced_by_received(j: Journey) -> None:
    """Finding "Teams: the whole alert replaced by '✓ Received'" after one action."""
    await j.file_by_pressing()
    await j.deliver()
    alert = j.card_with("bob", "New report from your team")
    for title in ("Acknowledge", "Add a note", "Escalate to safety leads"):
        shown = await j.press(title, "bob", card=alert)
        assert "✓" not in json.dumps(shown, ensure_ascii=False), title
        assert REF in json.dumps(shown) and shown.get("actions"), title


async def test_an_alert_pressed_again_still_shows_the_case(j: Journey) -> None:
    """A second manager, or the same one on another device, presses Acknowledge
    after it was done: the alert must still show the case, not a tick."""
    await j.file_by_pressing()
    await j.deliver()
    alert = j.card_with("bob", "New report from your team")
    await j.press("Acknowledge", "bob", card=alert)
    shown = await j.press("Acknowledge", "bob", card=alert)
    assert "✓" not in _dump(shown) and "already been acknowledged" in _dump(shown)
    assert "Acknowledge" not in _titles(shown) and "Close" in _titles(shown)


async def test_the_need_to_talk_alert_keeps_what_it_said_once_taken(j: Journey) -> None:
    await _checkins_scheduled(j)
    j.later(days=1, minutes=1)
    await j.deliver()
    await j.say("I need to talk now")
    await j.deliver()
    told = j.card_with("bob", "Please contact them now")
    shown = await j.press("I'm on it", "bob", card=told)
    assert REF in _dump(shown) and "✓" not in _dump(shown)


# ---------------------------------------------------------------------- the safety leads


async def test_a_lead_claims_from_the_channel(j: Journey) -> None:
    await j.register_channel()
    assert "never what happened" in json.dumps(j.t.fake.cards(f"{CHANNEL};messageid=1700000000001"))
    await j.file_by_pressing()
    await j.deliver()
    [post] = j.t.fake.created(CHANNEL)
    claim = next(
        a for a in post["activity"]["attachments"][0]["content"]["actions"] if a["title"] == "Claim"
    )
    response = await j.t.post(
        execute(
            j.t.url,
            "carol",
            claim["data"],
            conversation=post["created"],
            conversation_type="channel",
            channelData={"tenant": {"id": TENANT}, "channel": {"id": CHANNEL}},
        )
    )
    body = await response.json()
    assert body["type"] == MESSAGE_RESPONSE and "personal chat" in body["value"]
    report = await j.t.store.get_report(REF)
    assert report is not None and report.claimed_by == CAROL
    private = j.seen("carol")
    assert "claimed by a safety lead" in private and "facebook.com/p/9" in private
    await j.deliver()
    edit = [r for r in j.t.fake.requests if r["method"] == "PUT" and CHANNEL in r["path"]][-1]
    assert "claimed by a safety lead" in json.dumps(edit["body"])
    assert '"Claim"' not in json.dumps(edit["body"])
    # From her private chat, the case's remaining actions, pressed in place.
    card = j.card_with("carol", "What else would you like to do?")
    shown = await j.press("Acknowledge", "carol", card=card)
    assert "claimed by a safety lead" in _dump(shown) and f"Acknowledged {REF}" in _dump(shown)
    assert "Acknowledge" not in _titles(shown) and "Close" in _titles(shown)


async def test_a_lead_claims_by_typing_in_her_chat(j: Journey) -> None:
    await j.register_channel()
    await j.file_by_pressing()
    await j.deliver()
    await j.open_chat("carol")
    await j.say(f"cases {REF}", "carol")
    said = await j.say("claim", "carol")
    assert "claimed by a safety lead" in said
    report = await j.t.store.get_report(REF)
    assert report is not None and report.claimed_by == CAROL


async def test_an_alert_pressed_as_an_older_action_submit_is_edited_in_place(j: Journey) -> None:
    """Action.Submit (a message whose replyToId is the card) gets the same card
    back in its place as an Action.Execute would."""
    await j.file_by_pressing()
    await j.deliver()
    alert = j.card_with("bob", "New report from your team")
    ack = next(a for a in alert["actions"] if a["title"] == "Acknowledge")
    start = len(j.t.fake.requests)
    response = await j.t.post(activity(j.t.url, "bob", value=ack["data"], replyToId="activity-9"))
    assert response.status == 202
    [edit] = [r for r in j.t.fake.requests[start:] if r["method"] == "PUT"]
    assert edit["path"].endswith("/conversations/a:bob-personal/activities/activity-9")
    [attachment] = edit["body"]["attachments"]
    assert f"{REF} · Acknowledged" in _dump(attachment["content"])
    assert "Received" not in _dump(attachment["content"])
    report = await j.t.store.get_report(REF)
    assert report is not None and report.acknowledged_by == BOB
