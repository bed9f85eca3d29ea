"""Typed check-in times, working days and the organisation's time zone
(issue "the conversation…", item 6 "Time")."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from bot.alerts.followups import EscalationTimes, add_working_day, public_holidays
from bot.app import Harbour
from bot.config import ConfigError, load_settings
from bot.reports import RiskLevel
from bot.store import Store
from bot.when import FORMS, Unclear, When, local, parse_when
from tests.conftest import Chat
from tests.test_cases import LOW_RISK, file

DUBLIN = ZoneInfo("Europe/Dublin")
MONDAY = datetime(2026, 3, 2, 9, 30, tzinfo=UTC)


def days(text: str, now: datetime = MONDAY) -> tuple[int, ...]:
    when = parse_when(text, now, DUBLIN)
    assert isinstance(when, When), when
    return when.days


def lands(now: datetime, text: str) -> datetime:
    """Where `checkins.schedule` puts the check-in: now plus whole days, in Dublin."""
    (offset,) = days(text, now)
    return (now + timedelta(days=offset)).astimezone(DUBLIN)


# ------------------------------------------------------------------ parse_when


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", (1,)),
        ("tomorrow", (1,)),
        ("  Tomorrow. ", (1,)),
        ("in a day", (1,)),
        ("in 1 day", (1,)),
        ("in 3 days", (3,)),
        ("in 3d", (3,)),
        ("3 days", (3,)),
        ("3d", (3,)),
        ("3 d", (3,)),
        ("in 30 days", (30,)),
        ("in a week", (7,)),
        ("a week", (7,)),
        ("next week", (7,)),
        ("in 1 week", (7,)),
        ("in 2 weeks", (14,)),
        ("2 weeks", (14,)),
        ("2w", (14,)),
        ("in 4 weeks", (28,)),
        ("cadence", (1, 3, 7)),
        ("days 1, 3 and 7", (1, 3, 7)),
        ("days 1,3,7", (1, 3, 7)),
        ("days 2 and 5", (2, 5)),
        ("day 4", (4,)),
    ],
)
def test_each_accepted_form(text: str, expected: tuple[int, ...]) -> None:
    assert days(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "in 1 or 2 days",  # once read as day 12
        "in 2-3 days",
        "in 1.5 days",
        "soon",
        "later",
        "0 days",
        "in 0 weeks",
        "31 days",
        "in 5 weeks",
        "in 100 days",
        "days 1, 1 and 3",
        "days 0 and 3",
        "days 1 or 3",
        "this friday",
        "friday or monday",
        "in two days",
        "in ٣ days",  # not an ASCII digit
        "ad",
    ],
)
def test_ambiguous_or_out_of_range_is_unclear(text: str) -> None:
    when = parse_when(text, MONDAY, DUBLIN)
    assert isinstance(when, Unclear)
    assert FORMS in when.message and "Nothing was scheduled" in when.message


def test_unclear_says_what_was_wrong() -> None:
    too_far = parse_when("31 days", MONDAY, DUBLIN)
    assert isinstance(too_far, Unclear)
    assert "between 1 and 30 days away" in too_far.message
    weeks = parse_when("in 5 weeks", MONDAY, DUBLIN)
    assert isinstance(weeks, Unclear) and "between 1 and 4 weeks away" in weeks.message


def test_two_weeks_is_fourteen_days_not_seven() -> None:
    assert days("in 2 weeks") == (14,)


def test_cadence_as_checkins_schedule_takes_it() -> None:
    assert When((1, 3, 7)).cadence == "1,3,7"
    assert When((3,)).cadence == "3"


def test_now_must_be_aware() -> None:
    with pytest.raises(ValueError):
        parse_when("tomorrow", datetime(2026, 3, 2, 9, 30), DUBLIN)


@pytest.mark.parametrize(
    ("text", "weekday", "expected"),
    [
        ("monday", 0, (7,)),  # never today
        ("on monday", 0, (7,)),
        ("next monday", 0, (7,)),
        ("tuesday", 1, (1,)),
        ("next tuesday", 1, (1,)),
        ("Wed", 2, (2,)),
        ("on friday", 4, (4,)),
        ("sunday", 6, (6,)),
    ],
)
def test_weekdays_are_the_next_such_day(text: str, weekday: int, expected: tuple[int, ...]) -> None:
    assert days(text) == expected
    assert lands(MONDAY, text).weekday() == weekday


def test_weekdays_across_a_week_boundary() -> None:
    friday = datetime(2026, 10, 23, 15, 0, tzinfo=UTC)  # 16:00 in Dublin
    assert days("monday", friday) == (3,)
    assert days("friday", friday) == (7,)
    assert lands(friday, "monday").date().isoformat() == "2026-10-26"


def test_weekdays_are_read_in_dublin_not_utc() -> None:
    # 23:30 UTC on Thursday 4 June is 00:30 on Friday in Dublin.
    late = datetime(2026, 6, 4, 23, 30, tzinfo=UTC)
    assert days("friday", late) == (7,)
    assert days("saturday", late) == (1,)
    assert lands(late, "friday").date().isoformat() == "2026-06-12"


def test_weekdays_when_the_clocks_go_back() -> None:
    # 00:30 on Sunday 25 October in Dublin (still Saturday in UTC); at 02:00 the
    # clocks go back, so one 24-hour day from now is still Sunday there.
    night = datetime(2026, 10, 24, 23, 30, tzinfo=UTC)
    assert lands(night, "monday").date().isoformat() == "2026-10-26"
    assert lands(night, "sunday").date().isoformat() == "2026-11-01"  # never today
    assert lands(night, "saturday").date().isoformat() == "2026-10-31"
    assert days("monday", night) == (2,)


def test_weekdays_when_the_clocks_go_forward() -> None:
    night = datetime(2026, 3, 28, 23, 30, tzinfo=UTC)  # Saturday 23:30 in Dublin
    assert lands(night, "monday").date().isoformat() == "2026-03-30"
    assert days("monday", night) == (1,)
    assert lands(night, "friday").date().isoformat() == "2026-04-03"


def test_local_shows_the_organisations_time() -> None:
    assert local(datetime(2026, 12, 14, 9, 0, tzinfo=UTC), DUBLIN) == "Mon 14 Dec, 09:00"
    assert local(datetime(2026, 6, 1, 8, 0, tzinfo=UTC), DUBLIN) == "Mon 1 Jun, 09:00"
    assert local(datetime(2026, 6, 1, 8, 0, tzinfo=UTC), ZoneInfo("America/New_York")) == (
        "Mon 1 Jun, 04:00"
    )


# ------------------------------------------------------------------ working days


def test_working_day_skips_the_weekend() -> None:
    friday = datetime(2026, 11, 27, 17, 0, tzinfo=UTC)
    assert add_working_day(friday) == datetime(2026, 11, 30, 17, 0, tzinfo=UTC)
    saturday = datetime(2026, 11, 28, 10, 0, tzinfo=UTC)
    assert add_working_day(saturday) == datetime(2026, 11, 30, 10, 0, tzinfo=UTC)


def test_working_day_skips_st_patricks_day_in_ireland_not_england() -> None:
    monday = datetime(2026, 3, 16, 10, 0, tzinfo=UTC)
    assert add_working_day(monday, country="IE") == datetime(2026, 3, 18, 10, 0, tzinfo=UTC)
    assert add_working_day(monday, country="GB-ENG") == datetime(2026, 3, 17, 10, 0, tzinfo=UTC)
    assert add_working_day(monday, country="GB") == datetime(2026, 3, 17, 10, 0, tzinfo=UTC)


def test_working_day_over_christmas_in_britain() -> None:
    london = ZoneInfo("Europe/London")
    eve = datetime(2026, 12, 24, 10, 0, tzinfo=UTC)
    # 25 Friday, 26 Saturday, 28 Monday: Boxing Day (observed).
    assert add_working_day(eve, tz=london, country="GB") == datetime(
        2026, 12, 29, 10, 0, tzinfo=UTC
    )
    assert add_working_day(eve, tz=london, country="GB-ENG").day == 29
    # Ireland gives no substitute day for St Stephen's Day on a Saturday.
    assert add_working_day(eve, country="IE") == datetime(2026, 12, 28, 10, 0, tzinfo=UTC)


def test_friday_evening_in_dublin_is_monday_evening_in_dublin() -> None:
    friday = datetime(2026, 7, 3, 18, 30, tzinfo=UTC)  # 19:30 Irish summer time
    monday = add_working_day(friday)
    assert monday.tzinfo is UTC
    assert monday.astimezone(DUBLIN) == datetime(2026, 7, 6, 19, 30, tzinfo=DUBLIN)
    # The clocks go back over the weekend, and Monday 26 October is the October
    # bank holiday: Tuesday, still 19:30 in Dublin, an hour later in UTC.
    before = datetime(2026, 10, 23, 18, 30, tzinfo=UTC)
    assert add_working_day(before) == datetime(2026, 10, 27, 19, 30, tzinfo=UTC)
    assert add_working_day(before, country="GB") == datetime(2026, 10, 26, 19, 30, tzinfo=UTC)


def test_working_days_begin_at_midnight_in_dublin() -> None:
    # 23:30 UTC on Thursday is 00:30 on Friday in Dublin: the next working day is Monday.
    thursday = datetime(2026, 6, 4, 23, 30, tzinfo=UTC)
    assert add_working_day(thursday).astimezone(DUBLIN) == datetime(
        2026, 6, 8, 0, 30, tzinfo=DUBLIN
    )


def test_working_day_needs_a_known_country_and_an_aware_time() -> None:
    with pytest.raises(ValueError, match="XX"):
        add_working_day(MONDAY, country="XX")
    with pytest.raises(ValueError):
        add_working_day(datetime(2026, 3, 2, 9, 30))


def test_holidays_are_cached_per_country_and_year() -> None:
    assert public_holidays("IE", 2026) is public_holidays("IE", 2026)
    assert datetime(2026, 2, 2).date() in public_holidays("IE", 2026)  # Saint Brigid's Day


def test_escalation_uses_the_organisations_zone_and_country() -> None:
    low: Any = SimpleNamespace(risk=RiskLevel.LOW)
    monday = datetime(2026, 3, 16, 10, 0, tzinfo=UTC)
    assert EscalationTimes().due(low, monday).day == 18
    assert EscalationTimes(country="GB").due(low, monday).day == 17
    assert EscalationTimes(other=timedelta(hours=2)).due(low, monday).hour == 12


# ------------------------------------------------------------------ settings


def test_timezone_setting() -> None:
    settings = load_settings(_env_file=None, timezone="Europe/London", country="GB")
    assert settings.tz == ZoneInfo("Europe/London")
    assert settings.escalation().tz == ZoneInfo("Europe/London")
    assert settings.escalation().country == "GB"
    assert settings.flow_context().timezone == "Europe/London"
    default = load_settings(_env_file=None)
    assert default.tz == DUBLIN and default.escalation().country == "IE"


@pytest.mark.parametrize("zone", ["Dublin", "Europe/Atlantis", "", "../etc/passwd"])
def test_an_unknown_timezone_stops_the_bot_naming_the_variable(zone: str) -> None:
    with pytest.raises(ConfigError, match="HARBOUR_TIMEZONE"):
        load_settings(_env_file=None, timezone=zone)


def test_a_country_without_holidays_stops_the_bot() -> None:
    with pytest.raises(ConfigError, match="HARBOUR_COUNTRY"):
        load_settings(_env_file=None, country="XX")


# ------------------------------------------------------------------ the checkin command


async def test_checkin_in_1_or_2_days_changes_nothing(harbour: Harbour, store: Store) -> None:
    ref = await file(Chat(harbour, "alice"), LOW_RISK)
    bob = Chat(harbour, "bob")
    await bob.command("checkin", "console:local:alice in 1 or 2 days")
    assert FORMS in bob.text() and "Nothing was scheduled" in bob.text()
    assert "scheduled:" not in bob.text()
    report = await store.get_report(ref)
    assert report is not None and report.checkins == []
    assert all(e.action != "checkins-scheduled" for e in report.timeline)


async def test_checkin_confirmation_shows_local_times(harbour: Harbour, store: Store) -> None:
    ref = await file(Chat(harbour, "alice"), LOW_RISK)
    bob = Chat(harbour, "bob")
    await bob.command("checkin", "console:local:alice in 2 weeks")
    # The test clock is Monday 2 March 2026, 09:30 UTC (the same in Dublin then).
    assert f"Check-ins for {ref} scheduled: Mon 16 Mar, 09:30." in bob.text()
    await bob.command("checkin", "console:local:alice friday")
    assert "Fri 6 Mar, 09:30" in bob.text()
    report = await store.get_report(ref)
    assert report is not None
    assert [c.due - MONDAY for c in report.checkins] == [timedelta(days=14), timedelta(days=4)]
