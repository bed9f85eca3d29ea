"""Slack, end to end: signed, real-shaped payloads posted over HTTP to the real
bolt app inside Harbour's aiohttp server, with a local fake Slack Web API."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, TypeVar
from urllib.parse import parse_qsl

import pytest
from aiohttp.test_utils import TestClient, TestServer

from adapters.slack import app as slack_app
from adapters.slack import render, translate
from adapters.slack.app import SlackAdapter
from adapters.slack.config import SlackSettings, load_slack_settings
from bot.config import ConfigError, Settings
from bot.directory import Directory
from bot.models import ChoiceMade, ChoiceQuestion, Form, Notice, NoticeLevel, Option, Text
from bot.server import Server, build
from bot.store import MemoryStore, Store
from tests.fakes.slack import (
    SIGNING_SECRET,
    TEAM,
    FakeSlack,
    block_actions,
    command_body,
    event_body,
    interaction_body,
    signed_headers,
)

ALICE, BOB = "U0ALICE", "U0BOB"
FORM = "application/x-www-form-urlencoded"


class SlackHarness:
    def __init__(
        self, fake: FakeSlack, server: Server, client: TestClient[Any, Any], store: Store
    ) -> None:
        self.fake = fake
        self.server = server
        self.client = client
        self.store = store
        assert server.slack is not None
        self.slack = server.slack

    async def post(self, body: str, content_type: str, **sign: Any) -> Any:
        headers = signed_headers(body, content_type=content_type, **sign)
        return await self.client.post("/slack/events", data=body, headers=headers)

    async def command(
        self, user: str, text: str = "", channel: str = "C0GENERAL", **extra: Any
    ) -> Any:
        response = await self.post(command_body(user, text, channel=channel, **extra), FORM)
        await self.slack.drain()
        return response

    async def act(
        self,
        user: str,
        action: dict[str, Any],
        message: dict[str, Any],
        state: dict[str, Any] | None = None,
    ) -> Any:
        payload = block_actions(
            user, action, message=message, channel=message["channel"], state=state
        )
        response = await self.post(interaction_body(payload), FORM)
        await self.slack.drain()
        return response

    async def dm(self, user: str, text: str, event_id: str | None = None, **extra: Any) -> Any:
        event = {
            "type": "message",
            "channel_type": "im",
            "channel": f"D{user}",
            "user": user,
            "text": text,
            "ts": f"{time.time():.6f}",
            **extra,
        }
        body = event_body(event, event_id=event_id or f"Ev{time.monotonic_ns()}")
        response = await self.post(body, "application/json")
        await self.slack.drain()
        return response

    def last_message(self, user: str) -> dict[str, Any]:
        posts = self.fake.posts(f"D{user}")
        assert posts, "nothing was posted to the DM"
        post = posts[-1]
        return {
            "ts": post["_ts"],
            "channel": post["channel"],
            "blocks": post["blocks"],
            "text": post["text"],
        }

    def text_of(self, user: str) -> str:
        return json.dumps(self.last_message(user)["blocks"], ensure_ascii=False)

    async def submit(self, user: str, answers: dict[str, Any]) -> Any:
        """Fill in the form in the last DM message and press its primary button."""
        message = self.last_message(user)
        state: dict[str, Any] = {}
        for block in message["blocks"]:
            if block["type"] != "input":
                continue
            question = block["block_id"].split("|")[-1]
            element = block["element"]
            value = answers.get(question)
            kind = element["type"]
            if kind == "plain_text_input":
                entry: dict[str, Any] = {"type": kind, "value": value}
            elif kind in ("checkboxes", "multi_static_select"):
                entry = {"type": kind, "selected_options": [{"value": v} for v in value or []]}
            else:
                chosen = value[0] if isinstance(value, list) and value else value
                entry = {"type": kind, "selected_option": {"value": chosen} if chosen else None}
            state[block["block_id"]] = {"hb.input": entry}
        button = find_button(message, render.ACTION_SUBMIT)
        return await self.act(user, button, message, state)

    async def press(
        self, user: str, action_prefix: str, *, message: dict[str, Any] | None = None
    ) -> Any:
        message = message or self.last_message(user)
        return await self.act(user, find_button(message, action_prefix), message)


def find_button(message: dict[str, Any], prefix: str) -> dict[str, Any]:
    for block in message["blocks"]:
        for element in block.get("elements", []):
            if element.get("type") == "button" and element["action_id"].startswith(prefix):
                return {
                    "type": "button",
                    "action_id": element["action_id"],
                    "value": element["value"],
                    "block_id": block.get("block_id"),
                }
    raise AssertionError(f"no button {prefix!r} in {message['blocks']!r}")


H = TypeVar("H", bound=SlackHarness)


@contextlib.asynccontextmanager
async def running(
    harness: type[H], fake: FakeSlack | None = None, store: Store | None = None
) -> AsyncIterator[H]:
    """Harbour serving one Slack workspace (its bot token) against `fake`, on
    `store` (memory by default): what each Slack test module's `h` starts."""
    fake = fake or FakeSlack()
    base_url = await fake.start()
    store = store or MemoryStore()
    slack = SlackSettings(
        bot_token="xoxb-test", signing_secret=SIGNING_SECRET, api_url=base_url, _env_file=None
    )  # type: ignore[call-arg]
    server = build(Settings(_env_file=None), slack, store)  # type: ignore[call-arg]
    client = TestClient(TestServer(server.web_app, host="127.0.0.1"))
    await client.start_server()
    try:
        yield harness(fake, server, client, store)
    finally:
        await client.close()
        await fake.close()


