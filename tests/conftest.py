"""Shared fixtures: a Harbour core on an in-memory store with a controllable clock,
and a `Chat` that plays one person talking to it through core events only."""

from __future__ import annotations

import asyncio
import itertools
import json
import socket
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from bot.alerts.messenger import Recipient
from bot.alerts.sender import Notifier
from bot.app import Harbour
from bot.config import Settings
from bot.directory import Directory
from bot.models import (
    ChoiceMade,
    ChoiceQuestion,
    Command,
    Confirmation,
    Control,
    ControlAction,
    FilesShared,
    Form,
    FormSubmitted,
    Notice,
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
from bot.store import MemoryStore, Store


@pytest.fixture(autouse=True)
def no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    """Any connection to a non-local address fails the test."""
    real_connect = socket.socket.connect

    def guarded(self: socket.socket, address: Any) -> Any:
        host = address[0] if isinstance(address, tuple) else address
        if isinstance(host, str) and not (
            host.startswith("127.") or host in ("localhost", "::1") or host.startswith("/")
        ):
            raise AssertionError(f"test tried to reach the network: {address!r}")
        return real_connect(self, address)

    monkeypatch.setattr(socket.socket, "connect", guarded)


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 3, 2, 9, 30, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **kwargs: float) -> None:
        self.now += timedelta(**kwargs)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def settings() -> Settings:
    return Settings(_env_file=None)  # type: ignore[call-arg]


@pytest.fixture
def store() -> Iterator[Store]:
    yield MemoryStore()


@pytest.fixture
def harbour(store: Store, clock: Clock, settings: Settings, directory: Directory) -> Harbour:
    counter = itertools.count(1)
    return Harbour(
        store,
        settings.flow_context(),
        clock=clock,
        ids=lambda: f"id{next(counter)}",
        library=settings.guidance(),
        directory=directory,
        admins=frozenset({"console:local:admin"}),
    )


@pytest.fixture
def directory() -> Directory:
    """Alice and Dan are managed by Bob; Carol is a safety lead."""
    return Directory(
        managers={
            "console:local:alice": ["console:local:bob"],
            "console:local:dan": ["console:local:bob"],
        },
        leads={"console:local:carol"},
    )


def person(user: str = "alice") -> PersonRef:
    return PersonRef(platform=Platform.CONSOLE, workspace="local", user=user)


class Chat:
    """One person's side of the conversation, in core events."""

    def __init__(self, harbour: Harbour, user: str = "alice") -> None:
        self.harbour = harbour
        self.person = person(user)
        self.replies: list[Reply] = []
        self._ids = itertools.count(1)

    def next_id(self) -> str:
        return f"{self.person.user}-{next(self._ids)}"

    async def send_event(self, event: Any) -> list[Reply]:
        self.replies = await self.harbour.handle(event)
        return self.replies

    async def say(self, text: str) -> list[Reply]:
        return await self.send_event(
            TextMessage(event_id=self.next_id(), person=self.person, text=text)
        )

    async def command(self, name: str = "", args: str = "") -> list[Reply]:
        return await self.send_event(
            Command(event_id=self.next_id(), person=self.person, name=name, args=args)
        )

    async def choose(
        self, *values: str, question: str | None = None, token: str | None = None
    ) -> list[Reply]:
        if question is None or token is None:
            asked = self.asking()
            question = question or _question_id(asked)
            token = asked_token(asked) if token is None else token
        return await self.send_event(
            ChoiceMade(
                event_id=self.next_id(),
                person=self.person,
                question=question,
                values=values,
                token=token,
            )
        )

    async def submit(self, values: dict[str, Any], token: str | None = None) -> list[Reply]:
        form = self.form()
        return await self.send_event(
            FormSubmitted(
                event_id=self.next_id(),
                person=self.person,
                form=form.id,
                values=values,
                token=form.token if token is None else token,
            )
        )

    async def control(self, action: ControlAction, *, by_page: bool = False) -> list[Reply]:
        return await self.send_event(
            Control(
                event_id=self.next_id(),
                person=self.person,
                action=action,
                token=asked_token(self.asking()),
                by_page=by_page,
            )
        )

    async def share(self, *names: str) -> list[Reply]:
        return await self.send_event(
            FilesShared(
                event_id=self.next_id(),
                person=self.person,
                files=tuple(
                    SharedFile(name=n, url=f"https://files.example.org/{n}") for n in names
                ),
            )
        )

    def asking(self) -> Form | ChoiceQuestion | Confirmation | PersonQuestion:
        for reply in reversed(self.replies):
            if isinstance(reply, Form | ChoiceQuestion | Confirmation | PersonQuestion):
                return reply
        raise AssertionError(f"nothing is being asked: {self.replies!r}")

    def form(self) -> Form:
        asked = self.asking()
        assert isinstance(asked, Form), f"expected a form, got {asked!r}"
        return asked

    def focus(self) -> str:
        return self.form().focus

    def notices(self) -> list[Notice]:
        return [r for r in self.replies if isinstance(r, Notice)]

    def text(self) -> str:
        """Everything said in the last replies, as one string (for `in` checks)."""
        parts: list[str] = []
        shown = [x for r in self.replies for x in (r.replies if isinstance(r, Refresh) else (r,))]
        for r in shown:
            if isinstance(r, Text | Notice):
                parts.append(getattr(r, "title", "") + " " + r.text)
            elif isinstance(r, SummaryCard):
                parts.append(r.title + " " + " ".join(f"{f.label} {f.value}" for f in r.fields))
            elif isinstance(r, Form):
                parts.append(r.title + " " + " ".join(q.prompt for q in r.questions))
            elif isinstance(r, ChoiceQuestion | Confirmation | TextQuestion | PersonQuestion):
                parts.append(r.prompt)
        return "\n".join(parts)


