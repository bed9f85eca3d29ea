"""`harbour rotate-key`: seal everything again with a new key and retire the old one.

Harbour must be stopped meanwhile: the embedded store's lock file refuses a
second process, and on PostgreSQL the rotation is refused while any instance
says it is alive (`Store.heartbeat`), naming how long a killed one is still
taken for alive.

With a key file (HARBOUR_KEY_FILE, or the default beside the data directory),
one run does it all:

1. a new key joins the ring as its current key, and the key file is written
   again with both (atomically: a crash leaves the old file or the new one);
2. every sealed document is written again with the new key (`Store.reseal`);
3. the key check is sealed with the new key (from then on the old key alone
   is refused at start);
4. the store is opened again with the new key alone, every report, saved
   conversation, accepted event and sealed record is read, and no Harbour
   instance may have started meanwhile (one could hold the old key alone);
5. the old key is retired: written beside the key file as
   `<key file>.retired-<key id>` (0600, never over another file), then the key
   file is written with the new key alone.

It is safe to stop at any point, because at every point the key file holds
every key some document may still be sealed with: both keys from step 1 until
step 4 has read everything with the new key alone, and a retired key is
written to its own file before the key file lets it go. A run stopped part-way
is finished by running it again: a key file holding more than one key is a
rotation under way, and it is finished without making another key.

With HARBOUR_KEY (a secret manager) Harbour cannot write the secret, and no
document may be sealed with a key that exists only in a local file; so it
takes two runs (`SECRET_STEPS`): `--new-ring-out FILE` writes the two-key ring
for the secret manager and changes nothing else, and `--finish --new-ring-out
FILE`, run with that ring as HARBOUR_KEY, does steps 2 to 4 and writes the new
key alone for the secret manager (the old key stays in the secret manager's
earlier versions). What it prints is counts, key ids and the ids of records
that did not read: never what a document holds.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import os
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TextIO

from bot.config import Settings
from bot.privacy.audit import HARBOUR, AuditAction, AuditEntry
from bot.privacy.keys import KeyProblem, KeyRing, load_ring, read_key_file, write_key_file
from bot.privacy.sealing import SEALED_RECORDS, Sealer
from bot.privacy.setup import attach_ring, seal_check, sealed_check
from bot.store.base import RecordKind, Store, StoreError

log = logging.getLogger(__name__)

OpenStore = Callable[[], Awaitable[Store]]
"""Opens the store the settings choose, with no key yet."""

DONE = 0
NOT_VERIFIED = 1
"""Resealed, but something did not read with the new key alone: both keys kept."""
REFUSED = 2
"""Nothing was changed, or what was changed is safe as it stands (the message says which)."""

ROTATING = "rotate-key"
"""The lease one rotation holds, so two never run on the same data together."""
ROTATION_LEASE = timedelta(minutes=10)
RENEW_EVERY_S = 60.0
EVERYTHING = datetime(9999, 1, 1, tzinfo=UTC)
"""A time everything stored was last changed before."""
SHOWN_FAILURES = 5

SECRET_STEPS = """\
HARBOUR_KEY comes from your secret manager, which Harbour cannot write. Rotate in four steps:

  1. harbour rotate-key --new-ring-out FILE
     writes the key ring with a new key added (the old key and the new one) to FILE,
     readable by this account only. Nothing in Harbour's data changes.
  2. Store FILE's content in your secret manager as HARBOUR_KEY, in place of the old
     ring, then delete FILE. Harbour may run meanwhile, and may be restarted with it.
  3. Stop every Harbour instance, and run, with the new HARBOUR_KEY:
     harbour rotate-key --finish --new-ring-out FILE2
     It seals everything again with the new key, checks it all reads with the new key
     alone, and writes that key alone to FILE2.
  4. Store FILE2's content in your secret manager as HARBOUR_KEY, delete FILE2, and
     start Harbour.

The old key stays in your secret manager's earlier versions of HARBOUR_KEY: backups
made before the rotation need it. Keep or destroy those versions as your backup
policy says."""


@dataclass
class ReadBack:
    """What was read with the new key alone (counts), and what was not."""

    reports: int = 0
    conversations: int = 0
    accepted: int = 0
    sealed_records: int = 0
    evidence_files: int = 0
    failed: int = 0
    failures: list[str] = field(default_factory=list)
    """The first few failures: the store's message (it names the record,
    never its content), or the error's type."""

    def fail(self, what: str, exc: Exception) -> None:
        self.failed += 1
        if len(self.failures) < SHOWN_FAILURES:
            reason = str(exc) if isinstance(exc, StoreError) else type(exc).__name__
            self.failures.append(f"{what}: {reason}")

    def summary(self) -> str:
        return (
            f"{self.reports:,} reports, {self.conversations:,} saved conversations, "
            f"{self.accepted:,} accepted events, {self.sealed_records:,} sealed records, "
            f"{self.evidence_files:,} evidence files"
        )


