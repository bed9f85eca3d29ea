"""The delivery-fault benchmark's quick run meets every target: kills through both
platform fakes lose no alert (and send none twice on Slack), an outage delays
alerts without losing any or holding up a follow-up, and every damaged file is
restored, refused or set aside without a reference handed out twice."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import timedelta

from bench.common import ROOT
from bench.delivery_faults import QUICK_KILLS, damage, expected_steps

TARGETS = (
    f"at least {2 * QUICK_KILLS} kill -9s in all",
    f"Slack: 0 alerts lost after {QUICK_KILLS} kills",
    f"Teams: 0 alerts lost after {QUICK_KILLS} kills",
    "Slack: 0 duplicates, read back after a restart",
    "10-minute outage: every alert delivered once",
    "10-minute outage: 2 follow-ups each raised within one pass of due",
    "damaged report shard: every damage noticed",
    "damaged deliveries file: every damage noticed",
    "damaged conversation: every damage noticed",
    "damaged report counter: every damage noticed",
)


def test_the_quick_run_meets_every_target() -> None:
    paths = [str(ROOT), *filter(None, [os.environ.get("PYTHONPATH")])]
    done = subprocess.run(
        [sys.executable, "-m", "bench.delivery_faults", "--quick"],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": os.pathsep.join(paths)},
        capture_output=True,
        text=True,
        timeout=180,
    )
    out = done.stdout
    verdicts = [line for line in out.splitlines() if line.startswith(("PASS  ", "FAIL  "))]
    assert len(verdicts) == len(TARGETS), out + done.stderr
    for target in TARGETS:
        assert any(line.startswith(f"PASS  {target}") for line in verdicts), (target, out)
    assert done.returncode == 0, out + done.stderr
    # The figures are printed, not only the verdicts.
    assert "Teams: " in out and "duplicate(s) in" in out
    assert "leads      +0:30:00 +0:30:00" in out


def test_a_flipped_byte_leaves_valid_json_that_only_a_checksum_can_tell() -> None:
    raw = b' \t \n{"2026":{"1":{"name":"alice"}}}'
    flipped, said = damage(raw, "byte flipped")
    assert flipped != raw and len(flipped) == len(raw) and "->" in said
    assert json.loads(flipped.split(b"\n", 1)[1])  # still parses
    assert damage(raw, "0 bytes")[0] == b""
    assert damage(raw, "cut short")[0] == raw[: len(raw) // 2]


def test_follow_ups_expected_until_the_claim() -> None:
    assert expected_steps(timedelta(minutes=70)) == ["leads", "admins"]
    assert expected_steps(timedelta(minutes=140)) == ["leads", "admins", "reminder", "reminder"]
    assert expected_steps(timedelta(minutes=20)) == []
