"""The key ring and the audit chain, on their own (the stores' use of them is
tested with the stores)."""

from __future__ import annotations

import json
import logging
import stat
from datetime import UTC, datetime
from pathlib import Path

import pytest

from bot.privacy.audit import AuditAction, AuditEntry, first_broken, link
from bot.privacy.keys import KeyProblem, KeyRing, SealError, load_ring, new_ring
from bot.privacy.sealing import Sealer
from bot.store import StoreError

MARKER = "ZEBRA-7731 lives at 4 Elm Street"


def test_a_sealed_value_opens_only_where_it_was_sealed_and_hides_its_text() -> None:
    ring = new_ring("test")
    sealed = ring.seal_text(MARKER, "report:HB-2026-0001")
    assert "ZEBRA" not in sealed and "Elm" not in sealed
    assert ring.open_text(sealed, "report:HB-2026-0001") == MARKER
    with pytest.raises(SealError, match="damaged or moved"):
        ring.open_text(sealed, "report:HB-2026-0002")  # copied onto another record


def test_a_damaged_seal_is_refused_naming_the_key_not_the_value() -> None:
    ring = new_ring("test")
    sealed = ring.seal_text(MARKER, "x")
    damaged = sealed[:-6] + ("A" if sealed[-6] != "A" else "B") + sealed[-5:]
    with pytest.raises(SealError) as found:
        ring.open_text(damaged, "x")
    assert ring.current in str(found.value) and "ZEBRA" not in str(found.value)
    with pytest.raises(SealError, match="not a sealed value"):
        ring.open_text("plain words", "x")


def test_after_rotation_old_seals_open_until_the_old_key_is_retired() -> None:
    ring = new_ring("test")
    old = ring.seal_text(MARKER, "x")
    rotated = ring.rotated()
    assert rotated.current != ring.current
    assert rotated.open_text(old, "x") == MARKER
    new = rotated.seal_text(MARKER, "x")
    assert new.split(".")[1] == rotated.current
    retired = rotated.only_current()
    assert retired.open_text(new, "x") == MARKER
    with pytest.raises(SealError, match="does not hold"):
        retired.open_text(old, "x")


def test_a_fresh_install_makes_a_private_key_file_and_says_to_back_it_up(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    key_file = tmp_path / "keys" / "harbour.key"
    with caplog.at_level(logging.WARNING):
        ring = load_ring(key="", key_file=key_file, data_dir=tmp_path / "data", fresh=True)
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert "BACK IT UP" in caplog.text
    again = load_ring(key="", key_file=key_file, data_dir=tmp_path / "data", fresh=False)
    assert again.open_text(ring.seal_text("x", "y"), "y") == "x"
    assert again.opens_check(ring.check_value())


def test_data_without_its_key_is_refused_and_nothing_is_made(tmp_path: Path) -> None:
    key_file = tmp_path / "harbour.key"
    with pytest.raises(KeyProblem, match="no key"):
        load_ring(key="", key_file=key_file, data_dir=tmp_path / "data", fresh=False)
    assert not key_file.exists()


def test_a_key_file_inside_the_data_directory_is_refused(tmp_path: Path) -> None:
    with pytest.raises(KeyProblem, match="inside the data directory"):
        load_ring(key="", key_file=tmp_path / "harbour.key", data_dir=tmp_path, fresh=True)


@pytest.mark.parametrize("text", ["", "not json", '{"keys": {}, "current": "k1"}', "[1]"])
def test_a_key_that_is_not_harbour_s_gets_a_clear_message(text: str) -> None:
    with pytest.raises(KeyProblem) as found:
        KeyRing.loads(text, "HARBOUR_KEY")
    assert "HARBOUR_KEY" in str(found.value)


def test_the_wrong_key_fails_the_check_before_anything_is_read() -> None:
    assert not new_ring("a").opens_check(new_ring("b").check_value())


# --------------------------------------------------------------------------- audit chain


def chain(count: int) -> list[AuditEntry]:
    entries: list[AuditEntry] = []
    for n in range(count):
        entry = AuditEntry(
            n=0,
            at=datetime(2026, 12, 2, 9, n, tzinfo=UTC),
            actor="slack:T1:U-BOB",
            action=AuditAction.VIEWED,
            reference="HB-2026-0001",
            surface="slack",
        )
        entries.append(link(entry, entries[-1] if entries else None))
    return entries


def test_an_untouched_chain_holds() -> None:
    assert first_broken(chain(5)) is None
    assert first_broken([]) is None


def test_changing_removing_or_reordering_an_entry_is_found_where_it_happened() -> None:
    entries = chain(5)
    changed = [*entries]
    changed[2] = changed[2].model_copy(update={"actor": "slack:T1:U-EVE"})
    assert first_broken(changed) == 3
    assert first_broken(entries[:1] + entries[2:]) == 2
    assert first_broken([entries[1], entries[0], *entries[2:]]) == 1
    # Rehashing the changed entry alone does not help: the next link breaks.
    rehashed = [*entries]
    rehashed[2] = link(changed[2], entries[1])
    assert first_broken(rehashed) == 4


# --------------------------------------------------------------------------- sealing


def test_a_report_keeps_in_clear_only_what_the_store_reads() -> None:
    sealer = Sealer(new_ring("test"))
    doc = {
        "reference": "HB-2026-0001",
        "year": 2026,
        "seq": 1,
        "risk": "high",
        "status": "open",
        "answers": {"description": MARKER},
        "timeline": [{"action": "note", "detail": MARKER}],
    }
    stored = sealer.report_out(doc)
    assert MARKER not in json.dumps(stored)
    assert stored["reference"] == "HB-2026-0001" and stored["risk"] == "high"
    assert sealer.report_in(stored) == doc
    # Moved onto another report, it does not open.
    with pytest.raises(StoreError, match="damaged or moved"):
        sealer.report_in({**stored, "reference": "HB-2026-0002"})


def test_sealed_data_read_with_no_key_is_refused_clearly() -> None:
    stored = Sealer(new_ring("test")).record_out("people", "slack:T:U1", {"name": MARKER})
    assert MARKER not in json.dumps(stored)
    with pytest.raises(StoreError, match="HARBOUR_KEY_FILE"):
        Sealer(None).record_in("people", "slack:T:U1", stored)
    # Data written before sealing reads as it is.
    assert Sealer(new_ring("t")).record_in("people", "k", {"name": "Ann"}) == {"name": "Ann"}
