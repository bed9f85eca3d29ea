"""The stores every store contract test runs on: memory, files in pytest's
temporary directory, and PostgreSQL (a schema of each test's own, from
tests/pg.py), each opened with or without a key. A plugin module
(`pytest_plugins = ["tests.pg", "tests.store_backends"]`)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from bot.privacy.sealing import Sealer
from bot.store import MemoryStore, Store, TinyStore

if TYPE_CHECKING:
    from tests.pg import OpenPostgres

Open = Callable[[Sealer | None], Awaitable[Store]]


class Backend:
    """One kind of store under test: `store` is the one open now; `reopen`
    closes it and opens another on the same data (with another key, if
    given), as a restart does. A memory store is kept: it only changes key."""

    def __init__(self, kind: str, open_: Open) -> None:
        self.kind = kind
        self._open = open_
        self.opened: list[Store] = []
        self.store: Store

    async def start(self, sealer: Sealer | None = None) -> Store:
        self.store = await self._open(sealer)
        if self.store not in self.opened:
            self.opened.append(self.store)
        return self.store

    async def reopen(self, sealer: Sealer | None = None) -> Store:
        if self.kind != "memory":
            await self.store.close()
        return await self.start(sealer)


@pytest.fixture(params=["memory", "tiny", "postgres"])
def kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def opener(kind: str, request: pytest.FixtureRequest, tmp_path: Path) -> Open:
    if kind == "postgres":
        open_pg: OpenPostgres = request.getfixturevalue("open_postgres")

        async def open_postgres(sealer: Sealer | None) -> Store:
            store = await open_pg()
            if sealer is not None:
                store.sealer = sealer
            return store

        return open_postgres
    if kind == "tiny":

        async def open_tiny(sealer: Sealer | None) -> Store:
            return TinyStore(tmp_path / "data", sealer=sealer)

        return open_tiny
    memory = MemoryStore()

    async def open_memory(sealer: Sealer | None) -> Store:
        if sealer is not None:
            memory.sealer = sealer
        return memory

    return open_memory


@pytest.fixture
async def backend(kind: str, opener: Open) -> AsyncIterator[Backend]:
    found = Backend(kind, opener)
    await found.start()
    yield found
    for store in found.opened:
        await store.close()


reopens = pytest.mark.parametrize("kind", ["tiny", "postgres"], indirect=True)
