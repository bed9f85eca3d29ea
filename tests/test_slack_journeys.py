"""The Done-when journeys through Slack, each by pressing and by typing: signed,
real-shaped payloads to the real bolt app, a local fake Slack Web API, and the
Notifier delivering alerts and check-ins.

Alice reports; Bob is her manager; Carol is a safety lead; U0ADMIN is a
Harbour administrator. What each person sees is read from the fake's record of
the workspace (messages as they stand after every edit)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer

from adapters.slack.config import SlackSettings
from bot.config import Settings
from bot.directory import Directory
from bot.reports import Report, ReportStatus
from bot.server import Server, build
from bot.store import MemoryStore, RecordKind
from tests.conftest import TYPED_REPORT
from tests.fakes.slack import SIGNING_SECRET, TEAM, FakeSlack, block_actions, interaction_body
from tests.test_slack import FORM, REPORT_PAGES, SlackHarness

ALICE, BOB, CAROL, ADMIN = "U0ALICE", "U0BOB", "U0CAROL", "U0ADMIN"
LEADS = "C0SAFETY1"
REF = "HB-2026-0001"
CONTENT = ("evil.example", "facebook.com/", "They wrote", "Posts naming me", "U0ALICE")
"""What the worker wrote, and who she is: never in the leads' channel."""


def key(user: str) -> str:
    return f"slack:{TEAM}:{user}"


class Journey:
    """A Slack workspace with Harbour in it, and a clock the test moves."""

    def __init__(self, h: SlackHarness, server: Server) -> None:
        self.h = h
        self.server = server
        self.fake = h.fake
        self.now = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
        server.harbour.clock = lambda: self.now

    # ------------------------------------------------------------ doing

    async def say(self, user: str, text: str) -> None:
        """Typed in the DM with Harbour."""
        await self.h.dm(user, text)

    async def slash(self, user: str, text: str = "", channel: str | None = None) -> Any:
        return await self.h.command(user, text, channel=channel or f"D{user}")

    async def press(self, user: str, label: str, *, where: str | None = None) -> None:
        """Press the newest button with this label that `user` can see (in their
        DM, or in a channel), on the message as it stands now."""
        channel = where or f"D{user}"
        message, button = self.button(channel, label)
        payload = block_actions(user, button, message=message, channel=channel)
        response = await self.h.post(interaction_body(payload), FORM)
        assert response.status == 200
        await self.h.slack.drain()

    async def submit(self, user: str, answers: dict[str, Any]) -> None:
        await self.h.submit(user, answers)

    async def deliver(self) -> None:
        assert self.server.notifier is not None
        await self.server.notifier.run_once()

    async def file_by_pressing(self) -> None:
        await self.slash(ALICE, "", channel="C0GENERAL")
        for page in REPORT_PAGES:
            await self.submit(ALICE, page)
        assert "Shall I file this report?" in self.said(ALICE)
        await self.press(ALICE, "File report")
        assert REF in self.said(ALICE)
        await self.deliver()

    # ------------------------------------------------------------ seeing

    def messages(self, channel: str) -> list[dict[str, Any]]:
        """The channel's messages as they stand now (edits applied), oldest first."""
        return self.fake.history.get(channel, [])

    def said(self, user: str, last: int = 1) -> str:
        """The newest `last` messages in the person's DM, as they stand now."""
        return json.dumps(
            [m["blocks"] for m in self.messages(f"D{user}")[-last:]], ensure_ascii=False
        )

    def button(self, channel: str, label: str) -> tuple[dict[str, Any], dict[str, Any]]:
        for message in reversed(self.messages(channel)):
            for block in message["blocks"]:
                for element in block.get("elements", []):
                    if element.get("type") == "button" and element["text"]["text"] == label:
                        found = {
                            "type": "button",
                            "action_id": element["action_id"],
                            "value": element["value"],
                            "block_id": block.get("block_id"),
                        }
                        shown = {"ts": message["ts"], "blocks": message["blocks"]}
                        return shown, found
        raise AssertionError(f"no {label!r} button in {channel}")

    def labels(self, message: dict[str, Any]) -> list[str]:
        return [
            e["text"]["text"]
            for b in message["blocks"]
            for e in b.get("elements", [])
            if e.get("type") == "button"
        ]

    async def report(self) -> Report:
        found = await self.h.store.get_report(REF)
        assert found is not None
        return found

    def leads_channel_is_clean(self) -> None:
        for message in self.messages(LEADS):
            dumped = json.dumps(message)
            for secret in CONTENT:
                assert secret not in dumped


