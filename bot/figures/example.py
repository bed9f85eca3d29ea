"""Generated reports, made up from the flows' options, for the README's example
chart (and for tests): `python -m bot.figures.example docs/figures-example.png`.

Nothing here is anyone's data: seeded random choices over the vocabulary.
"""

from __future__ import annotations

import random
import sys
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from bot.figures import charts
from bot.figures.compute import DEFAULT_POLICY, Counts, Period, publish
from bot.models import PersonRef, Platform
from bot.privacy.tally import quarter
from bot.reports import (
    AbuseKind,
    Audience,
    CheckIn,
    Report,
    ReportAnswers,
    ReportStatus,
    RiskLevel,
    format_reference,
)
from flows.report import POSTER_OPTIONS
from flows.steps import DETAIL_OPTIONS, PLATFORM_OPTIONS

KIND_WEIGHTS = (8, 3, 5, 2, 9, 3, 4, 2, 1)
"""How often each `AbuseKind` comes up in the made-up reports."""


def generated_reports(
    n: int, *, first: datetime, days: int, seed: int = 16, workers: int = 40
) -> list[Report]:
    """`n` made-up reports filed over `days` days from `first`."""
    pick = random.Random(seed)
    made = []
    for seq in range(1, n + 1):
        filed = first + timedelta(minutes=pick.randrange(days * 24 * 60))
        answers = ReportAnswers(
            kinds=sorted(set(pick.choices(list(AbuseKind), KIND_WEIGHTS, k=pick.randint(1, 2)))),
            platforms=[pick.choice(PLATFORM_OPTIONS).value],
            poster=pick.choice(POSTER_OPTIONS).value,
            details_exposed=[o.value for o in DETAIL_OPTIONS if pick.random() < 0.2],
            audience=pick.choice([Audience.MANAGER_AND_LEADS, Audience.LEADS_ONLY]),
        )
        report = Report(
            reference=format_reference(filed.year, seq),
            year=filed.year,
            seq=seq,
            reporter=PersonRef(
                platform=Platform.CONSOLE, workspace="local", user=f"w{pick.randrange(workers)}"
            ),
            filed_at=filed,
            draft_id=f"draft-{seq}",
            answers=answers,
            risk=pick.choices(list(RiskLevel), (5, 8, 4, 1))[0],
            risk_reasons=[],
        )
        acknowledged = filed + timedelta(hours=pick.expovariate(1 / 6))
        report.log(acknowledged, "acknowledged", "console:local:carol")
        report.status = ReportStatus.ACKNOWLEDGED
        if pick.random() < 0.15:
            report.log(acknowledged + timedelta(hours=2), "escalated", "console:local:bob")
        if pick.random() < 0.7:
            report.status = ReportStatus.CLOSED
            report.closed_at = acknowledged + timedelta(days=pick.expovariate(1 / 12))
            report.log(report.closed_at, "closed", "console:local:carol")
        answer = pick.choice(["ok", "ok", "affected", "talk", None])
        report.checkins.append(
            CheckIn(
                id=f"c{seq}",
                due=filed + timedelta(days=3),
                by="console:local:bob",
                state="answered" if answer else "missed",
                answer=answer,
            )
        )
        made.append(report)
    return made


def example_png() -> bytes:
    """The README's chart: a year of made-up reports by kind and quarter."""
    tz = ZoneInfo("Europe/London")
    period = Period.covering(date(2026, 1, 1), date(2026, 12, 31))
    counts = Counts(period, team=False)
    for report in generated_reports(160, first=datetime(2026, 1, 1, tzinfo=UTC), days=364):
        counts.add_report(report, quarter(report, tz), tz)
    [kinds, *_] = charts.draw(publish(counts, DEFAULT_POLICY))
    return kinds.png


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: python -m bot.figures.example OUT.png", file=sys.stderr)
        return 2
    Path(argv[0]).write_bytes(example_png())
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
