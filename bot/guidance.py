"""Policy guidance: data files the organisation can edit, matched to an incident.

Each item is a Markdown file with TOML front matter between `+++` lines:

    +++
    id = "evidence"                       # stable; an override with the same id replaces it
    title = "Keep evidence before it disappears"
    audience = ["worker", "manager"]      # worker, manager, safety_lead, everyone
    topics = ["evidence", "screenshots"]  # for browsing and keyword search
    kinds = []                            # kinds of abuse it is for; empty: any
    risks = []                            # risk levels it is for; empty: any
    platforms = []                        # platforms it is about; empty: none in particular
    priority = 50                         # among equally relevant items, higher first
    summary = "One chat message: what to do, in a sentence or two."
    [[sources]]
    name = "Who says so, by name"
    url = "https://..."                   # optional
    [[links]]
    title = "A page to act on"
    url = "https://..."
    +++
    The body: short paragraphs and "- " bullets.

Built-in items live in flows/guidance/. `HARBOUR_GUIDANCE_DIR` may hold the
organisation's own files, which add items or replace built-in ones by id. Text
may use `{{name}}` placeholders for the organisation's own facts (policy link,
employee assistance phone, ...), filled from settings.

What differs by country (emergency numbers, the police route, a 24-hour line,
the law, the regulator and reporting routes) lives in country packs,
`country-<code>.md` files beside the items, one per HARBOUR_COUNTRY:

    +++
    country = "GB"
    name = "the United Kingdom"
    [police_route]                        # one table per fact (PACK_FACTS)
    text = "call the police on 101"
    [[police_route.sources]]              # every fact names its sources
    name = "police.uk: 101"
    [[police_route.links]]                # optional pages to act on
    title = "..."
    url = "https://..."
    +++

Items say `{{police_route}}`, `{{law_threats}}`, ...; the library fills them
from the pack of the organisation's country and adds each fact's sources and
links to the item that quotes it, so a worker reads her own country's law with
its sources, never another's. A country without a pack gets the PACK_FALLBACKS
(no law, no number that might not exist). An organisation's own
`country-<code>.md` in HARBOUR_GUIDANCE_DIR replaces the facts it names and
keeps the rest; settings (HARBOUR_EMERGENCY_NUMBERS, HARBOUR_POLICE_NON_EMERGENCY,
HARBOUR_EAP_PHONE) win over both.
"""

from __future__ import annotations

import functools
import re
import tomllib
from collections.abc import Iterable, Mapping
from enum import StrEnum
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from bot.reports import AbuseKind, RiskLevel

BUILTIN_DIR = Path(__file__).resolve().parent.parent / "flows" / "guidance"
SUMMARY_LIMIT = 300
BODY_LIMIT = 2_500
PLACEHOLDER = re.compile(r"\{\{\s*([a-z_]+)\s*\}\}")


PACK_PREFIX = "country-"
"""Guidance files whose name starts with this are country packs, not items."""

PACK_FACTS: dict[str, str] = {
    "emergency_numbers": "the numbers to call in an emergency, e.g. '112 or 999'",
    "police_route": "how to reach the police when it isn't an emergency, as an "
    "instruction that can follow 'Otherwise': 'call the police on 101'",
    "crisis_line": "a free line that answers day or night, as a whole sentence",
    "law_threats": "threats, harassment and threatening messages, in a sentence or two",
    "law_stalking": "stalking, including online, in a sentence or two",
    "law_case_information": "the law protecting children in care proceedings",
    "law_intimate_images": "intimate images, and fakes, shared without consent",
    "law_impersonation": "someone pretending to be the worker",
    "regulator_route": "where to go when a platform doesn't act, as a sentence or two",
    "intimate_image_route": "a service that helps remove intimate images",
    "victim_support": "support for victims of crime",
}
"""What a country pack may say, by fact name. Every fact is optional: an item
quoting a fact the pack lacks reads its fallback (PACK_FALLBACKS)."""

