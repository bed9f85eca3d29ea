"""What both platforms' file downloads share (a file a worker shares as
evidence: `adapters/slack/files.py`, `adapters/teams/files.py`): when the bot's
token may go with a request, and reading no more than Harbour keeps."""

from __future__ import annotations

from collections.abc import Iterable

import aiohttp
from yarl import URL

CHUNK = 64 * 1024


def token_may_go(url: str, own: str | None, domains: Iterable[str]) -> bool:
    """Whether `url` is the platform's: the same scheme, host and port as
    `own` (its API or service address), or https under one of `domains`.
    Anything else (a file kept in another service) never gets the token."""
    try:
        target, home = URL(url), URL(own or "")
    except ValueError:
        return False
    if not target.is_absolute() or not target.host:
        return False
    if home.is_absolute() and (target.scheme, target.host, target.port) == (
        home.scheme,
        home.host,
        home.port,
    ):
        return True
    host = target.host.casefold()
    return target.scheme == "https" and any(
        host == domain or host.endswith("." + domain) for domain in domains
    )


async def read_capped(response: aiohttp.ClientResponse, max_bytes: int) -> bytes:
    """The body, but at most `max_bytes + 1` bytes: one more than Harbour keeps
    is enough for the core to refuse it on its size, and no more is held."""
    content = bytearray()
    while len(content) <= max_bytes:
        chunk = await response.content.read(min(CHUNK, max_bytes + 1 - len(content)))
        if not chunk:
            break
        content += chunk
    return bytes(content)
