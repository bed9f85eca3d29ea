"""Retention: how long Harbour keeps each kind of data, and the purge that
removes what has been kept longer (issue 14).

The organisation sets a period for each `Category` (`bot.config`,
HARBOUR_KEEP_*_DAYS). Once a day (`purge_if_due`, called by a running Harbour,
one process at a time) and on demand (`harbour purge [--dry-run]`, `run_purge_command`), `purge`
removes what is past its period:

* abandoned drafts: a saved conversation nobody has touched, forgotten;
* closed cases, counted from when they were closed: added to the anonymous
  tallies (`bot.privacy.tally`), then erased with everything kept with them;
* delivery and outbox records, counted from the delivery;
* display names of people Harbour has not seen;
* store-wide audit entries (a case's own audit goes with the case).

What touches a person's conversation is done in her turn (`Harbour.turn`), so a
purge never races with her own events, and is checked again there: a draft
she opened a moment ago stays. Each real run leaves a store-wide audit entry
and a `RecordKind.PURGES` record, with counts only.
"""

from __future__ import annotations

import asyncio
import logging
import re
import sys
from dataclasses import dataclass, fields
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import TYPE_CHECKING, Any, TextIO, TypeGuard

from bot.logs import log_failure
from bot.privacy.audit import HARBOUR, AuditAction, AuditEntry
from bot.privacy.rights import forget_expired_files
from bot.privacy.tally import Tally, counts_in_figures, erase_mark, tally_key
from bot.reports import Report, ReportStatus
from bot.store.base import RecordKind, Store, StoreError

if TYPE_CHECKING:
    from bot.app import Harbour
    from bot.config import Settings

log = logging.getLogger(__name__)

FOREVER = "forever"
"""The setting's word for keeping a category without limit (a legal hold)."""
WHOLE_NUMBER = re.compile(r"[+-]?[0-9]{1,12}")
MAX_DAYS = 36_500
"""A hundred years: anything longer is a typing mistake (say "forever" instead)."""
PURGE_LEASE = "purge"
PURGE_LEASE_TIME = timedelta(hours=1)
"""How long one process holds the purge, renewed before each case it erases:
two processes never count cases at once."""
LAST = "last"
"""The `RecordKind.PURGES` record of the last real run."""


class Category(StrEnum):
    """A kind of data with a retention period of its own."""

    DRAFTS = "drafts"
    CLOSED_CASES = "closed_cases"
    DELIVERIES = "deliveries"
    NAMES = "names"
    AUDIT = "audit"


@dataclass(frozen=True)
class Rule:
    """What an organisation may set for one category."""

    setting: str
    """The environment variable."""
    default_days: int
    floor_days: int
    """The shortest period allowed, so a typing mistake cannot erase open work."""
    why_floor: str
    forever: bool
    """Whether it may be kept without limit (a legal hold)."""
    words: str
    """What the category is, in plain words."""
    age: str
    """Which of them go, in plain words (with `{days}`)."""


RULES: dict[Category, Rule] = {
    Category.DRAFTS: Rule(
        setting="HARBOUR_KEEP_DRAFTS_DAYS",
        default_days=30,
        floor_days=7,
        why_floor="a worker may put a report down for days: harassment is often worst in "
        "the first week",
        forever=False,
        words="abandoned drafts",
        age="saved conversations nobody touched for more than {days} days",
    ),
    Category.CLOSED_CASES: Rule(
        setting="HARBOUR_KEEP_CLOSED_CASES_DAYS",
        default_days=2190,
        floor_days=30,
        why_floor="a closed case stays readable for at least a month after it is closed",
        forever=True,
        words="closed cases",
        age="closed more than {days} days ago; erased, kept only as anonymous counts",
    ),
    Category.DELIVERIES: Rule(
        setting="HARBOUR_KEEP_DELIVERIES_DAYS",
        default_days=90,
        floor_days=7,
        why_floor="delivery records stop an alert being sent twice while it is retried",
        forever=False,
        words="delivery and outbox records",
        age="alerts delivered more than {days} days ago",
    ),
    Category.NAMES: Rule(
        setting="HARBOUR_KEEP_NAMES_DAYS",
        default_days=365,
        floor_days=30,
        why_floor="managers should read the names of people who are still around",
        forever=False,
        words="display names",
        age="people Harbour has not seen for more than {days} days",
    ),
    Category.AUDIT: Rule(
        setting="HARBOUR_KEEP_AUDIT_DAYS",
        default_days=2190,
        floor_days=365,
        why_floor="an erasure or a purge must stay checkable for at least a year",
        forever=True,
        words="store-wide audit entries",
        age="erasures, exports, purges, key rotations; made more than {days} days ago",
    ),
}


