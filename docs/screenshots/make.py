"""Make the listing screenshots from real console conversations.

    python docs/screenshots/make.py                  # 1600x1000 (Slack) into docs/screenshots/
    python docs/screenshots/make.py --size teams     # 1366x768 (Teams Store)
    python docs/screenshots/make.py --out DIR --quick

Each picture is what `harbour chat` printed in a scripted conversation: the
real core on an in-memory store, driven through `adapters.console.chat` line by
line, with alerts printed by `ConsoleMessenger` through the real `Notifier`.
Nothing is drawn by hand: the text in a window is the console's own output,
set in DejaVu Sans Mono (the font matplotlib ships, so no system font is
used). The clock and ids are fixed, so making them again gives the same
pictures. The people (alice the worker, bob her manager, carol a safety lead)
and every answer are made up.

--quick leaves out the compression pass (same pictures, larger files): for tests.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import io
import itertools
import os
import re
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import matplotlib
from PIL import Image, ImageDraw, ImageFont

from adapters.console import LEADS_CHANNEL, ConsoleMessenger, chat, console_person
from bot.alerts.sender import Notifier
from bot.app import Harbour
from bot.config import Settings
from bot.directory import Directory
from bot.figures.example import generated_reports
from bot.models import Platform
from bot.store import MemoryStore

HERE = Path(__file__).resolve().parent
FONTS = Path(matplotlib.get_data_path()) / "fonts" / "ttf"
SIZES = {"slack": (1600, 1000), "teams": (1366, 768)}
"""What the stores ask for: Slack's listing 1600x1000 (8:5), Teams' 1366x768."""
START = datetime(2026, 3, 2, 9, 30, tzinfo=UTC)
"""The fixed clock the conversations run on (a Monday morning)."""
ALICE, BOB, CAROL = (console_person(u).key for u in ("alice", "bob", "carol"))
REF = "HB-2026-0001"

REPORT = [
    "report",
    "No",
    "1, 3",
    "Where I live, My children's school",
    "Facebook",
    "https://www.facebook.com/some.post/123",
    "Four screenshots on my work phone",
    "In the last week",
    "A few times",
    "Me, My children",
    "A relative of someone we work with",
    "4",
    "Posts naming me and my street.",
    "My manager and the safety leads",
]
"""Alice's report, answered as she might: numbers for some choices, words for others."""


class _Clock:
    def __init__(self) -> None:
        self.now = START

    def __call__(self) -> datetime:
        return self.now


class _Screen(io.StringIO):
    """A console's stdout: the chat flushes it once the replies to a line are out."""

    def __init__(self) -> None:
        super().__init__()
        self.flushed = asyncio.Event()

    def flush(self) -> None:
        super().flush()
        self.flushed.set()


@dataclass
class Terminal:
    """One person's `harbour chat` window, as it scrolls: what they typed
    (after the prompt `you> `), the replies printed, and the alerts printed
    for them, in order."""

    title: str
    lines: list[str] = field(default_factory=list)
    shown_from: int = 0

    def clear(self) -> None:
        """What comes next starts a new picture of this window."""
        self.shown_from = len(self.lines)

    def from_last_alert(self) -> None:
        """The next picture starts at the last alert printed (an alert
        edited is printed again: this shows it once, as it stands)."""
        starts = [i for i, line in enumerate(self.lines) if ALERT_HEADING.match(line)]
        self.shown_from = starts[-1] if starts else len(self.lines)

    def window(self) -> Window:
        """The window now, from the last `clear`."""
        return Window(self.title, tuple(self.lines[self.shown_from :]))


@dataclass(frozen=True)
class Window:
    """What a picture shows of a terminal: its lines from the top, as many as
    fit (a terminal scrolled back to where this part of the chat began)."""

    title: str
    lines: tuple[str, ...]


@dataclass(frozen=True)
class Picture:
    """A file the console saved, shown beside the chat that saved it."""

    title: str
    png: bytes


@dataclass(frozen=True)
class Shot:
    """One screenshot: a caption over two windows side by side."""

    name: str
    caption: str
    panes: tuple[Window | Picture, Window | Picture]


