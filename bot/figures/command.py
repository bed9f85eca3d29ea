"""`figures` in chat, for safety leads and administrators, and `harbour figures`
on the command line: the agency's anonymised figures, with charts and a CSV.

    figures                                  the last four quarters
    figures 2026-01-01 2026-12-31            (or: figures from 2026-01-01 to 2026-12-31)
    figures 2026-01-01 2026-12-31 team <id>  one manager's team, if it is big enough

Every export is recorded in the store-wide audit (who, when, where; counts
are not kept there).
"""

from __future__ import annotations

import asyncio
import sys
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, TextIO
from zoneinfo import ZoneInfo

from bot.directory import parse_person
from bot.figures import charts, export
from bot.figures.compute import (
    ALL,
    DEFAULT_POLICY,
    HIDDEN,
    TABLES,
    Extra,
    Figures,
    Period,
    Policy,
    Timing,
    count,
    publish,
)
from bot.models import FileReply, Notice, NoticeLevel, Reply, SummaryCard, SummaryField
from bot.outcome import Outcome
from bot.privacy.audit import HARBOUR, AuditAction, AuditEntry
from bot.privacy.tally import YES, Measure
from bot.reports import RiskLevel
from bot.store.base import Store, StoreError

if TYPE_CHECKING:
    from bot.config import Settings
    from bot.services import Services
    from bot.session import Session

FIGURES = "figures"
"""The command's word, and the audit's detail for an export of figures."""
REFUSED = "Figures are for the safety leads and Harbour's administrators, so nothing was shown."
USAGE = (
    "Say figures for the last four quarters, or give the dates, e.g. "
    "figures 2026-01-01 2026-12-31. Add team and a manager's Harbour id for one team's "
    "figures (teams of {size} or more)."
)
CSV_NAME = "figures.csv"
JSON_NAME = "figures.json"
DICTIONARY_NAME = "figures-data-dictionary.md"


@dataclass(frozen=True)
class Asked:
    """What `figures …` asked for."""

    start: date
    end: date
    manager: str | None = None


class Unclear(ValueError):
    """Words `figures` could not read; the message says what it takes."""


def parse_args(args: str, today: date) -> Asked:
    """`[from] <date> [to] <date> [team <id>]`, every part optional. Without
    dates: the last four quarters up to today."""
    words = [w for w in args.split() if w.casefold() not in ("from", "to")]
    manager = None
    lowered = [w.casefold() for w in words]
    if "team" in lowered:
        at = lowered.index("team")
        named = words[at + 1 : at + 2]
        person = parse_person(named[0]) if named else None
        if person is None or len(words) > at + 2:
            raise Unclear("After team, give the manager's Harbour id (whoami shows yours).")
        manager = person.key
        words = words[:at]
    if len(words) > 2:
        raise Unclear("That's more than two dates.")
    try:
        dates = [date.fromisoformat(w) for w in words]
    except ValueError:
        raise Unclear("Dates are written year-month-day, like 2026-01-01.") from None
    if not dates:
        return Asked(four_quarters_back(today), today, manager)
    end = dates[1] if len(dates) == 2 else today
    if end < dates[0]:
        raise Unclear("The second date comes before the first.")
    return Asked(dates[0], end, manager)


def four_quarters_back(today: date) -> date:
    """The first day of the quarter three before today's: four quarters in all."""
    first = Period.covering(today, today).first
    if first.month <= 9:
        return date(first.year - 1, first.month + 3, 1)
    return date(first.year, first.month - 9, 1)


async def figures_command(h: Services, session: Session, args: str) -> Outcome:
    """`figures …` in chat: a card of headline counts, charts and a CSV."""
    from bot.conversation.session import with_current  # (imports the flows: kept out of the CLI)

    who = session.person
    if not (h.access.is_lead(who) or h.access.is_admin(who)):
        return with_current(h, session, [Notice(level=NoticeLevel.WARNING, text=REFUSED)])
    policy = h.figures
    now = h.clock()
    try:
        asked = parse_args(args, now.astimezone(h.tz).date())
    except Unclear as exc:
        text = f"{exc} {USAGE.format(size=policy.min_team_size)}"
        return with_current(h, session, [Notice(level=NoticeLevel.WARNING, text=text)])
    team = None
    if asked.manager is not None:
        team = frozenset(
            worker
            for worker in {*h.directory.managers, *h.directory.named}
            if asked.manager in h.directory.manager_keys(worker)
        )
        if len(team) < policy.min_team_size:
            text = (
                f"Figures for one team are shown only for teams of {policy.min_team_size} or "
                "more people, so that nobody in a small team can be picked out. The "
                "organisation's figures (figures, without team) include everyone."
            )
            return with_current(h, session, [Notice(level=NoticeLevel.WARNING, text=text)])
    period = Period.covering(asked.start, asked.end)
    counts = await count(h.store, h.tz, period, policy, team=team)
    # Suppression and drawing take a moment of CPU: never on the event loop.
    figures = await asyncio.to_thread(publish, counts, policy)
    drawn = await asyncio.to_thread(charts.draw, figures)
    await _audit(h.store, who.key, who.platform.value, now)
    replies: list[Reply] = [headline(figures)]
    replies += [
        FileReply(
            name=chart.name,
            media_type="image/png",
            content=chart.png,
            caption=f"{chart.title}, {figures.period.name}.",
            ask_again=f"{h.command_prefix(who)}{FIGURES}",
        )
        for chart in drawn
    ]
    replies.append(
        FileReply(
            name=CSV_NAME,
            media_type="text/csv",
            content=export.to_csv(figures).encode("utf-8"),
            caption=f"Every figure for {figures.period.name}, one a line, for a spreadsheet. "
            f"Counts under {figures.threshold} show as <{figures.threshold}.",
            ask_again=f"{h.command_prefix(who)}{FIGURES}",
        )
    )
    return with_current(h, session, replies)