def parse_days(category: Category, value: object) -> int | None:
    """A setting's value as whole days (None: kept without limit), or a
    ValueError saying what is allowed."""
    rule = RULES[category]
    allowed = f"a whole number of days from {rule.floor_days} to {MAX_DAYS}" + (
        f", or {FOREVER!r} to keep them without limit" if rule.forever else ""
    )
    word = value.strip().lower() if isinstance(value, str) else None
    days: int | None = None
    if isinstance(value, int) and not isinstance(value, bool):
        days = value
    elif word is not None and WHOLE_NUMBER.fullmatch(word):
        days = int(word)
    elif word == FOREVER:
        if not rule.forever:
            raise ValueError(f"{rule.words} cannot be kept forever. Set {allowed}")
        return None
    elif word == "never":
        raise ValueError(f"'never' could mean keep or delete. Set {allowed}")
    if days is None:
        raise ValueError(f"{str(value)[:20]!r} is not a number of days. Set {allowed}")
    if days < rule.floor_days:
        raise ValueError(
            f"{days} days is shorter than Harbour allows ({rule.floor_days}: "
            f"{rule.why_floor}). Set {allowed}"
        )
    if days > MAX_DAYS:
        raise ValueError(f"{days} days is more than a hundred years. Set {allowed}")
    return days


@dataclass(frozen=True)
class Retention:
    """How long each category is kept (None: without limit)."""

    drafts: timedelta
    closed_cases: timedelta | None
    deliveries: timedelta
    names: timedelta
    audit: timedelta | None

    @classmethod
    def from_days(cls, days: dict[Category, int | None]) -> Retention:
        """From whole days by category (as the settings hold them, checked)."""
        periods = {c: None if d is None else timedelta(days=d) for c, d in days.items()}

        def kept(category: Category) -> timedelta:
            period = periods[category]
            if period is None:
                raise ValueError(f"{RULES[category].words} cannot be kept forever")
            return period

        return cls(
            drafts=kept(Category.DRAFTS),
            closed_cases=periods[Category.CLOSED_CASES],
            deliveries=kept(Category.DELIVERIES),
            names=kept(Category.NAMES),
            audit=periods[Category.AUDIT],
        )

    def period(self, category: Category) -> timedelta | None:
        return {
            Category.DRAFTS: self.drafts,
            Category.CLOSED_CASES: self.closed_cases,
            Category.DELIVERIES: self.deliveries,
            Category.NAMES: self.names,
            Category.AUDIT: self.audit,
        }[category]

    def before(self, category: Category, now: datetime) -> datetime | None:
        """What of `category` made (or last touched) before this time goes now;
        None: nothing goes."""
        period = self.period(category)
        return None if period is None else now - period


DEFAULT_RETENTION = Retention.from_days({c: r.default_days for c, r in RULES.items()})


