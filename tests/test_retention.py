"""Retention and the daily purge (issue 14), on every store: each category goes
at its retention and not before; a dry run changes nothing; a worker's open
draft and pending alerts are left alone; a closed case is counted once in the
anonymous tallies, which hold no words anyone wrote; bad settings stop Harbour
before anything is deleted; the daily purge runs once a day."""

from __future__ import annotations

import asyncio
import hashlib
import io
import itertools
import json
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from bot.access import Action
from bot.app import Harbour
from bot.cases import apply
from bot.cli import main
from bot.config import ConfigError, Settings, load_settings
from bot.engine import Draft
from bot.models import PersonRef, Platform
from bot.privacy.audit import AuditAction, AuditEntry, digest
from bot.privacy.retention import (
    DEFAULT_RETENTION,
    LAST,
    RULES,
    PurgeCounts,
    Retention,
    purge,
    purge_if_due,
    run_purge_command,
)
from bot.privacy.tally import ALLOWED, UNLISTED, Measure, Tally
from bot.reports import (
    CheckIn,
    DomainEvent,
    EventKind,
    ReflectionAnswers,
    Report,
    ReportAnswers,
    ReportStatus,
    ReportUpdate,
    RiskLevel,
    UpdateAnswers,
)
from bot.session import Session
from bot.store import MemoryStore, RecordKind, Store, TinyStore
from bot.store.postgres import PostgresStore
from tests.conftest import TYPED_REPORT, Chat, Clock, type_report

if TYPE_CHECKING:
    from tests.pg import OpenPostgres

pytest_plugins = ["tests.pg"]

DAY = timedelta(days=1)
SECOND = timedelta(seconds=1)
MARKER = "Zq-retention-marker"
"""Planted in every word a person could write: never in a tally."""
RETENTION = Retention(
    drafts=30 * DAY,
    closed_cases=2190 * DAY,
    deliveries=90 * DAY,
    names=365 * DAY,
    audit=2190 * DAY,
)


def person(user: str) -> PersonRef:
    return PersonRef(platform=Platform.CONSOLE, workspace="local", user=user)


ALICE, BOB, DAN = person("alice"), person("bob"), person("dan")


Open = Callable[[], Awaitable[Store]]


@pytest.fixture(params=["memory", "tiny", "postgres"])
def opener(request: pytest.FixtureRequest, tmp_path: Path) -> Open:
    if request.param == "postgres":
        open_pg: OpenPostgres = request.getfixturevalue("open_postgres")
        return open_pg  # its stores are closed by its fixture

    async def open_embedded() -> Store:
        return MemoryStore() if request.param == "memory" else TinyStore(tmp_path / "data")

    return open_embedded


@pytest.fixture
async def store(opener: Open) -> AsyncIterator[Store]:
    """Each store in turn (the conftest's `harbour` is built on it)."""
    opened = await opener()
    yield opened
    if not isinstance(opened, PostgresStore):
        await opened.close()


# ---------------------------------------------------------------------- building the past


def draft_session(who: PersonRef, at: datetime) -> Session:
    draft = Draft(
        id=f"draft-{who.user}",
        flow="report",
        step="description",
        answers={"in_danger": False, "description": MARKER},
        started_at=at,
        updated_at=at,
    )
    return Session(person=who, active="report", drafts={"report": draft}, updated_at=at)


def full_report(who: PersonRef, seq: int, reference: str, filed: datetime) -> Report:
    """A report with the marker in every word a person wrote, and in every
    choice that could hold typed words."""
    answers = ReportAnswers(
        in_danger=False,
        kinds=["threatening_messages", "personal_details"],
        details_exposed=["home", MARKER],
        platforms=["facebook", MARKER],
        links=[f"https://example.org/{MARKER}"],
        evidence=MARKER,
        started=MARKER,
        frequency=MARKER,
        affected=["me", MARKER],
        poster=MARKER,
        worry=4,
        description=MARKER,
        attachments=[MARKER],
    )
    return Report(
        reference=reference,
        year=filed.year,
        seq=seq,
        reporter=who,
        filed_at=filed,
        draft_id=f"d-{reference}",
        answers=answers,
        risk=RiskLevel.HIGH,
        risk_reasons=[MARKER],
        updates=[
            ReportUpdate(
                id=f"u-{reference}",
                at=filed,
                answers=UpdateAnswers(
                    kinds=["stalking"],
                    platforms=["x"],
                    links=[MARKER],
                    evidence=MARKER,
                    description=MARKER,
                ),
            )
        ],
        reflection=ReflectionAnswers(**{f: MARKER for f in ReflectionAnswers.model_fields}),
        managers=[BOB.key],
        checkins=[CheckIn(id="c1", due=filed, by=BOB.key, note=MARKER)],
    )


