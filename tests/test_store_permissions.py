"""The embedded store keeps its files private: reports are confidential.

Every file the store creates is 0600 and every directory 0700, whatever the
umask of the process; a data directory left readable by an older Harbour is
tightened when the store opens. The umask is process-wide, so each test sets
it and puts back the one it found.
"""

from __future__ import annotations

import logging
import os
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import bot.store.tiny as tiny
from bot.reports import EventKind, format_reference
from bot.store import RecordKind, StoreError, TinyStore
from bot.store.tiny import atomic_write
from tests.store_helpers import Factory, at, draft, event, person, session

ALICE = person("U-ALICE")
BOB = person("U-BOB")


@pytest.fixture(params=[0o000, 0o022, 0o077, 0o277], ids=lambda m: f"umask{m:03o}")
def umask(request: pytest.FixtureRequest) -> Iterator[int]:
    """Run the test under a umask (0o277 even takes the owner's own bits away)."""
    mask: int = request.param
    old = os.umask(mask)
    try:
        yield mask
    finally:
        os.umask(old)


@pytest.fixture
def lax_umask() -> Iterator[None]:
    old = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(old)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.lstat().st_mode)


def modes(root: Path) -> dict[str, int]:
    """The mode of `root` and of everything under it, by path relative to `root`."""
    found = {".": mode(root)}
    for path in root.rglob("*"):
        found[str(path.relative_to(root))] = mode(path)
    return found


def assert_private(root: Path) -> None:
    wrong = {}
    for name, found in modes(root).items():
        path = root / name
        if path.is_symlink():
            continue
        want = 0o700 if path.is_dir() else 0o600
        if found != want:
            wrong[name] = f"{found:o} (want {want:o})"
    assert wrong == {}


async def fill(store: TinyStore) -> None:
    """Writes that create every kind of file the store keeps."""
    crit = event(ALICE, EventKind.RISK_CRITICAL, source="draft", draft_id="d1")
    # A person's conversation file, with an outbox event in it.
    await store.save_session(ALICE, session(ALICE, draft("d1")), event_id="ev-1", events=[crit])
    # A report shard with the report's events; then the filer's session again.
    filed = await store.file_report(
        year=2026,
        draft_id="d2",
        make=Factory(BOB, "d2", filed_at=at(5)),
        person=BOB,
        session=None,
        event_id="ev-2",
    )
    filed.claimed_by = ALICE.key
    await store.save_report(filed, events=[event(ALICE, reference=filed.reference)])
    # records.json.
    await store.put_record("address", ALICE.key, {"channel": "D1"})
    await store.put_record("directory", "team", {"lead": ALICE.key})
    # Delivery records go with their case, or (before a report) to no-report.json;
    # delivery rewrites both the shard and the person's file.
    pending = await store.pending_events()
    assert pending
    for sent in pending:
        await store.put_record(RecordKind.DELIVERIES, f"{sent.id}:slack:C1", {"status": "sent"})
    await store.mark_delivered([e.id for e in pending], at(10))


async def test_everything_the_store_creates_is_private(umask: int, tmp_path: Path) -> None:
    data = tmp_path / "srv" / "harbour" / "data"  # parents created by the store too
    store = TinyStore(data)
    try:
        await fill(store)
        assert_private(data)  # while the store is open: the lock file is there
    finally:
        await store.close()

    names = set(modes(data))
    assert {"harbour.lock", "records.json", "reports", "conversations", "index"} <= names
    assert "reports/2026-0000.json" in names
    assert {"deliveries/2026-0000.json", "deliveries/no-report.json"} <= names
    assert any(name.startswith("index/") for name in names)  # written at close
    assert sum(name.startswith("conversations/") for name in names) == 2
    assert_private(data)
    assert mode(tmp_path / "srv") == 0o700
    assert mode(tmp_path / "srv" / "harbour") == 0o700

    # Opened again and written again (files replaced, not created), still private.
    reopened = TinyStore(data)
    try:
        await reopened.save_session(ALICE, session(ALICE, draft("d1", revision=2)))
        assert await reopened.get_record("address", ALICE.key) == {"channel": "D1"}
    finally:
        await reopened.close()
    assert_private(data)