class Console:
    """A person chatting in a console, kept running (as `harbour chat` is)."""

    def __init__(self, trial: Trial, user: str) -> None:
        # Its stdin is a pipe: the chat reads a line when one is typed, and
        # the end of input (Ctrl-D) when the typing end is closed.
        reading, typing = os.pipe()
        self.stdin = os.fdopen(reading, "r", encoding="utf-8")
        self.keyboard = os.fdopen(typing, "w", encoding="utf-8")
        self.screen = _Screen()
        self.terminal = Terminal(f"harbour chat --user {user}")
        self.task = asyncio.create_task(
            chat(
                trial.harbour,
                console_person(user),
                stdin=self.stdin,
                stdout=self.screen,
                stderr=io.StringIO(),  # the greeting and the prompt: the prompt is drawn
                interactive=False,
                alerts=trial.messenger,
                files=trial.files,
            )
        )

    async def say(self, *lines: str) -> None:
        """Type each line in turn, waiting for the replies to each."""
        for line in lines:
            mark = len(self.screen.getvalue())
            self.screen.flushed.clear()
            self.keyboard.write(line + "\n")
            self.keyboard.flush()
            await asyncio.wait_for(self.screen.flushed.wait(), timeout=10)
            printed = self.screen.getvalue()[mark:].rstrip("\n")
            self.terminal.lines += [f"{PROMPT}{line}", *printed.split("\n"), ""]

    async def close(self) -> None:
        self.keyboard.close()  # Ctrl-D
        try:
            await asyncio.wait_for(self.task, timeout=10)
        finally:
            self.stdin.close()


PROMPT = "you> "
ALERT_HEADING = re.compile(r"^(?=── (?:Harbour alert|alert \S+) to )", flags=re.M)
FILES = Path("harbour-files")
"""Where the consoles save the files Harbour sends: relative, so the path printed
is the same on every run (the conversations run inside a temporary folder)."""


class Trial:
    """Alice, bob and carol in their consoles on one Harbour, alerts printed
    in the window of whom they are for (the leads' channel's in carol's)."""

    def __init__(self) -> None:
        self.store = MemoryStore()
        self.clock = _Clock()
        settings = Settings(_env_file=None)
        counter = itertools.count(1)
        self.harbour = Harbour(
            self.store,
            settings.flow_context(),
            clock=self.clock,
            ids=lambda: f"id{next(counter)}",
            library=settings.guidance(),
            directory=Directory(managers={ALICE: [BOB]}, leads={CAROL}),
        )
        self.files = FILES
        self.printed = io.StringIO()
        self.messenger = ConsoleMessenger(self.printed, FILES)
        self.notifier = Notifier(self.harbour, {Platform.CONSOLE: self.messenger})
        self.people = {user: Console(self, user) for user in ("alice", "bob", "carol")}
        self.readers = {
            "alice": {ALICE},
            "bob": {BOB},
            "carol": {CAROL, LEADS_CHANNEL},
        }

    def __getitem__(self, user: str) -> Console:
        return self.people[user]

    def at(self, hour: int, minute: int) -> None:
        self.clock.now = self.clock.now.replace(hour=hour, minute=minute)

    async def alerts(self) -> None:
        """Deliver what is due; each alert is printed in its reader's window."""
        mark = len(self.printed.getvalue())
        await self.notifier.run_once()
        for alert in ALERT_HEADING.split(self.printed.getvalue()[mark:]):
            heading = alert.split("\n", 1)[0]
            for user, readers in self.readers.items():
                if any(f"({reader})" in heading for reader in readers):
                    self.people[user].terminal.lines += [*alert.rstrip("\n").split("\n"), ""]

    async def close(self) -> None:
        for console in self.people.values():
            await console.close()


async def made_up_history(store: MemoryStore, count: int) -> None:
    """A year of made-up reports before alice's (`bot.figures.example`), so
    the figures have something to count."""
    for report in generated_reports(count, first=datetime(2025, 4, 1, tzinfo=UTC), days=330):
        await store.file_report(
            year=report.year,
            draft_id=report.draft_id,
            make=lambda seq, ref, r=report: (  # type: ignore[misc]
                r.model_copy(update={"seq": seq, "reference": ref}),
                [],
            ),
            person=report.reporter,
            session=None,
        )