async def closed_case(
    store: Store,
    who: PersonRef,
    *,
    filed: datetime,
    closed: datetime,
    acknowledged: timedelta | None = None,
    escalated: bool = False,
) -> str:
    """File a case at `filed` and close it at `closed`, as a manager would."""

    def make(seq: int, reference: str) -> tuple[Report, list[DomainEvent]]:
        made = full_report(who, seq, reference, filed)
        return made, [
            DomainEvent(kind=EventKind.REPORT_FILED, at=filed, reporter=who, reference=reference)
        ]

    filed_report = await store.file_report(
        year=filed.year,
        draft_id=f"d-{filed.isoformat()}-{who.user}",
        make=make,
        person=who,
        session=None,
    )

    def close(report: Report) -> list[DomainEvent]:
        if acknowledged is not None:
            apply(report, Action.ACKNOWLEDGE, BOB, filed + acknowledged)
        if escalated:
            apply(report, Action.ESCALATE, BOB, filed + SECOND)
        apply(report, Action.CLOSE, BOB, closed, what=f"Another reason: {MARKER}", note=MARKER)
        return []

    await store.update_report(filed_report.reference, close)
    return filed_report.reference


async def delivered_case(store: Store, who: PersonRef, *, delivered: datetime) -> str:
    """An open case whose alert went out at `delivered`, with its delivery record."""

    def make(seq: int, reference: str) -> tuple[Report, list[DomainEvent]]:
        return full_report(who, seq, reference, delivered), [
            DomainEvent(
                id=f"ev-{reference}",
                kind=EventKind.REPORT_FILED,
                at=delivered,
                reporter=who,
                reference=reference,
            )
        ]

    filed = await store.file_report(
        year=delivered.year, draft_id=f"open-{who.user}", make=make, person=who, session=None
    )
    await store.mark_delivered([f"ev-{filed.reference}"], delivered)
    await store.put_record(
        RecordKind.DELIVERIES,
        f"ev-{filed.reference}:console:{BOB.key}",
        {"status": "sent", "message": "m1", "at": delivered.isoformat(), "attempts": 1},
    )
    return filed.reference


async def store_wide_entry(store: Store, at: datetime) -> None:
    await store.append_audit(
        AuditEntry(n=0, at=at, actor="harbour", action=AuditAction.ERASED, detail="reports=1")
    )


async def contents(store: Store, people: list[PersonRef]) -> dict[str, Any]:
    """Everything the store shows through its interface, as JSON."""
    references = await store.references()
    reports = [await store.get_report(r) for r in references]
    chains = await store.audit_chains()
    return {
        "sessions": {
            p.key: s.model_dump(mode="json") if (s := await store.load_session(p)) else None
            for p in people
        },
        "reports": [r.model_dump(mode="json") for r in reports if r is not None],
        "records": {kind.value: await store.records(kind) for kind in RecordKind},
        "pending": [e.model_dump(mode="json") for e in await store.pending_events()],
        "audit": {
            str(c): [e.model_dump(mode="json") for e in await store.audit_chain(c)] for c in chains
        },
    }


