"""Bad input around the key and sealed data: a wrong, missing or damaged key
is refused at start with a message naming where the key was looked for, and
nothing is read or changed; a damaged sealed value stops that one record, not
Harbour; a rotation run twice, or stopped part-way and run again, loses nothing.
Driven as Harbour starts (`bot.cli.open_store`, and `harbour chat` itself)
on an embedded store holding what people wrote."""

from __future__ import annotations

import asyncio
import base64
import io
import json
import logging
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import bot.store.tiny as tiny
from bot.cli import main, open_store
from bot.config import Settings
from bot.privacy import rotate
from bot.privacy.keys import KeyProblem, KeyRing, new_ring, read_key_file, write_key_file
from bot.privacy.rotate import DONE, rotate_key
from bot.privacy.setup import attach_key
from bot.reports import DomainEvent, Report, ReportAnswers
from bot.store import Store, StoreError, TinyStore
from bot.store.base import ReportFactory
from tests.store_helpers import ANSWERS, Factory, draft, person, session

MARKER = "PLATYPUS2203"
REFERENCES = ["HB-2026-0001", "HB-2026-0002", "HB-2026-0003"]


def settings_for(tmp_path: Path, **overrides: object) -> Settings:
    values: dict[str, Any] = {
        "data_dir": tmp_path / "data",
        "key_file": tmp_path / "keys" / "harbour.key",
        "key": "",
        "database_url": "",
        "store": "tinydb",
        **overrides,
    }
    return Settings(_env_file=None, **values)


def marked(n: int) -> ReportFactory:
    """Files person n's report, with the marker in what she wrote."""

    def make(seq: int, reference: str) -> tuple[Report, list[DomainEvent]]:
        made, events = Factory(person(f"U{n}"), f"draft-{n}")(seq, reference)
        made.answers = ReportAnswers.model_validate(
            {**ANSWERS, "description": f"{MARKER} report {n}"}
        )
        return made, events

    return make


async def filled(settings: Settings) -> KeyRing:
    """Three reports, each filed in a write of its own (the shard's previous
    copy is the one before the last filing), and a draft in progress; closed."""
    store = TinyStore(settings.data_dir)
    try:
        ring = await attach_key(
            store, key="", key_file=settings.key_path(), data_dir=settings.data_dir
        )
        for n, reference in enumerate(REFERENCES):
            who = person(f"U{n}")
            filed = await store.file_report(
                year=2026, draft_id=f"draft-{n}", make=marked(n), person=who, session=None
            )
            assert filed.reference == reference
        await store.save_session(person("U0"), session(person("U0"), draft("next")))
    finally:
        await store.close()
    return ring


def snapshot(directory: Path) -> dict[str, tuple[bytes, int, int]]:
    """Every file under `directory`: its bytes, modification time and mode."""
    return {
        str(p.relative_to(directory)): (p.read_bytes(), p.stat().st_mtime_ns, p.stat().st_mode)
        for p in sorted(directory.rglob("*"))
        if p.is_file()
    }


async def descriptions(store: Store, references: list[str]) -> list[str]:
    found = []
    for reference in references:
        report = await store.get_report(reference)
        assert report is not None, reference
        found.append(report.answers.description or "")
    return found


async def start(settings: Settings) -> Store:
    """What Harbour does at start: the store the settings choose, with its key."""
    return await open_store(settings)


# --------------------------------------------------------------------------- wrong or missing key


def test_a_wrong_key_stops_harbour_naming_the_key_file_and_changing_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    settings = settings_for(tmp_path)
    asyncio.run(filled(settings))
    other = tmp_path / "keys" / "other.key"
    write_key_file(other, new_ring(str(other)))
    before = snapshot(settings.data_dir)
    for name, value in {
        "HARBOUR_DATA_DIR": settings.data_dir,
        "HARBOUR_KEY_FILE": other,
        "HARBOUR_KEY": "",
        "HARBOUR_DATABASE_URL": "",
        "HARBOUR_STORE": "tinydb",
    }.items():
        monkeypatch.setenv(name, str(value))
    assert main(["chat", "--user", "alice"]) == 2
    said = capsys.readouterr().err
    assert f"the key in {other} is not the one this data was sealed with" in said
    assert "Nothing was changed" in said and MARKER not in said
    assert snapshot(settings.data_dir) == before


