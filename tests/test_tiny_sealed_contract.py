"""The store contract again, on the embedded store sealing what it keeps.

Every test of `tests/test_store_contract.py` that runs on any store runs here
on `MemoryStore` and `TinyStore` given a key (`bot.privacy.setup.attach_key`),
as Harbour starts them: the store is opened, then given its key. A reopened
`TinyStore` holds sealed data, so it opens only its records until the key comes.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.privacy.setup import attach_key
from bot.store import MemoryStore, Store, TinyStore
from tests.test_store_contract import (
    Open,
    backend,
    test_a_closed_store_refuses_work,
    test_a_conversation_is_saved_loaded_and_forgotten,
    test_a_parked_event_leaves_the_outbox_for_the_dead_letters,
    test_a_stale_copy_is_refused_and_nothing_is_written,
    test_a_step_saves_its_session_event_id_and_events_together,
    test_an_unreadable_outbox_entry_is_set_aside_and_blocks_nothing,
    test_event_ids_are_remembered_per_person_latest_first,
    test_everything_survives_a_reopen,
    test_filing_is_idempotent_per_draft,
    test_filing_many_drafts_at_once_gives_each_its_own_number,
    test_filing_one_draft_twice_at_once_files_it_once,
    test_marks_made_at_the_same_time_are_all_kept,
    test_numbering_never_lands_on_a_stored_report,
    test_records_by_kind_and_key,
    test_reports_are_numbered_per_year_and_found_as_people_type_them,
    test_reports_by_a_person_newest_first_and_open_reports_oldest_first,
    test_reports_stored_before_the_rule_was_known_are_looked_at_once,
    test_the_outbox_lists_events_oldest_first_until_delivered,
    test_the_store_is_writable_and_no_conversation_is_damaged,
    test_the_timers_read_only_the_reports_that_are_due,
    test_two_concurrent_update_report_callers_both_land,
    test_update_report_of_nothing_or_no_change_writes_nothing,
)

__all__ = [
    "backend",
    "test_a_closed_store_refuses_work",
    "test_a_conversation_is_saved_loaded_and_forgotten",
    "test_a_parked_event_leaves_the_outbox_for_the_dead_letters",
    "test_a_stale_copy_is_refused_and_nothing_is_written",
    "test_a_step_saves_its_session_event_id_and_events_together",
    "test_an_unreadable_outbox_entry_is_set_aside_and_blocks_nothing",
    "test_event_ids_are_remembered_per_person_latest_first",
    "test_everything_survives_a_reopen",
    "test_filing_is_idempotent_per_draft",
    "test_filing_many_drafts_at_once_gives_each_its_own_number",
    "test_filing_one_draft_twice_at_once_files_it_once",
    "test_marks_made_at_the_same_time_are_all_kept",
    "test_numbering_never_lands_on_a_stored_report",
    "test_records_by_kind_and_key",
    "test_reports_are_numbered_per_year_and_found_as_people_type_them",
    "test_reports_by_a_person_newest_first_and_open_reports_oldest_first",
    "test_reports_stored_before_the_rule_was_known_are_looked_at_once",
    "test_the_outbox_lists_events_oldest_first_until_delivered",
    "test_the_store_is_writable_and_no_conversation_is_damaged",
    "test_the_timers_read_only_the_reports_that_are_due",
    "test_two_concurrent_update_report_callers_both_land",
    "test_update_report_of_nothing_or_no_change_writes_nothing",
]


@pytest.fixture(params=["memory", "tiny"])
def kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def opener(kind: str, tmp_path: Path) -> Open:
    if kind == "postgres":
        pytest.skip("sealed PostgreSQL: tests/test_store_contract.py runs it unsealed")
    key_file = tmp_path / "harbour.key"
    data = tmp_path / "data"
    if kind == "tiny":

        async def open_tiny() -> Store:
            store = TinyStore(data)
            await attach_key(store, key="", key_file=key_file, data_dir=data)
            assert store.sealer.seals
            return store

        return open_tiny
    memory = MemoryStore()

    async def open_memory() -> Store:
        if not memory.sealer.seals:
            await attach_key(memory, key="", key_file=key_file, data_dir=None)
        return memory

    return open_memory
