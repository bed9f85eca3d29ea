"""The console adapter: a private chat with Harbour in a terminal.

It lets an agency's administrator try every flow with no Slack or Teams app,
and it is the smallest proof that the core is platform-neutral: each line typed
becomes one core event, and each core reply becomes plain text. Forms are asked
one question at a time. With piped input it reads one message per line and
prints only the bot's replies on stdout, so a session can be scripted.
"""

from __future__ import annotations

import asyncio
import os
import re
import sys
import tempfile
import textwrap
import uuid
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path, PurePath
from typing import TextIO

from bot import engine
from bot.alerts.messenger import Recipient
from bot.app import Harbour
from bot.cases import CASE_QUESTION
from bot.conversation.routes import ROUTES
from bot.conversation.session import pending_reply
from bot.directory import Directory, console_name
from bot.evidence.intake import EVIDENCE_MAX_BYTES
from bot.models import (
    ChoiceMade,
    ChoiceQuestion,
    Command,
    Confirmation,
    ControlAction,
    FileReply,
    FilesShared,
    Form,
    Notice,
    NoticeLevel,
    PersonQuestion,
    PersonRef,
    Platform,
    Refresh,
    Reply,
    SharedFile,
    SummaryCard,
    Text,
    TextMessage,
    TextQuestion,
)
from bot.session import Session
from bot.store import StoreError
from flows import FLOWS

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


MENTION = re.compile(r"(?<![\w@.])@(\w[\w.-]*\w|\w)")
"""`@carl`, as people are named in the console (not `a@b.org`, not a trailing dot)."""
BARE_NAME = re.compile(r"\w[\w.-]*")
NOT_NAMES = (
    set(ROUTES.words)
    | set(engine.CONTROL_WORDS)
    | engine.YES_WORDS
    | engine.NO_WORDS
    | {"quit", "exit", "none", "nobody", "not", "dunno"}
)
"""Words that mean something to Harbour, so are never read as someone's name."""
HELP_WORDS = {w for w, c in ROUTES.words.items() if c == "help"} | {
    w for w, a in engine.CONTROL_WORDS.items() if a is ControlAction.HELP
}
CONSOLE_HELP = Notice(
    title="In this console",
    text="On a question: back (the one before), skip (optional ones), pause (keep the draft "
    "for later), cancel (discard it). Name people as @name, e.g. checkin @carl in 3d. "
    "Share a file (a screenshot) as file /path/to/it. quit (or Ctrl-D) leaves; a draft "
    "is kept.",
)


Pressable = ChoiceQuestion | Confirmation
"""A question the console shows as numbered buttons: choosing one of its
options by number or by name is pressing that button."""


def with_person_ids(text: str) -> str:
    """`@carl` -> `console:local:carl`: the core names people by their Harbour id."""

    def swap(match: re.Match[str]) -> str:
        found = console_name(match[1])
        return found.key if found else match[0]

    return MENTION.sub(swap, text)


def _in_flow(session: Session | None) -> bool:
    draft = session.active_draft if session else None
    return draft is not None and not draft.paused


def with_people(event: Command | TextMessage, session: Session | None) -> Command | TextMessage:
    """Names typed as the console names people -> Harbour ids, where a person is meant.

    `@carl` in a command, or in a message outside a report (a report's own text
    keeps a social media `@handle` as typed); a bare `carl` when Harbour is
    waiting for a person (e.g. "who is your manager?").
    """
    if isinstance(event, Command):
        named = with_bare_name(f"{event.name} {with_person_ids(event.args)}")
        return event.model_copy(update={"args": named.split(" ", 1)[1] if " " in named else ""})
    pending = session.pending if session else None
    if _in_flow(session) or (pending is not None and pending.kind == "text"):
        return event
    text = event.text.strip()
    if (
        pending is not None
        and pending.kind == "person"
        and BARE_NAME.fullmatch(text)
        and text.casefold() not in NOT_NAMES
    ):
        found = console_name(text)
        if found is not None:
            return event.model_copy(update={"text": found.key})
    return event.model_copy(update={"text": with_bare_name(with_person_ids(event.text))})


PERSON_FIRST = ("checkin", "manager")
"""Commands whose first word is a person: a bare name there names them too."""


def with_bare_name(text: str) -> str:
    """`checkin carl in 3 days` -> `checkin console:local:carl in 3 days`: in the
    console a plain name is how people are named."""
    words = text.split()
    if len(words) >= 2 and words[0].casefold() in PERSON_FIRST and BARE_NAME.fullmatch(words[1]):
        found = console_name(words[1])
        if found is not None and words[1].casefold() not in NOT_NAMES:
            words[1] = found.key
            return " ".join(words)
    return text


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