@pytest.fixture
async def h() -> AsyncIterator[SlackHarness]:
    async with running(SlackHarness) as harness:
        yield harness


REPORT_PAGES: list[dict[str, Any]] = [
    {"danger": ["no"]},
    {"kinds": ["threats", "personal_details"]},
    {"details_exposed": ["home"]},
    {"platforms": ["facebook"], "links": "https://facebook.com/p/1", "evidence": None},
    {"started": ["this_week"], "frequency": ["few"]},
    {"affected": ["me", "children"], "poster": ["relative"]},
    {
        "worry": ["4"],
        "description": "They wrote <!channel> and <@U0BOSS> and <https://evil.example|click me> & more",
    },
    {"audience": ["manager_and_leads"]},
]


async def test_command_in_a_channel_moves_to_a_private_dm(h: SlackHarness) -> None:
    response = await h.command(ALICE, "", channel="C0GENERAL")
    assert response.status == 200
    body = await response.json()
    assert body["response_type"] == "ephemeral"
    assert "private message" in body["text"]
    assert h.fake.called("conversations.open") == [{"users": ALICE}]
    posts = h.fake.posts()
    assert posts and all(p["channel"] == f"D{ALICE}" for p in posts)
    assert "First, your safety" in h.text_of(ALICE)
    # No message of any kind went to the channel.
    assert not [p for _, p in h.fake.calls if p.get("channel") == "C0GENERAL"]


async def test_command_in_the_dm_is_acknowledged_silently(h: SlackHarness) -> None:
    await h.command(ALICE, "help")
    response = await h.command(ALICE, "help", channel=f"D{ALICE}")
    assert response.status == 200
    assert await response.text() == ""
    assert "/report-abuse mine" in h.text_of(ALICE)


async def test_full_report_through_slack_payloads(h: SlackHarness) -> None:
    await h.command(ALICE)
    for page in REPORT_PAGES:
        response = await h.submit(ALICE, page)
        assert response.status == 200
    review = h.last_message(ALICE)
    assert "Shall I file this report?" in h.text_of(ALICE)
    await h.press(ALICE, render.ACTION_CHOICE + ".yes", message=review)
    assert "HB-2026-0001" in h.text_of(ALICE)
    report = await h.store.get_report("HB-2026-0001")
    assert report is not None
    assert report.answers.kinds == ["threats", "personal_details"]
    assert report.answers.links == ["https://facebook.com/p/1"]
    assert report.risk.value == "critical"
    assert len(h.fake.called("auth.test")) == 1  # who the bot is: asked once, then known
    # Every answered message was updated so its buttons can't be pressed again.
    updates = h.fake.called("chat.update")
    assert len(updates) >= len(REPORT_PAGES)
    for update in updates:
        assert not render.is_interactive(update["blocks"])


async def test_nothing_reported_reaches_the_logs(
    h: SlackHarness, caplog: pytest.LogCaptureFixture
) -> None:
    from bot.cli import configure_logging

    configure_logging("DEBUG")
    caplog.set_level(logging.DEBUG)
    await h.command(ALICE)
    for page in REPORT_PAGES:
        await h.submit(ALICE, page)
    await h.press(ALICE, render.ACTION_CHOICE + ".yes")
    await h.act(BOB, {"action_id": "hb.submit", "value": "garbage"}, h.last_message(ALICE), {})
    assert "HB-2026-0001" in h.text_of(ALICE)
    for secret in ("evil.example", "facebook.com/p/1", "U0BOSS"):
        assert secret not in caplog.text


def test_starting_logs_no_warning_and_keeps_the_token_for_harbours_calls(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    slack = SlackSettings(bot_token="xoxb-test", signing_secret=SIGNING_SECRET, _env_file=None)  # type: ignore[call-arg]
    server = build(Settings(_env_file=None), slack, MemoryStore())  # type: ignore[call-arg]
    assert server.slack is not None and server.slack.client.token == "xoxb-test"
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING] == []


