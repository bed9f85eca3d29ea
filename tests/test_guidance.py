"""Guidance: the built-in items, matching to incidents, organisation overrides and
their validation, and rendering within Slack's and Teams' limits."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from adapters.slack import render as slack_render
from adapters.teams import cards as teams_cards
from bot.app import Harbour
from bot.config import Settings
from bot.conversation.talk import guidance_card
from bot.guidance import (
    BUILTIN_DIR,
    DERIVED,
    ORG_FACTS,
    PACK_FACTS,
    PLACEHOLDER,
    Audience,
    GuidanceError,
    Library,
    load_dir,
    parse_item,
    support_line,
)
from bot.models import SummaryCard
from bot.reports import AbuseKind, RiskLevel
from tests.conftest import Chat, type_report

K = AbuseKind
FACTS = Settings(_env_file=None).facts()  # type: ignore[call-arg]


@pytest.fixture(scope="module")
def library() -> Library:
    return Library.load(facts=FACTS)


# ------------------------------------------------------------------ the built-in items


def test_builtin_items_load_and_cover_the_topics_asked_for(library: Library) -> None:
    ids = set(library.items)
    required = {
        "emergency",
        "evidence",
        "policy-and-reporting-routes",
        "doxxing-safety-plan",
        "threats-and-police",
        "in-camera-case-information",
        "recordings-without-consent",
        "fair-criticism",
        "do-not-engage",
        "self-care-eap",
        "privacy-settings",
        "manager-respond",
        "organisation-duties",
        "google-removal",
        "intimate-image-abuse",
        "fake-profiles",
    }
    platforms = {
        "facebook",
        "instagram",
        "x",
        "tiktok",
        "youtube",
        "linkedin",
        "reddit",
        "whatsapp",
    }
    assert required <= ids
    assert {f"report-{p}" for p in platforms} <= ids
    for platform in platforms:
        item = library.items[f"report-{platform}"]
        assert platform in item.platforms and item.links


def test_every_builtin_item_names_its_sources_and_links_are_https(library: Library) -> None:
    for item in library.items.values():
        assert item.sources, f"{item.id} names no source"
        for url in [s.url for s in item.sources if s.url] + [link.url for link in item.links]:
            assert url.startswith("https://") and " " not in url, (item.id, url)


def test_placeholders_are_known_facts(library: Library) -> None:
    assert set(Library(library.items.values(), {}).missing_facts()) <= set(FACTS)
    known = set(ORG_FACTS) | set(PACK_FACTS) | set(DERIVED)
    for item in library.items.values():
        used = set(PLACEHOLDER.findall(f"{item.title} {item.summary} {item.body}"))
        assert used <= known, (item.id, used - known)


def test_empty_facts_are_reported_and_rendered_kindly(library: Library) -> None:
    missing = library.missing_facts()
    assert "policy_url" in missing and "eap_phone" in missing
    # Only the organisation's own settings are ever missing: a country fact
    # always has words (its pack's, or a fallback that names no law).
    assert set(missing) <= set(ORG_FACTS)
    filled = library.fill("{{support_line}}")
    assert filled == support_line(FACTS["country"], FACTS["emergency_numbers"])
    assert "116 123" in filled and "day or night" in filled  # a 24/7 line, not "ask HR"
    assert library.fill("{{eap_phone}}") == filled  # the older placeholder says the same
    for item in library.items.values():
        for text in (library.fill(item.summary), library.fill(item.body)):
            assert "{{" not in text and "not set" not in text
            assert "contact your manager" not in text and "at your manager" not in text
    police = library.fill(library.items["threats-and-police"].summary)
    assert "Otherwise contact your local Garda station" in police
    assert "non-emergency number" not in police  # Ireland has none to promise
    complete = Library(
        library.items.values(),
        {**FACTS, "eap_phone": "1800 000 000", "police_non_emergency": "021 452 2000"},
    )
    assert complete.fill("{{support_line}}").endswith("1800 000 000.")
    assert "call the police on 021 452 2000" in complete.fill("{{police_route}}")


# ------------------------------------------------------------------ matching


# kind(s), risk, platforms -> items that must be among the worker's first three
MATCHING: list[tuple[list[AbuseKind], RiskLevel, list[str], list[str]]] = [
    ([K.THREATS], RiskLevel.CRITICAL, [], ["emergency"]),
    ([K.THREATS], RiskLevel.HIGH, [], ["threats-and-police"]),
    (
        [K.THREATENING_MESSAGES],
        RiskLevel.HIGH,
        ["facebook"],
        ["threats-and-police", "report-facebook"],
    ),
    ([K.STALKING], RiskLevel.HIGH, [], ["stalking-accounts"]),
    ([K.PERSONAL_DETAILS], RiskLevel.HIGH, [], ["doxxing-safety-plan"]),
    ([K.CASE_INFORMATION], RiskLevel.HIGH, [], ["in-camera-case-information"]),
    ([K.RECORDINGS], RiskLevel.MEDIUM, [], ["recordings-without-consent"]),
    ([K.FAMILY_PHOTOS], RiskLevel.MEDIUM, [], ["family-photos"]),
    ([K.COMPLAINTS], RiskLevel.LOW, [], ["fair-criticism"]),
    ([K.COMPLAINTS], RiskLevel.LOW, ["tiktok"], ["report-tiktok"]),
]


@pytest.mark.parametrize(("kinds", "risk", "platforms", "expected"), MATCHING)
def test_matching_table(
    library: Library,
    kinds: list[AbuseKind],
    risk: RiskLevel,
    platforms: list[str],
    expected: list[str],
) -> None:
    top = [
        i.id
        for i in library.for_incident(Audience.WORKER, kinds=kinds, risk=risk, platforms=platforms)[
            :3
        ]
    ]
    for item_id in expected:
        assert item_id in top, (kinds, risk, platforms, top)


def test_emergency_only_when_critical(library: Library) -> None:
    for risk in (RiskLevel.LOW, RiskLevel.MEDIUM, RiskLevel.HIGH):
        ids = [i.id for i in library.for_incident(Audience.WORKER, kinds=[K.THREATS], risk=risk)]
        assert "emergency" not in ids
    critical = library.for_incident(Audience.WORKER, kinds=[K.COMPLAINTS], risk=RiskLevel.CRITICAL)
    assert critical[0].id == "emergency"


def test_items_for_another_kind_or_platform_are_left_out(library: Library) -> None:
    ids = {
        i.id
        for i in library.for_incident(Audience.WORKER, kinds=[K.COMPLAINTS], risk=RiskLevel.LOW)
    }
    assert "in-camera-case-information" not in ids
    assert not any(i.startswith("report-") for i in ids)


def test_managers_get_manager_items(library: Library) -> None:
    top = [
        i.id for i in library.for_incident(Audience.MANAGER, kinds=[K.THREATS], risk=RiskLevel.HIGH)
    ]
    assert "manager-respond" in top[:5]
    worker = {
        i.id for i in library.for_incident(Audience.WORKER, kinds=[K.THREATS], risk=RiskLevel.HIGH)
    }
    assert "manager-respond" not in worker


def test_search_by_keyword(library: Library) -> None:
    assert library.search("police")[0].id == "threats-and-police"
    assert library.search("screenshot")[0].id == "evidence"
    assert library.search("zzz qqq") == []


# ------------------------------------------------------------------ overrides


def _write(directory: Path, name: str, text: str) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / name).write_text(text, encoding="utf-8")


GOOD = """+++
id = "self-care-eap"
title = "Our staff support line"
audience = ["worker"]
topics = ["support"]
summary = "Call Inspire Workplaces on 1800 000 000, any time, free and confidential."
[[sources]]
name = "Our agency's employee assistance contract"
+++
Ask for the critical incident service.
"""


def test_organisation_files_add_and_replace_items(tmp_path: Path) -> None:
    _write(tmp_path, "eap.md", GOOD)
    _write(
        tmp_path,
        "local.md",
        GOOD.replace('"self-care-eap"', '"local-garda"').replace(
            "Our staff support line", "Our local Garda station"
        ),
    )
    library = Library.load(tmp_path, FACTS)
    assert library.items["self-care-eap"].title == "Our staff support line"
    assert "local-garda" in library.items
    assert len(library.items) == len(load_dir(BUILTIN_DIR)) + 1


@pytest.mark.parametrize(
    ("text", "error"),
    [
        (
            GOOD.replace('summary = "Call', 'colour = "red"\nsummary = "Call'),
            "colour is not a field",
        ),
        (
            GOOD.replace(
                'summary = "Call Inspire Workplaces on 1800 000 000, any time, free and confidential."\n',
                "",
            ),
            "summary is missing",
        ),
        (GOOD.replace("+++\nid", "id", 1), "must start with a '+++' line"),
        (GOOD.replace('audience = ["worker"]', "audience = [worker]"), "not valid TOML"),
        (GOOD.replace('audience = ["worker"]', 'audience = ["everybody"]'), "audience.0"),
        (GOOD + "+++", "body"),
    ],
)
def test_bad_override_files_are_refused_with_the_file_and_field(
    tmp_path: Path, text: str, error: str
) -> None:
    _write(tmp_path, "ours.md", text)
    if error == "body":  # a stray '+++' in the body is just text
        assert Library.load(tmp_path, FACTS).items["self-care-eap"].body.endswith("+++")
        return
    with pytest.raises(GuidanceError) as caught:
        Library.load(tmp_path, FACTS)
    assert "ours.md" in str(caught.value) and error in str(caught.value)


def test_duplicate_ids_in_one_directory_are_refused(tmp_path: Path) -> None:
    _write(tmp_path, "a.md", GOOD)
    _write(tmp_path, "b.md", GOOD)
    with pytest.raises(
        GuidanceError, match=re.escape("b.md: id 'self-care-eap' is already used by a.md")
    ):
        Library.load(tmp_path, FACTS)


def test_bad_link_is_refused() -> None:
    text = GOOD.replace(
        "+++\nAsk", '[[links]]\ntitle = "Bad"\nurl = "http://insecure.example"\n+++\nAsk'
    )
    with pytest.raises(GuidanceError, match=re.escape("links.0.url must be a full https://")):
        parse_item(text, "x.md")


def test_missing_override_directory_is_named(tmp_path: Path) -> None:
    with pytest.raises(GuidanceError, match="HARBOUR_GUIDANCE_DIR"):
        Library.load(tmp_path / "nope", FACTS)


# ------------------------------------------------------------------ in conversation and on each platform


async def test_guidance_after_filing_and_on_request(chat: Chat) -> None:
    await chat.command("report")
    await type_report(chat)
    await chat.say("yes")
    card = next(
        r for r in chat.replies if isinstance(r, SummaryCard) and r.title == "Some guidance for now"
    )
    assert 1 <= len(card.fields) <= 3
    await chat.say("2")  # not now, to the reflection offer
    await chat.command("guidance")
    assert "guidance evidence" in chat.text()
    await chat.command("guidance", "evidence")
    assert "Keep evidence before it disappears" in chat.text()
    assert "Sources" in chat.text()
    await chat.command("guidance", "police threats")
    assert "threats" in chat.text().lower()
    await chat.command("guidance", "xyzzy")
    assert "couldn't find guidance" in chat.text()


def test_every_item_renders_within_slack_and_teams_limits(
    harbour: Harbour, library: Library
) -> None:
    for item in library.items.values():
        card = guidance_card(harbour, item)
        messages = slack_render.messages([card], "U1")
        for blocks in messages:
            assert len(blocks) <= slack_render.MAX_BLOCKS
            for block in blocks:
                text = (block.get("text") or {}).get("text", "")
                assert len(text) <= 3000
        [teams_card] = teams_cards.cards([card], "aad-1")
        assert len(json.dumps(teams_card)) < 28_000