async def rotate_key(
    settings: Settings,
    *,
    out: TextIO,
    err: TextIO | None = None,
    new_ring_out: Path | None = None,
    finish: bool = False,
) -> int:
    """`harbour rotate-key` on the store the settings choose (see the module's
    docstring), saying what it does on `out` and why it refused on `err`
    (default `out`): `finish` finishes a rotation under way without making
    another key; `new_ring_out` is where the ring for a secret manager is
    written (with HARBOUR_KEY only). Returns the exit status: `DONE`,
    `NOT_VERIFIED` or `REFUSED`."""
    try:
        if not settings.database_url and settings.store == "memory":
            raise StoreError("HARBOUR_STORE is memory: nothing is stored, so there is no key")
        data_dir = None if settings.database_url else settings.data_dir
        open_store = store_opener(settings)
        if settings.key.strip():
            ring = KeyRing.loads(settings.key, "HARBOUR_KEY")
            return await rotate_secret(
                open_store,
                ring,
                out=out,
                new_ring_out=new_ring_out,
                finish=finish,
                data_dir=data_dir,
            )
        if new_ring_out is not None:
            raise StoreError(
                "--new-ring-out is for a key given in HARBOUR_KEY; the key file "
                f"{settings.key_path()} is rotated in place. Nothing was changed."
            )
        return await rotate_file(
            open_store, settings.key_path(), out=out, finish=finish, data_dir=data_dir
        )
    except StoreError as exc:
        print(f"harbour: {exc}", file=err or out)
        return REFUSED


def store_opener(settings: Settings) -> OpenStore:
    """Opens the store the settings choose, keyless: the rotation gives it its key."""

    async def open_store() -> Store:
        from bot.cli import keyless_store  # the command line's choice of store

        if not settings.database_url and not settings.data_dir.is_dir():
            raise StoreError(
                f"there is no data directory at {settings.data_dir}, so no key to rotate: "
                "check HARBOUR_DATA_DIR"
            )
        return await keyless_store(settings)

    return open_store


# --------------------------------------------------------------------------- the two ways


async def rotate_file(
    open_store: OpenStore, key_file: Path, *, out: TextIO, finish: bool, data_dir: Path | None
) -> int:
    """The rotation with a key file, steps 1 to 5 (the module's docstring)."""
    both_kept = (
        f"{key_file} holds both keys, and Harbour starts with it. Put right what is named "
        "above, then run harbour rotate-key again to finish"
    )
    store = await open_store()
    try:
        await sealed_check(store)  # before the key file is looked for
        ring = load_ring(key="", key_file=key_file, data_dir=data_dir, fresh=False)
        await attach_ring(store, ring)
        async with _alone(store):
            if len(ring.keys) > 1:
                print(
                    f"{key_file} holds {len(ring.keys)} keys: finishing the rotation to key "
                    f"{ring.current} begun earlier (no new key is made).",
                    file=out,
                )
            elif finish:
                raise StoreError(
                    f"{key_file} holds one key: there is no rotation to finish (run harbour "
                    "rotate-key without --finish to rotate). Nothing was changed."
                )
            else:
                ring = ring.rotated()
                write_key_file(key_file, ring)
                print(
                    f"A new key, {ring.current}, was added to {key_file}: until the end it "
                    "holds the old key and the new one.",
                    file=out,
                )
            with _part_way(both_kept):
                await _reseal(store, ring, out)
    finally:
        await store.close()
    with _part_way(both_kept):
        read = await verify(open_store, ring.only_current(), out)
    if read.failed:
        print(f"Both keys stay in {key_file}: the data reads with them.", file=out)
        return NOT_VERIFIED
    retired = ring.retired()
    kept = _keep_retired(key_file, retired) if retired is not None else None
    write_key_file(key_file, ring.only_current())
    print(f"{key_file} now holds the new key alone. Back it up now.", file=out)
    if data_dir is None:
        print(
            "Every Harbour instance must start with this key file: copy it to any other "
            "machine that runs one (a copy of the old one is refused at start).",
            file=out,
        )
    if kept is not None and retired is not None:
        _warn_retired(kept, retired, out)
    return DONE


