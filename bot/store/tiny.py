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

Damage is never read as empty (a 0-byte shard read as "no reports" once let
Harbour give HB-2026-0001 out again and write over it):

* every file starts with a stamp (`stamp`): the format version, the length of
  the JSON after it and a checksum of it (SHA-256). The stamp is written in
  JSON whitespace, so each file is still plain JSON to any reader (jq, an
  editor, an older Harbour). A file with no stamp (written before 2026-12) is
  read as it is and stamped at its next write; a file edited by hand must
  lose its stamp line;
* before a file is replaced, the version it replaces becomes its previous copy
  in `previous/` (a hard link renamed into place: no byte is copied);
* a file found empty, cut short, not matching its checksum or not valid is
  set aside in `damaged/` and its previous copy put back, with a warning that
  names the file. With no good previous copy, a person's conversation file is
  set aside and that person starts afresh (one person's damage never stops
  everyone else); any other file stops the store with a `StoreError` that
  names it and says what to do;
* report numbers come from a counter (`report-numbers`) bumped durably before
  a report is written, so a number once handed out is never handed out again,
  whatever happens to the shard that held its report;
* an outbox event that cannot be read, or that delivery gives up on
  (`park_event`), is moved to the dead letters (in `records.json`) instead of
  blocking the events after it.

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
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

from filelock import FileLock, Timeout
from tinydb import TinyDB
from tinydb.storages import Storage
from tinydb.table import Document, Table

from bot.models import PersonRef
from bot.reports import DomainEvent, Report, ReportStatus, format_reference, parse_reference
from bot.session import Session
from bot.store.base import (
    DeadLetter,
    RecordKind,
    ReportFactory,
    StaleReport,
    Store,
    StoreError,
    StoreLocked,
    unreadable_reason,
)

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

PREVIOUS = "previous"
"""The folder of previous copies: `previous/<name>.prev` for each stored file,
with `reports/` and `conversations/` inside (those two hold their own files only)."""
DAMAGED = "damaged"
"""Where damaged files are set aside, never deleted, for whoever looks into them."""
COUNTER = "report-numbers"
"""The counter file, {year: the last report number handed out}, beside `records.json`."""
DEAD_LETTERS = RecordKind.DEAD_LETTERS
"""The kind of record (in `records.json`) holding outbox events set aside."""


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
    sync_directory(path.parent)


def sync_directory(path: Path) -> None:
    """Make the renames and links made in the directory `path` durable."""
    dir_fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


# --------------------------------------------------------------------------- damage

FORMAT = 1
"""The version of the stored file format (a stamp line, then the JSON)."""
_MAGIC = 0x4842  # "HB"
_STAMP_LEN = 16 + 8 + 32 + 128 + 1  # magic, version, length, digest, newline
_TO_WHITESPACE = str.maketrans("01", " \t")
_FROM_WHITESPACE = bytes.maketrans(b" \t", b"01")


def stamp(text: str) -> str:
    """`text`, the JSON of one stored file, behind its stamp line: "HB", the
    format version, the length of the JSON in bytes and the first 128 bits of
    its SHA-256, so that a file emptied, cut short or changed on disk is never
    taken for data.

    The stamp is bits written as JSON whitespace (a space for 0, a tab for 1;
    16, 8, 32 and 128 of them) and a newline: 185 bytes, and every stored file
    stays plain JSON to any reader."""
    body = text.encode()
    if len(body) >> 32:
        raise StoreError("Harbour cannot store a file of 4 GiB or more")
    bits = f"{_MAGIC:016b}{FORMAT:08b}{len(body):032b}{_digest(body):0128b}"
    return bits.translate(_TO_WHITESPACE) + "\n" + text


class Damage(Exception):
    """Why a stored file cannot be trusted: a phrase to follow its name, never its content."""


