"""Storage: the async interface the core uses, its TinyDB implementation and
its PostgreSQL one."""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

from bot.store.base import RecordKind, ReportChange, StaleReport, Store, StoreError, StoreLocked

if TYPE_CHECKING:
    from bot.store.postgres import PostgresStore
    from bot.store.tiny import MemoryStore, TinyStore

__all__ = [
    "MemoryStore",
    "PostgresStore",
    "RecordKind",
    "ReportChange",
    "StaleReport",
    "Store",
    "StoreError",
    "StoreLocked",
    "TinyStore",
]

_STORES = {"MemoryStore": "tiny", "TinyStore": "tiny", "PostgresStore": "postgres"}


def __getattr__(name: str) -> Any:
    # The stores are loaded when first asked for: they seal with `bot.privacy`,
    # which itself uses the interface above (importing them here would go round
    # in a circle), and PostgreSQL's brings SQLAlchemy, which an embedded store
    # never needs.
    if name in _STORES:
        return getattr(import_module(f"bot.store.{_STORES[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