async def rotate_secret(
    open_store: OpenStore,
    ring: KeyRing,
    *,
    out: TextIO,
    new_ring_out: Path | None,
    finish: bool,
    data_dir: Path | None,
) -> int:
    """The rotation with HARBOUR_KEY (`ring`), in the two runs `SECRET_STEPS` describes."""
    if new_ring_out is None:
        print(SECRET_STEPS, file=out)
        return REFUSED
    _refuse_inside(new_ring_out, data_dir)
    if not finish:
        if len(ring.keys) > 1:
            raise StoreError(
                f"HARBOUR_KEY holds {len(ring.keys)} keys: a rotation is under way. Stop "
                "Harbour and finish it: harbour rotate-key --finish --new-ring-out FILE. "
                "Nothing was changed."
            )
        rotated = ring.rotated()
        if not write_key_file(new_ring_out, rotated, replace=False):
            raise _exists(new_ring_out)
        print(
            f"Wrote the key ring with a new key ({rotated.current}) added, readable by this "
            f"account only, to {new_ring_out}\n"
            "Nothing in Harbour's data changed. Next: step 2 below.\n",
            file=out,
        )
        print(SECRET_STEPS, file=out)
        return DONE
    if len(ring.keys) == 1:
        raise StoreError(
            "HARBOUR_KEY holds one key: there is no rotation to finish. Start one with "
            "harbour rotate-key --new-ring-out FILE (step 1). Nothing was changed."
        )
    _refuse_taken(new_ring_out)
    both_kept = (
        "the two-key HARBOUR_KEY opens everything, and Harbour starts with it. Put right "
        "what is named above, then run harbour rotate-key --finish --new-ring-out FILE again"
    )
    store = await open_store()
    try:
        await attach_ring(store, ring)
        async with _alone(store):
            with _part_way(both_kept):
                await _reseal(store, ring, out)
    finally:
        await store.close()
    with _part_way(both_kept):
        read = await verify(open_store, ring.only_current(), out)
    if read.failed:
        print("Keep the two-key HARBOUR_KEY: the data reads with it.", file=out)
        return NOT_VERIFIED
    if not write_key_file(new_ring_out, ring.only_current(), replace=False):
        raise StoreError(
            f"{new_ring_out} appeared meanwhile and was not written over. The data is "
            "sealed with the new key and reads with the two-key HARBOUR_KEY: run harbour "
            "rotate-key --finish again with another --new-ring-out."
        )
    print(
        f"Wrote the new key alone, readable by this account only, to {new_ring_out}\n"
        "Next: store its content in your secret manager as HARBOUR_KEY, delete the file,\n"
        "and start Harbour (it starts with the two-key HARBOUR_KEY too).\n"
        "The old key is retired: it opens nothing Harbour holds now, but backups made\n"
        "before this rotation need it. It stays in your secret manager's earlier versions\n"
        "of HARBOUR_KEY: keep or destroy them as your backup policy says.",
        file=out,
    )
    return DONE


# --------------------------------------------------------------------------- the steps


async def _reseal(store: Store, ring: KeyRing, out: TextIO) -> None:
    """Steps 2 and 3: everything, then the key check, sealed with `ring`'s current key."""
    store.sealer = Sealer(ring)
    resealed = await store.reseal()
    await seal_check(store, ring)
    await store.append_audit(
        AuditEntry(
            at=datetime.now(UTC),
            actor=HARBOUR,
            action=AuditAction.KEY_ROTATED,
            surface="cli",
            detail=f"to key {ring.current}",
        )
    )
    print(f"Sealed {resealed:,} stored documents again with key {ring.current}.", file=out)


async def verify(open_store: OpenStore, ring: KeyRing, out: TextIO) -> ReadBack:
    """Step 4: open the store again with `ring` (the new key alone) and read
    everything sealed; print what was read, and what was not."""
    store = await open_store()
    try:
        try:
            await attach_ring(store, ring)
        except KeyProblem:
            read = ReadBack(failed=1, failures=["the key check: it does not open"])
        else:
            read = await read_everything(store)
        alive, _ = await live_instances(store)
        if alive:  # started meanwhile: one may hold the old key alone, and seal with it
            read.failed += 1
            read.failures.append(
                f"{alive} Harbour instance(s) started during the rotation: stop them, then "
                "run the rotation again to finish it"
            )
    finally:
        await store.close()
    if read.failed:
        print(
            f"harbour: {read.failed:,} problem(s) reading back with key {ring.current} "
            f"alone; the first {len(read.failures)}:",
            file=out,
        )
        for failure in read.failures:
            print(f"  {failure}", file=out)
    else:
        print(f"Read back with key {ring.current} alone: {read.summary()}.", file=out)
    return read


