"""Files a worker shares in her Teams personal chat with Harbour become evidence
(issue 15): the adapter fetches their bytes in her turn and the core checks
and keeps them. Real-shaped activities are posted to Harbour's server (the
real Agents SDK, local trial); a local fake Bot Connector serves the files,
as her OneDrive's pre-authorised downloadUrl (no token) or as a picture
pasted into the chat (the bot's token only)."""

from __future__ import annotations

import io
import json
import logging
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer
from microsoft_agents.activity import Activity
from microsoft_agents.hosting.core import (
    AgentAuthConfiguration,
    AnonymousTokenProvider,
    ConnectionManager,
)
from PIL import Image

from adapters.slack.config import SlackSettings
from adapters.teams import translate
from adapters.teams.config import load_teams_settings
from adapters.teams.files import may_send_token
from bot.app import Harbour
from bot.config import Settings
from bot.evidence.intake import EVIDENCE_MAX_BYTES
from bot.evidence.log import file_digest, first_broken
from bot.models import PersonRef, Platform, TextMessage
from bot.reports import Report
from bot.server import Server, build
from bot.store import MemoryStore, Store
from tests.conftest import TYPED_REPORT
from tests.fakes.teams import TENANT, FakeConnector, activity, file_attachment, pasted_picture


def png(width: int = 4, height: int = 3, colour: str = "teal") -> bytes:
    """A real picture, small enough to be a screenshot's crop."""
    out = io.BytesIO()
    Image.new("RGB", (width, height), colour).save(out, format="PNG")
    return out.getvalue()


PNG = png()
OTHER_PNG = png(colour="orange")
PROGRAM = b"MZ\x90\x00\x03\x00\x00\x00\x04\x00" + bytes(50)
ALICE_CHAT = "a:alice-personal"
BOT_TOKEN = "bot-token-7731"
FORM_ANSWERS = 8
"""The evidence form's questions, each skippable, before its summary."""


class FixedToken(AnonymousTokenProvider):
    """What Entra would give the bot (MSAL is not run here)."""

    async def get_access_token(
        self, resource_url: str, scopes: list[str], force_refresh: bool = False
    ) -> str:
        return BOT_TOKEN


class Harness:
    def __init__(self, fake: FakeConnector, url: str, server: Server) -> None:
        self.fake = fake
        self.url = url
        self.server = server
        self.harbour: Harbour = server.harbour
        self.store: Store = self.harbour.store
        self.client: TestClient[Any, Any] | None = None
        self.alice = PersonRef(platform=Platform.TEAMS, workspace=TENANT, user="aad-alice")

    async def post(self, body: dict[str, Any]) -> None:
        assert self.client is not None
        response = await self.client.post("/api/messages", json=body)
        assert response.status in (200, 201, 202), await response.text()

    async def say(self, text: str) -> None:
        await self.post(activity(self.url, "alice", text=text))

    async def share(self, *attachments: dict[str, Any]) -> None:
        await self.post(activity(self.url, "alice", text="", attachments=list(attachments)))

    async def file_report(self) -> str:
        """A report filed in core events (the Teams pages are tests/test_teams.py's)."""
        for text in ["report", *(a for _, a in TYPED_REPORT), "yes"]:
            await self.harbour.handle(
                TextMessage(event_id=uuid.uuid4().hex, person=self.alice, text=text)
            )
        [filed] = await self.store.reports_by(self.alice)
        return filed.reference

    async def finish_form(self) -> None:
        for _ in range(FORM_ANSWERS):
            await self.say("skip")
        await self.say("yes")

    async def case(self, reference: str) -> Report:
        report = await self.store.get_report(reference)
        assert report is not None
        return report

    def said(self) -> str:
        """Everything Harbour sent to her chat, as one text."""
        return json.dumps(self.fake.cards(ALICE_CHAT))

    def last(self) -> str:
        return json.dumps(self.fake.cards(ALICE_CHAT)[-1])


@pytest.fixture
async def t() -> AsyncIterator[Harness]:
    fake = FakeConnector()
    url = await fake.start()
    settings = Settings(_env_file=None)  # type: ignore[call-arg]
    teams = load_teams_settings({"HARBOUR_TEAMS_LOCAL_TRIAL": "true"})
    server = build(settings, SlackSettings(_env_file=None), MemoryStore(), teams)  # type: ignore[call-arg]
    harness = Harness(fake, url, server)
    harness.client = TestClient(TestServer(server.web_app, host="127.0.0.1"))
    await harness.client.start_server()
    try:
        yield harness
    finally:
        await harness.client.close()
        await fake.close()


def with_bot_token(t: Harness) -> None:
    """The adapter as with a real app registration: the bot has a token."""
    assert t.server.teams is not None
    t.server.teams.connections = ConnectionManager(
        provider_factory=lambda _config: FixedToken(),
        connections_configurations={"SERVICE_CONNECTION": AgentAuthConfiguration()},
    )


