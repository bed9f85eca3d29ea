"""Errors the person running Harbour must act on, shared by the store and the
key that seals it (kept apart from both, so neither imports the other's package)."""


class StoreError(RuntimeError):
    """A storage problem the person running Harbour must act on."""