async def test_sealed_data_with_no_key_is_refused_saying_where_the_key_was_expected(
    tmp_path: Path,
) -> None:
    settings = settings_for(tmp_path)
    await filled(settings)
    settings.key_path().unlink()
    before = snapshot(settings.data_dir)
    with pytest.raises(KeyProblem) as refused:
        await start(settings)
    message = str(refused.value)
    assert str(settings.key_path()) in message and "HARBOUR_KEY" in message
    assert "Nothing was changed" in message
    assert not settings.key_path().exists()  # no new key made over sealed data
    assert snapshot(settings.data_dir) == before


def ring_text(**change: object) -> str:
    """A key ring as Harbour writes it, with `change` laid over it."""
    ring = json.loads(new_ring("x").dumps())
    return json.dumps({**ring, **change})


KEY = base64.urlsafe_b64encode(bytes(32)).decode()
SHORT_KEY = base64.urlsafe_b64encode(bytes(16)).decode()
DAMAGED_KEY_FILES: dict[str, tuple[str | bytes, str]] = {
    "not JSON": ("harbour key", "is not a Harbour key ring"),
    "empty": ("", "is not a Harbour key ring"),
    "JSON, not a ring": ("[1, 2]", "is not a Harbour key ring"),
    "not text": (b"\xff\xfe\x00key", "not text"),
    "a key not base64": (ring_text(current="k1", keys={"k1": "not base64!"}), "is not base64"),
    "a key cut short": (
        ring_text(current="k1", keys={"k1": SHORT_KEY}),
        "'k1' is 16 bytes, not 32",
    ),
    "no current key": (ring_text(current="k9", keys={"k1": KEY}), "current key ('k9') is not"),
}


@pytest.mark.parametrize("case", list(DAMAGED_KEY_FILES))
async def test_a_damaged_key_file_is_refused_naming_it(case: str, tmp_path: Path) -> None:
    settings = settings_for(tmp_path)
    await filled(settings)
    content, expected = DAMAGED_KEY_FILES[case]
    key_file = settings.key_path()
    if isinstance(content, bytes):
        key_file.write_bytes(content)
    else:
        key_file.write_text(content)
    before = snapshot(settings.data_dir)
    with pytest.raises(KeyProblem) as refused:
        await start(settings)
    message = str(refused.value)
    assert str(key_file) in message and expected in message, message
    assert "backup" in message
    assert snapshot(settings.data_dir) == before


async def test_a_directory_where_the_key_file_should_be_is_named(tmp_path: Path) -> None:
    settings = settings_for(tmp_path)
    await filled(settings)
    settings.key_path().unlink()
    settings.key_path().mkdir()
    with pytest.raises(KeyProblem, match="is a directory, not a key file"):
        await start(settings)


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads any file")
async def test_a_key_file_harbour_cannot_read_is_named(tmp_path: Path) -> None:
    settings = settings_for(tmp_path)
    await filled(settings)
    settings.key_path().chmod(0o000)
    with pytest.raises(KeyProblem, match="cannot read its key file"):
        await start(settings)


@pytest.mark.parametrize("value", ["harbour key", KEY, ring_text(current="k9")])
async def test_a_bad_harbour_key_is_refused_naming_it(value: str, tmp_path: Path) -> None:
    settings = settings_for(tmp_path)
    await filled(settings)
    before = snapshot(settings.data_dir)
    with pytest.raises(KeyProblem, match=r"^HARBOUR_KEY"):
        await start(settings_for(tmp_path, key=value))
    assert snapshot(settings.data_dir) == before


async def test_a_key_file_others_can_read_is_used_with_a_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    settings = settings_for(tmp_path)
    await filled(settings)
    settings.key_path().chmod(0o644)
    with caplog.at_level(logging.WARNING, logger="bot.privacy.keys"):
        store = await start(settings)
    try:
        assert MARKER in (await descriptions(store, REFERENCES[:1]))[0]
    finally:
        await store.close()
    assert f"{settings.key_path()} can be read by other accounts (mode 644)" in caplog.text


