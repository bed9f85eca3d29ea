"""A local fake of the Slack Web API (aiohttp on a random port) that records every call,
and helpers that sign requests the way Slack does."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import itertools
import json
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qsl, quote, urlencode

from aiohttp import web
from aiohttp.test_utils import TestServer

SIGNING_SECRET = "8f742231b10e8888abcd99yyyzzz85a5"
TEAM = "T0HARBOUR"


class FakeSlack:
    def __init__(self) -> None:
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self.failures: dict[str, list[tuple[int, dict[str, str]]]] = {}
        self.clock: Callable[[], float] = time.time  # where a post's ts comes from
        self.history_page = 200  # most messages one conversations.history page holds
        self.history: dict[str, list[dict[str, Any]]] = {}  # by channel, oldest first
        self._last_ts = 0.0
        self.socket_acks: list[dict[str, Any]] = []
        self.reject_inputs = False  # answer invalid_blocks to input blocks in messages
        # users.info: each person's profile fields by user id (e.g. display_name,
        # real_name; unset ones are empty, as for someone who never filled them in)
        self.profiles: dict[str, dict[str, Any]] = {}
        self.users_info_error = ""  # users.info answers this error, e.g. "missing_scope"
        self.users_info_gate: asyncio.Event | None = None  # users.info waits for it to be set
        self._sockets: list[web.WebSocketResponse] = []
        # Uploads (files_upload_v2): the bytes posted to each upload URL, by file
        # id, and the files completed into a conversation, in order.
        self.uploaded: dict[str, bytes] = {}
        self.files: list[dict[str, Any]] = []
        self.errors: dict[str, str] = {}  # a method answers {"ok": false, "error": ...}
        self._file_ids = itertools.count(1)
        # Add to Slack: the codes Slack would give an installer who approved
        # (each accepted once by oauth.v2.access), and every bot token issued,
        # with the workspace it belongs to (auth.test answers by token).
        self.codes: dict[str, str] = {}  # code -> workspace, or org (E...) installing org-wide
        # Enterprise Grid: the workspaces an org administrator added the org-wide
        # install to, by org (auth.teams.list answers them to the org's token).
        self.org_teams: dict[str, list[str]] = {}
        self.tokens: dict[str, str] = {}  # bot token -> workspace
        self.revoked: set[str] = set()  # tokens no longer accepted (uninstalled)
        self.tokens_used: list[tuple[str, str]] = []  # (method, token) of every call
        self.client_id = ""
        self.client_secret = ""
        # Files people shared in a DM (`share`): described as a file_share event
        # describes them, their bytes served at `url_private_download` only to a
        # token that may read files (else Slack's sign-in page, as Slack does).
        self.shared: dict[str, dict[str, Any]] = {}  # file id -> the file as Slack describes it
        self._shared_bytes: dict[str, bytes] = {}
        self.file_readers = {"xoxb-test"}  # tokens with files:read (and every token issued)
        self.download_status: dict[str, int] = {}  # file id -> HTTP status to answer instead
        self.downloads: list[tuple[str, str]] = []  # (file id, Authorization header)
        app = web.Application()
        app.router.add_post("/api/{method}", self._handle)
        app.router.add_post("/upload/{file_id}", self._upload)
        app.router.add_get("/api/{method}", self._handle)  # conversations.history is a GET
        app.router.add_get("/link", self._socket_mode)
        app.router.add_post("/respond/{id}", self._respond)
        app.router.add_get("/files-pri/{team_file}/download/{name}", self._download)
        self.server = TestServer(app, host="127.0.0.1")

    async def start(self) -> str:
        await self.server.start_server()
        return str(self.server.make_url("/api/"))

    async def close(self) -> None:
        await self.server.close()

    def fail(self, method: str, status: int, headers: dict[str, str] | None = None) -> None:
        """Make the next call to `method` fail with this HTTP status."""
        self.failures.setdefault(method, []).append((status, headers or {}))

    async def _handle(self, request: web.Request) -> web.Response:
        method = request.match_info["method"]
        raw = await request.text()
        params: dict[str, Any] = dict(request.query)  # slack_sdk sends some as query params
        if request.content_type == "application/json":
            params.update(json.loads(raw or "{}"))
        else:
            params.update(parse_qsl(raw))
            for key in ("blocks", "view", "metadata"):
                if isinstance(params.get(key), str):
                    params[key] = json.loads(params[key])
        if method == "chat.postMessage":
            params["_ts"] = self._next_ts()  # the ts this post is given
        bearer = request.headers.get("Authorization", "").removeprefix("Bearer ")
        token = str(params.get("token") or bearer)
        self.calls.append((method, params))
        self.tokens_used.append((method, token))
        if token in self.revoked:
            return web.json_response({"ok": False, "error": "token_revoked"})
        if method == "oauth.v2.access":
            return web.json_response(self._oauth_access(params, request.headers))
        if (
            self.reject_inputs
            and method == "chat.postMessage"
            and any(b.get("type") == "input" for b in params.get("blocks") or [])
        ):
            return web.json_response({"ok": False, "error": "invalid_blocks"})
        if method == "users.info" and self.users_info_gate is not None:
            await self.users_info_gate.wait()
        if method in self.errors:
            return web.json_response({"ok": False, "error": self.errors[method]})
        if self.failures.get(method):
            status, headers = self.failures[method].pop(0)
            return web.json_response(
                {"ok": False, "error": "ratelimited"}, status=status, headers=headers
            )
        if method == "auth.teams.list":
            org = self.tokens.get(token, "")
            if org not in self.org_teams:
                return web.json_response({"ok": False, "error": "not_allowed_token_type"})
            teams = [{"id": team, "name": team} for team in self.org_teams[org]]
            return web.json_response(
                {"ok": True, "teams": teams, "response_metadata": {"next_cursor": ""}}
            )
        if method == "auth.test" and token in self.tokens:
            team = self.tokens[token]
            return web.json_response(
                {"ok": True, "user_id": f"UBOT{team}", "bot_id": f"B{team}", "team_id": team}
            )
        if method == "auth.test":
            return web.json_response(
                {
                    "ok": True,
                    "user_id": "UBOT",
                    "bot_id": "BBOT",
                    "team_id": TEAM,
                    "user": "harbour",
                }
            )
        if method == "apps.connections.open":
            return web.json_response(
                {"ok": True, "url": str(self.server.make_url("/link")).replace("http", "ws", 1)}
            )
        if method == "conversations.open":
            return web.json_response({"ok": True, "channel": {"id": "D" + params["users"]}})
        if method == "chat.postMessage":
            self._keep(params)
        if method == "chat.update":
            self._edit(params)
        if method in ("chat.postMessage", "chat.update"):
            ts = params.get("_ts") or params.get("ts")
            return web.json_response({"ok": True, "channel": params.get("channel"), "ts": ts})
        if method == "conversations.history":
            return web.json_response(self._history(params))
        if method == "users.info":
            return web.json_response(self._user(str(params.get("user") or "")))
        if method == "files.getUploadURLExternal":
            file_id = f"F{next(self._file_ids):08d}"
            url = str(self.server.make_url(f"/upload/{file_id}"))
            return web.json_response({"ok": True, "upload_url": url, "file_id": file_id})
        if method == "files.completeUploadExternal":
            return web.json_response(self._complete(params))
        if method == "files.info":
            found = self.shared.get(str(params.get("file")))
            return web.json_response(
                {"ok": True, "file": found} if found else {"ok": False, "error": "file_not_found"}
            )
        return web.json_response({"ok": True})

    def approve(self, workspace: str) -> str:
        """An installer in `workspace` pressed Allow: the code Slack sends back.
        An org id (E...) installs org-wide, for the workspaces in `org_teams`."""
        code = f"code-{workspace}-{next(self._file_ids)}"
        self.codes[code] = workspace
        return code

    def _oauth_access(self, params: dict[str, Any], headers: Any) -> dict[str, Any]:
        """oauth.v2.access: a code for a bot token, once; the app's client id and
        secret checked (sent as HTTP Basic auth, or as parameters)."""
        basic = headers.get("Authorization", "")
        given = (params.get("client_id"), params.get("client_secret"))
        if basic.startswith("Basic "):
            user, _, password = base64.b64decode(basic[6:]).decode().partition(":")
            given = (user, password)
        if given != (self.client_id, self.client_secret):
            return {"ok": False, "error": "invalid_client_id"}
        workspace = self.codes.pop(str(params.get("code")), None)
        if workspace is None:
            return {"ok": False, "error": "invalid_code"}
        token = f"xoxb-{workspace}-{next(self._file_ids)}"
        self.tokens[token] = workspace
        if workspace.startswith("E"):  # org-wide: Slack names the org and no workspace
            return {
                "ok": True,
                "app_id": "A0HARBOUR",
                "authed_user": {"id": f"WADMIN{workspace}"},
                "scope": "chat:write,commands,im:history,im:write,users:read",
                "token_type": "bot",
                "access_token": token,
                "bot_user_id": f"UBOT{workspace}",
                "team": None,
                "enterprise": {"id": workspace, "name": "Agencies"},
                "is_enterprise_install": True,
            }
        return {
            "ok": True,
            "app_id": "A0HARBOUR",
            "authed_user": {"id": f"UADMIN{workspace}"},
            "scope": "chat:write,commands,im:history,im:write,users:read",
            "token_type": "bot",
            "access_token": token,
            "bot_user_id": f"UBOT{workspace}",
            "team": {"id": workspace, "name": "Agency"},
            "enterprise": None,
            "is_enterprise_install": False,
        }

    def share(
        self, name: str, content: bytes, mimetype: str, *, size: int | None = None
    ) -> dict[str, Any]:
        """A file someone shared: the `files` entry of her file_share message.
        `size` is what Slack declares (the bytes' length unless given)."""
        file_id = f"F{next(self._file_ids):08d}"
        private = f"/files-pri/{TEAM}-{file_id}/download/{quote(name)}"
        described = {
            "id": file_id,
            "name": name,
            "title": name,
            "mimetype": mimetype,
            "filetype": name.rpartition(".")[2],
            "size": len(content) if size is None else size,
            "mode": "hosted",
            "is_external": False,
            "url_private": str(self.server.make_url(private.replace("/download", ""))),
            "url_private_download": str(self.server.make_url(private)),
            "permalink": f"https://agency.slack.com/files/U0ALICE/{file_id}/{quote(name)}",
        }
        self.shared[file_id] = described
        self._shared_bytes[file_id] = content
        return described

    async def _download(self, request: web.Request) -> web.Response:
        """A shared file's bytes, to a bearer token that may read files. Slack
        answers any other with its sign-in page (HTTP 200, HTML)."""
        file_id = request.match_info["team_file"].rpartition("-")[2]
        auth = request.headers.get("Authorization", "")
        self.downloads.append((file_id, auth))
        token = auth.removeprefix("Bearer ")
        if token not in self.file_readers | set(self.tokens) or token in self.revoked:
            return web.Response(
                text="<html><body>Sign in to Slack</body></html>", content_type="text/html"
            )
        if file_id in self.download_status:
            return web.Response(status=self.download_status[file_id], text="not here")
        content = self._shared_bytes.get(file_id)
        if content is None:
            return web.Response(status=404, text="file_not_found")
        return web.Response(body=content, content_type=self.shared[file_id]["mimetype"])

    def tokens_of(self, workspace: str) -> set[str]:
        return {t for t, w in self.tokens.items() if w == workspace}

    async def _upload(self, request: web.Request) -> web.Response:
        """Step 2 of files_upload_v2: the file's bytes, posted to the URL step 1 gave."""
        file_id = request.match_info["file_id"]
        self.uploaded[file_id] = await request.read()
        self.calls.append(("upload", {"file_id": file_id}))
        return web.Response(text=f"OK - {len(self.uploaded[file_id])}")

    def _complete(self, params: dict[str, Any]) -> dict[str, Any]:
        """Step 3: the uploaded files shared into a conversation, as Slack answers
        (the files, each as uploaded; refused if a file was never uploaded)."""
        listed = params.get("files")
        files = json.loads(listed) if isinstance(listed, str) else listed or []
        if any(f.get("id") not in self.uploaded for f in files):
            return {"ok": False, "error": "file_not_found"}
        for f in files:
            self.files.append(
                {
                    "id": f["id"],
                    "title": f.get("title"),
                    "channel": params.get("channel_id"),
                    "initial_comment": params.get("initial_comment"),
                    "content": self.uploaded[f["id"]],
                }
            )
        return {"ok": True, "files": [{"id": f["id"], "title": f.get("title")} for f in files]}

    def _user(self, user: str) -> dict[str, Any]:
        """users.info: the user, with the profile set in `profiles`; or the
        error set in `users_info_error` (missing_scope, as Slack says it)."""
        if self.users_info_error:
            answer: dict[str, Any] = {"ok": False, "error": self.users_info_error}
            if self.users_info_error == "missing_scope":
                answer |= {"needed": "users:read", "provided": "chat:write,commands"}
            return answer
        profile = {"display_name": "", "real_name": "", **self.profiles.get(user, {})}
        return {
            "ok": True,
            "user": {
                "id": user,
                "team_id": TEAM,
                "name": user.lower(),
                "real_name": profile["real_name"],
                "is_bot": False,
                "profile": profile,
            },
        }

    def response_url(self, name: str = "1") -> str:
        """A command's response URL that answers here (`responses` records it)."""
        return str(self.server.make_url(f"/respond/{name}"))

    async def _respond(self, request: web.Request) -> web.Response:
        """A post to a response URL (an ephemeral answer to a slash command)."""
        self.calls.append(("response_url", {**await request.json(), "_to": request.path}))
        return web.Response(text="ok")

    def _next_ts(self) -> str:
        """A ts as Slack gives one: the time of posting, in seconds with 6 decimals,
        unique and increasing."""
        self._last_ts = max(round(self.clock(), 6), round(self._last_ts + 0.000001, 6))
        return f"{self._last_ts:.6f}"

    def _keep(self, params: dict[str, Any]) -> None:
        message = {
            "type": "message",
            "ts": params["_ts"],
            "bot_id": "BBOT",
            "app_id": "A0HARBOUR",
            "text": params.get("text", ""),
            "blocks": params.get("blocks") or [],
        }
        if params.get("metadata"):
            message["metadata"] = params["metadata"]
        self.history.setdefault(str(params.get("channel")), []).append(message)

    def _edit(self, params: dict[str, Any]) -> None:
        for message in self.history.get(str(params.get("channel")), []):
            if message["ts"] == params.get("ts"):
                for key in ("text", "blocks", "metadata"):
                    if key in params:
                        message[key] = params[key]

    def _history(self, params: dict[str, Any]) -> dict[str, Any]:
        """conversations.history: newest first, after `oldest` (exclusive), a page at
        a time; metadata only when asked for with include_all_metadata."""
        oldest = float(params.get("oldest") or 0)
        found = [
            m
            for m in reversed(self.history.get(str(params.get("channel")), []))
            if float(m["ts"]) > oldest
        ]
        start = int(params.get("cursor") or 0)
        size = min(int(params.get("limit") or 100), self.history_page)
        page = found[start : start + size]
        with_metadata = str(params.get("include_all_metadata")).lower() in ("1", "true")
        messages = [{k: v for k, v in m.items() if with_metadata or k != "metadata"} for m in page]
        more = start + size < len(found)
        return {
            "ok": True,
            "messages": messages,
            "has_more": more,
            "response_metadata": {"next_cursor": str(start + size) if more else ""},
        }

    async def _socket_mode(self, request: web.Request) -> web.WebSocketResponse:
        """A Socket Mode link: says hello, then records the app's acknowledgements."""
        socket = web.WebSocketResponse()
        await socket.prepare(request)
        self._sockets.append(socket)
        await socket.send_json({"type": "hello", "num_connections": 1})
        async for message in socket:
            if message.type == web.WSMsgType.TEXT:
                self.socket_acks.append(json.loads(message.data))
        return socket

    async def push(self, envelope: dict[str, Any]) -> None:
        """Send an envelope to the connected app, as Slack does in Socket Mode."""
        for socket in self._sockets:
            if not socket.closed:
                await socket.send_json(envelope)
                return
        raise AssertionError("no Socket Mode connection is open")

    # ---------------------------------------------------------------- reading the record

    def called(self, method: str) -> list[dict[str, Any]]:
        return [params for name, params in self.calls if name == method]

    def posts(self, channel: str | None = None) -> list[dict[str, Any]]:
        return [p for p in self.called("chat.postMessage") if channel in (None, p.get("channel"))]

    def last_post(self) -> dict[str, Any]:
        return self.posts()[-1]

    def files_in(self, channel: str) -> list[dict[str, Any]]:
        """The files completed into a conversation (id, title, comment, content)."""
        return [f for f in self.files if f["channel"] == channel]

    def responses(self) -> list[dict[str, Any]]:
        """What was posted to response URLs (only their poster sees these)."""
        return self.called("response_url")


def signed_headers(
    body: str, *, secret: str = SIGNING_SECRET, at: int | None = None, content_type: str
) -> dict[str, str]:
    ts = str(int(time.time()) if at is None else at)
    digest = hmac.new(secret.encode(), f"v0:{ts}:{body}".encode(), hashlib.sha256).hexdigest()
    return {
        "X-Slack-Request-Timestamp": ts,
        "X-Slack-Signature": f"v0={digest}",
        "Content-Type": content_type,
    }


def command_body(
    user: str,
    text: str = "",
    *,
    channel: str = "C0GENERAL",
    trigger: str | None = None,
    response_url: str = "https://hooks.slack.invalid/commands/1",
    channel_name: str | None = None,
) -> str:
    if channel_name is None:
        channel_name = "directmessage" if channel.startswith("D") else "general"
    return urlencode(
        {
            "token": "unused",
            "team_id": TEAM,
            "team_domain": "agency",
            "channel_id": channel,
            "channel_name": channel_name,
            "user_id": user,
            "user_name": user.lower(),
            "command": "/report-abuse",
            "text": text,
            "api_app_id": "A0HARBOUR",
            "response_url": response_url,
            "trigger_id": trigger or f"trigger-{time.monotonic_ns()}",
        }
    )


def interaction_body(payload: dict[str, Any]) -> str:
    return urlencode({"payload": json.dumps(payload)})


def block_actions(
    user: str,
    action: dict[str, Any],
    *,
    message: dict[str, Any],
    channel: str,
    state: dict[str, Any] | None = None,
) -> dict[str, Any]:
    return {
        "type": "block_actions",
        "user": {"id": user, "username": user.lower(), "team_id": TEAM},
        "api_app_id": "A0HARBOUR",
        "team": {"id": TEAM, "domain": "agency"},
        "container": {
            "type": "message",
            "message_ts": message["ts"],
            "channel_id": channel,
            "is_ephemeral": False,
        },
        "channel": {"id": channel, "name": "directmessage"},
        "message": {
            "type": "message",
            "ts": message["ts"],
            "blocks": message["blocks"],
            "text": "",
        },
        "state": {"values": state or {}},
        "trigger_id": f"trigger-{time.monotonic_ns()}",
        "response_url": "https://hooks.slack.invalid/actions/1",
        "actions": [{**action, "action_ts": f"{time.time():.6f}"}],
    }


def event_body(event: dict[str, Any], *, event_id: str) -> str:
    return json.dumps(
        {
            "token": "unused",
            "team_id": TEAM,
            "api_app_id": "A0HARBOUR",
            "event": event,
            "type": "event_callback",
            "event_id": event_id,
            "event_time": int(time.time()),
        }
    )
