"""Storage: the async interface the core uses, its TinyDB implementation and
its PostgreSQL one."""

from bot.store.base import RecordKind, ReportChange, StaleReport, Store, StoreError, StoreLocked
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
