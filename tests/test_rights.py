"""A person's rights (issue #14): `mydata` (everything Harbour holds about her,
as a file) and `admin erase <id>` (an administrator erases a person), through
core events and the console; Slack and Teams deliver the file in
tests/test_files_slack.py and tests/test_files_teams.py."""

from __future__ import annotations

import io
import itertools
import json
import stat
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from adapters.console import chat as console_chat
from adapters.console import console_person
from bot.alerts.sender import Notifier
from bot.app import Harbour
from bot.config import Settings
from bot.directory import Directory
from bot.models import ChoiceMade, ChoiceQuestion, FileReply, Notice, Platform, Reply, TextMessage
from bot.privacy import rights
from bot.privacy.audit import AuditAction, first_broken
from bot.privacy.setup import attach_key
from bot.reports import Audience, ReportStatus
from bot.store import MemoryStore, RecordKind, Store, TinyStore
from tests.conftest import TYPED_REPORT, RecordingMessenger, type_report
from tests.conftest import Chat as ConftestChat

if TYPE_CHECKING:  # imported by pytest_plugins below: an import here would come first
    from tests.pg import OpenPostgres

pytest_plugins = ["tests.pg"]  # pg_url and open_postgres, for the run on every store

ALICE, BOB, CAROL, DAN = (f"console:local:{u}" for u in ("alice", "bob", "carol", "dan"))
ADMIN = "console:local:admin"
ALICE_SAID = "Quillfeather-7731 posted outside my house"
"""A marker in Alice's report: found in her file, and after her erasure nowhere."""
ALICE_DRAFTED = "Draft-marker-5518 not yet filed"
DAN_SAID = "Dan-marker-2290 was posted about my son"
BOB_NOTE = "Bob-note-4407 about the family"


class Chat(ConftestChat):
    """A person's side in core events, each with an id of its own (these tests
    start several chats for one person)."""

    def next_id(self) -> str:
        return f"{self.person.user}-{uuid.uuid4().hex}"


def answers(description: str) -> list[tuple[str, str]]:
    return [(s, description if s == "description" else a) for s, a in TYPED_REPORT]


async def file(chat: Chat, description: str) -> str:
    await chat.command("report")
    await type_report(chat, answers(description))
    await chat.say("yes")
    return next(w for w in chat.text().replace(".", " ").split() if w.startswith("HB-"))


async def press(harbour: Harbour, user: str, ref: str, action: str) -> Chat:
    chat = Chat(harbour, user)
    await chat.send_event(
        ChoiceMade(
            event_id=chat.next_id(),
            person=chat.person,
            question=f"case:{ref}",
            values=(action,),
            token=ref,
        )
    )
    return chat


async def named(harbour: Harbour, user: str, name: str) -> None:
    """A message carrying the name the platform gives (kept as a PEOPLE record)."""
    chat = Chat(harbour, user)
    await chat.send_event(
        TextMessage(event_id=chat.next_id(), person=chat.person, text="hello", display_name=name)
    )


def the_file(replies: list[Reply]) -> FileReply:
    [found] = [r for r in replies if isinstance(r, FileReply)]
    return found


async def mydata(harbour: Harbour, user: str) -> tuple[FileReply, dict[str, Any]]:
    chat = Chat(harbour, user)
    found = the_file(await chat.command("mydata"))
    return found, json.loads(found.content.decode("utf-8"))


# ------------------------------------------------------------------ mydata


