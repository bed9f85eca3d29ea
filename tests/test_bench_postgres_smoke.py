"""The PostgreSQL scale benchmark runs in quick mode and prints its figures
(timing targets are not checked here: a shared test machine is too noisy)."""

from __future__ import annotations

import asyncio
import re

import pytest
from sqlalchemy import text

from bench.postgres_scale import OPS, QUICK_SIZES, connection, main

pytest_plugins = ["tests.pg"]

NUMBER = r"(\d+\.\d+)"


async def _bench_schemas(url: str) -> list[str]:
    async with connection(url) as conn:
        found = await conn.scalars(
            text("SELECT nspname FROM pg_namespace WHERE nspname LIKE 'bench_scale_%'")
        )
        return list(found)


def test_quick_run_prints_figures_for_every_size(
    pg_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    before = asyncio.run(_bench_schemas(pg_url))
    status = main(["--quick", "--url", pg_url])
    out = capsys.readouterr().out
    assert status in (0, 1), out
    # Every size was seeded, and a sample read back through the store as made.
    assert out.count("reports read back as made") == len(QUICK_SIZES)
    assert "reports stored: 305, 2,305" in out
    # A row of figures per operation: median and p95 at each size, then the ratio.
    for label in OPS.values():
        row = (
            rf"^{re.escape(label)} \(ms\)\s+{NUMBER}\s+{NUMBER}\s+{NUMBER}\s+{NUMBER}\s+{NUMBER}x$"
        )
        found = re.search(row, out, re.MULTILINE)
        assert found, f"no figures for {label}:\n{out}"
        assert all(float(figure) > 0 for figure in found.groups())
    for label in ("open (s, median)", "memory (MiB, median)"):
        found = re.search(rf"^{re.escape(label)}\s+{NUMBER}\s+{NUMBER}\s+{NUMBER}x$", out, re.M)
        assert found, f"no figures for {label}:\n{out}"
        assert all(float(figure) > 0 for figure in found.groups())
    checks = re.findall(r"^(PASS|FAIL)  ", out, re.MULTILINE)
    assert len(checks) == 6
    assert status == (1 if "FAIL" in checks else 0)
    # Its schemas are gone.
    assert asyncio.run(_bench_schemas(pg_url)) == before