@pytest.fixture
async def journey() -> AsyncIterator[Journey]:
    fake = FakeSlack()
    base_url = await fake.start()
    store = MemoryStore()
    directory = Directory(
        managers={key(ALICE): [key(BOB)]}, leads={key(CAROL)}, channels={"slack": LEADS}
    )
    settings = Settings(_env_file=None, admins=key(ADMIN))  # type: ignore[call-arg]
    slack = SlackSettings(
        bot_token="xoxb-test", signing_secret=SIGNING_SECRET, api_url=base_url, _env_file=None
    )  # type: ignore[call-arg]
    server = build(settings, slack, store, directory=directory)
    client = TestClient(TestServer(server.web_app, host="127.0.0.1"))
    await client.start_server()
    try:
        yield Journey(SlackHarness(fake, server, client, store), server)
    finally:
        await client.close()
        await fake.close()


# ---------------------------------------------------------------------- the worker


async def test_report_filed_by_pressing(journey: Journey) -> None:
    j = journey
    await j.file_by_pressing()
    report = await j.report()
    assert report.answers.kinds == ["threats", "personal_details"]
    assert report.answers.links == ["https://facebook.com/p/1"]
    assert REF in j.said(BOB, last=3) and "Acknowledge" in j.said(BOB, last=3)
    [card] = j.messages(LEADS)
    assert REF in json.dumps(card) and "Claim" in json.dumps(card)
    j.leads_channel_is_clean()


async def test_report_filed_by_typing(journey: Journey) -> None:
    j = journey
    await j.say(ALICE, "report")
    assert "Is anyone in immediate danger" in j.said(ALICE)
    for _, answer in TYPED_REPORT:
        await j.say(ALICE, answer)
    assert "Shall I file this report?" in j.said(ALICE, last=2)
    await j.say(ALICE, "yes")
    assert REF in j.said(ALICE, last=3)
    report = await j.report()
    assert report.answers.links == ["https://www.facebook.com/some.post/123"]
    assert report.answers.description == "Posts naming me and my street."
    await j.deliver()
    assert "Acknowledge" in j.said(BOB, last=3)
    j.leads_channel_is_clean()


async def test_pause_and_resume_by_pressing(journey: Journey) -> None:
    j = journey
    await j.slash(ALICE)
    for page in REPORT_PAGES[:2]:
        await j.submit(ALICE, page)
    await j.press(ALICE, "Pause")
    assert "draft is saved" in j.said(ALICE)
    await j.slash(ALICE)
    assert "unfinished report" in j.said(ALICE)
    await j.press(ALICE, "Carry on with my draft")
    assert "Welcome back" in j.said(ALICE) and "Which details were posted?" in j.said(ALICE)
    for page in REPORT_PAGES[2:]:
        await j.submit(ALICE, page)
    await j.press(ALICE, "File report")
    assert (await j.report()).answers.kinds == ["threats", "personal_details"]


async def test_pause_and_resume_by_typing(journey: Journey) -> None:
    j = journey
    await j.say(ALICE, "report")
    await j.say(ALICE, "no")
    await j.say(ALICE, "pause")
    assert "draft is saved" in j.said(ALICE)
    await j.say(ALICE, "resume")
    assert "unfinished report" in j.said(ALICE)
    await j.say(ALICE, "1")
    assert "Welcome back" in j.said(ALICE) and "What has been happening?" in j.said(ALICE)
    for _, answer in TYPED_REPORT[1:]:
        await j.say(ALICE, answer)
    await j.say(ALICE, "yes")
    assert (await j.report()).answers.in_danger is False


async def test_update_by_pressing(journey: Journey) -> None:
    j = journey
    await j.file_by_pressing()
    await j.slash(ALICE, f"update {REF}")
    assert "What has happened since your report?" in j.said(ALICE, last=2)
    await j.submit(ALICE, {"kinds": ["threats"]})
    await j.submit(ALICE, {"platforms": ["x"], "links": "https://x.com/p/2"})
    await j.submit(ALICE, {"worry": ["5"], "description": "Worse this week"})
    assert "Add this to your report?" in j.said(ALICE)
    await j.press(ALICE, "Add update")
    [update] = (await j.report()).updates
    assert update.answers.links == ["https://x.com/p/2"]
    await j.deliver()
    assert "new update" in j.said(BOB, last=2)
    j.leads_channel_is_clean()


