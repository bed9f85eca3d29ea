"""The console adapter: rendering, line parsing, and scripted sessions of the
real `harbour chat` process, including a `kill -9` in the middle of a report."""

from __future__ import annotations

import asyncio
import io
import os
import sys
from pathlib import Path

import pytest

from adapters.console import chat, console_person, render, to_event
from bot.app import Harbour
from bot.models import (
    ChoiceQuestion,
    Command,
    Confirmation,
    ControlAction,
    Form,
    Notice,
    NoticeLevel,
    Option,
    SummaryCard,
    SummaryField,
    Text,
    TextMessage,
    TextQuestion,
)
from tests.conftest import TYPED_REPORT

ROOT = Path(__file__).resolve().parent.parent


def test_lines_become_events() -> None:
    me = console_person("alice")
    assert isinstance(to_event("no", me), TextMessage)
    for line, name, args in [
        ("/mine", "mine", ""),
        ("/report-abuse update HB-2026-0001", "update", "HB-2026-0001"),
        ("/report-abuse", "", ""),
        ("/", "", ""),
    ]:
        event = to_event(line, me)
        assert isinstance(event, Command)
        assert (event.name, event.args) == (name, args)
    assert isinstance(to_event("/report-abusee", me), Command)
    assert to_event("a", me).event_id != to_event("a", me).event_id


def test_every_reply_type_renders() -> None:
    choice = ChoiceQuestion(
        id="c",
        prompt="Pick",
        options=(
            Option(value="a", label="Alpha", description="first"),
            Option(value="b", label="Beta"),
        ),
        multiple=True,
        value=("b",),
    )
    text_q = TextQuestion(id="t", prompt="Say", max_length=10, value="so far", hint="short")
    form = Form(
        id="p",
        title="Page",
        intro="Intro",
        questions=(choice, text_q),
        focus="c",
        token="x",
        progress="Part 1 of 2",
        controls=(ControlAction.PAUSE, ControlAction.HELP),
    )
    out = render(form)
    assert "── Page · Part 1 of 2 ──" in out
    assert "   1. Alpha" in out and "  *2. Beta" in out
    assert "several numbers" in out and "(pause · help)" in out
    second = render(form.model_copy(update={"focus": "t"}))
    assert "Page" not in second  # the page heading is shown once, at its first question
    assert "Your answer so far: so far" in second
    assert "1. Yes" in render(
        Confirmation(id="r", prompt="Sure?", confirm_label="Yes", deny_label="No")
    )
    card = render(
        SummaryCard(title="T", fields=(SummaryField(label="L", value="V\nW"),), footer="F")
    )
    assert "    V\n    W" in card and card.endswith("F")
    assert render(Notice(text="careful", level=NoticeLevel.WARNING)) == "[!] careful"
    assert render(Notice(title="Help", text="x")).startswith("[i] Help\n")
    assert render(Text(text="plain")) == "plain"


async def test_chat_loop_reads_lines_until_quit(harbour: Harbour) -> None:
    stdin = io.StringIO("hello\nquit\nreport\n")
    stdout = io.StringIO()
    await chat(harbour, console_person("alice"), stdin=stdin, stdout=stdout, interactive=False)
    assert "I'm Harbour" in stdout.getvalue()
    assert "First, your safety" not in stdout.getvalue()  # stopped at quit


class Console:
    """A real `python -m bot chat` process, driven line by line through pipes."""

    def __init__(self, proc: asyncio.subprocess.Process) -> None:
        self.proc = proc

    @classmethod
    async def start(cls, data_dir: Path, user: str = "alice") -> Console:
        env = {k: v for k, v in os.environ.items() if not k.startswith("HARBOUR_")}
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "bot", "chat", "--user", user, "--data-dir", str(data_dir),
            cwd=ROOT, env=env,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )  # fmt: skip
        return cls(proc)

    async def send(self, line: str, until: str = "cancel · help") -> str:
        """Send one line; return the output up to and including the first line
        containing `until` (by default the controls line that ends every form)."""
        assert self.proc.stdin and self.proc.stdout
        self.proc.stdin.write(line.encode() + b"\n")
        await self.proc.stdin.drain()
        seen: list[str] = []
        while True:
            raw = await asyncio.wait_for(self.proc.stdout.readline(), timeout=20)
            if not raw:
                raise AssertionError("console exited:\n" + "\n".join(seen))
            text = raw.decode().rstrip("\n")
            seen.append(text)
            if until in text:
                return "\n".join(seen)

    async def finish(self) -> int:
        assert self.proc.stdin
        self.proc.stdin.close()
        return await asyncio.wait_for(self.proc.wait(), timeout=20)


