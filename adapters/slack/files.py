"""Files a worker shares in her DM with Harbour, fetched from Slack so the core
can check them and keep them as evidence (`bot.evidence.commands.files_shared`).

A `file_share` message names each file's private address
(`url_private_download`), which Slack serves to the bot token's holder when the
app has the `files:read` scope. The bytes are fetched after the ack, in her
turn, and never more than the core could keep plus one byte (so the core says
"too large" without Harbour holding more). Whatever goes wrong (Slack says no,
the address is not Slack's, a timeout), the file is handed on without bytes:
the core then keeps its pointer and tells her kindly. Nothing here logs a
file's name, address or bytes: error types and HTTP statuses only.
"""

from __future__ import annotations

import logging
from dataclasses import replace

import aiohttp
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from adapters.downloads import read_capped, token_may_go
from adapters.slack.translate import FileSource

log = logging.getLogger(__name__)

FETCH_TIMEOUT = aiohttp.ClientTimeout(total=60, sock_connect=10, sock_read=20)
"""A screenshot of a few MB comes in seconds; a stalled download must not hold
her conversation (her next steps wait behind it) for long."""
SLACK_FILE_DOMAINS = ("slack.com", "slack-gov.com")
"""Where Slack serves files (files.slack.com, and GovSlack's): the only hosts
the bot token is sent to, besides the Web API's own (`api_url`)."""


def may_send_token(url: str, api_url: str) -> bool:
    """Whether `url` is Slack's (its Web API's host, or where it serves files),
    so the bot token may go with a request to it. A file added from another
    service (`is_external`) has that service's address: the token must never
    reach it."""
    return token_may_go(url, api_url, SLACK_FILE_DOMAINS)


async def described(client: AsyncWebClient, source: FileSource) -> FileSource:
    """A file whose event left its address out (`check_file_info`), with the
    address `files.info` gives; as it was if Slack won't say."""
    if not source.file_id:
        return source
    try:
        answer = await client.files_info(file=source.file_id)
    except SlackApiError as exc:
        log.warning("Slack did not describe a shared file: %s", exc.response.get("error"))
        return source
    except Exception as exc:
        log.warning("asking Slack about a shared file failed with %s", type(exc).__name__)
        return source
    file = answer.get("file") or {}
    return replace(
        source,
        download_url=file.get("url_private_download") or file.get("url_private") or None,
        details_withheld=False,
    )


async def fetch(
    session: aiohttp.ClientSession | None,
    source: FileSource,
    *,
    token: str | None,
    api_url: str,
    max_bytes: int,
    media_type: str | None = None,
) -> bytes | None:
    """The file's bytes, at most `max_bytes + 1` of them (more than that is
    refused by the core on its size alone); None if they could not be had.
    `session`: the adapter's shared one (a new one is opened if it has none)."""
    url = source.download_url
    if not url or not token:
        return None
    if not may_send_token(url, api_url):
        log.info("a shared file is kept elsewhere than Slack: it is noted, not fetched")
        return None
    if session is None:
        async with aiohttp.ClientSession() as own:
            return await fetch(
                own,
                source,
                token=token,
                api_url=api_url,
                max_bytes=max_bytes,
                media_type=media_type,
            )
    try:
        async with session.get(
            url, headers={"Authorization": f"Bearer {token}"}, timeout=FETCH_TIMEOUT
        ) as response:
            if response.status != 200:
                log.warning("Slack did not give a shared file: HTTP %s", response.status)
                return None
            if response.content_type == "text/html" and media_type != "text/html":
                # Slack's sign-in page, not the file: the token may not read files.
                log.warning(
                    "Slack answered a shared file's download with a web page, not the file: "
                    "the Slack app needs the files:read scope (add it and reinstall the app)"
                )
                return None
            return await read_capped(response, max_bytes)
    except (TimeoutError, aiohttp.ClientError) as exc:
        # The exception's text names the address: its type only.
        log.warning("fetching a shared file from Slack failed with %s", type(exc).__name__)
        return None