async def test_update_by_typing(journey: Journey) -> None:
    j = journey
    await j.file_by_pressing()
    await j.say(ALICE, f"update {REF}")
    await j.say(ALICE, "1")  # what has happened: the first kind
    await j.say(ALICE, "skip")  # where: the whole page
    assert "How worried are you now?" in j.said(ALICE)
    await j.say(ALICE, "5")
    await j.say(ALICE, "skip")
    assert "Add this to your report?" in j.said(ALICE, last=2)
    await j.say(ALICE, "yes")
    [update] = (await j.report()).updates
    assert update.answers.links == [] and update.answers.worry == 5


async def test_reflect_by_pressing(journey: Journey) -> None:
    j = journey
    await j.file_by_pressing()
    await j.slash(ALICE, f"reflect {REF}")
    assert "What worries you most here" in j.said(ALICE, last=2)
    await j.submit(ALICE, {"concerns": "My children's safety"})
    await j.submit(ALICE, {})
    await j.submit(ALICE, {"work_impact": "Harder home visits"})
    assert "Keep these reflections with the report?" in j.said(ALICE)
    await j.press(ALICE, "Save reflections")
    reflection = (await j.report()).reflection
    assert reflection is not None and reflection.concerns == "My children's safety"


async def test_reflect_by_typing(journey: Journey) -> None:
    j = journey
    await j.file_by_pressing()
    await j.say(ALICE, f"reflect {REF}")
    await j.say(ALICE, "My children's safety")
    await j.say(ALICE, "skip")  # the rest of the first page
    await j.say(ALICE, "skip")
    await j.say(ALICE, "skip")
    assert "Keep these reflections with the report?" in j.said(ALICE, last=2)
    await j.say(ALICE, "yes")
    reflection = (await j.report()).reflection
    assert reflection is not None and reflection.concerns == "My children's safety"
    assert reflection.work_impact is None


async def test_guidance_by_typing_and_by_pressing(journey: Journey) -> None:
    j = journey
    await j.say(ALICE, "guidance")
    listed = j.said(ALICE)
    assert "/report-abuse guidance" in listed
    await j.slash(ALICE, "guidance evidence")
    assert "screenshot" in j.said(ALICE).casefold()
    await j.say(ALICE, "hmm")
    assert "not sure I understood" in j.said(ALICE)
    await j.press(ALICE, "See guidance")
    assert j.said(ALICE) == listed


# ---------------------------------------------------------------------- the manager


async def test_an_alert_keeps_its_other_actions_after_one(journey: Journey) -> None:
    """Finding: after one action the other actions vanished (Slack: the buttons
    were gone after Acknowledge, the alert marked "Received")."""
    j = journey
    await j.file_by_pressing()
    alert, _ = j.button(f"D{BOB}", "Acknowledge")
    await j.press(BOB, "Acknowledge")
    now = next(m for m in j.messages(f"D{BOB}") if m["ts"] == alert["ts"])
    assert "Received" not in json.dumps(now["blocks"])
    assert "Acknowledged" in json.dumps(now["blocks"])
    assert "Acknowledge" not in j.labels(now)
    assert {"Schedule check-ins", "Record an action", "Close"} <= set(j.labels(now))
    assert [m["ts"] for m in j.messages(f"D{BOB}")][-1] == alert["ts"]  # nothing new posted
    # Its buttons are new: pressing one is not taken for a second click.
    await j.press(BOB, "Record an action")
    assert "What was done?" in j.said(BOB)
    assert (await j.report()).status is ReportStatus.ACKNOWLEDGED


async def test_manager_acknowledges_schedules_records_and_closes_by_pressing(
    journey: Journey,
) -> None:
    j = journey
    await j.file_by_pressing()
    await j.press(BOB, "Acknowledge")
    assert (await j.report()).acknowledged_by == key(BOB)
    await j.deliver()
    assert "Your manager has seen" in j.said(ALICE)
    await j.press(BOB, "Schedule check-ins")
    await j.submit(BOB, {"what": ["1"]})
    await j.press(BOB, "Schedule")
    assert "scheduled" in j.said(BOB)
    await j.press(BOB, "Record an action")
    await j.submit(BOB, {"what": ["police"], "note": "Crime number 123"})
    await j.press(BOB, "Record it")
    assert "Recorded on" in j.said(BOB)
    await j.press(BOB, "Close")
    await j.submit(BOB, {"what": ["resolved"]})
    await j.press(BOB, "Close case")
    report = await j.report()
    assert report.status is ReportStatus.CLOSED
    assert [e.action for e in report.timeline if e.action in ("action", "closed")] == [
        "action",
        "closed",
    ]
    await j.deliver()
    j.leads_channel_is_clean()