PACK_FALLBACKS: dict[str, str] = {
    "police_route": "contact your local police station",
    "law_threats": "Which laws apply depends on where you live: the police and "
    "{{organisation}}'s legal team can tell you.",
    "law_stalking": "Which laws apply depends on where you live: the police and "
    "{{organisation}}'s legal team can tell you.",
    "law_case_information": "Rules that protect children in care proceedings differ from "
    "place to place: the legal team will know which apply.",
    "law_intimate_images": "The police can tell you which laws apply where you live.",
    "law_impersonation": "The police or the legal team can say whether the law where you "
    "live covers it.",
    "regulator_route": "If the platform doesn't act, {{organisation}} can follow it up.",
    "intimate_image_route": "The police can advise on getting the images taken down where "
    "you live.",
    "victim_support": "The police can tell you about support for victims of crime where you live.",
}
"""What an item says where the country has no pack, or its pack lacks the fact:
no law, no regulator and no number that might not exist."""

NO_CRISIS_LINE = (
    "For someone to talk to at any hour, your doctor or local health services can point "
    "you to a crisis line."
)
EMERGENCY_FALLBACK = "112"
"""The emergency number for a country without a pack (Harbour warns at start)."""

PACK_ALIASES = {"UK": "GB"}
"""Country codes the holiday calendars accept that name the same pack."""

ORG_FACTS = (
    "organisation",
    "policy_url",
    "internal_reporting",
    "eap_phone",
    "legal_contact",
    "police_non_emergency",
)
"""The organisation's own facts, from settings (HARBOUR_<NAME>)."""

DERIVED: dict[str, tuple[str, ...]] = {
    "support_line": ("eap_phone",),
    "eap_phone": ("eap_phone",),
    "police_route": (),
    "police_non_emergency": (),
    "emergency_numbers": (),
}
"""Placeholders computed from settings and the country pack, with the settings
whose absence the administrator is warned about at start."""

UNSET = {
    "internal_reporting": "your manager or a safety lead",
    "policy_url": "your manager can point you to it",
    "legal_contact": "your manager can put you in touch",
    "police_non_emergency": "the number of your local police station",
}
"""What the guidance says in place of an organisation detail not set yet (the
administrator is warned at start). Each reads as part of the sentences the
built-in items put it in: "tell …", "the social media policy (…)", "the legal
team (…)". The employee assistance number is replaced by a 24-hour line for
the country (`Library.support_line`), and the police number by the country's
police route (`{{police_route}}`): no sentence promises a number that may not
exist."""
UNSET_OTHER = "ask your manager"


def pack_code(country: str) -> str:
    """The pack a HARBOUR_COUNTRY value reads: 'gb-sct' -> 'GB', 'UK' -> 'GB'."""
    code = country.strip().upper().partition("-")[0]
    return PACK_ALIASES.get(code, code)


def crisis_sentence(pack: CountryPack | None, emergency: str) -> str:
    """Said where no employee assistance number is set: the emergency number,
    then a free line that answers day or night (or, without one, where to find
    one), so a worker reading at night is never told to ask HR."""
    line = pack.facts["crisis_line"].text if pack and "crisis_line" in pack.facts else ""
    return f"If anyone is in danger, call the emergency services on {emergency}. " + (
        line or NO_CRISIS_LINE
    )


def support_line(country: str, emergency: str = "") -> str:
    """What built-in guidance says for a country when no employee assistance
    number is set."""
    pack = builtin_packs().get(pack_code(country))
    if not emergency:
        emergency = pack_emergency(pack) or EMERGENCY_FALLBACK
    return crisis_sentence(pack, emergency)


class Audience(StrEnum):
    WORKER = "worker"
    MANAGER = "manager"
    SAFETY_LEAD = "safety_lead"
    EVERYONE = "everyone"


class Source(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=3)
    url: str | None = None

    @field_validator("url")
    @classmethod
    def _https(cls, url: str | None) -> str | None:
        return _check_url(url) if url is not None else None


