"""Figures for the agency and for research (issue 16): small counts suppressed
so no total gives one away, no word anyone wrote in any export, erased cases
counted once through their tallies, charts that render, a CSV that reads back,
and `figures` for safety leads and administrators only."""

from __future__ import annotations

import io
import json
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np
import pytest

from adapters import console
from bot.app import Harbour
from bot.config import Settings
from bot.figures import charts, export
from bot.figures.command import (
    CSV_NAME,
    four_quarters_back,
    parse_args,
    run_figures_command,
    table_text,
)
from bot.figures.compute import (
    ALL,
    MULTI,
    Counts,
    Figure,
    Figures,
    Period,
    Policy,
    count,
    publish,
)
from bot.figures.example import generated_reports
from bot.figures.suppress import Entry, Equation, determined, pinned_by_bounds, suppress
from bot.models import FileReply, Notice, Reply, SummaryCard
from bot.privacy.audit import AuditAction
from bot.privacy.retention import Retention, purge
from bot.privacy.tally import Measure, Tally, quarter
from bot.reports import (
    Audience,
    CheckIn,
    ReflectionAnswers,
    Report,
    ReportAnswers,
    ReportStatus,
    ReportUpdate,
    RiskLevel,
    UpdateAnswers,
)
from bot.store import MemoryStore, RecordKind, Store
from tests.conftest import TYPED_REPORT, Chat, person, type_report

TZ = ZoneInfo("Europe/London")
YEAR = Period.covering(date(2026, 1, 1), date(2026, 12, 31))
MARKER = "Zq-figures-marker"
"""Planted in every word a person could write: never in any export."""
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


async def put(store: Store, report: Report) -> Report:
    """Store a report as filing does, keeping its reference."""
    return await store.file_report(
        year=report.year,
        draft_id=report.draft_id,
        make=lambda seq, ref: (report.model_copy(update={"seq": seq, "reference": ref}), []),
        person=report.reporter,
        session=None,
    )


async def figures_of(store: Store, policy: Policy | None = None) -> Figures:
    policy = policy or Policy()
    return publish(await count(store, TZ, YEAR, policy), policy)


# ---------------------------------------------------------------------- suppression


def independent_margins(figures: Figures) -> tuple[list[tuple[object, ...]], list[list[int]]]:
    """The sums anyone can check in the published tables, written down again
    from the tables themselves: each row adds up to its total; where a case
    counts once, each column adds up to the quarter's reports."""
    entries: list[tuple[object, ...]] = [("reports", q) for q in figures.columns]
    entries += [
        (t, r, q) for t, by_row in figures.tables.items() for r in by_row for q in figures.columns
    ]
    index = {e: n for n, e in enumerate(entries)}
    sums: list[list[int]] = []

    def add(parts: list[tuple[object, ...]], total: tuple[object, ...]) -> None:
        row = [0] * len(entries)
        for p in parts:
            row[index[p]] += 1
        row[index[total]] -= 1
        sums.append(row)

    quarters = figures.period.quarters
    add([("reports", q) for q in quarters], ("reports", ALL))
    for table, by_row in figures.tables.items():
        for r in by_row:
            add([(table, r, q) for q in quarters], (table, r, ALL))
        if table not in MULTI:
            for q in figures.columns:
                add([(table, r, q) for r in by_row], ("reports", q))
    return entries, sums


def hidden_of(figures: Figures) -> set[tuple[object, ...]]:
    hidden: set[tuple[object, ...]] = {
        ("reports", q) for q, f in figures.reports.items() if f.value is None
    }
    for table, by_row in figures.tables.items():
        hidden |= {
            (table, r, q) for r, fs in by_row.items() for q, f in fs.items() if f.value is None
        }
    return hidden


def recomputable(figures: Figures) -> list[tuple[object, ...]]:
    """Every suppressed figure someone could work out from the published ones
    (its unit vector in the row space of the sums over the hidden figures)."""
    entries, sums = independent_margins(figures)
    hidden = sorted(hidden_of(figures), key=entries.index)
    columns = [entries.index(e) for e in hidden]
    a = np.array(sums, dtype=float)[:, columns]
    rank = np.linalg.matrix_rank(a)
    found = []
    for n, entry in enumerate(hidden):
        unit = np.zeros((1, len(hidden)))
        unit[0, n] = 1
        if np.linalg.matrix_rank(np.vstack([a, unit])) == rank:
            found.append(entry)
    return found