async def test_scripted_console_files_a_complete_report(tmp_path: Path) -> None:
    console = await Console.start(tmp_path)
    out = await console.send("report")
    assert "First, your safety" in out
    for _, answer in TYPED_REPORT[:-1]:
        out = await console.send(answer)
    out = await console.send(TYPED_REPORT[-1][1], until="2. Go back")
    assert "Your report, before it is filed" in out
    out = await console.send("1", until="their name")
    assert "Your reference is HB-2026-0001" in out
    assert "I don't know who your manager is yet" in out
    out = await console.send("bob", until="no hurry")
    assert "I'll let them know about HB-2026-0001" in out
    assert await console.finish() == 0
    assert (tmp_path / "reports" / "2026-0000.json").exists() or any(
        (tmp_path / "reports").iterdir()
    )


async def test_kill_9_mid_report_resumes_at_the_same_step(tmp_path: Path) -> None:
    console = await Console.start(tmp_path)
    await console.send("report")
    await console.send("no")
    await console.send("1, 3")
    out = await console.send("home, school")
    assert "Where did it happen?" in out
    console.proc.kill()  # SIGKILL: no clean-up, no flush, no lock release by the process
    await console.proc.wait()

    again = await Console.start(tmp_path)
    out = await again.send("report")
    assert "carry on with your report" in out
    assert "Where did it happen?" in out
    out = await again.send("back")
    assert "Which details were posted?" in out
    assert "*1. Where I live" in out and "*3. My children's school" in out
    out = await again.send("back")
    assert "*1. Threatening messages" in out and "*3. My personal details" in out
    out = await again.send("back")
    assert "*2. No" in out
    for _, answer in TYPED_REPORT[:-1]:
        out = await again.send(answer)
    await again.send(TYPED_REPORT[-1][1], until="2. Go back")
    out = await again.send("yes", until="their name")
    assert "HB-2026-0001" in out
    assert await again.finish() == 0


async def test_second_console_on_the_same_data_is_refused(tmp_path: Path) -> None:
    first = await Console.start(tmp_path)
    await first.send("report")
    second = await Console.start(tmp_path)
    assert await asyncio.wait_for(second.proc.wait(), timeout=20) == 2
    assert second.proc.stderr is not None
    message = (await second.proc.stderr.read()).decode()
    assert "Another Harbour process is already using the data directory" in message
    assert str(tmp_path) in message
    assert await first.finish() == 0


@pytest.mark.parametrize("value", ["sometimes", ""])
def test_bad_settings_stop_the_cli_with_the_variable_named(
    value: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from bot.cli import main

    monkeypatch.setenv("HARBOUR_STORE", value)
    assert main(["chat", "--user", "x"]) == 2
    assert "HARBOUR_STORE" in capsys.readouterr().err


# ---------------------------------------------------------------- starting with something unfinished


class Terminal:
    """A real `python -m bot chat` whose stdin is a terminal (a pty), so it runs
    interactively: greeting and prompts on stderr, Harbour's replies on stdout."""

    def __init__(self, proc: asyncio.subprocess.Process, keyboard: int) -> None:
        self.proc = proc
        self.keyboard = keyboard

    @classmethod
    async def start(cls, data_dir: Path, user: str = "alice") -> Terminal:
        import pty
        import termios

        keyboard, tty = pty.openpty()
        attrs = termios.tcgetattr(tty)
        attrs[3] &= ~termios.ECHO  # what is typed is not echoed back into the pty
        termios.tcsetattr(tty, termios.TCSANOW, attrs)
        env = {k: v for k, v in os.environ.items() if not k.startswith("HARBOUR_")}
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "bot", "chat", "--user", user, "--data-dir", str(data_dir),
            cwd=ROOT, env=env, stdin=tty,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )  # fmt: skip
        os.close(tty)
        return cls(proc, keyboard)

    async def read(self, stream: asyncio.StreamReader | None, until: str) -> str:
        assert stream is not None
        seen: list[str] = []
        while True:
            raw = await asyncio.wait_for(stream.readline(), timeout=20)
            if not raw:
                raise AssertionError("console exited:\n" + "\n".join(seen))
            seen.append(raw.decode().rstrip("\n"))
            if until in seen[-1]:
                return "\n".join(seen)

    async def type(self, line: str, until: str) -> str:
        os.write(self.keyboard, line.encode() + b"\n")
        return await self.read(self.proc.stdout, until)

    async def quit(self) -> int:
        os.write(self.keyboard, b"quit\n")
        code = await asyncio.wait_for(self.proc.wait(), timeout=20)
        os.close(self.keyboard)
        return code


