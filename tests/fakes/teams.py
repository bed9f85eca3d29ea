"""A local fake of the Bot Connector service (aiohttp, random port) that records
what the bot sends, and builders for real-shaped Teams activities."""

from __future__ import annotations

import itertools
import json
from dataclasses import dataclass
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
        # Files put to an upload session (`upload_info`): by its id, the bytes and
        # the request's Content-Range; `upload_failures` answers the next puts so.
        self.uploads: dict[str, dict[str, Any]] = {}
        self.upload_failures: list[int] = []
        # Files shared with the bot (`share`), by their path here, and each
        # request for one: its path and the Authorization header it carried.
        self.files: dict[str, ServedFile] = {}
        self.file_requests: list[dict[str, str | None]] = []
        app = web.Application()
        app.router.add_put("/upload/{upload_id}", self._upload)
        app.router.add_get("/files/{file_id}", self._file)
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
        if request.method == "POST" and request.path.endswith("/v3/conversations"):
            return web.json_response(self._create(self.requests[-1]))
        return web.json_response({"id": f"activity-{next(self._ids)}"})

    def _create(self, record: dict[str, Any]) -> dict[str, str]:
        """POST /v3/conversations, answered as Teams does. With
        `channelData.channel.id` (and `isGroup`): a new post in that channel,
        whose thread is `<channel id>;messageid=<the post's id>`. With one member:
        that person's 1:1 chat with the bot (the same one as in `activity()`)."""
        body = record["body"] or {}
        channel = ((body.get("channelData") or {}).get("channel") or {}).get("id")
        if channel:
            post = f"activity-{next(self._ids)}"
            record["created"] = f"{channel};messageid={post}"
            return {"id": record["created"], "activityId": post}
        [member] = body.get("members") or [{}]
        record["created"] = f"a:{str(member.get('id', '')).removeprefix('29:')}-personal"
        answer = {"id": record["created"]}
        if body.get("activity"):
            answer["activityId"] = f"activity-{next(self._ids)}"
        return answer

    def upload_info(self, name: str, upload_id: str = "up-1") -> dict[str, str]:
        """The `uploadInfo` Teams sends when a file consent card is accepted: an
        upload session here (standing in for her OneDrive) and where the file will be."""
        return {
            "name": name,
            "uploadUrl": str(self.server.make_url(f"/upload/{upload_id}")),
            "contentUrl": f"https://contoso-my.sharepoint.example/personal/{upload_id}/{name}",
            "uniqueId": f"unique-{upload_id}",
            "fileType": name.rpartition(".")[2],
        }

    async def _upload(self, request: web.Request) -> web.Response:
        upload_id = request.match_info["upload_id"]
        body = await request.read()
        if self.upload_failures:
            return web.json_response({"error": "busy"}, status=self.upload_failures.pop(0))
        self.uploads[upload_id] = {
            "content": body,
            "range": request.headers.get("Content-Range"),
            "length": request.headers.get("Content-Length"),
        }
        return web.json_response({"id": upload_id, "size": len(body)}, status=201)

    def share(
        self,
        file_id: str,
        content: bytes,
        *,
        status: int = 200,
        token: str | None = None,
        declare_size: bool = True,
        media_type: str = "application/octet-stream",
        host: str = "127.0.0.1",
    ) -> str:
        """Serve `content` at a URL here, standing in for the pre-authorised
        downloadUrl of a file in her OneDrive (no token) or, with `token`, a
        picture pasted into the chat, which Teams serves to the bot's token
        only (401 without it). `status` answers instead of the file (a 404, a
        500); without `declare_size` it is sent chunked, with no Content-Length."""
        self.files[file_id] = ServedFile(content, status, token, declare_size, media_type)
        url = self.server.make_url(f"/files/{file_id}")
        return str(url.with_host(host))

    async def _file(self, request: web.Request) -> web.StreamResponse:
        file_id = request.match_info["file_id"]
        auth = request.headers.get("Authorization")
        self.file_requests.append({"path": request.path, "auth": auth})
        served = self.files.get(file_id)
        if served is None:
            return web.json_response({"error": "itemNotFound"}, status=404)
        if served.token is not None and auth != f"Bearer {served.token}":
            return web.json_response({"error": "Unauthorized"}, status=401)
        if served.status != 200:
            return web.json_response({"error": "failed"}, status=served.status)
        if served.declare_size:
            return web.Response(body=served.content, content_type=served.media_type)
        response = web.StreamResponse(headers={"Content-Type": served.media_type})
        response.enable_chunked_encoding()
        await response.prepare(request)
        for start in range(0, len(served.content), 256 * 1024):
            await response.write(served.content[start : start + 256 * 1024])
        await response.write_eof()
        return response

    # ---------------------------------------------------------------- reading the record

    def created(self, channel: str | None = None) -> list[dict[str, Any]]:
        """Conversations the bot created (POST /v3/conversations), optionally only
        new posts in one channel: the request bodies, each with the id it was given
        under "created"."""
        return [
            {**r["body"], "created": r.get("created")}
            for r in self.requests
            if r["method"] == "POST"
            and r["path"].endswith("/v3/conversations")
            and r["body"]
            and (channel is None or str(r.get("created", "")).split(";")[0] == channel)
        ]

    def sent(self, conversation: str | None = None) -> list[dict[str, Any]]:
        """Activities the bot posted (successful or not), optionally to one conversation.
        A new post in a channel (the first activity of a conversation the bot
        created there) counts as posted to that channel."""
        return [
            r["body"]
            for r in self.requests
            if r["method"] == "POST"
            and r["body"]
            and (conversation is None or f"/conversations/{conversation}/" in r["path"] + "/")
        ] + [c["activity"] for c in self.created(conversation) if c.get("activity")]

    def attachments(self, conversation: str, content_type: str) -> list[dict[str, Any]]:
        """Attachments of one type the bot sent to a conversation, in order."""
        return [
            a
            for body in self.sent(conversation)
            for a in body.get("attachments") or []
            if a.get("contentType") == content_type
        ]

    def cards(self, conversation: str | None = None) -> list[dict[str, Any]]:
        return [
            a["content"]
            for body in self.sent(conversation)
            for a in body.get("attachments") or []
            if a.get("contentType") == "application/vnd.microsoft.card.adaptive"
        ]


