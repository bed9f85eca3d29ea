"""The aged-store benchmark (`python -m bench.storage --scale`) runs and gives
its figures; timing targets are not checked here (see test_tiny_index for what
the figures rest on)."""

from __future__ import annotations

from pathlib import Path

from bench.storage import OPEN_CASES, ScaleResult, format_scale_result, measure_scale, seed_aged
from bot.store.tiny import SHARD_SIZE


def test_an_aged_store_is_seeded_as_an_older_harbour_left_it(tmp_path: Path) -> None:
    aged = seed_aged(tmp_path / "aged", 1_000)
    assert len(aged.open_refs) == OPEN_CASES
    assert len(aged.cold_refs) == len({int(r[-4:]) // SHARD_SIZE for r in aged.cold_refs})
    records = (tmp_path / "aged" / "records.json").read_text()
    assert '"deliveries"' in records and '"channel-messages"' in records
    assert len(list((tmp_path / "aged" / "conversations").iterdir())) == 200  # five reports each


def test_the_aged_store_benchmark_runs(tmp_path: Path) -> None:
    result = measure_scale(
        sizes=(0, 600),
        steps=3,
        filings=2,
        deliveries=3,
        reads=2,
        settle_s=0,
        root=tmp_path,
    )
    assert isinstance(result, ScaleResult)
    empty, aged = result.sizes
    assert (empty.reports, aged.reports) == (0, 600)
    assert empty.cold_read is None and aged.cold_read is not None
    assert aged.open_cases == OPEN_CASES
    assert aged.all_deliveries > empty.all_deliveries
    for size in result.sizes:
        assert size.rss_mib > 0 and size.first_peak_mib >= size.rss_mib * 0.5
        assert (size.step.n, size.file.n, size.delivery.n) == (3, 2, 3)
    table = format_scale_result(result)
    assert "ratios against 0 reports" in table
    assert table.count("PASS") + table.count("FAIL") == len(result.checks()) == 3
    assert list(tmp_path.iterdir()) == []  # the temporary data directories are gone
