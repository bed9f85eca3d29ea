"""Files a worker shares in her personal chat with Harbour, fetched from Teams
so the core can check them and keep them as evidence
(`bot.evidence.commands.files_shared`).

Teams sends a file as a `file.download.info` attachment whose `downloadUrl` is
pre-authorised (a bearer link: no token goes with it), and a picture pasted
into the chat as an `image/*` attachment whose `contentUrl` Teams serves only
to the bot's own token. The bytes are fetched in her turn (which Teams shows
as Harbour typing), never more than the core could keep plus one byte, and not
at all when the server declares more than that. Whatever goes wrong (a 404, a
timeout, no token in the local trial), the file goes on as it came, a pointer,
which the core notes and says so. Nothing here logs a file's name, address or
bytes: error types and HTTP statuses only.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field

import aiohttp

from adapters.downloads import read_capped, token_may_go
from adapters.teams.translate import FileSource
from bot.evidence import intake
from bot.evidence.intake import EVIDENCE_MAX_BYTES
from bot.models import Notice, NoticeLevel, SharedFile

log = logging.getLogger(__name__)

FETCH_TIMEOUT = aiohttp.ClientTimeout(total=10, sock_connect=5, sock_read=5)
"""Teams waits about 15 s for a turn's answer: a stalled download must give
way well before that (she is then told the file was noted, not kept)."""
TEAMS_HOSTS = ("botframework.com", "trafficmanager.net", "asm.skype.com", "teams.microsoft.com")
"""Where Teams serves a pasted picture to the bot (besides the turn's own
serviceUrl host): the only hosts the bot's token is ever sent to."""

TokenSource = Callable[[], Awaitable[str]]
"""The bot's token for the Bot Connector ("" when there is none: the local trial)."""


@dataclass(frozen=True)
class TooLarge:
    """The server declared more bytes than the core could keep: none were read."""


@dataclass
class Fetched:
    """A message's shared files, each with its bytes where they could be had,
    and what the adapter itself has to say (a file too large to fetch)."""

    files: list[SharedFile] = field(default_factory=list)
    said: list[Notice] = field(default_factory=list)


def too_large(name: str, max_bytes: int = EVIDENCE_MAX_BYTES) -> Notice:
    """Teams declared the file larger than the core keeps: the core's own words
    for that (`bot.evidence.intake.too_large`), without fetching it to learn so."""
    return Notice(level=NoticeLevel.WARNING, text=intake.too_large(name, max_bytes).message)


def may_send_token(url: str, service_url: str | None) -> bool:
    """Whether the bot's token may go with a request to `url`: Teams' own
    hosts only (the turn's serviceUrl host, or where Teams keeps pasted pictures)."""
    return token_may_go(url, service_url, TEAMS_HOSTS)


async def fetch(
    session: aiohttp.ClientSession,
    url: str,
    *,
    token: str = "",
    max_bytes: int = EVIDENCE_MAX_BYTES,
) -> tuple[bytes, str | None] | TooLarge | None:
    """The bytes at `url` (at most `max_bytes + 1`: more is refused by the core
    on its size alone) and the media type the server gave; TooLarge when the
    server declared more than that; None when they could not be had."""
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    try:
        async with session.get(url, headers=headers, timeout=FETCH_TIMEOUT) as response:
            if response.status != 200:
                log.warning("Teams did not give a shared file: HTTP %s", response.status)
                return None
            if response.content_type == "text/html":
                # A sign-in or error page (an expired link), not the file: HTML is
                # never a kind the core keeps, so nothing is lost by not reading it.
                log.warning("Teams answered a shared file's download with a web page")
                return None
            if response.content_length is not None and response.content_length > max_bytes:
                return TooLarge()
            content = await read_capped(response, max_bytes)
            media_type = response.content_type
            return content, media_type if 0 < len(media_type) <= 100 else None
    except (TimeoutError, aiohttp.ClientError, ValueError) as exc:
        # The exception's text names the address (a bearer link): its type only.
        log.warning("fetching a shared file from Teams failed with %s", type(exc).__name__)
        return None


async def fetch_all(
    sources: Sequence[FileSource],
    *,
    may_fetch: Callable[[str], bool],
    token: TokenSource,
    service_url: str | None,
    max_bytes: int = EVIDENCE_MAX_BYTES,
) -> Fetched:
    """Each shared file with its bytes, fetched side by side, in the order given.
    A file whose bytes could not be had stays a pointer; one declared too large
    is refused here (the adapter says so) and not handed on."""
    wanted = [
        s.download_url if s.download_url and may_fetch(s.download_url) else None for s in sources
    ]
    if not any(wanted):
        return Fetched(files=[s.pointer for s in sources])
    bearer = ""
    if any(
        url and s.with_token and may_send_token(url, service_url)
        for s, url in zip(sources, wanted, strict=True)
    ):
        try:
            bearer = await token()
        except Exception as exc:  # no token: a pasted picture is then noted, not kept
            log.warning(
                "getting the bot's token for a pasted picture failed with %s", type(exc).__name__
            )

    async def one(
        source: FileSource, url: str | None
    ) -> tuple[bytes, str | None] | TooLarge | None:
        if url is None:
            return None
        use = bearer if source.with_token and may_send_token(url, service_url) else ""
        return await fetch(session, url, token=use, max_bytes=max_bytes)

    async with aiohttp.ClientSession() as session:
        results = await asyncio.gather(*(one(s, u) for s, u in zip(sources, wanted, strict=True)))
    fetched = Fetched()
    for source, result in zip(sources, results, strict=True):
        if isinstance(result, TooLarge):
            fetched.said.append(too_large(source.pointer.name, max_bytes))
        elif result is None:
            fetched.files.append(source.pointer)
        else:
            content, media_type = result
            fetched.files.append(
                source.pointer.model_copy(update={"content": content, "media_type": media_type})
            )
    return fetched