SHARE_WORD = "file"
"""`file /path/to/shot.png`: share a file from this computer, as a Slack or
Teams user shares one in her chat with Harbour."""


def shared_file(line: str, person: PersonRef) -> FilesShared | str | None:
    """`file <path>` -> the file shared, its bytes read now (in this turn,
    never kept in an event inbox); a kind line if it can't be read; None if
    the line shares nothing. Only a little past the limit is read: Harbour
    refuses a larger file anyway, and a huge one is never loaded whole. A
    path with spaces is quoted: file "~/My shots/a.png"."""
    word, _, rest = line.strip().partition(" ")
    rest = rest.strip()
    quoted = len(rest) > 2 and rest[0] == rest[-1] and rest[0] in "\"'"
    if word.casefold() != SHARE_WORD or not rest or (" " in rest and not quoted):
        return None  # "file a complaint" is words, not a file
    named = rest[1:-1] if quoted else rest
    if not any(mark in named for mark in ("/", "\\", "~")) and not PurePath(named).suffix:
        return None  # "File report" presses the button: a path has a folder or an ending
    path = Path(named).expanduser()
    try:
        with path.open("rb") as f:
            content = f.read(EVIDENCE_MAX_BYTES + 1)
    except OSError as exc:
        return (
            f"(I couldn't open that file: {type(exc).__name__}. Nothing was shared; check "
            "the path and try again.)"
        )
    return FilesShared(
        event_id=uuid.uuid4().hex,
        person=person,
        files=(SharedFile(name=path.name, content=content),),
        display_name=person.user,
    )


def _options_of(question: Pressable) -> list[tuple[str, str]]:
    """(value, label) of each button, in the order the console numbers them."""
    if isinstance(question, Confirmation):
        return [("yes", question.confirm_label), ("no", question.deny_label)]
    return [(o.value, o.label) for o in question.options]


def on_screen(replies: Sequence[Reply]) -> Pressable | None:
    """The buttons left on screen after these replies: those of the last
    question shown, if it has buttons. A page of a form, a typed question or a
    person picker takes typed answers instead, and replies that ask nothing
    leave no buttons: a number typed later is never a press on something
    scrolled away."""
    last: Reply | None = None
    for reply in replies:
        for shown in reply.replies if isinstance(reply, Refresh) else (reply,):
            if isinstance(
                shown, Form | ChoiceQuestion | TextQuestion | PersonQuestion | Confirmation
            ):
                last = shown
    return last if isinstance(last, ChoiceQuestion | Confirmation) else None


def pressed(line: str, question: Pressable | None, person: PersonRef) -> ChoiceMade | None:
    """A typed line that chooses from the buttons on screen, by number, label
    or value (several, comma-separated, where several may be chosen): the
    press Slack or Teams would send, with the question's id and token so it
    routes back (and a stale one is noticed). Anything else is None."""
    if question is None:
        return None
    options = _options_of(question)
    several = isinstance(question, ChoiceQuestion) and question.multiple
    parts = line.split(",") if several else [line]
    values: list[str] = []
    for part in parts:
        typed = " ".join(part.split()).casefold().rstrip(".")
        value = next(
            (
                value
                for number, (value, label) in enumerate(options, start=1)
                if typed in (str(number), value.casefold(), label.casefold())
            ),
            None,
        )
        if value is None:
            return None
        values.append(value)
    return ChoiceMade(
        event_id=uuid.uuid4().hex,
        person=person,
        question=question.id,
        values=tuple(dict.fromkeys(values)),
        token=question.token,
        display_name=person.user,
    )


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
        # A label that starts with its own number ("1 — a little") is not numbered twice.
        shown = (
            option.label if option.label.startswith(f"{number} ") else f"{number}. {option.label}"
        )
        lines.append(f"  {mark}{shown}")
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


CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")
"""What a terminal would act on rather than show (ESC starts its escape sequences)."""


def render(reply: Reply) -> str:
    """A core reply as terminal text: exactly as written, but never a control
    character, so no one's text can move the cursor, recolour or clear a
    manager's terminal."""
    return CONTROL.sub("", _render(reply))