# --------------------------------------------------------------------------- a damaged sealed value


def damage_token(shard: Path, reference: str, *, keep_checksum: bool) -> None:
    """Change one character in the middle of `reference`'s sealed value in
    `shard` (the store closed). With `keep_checksum` the file's stamp is made
    to match again, so only the cipher can tell (as damage made before the
    stamp was written, or by hand)."""
    raw = shard.read_text(encoding="utf-8")
    body = raw[tiny._STAMP_LEN :]
    seq = str(int(reference.rsplit("-", 1)[1]))
    token = json.loads(body)["reports"][seq]["sealed"]
    middle = len(token) // 2
    damaged = token[:middle] + ("A" if token[middle] != "A" else "B") + token[middle + 1 :]
    assert body.count(token) == 1
    if keep_checksum:
        shard.write_text(tiny.stamp(body.replace(token, damaged)), encoding="utf-8")
    else:
        shard.write_text(raw.replace(token, damaged), encoding="utf-8")


@pytest.fixture
def quiet_vouching(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    # Files written a moment ago are vouched for by the index (as after 2 s).
    monkeypatch.setattr(tiny, "VOUCH_AFTER_NS", 0)
    yield


async def test_a_flipped_character_in_a_shard_is_found_and_the_store_still_opens(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, quiet_vouching: None
) -> None:
    """The file's checksum finds it first: the shard is put back from its
    previous copy (the damaged file kept aside, named in a warning), and
    Harbour starts; no report number is handed out again."""
    settings = settings_for(tmp_path)
    await filled(settings)
    damage_token(
        settings.data_dir / "reports" / "2026-0000.json", "HB-2026-0002", keep_checksum=False
    )
    with caplog.at_level(logging.WARNING):
        store = await start(settings)
    try:
        assert "reports/2026-0000.json does not match its checksum" in caplog.text
        assert MARKER not in caplog.text
        assert [p.name for p in (settings.data_dir / tiny.DAMAGED).iterdir()]
        read = await descriptions(store, REFERENCES[:2])
        assert f"{MARKER} report 0" in read[0]
        filed = await store.file_report(
            year=2026,
            draft_id="after",
            make=Factory(person("U9"), "after"),
            person=person("U9"),
            session=None,
        )
        assert filed.reference == "HB-2026-0004"
    finally:
        await store.close()


async def test_a_shard_put_back_from_its_previous_copy_keeps_its_last_write_aside_whole(
    tmp_path: Path, quiet_vouching: None
) -> None:
    """A shard that fails its checksum is put back from its previous copy, so
    its last write (here the filing of HB-2026-0003) is not in the live store;
    it is not thrown away: the damaged file, kept aside, still holds it whole
    and sealed, for an administrator to restore from. Harbour does not merge it
    back by itself: the cipher vouches for the sealed part only, and what stays
    in clear (who manages the case, its status) decides who sees it."""
    settings = settings_for(tmp_path)
    await filled(settings)
    shard = settings.data_dir / "reports" / "2026-0000.json"
    third = json.loads(shard.read_text(encoding="utf-8")[tiny._STAMP_LEN :])["reports"]["3"]
    damage_token(shard, "HB-2026-0002", keep_checksum=False)
    store = await start(settings)
    try:
        assert await store.get_report("HB-2026-0003") is None
        read = await descriptions(store, ["HB-2026-0001", "HB-2026-0002"])
        assert f"{MARKER} report 0" in read[0] and f"{MARKER} report 1" in read[1]
    finally:
        await store.close()
    [aside] = (settings.data_dir / tiny.DAMAGED).iterdir()
    kept = aside.read_text(encoding="utf-8")
    assert third["sealed"] in kept and MARKER not in kept


async def test_a_sealed_value_that_does_not_open_stops_only_its_report(
    tmp_path: Path, quiet_vouching: None
) -> None:
    settings = settings_for(tmp_path)
    await filled(settings)
    damage_token(
        settings.data_dir / "reports" / "2026-0000.json", "HB-2026-0002", keep_checksum=True
    )
    store = await start(settings)
    try:
        with pytest.raises(StoreError) as refused:
            await store.get_report("HB-2026-0002")
        assert "HB-2026-0002" in str(refused.value) and MARKER not in str(refused.value)
        read = await descriptions(store, ["HB-2026-0001", "HB-2026-0003"])
        assert [f"{MARKER} report {n}" in text for n, text in zip((0, 2), read, strict=True)] == [
            True,
            True,
        ]
        assert [r.reference for r in await store.reports_by(person("U0"))] == ["HB-2026-0001"]
        filed = await store.file_report(
            year=2026,
            draft_id="after",
            make=Factory(person("U9"), "after"),
            person=person("U9"),
            session=None,
        )
        assert filed.reference == "HB-2026-0004"
    finally:
        await store.close()


# --------------------------------------------------------------------------- rotation, again


async def read_with(settings: Settings, ring: KeyRing) -> list[str]:
    """Every report and the draft, read with `ring` alone."""
    alone = settings.key_path().with_name("alone.key")
    write_key_file(alone, ring)
    store = TinyStore(settings.data_dir)
    try:
        await attach_key(store, key="", key_file=alone, data_dir=settings.data_dir)
        found = await descriptions(store, REFERENCES)
        saved = await store.load_session(person("U0"))
        assert saved is not None and "report" in saved.drafts
        return found
    finally:
        await store.close()
        alone.unlink()


async def test_a_rotation_run_twice_rotates_twice_and_keeps_each_retired_key(
    tmp_path: Path,
) -> None:
    settings = settings_for(tmp_path)
    first = (await filled(settings)).current
    assert await rotate_key(settings, out=io.StringIO()) == DONE
    second = read_key_file(settings.key_path()).current
    assert await rotate_key(settings, out=io.StringIO()) == DONE
    third = read_key_file(settings.key_path())
    assert len({first, second, third.current}) == 3 and list(third.keys) == [third.current]
    retired = sorted(p.name for p in settings.key_path().parent.glob("*.retired-*"))
    assert retired == sorted(f"harbour.key.retired-{kid}" for kid in (first, second))
    read = await read_with(settings, third)
    assert all(MARKER in text for text in read)


@pytest.mark.parametrize("stop", ["before resealing", "after resealing", "while retiring"])
async def test_a_rotation_stopped_part_way_is_finished_by_running_it_again(
    stop: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = settings_for(tmp_path)
    old = (await filled(settings)).current
    real_reseal = TinyStore.reseal
    real_write = write_key_file

    async def killed_reseal(self: TinyStore) -> int:
        if stop == "after resealing":
            await real_reseal(self)
        raise RuntimeError("the process was killed")

    def killed_retiring(path: Path, ring: KeyRing, *, replace: bool = True) -> bool:
        if path == settings.key_path() and len(ring.keys) == 1:
            raise RuntimeError("the process was killed")
        return real_write(path, ring, replace=replace)

    if stop == "while retiring":  # after the retired key was written beside the key file
        monkeypatch.setattr(rotate, "write_key_file", killed_retiring)
    else:
        monkeypatch.setattr(TinyStore, "reseal", killed_reseal)
    with pytest.raises(RuntimeError, match="killed"):
        await rotate_key(settings, out=io.StringIO())
    both = read_key_file(settings.key_path())
    assert old in both.keys and len(both.keys) == 2  # every key some document may need

    # Harbour starts on it meanwhile, and reads everything.
    store = await start(settings)
    try:
        assert all(MARKER in text for text in await descriptions(store, REFERENCES))
    finally:
        await store.close()

    monkeypatch.undo()
    out = io.StringIO()
    assert await rotate_key(settings, out=out) == DONE
    assert "finishing the rotation" in out.getvalue()
    final = read_key_file(settings.key_path())
    assert list(final.keys) == [both.current]  # the new key of the first run: no third
    [retired] = settings.key_path().parent.glob("*.retired-*")
    assert list(read_key_file(retired).keys) == [old]
    assert all(MARKER in text for text in await read_with(settings, final))
    stored = "".join(
        p.read_text("utf-8", "replace") for p in settings.data_dir.rglob("*") if p.is_file()
    )
    assert f"hb1.{old}." not in stored
