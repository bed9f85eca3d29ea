"""Build the Teams app package: manifest.json with the bot's client id filled in,
and the two icons, zipped ready to upload (Teams admin centre or "Upload a custom app")."""

from __future__ import annotations

import json
import re
import zipfile
from pathlib import Path

MANIFEST_DIR = Path(__file__).resolve().parents[2] / "manifest" / "teams"
GUID = re.compile(r"^[0-9a-fA-F]{8}-([0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}$")


class PackageError(ValueError):
    pass


def render_manifest(
    client_id: str, *, publisher_name: str, publisher_url: str, source: Path = MANIFEST_DIR
) -> dict[str, object]:
    if not GUID.match(client_id):
        raise PackageError(
            f"The client id must be the bot's Microsoft Entra application (client) id, a GUID "
            f"like 00000000-0000-0000-0000-000000000000; got {client_id!r}."
        )
    if not publisher_url.startswith("https://"):
        raise PackageError("The publisher URL must start with https:// (Teams requires it).")
    text = (source / "manifest.json").read_text(encoding="utf-8")
    for placeholder, value in (
        ("{{CLIENT_ID}}", client_id.lower()),
        ("{{PUBLISHER_NAME}}", publisher_name),
        ("{{PUBLISHER_URL}}", publisher_url.rstrip("/")),
    ):
        text = text.replace(placeholder, json.dumps(value)[1:-1])
    manifest: dict[str, object] = json.loads(text)
    return manifest


def build_package(
    client_id: str,
    out: Path,
    *,
    publisher_name: str = "Your organisation",
    publisher_url: str = "https://harbour.example.org",
    source: Path = MANIFEST_DIR,
) -> Path:
    if not (source / "manifest.json").exists():
        raise PackageError(f"No Teams manifest template in {source} (run from a Harbour checkout).")
    manifest = render_manifest(
        client_id, publisher_name=publisher_name, publisher_url=publisher_url, source=source
    )
    out.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as package:
        package.writestr("manifest.json", json.dumps(manifest, indent=2, ensure_ascii=False))
        for icon in ("color.png", "outline.png"):
            package.write(source / icon, icon)
    return out
