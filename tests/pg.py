"""A real PostgreSQL for tests: pgserver's (PostgreSQL 16 in a wheel, in the
dev extra) started once per test session, and a fresh schema for each test.

pgserver works offline and as root (it then runs postgres as a `pgserver`
user it creates). As root it opens up (g+rx, o+rx) every directory above its
data directory, so that directory is made in the system temp directory, never
under pytest's private base temp directory.

`HARBOUR_TEST_DATABASE_URL` points the tests at a server of your own instead
(a CI service, say): each test then makes and drops its own schema there.

A test module uses it with `pytest_plugins = ["tests.pg"]`: the fixtures are
then registered once, so every module shares the one server.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import uuid
import warnings
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import NoReturn

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from bot.store.postgres import PostgresStore, _database_url

OpenPostgres = Callable[[], Awaitable[PostgresStore]]

SPEED_OVER_SAFETY = (
    # A throwaway server: a crash of the machine may lose it, and nothing else.
    "ALTER SYSTEM SET fsync = off; "
    "ALTER SYSTEM SET synchronous_commit = off; "
    "ALTER SYSTEM SET full_page_writes = off; "
    "SELECT pg_reload_conf();"
)


def _unavailable(reason: str) -> NoReturn:
    """Skip the PostgreSQL tests, saying why; in CI (CI=true) fail instead, so a
    broken install can never pass as a green run with those tests skipped."""
    if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
        pytest.fail(f"PostgreSQL for tests: {reason}", pytrace=False)
    pytest.skip(f"PostgreSQL for tests: {reason}")


@pytest.fixture(scope="session")
def pg_url() -> Iterator[str]:
    """The URL of a PostgreSQL server for this test session."""
    given = os.environ.get("HARBOUR_TEST_DATABASE_URL")
    if given:
        yield given
        return
    with warnings.catch_warnings():
        # platformdirs warns that XDG_RUNTIME_DIR is not set (pgserver keeps a lock there).
        warnings.simplefilter("ignore")
        try:
            import pgserver
        except ImportError as exc:
            _unavailable(f"pgserver is not installed ({exc}): pip install -e '.[dev]'")
    pgdata = tempfile.mkdtemp(prefix="harbour-pg-")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            server = pgserver.get_server(pgdata, cleanup_mode="delete")
    except Exception as exc:
        shutil.rmtree(pgdata, ignore_errors=True)
        _unavailable(f"pgserver could not start PostgreSQL ({type(exc).__name__}: {exc})")
    try:
        server.psql(SPEED_OVER_SAFETY)
        yield server.get_uri()
    finally:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            server.cleanup()  # stops it and removes its data directory


@pytest.fixture
async def open_postgres(pg_url: str) -> AsyncIterator[OpenPostgres]:
    """Open PostgresStores on a schema of this test's own (each call opens
    another store on the same schema, as a restart or a second process would);
    all are closed, and the schema dropped, when the test ends."""
    schema = f"test_{uuid.uuid4().hex[:16]}"
    opened: list[PostgresStore] = []

    async def open_() -> PostgresStore:
        store = await PostgresStore.open(pg_url, schema=schema)
        opened.append(store)
        return store

    yield open_
    for store in opened:
        await store.close()
    engine = create_async_engine(_database_url(pg_url))
    try:
        async with engine.begin() as conn:
            await conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
    finally:
        await engine.dispose()
