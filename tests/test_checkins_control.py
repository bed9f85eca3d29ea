"""Check-ins the worker controls (issue 18): she answers, puts one off to when
she chooses, or stops them on her case and turns them back on; they are sent
only in working hours. Through the core, with the recording messenger and the
fake clock."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from bot import checkins
from bot.alerts.followups import WorkingHours
from bot.alerts.sender import Notifier
from bot.app import Harbour
from bot.models import ChoiceMade, ChoiceQuestion, Notice, NoticeLevel, Reply
from bot.store import Store
from tests.conftest import TYPED_REPORT, Chat, Clock, RecordingMessenger, type_report

ALICE, BOB, CAROL = "console:local:alice", "console:local:bob", "console:local:carol"
SECRETS = ("street", "facebook.com", "screenshots", "Posts naming me")


async def file(chat: Chat) -> str:
    await chat.command("report")
    await type_report(chat, TYPED_REPORT)
    await chat.say("yes")
    return next(w for w in chat.text().replace(".", " ").split() if w.startswith("HB-"))


def question_in(sent: list[Reply]) -> ChoiceQuestion:
    return next(r for r in sent if isinstance(r, ChoiceQuestion))


def said(sent: list[list[Reply]]) -> str:
    return json.dumps([r.model_dump(mode="json") for replies in sent for r in replies])


class Case:
    """Alice files a report; Bob, her manager, schedules check-ins."""

    def __init__(
        self, harbour: Harbour, notifier: Notifier, messenger: RecordingMessenger, clock: Clock
    ) -> None:
        self.harbour, self.notifier, self.messenger, self.clock = (
            harbour,
            notifier,
            messenger,
            clock,
        )
        self.alice, self.bob = Chat(harbour, "alice"), Chat(harbour, "bob")
        self.ref = ""

    async def file(self) -> None:
        self.ref = await file(self.alice)
        await self.notifier.run_once()

    async def schedule(self, when: str = "tomorrow") -> str:
        await self.bob.say(f"checkin {ALICE} {when}")
        return self.bob.text()

    async def sent_to(self, address: str) -> list[list[Reply]]:
        before = len(self.messenger.to(address))
        await self.notifier.run_once()
        return self.messenger.to(address)[before:]

    async def checkin_arrives(self) -> ChoiceQuestion:
        [sent] = await self.sent_to(ALICE)
        return question_in(sent)

    async def press(self, asked: ChoiceQuestion, value: str, chat: Chat | None = None) -> str:
        await (chat or self.alice).choose(value, question=asked.id, token=asked.token)
        return (chat or self.alice).text()


@pytest.fixture
async def case(
    harbour: Harbour, notifier: Notifier, messenger: RecordingMessenger, clock: Clock
) -> Case:
    c = Case(harbour, notifier, messenger, clock)
    await c.file()
    return c


async def test_the_checkin_offers_her_every_choice(case: Case) -> None:
    await case.schedule()
    case.clock.advance(days=1, minutes=1)
    asked = await case.checkin_arrives()
    assert [o.value for o in asked.options] == ["ok", "affected", "talk", "not-now", "stop"]


async def test_need_to_talk_still_reaches_her_manager_at_once(case: Case) -> None:
    await case.schedule()
    case.clock.advance(days=1, minutes=1)
    asked = await case.checkin_arrives()
    assert "I'm telling your manager now" in await case.press(asked, "talk")
    [alert] = await case.sent_to(BOB)
    note = next(r for r in alert if isinstance(r, Notice))
    assert note.level is NoticeLevel.DANGER and "needs to talk now" in note.text


async def test_not_now_asks_when_and_tomorrow_morning_waits_for_working_hours(
    case: Case, store: Store
) -> None:
    await case.schedule()
    case.clock.advance(days=1, minutes=1)  # Tue 3 Mar, 09:31
    asked = await case.checkin_arrives()
    await case.press(asked, "not-now")
    when = question_in(case.alice.replies)
    assert [o.label for o in when.options] == [
        "Later today",
        "Tomorrow morning",
        "In a few days",
        "Stop these check-ins",
    ]
    await case.alice.say("2")  # typed, as on a surface without buttons
    assert "I'll ask again tomorrow morning" in case.alice.text()
    report = await store.get_report(case.ref)
    assert report is not None
    [checkin] = report.checkins
    assert checkin.state == "scheduled" and checkin.due == datetime(2026, 3, 4, 9, tzinfo=UTC)
    assert await case.sent_to(BOB) == []  # putting one off once is nobody's business
    case.clock.now = datetime(2026, 3, 4, 8, 59, tzinfo=UTC)
    assert await case.sent_to(ALICE) == []
    case.clock.now = datetime(2026, 3, 4, 9, 0, tzinfo=UTC)
    assert "How are you doing?" in (await case.checkin_arrives()).prompt


async def test_later_today_late_in_the_day_waits_for_the_next_working_morning(
    case: Case, store: Store
) -> None:
    await case.schedule()
    case.clock.advance(days=1, minutes=1)
    asked = await case.checkin_arrives()
    case.clock.now = datetime(2026, 3, 6, 15, 0, tzinfo=UTC)  # Friday afternoon
    await case.alice.say("later today")
    assert "When shall I ask again?" not in case.alice.text()
    assert "the start of the next working day" in case.alice.text()
    case.clock.now = datetime(2026, 3, 6, 18, 0, tzinfo=UTC)  # the wish: 18:00, after hours
    assert await case.sent_to(ALICE) == []
    case.clock.now = datetime(2026, 3, 9, 9, 0, tzinfo=UTC)  # Monday morning
    again = await case.checkin_arrives()
    assert again.id == asked.id
    report = await store.get_report(case.ref)
    assert report is not None and report.checkins[0].late is False


async def test_put_off_three_times_tells_whoever_scheduled_it_without_content(
    case: Case,
) -> None:
    await case.schedule()
    case.clock.advance(days=1, minutes=1)
    for time in range(1, 4):
        asked = await case.checkin_arrives()
        text = await case.press(asked, "tomorrow-morning")
        assert "I'll ask again tomorrow morning" in text
        told = await case.sent_to(BOB)
        assert told == [] if time < 3 else len(told) == 1
        case.clock.advance(days=1)
    told_bob = said(case.messenger.to(BOB)[-1:])
    assert "put off 3 times" in told_bob and case.ref in told_bob
    assert not any(secret in told_bob for secret in SECRETS)


async def test_stop_cancels_every_checkin_and_tells_the_manager_kindly(
    case: Case, store: Store
) -> None:
    await case.schedule("cadence")  # days 1, 3 and 7
    case.clock.advance(days=1, minutes=1)
    asked = await case.checkin_arrives()
    text = await case.press(asked, "stop")
    assert "there will be no more check-ins" in text and f"checkins on {case.ref}" in text
    report = await store.get_report(case.ref)
    assert report is not None and {c.state for c in report.checkins} == {"cancelled"}
    [told] = await case.sent_to(BOB)
    assert "asked for no more check-ins" in said([told])
    assert not any(secret in said([told]) for secret in SECRETS)
    case.clock.advance(days=7)
    assert await case.sent_to(ALICE) == []  # nothing more comes


async def test_a_stop_tells_everyone_who_scheduled_what_it_cancelled(
    case: Case, store: Store
) -> None:
    """Her manager scheduled some, a safety lead others: stopping them all
    tells both, so neither reads the silence as all being well."""
    await case.schedule("in 3 days")
    carol = Chat(case.harbour, "carol")
    await carol.say(f"checkin {ALICE} tomorrow")
    case.clock.advance(days=1, minutes=1)
    asked = await case.checkin_arrives()
    assert "everyone who scheduled them" in await case.press(asked, "stop")
    await case.notifier.run_once()
    for who in (BOB, CAROL):
        assert "asked for no more check-ins" in said(case.messenger.to(who)), who


async def test_she_turns_them_back_on_and_the_ones_still_to_come_return(
    case: Case, store: Store
) -> None:
    await case.schedule("cadence")
    case.clock.advance(days=1, minutes=1)
    await case.checkin_arrives()
    await case.alice.say("stop these check-ins")  # typed, on any surface
    await case.sent_to(BOB)
    await case.alice.say(f"checkins on {case.ref}")
    assert "back on: 2 still to come" in case.alice.text()
    report = await store.get_report(case.ref)
    assert report is not None
    assert [c.state for c in report.checkins] == ["cancelled", "scheduled", "scheduled"]
    [told] = await case.sent_to(BOB)
    assert "turned check-ins" in said([told]) and "back on" in said([told])
    case.clock.advance(days=2)
    assert "How are you doing?" in (await case.checkin_arrives()).prompt


async def test_her_manager_scheduling_again_turns_them_on_and_is_reminded_of_her_wish(
    case: Case, store: Store
) -> None:
    await case.schedule()
    case.clock.advance(days=1, minutes=1)
    await case.press(await case.checkin_arrives(), "stop")
    text = await case.schedule("in 3 days")
    assert "They had asked for no more check-ins" in text
    report = await store.get_report(case.ref)
    assert report is not None and not checkins.stopped(report)


async def test_only_she_can_switch_her_checkins(case: Case, store: Store) -> None:
    await case.schedule()
    await case.bob.say(f"checkins off {case.ref}")
    assert "Only the worker can stop or restart" in case.bob.text()
    report = await store.get_report(case.ref)
    assert report is not None and report.checkins[0].state == "scheduled"
    await case.alice.say("checkins off")
    assert "followed by your report's reference" in case.alice.text()  # and nothing lost
    await case.alice.say(f"checkins off {case.ref}")
    assert "no more check-ins" in case.alice.text()


@pytest.mark.parametrize("who", ["bob", "dan"])
async def test_a_forged_press_by_someone_else_is_refused(
    case: Case, store: Store, who: str
) -> None:
    """Her manager, or a colleague, pressing her check-in's buttons (a forged
    payload): refused, nothing stopped or put off."""
    await case.schedule()
    case.clock.advance(days=1, minutes=1)
    asked = await case.checkin_arrives()
    other = Chat(case.harbour, who)
    for value in ("stop", "later-today", "ok"):
        await other.send_event(
            ChoiceMade(
                event_id=f"{who}-{value}",
                person=other.person,
                question=asked.id,
                values=(value,),
                token=asked.token,
            )
        )
        assert "nothing was changed" in other.text() or "couldn't find" in other.text()
    report = await store.get_report(case.ref)
    assert report is not None
    [checkin] = report.checkins
    assert checkin.state == "sent" and checkin.snoozes == 0 and checkin.answer is None


async def test_a_checkin_due_at_night_goes_at_the_next_working_morning_after_a_holiday(
    case: Case, store: Store
) -> None:
    """Scheduled on Monday 16 March at 23:00 for tomorrow: Tuesday is St
    Patrick's Day (a public holiday in Ireland), so it goes Wednesday at 09:00."""
    case.clock.now = datetime(2026, 3, 16, 23, 0, tzinfo=UTC)
    await case.schedule("tomorrow")
    case.clock.now = datetime(2026, 3, 17, 23, 1, tzinfo=UTC)
    assert await case.sent_to(ALICE) == []
    case.clock.now = datetime(2026, 3, 18, 8, 59, tzinfo=UTC)
    assert await case.sent_to(ALICE) == []
    case.clock.now = datetime(2026, 3, 18, 9, 0, tzinfo=UTC)
    asked = await case.checkin_arrives()
    assert "a little later than planned" not in asked.prompt  # held back, not late


def test_working_hours_in_the_organisations_zone() -> None:
    """09:00 to 17:00 local time on working days; outside, the next opening."""
    hours = WorkingHours()  # Dublin, Irish holidays
    friday_night = datetime(2026, 7, 3, 22, 0, tzinfo=UTC)  # 23:00 in Dublin (summer time)
    assert hours.open_at(friday_night) == datetime(2026, 7, 6, 8, 0, tzinfo=UTC)  # Mon 09:00
    early = datetime(2026, 7, 7, 6, 0, tzinfo=UTC)  # Tue 07:00 Dublin
    assert hours.open_at(early) == datetime(2026, 7, 7, 8, 0, tzinfo=UTC)
    inside = datetime(2026, 7, 7, 12, 0, tzinfo=UTC)
    assert hours.open_at(inside) == inside
    sydney = WorkingHours(tz=ZoneInfo("Australia/Sydney"), country="AU")
    sunday_utc = datetime(2026, 7, 5, 23, 30, tzinfo=UTC)  # Mon 09:30 in Sydney
    assert sydney.open_at(sunday_utc) == sunday_utc
    assert hours.open_at(sunday_utc) == datetime(2026, 7, 6, 8, 0, tzinfo=UTC)
