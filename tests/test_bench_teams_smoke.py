"""The Teams turn benchmark runs and returns figures for both bots (no timing targets here)."""

from __future__ import annotations

import asyncio
from pathlib import Path

from bench.teams_turns import APPS, SCENARIOS, Result, format_result, measure


def test_teams_turn_benchmark_runs_tiny(tmp_path: Path) -> None:
    result = asyncio.run(
        measure(
            concurrency=(1, 3),
            rounds=1,
            sequential=2,
            burst_samples=3,
            profile=True,
            profile_dir=tmp_path,
        )
    )
    assert isinstance(result, Result)
    assert result.rounds == 1 and not result.stopped_early
    assert [(c.scenario, c.concurrency) for c in result.cells] == [
        (s, c) for s in SCENARIOS for c in (1, 3)
    ]
    for cell in result.cells:
        for app in APPS:
            assert cell.latency[app].n == cell.concurrency * (2 if cell.concurrency == 1 else 1)
            assert 0 < cell.latency[app].median_ms <= cell.latency[app].p99_ms
            assert cell.cpu_ms[app] > 0
            assert cell.gc_ms[app] >= 0
        assert cell.ratio > 0
    # Every turn, measured or not, was answered with exactly one card.
    assert result.cards == result.turns and result.turns["harbour"] > result.turns["bare"]
    assert result.store_size["sessions"] == 3  # the card-action people's reports in progress
    # Each person has their own small file: one step never rewrites everyone's.
    size = result.store_size
    assert size["people_files"] >= size["sessions"] and size["seen"] > 0
    assert 0 < size["largest_file_kb"] <= size["conversations_kb"]
    assert size["largest_file_kb"] < 16
    assert {(p.app, p.scenario) for p in result.profiles} == {
        (a, s) for a in APPS for s in SCENARIOS
    }
    harbour = next(p for p in result.profiles if p.app == "harbour")
    assert "Harbour core: Harbour.handle" in harbour.parts and harbour.top_cumulative
    table = format_result(result)
    assert table.count("PASS") + table.count("FAIL") == len(result.checks()) == 5
    assert "cProfile, card action" in table
    assert "people's conversation files" in table
