"""A file sent in Teams (`mydata`): real-shaped activities posted to Harbour's
server (the real Agents SDK, local trial), with a local fake Bot Connector that
also stands in for her OneDrive upload session. Teams sends a file in a
personal chat only after she accepts it (the file consent card), so the file
waits in the store meanwhile, for whichever instance her answer reaches."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer

from adapters.slack.config import SlackSettings
from adapters.teams import cards
from adapters.teams.config import load_teams_settings
from bot.app import Harbour
from bot.config import Settings
from bot.models import FileReply, PersonRef, Platform, TextMessage
from bot.privacy.audit import AuditAction
from bot.server import Server, build
from bot.store import MemoryStore, RecordKind, Store
from tests.conftest import TYPED_REPORT
from tests.fakes.teams import TENANT, FakeConnector, activity, file_consent

ALICE_SAID = "Teams-marker-6604 photos of my front door"
BOB_SAID = "Teams-marker-1187 posts about my partner"
ALICE_CHAT, BOB_CHAT = "a:alice-personal", "a:bob-personal"


def person(user: str) -> PersonRef:
    return PersonRef(platform=Platform.TEAMS, workspace=TENANT, user=f"aad-{user}")


class Harness:
    def __init__(self, fake: FakeConnector, url: str, servers: list[Server]) -> None:
        self.fake = fake
        self.url = url
        self.servers = servers
        self.clients: list[TestClient[Any, Any]] = []
        self.harbour: Harbour = servers[0].harbour
        self.store: Store = self.harbour.store

    async def post(self, body: dict[str, Any], instance: int = 0) -> Any:
        return await self.clients[instance].post("/api/messages", json=body)

    async def say(self, text: str, user: str = "alice") -> None:
        response = await self.post(activity(self.url, user, text=text))
        assert response.status in (200, 201, 202), await response.text()

    async def file_report(self, user: str, description: str) -> str:
        """A report filed in core events (the Teams pages are tests/test_teams.py's)."""
        who = person(user)
        typed = [description if step == "description" else a for step, a in TYPED_REPORT]
        for text in ["report", *typed, "yes"]:
            await self.harbour.handle(TextMessage(event_id=uuid.uuid4().hex, person=who, text=text))
        [filed] = await self.store.reports_by(who)
        return filed.reference

    def offers(self, chat: str = ALICE_CHAT) -> list[dict[str, Any]]:
        return self.fake.attachments(chat, cards.FILE_CONSENT_TYPE)

    async def answer(
        self, action: str, context: dict[str, Any], user: str = "alice", instance: int = 0
    ) -> Any:
        info = self.fake.upload_info("harbour-mydata.json") if action == "accept" else None
        response = await self.post(file_consent(self.url, user, action, context, info), instance)
        return response


@pytest.fixture
async def t() -> AsyncIterator[Harness]:
    """Two Harbour instances on one store, as behind a load balancer."""
    fake = FakeConnector()
    url = await fake.start()
    store = MemoryStore()
    settings = Settings(_env_file=None)  # type: ignore[call-arg]
    teams = load_teams_settings({"HARBOUR_TEAMS_LOCAL_TRIAL": "true"})
    servers = [build(settings, SlackSettings(_env_file=None), store, teams) for _ in range(2)]  # type: ignore[call-arg]
    harness = Harness(fake, url, servers)
    for server in servers:
        client = TestClient(TestServer(server.web_app, host="127.0.0.1"))
        await client.start_server()
        harness.clients.append(client)
    try:
        yield harness
    finally:
        for client in harness.clients:
            await client.close()
        await fake.close()


async def test_mydata_asks_her_first_then_uploads_and_shows_the_file(t: Harness) -> None:
    await t.file_report("alice", ALICE_SAID)
    await t.file_report("bob", BOB_SAID)
    await t.say("mydata")

    [offer] = t.offers()
    assert offer["name"].startswith("harbour-mydata-") and offer["name"].endswith(".json")
    content = offer["content"]
    assert "personal information" in content["description"]
    token = content["acceptContext"][cards.FILE_KEY]
    assert content["declineContext"] == content["acceptContext"]
    waiting = await t.store.get_record(RecordKind.OUTGOING_FILES, token)
    assert waiting is not None and waiting["person"] == person("alice").key
    assert ALICE_SAID not in json.dumps(offer)  # the card says what it is, never what is in it

    response = await t.answer("accept", content["acceptContext"], instance=1)  # the other one
    assert response.status == 200

    [upload] = t.fake.uploads.values()
    size = content["sizeInBytes"]
    assert len(upload["content"]) == size
    assert upload["range"] == f"bytes 0-{size - 1}/{size}"
    text = upload["content"].decode("utf-8")
    assert json.loads(text)["harbour_id"] == person("alice").key
    assert ALICE_SAID in text and BOB_SAID not in text
    [shown] = t.fake.attachments(ALICE_CHAT, cards.FILE_INFO_TYPE)
    info = t.fake.upload_info("harbour-mydata.json")
    assert shown["contentUrl"] == info["contentUrl"]
    assert shown["content"] == {"uniqueId": info["uniqueId"], "fileType": "json"}
    assert await t.store.get_record(RecordKind.OUTGOING_FILES, token) is None  # sent: forgotten
    exported = [e for e in await t.store.audit_chain(None) if e.action is AuditAction.EXPORTED]
    assert [(e.actor, e.surface) for e in exported] == [(person("alice").key, "teams")]

    # Accepting the same card again sends nothing more: the file went once.
    await t.answer("accept", content["acceptContext"])
    assert len(t.fake.uploads) == 1
    assert "no longer waiting" in json.dumps(t.fake.cards(ALICE_CHAT)[-1])


async def test_declining_sends_nothing_and_says_how_to_ask_again(t: Harness) -> None:
    await t.say("mydata")
    [offer] = t.offers()
    context = offer["content"]["declineContext"]
    response = await t.answer("decline", context)
    assert response.status == 200
    assert t.fake.uploads == {}
    said = json.dumps(t.fake.cards(ALICE_CHAT)[-1])
    assert "No problem: I haven't sent the file" in said and "say mydata" in said
    assert await t.store.records(RecordKind.OUTGOING_FILES) == {}


async def test_someone_else_cannot_take_her_file(t: Harness) -> None:
    await t.say("mydata")
    [offer] = t.offers()
    context = offer["content"]["acceptContext"]
    response = await t.answer("accept", context, user="bob")
    assert response.status == 200
    assert t.fake.uploads == {}
    assert "no longer waiting" in json.dumps(t.fake.cards(BOB_CHAT)[-1])
    token = context[cards.FILE_KEY]
    assert await t.store.get_record(RecordKind.OUTGOING_FILES, token) is not None  # still hers


async def test_a_file_not_accepted_within_a_day_is_gone(t: Harness) -> None:
    await t.say("mydata")
    [offer] = t.offers()
    token = offer["content"]["acceptContext"][cards.FILE_KEY]
    record = await t.store.get_record(RecordKind.OUTGOING_FILES, token)
    assert record is not None
    await t.store.put_record(
        RecordKind.OUTGOING_FILES, token, {**record, "expires_at": "2020-01-01T00:00:00+00:00"}
    )
    await t.answer("accept", offer["content"]["acceptContext"])
    assert t.fake.uploads == {}
    assert await t.store.get_record(RecordKind.OUTGOING_FILES, token) is None


async def test_an_upload_that_fails_says_so_and_answers_teams(t: Harness) -> None:
    await t.say("mydata")
    [offer] = t.offers()
    t.fake.upload_failures = [403]
    response = await t.answer("accept", offer["content"]["acceptContext"])
    assert response.status == 200
    assert t.fake.attachments(ALICE_CHAT, cards.FILE_INFO_TYPE) == []
    assert "I couldn't send you the file" in json.dumps(t.fake.cards(ALICE_CHAT)[-1])


def test_a_small_picture_is_shown_in_the_chat_and_anything_else_is_offered() -> None:
    """A chart (a small PNG) goes in a card as a data URI: Teams caps a bot's
    message near 100 KB, so a larger picture, or any other file, is offered
    with a consent card instead."""

    def file(media_type: str, size: int) -> FileReply:
        return FileReply(
            name="f.png",
            media_type=media_type,
            content=b"\x89PNG" + b"0" * size,
            caption="A chart.",
        )

    assert cards.shown_inline(file("image/png", 30_000))
    assert not cards.shown_inline(file("image/png", 70_000))
    assert not cards.shown_inline(file("application/pdf", 1_000))
    shown = cards.image_card(file("image/png", 10))
    [words, picture] = shown["body"]
    assert picture["url"].startswith("data:image/png;base64,") and picture["altText"] == "A chart."
    assert words["inlines"][0]["text"] == "A chart."