async def conversations() -> list[Shot]:
    """Run the journeys in the current folder (where files are saved); the
    windows as they look at each screenshot."""
    trial = Trial()
    alice, bob, carol = trial["alice"], trial["bob"], trial["carol"]
    shots: list[Shot] = []
    try:
        await alice.say(*REPORT[:-1])
        trial.at(9, 41)
        alice.terminal.clear()
        await alice.say(REPORT[-1])
        summary = alice.terminal.window()
        alice.terminal.clear()
        await alice.say("File report")
        shots.append(
            Shot(
                "1-worker-files-a-report",
                "A worker checks her report, files it, and gets her reference and guidance",
                (summary, alice.terminal.window()),
            )
        )

        bob.terminal.clear()
        carol.terminal.clear()
        await trial.alerts()
        trial.at(9, 48)
        carol.terminal.from_last_alert()  # the leads' card was posted, then edited: printed twice
        await carol.say("Claim")
        shots.append(
            Shot(
                "2-manager-and-leads-alerted",
                "Her manager is alerted privately; a lead sees the details once she claims it",
                (bob.terminal.window(), carol.terminal.window()),
            )
        )

        trial.at(9, 55)
        await bob.say("Acknowledge")
        trial.at(10, 2)
        alice.terminal.clear()
        await trial.alerts()
        trial.at(10, 20)
        await alice.say(f"audit {REF}")
        trial.at(10, 25)
        carol.terminal.clear()
        await carol.say(f"audit {REF}")
        shots.append(
            Shot(
                "3-audit",
                "Who has seen a case: the worker's view and a safety lead's",
                (alice.terminal.window(), carol.terminal.window()),
            )
        )

        await made_up_history(trial.store, 160)
        trial.at(11, 0)
        carol.terminal.clear()
        await carol.say("figures")
        chart = FILES / "figures-kinds.png"
        shots.append(
            Shot(
                "4-figures",
                "Anonymised figures for the agency, with charts and a spreadsheet",
                (carol.terminal.window(), Picture(str(chart), chart.read_bytes())),
            )
        )
    finally:
        await trial.close()
    return shots


# ---------------------------------------------------------------- drawing

COLUMNS = 80
"""A terminal's width: the console wraps its text at 78, and a longer line
(a long path, a long typed line) wraps here as a terminal would wrap it."""
BLUE = (0x1D, 0x4E, 0x89)
"""Harbour's accent colour (manifest/icons.py): the background."""
WHITE = (255, 255, 255)
PALE = (0xC9, 0xD6, 0xE8)
BAR = (0xE4, 0xE7, 0xEB)
BAR_TEXT = (0x3C, 0x42, 0x4A)
DOTS = ((0xE0, 0x6C, 0x5F), (0xE5, 0xB5, 0x4B), (0x6D, 0xB8, 0x5B))
SCREEN = (0x1B, 0x1F, 0x24)
TEXT = (0xDD, 0xE1, 0xE6)
TYPED = (0xFF, 0xFF, 0xFF)
PROMPT_COLOUR = (0x7F, 0xD1, 0x8B)
CARD = (0x8C, 0xC4, 0xFF)
ALERT = (0xF2, 0xC1, 0x4E)
NOTE = "Harbour's console · generated by docs/screenshots/make.py · made-up people and answers"


def font(name: str, size: int) -> ImageFont.FreeTypeFont:
    return ImageFont.truetype(str(FONTS / name), size)


def _wrapped(lines: Sequence[str]) -> Iterator[str]:
    for line in lines:
        while len(line) > COLUMNS:
            yield line[:COLUMNS]
            line = line[COLUMNS:]
        yield line


def _frame(draw: ImageDraw.ImageDraw, box: tuple[int, int, int, int], title: str, bar: int) -> None:
    """A plain window: a title bar over a body (the body is the caller's)."""
    left, top, right, _ = box
    radius = bar // 3
    draw.rounded_rectangle(box, radius=radius, fill=BAR)
    for n, colour in enumerate(DOTS):
        x = left + bar * (0.6 + 0.6 * n)
        r = bar * 0.18
        draw.ellipse((x - r, top + bar / 2 - r, x + r, top + bar / 2 + r), fill=colour)
    title_font = font("DejaVuSans.ttf", round(bar * 0.5))
    draw.text(
        ((left + right) / 2, top + bar / 2), title, fill=BAR_TEXT, font=title_font, anchor="mm"
    )


