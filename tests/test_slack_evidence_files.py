"""Files a worker shares in her DM with Harbour, kept as evidence (issue 15):
signed file_share events into the real bolt app; the local fake Slack serves
each file's bytes at its private address, to the bot token only."""

from __future__ import annotations

import hashlib
import json
import logging
import time
import uuid
import zlib
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import aiohttp
import pytest

from adapters.slack import files, render, translate
from adapters.slack.translate import FileSource
from bot.alerts.sender import Notifier
from bot.config import Settings
from bot.evidence.intake import EVIDENCE_MAX_BYTES
from bot.models import PersonRef, Platform, TextMessage
from bot.reports import Report
from bot.server import build
from tests.conftest import TYPED_REPORT
from tests.fakes.slack import TEAM, FakeSlack, event_body
from tests.test_slack import SlackHarness, running

ALICE = "U0ALICE"
SECRET_NAME = "Posts naming me and my street.png"
"""A file name that is report content (tests/conftest.py LOGGED_CONTENT_MARKERS):
the autouse check fails the test if it is ever logged."""


def png(width: int = 2) -> bytes:
    """A real, tiny PNG (a grey square)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return len(data).to_bytes(4, "big") + body + zlib.crc32(body).to_bytes(4, "big")

    header = width.to_bytes(4, "big") * 2 + b"\x08\x00\x00\x00\x00"
    rows = b"".join(b"\x00" + b"\x80" * width for _ in range(width))
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(rows))
        + chunk(b"IEND", b"")
    )


class Evidence(SlackHarness):
    async def share(self, *described: dict[str, Any], text: str = "") -> None:
        """Files shared in her DM, as Slack sends them (a file_share message)."""
        await self.dm(ALICE, text, subtype="file_share", files=list(described))

    async def file_report(self) -> str:
        who = PersonRef(platform=Platform.SLACK, workspace=TEAM, user=ALICE)
        for text in ["report", *(a for _, a in TYPED_REPORT), "yes"]:
            await self.server.harbour.handle(
                TextMessage(event_id=uuid.uuid4().hex, person=who, text=text)
            )
        [filed] = await self.store.reports_by(who)
        return filed.reference

    async def report(self, reference: str) -> Report:
        found = await self.store.get_report(reference)
        assert found is not None
        return found

    async def evidence_answers(self) -> dict[str, Any]:
        who = PersonRef(platform=Platform.SLACK, workspace=TEAM, user=ALICE)
        session = await self.store.load_session(who)
        assert session is not None and session.active_draft is not None
        return dict(session.active_draft.answers)

    def said(self, last: int = 3) -> str:
        posts = self.fake.posts(f"D{ALICE}")[-last:]
        return json.dumps([p["blocks"] for p in posts], ensure_ascii=False)


@pytest.fixture
async def h() -> AsyncIterator[Evidence]:
    async with running(Evidence) as harness:
        yield harness


async def test_a_png_shared_in_the_evidence_form_is_kept_with_its_fingerprint(
    h: Evidence, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    ref = await h.file_report()
    await h.command(ALICE, f"add evidence {ref}", channel=f"D{ALICE}")
    picture = png()
    shared = h.fake.share(SECRET_NAME, picture, "image/png")
    await h.share(shared)

    # Fetched once, after the ack, with the bot token.
    assert h.fake.downloads == [(shared["id"], "Bearer xoxb-test")]
    assert f"Kept {SECRET_NAME} safely with {ref}" in h.said()
    digest = hashlib.sha256(picture).hexdigest()
    assert await h.store.get_evidence_file(ref, digest) == picture

    # Through the form's pages to its summary, and added.
    for _ in range(3):
        await h.submit(ALICE, {})
    assert "Files kept safely" in h.text_of(ALICE)
    await h.press(ALICE, render.ACTION_CHOICE + ".yes")
    assert f"Added to {ref}" in h.said()
    [item] = [i for i in (await h.report(ref)).evidence if i.file is not None]
    assert item.file is not None
    assert (item.file.name, item.file.sha256, item.file.media_type, item.file.size) == (
        SECRET_NAME,
        digest,
        "image/png",
        len(picture),
    )
    logged = caplog.text
    assert shared["url_private_download"] not in logged and "xoxb-test" not in logged
    assert picture[:8].decode("latin-1") not in logged


async def test_a_file_shared_outside_a_form_says_how_to_keep_it_and_keeps_nothing(
    h: Evidence,
) -> None:
    ref = await h.file_report()
    await h.share(h.fake.share("shot.png", png(), "image/png"))
    said = h.said(1)
    assert "To keep a file as evidence, say /report-abuse add evidence" in said
    assert await h.store.evidence_files(ref) == []


async def test_a_file_over_the_limit_is_refused_kindly_and_the_form_goes_on(h: Evidence) -> None:
    ref = await h.file_report()
    await h.command(ALICE, f"add evidence {ref}", channel=f"D{ALICE}")
    huge = png() + bytes(EVIDENCE_MAX_BYTES)
    await h.share(h.fake.share("huge.png", huge, "image/png"))
    said = h.said()
    assert "huge.png is larger than I can keep: files up to 10.0 MB" in said
    assert "Nothing else has changed" in said
    assert await h.store.evidence_files(ref) == []
    assert (await h.evidence_answers()).get("kept_files", []) == []
    assert "The link to the post" in h.text_of(ALICE)  # her form, where she was


async def test_a_program_named_like_a_picture_is_refused_kindly(h: Evidence) -> None:
    ref = await h.file_report()
    await h.command(ALICE, f"add evidence {ref}", channel=f"D{ALICE}")
    await h.share(h.fake.share("shot.png", b"MZ\x90\x00\x03\x00\x00\x00\x04\x00", "image/png"))
    said = h.said()
    assert "I can't keep shot.png" in said and "A screenshot of it would work" in said
    assert await h.store.evidence_files(ref) == []


@pytest.mark.parametrize("status", [404, 500])
async def test_a_failed_download_keeps_the_pointer_and_says_so_kindly(
    h: Evidence, status: int, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    ref = await h.file_report()
    await h.command(ALICE, f"add evidence {ref}", channel=f"D{ALICE}")
    shared = h.fake.share(SECRET_NAME, png(), "image/png")
    h.fake.download_status[shared["id"]] = status
    await h.share(shared)
    assert f"I've noted {SECRET_NAME}" in h.said() and "your own copy" in h.said()
    assert (await h.evidence_answers())["attachments"] == [f"{SECRET_NAME} {shared['permalink']}"]
    assert await h.store.evidence_files(ref) == []
    assert f"HTTP {status}" in caplog.text
    assert shared["url_private_download"] not in caplog.text
    assert shared["id"] not in caplog.text


async def test_without_files_read_slacks_sign_in_page_is_never_kept(
    h: Evidence, caplog: pytest.LogCaptureFixture
) -> None:
    """Slack answers a token that may not read files with its sign-in page
    (HTTP 200, HTML): kept, it would stand as her evidence."""
    h.fake.file_readers.clear()
    ref = await h.file_report()
    await h.command(ALICE, f"add evidence {ref}", channel=f"D{ALICE}")
    await h.share(h.fake.share("notes.txt", b"what they wrote", "text/plain"))
    assert "I've noted notes.txt" in h.said()
    assert await h.store.evidence_files(ref) == []
    assert "files:read" in caplog.text


async def test_a_file_from_another_organisation_is_found_with_files_info(h: Evidence) -> None:
    """Slack Connect: the event says only `check_file_info`; files.info has the rest."""
    ref = await h.file_report()
    await h.command(ALICE, f"add evidence {ref}", channel=f"D{ALICE}")
    picture = png(3)
    shared = h.fake.share("theirs.png", picture, "image/png")
    await h.share({"id": shared["id"], "file_access": "check_file_info"})
    assert h.fake.called("files.info") == [{"file": shared["id"]}]
    assert await h.store.evidence_files(ref) == [hashlib.sha256(picture).hexdigest()]


async def test_a_second_delivery_of_the_same_share_does_nothing_twice(h: Evidence) -> None:
    ref = await h.file_report()
    await h.command(ALICE, f"add evidence {ref}", channel=f"D{ALICE}")
    shared = h.fake.share("shot.png", png(), "image/png")
    event = {
        "type": "message",
        "channel_type": "im",
        "channel": f"D{ALICE}",
        "user": ALICE,
        "text": "",
        "ts": f"{time.time():.6f}",
        "subtype": "file_share",
        "files": [shared],
    }
    body = event_body(event, event_id="Ev0SHARE1")
    for _ in range(2):  # Slack retries an event it thinks was not acknowledged
        assert (await h.post(body, "application/json")).status == 200
        await h.slack.drain()
    assert len([p for p in h.fake.posts(f"D{ALICE}") if "Kept shot.png" in json.dumps(p)]) == 1


# ------------------------------------------------------------------ the fetch itself


async def test_no_more_than_the_limit_and_one_byte_is_read() -> None:
    fake = FakeSlack()
    base_url = await fake.start()
    try:
        shared = fake.share("big.png", png() + bytes(5000), "image/png")
        source = FileSource(shared["id"], shared["url_private_download"])
        async with aiohttp.ClientSession() as session:
            got = await files.fetch(
                session, source, token="xoxb-test", api_url=base_url, max_bytes=1000
            )
        assert got is not None and len(got) == 1001
    finally:
        await fake.close()


@pytest.mark.parametrize(
    ("url", "allowed"),
    [
        ("https://files.slack.com/files-pri/T1-F1/download/a.png", True),
        ("https://files.slack-gov.com/files-pri/T1-F1/download/a.png", True),
        ("http://files.slack.com/files-pri/T1-F1/download/a.png", False),  # not over TLS
        ("https://docs.google.com/a.png", False),  # a file added from another service
        ("https://slack.com.evil.example/a.png", False),
        ("https://evilslack.com/a.png", False),
        ("/files-pri/a.png", False),
    ],
)
def test_the_bot_token_goes_only_to_slack(url: str, allowed: bool) -> None:
    assert files.may_send_token(url, "https://slack.com/api/") is allowed


async def test_a_share_whose_process_died_before_the_download_is_answered_kindly(
    h: Evidence,
) -> None:
    """Killed between the ack and the download: the inbox keeps the event
    without its bytes, and another process answers it with what the core says
    of a file it could not keep (noted, her own copy), pointer kept."""
    ref = await h.file_report()
    await h.command(ALICE, f"add evidence {ref}", channel=f"D{ALICE}")
    shared = h.fake.share("shot.png", png(), "image/png")
    event = {"type": "message", "channel_type": "im", "user": ALICE, "ts": "1.0"}
    body = {"team_id": TEAM, "event_id": "Ev0DIED", "event": {**event, "files": [shared]}}
    [accepted] = translate.message_events(body)
    await h.server.harbour.accept(accepted)  # what on_message does before the ack

    other = build(Settings(_env_file=None), h.slack.settings, h.store)  # type: ignore[call-arg]
    assert other.slack is not None
    notifier = Notifier(other.harbour, {Platform.SLACK: other.slack}, recover_after=timedelta(0))
    assert await notifier.recover() == 1
    assert h.fake.downloads == []
    assert "I've noted shot.png" in h.said(2)
    assert (await h.evidence_answers())["attachments"] == [f"shot.png {shared['permalink']}"]
    assert await notifier.recover() == 0  # answered once
