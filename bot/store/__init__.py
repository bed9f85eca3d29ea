"""Storage: the async interface the core uses, and its TinyDB implementation."""

from bot.store.base import RecordKind, ReportChange, StaleReport, Store, StoreError, StoreLocked
from bot.store.tiny import MemoryStore, TinyStore

__all__ = [
    "MemoryStore",
    "RecordKind",
    "ReportChange",
    "StaleReport",
    "Store",
    "StoreError",
    "StoreLocked",
    "TinyStore",
]