@dataclass(frozen=True)
class PurgeCounts:
    """What a purge removed (or, in a dry run, would remove): counts only."""

    dry_run: bool
    drafts: int = 0
    cases: int = 0
    deliveries: int = 0
    """Delivery and outbox records. A dry run counts those of cases it would
    erase too; a real run erases those with their cases first."""
    names: int = 0
    audit: int = 0
    failed: int = 0
    """Things that could not be removed this time (logged by error type); they
    are still whole, and the next purge tries them again."""

    def detail(self) -> str:
        """The counts as one line, e.g. "drafts=3 cases=1 deliveries=40 names=2 audit=0"."""
        parts = [
            f"{f.name}={getattr(self, f.name)}"
            for f in fields(self)
            if f.name not in ("dry_run", "failed")
        ]
        if self.failed:
            parts.append(f"failed={self.failed}")
        return " ".join(parts)

    def by_category(self) -> dict[Category, int]:
        return {
            Category.DRAFTS: self.drafts,
            Category.CLOSED_CASES: self.cases,
            Category.DELIVERIES: self.deliveries,
            Category.NAMES: self.names,
            Category.AUDIT: self.audit,
        }

    def lines(self, retention: Retention) -> list[str]:
        """What a person running `harbour purge` reads: per category, in plain words."""
        out = [
            "Dry run: nothing was changed. A purge now would remove:" if self.dry_run else "Purged:"
        ]
        for category, count in self.by_category().items():
            rule = RULES[category]
            period = retention.period(category)
            if period is None:
                out.append(f"  {rule.words}: kept without limit ({rule.setting}={FOREVER})")
                continue
            out.append(f"  {rule.words} ({rule.age.format(days=period.days)}): {count}")
        if self.failed:
            out.append(
                f"  could not be removed this time (see the log; the next purge tries "
                f"again): {self.failed}"
            )
        return out


class LeaseLost(RuntimeError):
    """Another process took the purge over (this one held it past its lease)."""


class _Failures:
    """Counts what failed, logging the error type only (never what it was about)."""

    def __init__(self) -> None:
        self.count = 0

    def note(self, what: str, exc: Exception) -> None:
        self.count += 1
        log.warning("purge: %s failed (%s)", what, type(exc).__name__)


# ---------------------------------------------------------------------- the purge


async def purge(
    harbour: Harbour, retention: Retention, *, now: datetime, dry_run: bool = False
) -> PurgeCounts:
    """Remove what is past its retention at `now` (a dry run only counts it
    and writes nothing). A failure on one item is counted and logged, and the
    rest goes on; what failed is still whole."""
    failures = _Failures()
    store = harbour.store
    drafts = await _drafts(harbour, retention.before(Category.DRAFTS, now), dry_run, failures)
    cases = await _cases(harbour, retention.before(Category.CLOSED_CASES, now), dry_run, failures)
    deliveries = await _deliveries(
        store, retention.before(Category.DELIVERIES, now), dry_run, failures
    )
    names = await _names(harbour, retention.before(Category.NAMES, now), now, dry_run, failures)
    audit = await _audit(store, retention.before(Category.AUDIT, now), dry_run, failures)
    counts = PurgeCounts(
        dry_run=dry_run,
        drafts=drafts,
        cases=cases,
        deliveries=deliveries,
        names=names,
        audit=audit,
        failed=failures.count,
    )
    if dry_run:
        return counts
    try:
        # Files offered and never accepted: a day, whatever the settings say.
        await forget_expired_files(store, now)
    except Exception as exc:
        log_failure("forgetting files nobody accepted", exc)
    await store.append_audit(
        AuditEntry(
            at=now,
            actor=HARBOUR,
            action=AuditAction.PURGED,
            surface=HARBOUR,
            detail=counts.detail(),
        )
    )
    await store.put_record(
        RecordKind.PURGES,
        LAST,
        {
            "at": now.isoformat(),
            **{f.name: getattr(counts, f.name) for f in fields(counts) if f.name != "dry_run"},
        },
    )
    log.info("purge: %s", counts.detail())
    return counts


async def _drafts(
    harbour: Harbour, before: datetime | None, dry_run: bool, failures: _Failures
) -> int:
    """Forget conversations nobody touched since `before`."""
    if before is None:
        return 0
    store = harbour.store
    idle = await store.idle_sessions(before)
    if dry_run:
        return len(idle)
    forgotten = 0
    for person in idle:
        try:
            async with harbour.turn(person.key):
                # Read again in her turn: she may have come back since the
                # list was made, and a draft she is working on now stays.
                session = await store.load_session(person)
                if session is None or session.updated_at >= before:
                    continue
                await store.save_session(person, None)
                forgotten += 1
        except Exception as exc:
            failures.note("forgetting an abandoned draft", exc)
    return forgotten


async def _tallies(store: Store) -> dict[str, Tally]:
    return {
        key: Tally.model_validate(value)
        for key, value in (await store.records(RecordKind.TALLIES)).items()
    }