def _question_id(asked: Form | ChoiceQuestion | Confirmation | PersonQuestion) -> str:
    return asked.focus if isinstance(asked, Form) else asked.id


def asked_token(asked: Form | ChoiceQuestion | Confirmation | PersonQuestion) -> str:
    return asked.token


LEADS = "safety-leads"
"""The safety leads' channel of the recording messenger."""


class RecordingMessenger:
    """A platform's messenger that records what it sends (the adapters' own
    messengers are tested against their platform fakes). It can be taken down
    (`down`), made to fail a person's next sends (`failures`), and looks a
    message up by its key as Slack's read-back does (`can_check_sent`)."""

    def __init__(self, *, can_check_sent: bool = True) -> None:
        self.can_check_sent = can_check_sent
        self.sent: list[tuple[Recipient, list[Reply]]] = []
        self.keys: list[str] = []
        self.updated: list[tuple[Recipient, str, list[Reply]]] = []
        self.failures: dict[str, int] = {}
        self.down = False

    async def send(self, to: Recipient, replies: Sequence[Reply], *, key: str = "") -> str:
        await asyncio.sleep(0)  # a real send waits on the network: let other work run
        if self.down:
            raise ConnectionError("platform down")
        if self.failures.get(to.address):
            self.failures[to.address] -= 1
            raise ConnectionError("platform down")
        self.sent.append((to, list(replies)))
        self.keys.append(key)
        return f"m{len(self.sent)}"

    async def find_sent(self, to: Recipient, key: str, since: datetime) -> str | None:
        if self.down:
            raise ConnectionError("platform down")
        found = [i for i, k in enumerate(self.keys) if key and k == key]
        return f"m{found[-1] + 1}" if found else None

    async def update(self, to: Recipient, message: str, replies: Sequence[Reply]) -> None:
        if self.down:
            raise ConnectionError("platform down")
        self.updated.append((to, message, list(replies)))

    def leads_channel(self, directory: Any) -> str | None:
        return LEADS

    def to(self, address: str) -> list[list[Reply]]:
        return [replies for recipient, replies in self.sent if recipient.address == address]

    def channel_texts(self) -> list[str]:
        out = [
            json.dumps([r.model_dump() for r in replies])
            for to, replies in self.sent
            if to.kind == "channel"
        ]
        out += [
            json.dumps([r.model_dump() for r in replies])
            for to, _, replies in self.updated
            if to.kind == "channel"
        ]
        return out


@pytest.fixture
def messenger() -> RecordingMessenger:
    return RecordingMessenger()


@pytest.fixture
def notifier(harbour: Harbour, messenger: RecordingMessenger) -> Notifier:
    return Notifier(harbour, {Platform.CONSOLE: messenger})


@pytest.fixture
def chat(harbour: Harbour) -> Chat:
    return Chat(harbour)