async def read_everything(store: Store) -> ReadBack:
    """Read every report, saved conversation, accepted event and sealed record
    (what is sealed), counting what reads and what does not."""
    read = ReadBack()
    for reference in await store.references():
        try:
            if await store.get_report(reference) is not None:
                read.reports += 1
        except Exception as exc:
            read.fail(f"report {reference}", exc)
        for digest in await store.evidence_files(reference):
            try:
                if await store.get_evidence_file(reference, digest) is not None:
                    read.evidence_files += 1
            except Exception as exc:
                read.fail(f"an evidence file of {reference} ({digest})", exc)
    for person in await store.idle_sessions(EVERYTHING):
        try:
            await store.load_session(person)
            read.conversations += 1
        except Exception as exc:
            read.fail(f"the conversation of {person.key}", exc)
    try:
        read.accepted = len(await store.unhandled(EVERYTHING))
    except Exception as exc:
        read.fail("the accepted events", exc)
    for kind in RecordKind:
        try:
            found = await store.records(kind)
        except Exception as exc:
            read.fail(f"the {kind.value} records", exc)
            continue
        if kind in SEALED_RECORDS:
            read.sealed_records += len(found)
    return read


# --------------------------------------------------------------------------- helpers


@contextlib.asynccontextmanager
async def _alone(store: Store) -> AsyncIterator[None]:
    """Held while the data is resealed: no other rotation, and no Harbour
    instance alive (an embedded store's lock file already sees to that)."""
    if not await store.hold_lease(ROTATING, ROTATION_LEASE):
        raise StoreError(
            "another harbour rotate-key is running on this data: let it finish. Nothing "
            "was changed."
        )
    alive, wait = await live_instances(store)
    if alive:
        raise StoreError(
            f"{alive} Harbour instance(s) are running on this database: stop every one, then "
            "run harbour rotate-key again. One that was killed rather than stopped is taken "
            f"for alive for up to {max(1, round(wait.total_seconds()))} s more: wait that "
            "long. Nothing was changed."
        )
    renewing = asyncio.create_task(_renew(store))
    try:
        yield
    finally:
        renewing.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await renewing


async def _renew(store: Store) -> None:
    while True:
        await asyncio.sleep(RENEW_EVERY_S)
        try:
            await store.hold_lease(ROTATING, ROTATION_LEASE)
        except Exception as exc:  # it runs out on its own; the rotation goes on
            log.warning("renewing the rotation's lease failed (%s)", type(exc).__name__)


async def live_instances(store: Store) -> tuple[int, timedelta]:
    """How many other Harbour processes say they are alive on `store`'s data,
    and how long until the last of them stops saying so (`Store.live_instances`)."""
    return await store.live_instances()


def _keep_retired(key_file: Path, retired: KeyRing) -> Path:
    """Write `retired` beside `key_file`, never over another file; a file a
    run stopped part-way left with the same keys is kept as it is."""
    for n in itertools.count(1):
        name = f"{key_file.name}.retired-{retired.current}" + (f"-{n}" if n > 1 else "")
        path = key_file.with_name(name)
        if write_key_file(path, retired, replace=False):
            return path
        with contextlib.suppress(StoreError):
            there = read_key_file(path)
            if all(there.keys.get(kid) == key for kid, key in retired.keys.items()):
                return path
    raise AssertionError("unreachable")  # itertools.count never ends


def _warn_retired(path: Path, retired: KeyRing, out: TextIO) -> None:
    keys = ", ".join(sorted(retired.keys))
    bar = "!" * 78
    print(
        f"{bar}\n"
        f"The old key ({keys}) is retired. It was written, readable by this account\n"
        f"only, to {path}\n"
        "It opens nothing Harbour holds now, but backups of Harbour's data made before\n"
        "this rotation can only be read with it. Keep it with those backups, apart from\n"
        "them, for as long as your backup policy keeps them, then destroy it; with no such\n"
        "backups, destroy it now.\n"
        f"{bar}",
        file=out,
    )


@contextlib.contextmanager
def _part_way(state: str) -> Iterator[None]:
    """A store problem once the ring has changed: said with the state it leaves
    and what to do next (`state`)."""
    try:
        yield
    except StoreError as exc:
        raise StoreError(f"{exc}\nThe rotation stopped part-way, safely: {state}.") from None


def _refuse_inside(path: Path, data_dir: Path | None) -> None:
    if data_dir is not None and path.resolve().is_relative_to(data_dir.resolve()):
        raise StoreError(
            f"{path} is inside the data directory ({data_dir}): write the key ring apart "
            "from the data it protects. Nothing was changed."
        )


def _refuse_taken(path: Path) -> None:
    if os.path.lexists(path):
        raise _exists(path)


def _exists(path: Path) -> StoreError:
    return StoreError(
        f"{path} already exists and is never written over (it may hold a key): choose "
        "another file. Nothing was changed."
    )
