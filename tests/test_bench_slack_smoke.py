"""The Slack ack benchmark runs and returns figures for both apps (no timing targets here)."""

from __future__ import annotations

import asyncio
import os

from bench.slack_ack import SCENARIOS, Result, format_result, measure


def test_slack_ack_benchmark_runs_in_a_tiny_configuration() -> None:
    affinity = getattr(os, "sched_getaffinity", lambda _: None)
    cpus = affinity(0)
    result = asyncio.run(
        measure(
            concurrency=(1, 3),
            rounds=1,
            sequential=2,
            burst_samples=3,
            min_bursts=1,
            budget_s=30,
        )
    )
    assert affinity(0) == cpus  # the client's CPU pinning is undone
    assert isinstance(result, Result)
    assert result.rounds == 1 and result.people == 3 and not result.stopped_early
    rows = [(c.scenario, c.concurrency) for c in result.cells]
    assert rows == [
        (s, n) for s in SCENARIOS for n in (1, 3) if not (s == "press, one person" and n == 1)
    ]
    for cell in result.cells:
        expected = 2 if cell.concurrency == 1 else 3
        for stats in (cell.bolt, cell.harbour):
            assert stats.n == expected
            assert 0 < stats.median_ms <= stats.p99_ms
        assert cell.ratio > 0
        assert (cell.floor is not None) == (cell.scenario == "press")
    assert set(result.cold) == {"bolt", "harbour"}
    # Harbour really did its work after acking: a form for each person, replies to presses.
    assert result.api_calls.get("conversations.open") == 3
    assert result.api_calls.get("chat.postMessage", 0) > 3
    checks = result.checks()
    assert len(checks) == 4  # within 1.5x of bolt, for the command and the press, at 1 and 3
    table = format_result(result)
    assert "/report-abuse" in table and "press Next" in table and "press, 1 person" in table
    assert table.count("PASS") + table.count("FAIL") == len(checks)
