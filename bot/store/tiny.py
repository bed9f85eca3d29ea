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
* the data is split so each write stays small, and so that what is kept in
  memory does not grow with everything ever filed:

  - each person has their own small file (`conversations/<digest>.json`: their
    drafts in progress, the event ids they sent lately, alerts raised before
    their report exists, and the inbox: events accepted from the platform and
    not yet handled), so saving a step rewrites only that, however many
    people use Harbour;
  - reports live in shards of `SHARD_SIZE` by number (`reports/2026-0000.json`),
    so filing rewrites one shard, never every report ever filed. A report's
    outbox events sit in its shard: same write, same fate;
  - the delivery records of each case's alerts and its card in the leads'
    channel (record kinds `deliveries` and `channel-messages`) are kept with
    the case, `DELIVERY_CASES` cases to a file by report number
    (`deliveries/2026-0000.json`: HB-2026-0001 to 0063), so recording one
    delivery rewrites the records of a few dozen cases, never those of every
    alert ever sent. A delivery's key starts with its event's id, and the
    outbox says which case the event is about while it is undelivered (the
    only time Harbour writes or asks for one). Those of alerts raised before
    any report existed (immediate danger), and any key naming no case, are in
    `deliveries/no-report.json`. Records of the other kinds (addresses,
    names, the directory, dead letters) are few and stay in `records.json`.
    A `records.json` written before 2026-12 still holds deliveries: at the
    first open they are written into their cases' files, and only then
    removed from `records.json` (a crash in between leaves them in both, and
    the next open finishes the move: a record already moved is never
    written over);
  - each case's audit (who viewed or acted on it: `bot.privacy.audit`) is in
    its deliveries file too (table `audit`: ids, action words and times, in
    clear), so it is erased with the case; the store-wide audit (erasures,
    purges, rotations) is `audit.json`;

* the files a worker keeps as evidence on her case (`put_evidence_file`) are
  one file each, `evidence/2026-0001/<sha256>`, written once and atomically,
  never read at open and never kept in memory: a header line says whether
  the rest is the file as it was given (no key) or sealed (`Sealer.evidence_out`).
  Their SHA-256 is their name and is checked at every read, so they need no
  stamp or previous copy; `erase_report` removes the case's folder;

* only what is in use is read. At open the store reads `records.json`,
  `deliveries/no-report.json`, the counter and a small index of every shard
  (`index/`: where each report is, whose it is, which drafts it consumed, when
  it was closed, the open cases whole, the undelivered events and when the
  oldest delivered one was; for each deliveries file when its oldest finished
  delivery was; for each person's file when her conversation last changed
  and whose it is: what retention looks for, found without reading them); a
  shard, a deliveries file or a person's file is read when first needed, on
  the store's thread, and the most recently used few are kept parsed
  (`REPORT_FILES_KEPT`, `PEOPLE_KEPT`).
  The index is a cache, never the data: each entry names the file it was
  taken from by inode, size, modification time and the checksum in its stamp,
  and a file that does not match (written since, restored, edited by hand,
  damaged) is read whole at open instead. It is written without fsync, when
  the store closes and every few minutes; one lost or damaged is rebuilt from
  the files. A person's file is read at open only if it holds something that
  must not wait (undelivered alerts, accepted events) or changed since the
  index was written.

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
  names it and says what to do. Damage that changed a file's size or time is
  found when the store opens; damage that changed neither (a flipped bit on
  disk), when the file is next read, with the same repair or refusal;
* report numbers come from a counter (`report-numbers`) bumped durably before
  a report is written, so a number once handed out is never handed out again,
  whatever happens to the shard that held its report;
* an outbox event that cannot be read, or that delivery gives up on
  (`park_event`), is moved to the dead letters (in `records.json`) instead of
  blocking the events after it.

What people wrote is sealed (`bot.privacy.sealing`: the `Sealer` says what
stays in clear) in every file and cache that holds it: the reports in the
shards, each person's conversation and the events accepted for them (bound to
their file), the records of names and addresses, and the open cases the index
keeps whole. Documents are sealed where they are written and opened where they
are read; what the store keeps parsed holds them as on disk, and the open cases
it keeps in memory are opened when first read. A document written before
sealing (no `sealed` key) is read as it is; the next write of its file seals
every such document in it, and the index entries that held open cases in clear
are written again, sealed, at the next write of the index (at the latest when
the store closes). Their previous copies (`previous/`) stay as they were until
the next write of the same file replaces them.

