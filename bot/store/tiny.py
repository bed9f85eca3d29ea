"""The embedded store: TinyDB files in one data directory, written atomically.

tinydb's own JSONStorage rewrites its file in place with no locking, so a
crash mid-write leaves unreadable JSON and two processes corrupt each other.
Here instead:

* every write goes to a temporary file that is fsynced, renamed over the old
  one (`os.replace`) and made durable by fsyncing the directory: a crash
  leaves either the old file or the new one, never half of each;
* an exclusive lock on the directory (`filelock`) refuses a second process;
* the reports are confidential, so everything is private to the account
  running Harbour whatever its umask: files are created 0600 (a temporary file
  is 0600 before a byte is written to it) and directories 0700, and an older
  data directory with looser modes is tightened when the store opens;
* the data is split so each write stays small. Each person has their own
  small file (`conversations/<digest>.json`: their drafts in progress, the
  event ids they sent lately, and alerts raised before their report exists),
  so saving a step rewrites only that, however many people use Harbour.
  Reports live in shards of `SHARD_SIZE` by number (`reports/2026-0000.json`),
  so filing rewrites one shard, never every report ever filed. A report's
  outbox events sit in its shard: same write, same fate. Addresses, the
  directory and delivery records are in `records.json`.

Every write happens on one worker thread, so the event loop never waits on a
disk flush and no two operations interleave; a read runs on the event loop when
nothing is queued for that thread (the tables are in memory), else behind the
writes before it. `MemoryStore` is the same code with no files, for tests.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import hashlib
import itertools
import json
import logging
import os
import re
import stat
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar

from filelock import FileLock, Timeout
from tinydb import TinyDB
from tinydb.storages import Storage
from tinydb.table import Document, Table

from bot.models import PersonRef
from bot.reports import DomainEvent, Report, ReportStatus, format_reference, parse_reference
from bot.session import Session
from bot.store.base import ReportFactory, Store, StoreError, StoreLocked

log = logging.getLogger(__name__)

T = TypeVar("T")

SHARD_SIZE = 256
SEEN_KEEP = 100
"""How many of a person's recent event ids are remembered, to ignore
redeliveries. Slack retries within minutes and a person sends at most a few
events a minute, so this is hours of headroom in a file of a few kilobytes."""
SESSION = 1  # the one document in a person's "session" table
RECENT = 1
"""The one document in a person's "seen" table: {"ids": [their latest event
ids, oldest first]}. (Files written before 2026-11-25 hold one document per
id; they are read as such and rewritten in this form on their next write.)"""

_SHARD_NAME = re.compile(r"^(\d{4})-(\d{4,})\.json$")

FILE_MODE = 0o600
"""Every file in the data directory: the account running Harbour reads and writes it, no one else."""
DIR_MODE = 0o700
"""Every directory in the data directory, and the data directory itself."""


def make_private_dir(path: Path) -> None:
    """Create the directory `path` (and any missing parents) with `DIR_MODE`,
    whatever the umask. One that exists already is left as it is (`tighten`
    sees to its mode); a file in its place is an error, as with `mkdir`."""
    try:
        path.mkdir(mode=DIR_MODE)
    except FileNotFoundError:
        if path.parent == path:
            raise
        make_private_dir(path.parent)
        path.mkdir(mode=DIR_MODE, exist_ok=True)
    except OSError:
        if not path.is_dir():  # as `Path.mkdir(exist_ok=True)`: any error, if it is there
            raise
        return
    os.chmod(path, DIR_MODE)  # mkdir's mode passes through the umask


def tighten(directory: Path) -> None:
    """Make an existing data directory private: `DIR_MODE` for it and every
    directory under it, `FILE_MODE` for every file, as a data directory written
    by an older Harbour (or under a lax umask) may be readable by anyone. Only
    what this account owns is changed (nothing else could be); symbolic links
    are not followed out of the directory. One `stat` per entry, one `chmod`
    per entry that needs it: cheap enough to run at every open."""
    uid = os.geteuid()
    foreign: list[str] = []

    def settle(path: str, found: os.stat_result, want: int) -> None:
        if stat.S_IMODE(found.st_mode) == want:
            return
        if found.st_uid != uid:
            foreign.append(path)
            return
        try:
            os.chmod(path, want)  # not a link: `found` came from lstat
        except OSError as exc:
            raise StoreError(
                f"Harbour could not make {path} private (mode {want:o}): {exc.strerror}. "
                "Reports are confidential: fix the permissions of the data directory, or "
                "point HARBOUR_DATA_DIR at a directory on a filesystem that keeps them."
            ) from exc

    settle(str(directory), os.stat(directory), DIR_MODE)
    folders = [str(directory)]
    while folders:
        with os.scandir(folders.pop()) as entries:
            for entry in entries:
                found = entry.stat(follow_symlinks=False)
                if stat.S_ISDIR(found.st_mode):
                    settle(entry.path, found, DIR_MODE)
                    folders.append(entry.path)
                elif stat.S_ISREG(found.st_mode):
                    settle(entry.path, found, FILE_MODE)
    if foreign:
        log.warning(
            "%d path(s) in the data directory %s belong to another account and may be "
            "readable by others; Harbour cannot change their mode. The first: %s",
            len(foreign),
            directory,
            foreign[0],
        )


def atomic_write(path: Path, text: str) -> None:
    """Replace `path` with `text` so that a crash leaves the old or the new file."""
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        # Created private, and made so before anything is written in case a
        # leftover of a failed write was there with a looser mode: at no moment
        # can another account read the content. The rename keeps the mode.
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, FILE_MODE)
        with open(fd, "w", encoding="utf-8") as f:
            os.fchmod(fd, FILE_MODE)  # os.open's mode passes through the umask
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


class AtomicJSONStorage(Storage):
    """A TinyDB storage kept in memory and written atomically on commit.

    TinyDB writes the whole database after every table operation; inside
    `batch()` those writes are held back and made once at the end, so several
    operations (save a draft, remember the event id, queue an outbox event)
    become one atomic write. With no path it never touches the disk.
    """

    def __init__(self, path: str | None = None) -> None:
        self._path = Path(path) if path else None
        self._data: dict[str, Any] | None = None
        self._committed = "{}"
        self._depth = 0
        self._dirty = False

    def read(self) -> dict[str, Any]:
        if self._data is None:
            text = self._committed
            if self._path is not None and self._path.exists():
                text = self._path.read_text(encoding="utf-8")
            try:
                self._data = json.loads(text) if text.strip() else {}
            except json.JSONDecodeError as exc:
                raise StoreError(
                    f"{self._path} is not valid JSON ({exc.msg} at line {exc.lineno}). "
                    "It was not written by this version of Harbour's store; restore it from "
                    "a backup or move it aside."
                ) from exc
        return self._data

    def write(self, data: dict[str, Any]) -> None:
        self._data = data
        if self._depth:
            self._dirty = True
        else:
            self._flush()

    @contextlib.contextmanager
    def batch(self) -> Iterator[None]:
        self._depth += 1
        try:
            yield
        except BaseException:
            self._depth = 0
            self._dirty = False
            self._data = None  # drop uncommitted changes: re-read what is on disk
            raise
        self._depth -= 1
        if self._depth == 0 and self._dirty:
            self._dirty = False
            try:
                self._flush()
            except BaseException:
                self._data = None
                raise

    def _flush(self) -> None:
        text = json.dumps(self._data, ensure_ascii=False, separators=(",", ":"))
        if self._path is not None:
            atomic_write(self._path, text)
        self._committed = text

    def close(self) -> None:
        pass


class _File:
    """One TinyDB database and the storage that makes its writes atomic."""

    def __init__(self, path: Path | None) -> None:
        self.storage = AtomicJSONStorage(str(path) if path else None)
        self.db = TinyDB(storage=lambda: self.storage)

    def table(self, name: str) -> Table:
        return self.db.table(name)

    @contextlib.contextmanager
    def batch(self) -> Iterator[None]:
        try:
            with self.storage.batch():
                yield
        except BaseException:
            self.db.clear_cache()
            for table in self.db._tables.values():  # ids must be re-read after a rollback
                table._next_id = None
            raise


@functools.lru_cache(maxsize=4096)
def _file_name(key: str) -> str:
    """A person's file name: a digest, so ids never become paths. (Asked for
    several times per event: cached.)"""
    return hashlib.sha256(key.encode()).hexdigest()[:32] + ".json"


class TinyStore(Store):
    """The embedded store. `directory=None` keeps everything in memory."""

    def __init__(self, directory: Path | None) -> None:
        self._dir = directory
        self._lock: FileLock | None = None
        self._executor: ThreadPoolExecutor | None = None
        self._shards: dict[tuple[int, int], _File] = {}
        self._people: dict[str, _File] = {}  # by file name (a digest of the person's key)
        self._seen: dict[str, dict[str, None]] = {}  # by file name: recent event ids, in order
        self._old_seen: set[str] = set()  # files whose "seen" table has one document per id
        self._by_person: dict[str, list[str]] = {}
        self._max_seq: dict[int, int] = {}
        self._from_draft: dict[str, str] = {}
        self._open: set[str] = set()
        self._record_ids: dict[str, dict[str, int]] = {}
        self._pending: dict[str, tuple[datetime, int, _File, int]] = {}
        self._order = itertools.count()
        self._closed = False
        self._queued = 0  # calls handed to the store's thread and not yet back
        if directory is not None:
            make_private_dir(directory)
            make_private_dir(directory / "reports")
            # An explicit mode: filelock then sets it on the file it creates, whatever the umask.
            self._lock = FileLock(str(directory / "harbour.lock"), timeout=0, mode=FILE_MODE)
            try:
                self._lock.acquire()
            except Timeout:
                raise StoreLocked(
                    f"Another Harbour process is already using the data directory {directory}. "
                    "Stop that process first, or point HARBOUR_DATA_DIR at another directory."
                ) from None
            try:
                tighten(directory)  # the lock file too, if an older Harbour created it
                make_private_dir(directory / "conversations")
            except BaseException:
                self._release()
                raise
            self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="harbour-store")
            for folder in (directory, directory / "reports", directory / "conversations"):
                for leftover in folder.glob(".*.tmp"):
                    leftover.unlink()  # a write that never completed; the real file is intact
        try:
            # Addresses, the team directory and deliveries change rarely next to
            # conversation steps: their own file keeps them out of people's files.
            self._records = _File(directory / "records.json" if directory else None)
            self._load()
        except BaseException:
            self._release()
            raise

    # ------------------------------------------------------------------ plumbing

    async def _run(self, fn: Callable[[], T]) -> T:
        """A write (or a read queued behind writes): on the store's one thread,
        so the event loop never waits on a disk flush and no two interleave."""
        if self._closed:
            raise StoreError("the store is closed")
        if self._executor is None:
            return fn()
        self._queued += 1
        try:
            return await asyncio.get_running_loop().run_in_executor(self._executor, fn)
        finally:
            self._queued -= 1

    async def _read(self, fn: Callable[[], T]) -> T:
        """A read. The tables are in memory, and with nothing queued for the
        store's thread nothing else is touching them, so it runs here and now:
        the hop to the thread and back cost more CPU (~0.15 ms) than the read.
        With writes queued, it waits its turn behind them and sees them."""
        if self._closed:
            raise StoreError("the store is closed")
        if not self._queued:
            return fn()
        return await self._run(fn)

    @contextlib.contextmanager
    def _writing(self, file: _File) -> Iterator[None]:
        """One atomic write to `file`. If it fails, the tables fall back to what
        is on disk and the indexes are rebuilt from them, so the live store
        never believes in a write that did not happen."""
        try:
            with file.batch():
                yield
        except BaseException:
            self._index()
            raise

    def _shard(self, year: int, seq: int) -> _File:
        key = (year, seq // SHARD_SIZE)
        shard = self._shards.get(key)
        if shard is None:
            path = self._dir / "reports" / f"{year}-{key[1]:04d}.json" if self._dir else None
            shard = self._shards[key] = _File(path)
        return shard

    def _person(self, key: str) -> _File:
        """A person's own small file: their conversation, the event ids they
        sent lately, and alerts raised before their report exists. Saving a
        step rewrites only this, however many people and reports there are."""
        name = self._name(key)
        found = self._people.get(name)
        if found is None:
            path = self._dir / "conversations" / name if self._dir else None
            found = self._people[name] = _File(path)
            self._seen[name] = {}
        return found

    @staticmethod
    def _name(key: str) -> str:
        return _file_name(key)

    def _load(self) -> None:
        """Open every file, build the indexes, and finish any filing a crash
        interrupted (the report is on disk but its draft was never removed)."""
        if self._dir is not None:
            for path in sorted((self._dir / "reports").glob("*.json")):
                match = _SHARD_NAME.match(path.name)
                if match:
                    self._shard(int(match[1]), int(match[2]) * SHARD_SIZE)
            for path in sorted((self._dir / "conversations").glob("*.json")):
                self._people[path.name] = _File(path)
        self._index()
        for file in self._people.values():
            doc = file.table("session").get(doc_id=SESSION)
            if doc is None:
                continue
            session = Session.model_validate(doc)
            finished = [f for f, d in session.drafts.items() if d.id in self._from_draft]
            if not finished:
                continue
            log.info("dropping %d draft(s) already filed before a restart", len(finished))
            for flow in finished:
                del session.drafts[flow]
            if session.active in finished:
                session.active = None
            with self._writing(file):
                file.table("session").upsert(
                    Document(session.model_dump(mode="json"), doc_id=SESSION)
                )

    def _index(self) -> None:
        """(Re)build every in-memory index from the tables."""
        self._seen.clear()
        self._by_person.clear()
        self._max_seq.clear()
        self._from_draft.clear()
        self._open.clear()
        self._pending.clear()
        for shard in self._shards.values():
            for doc in shard.table("reports").all():
                self._index_report(Report.model_validate(doc))
            self._index_outbox(shard)
        self._old_seen.clear()
        for name, file in self._people.items():
            self._index_outbox(file)
            docs = file.table("seen").all()
            if any("ids" not in doc for doc in docs):
                self._old_seen.add(name)
            ids = [i for doc in docs for i in doc.get("ids", [doc.get("id")]) if i is not None]
            self._seen[name] = dict.fromkeys(ids[-SEEN_KEEP:])
        self._record_ids = {
            kind: {d["key"]: d.doc_id for d in self._records.table(kind).all()}
            for kind in self._records.db.tables()
        }

    def _index_report(self, report: Report) -> None:
        refs = self._by_person.setdefault(report.reporter.key, [])
        if report.reference not in refs:
            refs.append(report.reference)
        for draft_id in report.consumed_drafts():
            self._from_draft[draft_id] = report.reference
        if report.status is ReportStatus.CLOSED:
            self._open.discard(report.reference)
        else:
            self._open.add(report.reference)
        self._max_seq[report.year] = max(self._max_seq.get(report.year, 0), report.seq)

    def _index_outbox(self, file: _File) -> None:
        for doc in file.table("outbox").all():
            if doc.get("delivered_at") is None:
                at = datetime.fromisoformat(doc["at"])
                self._pending[doc["id"]] = (at, next(self._order), file, doc.doc_id)

    def _queue(self, file: _File, events: Sequence[DomainEvent]) -> None:
        outbox = file.table("outbox")
        for event in events:
            doc_id = outbox.insert(event.model_dump(mode="json"))
            if event.delivered_at is None:
                self._pending[event.id] = (event.at, next(self._order), file, doc_id)

    def _put_session(
        self, person: PersonRef, session: Session | None, event_id: str | None
    ) -> _File:
        file = self._person(person.key)
        table = file.table("session")
        if session is None or session.is_empty:
            if table.contains(doc_id=SESSION):
                table.remove(doc_ids=[SESSION])
        else:
            table.upsert(Document(session.model_dump(mode="json"), doc_id=SESSION))
        name = self._name(person.key)
        seen = self._seen[name]  # created with the file above
        if event_id is not None and event_id not in seen:
            # One document holding the list: a TinyDB document per id made each
            # step rebuild a hundred-entry table and made up most of the file.
            seen[event_id] = None
            while len(seen) > SEEN_KEEP:
                del seen[next(iter(seen))]
            table = file.table("seen")
            if name in self._old_seen:
                table.truncate()
                self._old_seen.discard(name)
            table.upsert(Document({"ids": list(seen)}, doc_id=RECENT))
        return file

    # ------------------------------------------------------------------ interface

    async def load_session(self, person: PersonRef) -> Session | None:
        def load() -> Session | None:
            file = self._person(person.key)
            doc = file.table("session").get(doc_id=SESSION)
            return Session.model_validate(doc) if doc else None

        return await self._read(load)

    async def seen(self, person: PersonRef, event_id: str) -> bool:
        return await self._read(lambda: event_id in self._seen.get(self._name(person.key), {}))

    async def save_session(
        self,
        person: PersonRef,
        session: Session | None,
        *,
        event_id: str | None = None,
        events: Sequence[DomainEvent] = (),
    ) -> None:
        def save() -> None:
            file = self._person(person.key)
            with self._writing(file):
                self._put_session(person, session, event_id)
                self._queue(file, events)

        await self._run(save)

    async def file_report(
        self,
        *,
        year: int,
        draft_id: str,
        make: ReportFactory,
        person: PersonRef,
        session: Session | None,
        event_id: str | None = None,
    ) -> Report:
        def file() -> Report:
            existing = self._from_draft.get(draft_id)
            if existing is not None:
                # Filed already, but the session write after it failed: finish that part only.
                parsed = parse_reference(existing)
                assert parsed is not None
                report = Report.model_validate(
                    self._shard(*parsed).table("reports").get(doc_id=parsed[1])
                )
            else:
                seq = self._max_seq.get(year, 0) + 1
                report, events = make(seq, format_reference(year, seq))
                shard = self._shard(year, seq)
                with self._writing(shard):
                    shard.table("reports").insert(
                        Document(report.model_dump(mode="json"), doc_id=seq)
                    )
                    self._queue(shard, events)
                self._index_report(report)
            with self._writing(self._person(person.key)):
                self._put_session(person, session, event_id)
            return report

        return await self._run(file)

    async def save_report(
        self,
        report: Report,
        *,
        events: Sequence[DomainEvent] = (),
        person: PersonRef | None = None,
        session: Session | None = None,
        event_id: str | None = None,
    ) -> None:
        def save() -> None:
            shard = self._shard(report.year, report.seq)
            with self._writing(shard):
                shard.table("reports").upsert(
                    Document(report.model_dump(mode="json"), doc_id=report.seq)
                )
                self._queue(shard, events)
            self._index_report(report)
            if person is not None:
                with self._writing(self._person(person.key)):
                    self._put_session(person, session, event_id)

        await self._run(save)

    async def get_report(self, reference: str) -> Report | None:
        parsed = parse_reference(reference)
        if parsed is None:
            return None
        year, seq = parsed

        def get() -> Report | None:
            if (year, seq // SHARD_SIZE) not in self._shards:
                return None
            doc = self._shard(year, seq).table("reports").get(doc_id=seq)
            return Report.model_validate(doc) if doc else None

        return await self._read(get)

    async def reports_by(self, person: PersonRef) -> list[Report]:
        refs = await self._read(lambda: list(self._by_person.get(person.key, ())))
        reports = [r for r in [await self.get_report(ref) for ref in reversed(refs)] if r]
        return sorted(reports, key=lambda r: r.filed_at, reverse=True)

    async def open_reports(self) -> list[Report]:
        refs = await self._read(
            lambda: sorted(self._open, key=lambda r: parse_reference(r) or (0, 0))
        )
        return [r for r in [await self.get_report(ref) for ref in refs] if r is not None]

    async def pending_events(self) -> list[DomainEvent]:
        def pending() -> list[DomainEvent]:
            found = []
            for _, _, file, doc_id in sorted(self._pending.values(), key=lambda p: p[:2]):
                doc = file.table("outbox").get(doc_id=doc_id)
                if doc and doc.get("delivered_at") is None:
                    found.append(DomainEvent.model_validate(doc))
            return found

        return await self._read(pending)

    async def mark_delivered(self, event_ids: Sequence[str], at: datetime) -> None:
        """Delivered events stay in a report's shard as its record; those in the
        person's file (raised before a report existed) are removed to keep it small."""

        def mark() -> None:
            by_file: dict[int, tuple[_File, list[int]]] = {}
            for event_id in event_ids:
                entry = self._pending.get(event_id)
                if entry:
                    by_file.setdefault(id(entry[2]), (entry[2], []))[1].append(entry[3])
            for file, doc_ids in by_file.values():
                with self._writing(file):
                    outbox = file.table("outbox")
                    if file not in self._shards.values():
                        outbox.remove(doc_ids=doc_ids)
                    else:
                        outbox.update({"delivered_at": at.isoformat()}, doc_ids=doc_ids)
            for event_id in event_ids:
                self._pending.pop(event_id, None)

        await self._run(mark)

    async def put_record(self, kind: str, key: str, value: dict[str, Any] | None) -> None:
        def put() -> None:
            table = self._records.table(kind)
            ids = self._record_ids.setdefault(kind, {})
            found = ids.get(key)
            doc = {"key": key, "value": value}
            if value is not None and found is not None and table.get(doc_id=found) == doc:
                return  # unchanged: no write
            if value is None and found is None:
                return
            with self._writing(self._records):
                if found is not None and value is None:
                    table.remove(doc_ids=[found])
                    del ids[key]
                elif found is None:
                    ids[key] = table.insert(doc)
                else:
                    table.upsert(Document(doc, doc_id=found))

        await self._run(put)

    async def get_record(self, kind: str, key: str) -> dict[str, Any] | None:
        def get() -> dict[str, Any] | None:
            found = self._record_ids.get(kind, {}).get(key)
            doc = self._records.table(kind).get(doc_id=found) if found else None
            return dict(doc["value"]) if doc else None

        return await self._read(get)

    async def records(self, kind: str) -> dict[str, dict[str, Any]]:
        def every() -> dict[str, dict[str, Any]]:
            return {d["key"]: dict(d["value"]) for d in self._records.table(kind).all()}

        return await self._read(every)

    async def close(self) -> None:
        self._closed = True
        if self._executor is not None:
            self._executor.shutdown(wait=True)
            self._executor = None
        self._release()

    def _release(self) -> None:
        if self._lock is not None and self._lock.is_locked:
            self._lock.release()


class MemoryStore(TinyStore):
    """The same store with nothing on disk: for tests and throwaway trials."""

    def __init__(self) -> None:
        super().__init__(None)
