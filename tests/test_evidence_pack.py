"""The evidence pack (issue 15): `pack HB-…` in chat, `harbour export` and
`harbour verify`. The PDF is read back with pypdf: every item, every hash,
every picture; a change to an item, a file or a picture is found and named."""

from __future__ import annotations

import io
import json
import logging
import stat
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from PIL import Image
from pypdf import PdfReader, PdfWriter

from bot.app import Harbour
from bot.config import Settings
from bot.evidence import export, pack
from bot.evidence.log import EvidenceFile, EvidenceItem, append, file_digest, head
from bot.evidence.verify import NotAPack, verify_pack
from bot.models import FileReply, Notice, Reply
from bot.privacy.audit import AuditAction
from bot.reports import Report
from bot.store import Store
from tests.conftest import TYPED_REPORT, Chat, Clock

MARKUP = (
    '#set page(fill: red) *bold* _it_ $x^2$ @alice <lab> [a] \\ ] #eval("1+1") '
    '#import "@preview/cetz:0.3.0"'
)
"""Typst markup and an injection attempt, as a worker might type them."""
WHAT_MARKER = "Pack-marker-5521 threatened my family"
NOTE_MARKER = "Case-note-marker-7710"


def png(colour: tuple[int, int, int], size: tuple[int, int] = (64, 48)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, colour).save(out, format="PNG")
    return out.getvalue()


RED, BLUE = png((200, 20, 20)), png((20, 20, 200), (80, 40))


async def file_report(chat: Chat) -> str:
    await chat.command("report")
    for _, answer in TYPED_REPORT:
        await chat.say(answer)
    await chat.say("yes")
    [filed] = await chat.harbour.store.reports_by(chat.person)
    return filed.reference


async def keep(
    store: Store, reference: str, at: Any, by: str, file: bytes | None = None, **words: str
) -> None:
    """One item appended to the case's log (and its file kept), as the evidence flow does."""
    kept = None
    if file is not None:
        sha = file_digest(file)
        await store.put_evidence_file(reference, sha, file)
        kept = EvidenceFile(
            name="screenshot.png", media_type="image/png", size=len(file), sha256=sha
        )

    def add(report: Report) -> list[Any]:
        item = EvidenceItem(
            id=f"e{len(report.evidence) + 1}", added_at=at, added_by=by, file=kept, **words
        )
        report.evidence.append(append(report.evidence, item))
        return []

    await store.update_report(reference, add)


async def case_with_evidence(harbour: Harbour, clock: Clock) -> tuple[Chat, str]:
    alice = Chat(harbour, "alice")
    reference = await file_report(alice)
    by = alice.person.key
    store = harbour.store
    await keep(
        store,
        reference,
        clock.now,
        by,
        link="https://facebook.com/p/1",
        platform="facebook",
        account="@angry.parent",
        what=MARKUP,
        posted="yesterday evening",
    )
    await keep(store, reference, clock.now + timedelta(hours=1), by, RED, what=WHAT_MARKER)
    await keep(store, reference, clock.now + timedelta(hours=2), by, BLUE, witnesses="my colleague")
    clock.advance(hours=3)
    return alice, reference


def the_file(replies: list[Reply]) -> FileReply:
    [found] = [r for r in replies if isinstance(r, FileReply)]
    return found


def said(replies: list[Reply]) -> str:
    return " ".join(r.text for r in replies if isinstance(r, Notice))


def text_of(pdf: bytes) -> str:
    return "".join(page.extract_text() for page in PdfReader(io.BytesIO(pdf)).pages)


def rewritten(pdf: bytes, change: Any) -> bytes:
    """The PDF after `change(writer)`, as someone editing it would leave it."""
    writer = PdfWriter(clone_from=PdfReader(io.BytesIO(pdf)))
    change(writer)
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


