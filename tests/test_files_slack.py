"""A file sent in Slack (`mydata`): signed slash commands into Harbour's real
bolt app, and a local fake Web API that plays the three calls of
files_upload_v2 (an upload URL, the bytes posted there, the upload completed
into her DM)."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer

from adapters.slack import render
from adapters.slack.config import SlackSettings
from bot.app import Harbour
from bot.config import Settings
from bot.models import FileReply, PersonRef, Platform, TextMessage
from bot.privacy import rights
from bot.privacy.audit import AuditAction
from bot.server import Server, build
from bot.store import MemoryStore, RecordKind, Store
from tests.conftest import TYPED_REPORT
from tests.fakes.slack import SIGNING_SECRET, TEAM, FakeSlack, command_body, signed_headers

ALICE, BOB = "U0ALICE", "U0BOB"
FORM = "application/x-www-form-urlencoded"
ALICE_SAID = "Slack-marker-8812 my car outside the office"
BOB_SAID = "Slack-marker-3390 about my daughter"


class Harness:
    def __init__(self, fake: FakeSlack, server: Server, client: TestClient[Any, Any]) -> None:
        self.fake = fake
        self.server = server
        self.client = client
        assert server.slack is not None
        self.slack = server.slack
        self.harbour: Harbour = server.harbour
        self.store: Store = server.harbour.store

    async def command(self, user: str, text: str, channel: str = "C0GENERAL") -> Any:
        body = command_body(user, text, channel=channel)
        headers = signed_headers(body, content_type=FORM)
        response = await self.client.post("/slack/events", data=body, headers=headers)
        assert response.status == 200
        await self.slack.drain()
        return response

    async def file_report(self, user: str, description: str) -> str:
        """A report filed in core events (the Slack pages are tests/test_slack.py's)."""
        who = PersonRef(platform=Platform.SLACK, workspace=TEAM, user=user)
        typed = [description if step == "description" else a for step, a in TYPED_REPORT]
        for text in ["report", *typed, "yes"]:
            await self.harbour.handle(TextMessage(event_id=uuid.uuid4().hex, person=who, text=text))
        [filed] = await self.store.reports_by(who)
        assert filed.answers.description == description
        return filed.reference


@pytest.fixture
async def h() -> AsyncIterator[Harness]:
    fake = FakeSlack()
    base_url = await fake.start()
    slack = SlackSettings(
        bot_token="xoxb-test", signing_secret=SIGNING_SECRET, api_url=base_url, _env_file=None
    )  # type: ignore[call-arg]
    server = build(Settings(_env_file=None), slack, MemoryStore())  # type: ignore[call-arg]
    client = TestClient(TestServer(server.web_app, host="127.0.0.1"))
    await client.start_server()
    try:
        yield Harness(fake, server, client)
    finally:
        await client.close()
        await fake.close()


async def test_mydata_is_uploaded_into_her_dm_with_her_data_only(h: Harness) -> None:
    await h.file_report(ALICE, ALICE_SAID)
    await h.file_report(BOB, BOB_SAID)
    await h.command(ALICE, "mydata")  # typed in a channel: the file still goes to her DM

    methods = [m for m, _ in h.fake.calls if m.startswith("files.") or m == "upload"]
    assert methods == ["files.getUploadURLExternal", "upload", "files.completeUploadExternal"]
    [asked] = h.fake.called("files.getUploadURLExternal")
    [sent] = h.fake.files_in(f"D{ALICE}")
    assert asked["filename"] == sent["title"]
    assert sent["title"].startswith("harbour-mydata-") and sent["title"].endswith(".json")
    assert int(asked["length"]) == len(sent["content"])
    assert sent["initial_comment"] == render.escape(rights.CAPTION)
    data = json.loads(sent["content"].decode("utf-8"))
    assert data["harbour_id"] == f"slack:{TEAM}:{ALICE}"
    assert ALICE_SAID in sent["content"].decode("utf-8")
    assert BOB_SAID not in sent["content"].decode("utf-8")
    assert [f["channel"] for f in h.fake.files] == [f"D{ALICE}"]  # never into a channel
    # Where her DM is was asked of Slack once and kept, as for every message.
    contact = await h.store.get_record(RecordKind.CONTACTS, f"slack:{TEAM}:{ALICE}")
    assert contact == {"slack_dm": f"D{ALICE}"}
    exported = [e for e in await h.store.audit_chain(None) if e.action is AuditAction.EXPORTED]
    assert [(e.actor, e.surface) for e in exported] == [(f"slack:{TEAM}:{ALICE}", "slack")]


async def test_a_refused_upload_is_said_kindly_and_names_the_missing_permission(
    h: Harness,
) -> None:
    h.fake.errors["files.getUploadURLExternal"] = "missing_scope"
    await h.command(ALICE, "mydata", channel=f"D{ALICE}")
    assert h.fake.files == []
    said = json.dumps(h.fake.posts(f"D{ALICE}")[-1]["blocks"])
    assert "I couldn't send you the file" in said
    assert "files:write" in said
    assert "Say /report-abuse mydata to try again" in said


async def test_a_failed_upload_step_is_said_without_the_permission_hint(h: Harness) -> None:
    h.fake.errors["files.completeUploadExternal"] = "internal_error"
    await h.command(ALICE, "mydata", channel=f"D{ALICE}")
    said = json.dumps(h.fake.posts(f"D{ALICE}")[-1]["blocks"])
    assert "I couldn't send you the file" in said and "files:write" not in said


async def test_a_file_in_an_alert_goes_only_to_a_person(h: Harness) -> None:
    """The messenger side (recovery, alerts): a file for a person is uploaded
    into her DM; one addressed to a channel is never uploaded anywhere."""
    from bot.alerts.messenger import Recipient

    made = FileReply(
        name="a.json", media_type="application/json", content=b'{"a": 1}', caption="Here it is."
    )
    person = Recipient(Platform.SLACK, "person", f"slack:{TEAM}:{ALICE}", "worker")
    await h.slack.send(person, [made])
    channel = Recipient(Platform.SLACK, "channel", "C0SAFETY", "leads")
    await h.slack.send(channel, [made])
    assert [(f["channel"], f["content"]) for f in h.fake.files] == [(f"D{ALICE}", b'{"a": 1}')]