async def test_no_published_count_is_small_and_no_suppressed_one_can_be_worked_out() -> None:
    store = MemoryStore()
    for report in generated_reports(70, first=datetime(2026, 1, 1, tzinfo=UTC), days=364):
        await put(store, report)
    counts = await count(store, TZ, YEAR)
    figures = publish(counts)

    published = [f.value for f in figures.reports.values()]
    published += [
        f.value for t in figures.tables.values() for fs in t.values() for f in fs.values()
    ]
    assert all(v is None or v >= 5 for v in published)
    assert any(v is not None for v in published) and None in published
    assert recomputable(figures) == []
    # Secondary suppression did hide counts of 5 or more, or the check above is idle.
    secondary = [
        (t, r, q)
        for t, by_row in figures.tables.items()
        for r, fs in by_row.items()
        for q, f in fs.items()
        if f.value is None and q != ALL and counts.tables[t][r][q] >= 5
    ]
    assert secondary
    assert figures.reports[ALL].value == 70


def test_one_small_cell_in_a_row_hides_another_beside_it() -> None:
    values: dict[Entry, int] = {"a": 3, "b": 9, "c": 12, "total": 24}
    found = suppress(values, [Equation(("a", "b", "c"), "total")], 5)
    assert found == {"a", "b"}  # the smallest other part, not the total
    assert determined(found, [Equation(("a", "b", "c"), "total")]) == set()


def test_small_counts_are_not_given_away_by_what_a_reader_knows_of_them() -> None:
    """No count is negative and "<5" is at most 4: two hidden 4s under a total
    of 8, or hidden zeros under a total made of what is shown, would be read
    off the total without solving anything. One more count is hidden."""
    fours: dict[Entry, int] = {"a": 4, "b": 4, "c": 20, "total": 28}
    sums = [Equation(("a", "b", "c"), "total")]
    assert suppress(fours, sums, 5) == {"a", "b", "c"}
    zeros: dict[Entry, int] = {"a": 0, "b": 0, "c": 12, "total": 12}
    assert suppress(zeros, sums, 5) == {"a", "b", "c"}
    # Every part hidden already and still pinned: the total goes.
    both_small: dict[Entry, int] = {"a": 4, "b": 4, "total": 8}
    pair = [Equation(("a", "b"), "total")]
    assert suppress(both_small, pair, 5) == {"a", "b", "total"}
    # Not pinned: a hidden 3 and 4 under 7 could be 4 and 3.
    assert suppress({"a": 3, "b": 4, "total": 7}, pair, 5) == {"a", "b"}
    # A count hidden to protect a small one is shown "[c]", so it is known to be 5
    # or more: a 0 and a 5 under a total of 5 would be read off it.
    assert suppress({"a": 0, "b": 5, "total": 5}, pair, 5) == {"a", "b", "total"}
    assert Figure(None, 5, small=False).text == "[c]" and Figure(None, 5).text == "<5"


def test_bounds_read_across_several_sums_are_followed_too() -> None:
    """No single sum gives `a` away: a + b = 5 says a is at least 1 (b is under
    5), and a + c + d = 6 with d = 5 published says it is at most 1. A reader
    with a pencil finds a = 1, and then b and c; so more is hidden until she can't."""
    values: dict[Entry, int] = {"a": 1, "b": 4, "c": 0, "d": 5, "t1": 5, "t2": 6}
    sums = [Equation(("a", "b"), "t1"), Equation(("a", "c", "d"), "t2")]
    small = frozenset({"a", "b", "c"})
    assert determined(small, sums) == set()
    assert pinned_by_bounds(values, set(small), small, sums, 5) == {"a", "b", "c"}
    hidden = suppress(values, sums, 5)
    assert pinned_by_bounds(values, set(hidden), small, sums, 5) == set()
    assert determined(hidden, sums) == set()