def _terminal(draw: ImageDraw.ImageDraw, box: tuple[int, int, int, int], window: Window) -> None:
    left, top, right, bottom = box
    pad = max(8, (right - left) // 48)
    probe = font("DejaVuSansMono.ttf", 100)
    size = int((right - left - 2 * pad) / (COLUMNS * probe.getlength("M") / 100))
    regular, bold = font("DejaVuSansMono.ttf", size), font("DejaVuSansMono-Bold.ttf", size)
    step = round(size * 1.3)
    rows = (bottom - top - 2 * pad) // step
    lines = list(_wrapped(window.lines))
    if len(lines) > rows:
        lines = lines[:rows]
    draw.rectangle(box, fill=SCREEN)
    y = top + pad
    for line in lines:
        x = left + pad
        if line.startswith(PROMPT):
            draw.text((x, y), PROMPT, fill=PROMPT_COLOUR, font=bold)
            draw.text((x + bold.getlength(PROMPT), y), line[len(PROMPT) :], fill=TYPED, font=bold)
        elif ALERT_HEADING.match(line):
            draw.text((x, y), line, fill=ALERT, font=bold)
        elif line.startswith("── "):
            draw.text((x, y), line, fill=CARD, font=bold)
        else:
            draw.text((x, y), line, fill=TEXT, font=regular)
        y += step


def _picture(image: Image.Image, box: tuple[int, int, int, int], picture: Picture) -> None:
    left, top, right, bottom = box
    ImageDraw.Draw(image).rectangle(box, fill=WHITE)
    shown = Image.open(io.BytesIO(picture.png)).convert("RGB")
    shown.thumbnail((right - left - 16, bottom - top - 16), Image.Resampling.LANCZOS)
    image.paste(shown, ((left + right - shown.width) // 2, (top + bottom - shown.height) // 2))


def draw(shot: Shot, size: tuple[int, int]) -> Image.Image:
    """A screenshot at `size`: the caption on Harbour's blue, two windows below."""
    width, height = size
    image = Image.new("RGB", size, BLUE)
    pen = ImageDraw.Draw(image)
    margin = round(width * 0.022)
    caption = font("DejaVuSans-Bold.ttf", round(height * 0.034))
    while caption.getlength(shot.caption) > width - 2 * margin:  # a long caption is set smaller
        caption = font("DejaVuSans-Bold.ttf", int(caption.size) - 1)
    note = font("DejaVuSans.ttf", round(height * 0.017))
    pen.text((margin, margin), shot.caption, fill=WHITE, font=caption)
    below = margin + round(height * 0.034 * 1.35)
    pen.text((margin, below), NOTE, fill=PALE, font=note)
    top = below + round(height * 0.017 * 1.35) + margin // 2
    bar = round(height * 0.032)
    pane = (width - 3 * margin) // 2
    for n, shown in enumerate(shot.panes):
        left = margin + n * (pane + margin)
        box = (left, top, left + pane, height - margin)
        _frame(pen, box, shown.title, bar)
        body = (left, top + bar, left + pane, height - margin)
        if isinstance(shown, Window):
            _terminal(pen, body, shown)
        else:
            _picture(image, body, shown)
    return image


def png(image: Image.Image, *, quick: bool) -> bytes:
    """The PNG, in a palette of the picture's own colours (text and flat
    colours need few): small files, the same bytes from the same picture."""
    out = io.BytesIO()
    paletted = image.quantize(
        colors=256, method=Image.Quantize.FASTOCTREE, dither=Image.Dither.NONE
    )
    paletted.save(out, format="PNG", optimize=not quick)
    return out.getvalue()


async def shoot() -> list[Shot]:
    """Run the conversations in a scratch folder (the files Harbour sends are
    saved there, and go with it)."""
    with tempfile.TemporaryDirectory() as scratch, contextlib.chdir(scratch):
        return await conversations()


def write(shots: Sequence[Shot], out: Path, sizes: Sequence[str], *, quick: bool) -> list[Path]:
    """Each screenshot at each size, as `<shot>-<width>x<height>.png` in `out`."""
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for shot in shots:
        for name in sizes:
            width, height = SIZES[name]
            path = out / f"{shot.name}-{width}x{height}.png"
            path.write_bytes(png(draw(shot, (width, height)), quick=quick))
            written.append(path)
    return written


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=HERE, help="where to write (default: here)")
    parser.add_argument(
        "--size",
        action="append",
        choices=sorted(SIZES),
        help="slack (1600x1000) or teams (1366x768); repeat for both (default: slack)",
    )
    parser.add_argument("--quick", action="store_true", help="skip the compression pass")
    args = parser.parse_args(argv)
    out = args.out.resolve()  # before the conversations run in their scratch folder
    shots = asyncio.run(shoot())
    for path in write(shots, out, args.size or ["slack"], quick=args.quick):
        print(f"{path} ({path.stat().st_size:,} bytes)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
