"""Giving a store its key at start: the one place that decides whether Harbour
may start on the data it finds with the key it has."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from pathlib import Path

from bot.privacy.keys import KeyProblem, KeyRing, load_ring
from bot.privacy.sealing import Sealer
from bot.store.base import RecordKind, Store

CHECK = "current"
SETUP = "key-setup"
SETUP_LEASE = timedelta(minutes=1)
SETUP_WAIT = 0.25
"""How often an instance waiting for another to set the key up looks again (seconds)."""


async def attach_key(store: Store, *, key: str, key_file: Path, data_dir: Path | None) -> KeyRing:
    """Load the key ring and let `store` seal with it.

    A store sealed before keeps a check value sealed with its key: without the
    key Harbour refuses to start, and with another key it says so, before any
    record is read. A store never sealed (new, or written by an older Harbour)
    gets its check value now; a new install gets its key file made."""
    found = await store.get_record(RecordKind.KEY_CHECK, CHECK)
    waited = 0.0
    while found is None:
        # Setting up: one process at a time (several may start on an empty
        # database together, as a deployment of several instances does); the
        # others wait for it, and the check is read again under the lease.
        if await store.hold_lease(SETUP, SETUP_LEASE):
            found = await store.get_record(RecordKind.KEY_CHECK, CHECK)
            break
        if waited >= SETUP_LEASE.total_seconds():
            raise KeyProblem(
                "another Harbour instance has been setting up the key for a minute: start "
                "this one again, with the same key (HARBOUR_KEY, or the same key file)"
            )
        await asyncio.sleep(SETUP_WAIT)
        waited += SETUP_WAIT
        found = await store.get_record(RecordKind.KEY_CHECK, CHECK)
    ring = load_ring(key=key, key_file=key_file, data_dir=data_dir, fresh=found is None)
    if found is not None:
        _refuse_another_key(ring, found)
    else:
        await seal_check(store, ring)
        # Several instances starting on an empty database at once, each with a
        # key of its own, would seal with different keys: the last to write wins.
        kept = await store.get_record(RecordKind.KEY_CHECK, CHECK) or {}
        if not ring.opens_check(str(kept.get("value", ""))):
            raise KeyProblem(
                "another Harbour instance set up a different key at the same moment: give "
                "every instance the same key (HARBOUR_KEY, or the same key file) and start again"
            )
    store.sealer = Sealer(ring)
    return ring


async def attach_ring(store: Store, ring: KeyRing) -> None:
    """Let `store` seal with `ring`, which must open the data's check value
    (`harbour rotate-key` gives a store the ring it rotates, then the new key
    alone): else `KeyProblem`, before any record is read. Data never sealed
    has no key to rotate: refused too."""
    _refuse_another_key(ring, await sealed_check(store))
    store.sealer = Sealer(ring)


async def sealed_check(store: Store) -> dict[str, object]:
    """The data's check value; `KeyProblem` if it has none (it was never
    sealed: there is no key to rotate)."""
    found = await store.get_record(RecordKind.KEY_CHECK, CHECK)
    if found is None:
        raise KeyProblem(
            "this data was never sealed, so there is no key to rotate: start Harbour once "
            "(it makes the key and seals what it writes), then rotate. Nothing was changed."
        )
    return found


async def seal_check(store: Store, ring: KeyRing) -> None:
    """Store the check value sealed with `ring`'s current key. After a rotation
    has resealed everything, this makes the old key alone refused at start."""
    await store.put_record(RecordKind.KEY_CHECK, CHECK, {"value": ring.check_value()})


def _refuse_another_key(ring: KeyRing, found: dict[str, object]) -> None:
    if not ring.opens_check(str(found.get("value", ""))):
        raise KeyProblem(
            f"the key in {ring.origin} is not the one this data was sealed with: was the "
            "key file replaced? Restore the right one from your backup. Nothing was changed."
        )
