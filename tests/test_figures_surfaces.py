"""`figures` on Slack and Teams: the card, the charts and the CSV reach the
person who asked, through each platform's real SDK and a local fake of its
API (the console's own test is in tests/test_figures.py)."""

from __future__ import annotations

import base64
import json
import re
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer

from adapters.slack.config import SlackSettings
from adapters.teams import cards
from adapters.teams.config import load_teams_settings
from bot.config import Settings
from bot.figures.example import generated_reports
from bot.server import build
from bot.store import MemoryStore, Store
from tests.fakes.slack import SIGNING_SECRET, TEAM, FakeSlack, command_body, signed_headers
from tests.fakes.teams import TENANT, FakeConnector, activity, file_consent

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
FILES = ["figures-kinds.png", "figures-time-to-acknowledge.png", "figures.csv"]


async def with_reports(store: Store) -> Store:
    for report in generated_reports(20, first=datetime(2026, 1, 1, tzinfo=UTC), days=80):
        await store.file_report(
            year=report.year,
            draft_id=report.draft_id,
            make=lambda seq, ref, r=report: (
                r.model_copy(update={"seq": seq, "reference": ref}),
                [],
            ),  # type: ignore[misc]
            person=report.reporter,
            session=None,
        )
    return store


@pytest.fixture
async def slack() -> AsyncIterator[tuple[FakeSlack, TestClient[Any, Any], Any]]:
    fake = FakeSlack()
    base_url = await fake.start()
    config = SlackSettings(
        bot_token="xoxb-test", signing_secret=SIGNING_SECRET, api_url=base_url, _env_file=None
    )  # type: ignore[call-arg]
    settings = Settings(_env_file=None, admins=f"slack:{TEAM}:U0ADMIN")  # type: ignore[call-arg]
    server = build(settings, config, await with_reports(MemoryStore()))
    client = TestClient(TestServer(server.web_app, host="127.0.0.1"))
    await client.start_server()
    try:
        yield fake, client, server.slack
    finally:
        await client.close()
        await fake.close()


async def test_slack_uploads_the_charts_and_csv_into_the_askers_dm(
    slack: tuple[FakeSlack, TestClient[Any, Any], Any],
) -> None:
    fake, client, app = slack
    body = command_body("U0ADMIN", "figures 2026-01-01 2026-03-31", channel="C0GENERAL")
    response = await client.post(
        "/slack/events", data=body, headers=signed_headers(body, content_type=FORM)
    )
    assert response.status == 200
    await app.drain()

    sent = fake.files_in("DU0ADMIN")
    assert [f["title"] for f in sent] == FILES
    assert all(f["content"].startswith(PNG_MAGIC) for f in sent[:2])
    assert sent[2]["content"].decode().startswith("measure,value,quarter,figure")
    assert [f["channel"] for f in fake.files] == ["DU0ADMIN"] * 3  # never into a channel
    card = json.dumps(fake.posts("DU0ADMIN"))
    assert "Figures, 2026-Q1" in card


async def test_slack_refuses_a_worker_without_sending_anything(
    slack: tuple[FakeSlack, TestClient[Any, Any], Any],
) -> None:
    fake, client, app = slack
    body = command_body("U0ALICE", "figures", channel="DU0ALICE")
    await client.post("/slack/events", data=body, headers=signed_headers(body, content_type=FORM))
    await app.drain()
    assert fake.files == []
    assert "for the safety leads" in json.dumps(fake.posts("DU0ALICE"))


FORM = "application/x-www-form-urlencoded"


async def test_teams_shows_the_charts_and_offers_the_csv_she_accepts() -> None:
    fake = FakeConnector()
    url = await fake.start()
    admin = f"teams:{TENANT}:aad-admin"
    settings = Settings(_env_file=None, admins=admin)  # type: ignore[call-arg]
    teams = load_teams_settings({"HARBOUR_TEAMS_LOCAL_TRIAL": "true"})
    server = build(
        settings, SlackSettings(_env_file=None), await with_reports(MemoryStore()), teams
    )  # type: ignore[call-arg]
    client = TestClient(TestServer(server.web_app, host="127.0.0.1"))
    await client.start_server()
    try:
        said = activity(url, "admin", text="figures 2026-01-01 2026-03-31")
        assert (await client.post("/api/messages", json=said)).status in (200, 201, 202)
        # The charts are small pictures: shown in the chat, in cards of their own.
        sent = json.dumps(fake.sent("a:admin-personal"))
        assert "Figures, 2026-Q1" in sent
        pictures = re.findall(r"data:image/png;base64,([A-Za-z0-9+/=]+)", sent)
        assert len(pictures) == 2
        assert all(base64.b64decode(p).startswith(PNG_MAGIC) for p in pictures)
        # The CSV is a file: offered, and uploaded once she accepts it.
        offers = fake.attachments("a:admin-personal", cards.FILE_CONSENT_TYPE)
        assert [o["name"] for o in offers] == [f for f in FILES if f.endswith(".csv")]
        context = offers[0]["content"]["acceptContext"]
        info = fake.upload_info(offers[0]["name"])
        accepted = file_consent(url, "admin", "accept", context, info)
        assert (await client.post("/api/messages", json=accepted)).status == 200
        [upload] = fake.uploads.values()
        assert upload["content"].startswith(b"measure,value,quarter,figure")
        assert len(upload["content"]) == offers[0]["content"]["sizeInBytes"]
    finally:
        await client.close()
        await fake.close()
