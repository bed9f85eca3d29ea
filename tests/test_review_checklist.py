"""The Slack Marketplace and Teams Store review rows that can be checked here,
automatically, on every run (../shared/STORE-REVIEW.md; each test names its
rows). What needs a person, a tenant or the publisher (install counts, live
URLs, screenshots, test accounts) is listed in docs/validator-notes.md.

Scopes used in code against the manifest (S3, S4); listing fields and lengths
(S*, T5, T14, T32); icons (T4, Slack's icon); every reply type with fallback
text on each surface and a label on every Slack button (T26, SBE); the Teams
package against the v1.29 schema (T2, T3); the welcome (T11, T12), the typing
indicator (T17) and retries with jitter (T29) in the Teams adapter; and the
organisation's pages (T6, T7, T8)."""

from __future__ import annotations

import asyncio
import json
import random
import re
import struct
import zipfile
import zlib
from pathlib import Path
from typing import Any

import aiohttp
import jsonschema
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from multidict import CIMultiDict, CIMultiDictProxy
from slack_sdk.web.async_client import AsyncWebClient

from adapters import console
from adapters.slack import render as slack
from adapters.teams import app as teams_app
from adapters.teams import cards as teams
from adapters.teams.package import MANIFEST_DIR, build_package
from bot.config import Settings
from bot.conversation.session import HELP_LINES
from bot.directory import Directory
from bot.models import PersonRef, Platform, Reply
from bot.pages import DOCUMENTS, attach_documents, organisation_details, render_document
from bot.server import build
from bot.store import MemoryStore
from tests.fakes.teams import activity
from tests.test_reply_conformance import INSTANCES
from tests.test_teams import TeamsHarness, t  # noqa: F401  (the Teams harness fixture)

ROOT = Path(__file__).resolve().parent.parent
SLACK_DIR = ROOT / "manifest" / "slack"
SCHEMA = ROOT / "tests" / "data" / "teams-manifest-v1.29.schema.json"
CLIENT_ID = "6f1c2a3b-4d5e-4f60-8a7b-9c0d1e2f3a4b"
URLS = {
    "privacy_url": "https://harbour.agency.example.ie/privacy",
    "terms_url": "https://harbour.agency.example.ie/terms",
    "support_url": "https://harbour.agency.example.ie/support",
}


def slack_manifests() -> dict[str, dict[str, Any]]:
    return {
        p.name: json.loads(p.read_text(encoding="utf-8"))
        for p in sorted(SLACK_DIR.glob("manifest*.json"))
    }


def teams_manifest(tmp_path: Path) -> dict[str, Any]:
    """The manifest as it is packed: built by the same code `teams-package` runs."""
    out = build_package(CLIENT_ID, tmp_path / "harbour.zip", publisher_name="Agency", **URLS)
    with zipfile.ZipFile(out) as package:
        assert sorted(package.namelist()) == ["color.png", "manifest.json", "outline.png"]
        data: dict[str, Any] = json.loads(package.read("manifest.json"))
    return data


# ---------------------------------------------------------------- Slack scopes (S3, S4)

METHOD_SCOPES: dict[str, frozenset[str]] = {
    "chat_postMessage": frozenset({"chat:write"}),
    "chat_update": frozenset({"chat:write"}),
    "chat_postEphemeral": frozenset({"chat:write"}),
    "conversations_open": frozenset({"im:write"}),
    # Read back in whichever conversation an alert went to: a DM, a public or a
    # private safety leads' channel.
    "conversations_history": frozenset({"im:history", "channels:history", "groups:history"}),
    "users_info": frozenset({"users:read"}),
    "files_upload_v2": frozenset({"files:write"}),
    "files_info": frozenset({"files:read"}),
    "views_open": frozenset(),
    "views_publish": frozenset(),
    "views_update": frozenset(),
    "auth_test": frozenset(),
    "auth_teams_list": frozenset(),  # an org-wide install's workspaces (no scope)
    "oauth_v2_access": frozenset(),
    "apps_uninstall": frozenset(),
}
"""The bot scope each Slack Web API method Harbour calls needs (Slack's method
pages). A method called in code and missing here fails the test below: add it
with its scope, and the scope to the manifest and SCOPES.md."""
FEATURE_SCOPES = {
    "commands": "the slash command",
    "im:history": "message.im events",
    "files:read": "a shared file's bytes, from its url_private_download",
}
RESTRICTED = re.compile(
    r"^(read|post|client|search:read|identify|bot|admin(\..*)?|identity\..*|"
    r"workflow\.steps:execute|triggers:.*)$"
)
"""Scopes the Marketplace refuses outright (S4)."""


