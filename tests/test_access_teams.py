"""The role matrix through Microsoft Teams: real-shaped activities posted over HTTP
to /api/messages on Harbour's server (the real Agents SDK adapter, in the local
trial), with a local fake Bot Connector recording every reply.

Every cell of tests/test_access_matrix.py's table is tried the way a Teams
user would (`cases HB-…` typed in the personal chat, an Action.Execute press on
a card's button, a form card filled in and confirmed), and the store says
whether it took effect. A button from a card sent to someone else is refused by
the adapter before the core ever sees it.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer

from adapters.slack.config import SlackSettings
from adapters.teams import cards
from adapters.teams.config import load_teams_settings
from bot.access import Action
from bot.cases import CASE_QUESTION
from bot.checkins import CHECKIN_QUESTION, TALK_QUESTION
from bot.config import Settings
from bot.models import ChoiceQuestion, Option, PersonRef, Platform
from bot.reports import ReportStatus
from bot.server import build
from bot.store import MemoryStore
from tests.fakes.teams import TENANT, FakeConnector, activity, execute
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

ADMIN = f"teams:{TENANT}:aad-admin"
LOCAL_TRIAL = {"HARBOUR_TEAMS_LOCAL_TRIAL": "true"}


def teams_person(user: str) -> PersonRef:
    """Who `tests.fakes.teams.activity(url, user)` is: from.aadObjectId is f"aad-{user}"."""
    return PersonRef(platform=Platform.TEAMS, workspace=TENANT, user=f"aad-{user}")


def _chat(user: str) -> str:
    return f"a:{user}-personal"


@pytest.fixture
async def fake() -> AsyncIterator[tuple[FakeConnector, str]]:
    fake = FakeConnector()
    service_url = await fake.start()
    try:
        yield fake, service_url
    finally:
        await fake.close()


class TeamsTry:
    def __init__(
        self, fake: FakeConnector, url: str, client: TestClient[Any, Any], w: World
    ) -> None:
        self.fake, self.url, self.client, self.w = fake, url, client, w
        self.user = w.actor.person.user.removeprefix("aad-")
        self.invoked: list[Any] = []  # what each press's invoke response said

    def mark(self) -> int:
        return len(self.fake.cards(_chat(self.user)))

    def since(self, mark: int) -> list[dict[str, Any]]:
        return self.fake.cards(_chat(self.user))[mark:]

    def said(self, mark: int) -> str:
        return json.dumps(self.since(mark), ensure_ascii=False)

    async def say(self, text: str) -> str:
        mark = self.mark()
        response = await self.client.post(
            "/api/messages", json=activity(self.url, self.user, text=text)
        )
        assert response.status in (200, 201, 202), await response.text()
        return self.said(mark)

    async def execute(self, data: dict[str, Any]) -> str:
        mark = self.mark()
        response = await self.client.post("/api/messages", json=execute(self.url, self.user, data))
        assert response.status == 200, await response.text()
        self.invoked.append(await response.json())
        return self.said(mark)

    async def press(self, question: str, token: str, value: str, owner: str | None = None) -> str:
        """The button cards.py puts on a ChoiceQuestion, on this person's own card."""
        asked = ChoiceQuestion(
            id=question,
            prompt="What would you like to do?",
            options=(Option(value=value, label=value),),
            token=token,
        )
        _, [button] = cards.reply_parts(asked, owner or self.w.actor.person.user)
        return await self.execute(button["data"])

    async def case(self, action: Action) -> str:
        return await self.press(f"{CASE_QUESTION}{self.w.ref}", self.w.ref, action.value)

    async def form(self, action: Action, inputs: dict[str, Any]) -> None:
        """Press the button; if a form card came back, submit it and confirm the review."""
        mark = self.mark()
        await self.case(action)
        submit = _button(self.since(mark), lambda hb: hb.get("kind") == "submit")
        if submit is None:
            return
        mark = self.mark()
        await self.execute({**submit["data"], **inputs})
        yes = _button(self.since(mark), lambda hb: hb.get("value") == "yes")
        assert yes is not None, f"no review card after the form: {self.said(mark)}"
        await self.execute(yes["data"])


def _button(
    sent: list[dict[str, Any]], which: Callable[[dict[str, Any]], bool]
) -> dict[str, Any] | None:
    """The last button on these cards whose Harbour data matches."""
    found = [
        a
        for card in sent
        for a in card.get("actions", [])
        if isinstance(a.get("data", {}).get(cards.KEY), dict) and which(a["data"][cards.KEY])
    ]
    return found[-1] if found else None


async def teams_world(
    connector: tuple[FakeConnector, str], role: str, audience: str
) -> tuple[TeamsTry, TestClient[Any, Any]]:
    fake, service_url = connector
    settings = Settings(_env_file=None, admins=ADMIN)  # type: ignore[call-arg]
    store = MemoryStore()
    server = build(
        settings,
        SlackSettings(_env_file=None),  # type: ignore[call-arg]
        store,
        load_teams_settings(LOCAL_TRIAL),
        directory=directory_for(role, teams_person),
    )
    assert server.teams is not None
    client = TestClient(TestServer(server.web_app, host="127.0.0.1"))
    await client.start_server()
    w = await world(role, audience, settings=settings, harbour=server.harbour, person=teams_person)
    return TeamsTry(fake, service_url, client, w), client


async def view(t: TeamsTry) -> bool:
    said = await t.say(f"cases {t.w.ref}")
    seen = f"{t.w.ref}, filed" in said
    if seen:
        assert SECRET in said
        assert (TEAM_NOTE in said) is (t.w.actor.person != t.w.reporter)
    return seen


