"""`harbour serve` as a real process: starts on PORT, answers /healthz, stops cleanly,
and serves Teams' /api/messages only when Teams is configured."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import aiohttp

from tests.fakes.teams import FakeConnector, activity

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def serve_env(tmp_path: Path, **settings: str) -> dict[str, str]:
    """The test's environment without any Harbour, Slack or Teams setting (so
    HARBOUR_ADMINS is unset too), plus `settings`."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("HARBOUR_", "SLACK_", "CONNECTIONS__"))
    }
    # Run in tmp_path, so a developer's .env in the repository is not read.
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    env.update({"HARBOUR_HOST": "127.0.0.1", "HARBOUR_DATA_DIR": str(tmp_path / "data")})
    env.update(settings)
    return env


@dataclass
class Served:
    url: str
    log: str = ""
    code: int | None = None


@contextlib.asynccontextmanager
async def serving(tmp_path: Path, **settings: str) -> AsyncIterator[Served]:
    """`harbour serve` on a free port, once /healthz answers; stopped with SIGTERM
    on the way out, its exit code and log (stderr) then in the Served."""
    port = free_port()
    env = serve_env(tmp_path, PORT=str(port), **settings)
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot", "serve", cwd=tmp_path, env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    served = Served(url=f"http://127.0.0.1:{port}")
    try:
        async with aiohttp.ClientSession() as session:
            for _ in range(200):
                try:
                    async with session.get(f"{served.url}/healthz") as response:
                        assert response.status == 200
                        assert (await response.json())["status"] == "ok"
                        break
                except aiohttp.ClientConnectionError:
                    await asyncio.sleep(0.05)
            else:
                raise AssertionError("harbour serve never answered")
        yield served
    finally:
        if proc.returncode is None:
            proc.send_signal(signal.SIGTERM)
        served.code = await asyncio.wait_for(proc.wait(), timeout=20)
        assert proc.stderr is not None
        served.log = (await proc.stderr.read()).decode()


async def test_serve_starts_answers_and_stops_on_sigterm(tmp_path: Path) -> None:
    async with serving(tmp_path) as served:
        pass
    log = served.log
    assert served.code == 0, log
    # No Teams settings: Teams is off, and says how to turn it on, once.
    assert log.count("Teams: off (") == 1
    assert "HARBOUR_TEAMS_LOCAL_TRIAL=true" in log
    assert "runs unauthenticated" not in log
    assert "Guidance quotes details your organisation has not set yet" in log


async def test_without_teams_settings_a_forged_activity_finds_nothing(tmp_path: Path) -> None:
    """Issue 10: with no Teams settings /api/messages used to run unauthenticated, so
    behind a reverse proxy on the same host anyone could make Harbour post to a
    serviceUrl of their choosing. Now there is no /api/messages to post to."""
    fake = FakeConnector()
    service_url = await fake.start()
    forged = activity(
        service_url,
        "forger",
        text="help",
        **{"from": {"id": "29:forger", "name": "Admin", "aadObjectId": "U0ADMIN"}},
    )
    try:
        async with serving(tmp_path) as served, aiohttp.ClientSession() as session:
            async with session.post(f"{served.url}/api/messages", json=forged) as response:
                assert response.status == 404
            await asyncio.sleep(0.3)  # a reply would have been sent by now
        assert served.code == 0, served.log
        assert fake.requests == []
    finally:
        await fake.close()


async def test_local_trial_must_be_asked_for_and_replies_on_this_machine_only(
    tmp_path: Path,
) -> None:
    fake = FakeConnector()
    service_url = await fake.start()
    try:
        async with (
            serving(tmp_path, HARBOUR_TEAMS_LOCAL_TRIAL="true") as served,
            aiohttp.ClientSession() as session,
        ):
            api = f"{served.url}/api/messages"
            elsewhere = activity("https://evil.example.com/", "forger", text="help")
            async with session.post(api, json=elsewhere) as response:
                assert response.status == 401
            async with session.post(api, json=activity(service_url, text="help")) as response:
                assert response.status == 202
            for _ in range(200):
                if fake.cards():
                    break
                await asyncio.sleep(0.05)
        assert served.code == 0, served.log
        # The local reply went out; nothing went anywhere for the forged activity.
        assert fake.cards("a:alice-personal")
        assert all("/conversations/a:alice-personal/" in r["path"] for r in fake.requests)
    finally:
        await fake.close()
    log = served.log
    assert log.count("runs unauthenticated for local trial") == 1  # one warning, at start
    assert "Teams: off" not in log
    assert "refused an activity whose serviceUrl is not on this machine" in log


async def test_serve_refuses_bad_settings_naming_them(tmp_path: Path) -> None:
    env = serve_env(tmp_path, SLACK_BOT_TOKEN="xoxb-1", PORT="99999")
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot", "serve", cwd=tmp_path, env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    code = await asyncio.wait_for(proc.wait(), timeout=20)
    assert proc.stderr is not None
    err = (await proc.stderr.read()).decode()
    assert code == 2
    assert "PORT" in err


async def test_serve_refuses_a_bad_local_trial_setting(tmp_path: Path) -> None:
    env = serve_env(tmp_path, PORT=str(free_port()), HARBOUR_TEAMS_LOCAL_TRIAL="maybe")
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot", "serve", cwd=tmp_path, env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    code = await asyncio.wait_for(proc.wait(), timeout=20)
    assert proc.stderr is not None
    err = (await proc.stderr.read()).decode()
    assert code == 2, err
    assert "HARBOUR_TEAMS_LOCAL_TRIAL" in err
