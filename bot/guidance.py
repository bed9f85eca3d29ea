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
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Iterable, Mapping
from enum import StrEnum
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from bot.reports import AbuseKind, RiskLevel

BUILTIN_DIR = Path(__file__).resolve().parent.parent / "flows" / "guidance"
SUMMARY_LIMIT = 300
BODY_LIMIT = 2_500
PLACEHOLDER = re.compile(r"\{\{\s*([a-z_]+)\s*\}\}")


SAMARITANS = (
    "any time, day or night, you can call Samaritans free on 116 123 ({source}); HR or "
    "your manager can give you the programme's own number"
)
SUPPORT_LINES = {
    "IE": SAMARITANS.format(source="Samaritans Ireland, samaritans.org"),
    "GB": SAMARITANS.format(source="Samaritans, samaritans.org"),
}
"""A free line that answers at any hour, by country (HARBOUR_COUNTRY), said in
place of the employee assistance number while the organisation has not set
it: a worker reading guidance at night can't ask HR. Samaritans run 116 123,
free, 24 hours a day, in Ireland and the UK (source: Samaritans, samaritans.org)."""
SUPPORT_LINE_ELSEWHERE = (
    "if anyone is in danger, call the emergency services on {emergency}; for someone to "
    "talk to at any hour, look up a crisis line in your country; HR or your manager can "
    "give you the programme's own number"
)

UNSET = {
    "police_non_emergency": "their non-emergency number",
    "internal_reporting": "your manager or a safety lead",
    "policy_url": "your manager can point you to it",
    "legal_contact": "your manager can put you in touch",
    "eap_phone": SUPPORT_LINE_ELSEWHERE.format(emergency="your local emergency number"),
}
"""What the guidance says in place of an organisation detail not set yet (the
administrator is warned at start). Each reads as part of the sentences the
built-in items put it in: "contact the police on …", "tell …", "the social
media policy (…)", "the legal team (…)", "the programme is free: …". The
employee assistance number is replaced by a 24/7 line for the country
(`support_line`)."""
UNSET_OTHER = "ask your manager"


def support_line(country: str, emergency: str = "") -> str:
    """What guidance says in place of an unset employee assistance number."""
    line = SUPPORT_LINES.get(country.strip().upper())
    if line is not None:
        return line
    return SUPPORT_LINE_ELSEWHERE.format(emergency=emergency or "your local emergency number")


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

    def for_audience(self, audience: Audience) -> bool:
        return Audience.EVERYONE in self.audience or audience in self.audience


class GuidanceError(ValueError):
    """Guidance files that cannot be used; the message names each file and field."""


def parse_item(text: str, origin: str) -> GuidanceItem:
    """One guidance file -> an item, or GuidanceError naming the file and field."""
    if not text.startswith("+++"):
        raise GuidanceError(f"{origin}: must start with a '+++' line (front matter).")
    parts = text.split("+++", 2)
    if len(parts) < 3:
        raise GuidanceError(f"{origin}: the front matter has no closing '+++' line.")
    try:
        fields = tomllib.loads(parts[1])
    except tomllib.TOMLDecodeError as exc:
        raise GuidanceError(f"{origin}: the front matter is not valid TOML ({exc}).") from None
    try:
        return GuidanceItem.model_validate({**fields, "body": parts[2].strip(), "origin": origin})
    except ValidationError as exc:
        problems = []
        for error in exc.errors():
            where = ".".join(str(p) for p in error["loc"]) or "(file)"
            message = error["msg"].removeprefix("Value error, ")
            if error["type"] == "extra_forbidden":
                message = "is not a field guidance items have (typo?)"
            elif error["type"] == "missing":
                message = "is missing"
            problems.append(f"{origin}: {where} {message}")
        raise GuidanceError("\n".join(problems)) from None


def load_dir(directory: Path) -> list[GuidanceItem]:
    items: list[GuidanceItem] = []
    problems: list[str] = []
    seen: dict[str, str] = {}
    for path in sorted(directory.glob("*.md")):
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
    """All guidance in force: built-in items, with the organisation's on top."""

    def __init__(self, items: Iterable[GuidanceItem], facts: Mapping[str, str] | None = None):
        self.items: dict[str, GuidanceItem] = {i.id: i for i in items}
        self.facts = dict(facts or {})

    @classmethod
    def load(
        cls,
        overrides: Path | None = None,
        facts: Mapping[str, str] | None = None,
        builtin: Path = BUILTIN_DIR,
    ) -> Library:
        items = {i.id: i for i in load_dir(builtin)}
        if overrides is not None:
            if not overrides.is_dir():
                raise GuidanceError(f"HARBOUR_GUIDANCE_DIR: {overrides} is not a directory.")
            for item in load_dir(overrides):
                items[item.id] = item  # add, or replace the built-in one
        return cls(items.values(), facts)

    def missing_facts(self) -> list[str]:
        """Placeholders used by some item that the organisation has not filled in."""
        used = {
            name
            for item in self.items.values()
            for text in (item.summary, item.body)
            for name in PLACEHOLDER.findall(text)
        }
        return sorted(name for name in used if not self.facts.get(name))

    def fill(self, text: str) -> str:
        def value(match: re.Match[str]) -> str:
            if self.facts.get(match[1]):
                return self.facts[match[1]]
            if match[1] == "eap_phone":
                facts = self.facts
                return support_line(facts.get("country", ""), facts.get("emergency_numbers", ""))
            return UNSET.get(match[1], UNSET_OTHER)

        return PLACEHOLDER.sub(value, text)

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
