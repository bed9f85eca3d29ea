"""A local fake of the Bot Connector service (aiohttp, random port) that records
what the bot sends, and builders for real-shaped Teams activities."""

from __future__ import annotations

import itertools
import json
from typing import Any

from aiohttp import web
from aiohttp.test_utils import TestServer

TENANT = "tenant-0001"
BOT = "28:harbour-bot"


class FakeConnector:
    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        self.failures: list[tuple[int, dict[str, str]]] = []
        self._ids = itertools.count(1)
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self.server = TestServer(app, host="127.0.0.1")

    async def start(self) -> str:
        await self.server.start_server()
        return str(self.server.make_url("/teams/"))

    async def close(self) -> None:
        await self.server.close()

    def fail(self, status: int, headers: dict[str, str] | None = None) -> None:
        self.failures.append((status, headers or {}))

    async def _handle(self, request: web.Request) -> web.Response:
        raw = await request.text()
        self.requests.append(
            {
                "method": request.method,
                "path": request.path,
                "auth": request.headers.get("Authorization"),
                "body": json.loads(raw) if raw else None,
            }
        )
        if self.failures:
            status, headers = self.failures.pop(0)
            return web.json_response(
                {"error": {"code": "Throttled"}}, status=status, headers=headers
            )
        if request.method == "PUT":
            return web.json_response({"id": request.path.rsplit("/", 1)[-1]})
        return web.json_response({"id": f"activity-{next(self._ids)}"})

    # ---------------------------------------------------------------- reading the record

    def sent(self, conversation: str | None = None) -> list[dict[str, Any]]:
        """Activities the bot posted (successful or not), optionally to one conversation."""
        return [
            r["body"]
            for r in self.requests
            if r["method"] == "POST"
            and r["body"]
            and (conversation is None or f"/conversations/{conversation}/" in r["path"] + "/")
        ]

    def cards(self, conversation: str | None = None) -> list[dict[str, Any]]:
        return [
            a["content"]
            for body in self.sent(conversation)
            for a in body.get("attachments") or []
            if a.get("contentType") == "application/vnd.microsoft.card.adaptive"
        ]


def account(user: str) -> dict[str, str]:
    return {"id": f"29:{user}", "name": user.title(), "aadObjectId": f"aad-{user}"}


def activity(
    service_url: str,
    user: str = "alice",
    *,
    kind: str = "message",
    conversation: str | None = None,
    conversation_type: str = "personal",
    activity_id: str | None = None,
    **fields: Any,
) -> dict[str, Any]:
    conv_id = conversation or f"a:{user}-personal"
    body: dict[str, Any] = {
        "type": kind,
        "id": activity_id or f"{kind}-{next(_activity_ids)}",
        "timestamp": "2026-11-24T23:00:00.000Z",
        "serviceUrl": service_url,
        "channelId": "msteams",
        "from": account(user),
        "conversation": {"id": conv_id, "conversationType": conversation_type, "tenantId": TENANT},
        "recipient": {"id": BOT, "name": "Harbour"},
        "channelData": {"tenant": {"id": TENANT}},
        "locale": "en-IE",
    }
    body.update(fields)
    return body


_activity_ids = itertools.count(1)


def execute(service_url: str, user: str, data: dict[str, Any], **fields: Any) -> dict[str, Any]:
    """An Action.Execute press: an `adaptiveCard/action` invoke, inputs merged into data."""
    return activity(
        service_url,
        user,
        kind="invoke",
        name="adaptiveCard/action",
        value={
            "action": {"type": "Action.Execute", "verb": "hb", "data": data},
            "trigger": "manual",
        },
        **fields,
    )
