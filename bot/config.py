"""Configuration: environment variables (and an optional .env file), checked at start.

Every Harbour setting is `HARBOUR_<NAME>`; a bad value stops the bot at start
with a message naming the variable, never half-way through someone's report.
"""

from __future__ import annotations

import logging
from datetime import timedelta
from pathlib import Path
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import AliasChoices, Field, ValidationError, ValidationInfo, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from bot.alerts.followups import EscalationTimes, public_holidays
from bot.directory import PERSON_ID
from bot.figures.compute import COUNT_ONLY_ME, MIN_TEAM_SIZE, SMALL_CELL, Policy
from bot.flow import FlowContext
from bot.guidance import (
    EMERGENCY_FALLBACK,
    PACK_PREFIX,
    CountryPack,
    GuidanceError,
    Library,
    builtin_packs,
    country_pack,
    pack_code,
    pack_emergency,
)
from bot.privacy.retention import FOREVER, RULES, Category, Retention, parse_days

EMERGENCY_NUMBERS = {code: pack_emergency(pack) for code, pack in builtin_packs().items()}
"""Emergency numbers by country, from the built-in country packs
(flows/guidance/country-*.md, each with its sources); a country without a pack
gets 112 (EMERGENCY_FALLBACK) and a warning at start."""

log = logging.getLogger("harbour")


