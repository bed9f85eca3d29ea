"""The audit of every view and action, where people meet it: a report filed,
alerts delivered, a manager opening and acknowledging the case, the worker
asking who has seen it, a lead reading the audit, and `harbour audit verify`
finding an entry someone changed."""

from __future__ import annotations

import asyncio
import io
from datetime import UTC, datetime
from pathlib import Path

import pytest

from bot.alerts.sender import Notifier
from bot.app import Harbour
from bot.cli import main
from bot.config import Settings
from bot.directory import Directory
from bot.models import Platform, SummaryCard
from bot.privacy import trail
from bot.privacy.audit import GENESIS, AuditAction, AuditEntry, first_broken, link
from bot.store import RecordKind, Store, TinyStore
from tests.conftest import Chat, RecordingMessenger
from tests.test_cases import file, press

ALICE = "console:local:alice"
BOB, CAROL = "console:local:bob", "console:local:carol"


def kinds(entries: list[AuditEntry]) -> list[tuple[str, AuditAction, str]]:
    return [(e.actor, e.action, e.detail) for e in entries]


async def test_filing_alerts_views_and_actions_are_audited_in_order(
    harbour: Harbour, notifier: Notifier, messenger: RecordingMessenger, chat: Chat
) -> None:
    ref = await file(chat)
    await notifier.run_once()
    await Chat(harbour, "bob").command("cases", ref)
    await press(harbour, "bob", ref, "ack")
    await notifier.run_once()

    entries = await harbour.store.audit_chain(ref)
    assert first_broken(entries) is None
    assert [e.n for e in entries] == list(range(1, len(entries) + 1))
    found = kinds(entries)
    assert found[0] == (ALICE, AuditAction.FILED, "")
    # Her manager's alert carried the case: a view. The leads' channel got a notice.
    assert (BOB, AuditAction.ALERT_DELIVERED, "case shown") in found
    assert any(
        a.startswith("channel:") and act is AuditAction.ALERT_DELIVERED for a, act, _ in found
    )
    assert (BOB, AuditAction.VIEWED, "") in found
    assert (BOB, AuditAction.ACTED, "ack") in found
    assert found.index((BOB, AuditAction.VIEWED, "")) < found.index((BOB, AuditAction.ACTED, "ack"))
    assert all(e.surface == "console" for e in entries)
    # Nothing anyone wrote is in an entry.
    text = " ".join(e.model_dump_json() for e in entries)
    assert "street" not in text and "facebook" not in text


async def test_the_worker_sees_who_else_has_opened_her_report(
    harbour: Harbour, notifier: Notifier, chat: Chat
) -> None:
    ref = await file(chat)
    await harbour.store.put_record(RecordKind.PEOPLE, BOB, {"name": "Bob Manager"})
    await notifier.run_once()
    await Chat(harbour, "bob").command("cases", ref)

    replies = await chat.command("audit", ref)
    card = next(r for r in replies if isinstance(r, SummaryCard))
    assert card.title == f"Who has seen {ref}"
    shown = [f.value for f in card.fields]
    assert any(v.startswith("Bob Manager opened it") for v in shown)
    assert any(v.startswith("Bob Manager was alerted") for v in shown)
    assert not any(v.startswith("The worker") for v in shown), "her own steps are not listed"
    # Her own case card tells her how to ask.
    own = next(r for r in await chat.command("cases", ref) if isinstance(r, SummaryCard))
    assert own.case == ref and f"audit {ref}" in own.footer


async def test_a_lead_reads_the_audit_and_a_manager_may_not(
    harbour: Harbour, notifier: Notifier, chat: Chat
) -> None:
    ref = await file(chat)
    await notifier.run_once()
    lead = Chat(harbour, "carol")
    replies = await lead.command("audit", ref)
    card = next(r for r in replies if isinstance(r, SummaryCard))
    assert card.title == f"Audit of {ref}" and "intact" in card.footer
    manager = Chat(harbour, "bob")
    await manager.command("audit", ref)
    assert "safety leads" in manager.text() and "Audit of" not in manager.text()
    stranger = Chat(harbour, "zed")
    await stranger.command("audit", ref)
    nowhere = Chat(harbour, "zed2")
    await nowhere.command("audit", "HB-2026-9999")
    assert stranger.text() == nowhere.text(), "a reference can't be probed through the audit"
    await stranger.command("audit", "")
    assert "Which case?" in stranger.text()