async def _cases(
    harbour: Harbour, before: datetime | None, dry_run: bool, failures: _Failures
) -> int:
    """Reduce cases closed before `before` to the anonymous tallies, and erase them.

    The tally is written before the erasure, with the case's mark
    (`Tally.erasing`) in the same write; the mark goes once the case is gone.
    So a purge interrupted in between finds the mark next time and only
    erases; a case is never counted twice, and never erased uncounted."""
    if before is None:
        return 0
    store = harbour.store
    if dry_run:
        return sum(
            [
                _past(await store.get_report(reference), before)
                for reference in await store.references(closed_before=before)
            ]
        )
    tallies = await _tallies(store)
    await _clear_marks(store, tallies)
    erased = 0
    for reference in await store.references(closed_before=before):
        # Renewed case by case: the tallies read above stay this process's
        # alone however long the purge takes (another would write over them).
        if not await store.hold_lease(PURGE_LEASE, PURGE_LEASE_TIME):
            failures.note("holding the purge", LeaseLost())
            break
        try:
            report = await store.get_report(reference)
            if not _past(report, before):
                continue
            async with harbour.turn(report.reporter.key):
                report = await store.get_report(reference)  # as it is in her turn
                if not _past(report, before):
                    continue
                if not counts_in_figures(report):
                    # Her own record, and she was never told it would be counted:
                    # erased without a trace in the tallies.
                    if await store.erase_report(reference):
                        erased += 1
                    continue
                mark = erase_mark(reference)
                counted_in = next((q for q, t in tallies.items() if mark in t.erasing), None)
                if counted_in is None:
                    counted_in = tally_key(report, harbour.tz)
                    tally = tallies.get(counted_in, Tally()).model_copy(deep=True)
                    tally.add(report, harbour.tz)
                    await store.put_record(RecordKind.TALLIES, counted_in, _dump(tally))
                    tallies[counted_in] = tally
                if await store.erase_report(reference):
                    erased += 1
                tally = tallies[counted_in]
                tally.erasing.remove(mark)
                await store.put_record(RecordKind.TALLIES, counted_in, _dump(tally))
        except Exception as exc:
            failures.note("erasing a closed case", exc)
    return erased


def _past(report: Report | None, before: datetime) -> TypeGuard[Report]:
    """Whether a report read back is (still) a case closed before `before`,
    with nothing added to it since (a worker may still update a closed case,
    and its team add a note): that waits for its own time, alerts and all."""
    return (
        report is not None
        and report.status is ReportStatus.CLOSED
        and report.closed_at is not None
        and report.closed_at < before
        and last_activity(report) < before
    )


def _dump(tally: Tally) -> dict[str, Any]:
    return tally.model_dump(mode="json")


async def _clear_marks(store: Store, tallies: dict[str, Tally]) -> None:
    """Take off the marks of cases already erased (a purge stopped between the
    erasure and taking the mark off)."""
    if not any(t.erasing for t in tallies.values()):
        return
    stored = {erase_mark(reference) for reference in await store.references()}
    for key, tally in tallies.items():
        kept = [mark for mark in tally.erasing if mark in stored]
        if kept != tally.erasing:
            tally.erasing = kept
            await store.put_record(RecordKind.TALLIES, key, _dump(tally))


async def _deliveries(
    store: Store, before: datetime | None, dry_run: bool, failures: _Failures
) -> int:
    if before is None:
        return 0
    try:
        return await store.prune_delivered(before, dry_run=dry_run)
    except Exception as exc:
        failures.note("removing old delivery records", exc)
        return 0


def last_activity(report: Report) -> datetime:
    """When anything was last added to a case: filed, an update, a timeline
    entry (notes, actions, alerts), a check-in answered or sent."""
    times = [report.filed_at, *(u.at for u in report.updates), *(e.at for e in report.timeline)]
    for checkin in report.checkins:
        times += [t for t in (checkin.sent_at, checkin.answered_at) if t is not None]
    return max(times)


def last_seen(record: dict[str, Any]) -> datetime | None:
    """When a display name was last written (`at`), or None if it does not say
    (or says it in a way that cannot be read: its clock starts again)."""
    at = record.get("at")
    if not isinstance(at, str):
        return None
    try:
        seen = datetime.fromisoformat(at)
    except ValueError:
        return None
    return seen if seen.tzinfo is not None else seen.replace(tzinfo=UTC)