# The answers of a complete, ordinary report, by step id, as typed in a chat.
TYPED_REPORT: list[tuple[str, str]] = [
    ("danger", "no"),
    ("kinds", "1, 3"),
    ("details_exposed", "home, school"),
    ("platforms", "Facebook"),
    ("links", "https://www.facebook.com/some.post/123"),
    ("evidence", "Four screenshots on my work phone"),
    ("started", "this week"),
    ("frequency", "a few times"),
    ("affected", "me, my children"),
    ("poster", "2"),
    ("worry", "4"),
    ("description", "Posts naming me and my street."),
    ("audience", "1"),
]


async def type_report(chat: Chat, answers: list[tuple[str, str]] = TYPED_REPORT) -> None:
    """Answer the report flow by typing, checking each question is the expected one."""
    for step, text in answers:
        assert chat.focus() == step, f"expected {step}, asked {chat.focus()}"
        await chat.say(text)


# ---------------------------------------------------------------- nothing reported in the logs

import copy  # noqa: E402
import logging  # noqa: E402

from bot.logging_setup import (  # noqa: E402
    LOG_FORMAT,
    WithholdLibraryDetails,
    logger_levels,
    set_levels,
)

# What the tests type as report content (descriptions, links, evidence, notes):
# none of it may reach the log, at DEBUG, in any of the encodings a request
# body or a library's repr would give it.
LOGGED_CONTENT_MARKERS: tuple[str, ...] = (
    "Posts naming me and my street",
    "facebook.com/some.post",
    "Four screenshots on my work phone",
    "facebook.com/p/",
    "evil.example|click me",
    "[click](https://evil.example)",
    "U0BOSS",
    "Everyone</at>",
    "They wrote <!channel>",
    "reddit.com/r/x/1",
    "javascript:alert",
    "ok.example.com/a",
    "x.com/a/status",
    "لقطات شاشة",
    "Crime number 12345",
    "The posts started again last night",
    "my secret description",
    "My children's safety",
    "The family are under strain",
    "Worried about home",
)


def content_forms(text: str) -> set[str]:
    """`text` as typed, and as it appears in a form, JSON, a repr or HTML."""
    import html
    import json
    from urllib.parse import quote, quote_plus

    in_json = json.dumps(text)[1:-1]
    in_ascii_json = json.dumps(text, ensure_ascii=False)[1:-1]
    forms = {text, in_json, in_ascii_json, html.escape(text), repr(text)[1:-1]}
    forms |= {quote_plus(form) for form in list(forms)} | {quote(text, safe="")}
    return forms


_CONTENT_FORMS = tuple(
    (marker, form) for marker in LOGGED_CONTENT_MARKERS for form in content_forms(marker)
)


def content_in(logged: str) -> list[str]:
    """The markers whose content appears in `logged`."""
    return sorted({marker for marker, form in _CONTENT_FORMS if form in logged})


class _LogCollector(logging.Handler):
    """What Harbour's own handler would print: each record (a copy, so other
    handlers see it unchanged) through Harbour's filter, formatted."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []
        self._withhold = WithholdLibraryDetails()
        self.setFormatter(logging.Formatter(LOG_FORMAT))

    def emit(self, record: logging.LogRecord) -> None:
        record = copy.copy(record)
        if self._withhold.filter(record):
            self.lines.append(self.format(record))


@pytest.fixture(autouse=True)
def nothing_reported_is_logged() -> Iterator[None]:
    """Every test runs with logging at DEBUG (library caps as `configure_logging`
    sets them); afterwards, nothing the test typed as report content may be in
    what Harbour's handler would have printed."""
    root = logging.getLogger()
    levels = {name: logging.getLogger(name or None).level for name in logger_levels("DEBUG")}
    filters = {handler: list(handler.filters) for handler in root.handlers}
    collector = _LogCollector()
    set_levels(logging.DEBUG)
    root.setLevel(logging.DEBUG)
    root.addHandler(collector)
    try:
        yield
    finally:
        root.removeHandler(collector)
        for name, level in levels.items():
            logging.getLogger(name or None).setLevel(level)
        # `configure_logging` in a test gives pytest's handlers Harbour's filter: take it off.
        for handler in {*filters, *root.handlers}:
            handler.filters = [
                f
                for f in handler.filters
                if not isinstance(f, WithholdLibraryDetails) or f in filters.get(handler, [])
            ]
    logged = "\n".join(collector.lines)
    leaked = content_in(logged)
    lines = [line for line in collector.lines if content_in(line)]
    assert not leaked, f"report content {leaked} reached the log:\n" + "\n".join(lines)