async def audit(t: TeamsTry) -> bool:
    said = await t.say(f"audit {t.w.ref}")
    return f"Audit of {t.w.ref}" in said or f"Who has seen {t.w.ref}" in said


async def listed(t: TeamsTry) -> bool:
    return t.w.ref in await t.say("cases")


async def ack(t: TeamsTry) -> bool:
    await t.case(Action.ACKNOWLEDGE)
    return (await t.w.report()).acknowledged_by == t.w.actor.person.key


async def claim(t: TeamsTry) -> bool:
    await t.case(Action.CLAIM)
    return (await t.w.report()).claimed_by == t.w.actor.person.key


def _count(report: Any, what: str, key: str) -> int:
    return sum(e.action == what and e.actor == key for e in report.timeline)


async def _logged(t: TeamsTry, what: str, act: Callable[[], Awaitable[Any]]) -> bool:
    before = _count(await t.w.report(), what, t.w.actor.person.key)
    await act()
    return _count(await t.w.report(), what, t.w.actor.person.key) > before


async def escalate(t: TeamsTry) -> bool:
    return await _logged(t, "escalated", lambda: t.case(Action.ESCALATE))


async def note(t: TeamsTry) -> bool:
    return await _logged(t, "note", lambda: t.form(Action.NOTE, {"note": "Rang her at 4."}))


async def record(t: TeamsTry) -> bool:
    return await _logged(
        t, "action", lambda: t.form(Action.RECORD_ACTION, {"what": "police", "note": ""})
    )


async def close(t: TeamsTry) -> bool:
    await t.form(Action.CLOSE, {"what": "resolved", "note": ""})
    return (await t.w.report()).status is ReportStatus.CLOSED


async def schedule(t: TeamsTry) -> bool:
    before = len((await t.w.report()).checkins)
    await t.form(Action.SCHEDULE_CHECKINS, {"what": "1"})
    return len((await t.w.report()).checkins) > before


async def take_talk(t: TeamsTry) -> bool:
    await t.press(f"{TALK_QUESTION}{t.w.ref}:{t.w.talk}", t.w.talk, "take")
    report = await t.w.report()
    return next(c for c in report.checkins if c.id == t.w.talk).talk_taken_by == (
        t.w.actor.person.key
    )


async def answer(t: TeamsTry) -> bool:
    await t.press(f"{CHECKIN_QUESTION}{t.w.ref}:{t.w.sent}", t.w.sent, "ok")
    report = await t.w.report()
    return next(c for c in report.checkins if c.id == t.w.sent).answer == "ok"


async def _started(t: TeamsTry, command: str, flow: str) -> bool:
    await t.say(f"{command} {t.w.ref}")
    session = await t.w.store.load_session(t.w.actor.person)
    draft = session.drafts.get(flow) if session else None
    return draft is not None and draft.subject == t.w.ref


async def update(t: TeamsTry) -> bool:
    return await _started(t, "update", "update")


async def reflect(t: TeamsTry) -> bool:
    return await _started(t, "reflect", "reflect")


async def share(t: TeamsTry) -> bool:
    return await _logged(t, "shared", lambda: t.say(f"share {t.w.ref}"))


async def admin(t: TeamsTry) -> bool:
    await t.say(f"admin lead add teams:{TENANT}:aad-newlead")
    return t.w.harbour.directory.is_lead(teams_person("newlead"))


TEAMS_TRIES: dict[Action | str, Callable[[TeamsTry], Awaitable[bool]]] = {
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


def test_every_action_can_be_tried_in_teams() -> None:
    assert set(TEAMS_TRIES) == set(ACTIONS)


@pytest.mark.parametrize("audience", AUDIENCES)
@pytest.mark.parametrize("role", ROLES)
async def test_role_matrix_through_teams(
    fake: tuple[FakeConnector, str], role: str, audience: str
) -> None:
    """One case per role and audience; each action on a fresh server and report."""
    for action in ACTIONS:
        start = len(fake[0].requests)
        t, client = await teams_world(fake, role, audience)
        try:
            allowed = await TEAMS_TRIES[action](t)
        finally:
            await client.close()
        expected = action in EXPECTED[role][audience]
        assert allowed is expected, f"Teams: {role} / {audience} / {action}: allowed={allowed}"
        own_chat = f"/conversations/{_chat(t.user)}/"
        for request in fake[0].requests[start:]:
            # Nothing of the report leaves the actor's own chat, and a refusal never quotes it.
            if own_chat not in request["path"] + "/" or not expected:
                assert SECRET not in json.dumps(request["body"]), (role, audience, action)
        for response in t.invoked:  # the card that replaces a pressed one
            assert SECRET not in json.dumps(response), (role, audience, action)


async def test_a_button_from_someone_elses_card_is_refused(
    fake: tuple[FakeConnector, str],
) -> None:
    t, client = await teams_world(fake, "stranger", "manager and leads")
    try:
        before = await t.w.report()
        bob = teams_person("bob").user
        said = await t.press(f"{CASE_QUESTION}{t.w.ref}", t.w.ref, "ack", owner=bob)
        assert "someone else's private conversation" in said
        assert "Not changed" in json.dumps(t.invoked[-1])
        report = await t.w.report()
        assert report.acknowledged_by is None and report.status is ReportStatus.OPEN
        assert report.timeline == before.timeline  # the core never saw it
        assert SECRET not in json.dumps(fake[0].sent())
    finally:
        await client.close()