class Link(BaseModel):
    model_config = ConfigDict(extra="forbid")

    title: str = Field(min_length=2, max_length=75)
    url: str

    @field_validator("url")
    @classmethod
    def _https(cls, url: str) -> str:
        return _check_url(url)


def _check_url(url: str) -> str:
    if not re.match(r"^https://[a-z0-9.-]+\.[a-z]{2,}(/\S*)?$", url, re.IGNORECASE):
        raise ValueError(f"must be a full https:// address, got {url!r}")
    return url


class GuidanceItem(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(pattern=r"^[a-z0-9][a-z0-9-]{1,60}$")
    title: str = Field(min_length=3, max_length=100)
    audience: tuple[Audience, ...] = Field(min_length=1)
    topics: tuple[str, ...] = ()
    kinds: tuple[AbuseKind, ...] = ()
    risks: tuple[RiskLevel, ...] = ()
    platforms: tuple[str, ...] = ()
    priority: int = Field(default=50, ge=0, le=100)
    summary: str = Field(min_length=10, max_length=SUMMARY_LIMIT)
    body: str = Field(default="", max_length=BODY_LIMIT)
    sources: tuple[Source, ...] = ()
    links: tuple[Link, ...] = ()
    origin: str = Field(default="", exclude=True, description="The file it came from.")
    own_sources: tuple[Source, ...] | None = Field(
        default=None, exclude=True, description="Before a country pack's were added."
    )
    own_links: tuple[Link, ...] | None = Field(default=None, exclude=True)

    def for_audience(self, audience: Audience) -> bool:
        return Audience.EVERYONE in self.audience or audience in self.audience


class GuidanceError(ValueError):
    """Guidance files that cannot be used; the message names each file and field."""


def _front_matter(text: str, origin: str) -> tuple[dict[str, Any], str]:
    """A guidance file's TOML front matter and the text after it, or
    GuidanceError naming the file."""
    if not text.startswith("+++"):
        raise GuidanceError(f"{origin}: must start with a '+++' line (front matter).")
    parts = text.split("+++", 2)
    if len(parts) < 3:
        raise GuidanceError(f"{origin}: the front matter has no closing '+++' line.")
    try:
        return tomllib.loads(parts[1]), parts[2]
    except tomllib.TOMLDecodeError as exc:
        raise GuidanceError(f"{origin}: the front matter is not valid TOML ({exc}).") from None


def _invalid(exc: ValidationError, origin: str, what: str) -> GuidanceError:
    """A validation error as the file's author reads it: each field and what is wrong."""
    problems = []
    for error in exc.errors():
        where = ".".join(str(p) for p in error["loc"]) or "(file)"
        message = error["msg"].removeprefix("Value error, ")
        if error["type"] == "extra_forbidden":
            message = f"is not a field {what} have (typo?)"
        elif error["type"] == "missing":
            message = "is missing"
        problems.append(f"{origin}: {where} {message}")
    return GuidanceError("\n".join(problems))


def parse_item(text: str, origin: str) -> GuidanceItem:
    """One guidance file -> an item, or GuidanceError naming the file and field."""
    fields, body = _front_matter(text, origin)
    for key in ("origin", "own_sources", "own_links"):
        fields.pop(key, None)
    try:
        return GuidanceItem.model_validate({**fields, "body": body.strip(), "origin": origin})
    except ValidationError as exc:
        raise _invalid(exc, origin, "guidance items") from None


class PackFact(BaseModel):
    """One fact of a country pack: what items say, and who says so."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    text: str = Field(min_length=1, max_length=900)
    sources: tuple[Source, ...] = Field(min_length=1)
    links: tuple[Link, ...] = ()


class CountryPack(BaseModel):
    """What guidance says that differs by country (see the module docstring)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    country: str = Field(pattern=r"^[A-Z]{2}$")
    name: str = Field(default="", max_length=60)
    facts: dict[str, PackFact] = Field(default_factory=dict)
    origin: str = Field(default="", exclude=True)

    @field_validator("facts", mode="before")
    @classmethod
    def _known_facts(cls, facts: object) -> object:
        unknown = sorted(set(facts) - set(PACK_FACTS)) if isinstance(facts, dict) else []
        if unknown:
            raise ValueError(
                f"{', '.join(unknown)} is not a fact country packs have (typo?); "
                f"they are: {', '.join(PACK_FACTS)}"
            )
        return facts

    def over(self, base: CountryPack) -> CountryPack:
        """This pack laid over `base`: its facts replace base's, the rest stay."""
        return base.model_copy(
            update={
                "name": self.name or base.name,
                "facts": {**base.facts, **self.facts},
                "origin": f"{base.origin} + {self.origin}",
            }
        )


def parse_pack(text: str, origin: str) -> CountryPack:
    """One country-<code>.md file -> a pack, or GuidanceError naming the file and field."""
    fields, _ = _front_matter(text, origin)
    head = {k: fields.pop(k) for k in ("country", "name") if k in fields}
    if isinstance(head.get("country"), str):
        head["country"] = head["country"].upper()
    try:
        pack = CountryPack.model_validate({**head, "facts": fields, "origin": origin})
    except ValidationError as exc:
        raise _invalid(exc, origin, "country packs") from None
    expected = origin.removeprefix(PACK_PREFIX).removesuffix(".md").upper()
    if pack_code(expected) != pack.country:
        raise GuidanceError(
            f"{origin}: says country = {pack.country!r}; name the file "
            f"{PACK_PREFIX}{pack.country.lower()}.md"
        )
    return pack


def load_packs(directory: Path) -> dict[str, CountryPack]:
    """The country packs in a directory, by country code."""
    packs: dict[str, CountryPack] = {}
    problems: list[str] = []
    for path in sorted(directory.glob(f"{PACK_PREFIX}*.md")):
        try:
            pack = parse_pack(path.read_text(encoding="utf-8"), path.name)
        except GuidanceError as exc:
            problems.append(str(exc))
            continue
        if pack.country in packs:
            problems.append(f"{path.name}: {pack.country} already has a pack in this directory")
            continue
        packs[pack.country] = pack
    if problems:
        raise GuidanceError("Country packs have problems:\n" + "\n".join(problems))
    return packs


@functools.cache
def _builtin_packs() -> dict[str, CountryPack]:
    return load_packs(BUILTIN_DIR)


def builtin_packs() -> dict[str, CountryPack]:
    """The packs that ship with Harbour (flows/guidance/country-*.md)."""
    return dict(_builtin_packs())


def all_packs(overrides: Path | None = None) -> dict[str, CountryPack]:
    """Built-in packs with the organisation's (HARBOUR_GUIDANCE_DIR) laid over them."""
    packs = builtin_packs()
    if overrides is not None and overrides.is_dir():
        for code, pack in load_packs(overrides).items():
            packs[code] = pack.over(packs[code]) if code in packs else pack
    return packs


def country_pack(country: str, overrides: Path | None = None) -> CountryPack | None:
    """The pack HARBOUR_COUNTRY reads, or None: a country Harbour has no guidance for."""
    return all_packs(overrides).get(pack_code(country))


def pack_emergency(pack: CountryPack | None) -> str:
    fact = pack.facts.get("emergency_numbers") if pack else None
    return fact.text if fact else ""


def load_dir(directory: Path) -> list[GuidanceItem]:
    items: list[GuidanceItem] = []
    problems: list[str] = []
    seen: dict[str, str] = {}
    for path in sorted(directory.glob("*.md")):
        if path.name.startswith(PACK_PREFIX):
            continue  # a country pack (load_packs)
        try:
            item = parse_item(path.read_text(encoding="utf-8"), path.name)
        except GuidanceError as exc:
            problems.append(str(exc))
            continue
        if item.id in seen:
            problems.append(f"{path.name}: id {item.id!r} is already used by {seen[item.id]}")
            continue
        seen[item.id] = path.name
        items.append(item)
    if problems:
        raise GuidanceError("Guidance files have problems:\n" + "\n".join(problems))
    return items


class Library:
    """All guidance in force: built-in items, with the organisation's on top,
    filled from the organisation's facts and its country's pack."""

    def __init__(
        self,
        items: Iterable[GuidanceItem],
        facts: Mapping[str, str] | None = None,
        packs: Mapping[str, CountryPack] | None = None,
    ):
        self.facts = dict(facts or {})
        packs = builtin_packs() if packs is None else packs
        self.pack: CountryPack | None = packs.get(pack_code(self.facts.get("country", "")))
        self.items: dict[str, GuidanceItem] = {i.id: self._sourced(i) for i in items}

    @classmethod
    def load(
        cls,
        overrides: Path | None = None,
        facts: Mapping[str, str] | None = None,
        builtin: Path = BUILTIN_DIR,
    ) -> Library:
        items = {i.id: i for i in load_dir(builtin)}
        packs = builtin_packs() if builtin == BUILTIN_DIR else load_packs(builtin)
        if overrides is not None:
            if not overrides.is_dir():
                raise GuidanceError(f"HARBOUR_GUIDANCE_DIR: {overrides} is not a directory.")
            for item in load_dir(overrides):
                items[item.id] = item  # add, or replace the built-in one
            for code, pack in load_packs(overrides).items():
                packs[code] = pack.over(packs[code]) if code in packs else pack
        return cls(items.values(), facts, packs)

    # ------------------------------------------------------------ the facts

    @property
    def emergency(self) -> str:
        """The emergency numbers: the organisation's, else its country's, else 112."""
        return (
            self.facts.get("emergency_numbers") or pack_emergency(self.pack) or (EMERGENCY_FALLBACK)
        )

    @property
    def police_route(self) -> str:
        """How to reach the police when it isn't an emergency, as an instruction."""
        if self.facts.get("police_non_emergency"):
            return f"call the police on {self.facts['police_non_emergency']}"
        return self._pack_text("police_route") or PACK_FALLBACKS["police_route"]

    @property
    def support_line(self) -> str:
        """Someone to talk to, as a sentence: the employee assistance programme
        when its number is set, else the emergency number and a 24-hour line."""
        if self.facts.get("eap_phone"):
            return (
                "Your employee assistance programme is free and confidential, and you "
                f"don't need anyone's permission to call: {self.facts['eap_phone']}."
            )
        return crisis_sentence(self.pack, self.emergency)

    def _pack_text(self, name: str) -> str:
        fact = self.pack.facts.get(name) if self.pack else None
        return fact.text if fact else ""

    def fact(self, name: str) -> str:
        """What a {{name}} placeholder says (before any placeholders inside it are filled)."""
        if name == "emergency_numbers":
            return self.emergency
        if name == "police_route":
            return self.police_route
        if name == "support_line":
            return self.support_line
        if name == "eap_phone":  # the older placeholder: the number, or a 24-hour line
            return self.facts.get("eap_phone") or self.support_line
        if self.facts.get(name):
            return self.facts[name]
        if name in PACK_FACTS:
            return self._pack_text(name) or PACK_FALLBACKS.get(name, "")
        return UNSET.get(name, UNSET_OTHER)

    def _pack_facts_quoted(self, name: str) -> list[PackFact]:
        """The pack facts a placeholder's words come from (their sources go with them)."""
        if self.pack is None:
            return []
        names: list[str] = []
        quotes_emergency = name in ("emergency_numbers", "support_line", "eap_phone")
        if quotes_emergency and self.emergency == pack_emergency(self.pack):
            names.append("emergency_numbers")
        if name in ("support_line", "eap_phone") and not self.facts.get("eap_phone"):
            names.append("crisis_line")
        if name == "police_route" and not self.facts.get("police_non_emergency"):
            names.append("police_route")
        if name in PACK_FACTS and name not in DERIVED and not self.facts.get(name):
            names.append(name)
        return [self.pack.facts[n] for n in names if n in self.pack.facts]

    def _sourced(self, item: GuidanceItem) -> GuidanceItem:
        """The item with the sources and links of the pack facts it quotes."""
        own_sources = item.own_sources if item.own_sources is not None else item.sources
        own_links = item.own_links if item.own_links is not None else item.links
        sources, links = list(own_sources), list(own_links)
        for name in PLACEHOLDER.findall(f"{item.title} {item.summary} {item.body}"):
            for fact in self._pack_facts_quoted(name):
                sources += [s for s in fact.sources if s not in sources]
                links += [link for link in fact.links if link not in links]
        return item.model_copy(
            update={
                "sources": tuple(sources),
                "links": tuple(links),
                "own_sources": own_sources,
                "own_links": own_links,
            }
        )

    def missing_facts(self) -> list[str]:
        """The organisation's own facts (settings) that some item quotes and that
        are not set yet; a country fact is never missing (it has a fallback)."""
        used = {
            name
            for item in self.items.values()
            for text in (item.summary, item.body)
            for name in PLACEHOLDER.findall(text)
        }
        wanted = {dep for name in used for dep in DERIVED.get(name, (name,))}
        wanted -= set(PACK_FACTS) - set(DERIVED)
        return sorted(name for name in wanted if not self.facts.get(name))

    def fill(self, text: str) -> str:
        """Text with every {{name}} filled; a country fact may itself quote the
        organisation's facts ({{organisation}}), filled in turn."""
        once = PLACEHOLDER.sub(lambda match: self.fact(match[1]), text)
        return PLACEHOLDER.sub(lambda match: self.fact(match[1]), once)

    def get(self, item_id: str) -> GuidanceItem | None:
        return self.items.get(item_id.strip().lower())

    def for_incident(
        self,
        audience: Audience,
        *,
        kinds: Iterable[AbuseKind] = (),
        risk: RiskLevel | None = None,
        platforms: Iterable[str] = (),
    ) -> list[GuidanceItem]:
        """Every item that applies, most relevant first.

        An item that names kinds (or risks) applies only when one matches; a
        match on what happened counts most, then on how serious it is, then on
        where it happened; priority breaks ties.
        """
        kinds, platforms = set(kinds), set(platforms)
        ranked = []
        for item in self.items.values():
            if not item.for_audience(audience):
                continue
            if item.kinds and not kinds & set(item.kinds):
                continue
            if item.risks and risk not in item.risks:
                continue
            if item.platforms and not platforms & set(item.platforms):
                continue
            score = 4 * bool(item.kinds) + 2 * bool(item.risks) + 3 * bool(item.platforms)
            if audience is not Audience.WORKER and audience in item.audience:
                score += 5  # written for managers and leads, not passed on from workers
            ranked.append((score, item.priority, item))
        ranked.sort(key=lambda r: (-r[0], -r[1], r[2].id))
        return [item for _, _, item in ranked]

    def search(self, words: str, audience: Audience | None = None) -> list[GuidanceItem]:
        """Items whose topics, title or text mention the words, best match first."""
        terms = [w for w in re.findall(r"[a-z0-9]+", words.lower()) if len(w) > 1]
        if not terms:
            return []
        scored = []
        for item in self.items.values():
            if audience is not None and not item.for_audience(audience):
                continue
            topics = " ".join(item.topics).lower()
            title = item.title.lower()
            text = f"{item.summary} {item.body}".lower()
            score = sum(5 * (t in topics) + 3 * (t in title) + (t in text) for t in terms)
            if score:
                scored.append((score, item.priority, item))
        scored.sort(key=lambda r: (-r[0], -r[1], r[2].id))
        return [item for _, _, item in scored]

    def topics(self) -> list[str]:
        return sorted({t for item in self.items.values() for t in item.topics})