def _record_presses(adapter: SlackAdapter, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Replace the work that follows a button press by noting who pressed."""
    handled: list[str] = []

    async def act(body: dict[str, Any]) -> None:
        handled.append(body["user"]["id"])

    monkeypatch.setattr(adapter, "_act", act)
    return handled


def _press_body(user: str) -> str:
    message = {"ts": "1.0", "channel": f"D{user}", "blocks": []}
    payload = block_actions(user, {"action_id": "hb.choice.yes"}, message=message, channel="D1")
    return interaction_body(payload)


async def test_work_after_an_ack_waits_while_other_requests_await_theirs(
    h: SlackHarness, monkeypatch: pytest.MonkeyPatch
) -> None:
    adapter = h.server.slack
    assert adapter is not None
    handled = _record_presses(adapter, monkeypatch)
    monkeypatch.setattr(slack_app, "ACKS_FIRST_MAX_WAIT", 5.0)
    real_dispatch = adapter.app.async_dispatch
    gate = asyncio.Event()

    async def slow_dispatch(request: Any) -> Any:
        response = await real_dispatch(request)  # acknowledged, and the work queued...
        await gate.wait()  # ...while this request is still on its way out
        return response

    monkeypatch.setattr(adapter.app, "async_dispatch", slow_dispatch)
    pending = asyncio.ensure_future(h.post(_press_body(ALICE), FORM))
    for _ in range(20):
        await asyncio.sleep(0.005)
    assert handled == [], "work ran while a request still waited for its response"
    gate.set()
    assert (await pending).status == 200
    await adapter.drain()
    assert handled == [ALICE]


async def test_work_after_an_ack_is_not_starved_by_requests_that_never_end(
    h: SlackHarness, monkeypatch: pytest.MonkeyPatch
) -> None:
    adapter = h.server.slack
    assert adapter is not None
    handled = _record_presses(adapter, monkeypatch)
    monkeypatch.setattr(slack_app, "ACKS_FIRST_MAX_WAIT", 0.02)
    adapter._acking += 1  # as if some request were always still on its way out
    try:
        assert (await h.post(_press_body(ALICE), FORM)).status == 200
        await asyncio.wait_for(adapter.drain(), 2)
        assert handled == [ALICE]
    finally:
        adapter._acking -= 1


def _text_objects(node: Any, kind: str) -> list[str]:
    """The text of every text object of this kind, however deeply nested."""
    if isinstance(node, list):
        return [t for n in node for t in _text_objects(n, kind)]
    if not isinstance(node, dict):
        return []
    found = [node["text"]] if node.get("type") == kind and isinstance(node.get("text"), str) else []
    return found + [t for v in node.values() for t in _text_objects(v, kind)]


SAID = "They wrote <!channel> and <@U0BOSS> and <https://evil.example|click me> & more"
FORMATTED = "*bold* _it_ ~gone~ `code`"


async def test_user_text_is_escaped_so_it_cannot_ping_or_link(h: SlackHarness) -> None:
    """Her words reach the review as written, and never as mrkdwn: no mention,
    link or formatting of hers is read (plain_text, where Slack parses nothing)."""
    words = f"{SAID} {FORMATTED}"
    await h.command(ALICE)
    for page in REPORT_PAGES:
        await h.submit(ALICE, {**page, "description": words} if "description" in page else page)
    review = h.last_message(ALICE)
    assert any(words in t for t in _text_objects(review["blocks"], "plain_text"))
    await h.press(ALICE, render.ACTION_CHOICE + ".yes", message=review)
    assert h.fake.posts(), "nothing was sent"
    for _, params in h.fake.calls:
        mrkdwn = [*_text_objects(params.get("blocks", []), "mrkdwn"), params.get("text") or ""]
        mrkdwn += _text_objects(params.get("view", {}), "mrkdwn")
        for text in mrkdwn:
            assert "<!channel>" not in text and "<@U0BOSS>" not in text, text
            assert "<https://" not in text and "|click me>" not in text, text
            assert not any(f in text for f in FORMATTED.split()), text


async def test_typed_answers_in_the_dm(h: SlackHarness) -> None:
    await h.command(ALICE)
    await h.dm(ALICE, "no")
    assert "What has been happening?" in h.text_of(ALICE)
    await h.dm(ALICE, "2")
    assert "Where did it happen?" in h.text_of(ALICE)
    # The question answered by typing was disabled too.
    assert all(not render.is_interactive(u["blocks"]) for u in h.fake.called("chat.update"))
    session = await h.store.load_session(_person(ALICE))
    assert session is not None and session.drafts["report"].answers["kinds"] == ["stalking"]


async def test_retried_event_is_handled_once(h: SlackHarness) -> None:
    await h.command(ALICE)
    before = len(h.fake.posts())
    event = {
        "type": "message",
        "channel_type": "im",
        "channel": f"D{ALICE}",
        "user": ALICE,
        "text": "no",
        "ts": "1.1",
    }
    body = event_body(event, event_id="Ev0RETRY")
    first = await h.post(body, "application/json")
    await h.slack.drain()
    headers = signed_headers(body, content_type="application/json")
    headers.update({"X-Slack-Retry-Num": "1", "X-Slack-Retry-Reason": "http_timeout"})
    again = await h.client.post("/slack/events", data=body, headers=headers)
    await h.slack.drain()
    assert first.status == again.status == 200
    assert len(h.fake.posts()) == before + 1


async def test_forged_and_stale_signatures_are_rejected_without_effect(h: SlackHarness) -> None:
    body = command_body(ALICE, "")
    forged = await h.post(body, FORM, secret="not-the-secret")
    stale = await h.post(body, FORM, at=int(time.time()) - 6 * 60)
    unsigned = await h.client.post("/slack/events", data=body, headers={"Content-Type": FORM})
    await h.slack.drain()
    assert forged.status == stale.status == unsigned.status == 401
    assert h.fake.calls == []


async def test_another_users_button_press_is_refused(h: SlackHarness) -> None:
    await h.command(ALICE)
    alices_form = h.last_message(ALICE)
    await h.act(BOB, find_button(alices_form, render.ACTION_SUBMIT), alices_form, {})
    assert "someone else's private conversation" in h.text_of(BOB)
    session = await h.store.load_session(_person(ALICE))
    assert session is not None and session.drafts["report"].step == "danger"
    assert await h.store.load_session(_person(BOB)) is None


async def test_double_click_does_nothing_twice(h: SlackHarness) -> None:
    await h.command(ALICE)
    form = h.last_message(ALICE)
    button = find_button(form, render.ACTION_SUBMIT)
    state = {
        b["block_id"]: {"hb.input": {"type": "radio_buttons", "selected_option": {"value": "no"}}}
        for b in form["blocks"]
        if b["type"] == "input"
    }
    before = len(h.fake.posts())
    payloads = [
        interaction_body(
            block_actions(ALICE, button, message=form, channel=form["channel"], state=state)
        )
        for _ in range(2)
    ]
    responses = await asyncio.gather(*(h.post(p, FORM) for p in payloads))
    await h.slack.drain()
    assert [r.status for r in responses] == [200, 200]
    assert len(h.fake.posts()) == before + 1
    assert "What has been happening?" in h.text_of(ALICE)


async def test_stale_button_gets_a_kind_reply(h: SlackHarness) -> None:
    await h.command(ALICE)
    first = h.last_message(ALICE)
    await h.submit(ALICE, {"danger": ["no"]})
    await h.submit(ALICE, {"kinds": ["stalking"]})
    await h.press(ALICE, render.ACTION_CONTROL + ".back")
    # An old form (from before going back) is pressed again: its token is stale.
    old = {**first, "ts": "1699999999.000001"}
    await h.act(ALICE, find_button(old, render.ACTION_SUBMIT), old, {})
    assert "already been answered" in h.text_of(ALICE)


async def test_controls_on_a_form_page(h: SlackHarness) -> None:
    await h.command(ALICE)
    await h.submit(ALICE, {"danger": ["no"]})
    await h.press(ALICE, render.ACTION_CONTROL + ".back")
    assert "First, your safety" in h.text_of(ALICE)
    await h.press(ALICE, render.ACTION_CONTROL + ".pause")
    assert "draft is saved" in h.text_of(ALICE)
    await h.command(ALICE)
    assert "unfinished report" in h.text_of(ALICE)
    await h.press(ALICE, render.ACTION_CHOICE + ".0")  # "Carry on with my draft"
    assert "First, your safety" in h.text_of(ALICE)


async def test_validation_error_is_shown_and_answers_kept(h: SlackHarness) -> None:
    await h.command(ALICE)
    await h.submit(ALICE, {"danger": ["no"]})
    await h.submit(ALICE, {"kinds": ["stalking"]})
    await h.submit(ALICE, {"platforms": ["x"], "links": "not a link", "evidence": "kept"})
    text = h.text_of(ALICE)
    assert "doesn't look like a web address" in text
    assert '"initial_value": "kept"' in text


async def test_files_shared_in_the_dm_are_kept(h: SlackHarness) -> None:
    await h.command(ALICE)
    await h.dm(
        ALICE,
        "",
        subtype="file_share",
        files=[
            {"name": "shot.png", "permalink": "https://agency.slack.com/files/U0ALICE/F1/shot.png"}
        ],
    )
    assert "Kept 1 file" in h.text_of(ALICE)


async def test_messages_from_bots_and_edits_are_ignored(h: SlackHarness) -> None:
    await h.dm(ALICE, "hi", bot_id="B0OTHER")
    await h.dm(ALICE, "hi", subtype="message_changed")
    assert h.fake.posts() == []


async def test_app_home_lists_my_reports(h: SlackHarness) -> None:
    await h.command(ALICE)
    for page in REPORT_PAGES:
        await h.submit(ALICE, page)
    await h.press(ALICE, render.ACTION_CHOICE + ".yes")
    body = event_body(
        {"type": "app_home_opened", "user": ALICE, "channel": f"D{ALICE}", "tab": "home"},
        event_id="Ev0HOME",
    )
    response = await h.post(body, "application/json")
    await h.slack.drain()
    assert response.status == 200
    [published] = h.fake.called("views.publish")
    assert published["user_id"] == ALICE
    view = json.dumps(published["view"])
    assert "HB-2026-0001" in view and "Start a report" in view
    assert "evil.example" not in view  # the list shows references, never content
    home = {"ts": "1.0", "channel": f"D{ALICE}", "blocks": published["view"]["blocks"]}
    await h.press(ALICE, render.ACTION_HOME_REPORT, message=home)
    assert "First, your safety" in h.text_of(ALICE)


async def test_rate_limited_post_is_retried_and_delivered_once(h: SlackHarness) -> None:
    h.fake.fail("chat.postMessage", 429, {"Retry-After": "1"})
    started = time.monotonic()
    await h.command(ALICE)
    assert time.monotonic() - started >= 0.9  # honoured Retry-After
    posts = h.fake.posts(f"D{ALICE}")
    assert len(posts) == 2  # the refused attempt and the one that landed
    assert posts[0]["blocks"] == posts[1]["blocks"]


async def test_unknown_subcommand_gets_help(h: SlackHarness) -> None:
    await h.command(ALICE, "frobnicate now")
    text = h.text_of(ALICE)
    assert "not sure I understood" in text and "/report-abuse help" in text
    assert "Report what happened" in text


def test_bad_slack_settings_name_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SLACK_BOT_TOKEN", "xoxp-user-token")
    with pytest.raises(ConfigError, match="SLACK_BOT_TOKEN: must be a bot token"):
        load_slack_settings(_env_file=None)
    monkeypatch.setenv("SLACK_BOT_TOKEN", "xoxb-ok")
    monkeypatch.delenv("SLACK_SIGNING_SECRET", raising=False)
    with pytest.raises(ConfigError, match="SLACK_SIGNING_SECRET is needed"):
        load_slack_settings(_env_file=None)
    monkeypatch.setenv("SLACK_APP_TOKEN", "xapp-1-abc")
    assert load_slack_settings(_env_file=None).use_socket_mode


def _person(user: str) -> Any:
    from adapters.slack.translate import person

    return person(TEAM, user)


async def test_socket_mode_receives_acks_and_answers(monkeypatch: pytest.MonkeyPatch) -> None:
    fake = FakeSlack()
    base_url = await fake.start()
    slack = SlackSettings(
        bot_token="xoxb-test", app_token="xapp-1-test", api_url=base_url, _env_file=None
    )  # type: ignore[call-arg]
    server = build(Settings(_env_file=None), slack, MemoryStore())  # type: ignore[call-arg]
    assert server.slack is not None
    assert not any(r.resource.canonical == "/slack/events" for r in server.web_app.router.routes())  # type: ignore[union-attr]
    try:
        await server.slack.connect_socket_mode()
        payload = dict(parse_qsl(command_body(ALICE, "help", trigger="trigger-socket")))
        await fake.push(
            {
                "envelope_id": "env-1",
                "type": "slash_commands",
                "payload": payload,
                "accepts_response_payload": True,
            }
        )
        deadline = time.monotonic() + 5
        while not (fake.socket_acks and fake.posts()) and time.monotonic() < deadline:
            await asyncio.sleep(0.01)
        await server.slack.drain()
        [ack] = fake.socket_acks
        assert ack["envelope_id"] == "env-1"
        assert "private message" in json.dumps(ack.get("payload", {}))
        assert "/report-abuse mine" in json.dumps(fake.last_post()["blocks"])
    finally:
        await server.slack.close()
        await fake.close()


def _state_for(blocks: list[dict[str, Any]], answers: dict[str, Any]) -> dict[str, Any]:
    state: dict[str, Any] = {}
    for block in blocks:
        if block["type"] != "input":
            continue
        question = block["block_id"].split("|")[-1]
        kind = block["element"]["type"]
        value = answers.get(question)
        if kind == "plain_text_input":
            entry: dict[str, Any] = {"type": kind, "value": value}
        elif kind in ("checkboxes", "multi_static_select"):
            entry = {"type": kind, "selected_options": [{"value": v} for v in value or []]}
        else:
            chosen = value[0] if isinstance(value, list) and value else value
            entry = {"type": kind, "selected_option": {"value": chosen} if chosen else None}
        state[block["block_id"]] = {"hb.input": entry}
    return state


async def test_forms_open_in_a_modal_when_slack_refuses_inputs_in_messages(h: SlackHarness) -> None:
    h.fake.reject_inputs = True
    await h.command(ALICE)
    launcher = h.last_message(ALICE)
    assert "Answer these questions" in json.dumps(launcher["blocks"])
    assert not any(b["type"] == "input" for b in launcher["blocks"])
    for n, page in enumerate(REPORT_PAGES):
        launcher = h.last_message(ALICE)
        await h.press(ALICE, render.ACTION_OPEN, message=launcher)
        await asyncio.sleep(0.05)  # the modal opens outside the work queue
        view = h.fake.called("views.open")[-1]["view"]
        assert view["type"] == "modal" and view["callback_id"] == render.MODAL_CALLBACK
        submission = {
            "type": "view_submission",
            "user": {"id": ALICE, "team_id": TEAM},
            "team": {"id": TEAM},
            "view": {
                "type": "modal",
                "id": f"V{n}",
                "hash": f"h{n}",
                "callback_id": render.MODAL_CALLBACK,
                "private_metadata": view["private_metadata"],
                "state": {"values": _state_for(view["blocks"], page)},
            },
        }
        response = await h.post(interaction_body(submission), FORM)
        await h.slack.drain()
        assert response.status == 200
    assert "Shall I file this report?" in h.text_of(ALICE)
    await h.press(ALICE, render.ACTION_CHOICE + ".yes")
    assert "HB-2026-0001" in h.text_of(ALICE)
    report = await h.store.get_report("HB-2026-0001")
    assert report is not None and report.answers.links == ["https://facebook.com/p/1"]


@pytest.mark.parametrize("mention", ["<@U0BOB>", "<@U0BOB|bob>"])
async def test_a_mention_in_the_dm_names_a_person(h: SlackHarness, mention: str) -> None:
    """Finding: mentions became Harbour ids only in slash commands, not in a DM."""
    await h.dm(ALICE, f"manager {mention}")
    assert "I'll remember that" in h.text_of(ALICE)
    named = await h.store.records("managers")
    assert named[f"slack:{TEAM}:{ALICE}"]["managers"] == [f"slack:{TEAM}:{BOB}"]


# ---------------------------------------------------------------- findings


Restart = Callable[[SlackHarness], Awaitable[SlackHarness]]


@pytest.fixture
async def restart() -> AsyncIterator[Restart]:
    """Serve the same workspace and store from a new process: nothing that was
    only in the adapter's memory (DMs, pages, pressed messages) survives."""
    clients: list[TestClient[Any, Any]] = []

    async def again(h: SlackHarness) -> SlackHarness:
        await h.client.close()
        slack = SlackSettings(
            bot_token="xoxb-test",
            signing_secret=SIGNING_SECRET,
            api_url=str(h.fake.server.make_url("/api/")),
            _env_file=None,
        )  # type: ignore[call-arg]
        server = build(Settings(_env_file=None), slack, h.store)  # type: ignore[call-arg]
        client = TestClient(TestServer(server.web_app, host="127.0.0.1"))
        await client.start_server()
        clients.append(client)
        return SlackHarness(h.fake, server, client, h.store)

    try:
        yield again
    finally:
        for client in clients:
            await client.close()


async def until(found: Callable[[], Any], seconds: float = 2.0) -> Any:
    """Poll for work done outside the work queue (a modal opens straight away)."""
    deadline = time.monotonic() + seconds
    while not (result := found()) and time.monotonic() < deadline:
        await asyncio.sleep(0.01)
    return result


def shown_on_page(message: dict[str, Any], question: str) -> Any:
    """What the page's input for `question` holds when it is shown."""
    for block in message["blocks"]:
        if block["type"] == "input" and block["block_id"].endswith(f"|{question}"):
            element = block["element"]
            if "initial_options" in element:
                return [o["value"] for o in element["initial_options"]]
            if "initial_option" in element:
                return [element["initial_option"]["value"]]
            return element.get("initial_value")
    raise AssertionError(f"no input for {question!r} on the page")


async def draft_answers(h: SlackHarness, user: str) -> dict[str, Any]:
    session = await h.store.load_session(_person(user))
    assert session is not None
    return session.drafts["report"].answers


async def test_typed_back_and_skip_move_a_page_at_a_time(h: SlackHarness) -> None:
    """Finding: typed "back" and "skip" in the DM showed the same page again,
    though help says they work (the core took them for one question of several)."""
    await h.command(ALICE)
    await h.dm(ALICE, "skip")  # this page needs an answer
    text = h.text_of(ALICE)
    assert "needs an answer" in text and "Is anyone in immediate danger" in text
    for page in REPORT_PAGES[:4]:
        await h.submit(ALICE, page)
    assert "When did it start?" in h.text_of(ALICE)
    await h.dm(ALICE, "back")
    assert "Where it happened" in h.text_of(ALICE)
    await h.dm(ALICE, "Back")  # the page before, not the same page again
    assert "Your personal details" in h.text_of(ALICE)
    await h.command(ALICE, "go back", channel=f"D{ALICE}")
    assert "What has been happening?" in h.text_of(ALICE)
    for page in REPORT_PAGES[1:3]:
        await h.submit(ALICE, page)
    assert "Where it happened" in h.text_of(ALICE)
    await h.dm(ALICE, "skip")  # as it stands: what was answered before is kept
    assert "When did it start?" in h.text_of(ALICE)
    await h.command(ALICE, "skip", channel=f"D{ALICE}")
    assert "Who is affected?" in h.text_of(ALICE)
    answers = await draft_answers(h, ALICE)
    assert answers["platforms"] == ["facebook"] and answers["links"] == ["https://facebook.com/p/1"]
    assert answers["started"] is None and answers["frequency"] is None
    await h.dm(ALICE, "back")
    assert "When did it start?" in h.text_of(ALICE)


async def test_page_controls_keep_what_was_ticked_or_typed(h: SlackHarness) -> None:
    """Finding: Pause, Help and Cancel -> "No, keep going" lost what was on the
    page: the press carries the page's inputs (`state.values`), now kept."""
    await h.command(ALICE)
    for page in REPORT_PAGES[:3]:
        await h.submit(ALICE, page)

    async def control(name: str, answers: dict[str, Any]) -> None:
        page = h.last_message(ALICE)
        button = find_button(page, f"{render.ACTION_CONTROL}.{name}")
        await h.act(ALICE, button, page, _state_for(page["blocks"], answers))

    def page_holds(answers: dict[str, Any]) -> None:
        page = h.last_message(ALICE)
        for question, value in answers.items():
            assert shown_on_page(page, question) == value, question

    typed = {"platforms": ["instagram"], "links": "https://instagram.com/p/9", "evidence": "two"}
    await control("help", typed)
    assert "Help: Report online abuse" in h.text_of(ALICE)
    page_holds(typed)

    typed = {"platforms": ["x", "tiktok"], "links": "https://x.com/p/1", "evidence": "a saved DM"}
    await control("cancel", typed)
    assert "Discard this draft?" in h.text_of(ALICE)
    await h.press(ALICE, render.ACTION_CHOICE + ".no")
    assert "Good, let's carry on." in h.text_of(ALICE)
    page_holds(typed)

    typed = {"platforms": ["reddit"], "links": "https://reddit.com/r/1", "evidence": "notes"}
    await control("pause", typed)
    assert "draft is saved" in h.text_of(ALICE)
    await h.command(ALICE, channel=f"D{ALICE}")
    await h.press(ALICE, render.ACTION_CHOICE + ".0")  # "Carry on with my draft"
    assert "Welcome back" in h.text_of(ALICE)
    page_holds(typed)
    await h.submit(ALICE, typed)
    answers = await draft_answers(h, ALICE)
    assert answers["platforms"] == ["reddit"] and answers["evidence"] == "notes"


async def test_command_in_harbours_own_dm_after_a_restart_is_answered_there(
    h: SlackHarness,
) -> None:
    """Finding: `/report-abuse` in Harbour's DM, with the DM not yet known to
    this process, got "I've sent you a private message… never in a channel"."""
    response = await h.command(
        ALICE, "help", channel=f"D{ALICE}", response_url=h.fake.response_url()
    )
    assert response.status == 200
    assert await response.text() == ""
    assert "/report-abuse mine" in h.text_of(ALICE)
    assert h.fake.responses() == []


async def test_command_in_a_dm_between_people_answers_in_harbours_dm(h: SlackHarness) -> None:
    response = await h.command(
        ALICE,
        "help",
        channel="D0ALICEBOB",
        channel_name="directmessage",
        response_url=h.fake.response_url("alice-bob"),
    )
    assert await response.text() == ""
    [note] = h.fake.responses()
    assert note["response_type"] == "ephemeral" and "private message" in note["text"]
    assert "/report-abuse mine" in h.text_of(ALICE)
    assert h.fake.posts("D0ALICEBOB") == []
    # Known now: the next one is told at once.
    again = await h.command(ALICE, "help", channel="D0ALICEBOB", channel_name="directmessage")
    assert "private message" in (await again.json())["text"]


async def test_a_modal_page_opens_after_a_restart(h: SlackHarness, restart: Restart) -> None:
    """Finding: pages in modals were kept only in memory, so after a restart
    "Answer these questions" showed help instead of the page."""
    h.fake.reject_inputs = True
    await h.command(ALICE)
    launcher = h.last_message(ALICE)
    assert "Answer these questions" in json.dumps(launcher["blocks"])
    later = await restart(h)
    await later.press(ALICE, render.ACTION_OPEN, message=launcher)
    [opened] = await until(lambda: later.fake.called("views.open"))
    view = opened["view"]
    assert "Is anyone in immediate danger" in json.dumps(view)
    submission = {
        "type": "view_submission",
        "user": {"id": ALICE, "team_id": TEAM},
        "team": {"id": TEAM},
        "view": {
            "type": "modal",
            "id": "V1",
            "hash": "h1",
            "callback_id": render.MODAL_CALLBACK,
            "private_metadata": view["private_metadata"],
            "state": {"values": _state_for(view["blocks"], REPORT_PAGES[0])},
        },
    }
    await later.post(interaction_body(submission), FORM)
    await later.slack.drain()
    assert "What has been happening?" in later.text_of(ALICE)
    # The first page's launcher again, in yet another process: it was answered.
    last = await restart(later)
    await last.press(ALICE, render.ACTION_OPEN, message=launcher)
    await until(lambda: "already been answered" in last.text_of(ALICE))
    assert "already been answered" in last.text_of(ALICE)
    assert "What has been happening?" in last.text_of(ALICE)
    assert len(last.fake.called("views.open")) == 1


def test_a_leads_channel_that_is_no_slack_channel_id_stops_the_start() -> None:
    slack = SlackSettings(bot_token="xoxb-test", signing_secret=SIGNING_SECRET, _env_file=None)  # type: ignore[call-arg]
    for bad in ("#safety-leads", "safety-leads", "c0123abcd", "19:leads@thread.tacv2", "C01"):
        directory = Directory(channels={"slack": bad})
        with pytest.raises(ConfigError, match=r"\[channels\] slack"):
            build(Settings(_env_file=None), slack, MemoryStore(), directory=directory)  # type: ignore[call-arg]
    for good in ("C0123ABCD", "G0PRIVATE1"):
        directory = Directory(channels={"slack": good})
        build(Settings(_env_file=None), slack, MemoryStore(), directory=directory)  # type: ignore[call-arg]


# ---------------------------------------------------------------- what Slack reads as markup

MARKUP = "<!channel> *bold* _it_ ~gone~ `code` <@U0BOSS> <https://x|y> & more"


def _texts(blocks: list[dict[str, Any]], kind: str) -> list[str]:
    return [
        t["text"]
        for b in blocks
        for t in [b.get("text") or {}, *b.get("elements", [])]
        if isinstance(t, dict) and t.get("type") == kind
    ]


def test_prose_is_plain_text_so_nothing_in_it_is_formatted_pinged_or_linked() -> None:
    """Slack's docs escape only &, < and >: *bold*, _it_, ~gone~ and `code` have no
    escape in mrkdwn, so someone's prose goes in plain_text, where none is read."""
    for reply in (Text(text=MARKUP), Notice(text=MARKUP, level=NoticeLevel.WARNING)):
        blocks = [b.to_dict() for b in render.reply_blocks(reply, ALICE)]
        assert not _texts(blocks, "mrkdwn")
        [shown] = _texts(blocks, "plain_text")
        assert MARKUP in shown  # as written: plain_text is shown as it is
    titled = [
        b.to_dict() for b in render.reply_blocks(Notice(title="A <b> & c", text=MARKUP), ALICE)
    ]
    assert _texts(titled, "mrkdwn") == [":information_source: *A &lt;b&gt; &amp; c*"]
    assert _texts(titled, "plain_text") == [MARKUP]


def test_the_notification_text_is_escaped_and_still_fits() -> None:
    said = render.fallback_text([Notice(title="<!channel> & <@U0BOSS>", text="x")])
    assert said == "&lt;!channel&gt; &amp; &lt;@U0BOSS&gt;"
    long = render.fallback_text([Notice(title="&" * 149, text="x")])
    assert len(long) <= render.HEADER_TEXT and long.endswith("&amp;…")  # no entity cut in two
    form = Form(id="f", title="<#C0GENERAL>", questions=(), focus="", token="t")
    assert render.fallback_text([form]) == "Harbour: &lt;#C0GENERAL&gt;"


def _several(n: int) -> ChoiceQuestion:
    options = tuple(Option(value=f"v{i}", label=f"Option {i}") for i in range(n))
    return ChoiceQuestion(
        id="pick", prompt="Who is affected?", options=options, multiple=True, token="t1"
    )


def test_a_question_of_several_choices_is_ticked_then_sent_with_ok() -> None:
    question = _several(3)
    blocks = [b.to_dict() for b in render.reply_blocks(question, ALICE)]
    ticks, send = (b for b in blocks if b["type"] == "actions")
    [boxes] = ticks["elements"]
    assert boxes["type"] == "checkboxes" and boxes["action_id"] == render.ACTION_TICK
    [ok] = send["elements"]
    assert ok["action_id"] == render.ACTION_CHOICES
    many = [b.to_dict() for b in render.reply_blocks(_several(30), ALICE)]
    assert [e["type"] for b in many if b["type"] == "actions" for e in b["elements"]] == [
        "multi_static_select",
        "button",
    ]

    def press(action: dict[str, Any], ticked: list[str], user: str = ALICE) -> Any:
        state = {ticks["block_id"]: {render.ACTION_TICK: {"type": "checkboxes"}}}
        state[ticks["block_id"]][render.ACTION_TICK]["selected_options"] = [
            {"value": v} for v in ticked
        ]
        body = {
            "user": {"id": user, "team_id": TEAM},
            "actions": [action],
            "container": {"message_ts": "1.0"},
            "state": {"values": state},
        }
        return translate.action_event(body)

    # A tick is only reported: nothing to do, nothing refused.
    ticked = press({**boxes, "block_id": ticks["block_id"]}, ["v0"])
    assert ticked.event is None and not ticked.refused
    sent = press({**ok, "block_id": send["block_id"]}, ["v0", "v2"])
    assert isinstance(sent.event, ChoiceMade)
    assert (sent.event.question, sent.event.token, sent.event.values) == (
        "pick",
        "t1",
        ("v0", "v2"),
    )
    assert press({**ok, "block_id": send["block_id"]}, ["v1"], user=BOB).refused == "not-yours"


async def test_a_tick_is_acknowledged_and_nothing_is_said(h: SlackHarness) -> None:
    await h.command(ALICE, "help", channel=f"D{ALICE}")
    before = len(h.fake.posts())
    message = {"ts": "1.0", "channel": f"D{ALICE}", "blocks": []}
    tick = {"type": "checkboxes", "action_id": render.ACTION_TICK, "block_id": "q|t1|pick"}
    response = await h.act(ALICE, {**tick, "selected_options": [{"value": "v0"}]}, message)
    assert response.status == 200
    assert len(h.fake.posts()) == before  # no "couldn't read that button press"
