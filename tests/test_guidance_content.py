"""The content check for guidance (issue 17): what a worker reads at the worst
moment is sourced, safe, and right for her country.

- every item and every country pack names its sources, and every link is a
  well-formed https address;
- no item shown in one country quotes another country's law, regulator or
  routes;
- no setting left unset makes a sentence promise a number that doesn't exist;
- no item uses a phrasing that blames the worker or puts the next step on her
  (BANNED, below: extend it whenever a new one is found);
- a worker with HARBOUR_COUNTRY=GB reads UK routes and law throughout, after
  filing and on request, through the core.
"""

from __future__ import annotations

import json
import logging
import re
from pathlib import Path

import pytest

from adapters.slack import render as slack_render
from adapters.teams import cards as teams_cards
from bot.app import Harbour
from bot.config import EMERGENCY_NUMBERS, Settings
from bot.conversation.talk import guidance_card
from bot.guidance import (
    BUILTIN_DIR,
    PACK_FACTS,
    PACK_FALLBACKS,
    Audience,
    GuidanceError,
    GuidanceItem,
    Library,
    builtin_packs,
    load_packs,
    parse_pack,
)
from bot.models import SummaryCard
from bot.reports import AbuseKind, RiskLevel
from tests.conftest import Chat, type_report

PACKS = builtin_packs()
COUNTRIES = ["IE", "GB", "US", "CA", "AU", "NZ"]
UNKNOWN = "FR"  # a country the holiday calendars know and Harbour has no pack for
HTTPS = re.compile(r"^https://[a-z0-9.-]+\.[a-z]{2,}(/\S*)?$", re.IGNORECASE)

# What marks one country's law, regulator or routes. A worker elsewhere must
# never read them (sources and links included).
MARKERS: dict[str, tuple[str, ...]] = {
    "IE": (
        "Coimisiún",
        "Garda",
        "Child Care Act",
        "Coco's Law",
        "Non-Fatal Offences",
        "Harassment, Harmful Communications",
        "Hotline.ie",
        "in camera",
        "cnam.ie",
        "citizensinformation.ie",
        "irishstatutebook.ie",
        "lawreform.ie",
        "+353",
    ),
    "GB": (
        "Ofcom",
        "Protection from Harassment",
        "Online Safety Act",
        "Report Harmful Content",
        "Children Act 1989",
        "Sexual Offences Act",
        "Victim Support",
        "legislation.gov.uk",
        "England and Wales",
        "Scotland",
        "on 101",
    ),
}

# Phrasings that blame the worker or burden her with the next step. Each entry
# is a lower-case regular expression; add to it as new ones are found.
BANNED: tuple[tuple[str, str], ...] = (
    # Issue 17, finding 7: the next step put on the worker.
    (r"raise the recording", "the manager raises a recording with the family, not the worker"),
    (r"ask (them )?why they are upset", "reads as contacting the poster"),
    (r"ask them to (restrict|remove)", "the organisation asks, not the worker"),
    (r"without telling them first", "keeps no exception for immediate danger"),
    # Blame.
    (r"you should have", "blame"),
    (r"should have known", "blame"),
    (r"why did(n't| not)? you", "blame"),
    (r"your own fault", "blame"),
    (r"if only you", "blame"),
    (r"just (change|tighten|lock)", "the onus is not the worker's alone (Burns)"),
    (r"simply (change|tighten|lock)", "the onus is not the worker's alone (Burns)"),
    # Burden and pressure.
    (r"it'?s up to you|it is up to you", "burden"),
    (r"\byou must\b", "pressure"),
    (r"\byou need to\b", "pressure"),
    (r"calmly", "asks a distressed person to manage the other side"),
    (r"(contact|message|reply to|confront|ask) the poster", "contacting the poster"),
    # A number promised that may not exist (findings 1 and 6).
    (r"their non-emergency number", "Ireland has no police non-emergency number"),
    (r"can give you the (programme's own )?number", "sends a worker at night to HR"),
)

# Whole settings as an organisation leaves them on day one.
UNSET_ORG = {
    "policy_url": "",
    "internal_reporting": "",
    "eap_phone": "",
    "legal_contact": "",
    "police_non_emergency": "",
}