@pytest.mark.parametrize("leftover", [False, True], ids=["new", "leftover-tmp"])
def test_temporary_file_is_private_before_it_holds_anything(
    leftover: bool, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The content never sits in a file others can read, not even in the
    temporary file before the rename; a leftover temporary file with a loose
    mode is made private before anything is written to it."""
    old = os.umask(0)
    try:
        target = tmp_path / "records.json"
        tmp = tmp_path / ".records.json.tmp"
        if leftover:
            tmp.write_text("stale")
            tmp.chmod(0o666)
        seen: list[tuple[int, int]] = []  # (mode, size) of each regular file fsynced
        real_fsync = os.fsync

        def spy(fd: int) -> None:
            found = os.fstat(fd)
            if stat.S_ISREG(found.st_mode):
                seen.append((stat.S_IMODE(found.st_mode), found.st_size))
            real_fsync(fd)

        monkeypatch.setattr(os, "fsync", spy)  # the os module tiny uses
        atomic_write(target, '{"secret": true}')
    finally:
        os.umask(old)

    assert seen == [(0o600, len('{"secret": true}'))]  # written, and private all along
    assert target.read_text() == '{"secret": true}'
    assert mode(target) == 0o600
    assert not tmp.exists()


def test_temporary_file_is_created_0600(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Created 0600 by the open itself, not made private afterwards."""
    opened: list[tuple[str, int, int]] = []
    real_open = os.open

    def spy(path: Any, flags: int, mode: int = 0o777, *args: Any, **kwargs: Any) -> int:
        opened.append((os.fspath(path), flags, mode))
        return real_open(path, flags, mode, *args, **kwargs)

    monkeypatch.setattr(os, "open", spy)
    atomic_write(tmp_path / "x.json", "{}")
    created = [(p, m) for p, f, m in opened if f & os.O_CREAT]
    assert created == [(str(tmp_path / ".x.json.tmp"), 0o600)]


async def test_loose_data_directory_is_tightened_at_open(tmp_path: Path, lax_umask: None) -> None:
    """A data directory as an older Harbour left it: 0755 directories, 0644 files."""
    data = tmp_path / "data"
    store = TinyStore(data)
    try:
        await fill(store)
    finally:
        await store.close()
    (data / "old-backups" / "2025").mkdir(parents=True)  # any subfolder, at any depth
    (data / "old-backups" / "2025" / "records.json").write_text("{}")
    outside = tmp_path / "elsewhere.txt"  # a link out of the directory is not followed
    outside.write_text("not Harbour's")
    (data / "link").symlink_to(outside)
    for path in [data, *data.rglob("*")]:
        if not path.is_symlink():
            path.chmod(0o755 if path.is_dir() else 0o644)
    outside.chmod(0o644)
    assert mode(data) == 0o755
    assert mode(data / "harbour.lock") == 0o644

    reopened = TinyStore(data)
    try:
        assert_private(data)  # the lock file included
        assert mode(outside) == 0o644
        # Everything is still readable by Harbour itself.
        assert await reopened.get_record("address", ALICE.key) == {"channel": "D1"}
        assert await reopened.load_session(ALICE) == session(ALICE, draft("d1"))
        assert await reopened.get_report(format_reference(2026, 1)) is not None
    finally:
        await reopened.close()


def test_only_what_harbour_owns_is_changed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    data = tmp_path / "data"
    (data / "reports").mkdir(parents=True)
    (data / "records.json").write_text("{}")
    data.chmod(0o755)
    (data / "reports").chmod(0o755)
    (data / "records.json").chmod(0o644)
    before = modes(data)
    monkeypatch.setattr(os, "geteuid", lambda: os.getuid() + 1)  # as if another account
    with caplog.at_level(logging.WARNING, logger="bot.store.tiny"):
        tiny.tighten(data)
    assert modes(data) == before
    assert "3 path(s)" in caplog.text
    assert "belong to another account" in caplog.text


def test_a_mode_that_cannot_be_set_stops_the_store(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = tmp_path / "data"
    data.mkdir()
    data.chmod(0o755)

    def refuse(*args: Any, **kwargs: Any) -> None:
        raise PermissionError(1, "Operation not permitted")

    monkeypatch.setattr(os, "chmod", refuse)
    with pytest.raises(StoreError, match=r"could not make .* private"):
        tiny.tighten(data)