async def test_mydata_holds_her_reports_draft_and_records_and_nobody_elses(
    harbour: Harbour, store: Store
) -> None:
    await named(harbour, "alice", "Alice Quill")
    alice = Chat(harbour, "alice")
    ref = await file(alice, ALICE_SAID)
    await file(Chat(harbour, "dan"), DAN_SAID)
    bob = await press(harbour, "bob", ref, "ack")
    await press(harbour, "bob", ref, "note")
    await bob.say(BOB_NOTE)
    await bob.say("yes")
    await alice.command("report")
    await alice.say("no")  # danger
    await alice.say("pause")

    made, data = await mydata(harbour, "alice")

    assert made.name == "harbour-mydata-2026-03-02.json"
    assert made.media_type == "application/json"
    assert made.caption == rights.CAPTION and "personal information" in made.caption
    assert made.ask_again == "mydata"
    text = made.content.decode("utf-8")
    assert text.startswith("{\n  ")  # indented: readable as it is
    assert ALICE_SAID in text
    assert DAN_SAID not in text and BOB_NOTE not in text  # nobody else's words
    assert data["what_this_is"].startswith("Everything Harbour holds about you")
    assert data["made_at"].startswith("2026-03-02")
    assert data["harbour_id"] == ALICE
    assert data["name"]["name"] == "Alice Quill"
    [report] = data["reports"]
    assert report["reference"] == ref
    assert report["answers"]["description"] == ALICE_SAID
    assert report["acknowledged_by"] == BOB
    timeline = {e["action"]: e for e in report["timeline"]}
    assert timeline["acknowledged"]["actor"] == BOB
    assert timeline["note"]["detail"] == rights.NOTE_WITHHELD  # marked, its words left out
    assert data["conversation"]["drafts"]["report"]["answers"]["in_danger"] is False
    assert data["managers"]["in_directory"] == [BOB]
    assert data["cases_you_are_named_on"] == []


async def test_a_manager_s_file_names_her_cases_not_what_they_say(
    harbour: Harbour, store: Store
) -> None:
    ref = await file(Chat(harbour, "alice"), ALICE_SAID)
    await press(harbour, "bob", ref, "ack")
    kept = await file(Chat(harbour, "dan"), DAN_SAID)  # Dan keeps it from Bob (below)
    report = await store.get_report(kept)
    assert report is not None and BOB in report.managers

    def leads_only(r: Any) -> list[Any]:
        r.answers.audience = Audience.LEADS_ONLY
        r.kept_out = [BOB]
        return []

    await store.update_report(kept, leads_only)

    made, data = await mydata(harbour, "bob")

    text = made.content.decode("utf-8")
    assert ALICE_SAID not in text and DAN_SAID not in text
    assert data["cases_you_are_named_on"] == [
        {"reference": ref, "roles": ["named as the worker's manager", "acknowledged it"]}
    ]
    assert kept not in text  # a case kept from him is not named to him
    assert sorted(data["managers"]["you_manage"]) == [ALICE, DAN]
    acted = data["audit_entries_of_what_you_did"]
    assert {(e["action"], e["reference"]) for e in acted} >= {("acted", ref)}
    assert all(e["actor"] == BOB for e in acted)


async def test_mydata_is_audited_store_wide_without_content(harbour: Harbour, store: Store) -> None:
    await file(Chat(harbour, "alice"), ALICE_SAID)
    await mydata(harbour, "alice")
    chain = await store.audit_chain(None)
    exported = [e for e in chain if e.action is AuditAction.EXPORTED]
    assert [(e.actor, e.surface, e.detail, e.reference) for e in exported] == [
        (ALICE, "console", "mydata", None)
    ]
    assert first_broken(chain, trimmed=True) is None
    # A second export lists the first among what she did.
    _, data = await mydata(harbour, "alice")
    assert [e["action"] for e in data["audit_entries_of_what_you_did"] if not e["reference"]] == [
        "exported"
    ]


async def test_mydata_of_someone_harbour_holds_nothing_about(harbour: Harbour) -> None:
    made, data = await mydata(harbour, "zoe")
    assert made.caption == rights.CAPTION_EMPTY
    assert data["harbour_id"] == "console:local:zoe"
    assert data["reports"] == [] and data["cases_you_are_named_on"] == []
    assert data["name"] is None and data["how_harbour_reaches_you"] is None
    assert data["conversation"] is None  # nothing saved before this, her first word