async def _names(
    harbour: Harbour, before: datetime | None, now: datetime, dry_run: bool, failures: _Failures
) -> int:
    """Forget the names of people not seen since `before`. A name that does
    not say when it was written gets `now`: its clock starts, nothing is lost."""
    if before is None:
        return 0
    store = harbour.store
    names = await store.records(RecordKind.PEOPLE)
    if dry_run:
        return sum(
            1 for r in names.values() if (seen := last_seen(r)) is not None and seen < before
        )
    forgotten = 0
    for key, record in names.items():
        seen = last_seen(record)
        if seen is not None and seen >= before:
            continue
        try:
            async with harbour.turn(key):
                # In her turn: an event of hers may have just written it again.
                current = await store.get_record(RecordKind.PEOPLE, key)
                if current is None:
                    continue
                seen = last_seen(current)
                if seen is None:
                    await store.put_record(
                        RecordKind.PEOPLE, key, {**current, "at": now.isoformat()}
                    )
                elif seen < before:
                    await store.put_record(RecordKind.PEOPLE, key, None)
                    forgotten += 1
        except Exception as exc:
            failures.note("forgetting a display name", exc)
    return forgotten


async def _audit(store: Store, before: datetime | None, dry_run: bool, failures: _Failures) -> int:
    if before is None:
        return 0
    if dry_run:
        return sum(1 for entry in await store.audit_chain(None) if entry.at < before)
    try:
        return await store.trim_audit(before)
    except Exception as exc:
        failures.note("trimming the store-wide audit", exc)
        return 0


# ---------------------------------------------------------------------- when


async def last_purge(store: Store) -> datetime | None:
    """When the last real purge ran."""
    record = await store.get_record(RecordKind.PURGES, LAST)
    return None if record is None else last_seen(record)


async def purge_if_due(
    harbour: Harbour, retention: Retention, *, now: datetime
) -> PurgeCounts | None:
    """The daily purge: run unless one already ran today (in the organisation's
    time zone), and only in the process that holds the purge. None if not run."""
    store = harbour.store

    async def ran_today() -> bool:
        last = await last_purge(store)
        return (
            last is not None
            and last.astimezone(harbour.tz).date() >= now.astimezone(harbour.tz).date()
        )

    if await ran_today() or not await store.hold_lease(PURGE_LEASE, PURGE_LEASE_TIME):
        return None
    if await ran_today():  # another process finished one while this one took the lease
        return None
    return await purge(harbour, retention, now=now)


async def purge_daily(harbour: Harbour, retention: Retention, *, every: float = 600) -> None:
    """Run beside the notifier in each process until cancelled: looks every
    `every` seconds whether today's purge is due (one process runs it), apart
    from alert delivery so a long first purge never holds an alert up."""
    while True:
        try:
            await purge_if_due(harbour, retention, now=harbour.clock())
        except Exception as exc:
            log_failure("the daily purge", exc)
        await asyncio.sleep(every)


# ---------------------------------------------------------------------- harbour purge


async def run_purge_command(settings: Settings, *, dry_run: bool, out: TextIO) -> int:
    """`harbour purge [--dry-run]`: purge now (or count what would go), print
    the counts per category. 0: done; 1: something could not be removed, or
    another process is purging; 2: the store could not be opened."""
    from bot.app import Harbour  # the command line's imports stay light until it runs
    from bot.cli import open_store

    retention = settings.retention()
    try:
        store = await open_store(settings)
    except StoreError as exc:
        print(f"harbour: {exc}", file=sys.stderr)
        return 2
    try:
        harbour = Harbour(store, settings.flow_context())
        if not dry_run and not await store.hold_lease(PURGE_LEASE, PURGE_LEASE_TIME):
            print(
                "harbour: another Harbour process is purging now; try again in an hour "
                "(or use --dry-run to see what would go).",
                file=sys.stderr,
            )
            return 1
        counts = await purge(harbour, retention, now=datetime.now(UTC), dry_run=dry_run)
    finally:
        await store.close()
    print("\n".join(counts.lines(retention)), file=out)
    return 1 if counts.failed else 0
