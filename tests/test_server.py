"""`harbour serve` as a real process: starts on PORT, answers /healthz, stops cleanly."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import sys
from pathlib import Path

import aiohttp

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


async def test_serve_starts_answers_and_stops_on_sigterm(tmp_path: Path) -> None:
    port = free_port()
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("HARBOUR_", "SLACK_", "CONNECTIONS__"))
    }
    env.update({"PORT": str(port), "HARBOUR_HOST": "127.0.0.1", "HARBOUR_DATA_DIR": str(tmp_path)})
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot", "serve", cwd=ROOT, env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    try:
        async with aiohttp.ClientSession() as session:
            for _ in range(200):
                try:
                    async with session.get(f"http://127.0.0.1:{port}/healthz") as response:
                        assert response.status == 200
                        assert await response.json() == {"status": "ok"}
                        break
                except aiohttp.ClientConnectionError:
                    await asyncio.sleep(0.05)
            else:
                raise AssertionError("harbour serve never answered")
    finally:
        proc.send_signal(signal.SIGTERM)
        code = await asyncio.wait_for(proc.wait(), timeout=20)
    assert proc.stderr is not None
    log = (await proc.stderr.read()).decode()
    assert code == 0, log
    assert log.count("runs unauthenticated for local trial") == 1  # one warning, at start
    assert "Guidance quotes details your organisation has not set yet" in log


async def test_serve_refuses_bad_settings_naming_them(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HARBOUR_", "SLACK_"))}
    env.update({"SLACK_BOT_TOKEN": "xoxb-1", "HARBOUR_DATA_DIR": str(tmp_path), "PORT": "99999"})
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot", "serve", cwd=ROOT, env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    code = await asyncio.wait_for(proc.wait(), timeout=20)
    assert proc.stderr is not None
    err = (await proc.stderr.read()).decode()
    assert code == 2
    assert "PORT" in err