async def test_a_draft_in_progress_is_shown_with_its_question_at_start(tmp_path: Path) -> None:
    """Finding: after a restart the console said "Type report to start", and a
    typed "2" silently answered a question nobody could see."""
    console = await Console.start(tmp_path)
    await console.send("report")
    await console.send("no")
    await console.send("1, 3")
    console.proc.kill()
    await console.proc.wait()

    terminal = await Terminal.start(tmp_path)
    greeting = await terminal.read(terminal.proc.stderr, until="cancel · help")
    assert "Type report to start" not in greeting
    assert "part way through a draft (Report online abuse)" in greeting
    assert "Which details were posted?" in greeting
    assert "say pause" in greeting
    out = await terminal.type("1", until="cancel · help")  # answers the question she saw
    assert "Where did it happen?" in out
    assert await terminal.quit() == 0


async def _chat_lines(
    harbour: Harbour, user: str, lines: str, *, interactive: bool = False
) -> tuple[str, str]:
    stdout, stderr = io.StringIO(), io.StringIO()
    await chat(
        harbour,
        console_person(user),
        stdin=io.StringIO(lines),
        stdout=stdout,
        stderr=stderr,
        interactive=interactive,
    )
    return stdout.getvalue(), stderr.getvalue()


async def test_a_paused_draft_is_mentioned_at_start(harbour: Harbour) -> None:
    await _chat_lines(harbour, "alice", "report\nno\npause\n")
    out, err = await _chat_lines(harbour, "alice", "", interactive=True)
    assert "paused draft (Report online abuse): type report to pick it up" in err
    assert "Type report to start" not in err
    assert out == ""


async def test_a_waiting_question_is_shown_at_start(harbour: Harbour) -> None:
    # Eve has no manager in the directory: after filing, she is asked who it is.
    answers = "".join(f"{a}\n" for _, a in TYPED_REPORT)
    await _chat_lines(harbour, "eve", f"report\n{answers}yes\n")
    session = await harbour.store.load_session(console_person("eve"))
    assert session is not None and session.pending is not None
    assert session.pending.kind == "person"
    _, err = await _chat_lines(harbour, "eve", "", interactive=True)
    assert "A question is waiting for your answer" in err
    assert "I don't know who your manager is yet" in err
    assert "(type their name, or their Harbour id)" in err


async def test_an_empty_line_does_nothing(harbour: Harbour) -> None:
    """Finding: an empty line started a report."""
    out, err = await _chat_lines(harbour, "alice", "\n   \n", interactive=True)
    assert out == ""
    assert "Nothing typed" in err
    assert await harbour.store.load_session(console_person("alice")) is None
    out, _ = await _chat_lines(harbour, "alice", "\n")
    assert out == ""
    assert await harbour.store.load_session(console_person("alice")) is None


@pytest.mark.parametrize("typed", ["help", "/help", "?"])
async def test_help_lists_the_controls_and_quit(harbour: Harbour, typed: str) -> None:
    """Finding: help listed neither back/skip/pause nor quit."""
    out, _ = await _chat_lines(harbour, "alice", f"{typed}\n")
    assert "What I can do" in out  # the core's own help
    console_help = out[out.index("In this console") :]
    for word in ("back", "skip", "pause", "cancel", "quit"):
        assert word in console_help
    out, _ = await _chat_lines(harbour, "dan", f"report\n{typed}\n")
    assert "In this console" in out
    assert out.rstrip().endswith("cancel · help)")  # the question is still shown last