def test_a_cell_joined_to_hidden_rectangles_by_one_line_is_still_found() -> None:
    """Two hidden cells in each row and column is not enough: a cell that is
    the only link between two groups can be solved for. The arithmetic knows."""
    sums = [
        Equation(("a", "b"), "r1"),
        Equation(("c", "d"), "r2"),
        Equation(("a", "c"), "k1"),
        Equation(("b", "d", "x"), "k2"),
        Equation(("x", "e", "f"), "r3"),
        Equation(("e", "g"), "k3"),
        Equation(("f", "h"), "k4"),
        Equation(("g", "h"), "r4"),
    ]
    assert determined({"a", "b", "c", "d", "x", "e", "f", "g", "h"}, sums) == {"x"}


def test_a_single_quarter_hides_its_small_totals_too() -> None:
    counts = Counts(Period.covering(date(2026, 4, 1), date(2026, 4, 30)), team=False)
    counts.cases["2026-Q2"] = 3
    counts.add(Measure.RISK, "low", "2026-Q2", 3)
    figures = publish(counts)
    assert figures.reports["2026-Q2"].text == "<5" and figures.reports[ALL].text == "<5"
    assert figures.tables[Measure.RISK]["low"][ALL].text == "<5"


# ---------------------------------------------------------------------- what is counted


def written(user: str, filed: datetime, audience: Audience = Audience.LEADS_ONLY) -> Report:
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
        description=MARKER,
        audience=audience,
        attachments=[MARKER],
    )
    report = Report(
        reference="HB-0000-0000",
        year=filed.year,
        seq=0,
        reporter=person(f"{user}{MARKER}"),
        filed_at=filed,
        draft_id=f"d-{user}-{filed.isoformat()}",
        answers=answers,
        risk=RiskLevel.HIGH,
        risk_reasons=[MARKER],
        updates=[
            ReportUpdate(
                id=f"u-{user}",
                at=filed,
                answers=UpdateAnswers(kinds=["stalking"], links=[MARKER], description=MARKER),
            )
        ],
        reflection=ReflectionAnswers(**{f: MARKER for f in ReflectionAnswers.model_fields}),
        managers=[f"console:local:{MARKER}"],
        acknowledged_by=MARKER,
        closed_reason=MARKER,
        checkins=[
            CheckIn(id="c1", due=filed, by=MARKER, note=MARKER, state="answered", answer="talk")
        ],
    )
    report.log(filed + timedelta(hours=2), "acknowledged", MARKER, MARKER)
    report.log(filed + timedelta(days=3), "closed", MARKER, MARKER)
    report.status = ReportStatus.CLOSED
    report.closed_at = filed + timedelta(days=3)
    return report


async def test_no_word_anyone_wrote_reaches_any_export(harbour: Harbour) -> None:
    for n in range(12):
        await put(harbour.store, written(f"w{n}", datetime(2026, 2, 1 + n, 9, tzinfo=UTC)))
    chat = Chat(harbour, "carol")  # a safety lead
    replies = await chat.say("figures 2026-01-01 2026-12-31")
    figures = await figures_of(harbour.store)

    out = [json.dumps([r.model_dump(mode="json") for r in replies if not isinstance(r, FileReply)])]
    out += [r.content.decode("latin-1") for r in replies if isinstance(r, FileReply)]
    out += [export.to_csv(figures), export.to_json(figures), export.dictionary(figures)]
    out += [table_text(figures), *(c.png.decode("latin-1") for c in charts.draw(figures))]
    for text in out:
        assert MARKER not in text and "HB-" not in text and "console:local" not in text
    # What was typed in place of an option is still counted, as "unlisted" (in
    # the counts: published, these are hidden, as every other row is zero and
    # the totals would give those zeros away).
    counted = await count(harbour.store, TZ, YEAR, Policy())
    assert counted.tables[Measure.PLATFORMS]["unlisted"]["2026-Q1"] == 12
    assert counted.tables[Measure.POSTER]["unlisted"]["2026-Q1"] == 12
    assert counted.tables[Measure.CHECKINS]["talk"]["2026-Q1"] == 12
    assert figures.tables[Measure.PLATFORMS]["unlisted"]["2026-Q1"].value is None