def unstamp(raw: bytes) -> bytes:
    """The JSON of a stored file, checked against its stamp. A file that does
    not start with one was written before stamps: it is returned whole."""
    if not raw:
        raise Damage("is empty")
    if raw[:1] not in (b" ", b"\t"):
        return raw
    head = raw[:_STAMP_LEN]
    if len(head) < _STAMP_LEN:
        raise Damage("is cut short")
    if head[-1:] != b"\n" or head[:-1].strip(b" \t"):
        raise Damage("has a damaged stamp")
    bits = head[:-1].translate(_FROM_WHITESPACE).decode("ascii")
    if int(bits[:16], 2) != _MAGIC:
        raise Damage("has a damaged stamp")
    version = int(bits[16:24], 2)
    if version != FORMAT:
        raise Damage(f"is in a format this Harbour does not read (version {version})")
    length = int(bits[24:56], 2)
    body = raw[_STAMP_LEN:]
    if len(body) < length:
        raise Damage("is cut short")
    if len(body) > length or _digest(body) != int(bits[56:], 2):
        raise Damage("does not match its checksum")
    return body


def _digest(body: bytes) -> int:
    return int.from_bytes(hashlib.sha256(body).digest()[:16])


def parse_stored(raw: bytes, fits: Callable[[Any], bool]) -> Any:
    """The data in a stored file's bytes, checked (`Damage` if it cannot be
    trusted, including data that `fits` refuses)."""
    body = unstamp(raw)
    try:
        data = json.loads(body.decode("utf-8"))
    except UnicodeDecodeError:
        raise Damage("is not valid JSON (not UTF-8 text)") from None
    except json.JSONDecodeError as exc:
        raise Damage(f"is not valid JSON ({exc.msg} at line {exc.lineno})") from None
    if not fits(data):
        raise Damage("does not hold what Harbour keeps in it")
    return data


def tables(data: Any) -> bool:
    """Whether `data` is laid out as TinyDB's: tables of documents by number."""
    return isinstance(data, dict) and all(
        isinstance(table, dict)
        and all(isinstance(doc, dict) and key.isdecimal() for key, doc in table.items())
        for table in data.values()
    )


def counts(data: Any) -> bool:
    """Whether `data` is a counter file's: {year: last number}."""
    return isinstance(data, dict) and all(
        year.isdecimal() and type(last) is int and last >= 0 for year, last in data.items()
    )


_unlinked: set[Path] = set()  # folders where a previous copy could not be made (warned once)


def keep_previous(path: Path, previous: Path) -> None:
    """Before `path` is replaced, make its current version `previous`: a hard
    link renamed over the last one, so nothing is copied or read. If that
    fails, the old previous copy is removed rather than left two writes
    behind, and the write goes on without one. (No sync of its own: the
    directory sync of the write that follows commits it on a journalling
    filesystem, and it is there for damage, which a crash does not cause.)"""
    link = previous.with_name(f".{previous.name}.tmp")
    try:
        try:
            os.link(path, link)
        except FileExistsError:  # left by a crash
            os.unlink(link)
            os.link(path, link)
        os.replace(link, previous)
    except FileNotFoundError:
        # Nothing written yet, or the file was removed on purpose (an
        # administrator resetting a conversation): no older copy may come back.
        with contextlib.suppress(OSError):
            previous.unlink()
        return
    except OSError as exc:
        for leftover in (link, previous):
            with contextlib.suppress(OSError):
                leftover.unlink()
        if previous.parent not in _unlinked:
            _unlinked.add(previous.parent)
            log.warning(
                "Harbour could not keep a previous copy of %s in %s (%s); damage to the "
                "files there could not be repaired from one",
                path.name,
                previous.parent,
                exc.strerror,
            )