def _render(reply: Reply) -> str:
    if isinstance(reply, Refresh):  # a terminal edits nothing: shown as new
        return "\n\n".join(_render(shown) for shown in reply.replies)
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
    if isinstance(reply, FileReply):
        return _wrap(reply.caption) + f"\n  (a file: {reply.name}, {reply.size:,} bytes)"
    raise TypeError(f"no console rendering for {type(reply).__name__}")


def save_file(file: FileReply, folder: Path) -> Path:
    """Write a file Harbour sent into `folder`, readable by this user alone
    (the folder 0700, the file 0600), never over another file (a second one
    of the same name gets a number). Returns where it is."""
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    folder.chmod(0o700)  # an existing folder is made private too
    stem, dot, suffix = file.name.rpartition(".")
    if not dot:
        stem, suffix = file.name, ""
    for n in range(1, 1000):
        name = file.name if n == 1 else f"{stem}-{n}{dot}{suffix}"
        path = folder / name
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            continue
        with os.fdopen(fd, "wb") as out:
            out.write(file.content)
        return path
    raise FileExistsError(f"{folder} already holds 999 files named like {file.name}")


def saved(file: FileReply, folder: Path) -> str:
    """Save a file (`save_file`) and say where, or that it could not be."""
    try:
        return f"  Saved where only you can open it: {save_file(file, folder)}"
    except OSError as exc:
        return (
            f"  (I couldn't save the file in {folder}: {type(exc).__name__}. Nothing was written.)"
        )


def exports_folder() -> Path:
    """Where a console chat writes the files Harbour sends, when not told: a
    new private folder in the system's temporary directory. Not beside the
    data directory: a file there would be an unsealed copy of what the store
    seals, on the store's volume and in its backups, and neither erasure nor
    retention (which know only the store) would ever remove it."""
    return Path(tempfile.mkdtemp(prefix="harbour-files-"))


def _waiting(harbour: Harbour, session: Session | None) -> tuple[list[str], Pressable | None]:
    """What the person left unfinished, shown when a console chat starts, so a
    first "2" is never the silent answer to a question she can't see; and the
    buttons it leaves on screen."""
    if session is None:
        return [], None
    lines: list[str] = []
    asked: list[Reply] = []
    draft = session.active_draft
    if draft is not None and not draft.paused:
        lines.append(
            f"You're part way through a draft ({FLOWS[draft.flow].title}). This question is "
            "waiting for your answer; say pause to keep the draft for later."
        )
        asked = list(engine.prompt(FLOWS[draft.flow], draft, harbour.ctx))
    elif session.pending is not None:
        lines.append("A question is waiting for your answer:")
        asked = [pending_reply(session.pending)]
    lines += [render(r) for r in asked]
    for paused in session.drafts.values():
        if paused.paused and paused.flow in ("report", "update", "reflect"):
            word = f"{paused.flow} {paused.subject or ''}".strip()
            lines.append(
                f"You have a paused draft ({FLOWS[paused.flow].title}): type {word} to pick it up."
            )
    return lines, on_screen(asked)


async def _session(harbour: Harbour, person: PersonRef) -> Session | None:
    """The person's conversation as stored (read only; the core decides everything)."""
    try:
        return await harbour.store.load_session(person)
    except StoreError:
        return None  # the core reports damage itself when the line is handled