async def test_a_png_shared_in_the_evidence_form_is_kept_with_its_hash(t: Harness) -> None:
    reference = await t.file_report()
    await t.say(f"add evidence {reference}")
    url = t.fake.share("shot-1", PNG, media_type="image/png")
    await t.share(file_attachment("shot.png", url))

    assert "Kept shot.png safely" in t.said()
    [fetched] = t.fake.file_requests
    assert fetched["auth"] is None  # a pre-authorised link never gets the bot's token
    await t.finish_form()
    assert "Added to" in t.last()
    report = await t.case(reference)
    item = report.evidence[-1]
    assert item.file is not None and item.file.sha256 == file_digest(PNG)
    assert (item.file.name, item.file.media_type, item.file.size) == (
        "shot.png",
        "image/png",
        len(PNG),
    )
    assert await t.store.get_evidence_file(reference, file_digest(PNG)) == PNG
    assert first_broken(report.evidence) is None


async def test_a_file_shared_outside_any_form_says_how_to_keep_it(t: Harness) -> None:
    reference = await t.file_report()
    before = len((await t.case(reference)).evidence)
    await t.share(file_attachment("shot.png", t.fake.share("shot-1", PNG)))
    assert "To keep a file as evidence, say add evidence" in t.last()
    assert len((await t.case(reference)).evidence) == before
    assert await t.store.evidence_files(reference) == []


async def test_a_file_shared_while_reporting_is_noted_until_the_case_exists(t: Harness) -> None:
    await t.say("report")
    await t.share(file_attachment("shot.png", t.fake.share("shot-1", PNG)))
    said = t.said()
    assert "noted shot.png with this report" in said and "add evidence" in said


async def test_a_file_declared_over_the_limit_is_refused_without_fetching_it(
    t: Harness,
) -> None:
    reference = await t.file_report()
    await t.say(f"add evidence {reference}")
    big = PNG + bytes(EVIDENCE_MAX_BYTES)
    await t.share(file_attachment("huge.png", t.fake.share("huge", big)))
    said = t.said()
    assert "huge.png is larger than I can keep: files up to 10.0 MB" in said
    assert "Nothing else has changed" in said
    await t.finish_form()
    assert "To add evidence I need at least a link, a file or a few words" in t.last()
    assert await t.store.evidence_files(reference) == []


async def test_a_file_over_the_limit_with_no_declared_size_is_refused_kindly(
    t: Harness,
) -> None:
    """Sent chunked: read only to one byte past the limit, and the core refuses it."""
    reference = await t.file_report()
    await t.say(f"add evidence {reference}")
    big = PNG + bytes(EVIDENCE_MAX_BYTES)
    await t.share(file_attachment("huge.png", t.fake.share("huge", big, declare_size=False)))
    assert "huge.png is larger than I can keep" in t.said()
    assert await t.store.evidence_files(reference) == []


async def test_a_program_named_as_a_picture_is_refused_kindly(t: Harness) -> None:
    reference = await t.file_report()
    await t.say(f"add evidence {reference}")
    await t.share(file_attachment("shot.png", t.fake.share("disguised", PROGRAM)))
    said = t.said()
    assert "I can't keep shot.png" in said and "Nothing else has changed" in said
    assert await t.store.evidence_files(reference) == []
    await t.say("https://example.org/still-asked")  # the form goes on where it was
    await t.finish_form()
    report = await t.case(reference)
    assert report.evidence[-1].link == "https://example.org/still-asked"


@pytest.mark.parametrize("status", [404, 500])
async def test_a_failed_download_keeps_the_pointer_and_says_so(t: Harness, status: int) -> None:
    reference = await t.file_report()
    await t.say(f"add evidence {reference}")
    await t.share(file_attachment("shot.png", t.fake.share("gone", PNG, status=status)))
    assert "I've noted shot.png with this" in t.said()
    await t.finish_form()
    item = (await t.case(reference)).evidence[-1]
    assert item.file is None and item.what is not None and "shot.png" in item.what
    assert await t.store.evidence_files(reference) == []


async def test_a_web_page_instead_of_the_file_is_not_kept_as_it(t: Harness) -> None:
    """An expired link answers with a sign-in page: that is not her file."""
    reference = await t.file_report()
    await t.say(f"add evidence {reference}")
    page = b"<html><body>Sign in to continue</body></html>"
    await t.share(
        file_attachment("notes.txt", t.fake.share("expired", page, media_type="text/html"))
    )
    assert "I've noted notes.txt with this" in t.said()
    assert await t.store.evidence_files(reference) == []


async def test_a_pasted_picture_is_fetched_with_the_bots_token(t: Harness) -> None:
    with_bot_token(t)
    reference = await t.file_report()
    await t.say(f"add evidence {reference}")
    picture = t.fake.share("pasted", PNG, token=BOT_TOKEN, media_type="image/png")
    download = t.fake.share("shot-2", OTHER_PNG)
    await t.share(*pasted_picture(picture), file_attachment("second.png", download))

    auth = {r["path"]: r["auth"] for r in t.fake.file_requests}
    assert auth == {"/files/pasted": f"Bearer {BOT_TOKEN}", "/files/shot-2": None}
    assert "Kept pasted picture, second.png safely" in t.said()
    await t.finish_form()
    kept = [i.file.sha256 for i in (await t.case(reference)).evidence if i.file]
    assert kept == [file_digest(PNG), file_digest(OTHER_PNG)]


