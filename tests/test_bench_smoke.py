"""The storage benchmark runs and returns figures (timing targets are not checked here)."""

from __future__ import annotations

import asyncio
from pathlib import Path

from bench.storage import OTHER_SESSIONS, QUICK_SIZES, Result, format_result, measure


def test_storage_benchmark_runs_in_quick_mode(tmp_path: Path) -> None:
    result = asyncio.run(
        measure(quick=True, steps=3, filings=2, warmup=1, baseline_writes=3, root=tmp_path)
    )
    assert isinstance(result, Result)
    assert [s.reports for s in result.sizes] == list(QUICK_SIZES)
    assert result.baseline.n == 3 and result.baseline.p95_ms > 0
    for size in result.sizes:
        assert (size.step.n, size.file.n) == (3, 2)
        assert 0 < size.step.median_ms <= size.step.p95_ms
        assert 0 < size.file.median_ms <= size.file.p95_ms
        # The measured person's file and the other conversations in progress.
        assert 0 < size.person_kb < size.conversations_kb
        assert size.people == OTHER_SESSIONS + 1
    assert result.sizes[-1].shards > result.sizes[0].shards  # 1,000 seeded reports span shards
    # What a step rewrites does not grow with the reports stored.
    assert abs(result.sizes[-1].person_kb - result.sizes[0].person_kb) < 0.1
    checks = result.checks()
    assert len(checks) == len(QUICK_SIZES) + 2
    table = format_result(result)
    assert "save-step p95 growth 0 -> 1,000 reports" in table
    assert table.count("PASS") + table.count("FAIL") == len(checks)
    assert list(tmp_path.iterdir()) == []  # the temporary data directories are gone