Erasure leaves nothing of what it erased under the data directory: each file
`erase_report` or `forget_person` rewrites has its previous copy replaced by
its new version, and what the index held of it (a shard's open cases whole, a
person's entry) is written again at once. `reseal` likewise writes every
sealed document and every previous copy with the current key. Files set aside
in `damaged/` are never read again and are left as they were for whoever looks
into them: they are for a person to remove once looked at.

The key comes after the store is opened (`bot.privacy.setup.attach_key` reads
the key-check record, then sets `sealer`), or with it (`sealer=`). A store that
holds a key-check record (it was sealed) and has no key yet opens only
`records.json`, `deliveries/no-report.json` and the counter (the key-check
record is read from there): the rest is opened when the key is set. Asked for
anything else before that, it refuses (`StoreError`, saying to give it the key).

Every write happens on one worker thread, so the event loop never waits on a
disk flush and no two operations interleave; a read runs on the event loop
when nothing is queued for that thread and what it needs is in memory, else
on the thread, behind the writes before it. `MemoryStore` is the same code
with no files (everything stays in memory), for tests.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import gc
import hashlib
import itertools
import json
import logging
import os
import re
import stat
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator, Mapping, MutableMapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

from filelock import FileLock, Timeout
from pydantic import TypeAdapter
from tinydb import TinyDB
from tinydb.storages import Storage
from tinydb.table import Document, Table

from bot.models import InboundEvent, InboundEventField, PersonRef
from bot.privacy.audit import AuditEntry, link
from bot.privacy.sealing import (
    EVIDENCE_NAME,
    SEALED,
    SEALED_RECORDS,
    Sealer,
    check_evidence,
)
from bot.reports import DomainEvent, Report, ReportStatus, format_reference, parse_reference
from bot.session import Session
from bot.store.base import (
    FINISHED_DELIVERIES,
    DeadLetter,
    DueRule,
    GoneCase,
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
U = TypeVar("U")

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

DELIVERY_CASES = 64
"""Cases whose delivery and channel-message records share one file
(`deliveries/<year>-<n>.json` holds those of reports n*64 to n*64+63): recording
a delivery rewrites the records of at most this many cases. A case's alerts,
retries and card edits make about ten records (1-2 KB): some 100 KB a file."""
REPORT_FILES_KEPT = 6
"""Shards and deliveries files kept parsed in memory once read (the most
recently used). A shard of 256 realistic reports is a few MB parsed: the
newest shards, which take the filings and alerts, stay; reading an old closed
case reads its shard again (a few ms)."""
PEOPLE_KEPT = 256
"""People's files kept parsed in memory once read (the most recently used),
besides those holding an undelivered alert. Each is a few tens of KB parsed;
whoever is answering questions now stays."""
OPEN_LISTED_HERE = 500
"""Up to this many open cases, `open_reports` copies them on the event loop
(about 10 µs each); more, and it does so on the store's thread instead."""
INDEX_EVERY_S = 300.0
"""The index is written at least this often while files change..."""
INDEX_EVERY_FILES = 512
"""...or once this many files changed since it was last written. Each write of
it costs tens of ms at 20,000 people (on the store's thread, so a step may wait
that long once in a while); after a crash, what changed since is read at open."""

_SHARD_NAME = re.compile(r"^(\d{4})-(\d{4,})\.json$")

FILE_MODE = 0o600
"""Every file in the data directory: the account running Harbour reads and writes it, no one else."""
DIR_MODE = 0o700
"""Every directory in the data directory, and the data directory itself."""

PREVIOUS = "previous"
"""The folder of previous copies: `previous/<name>.prev` for each stored file,
with `reports/`, `deliveries/` and `conversations/` inside (those hold their
own files only)."""
DAMAGED = "damaged"
"""Where damaged files are set aside, never deleted, for whoever looks into them."""
COUNTER = "report-numbers"
"""The counter file, {year: the last report number handed out}, beside `records.json`."""
DEAD_LETTERS = RecordKind.DEAD_LETTERS
"""The kind of record (in `records.json`) holding outbox events set aside."""
DELIVERIES = "deliveries"
"""The folder of each shard's delivery and channel-message records, by the shard's name."""
NO_REPORT = f"{DELIVERIES}/no-report.json"
"""The delivery records of alerts raised before any report existed (and of
keys that name no case)."""
CASE_KINDS = (RecordKind.DELIVERIES, RecordKind.CHANNEL_MESSAGES)
"""The record kinds kept with their case rather than in `records.json`."""
INDEX = "index"
"""The folder of the index (a cache, rebuilt from the files when it does not match them)."""
INDEX_FORMAT = 1
AUDIT = "audit"
"""The table of a deliveries file holding the audit chains of its cases (kept
and erased with them): one document per entry, in clear (ids, action words, times)."""
STORE_AUDIT = "audit.json"
"""The file of the store-wide audit chain (what concerns no single case)."""
EVIDENCE = "evidence"
"""The folder of the files kept as evidence, a folder per case in it."""
EVIDENCE_CLEAR = b"harbour-evidence clear\n"
EVIDENCE_SEALED = b"harbour-evidence sealed\n"
"""The first line of a kept evidence file: what the rest of it is."""
RESEAL_TURN = 8
"""Files rewritten per turn on the store's thread by `reseal` and read per turn
by the scans (`prune_delivered`, `audit_chains`), so others' writes go on in between."""


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
    atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Replace `path` with `data` so that a crash leaves the old or the new file."""
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        # Created private, and made so before anything is written in case a
        # leftover of a failed write was there with a looser mode: at no moment
        # can another account read the content. The rename keeps the mode.
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, FILE_MODE)
        with open(fd, "wb") as f:
            os.fchmod(fd, FILE_MODE)  # os.open's mode passes through the umask
            f.write(data)
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
    repaired: set[str] | None = None
    """Where the labels of files put back from their previous copy are collected,
    so what the store knew of the newer version is worked out again."""

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
            if self.repaired is not None:
                self.repaired.add(self.label)
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
    become one atomic write. With no path it never touches the disk. On disk,
    its content is read when first needed, and may be forgotten between
    batches (`forget`) to be read again later.
    """

    def __init__(
        self,
        path: str | None = None,
        *,
        place: Place | None = None,
        on_load: Callable[[], None] | None = None,
    ) -> None:
        if place is None and path:
            place = Place(Path(path), label=Path(path).name)
        self._place = place
        self._path = place.path if place else None
        self._data: dict[str, Any] | None = None
        self._committed = "{}"
        """Only with no file: what the last write made (there is nowhere else to read it again)."""
        self._depth = 0
        self._dirty = False
        self._on_load = on_load

    @property
    def loaded(self) -> bool:
        return self._data is not None

    @property
    def batching(self) -> bool:
        """Whether writes are being held back for one write at the end of a batch."""
        return self._depth > 0

    def read(self) -> dict[str, Any]:
        if self._data is None:
            stored = self._place.read() if self._place is not None else None
            self._data = stored if stored is not None else json.loads(self._committed)
            if self._place is not None and self._on_load is not None:
                self._on_load()
        return self._data

    def forget(self) -> None:
        """Drop the parsed content, to be read from the file when next needed."""
        if self._place is not None and not self._depth:
            self._data = None

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
        else:
            self._committed = text

    def close(self) -> None:
        pass


class _File:
    """One TinyDB database and the storage that makes its writes atomic, read
    when first used. Its label is its name in the data directory, on disk or
    not. There is one `_File` per file at a time in a store (two would each
    believe their own content): the store hands them out."""

    def __init__(
        self,
        label: str,
        place: Place | None,
        *,
        on_load: Callable[[_File], None] | None = None,
        shard: tuple[int, int] | None = None,
    ) -> None:
        self.label = label
        self.place = place
        self.shard = shard
        """(year, number in its name) for a shard or a deliveries file; None
        for any other file."""
        self._on_load = on_load
        self._storage: AtomicJSONStorage | None = None
        self._db: TinyDB | None = None
        self.derived: dict[str, Any] = {}
        """What the store works out from the content (event ids seen, record keys,
        the inbox): dropped with the content, worked out again when next asked."""

    @property
    def storage(self) -> AtomicJSONStorage:
        if self._storage is None:
            self._storage = AtomicJSONStorage(place=self.place, on_load=self._loaded)
        return self._storage

    @property
    def db(self) -> TinyDB:
        if self._db is None:
            storage = self.storage
            self._db = TinyDB(storage=lambda: storage)
        return self._db

    @property
    def loaded(self) -> bool:
        return self._storage is not None and self._storage.loaded

    def table(self, name: str) -> Table:
        return self.db.table(name)

    def docs(self, table: str) -> Iterator[tuple[int, dict[str, Any]]]:
        """A table's documents as stored, with their ids: read only (no copy is
        made of each, as `Table.all` does: scans of whole files stay cheap)."""
        for doc_id, doc in (self.storage.read().get(table) or {}).items():
            yield int(doc_id), doc

    def _loaded(self) -> None:
        self.derived.clear()
        if self._on_load is not None:
            self._on_load(self)

    def unload(self) -> None:
        """Forget the content (on disk only): it is read again when next used."""
        if self._storage is not None and self.place is not None and self._storage.loaded:
            self._storage.forget()
            self._db = None
            self.derived.clear()

    @contextlib.contextmanager
    def batch(self) -> Iterator[None]:
        try:
            with self.storage.batch():
                yield
        except BaseException:
            # Its tables' caches and next ids belong to the content just dropped.
            self._db = None
            self.derived.clear()
            raise


def _replace(table: Table, doc_id: int, doc: dict[str, Any]) -> None:
    """Put `doc` at `doc_id` whole. (TinyDB's `upsert` merges into what is
    there: fields a sealed document no longer holds in clear would stay.)"""

    def becomes(stored: MutableMapping[str, Any]) -> None:
        stored.clear()
        stored.update(doc)

    if not table.update(becomes, doc_ids=[doc_id]):
        table.insert(Document(doc, doc_id=doc_id))


@functools.lru_cache(maxsize=4096)
def _file_name(key: str) -> str:
    """A person's file name: a digest, so ids never become paths. (Asked for
    several times per event: cached.)"""
    return hashlib.sha256(key.encode()).hexdigest()[:32] + ".json"


_UNREADABLE = datetime.min.replace(tzinfo=UTC)
"""When an outbox document with no readable time was raised: first, to be set aside at once."""

_EVENTS: TypeAdapter[InboundEvent] = TypeAdapter(InboundEventField)
"""Reads and writes an accepted event as it is kept in a person's inbox."""

MANY_COPIES = 100
"""From this many reports copied at once, the cycle collector waits (`_copying`)."""


@contextlib.contextmanager
def _copying(count: int) -> Iterator[None]:
    """Many reports copied at once (`open_reports`). The copies hold no cycles,
    so the collector has nothing to reclaim in them, yet the allocations make
    it walk them again and again: 10,000 open cases took 1.2 s to copy with it
    running, 0.24 s without. It runs again as soon as the copies are made."""
    if count < MANY_COPIES or not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


# --------------------------------------------------------------------------- the index


def file_identity(path: Path | str) -> list[Any] | None:
    """What tells one version of a stored file from another without reading it
    all: [inode, size, modification time (ns), the checksum in its stamp] (the
    checksum None for a file with no stamp). None if it cannot be opened."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return None
    try:
        found = os.fstat(fd)
        head = os.read(fd, _STAMP_LEN)
    except OSError:
        return None
    finally:
        os.close(fd)
    digest = None
    if len(head) == _STAMP_LEN and head[-1:] == b"\n" and not head[:-1].strip(b" \t"):
        digest = f"{int(head[56:-1].translate(_FROM_WHITESPACE), 2):032x}"
    return [found.st_ino, found.st_size, found.st_mtime_ns, digest]


VOUCH_AFTER_NS = 2_000_000_000
"""The index vouches only for files last written at least this long before
it: a file written again within the same tick of the filesystem's clock
(coarse: milliseconds, or seconds on some) could keep its size and time."""


TOO_RECENT = "too recent"
"""An index entry not made yet: the file was written too recently to be
vouched for (`VOUCH_AFTER_NS`); it is made at a later turn."""


def _vouched(identity: list[Any] | None) -> list[Any] | None:
    """`identity`, if the index may vouch for the file by it (`VOUCH_AFTER_NS`)."""
    if identity is None or time.time_ns() - identity[2] < VOUCH_AFTER_NS:
        return None
    return identity


def write_index(path: Path, data: dict[str, Any]) -> None:
    """Replace one file of the index. Private like everything else, stamped so
    that a damaged one is noticed, but not fsynced: the index is a cache, and
    one lost or stale after a crash only means reading the files it covered."""
    text = stamp(json.dumps({"format": INDEX_FORMAT, **data}, separators=(",", ":")))
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, FILE_MODE)
        with open(fd, "w", encoding="utf-8") as f:
            os.fchmod(fd, FILE_MODE)
            f.write(text)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise


def read_index(path: Path) -> dict[str, Any] | None:
    """One file of the index, or None if there is none that this Harbour can
    trust (the files it covers are then read instead)."""
    try:
        found = parse_stored(path.read_bytes(), lambda d: isinstance(d, dict))
    except FileNotFoundError:
        return None
    except (OSError, Damage) as exc:
        log.info("the index file %s was not used (%s)", path.name, type(exc).__name__)
        return None
    if found.get("format") != INDEX_FORMAT:
        return None
    data: dict[str, Any] = found
    return data


def _shard_entry_fits(entry: Any) -> bool:
    """Whether a shard's index entry has the shape this Harbour writes."""
    return (
        isinstance(entry, dict)
        and entry.get("shard_size") == SHARD_SIZE
        and isinstance(entry.get("identity"), list)
        and isinstance(entry.get("reports"), list)
        and all(isinstance(r, list) and len(r) == 7 for r in entry["reports"])
        and isinstance(entry.get("open"), dict)
        and isinstance(entry.get("pending"), list)
        and all(isinstance(p, list) and len(p) == 4 for p in entry["pending"])
        and "delivered" in entry
    )


def _holds_clear(entry: Any) -> bool:
    """Whether a shard's index entry holds an open case in clear (not sealed)."""
    opened = entry.get("open") if isinstance(entry, dict) else None
    return isinstance(opened, dict) and any(
        isinstance(doc, dict) and SEALED not in doc for doc in opened.values()
    )


def _needs_content(kind: str) -> bool:
    """Whether records of `kind` can be read or written only once the store is
    open whole: those kept with their cases, and those sealed (a store waiting
    for its key refuses them, rather than write a name in clear among sealed ones)."""
    return kind in CASE_KINDS or kind in SEALED_RECORDS


def _conversation(file: _File) -> str:
    """What a person's sealed documents are bound to: their file (its name is a
    digest of their key), so a sealed value moved to another person's file
    does not open there."""
    return file.label.rpartition("/")[2].removesuffix(".json")


def _key_of(name: str) -> tuple[int, int] | None:
    """(year, shard number) of a shard's file name (`2026-0003.json`)."""
    match = _SHARD_NAME.match(name)
    return (int(match[1]), int(match[2])) if match else None


def _index_name(label: str) -> str:
    """The index file of a shard: `reports/2026-0003.json` -> `reports-2026-0003.cache`."""
    return label.removesuffix(".json").replace("/", "-") + ".cache"


def _when(value: Any) -> datetime | None:
    """A time as stored (ISO text with its zone); None if there is none that reads."""
    if not isinstance(value, str):
        return None
    try:
        at = datetime.fromisoformat(value)
    except ValueError:
        return None
    return at if at.tzinfo is not None else None


def _row_in_clear(label: str, doc_id: int, doc: dict[str, Any], problem: StoreError) -> list[Any]:
    """The index row of a report whose sealed part does not open with the key
    (damaged, or sealed with a key the ring does not hold), from what it keeps
    in clear: its number stays taken and its reference listed, it is left out
    of the open cases (they are read whole), and reading it raises `problem`,
    which names it. One such report never stops the others."""
    try:
        reporter = PersonRef.model_validate(doc.get("reporter")).key
        reference, year, seq = str(doc["reference"]), int(doc["year"]), int(doc["seq"])
    except (KeyError, TypeError, ValueError):
        raise problem from None
    closed = _when(doc.get("closed_at")) if doc.get("status") == ReportStatus.CLOSED else None
    draft = doc.get("draft_id")
    log.warning(
        "%s: %s. It cannot be read, and is left out of the open cases, until its file is "
        "restored from a backup (or the key that sealed it is given back)",
        label,
        problem,
    )
    return [
        doc_id,
        reference,
        year,
        seq,
        reporter,
        [draft] if isinstance(draft, str) else [],
        closed.isoformat() if closed else None,
    ]


def _case(reference: Any) -> str | None:
    """A case's reference as Harbour writes it (None for anything else)."""
    parsed = parse_reference(reference) if isinstance(reference, str) else None
    return format_reference(*parsed) if parsed else None


def _finished_at(record: Any) -> datetime | None:
    """When a delivery record was done with (sent, failed or dropped: the
    sender's "at", else its last failure's "failed_at"); None if it is not
    done, or says no time (such a record is kept)."""
    if not isinstance(record, dict) or record.get("status") not in FINISHED_DELIVERIES:
        return None
    return _when(record.get("at")) or _when(record.get("failed_at"))


def _oldest_delivery(file: _File) -> datetime | None:
    """The oldest delivery of the events in a file's outbox (None: none delivered)."""
    return min(
        (at for _, doc in file.docs("outbox") if (at := _when(doc.get("delivered_at")))),
        default=None,
    )


def _oldest_finish(file: _File) -> datetime | None:
    """The oldest finish of the delivery records in a file (None: none finished)."""
    return min(
        (
            at
            for _, doc in file.docs(RecordKind.DELIVERIES)
            if (at := _finished_at(doc.get("value")))
        ),
        default=None,
    )


@dataclass
class _Facts:
    """What a person's file holds that the store must know without reading it."""

    drafts: list[str]
    """Ids of the drafts in the saved conversation (to drop those already filed)."""
    busy: bool
    """Whether it holds undelivered alerts or accepted events: read at every open."""


class TinyStore(Store):
    """The embedded store. `directory=None` keeps everything in memory.
    `sealer`: the key to seal with from the start (else `attach_key` sets it
    after the store is opened)."""

    def __init__(self, directory: Path | None, *, sealer: Sealer | None = None) -> None:
        self._dir = directory
        self._sealer = sealer or Sealer(None)
        self._awaiting_key = False
        """Sealed data and no key yet: only `records.json` and the counter are open."""
        self._clear_indexed: set[str] = set()
        """Shards whose index entry holds open cases in clear (written before
        sealing): written again, sealed, once there is a key."""
        self._lock: FileLock | None = None
        self._executor: ThreadPoolExecutor | None = None
        self._closed = False
        self._opened = False
        self._queued = 0  # calls handed to the store's thread and not yet back
        # The files: every shard (read or not), the deliveries files and people's
        # files in use, and which of those are there on disk.
        self._shards: dict[tuple[int, int], _File] = {}
        self._delivery_files: dict[tuple[int, int], _File] = {}
        self._delivery_keys: set[tuple[int, int]] = set()
        self._live_people: dict[str, _File] = {}  # by file name (a digest of the person's key)
        self._person_names: set[str] = set()
        self._report_files: OrderedDict[str, _File] = OrderedDict()  # read, least recent first
        self._people_files: OrderedDict[str, _File] = OrderedDict()
        # The index: what is known of every report and outbox without reading shards.
        self._present: dict[tuple[int, int], int] = {}
        """By shard: a bit for each report number stored in it."""
        self._shard_max: dict[tuple[int, int], int] = {}
        self._max_seq: dict[int, int] = {}
        self._by_person: dict[str, list[str]] = {}
        self._from_draft: dict[str, str] = {}
        self._open: dict[str, dict[str, Any]] = {}
        """Each open case, by its place (`HB-2026-0042`: shard and number), as
        stored: sealed as in the index until first read (`_open_case`), then opened."""
        self._open_order: list[str] | None = None
        self._due: dict[str, datetime | None] = {}
        """When each open case next needs the timers, by `due_rule` (by place;
        worked out when first asked and at each write of the case)."""
        self._pending: dict[str, tuple[datetime, int, _File, int]] = {}
        """Undelivered outbox documents by event id (by file and document for one
        with no readable id): (when, order of arrival, file, document id)."""
        self._pending_docs: dict[str, dict[str, Any]] = {}
        """The same documents, as stored: listed without reading their files."""
        self._inbox_people: set[str] = set()  # names of people's files with accepted events
        self._closed_at: dict[str, datetime] = {}
        """When each closed report was closed, by reference (`references`)."""
        self._sessions: dict[str, tuple[datetime, dict[str, Any]]] = {}
        """By person's file name, for each saved conversation: when it last
        changed and whose it is (both kept in clear), for `idle_sessions`."""
        self._sessions_unknown: set[str] = set()
        """People's files the index vouched for without saying that (written
        before 2026-12): read by the first `idle_sessions`, not at open."""
        self._oldest_delivered: dict[tuple[int, int], datetime | None] = {}
        """By shard: no later than the oldest delivery of an event still in its
        outbox (None: none delivered; a shard not here: not known, read to find out)."""
        self._oldest_finished: dict[tuple[int, int], datetime | None] = {}
        """The same for each deliveries file: no later than its oldest finished
        delivery record (`prune_delivered` reads only the files that may hold one to go)."""
        self._counted: dict[int, int] = {}  # the counter file, as on disk
        self._floor: dict[int, int] = {}  # numbers handed out before this process: never again
        self._order = itertools.count()
        self._lost_conversations: set[str] = set()  # labels of damaged personal files
        self._lettered: set[str] = set()  # ...whose dead letter is written
        self._repaired: set[str] = set()  # labels of files put back from their previous copy
        # The index on disk: which files changed since it was written, and the
        # entries of those no longer in memory.
        self._unindexed: set[str] = set()
        self._fresh: set[str] = set()  # ...and those written too recently to be vouched for
        self._entries: dict[str, Any] = {}
        self._indexed_at = time.monotonic()
        # While delivery records move out of an older records.json (at open).
        self._moving: set[str] = set()
        self._homes: dict[str, tuple[int, int]] | None = None
        self._homes_from: set[str] = set()
        self._evidence_kept: dict[str, dict[str, bytes]] = {}
        """With no directory: each case's evidence files as a file would hold
        them, by reference and SHA-256."""
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
                folders = [Path(), Path("reports"), Path(DELIVERIES), Path("conversations")]
                for folder in folders:
                    make_private_dir(directory / folder)
                    make_private_dir(directory / PREVIOUS / folder)
                make_private_dir(directory / INDEX)
            except BaseException:
                self._release()
                raise
            self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="harbour-store")
            for folder in [*folders, Path(INDEX)]:
                for leftover in [
                    *(directory / folder).glob(".*.tmp"),
                    *(directory / PREVIOUS / folder).glob(".*.tmp"),
                ]:
                    leftover.unlink()  # a write that never completed; the real file is intact
            for leftover in (directory / EVIDENCE).glob("*/.*.tmp"):
                leftover.unlink()
        try:
            # Addresses, the team directory and dead letters change rarely next
            # to conversation steps: their own file keeps them out of people's files.
            self._records = self._file(
                "records.json", "named managers, dead letters and how to reach people and channels"
            )
            self._no_report = self._file(
                NO_REPORT,
                "the delivery records of alerts raised before a report (so they could be "
                "sent again)",
            )
            self._audit = self._file(STORE_AUDIT, "the store-wide audit of erasures and purges")
            self._counter = self._place(
                COUNTER, "the record of which report numbers were handed out", fits=counts
            )
            if self._counter is not None:
                found = self._counter.read() or {}
                self._counted = {int(year): last for year, last in found.items()}
            self._floor = dict(self._counted)
            self._open_files()
        except BaseException:
            if self._executor is not None:
                self._executor.shutdown(wait=False)
            self._release()
            raise

    # ------------------------------------------------------------------ the key

    @property
    def sealer(self) -> Sealer:
        return self._sealer

    @sealer.setter
    def sealer(self, sealer: Sealer) -> None:
        """Seal with `sealer` from now on. Given a key: the index entries that
        hold open cases in clear are written again (sealed) at the next write
        of the index, and a store opened without its key opens the rest now
        (on the store's thread; damage found then raises here, as it would
        have at open)."""
        self._sealer = sealer
        if not sealer.seals:
            return
        if self._executor is None:
            self._keyed()
        else:
            self._executor.submit(self._keyed).result()

    def _keyed(self) -> None:
        self._reseal_index()
        self._finish_open()

    def _reseal_index(self) -> None:
        """Have the index entries that hold open cases in clear written again
        (sealed) at the next write of the index."""
        for label, entry in list(self._entries.items()):
            if _holds_clear(entry):
                self._clear_indexed.add(label)
        for label in self._clear_indexed:
            self._entries.pop(label, None)
            self._unindexed.add(label)
        self._clear_indexed.clear()

    def _finish_open(self) -> None:
        """Open what a store holding sealed data left until it had its key."""
        if not self._awaiting_key:
            return
        if not self.sealer.seals:
            raise StoreError(
                f"the data in {self._dir} is sealed and Harbour was given no key: set "
                "HARBOUR_KEY_FILE (or HARBOUR_KEY) to the key this data was sealed with"
            )
        try:
            self._open_content()
        except BaseException:
            self._forget_content()
            raise
        self._awaiting_key = False

    def _forget_content(self) -> None:
        """Drop what a failed `_open_content` learned, to start again from the files."""
        for files in (self._shards, self._delivery_files, self._live_people):
            for file in files.values():
                file.unload()
        self._shards.clear()
        self._delivery_files.clear()
        self._delivery_keys.clear()
        self._live_people.clear()
        self._person_names.clear()
        self._report_files.clear()
        self._people_files.clear()
        for index in (
            self._present,
            self._shard_max,
            self._max_seq,
            self._by_person,
            self._from_draft,
            self._open,
            self._due,
            self._pending,
            self._pending_docs,
            self._entries,
            self._closed_at,
            self._sessions,
            self._oldest_delivered,
            self._oldest_finished,
        ):
            index.clear()
        self._open_order = None
        for labels in (
            self._inbox_people,
            self._unindexed,
            self._fresh,
            self._clear_indexed,
            self._sessions_unknown,
        ):
            labels.clear()
        self._moving, self._homes, self._homes_from = set(), None, set()

    # ------------------------------------------------------------------ plumbing

    async def _run(self, fn: Callable[[], T], *, content: bool = True) -> T:
        """A write (or a read that needs the disk, or one queued behind writes):
        on the store's one thread, so the event loop never waits on the disk
        and no two interleave. `content=False`: one that needs only
        `records.json` (or nothing stored), which a store waiting for its key
        can do."""
        if self._closed:
            raise StoreError("the store is closed")
        if content and self._awaiting_key:
            fn = functools.partial(self._opened_first, fn)
        if self._executor is None:
            return fn()
        self._queued += 1
        try:
            return await asyncio.get_running_loop().run_in_executor(
                self._executor, functools.partial(self._job, fn)
            )
        finally:
            self._queued -= 1

    def _job(self, fn: Callable[[], T]) -> T:
        try:
            return fn()
        finally:
            self._upkeep()

    def _opened_first(self, fn: Callable[[], T]) -> T:
        self._finish_open()
        return fn()

    async def _read(
        self,
        fn: Callable[[], T],
        ready: Callable[[], bool] | None = None,
        *,
        content: bool = True,
    ) -> T:
        """A read. With nothing queued for the store's thread nothing else is
        touching the tables, so if what it needs is in memory (`ready`) it runs
        here and now: the hop to the thread and back cost more CPU (~0.15 ms)
        than the read. With writes queued, it waits its turn behind them and
        sees them; if it needs the disk, it reads it on the thread."""
        if self._closed:
            raise StoreError("the store is closed")
        if not self._queued and not (content and self._awaiting_key) and (ready is None or ready()):
            return fn()
        return await self._run(fn, content=content)

    @contextlib.contextmanager
    def _writing(self, file: _File) -> Iterator[None]:
        """One atomic write to `file`. If it fails, its tables fall back to what
        is on disk (read again when next used). The indexes are only changed
        once a write has landed, so they never believe in one that did not."""
        with file.batch():
            if self.sealer.seals and not file.derived.get("sealed"):
                self._seal_leftovers(file)
            yield
        if file.label.startswith("conversations/"):
            self._note_session(file)
        if file.place is not None and file not in (self._records, self._no_report, self._audit):
            self._unindexed.add(file.label)
            self._fresh.discard(file.label)
            self._entries.pop(file.label, None)

    def _upkeep(self) -> None:
        """After each call on the store's thread: the dead letters of damaged
        conversations, memory kept to what is in use, and the index written when due."""
        if self._dir is None:
            return
        try:
            self._letter_lost()
            self._trim()
            since = time.monotonic() - self._indexed_at
            if len(self._unindexed) >= INDEX_EVERY_FILES or (
                self._unindexed and since >= INDEX_EVERY_S
            ):
                self._write_index()
            elif self._fresh and since >= VOUCH_AFTER_NS / 1e9:
                self._write_index(fresh_only=True)
        except Exception as exc:  # the call itself is done: this is tried again after the next
            log.warning("the store's upkeep failed (%s)", type(exc).__name__)

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
            repaired=self._repaired,
            previous=self._dir / PREVIOUS / f"{name}.prev",
            damaged=self._dir / DAMAGED,
            fits=fits,
            loses=loses,
            personal=personal,
        )

    def _file(
        self,
        name: str,
        loses: str,
        *,
        personal: bool = False,
        shard: tuple[int, int] | None = None,
        kept: bool = True,
    ) -> _File:
        """A file of the store. `kept=False`: one read once and thrown away (a
        scan), never written through, not one of the files in use."""
        place = self._place(name, loses, personal=personal)
        return _File(name, place, on_load=self._loaded if kept else None, shard=shard)

    def _loaded(self, file: _File) -> None:
        """A file was read from disk: one more in memory (the least recently used
        are forgotten after each call). One put back from its previous copy may
        hold other reports or alerts than the index says: indexed again."""
        if file is self._records or file is self._no_report or file is self._audit:
            return  # always in memory
        if file.label.startswith(f"{DELIVERIES}/") and file.shard is not None:
            self._oldest_finished[file.shard] = _oldest_finish(file)
        files = self._people_files if file.shard is None else self._report_files
        files[file.label] = file
        files.move_to_end(file.label)
        if file.label in self._repaired and self._opened:
            self._repaired.discard(file.label)
            self._unindexed.add(file.label)
            self._entries.pop(file.label, None)
            if file.shard is None or file.label.startswith("reports/"):
                self._reindex(file)

    def _used(self, file: _File) -> _File:
        files = self._people_files if file.shard is None else self._report_files
        if file.label in files:
            files.move_to_end(file.label)
        return file

    def _trim(self) -> None:
        """Forget the least recently used files beyond what is kept in memory."""
        for files, keep in (
            (self._report_files, REPORT_FILES_KEPT),
            (self._people_files, PEOPLE_KEPT),
        ):
            while len(files) > keep:
                self._forget(next(iter(files.values())))

    def _forget(self, file: _File) -> None:
        files = self._people_files if file.shard is None else self._report_files
        files.pop(file.label, None)
        if not file.loaded:
            return
        if file.label in self._unindexed and file.label not in self._entries:
            self._entries[file.label] = self._entry(file)
        file.unload()
        if file.shard is None and not any(e[2] is file for e in self._pending.values()):
            # A person's file waiting on nothing goes; one holding an alert stays
            # (unread) as the one the outbox points at.
            name = file.label.removeprefix("conversations/")
            if self._live_people.get(name) is file:
                del self._live_people[name]

    def _shard(self, year: int, seq: int) -> _File:
        return self._shard_at((year, seq // SHARD_SIZE))

    def _shard_at(self, key: tuple[int, int]) -> _File:
        shard = self._shards.get(key)
        if shard is None:
            shard = self._shards[key] = self._file(
                f"reports/{key[0]}-{key[1]:04d}.json",
                "the reports in it (and people hold their reference numbers)",
                shard=key,
            )
        return self._used(shard)

    def _deliveries(self, key: tuple[int, int]) -> _File:
        """The delivery and channel-message records of the cases of `key`
        (`_delivery_key`)."""
        found = self._delivery_files.get(key)
        if found is None:
            found = self._delivery_files[key] = self._delivery_file(key)
        return self._used(found)

    @staticmethod
    def _delivery_key(reference: str | None) -> tuple[int, int] | None:
        """Which deliveries file holds the records of a case."""
        parsed = parse_reference(reference) if isinstance(reference, str) else None
        return (parsed[0], parsed[1] // DELIVERY_CASES) if parsed else None

    def _delivery_file(self, key: tuple[int, int], *, kept: bool = True) -> _File:
        return self._file(
            f"{DELIVERIES}/{key[0]}-{key[1]:04d}.json",
            "the delivery records of its cases' alerts (so they could be sent again)",
            shard=key,
            kept=kept,
        )

    def _person(self, key: str) -> _File:
        """A person's own small file: their conversation, the event ids they
        sent lately, alerts raised before their report exists and the events
        accepted for them. Saving a step rewrites only this, however many
        people and reports there are."""
        return self._person_by_name(self._name(key))

    def _person_by_name(self, name: str) -> _File:
        found = self._live_people.get(name)
        if found is None:
            found = self._live_people[name] = self._person_file(name)
        return self._used(found)

    def _person_file(self, name: str, *, kept: bool = True) -> _File:
        return self._file(f"conversations/{name}", "a conversation", personal=True, kept=kept)

    def _person_ready(self, name: str) -> bool:
        """Whether a person's file can be used without reading the disk."""
        found = self._live_people.get(name)
        return (
            self._dir is None
            or (found is not None and found.loaded)
            or (found is None and name not in self._person_names)  # none there: nothing to read
        )

    @staticmethod
    def _name(key: str) -> str:
        return _file_name(key)

    @property
    def _people(self) -> Mapping[str, _OpenedFile]:
        """Every person's file by name, its documents opened (read only: for
        `bot.store.migrate`)."""
        return _OpenedPeople(self)

    def _seen_of(self, file: _File) -> dict[str, None]:
        found: dict[str, None] | None = file.derived.get("seen")
        if found is None:
            docs = file.table("seen").all()
            file.derived["old_seen"] = any("ids" not in doc for doc in docs)
            ids = [i for doc in docs for i in doc.get("ids", [doc.get("id")]) if i is not None]
            found = file.derived["seen"] = dict.fromkeys(ids[-SEEN_KEEP:])
        return found

    def _inbox_of(self, file: _File) -> dict[str, int]:
        """A person's accepted events: event id -> document id."""
        found: dict[str, int] | None = file.derived.get("inbox")
        if found is None:
            found = file.derived["inbox"] = {
                doc["id"]: doc.doc_id
                for doc in file.table("inbox").all()
                if isinstance(doc.get("id"), str)
            }
        return found

    def _record_ids(self, file: _File) -> dict[str, dict[str, int]]:
        """A records file's keys: kind -> key -> document id."""
        found: dict[str, dict[str, int]] | None = file.derived.get("ids")
        if found is None:
            found = file.derived["ids"] = {
                kind: {d["key"]: doc_id for doc_id, d in file.docs(kind)}
                for kind in file.storage.read()
                if kind != AUDIT
            }
        return found

    # ------------------------------------------------------------------ opening

    def _open_files(self) -> None:
        """Read what the store needs from the start: the index of every shard
        (the shard itself where the index does not vouch for it), the deliveries
        files the index does not vouch for (so damage shows now), and people's
        files holding undelivered alerts or accepted events, or changed since the
        index was written. Then move delivery records out of an older
        `records.json`, finish any filing a crash interrupted (the report is
        on disk but its draft was never removed), and write the index."""
        self._records.storage.read()
        self._no_report.storage.read()
        if (
            self._dir is not None
            and not self.sealer.seals
            and self._record_ids(self._records).get(RecordKind.KEY_CHECK)
        ):
            self._awaiting_key = True  # sealed: the rest is read once the key is set
            return
        self._open_content()

    def _open_content(self) -> None:
        """What `_open_files` reads after `records.json` (see there)."""
        if self._dir is not None:
            if any(len(self._records.table(k)) for k in CASE_KINDS):
                self._moving = {
                    str(doc.get("key", "")).partition(":")[0]
                    for _, doc in self._records.docs(RecordKind.DELIVERIES)
                }
                self._homes = {}
            self._open_shards(self._dir)
            self._open_deliveries(self._dir)
            drafts = self._open_people(self._dir)
            self._move_case_records()
            for name, ids in sorted(drafts.items()):
                if any(i in self._from_draft for i in ids):
                    self._finish_filing(self._person_by_name(name))
            self._letter_lost()
            self._trim()
            if self.sealer.seals:
                self._reseal_index()
            if self._unindexed:
                self._write_index()
        self._repaired.clear()
        self._opened = True

    def _found_keys(self, directory: Path, folder: str) -> set[tuple[int, int]]:
        """The shards named in `folder`, and those gone but for their previous
        copy (read, that copy is put back)."""
        names = {p.name for p in (directory / folder).glob("*.json")} | {
            p.name.removesuffix(".prev")
            for p in (directory / PREVIOUS / folder).glob("*.json.prev")
        }
        return {key for key in map(_key_of, names) if key is not None}

    def _open_shards(self, directory: Path) -> None:
        index = directory / INDEX
        for key in sorted(self._found_keys(directory, "reports")):
            shard = self._shard_at(key)
            assert shard.place is not None
            entry = read_index(index / _index_name(shard.label))
            identity = file_identity(shard.place.path)
            if entry is None or not _shard_entry_fits(entry) or entry["identity"] != identity:
                entry = self._summarise_shard(shard)  # reads it: put back, or refused, if damaged
                self._unindexed.add(shard.label)
                identity = file_identity(shard.place.path)
                if _vouched(identity):
                    self._entries[shard.label] = {"identity": identity, **entry}
                else:
                    self._entries[shard.label] = TOO_RECENT if identity else None
                self._forget(shard)
            self._index_shard(shard, entry)

    def _open_deliveries(self, directory: Path) -> None:
        self._delivery_keys = self._found_keys(directory, DELIVERIES)
        known = (read_index(directory / INDEX / "deliveries.cache") or {}).get("files", {})
        for key in sorted(self._delivery_keys):
            file = self._deliveries(key)
            assert file.place is not None
            identity = file_identity(file.place.path)
            entry = known.get(file.label)
            if identity is None or not isinstance(entry, list) or entry[:4] != identity:
                file.storage.read()  # put back, or refused, if damaged
                self._unindexed.add(file.label)
                self._forget(file)
            elif len(entry) == 5:  # (an entry written before 2026-12 does not say)
                self._oldest_finished[key] = _when(entry[4])

    def _open_people(self, directory: Path) -> dict[str, list[str]]:
        """Index people's files; returns the ids of the drafts in each saved conversation."""
        with os.scandir(directory / "conversations") as entries:
            self._person_names = {e.name for e in entries if e.name.endswith(".json")}
        known = (read_index(directory / INDEX / "conversations.cache") or {}).get("files", {})
        drafts: dict[str, list[str]] = {}
        folder = os.path.join(directory, "conversations")  # a str: 20,000 Paths cost 0.2 s
        for name in sorted(self._person_names):
            entry = known.get(name)
            identity = file_identity(os.path.join(folder, name))
            if (
                isinstance(entry, list)
                and len(entry) in (5, 7)
                and identity
                and entry[:4] == identity
            ):
                if entry[4]:
                    drafts[name] = list(entry[4])
                if len(entry) == 5:
                    self._sessions_unknown.add(name)
                elif (at := _when(entry[5])) is not None and isinstance(entry[6], dict):
                    self._sessions[name] = (at, entry[6])
                continue
            file = self._person_by_name(name)
            facts = self._index_person(file)
            if facts.drafts:
                drafts[name] = facts.drafts
            self._unindexed.add(file.label)
            self._forget(file)
        return drafts

    def _finish_filing(self, file: _File) -> None:
        """Drop the drafts already filed from a saved conversation."""
        doc = self._session_doc(file)
        if doc is None:
            return
        try:
            session = Session.model_validate(doc)
        except ValueError as exc:  # pydantic's errors quote the input: never logged
            log.warning(
                "%s holds a conversation this Harbour cannot read (%s); it is left as it is for now",
                file.label,
                type(exc).__name__,
            )
            return
        finished = [f for f, d in session.drafts.items() if d.id in self._from_draft]
        if not finished:
            return
        log.info("dropping %d draft(s) already filed before a restart", len(finished))
        for flow in finished:
            del session.drafts[flow]
        if session.active in finished:
            session.active = None
        with self._writing(file):
            self._upsert_session(file, session)

    def _letter_lost(self) -> None:
        """A dead letter for each conversation file found damaged: alerts raised
        before a report existed (immediate danger) wait in the person's file,
        and the leads must hear that some may be lost."""
        for label in sorted(self._lost_conversations - self._lettered):
            letter = DeadLetter(
                id=f"damaged:{label}",
                reason="a conversation file was damaged; alerts queued in it may be lost",
                at=datetime.now(UTC),
                where=label,
            )
            if self._record_ids(self._records).get(DEAD_LETTERS, {}).get(letter.id) is None:
                self._put_in(self._records, DEAD_LETTERS, letter.id, letter.model_dump(mode="json"))
            self._lettered.add(label)

    def _note_home(self, shard: _File, doc: dict[str, Any]) -> None:
        """While records are to be moved out of `records.json`: which
        deliveries file takes the records of this outbox event."""
        if self._homes is None or shard.shard is None:
            return
        self._homes_from.add(shard.label)
        event_id = doc.get("id")
        if event_id in self._moving:
            where = shard.shard
            self._homes[event_id] = self._delivery_key(doc.get("reference")) or (
                where[0],
                where[1] * SHARD_SIZE // DELIVERY_CASES,
            )

    def _move_case_records(self) -> None:
        """Move delivery and channel-message records out of a `records.json`
        written before they were kept with their cases: each is first written
        into its case's deliveries file (or `no-report.json`), then all are
        removed from `records.json` in one write. A crash in between leaves
        them in both; the next open moves them again, and a record already
        moved (and maybe changed since) is kept as it is."""
        kinds = [k for k in CASE_KINDS if len(self._records.table(k))]
        if not kinds:
            return
        moving = {kind: [doc for _, doc in self._records.docs(kind)] for kind in kinds}
        home_of = self._homes if self._homes is not None else {}
        for where in sorted(self._shards) if self._homes is not None else ():
            shard = self._shard_at(where)
            if shard.label not in self._homes_from:  # not read at this open: read now
                was_loaded = shard.loaded
                for _, doc in shard.docs("outbox"):
                    self._note_home(shard, doc)
                if not was_loaded:
                    self._forget(shard)
        self._homes, self._moving, self._homes_from = None, set(), set()
        by_home: dict[tuple[int, int] | None, list[tuple[str, dict[str, Any]]]] = {}
        for kind, docs in moving.items():
            for doc in docs:
                key = str(doc.get("key", ""))
                home: tuple[int, int] | None = None
                if kind == RecordKind.DELIVERIES:
                    home = home_of.get(key.partition(":")[0])
                elif (parsed := parse_reference(key)) and self._has_doc(*parsed):
                    home = self._delivery_key(key)
                by_home.setdefault(home, []).append((kind, doc))
        for home in sorted(by_home, key=lambda h: (h is None, h or (0, 0))):
            file = self._no_report if home is None else self._deliveries(home)
            was_loaded = file.loaded
            ids = self._record_ids(file)
            new: dict[str, list[dict[str, Any]]] = {}
            for kind_name, doc in by_home[home]:
                if doc.get("key") not in ids.get(kind_name, {}):
                    new.setdefault(kind_name, []).append(dict(doc))
            if new:
                with self._writing(file):
                    for kind_name, added in new.items():
                        file.table(kind_name).insert_multiple(added)
                file.derived.pop("ids", None)
                if home is not None:
                    self._delivery_keys.add(home)
                    self._oldest_finished.pop(home, None)  # not known: worked out when next read
            if home is not None and not was_loaded:
                self._forget(file)
        with self._writing(self._records):
            for kind in kinds:
                self._records.db.drop_table(kind)
        self._records.derived.clear()
        log.info(
            "moved %d delivery and channel-message records out of records.json, to the "
            "files of their cases",
            sum(len(docs) for docs in moving.values()),
        )

    # ------------------------------------------------------------------ the index

    def _entry(self, file: _File) -> Any:
        """`file`'s entry in the index, from its content (in memory): for a shard
        what it holds, for a deliveries file only which version it is, for a
        person's file which version it is and the drafts in it. None for one
        the index must not vouch for (read at the next open): a person's file
        holding something that must not wait, or one not there; `TOO_RECENT`
        for a file written too recently (`_vouched`)."""
        assert file.place is not None
        found = file_identity(file.place.path)
        identity = _vouched(found)
        if identity is None:
            return TOO_RECENT if found else None
        if file.label.startswith("reports/"):
            return {"identity": identity, **self._summarise_shard(file)}
        if file.shard is not None:
            if file.shard not in self._oldest_finished:
                return identity
            oldest = self._oldest_finished[file.shard]
            return [*identity, oldest.isoformat() if oldest else None]
        facts = self._facts(file)
        if facts.busy:
            return None
        saved = self._sessions.get(file.label.removeprefix("conversations/"))
        if saved is None:
            return [*identity, facts.drafts, None, None]
        return [*identity, facts.drafts, saved[0].isoformat(), saved[1]]

    def _summarise_shard(self, file: _File) -> dict[str, Any]:
        reports, opened = [], {}
        sealer = self.sealer
        for doc_id, doc in file.docs("reports"):
            try:
                report = Report.model_validate(sealer.report_in(doc))
            except StoreError as problem:
                if not sealer.seals:
                    raise  # sealed, and no key: the store waits for it (`_finish_open`)
                reports.append(_row_in_clear(file.label, doc_id, doc, problem))
                continue
            except ValueError as exc:  # its message quotes the report: not shown
                raise StoreError(
                    f"{file.label} holds a report this version of Harbour cannot read "
                    f"({type(exc).__name__}). Restore the file from a backup, or run the "
                    "Harbour version that wrote it."
                ) from None
            drafts = sorted(report.consumed_drafts())
            closed = report.closed_at if report.status is ReportStatus.CLOSED else None
            reports.append(
                [
                    doc_id,
                    report.reference,
                    report.year,
                    report.seq,
                    report.reporter.key,
                    drafts,
                    closed.isoformat() if closed else None,
                ]
            )
            if report.status is not ReportStatus.CLOSED:
                # The index holds open cases as the shard does: sealed (sealed
                # now if stored before sealing), or in clear with no key.
                if SEALED in doc:
                    opened[str(doc_id)] = dict(doc)
                else:
                    opened[str(doc_id)] = sealer.report_out(report.model_dump(mode="json"))
        oldest = _oldest_delivery(file)
        return {
            "shard_size": SHARD_SIZE,
            "reports": reports,
            "open": opened,
            "pending": self._undelivered(file),
            "delivered": oldest.isoformat() if oldest else None,
        }

    def _undelivered(self, file: _File) -> list[list[Any]]:
        """Every undelivered outbox document, readable or not, as [key, when (or
        None), document id, the document]: `pending_events` sets aside those it
        cannot read, so they never stop the store opening."""
        found = []
        for doc_id, doc in file.docs("outbox"):
            self._note_home(file, doc)
            if doc.get("delivered_at") is not None:
                continue
            key = doc.get("id")
            if not isinstance(key, str) or not key:
                key = f"{file.label}#{doc_id}"
            try:
                at: datetime | None = datetime.fromisoformat(doc["at"])
            except (KeyError, TypeError, ValueError):
                at = None
            if at is not None and at.tzinfo is None:
                at = None
            found.append([key, at.isoformat() if at else None, doc_id, dict(doc)])
        return found

    def _index_shard(self, shard: _File, entry: dict[str, Any]) -> None:
        key = shard.shard
        assert key is not None
        base, present, top = key[1] * SHARD_SIZE, 0, 0
        for doc_id, reference, year, seq, reporter, drafts, closed in entry["reports"]:
            if 0 <= doc_id - base < SHARD_SIZE:
                present |= 1 << (doc_id - base)
            top = max(top, seq)
            self._index_fields(reference, year, seq, reporter, drafts)
            if closed is not None:
                self._closed_at[format_reference(key[0], doc_id)] = datetime.fromisoformat(closed)
        delivered = entry["delivered"]
        self._oldest_delivered[key] = datetime.fromisoformat(delivered) if delivered else None
        self._present[key] = present
        self._shard_max[key] = top
        for doc_id, doc in entry["open"].items():
            self._open[format_reference(key[0], int(doc_id))] = doc  # opened when first read
        if _holds_clear(entry):
            self._clear_indexed.add(shard.label)
        self._open_order = None
        self._index_pending(shard, entry["pending"])

    def _index_fields(
        self, reference: str, year: int, seq: int, reporter: str, drafts: Iterable[str]
    ) -> None:
        refs = self._by_person.setdefault(reporter, [])
        if reference not in refs:
            refs.append(reference)
        for draft_id in drafts:
            self._from_draft[draft_id] = reference
        self._max_seq[year] = max(self._max_seq.get(year, 0), seq)

    def _index_pending(self, file: _File, found: Iterable[list[Any]]) -> None:
        for key, at, doc_id, doc in found:
            when = datetime.fromisoformat(at) if at else _UNREADABLE
            self._pending[key] = (when, next(self._order), file, doc_id)
            self._pending_docs[key] = doc

    def _index_report(self, shard: _File, doc_id: int, report: Report, doc: dict[str, Any]) -> None:
        """Index a report just written at `doc_id` in `shard` (`doc`: as stored)."""
        key = shard.shard
        assert key is not None
        if 0 <= doc_id - key[1] * SHARD_SIZE < SHARD_SIZE:
            self._present[key] = self._present.get(key, 0) | 1 << (doc_id - key[1] * SHARD_SIZE)
        self._shard_max[key] = max(self._shard_max.get(key, 0), report.seq)
        self._index_fields(
            report.reference,
            report.year,
            report.seq,
            report.reporter.key,
            report.consumed_drafts(),
        )
        place = format_reference(key[0], doc_id)
        if report.status is ReportStatus.CLOSED:
            if self._open.pop(place, None) is not None:
                self._open_order = None
            self._due.pop(place, None)
        else:
            if place not in self._open:
                self._open_order = None
            self._open[place] = doc
            if self.due_rule is not None:
                self._due[place] = self.due_at(report)
        if report.status is ReportStatus.CLOSED and report.closed_at is not None:
            self._closed_at[place] = report.closed_at
        else:
            self._closed_at.pop(place, None)

    def _facts(self, file: _File) -> _Facts:
        doc = self._session_doc(file)
        drafts = doc.get("drafts") if doc else None
        ids = [
            d["id"]
            for d in (drafts.values() if isinstance(drafts, dict) else ())
            if isinstance(d, dict) and isinstance(d.get("id"), str)
        ]
        busy = bool(self._inbox_of(file)) or any(
            d.get("delivered_at") is None for _, d in file.docs("outbox")
        )
        return _Facts(ids, busy)

    def _index_person(self, file: _File) -> _Facts:
        self._index_pending(file, self._undelivered(file))
        self._inboxed(file)
        self._note_session(file)
        return self._facts(file)

    def _note_session(self, file: _File) -> None:
        """Remember when a person's saved conversation last changed, and whose
        it is (`idle_sessions`): read from its fields kept in clear, never opened."""
        name = file.label.removeprefix("conversations/")
        self._sessions_unknown.discard(name)
        doc = file.table("session").get(doc_id=SESSION)
        at = _when(doc.get("updated_at")) if doc else None
        owner = doc.get("person") if doc else None
        if at is None or not isinstance(owner, dict):
            self._sessions.pop(name, None)
        else:
            self._sessions[name] = (at, owner)

    def _inboxed(self, file: _File) -> None:
        name = file.label.removeprefix("conversations/")
        if self._inbox_of(file):
            self._inbox_people.add(name)
        else:
            self._inbox_people.discard(name)

    def _has_doc(self, year: int, seq: int) -> bool:
        """Whether a report is stored at that number (whatever its own fields say)."""
        key = (year, seq // SHARD_SIZE)
        return bool(self._present.get(key, 0) >> (seq - key[1] * SHARD_SIZE) & 1)

    def _reindex(self, file: _File) -> None:
        """Index what `file` holds now instead of what the index said it held."""
        for pending in [k for k, e in self._pending.items() if e[2] is file]:
            del self._pending[pending]
            self._pending_docs.pop(pending, None)
        if file.shard is None:
            self._index_person(file)
            return
        key = file.shard

        def inside(reference: str) -> bool:
            parsed = parse_reference(reference)
            return parsed is not None and (parsed[0], parsed[1] // SHARD_SIZE) == key

        self._from_draft = {d: r for d, r in self._from_draft.items() if not inside(r)}
        for refs in self._by_person.values():
            refs[:] = [r for r in refs if not inside(r)]
        for reference in [r for r in self._open if inside(r)]:
            del self._open[reference]
            self._due.pop(reference, None)
        for reference in [r for r in self._closed_at if inside(r)]:
            del self._closed_at[reference]
        self._open_order = None
        self._present.pop(key, None)
        self._shard_max.pop(key, None)
        self._max_seq[key[0]] = max(
            (top for k, top in self._shard_max.items() if k[0] == key[0]), default=0
        )
        self._index_shard(file, self._summarise_shard(file))

    def _index(self) -> None:
        """(Re)build every index from the files themselves, reading every one."""
        self._by_person.clear()
        self._max_seq.clear()
        self._from_draft.clear()
        self._open.clear()
        self._open_order = None
        self._due.clear()
        self._pending.clear()
        self._pending_docs.clear()
        self._present.clear()
        self._shard_max.clear()
        self._inbox_people.clear()
        self._closed_at.clear()
        self._sessions.clear()
        self._oldest_delivered.clear()
        for key in sorted(self._shards):
            shard = self._shard_at(key)
            self._index_shard(shard, self._summarise_shard(shard))
        for name in sorted(self._person_names | self._live_people.keys()):
            self._index_person(self._person_by_name(name))

    def _write_index(self, *, fresh_only: bool = False) -> None:
        """Write the index entries of the files changed since it was last
        written (`fresh_only`: of those that were too recent to be vouched for
        then, and not written since). A failure is only logged: the files are
        the data, and the next open reads those the index does not vouch for."""
        if self._dir is None:
            return
        folder = self._dir / INDEX
        if fresh_only:
            changed, self._fresh = sorted(self._fresh), set()
            entries: dict[str, Any] = {}  # what was worked out then was not vouched for
            for label in changed:
                self._entries.pop(label, None)
        else:
            changed = sorted(self._unindexed | self._fresh)
            self._unindexed, self._fresh = set(), set()
            entries, self._entries = self._entries, {}
        people: dict[str, Any] = {}
        deliveries: dict[str, Any] = {}
        self._indexed_at = time.monotonic()
        try:
            for label in changed:
                entry = entries.get(label, TOO_RECENT)
                if entry == TOO_RECENT:  # not made yet, or the file was too recent then
                    file = self._live(label)
                    if file is None:
                        continue  # not vouched for: read at the next open
                    entry = self._entry(file)  # (read again if a failed write dropped it)
                if entry == TOO_RECENT:
                    self._fresh.add(label)  # vouched for at a later turn
                    entry = None
                if label.startswith("reports/"):
                    if entry is not None:
                        write_index(folder / _index_name(label), entry)
                        if _holds_clear(entry):
                            self._clear_indexed.add(label)
                        else:
                            self._clear_indexed.discard(label)
                elif label.startswith("conversations/"):
                    people[label.removeprefix("conversations/")] = entry
                elif label != NO_REPORT:
                    deliveries[label] = entry
            for name, found in (("conversations.cache", people), ("deliveries.cache", deliveries)):
                if found:
                    files = (read_index(folder / name) or {}).get("files", {})
                    for key, entry in found.items():
                        if entry is None:
                            files.pop(key, None)
                        else:
                            files[key] = entry
                    write_index(folder / name, {"files": files})
        except (OSError, StoreError) as exc:
            log.warning(
                "the index in %s could not be written (%s): the next start reads more files",
                folder,
                type(exc).__name__,
            )

    def _live(self, label: str) -> _File | None:
        """The file in use with that label, if there is one."""
        folder, _, name = label.partition("/")
        key = _key_of(name)
        if folder == "reports" and key:
            return self._shards.get(key)
        if folder == DELIVERIES and key:
            return self._delivery_files.get(key)
        if folder == "conversations":
            return self._live_people.get(name)
        return None

    # ------------------------------------------------------------------ writing

    def _queue(self, file: _File, events: Sequence[DomainEvent]) -> list[list[Any]]:
        """Insert `events` in `file`'s outbox; returns the undelivered ones, to
        index (`_index_pending`) once the write has landed."""
        outbox = file.table("outbox")
        queued = []
        for event in events:
            doc = event.model_dump(mode="json")
            doc_id = outbox.insert(doc)
            if event.delivered_at is None:
                queued.append([event.id, event.at.isoformat(), doc_id, doc])
        return queued

    # ------------------------------------------------------------------ sealing

    def _session_doc(self, file: _File) -> dict[str, Any] | None:
        """A person's saved conversation, opened; None if there is none, or if it
        is sealed and does not open (logged: its file is named, nothing else)."""
        doc = file.table("session").get(doc_id=SESSION)
        if doc is None:
            return None
        try:
            return self.sealer.session_in(_conversation(file), dict(doc))
        except StoreError as exc:
            log.warning(
                "the conversation in %s does not open (%s); it is left as it is",
                file.label,
                type(exc).__name__,
            )
            return None

    def _upsert_session(self, file: _File, session: Session) -> None:
        doc = self.sealer.session_out(_conversation(file), session.model_dump(mode="json"))
        _replace(file.table("session"), SESSION, doc)

    def _open_case(self, place: str) -> dict[str, Any]:
        """An open case as kept in memory, opened (and kept opened) if sealed."""
        doc = self._open[place]
        if SEALED in doc:
            doc = self._open[place] = self.sealer.report_in(doc)
        return doc

    def _seal_leftovers(self, file: _File) -> None:
        """Seal what `file` still holds in clear from before sealing, in the
        write about to be made to it (then remembered until it is read again)."""
        sealer = self.sealer
        if file.label.startswith("reports/"):
            table = file.table("reports")
            for doc_id, doc in list(file.docs("reports")):
                if SEALED not in doc:
                    _replace(table, doc_id, sealer.report_out(dict(doc)))
        elif file.label.startswith("conversations/"):
            where = _conversation(file)
            for doc_id, doc in list(file.docs("session")):
                if SEALED not in doc:
                    _replace(file.table("session"), doc_id, sealer.session_out(where, dict(doc)))
            for doc_id, doc in list(file.docs("inbox")):
                event = doc.get("event")
                if isinstance(event, dict) and SEALED not in event:
                    sealed = {**doc, "event": sealer.event_out(where, dict(event))}
                    _replace(file.table("inbox"), doc_id, sealed)
        elif file is self._records:
            for kind in SEALED_RECORDS:
                for doc_id, doc in list(file.docs(kind)):
                    value = doc.get("value")
                    if isinstance(value, dict) and SEALED not in value:
                        key = str(doc.get("key", ""))
                        sealed = {**doc, "value": sealer.record_out(kind, key, value)}
                        _replace(file.table(kind), doc_id, sealed)
        file.derived["sealed"] = True

    # ------------------------------------------------------------------ writing people

    def _put_session(self, file: _File, session: Session | None, event_id: str | None) -> None:
        table = file.table("session")
        if session is None or session.is_empty:
            if table.contains(doc_id=SESSION):
                table.remove(doc_ids=[SESSION])
        else:
            self._upsert_session(file, session)
        if event_id is None:
            return
        seen = self._seen_of(file)
        if event_id not in seen:
            # One document holding the list: a TinyDB document per id made each
            # step rebuild a hundred-entry table and made up most of the file.
            seen[event_id] = None
            while len(seen) > SEEN_KEEP:
                del seen[next(iter(seen))]
            table = file.table("seen")
            if file.derived.get("old_seen"):
                table.truncate()
                file.derived["old_seen"] = False
            table.upsert(Document({"ids": list(seen)}, doc_id=RECENT))

    def _wrote_person(self, file: _File, queued: Sequence[list[Any]] = ()) -> None:
        """Index a write to a person's file once it has landed."""
        self._person_names.add(file.label.removeprefix("conversations/"))
        self._index_pending(file, queued)
        self._inboxed(file)

    def _save_person(
        self,
        person: PersonRef,
        session: Session | None,
        event_id: str | None,
        events: Sequence[DomainEvent] = (),
    ) -> None:
        file = self._person(person.key)
        with self._writing(file):
            self._put_session(file, session, event_id)
            queued = self._queue(file, events)
        self._wrote_person(file, queued)

    def _number(self, year: int) -> int:
        """The next report number for `year`, counted durably before it is used.

        Past every number in the shards and every number handed out before
        this process started (the counter file), so a report lost from a shard
        never has its number given again; a crash between the count and the
        report only skips a number. A number whose report failed to be written
        in this process was never told to anyone: it is used again."""
        seq = max(self._floor.get(year, 0), self._max_seq.get(year, 0)) + 1
        while self._has_doc(year, seq):
            seq += 1  # never over a stored report, whatever its number says
        if self._counted.get(year, 0) < seq:
            counted = {**self._counted, year: seq}
            if self._counter is not None:
                self._counter.write(json.dumps({str(y): n for y, n in sorted(counted.items())}))
            self._counted = counted
        return seq

    def _report_at(self, year: int, seq: int) -> Report | None:
        """The report stored at that number: a fresh copy, whoever changes it."""
        place = format_reference(year, seq)
        doc = self._open_case(place) if place in self._open else None
        if doc is None and self._has_doc(year, seq):
            stored = self._shard(year, seq).table("reports").get(doc_id=seq)
            doc = self.sealer.report_in(dict(stored)) if stored else None
        return Report.model_validate(doc) if doc else None

    def _report_ready(self, year: int, seq: int) -> bool:
        return (
            format_reference(year, seq) in self._open
            or not self._has_doc(year, seq)
            or self._shard(year, seq).loaded
        )

    # ------------------------------------------------------------------ interface

    async def load_session(self, person: PersonRef) -> Session | None:
        name = self._name(person.key)

        def load() -> Session | None:
            file = self._person_by_name(name)
            doc = file.table("session").get(doc_id=SESSION)
            if not doc:
                return None
            return Session.model_validate(self.sealer.session_in(_conversation(file), dict(doc)))

        return await self._read(load, lambda: self._person_ready(name))

    async def seen(self, person: PersonRef, event_id: str) -> bool:
        name = self._name(person.key)
        return await self._read(
            lambda: event_id in self._seen_of(self._person_by_name(name)),
            lambda: self._person_ready(name),
        )

    async def save_session(
        self,
        person: PersonRef,
        session: Session | None,
        *,
        event_id: str | None = None,
        events: Sequence[DomainEvent] = (),
    ) -> None:
        await self._run(lambda: self._save_person(person, session, event_id, events))

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
            parsed = parse_reference(existing) if existing else None
            report = self._report_at(*parsed) if parsed else None
            if report is None:
                seq = self._number(year)
                report, events = make(seq, format_reference(year, seq))
                report.version = 1
                shard = self._shard(year, seq)
                doc = report.model_dump(mode="json")
                with self._writing(shard):
                    shard.table("reports").insert(Document(self.sealer.report_out(doc), doc_id=seq))
                    queued = self._queue(shard, events)
                self._index_pending(shard, queued)
                self._index_report(shard, seq, report, doc)
            # Filed (now, or already: the session write after it failed): the session part.
            self._save_person(person, session, event_id)
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
            if stored is None and report.version > 0:
                # It was stored, and erased since it was read: never written back.
                raise StaleReport(f"{report.reference} was erased since it was read")
            written = report.model_copy(update={"version": report.version + 1})
            doc = written.model_dump(mode="json")
            with self._writing(shard):
                _replace(reports, report.seq, self.sealer.report_out(doc))
                queued = self._queue(shard, events)
            report.version = written.version
            self._index_pending(shard, queued)
            self._index_report(shard, report.seq, written, doc)
            if person is not None:
                self._save_person(person, session, event_id)

        await self._run(save)

    async def get_report(self, reference: str) -> Report | None:
        parsed = parse_reference(reference)
        if parsed is None:
            return None
        year, seq = parsed
        return await self._read(
            lambda: self._report_at(year, seq), lambda: self._report_ready(year, seq)
        )

    async def reports_by(self, person: PersonRef) -> list[Report]:
        refs = await self._read(lambda: list(self._by_person.get(person.key, ())))
        reports = [r for r in [await self.get_report(ref) for ref in reversed(refs)] if r]
        return sorted(reports, key=lambda r: r.filed_at, reverse=True)

    async def open_reports(self) -> list[Report]:
        """Copies of the open cases, made from what is kept of each (validating
        a stored document is the quickest deep copy: ~7 µs, a third of `deepcopy`),
        so nobody's change to one reaches another's."""

        def listed() -> list[Report]:
            if self._open_order is None:
                self._open_order = sorted(self._open, key=lambda r: parse_reference(r) or (0, 0))
            with _copying(len(self._open_order)):
                return [Report.model_validate(self._open_case(r)) for r in self._open_order]

        if len(self._open) > OPEN_LISTED_HERE:
            return await self._run(listed)
        return await self._read(listed)

    def index_due(self, rule: DueRule) -> None:
        self.due_rule = rule
        self._due.clear()

    async def reports_due(self, now: datetime) -> list[Report]:
        """The open cases whose timers are due, by `due_rule`: each case's
        answer is kept from its last write, so a pass copies only those due."""
        if self.due_rule is None:
            return await self.open_reports()

        def due() -> list[Report]:
            if self._open_order is None:
                self._open_order = sorted(self._open, key=lambda r: parse_reference(r) or (0, 0))
            found = []
            with _copying(len(self._open_order)):
                for place in self._open_order:
                    if place in self._due:
                        when = self._due[place]
                        if when is not None and when <= now:
                            found.append(Report.model_validate(self._open_case(place)))
                        continue
                    report = Report.model_validate(self._open_case(place))
                    when = self._due[place] = self.due_at(report)
                    if when is not None and when <= now:
                        found.append(report)
            return found

        if len(self._open) - len(self._due) > OPEN_LISTED_HERE:
            return await self._run(due)
        return await self._read(due)

    async def pending_events(self) -> list[DomainEvent]:
        """Undelivered events, oldest first. One that cannot be read is moved to
        the dead letters, so it never holds back the events after it."""

        def pending() -> tuple[list[DomainEvent], list[tuple[str, str]]]:
            found, unreadable = [], []
            for key, (_, _, file, doc_id) in sorted(self._pending.items(), key=lambda p: p[1][:2]):
                doc = (
                    file.table("outbox").get(doc_id=doc_id)
                    if file.loaded
                    else self._pending_docs.get(key)
                )
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
                    if file.shard is None:
                        outbox.remove(doc_ids=doc_ids)
                    else:
                        outbox.update({"delivered_at": at.isoformat()}, doc_ids=doc_ids)
                if file.shard in self._oldest_delivered:
                    assert file.shard is not None
                    oldest = self._oldest_delivered[file.shard]
                    self._oldest_delivered[file.shard] = at if oldest is None else min(oldest, at)
            for event_id in event_ids:
                self._pending.pop(event_id, None)
                self._pending_docs.pop(event_id, None)

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
                self._pending_docs.pop(key, None)
                continue
            if check:
                try:
                    DomainEvent.model_validate(doc)
                    continue
                except (ValueError, TypeError):
                    pass
            log.warning("an alert was set aside as a dead letter (%s in %s)", reason, file.label)
            if self._record_ids(self._records).get(DEAD_LETTERS, {}).get(key) is None:
                letter = DeadLetter(id=key, reason=reason, at=datetime.now(UTC), where=file.label)
                record = {**letter.model_dump(mode="json"), "document": dict(doc)}
                self._put_in(self._records, DEAD_LETTERS, key, record)
            with self._writing(file):
                file.table("outbox").remove(doc_ids=[doc_id])
            self._pending.pop(key, None)
            self._pending_docs.pop(key, None)

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
                    found = self._get_in(self._records, DEAD_LETTERS, key)
                    if found is not None and not found.get("reported"):
                        self._put_in(self._records, DEAD_LETTERS, key, {**found, "reported": True})

        await self._run(mark, content=False)

    # ------------------------------------------------------------------ records

    def _get_in(self, file: _File, kind: str, key: str) -> dict[str, Any] | None:
        found = self._record_ids(file).get(kind, {}).get(key)
        doc = file.table(kind).get(doc_id=found) if found else None
        return self.sealer.record_in(kind, key, dict(doc["value"])) if doc else None

    def _all_in(self, file: _File, kind: str) -> dict[str, dict[str, Any]]:
        record_in = self.sealer.record_in
        return {d["key"]: record_in(kind, d["key"], dict(d["value"])) for _, d in file.docs(kind)}

    def _put_in(self, file: _File, kind: str, key: str, value: dict[str, Any] | None) -> None:
        table = file.table(kind)
        ids = self._record_ids(file).setdefault(kind, {})
        found = ids.get(key)
        if value is not None and found is not None:
            stored = table.get(doc_id=found)
            if stored is not None and self._same_record(kind, key, stored.get("value"), value):
                return  # unchanged: no write
        if value is None and found is None:
            return
        with self._writing(file):
            if found is not None and value is None:
                table.remove(doc_ids=[found])
                del ids[key]
            else:
                assert value is not None
                doc = {"key": key, "value": self.sealer.record_out(kind, key, value)}
                if found is None:
                    ids[key] = table.insert(doc)
                else:
                    _replace(table, found, doc)
        if value is None and not file.storage.batching:
            # Forgotten (an erasure): nor may its previous copy keep it. (Inside
            # a larger write, whoever makes that write does this after it.)
            self._settle_previous(file)
        if kind == RecordKind.DELIVERIES and file.shard in self._oldest_finished:
            assert file.shard is not None
            finished, oldest = _finished_at(value), self._oldest_finished[file.shard]
            if finished is not None and (oldest is None or finished < oldest):
                self._oldest_finished[file.shard] = finished

    def _same_record(self, kind: str, key: str, stored: Any, value: dict[str, Any]) -> bool:
        """Whether the stored value of a record is `value`, as the sealer would
        store it now (one kept in clear that is now to be sealed is not)."""
        if not isinstance(stored, dict):
            return False
        if SEALED not in stored and self.sealer.seals and kind in SEALED_RECORDS:
            return False
        return self.sealer.record_in(kind, key, dict(stored)) == value

    def _holding(self, kind: str, key: str, *files: _File) -> _File | None:
        return next((f for f in files if key in self._record_ids(f).get(kind, {})), None)

    def _home(self, kind: str, key: str) -> tuple[tuple[int, int] | None, bool]:
        """Where a record kept with its case goes: (the key of its case's
        deliveries file, or None for `no-report.json`; whether it is known).
        A delivery goes with the case of its event (its key starts with the
        event id, and the outbox knows the event while it is undelivered); a
        channel message with the case it names. Anything else, and the
        alerts raised before a report existed, go in `no-report.json`."""
        if kind == RecordKind.DELIVERIES:
            event_id = key.partition(":")[0]
            entry = self._pending.get(event_id)
            if entry is None:
                return None, False  # no longer undelivered: where it was put
            if entry[2].shard is None:
                return None, True  # raised before a report: in the person's file
            doc = self._pending_docs.get(event_id) or {}
            found = self._delivery_key(doc.get("reference"))
            if found is None:
                found = (entry[2].shard[0], entry[2].shard[1] * SHARD_SIZE // DELIVERY_CASES)
            return found, True
        parsed = parse_reference(key)
        if parsed is not None and self._has_doc(*parsed):
            return self._delivery_key(key), True
        return None, True

    def _locate(self, kind: str, key: str) -> tuple[_File | None, _File]:
        """For a record kept with its case: the file holding it now (None if
        none does) and the file a new one goes to (`_home`)."""
        none = self._no_report
        home, known = self._home(kind, key)
        if home is not None:
            found = self._deliveries(home)
            return self._holding(kind, key, found, none), found
        if known:
            return self._holding(kind, key, none), none
        # An event no longer undelivered: its records are where they were put.
        return self._holding(kind, key, none) or self._search(kind, key), none

    def _located_here(self, kind: str, key: str) -> bool:
        """Whether `_locate` needs nothing from the disk."""
        if self._dir is None or kind not in CASE_KINDS:
            return True
        home, known = self._home(kind, key)
        if not known:
            return self._holding(kind, key, self._no_report) is not None
        found = self._delivery_files.get(home) if home else None
        return home is None or (found is not None and found.loaded)

    def _search(self, kind: str, key: str) -> _File | None:
        """The deliveries file holding a record of an event no longer in the
        outbox, newest first (nothing Harbour does asks for one: it is slow)."""
        for shard in sorted(self._delivery_keys, reverse=True):
            if key in self._record_ids(self._scanned(shard)).get(kind, {}):
                return self._deliveries(shard)
        return None

    def _scanned(self, shard: tuple[int, int]) -> _File:
        """A deliveries file to read once: the one in use if it is in memory,
        else a copy read and thrown away (so a scan does not push the files in
        use out of memory)."""
        found = self._delivery_files.get(shard)
        if found is not None and (found.loaded or self._dir is None):
            return found
        return self._delivery_file(shard, kept=False)

    async def put_record(self, kind: RecordKind, key: str, value: dict[str, Any] | None) -> None:
        def put() -> None:
            if kind not in CASE_KINDS:
                self._put_in(self._records, kind, key, value)
                return
            holder, home = self._locate(kind, key)
            file = holder or home
            self._put_in(file, kind, key, value)
            if file.shard is not None:
                self._delivery_keys.add(file.shard)

        await self._run(put, content=_needs_content(kind))

    async def get_record(self, kind: RecordKind, key: str) -> dict[str, Any] | None:
        def get() -> dict[str, Any] | None:
            if kind not in CASE_KINDS:
                return self._get_in(self._records, kind, key)
            holder, _ = self._locate(kind, key)
            return self._get_in(holder, kind, key) if holder else None

        return await self._read(
            get, lambda: self._located_here(kind, key), content=_needs_content(kind)
        )

    async def records(self, kind: RecordKind) -> dict[str, dict[str, Any]]:
        """Every record of a kind. Those kept with their cases are read from
        every deliveries file, a few files per turn on the store's thread so
        that others' writes go on in between (slow, and rare)."""
        if kind not in CASE_KINDS:
            return await self._read(
                lambda: self._all_in(self._records, kind), content=_needs_content(kind)
            )
        if self._awaiting_key:
            await self._run(lambda: None)  # which deliveries files there are: opened first
        found: dict[str, dict[str, Any]] = {}
        shards = sorted(self._delivery_keys)
        for start in range(0, len(shards), 8):
            turn = shards[start : start + 8]

            def read(turn: list[tuple[int, int]] = turn) -> list[dict[str, dict[str, Any]]]:
                return [self._all_in(self._scanned(shard), kind) for shard in turn]

            def ready(turn: list[tuple[int, int]] = turn) -> bool:
                return self._dir is None or all(
                    (live := self._delivery_files.get(shard)) is not None and live.loaded
                    for shard in turn
                )

            for part in await self._read(read, ready):
                for key, value in part.items():
                    found.setdefault(key, value)
        for key, value in (await self._read(lambda: self._all_in(self._no_report, kind))).items():
            found.setdefault(key, value)
        return found

    # ------------------------------------------------------------------ the inbox

    async def accept(self, event: InboundEvent) -> None:
        """Keep an inbound event durably (in its person's own conversation file,
        one small write) before the platform is told it arrived. It stays until
        a handling of it is committed: save_session / save_report / file_report
        called with that `event_id` for that person removes it in the same
        write; `drop_accepted` removes it too."""
        name = self._name(event.person.key)
        at = datetime.now(UTC).isoformat()
        dumped = _EVENTS.dump_python(event, mode="json")

        def keep() -> None:
            file = self._person_by_name(name)
            if event.event_id in self._seen_of(file) or event.event_id in self._inbox_of(file):
                return  # handled already, or accepted already (the platform sent it again)
            sealed = self.sealer.event_out(_conversation(file), dumped)
            doc = {"id": event.event_id, "at": at, "event": sealed}
            with self._writing(file):
                self._inbox_of(file)[event.event_id] = file.table("inbox").insert(doc)
            self._wrote_person(file)

        await self._run(keep)

    async def drop_accepted(self, person: PersonRef, event_id: str) -> None:
        """Forget an accepted event without handling it (its handling failed and the person was told)."""
        name = self._name(person.key)

        def drop() -> None:
            file = self._person_by_name(name)
            doc_id = self._inbox_of(file).get(event_id)
            if doc_id is None:
                return
            with self._writing(file):
                file.table("inbox").remove(doc_ids=[doc_id])
                del self._inbox_of(file)[event_id]
            self._wrote_person(file)

        await self._run(drop)

    async def unhandled(self, older_than: datetime) -> list[InboundEvent]:
        """Accepted events still kept (`Store.unhandled`), accepted before
        `older_than`, oldest first, across all persons. One this Harbour cannot
        read is dropped (logged)."""
        if self._closed:
            raise StoreError("the store is closed")
        if not self._inbox_people and not self._awaiting_key:
            return []

        def collect() -> list[tuple[datetime, InboundEvent]]:
            found = []
            for name in sorted(self._inbox_people):
                file = self._person_by_name(name)
                done = []
                for doc in file.table("inbox").all():
                    try:
                        at = datetime.fromisoformat(doc["at"])
                        if at.tzinfo is None:
                            raise ValueError("no time zone")
                        opened = self.sealer.event_in(_conversation(file), doc["event"])
                        event = _EVENTS.validate_python(opened)
                    except (KeyError, TypeError, ValueError, AttributeError, StoreError) as exc:
                        log.warning(
                            "an accepted event in %s cannot be read (%s): dropped",
                            file.label,
                            type(exc).__name__,
                        )
                        done.append(doc.doc_id)
                        continue
                    if at < older_than:
                        found.append((at, event))
                if done:
                    with self._writing(file):
                        file.table("inbox").remove(doc_ids=done)
                        file.derived.pop("inbox", None)
                self._inboxed(file)
            return found

        return [event for _, event in sorted(await self._run(collect), key=lambda p: p[0])]

    # ------------------------------------------------------------------ audit

    def _audit_file(self, reference: str | None) -> _File:
        """The file a chain lives in: its case's deliveries file (erased with
        the case), or the store-wide audit file (None)."""
        if reference is None:
            return self._audit
        key = self._delivery_key(reference)
        if key is None:
            raise StoreError("an audit entry names a case by something that is not a reference")
        return self._deliveries(key)

    def _chains_in(self, file: _File) -> dict[str | None, list[int]]:
        """The audit chains in a file, by case (None: the store-wide one): the
        document ids of their entries, in order."""
        found: dict[str | None, list[int]] | None = file.derived.get("audit")
        if found is None:
            chains: dict[str | None, list[tuple[int, int]]] = {}
            for doc_id, doc in file.docs(AUDIT):
                n = doc.get("n")
                order = (n, doc_id) if isinstance(n, int) else (doc_id, doc_id)
                chains.setdefault(_case(doc.get("reference")), []).append(order)
            found = file.derived["audit"] = {
                case: [doc_id for _, doc_id in sorted(orders)] for case, orders in chains.items()
            }
        return found

    def _chain_ready(self, reference: str | None) -> bool:
        """Whether a chain can be read without the disk."""
        if self._dir is None:
            return True
        if reference is None:
            return self._audit.loaded
        key = self._delivery_key(reference)
        found = self._delivery_files.get(key) if key else None
        return key not in self._delivery_keys or (found is not None and found.loaded)

    async def append_audit(self, entry: AuditEntry) -> AuditEntry:
        """Linked to the last entry of its chain and written in one write to the
        chain's file; the store's one thread makes two appends take turns."""

        def append() -> AuditEntry:
            if entry.reference is not None:
                number = parse_reference(entry.reference)
                if number is None or not self._has_doc(*number):
                    raise GoneCase(f"{entry.reference} is not stored")
            file = self._audit_file(entry.reference)
            case = _case(entry.reference)
            chain = self._chains_in(file).get(case, [])
            table = file.table(AUDIT)
            last = AuditEntry.model_validate(table.get(doc_id=chain[-1])) if chain else None
            placed = link(entry, last)
            with self._writing(file):
                doc_id = table.insert(placed.model_dump(mode="json"))
            self._chains_in(file).setdefault(case, []).append(doc_id)
            if file.shard is not None:
                self._delivery_keys.add(file.shard)
            return placed

        return await self._run(append)

    async def audit_chain(self, reference: str | None) -> list[AuditEntry]:
        if reference is not None and self._delivery_key(reference) is None:
            return []

        def chain() -> list[AuditEntry]:
            if reference is not None and self._delivery_key(reference) not in self._delivery_keys:
                return []
            file = self._audit_file(reference)
            table = file.table(AUDIT)
            return [
                AuditEntry.model_validate(table.get(doc_id=doc_id))
                for doc_id in self._chains_in(file).get(_case(reference), [])
            ]

        return await self._read(chain, lambda: self._chain_ready(reference))

    async def audit_chains(self) -> list[str | None]:
        """The store-wide chain, then every case with an audit: each deliveries
        file is read (a few per turn, not kept), as verifying every chain reads
        them all anyway."""
        found: list[str | None] = []
        if await self._read(
            lambda: bool(self._chains_in(self._audit).get(None)),
            lambda: self._chain_ready(None),
        ):
            found.append(None)
        keys = await self._run(lambda: sorted(self._delivery_keys))
        cases: list[str] = []
        for start in range(0, len(keys), RESEAL_TURN):
            turn = keys[start : start + RESEAL_TURN]

            def read(turn: list[tuple[int, int]] = turn) -> list[str]:
                return [
                    case
                    for key in turn
                    for case, chain in self._chains_in(self._scanned(key)).items()
                    if case is not None and chain
                ]

            cases.extend(await self._run(read))
        return [*found, *sorted(cases, key=lambda r: parse_reference(r) or (0, 0))]

    async def trim_audit(self, before: datetime) -> int:
        """Drop the store-wide chain's entries from its start up to the first
        made at or after `before` (one out of time order stops the trim there:
        the rest must still link), and the previous copy that held them."""

        def trim() -> int:
            file = self._audit
            chain = self._chains_in(file).get(None, [])
            table = file.table(AUDIT)
            dropped = []
            for doc_id in chain:
                doc = table.get(doc_id=doc_id)
                at = _when(doc.get("at")) if doc else None
                if at is None or at >= before:
                    break
                dropped.append(doc_id)
            if not dropped:
                return 0
            with self._writing(file):
                table.remove(doc_ids=dropped)
            del chain[: len(dropped)]
            self._settle_previous(file)
            return len(dropped)

        return await self._run(trim)

    # ------------------------------------------------------------------ retention, erasure

    def _settle_previous(self, file: _File) -> None:
        """Make `file`'s previous copy the version just written, so the one
        before it (holding what was just erased, or sealed with a retired key)
        is gone from the data directory too."""
        place = file.place
        if place is None or place.previous is None:
            return
        keep_previous(place.path, place.previous)
        sync_directory(place.previous.parent)

    def _drop_shard_cache(self, shard: _File) -> None:
        """Remove a shard's index file now (it holds its open cases whole): it
        is written again from the shard at a later write of the index."""
        if self._dir is None:
            return
        (self._dir / INDEX / _index_name(shard.label)).unlink(missing_ok=True)
        self._entries.pop(shard.label, None)
        self._unindexed.add(shard.label)
        self._clear_indexed.discard(shard.label)

    async def references(self, *, closed_before: datetime | None = None) -> list[str]:
        def listed() -> list[str]:
            if closed_before is not None:
                closed = [r for r, at in self._closed_at.items() if at < closed_before]
                return sorted(closed, key=lambda r: parse_reference(r) or (0, 0))
            found = []
            for (year, part), bits in sorted(self._present.items()):
                base = part * SHARD_SIZE
                while bits:
                    lowest = bits & -bits
                    found.append(format_reference(year, base + lowest.bit_length() - 1))
                    bits ^= lowest
            return found

        return await self._read(listed)

    async def erase_report(self, reference: str) -> bool:
        """Erase a report and what is kept with it, each file in one write and
        its previous copy replaced by the new version. The report goes last:
        a crash part-way leaves it stored, and erasing it again finishes."""
        parsed = parse_reference(reference)
        if parsed is None:
            return False
        year, seq = parsed

        def erase() -> bool:
            if not self._has_doc(year, seq):
                return False
            self._erase(year, seq)
            return True

        return await self._run(erase)

    def _erase(self, year: int, seq: int) -> None:
        place = format_reference(year, seq)
        shard = self._shard(year, seq)

        def ours(reference: Any) -> bool:
            return isinstance(reference, str) and parse_reference(reference) == (year, seq)

        mine = [(doc_id, doc) for doc_id, doc in shard.docs("outbox") if ours(doc.get("reference"))]
        outbox = [doc_id for doc_id, _ in mine]
        events = {doc["id"] for _, doc in mine if isinstance(doc.get("id"), str)}
        stored = shard.table("outbox")
        queued = [  # its events queued with a person's step, in her file
            (key, entry)
            for key, entry in self._pending.items()
            if entry[2] is not shard and ours(self._pending_docs.get(key, {}).get("reference"))
        ]
        events.update(key for key, _ in queued)
        # Its events set aside as dead letters (they hold the event whole).
        letters = {
            str(doc.get("key")): value.get("id")
            for _, doc in self._records.docs(DEAD_LETTERS)
            if isinstance(value := doc.get("value"), dict)
            and (
                value.get("id") in events
                or (isinstance(kept := value.get("document"), dict) and ours(kept.get("reference")))
            )
        }
        events.update(i for i in letters.values() if isinstance(i, str))
        # What is kept with the case: delivery records, its card, its audit.
        home = self._delivery_key(place)
        for file in [self._deliveries(home)] if home in self._delivery_keys else []:
            self._erase_case_records(file, place, events)
        self._erase_case_records(self._no_report, place, events)
        if letters:
            with self._writing(self._records):
                for key in letters:
                    self._put_in(self._records, DEAD_LETTERS, key, None)
            self._settle_previous(self._records)
        by_file: dict[int, tuple[_File, list[int]]] = {}
        for _, (_, _, file, doc_id) in queued:
            by_file.setdefault(id(file), (file, []))[1].append(doc_id)
        for file, doc_ids in by_file.values():
            with self._writing(file):
                file.table("outbox").remove(doc_ids=doc_ids)
            self._settle_previous(file)
        for key, _ in queued:
            self._pending.pop(key, None)
            self._pending_docs.pop(key, None)
        self._drop_evidence(place)
        # The report and its outbox events, last.
        with self._writing(shard):
            shard.table("reports").remove(doc_ids=[seq])
            if outbox:
                stored.remove(doc_ids=outbox)
        self._settle_previous(shard)
        self._drop_shard_cache(shard)
        gone = set(outbox)
        for key in [k for k, e in self._pending.items() if e[2] is shard and e[3] in gone]:
            del self._pending[key]
            self._pending_docs.pop(key, None)
        self._unindex(place, year, seq)

    def _erase_case_records(self, file: _File, place: str, events: set[str]) -> None:
        """Remove from `file` a case's delivery records (by its events' ids),
        its card in the leads' channel and its audit chain."""
        ids = self._record_ids(file)
        gone = {
            RecordKind.DELIVERIES: [
                key for key in ids.get(RecordKind.DELIVERIES, {}) if key.partition(":")[0] in events
            ],
            RecordKind.CHANNEL_MESSAGES: [
                key
                for key in ids.get(RecordKind.CHANNEL_MESSAGES, {})
                if parse_reference(key) == parse_reference(place)
            ],
        }
        chain = self._chains_in(file).get(place, [])
        if not chain and not any(gone.values()):
            return
        with self._writing(file):
            for kind, keys in gone.items():
                if keys:
                    file.table(kind).remove(doc_ids=[ids[kind][key] for key in keys])
            if chain:
                file.table(AUDIT).remove(doc_ids=list(chain))
        for kind, keys in gone.items():
            for key in keys:
                del ids[kind][key]
        self._chains_in(file).pop(place, None)
        self._settle_previous(file)

    def _unindex(self, place: str, year: int, seq: int) -> None:
        """Forget an erased report in every index. Its number is never handed
        out again (the counter holds it; `_floor` too, for this process)."""
        key = (year, seq // SHARD_SIZE)
        self._present[key] = self._present.get(key, 0) & ~(1 << (seq - key[1] * SHARD_SIZE))
        self._floor[year] = max(self._floor.get(year, 0), seq)
        for refs in self._by_person.values():
            if place in refs:
                refs.remove(place)
        self._from_draft = {d: r for d, r in self._from_draft.items() if r != place}
        if self._open.pop(place, None) is not None:
            self._open_order = None
        self._due.pop(place, None)
        self._closed_at.pop(place, None)

    async def idle_sessions(self, before: datetime) -> list[PersonRef]:
        """From what the store keeps of each saved conversation (its time and
        owner, in clear): no file is read."""

        def idle() -> list[PersonRef]:
            found = sorted(
                (saved for saved in self._sessions.values() if saved[0] < before),
                key=lambda saved: saved[0],
            )
            return [PersonRef.model_validate(owner) for _, owner in found]

        if self._sessions_unknown:  # once after an upgrade: those files are read
            unknown = await self._run(lambda: sorted(self._sessions_unknown))
            await self._in_turns(unknown, self._learn_session)
        return await self._read(idle)

    def _learn_session(self, name: str) -> int:
        """Read a person's file the index vouched for without its conversation's
        time, and have its entry written again with it."""
        if name not in self._sessions_unknown:
            return 0
        file = self._person_by_name(name)
        self._note_session(file)
        if file.place is not None:
            self._unindexed.add(file.label)
            self._entries.pop(file.label, None)
        return 1

    async def forget_person(self, person: PersonRef) -> None:
        """Her file goes whole, with its previous copy, and the index forgets it
        now. Alerts raised before a report and not yet delivered (danger: ids
        and times only) stay in it until delivered: then it holds nothing else."""
        name = self._name(person.key)

        def forget() -> None:
            file = self._person_by_name(name)
            label = file.label
            waiting = any(d.get("delivered_at") is None for _, d in file.docs("outbox"))
            if waiting:
                with self._writing(file):
                    for table in ("session", "seen", "inbox"):
                        file.db.drop_table(table)
                file.derived.clear()
                self._settle_previous(file)
                self._inboxed(file)
            else:
                if file.place is not None:
                    file.place.path.unlink(missing_ok=True)
                    sync_directory(file.place.path.parent)
                    if file.place.previous is not None:
                        file.place.previous.unlink(missing_ok=True)
                        sync_directory(file.place.previous.parent)
                file.unload()
                self._live_people.pop(name, None)
                self._people_files.pop(label, None)
                self._person_names.discard(name)
                self._inbox_people.discard(name)
                self._sessions.pop(name, None)
                self._sessions_unknown.discard(name)
                self._fresh.discard(label)
                self._unindexed.add(label)
                self._entries[label] = None  # its entry leaves the index
            self._lost_conversations.discard(label)
            self._write_index()

        await self._run(forget)

    async def prune_delivered(self, before: datetime, *, dry_run: bool = False) -> int:
        """Reads only the shards and deliveries files that may hold something
        to go (the index keeps, for each, when its oldest delivery was), a few
        per turn on the store's thread."""

        def candidates() -> tuple[list[tuple[int, int]], list[tuple[int, int]]]:
            def due(
                oldest: Mapping[tuple[int, int], datetime | None], key: tuple[int, int]
            ) -> bool:
                if key not in oldest:
                    return True  # not known: read to find out
                at = oldest[key]
                return at is not None and at < before

            shards = [k for k in sorted(self._shards) if due(self._oldest_delivered, k)]
            files = [k for k in sorted(self._delivery_keys) if due(self._oldest_finished, k)]
            return shards, files

        shards, files = await self._run(candidates)
        count = await self._in_turns(
            shards, lambda k: self._prune_outbox(self._shard_at(k), before, dry_run)
        )
        count += await self._in_turns(
            files, lambda k: self._prune_records(self._deliveries(k), before, dry_run)
        )
        return count + await self._run(
            lambda: self._prune_records(self._no_report, before, dry_run)
        )

    async def _in_turns(self, items: Sequence[U], each: Callable[[U], int]) -> int:
        """`each` of `items` on the store's thread, `RESEAL_TURN` per turn so
        that others' calls go on in between; the sum of what they return."""
        total = 0
        for start in range(0, len(items), RESEAL_TURN):
            turn = items[start : start + RESEAL_TURN]

            def step(turn: Sequence[U] = turn) -> int:
                return sum(each(item) for item in turn)

            total += await self._run(step)
        return total

    def _prune_outbox(self, shard: _File, before: datetime, dry_run: bool) -> int:
        assert shard.shard is not None
        gone = [
            doc_id
            for doc_id, doc in shard.docs("outbox")
            if (at := _when(doc.get("delivered_at"))) is not None and at < before
        ]
        if dry_run:
            return len(gone)
        if gone:
            with self._writing(shard):
                shard.table("outbox").remove(doc_ids=gone)
        self._oldest_delivered[shard.shard] = _oldest_delivery(shard)
        return len(gone)

    def _prune_records(self, file: _File, before: datetime, dry_run: bool) -> int:
        kind = RecordKind.DELIVERIES
        gone = [
            (str(doc.get("key")), doc_id)
            for doc_id, doc in file.docs(kind)
            if (at := _finished_at(doc.get("value"))) is not None and at < before
        ]
        if dry_run:
            return len(gone)
        if gone:
            with self._writing(file):
                file.table(kind).remove(doc_ids=[doc_id for _, doc_id in gone])
            ids = self._record_ids(file).get(kind, {})
            for key, _ in gone:
                ids.pop(key, None)
        if file.shard is not None:
            self._oldest_finished[file.shard] = _oldest_finish(file)
        return len(gone)

    async def reseal(self) -> int:
        """Every sealed document opened and sealed again with the current key,
        file by file (a few per turn on the store's thread): `records.json`
        (the key check too), every shard, every person's file; each file's
        previous copy becomes its new version, the shards' index files go (they
        hold open cases sealed; written again from the shards), and a previous
        copy of a file no longer there is removed. A document that does not
        open stops it (`StoreError`, naming the document): nothing is lost,
        and the old key is still needed. Files set aside as damaged are left."""
        if not self.sealer.seals:
            return 0
        count = await self._run(self._reseal_records)
        shards = await self._run(lambda: sorted(self._shards))
        count += await self._in_turns(shards, lambda k: self._reseal_shard(self._shard_at(k)))
        people = await self._run(lambda: sorted(self._person_names | self._live_people.keys()))
        count += await self._in_turns(
            people, lambda name: self._reseal_person(self._person_by_name(name))
        )
        cases = await self._run(self._evidence_cases)
        for place, sha256 in [(p, h) for p in cases for h in await self.evidence_files(p)]:
            # One file a turn: a file may be 20 MB.
            count += await self._run(functools.partial(self._reseal_evidence, place, sha256))
        await self._run(self._reseal_leftovers)
        return count

    def _reseal_records(self) -> int:
        file, sealer, ring = self._records, self.sealer, self.sealer.ring
        assert ring is not None
        count = 0
        with self._writing(file):
            for kind in SEALED_RECORDS:
                table = file.table(kind)
                for doc_id, doc in list(file.docs(kind)):
                    value, key = doc.get("value"), str(doc.get("key", ""))
                    if isinstance(value, dict):
                        opened = sealer.record_in(kind, key, dict(value))
                        _replace(
                            table, doc_id, {**doc, "value": sealer.record_out(kind, key, opened)}
                        )
                        count += 1
            table = file.table(RecordKind.KEY_CHECK)
            for doc_id, doc in list(file.docs(RecordKind.KEY_CHECK)):
                value = doc.get("value")
                token = value.get("value") if isinstance(value, dict) else None
                if isinstance(value, dict) and isinstance(token, str) and ring.opens_check(token):
                    _replace(
                        table, doc_id, {**doc, "value": {**value, "value": ring.check_value()}}
                    )
                    count += 1
        self._settle_previous(file)
        return count

    def _reseal_shard(self, shard: _File) -> int:
        assert shard.shard is not None
        sealer, table = self.sealer, shard.table("reports")
        docs = [(doc_id, dict(doc)) for doc_id, doc in shard.docs("reports")]
        with self._writing(shard):
            for doc_id, doc in docs:
                _replace(table, doc_id, sealer.report_out(sealer.report_in(doc)))
        self._settle_previous(shard)
        for doc_id, _ in docs:  # open cases kept sealed as the index had them
            place = format_reference(shard.shard[0], doc_id)
            if SEALED in self._open.get(place, {}):
                self._open[place] = dict(table.get(doc_id=doc_id) or {})
        self._drop_shard_cache(shard)
        return len(docs)

    def _reseal_person(self, file: _File) -> int:
        sealer, where, count = self.sealer, _conversation(file), 0
        with self._writing(file):
            for doc_id, doc in list(file.docs("session")):
                opened = sealer.session_in(where, dict(doc))
                _replace(file.table("session"), doc_id, sealer.session_out(where, opened))
                count += 1
            for doc_id, doc in list(file.docs("inbox")):
                event = doc.get("event")
                if isinstance(event, dict):
                    opened = sealer.event_in(where, dict(event))
                    sealed = {**doc, "event": sealer.event_out(where, opened)}
                    _replace(file.table("inbox"), doc_id, sealed)
                    count += 1
        self._settle_previous(file)
        return count

    def _reseal_leftovers(self) -> None:
        """Previous copies of files no longer there (nothing reads them), and
        the index, written now."""
        if self._dir is None:
            return
        kept = self._dir / PREVIOUS
        for copy in kept.rglob("*.prev"):
            original = self._dir / copy.relative_to(kept).with_suffix("")
            if not original.exists():
                copy.unlink(missing_ok=True)
        self._reseal_index()
        self._write_index()

    # ------------------------------------------------------------------ evidence files
    # Hashing and sealing run off the event loop and off the store's thread
    # (hashlib and AES-GCM let go of the GIL); the store's thread only reads and
    # writes the files, so one large file does not hold everyone else's step.

    async def put_evidence_file(self, reference: str, sha256: str, content: bytes) -> None:
        parsed = parse_reference(reference)
        if parsed is None:
            raise GoneCase("evidence was given for a case reference Harbour does not recognise")
        place = format_reference(*parsed)
        sealer = self.sealer
        kept = await asyncio.to_thread(_evidence_form, sealer, place, sha256, content)

        def keep() -> None:
            if not self._has_doc(*parsed):
                raise GoneCase(f"{place} is not stored: its evidence file was not kept")
            if sha256 in self._evidence_names(place):
                return  # the same bytes: kept once
            self._write_evidence(
                place,
                sha256,
                kept
                if self.sealer is sealer
                else _evidence_form(self.sealer, place, sha256, content),
            )

        await self._run(keep)

    async def get_evidence_file(self, reference: str, sha256: str) -> bytes | None:
        parsed = parse_reference(reference)
        if parsed is None or not EVIDENCE_NAME.fullmatch(sha256):
            return None
        place = format_reference(*parsed)
        # The sealer is taken with the bytes: a rotation finishing meanwhile
        # retires the old key from the store's sealer, not from this one.
        sealer, kept = await self._run(lambda: (self.sealer, self._read_evidence(place, sha256)))
        if kept is None:
            return None
        return await asyncio.to_thread(_evidence_content, sealer, place, sha256, kept)

    async def evidence_files(self, reference: str) -> list[str]:
        parsed = parse_reference(reference)
        if parsed is None:
            return []
        return await self._run(lambda: self._evidence_names(format_reference(*parsed)))

    def _evidence_dir(self, place: str) -> Path:
        assert self._dir is not None
        year, seq = parse_reference(place) or (0, 0)
        return self._dir / EVIDENCE / f"{year}-{seq:04d}"

    def _evidence_names(self, place: str) -> list[str]:
        if self._dir is None:
            return list(self._evidence_kept.get(place, {}))
        try:
            names = os.listdir(self._evidence_dir(place))
        except FileNotFoundError:
            return []
        return [name for name in names if EVIDENCE_NAME.fullmatch(name)]

    def _read_evidence(self, place: str, sha256: str) -> bytes | None:
        if self._dir is None:
            return self._evidence_kept.get(place, {}).get(sha256)
        try:
            return (self._evidence_dir(place) / sha256).read_bytes()
        except FileNotFoundError:
            return None

    def _write_evidence(self, place: str, sha256: str, kept: bytes) -> None:
        if self._dir is None:
            self._evidence_kept.setdefault(place, {})[sha256] = kept
            return
        folder = self._evidence_dir(place)
        make_private_dir(folder)
        atomic_write_bytes(folder / sha256, kept)

    def _drop_evidence(self, place: str) -> None:
        """Remove a case's evidence files and their folder (`erase_report`)."""
        if self._dir is None:
            self._evidence_kept.pop(place, None)
            return
        folder = self._evidence_dir(place)
        try:
            names = os.listdir(folder)
        except FileNotFoundError:
            return
        for name in names:  # a temporary file left by a failed write too
            (folder / name).unlink(missing_ok=True)
        folder.rmdir()
        sync_directory(folder.parent)

    def _evidence_cases(self) -> list[str]:
        """The reference of every case that keeps evidence files."""
        if self._dir is None:
            return [place for place, files in self._evidence_kept.items() if files]
        try:
            folders = os.listdir(self._dir / EVIDENCE)
        except FileNotFoundError:
            return []
        found = []
        for folder in folders:
            year, _, seq = folder.partition("-")
            if year.isdigit() and seq.isdigit():
                found.append(format_reference(int(year), int(seq)))
        return found

    def _reseal_evidence(self, place: str, sha256: str) -> int:
        """One evidence file sealed again with the current key (`reseal`).
        Its hash is not checked here: a changed file stays refused by `get`."""
        kept = self._read_evidence(place, sha256)
        if kept is None:
            return 0
        content = _evidence_opened(self.sealer, place, sha256, kept)
        self._write_evidence(place, sha256, _evidence_form(self.sealer, place, sha256, content))
        return 1

    # ------------------------------------------------------------------ the rest

    async def conversation_damaged(self, person: PersonRef) -> bool:
        name = self._name(person.key)
        label = f"conversations/{name}"

        def check() -> bool:
            self._person_by_name(name).storage.read()  # damage is found when it is read
            if label in self._lost_conversations:
                self._lost_conversations.discard(label)
                return True
            return False

        return await self._read(check, lambda: self._person_ready(name))

    async def check_writable(self) -> None:
        """A small durable write, queued behind everyone else's like any other,
        so a full disk, a read-only remount or a stuck store thread shows."""
        if self._dir is None:
            return
        probe = self._dir / "writable-probe"
        await self._run(lambda: atomic_write(probe, datetime.now(UTC).isoformat()), content=False)

    async def close(self) -> None:
        self._closed = True
        if self._executor is not None:
            self._executor.submit(self._last_upkeep)  # behind every call still queued
            self._executor.shutdown(wait=True)
            self._executor = None
        self._release()

    def _last_upkeep(self) -> None:
        try:
            self._write_index()
        except Exception as exc:
            log.warning("the index was not written at close (%s)", type(exc).__name__)

    def _release(self) -> None:
        if self._lock is not None and self._lock.is_locked:
            self._lock.release()


class _PeopleFiles(Mapping[str, _File]):
    """Every person's file by name, read when asked for: the one in use, or
    else one read on its own and not kept. Read only."""

    def __init__(self, store: TinyStore) -> None:
        self._store = store

    def __getitem__(self, name: str) -> _File:
        store = self._store
        found = store._live_people.get(name)
        if found is not None:
            return found
        if name not in store._person_names:
            raise KeyError(name)
        return store._person_file(name, kept=False)

    def __iter__(self) -> Iterator[str]:
        return iter(sorted(self._store._person_names | self._store._live_people.keys()))

    def __len__(self) -> int:
        return len(self._store._person_names | self._store._live_people.keys())


class _OpenedFile:
    """A person's file as `bot.store.migrate` reads it: read only, with the
    conversation and the events accepted for the person opened."""

    def __init__(self, file: _File, store: TinyStore) -> None:
        self._file = file
        self._store = store

    @property
    def seen(self) -> dict[str, None]:
        """The event ids the person sent lately, from this reading of her file."""
        return self._store._seen_of(self._file)

    @property
    def label(self) -> str:
        return self._file.label

    @property
    def storage(self) -> AtomicJSONStorage:
        """The file as stored (sealed)."""
        return self._file.storage

    def table(self, name: str) -> _OpenedTable:
        return _OpenedTable(self._file, name, self._store.sealer)


class _OpenedTable:
    """One table of a person's file, its documents opened (copies: read only)."""

    def __init__(self, file: _File, name: str, sealer: Sealer) -> None:
        self._file = file
        self._name = name
        self._sealer = sealer

    def _opened(self, doc: Mapping[str, Any]) -> dict[str, Any]:
        where = _conversation(self._file)
        if self._name == "session":
            return self._sealer.session_in(where, dict(doc))
        if self._name == "inbox" and isinstance(doc.get("event"), dict):
            return {**doc, "event": self._sealer.event_in(where, doc["event"])}
        return dict(doc)

    def get(self, *, doc_id: int) -> dict[str, Any] | None:
        found = self._file.table(self._name).get(doc_id=doc_id)
        return None if found is None else self._opened(found)

    def all(self) -> list[dict[str, Any]]:
        return [self._opened(doc) for _, doc in self._file.docs(self._name)]


class _OpenedPeople(Mapping[str, _OpenedFile]):
    """Every person's file by name (`_PeopleFiles`), its documents opened."""

    def __init__(self, store: TinyStore) -> None:
        self._files = _PeopleFiles(store)
        self._store = store

    def __getitem__(self, name: str) -> _OpenedFile:
        return _OpenedFile(self._files[name], self._store)

    def __iter__(self) -> Iterator[str]:
        return iter(self._files)

    def __len__(self) -> int:
        return len(self._files)


def _evidence_form(sealer: Sealer, place: str, sha256: str, content: bytes) -> bytes:
    """An evidence file as the store keeps it, once its SHA-256 is checked:
    a header line, then the bytes as they are (no key) or sealed."""
    check_evidence(place, sha256, content)
    token = sealer.evidence_out(place, sha256, content)
    return EVIDENCE_CLEAR + content if token is None else EVIDENCE_SEALED + token.encode("ascii")


def _evidence_opened(sealer: Sealer, place: str, sha256: str, kept: bytes) -> bytes:
    """The bytes of a kept evidence file, opened if sealed (not checked)."""
    if kept.startswith(EVIDENCE_CLEAR):
        return kept[len(EVIDENCE_CLEAR) :]
    if kept.startswith(EVIDENCE_SEALED):
        token = kept[len(EVIDENCE_SEALED) :].decode("ascii", "replace")
        return sealer.evidence_in(place, sha256, token)
    raise StoreError(
        f"an evidence file of {place} ({sha256}) is not one Harbour wrote: it was changed "
        "or damaged"
    )


def _evidence_content(sealer: Sealer, place: str, sha256: str, kept: bytes) -> bytes:
    """The bytes of a kept evidence file, opened and checked against its SHA-256."""
    content = _evidence_opened(sealer, place, sha256, kept)
    check_evidence(place, sha256, content)
    return content


class MemoryStore(TinyStore):
    """The same store with nothing on disk: for tests and throwaway trials."""

    def __init__(self) -> None:
        super().__init__(None)
