"""The role matrix through Slack: signed, real-shaped slash commands and button
presses posted over HTTP to the real bolt app, with a local fake Slack Web API.

Every cell of tests/test_access_matrix.py's table is tried the way a Slack
user would (`/report-abuse cases HB-…`, a press on an alert's button, a form
filled in and confirmed in the DM), and the store says whether it took effect.
A button pressed from someone else's message is refused by the adapter before
the core ever sees it.
"""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer

from adapters.slack import render
from adapters.slack.config import SlackSettings
from bot.access import Action
from bot.cases import CASE_QUESTION
from bot.checkins import CHECKIN_QUESTION, TALK_QUESTION
from bot.config import Settings
from bot.models import PersonRef, Platform
from bot.reports import ReportStatus
from bot.server import build
from bot.store import MemoryStore
from tests.fakes.slack import SIGNING_SECRET, TEAM, FakeSlack
from tests.test_access_matrix import (
    ACTIONS,
    ADMIN_COMMANDS,
    AUDIENCES,
    EXPECTED,
    ROLES,
    SECRET,
    TEAM_NOTE,
    World,
    directory_for,
    world,
)
from tests.test_slack import SlackHarness


def slack_person(user: str) -> PersonRef:
    return PersonRef(platform=Platform.SLACK, workspace=TEAM, user=f"U0{user.upper()}")


@pytest.fixture
async def fake() -> AsyncIterator[tuple[FakeSlack, str]]:
    fake = FakeSlack()
    base_url = await fake.start()
    try:
        yield fake, base_url
    finally:
        await fake.close()


async def slack_world(
    slack_api: tuple[FakeSlack, str], role: str, audience: str
) -> tuple[SlackHarness, World, TestClient[Any, Any]]:
    fake, base_url = slack_api
    settings = Settings(_env_file=None, admins=f"slack:{TEAM}:U0ADMIN")  # type: ignore[call-arg]
    slack = SlackSettings(
        bot_token="xoxb-test",
        signing_secret=SIGNING_SECRET,
        api_url=base_url,
        _env_file=None,  # type: ignore[call-arg]
    )
    store = MemoryStore()
    server = build(settings, slack, store, directory=directory_for(role, slack_person))
    client = TestClient(TestServer(server.web_app, host="127.0.0.1"))
    await client.start_server()
    w = await world(role, audience, settings=settings, harbour=server.harbour, person=slack_person)
    return SlackHarness(fake, server, client, store), w, client


def _said(h: SlackHarness, user: str, since: int) -> str:
    return json.dumps(h.fake.posts(f"D{user}")[since:], ensure_ascii=False)


class SlackTry:
    def __init__(self, h: SlackHarness, w: World) -> None:
        self.h, self.w = h, w
        self.user = w.actor.person.user

    def mark(self) -> int:
        return len(self.h.fake.posts(f"D{self.user}"))

    async def command(self, text: str) -> str:
        since = self.mark()
        await self.h.command(self.user, text, channel=f"D{self.user}")
        return _said(self.h, self.user, since)

    async def press(self, question: str, token: str, value: str, owner: str | None = None) -> str:
        since = self.mark()
        button = {
            "type": "button",
            "action_id": f"{render.ACTION_CHOICE}.0",
            "value": render.pack(owner or self.user, question, token, value),
            "block_id": "b0",
            "action_ts": f"{time.monotonic_ns()}",
        }
        message = {"ts": f"{time.time():.6f}", "channel": f"D{self.user}", "blocks": []}
        await self.h.act(self.user, button, message)
        return _said(self.h, self.user, since)

    async def case(self, action: Action) -> str:
        return await self.press(f"{CASE_QUESTION}{self.w.ref}", self.w.ref, action.value)

    async def form(self, action: Action, answers: dict[str, Any]) -> None:
        said = await self.case(action)
        if '"type": "input"' not in said:
            return
        await self.h.submit(self.user, answers)
        await self.h.press(self.user, f"{render.ACTION_CHOICE}.yes")


async def view(t: SlackTry) -> bool:
    said = await t.command(f"cases {t.w.ref}")
    seen = f"{t.w.ref}, filed" in said
    if seen:
        assert SECRET in said
        assert (TEAM_NOTE in said) is (t.w.actor.person != t.w.reporter)
    return seen


async def audit(t: SlackTry) -> bool:
    said = await t.command(f"audit {t.w.ref}")
    return f"Audit of {t.w.ref}" in said or f"Who has seen {t.w.ref}" in said


async def listed(t: SlackTry) -> bool:
    return t.w.ref in await t.command("cases")


async def ack(t: SlackTry) -> bool:
    await t.case(Action.ACKNOWLEDGE)
    return (await t.w.report()).acknowledged_by == t.w.actor.person.key


async def claim(t: SlackTry) -> bool:
    await t.case(Action.CLAIM)
    return (await t.w.report()).claimed_by == t.w.actor.person.key