def headline(figures: Figures) -> SummaryCard:
    """The few counts worth reading first. Only figures the tables publish
    (a sum made here could give a suppressed one away)."""
    fields = [SummaryField(label="Reports", value=figures.reports[ALL].text)]
    fields += [
        SummaryField(label=f"Reports in {q}", value=figures.reports[q].text)
        for q in figures.period.quarters
    ]
    fields += [
        SummaryField(
            label="Critical risk", value=figures.tables[Measure.RISK][RiskLevel.CRITICAL][ALL].text
        ),
        SummaryField(label="Escalated", value=figures.tables[Measure.ESCALATED][YES][ALL].text),
        SummaryField(
            label="Check-ins answered 'need to talk'",
            value=figures.tables[Measure.CHECKINS]["talk"][ALL].text,
        ),
        SummaryField(
            label="Median hours to acknowledge",
            value=figures.medians[Timing.TO_ACKNOWLEDGE][ALL].text,
        ),
        SummaryField(
            label="Median hours to close", value=figures.medians[Timing.TO_CLOSE][ALL].text
        ),
    ]
    footer = (
        f"Counts under {figures.threshold} show as <{figures.threshold}, and a few more "
        f"({HIDDEN}) are hidden so they can't be worked out from the totals. No names, "
        "references or words anyone wrote are in these figures."
    )
    if figures.team:
        footer += " One team: open and recently closed cases only."
    title = f"Figures, {figures.period.name}" + (" (one team)" if figures.team else "")
    return SummaryCard(title=title, fields=tuple(fields), footer=footer)


async def _audit(store: Store, actor: str, surface: str, at: datetime) -> None:
    await store.append_audit(
        AuditEntry(at=at, actor=actor, action=AuditAction.EXPORTED, surface=surface, detail=FIGURES)
    )


# ---------------------------------------------------------------------- harbour figures


def table_text(figures: Figures) -> str:
    """Every table as plain text, one per paragraph, for a terminal."""
    columns = figures.columns
    blocks = []
    named = [(Extra.REPORTS.value, {"cases": figures.reports})]
    named += [(t.value, figures.tables[t]) for t in TABLES]
    for name, by_row in named:
        width = max(len(r) for r in by_row) + 2
        lines = [name.ljust(width) + "".join(c.rjust(9) for c in columns)]
        for row, by_quarter in by_row.items():
            lines.append(row.ljust(width) + "".join(by_quarter[c].text.rjust(9) for c in columns))
        blocks.append("\n".join(lines))
    for timing, medians in figures.medians.items():
        values = "; ".join(f"{q}: {m.text}" for q, m in medians.items())
        blocks.append(f"{timing.value}: {values}")
    return "\n\n".join(blocks)


def write_files(figures: Figures, out_dir: Path) -> list[Path]:
    """The charts, CSV, JSON and data dictionary, written into `out_dir`."""
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for chart in charts.draw(figures):
        (path := out_dir / chart.name).write_bytes(chart.png)
        written.append(path)
    for name, text in (
        (CSV_NAME, export.to_csv(figures)),
        (JSON_NAME, export.to_json(figures)),
        (DICTIONARY_NAME, export.dictionary(figures)),
    ):
        (path := out_dir / name).write_text(text, encoding="utf-8")
        written.append(path)
    return written


async def run_figures_command(
    settings: Settings,
    *,
    start: date,
    end: date,
    out_dir: Path | None,
    out: TextIO,
    policy: Policy = DEFAULT_POLICY,
) -> int:
    """`harbour figures --from … --to … [--out DIR]`: print the tables; with
    DIR, write the charts, CSV, JSON and data dictionary there. 0: done; 1: the
    dates or DIR could not be used; 2: the store could not be opened."""
    from bot.cli import open_store  # the command line's imports stay light until it runs

    try:
        period = Period.covering(start, end)
    except ValueError as exc:
        print(f"harbour: {exc}: give --from before --to.", file=sys.stderr)
        return 1
    try:
        store = await open_store(settings)
    except StoreError as exc:
        print(f"harbour: {exc}", file=sys.stderr)
        return 2
    try:
        tz = ZoneInfo(settings.flow_context().timezone)
        figures = publish(await count(store, tz, period, policy), policy)
        await _audit(store, HARBOUR, "cli", datetime.now(UTC))
    finally:
        await store.close()
    print(table_text(figures), file=out)
    if out_dir is not None:
        try:
            written = write_files(figures, out_dir)
        except OSError as exc:
            print(f"harbour: could not write into {out_dir} ({exc.strerror})", file=sys.stderr)
            return 1
        print(f"\nWritten: {', '.join(p.name for p in written)} in {out_dir}", file=out)
    return 0