def library_for(country: str, **facts: str) -> Library:
    settings = Settings(_env_file=None, country=country)  # type: ignore[call-arg]
    return Library.load(facts={**settings.facts(), **UNSET_ORG, **facts})


def shown(library: Library, item: GuidanceItem) -> str:
    """Everything a reader sees of an item: title, text, pages to act on, sources."""
    parts = [item.title, library.fill(item.summary), library.fill(item.body)]
    parts += [f"{link.title} {link.url}" for link in item.links]
    parts += [f"{src.name} {src.url or ''}" for src in item.sources]
    return "\n".join(parts)


def numbers_in(text: str) -> set[str]:
    """Phone-like numbers (three digits or more, maybe spaced): '116 123', '+353 1 963 7755'."""
    return {
        re.sub(r"\s+", " ", n.strip())
        for n in re.findall(r"\+?\d[\d ]{1,14}\d|\b\d{3}\b", text)
        if len(re.sub(r"\D", "", n)) >= 3
    }


# ------------------------------------------------------------------ sources and links


def test_every_item_and_every_pack_fact_names_sources_with_https_links() -> None:
    for country in [*COUNTRIES, UNKNOWN]:
        library = library_for(country)
        for item in library.items.values():
            assert item.sources, f"{item.id} names no source ({country})"
            for source in item.sources:
                assert len(source.name) >= 10, (item.id, source.name)
                assert source.url is None or HTTPS.match(source.url), (item.id, source.url)
            for link in item.links:
                assert HTTPS.match(link.url), (item.id, link.url)
    for code, pack in PACKS.items():
        for name, fact in pack.facts.items():
            assert fact.sources, f"{code}.{name} names no source"
            for source in fact.sources:
                assert len(source.name) >= 10, (code, name, source.name)
                assert source.url is None or HTTPS.match(source.url), (code, name, source.url)
                assert source.url or "Act" in source.name or "police.uk" in source.name, (
                    f"{code}.{name}: {source.name!r} has no link; only statutes and pages "
                    "that could not be linked stably go without one"
                )
            for link in fact.links:
                assert HTTPS.match(link.url), (code, name, link.url)


def test_packs_cover_what_issue_17_asks_for_each_country() -> None:
    assert set(COUNTRIES) <= set(PACKS)
    numbers = {"emergency_numbers", "police_route", "crisis_line"}
    full = numbers | {"law_threats", "law_stalking", "law_case_information", "regulator_route"}
    for code in ("IE", "GB"):
        assert full <= set(PACKS[code].facts), code
        assert "intimate_image_route" in PACKS[code].facts, code
    for code in ("US", "CA", "AU", "NZ"):
        assert set(PACKS[code].facts) == numbers, f"{code}: numbers only, no law"
    assert EMERGENCY_NUMBERS["GB"] == "999 or 112" and EMERGENCY_NUMBERS["IE"] == "112 or 999"
    assert EMERGENCY_NUMBERS["AU"].startswith("000") and EMERGENCY_NUMBERS["NZ"] == "111"
    # Numbers for the police are stated only where checked (issue 17, finding 1).
    routes = {code: PACKS[code].facts["police_route"].text for code in COUNTRIES}
    assert "Garda station" in routes["IE"] and not numbers_in(routes["IE"])
    assert "101" in routes["GB"] and "131 444" in routes["AU"] and "105" in routes["NZ"]
    assert not numbers_in(routes["US"]) and not numbers_in(routes["CA"])


def test_fallbacks_name_no_law_and_no_number() -> None:
    for name, text in PACK_FALLBACKS.items():
        assert name in PACK_FACTS
        assert not numbers_in(text), name
        for markers in MARKERS.values():
            assert not any(m.lower() in text.lower() for m in markers), name


# ------------------------------------------------------------------ each country reads its own


@pytest.mark.parametrize("country", [*COUNTRIES, UNKNOWN])
def test_no_item_shows_another_countrys_law(country: str) -> None:
    library = library_for(country)
    others = [m for code, markers in MARKERS.items() if code != country for m in markers]
    for item in library.items.values():
        text = shown(library, item).lower()
        for marker in others:
            assert marker.lower() not in text, f"{country} reads {marker!r} in {item.id}"


