"""The encryption benchmark runs in quick mode and prints its figures (the
ratio target is not checked here: a shared test machine is too noisy)."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

import pytest
from sqlalchemy import text

from bench.encryption import OPS, Result, format_result, main, measure
from bench.postgres_scale import connection

pytest_plugins = ["tests.pg"]

NUMBER = r"(\d+\.\d+)"


def test_quick_run_times_both_stores_of_each_operation(tmp_path: Path) -> None:
    result = asyncio.run(measure(quick=True, steps=4, filings=2, warmup=1, root=tmp_path))
    assert isinstance(result, Result)
    assert [(row.kind, row.op) for row in result.rows] == [("embedded", op) for op in OPS]
    for row in result.rows:
        expected = 4 if row.op == "step" else 2
        for stats in (row.plain, row.sealed):
            assert stats.n == expected
            assert 0 < stats.median_ms <= stats.p95_ms
        assert row.p50_ratio > 0 and row.p95_ratio > 0
    assert result.filed == {"embedded": 2 + 2}  # timed, and one warm-up filing a round
    assert result.alone.report_seal_us > 0 and result.alone.session_open_us > 0
    assert len(result.checks()) == 2 * len(OPS)
    table = format_result(result)
    assert table.count("PASS") + table.count("FAIL") == 2 * len(OPS)
    assert "sealed / unsealed" in table
    assert list(tmp_path.iterdir()) == []  # the stores' directories are gone


async def _bench_schemas(url: str) -> list[str]:
    async with connection(url) as conn:
        found = await conn.scalars(
            text("SELECT nspname FROM pg_namespace WHERE nspname LIKE 'bench_seal_%'")
        )
        return list(found)


def test_quick_run_with_postgres_prints_every_row(
    pg_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    status = main(["--quick", "--postgres", "--url", pg_url, "--dir", str(tmp_path)])
    out = capsys.readouterr().out
    assert status in (0, 1), out
    for kind in ("embedded", "PostgreSQL"):
        for label in OPS.values():
            row = (
                rf"^{kind}\s+{label}\s+" + r"\s+".join([NUMBER] * 4) + rf"\s+{NUMBER}x\s+{NUMBER}x$"
            )
            found = re.search(row, out, re.MULTILINE)
            assert found, f"no figures for {kind} {label}:\n{out}"
            assert all(float(figure) > 0 for figure in found.groups())
    checks = re.findall(r"^(PASS|FAIL)  ", out, re.MULTILINE)
    assert len(checks) == 4 * len(OPS)
    assert status == (1 if "FAIL" in checks else 0)
    assert asyncio.run(_bench_schemas(pg_url)) == []
    assert list(tmp_path.iterdir()) == []
