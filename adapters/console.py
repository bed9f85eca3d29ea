"""The console adapter: a private chat with Harbour in a terminal.

It lets an agency's administrator try every flow with no Slack or Teams app,
and it is the smallest proof that the core is platform-neutral: each line typed
becomes one core event, and each core reply becomes plain text. Forms are asked
one question at a time. With piped input it reads one message per line and
prints only the bot's replies on stdout, so a session can be scripted.
"""

from __future__ import annotations

import asyncio
import sys
import textwrap
import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import TextIO

from bot.alerts.messenger import Recipient
from bot.app import Harbour
from bot.directory import Directory
from bot.models import (
    ChoiceQuestion,
    Command,
    Confirmation,
    Form,
    Notice,
    NoticeLevel,
    PersonQuestion,
    PersonRef,
    Platform,
    Reply,
    SummaryCard,
    Text,
    TextMessage,
    TextQuestion,
)

WIDTH = 78
MARKS = {
    NoticeLevel.INFO: "i",
    NoticeLevel.SUCCESS: "✓",
    NoticeLevel.WARNING: "!",
    NoticeLevel.ERROR: "✗",
    NoticeLevel.DANGER: "!!",
}
COMMAND_PREFIXES = ("/report-abuse", "/harbour", "/")


def console_person(user: str) -> PersonRef:
    return PersonRef(platform=Platform.CONSOLE, workspace="local", user=user)


def to_event(line: str, person: PersonRef) -> Command | TextMessage:
    """One typed line -> one core event. `/mine` or `/report-abuse mine` is a command."""
    event_id = uuid.uuid4().hex
    stripped = line.strip()
    for prefix in COMMAND_PREFIXES:
        if stripped.startswith(prefix) and (
            len(stripped) == len(prefix) or prefix == "/" or stripped[len(prefix)] == " "
        ):
            rest = stripped[len(prefix) :].strip()
            name, _, args = rest.partition(" ")
            return Command(
                event_id=event_id, person=person, name=name, args=args, display_name=person.user
            )
    return TextMessage(event_id=event_id, person=person, text=line, display_name=person.user)


def _wrap(text: str, indent: str = "") -> str:
    out = []
    for paragraph in text.split("\n"):
        out.append(
            textwrap.fill(paragraph, WIDTH, initial_indent=indent, subsequent_indent=indent)
            if paragraph
            else ""
        )
    return "\n".join(out)


def _options(question: ChoiceQuestion) -> list[str]:
    lines = []
    for number, option in enumerate(question.options, start=1):
        mark = "*" if option.value in question.value else " "
        lines.append(f"  {mark}{number}. {option.label}")
        if option.description:
            lines.append(_wrap(option.description, "       "))
    how = "several numbers, e.g. 1, 3" if question.multiple else "a number or a name"
    lines.append(f"  (answer with {how})")
    return lines


def _question(question: ChoiceQuestion | TextQuestion) -> list[str]:
    lines = [_wrap(question.prompt)]
    if question.hint:
        lines.append(_wrap(f"({question.hint})", "  "))
    if isinstance(question, ChoiceQuestion):
        lines.extend(_options(question))
    elif question.value:
        lines.append(_wrap(f"Your answer so far: {question.value}", "  "))
    return lines


def render(reply: Reply) -> str:
    """A core reply as terminal text."""
    if isinstance(reply, Text):
        return _wrap(reply.text)
    if isinstance(reply, Notice):
        mark = f"[{MARKS[reply.level]}] "
        if reply.title:
            return mark + reply.title + "\n" + _wrap(reply.text, "    ")
        return _wrap(mark + reply.text)
    if isinstance(reply, Form):
        lines = []
        if reply.starts_page:
            lines.append(f"── {reply.title} · {reply.progress} ──")
            if reply.intro:
                lines.append(_wrap(reply.intro))
        lines.extend(_question(reply.focused))
        words = " · ".join(c.value for c in reply.controls)
        lines.append(f"  ({words})")
        return "\n".join(lines)
    if isinstance(reply, ChoiceQuestion | TextQuestion):
        return "\n".join(_question(reply))
    if isinstance(reply, PersonQuestion):
        return _wrap(reply.prompt) + "\n  (type their name, or their Harbour id)"
    if isinstance(reply, Confirmation):
        return "\n".join(
            [_wrap(reply.prompt), f"  1. {reply.confirm_label}", f"  2. {reply.deny_label}"]
        )
    if isinstance(reply, SummaryCard):
        lines = [f"── {reply.title} ──"]
        for item in reply.fields:
            lines.append(_wrap(item.label))
            lines.append(_wrap(item.value, "    "))
        if reply.footer:
            lines.append(_wrap(reply.footer))
        return "\n".join(lines)
    raise TypeError(f"no console rendering for {type(reply).__name__}")


async def chat(
    harbour: Harbour,
    person: PersonRef,
    *,
    stdin: TextIO = sys.stdin,
    stdout: TextIO = sys.stdout,
    interactive: bool | None = None,
) -> None:
    """Run a chat until end of input (Ctrl-D) or `quit`."""
    interactive = stdin.isatty() if interactive is None else interactive
    loop = asyncio.get_running_loop()
    asked_person = False
    if interactive:
        print(
            f"Harbour console, as {person.user}. Type report to start, help for the commands, "
            "quit to leave.",
            file=sys.stderr,
        )
    while True:
        if interactive:
            print("you> ", end="", file=sys.stderr, flush=True)
        line = await loop.run_in_executor(None, stdin.readline)
        if not line:
            break
        line = line.rstrip("\n")
        if line.strip().casefold() in ("quit", "exit", "/quit"):
            break
        if asked_person and line.strip().isidentifier():
            # In the console, people are just names: "bob" is console:local:bob.
            line = console_person(line.strip()).key
        asked_person = False
        for reply in await harbour.handle(to_event(line, person)):
            asked_person = asked_person or isinstance(reply, PersonQuestion)
            print(render(reply), file=stdout)
            print(file=stdout)
        stdout.flush()


class ConsoleMessenger:
    """Alerts for other people in a console trial: printed, addressed, to a stream."""

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream
        self.sent = 0

    can_check_sent = False
    """A printed alert cannot be read back: after a crash mid-send it is printed again."""

    async def send(self, to: Recipient, replies: Sequence[Reply], *, key: str = "") -> str:
        self.sent += 1
        self._print(f"── Harbour alert to {to.role} ({to.address}) ──", replies)
        return str(self.sent)

    async def find_sent(self, to: Recipient, key: str, since: datetime) -> str | None:
        raise NotImplementedError("the console keeps no way to look a sent message up by key")

    def leads_channel(self, directory: Directory) -> str | None:
        return "safety-leads"

    async def update(self, to: Recipient, message: str, replies: Sequence[Reply]) -> None:
        self._print(f"── alert {message} to {to.role} updated ──", replies)

    def _print(self, heading: str, replies: Sequence[Reply]) -> None:
        print(heading, file=self.stream)
        for reply in replies:
            print(render(reply), file=self.stream)
        print(file=self.stream, flush=True)