def files(directory: Path) -> dict[str, str]:
    """Every file under an embedded store's directory (none for the other
    stores), by path, with a hash of its bytes."""
    return {
        str(p.relative_to(directory)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(directory.rglob("*"))
        if p.is_file()
    }


# ---------------------------------------------------------------------- each category


async def test_an_abandoned_draft_goes_at_its_retention_not_a_second_before(
    harbour: Harbour, store: Store, clock: Clock
) -> None:
    touched = clock.now
    await store.save_session(ALICE, draft_session(ALICE, touched))
    kept = await purge(harbour, RETENTION, now=touched + 30 * DAY - SECOND)
    assert kept.drafts == 0 and await store.load_session(ALICE) is not None
    gone = await purge(harbour, RETENTION, now=touched + 30 * DAY + SECOND)
    assert gone.drafts == 1 and await store.load_session(ALICE) is None


async def test_a_closed_case_goes_at_its_retention_counted_from_closing(
    harbour: Harbour, store: Store, clock: Clock
) -> None:
    filed = clock.now
    closed = filed + 40 * DAY
    reference = await closed_case(store, ALICE, filed=filed, closed=closed)
    kept = await purge(harbour, RETENTION, now=closed + 2190 * DAY - SECOND)
    assert kept.cases == 0 and await store.get_report(reference) is not None
    gone = await purge(harbour, RETENTION, now=closed + 2190 * DAY + SECOND)
    assert gone.cases == 1
    assert await store.get_report(reference) is None
    assert reference not in await store.references()
    assert await store.reports_by(ALICE) == []
    assert await store.audit_chain(reference) == []


async def test_a_closed_case_added_to_since_waits_for_its_own_time(
    harbour: Harbour, store: Store, clock: Clock
) -> None:
    """She added to a closed case (or its team wrote a note) after its time
    came: the purge leaves it, with what was added and any alert about it,
    until retention has passed since then."""
    filed = clock.now
    closed = filed + 40 * DAY
    reference = await closed_case(store, ALICE, filed=filed, closed=closed)
    noted = closed + 2190 * DAY + DAY

    def note(report: Report) -> list[DomainEvent]:
        apply(report, Action.NOTE, BOB, noted, note="Called her again.")
        return []

    await store.update_report(reference, note)
    kept = await purge(harbour, RETENTION, now=noted + SECOND)
    assert kept.cases == 0 and await store.get_report(reference) is not None
    gone = await purge(harbour, RETENTION, now=noted + 2190 * DAY + SECOND)
    assert gone.cases == 1 and await store.get_report(reference) is None


async def test_an_open_case_is_never_erased_however_old(
    harbour: Harbour, store: Store, clock: Clock
) -> None:
    reference = await delivered_case(store, ALICE, delivered=clock.now)
    counts = await purge(harbour, RETENTION, now=clock.now + 100 * 365 * DAY)
    assert counts.cases == 0
    assert await store.get_report(reference) is not None


async def test_delivery_records_go_at_their_retention_counted_from_delivery(
    harbour: Harbour, store: Store, clock: Clock
) -> None:
    delivered = clock.now
    reference = await delivered_case(store, ALICE, delivered=delivered)
    kept = await purge(harbour, RETENTION, now=delivered + 90 * DAY - SECOND)
    assert kept.deliveries == 0 and await store.records(RecordKind.DELIVERIES)
    gone = await purge(harbour, RETENTION, now=delivered + 90 * DAY + SECOND)
    assert gone.deliveries is not None and gone.deliveries >= 1
    assert await store.records(RecordKind.DELIVERIES) == {}
    assert await store.get_report(reference) is not None  # the case itself is open: kept


async def test_a_display_name_goes_when_its_person_was_not_seen_for_its_retention(
    harbour: Harbour, store: Store, clock: Clock
) -> None:
    seen = clock.now
    await store.put_record(RecordKind.PEOPLE, ALICE.key, {"name": MARKER, "at": seen.isoformat()})
    kept = await purge(harbour, RETENTION, now=seen + 365 * DAY - SECOND)
    assert kept.names == 0 and await store.get_record(RecordKind.PEOPLE, ALICE.key)
    gone = await purge(harbour, RETENTION, now=seen + 365 * DAY + SECOND)
    assert gone.names == 1 and await store.get_record(RecordKind.PEOPLE, ALICE.key) is None


async def test_a_name_that_does_not_say_when_starts_its_clock_on_the_first_purge(
    harbour: Harbour, store: Store, clock: Clock
) -> None:
    await store.put_record(RecordKind.PEOPLE, ALICE.key, {"name": MARKER})
    first = clock.now + 1000 * DAY
    dry = await purge(harbour, RETENTION, now=first, dry_run=True)
    assert dry.names == 0
    assert await store.get_record(RecordKind.PEOPLE, ALICE.key) == {"name": MARKER}
    counts = await purge(harbour, RETENTION, now=first)
    assert counts.names == 0
    assert await store.get_record(RecordKind.PEOPLE, ALICE.key) == {
        "name": MARKER,
        "at": first.isoformat(),
    }
    assert (await purge(harbour, RETENTION, now=first + 365 * DAY - SECOND)).names == 0
    assert (await purge(harbour, RETENTION, now=first + 365 * DAY + SECOND)).names == 1
    assert await store.get_record(RecordKind.PEOPLE, ALICE.key) is None


async def test_store_wide_audit_entries_go_at_their_retention_and_the_rest_verifies(
    harbour: Harbour, store: Store, clock: Clock
) -> None:
    old = clock.now
    await store_wide_entry(store, old)
    await store_wide_entry(store, old + 10 * DAY)
    kept = await purge(harbour, RETENTION, now=old + 2190 * DAY - SECOND)
    assert kept.audit == 0
    gone = await purge(harbour, RETENTION, now=old + 2190 * DAY + SECOND)
    assert gone.audit == 1
    chain = await store.audit_chain(None)
    assert chain[0].at == old + 10 * DAY  # the second entry, then the purges
    assert [e.n for e in chain] == list(range(2, 2 + len(chain)))
    assert all(e.hash == digest(e) for e in chain)
    assert all(later.previous == e.hash for e, later in itertools.pairwise(chain))


async def test_forever_keeps_closed_cases_and_the_audit(
    harbour: Harbour, store: Store, clock: Clock
) -> None:
    held = Retention(
        drafts=30 * DAY, closed_cases=None, deliveries=90 * DAY, names=365 * DAY, audit=None
    )
    reference = await closed_case(store, ALICE, filed=clock.now, closed=clock.now)
    await store_wide_entry(store, clock.now)
    counts = await purge(harbour, held, now=clock.now + 100 * 365 * DAY)
    assert (counts.cases, counts.audit) == (0, 0)
    assert await store.get_report(reference) is not None
    assert (await store.audit_chain(None))[0].action is AuditAction.ERASED


# ---------------------------------------------------------------------- dry run, what a run leaves


async def test_a_dry_run_changes_nothing_and_counts_what_a_real_run_removes(
    harbour: Harbour, store: Store, clock: Clock, tmp_path: Path
) -> None:
    then = clock.now
    now = then + 3000 * DAY
    await store.save_session(ALICE, draft_session(ALICE, then))
    await store.save_session(BOB, draft_session(BOB, then))
    await closed_case(store, DAN, filed=then, closed=then + DAY)
    await closed_case(store, DAN, filed=then + DAY, closed=then + 2 * DAY)
    await delivered_case(store, DAN, delivered=then)
    await store.put_record(RecordKind.PEOPLE, DAN.key, {"name": MARKER, "at": then.isoformat()})
    await store.put_record(RecordKind.PEOPLE, BOB.key, {"name": MARKER})  # no "at": stamped
    await store_wide_entry(store, then)
    people = [ALICE, BOB, DAN]
    before, on_disk = await contents(store, people), files(tmp_path)

    dry = await purge(harbour, RETENTION, now=now, dry_run=True)

    assert await contents(store, people) == before
    assert files(tmp_path) == on_disk
    assert dry.deliveries >= 1
    assert dry == PurgeCounts(
        dry_run=True, drafts=2, cases=2, deliveries=dry.deliveries, names=1, audit=1
    )
    real = await purge(harbour, RETENTION, now=now)
    assert (real.drafts, real.cases, real.names, real.audit, real.failed) == (
        dry.drafts,
        dry.cases,
        dry.names,
        dry.audit,
        0,
    )
    # The records of the cases it erased went with them: counted as cases.
    assert 1 <= real.deliveries <= dry.deliveries
    assert await purge(harbour, RETENTION, now=now, dry_run=True) == PurgeCounts(dry_run=True)


async def test_a_real_run_leaves_an_audit_entry_and_its_counts(
    harbour: Harbour, store: Store, clock: Clock
) -> None:
    await store.save_session(ALICE, draft_session(ALICE, clock.now))
    now = clock.now + 31 * DAY
    counts = await purge(harbour, RETENTION, now=now)
    entry = (await store.audit_chain(None))[-1]
    assert (entry.actor, entry.action, entry.surface, entry.reference) == (
        "harbour",
        AuditAction.PURGED,
        "harbour",
        None,
    )
    assert entry.detail == "drafts=1 cases=0 deliveries=0 names=0 audit=0" == counts.detail()
    last = await store.get_record(RecordKind.PURGES, LAST)
    assert last == {
        "at": now.isoformat(),
        "drafts": 1,
        "cases": 0,
        "deliveries": 0,
        "names": 0,
        "audit": 0,
        "failed": 0,
    }


async def test_a_purge_leaves_an_open_draft_and_pending_alerts_alone(
    harbour: Harbour, store: Store, clock: Clock
) -> None:
    """Years on, Alice is writing a new report while the alerts of her other
    open case wait to go out: the purge erases her old closed case and Bob's
    abandoned draft, and nothing of what is going on now."""
    alice = Chat(harbour, "alice")
    await alice.command("report")
    await type_report(alice, TYPED_REPORT)
    await alice.say("yes")
    old = next(r.reference for r in await store.reports_by(ALICE))

    def close(report: Report) -> list[DomainEvent]:
        apply(report, Action.CLOSE, BOB, clock.now, what="Resolved")
        return []

    await store.update_report(old, close)
    await store.mark_delivered([e.id for e in await store.pending_events()], clock.now)
    await store.save_session(BOB, draft_session(BOB, clock.now))

    clock.advance(days=2200)
    await alice.command("report")
    await type_report(alice, TYPED_REPORT)
    await alice.say("yes")
    await alice.command("report")
    await type_report(alice, TYPED_REPORT[:4])  # a draft open now
    open_case = next(r for r in await store.reports_by(ALICE) if r.reference != old)
    pending = await store.pending_events()
    assert pending and all(e.reference in (open_case.reference, None) for e in pending)
    draft = await store.load_session(ALICE)
    assert draft is not None and draft.drafts

    counts = await purge(harbour, RETENTION, now=clock.now)

    assert (counts.cases, counts.drafts, counts.failed) == (1, 1, 0)
    assert await store.get_report(old) is None
    assert await store.load_session(BOB) is None
    assert await store.load_session(ALICE) == draft
    assert await store.pending_events() == pending
    assert await store.get_report(open_case.reference) == open_case
    assert alice.focus() == "links"  # and she carries on where she was
    await alice.say("skip")
    assert alice.focus() == "evidence"


async def test_a_worker_who_comes_back_while_the_purge_waits_keeps_her_draft(
    harbour: Harbour, store: Store, clock: Clock
) -> None:
    """The purge listed her draft as abandoned, then waited for her turn: by
    then she had written, and it stays."""
    await store.save_session(ALICE, draft_session(ALICE, clock.now))
    now = clock.now + 31 * DAY
    async with harbour.turn(ALICE.key):
        running = asyncio.create_task(purge(harbour, RETENTION, now=now))
        for _ in range(20):
            await asyncio.sleep(0)
        assert not running.done()  # waiting for her turn
        await store.save_session(ALICE, draft_session(ALICE, now))  # her event, now
    counts = await running
    assert counts.drafts == 0
    assert await store.load_session(ALICE) == draft_session(ALICE, now)


# ---------------------------------------------------------------------- tallies


async def tallies(store: Store) -> dict[str, Tally]:
    return {
        k: Tally.model_validate(v) for k, v in (await store.records(RecordKind.TALLIES)).items()
    }


async def test_a_closed_case_is_counted_once_even_when_its_erasure_is_interrupted(
    harbour: Harbour, store: Store, clock: Clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    reference = await closed_case(store, ALICE, filed=clock.now, closed=clock.now + DAY)
    whole = await store.get_report(reference)
    now = clock.now + 2200 * DAY
    erase = store.erase_report

    async def fails(reference: str) -> bool:
        raise OSError("the disk went away")

    monkeypatch.setattr(store, "erase_report", fails)
    first = await purge(harbour, RETENTION, now=now)
    assert (first.cases, first.failed) == (0, 1)
    assert await store.get_report(reference) == whole  # never half-deleted
    counted = await tallies(store)
    assert [t.cases for t in counted.values()] == [1]

    monkeypatch.setattr(store, "erase_report", erase)
    second = await purge(harbour, RETENTION, now=now + DAY)
    assert (second.cases, second.failed) == (1, 0)
    assert await store.get_report(reference) is None
    after = await tallies(store)
    assert [(t.cases, t.erasing) for t in after.values()] == [(1, [])]
    assert after == {k: t.model_copy(update={"erasing": []}) for k, t in counted.items()}


async def test_a_case_erased_before_its_mark_came_off_is_not_counted_again(
    harbour: Harbour, store: Store, clock: Clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    first_case = await closed_case(store, ALICE, filed=clock.now, closed=clock.now + DAY)
    now = clock.now + 2200 * DAY
    erase = store.erase_report

    async def erases_then_fails(reference: str) -> bool:
        await erase(reference)
        raise OSError("the process was killed")

    monkeypatch.setattr(store, "erase_report", erases_then_fails)
    await purge(harbour, RETENTION, now=now)
    assert await store.get_report(first_case) is None
    assert [len(t.erasing) for t in (await tallies(store)).values()] == [1]
    monkeypatch.setattr(store, "erase_report", erase)

    # A second case of the same quarter, closed later, goes on the next run.
    second_case = await closed_case(store, DAN, filed=clock.now + SECOND, closed=clock.now + DAY)
    counts = await purge(harbour, RETENTION, now=now + DAY)
    assert counts.cases == 1 and await store.get_report(second_case) is None
    assert [(t.cases, t.erasing) for t in (await tallies(store)).values()] == [(2, [])]


async def test_a_purge_that_lost_its_lease_stops_before_the_next_case(
    harbour: Harbour, store: Store, clock: Clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    reference = await closed_case(store, ALICE, filed=clock.now, closed=clock.now + DAY)

    async def taken_over(name: str, lease: timedelta) -> bool:
        return False

    monkeypatch.setattr(store, "hold_lease", taken_over)
    counts = await purge(harbour, RETENTION, now=clock.now + 2200 * DAY)
    assert (counts.cases, counts.failed) == (0, 1)
    assert await store.get_report(reference) is not None
    assert await store.records(RecordKind.TALLIES) == {}


async def test_tallies_count_option_values_and_hold_no_words_anyone_wrote(
    harbour: Harbour, store: Store, clock: Clock
) -> None:
    filed = clock.now  # 2 March 2026: the first quarter
    await closed_case(
        store,
        ALICE,
        filed=filed,
        closed=filed + 3 * DAY,
        acknowledged=timedelta(minutes=30),
        escalated=True,
    )
    await closed_case(store, DAN, filed=filed + 40 * DAY, closed=filed + 200 * DAY)
    counts = await purge(harbour, RETENTION, now=filed + 2500 * DAY)
    assert counts.cases == 2

    stored = await store.records(RecordKind.TALLIES)
    assert set(stored) == {"2026-Q1", "2026-Q2"}
    q1 = Tally.model_validate(stored["2026-Q1"])
    assert q1.cases == 1 and q1.erasing == []
    assert q1.counts == {
        Measure.RISK: {"high": 1},
        Measure.KINDS: {"threatening_messages": 1, "personal_details": 1, "stalking": 1},
        Measure.PLATFORMS: {"facebook": 1, UNLISTED: 1, "x": 1},
        Measure.POSTER: {UNLISTED: 1},
        Measure.DETAILS_EXPOSED: {"home": 1, UNLISTED: 1},
        Measure.STATUS: {"closed": 1},
        Measure.ESCALATED: {"yes": 1},
        Measure.TIME_TO_ACKNOWLEDGE: {"under_1_hour": 1},
        Measure.TIME_TO_CLOSE: {"1_to_7_days": 1},
    }
    q2 = Tally.model_validate(stored["2026-Q2"])
    assert q2.counts[Measure.ESCALATED] == {"no": 1}
    assert q2.counts[Measure.TIME_TO_ACKNOWLEDGE] == {"never": 1}
    assert q2.counts[Measure.TIME_TO_CLOSE] == {"over_90_days": 1}

    for tally in (q1, q2):
        for measure, values in tally.counts.items():
            assert set(values) <= ALLOWED[measure] | {UNLISTED}
    written = json.dumps(
        {
            "tallies": stored,
            "purges": await store.records(RecordKind.PURGES),
            "audit": [e.model_dump(mode="json") for e in await store.audit_chain(None)],
        }
    )
    for never in (MARKER, "HB-", ALICE.key, DAN.key, BOB.key, "example.org"):
        assert never not in written


# ---------------------------------------------------------------------- once a day


async def test_the_daily_purge_runs_once_a_day_in_the_organisations_time_zone(
    harbour: Harbour, store: Store, clock: Clock
) -> None:
    morning = datetime(2026, 7, 1, 8, 0, tzinfo=UTC)  # 09:00 in Dublin
    first = await purge_if_due(harbour, RETENTION, now=morning)
    assert first is not None and not first.dry_run
    assert await purge_if_due(harbour, RETENTION, now=morning + timedelta(hours=14)) is None
    # 22:59 UTC is 23:59 in Dublin: still the same day there.
    assert (
        await purge_if_due(harbour, RETENTION, now=morning + timedelta(hours=14, minutes=59))
        is None
    )
    next_day = morning + timedelta(hours=15, minutes=1)  # 00:01 in Dublin
    assert await purge_if_due(harbour, RETENTION, now=next_day) is not None
    assert await purge_if_due(harbour, RETENTION, now=next_day + timedelta(hours=1)) is None
    purges = [e for e in await store.audit_chain(None) if e.action is AuditAction.PURGED]
    assert len(purges) == 2


async def test_two_processes_on_one_database_purge_once(
    open_postgres: OpenPostgres, clock: Clock, settings: Settings
) -> None:
    stores = [await open_postgres(), await open_postgres()]
    harbours = [Harbour(s, settings.flow_context(), clock=clock) for s in stores]
    ran = await asyncio.gather(*(purge_if_due(h, RETENTION, now=clock.now) for h in harbours))
    assert sum(r is not None for r in ran) == 1
    purges = [e for e in await stores[0].audit_chain(None) if e.action is AuditAction.PURGED]
    assert len(purges) == 1


# ---------------------------------------------------------------------- settings


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch) -> Iterator[pytest.MonkeyPatch]:
    for name in [*(r.setting for r in RULES.values())]:
        monkeypatch.delenv(name, raising=False)
    yield monkeypatch


def test_the_defaults_are_the_documented_ones(env: pytest.MonkeyPatch) -> None:
    assert load_settings(_env_file=None).retention() == DEFAULT_RETENTION == RETENTION


@pytest.mark.parametrize(
    ("setting", "value", "says"),
    [
        ("HARBOUR_KEEP_DRAFTS_DAYS", "0", "0 days is shorter than Harbour allows (7:"),
        ("HARBOUR_KEEP_DRAFTS_DAYS", "-5", "-5 days is shorter than Harbour allows (7:"),
        ("HARBOUR_KEEP_DRAFTS_DAYS", "6", "Set a whole number of days from 7 to 36500"),
        ("HARBOUR_KEEP_DRAFTS_DAYS", "forever", "cannot be kept forever"),
        ("HARBOUR_KEEP_CLOSED_CASES_DAYS", "six years", "'six years' is not a number of days"),
        ("HARBOUR_KEEP_CLOSED_CASES_DAYS", "29", "from 30 to 36500, or 'forever'"),
        ("HARBOUR_KEEP_CLOSED_CASES_DAYS", "never", "'never' could mean keep or delete"),
        ("HARBOUR_KEEP_DELIVERIES_DAYS", "90.5", "'90.5' is not a number of days"),
        ("HARBOUR_KEEP_DELIVERIES_DAYS", "", "'' is not a number of days"),
        ("HARBOUR_KEEP_NAMES_DAYS", "99999999999", "more than a hundred years"),
        ("HARBOUR_KEEP_AUDIT_DAYS", "30", "from 365 to 36500, or 'forever'"),
    ],
)
def test_a_bad_retention_setting_is_refused_naming_it_and_what_is_allowed(
    env: pytest.MonkeyPatch, setting: str, value: str, says: str
) -> None:
    env.setenv(setting, value)
    with pytest.raises(ConfigError) as refused:
        load_settings(_env_file=None)
    message = str(refused.value)
    assert f"{setting}: " in message and says in message
    assert message.count("HARBOUR_") == 1  # only the bad one


def test_forever_is_allowed_where_a_legal_hold_may_need_it(env: pytest.MonkeyPatch) -> None:
    env.setenv("HARBOUR_KEEP_CLOSED_CASES_DAYS", " Forever")
    env.setenv("HARBOUR_KEEP_AUDIT_DAYS", "FOREVER")
    env.setenv("HARBOUR_KEEP_DRAFTS_DAYS", "7")
    env.setenv("HARBOUR_KEEP_NAMES_DAYS", "36500")
    retention = load_settings(_env_file=None).retention()
    assert retention == Retention(
        drafts=7 * DAY, closed_cases=None, deliveries=90 * DAY, names=36500 * DAY, audit=None
    )


def test_harbour_does_not_start_with_a_bad_retention(
    env: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    env.setenv("HARBOUR_KEEP_CLOSED_CASES_DAYS", "0")
    assert main(["serve", "--data-dir", str(tmp_path / "data")]) == 2
    assert "HARBOUR_KEEP_CLOSED_CASES_DAYS" in capsys.readouterr().err
    assert not (tmp_path / "data").exists()  # nothing opened, nothing deleted


# ---------------------------------------------------------------------- harbour purge


async def test_harbour_purge_prints_counts_in_plain_words(
    env: pytest.MonkeyPatch, tmp_path: Path, clock: Clock
) -> None:
    settings = load_settings(
        _env_file=None, data_dir=tmp_path / "data", key_file=tmp_path / "keys" / "harbour.key"
    )
    from bot.cli import open_store

    store = await open_store(settings)
    long_ago = datetime.now(UTC) - 3000 * DAY
    await closed_case(store, DAN, filed=long_ago, closed=long_ago + DAY)
    await store.save_session(ALICE, draft_session(ALICE, long_ago))
    await store.close()

    dry = io.StringIO()
    assert await run_purge_command(settings, dry_run=True, out=dry) == 0
    assert dry.getvalue().splitlines() == [
        "Dry run: nothing was changed. A purge now would remove:",
        "  abandoned drafts (saved conversations nobody touched for more than 30 days): 1",
        "  closed cases (closed more than 2190 days ago; erased, kept only as anonymous counts): 1",
        "  delivery and outbox records (alerts delivered more than 90 days ago): 0",
        "  display names (people Harbour has not seen for more than 365 days): 0",
        "  store-wide audit entries (erasures, exports, purges, key rotations; made more than 2190 "
        "days ago): 0",
    ]
    real = io.StringIO()
    assert await run_purge_command(settings, dry_run=False, out=real) == 0
    assert real.getvalue().startswith("Purged:\n")
    assert "closed more than 2190 days ago; erased, kept only as anonymous counts): 1" in (
        real.getvalue()
    )
    assert MARKER not in dry.getvalue() + real.getvalue()

    again = io.StringIO()
    assert await run_purge_command(settings, dry_run=True, out=again) == 0
    assert "anonymous counts): 0" in again.getvalue()


def test_a_report_closed_before_closed_at_existed_was_closed_when_its_timeline_says() -> None:
    """Retention counts from `closed_at`; a report stored closed before the
    field existed takes it from its timeline, and one stored since keeps its own."""
    filed = datetime(2026, 1, 5, tzinfo=UTC)
    closed = datetime(2026, 2, 1, tzinfo=UTC)
    stored = full_report(person("alice"), 1, "HB-2026-0001", filed).model_dump(mode="json")
    stored.pop("closed_at")
    stored["status"] = ReportStatus.CLOSED.value
    stored["timeline"] = [{"at": closed.isoformat(), "actor": None, "action": "closed"}]
    assert Report.model_validate(stored).closed_at == closed
    stored["timeline"] = []
    assert Report.model_validate(stored).closed_at == filed
    stored["closed_at"] = None  # written since: kept as it was
    assert Report.model_validate(stored).closed_at is None
    stored["status"] = ReportStatus.OPEN.value
    stored.pop("closed_at")
    assert Report.model_validate(stored).closed_at is None