async def test_concurrent_steps_keep_one_unbroken_chain(
    harbour: Harbour, notifier: Notifier, chat: Chat
) -> None:
    ref = await file(chat)
    chats = [Chat(harbour, "bob"), Chat(harbour, "carol")]
    await asyncio.gather(
        *(c.command("cases", ref) for c in chats for _ in range(5)),
        notifier.run_once(),
    )
    entries = await harbour.store.audit_chain(ref)
    assert first_broken(entries) is None
    assert sum(e.action is AuditAction.VIEWED for e in entries) >= 10


async def test_an_audit_that_cannot_be_written_does_not_fail_the_step(
    harbour: Harbour, chat: Chat, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    async def refuse(entry: AuditEntry) -> AuditEntry:
        raise OSError("disk full")

    monkeypatch.setattr(harbour.store, "append_audit", refuse)
    ref = await file(chat)
    assert ref.startswith("HB-") and await harbour.store.get_report(ref) is not None
    assert "could not be written (OSError)" in caplog.text


def test_a_trimmed_store_wide_chain_verifies_from_its_first_kept_entry() -> None:
    chain: list[AuditEntry] = []
    for i in range(5):
        entry = AuditEntry(
            n=0, at=datetime(2026, 1, 1 + i, tzinfo=UTC), actor="harbour", action=AuditAction.PURGED
        )
        chain.append(link(entry, chain[-1] if chain else None))
    kept = chain[2:]
    assert first_broken(kept, trimmed=True) is None
    assert first_broken(kept) == 1, "a case's chain must start at its first entry"
    assert chain[0].previous == GENESIS


async def _tamper(store: Store, ref: str) -> None:
    """Change one stored entry's actor the way someone editing the files would,
    through the store's own file layer (so its checksums still hold)."""
    assert isinstance(store, TinyStore)
    key = store._delivery_key(ref)
    assert key is not None
    case_file = store._deliveries(key)
    docs = list(case_file.docs("audit"))
    doc_id, _ = docs[1]
    with case_file.batch():
        case_file.table("audit").update({"actor": "console:local:someone-else"}, doc_ids=[doc_id])


async def test_harbour_audit_verify_names_the_entry_that_was_changed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    data = tmp_path / "data"
    monkeypatch.setenv("HARBOUR_DATA_DIR", str(data))
    monkeypatch.setenv("HARBOUR_KEY_FILE", str(tmp_path / "harbour.key"))
    store = TinyStore(data)
    try:
        harbour = Harbour(
            store,
            Settings(_env_file=None).flow_context(),  # type: ignore[call-arg]
            directory=Directory(managers={ALICE: [BOB]}, leads={CAROL}),
        )
        notifier = Notifier(harbour, {Platform.CONSOLE: RecordingMessenger()})
        ref = await file(Chat(harbour))
        await notifier.run_once()
        await Chat(harbour, "bob").command("cases", ref)
        before = await store.audit_chain(ref)
        assert len(before) >= 3 and first_broken(before) is None
        await _tamper(store, ref)
        after = await store.audit_chain(ref)
        assert first_broken(after) == 2
        out = io.StringIO()
        assert await trail.verify(store, out) == 1
        assert f"{ref}: entry 2 has been changed" in out.getvalue()
        lead = Chat(harbour, "carol")
        card = next(r for r in await lead.command("audit", ref) if isinstance(r, SummaryCard))
        assert "Entry 2 has been changed or removed" in card.footer
    finally:
        await store.close()
    capsys.readouterr()
    assert await asyncio.to_thread(main, ["audit", "verify"]) == 1
    said = capsys.readouterr().out
    assert f"{ref}: entry 2" in said and "1 broken" in said
    assert await asyncio.to_thread(main, ["audit", "show", ref.lower()]) == 0
    assert "Broken at entry 2." in capsys.readouterr().out
    assert await asyncio.to_thread(main, ["audit", "show"]) == 2