async def test_manager_acknowledges_schedules_records_and_closes_by_typing(
    journey: Journey,
) -> None:
    j = journey
    await j.file_by_pressing()
    await j.say(BOB, f"cases {REF}")
    assert "What would you like to do?" in j.said(BOB)
    await j.say(BOB, "acknowledge")
    assert (await j.report()).acknowledged_by == key(BOB)
    await j.say(BOB, f"checkin {key(ALICE)} tomorrow")
    assert "scheduled" in j.said(BOB)
    await j.say(BOB, f"cases {REF}")
    await j.say(BOB, "record an action")
    assert "What was done?" in j.said(BOB, last=2)
    await j.say(BOB, "police contacted")
    await j.say(BOB, "Crime number 123")
    await j.say(BOB, "yes")
    await j.say(BOB, f"cases {REF}")
    await j.say(BOB, "close")
    await j.say(BOB, "1")
    await j.say(BOB, "skip")
    await j.say(BOB, "yes")
    report = await j.report()
    assert report.status is ReportStatus.CLOSED
    assert any(e.action == "action" and "Police" in e.detail for e in report.timeline)
    assert len(report.checkins) == 1


# ---------------------------------------------------------------------- check-ins


CHOSEN_CADENCES = [
    pytest.param("3", "In 3 days", 3, id="in-3-days"),
    pytest.param("7", "In a week", 7, id="in-a-week"),
]
"""Options whose values are numbers: a value once read as a position scheduled
"3" as the third option (a week) and "7" as nothing."""


async def _scheduled_days(j: Journey) -> list[timedelta]:
    return [c.due - j.now for c in (await j.report()).checkins]


@pytest.mark.parametrize(("value", "label", "days"), CHOSEN_CADENCES)
async def test_checkins_chosen_by_pressing_are_the_days_chosen(
    journey: Journey, value: str, label: str, days: int
) -> None:
    j = journey
    await j.file_by_pressing()
    await j.press(BOB, "Acknowledge")
    await j.press(BOB, "Schedule check-ins")
    assert label in j.said(BOB)
    await j.submit(BOB, {"what": [value]})  # the option chosen on the form, by its value
    assert label in j.said(BOB)
    await j.press(BOB, "Schedule")
    assert "scheduled" in j.said(BOB)
    assert await _scheduled_days(j) == [timedelta(days=days)]


@pytest.mark.parametrize(("value", "label", "days"), CHOSEN_CADENCES)
async def test_checkins_chosen_by_typing_are_the_days_chosen(
    journey: Journey, value: str, label: str, days: int
) -> None:
    j = journey
    await j.file_by_pressing()
    await j.say(BOB, f"cases {REF}")
    await j.say(BOB, "schedule check-ins")
    await j.say(BOB, label)
    assert label in j.said(BOB)
    await j.say(BOB, "yes")
    assert "scheduled" in j.said(BOB)
    assert await _scheduled_days(j) == [timedelta(days=days)]


async def _checkin_sent(j: Journey) -> None:
    await j.file_by_pressing()
    await j.press(BOB, "Schedule check-ins")
    await j.submit(BOB, {"what": ["1"]})
    await j.press(BOB, "Schedule")
    j.now += timedelta(days=1, minutes=1)
    await j.deliver()
    assert "check in with you" in j.said(ALICE)


async def test_checkin_answered_by_pressing_including_i_need_to_talk(journey: Journey) -> None:
    j = journey
    await _checkin_sent(j)
    await j.press(ALICE, "I need to talk now")
    [checkin] = (await j.report()).checkins
    assert checkin.answer == "talk"
    await j.deliver()
    assert "Please contact them now" in j.said(BOB, last=2)
    await j.press(BOB, "I'm on it")
    assert "please contact them now" in j.said(BOB)
    assert (await j.report()).checkins[0].talk_taken_by == key(BOB)
    j.leads_channel_is_clean()