def _web_api_methods_called() -> set[str]:
    names = {n for n in dir(AsyncWebClient) if not n.startswith("_")}
    called: set[str] = set()
    for source in (ROOT / "adapters" / "slack").glob("*.py"):
        called |= set(re.findall(r"\.(\w+)\(", source.read_text(encoding="utf-8"))) & names
    return called - {"api_call"}


def test_s3_every_scope_declared_is_used_and_every_method_called_has_its_scope() -> None:
    called = _web_api_methods_called()
    assert "chat_postMessage" in called  # the scan sees the adapter's calls at all
    unknown = called - set(METHOD_SCOPES)
    assert not unknown, f"add these Web API methods and their scopes to METHOD_SCOPES: {unknown}"
    needed = set().union(*(METHOD_SCOPES[m] for m in called)) | set(FEATURE_SCOPES)
    for name, manifest in slack_manifests().items():
        declared = set(manifest["oauth_config"]["scopes"]["bot"])
        assert needed <= declared, f"{name}: used but not declared: {needed - declared}"
        assert declared <= needed, f"{name}: declared but never used: {declared - needed}"
        assert "user" not in manifest["oauth_config"]["scopes"]  # bot token only (S5)


def test_s3_a_scope_named_in_code_is_one_the_manifest_declares() -> None:
    """The OAuth install asks for scopes in code: the same ones at every step."""
    declared = set(slack_manifests()["manifest.json"]["oauth_config"]["scopes"]["bot"])
    scope = re.compile(r"""["']([a-z]+(?:\.[a-z]+)*:[a-z_.]+)["']""")
    for source in (ROOT / "adapters" / "slack").glob("*.py"):
        named = set(scope.findall(source.read_text(encoding="utf-8")))
        named = {s for s in named if not s.startswith(("http", "https"))}
        assert named <= declared, f"{source.name} names undeclared scopes {named - declared}"


def test_s4_no_restricted_or_classic_scope() -> None:
    for name, manifest in slack_manifests().items():
        for scopes in manifest["oauth_config"]["scopes"].values():
            assert not [s for s in scopes if RESTRICTED.match(s)], name


# ---------------------------------------------------------------- listings (S, T5, T11, T14, T32)

CHANNEL_TRUTH = ("reference", "risk", "kind of abuse")
"""What the safety leads' channel does see: a listing must say so (issue 18)."""


def test_slack_listing_fields_and_lengths() -> None:
    for name, manifest in slack_manifests().items():
        shown = manifest["display_information"]
        assert 1 <= len(shown["name"]) <= 35, name
        assert len(shown["description"].split()) <= 10, name  # Slack: 10 words at most
        assert len(shown["description"]) <= 140, name
        assert 175 <= len(shown["long_description"]) <= 4000, name
        assert re.fullmatch(r"#[0-9a-fA-F]{6}", shown["background_color"]), name
        assert 1 <= len(manifest["features"]["bot_user"]["display_name"]) <= 80, name
        for command in manifest["features"]["slash_commands"]:
            assert len(command["description"]) <= 100 and not command["description"].endswith(".")


def test_s2_t22_listings_say_exactly_what_a_channel_sees() -> None:
    slack_long = slack_manifests()["manifest.json"]["display_information"]["long_description"]
    teams_full = json.loads((MANIFEST_DIR / "manifest.json").read_text("utf-8"))["description"][
        "full"
    ]
    for listing in (slack_long, teams_full):
        assert "Nothing about a report is ever posted in a channel." not in listing
        assert all(word in listing for word in CHANNEL_TRUTH), listing
        assert "claims the case" in listing and "emergency" in listing
    # Teams only: a bot reaches only people who have the app (T11).
    assert "installed" in teams_full and "managers and safety leads" in teams_full


def test_t5_teams_name_and_descriptions(tmp_path: Path) -> None:
    m = teams_manifest(tmp_path)
    short = m["name"]["short"]
    assert len(short) <= 30
    assert not re.search(r"\b(beta|dev|preview|uat|teams|microsoft)\b", short, re.IGNORECASE)
    assert len(m["name"].get("full", "")) <= 100
    assert len(m["description"]["short"]) <= 80
    full = m["description"]["full"]
    assert len(full) <= 4000 and len(full.split()) <= 500
    assert not re.search(r"\b(MS|MSFT)\b", full)
    assert "administrator" in full  # setup an admin must do is said up front (T11)