async def test_the_token_never_goes_to_another_host(t: Harness) -> None:
    """A pasted picture whose address is not on the turn's serviceUrl host nor
    one of Teams' own gets no token: it is noted, not kept."""
    with_bot_token(t)
    reference = await t.file_report()
    await t.say(f"add evidence {reference}")
    elsewhere = t.fake.share("pasted", PNG, token=BOT_TOKEN, host="localhost")
    await t.share(*pasted_picture(elsewhere))
    assert [r["auth"] for r in t.fake.file_requests] == [None]
    assert "I've noted pasted picture with this" in t.said()
    assert await t.store.evidence_files(reference) == []


async def test_in_the_local_trial_a_pasted_picture_is_noted_kindly(t: Harness) -> None:
    """No app registration, so no token: Teams would refuse the picture."""
    reference = await t.file_report()
    await t.say(f"add evidence {reference}")
    await t.share(*pasted_picture(t.fake.share("pasted", PNG, token=BOT_TOKEN)))
    assert "I've noted pasted picture with this" in t.said()
    assert "Something went wrong" not in t.said()


async def test_the_local_trial_fetches_nothing_from_outside_this_machine(t: Harness) -> None:
    reference = await t.file_report()
    await t.say(f"add evidence {reference}")
    await t.share(file_attachment("shot.png", "https://contoso-my.sharepoint.example/dl/shot"))
    assert t.fake.file_requests == []
    assert "I've noted shot.png with this" in t.said()


async def test_a_files_name_address_and_bytes_never_reach_the_logs(
    t: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    reference = await t.file_report()
    await t.say(f"add evidence {reference}")
    name = "Teams-marker-4410 my street.png"
    secret = b"Teams-marker-9926 what they wrote"
    kept = t.fake.share("kept-5518", PNG + secret)
    failed = t.fake.share("failed-6620", PNG, status=500)
    refused = t.fake.share("refused-7731", secret)
    await t.share(
        file_attachment(name, kept),
        file_attachment(name, failed),
        file_attachment("refused.png", refused),
    )
    assert len(t.fake.file_requests) == 3
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert "Teams did not give a shared file: HTTP 500" in logged
    for leaked in ("Teams-marker-4410", "Teams-marker-9926", "kept-5518", "failed-6620"):
        assert leaked not in logged
    assert "refused-7731" not in logged and "/files/" not in logged


async def test_a_share_is_kept_in_the_inbox_only_until_it_is_answered(t: Harness) -> None:
    reference = await t.file_report()
    await t.say(f"add evidence {reference}")
    await t.share(file_attachment("shot.png", t.fake.share("shot-1", PNG)))
    assert "Kept shot.png safely" in t.said()
    assert await t.store.unhandled(older_than=datetime.now(UTC) + timedelta(hours=1)) == []


async def test_a_share_whose_process_died_while_fetching_is_noted_by_recovery(
    t: Harness,
) -> None:
    """The step as the inbox keeps it (pointers, no bytes: `SharedFile.content`
    is never serialised), answered by recovery after the process that
    accepted it stopped: the file is noted, and she hears so in her chat."""
    reference = await t.file_report()
    await t.say(f"add evidence {reference}")
    shared = activity(t.url, "alice", text="", attachments=[file_attachment("shot.png", "x")])
    [event] = translate.message_events(Activity.model_validate(shared))
    await t.store.accept(event.model_copy(update={"at": t.harbour.clock()}))
    assert t.server.notifier is not None
    t.server.notifier.recover_after = timedelta(0)
    assert await t.server.notifier.recover() == 1
    assert "I've noted shot.png with this" in t.last()
    assert await t.store.unhandled(older_than=datetime.now(UTC) + timedelta(hours=1)) == []
    assert await t.store.evidence_files(reference) == []


def test_the_token_goes_only_to_teams_own_hosts() -> None:
    service = "https://smba.trafficmanager.net/emea/"
    for url in (
        "https://smba.trafficmanager.net/emea/v3/attachments/0-weu-d1-abc/views/original",
        "https://eu-api.asm.skype.com/v1/objects/0-weu-d2-abc/views/imgo",
    ):
        assert may_send_token(url, service)
    for url in (
        "https://contoso-my.sharepoint.com/personal/alice/_layouts/15/download.aspx?x=1",
        "http://eu-api.asm.skype.com/v1/objects/0-weu-d2-abc/views/imgo",  # not https
        "https://asm.skype.com.evil.example/v1/objects/x",
        "not a url",
    ):
        assert not may_send_token(url, service)