async def test_only_me_reports_are_counted_only_when_the_policy_says_so() -> None:
    """And only those whose worker was told so when she filed them: one filed
    before the organisation chose to count them is never counted."""
    store = MemoryStore()
    for n in range(8):
        report = written(f"w{n}", datetime(2026, 5, 1 + n, tzinfo=UTC), Audience.ONLY_ME)
        report.counted_while_private = n < 6
        await put(store, report)
    assert (await figures_of(store)).reports[ALL].text == "<5"
    assert (await count(store, TZ, YEAR)).live == 0
    counted = await count(store, TZ, YEAR, Policy(count_only_me=True))
    assert (counted.live, sum(counted.cases.values())) == (6, 6)


async def test_she_is_told_at_filing_when_her_own_record_is_counted(harbour: Harbour) -> None:
    harbour.figures = Policy(count_only_me=True)
    chat = Chat(harbour, "alice")
    await chat.command("report")
    await type_report(chat, [*TYPED_REPORT[:-1], ("audience", "3")])
    await chat.say("yes")
    assert "counted, anonymously, in the agency's figures" in chat.text()
    [report] = await harbour.store.reports_by(chat.person)
    assert report.counted_while_private
    harbour.figures = Policy()
    other = Chat(harbour, "dan")
    await other.command("report")
    await type_report(other, [*TYPED_REPORT[:-1], ("audience", "3")])
    await other.say("yes")
    assert "agency's figures" not in other.text()
    [kept] = await harbour.store.reports_by(other.person)
    assert not kept.counted_while_private


async def test_erased_cases_are_counted_once_through_their_tallies(harbour: Harbour) -> None:
    store = harbour.store
    for n in range(8):
        await put(store, written(f"w{n}", datetime(2026, 1, 5 + n, tzinfo=UTC)))
    before = await count(store, TZ, YEAR)

    later = datetime(2026, 12, 1, tzinfo=UTC)
    retention = Retention(
        drafts=timedelta(days=30),
        closed_cases=timedelta(days=30),
        deliveries=timedelta(days=90),
        names=timedelta(days=365),
        audit=timedelta(days=3650),
    )
    await purge(harbour, retention, now=later)
    assert await store.references() == []
    after = await count(store, TZ, YEAR)

    assert (after.live, after.from_tallies) == (0, 8) and before.live == 8
    assert after.cases == before.cases
    for measure in Measure:  # check-in answers too
        assert after.tables[measure] == before.tables[measure], measure
    assert after.tables[Measure.CHECKINS]["talk"]["2026-Q1"] == 8
    shown_after, shown_before = publish(after), publish(before)
    assert (shown_after.reports, shown_after.tables) == (shown_before.reports, shown_before.tables)


async def test_her_own_records_follow_the_same_rule_once_erased(harbour: Harbour) -> None:
    """Erased, a report she kept as her own is counted apart ("2026-Q1:only-me"),
    and only where the organisation counts them, if she was told it would be;
    one she was never told about leaves no trace in the tallies."""
    store = harbour.store
    for n in range(9):
        report = written(f"w{n}", datetime(2026, 2, 1 + n, tzinfo=UTC), Audience.ONLY_ME)
        report.counted_while_private = n < 6
        await put(store, report)
    retention = Retention(
        drafts=timedelta(days=30),
        closed_cases=timedelta(days=30),
        deliveries=timedelta(days=90),
        names=timedelta(days=365),
        audit=timedelta(days=3650),
    )
    await purge(harbour, retention, now=datetime(2026, 12, 1, tzinfo=UTC))
    assert await store.references() == []
    tallies = await store.records(RecordKind.TALLIES)
    assert set(tallies) == {"2026-Q1:only-me"} and tallies["2026-Q1:only-me"]["cases"] == 6
    assert (await count(store, TZ, YEAR)).from_tallies == 0
    assert (await count(store, TZ, YEAR, Policy(count_only_me=True))).from_tallies == 6


async def test_a_case_counted_in_a_tally_but_not_yet_erased_is_counted_once() -> None:
    """A purge stopped between counting a case and erasing it."""
    store = MemoryStore()
    kept = [
        await put(store, written(f"w{n}", datetime(2026, 7, 1 + n, tzinfo=UTC))) for n in range(6)
    ]
    tally = Tally()
    tally.add(kept[0], TZ)
    await store.put_record(RecordKind.TALLIES, quarter(kept[0], TZ), tally.model_dump(mode="json"))
    counts = await count(store, TZ, YEAR)
    assert (counts.live, counts.from_tallies, counts.cases["2026-Q3"]) == (5, 1, 6)


