"""What an evidence pack costs to make and to check.

    python -m bench.evidence_pack            # 50 items, 20 screenshots, 3 rounds
    python -m bench.evidence_pack --quick    # 6 items, 2 small pictures, 1 round

A case's evidence log is built in memory (`bot.evidence.log.append`): items
with a link, an account, and a few sentences in the worker's words; every
other item up to the picture count keeps a screenshot, drawn with Pillow as a
phone screenshot is (1080x1920, lines of text on a plain background, a photo-like
noisy block: ~0.2–0.4 MB as PNG). Timed, each round: `bot.evidence.pack.build`
(layout by Typst, every file attached, every picture on its own page) and
`bot.evidence.verify.verify_pack` (every hash, every attachment, every picture
pixel for pixel). The baseline, in the same run: a pack of one item and no
picture (Typst's fixed cost), so the figures can be read on any machine.

Printed: the median seconds of each, the PDF's size, and the share of it the
kept files themselves take. No target is checked (it prints figures only);
the exit status is 1 only if a pack does not verify.
"""

from __future__ import annotations

import argparse
import io
import random
import statistics
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from PIL import Image, ImageDraw

from bot.evidence.log import EvidenceFile, EvidenceItem, append, file_digest
from bot.evidence.pack import PackSource, build
from bot.evidence.verify import verify_pack
from bot.models import PersonRef, Platform
from bot.reports import Report, ReportAnswers, RiskLevel

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
WORKER = PersonRef(platform=Platform.CONSOLE, workspace="local", user="bench")
WORDS = (
    "A post naming me and the office, with a photo of my car and a comment about where I "
    "live; shared into a local group and commented on by people I don't know."
)


def screenshot(seed: int, size: tuple[int, int] = (1080, 1920)) -> bytes:
    """A PNG like a phone screenshot: text lines, and a noisy photo block."""
    rng = random.Random(seed)
    image = Image.new("RGB", size, (250, 250, 250))
    draw = ImageDraw.Draw(image)
    width, height = size
    for y in range(40, height // 2, 36):
        draw.text((40, y), f"{seed}: " + WORDS[: rng.randint(30, len(WORDS))], fill=(20, 20, 20))
    block = (width - 80, height // 4)
    noise = Image.frombytes("RGB", block, rng.randbytes(block[0] * block[1] * 3))
    image.paste(noise.resize((block[0] // 4, block[1] // 4)).resize(block), (40, height // 2))
    out = io.BytesIO()
    image.save(out, format="PNG")
    return out.getvalue()


def case(items: int, pictures: int, size: tuple[int, int] = (1080, 1920)) -> PackSource:
    """A case with `items` evidence items, `pictures` of them keeping a screenshot."""
    files: dict[str, bytes] = {}
    log: list[EvidenceItem] = []
    every = max(1, items // max(1, pictures))
    for n in range(items):
        kept = None
        if len(files) < pictures and n % every == 0:
            content = screenshot(n, size)
            sha = file_digest(content)
            files[sha] = content
            kept = EvidenceFile(
                name=f"screenshot-{n}.png", media_type="image/png", size=len(content), sha256=sha
            )
        item = EvidenceItem(
            id=f"e{n}",
            added_at=T0 + timedelta(hours=n),
            added_by=WORKER.key,
            link=f"https://www.facebook.com/groups/local/posts/{1000 + n}",
            platform="facebook",
            account=f"@account.{n}",
            posted=f"{1 + n % 28} March",
            what=WORDS,
            file=kept,
        )
        log.append(append(log, item))
    report = Report(
        reference="HB-2026-0001",
        year=2026,
        seq=1,
        reporter=WORKER,
        filed_at=T0,
        draft_id="bench",
        answers=ReportAnswers(description=WORDS),
        risk=RiskLevel.HIGH,
        risk_reasons=["Home details were exposed."],
        evidence=log,
    )
    return PackSource(
        report=report,
        worker="Bench Worker",
        exported_at=T0 + timedelta(days=3),
        exported_by="Bench Worker",
        tz=ZoneInfo("Europe/Dublin"),
        files=files,
    )


@dataclass(frozen=True)
class Result:
    items: int
    pictures: int
    rounds: int
    build_s: float
    verify_s: float
    baseline_s: float
    pdf_bytes: int
    files_bytes: int
    holds: bool


def measure(*, quick: bool = False, rounds: int | None = None) -> Result:
    items, pictures = (6, 2) if quick else (50, 20)
    size = (270, 480) if quick else (1080, 1920)
    rounds = rounds or (1 if quick else 3)
    source = case(items, pictures, size)
    baseline = case(1, 0)
    build(baseline)  # Typst's first call loads its fonts: not what is measured
    built, checked, alone = [], [], []
    pdf = b""
    holds = True
    for _ in range(rounds):
        started = time.perf_counter()
        build(baseline)
        alone.append(time.perf_counter() - started)
        started = time.perf_counter()
        pdf = build(source)
        built.append(time.perf_counter() - started)
        started = time.perf_counter()
        holds = holds and verify_pack(pdf).holds
        checked.append(time.perf_counter() - started)
    return Result(
        items=items,
        pictures=pictures,
        rounds=rounds,
        build_s=statistics.median(built),
        verify_s=statistics.median(checked),
        baseline_s=statistics.median(alone),
        pdf_bytes=len(pdf),
        files_bytes=sum(len(c) for c in source.files.values()),
        holds=holds,
    )


def format_result(r: Result) -> str:
    return "\n".join(
        [
            f"evidence pack: {r.items} items, {r.pictures} pictures, median of {r.rounds} rounds",
            f"build   {r.build_s:8.3f} s   ({r.build_s / r.baseline_s:.1f}x a one-item pack, "
            f"{r.baseline_s:.3f} s)",
            f"verify  {r.verify_s:8.3f} s",
            f"size    {r.pdf_bytes / 1e6:8.2f} MB  (the kept files themselves: "
            f"{r.files_bytes / 1e6:.2f} MB, attached as they were kept)",
            "verifies: yes" if r.holds else "verifies: NO",
        ]
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.evidence_pack",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--quick", action="store_true", help="a small pack, one round")
    parser.add_argument("--rounds", type=int, default=None, help="rounds to take the median of")
    args = parser.parse_args(argv)
    result = measure(quick=args.quick, rounds=args.rounds)
    print(format_result(result))
    return 0 if result.holds else 1


if __name__ == "__main__":
    sys.exit(main())