@dataclass(frozen=True)
class Place:
    """Where one stored file lives, where its previous copy is kept, and what
    is done when it is found damaged."""

    path: Path
    label: str
    """Its name in the data directory, for logs (never content)."""
    previous: Path | None = None
    damaged: Path | None = None
    """The folder damaged files are set aside in."""
    fits: Callable[[Any], bool] = tables
    loses: str = "what it holds"
    """What reading it as empty would lose, for the refusal."""
    personal: bool = False
    """One person's file: set aside when damaged beyond repair, not refused."""
    lost: set[str] | None = None
    """Where the labels of personal files that lost something are collected, so
    the person can be told when she next writes (`Store.conversation_damaged`)."""

    def write(self, text: str) -> None:
        if self.previous is not None:
            keep_previous(self.path, self.previous)
        atomic_write(self.path, stamp(text))

    def read(self) -> Any | None:
        """What the file holds; None if there is none. Damage is never read as
        empty: the previous copy is put back if it is good; if not, a person's
        file is set aside (they start afresh) and any other file stops the
        store with a `StoreError` that says what to do. (A file gone but for a
        good previous copy is put back too, except a person's: removing it is
        how an administrator resets a conversation.)"""
        damage: Damage | None = None
        try:
            return parse_stored(self.path.read_bytes(), self.fits)
        except FileNotFoundError:
            if self.personal:
                return None
        except Damage as found:
            damage = found
        good = self._previous_copy()
        if good is not None:
            raw, data = good
            aside = self._set_aside() if damage is not None else None
            atomic_write(self.path, raw.decode())
            if self.personal and self.lost is not None:
                self.lost.add(self.label)
            log.warning(
                "%s %s: it was restored from its previous copy, so the last change made "
                "to it is lost%s",
                self.label,
                damage or "was missing",
                f" (the damaged file was kept as {aside})" if aside else "",
            )
            return data
        if damage is None:
            return None
        if self.personal:
            if self.lost is not None:
                self.lost.add(self.label)
            aside = self._set_aside()
            log.warning(
                "%s %s and has no good previous copy: it was moved to %s, and that person "
                "starts again with no conversation in progress",
                self.label,
                damage,
                aside,
            )
            return None
        raise StoreError(
            f"{self.path} {damage}, and there is no good previous copy of it. Harbour will "
            f"not read it as empty: {self.loses} would be lost. Restore {self.path.name} "
            "from a backup; or, if there is none, move it out of the data directory to go "
            "on without it."
        )

    def _previous_copy(self) -> tuple[bytes, Any] | None:
        if self.previous is None:
            return None
        try:
            raw = self.previous.read_bytes()
            return raw, parse_stored(raw, self.fits)
        except (OSError, Damage):
            return None

    def _set_aside(self) -> str | None:
        """Move the damaged file into the `damaged` folder; its name there."""
        if self.damaged is None:
            return None
        make_private_dir(self.damaged)
        name = f"{self.label.replace('/', '-')}.{time.strftime('%Y%m%dT%H%M%SZ', time.gmtime())}"
        target = self.damaged / name
        for n in itertools.count(1):
            if not target.exists():
                break
            target = self.damaged / f"{name}-{n}"
        os.replace(self.path, target)
        sync_directory(self.damaged)
        sync_directory(self.path.parent)
        return f"{self.damaged.name}/{target.name}"


class AtomicJSONStorage(Storage):
    """A TinyDB storage kept in memory and written atomically on commit.

    TinyDB writes the whole database after every table operation; inside
    `batch()` those writes are held back and made once at the end, so several
    operations (save a draft, remember the event id, queue an outbox event)
    become one atomic write. With no path it never touches the disk.
    """

    def __init__(self, path: str | None = None, *, place: Place | None = None) -> None:
        if place is None and path:
            place = Place(Path(path), label=Path(path).name)
        self._place = place
        self._path = place.path if place else None
        self._data: dict[str, Any] | None = None
        self._committed = "{}"
        self._depth = 0
        self._dirty = False

    def read(self) -> dict[str, Any]:
        if self._data is None:
            stored = self._place.read() if self._place is not None else None
            self._data = stored if stored is not None else json.loads(self._committed)
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
        if self._place is not None:
            self._place.write(text)
        self._committed = text

    def close(self) -> None:
        pass


