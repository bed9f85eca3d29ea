"""When a manager means: the few typed ways of saying when a check-in is due.

`parse_when` accepts a small, fixed set of forms and refuses everything else
with a kind `Unclear` that lists them: "in 1 or 2 days" is a question back,
never day 12. Weekdays are read in the organisation's own time zone, so
"friday" typed late on a Thursday evening in Dublin is the next day, whatever
the date is in UTC.

    ""  tomorrow  in a day  in 3 days  in 3d  3 days  3d     -> (1,) (3,)
    in a week  next week  in 2 weeks  2w                       -> (7,) (14,)
    monday  on friday  next tuesday  (never today)             -> (days to it,)
    cadence  days 1, 3 and 7                                   -> (1, 3, 7)
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

MAX_DAYS = 30
MAX_WEEKS = 4
CADENCE = (1, 3, 7)

FORMS = (
    "tomorrow, in 3 days (or 3d, up to 30), in a week, in 2 weeks (or 2w, up to 4), "
    "a weekday such as friday or next tuesday, or cadence for days 1, 3 and 7"
)
"""The forms understood, as said back to someone whose answer was unclear."""

WEEKDAYS = {
    name: number
    for number, names in enumerate(
        (
            ("monday", "mon"),
            ("tuesday", "tue", "tues"),
            ("wednesday", "wed"),
            ("thursday", "thu", "thur", "thurs"),
            ("friday", "fri"),
            ("saturday", "sat"),
            ("sunday", "sun"),
        )
    )
    for name in names
}

_DAYS = re.compile(r"(?:in )?(?:(?P<n>\d+) ?(?:d|days?)|an? day)", re.ASCII)
_WEEKS = re.compile(r"(?:in )?(?:(?P<n>\d+) ?(?:w|wks?|weeks?)|an? week)|next week", re.ASCII)
_WEEKDAY = re.compile(r"(?:on |next )?(?P<day>[a-z]+)", re.ASCII)
_LIST = re.compile(r"days? (?P<list>\d+(?: ?, ?\d+)*(?:,? and \d+)?)", re.ASCII)


@dataclass(frozen=True)
class When:
    """Check-ins due this many whole days (24 hours each) from now, in order.

    The days are what `bot.checkins.schedule` adds to now; a weekday's count is
    chosen so that it lands on that weekday in the organisation's time zone.
    """

    days: tuple[int, ...]

    @property
    def cadence(self) -> str:
        """The days as `bot.checkins.schedule` takes them: "1", "1,3,7"."""
        return ",".join(map(str, self.days))


@dataclass(frozen=True)
class Unclear:
    """Not one of the forms understood; `message` says so kindly and lists them."""

    message: str


def parse_when(text: str, now: datetime, tz: ZoneInfo) -> When | Unclear:
    """When `text` means, from `now` (aware) in the organisation's zone `tz`.

    An empty text means tomorrow. Anything that could be read two ways, or is
    not between one day and four weeks away, is Unclear.
    """
    if now.tzinfo is None:
        raise ValueError("parse_when needs an aware datetime for now")
    said = " ".join(text.strip().lower().removesuffix(".").split())
    if said in ("", "tomorrow"):
        return When((1,))
    if said == "cadence":
        return When(CADENCE)
    if match := _DAYS.fullmatch(said):
        return _within(int(match["n"] or 1), 1, MAX_DAYS, "days", said)
    if match := _WEEKS.fullmatch(said):
        return _within(int(match["n"] or 1), 7, MAX_WEEKS, "weeks", said)
    if (match := _WEEKDAY.fullmatch(said)) and match["day"] in WEEKDAYS:
        return When((_days_to(WEEKDAYS[match["day"]], now, tz),))
    if match := _LIST.fullmatch(said):
        days = [int(n) for n in re.findall(r"\d+", match["list"])]
        if len(set(days)) != len(days) or not all(1 <= d <= MAX_DAYS for d in days):
            return _unclear(said, f"on days 1 to {MAX_DAYS}, each named once")
        return When(tuple(sorted(days)))
    return _unclear(said)


def _within(n: int, unit: int, most: int, units: str, said: str) -> When | Unclear:
    if 1 <= n <= most:
        return When((n * unit,))
    return _unclear(said, f"between 1 and {most} {units} away")


def _unclear(said: str, why: str = "") -> Unclear:
    if why:
        head = f"I can't schedule check-ins for “{said}”: they can be {why}."
    else:
        head = f"I couldn't tell when you meant by “{said}”."
    return Unclear(f"{head} You can say {FORMS}. Nothing was scheduled.")


def _days_to(weekday: int, now: datetime, tz: ZoneInfo) -> int:
    """Whole days from now to the next `weekday` (never today) in `tz`.

    Usually the calendar count; beside a clock change near midnight, the
    neighbouring count whose 24-hour days still land on that local date.
    """
    today = now.astimezone(tz).date()
    ahead = (weekday - today.weekday()) % 7 or 7
    target = today + timedelta(days=ahead)
    for days in (ahead, ahead - 1, ahead + 1):
        if days >= 1 and (now + timedelta(days=days)).astimezone(tz).date() == target:
            return days
    return ahead  # the short day the clocks go forward, from its eve after 23:00


def day(at: datetime, tz: ZoneInfo) -> str:
    """The day of a moment as people there read it: "14 Dec 2026"."""
    there = at.astimezone(tz)
    return f"{there.day} {there:%b %Y}"


def local(at: datetime, tz: ZoneInfo) -> str:
    """A moment as people there read it: "Mon 14 Dec, 09:00"."""
    there = at.astimezone(tz)
    return f"{there:%a} {there.day} {there:%b}, {there:%H:%M}"
