"""The store contract for evidence files (issue 15): the screenshots and
documents a worker keeps on her case, by SHA-256, sealed at rest, checked on
the way in and out, erased with their case and sealed again by a rotation.
Run on every store as tests/test_store_privacy_contract.py runs its own
(`MemoryStore`, `TinyStore` in pytest's temporary directory, `PostgresStore`
on a schema of each test's own); what is about a reopen or the bytes at rest
skips the memory store."""

from __future__ import annotations

import hashlib
import os
import shutil
from typing import TYPE_CHECKING

import pytest
from sqlalchemy import text

from bot.privacy.keys import KeyRing, new_ring
from bot.privacy.sealing import Sealer
from bot.store import Store, TinyStore
from bot.store.base import GoneCase, StoreError
from bot.store.postgres import PostgresStore
from tests.test_store_privacy_contract import ALICE, BOB, MARKER, everything_stored, file_one

if TYPE_CHECKING:  # imported by pytest_plugins below: an import here would come first
    from tests.store_backends import Backend

pytest_plugins = ["tests.pg", "tests.store_backends"]  # PostgreSQL; kind, opener, backend
reopens = pytest.mark.parametrize("kind", ["tiny", "postgres"], indirect=True)

SCREENSHOT = f"A screenshot's text: {MARKER} posted my street name.".encode()
BIG = os.urandom(5 * 1024 * 1024)
"""A 5 MB file: files up to ~20 MB must work on every store."""


def sha(content: bytes) -> str:
    return hashlib.sha256(content).hexdigest()


def held(stored: str, marker: str = MARKER) -> bool:
    """Whether what a store holds (files, or rows as text: bytea as hex) shows `marker`."""
    return marker in stored or marker.encode().hex() in stored


async def change_kept(store: Store, reference: str, digest: str) -> None:
    """Change one byte of a kept file where it is stored."""
    if isinstance(store, PostgresStore):
        async with store._write() as conn:
            await conn.execute(
                text(
                    "UPDATE evidence_files SET data = overlay(data placing "
                    "CAST(CASE WHEN get_byte(data, 40) = 65 THEN 'B' ELSE 'A' END AS bytea) "
                    "from 41 for 1) WHERE sha256 = :sha"
                ),
                {"sha": digest},
            )
        return
    assert isinstance(store, TinyStore) and store._dir is not None
    [path] = store._dir.glob(f"evidence/*/{digest}")
    kept = bytearray(path.read_bytes())
    kept[40] ^= 0x01
    path.write_bytes(bytes(kept))


async def test_a_kept_file_comes_back_as_it_was_given(backend: Backend) -> None:
    store = backend.store
    filed, _ = await file_one(store, ALICE, "d1")
    await store.put_evidence_file(filed.reference, sha(BIG), BIG)
    await store.put_evidence_file(filed.reference, sha(SCREENSHOT), SCREENSHOT)
    assert await store.get_evidence_file(filed.reference, sha(BIG)) == BIG
    assert await store.get_evidence_file(filed.reference, sha(SCREENSHOT)) == SCREENSHOT
    assert sorted(await store.evidence_files(filed.reference)) == sorted(
        [sha(BIG), sha(SCREENSHOT)]
    )
    assert await store.get_evidence_file(filed.reference, sha(b"never kept")) is None
    assert await store.get_evidence_file(filed.reference, "../../records.json") is None
    if isinstance(store, TinyStore) and store._dir is not None:  # private, as every file there
        modes = {p.name: p.stat().st_mode & 0o777 for p in store._dir.glob("evidence/**/*")}
        assert modes == {"2026-0001": 0o700, sha(BIG): 0o600, sha(SCREENSHOT): 0o600}


async def test_the_same_file_twice_is_kept_once(backend: Backend) -> None:
    store = backend.store
    filed, _ = await file_one(store, ALICE, "d1")
    other, _ = await file_one(store, BOB, "d2")
    for _ in range(2):
        await store.put_evidence_file(filed.reference, sha(SCREENSHOT), SCREENSHOT)
    assert await store.evidence_files(filed.reference) == [sha(SCREENSHOT)]
    assert await store.evidence_files(other.reference) == []  # each case its own


async def test_bytes_that_do_not_match_their_hash_are_refused_and_not_kept(
    backend: Backend,
) -> None:
    store = backend.store
    filed, _ = await file_one(store, ALICE, "d1")
    for wrong in (sha(b"something else"), "not a hash", sha(SCREENSHOT).upper()):
        with pytest.raises(StoreError) as refused:
            await store.put_evidence_file(filed.reference, wrong, SCREENSHOT)
        assert filed.reference in str(refused.value)
        assert MARKER not in str(refused.value)  # never content
    assert await store.evidence_files(filed.reference) == []


async def test_a_file_for_a_case_not_stored_is_refused(backend: Backend) -> None:
    store = backend.store
    for reference in ("HB-2026-0042", "not a reference"):
        with pytest.raises(GoneCase):
            await store.put_evidence_file(reference, sha(SCREENSHOT), SCREENSHOT)
        assert await store.evidence_files(reference) == []
        assert await store.get_evidence_file(reference, sha(SCREENSHOT)) is None