@pytest.mark.parametrize("country", ["IE", "GB"])
def test_each_country_reads_its_own_law_with_its_sources(country: str) -> None:
    library = library_for(country)
    for item_id, fact in [
        ("threats-and-police", "law_threats"),
        ("stalking-accounts", "law_stalking"),
        ("in-camera-case-information", "law_case_information"),
        ("intimate-image-abuse", "law_intimate_images"),
        ("report-facebook", "regulator_route"),
    ]:
        item = library.items[item_id]
        pack_fact = PACKS[country].facts[fact]
        assert library.fill(pack_fact.text) in library.fill(item.body), (country, item_id)
        for source in pack_fact.sources:
            assert source in item.sources, (country, item_id, source.name)


# ------------------------------------------------------------------ no promised number that doesn't exist


@pytest.mark.parametrize("country", [*COUNTRIES, UNKNOWN])
def test_unset_settings_never_promise_a_number(country: str) -> None:
    library = library_for(country)
    pack = PACKS.get(country)
    allowed = set()
    for item in library.items.values():  # numbers the items themselves state
        allowed |= numbers_in(f"{item.summary} {item.body}")
    if pack:
        for fact in pack.facts.values():
            allowed |= numbers_in(fact.text)
    else:
        allowed |= numbers_in(library.emergency)
    for item in library.items.values():
        text = f"{library.fill(item.summary)}\n{library.fill(item.body)}"
        assert numbers_in(text) <= allowed, (country, item.id, numbers_in(text) - allowed)
        lowered = text.lower()
        assert "employee assistance programme is free" not in lowered, item.id
        assert "non-emergency number" not in lowered, item.id
        if country in ("IE", "US", "CA", UNKNOWN):  # no police number checked there
            assert "call the police on" not in lowered, (country, item.id)
    # Where Harbour knows no 24-hour line, it says where to find one, not a number.
    unknown = library_for(UNKNOWN).support_line
    assert "112" in unknown and "crisis line" in unknown and "116 123" not in unknown


def test_set_numbers_are_used_and_not_sourced_to_the_pack() -> None:
    library = library_for("GB", eap_phone="0800 000 000", police_non_emergency="0300 123 1212")
    self_care = library.items["self-care-eap"]
    assert "0800 000 000" in library.fill(self_care.summary)
    assert "Samaritans" not in shown(library, self_care)  # its source goes with its words
    police = library.items["threats-and-police"]
    assert "call the police on 0300 123 1212" in library.fill(police.summary)
    assert not any("101" in s.name for s in police.sources)


# ------------------------------------------------------------------ safe, kind phrasing


@pytest.mark.parametrize("country", [*COUNTRIES, UNKNOWN])
def test_no_item_blames_or_burdens_the_worker(country: str) -> None:
    library = library_for(country)
    for item in library.items.values():
        text = f"{item.title} {library.fill(item.summary)} {library.fill(item.body)}".lower()
        text = re.sub(r"\s+", " ", text)
        for pattern, why in BANNED:
            assert not re.search(pattern, text), f"{item.id}: {pattern!r} ({why})"


def test_the_immediate_danger_exception_stays_in_manager_guidance() -> None:
    library = library_for("IE")
    text = re.sub(r"\s+", " ", library.fill(library.items["manager-respond"].body))
    assert "immediate danger" in text and "child's safety" in text
    assert "tell them as soon as you can" in text


def test_public_archives_are_never_the_first_step() -> None:
    body = re.sub(r"\s+", " ", library_for("IE").items["evidence"].body)
    assert body.index("Screenshot") < body.index("Wayback")
    assert "Never use them for posts showing your home, your family, a child" in body
    assert "your manager or the legal team agrees" in body


def test_a_copyright_report_warns_that_the_reporters_details_are_passed_on() -> None:
    library = library_for("GB")
    body = re.sub(r"\s+", " ", library.fill(library.items["family-photos"].body))
    assert "email of whoever reports" in body and "representative" in body