def _count(report: Any, what: str, key: str) -> int:
    return sum(e.action == what and e.actor == key for e in report.timeline)


async def _logged(t: SlackTry, what: str, act: Callable[[], Awaitable[Any]]) -> bool:
    before = _count(await t.w.report(), what, t.w.actor.person.key)
    await act()
    return _count(await t.w.report(), what, t.w.actor.person.key) > before


async def escalate(t: SlackTry) -> bool:
    return await _logged(t, "escalated", lambda: t.case(Action.ESCALATE))


async def note(t: SlackTry) -> bool:
    return await _logged(t, "note", lambda: t.form(Action.NOTE, {"note": "Rang her at 4."}))


async def record(t: SlackTry) -> bool:
    return await _logged(
        t, "action", lambda: t.form(Action.RECORD_ACTION, {"what": ["police"], "note": None})
    )


async def close(t: SlackTry) -> bool:
    await t.form(Action.CLOSE, {"what": ["resolved"], "note": None})
    return (await t.w.report()).status is ReportStatus.CLOSED


async def schedule(t: SlackTry) -> bool:
    before = len((await t.w.report()).checkins)
    await t.form(Action.SCHEDULE_CHECKINS, {"what": ["1"]})
    return len((await t.w.report()).checkins) > before


async def take_talk(t: SlackTry) -> bool:
    await t.press(f"{TALK_QUESTION}{t.w.ref}:{t.w.talk}", t.w.talk, "take")
    report = await t.w.report()
    return next(c for c in report.checkins if c.id == t.w.talk).talk_taken_by == (
        t.w.actor.person.key
    )


async def answer(t: SlackTry) -> bool:
    await t.press(f"{CHECKIN_QUESTION}{t.w.ref}:{t.w.sent}", t.w.sent, "ok")
    report = await t.w.report()
    return next(c for c in report.checkins if c.id == t.w.sent).answer == "ok"


async def _started(t: SlackTry, command: str, flow: str) -> bool:
    await t.command(f"{command} {t.w.ref}")
    session = await t.w.store.load_session(t.w.actor.person)
    draft = session.drafts.get(flow) if session else None
    return draft is not None and draft.subject == t.w.ref


async def update(t: SlackTry) -> bool:
    return await _started(t, "update", "update")


async def reflect(t: SlackTry) -> bool:
    return await _started(t, "reflect", "reflect")


async def share(t: SlackTry) -> bool:
    return await _logged(t, "shared", lambda: t.command(f"share {t.w.ref}"))


async def admin(t: SlackTry) -> bool:
    await t.command("admin lead add <@U0NEWLEAD>")
    return t.w.harbour.directory.is_lead(slack_person("newlead"))


SLACK_TRIES: dict[Action | str, Callable[[SlackTry], Awaitable[bool]]] = {
    Action.VIEW: view,
    Action.LIST: listed,
    Action.ACKNOWLEDGE: ack,
    Action.CLAIM: claim,
    Action.RECORD_ACTION: record,
    Action.NOTE: note,
    Action.ESCALATE: escalate,
    Action.CLOSE: close,
    Action.SCHEDULE_CHECKINS: schedule,
    Action.TAKE_TALK: take_talk,
    Action.ANSWER_CHECKIN: answer,
    Action.UPDATE: update,
    Action.REFLECT: reflect,
    Action.SHARE: share,
    Action.READ_AUDIT: audit,
    ADMIN_COMMANDS: admin,
}


def test_every_action_can_be_tried_in_slack() -> None:
    assert set(SLACK_TRIES) == set(ACTIONS)


@pytest.mark.parametrize("audience", AUDIENCES)
@pytest.mark.parametrize("role", ROLES)
async def test_role_matrix_through_slack(
    fake: tuple[FakeSlack, str], role: str, audience: str
) -> None:
    """One Slack server per role and audience; each action on a fresh report."""
    for action in ACTIONS:
        start = len(fake[0].posts())
        h, w, client = await slack_world(fake, role, audience)
        try:
            allowed = await SLACK_TRIES[action](SlackTry(h, w))
        finally:
            await client.close()
        expected = action in EXPECTED[role][audience]
        assert allowed is expected, f"Slack: {role} / {audience} / {action}: allowed={allowed}"
        for post in fake[0].posts()[start:]:
            # Nothing of the report ever reaches a channel, and a refusal never quotes it.
            if not post["channel"].startswith("D") or not expected:
                assert SECRET not in json.dumps(post), (role, audience, action)


async def test_a_button_from_someone_elses_message_is_refused(
    fake: tuple[FakeSlack, str],
) -> None:
    h, w, client = await slack_world(fake, "stranger", "manager and leads")
    try:
        bob = slack_person("bob").user
        said = await SlackTry(h, w).press(f"{CASE_QUESTION}{w.ref}", w.ref, "ack", owner=bob)
        assert "someone else" in said
        report = await w.report()
        assert report.acknowledged_by is None and report.status is ReportStatus.OPEN
    finally:
        await client.close()
