"""Naming a person as each platform's people do: a Slack @mention (in a slash
command and in a DM, in every form Slack sends), and a name in the console
(`@carl`, or a bare `carl` when Harbour asks who). Driven at the adapter seams:
signed Slack payloads over HTTP, and the console through its input and output."""

from __future__ import annotations

import io
import json
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiohttp.test_utils import TestClient, TestServer

from adapters.console import chat, console_person
from adapters.slack import render
from adapters.slack.config import SlackSettings
from bot.app import Harbour
from bot.config import Settings
from bot.directory import Directory
from bot.server import build
from bot.store import MemoryStore
from tests.conftest import TYPED_REPORT
from tests.fakes.slack import SIGNING_SECRET, TEAM, FakeSlack
from tests.test_console import Console
from tests.test_slack import ALICE, BOB, REPORT_PAGES, SlackHarness

MANIFESTS = Path(__file__).resolve().parent.parent / "manifest" / "slack"


def slack_key(user: str) -> str:
    return f"slack:{TEAM}:{user}"


# ---------------------------------------------------------------- Slack


@pytest.fixture
async def team() -> AsyncIterator[SlackHarness]:
    """Slack with a directory: Bob manages Alice; U0ADMIN is an administrator."""
    fake = FakeSlack()
    base_url = await fake.start()
    store = MemoryStore()
    slack = SlackSettings(
        bot_token="xoxb-test", signing_secret=SIGNING_SECRET, api_url=base_url, _env_file=None
    )  # type: ignore[call-arg]
    settings = Settings(_env_file=None, admins=slack_key("U0ADMIN"))  # type: ignore[call-arg]
    directory = Directory(managers={slack_key(ALICE): [slack_key(BOB)]})
    server = build(settings, slack, store, directory=directory)
    client = TestClient(TestServer(server.web_app, host="127.0.0.1"))
    await client.start_server()
    try:
        yield SlackHarness(fake, server, client, store)
    finally:
        await client.close()
        await fake.close()


async def _alice_files_a_report(h: SlackHarness) -> None:
    await h.command(ALICE)
    for page in REPORT_PAGES:
        await h.submit(ALICE, page)
    await h.press(ALICE, render.ACTION_CHOICE + ".yes")
    assert "HB-2026-0001" in h.text_of(ALICE)


@pytest.mark.parametrize(
    ("how", "mention"),
    [
        ("dm", "<@U0ALICE>"),  # a mention in a direct message
        ("dm", "<@U0ALICE|alice>"),
        ("command", "<@U0ALICE|alice>"),  # a slash command, should_escape on
        ("command", "<@U0ALICE>"),
    ],
)
async def test_checkin_with_a_slack_mention(team: SlackHarness, how: str, mention: str) -> None:
    """Finding: `checkin @alice` failed in a DM (mentions were converted only in
    slash commands) and as a slash command (sent unescaped as "@alice")."""
    await _alice_files_a_report(team)
    text = f"checkin {mention} in 3d"
    if how == "dm":
        await team.dm(BOB, text)
    else:
        await team.command(BOB, text, channel=f"D{BOB}")
    said = team.text_of(BOB)
    assert "Check-ins for HB-2026-0001 scheduled" in said, said
    report = await team.store.get_report("HB-2026-0001")
    assert report is not None and len(report.checkins) == 1


@pytest.mark.parametrize("how", ["dm", "command"])
async def test_admin_names_people_by_mention(team: SlackHarness, how: str) -> None:
    send = team.dm if how == "dm" else team.command
    await send("U0ADMIN", "admin lead add <@U0CAROL|carol>")
    assert slack_key("U0CAROL") in team.server.harbour.directory.leads


def test_the_slash_command_sends_mentions_escaped() -> None:
    """With should_escape false Slack sends a typed @alice as bare text that
    names nobody; with true it sends <@U…|alice>, which Harbour reads."""
    for name in ("manifest.json", "manifest.socket-mode.json"):
        manifest = json.loads((MANIFESTS / name).read_text(encoding="utf-8"))
        [command] = manifest["features"]["slash_commands"]
        assert command["should_escape"] is True, name
    assert "should_escape" in (MANIFESTS / "SCOPES.md").read_text(encoding="utf-8")


# ---------------------------------------------------------------- console


async def _console(harbour: Harbour, user: str, lines: str) -> str:
    stdout = io.StringIO()
    await chat(
        harbour,
        console_person(user),
        stdin=io.StringIO(lines),
        stdout=stdout,
        stderr=io.StringIO(),
        interactive=False,
    )
    return stdout.getvalue()


def _report_lines(description: str = "") -> str:
    answers = [
        (s, description) if s == "description" and description else (s, a) for s, a in TYPED_REPORT
    ]
    return "report\n" + "".join(f"{a}\n" for _, a in answers) + "yes\n"


async def test_console_checkin_with_an_at_name(harbour: Harbour) -> None:
    """Finding: in the console, commands needed full ids (console:local:alice)."""
    await _console(harbour, "alice", _report_lines())
    out = await _console(harbour, "bob", "checkin @alice in 3d\n/checkin @alice tomorrow\n")
    assert out.count("Check-ins for HB-2026-0001 scheduled") == 2, out


async def test_console_admin_with_at_names(harbour: Harbour) -> None:
    out = await _console(harbour, "admin", "admin manager @eve @bob\nadmin lead add @zoe\n")
    assert "console:local:bob now manages console:local:eve" in out
    assert "console:local:zoe is now a safety lead" in out


async def test_an_at_handle_in_a_report_stays_as_typed(harbour: Harbour) -> None:
    """A social media @handle in what happened is evidence, not a colleague."""
    await _console(harbour, "alice", _report_lines("Posts by @angry_dad naming me."))
    report = await harbour.store.get_report("HB-2026-0001")
    assert report is not None
    assert report.answers.description == "Posts by @angry_dad naming me."


async def test_a_command_word_is_not_taken_for_a_name(harbour: Harbour) -> None:
    await _console(harbour, "eve", _report_lines())
    out = await _console(harbour, "eve", "help\n")
    assert "What I can do" in out and "Thank you, I'll remember" not in out
    out = await _console(harbour, "eve", "@carl\n")
    assert "I'll let them know about HB-2026-0001" in out


async def test_naming_the_manager_in_a_new_console_process(tmp_path: Path) -> None:
    """Finding: a worker asked "who is your manager?" who answers after starting
    the console again had to give an id (and the example was a Slack one)."""
    console = await Console.start(tmp_path, user="eve")
    await console.send("report")
    for _, answer in TYPED_REPORT[:-1]:
        await console.send(answer)
    await console.send(TYPED_REPORT[-1][1], until="2. Go back")
    out = await console.send("1", until="their name")
    assert "I don't know who your manager is yet" in out
    assert await console.finish() == 0

    again = await Console.start(tmp_path, user="eve")
    out = await again.send("carl", until="no hurry")
    assert "Thank you, I'll remember that" in out
    assert "I'll let them know about HB-2026-0001" in out
    assert await again.finish() == 0