async def test_mydata_in_the_console_writes_a_private_file(
    harbour: Harbour, tmp_path: Path
) -> None:
    await file(Chat(harbour, "alice"), ALICE_SAID)
    out = io.StringIO()
    folder = tmp_path / "files"
    await console_chat(
        harbour,
        console_person("alice"),
        stdin=io.StringIO("mydata\nmydata\n"),
        stdout=out,
        interactive=False,
        files=folder,
    )
    printed = out.getvalue()
    assert "keep it somewhere private" in " ".join(printed.split())
    saved = sorted(folder.iterdir())
    assert [p.name for p in saved] == [
        "harbour-mydata-2026-03-02-2.json",  # the second copy never overwrites the first
        "harbour-mydata-2026-03-02.json",
    ]
    for path in saved:
        assert str(path) in printed
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        assert (
            ALICE_SAID
            in json.loads(path.read_text(encoding="utf-8"))["reports"][0]["answers"]["description"]
        )
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700


# ------------------------------------------------------------------ admin erase: refusals


async def test_erase_is_for_administrators_only(harbour: Harbour, store: Store) -> None:
    ref = await file(Chat(harbour, "dan"), DAN_SAID)
    alice = Chat(harbour, "alice")
    await alice.command("admin", f"erase {DAN}")
    assert "Only Harbour administrators can erase" in alice.text()
    assert await store.get_report(ref) is not None
    session = await store.load_session(alice.person)
    assert session is None or session.pending is None


async def test_erasing_someone_harbour_knows_nothing_about_changes_nothing(
    harbour: Harbour, store: Store
) -> None:
    admin = Chat(harbour, "admin")
    await admin.command("admin", "erase console:local:nobody")
    assert "Harbour holds nothing about console:local:nobody" in admin.text()
    assert not any(isinstance(r, ChoiceQuestion) for r in admin.replies)
    assert [e for e in await store.audit_chain(None) if e.action is AuditAction.ERASED] == []
    await admin.command("admin", "erase not-an-id")
    assert "Say whose data to erase" in admin.text()


async def test_a_current_safety_lead_must_be_removed_as_one_first(
    harbour: Harbour, store: Store
) -> None:
    await file(Chat(harbour, "carol"), "Carol's own report")
    admin = Chat(harbour, "admin")
    await admin.command("admin", f"erase {CAROL}")
    assert f"admin lead remove {CAROL}" in admin.text()
    assert len(await store.reports_by(Chat(harbour, "carol").person)) == 1
    await admin.command("admin", f"lead add {DAN}")  # a lead set in chat, too
    await admin.command("admin", f"erase {DAN}")
    assert "is a safety lead" in admin.text()


async def test_an_administrator_cannot_erase_herself(harbour: Harbour) -> None:
    admin = Chat(harbour, "admin")
    await admin.command("mydata")
    await admin.command("admin", f"erase {ADMIN}")
    assert "You can't erase your own data" in admin.text()


async def test_an_administrator_who_manages_her_learns_nothing_and_erases_nothing(
    harbour: Harbour, store: Store, directory: Directory
) -> None:
    """Bob is Alice's manager and an administrator; she kept him out of her
    report ("only the safety leads"): he may be the problem. He is refused as
    her manager, learns nothing of the report, and it stays whole; and once
    he no longer manages her, a report naming him still refuses him."""
    harbour.access.admins = frozenset({ADMIN, BOB})
    alice = Chat(harbour, "alice")
    await alice.command("report")
    await type_report(alice, [*TYPED_REPORT[:-1], ("audience", "2")])
    await alice.say("yes")
    [report] = await store.reports_by(alice.person)
    assert report.kept_out == [BOB]
    bob = Chat(harbour, "bob")
    await bob.command("admin", f"erase {ALICE}")
    said = bob.text()
    assert "You manage (or managed)" in said and "Nothing was changed" in said
    assert report.reference not in said and "every report" not in said
    assert await store.get_report(report.reference) is not None
    session = await store.load_session(bob.person)
    assert session is None or session.pending is None, "no confirmation was asked"
    directory.managers[ALICE] = [DAN]  # Bob no longer manages her
    await bob.command("admin", f"erase {ALICE}")
    assert "You manage (or managed)" in bob.text()
    assert await store.get_report(report.reference) is not None