def test_t14_t21_t32_teams_commands_and_scopes(tmp_path: Path) -> None:
    [bot] = teams_manifest(tmp_path)["bots"]
    assert bot["isNotificationOnly"] is False
    assert set(bot["scopes"]) == {"personal", "team"}
    listed = {s for c in bot["commandLists"] for s in c["scopes"]}
    assert listed == set(bot["scopes"])  # at least one command per scope
    for command_list in bot["commandLists"]:
        titles = [c["title"] for c in command_list["commands"]]
        assert 1 <= len(titles) == len(set(titles)) <= 10
        for command in command_list["commands"]:
            assert not re.match(r"[/@!#]", command["title"])
            assert 0 < len(command["description"]) <= 128


def test_t9_valid_domains_are_only_the_publishers(tmp_path: Path) -> None:
    banned = re.compile(
        r"(ngrok|trycloudflare|loca\.lt|azurewebsites\.net|onmicrosoft\.com|microsoft\.com|^\*)"
    )
    for domain in teams_manifest(tmp_path).get("validDomains", []):
        assert not banned.search(domain), domain


def test_t2_t3_package_validates_against_the_schema(tmp_path: Path) -> None:
    m = teams_manifest(tmp_path)
    schema = json.loads(SCHEMA.read_text(encoding="utf-8"))
    jsonschema.Draft4Validator(schema).validate(m)
    assert m["$schema"].endswith(f"/v{m['manifestVersion']}/MicrosoftTeams.schema.json")
    assert m["bots"][0]["botId"] == m["id"] == CLIENT_ID
    developer = m["developer"]
    assert all(
        developer[k].startswith("https://") for k in ("websiteUrl", "privacyUrl", "termsOfUseUrl")
    )
    assert "{{" not in json.dumps(m)


# ---------------------------------------------------------------- icons (T4, Slack)