async def test_the_pack_holds_every_item_hash_and_picture(
    harbour: Harbour, clock: Clock, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    alice, reference = await case_with_evidence(harbour, clock)
    # A case-team note must not reach the pack.
    await harbour.store.update_report(
        reference, lambda r: (r.log(clock.now, "note", "console:local:bob", NOTE_MARKER), [])[1]
    )
    made = the_file(await alice.say(f"pack {reference}"))
    assert made.media_type == "application/pdf"
    assert made.name == f"harbour-evidence-{reference}-2026-03-02.pdf"

    report = await harbour.store.get_report(reference)
    assert report is not None
    reader = PdfReader(io.BytesIO(made.content))
    flat = text_of(made.content).replace("\n", "")
    for item in report.evidence:
        assert item.hash in flat
    assert head(report.evidence) in reader.pages[0].extract_text().replace("\n", "")
    for content in (RED, BLUE):
        assert file_digest(content) in flat
    assert "https://facebook.com/p/1" in flat and WHAT_MARKER in flat
    # Her markup is shown as she typed it, and did nothing.
    assert '#eval("1+1")' in flat and "$x^2$" in flat and "@preview/cetz" in flat
    assert NOTE_MARKER not in flat
    # Each picture on its own page, the files and the manifest attached.
    pictures = [len(page.images) for page in reader.pages if page.images]
    assert pictures == [1, 1]
    attached = reader.attachments
    assert pack.MANIFEST_NAME in attached
    assert sorted(
        file_digest(c[0]) for n, c in attached.items() if n != pack.MANIFEST_NAME
    ) == sorted([file_digest(RED), file_digest(BLUE)])
    verdict = verify_pack(made.content)
    assert verdict.holds, verdict.findings
    assert (verdict.reference, verdict.items, verdict.files) == (reference, 4, 2)

    exported = [
        e for e in await harbour.store.audit_chain(reference) if e.action is AuditAction.EXPORTED
    ]
    assert [(e.actor, e.detail) for e in exported] == [(alice.person.key, export.DETAIL)]
    logged = caplog.text
    assert WHAT_MARKER not in logged and "facebook.com/p/1" not in logged and "#eval" not in logged


async def test_a_changed_stored_item_is_named_on_the_cover_and_by_verify(
    harbour: Harbour, clock: Clock
) -> None:
    alice, reference = await case_with_evidence(harbour, clock)

    def tamper(report: Report) -> list[Any]:
        red = report.evidence[2]  # item 1 is the link she gave in her report
        report.evidence[2] = red.model_copy(update={"what": "something milder"})
        return []

    await harbour.store.update_report(reference, tamper)
    made = the_file(await alice.say(f"pack {reference}"))
    assert "Item 3 does not hold" in text_of(made.content)
    verdict = verify_pack(made.content)
    assert not verdict.holds
    [first, *_] = verdict.findings
    assert first.item == 3
    # Changed before the pack was made: which field, only the store's copy could have said.
    assert (
        first.what == "item 3 no longer matches its hash: what it holds changed after it was kept"
    )


async def test_verify_names_what_was_changed_in_the_pdf(harbour: Harbour, clock: Clock) -> None:
    alice, reference = await case_with_evidence(harbour, clock)
    good = the_file(await alice.say(f"pack {reference}")).content

    def edit_item(writer: PdfWriter) -> None:
        [manifest] = [a for a in writer.attachment_list if a.name == pack.MANIFEST_NAME]
        data = json.loads(manifest.content)
        data["items"][0]["account"] = "@someone.else"
        manifest.content = json.dumps(data).encode()

    [finding] = verify_pack(rewritten(good, edit_item)).findings
    assert (finding.item, finding.what) == (
        1,
        "item 1 no longer matches its hash: Account or handle changed",
    )

    def edit_file(writer: PdfWriter) -> None:
        kept = [a for a in writer.attachment_list if a.name.startswith("evidence-4-")]
        kept[0].content = BLUE[:-20] + b"\0" * 20

    assert [f.what for f in verify_pack(rewritten(good, edit_file)).findings] == [
        "the file of item 4 no longer matches its SHA-256"
    ]

    def edit_picture(writer: PdfWriter) -> None:
        page = next(p for p in writer.pages if p.images)
        page.images[0].replace(Image.new("RGB", (64, 48), (20, 200, 20)))

    [changed] = verify_pack(rewritten(good, edit_picture)).findings
    assert changed.item == 3 and "the picture of item 3 on page" in changed.what

    with pytest.raises(NotAPack):
        verify_pack(b"%PDF-1.7 not really")


async def test_a_case_with_no_evidence_gets_a_kind_word_and_no_file(harbour: Harbour) -> None:
    alice = Chat(harbour, "alice")
    reference = await file_report(alice)

    def forget(report: Report) -> list[Any]:  # as a case filed before the log existed
        report.evidence = []
        return []

    await harbour.store.update_report(reference, forget)
    replies = await alice.say(f"pack {reference}")
    assert not [r for r in replies if isinstance(r, FileReply)]
    assert f"There's no evidence kept on {reference} yet" in said(replies)
    assert f"add evidence {reference}" in said(replies)


async def test_someone_elses_case_is_refused_like_a_missing_one(
    harbour: Harbour, clock: Clock
) -> None:
    _, reference = await case_with_evidence(harbour, clock)
    dan = Chat(harbour, "dan")
    for asked in (
        f"pack {reference}",
        "pack HB-2026-0999",
        f"pack {reference} share console:local:dan",
    ):
        replies = await dan.say(asked)
        assert said(replies) == export.NOT_FOUND
        assert not [r for r in replies if isinstance(r, FileReply)]
    report = await harbour.store.get_report(reference)
    assert report is not None and report.pack_consent == []
    assert [e.actor for e in report.timeline if e.action == "refused"] == ["console:local:dan"] * 2


async def test_her_case_team_gets_it_only_once_she_agrees(harbour: Harbour, clock: Clock) -> None:
    alice, reference = await case_with_evidence(harbour, clock)
    bob = Chat(harbour, "bob")  # her manager
    refused = await bob.say(f"pack {reference}")
    assert "is the worker's to give" in said(refused)
    assert not [r for r in refused if isinstance(r, FileReply)]

    agreed = await alice.say(f"pack {reference} share console:local:bob")
    assert "console:local:bob may now ask for the evidence pack" in said(agreed)
    report = await harbour.store.get_report(reference)
    assert report is not None and report.pack_consent == ["console:local:bob"]
    assert [(e.actor, e.detail) for e in report.timeline if e.action == pack.CONSENT_ENTRY] == [
        (alice.person.key, "console:local:bob")
    ]
    given = the_file(await bob.say(f"pack {reference}"))
    assert given.media_type == "application/pdf"
    # His copy does not tell him who else tried to see the case, nor whom else she told.
    shown = text_of(given.content).lower()
    assert "refused" not in shown and "pack consent" not in shown
    carol = Chat(harbour, "carol")  # a safety lead she did not agree to
    assert "is the worker's to give" in said(await carol.say(f"pack {reference}"))
    exported = [
        e for e in await harbour.store.audit_chain(reference) if e.action is AuditAction.EXPORTED
    ]
    assert [e.actor for e in exported] == ["console:local:bob"]


async def test_words_pack_cannot_read_are_explained(harbour: Harbour, clock: Clock) -> None:
    alice, reference = await case_with_evidence(harbour, clock)
    assert said(await alice.say("pack")) == export.USAGE
    assert said(await alice.say("pack my case please")) == export.USAGE
    assert "couldn't read 'bob!' as a Harbour id" in said(
        await alice.say(f"pack {reference} share bob!")
    )
    report = await harbour.store.get_report(reference)
    assert report is not None and report.pack_consent == []


async def test_harbour_export_and_verify_on_the_command_line(
    tmp_path: Path, clock: Clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("HARBOUR_KEY", "HARBOUR_DATABASE_URL", "HARBOUR_STORE"):
        monkeypatch.delenv(name, raising=False)
    settings = Settings(  # type: ignore[call-arg]
        _env_file=None, data_dir=tmp_path / "data", key_file=tmp_path / "keys" / "harbour.key"
    )
    from bot.cli import open_store

    store = await open_store(settings)
    try:
        harbour = Harbour(store, settings.flow_context(), clock=clock)
        _, reference = await case_with_evidence(harbour, clock)
    finally:
        await store.close()
    out, err = io.StringIO(), io.StringIO()
    target = tmp_path / "pack.pdf"
    assert await export.run_export(settings, reference, target, "admin-ann", err=err) == 1
    assert "--consent-from-worker" in err.getvalue() and not target.exists()
    code = await export.run_export(
        settings, reference, target, "admin-ann", consent_from_worker=True, say=out, err=err
    )
    assert code == 0, err.getvalue()
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    assert "admin-ann (Harbour administrator)" in text_of(target.read_bytes())

    checked = io.StringIO()
    assert await export.run_verify(target, checked) == 0
    assert checked.getvalue().splitlines()[-1] == "OK: every item, file and picture holds."
    broken = tmp_path / "broken.pdf"

    def edit(writer: PdfWriter) -> None:
        [manifest] = [a for a in writer.attachment_list if a.name == pack.MANIFEST_NAME]
        data = json.loads(manifest.content)
        del data["items"][1]
        manifest.content = json.dumps(data).encode()

    broken.write_bytes(rewritten(target.read_bytes(), edit))
    checked = io.StringIO()
    assert await export.run_verify(broken, checked) == 1
    assert "BROKEN: item 2 is numbered 3: an item was removed, added or moved" in checked.getvalue()
    assert await export.run_verify(tmp_path / "nothing.pdf", io.StringIO()) == 2

    store = await open_store(settings)
    try:
        exported = [
            e for e in await store.audit_chain(reference) if e.action is AuditAction.EXPORTED
        ]
        assert [(e.actor, e.surface, e.detail) for e in exported] == [
            ("admin-ann", "cli", export.CLI_DETAIL)
        ]
        report = await store.get_report(reference)
        assert report is not None
        assert [e.detail for e in report.timeline if e.action == pack.CLI_ENTRY] == [
            "by admin-ann, her agreement stated"
        ]
    finally:
        await store.close()
    assert (
        await export.run_export(
            settings, "HB-2026-0999", target, "a", consent_from_worker=True, err=err
        )
        == 1
    )


# ---------------------------------------------------------------------- every surface


async def test_the_console_saves_the_pack_where_only_she_can_open_it(
    harbour: Harbour, clock: Clock, tmp_path: Path
) -> None:
    from adapters.console import chat as console_chat
    from adapters.console import console_person

    _, reference = await case_with_evidence(harbour, clock)
    out, folder = io.StringIO(), tmp_path / "files"
    await console_chat(
        harbour,
        console_person("alice"),
        stdin=io.StringIO(f"pack {reference}\n"),
        stdout=out,
        interactive=False,
        files=folder,
    )
    [saved] = folder.iterdir()
    assert saved.name == f"harbour-evidence-{reference}-2026-03-02.pdf"
    assert str(saved) in out.getvalue()
    assert stat.S_IMODE(saved.stat().st_mode) == 0o600
    assert verify_pack(saved.read_bytes()).holds


async def slack_case(server: Any, user: str, clock_at: Any) -> str:
    from bot.models import PersonRef, Platform
    from tests.fakes.slack import TEAM

    who = PersonRef(platform=Platform.SLACK, workspace=TEAM, user=user)
    chat = Chat(server.harbour, "x")
    chat.person = who
    reference = await file_report(chat)
    await keep(server.harbour.store, reference, clock_at, who.key, RED, what=WHAT_MARKER)
    return reference


async def test_slack_uploads_the_pack_into_her_dm_only() -> None:
    from datetime import UTC, datetime

    from aiohttp.test_utils import TestClient, TestServer

    from adapters.slack.config import SlackSettings
    from bot.server import build
    from bot.store import MemoryStore
    from tests.fakes.slack import SIGNING_SECRET, FakeSlack, command_body, signed_headers

    fake = FakeSlack()
    base_url = await fake.start()
    slack = SlackSettings(
        bot_token="xoxb-test", signing_secret=SIGNING_SECRET, api_url=base_url, _env_file=None
    )  # type: ignore[call-arg]
    server = build(Settings(_env_file=None), slack, MemoryStore())  # type: ignore[call-arg]
    client = TestClient(TestServer(server.web_app, host="127.0.0.1"))
    await client.start_server()
    try:
        reference = await slack_case(server, "U0ALICE", datetime.now(UTC))
        body = command_body("U0ALICE", f"pack {reference}", channel="C0GENERAL")
        form = "application/x-www-form-urlencoded"
        response = await client.post(
            "/slack/events", data=body, headers=signed_headers(body, content_type=form)
        )
        assert response.status == 200
        assert server.slack is not None
        await server.slack.drain()
        [sent] = fake.files_in("DU0ALICE")
        assert sent["title"].startswith(f"harbour-evidence-{reference}-")
        assert verify_pack(sent["content"]).holds
        assert [f["channel"] for f in fake.files] == ["DU0ALICE"]  # never into a channel
        assert WHAT_MARKER not in json.dumps(fake.posts("C0GENERAL"))
    finally:
        await client.close()
        await fake.close()


async def test_teams_offers_the_pack_and_uploads_it_once_she_accepts() -> None:
    from datetime import UTC, datetime

    from aiohttp.test_utils import TestClient, TestServer

    from adapters.slack.config import SlackSettings
    from adapters.teams import cards
    from adapters.teams.config import load_teams_settings
    from bot.models import PersonRef, Platform
    from bot.server import build
    from bot.store import MemoryStore
    from tests.fakes.teams import TENANT, FakeConnector, activity, file_consent

    fake = FakeConnector()
    url = await fake.start()
    teams = load_teams_settings({"HARBOUR_TEAMS_LOCAL_TRIAL": "true"})
    server = build(Settings(_env_file=None), SlackSettings(_env_file=None), MemoryStore(), teams)  # type: ignore[call-arg]
    client = TestClient(TestServer(server.web_app, host="127.0.0.1"))
    await client.start_server()
    try:
        who = PersonRef(platform=Platform.TEAMS, workspace=TENANT, user="aad-alice")
        chat = Chat(server.harbour, "x")
        chat.person = who
        reference = await file_report(chat)
        await keep(server.harbour.store, reference, datetime.now(UTC), who.key, BLUE)
        said_pack = activity(url, "alice", text=f"pack {reference}")
        assert (await client.post("/api/messages", json=said_pack)).status in (200, 201, 202)
        [offer] = fake.attachments("a:alice-personal", cards.FILE_CONSENT_TYPE)
        assert offer["name"].startswith(f"harbour-evidence-{reference}-")
        context = offer["content"]["acceptContext"]
        accepted = file_consent(url, "alice", "accept", context, fake.upload_info(offer["name"]))
        assert (await client.post("/api/messages", json=accepted)).status == 200
        [upload] = fake.uploads.values()
        assert len(upload["content"]) == offer["content"]["sizeInBytes"]
        assert verify_pack(upload["content"]).holds
    finally:
        await client.close()
        await fake.close()