class _File:
    """One TinyDB database and the storage that makes its writes atomic. Its
    label is its name in the data directory, on disk or not."""

    def __init__(self, label: str, place: Place | None) -> None:
        self.label = label
        self.storage = AtomicJSONStorage(place=place)
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


_UNREADABLE = datetime.min.replace(tzinfo=UTC)
"""When an outbox document with no readable time was raised: first, to be set aside at once."""


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
        """Undelivered outbox documents by event id (by file and document for one
        with no readable id): (when, order of arrival, file, document id)."""
        self._counted: dict[int, int] = {}  # the counter file, as on disk
        self._floor: dict[int, int] = {}  # numbers handed out before this process: never again
        self._order = itertools.count()
        self._closed = False
        self._lost_conversations: set[str] = set()  # labels of damaged personal files
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
                folders = [Path(), Path("reports"), Path("conversations")]
                for folder in folders:
                    make_private_dir(directory / folder)
                    make_private_dir(directory / PREVIOUS / folder)
            except BaseException:
                self._release()
                raise
            self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="harbour-store")
            for folder in folders:
                for leftover in [
                    *(directory / folder).glob(".*.tmp"),
                    *(directory / PREVIOUS / folder).glob(".*.tmp"),
                ]:
                    leftover.unlink()  # a write that never completed; the real file is intact
        try:
            # Addresses, the team directory and deliveries change rarely next to
            # conversation steps: their own file keeps them out of people's files.
            self._records = self._file(
                "records.json",
                "named managers, delivery records and how to reach people and channels",
            )
            self._counter = self._place(
                COUNTER, "the record of which report numbers were handed out", fits=counts
            )
            if self._counter is not None:
                found = self._counter.read() or {}
                self._counted = {int(year): last for year, last in found.items()}
            self._floor = dict(self._counted)
            self._load()
            for label in sorted(self._lost_conversations):
                # Alerts raised before a report existed (immediate danger) live
                # in the person's file: the leads must hear that some may be lost.
                letter = DeadLetter(
                    id=f"damaged:{label}",
                    reason="a conversation file was damaged; alerts queued in it may be lost",
                    at=datetime.now(UTC),
                    where=label,
                )
                if self._record_ids.get(DEAD_LETTERS, {}).get(letter.id) is None:
                    self._put_record(DEAD_LETTERS, letter.id, letter.model_dump(mode="json"))
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

    def _place(
        self,
        name: str,
        loses: str,
        *,
        personal: bool = False,
        fits: Callable[[Any], bool] = tables,
    ) -> Place | None:
        """Where the file `name` (relative to the data directory) is kept; None in memory."""
        if self._dir is None:
            return None
        return Place(
            self._dir / name,
            label=name,
            lost=self._lost_conversations if personal else None,
            previous=self._dir / PREVIOUS / f"{name}.prev",
            damaged=self._dir / DAMAGED,
            fits=fits,
            loses=loses,
            personal=personal,
        )

    def _file(self, name: str, loses: str, *, personal: bool = False) -> _File:
        return _File(name, self._place(name, loses, personal=personal))

    def _shard(self, year: int, seq: int) -> _File:
        key = (year, seq // SHARD_SIZE)
        shard = self._shards.get(key)
        if shard is None:
            shard = self._shards[key] = self._file(
                f"reports/{year}-{key[1]:04d}.json",
                "the reports in it (and people hold their reference numbers)",
            )
        return shard

    def _person(self, key: str) -> _File:
        """A person's own small file: their conversation, the event ids they
        sent lately, and alerts raised before their report exists. Saving a
        step rewrites only this, however many people and reports there are."""
        name = self._name(key)
        found = self._people.get(name)
        if found is None:
            found = self._people[name] = self._person_file(name)
            self._seen[name] = {}
        return found

    def _person_file(self, name: str) -> _File:
        return self._file(f"conversations/{name}", "a conversation", personal=True)

    @staticmethod
    def _name(key: str) -> str:
        return _file_name(key)

    def _load(self) -> None:
        """Open every file, build the indexes, and finish any filing a crash
        interrupted (the report is on disk but its draft was never removed)."""
        if self._dir is not None:
            # A shard gone but for its previous copy is found by that copy, and put back.
            names = {p.name for p in (self._dir / "reports").glob("*.json")} | {
                p.name.removesuffix(".prev")
                for p in (self._dir / PREVIOUS / "reports").glob("*.json.prev")
            }
            for name in sorted(names):
                match = _SHARD_NAME.match(name)
                if match:
                    self._shard(int(match[1]), int(match[2]) * SHARD_SIZE)
            for path in sorted((self._dir / "conversations").glob("*.json")):
                self._people[path.name] = self._person_file(path.name)
        self._index()
        for file in self._people.values():
            doc = file.table("session").get(doc_id=SESSION)
            if doc is None:
                continue
            try:
                session = Session.model_validate(doc)
            except ValueError as exc:  # pydantic's errors quote the input: never logged
                log.warning(
                    "%s holds a conversation this Harbour cannot read (%s); it is left as it "
                    "is for now",
                    file.label,
                    type(exc).__name__,
                )
                continue
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
                try:
                    report = Report.model_validate(doc)
                except ValueError as exc:  # its message quotes the report: not shown
                    raise StoreError(
                        f"{shard.label} holds a report this version of Harbour cannot read "
                        f"({type(exc).__name__}). Restore the file from a backup, or run the "
                        "Harbour version that wrote it."
                    ) from None
                self._index_report(report)
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
        """Every undelivered document, readable or not: `pending_events` sets
        aside those it cannot read, so they never stop the store opening."""
        for doc in file.table("outbox").all():
            if doc.get("delivered_at") is None:
                key = doc.get("id")
                if not isinstance(key, str) or not key:
                    key = f"{file.label}#{doc.doc_id}"
                try:
                    at = datetime.fromisoformat(doc["at"])
                except (KeyError, TypeError, ValueError):
                    at = _UNREADABLE
                if at.tzinfo is None:
                    at = _UNREADABLE
                self._pending[key] = (at, next(self._order), file, doc.doc_id)

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

    def _number(self, year: int) -> int:
        """The next report number for `year`, counted durably before it is used.

        Past every number in the shards and every number handed out before
        this process started (the counter file), so a report lost from a shard
        never has its number given again; a crash between the count and the
        report only skips a number. A number whose report failed to be written
        in this process was never told to anyone: it is used again."""
        seq = max(self._floor.get(year, 0), self._max_seq.get(year, 0)) + 1
        while self._shard(year, seq).table("reports").contains(doc_id=seq):
            seq += 1  # never over a stored report, whatever its number says
        if self._counted.get(year, 0) < seq:
            counted = {**self._counted, year: seq}
            if self._counter is not None:
                self._counter.write(json.dumps({str(y): n for y, n in sorted(counted.items())}))
            self._counted = counted
        return seq

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
                seq = self._number(year)
                report, events = make(seq, format_reference(year, seq))
                report.version = 1
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
            reports = shard.table("reports")
            stored = reports.get(doc_id=report.seq)
            if stored is not None and stored.get("version", 0) != report.version:
                raise StaleReport(f"{report.reference} changed since it was read")
            written = report.model_copy(update={"version": report.version + 1})
            with self._writing(shard):
                reports.upsert(Document(written.model_dump(mode="json"), doc_id=report.seq))
                self._queue(shard, events)
            report.version = written.version
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
        """Undelivered events, oldest first. One that cannot be read is moved to
        the dead letters, so it never holds back the events after it."""

        def pending() -> tuple[list[DomainEvent], list[tuple[str, str]]]:
            found, unreadable = [], []
            for key, (_, _, file, doc_id) in sorted(self._pending.items(), key=lambda p: p[1][:2]):
                doc = file.table("outbox").get(doc_id=doc_id)
                if doc and doc.get("delivered_at") is None:
                    try:
                        found.append(DomainEvent.model_validate(doc))
                    except (ValueError, TypeError) as exc:  # a ValidationError is a ValueError
                        unreadable.append((key, unreadable_reason(exc)))
            return found, unreadable

        found, unreadable = await self._read(pending)
        if unreadable:
            await self._run(lambda: self._to_dead_letters(unreadable, check=True))
        return found

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

    def _to_dead_letters(self, entries: Sequence[tuple[str, str]], *, check: bool) -> None:
        """Move outbox documents (by pending key, with the reason) to the dead
        letters: first recorded there with the document itself, for whoever
        looks into it, then removed from the outbox. A crash in between sets
        it aside again, under the same key. With `check`, only a document
        still unreadable (it may have been replaced meanwhile)."""
        for key, reason in entries:
            entry = self._pending.get(key)
            if entry is None:
                continue
            _, _, file, doc_id = entry
            doc = file.table("outbox").get(doc_id=doc_id)
            if doc is None or doc.get("delivered_at") is not None:
                self._pending.pop(key, None)
                continue
            if check:
                try:
                    DomainEvent.model_validate(doc)
                    continue
                except (ValueError, TypeError):
                    pass
            log.warning("an alert was set aside as a dead letter (%s in %s)", reason, file.label)
            if self._record_ids.get(DEAD_LETTERS, {}).get(key) is None:
                letter = DeadLetter(id=key, reason=reason, at=datetime.now(UTC), where=file.label)
                record = {**letter.model_dump(mode="json"), "document": dict(doc)}
                self._put_record(DEAD_LETTERS, key, record)
            with self._writing(file):
                file.table("outbox").remove(doc_ids=[doc_id])
            self._pending.pop(key, None)

    async def park_event(self, event_id: str, reason: str) -> None:
        await self._run(lambda: self._to_dead_letters([(event_id, reason)], check=False))

    async def dead_letters(self) -> list[DeadLetter]:
        letters = await self.records(DEAD_LETTERS)
        return sorted(
            (DeadLetter.model_validate(value) for value in letters.values()),
            key=lambda d: (d.at, d.id),
        )

    async def mark_dead_letter_reported(self, ids: Sequence[str]) -> None:
        def mark() -> None:
            with self._writing(self._records):
                for key in ids:
                    found = self._record_ids.get(DEAD_LETTERS, {}).get(key)
                    doc = self._records.table(DEAD_LETTERS).get(doc_id=found) if found else None
                    if doc is not None and not doc["value"].get("reported"):
                        self._put_record(DEAD_LETTERS, key, {**doc["value"], "reported": True})

        await self._run(mark)

    def _put_record(self, kind: str, key: str, value: dict[str, Any] | None) -> None:
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

    async def put_record(self, kind: RecordKind, key: str, value: dict[str, Any] | None) -> None:
        await self._run(lambda: self._put_record(kind, key, value))

    async def get_record(self, kind: RecordKind, key: str) -> dict[str, Any] | None:
        def get() -> dict[str, Any] | None:
            found = self._record_ids.get(kind, {}).get(key)
            doc = self._records.table(kind).get(doc_id=found) if found else None
            return dict(doc["value"]) if doc else None

        return await self._read(get)

    async def records(self, kind: RecordKind) -> dict[str, dict[str, Any]]:
        def every() -> dict[str, dict[str, Any]]:
            return {d["key"]: dict(d["value"]) for d in self._records.table(kind).all()}

        return await self._read(every)

    async def conversation_damaged(self, person: PersonRef) -> bool:
        label = f"conversations/{self._name(person.key)}"

        def check() -> bool:
            if label in self._lost_conversations:
                self._lost_conversations.discard(label)
                return True
            return False

        return await self._read(check)

    async def check_writable(self) -> None:
        """A small durable write, queued behind everyone else's like any other,
        so a full disk, a read-only remount or a stuck store thread shows."""
        if self._dir is None:
            return
        probe = self._dir / "writable-probe"
        await self._run(lambda: atomic_write(probe, datetime.now(UTC).isoformat()))

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
