"""Build the Teams app package: manifest.json with the bot's client id and the
publisher's details filled in, and the two icons, zipped ready to upload (Teams
admin centre or "Upload a custom app").

The privacy policy, terms of use and support page are the organisation's own
pages (Harbour serves filled-in templates at /privacy, /terms and /support, see
docs/legal/), so each URL is given, never derived from another: the Teams Store
checks each one opens without a login on the publisher's own domain."""

from __future__ import annotations

import json
import re
import zipfile
from pathlib import Path

MANIFEST_DIR = Path(__file__).resolve().parents[2] / "manifest" / "teams"
GUID = re.compile(r"^[0-9a-fA-F]{8}-([0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}$")
PUBLISHER_NAME_LIMIT = 32
"""developer.name's maxLength in the manifest schema."""
ICONS = ("color.png", "outline.png")


class PackageError(ValueError):
    pass


def render_manifest(
    client_id: str,
    *,
    publisher_name: str,
    privacy_url: str,
    terms_url: str,
    support_url: str,
    source: Path = MANIFEST_DIR,
) -> dict[str, object]:
    if not GUID.match(client_id):
        raise PackageError(
            f"The client id must be the bot's Microsoft Entra application (client) id, a GUID "
            f"like 00000000-0000-0000-0000-000000000000; got {client_id!r}."
        )
    if not publisher_name.strip() or len(publisher_name) > PUBLISHER_NAME_LIMIT:
        raise PackageError(
            f"The publisher name must be 1 to {PUBLISHER_NAME_LIMIT} characters (Teams shows "
            f"it as the developer); got {len(publisher_name)}."
        )
    urls = {"privacy": privacy_url, "terms": terms_url, "support": support_url}
    for which, url in urls.items():
        if not url.startswith("https://") or len(url) <= len("https://"):
            raise PackageError(
                f"The {which} URL must be a full https:// address (Teams requires it, and "
                f"validators open it without signing in); got {url!r}. Harbour serves one at "
                f"https://<your server>/{which}."
            )
    text = (source / "manifest.json").read_text(encoding="utf-8")
    for placeholder, value in (
        ("{{CLIENT_ID}}", client_id.lower()),
        ("{{PUBLISHER_NAME}}", publisher_name.strip()),
        ("{{PRIVACY_URL}}", privacy_url),
        ("{{TERMS_URL}}", terms_url),
        ("{{SUPPORT_URL}}", support_url),
    ):
        text = text.replace(placeholder, json.dumps(value)[1:-1])
    manifest: dict[str, object] = json.loads(text)
    return manifest


def build_package(
    client_id: str,
    out: Path,
    *,
    publisher_name: str,
    privacy_url: str,
    terms_url: str,
    support_url: str,
    source: Path = MANIFEST_DIR,
) -> Path:
    if not (source / "manifest.json").exists():
        raise PackageError(f"No Teams manifest template in {source} (run from a Harbour checkout).")
    manifest = render_manifest(
        client_id,
        publisher_name=publisher_name,
        privacy_url=privacy_url,
        terms_url=terms_url,
        support_url=support_url,
        source=source,
    )
    out.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as package:
        package.writestr("manifest.json", json.dumps(manifest, indent=2, ensure_ascii=False))
        for icon in ICONS:
            package.write(source / icon, icon)
    return out