async def test_checkin_answered_by_typing_including_i_need_to_talk(journey: Journey) -> None:
    j = journey
    await _checkin_sent(j)
    await j.say(ALICE, "I need to talk to someone")
    [checkin] = (await j.report()).checkins
    assert checkin.answer == "talk"
    await j.say(ALICE, "It's got worse since Friday")
    await j.deliver()
    bob = j.said(BOB, last=3)
    assert "Please contact them now" in bob and "It's got worse since Friday" in bob


async def test_checkin_answered_ok_by_pressing(journey: Journey) -> None:
    j = journey
    await _checkin_sent(j)
    await j.press(ALICE, "I'm doing OK")
    await j.deliver()
    assert "The worker is doing OK." in j.said(BOB)


# ---------------------------------------------------------------------- the safety leads


async def test_a_lead_claims_from_the_channel(journey: Journey) -> None:
    j = journey
    await j.file_by_pressing()
    await j.press(CAROL, "Claim", where=LEADS)
    report = await j.report()
    assert report.claimed_by == key(CAROL)
    carol = j.said(CAROL, last=3)
    assert "You've claimed" in carol and "facebook.com/p/1" in carol  # privately, in full
    before = len(j.messages(LEADS))
    await j.deliver()
    assert len(j.messages(LEADS)) == before  # edited in place, nothing new in the channel
    [card] = j.messages(LEADS)
    assert "claimed by a safety lead" in json.dumps(card) and "Claim" not in j.labels(card)
    j.leads_channel_is_clean()
    # Nothing a press in the channel said went to the channel.
    assert not [u for u in j.fake.called("chat.postMessage") if u["channel"] == LEADS][1:]


async def test_a_lead_claims_by_typing(journey: Journey) -> None:
    j = journey
    await j.file_by_pressing()
    await j.say(CAROL, f"cases {REF}")
    await j.say(CAROL, "claim")
    assert (await j.report()).claimed_by == key(CAROL)
    assert "You've claimed" in j.said(CAROL, last=3)


# ---------------------------------------------------------------------- the leads' channel


async def test_an_administrator_registers_the_leads_channel(journey: Journey) -> None:
    j = journey
    h = j.h
    response = await h.command(
        ADMIN, "register safety-leads", channel="C0NEWLEADS", response_url=j.fake.response_url()
    )
    assert response.status == 200 and await response.text() == ""
    [answer] = j.fake.responses()
    assert answer["response_type"] == "ephemeral"
    assert "this channel will get safety alerts" in json.dumps(answer)
    assert j.server.harbour.directory.channels["slack"] == "C0NEWLEADS"
    stored = await h.store.get_record(RecordKind.CHANNELS, "slack")
    assert stored is not None and stored["channel"] == "C0NEWLEADS"
    assert j.fake.posts("C0NEWLEADS") == []  # nothing said in the channel itself
    # Someone else may not.
    await h.command(
        ALICE, "register safety-leads", channel="C0RANDOM1", response_url=j.fake.response_url()
    )
    refused = j.fake.responses()[-1]
    assert refused["response_type"] == "ephemeral" and "Only Harbour administrators" in json.dumps(
        refused
    )
    assert j.server.harbour.directory.channels["slack"] == "C0NEWLEADS"
    assert j.fake.posts("C0RANDOM1") == []
    # Nor, typed in the leads' channel itself, may she change which
    # workspace's token reaches it (a channel shared with another workspace).
    kept = {"workspace": "T0OTHER"}  # as if the channel were shared from another workspace
    await h.store.put_record(RecordKind.CONTACTS, "slack-channel:C0NEWLEADS", kept)
    await h.command(
        ALICE, "register safety-leads", channel="C0NEWLEADS", response_url=j.fake.response_url()
    )
    assert "Only Harbour administrators" in json.dumps(j.fake.responses()[-1])
    assert await h.store.get_record(RecordKind.CONTACTS, "slack-channel:C0NEWLEADS") == kept
    # Alerts go to the new channel, without the report's content.
    await j.file_by_pressing()
    [card] = j.fake.posts("C0NEWLEADS")
    assert REF in json.dumps(card)
    for secret in CONTENT:
        assert secret not in json.dumps(card)


async def test_registering_answers_in_the_dm_when_the_response_url_fails(
    journey: Journey,
) -> None:
    j = journey
    expired = str(j.fake.server.make_url("/expired"))  # answers 404
    await j.h.command(ADMIN, "Register Safety-Leads", channel="C0NEWLEADS", response_url=expired)
    assert "this channel will get safety alerts" in j.said(ADMIN)
    assert j.fake.posts("C0NEWLEADS") == []
