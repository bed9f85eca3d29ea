"""Logging failures without what people typed."""

from __future__ import annotations

import logging
import traceback

log = logging.getLogger("bot.app")


def log_failure(what: str, exc: BaseException) -> None:
    """Log where something failed without its message, which may quote what a
    person typed (pydantic errors include the input, for instance)."""
    frames = "".join(traceback.format_tb(exc.__traceback__))
    log.error("%s failed with %s\n%s", what, type(exc).__name__, frames)