# ------------------------------------------------------------------ admin erase: done


async def test_erase_shows_counts_and_cancel_keeps_everything(
    harbour: Harbour, store: Store
) -> None:
    await named(harbour, "dan", "Dan Marker")
    ref = await file(Chat(harbour, "dan"), DAN_SAID)
    admin = Chat(harbour, "admin")
    await admin.command("admin", f"erase {DAN}")
    [preview] = [r for r in admin.replies if isinstance(r, Notice)]
    assert preview.title == f"Erasing {DAN} removes"
    assert "every report of theirs" in preview.text and "1 report" not in preview.text
    assert "their name and contact records\n" in preview.text + "\n"
    assert DAN_SAID not in admin.text() and "Dan Marker" not in admin.text()  # counts only
    await admin.choose("cancel")
    assert "Nothing was erased" in admin.text()
    assert await store.get_report(ref) is not None
    assert await store.get_record(RecordKind.PEOPLE, DAN) is not None
    # A stale press of the old question does nothing either.
    await admin.choose("erase", question=f"{rights.ERASE_QUESTION}{DAN}", token="id-old")
    assert await store.get_report(ref) is not None


async def test_erase_confirmed_removes_her_and_audits_counts_only(
    harbour: Harbour, store: Store
) -> None:
    ref = await file(Chat(harbour, "dan"), DAN_SAID)
    other = await file(Chat(harbour, "alice"), ALICE_SAID)
    admin = Chat(harbour, "admin")
    await admin.command("admin", f"erase {DAN}")
    await admin.say("1")  # typed, as on the console: "Erase it all"
    assert f"Done: {DAN} is erased. Their reports" in admin.text()
    assert await store.get_report(ref) is None
    assert await store.reports_by(Chat(harbour, "dan").person) == []
    assert await store.load_session(Chat(harbour, "dan").person) is None
    assert await store.get_report(other) is not None
    [erased] = [e for e in await store.audit_chain(None) if e.action is AuditAction.ERASED]
    assert erased.actor == ADMIN and erased.surface == "console"
    assert "dan" not in erased.detail and "1 reports" in erased.detail
    assert await store.audit_chain(ref) == []


async def test_her_id_becomes_the_marker_on_a_case_she_managed(
    harbour: Harbour, store: Store, directory: Directory
) -> None:
    ref = await file(Chat(harbour, "alice"), ALICE_SAID)
    await press(harbour, "bob", ref, "ack")
    bob = await press(harbour, "bob", ref, "checkins")
    await bob.say("1")
    await bob.say("yes")
    admin = Chat(harbour, "admin")
    await admin.command("admin", f"erase {BOB}")
    assert "1 case(s) or alert(s) of other people that name them" in admin.text()
    assert "also named in the team directory" in admin.text()
    await admin.choose("erase")
    report = await store.get_report(ref)
    assert report is not None
    assert report.managers == [rights.ERASED]
    assert report.acknowledged_by == rights.ERASED
    assert [c.by for c in report.checkins] == [rights.ERASED]
    assert BOB not in report.model_dump_json()
    assert report.answers.description == ALICE_SAID  # the worker's report is whole
    # The case still works for its team and its worker.
    await Chat(harbour, "alice").command("mine")
    carol = Chat(harbour, "carol")
    await carol.command("cases", ref)
    assert ref in carol.text()
    # The directory file still names Bob: only changing the file changes that.
    assert directory.managers[ALICE] == [BOB]