def test_periods_are_whole_quarters() -> None:
    period = Period.covering(date(2026, 2, 14), date(2026, 11, 2))
    assert (period.first, period.last) == (date(2026, 1, 1), date(2026, 12, 31))
    assert period.quarters == ("2026-Q1", "2026-Q2", "2026-Q3", "2026-Q4")
    assert Period.covering(date(2025, 12, 31), date(2026, 1, 1)).quarters == ("2025-Q4", "2026-Q1")
    assert four_quarters_back(date(2026, 3, 2)) == date(2025, 4, 1)
    assert four_quarters_back(date(2026, 11, 2)) == date(2026, 1, 1)


# ---------------------------------------------------------------------- files


async def test_the_csv_reads_back_as_written_and_charts_render() -> None:
    store = MemoryStore()
    for report in generated_reports(40, first=datetime(2026, 1, 1, tzinfo=UTC), days=364):
        await put(store, report)
    figures = await figures_of(store)
    text = export.to_csv(figures)
    assert export.read_csv(text) == export.table_rows(figures)
    assert text.splitlines()[0] == "measure,value,quarter,figure"
    with pytest.raises(ValueError, match="not a Harbour figures CSV"):
        export.read_csv("a,b\n1,2\n")
    document = json.loads(export.to_json(figures))
    assert document["reports"]["all"] == "40"
    drawn = charts.draw(figures)
    assert [c.table for c in drawn] == [Measure.KINDS, Measure.TIME_TO_ACKNOWLEDGE]
    for chart in drawn:
        assert chart.png.startswith(PNG_MAGIC)
        assert 5_000 < len(chart.png) < 100_000
        width, height = int.from_bytes(chart.png[16:20]), int.from_bytes(chart.png[20:24])
        assert (width, height) == (800, 400)


def test_the_readme_example_chart_is_small() -> None:
    example = Path(__file__).parent.parent / "docs" / "figures-example.png"
    assert example.read_bytes().startswith(PNG_MAGIC) and example.stat().st_size < 100_000


# ---------------------------------------------------------------------- in chat