# ------------------------------------------------------------------ fits on every platform, in every country


@pytest.mark.parametrize("country", ["IE", "GB", UNKNOWN])
def test_filled_items_fit_slack_and_teams(harbour: Harbour, country: str) -> None:
    library = library_for(country)
    harbour_library = harbour.library
    try:
        harbour.library = library
        for item in library.items.values():
            card = guidance_card(harbour, item)
            for blocks in slack_render.messages([card], "U1"):
                assert len(blocks) <= slack_render.MAX_BLOCKS
                for block in blocks:
                    assert len((block.get("text") or {}).get("text", "")) <= 3000, item.id
            [teams_card] = teams_cards.cards([card], "aad-1")
            assert len(json.dumps(teams_card)) < 28_000
    finally:
        harbour.library = harbour_library


# ------------------------------------------------------------------ an unknown country, and the organisation's own


def test_an_unknown_country_gets_112_and_a_clear_warning_at_start(
    caplog: pytest.LogCaptureFixture,
) -> None:
    settings = Settings(_env_file=None, country=UNKNOWN)  # type: ignore[call-arg]
    assert settings.emergency == "112"
    assert "112" in settings.flow_context().emergency_guidance
    with caplog.at_level(logging.WARNING, logger="harbour"):
        settings.guidance()
    [warning] = [r.getMessage() for r in caplog.records if "HARBOUR_COUNTRY" in r.getMessage()]
    assert f"HARBOUR_COUNTRY={UNKNOWN}" in warning and "112" in warning
    assert "HARBOUR_EMERGENCY_NUMBERS" in warning and "country-fr.md" in warning
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="harbour"):
        Settings(_env_file=None, country="GB").guidance()  # type: ignore[call-arg]
    assert not [r for r in caplog.records if "HARBOUR_COUNTRY" in r.getMessage()]


def _write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")


OUR_GB = """+++
country = "GB"
[police_route]
text = "call Police Scotland on 101 and ask for the Greater Glasgow division"
[[police_route.sources]]
name = "Our agency's safety policy, section 4"
+++
"""

OUR_FR = """+++
country = "FR"
name = "France"
[emergency_numbers]
text = "112 or 17"
[[emergency_numbers.sources]]
name = "Our agency's safety policy, section 2"
+++
"""


def test_the_organisation_can_override_any_country_fact(tmp_path: Path) -> None:
    _write(tmp_path / "country-gb.md", OUR_GB)
    settings = Settings(_env_file=None, country="GB", guidance_dir=tmp_path)  # type: ignore[call-arg]
    library = settings.guidance()
    item = library.items["threats-and-police"]
    assert "Greater Glasgow" in library.fill(item.body)
    assert any(s.name == "Our agency's safety policy, section 4" for s in item.sources)
    assert not any("101, the police" in s.name for s in item.sources)  # the replaced fact's
    assert "Protection from Harassment" in shown(library, item)  # the rest of the pack stays
    assert settings.emergency == "999 or 112"