async def chat(
    harbour: Harbour,
    person: PersonRef,
    *,
    stdin: TextIO = sys.stdin,
    stdout: TextIO = sys.stdout,
    stderr: TextIO | None = None,
    interactive: bool | None = None,
    alerts: ConsoleMessenger | None = None,
    files: Path | None = None,
) -> None:
    """Run a chat until end of input (Ctrl-D) or `quit`.

    Interactive, the greeting, prompts and hints go to stderr; stdout carries
    only Harbour's replies either way. Choosing a numbered option (by number
    or by name) presses that button, as on Slack or Teams. With `alerts`, the
    messenger printing this trial's alerts, that includes the buttons of the
    last alert printed for this person (a check-in, a case's actions) or, for
    a safety lead, for the leads' channel; but never while she is in the
    middle of a draft, whose question her numbers answer. A file Harbour
    sends (`mydata`) is written to `files` (else `exports_folder()`), for
    this user alone, and where it is printed.
    """
    interactive = stdin.isatty() if interactive is None else interactive
    err = stderr or sys.stderr
    loop = asyncio.get_running_loop()
    buttons: Pressable | None = None
    seen = 0  # alerts printed so far

    def alert_buttons(session: Session | None) -> Pressable | None:
        nonlocal seen
        if alerts is None:
            return None
        readers = {person.key}
        if person.key in harbour.directory.leads:
            readers.add(LEADS_CHANNEL)
        seen, fresh = alerts.buttons_since(seen, readers)
        return None if _in_flow(session) else fresh

    if interactive:
        print(
            f"Harbour console, as {person.user}. Type help for the commands, quit to leave.",
            file=err,
        )
        waiting, buttons = _waiting(harbour, await _session(harbour, person))
        for line in waiting or ["Type report to start a report."]:
            print(line, file=err)
        print(file=err, flush=True)
    while True:
        if interactive:
            print("you> ", end="", file=err, flush=True)
        line = await loop.run_in_executor(None, stdin.readline)
        if not line:
            break
        line = line.rstrip("\n")
        typed = line.strip()
        if typed.casefold() in ("quit", "exit", "/quit"):
            break
        if not typed:
            # Never an answer or a command: an empty line used to start a report.
            if interactive:
                print("(Nothing typed. Type help for the commands, quit to leave.)", file=err)
            continue
        session = await _session(harbour, person)
        buttons = alert_buttons(session) or buttons  # an alert printed since is the last shown
        sharing = shared_file(line, person)
        if isinstance(sharing, str):
            print(sharing, file=stdout, flush=True)
            continue
        event: FilesShared | ChoiceMade | Command | TextMessage = (
            sharing
            or pressed(line, buttons, person)
            or with_people(to_event(line, person), session)
        )
        replies = list(await harbour.handle(event))
        word = (event.name if isinstance(event, Command) else typed).casefold()
        if word in HELP_WORDS and replies:
            replies.insert(1, CONSOLE_HELP)
        # An alert printed while the line was handled is above these replies.
        above = alert_buttons(await _session(harbour, person))
        buttons = on_screen(replies) or above
        for reply in replies:
            print(render(reply), file=stdout)
            if isinstance(reply, FileReply):
                files = files or exports_folder()
                print(saved(reply, files), file=stdout)
            print(file=stdout)
        stdout.flush()


LEADS_CHANNEL = "safety-leads"
"""The safety leads' channel in a console trial: printed like any alert."""


class ConsoleMessenger:
    """Alerts for other people in a console trial: printed, addressed, to a stream.

    It keeps the buttons of each alert it prints, so the console chat of the
    person it was for can press them (`chat(..., alerts=...)`)."""

    def __init__(self, stream: TextIO, files: Path | None = None) -> None:
        self.stream = stream
        self.files = files  # where files it is given are written (`save_file`)
        self.sent = 0
        self._printed: list[tuple[str, Pressable | None]] = []  # (to whom, its buttons)

    can_check_sent = False
    """A printed alert cannot be read back: after a crash mid-send it is printed again."""

    async def send(self, to: Recipient, replies: Sequence[Reply], *, key: str = "") -> str:
        self.sent += 1
        self._print(to, f"── Harbour alert to {to.role} ({to.address}) ──", replies)
        return str(self.sent)

    async def find_sent(self, to: Recipient, key: str, since: datetime) -> str | None:
        raise NotImplementedError("the console keeps no way to look a sent message up by key")

    def leads_channel(self, directory: Directory) -> str | None:
        return LEADS_CHANNEL

    async def update(self, to: Recipient, message: str, replies: Sequence[Reply]) -> None:
        self._print(to, f"── alert {message} to {to.role} ({to.address}) updated ──", replies)

    def buttons_since(self, seen: int, readers: set[str]) -> tuple[int, Pressable | None]:
        """(how many alerts are printed now, the buttons of the last one printed
        after the first `seen` for any of `readers` that had buttons, if any)."""
        found = [b for to, b in self._printed[seen:] if to in readers and b is not None]
        return len(self._printed), found[-1] if found else None

    def _print(self, to: Recipient, heading: str, replies: Sequence[Reply]) -> None:
        print(heading, file=self.stream)
        for reply in replies:
            print(render(reply), file=self.stream)
            if isinstance(reply, FileReply):
                self.files = self.files or exports_folder()
                print(saved(reply, self.files), file=self.stream)
            for shown in reply.replies if isinstance(reply, Refresh) else (reply,):
                if isinstance(shown, ChoiceQuestion) and shown.id.startswith(CASE_QUESTION):
                    # The alert scrolls away; the case's buttons are always one command away.
                    ref = shown.id[len(CASE_QUESTION) :]
                    print(f"  (or, any time: cases {ref})", file=self.stream)
        print(file=self.stream, flush=True)
        self._printed.append((to.address, on_screen(replies)))
