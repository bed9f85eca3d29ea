"""The organisation's public pages: its privacy policy, terms of use and
support page, served by `harbour serve` at /privacy, /terms and /support (the
addresses `harbour teams-package` and the Slack listing ask for), filled in
from its settings. The templates are the HTML files beside this module; have
them reviewed by your data protection officer before publishing them."""

from __future__ import annotations

import html
import logging
import string
from collections.abc import Awaitable, Callable
from pathlib import Path

from aiohttp import web

from bot.config import Settings

log = logging.getLogger(__name__)

DOCUMENTS = ("privacy", "terms", "support")
"""Served at /privacy, /terms and /support. They need no login: the Teams Store
and Slack check that."""
DOCUMENTS_DIR = Path(__file__).resolve().parent
REQUIRED_DETAILS = ("contact_email", "postal_address")
"""Without these a page would publish a policy nobody can be contacted about."""
PAGE_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'",
    "X-Content-Type-Options": "nosniff",
    "Cache-Control": "public, max-age=300",
}


def _kept(days: int | None) -> str:
    return "without a time limit" if days is None else f"{days} days"


def organisation_details(settings: Settings) -> dict[str, str]:
    """What the pages' placeholders are filled with."""
    contact = settings.contact_email
    return {
        "organisation": settings.organisation,
        "country": settings.country.upper(),
        "emergency_numbers": settings.emergency,
        "contact_email": contact,
        "postal_address": settings.postal_address,
        "privacy_contact": settings.privacy_contact or contact,
        "hosting": settings.hosting or "where it is hosted is available from the contact below",
        "keep_drafts": _kept(settings.keep_drafts_days),
        "keep_closed_cases": _kept(settings.keep_closed_cases_days),
        "keep_deliveries": _kept(settings.keep_deliveries_days),
        "keep_names": _kept(settings.keep_names_days),
        "keep_audit": _kept(settings.keep_audit_days),
    }


def render_document(name: str, details: dict[str, str], source: Path = DOCUMENTS_DIR) -> str:
    """One page, every placeholder filled (HTML-escaped). A placeholder with no
    detail raises KeyError: a page is never served half-filled."""
    template = string.Template((source / f"{name}.html").read_text(encoding="utf-8"))
    return template.substitute({k: html.escape(v) for k, v in details.items()})


def _document(
    name: str, details: dict[str, str], source: Path
) -> Callable[[web.Request], Awaitable[web.Response]]:
    missing = [d for d in REQUIRED_DETAILS if not details.get(d)]
    page = None if missing else render_document(name, details, source)

    async def serve(_: web.Request) -> web.Response:
        if page is None:
            text = (
                f"{details['organisation']} has not published its Harbour {name} page yet. "
                "Please ask your administrator."
            )
            return web.Response(text=text, status=503, headers=PAGE_HEADERS)
        return web.Response(text=page, content_type="text/html", headers=PAGE_HEADERS)

    return serve


def attach_documents(
    web_app: web.Application, details: dict[str, str], source: Path = DOCUMENTS_DIR
) -> None:
    """Serve the organisation's filled-in pages; say once at start what is missing."""
    if not (source / "privacy.html").exists():
        log.warning(
            "documents: no templates in %s, so /privacy, /terms and /support are off", source
        )
        return
    missing = [d for d in REQUIRED_DETAILS if not details.get(d)]
    if missing:
        # Only an organisation that lists Harbour needs these pages: not a warning.
        log.info(
            "documents: /privacy, /terms and /support answer 503 until these are set: %s",
            ", ".join(f"HARBOUR_{d.upper()}" for d in missing),
        )
    for name in DOCUMENTS:
        web_app.router.add_get(f"/{name}", _document(name, details, source))
