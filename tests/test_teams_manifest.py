"""The Teams app package: a manifest valid against schema v1.29, icons Teams accepts,
and one command that builds the zip with the client id filled in."""

from __future__ import annotations

import json
import struct
import zipfile
import zlib
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from adapters.teams.package import MANIFEST_DIR, PackageError, build_package, render_manifest
from bot.cli import main

SCHEMA = Path(__file__).parent / "data" / "teams-manifest-v1.29.schema.json"
CLIENT_ID = "6f1c2a3b-4d5e-4f60-8a7b-9c0d1e2f3a4b"


URLS = {
    "privacy_url": "https://agency.example.ie/harbour/privacy",
    "terms_url": "https://legal.agency.example.ie/harbour-terms",
    "support_url": "https://help.agency.example.ie/harbour",
}
PACKAGE_ARGS = [
    "--publisher-name",
    "Agency",
    "--privacy-url",
    URLS["privacy_url"],
    "--terms-url",
    URLS["terms_url"],
    "--support-url",
    URLS["support_url"],
]


def manifest() -> dict[str, Any]:
    return render_manifest(CLIENT_ID, publisher_name="Agency", **URLS)


def test_manifest_is_valid_against_the_v1_29_schema() -> None:
    schema = json.loads(SCHEMA.read_text(encoding="utf-8"))
    jsonschema.Draft4Validator(schema).validate(manifest())


def test_bot_scopes_commands_and_flags() -> None:
    m = manifest()
    [bot] = m["bots"]
    assert bot["botId"] == m["id"] == CLIENT_ID
    # No group chat: Harbour has nothing for one (reports are 1:1, alerts go to a
    # team's channel), and the Store refuses a scope that adds no value there.
    assert set(bot["scopes"]) == {"personal", "team"}
    assert bot["isNotificationOnly"] is False
    for command_list in bot["commandLists"]:
        titles = [c["title"] for c in command_list["commands"]]
        assert len(titles) == len(set(titles)) <= 10
        for command in command_list["commands"]:
            assert not command["title"].startswith(("/", "@"))
            assert len(command["description"]) <= 128
    scopes = {s for c in bot["commandLists"] for s in c["scopes"]}
    assert scopes == set(bot["scopes"])  # at least one command per scope
    assert "administrator" in m["description"]["full"]  # admin setup is said up front (T11)
    assert len(m["description"]["short"]) <= 80


def _pixels(path: Path) -> tuple[int, int, list[tuple[int, ...]]]:
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    width, height, depth, colour = struct.unpack(">IIBB", data[16:26])
    assert (depth, colour) == (8, 6)  # 8-bit RGBA
    idat = b""
    pos = 8
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        kind = data[pos + 4 : pos + 8]
        if kind == b"IDAT":
            idat += data[pos + 8 : pos + 8 + length]
        pos += 12 + length
    raw = zlib.decompress(idat)
    stride = width * 4 + 1
    pixels = []
    for y in range(height):
        row = raw[y * stride : (y + 1) * stride]
        assert row[0] == 0  # unfiltered rows, as written
        pixels += [tuple(row[1 + x * 4 : 5 + x * 4]) for x in range(width)]
    return width, height, pixels


def test_icons_have_the_sizes_and_colours_teams_requires() -> None:
    width, height, _ = _pixels(MANIFEST_DIR / "color.png")
    assert (width, height) == (192, 192)
    width, height, pixels = _pixels(MANIFEST_DIR / "outline.png")
    assert (width, height) == (32, 32)
    assert all(p == (255, 255, 255, 255) or p[3] == 0 for p in pixels)  # white on transparent
    assert any(p[3] == 0 for p in pixels) and any(p[3] == 255 for p in pixels)


def test_each_url_is_taken_as_given_never_derived() -> None:
    developer = manifest()["developer"]
    assert developer == {
        "name": "Agency",
        "websiteUrl": URLS["support_url"],  # the schema's "page that provides support"
        "privacyUrl": URLS["privacy_url"],
        "termsOfUseUrl": URLS["terms_url"],
    }


@pytest.mark.parametrize(
    ("field", "value", "says"),
    [
        ("privacy_url", "http://agency.example.ie/privacy", "privacy URL must be a full https://"),
        ("terms_url", "", "terms URL must be a full https://"),
        ("support_url", "https://", "support URL must be a full https://"),
    ],
)
def test_a_missing_or_plain_http_url_is_refused_clearly(
    tmp_path: Path, field: str, value: str, says: str
) -> None:
    with pytest.raises(PackageError, match=says):
        build_package(
            CLIENT_ID, tmp_path / "x.zip", publisher_name="Agency", **{**URLS, field: value}
        )
    assert not (tmp_path / "x.zip").exists()


def test_one_command_builds_the_package(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "harbour.zip"
    assert main(["teams-package", "--client-id", CLIENT_ID, "--out", str(out), *PACKAGE_ARGS]) == 0
    with zipfile.ZipFile(out) as package:
        assert sorted(package.namelist()) == ["color.png", "manifest.json", "outline.png"]
        packed = json.loads(package.read("manifest.json"))
    assert packed["bots"][0]["botId"] == CLIENT_ID
    assert packed["developer"]["privacyUrl"] == URLS["privacy_url"]
    assert "{{" not in json.dumps(packed)
    assert "Upload" in capsys.readouterr().out


def test_bad_client_id_is_refused_clearly(tmp_path: Path) -> None:
    with pytest.raises(PackageError, match="GUID"):
        build_package("not-a-guid", tmp_path / "x.zip", publisher_name="Agency", **URLS)
    args = ["teams-package", "--client-id", "", "--out", str(tmp_path / "y.zip"), *PACKAGE_ARGS]
    assert main(args) == 2


def test_package_without_its_urls_names_what_is_missing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["teams-package", "--client-id", CLIENT_ID, "--out", str(tmp_path / "z.zip")])
    assert exited.value.code == 2
    said = capsys.readouterr().err
    assert all(f"--{u}-url" in said for u in ("privacy", "terms", "support"))
    assert not (tmp_path / "z.zip").exists()