def test_the_organisation_can_add_a_country(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    _write(tmp_path / "country-fr.md", OUR_FR)
    settings = Settings(_env_file=None, country="FR", guidance_dir=tmp_path)  # type: ignore[call-arg]
    assert settings.emergency == "112 or 17"
    assert "112 or 17" in settings.flow_context().emergency_guidance
    with caplog.at_level(logging.WARNING, logger="harbour"):
        library = settings.guidance()
    assert not [r for r in caplog.records if "HARBOUR_COUNTRY" in r.getMessage()]
    emergency = library.items["emergency"]
    assert "112 or 17" in library.fill(emergency.summary)
    assert any("Our agency's safety policy" in s.name for s in emergency.sources)


@pytest.mark.parametrize(
    ("text", "error"),
    [
        (OUR_GB.replace("[police_route]", "[police_rout]"), "police_rout is not a fact"),
        (
            OUR_GB.replace(
                '[[police_route.sources]]\nname = "Our agency\'s safety policy, section 4"\n', ""
            ),
            "sources",
        ),
        (OUR_GB, ""),  # the file as written loads
        (
            OUR_GB.replace(
                "[[police_route.sources]]",
                '[[police_route.links]]\ntitle = "x1"\nurl = "http://x.example"\n[[police_route.sources]]',
            ),
            "must be a full https://",
        ),
        (OUR_GB.replace('country = "GB"', 'country = "IE"'), "name the file country-ie.md"),
    ],
)
def test_bad_country_files_are_refused_with_the_file_and_field(
    tmp_path: Path, text: str, error: str
) -> None:
    _write(tmp_path / "country-gb.md", text)
    if not error:
        assert load_packs(tmp_path)["GB"].facts["police_route"].sources
        return
    with pytest.raises(GuidanceError) as caught:
        Library.load(tmp_path, {"country": "GB"})
    assert "country-gb.md" in str(caught.value) and error in str(caught.value)


def test_packs_parse_from_their_files() -> None:
    for path in sorted(BUILTIN_DIR.glob("country-*.md")):
        pack = parse_pack(path.read_text(encoding="utf-8"), path.name)
        assert path.name == f"country-{pack.country.lower()}.md" and pack.name


# ------------------------------------------------------------------ through the core, in Britain


@pytest.fixture
def settings() -> Settings:
    """Overrides conftest's: an organisation in Britain, every other setting as shipped."""
    return Settings(_env_file=None, country="GB", timezone="Europe/London")  # type: ignore[call-arg]


THREATS_REPORT = [
    ("danger", "no"),
    ("kinds", "1, 7"),  # threatening messages; threats to me or my family
    ("platforms", "Facebook"),
    ("links", "https://www.facebook.com/some.post/123"),
    ("evidence", "Four screenshots on my work phone"),
    ("started", "this week"),
    ("frequency", "a few times"),
    ("affected", "me"),
    ("poster", "2"),
    ("worry", "4"),
    ("description", "Posts naming me and my street."),
    ("audience", "1"),
]


def _irish(text: str) -> list[str]:
    return [m for m in MARKERS["IE"] if m.lower() in text.lower()]


async def test_a_worker_in_britain_reads_uk_routes_and_law_throughout(chat: Chat) -> None:
    await chat.command("report")
    await chat.say("yes")  # immediate danger: the UK's numbers come first
    assert "999 or 112" in chat.text() and not _irish(chat.text())
    await chat.say("cancel")
    await chat.say("yes")

    await chat.command("report")
    await type_report(chat, THREATS_REPORT)
    await chat.say("yes")
    after = chat.text()
    assert "Some guidance for now" in after and not _irish(after)
    card = next(
        r for r in chat.replies if isinstance(r, SummaryCard) and r.title == "Some guidance for now"
    )
    assert any("101" in f.value for f in card.fields)  # the threats item's police route

    for item_id in sorted(chat.harbour.library.items):
        await chat.command("guidance", item_id)
        said = chat.text()
        assert not _irish(said), (item_id, _irish(said))
    await chat.command("guidance", "threats-and-police")
    said = chat.text()
    for expected in ("on 101", "Protection from Harassment Act 1997", "Online Safety Act 2023"):
        assert expected in said
    await chat.command("guidance", "in-camera-case-information")
    assert "Children Act 1989" in chat.text()
    await chat.command("guidance", "report-instagram")
    assert "Report Harmful Content" in chat.text() and "Ofcom" in chat.text()
    await chat.command("guidance", "self-care")
    assert "116 123" in chat.text() and "Samaritans" in chat.text()


def test_matching_is_the_same_in_every_country() -> None:
    ireland, britain = library_for("IE"), library_for("GB")
    for kinds in ([AbuseKind.THREATS], [AbuseKind.OTHER], [AbuseKind.CASE_INFORMATION]):
        for risk in RiskLevel:
            ie = [i.id for i in ireland.for_incident(Audience.WORKER, kinds=kinds, risk=risk)]
            gb = [i.id for i in britain.for_incident(Audience.WORKER, kinds=kinds, risk=risk)]
            assert ie == gb
    other = [i.id for i in britain.for_incident(Audience.WORKER, kinds=[AbuseKind.OTHER])][:4]
    assert {"intimate-image-abuse", "fake-profiles"} <= set(other)