@dataclass(frozen=True)
class ServedFile:
    content: bytes
    status: int
    token: str | None
    declare_size: bool
    media_type: str


def file_attachment(name: str, download_url: str) -> dict[str, Any]:
    """A file shared in the personal chat, as Teams sends it: its place in her
    OneDrive (contentUrl) and a pre-authorised downloadUrl."""
    return {
        "contentType": "application/vnd.microsoft.teams.file.download.info",
        "contentUrl": f"https://contoso-my.sharepoint.example/personal/alice/Documents/{name}",
        "name": name,
        "content": {
            "downloadUrl": download_url,
            "uniqueId": "1150d938-8870-4044-9f2c-5bbdebc7b5f9",
            "fileType": name.rpartition(".")[2],
        },
    }


def pasted_picture(content_url: str, media_type: str = "image/*") -> list[dict[str, Any]]:
    """A picture pasted into the chat, as Teams sends it: the picture (served
    to the bot's token) and the message's HTML showing it."""
    return [
        {"contentType": media_type, "contentUrl": content_url},
        {"contentType": "text/html", "content": f'<div><img src="{content_url}"></div>'},
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


def mention(user: str) -> dict[str, Any]:
    """The `entities` entry Teams sends for `<at>Name</at>` in a message's text."""
    who = account(user)
    return {"type": "mention", "mentioned": who, "text": f"<at>{who['name']}</at>"}


def file_consent(
    service_url: str,
    user: str,
    action: str,
    context: dict[str, Any],
    upload_info: dict[str, str] | None = None,
    **fields: Any,
) -> dict[str, Any]:
    """A press on a file consent card: a `fileConsent/invoke` carrying the card's
    accept or decline context, and on accept where to upload the file."""
    value: dict[str, Any] = {"type": "fileUpload", "action": action, "context": context}
    if upload_info is not None:
        value["uploadInfo"] = upload_info
    return activity(
        service_url, user, kind="invoke", name="fileConsent/invoke", value=value, **fields
    )