def read_png(path: Path) -> tuple[int, int, list[tuple[int, int, int, int]]]:
    """Width, height and RGBA pixels of an 8-bit RGBA PNG (any row filter)."""
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", path
    width, height, depth, colour, _, _, interlace = struct.unpack(">IIBBBBB", data[16:29])
    assert (depth, colour, interlace) == (8, 6, 0), f"{path.name}: not 8-bit RGBA"
    idat, pos = b"", 8
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        if data[pos + 4 : pos + 8] == b"IDAT":
            idat += data[pos + 8 : pos + 8 + length]
        pos += 12 + length
    raw, stride, rows = zlib.decompress(idat), width * 4, []
    previous = bytearray(stride)
    for y in range(height):
        kind, line = (
            raw[y * (stride + 1)],
            bytearray(raw[y * (stride + 1) + 1 : (y + 1) * (stride + 1)]),
        )
        for i in range(stride):
            left = line[i - 4] if i >= 4 else 0
            up, corner = previous[i], previous[i - 4] if i >= 4 else 0
            if kind == 1:
                line[i] = (line[i] + left) & 255
            elif kind == 2:
                line[i] = (line[i] + up) & 255
            elif kind == 3:
                line[i] = (line[i] + (left + up) // 2) & 255
            elif kind == 4:
                p = left + up - corner
                pa, pb, pc = abs(p - left), abs(p - up), abs(p - corner)
                nearest = left if pa <= pb and pa <= pc else up if pb <= pc else corner
                line[i] = (line[i] + nearest) & 255
        rows.append(line)
        previous = line
    pixels = [tuple(row[x * 4 : x * 4 + 4]) for row in rows for x in range(width)]
    return width, height, pixels  # type: ignore[return-value]


def test_t4_teams_colour_icon_192_on_a_solid_or_transparent_background() -> None:
    width, height, pixels = read_png(MANIFEST_DIR / "color.png")
    assert (width, height) == (192, 192)
    corners = {pixels[0], pixels[width - 1], pixels[-width], pixels[-1]}
    assert len(corners) == 1
    [background] = corners
    assert background[3] in (0, 255)  # solid, or fully transparent


def test_t4_teams_outline_icon_32_white_on_transparent_without_padding() -> None:
    width, height, pixels = read_png(MANIFEST_DIR / "outline.png")
    assert (width, height) == (32, 32)
    assert all(p == (255, 255, 255, 255) or p[3] == 0 for p in pixels)
    drawn = [(i % width, i // width) for i, p in enumerate(pixels) if p[3]]
    xs, ys = {x for x, _ in drawn}, {y for _, y in drawn}
    assert (min(xs), max(xs), min(ys), max(ys)) == (0, width - 1, 0, height - 1)


def test_slack_app_icon_is_a_square_png_of_512_to_2000() -> None:
    width, height, pixels = read_png(SLACK_DIR / "assets" / "icon-512.png")
    assert width == height and 512 <= width <= 2000
    assert all(p[3] == 255 for p in pixels[:: width + 1])  # opaque: Slack rounds its corners


# ---------------------------------------------------------------- replies on every surface (T26, SBE)

ALL_REPLIES = [
    (f"{kind.__name__}:{name}", r) for kind, named in INSTANCES.items() for name, r in named.items()
]


@pytest.mark.parametrize(("name", "reply"), ALL_REPLIES, ids=[n for n, _ in ALL_REPLIES])
def test_every_reply_has_fallback_text_on_every_surface(name: str, reply: Reply) -> None:
    said = slack.fallback_text([reply])
    assert said.strip() and len(said) <= slack.HEADER_TEXT, name
    for content in teams.cards([reply], "aad-alice"):
        sent = teams_app._card_activity(content, said)
        assert sent.summary == said
        card = sent.attachments[0].content
        assert card["fallbackText"] == said and "fallbackText" not in content
    assert console.render(reply).strip()


@pytest.mark.parametrize(("name", "reply"), ALL_REPLIES, ids=[n for n, _ in ALL_REPLIES])
def test_every_slack_button_has_an_accessibility_label(name: str, reply: Reply) -> None:
    for message in slack.messages([reply], "U0ALICE"):
        for block in message:
            for element in block.get("elements", []):
                if element.get("type") == "button":
                    label = element.get("accessibility_label", "")
                    assert 0 < len(label) <= 75, (name, element["text"])
                    assert label.startswith(element["text"]["text"].rstrip("…")), label


def test_the_app_home_button_has_an_accessibility_label() -> None:
    from bot.models import Text

    blocks = slack.home_blocks(Text(text="No reports yet."), "/report-abuse")
    buttons = [e for b in blocks for e in b.get("elements", []) if e.get("type") == "button"]
    assert buttons and all(e.get("accessibility_label") for e in buttons)


# ---------------------------------------------------------------- the Teams adapter (T12, T17, T29)

ALICE = PersonRef(platform=Platform.TEAMS, workspace="tenant-0001", user="aad-alice")


def test_t12_welcome_names_every_command_and_the_limits() -> None:
    worker = teams_app.welcome(Directory(), ALICE).text
    manager = teams_app.welcome(
        Directory(managers={"teams:tenant-0001:w": [ALICE.key]}), ALICE
    ).text
    manifest = json.loads((MANIFEST_DIR / "manifest.json").read_text("utf-8"))
    personal = next(c for c in manifest["bots"][0]["commandLists"] if c["scopes"] == ["personal"])
    for command in (c["title"] for c in personal["commands"]):
        listed = re.compile(rf"• {re.escape(command)}\b")
        assert listed.search(manager), command
        assert bool(listed.search(worker)) is (command not in teams_app.CASE_TEAM_COMMANDS)
    for said in (worker, manager):
        assert "administrator sets up" in said and "need it installed" in said
        assert "reference, the risk and the kind of abuse" in said and "emergency" in said
        assert not re.search(r"HB-\d{4}", said)
    assert len(HELP_LINES) == len(manager.split("• ")) - 1 - 4  # every help line; 4 limits


async def test_t17_typing_shows_on_a_slow_turn_and_never_after_the_reply(t: TeamsHarness) -> None:  # noqa: F811
    handle = t.adapter.harbour.handle

    async def slowly(event: Any) -> Any:
        await asyncio.sleep(0.4)
        return await handle(event)

    t.adapter.typing_after = 0.1
    t.adapter.harbour.handle = slowly  # type: ignore[method-assign]
    await t.say("help")
    await asyncio.sleep(0.3)  # a typing activity after the reply would have arrived by now
    kinds = [b["type"] for b in t.fake.sent("a:alice-personal")]
    assert kinds[0] == "typing" and kinds[-1] == "message", kinds
    t.adapter.harbour.handle = handle  # type: ignore[method-assign]
    t.fake.requests.clear()
    await t.say("help")  # a quick turn: no typing at all
    assert [b["type"] for b in t.fake.sent("a:alice-personal")] == ["message"]


async def test_every_card_sent_carries_a_summary_and_fallback_text(t: TeamsHarness) -> None:  # noqa: F811
    await t.post(activity(t.url, kind="installationUpdate", action="add"))
    await t.say("report")
    for body in t.fake.sent("a:alice-personal"):
        assert body.get("summary")
        assert all(a["content"]["fallbackText"] == body["summary"] for a in body["attachments"])


def _throttled(retry_after: str | None) -> aiohttp.ClientResponseError:
    headers = CIMultiDictProxy(CIMultiDict({"Retry-After": retry_after} if retry_after else {}))
    return aiohttp.ClientResponseError(None, (), status=429, headers=headers)  # type: ignore[arg-type]


def test_t29_backoff_is_exponential_with_jitter_and_honours_retry_after() -> None:
    jitter = random.Random(18)
    waits = [
        [teams_app.retry_wait(_throttled(None), n, 0.5, jitter) for n in range(3)]
        for _ in range(50)
    ]
    for attempt in range(3):
        seen = [w[attempt] for w in waits]
        step = 0.5 * 2**attempt
        assert all(step / 2 <= w <= step for w in seen)  # exponential, within its step
        assert len({round(w, 6) for w in seen}) > 40  # spread out, not in lockstep
    asked = [teams_app.retry_wait(_throttled("2"), 0, 0.5, jitter) for _ in range(20)]
    assert all(2.0 <= w <= 2.25 for w in asked) and len(set(asked)) > 1
    assert teams_app.retry_wait(_throttled("3600"), 0, 0.5, jitter) <= teams_app.MAX_WAIT + 0.25


# ---------------------------------------------------------------- the organisation's pages (T6, T7, T8)

DETAILS = {
    "organisation": "Tusla <Child & Family Agency>",
    "country": "IE",
    "emergency_numbers": "112 or 999",
    "contact_email": "harbour@agency.example.ie",
    "postal_address": "1 Example Street, Dublin",
    "privacy_contact": "dpo@agency.example.ie",
    "hosting": "in Ireland, on the agency's own servers",
    "keep_drafts": "30 days",
    "keep_closed_cases": "2190 days",
    "keep_deliveries": "90 days",
    "keep_names": "365 days",
    "keep_audit": "without a time limit",
}


async def test_t6_t7_t8_pages_are_served_filled_in_without_login() -> None:
    web_app = web.Application()
    attach_documents(web_app, DETAILS)
    async with TestClient(TestServer(web_app)) as client:
        for name in DOCUMENTS:
            response = await client.get(f"/{name}")
            assert response.status == 200 and response.content_type == "text/html"
            page = await response.text()
            assert "$" not in page  # every placeholder filled
            assert "Tusla &lt;Child &amp; Family Agency&gt;" in page  # escaped, not markup
            assert "harbour@agency.example.ie" in page  # contact details (T6, T8)
            assert "default-src 'none'" in response.headers["Content-Security-Policy"]
    privacy = render_document("privacy", DETAILS)
    for said in (
        "AES-256-GCM",
        "30 days",
        "without a time limit",
        "dpo@agency.example.ie",
        "mydata",
    ):
        assert said in privacy  # storage, retention, deletion, security, contact (T6)


async def test_pages_without_contact_details_say_so_instead_of_publishing_half() -> None:
    settings = Settings(_env_file=None, organisation="Agency")  # type: ignore[call-arg]
    details = organisation_details(settings)
    assert details["keep_drafts"] == "30 days" and details["organisation"] == "Agency"
    from adapters.slack.config import SlackSettings

    server = build(settings, SlackSettings(_env_file=None), MemoryStore())  # type: ignore[call-arg]
    async with TestClient(TestServer(server.web_app)) as client:
        response = await client.get("/privacy")
        assert response.status == 503
        assert "has not published its Harbour privacy page yet" in await response.text()


def test_a_template_placeholder_with_no_detail_is_refused() -> None:
    with pytest.raises(KeyError, match="postal_address"):
        render_document("support", {k: v for k, v in DETAILS.items() if k != "postal_address"})
