"""The listing screenshots (docs/screenshots/make.py): made from real console
conversations, at the sizes the stores ask for (Slack 1600x1000, Teams
1366x768, STORE-REVIEW.md T33), small, and the same on every run."""

from __future__ import annotations

import contextlib
import importlib.util
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest
from PIL import Image

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "docs" / "screenshots" / "make.py"
SHOTS = ["1-worker-files-a-report", "2-manager-and-leads-alerted", "3-audit", "4-figures"]
PLAYGROUND_SHOTS = [
    "playground-1-welcome",
    "playground-2-report-begins",
    "playground-3-what-happened",
]
"""Made in the Agents Playground by docs/screenshots/playground/shoot.mjs (Node.js and a
browser, so not rerun here): the committed files are checked instead."""


def _script() -> ModuleType:
    spec = importlib.util.spec_from_file_location("screenshots_make", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def test_the_script_makes_a_png_of_each_store_size_for_each_shot(tmp_path: Path) -> None:
    run = subprocess.run(
        [sys.executable, str(SCRIPT), "--quick", "--size", "slack", "--size", "teams"]
        + ["--out", str(tmp_path / "shots")],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=120,
    )
    assert run.returncode == 0, run.stderr
    made = sorted(p.name for p in (tmp_path / "shots").iterdir())
    sizes = {"1600x1000": (1600, 1000), "1366x768": (1366, 768)}
    assert made == sorted(f"{shot}-{size}.png" for shot in SHOTS for size in sizes)
    for name in made:
        path = tmp_path / "shots" / name
        assert path.read_bytes().startswith(b"\x89PNG\r\n\x1a\n")
        with Image.open(path) as image:
            image.verify()  # a whole, valid PNG
        with Image.open(path) as image:
            assert image.size == sizes[name.rsplit("-", 1)[1].removesuffix(".png")]
        assert path.stat().st_size < 200_000  # Teams allows 1,024 KB; the repository wants less
    assert sorted(p.name for p in tmp_path.iterdir()) == ["shots"]  # no saved files left behind


def test_the_committed_screenshots_are_the_console_shots_and_the_playground_shots() -> None:
    committed = sorted(p.name for p in SCRIPT.parent.glob("*.png"))
    console = [f"{shot}-1600x1000.png" for shot in SHOTS]
    playground = [f"{shot}-1366x768.png" for shot in PLAYGROUND_SHOTS]
    assert committed == sorted(console + playground)
    assert all((SCRIPT.parent / name).stat().st_size < 200_000 for name in console)


def test_the_committed_playground_screenshots_are_whole_pngs_at_the_teams_store_size() -> None:
    for name in (f"{shot}-1366x768.png" for shot in PLAYGROUND_SHOTS):
        path = SCRIPT.parent / name
        with Image.open(path) as image:
            image.verify()
        with Image.open(path) as image:
            assert (image.format, image.size) == ("PNG", (1366, 768))  # STORE-REVIEW.md T33
        assert path.stat().st_size < 250_000


async def test_the_windows_hold_what_the_console_printed(tmp_path: Path) -> None:
    make = _script()
    with contextlib.chdir(tmp_path):
        shots = {shot.name: shot for shot in await make.conversations()}
    assert list(shots) == SHOTS

    def text(shot: str, pane: int) -> str:
        return "\n".join(shots[shot].panes[pane].lines)

    assert "── Your report, before it is filed ──" in text(SHOTS[0], 0)
    filed = text(SHOTS[0], 1)
    assert filed.startswith("you> File report") and "Your reference is HB-2026-0001" in filed
    assert "── Some guidance for now ──" in filed
    to_bob = text(SHOTS[1], 0)
    assert to_bob.startswith("── Harbour alert to manager (console:local:bob) ──")
    assert "Posts naming me and my street." in to_bob  # she chose to share it with him
    leads_card = text(SHOTS[1], 1).split("you> Claim")[0]
    assert "HB-2026-0001 · critical risk" in leads_card
    assert "street" not in leads_card and "alice" not in leads_card  # a channel sees no details
    assert "Who has seen HB-2026-0001" in text(SHOTS[2], 0)
    assert "the record is intact" in text(SHOTS[2], 1)
    assert "── Figures, 2025-Q2 to 2026-Q1 ──" in text(SHOTS[3], 0)
    chart = shots[SHOTS[3]].panes[1]
    assert chart.title == "harbour-files/figures-kinds.png" and chart.png.startswith(b"\x89PNG")


def test_an_unknown_size_is_refused_with_the_sizes_there_are(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exited:
        _script().main(["--size", "mobile", "--out", str(tmp_path)])
    assert exited.value.code == 2
    assert "choose from 'slack', 'teams'" in capsys.readouterr().err
    assert not list(tmp_path.iterdir())  # nothing written