class ConfigError(ValueError):
    """Settings that cannot work; the message names each bad variable."""


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="HARBOUR_", env_file=".env", env_file_encoding="utf-8", extra="ignore"
    )

    data_dir: Path = Field(
        default=Path("harbour-data"),
        description="Where the embedded store keeps its files (created if missing).",
    )
    database_url: str = Field(
        default="",
        repr=False,  # it may carry a password
        description="postgresql://user:password@host/db: use PostgreSQL instead of the "
        "embedded store.",
    )
    key: str = Field(
        default="",
        repr=False,  # the key itself
        description="The key ring as Harbour writes it (JSON), from a secret manager: "
        "instead of HARBOUR_KEY_FILE.",
    )
    key_file: Path | None = Field(
        default=None,
        description="The key that seals what people wrote: outside the data directory, "
        "backed up apart from it (default: beside it, HARBOUR_DATA_DIR plus '.key'). "
        "Made once on a fresh install.",
    )
    store: Literal["tinydb", "memory"] = Field(
        default="tinydb", description="'memory' keeps nothing after the process stops."
    )
    organisation: str = Field(default="your organisation", min_length=1, max_length=100)
    # The organisation's details on its public pages (/privacy, /terms, /support: bot/pages).
    contact_email: str = Field(default="", max_length=200)
    postal_address: str = Field(default="", max_length=300)
    privacy_contact: str = Field(default="", max_length=300)
    """Who to ask about personal data (empty: the contact email)."""
    hosting: str = Field(default="", max_length=300)
    """Where Harbour runs, in words (e.g. "in Ireland, on the agency's own servers")."""
    country: str = Field(
        default="IE",
        pattern=r"^[A-Za-z]{2}$",
        description="ISO country code: sets the country pack guidance reads (emergency "
        "numbers, police route, 24-hour line, law, regulator) and the public holidays "
        "that are not working days (default Ireland).",
    )
    timezone: str = Field(
        default="Europe/Dublin",
        description="The organisation's IANA time zone: where working days begin and "
        "which times people are shown.",
    )
    emergency_numbers: str = Field(
        default="",
        max_length=200,
        description="What to call in an emergency, if not the country's usual numbers.",
    )
    guidance_dir: Path | None = Field(
        default=None,
        description="The organisation's own guidance files: they add items or replace "
        "built-in ones by id.",
    )
    # The organisation's own facts, quoted in guidance. While empty, guidance
    # tells people to ask their manager, and Harbour warns at start.
    policy_url: str = Field(default="", max_length=500)
    internal_reporting: str = Field(default="", max_length=500)
    eap_phone: str = Field(default="", max_length=100)
    legal_contact: str = Field(default="", max_length=300)
    police_non_emergency: str = Field(default="", max_length=100)
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    log_format: Literal["text", "json"] = Field(
        default="text",
        description="'json': one JSON object per line (time, level, logger, message), "
        "for log collectors.",
    )
    port: int = Field(
        default=3978,
        ge=1,
        le=65535,
        validation_alias=AliasChoices("PORT", "HARBOUR_PORT"),
        description="Where `harbour serve` listens (Slack and Teams share it).",
    )
    host: str = Field(default="0.0.0.0", description="The address `harbour serve` binds.")
    recover_after_seconds: int = Field(
        default=60,
        ge=1,
        le=3600,
        description="How long a message Harbour acknowledged may wait unhandled before "
        "another process takes it over (one was killed between the two).",
    )
    failover_seconds: int = Field(
        default=120,
        ge=30,  # well above a delivery pass (5 s) and one batch's sends
        le=3600,
        description="With several instances on one database: how soon the alerts an "
        "instance that stopped answering had taken are delivered by another.",
    )
    escalate_critical_minutes: int = Field(default=30, ge=1)
    escalate_high_minutes: int = Field(default=240, ge=1)
    escalate_other_minutes: int = Field(
        default=0, ge=0, description="0: one working day after the alert."
    )
    directory: Path | None = Field(
        default=None, description="The team directory file (TOML): who manages whom, leads."
    )
    # Retention (`bot.privacy.retention`): whole days, checked at start against
    # each category's floor; "forever" only where a legal hold may need it.
    keep_drafts_days: int = Field(
        default=RULES[Category.DRAFTS].default_days,
        description="Days an abandoned draft (a saved conversation nobody touched) is kept.",
    )
    keep_closed_cases_days: int | None = Field(
        default=RULES[Category.CLOSED_CASES].default_days,
        description=f"Days a closed case is kept after closing, then reduced to anonymous "
        f"counts; {FOREVER!r} keeps closed cases without limit (a legal hold).",
    )
    keep_deliveries_days: int = Field(
        default=RULES[Category.DELIVERIES].default_days,
        description="Days delivery and outbox records are kept after delivery.",
    )
    keep_names_days: int = Field(
        default=RULES[Category.NAMES].default_days,
        description="Days a display name is kept after Harbour last saw the person.",
    )
    keep_audit_days: int | None = Field(
        default=RULES[Category.AUDIT].default_days,
        description=f"Days store-wide audit entries are kept; {FOREVER!r}: without limit.",
    )
    figures_small_cell: int = Field(
        default=SMALL_CELL,
        ge=3,
        le=100,
        description="Counts under this are shown as '<N' in figures (and more are hidden so "
        "none can be worked out).",
    )
    figures_min_team_size: int = Field(
        default=MIN_TEAM_SIZE,
        ge=5,
        le=100_000,
        description="Figures for one team only for a team at least this size.",
    )
    figures_count_only_me: bool = Field(
        default=COUNT_ONLY_ME,
        description="Count reports a worker kept as her own record in the figures.",
    )
    admins: str = Field(
        default="",
        description="Comma-separated Harbour ids of administrators (platform:workspace:user, "
        "e.g. slack:T0123:U0ADMIN; say whoami to Harbour to see yours).",
    )

    @property
    def admin_ids(self) -> frozenset[str]:
        return frozenset(a.strip() for a in self.admins.split(",") if a.strip())

    @field_validator("admins")
    @classmethod
    def _full_ids(cls, value: str) -> str:
        # A bare user id would make the same id an administrator in every Slack
        # workspace, every Teams tenant and the console.
        for admin in (a.strip() for a in value.split(",")):
            if admin and not PERSON_ID.match(admin):
                raise ValueError(
                    f"{admin!r} is not a full Harbour id. Name each administrator as "
                    "platform:workspace:user, e.g. slack:T0123:U0ADMIN or "
                    "teams:<tenant id>:<Entra object id> (they can say whoami to Harbour "
                    "to see theirs)"
                )
        return value

    @field_validator(*(f"keep_{c.value}_days" for c in Category), mode="before")
    @classmethod
    def _days(cls, value: object, info: ValidationInfo) -> int | None:
        category = Category(str(info.field_name).removeprefix("keep_").removesuffix("_days"))
        return parse_days(category, value)

    def figures_policy(self) -> Policy:
        """What the figures may count and show (`bot.figures`)."""
        return Policy(
            small_cell=self.figures_small_cell,
            min_team_size=self.figures_min_team_size,
            count_only_me=self.figures_count_only_me,
        )

    def retention(self) -> Retention:
        """How long each category of data is kept (`bot.privacy.retention`)."""
        return Retention.from_days({c: getattr(self, f"keep_{c.value}_days") for c in Category})

    @field_validator("country")
    @classmethod
    def _has_holidays(cls, value: str) -> str:
        public_holidays(value, 2026)  # any year: a ValueError if there is no calendar
        return value

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(
                f"{value!r} is not a time zone Harbour knows. Set HARBOUR_TIMEZONE to an "
                "IANA name such as Europe/Dublin or Europe/London"
            ) from None
        return value

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @field_validator("log_level", mode="before")
    @classmethod
    def _upper(cls, value: object) -> object:
        return value.upper() if isinstance(value, str) else value

    def country_pack(self) -> CountryPack | None:
        """The country pack guidance reads: built-in, with the organisation's own
        country file laid over it; None for a country Harbour has no pack for."""
        try:
            return country_pack(self.country, self.guidance_dir)
        except GuidanceError:  # reported, naming the file, when guidance is loaded
            return builtin_packs().get(pack_code(self.country))

    @property
    def emergency(self) -> str:
        return self.emergency_numbers or pack_emergency(self.country_pack()) or EMERGENCY_FALLBACK

    def country_warning(self) -> str | None:
        """What the administrator is told at start when HARBOUR_COUNTRY has no
        country pack: what people will be told instead, and how to fix it."""
        if self.country_pack() is not None:
            return None
        code = pack_code(self.country)
        emergency = (
            f"{self.emergency_numbers} (HARBOUR_EMERGENCY_NUMBERS)"
            if self.emergency_numbers
            else f"{EMERGENCY_FALLBACK}, which may not be the right number there: set "
            "HARBOUR_EMERGENCY_NUMBERS"
        )
        return (
            f"HARBOUR_COUNTRY={self.country}: Harbour has no guidance for this country. In an "
            f"emergency people are told to call {emergency}. Guidance names no police "
            "number, 24-hour line, law or regulator there: set HARBOUR_POLICE_NON_EMERGENCY "
            "and HARBOUR_EAP_PHONE for the numbers, and add "
            f"{PACK_PREFIX}{code.lower()}.md to HARBOUR_GUIDANCE_DIR for the rest (the "
            f"built-in {PACK_PREFIX}ie.md shows the format)."
        )

    def facts(self) -> dict[str, str]:
        """What guidance placeholders ({{name}}) are filled with."""
        return {
            "organisation": self.organisation,
            "country": self.country.upper(),
            "emergency_numbers": self.emergency,
            "policy_url": self.policy_url,
            "internal_reporting": self.internal_reporting,
            "eap_phone": self.eap_phone,
            "legal_contact": self.legal_contact,
            "police_non_emergency": self.police_non_emergency,
        }

    def key_path(self) -> Path:
        """Where the key file is: as set, else beside the data directory."""
        return self.key_file or self.data_dir.with_name(f"{self.data_dir.name}.key")

    def escalation(self) -> EscalationTimes:
        return EscalationTimes(
            critical=timedelta(minutes=self.escalate_critical_minutes),
            high=timedelta(minutes=self.escalate_high_minutes),
            other=timedelta(minutes=self.escalate_other_minutes)
            if self.escalate_other_minutes
            else None,
            tz=self.tz,
            country=self.country,
        )

    def guidance(self) -> Library:
        """Built-in guidance with the organisation's files and facts; raises
        GuidanceError naming each bad file and field. Warns once per call when the
        country has no pack (it is called at start)."""
        library = Library.load(self.guidance_dir, self.facts())
        warning = self.country_warning()
        if warning:
            log.warning(warning)
        return library

    def flow_context(self) -> FlowContext:
        return FlowContext(
            organisation=self.organisation,
            timezone=self.timezone,
            emergency_guidance=(
                f"If you or anyone else is in danger now, call the emergency services on "
                f"{self.emergency}. Get yourself and others somewhere safe first; "
                "the report can wait."
            ),
        )


def load_settings(**overrides: object) -> Settings:
    """Read the settings, turning validation errors into one readable message."""
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        problems = []
        for error in exc.errors():
            field = "_".join(str(p) for p in error["loc"]).upper()
            name = field if field == "PORT" else "HARBOUR_" + field
            problems.append(f"  {name}: {error['msg']}")
        raise ConfigError("Harbour's settings are not valid:\n" + "\n".join(problems)) from None
