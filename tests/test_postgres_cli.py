"""HARBOUR_DATABASE_URL chooses PostgreSQL: a real `harbour chat` process files
a report into a real PostgreSQL, and a second process finds it there."""

from __future__ import annotations

import asyncio
import os
import sys
import uuid
from pathlib import Path

from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine

from bot.models import PersonRef, Platform
from bot.privacy.keys import new_ring
from bot.privacy.sealing import Sealer
from bot.store.postgres import PostgresStore, _database_url

pytest_plugins = ["tests.pg"]

ROOT = Path(__file__).resolve().parents[1]
LOW_RISK = "\n".join(
    ["report", "no", "complaints", *["skip"] * 9, "1", "yes", "quit"]
)  # a complaint, nothing else, shared with the manager and leads; filed


async def _database(pg_url: str) -> str:
    """A database of this test's own on the session's server; its URL."""
    name = f"harbour_cli_{uuid.uuid4().hex[:12]}"
    engine = create_async_engine(_database_url(pg_url), isolation_level="AUTOCOMMIT")
    try:
        async with engine.connect() as conn:
            await conn.execute(text(f'CREATE DATABASE "{name}"'))
    finally:
        await engine.dispose()
    return make_url(pg_url).set(database=name).render_as_string(hide_password=False)


async def _chat(url: str, lines: str, key: str) -> tuple[int, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HARBOUR_")}
    env["HARBOUR_DATABASE_URL"] = url
    env["HARBOUR_KEY"] = key  # as several instances share one, from a secret manager
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot", "chat", "--user", "alice",
        cwd=ROOT, env=env,
        stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, _ = await asyncio.wait_for(proc.communicate(lines.encode() + b"\n"), timeout=60)
    return proc.returncode or 0, out.decode()


async def test_harbour_chat_files_into_postgresql_when_the_url_is_set(pg_url: str) -> None:
    url = await _database(pg_url)
    ring = new_ring("HARBOUR_KEY")
    code, out = await _chat(url, LOW_RISK, ring.dumps())
    assert code == 0, out
    assert "Your reference is HB-" in out
    store = await PostgresStore.open(url, sealer=Sealer(ring))
    try:
        alice = PersonRef(platform=Platform.CONSOLE, workspace="local", user="alice")
        [report] = await store.reports_by(alice)
        assert report.answers.kinds == ["complaints"]
    finally:
        await store.close()
    code, out = await _chat(url, "mine\nquit", ring.dumps())  # another process, the same database
    assert code == 0 and report.reference in out
