"""The evidence-pack benchmark runs in quick mode and prints its figures."""

from __future__ import annotations

import pytest

from bench.evidence_pack import Result, format_result, main, measure


def test_quick_run_builds_and_verifies_a_small_pack() -> None:
    result = measure(quick=True)
    assert isinstance(result, Result)
    assert (result.items, result.pictures, result.rounds) == (6, 2, 1)
    assert result.holds
    assert result.baseline_s > 0 and result.build_s > 0 and result.verify_s > 0
    # Each kept file is attached as it was kept: the PDF holds at least their bytes.
    assert result.pdf_bytes > result.files_bytes > 0
    table = format_result(result)
    assert "6 items, 2 pictures" in table and "verifies: yes" in table


def test_main_prints_the_figures(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--quick"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("evidence pack: 6 items, 2 pictures")
    assert " s " in out and " MB " in out