async def test_erasing_a_case_erases_its_files(backend: Backend, kind: str) -> None:
    store = backend.store
    filed, _ = await file_one(store, ALICE, "d1")
    kept, _ = await file_one(store, BOB, "d2")
    await store.put_evidence_file(filed.reference, sha(SCREENSHOT), SCREENSHOT)
    await store.put_evidence_file(filed.reference, sha(BIG), BIG)
    await store.put_evidence_file(kept.reference, sha(b"Bob's"), b"Bob's")
    if kind != "memory":  # no key: the bytes are there as given until the erasure
        assert held(await everything_stored(store))

    assert await store.erase_report(filed.reference)
    assert await store.evidence_files(filed.reference) == []
    assert await store.get_evidence_file(filed.reference, sha(SCREENSHOT)) is None
    with pytest.raises(GoneCase):
        await store.put_evidence_file(filed.reference, sha(SCREENSHOT), SCREENSHOT)
    assert await store.get_evidence_file(kept.reference, sha(b"Bob's")) == b"Bob's"
    if kind != "memory":
        assert not held(await everything_stored(store))
    if isinstance(store, TinyStore) and store._dir is not None:
        assert [p.name for p in (store._dir / "evidence").iterdir()] == ["2026-0002"]


@reopens
async def test_kept_files_survive_a_reopen(backend: Backend) -> None:
    filed, _ = await file_one(backend.store, ALICE, "d1")
    await backend.store.put_evidence_file(filed.reference, sha(SCREENSHOT), SCREENSHOT)
    store = await backend.reopen()
    assert await store.evidence_files(filed.reference) == [sha(SCREENSHOT)]
    assert await store.get_evidence_file(filed.reference, sha(SCREENSHOT)) == SCREENSHOT


@reopens
async def test_kept_files_are_sealed_at_rest_and_bound_to_their_case(backend: Backend) -> None:
    ring = new_ring("test")
    store = await backend.reopen(Sealer(ring))
    filed, _ = await file_one(store, ALICE, "d1")
    other, _ = await file_one(store, BOB, "d2")
    await store.put_evidence_file(filed.reference, sha(SCREENSHOT), SCREENSHOT)
    assert not held(await everything_stored(store))
    assert await store.get_evidence_file(filed.reference, sha(SCREENSHOT)) == SCREENSHOT

    # The sealed file copied onto another case does not open there.
    if isinstance(store, PostgresStore):
        async with store._write() as conn:
            await conn.execute(
                text(
                    "INSERT INTO evidence_files (reference, sha256, key_id, size, data) "
                    "SELECT :other, sha256, key_id, size, data FROM evidence_files"
                ),
                {"other": other.reference},
            )
    else:
        assert isinstance(store, TinyStore) and store._dir is not None
        moved = store._dir / "evidence" / "2026-0002"
        moved.mkdir(mode=0o700)
        shutil.copy(store._dir / "evidence" / "2026-0001" / sha(SCREENSHOT), moved)
    with pytest.raises(StoreError) as refused:
        await store.get_evidence_file(other.reference, sha(SCREENSHOT))
    assert other.reference in str(refused.value)


@reopens
@pytest.mark.parametrize("sealed", [False, True])
async def test_a_file_changed_where_it_is_stored_is_refused(backend: Backend, sealed: bool) -> None:
    store = await backend.reopen(Sealer(new_ring("test")) if sealed else None)
    filed, _ = await file_one(store, ALICE, "d1")
    await store.put_evidence_file(filed.reference, sha(SCREENSHOT), SCREENSHOT)
    await change_kept(store, filed.reference, sha(SCREENSHOT))
    with pytest.raises(StoreError) as refused:
        await store.get_evidence_file(filed.reference, sha(SCREENSHOT))
    assert filed.reference in str(refused.value) and MARKER not in str(refused.value)
    # Kept once: giving the file again does not hide the change.
    await store.put_evidence_file(filed.reference, sha(SCREENSHOT), SCREENSHOT)
    with pytest.raises(StoreError):
        await store.get_evidence_file(filed.reference, sha(SCREENSHOT))


async def test_resealing_after_a_rotation_leaves_no_file_the_old_key_opens(
    backend: Backend, kind: str
) -> None:
    filed, _ = await file_one(backend.store, ALICE, "d1")
    # One file kept before there was a key, two after.
    await backend.store.put_evidence_file(filed.reference, sha(b"before"), b"before")
    old = new_ring("test")
    store = await backend.reopen(Sealer(old))
    await store.put_evidence_file(filed.reference, sha(SCREENSHOT), SCREENSHOT)
    await store.put_evidence_file(filed.reference, sha(BIG), BIG)

    both: KeyRing = old.rotated()
    store.sealer = Sealer(both)
    assert await store.reseal() >= 3  # the report and three files, at least the files
    if kind != "memory":
        stored = await everything_stored(store)
        assert not held(stored, f"hb1.{old.current}.") and f"{old.current}" not in stored
        assert not held(stored) and not held(stored, "before")

    store = await backend.reopen(Sealer(both.only_current()))
    assert await store.get_evidence_file(filed.reference, sha(b"before")) == b"before"
    assert await store.get_evidence_file(filed.reference, sha(SCREENSHOT)) == SCREENSHOT
    assert await store.get_evidence_file(filed.reference, sha(BIG)) == BIG