def names(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


def files(replies: list[Reply]) -> list[FileReply]:
    return [r for r in replies if isinstance(r, FileReply)]


async def test_figures_in_chat_for_a_lead_a_card_charts_and_a_csv(harbour: Harbour) -> None:
    for report in generated_reports(30, first=datetime(2026, 1, 1, tzinfo=UTC), days=60):
        await put(harbour.store, report)
    replies = await Chat(harbour, "carol").say("figures 2026-01-01 2026-06-30")
    [card] = [r for r in replies if isinstance(r, SummaryCard)]
    assert card.title == "Figures, 2026-Q1 to 2026-Q2" and card.case is None
    assert dict((f.label, f.value) for f in card.fields)["Reports"] == "30"
    sent = files(replies)
    assert [f.media_type for f in sent] == ["image/png", "image/png", "text/csv"]
    assert all(f.content.startswith(PNG_MAGIC) for f in sent[:2])
    assert sent[-1].name == CSV_NAME and export.read_csv(sent[-1].content.decode())
    [entry] = [e for e in await harbour.store.audit_chain(None) if e.detail == "figures"]
    assert (entry.actor, entry.action) == ("console:local:carol", AuditAction.EXPORTED)


async def test_an_administrator_may_and_a_worker_or_manager_may_not(harbour: Harbour) -> None:
    admin = await Chat(harbour, "admin").say("statistics")
    assert any(isinstance(r, SummaryCard) for r in admin)
    for user in ("alice", "bob"):  # a worker; her manager
        said = await Chat(harbour, user).say("figures")
        assert not files(said) and not any(isinstance(r, SummaryCard) for r in said)
        assert "for the safety leads and Harbour's administrators" in json.dumps(
            [r.model_dump(mode="json") for r in said]
        )


@pytest.mark.parametrize(
    ("typed", "says"),
    [
        ("figures 2026-13-01", "year-month-day"),
        ("figures 2026-12-31 2026-01-01", "comes before"),
        ("figures 2026-01-01 2026-02-01 2026-03-01", "more than two dates"),
        ("figures team bob", "manager's Harbour id"),
    ],
)
async def test_words_figures_cannot_read_get_a_kind_answer(
    harbour: Harbour, typed: str, says: str
) -> None:
    replies = await Chat(harbour, "carol").say(typed)
    [notice] = [r for r in replies if isinstance(r, Notice)]
    assert says in notice.text and "figures 2026-01-01 2026-12-31" in notice.text
    assert not files(replies)


async def test_a_team_too_small_is_refused_and_a_big_one_counted(harbour: Harbour) -> None:
    lead = Chat(harbour, "carol")
    said = await lead.say("figures team console:local:bob")
    [notice] = [r for r in said if isinstance(r, Notice)]
    assert "teams of 10 or more" in notice.text and not files(said)
    team = [person(f"t{n}") for n in range(10)]
    for worker in team:
        harbour.directory.managers[worker.key] = ["console:local:erin"]
    for n, worker in enumerate(team):
        report = written("x", datetime(2026, 2, 1 + n, tzinfo=UTC)).model_copy(
            update={"reporter": worker, "draft_id": f"team-{n}"}
        )
        await put(harbour.store, report)
    await put(harbour.store, written("other", datetime(2026, 2, 20, tzinfo=UTC)))
    said = await lead.say("figures 2026-01-01 2026-03-31 team console:local:erin")
    [card] = [r for r in said if isinstance(r, SummaryCard)]
    assert card.title.endswith("(one team)")
    # Ten alike reports in one quarter: published, every breakdown would tell
    # each one's answers, so even their number is hidden; counted, it is the team's.
    team_keys = frozenset(w.key for w in team)
    counted = await count(
        harbour.store, TZ, Period.covering(date(2026, 1, 1), date(2026, 3, 31)), team=team_keys
    )
    assert counted.live == 10


def test_dates_are_read_with_or_without_from_and_to() -> None:
    today = date(2026, 6, 1)
    assert parse_args("from 2026-01-01 to 2026-03-31", today).end == date(2026, 3, 31)
    assert parse_args("2026-01-01", today).end == today
    assert parse_args("", today).start == date(2025, 7, 1)


async def test_a_console_chat_saves_the_charts_and_csv(harbour: Harbour, tmp_path: Path) -> None:
    stdout = io.StringIO()
    await console.chat(
        harbour,
        person("carol"),
        stdin=io.StringIO("figures 2026-01-01 2026-03-31\n"),
        stdout=stdout,
        interactive=False,
        files=tmp_path,
    )
    assert "Figures, 2026-Q1" in stdout.getvalue()
    assert names(tmp_path) == [
        "figures-kinds.png",
        "figures-time-to-acknowledge.png",
        "figures.csv",
    ]
    assert (tmp_path / "figures-kinds.png").read_bytes().startswith(PNG_MAGIC)


# ---------------------------------------------------------------------- harbour figures


async def test_harbour_figures_prints_the_tables_and_writes_the_files(tmp_path: Path) -> None:
    settings = Settings(_env_file=None, store="memory")  # type: ignore[call-arg]
    out = io.StringIO()
    code = await run_figures_command(
        settings, start=date(2026, 1, 1), end=date(2026, 12, 31), out_dir=tmp_path / "f", out=out
    )
    assert code == 0
    printed = out.getvalue()
    assert printed.startswith("reports") and "2026-Q4" in printed and "<5" in printed
    assert names(tmp_path / "f") == [
        "figures-data-dictionary.md",
        "figures-kinds.png",
        "figures-time-to-acknowledge.png",
        "figures.csv",
        "figures.json",
    ]
    dictionary = (tmp_path / "f" / "figures-data-dictionary.md").read_text()
    assert "`kinds` (several values a case)" in dictionary and "`<5`" in dictionary
    backwards = await run_figures_command(
        settings, start=date(2026, 12, 31), end=date(2026, 1, 1), out_dir=None, out=io.StringIO()
    )
    assert backwards == 1
