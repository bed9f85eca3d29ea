"""Evidence in the conversation (issue 15): items added while reporting, in an
update and with `add evidence HB-…`; files shared in the console checked by
their bytes and kept in the store; the hash chain holding throughout; and
every kind of bad input answered kindly with nothing lost."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
from PIL import Image

from adapters.console import chat as console_chat
from adapters.console import console_person, shared_file
from bot.access import CaseView
from bot.app import Harbour
from bot.casework import case_card
from bot.evidence import commands
from bot.evidence.intake import EVIDENCE_MAX_BYTES, CheckedFile, RefusedFile, check_file, sniff
from bot.evidence.log import file_digest, first_broken
from bot.models import FilesShared, SharedFile
from bot.reports import Report, ReportStatus
from bot.store import Store
from tests.conftest import Chat, type_report

REF = "HB-2026-0001"


def _picture(kind: str, size: tuple[int, int] = (12, 20)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, (40, 90, 160)).save(out, format=kind)
    return out.getvalue()


PNG = _picture("PNG")
JPEG = _picture("JPEG")
PROGRAM = b"MZ\x90\x00\x03\x00\x00\x00\x04\x00" + bytes(50)


async def filed(chat: Chat) -> Report:
    await chat.command()
    await type_report(chat)
    await chat.say("yes")
    report = await chat.harbour.store.get_report(REF)
    assert report is not None
    return report


async def share_bytes(chat: Chat, name: str, content: bytes) -> None:
    await chat.send_event(
        FilesShared(
            event_id=chat.next_id(),
            person=chat.person,
            files=(SharedFile(name=name, content=content),),
        )
    )


async def stored(store: Store) -> Report:
    report = await store.get_report(REF)
    assert report is not None
    return report


# ------------------------------------------------------------------ checking a file


@pytest.mark.parametrize(
    ("content", "media_type"),
    [
        (PNG, "image/png"),
        (JPEG, "image/jpeg"),
        (b"GIF89a" + bytes(10), "image/gif"),
        (b"RIFF\x10\x00\x00\x00WEBPVP8 " + bytes(10), "image/webp"),
        (b"\x00\x00\x00\x18ftypheic" + bytes(10), "image/heic"),
        (b"%PDF-1.7\n" + bytes(10), "application/pdf"),
        (b"They wrote: we know where you live.\n", "text/plain"),
        (PROGRAM, None),
        (b"\x00\x01\x02binary", None),
    ],
)
def test_a_file_is_known_by_its_bytes(content: bytes, media_type: str | None) -> None:
    assert sniff(content) == media_type


def test_a_file_that_may_be_kept_is_recorded_with_its_hash() -> None:
    checked = check_file("/home/alice/Pictures/shot.png", PNG)
    assert isinstance(checked, CheckedFile)
    assert checked.file.name == "shot.png"  # no folders kept
    assert checked.file.media_type == "image/png"
    assert checked.file.size == len(PNG)
    assert checked.file.sha256 == file_digest(PNG)


@pytest.mark.parametrize(
    ("name", "content", "words"),
    [
        ("shot.png", PROGRAM, "isn't one of those"),
        ("shot.png", b"just some words\n", "its name says .png"),
        ("notes.txt", PNG, "its name says .txt"),
        ("big.png", PNG + bytes(EVIDENCE_MAX_BYTES), "larger than I can keep"),
        ("empty.png", b"", "is empty"),
    ],
)
def test_a_file_that_cannot_be_kept_is_refused_kindly(
    name: str, content: bytes, words: str
) -> None:
    refused = check_file(name, content)
    assert isinstance(refused, RefusedFile)
    assert words in refused.message
    assert name in refused.message


# ------------------------------------------------------------------ while reporting, in an update


async def test_links_given_while_reporting_start_the_evidence_log(chat: Chat) -> None:
    report = await filed(chat)
    assert [i.link for i in report.evidence] == ["https://www.facebook.com/some.post/123"]
    item = report.evidence[0]
    assert item.platform == "facebook"
    assert item.what == "Four screenshots on my work phone"
    assert item.added_by == chat.person.key
    assert first_broken(report.evidence) is None


async def test_an_update_adds_its_links_to_the_same_chain(chat: Chat, store: Store) -> None:
    await filed(chat)
    await chat.command("update", REF)
    await chat.say("1")  # kinds
    await chat.say("Instagram")
    await chat.say("https://instagram.com/p/abc, https://instagram.com/p/def")
    await chat.say("skip")
    await chat.say("skip")
    await chat.say("skip")
    await chat.say("yes")
    assert "Added to" in chat.text()
    report = await stored(store)
    assert [i.n for i in report.evidence] == [1, 2, 3]
    assert report.evidence[2].link == "https://instagram.com/p/def"
    assert report.evidence[2].platform == "instagram"
    assert first_broken(report.evidence) is None


async def test_a_file_shared_while_reporting_is_checked_and_noted_until_filed(chat: Chat) -> None:
    await chat.command()
    await chat.say("no")
    before = chat.harbour.store
    await share_bytes(chat, "shot.png", PROGRAM)
    assert "I can't keep shot.png" in chat.text()
    session = await before.load_session(chat.person)
    assert session is not None and session.active_draft is not None
    assert session.active_draft.answers.get("attachments") in (None, [])
    await share_bytes(chat, "shot.png", PNG)
    assert "add evidence with the reference you'll get" in chat.text()
    assert chat.focus() == "kinds"  # her question is asked again: nothing lost


# ------------------------------------------------------------------ add evidence HB-…


async def add_one(chat: Chat, *, link: str = "skip", what: str = "skip") -> None:
    await chat.command("add", f"evidence {REF}")
    assert chat.focus() == "links"
    for answer in (link, what, "skip", "skip", "skip", "skip", "skip", "skip"):
        await chat.say(answer)


async def test_add_evidence_with_a_file_keeps_it_in_the_store_and_chains_it(
    chat: Chat, store: Store
) -> None:
    await filed(chat)
    await chat.command("add", f"evidence {REF}")
    assert "This is about HB-2026-0001" in chat.text()
    await share_bytes(chat, "shot.png", PNG)
    assert "Kept shot.png safely" in chat.text()
    assert chat.focus() == "links"  # the question she was on, asked again
    await chat.say("https://x.com/someone/status/1")
    await chat.say("A threat naming my street")
    await chat.say("X (Twitter)")
    await chat.say("@someone")
    await chat.say("3 March")
    await chat.say("4 March")
    await chat.say("X-REF-881")
    await chat.say("My colleague Sam")
    assert "Files kept safely" in chat.text()
    await chat.say("yes")
    assert "Added to HB-2026-0001: 1 item" in chat.text()
    report = await stored(store)
    item = report.evidence[-1]
    assert item.n == 2
    assert item.link == "https://x.com/someone/status/1"
    assert (item.platform, item.account, item.posted, item.seen) == (
        "x",
        "@someone",
        "3 March",
        "4 March",
    )
    assert (item.platform_reference, item.witnesses) == ("X-REF-881", "My colleague Sam")
    assert item.file is not None and item.file.sha256 == file_digest(PNG)
    assert await store.get_evidence_file(REF, file_digest(PNG)) == PNG
    assert first_broken(report.evidence) is None


async def test_the_chain_holds_after_several_additions_and_reads_back(
    chat: Chat, store: Store
) -> None:
    await filed(chat)
    for n in range(3):
        await add_one(chat, link=f"https://example.org/post/{n}")
        await chat.say("yes")
    await chat.command("add", f"evidence {REF}")
    await share_bytes(chat, "a.jpg", JPEG)
    await share_bytes(chat, "b.png", PNG)
    for _ in range(8):
        await chat.say("skip")
    await chat.say("yes")
    report = await stored(store)
    assert len(report.evidence) == 6
    assert [i.file.name for i in report.evidence if i.file] == ["a.jpg", "b.png"]
    assert first_broken(report.evidence) is None
    assert sorted(await store.evidence_files(REF)) == sorted({file_digest(JPEG), file_digest(PNG)})
    # Changing a stored item shows.
    changed = report.evidence[2].model_copy(update={"what": "something else"})
    assert first_broken([*report.evidence[:2], changed, *report.evidence[3:]]) == 3


async def test_evidence_with_nothing_given_keeps_the_draft(chat: Chat, store: Store) -> None:
    await filed(chat)
    await add_one(chat)
    await chat.say("yes")
    assert "at least a link, a file or a few words" in chat.text()
    await chat.say("back")
    await chat.say("back")
    await chat.say("back")
    assert chat.focus() == "seen"
    assert len((await stored(store)).evidence) == 1


async def test_a_bad_file_or_link_in_the_form_is_refused_and_nothing_is_lost(
    chat: Chat, store: Store
) -> None:
    await filed(chat)
    await chat.command("add", f"evidence {REF}")
    await chat.say("javascript:alert(1)")
    assert "doesn't look like a web address" in chat.text()
    assert chat.focus() == "links"
    await chat.say("https://example.org/kept")
    await share_bytes(chat, "huge.png", PNG + bytes(EVIDENCE_MAX_BYTES))
    assert "larger than I can keep" in chat.text()
    await share_bytes(chat, "disguised.png", PROGRAM)
    assert "I can't keep disguised.png" in chat.text()
    assert chat.focus() == "what"  # still where she was
    session = await store.load_session(chat.person)
    assert session is not None and session.active_draft is not None
    assert session.active_draft.answers["links"] == ["https://example.org/kept"]
    assert "kept_files" not in session.active_draft.answers
    assert await store.evidence_files(REF) == []


async def test_someone_elses_case_is_answered_as_a_case_that_does_not_exist(
    harbour: Harbour, chat: Chat
) -> None:
    await filed(chat)
    dan = Chat(harbour, "dan")
    await dan.command("add", f"evidence {REF}")
    elsewhere = dan.text()
    await dan.command("add", "evidence HB-2026-0999")
    assert dan.text() == elsewhere
    assert "couldn't find a report of yours" in elsewhere
    bob = Chat(harbour, "bob")  # her manager sees the case, and still may not add to it
    await bob.command("add", f"evidence {REF}")
    assert bob.text() == elsewhere


async def test_no_report_yet_says_how_to_start_one(chat: Chat) -> None:
    await chat.command("evidence")
    assert "you haven't filed one yet" in chat.text()


async def test_evidence_may_be_added_to_a_closed_case(chat: Chat, store: Store) -> None:
    report = await filed(chat)
    report.status = ReportStatus.CLOSED
    await store.save_report(report)
    await add_one(chat, what="It was posted again after the case closed")
    await chat.say("yes")
    assert "Added to HB-2026-0001" in chat.text()
    assert (await stored(store)).evidence[-1].what == "It was posted again after the case closed"


async def test_a_file_shared_on_slack_or_teams_is_noted_but_not_yet_kept(
    chat: Chat, store: Store
) -> None:
    await filed(chat)
    await chat.command("add", f"evidence {REF}")
    await chat.share("shot.png")  # a pointer only, as Slack and Teams send today
    assert "couldn't fetch a copy" in chat.text()
    for _ in range(8):
        await chat.say("skip")
    await chat.say("yes")
    item = (await stored(store)).evidence[-1]
    assert item.file is None and item.what is not None and "shot.png" in item.what


async def test_a_file_outside_any_form_says_how_to_keep_it(chat: Chat) -> None:
    await share_bytes(chat, "shot.png", PNG)
    assert "add evidence" in chat.text()


async def test_the_case_card_shows_counts_never_content(chat: Chat, harbour: Harbour) -> None:
    await filed(chat)
    await chat.command("add", f"evidence {REF}")
    await share_bytes(chat, "shot.png", PNG)
    await chat.say("skip")
    await chat.say("A secret threat text")
    for _ in range(6):
        await chat.say("skip")
    await chat.say("yes")
    report = await stored(harbour.store)
    for view in (CaseView.CASE_TEAM, CaseView.REPORTER):
        card = case_card(report, view, harbour.tz)
        rows = {f.label: f.value for f in card.fields}
        assert rows["Evidence log"] == "2 items, 1 file kept"
        assert "A secret threat text" not in json.dumps(card.model_dump())
        assert "shot.png" not in json.dumps(card.model_dump())


# ------------------------------------------------------------------ the console, and the inbox


def test_a_shared_files_bytes_never_reach_the_inbox() -> None:
    event = FilesShared(
        event_id="e1",
        person=console_person("alice"),
        files=(SharedFile(name="shot.png", content=PNG),),
    )
    assert "content" not in json.dumps(event.model_dump(mode="json"))
    assert "PNG" not in repr(event)


async def test_the_console_shares_a_file_by_its_path(
    harbour: Harbour, chat: Chat, tmp_path: Path
) -> None:
    await filed(chat)
    shot = tmp_path / "shot.png"
    shot.write_bytes(PNG)
    lines = [f"add evidence {REF}", f"file {shot}", "file 'missing file.png'", *["skip"] * 8]
    stdout = io.StringIO()
    await console_chat(
        harbour,
        console_person("alice"),
        stdin=io.StringIO("\n".join([*lines, "yes", ""])),
        stdout=stdout,
        interactive=False,
    )
    out = stdout.getvalue()
    assert "Kept shot.png safely" in out
    assert "I couldn't open that file" in out
    assert "Added to HB-2026-0001" in out
    assert await harbour.store.get_evidence_file(REF, file_digest(PNG)) == PNG
    assert first_broken((await stored(harbour.store)).evidence) is None


def test_words_starting_with_file_are_not_a_file(tmp_path: Path) -> None:
    alice = console_person("alice")
    assert shared_file("File report", alice) is None
    assert shared_file("file a complaint with the police", alice) is None
    shot = tmp_path / "a b.png"
    shot.write_bytes(PNG)
    shared = shared_file(f'file "{shot}"', alice)
    assert isinstance(shared, FilesShared) and shared.files[0].content == PNG


def test_a_tiny_file_claiming_enormous_dimensions_is_refused_kindly() -> None:
    """29 bytes of GIF saying 20,000 x 20,000 pixels: accepted, it would stop
    every evidence pack of the case being drawn."""
    bomb = b"GIF89a" + (20000).to_bytes(2, "little") * 2 + b"\x00\x00\x00" + b";" * 16
    refused = check_file("huge.gif", bomb)
    assert isinstance(refused, RefusedFile)
    assert "million pixels" in refused.message and "Nothing else has changed" in refused.message
    assert isinstance(check_file("big.png", _picture("PNG", (4000, 3000))), CheckedFile)


async def test_a_case_keeps_at_most_its_files_and_says_so_kindly(
    chat: Chat, store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(commands, "MAX_FILES_PER_CASE", 2)
    monkeypatch.setattr(commands, "FULL", commands.FULL.replace("30", "2"))
    await filed(chat)
    await chat.command("add", f"evidence {REF}")
    for n in range(3):
        await share_bytes(chat, f"shot{n}.png", _picture("PNG", (10 + n, 10)))
    assert "already keeps 2 files" in chat.text()
    assert len(await store.evidence_files(REF)) == 2
    await share_bytes(chat, "shot0.png", _picture("PNG", (10, 10)))  # one it keeps already
    assert "Kept shot0.png safely" in chat.text()
    assert chat.focus() == "links", "her form is where she was"