async def test_erasing_twice_and_after_an_interruption(
    harbour: Harbour, store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    mine = await file(Chat(harbour, "bob"), "Bob's own report")
    refs = [await file(Chat(harbour, user), ALICE_SAID) for user in ("alice", "dan")]
    for ref in refs:
        await press(harbour, "bob", ref, "ack")
    admin = Chat(harbour, "admin")
    real = store.update_report
    calls = itertools.count()

    async def fails_on_the_second(reference: str, change: Any) -> Any:
        if next(calls) == 1:
            raise OSError("the disk went away")
        return await real(reference, change)

    monkeypatch.setattr(store, "update_report", fails_on_the_second)
    await admin.command("admin", f"erase {BOB}")
    await admin.choose("erase")
    assert "Something went wrong" in admin.text()
    assert await store.get_report(mine) is None  # his own data went first
    reports = [await store.get_report(r) for r in refs]
    assert sum(1 for r in reports if r is not None and BOB in r.model_dump_json()) == 1
    monkeypatch.setattr(store, "update_report", real)

    await admin.command("admin", f"erase {BOB}")  # again: it finishes
    assert "every report of theirs" in admin.text()
    assert "1 case(s) or alert(s)" in admin.text()
    await admin.choose("erase")
    for ref in refs:
        report = await store.get_report(ref)
        assert report is not None and BOB not in report.model_dump_json()
    await admin.command("admin", f"erase {BOB}")  # and once done, there is nothing left
    assert f"Harbour holds nothing about {BOB}" in admin.text()


def tiny_harbour(store: Store, clock: Any, settings: Settings, directory: Directory) -> Harbour:
    counter = itertools.count(1)
    return Harbour(
        store,
        settings.flow_context(),
        clock=clock,
        ids=lambda: f"id{next(counter)}",
        library=settings.guidance(),
        directory=directory,
        admins=frozenset({ADMIN}),
    )


def files_holding(folder: Path, *markers: str) -> list[str]:
    found = []
    for path in folder.rglob("*"):
        if path.is_file():
            data = path.read_bytes()
            found += [f"{path.name}: {m}" for m in markers if m.encode() in data]
    return found


async def test_erase_with_her_draft_open_and_alerts_pending_leaves_no_trace(
    tmp_path: Path, clock: Any, settings: Settings, directory: Directory
) -> None:
    """On the file store with no key (a marker would be found in clear): her
    reports, her draft, her name and her case's pending alerts all go; no
    alert about her case is sent after; Dan's report is untouched."""
    store = TinyStore(tmp_path / "data")
    try:
        harbour = tiny_harbour(store, clock, settings, directory)
        messenger = RecordingMessenger()
        notifier = Notifier(harbour, {Platform.CONSOLE: messenger})
        alice = Chat(harbour, "alice")
        ref = await file(alice, ALICE_SAID)
        dan_ref = await file(Chat(harbour, "dan"), DAN_SAID)
        await alice.command("report")
        await alice.say("no")
        await alice.say(ALICE_DRAFTED)  # an answer on her open draft
        assert any(e.reference == ref for e in await store.pending_events())
        assert files_holding(tmp_path, ALICE_SAID, ALICE_DRAFTED)  # found in clear before

        admin = Chat(harbour, "admin")
        await admin.command("admin", f"erase {ALICE}")
        await admin.choose("erase")
        assert f"Done: {ALICE} is erased" in admin.text()

        assert await store.get_report(ref) is None
        assert await store.reports_by(alice.person) == []
        assert await store.load_session(alice.person) is None
        assert [e for e in await store.pending_events() if e.reporter == alice.person] == []
        assert ref not in await store.references()
        await notifier.run_once()
        sent = json.dumps([[r.model_dump(mode="json") for r in rs] for _, rs in messenger.sent])
        assert ref not in sent and dan_ref in sent
        dan_report = await store.get_report(dan_ref)
        assert dan_report is not None and dan_report.answers.description == DAN_SAID
        assert dan_report.status is ReportStatus.OPEN
        assert files_holding(tmp_path, ALICE_SAID, ALICE_DRAFTED) == []
        assert files_holding(tmp_path, DAN_SAID)  # only hers went
    finally:
        await store.close()
    reopened = TinyStore(tmp_path / "data")
    try:
        assert await reopened.get_report(ref) is None
        assert await reopened.load_session(alice.person) is None
        assert (await reopened.get_report(dan_ref)) is not None
    finally:
        await reopened.close()


async def test_erase_leaves_her_name_nowhere_on_disk(
    tmp_path: Path, clock: Any, settings: Settings, directory: Directory
) -> None:
    store = TinyStore(tmp_path / "data")
    try:
        harbour = tiny_harbour(store, clock, settings, directory)
        await named(harbour, "alice", "Alice Quillfeather")
        await file(Chat(harbour, "alice"), ALICE_SAID)
        assert files_holding(tmp_path, "Alice Quillfeather")
        admin = Chat(harbour, "admin")
        await admin.command("admin", f"erase {ALICE}")
        await admin.choose("erase")
        assert await store.get_record(RecordKind.PEOPLE, ALICE) is None
        assert files_holding(tmp_path, "Alice Quillfeather", ALICE_SAID) == []
    finally:
        await store.close()


async def test_danger_alerts_not_yet_sent_about_her_are_never_sent(
    harbour: Harbour, store: Store, notifier: Notifier, messenger: RecordingMessenger
) -> None:
    """Raised by her draft before any report (immediate danger): no report
    erases them, so the erasure settles them itself, and nobody is alerted."""
    alice = Chat(harbour, "alice")
    await alice.command("report")
    await alice.say("yes")  # someone is in immediate danger: the leads hear at once...
    [raised] = [e for e in await store.pending_events() if e.reporter == alice.person]
    assert raised.reference is None
    admin = Chat(harbour, "admin")
    await admin.command("admin", f"erase {ALICE}")  # ...unless she is erased first
    assert "1 alert(s) about them not yet sent: never sent" in admin.text()
    await admin.choose("erase")
    await notifier.run_once()
    assert messenger.sent == []
    assert await store.pending_events() == []
    assert await store.records(RecordKind.DANGER_ALERTS) == {}
    assert await store.load_session(alice.person) is None


async def test_erase_forgets_files_waiting_for_her(harbour: Harbour, store: Store) -> None:
    await file(Chat(harbour, "dan"), DAN_SAID)
    made, _ = await mydata(harbour, "dan")
    token = await rights.keep_waiting_file(
        store, Chat(harbour, "dan").person, made, harbour.clock()
    )
    assert await store.get_record(RecordKind.OUTGOING_FILES, token) is not None
    admin = Chat(harbour, "admin")
    await admin.command("admin", f"erase {DAN}")
    assert "1 file(s) waiting for them to accept" in admin.text()
    await admin.choose("erase")
    assert await store.records(RecordKind.OUTGOING_FILES) == {}


# ------------------------------------------------------------------ files waiting for her


async def test_a_waiting_file_goes_once_to_its_person_and_expires(
    harbour: Harbour, clock: Any
) -> None:
    store = MemoryStore()
    alice, dan = Chat(harbour, "alice").person, Chat(harbour, "dan").person
    made = FileReply(name="a.json", media_type="application/json", content=b"{}", caption="c")
    token = await rights.keep_waiting_file(store, alice, made, clock())
    assert await rights.take_waiting_file(store, token, dan, clock()) is None  # not his
    taken = await rights.take_waiting_file(store, token, alice, clock())
    assert taken is not None and taken.file == made
    assert await rights.take_waiting_file(store, token, alice, clock()) is None  # went once
    late = await rights.keep_waiting_file(store, alice, made, clock())
    clock.advance(days=1, seconds=1)
    assert await rights.take_waiting_file(store, late, alice, clock()) is None
    stale = await rights.keep_waiting_file(store, alice, made, clock())
    clock.advance(days=2)
    assert await rights.forget_expired_files(store, clock()) == 1
    assert await store.get_record(RecordKind.OUTGOING_FILES, stale) is None


# ------------------------------------------------------------------ on every store


@pytest.fixture(params=["memory", "tiny", "postgres"])
def open_any(request: pytest.FixtureRequest, tmp_path: Path) -> Callable[[], Awaitable[Store]]:
    """Opens the store under test (PostgreSQL: a schema of this test's own, closed
    and dropped by its fixture)."""
    if request.param == "postgres":
        open_pg: OpenPostgres = request.getfixturevalue("open_postgres")
        return open_pg

    async def open_embedded() -> Store:
        return TinyStore(tmp_path / "data") if request.param == "tiny" else MemoryStore()

    return open_embedded


@pytest.fixture
async def any_store(open_any: Callable[[], Awaitable[Store]]) -> AsyncIterator[Store]:
    store = await open_any()
    yield store
    await store.close()


async def test_mydata_and_erase_on_every_store(
    any_store: Store, clock: Any, settings: Settings, directory: Directory
) -> None:
    store = any_store
    harbour = tiny_harbour(store, clock, settings, directory)
    messenger = RecordingMessenger()
    notifier = Notifier(harbour, {Platform.CONSOLE: messenger})
    await named(harbour, "bob", "Bob Marker")
    bob_own = await file(Chat(harbour, "bob"), "Bob's own report")
    ref = await file(Chat(harbour, "alice"), ALICE_SAID)
    await press(harbour, "bob", ref, "ack")
    _, before = await mydata(harbour, "bob")
    assert [c["reference"] for c in before["cases_you_are_named_on"]] == [ref]

    admin = Chat(harbour, "admin")
    await admin.command("admin", f"erase {BOB}")
    assert "every report of theirs" in admin.text()
    await admin.choose("erase")
    assert f"Done: {BOB} is erased" in admin.text()

    assert await store.get_report(bob_own) is None
    assert await store.get_record(RecordKind.PEOPLE, BOB) is None
    report = await store.get_report(ref)
    assert report is not None and BOB not in report.model_dump_json()
    assert report.managers == [rights.ERASED] and report.answers.description == ALICE_SAID
    assert [e for e in await store.pending_events() if e.reference == bob_own] == []
    await notifier.run_once()
    sent = json.dumps([[r.model_dump(mode="json") for r in rs] for _, rs in messenger.sent])
    assert bob_own not in sent
    [erased] = [e for e in await store.audit_chain(None) if e.action is AuditAction.ERASED]
    assert erased.actor == ADMIN and BOB not in erased.detail
    _, after = await mydata(harbour, "bob")
    assert after["reports"] == [] and after["cases_you_are_named_on"] == []


async def test_a_waiting_file_is_sealed_at_rest(tmp_path: Path, clock: Any) -> None:
    """Teams keeps the file until she answers: on disk it is sealed whole."""
    store = TinyStore(tmp_path / "data")
    try:
        await attach_key(
            store, key="", key_file=tmp_path / "harbour.key", data_dir=tmp_path / "data"
        )
        alice = console_person("alice")
        made = FileReply(
            name="harbour-mydata.json",
            media_type="application/json",
            content=json.dumps({"said": ALICE_SAID}).encode(),
            caption="Here it is.",
        )
        token = await rights.keep_waiting_file(store, alice, made, clock())
        assert files_holding(tmp_path / "data", ALICE_SAID, "harbour-mydata.json", alice.key) == []
        taken = await rights.take_waiting_file(store, token, alice, clock())
        assert taken is not None and taken.file.content == made.content
    finally:
        await store.close()
