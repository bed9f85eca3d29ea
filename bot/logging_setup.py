"""Harbour's logging: its own loggers at the level asked for, libraries kept quiet.

The libraries Harbour runs on log request and response bodies: slack_bolt logs
the whole body of a request it refuses (a stale or badly signed one) at INFO,
and the body of every response at DEBUG; slack_sdk logs every Web API request
and response at DEBUG, Socket Mode every envelope; the Agents SDK logs a
message's text at WARNING when no route takes it, and a rejected activity's
fields at ERROR. Those bodies hold what a person reported. So, whatever
HARBOUR_LOG_LEVEL says:

- only Harbour's own loggers (`bot`, `adapters`, `flows`, `harbour`) log below
  WARNING; every other logger is capped at WARNING (the root logger, and by
  name the libraries known to log bodies, in case a host lowers the root);
- Harbour's handler withholds the details of what libraries log at WARNING and
  above: anything from a labelled body ("body:", "text:", "data:", ...), a
  dict, list or URL-encoded form onwards, and the message of an exception
  (its type and traceback are kept). Library records below WARNING that reach
  it anyway are dropped.

HARBOUR_LOG_FORMAT=json writes one JSON object per line (time, level, logger,
message, and exception when there is one); the filter runs before any
formatter, so JSON lines withhold exactly what text lines do.
"""

from __future__ import annotations

import json
import logging
import re
import sys
import traceback
from datetime import UTC, datetime
from typing import Literal, TextIO

LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"

LogFormat = Literal["text", "json"]

# Harbour's own loggers: they log at the configured level, unredacted (what
# Harbour logs is written not to contain what people typed; see bot.logs).
HARBOUR_LOGGERS = ("bot", "adapters", "flows", "harbour")

# Libraries that log request and response bodies (slack_bolt's app logger is
# `slack_bolt.harbour`, see adapters.slack.app): capped at WARNING by name too.
CHATTY_LOGGERS = (
    "slack_sdk",
    "slack_bolt",
    "microsoft_agents",
    "msal",
    "aiohttp",
    "sqlalchemy",
    "asyncpg",
    "alembic",
)

LIBRARY_LEVEL = logging.WARNING

WITHHELD = "[details withheld]"

# Where the details of a library's message start: a labelled body or field, a
# dict/list/JSON document, or a URL-encoded form.
_DETAILS = re.compile(
    r"""
    \b\w*?(?:body|payload|data|json|params|text|value|values|state|submission|input|input_value
       |event|content|blocks|view)\s*[:=]
    | [{\[]
    | \b[\w.\-]+=[^\s&]*&
    """,
    re.IGNORECASE | re.VERBOSE,
)


def is_harbours(name: str) -> bool:
    return any(name == own or name.startswith(own + ".") for own in HARBOUR_LOGGERS)


class WithholdLibraryDetails(logging.Filter):
    """A handler filter: Harbour's own records pass as they are; other loggers'
    records below WARNING are dropped, and the rest lose their details."""

    def filter(self, record: logging.LogRecord) -> bool:
        if is_harbours(record.name):
            return True
        if record.levelno < LIBRARY_LEVEL:
            return False
        if not getattr(record, "harbour_withheld", False):
            withhold_details(record)
        return True


def withhold_details(record: logging.LogRecord) -> None:
    """Rewrite `record` in place without what it quoted (see the module doc)."""
    try:
        message = record.getMessage()
    except Exception:
        message = str(record.msg)
    exceptions = _exceptions(record)
    for exc in exceptions:
        name = f"<{type(exc).__name__}>"
        for quoted in sorted({repr(exc), str(exc)}, key=len, reverse=True):
            if len(quoted) >= 3:
                message = message.replace(quoted, name)
    details = _DETAILS.search(message)
    if details is not None:
        message = f"{message[: details.start()].rstrip(' ([{:=,')} {WITHHELD}".lstrip()
    record.msg, record.args = message, None
    if record.exc_info is not None and record.exc_info[1] is not None:
        record.exc_text = _traceback_without_messages(record.exc_info[1])
    else:
        record.exc_text = None  # a formatter's cached text would hold the message
    record.exc_info = None
    record.__dict__["harbour_withheld"] = True


def _exceptions(record: logging.LogRecord) -> list[BaseException]:
    found: list[BaseException] = []
    if record.exc_info is not None and record.exc_info[1] is not None:
        found.append(record.exc_info[1])
    args = record.args if isinstance(record.args, tuple) else ()
    found.extend(a for a in args if isinstance(a, BaseException))
    chain: list[BaseException] = []
    for exc in found:
        chain.extend(_chain(exc))
    return chain


def _chain(exc: BaseException) -> list[BaseException]:
    chain: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and all(current is not seen for seen in chain):
        chain.append(current)
        current = current.__cause__ or (
            None if current.__suppress_context__ else current.__context__
        )
    return chain


def _traceback_without_messages(exc: BaseException) -> str:
    parts: list[str] = []
    for i, link in enumerate(reversed(_chain(exc))):
        if i:
            parts.append("\nwhich led to:\n")
        parts.append("Traceback (most recent call last):\n")
        parts.extend(traceback.format_tb(link.__traceback__))
        kind = type(link)
        parts.append(f"{kind.__module__}.{kind.__qualname__} (message withheld)\n")
    return "".join(parts).rstrip("\n")


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time (UTC, ISO 8601), level, logger, message,
    and exception (the traceback) when the record has one."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, str] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            line["exception"] = record.exc_text
        if record.stack_info:
            line["stack"] = self.formatStack(record.stack_info)
        return json.dumps(line, ensure_ascii=False)


def formatter(log_format: LogFormat) -> logging.Formatter:
    return JsonFormatter() if log_format == "json" else logging.Formatter(LOG_FORMAT)


def set_format(log_format: LogFormat) -> None:
    """Give every root handler carrying Harbour's filter the formatter for
    `log_format` (handlers a host added itself keep theirs)."""
    for handler in logging.getLogger().handlers:
        if any(isinstance(f, WithholdLibraryDetails) for f in handler.filters):
            handler.setFormatter(formatter(log_format))


def protect(handler: logging.Handler) -> logging.Handler:
    """Give `handler` Harbour's filter (once)."""
    if not any(isinstance(f, WithholdLibraryDetails) for f in handler.filters):
        handler.addFilter(WithholdLibraryDetails())
    return handler


def logger_levels(level: str | int) -> dict[str, int]:
    """The level each logger gets for HARBOUR_LOG_LEVEL `level` ("" is the root)."""
    wanted = level if isinstance(level, int) else logging.getLevelNamesMapping()[level]
    capped = max(LIBRARY_LEVEL, wanted)
    levels = {"": capped}
    levels.update(dict.fromkeys(CHATTY_LOGGERS, capped))
    levels.update(dict.fromkeys(HARBOUR_LOGGERS, wanted))
    return levels


def set_levels(level: str | int) -> dict[str, int]:
    """Apply `logger_levels(level)`; returns the levels they had before."""
    before: dict[str, int] = {}
    for name, value in logger_levels(level).items():
        logger = logging.getLogger(name or None)
        before[name] = logger.level
        logger.setLevel(value)
    return before


def configure_logging(
    level: str, stream: TextIO | None = None, log_format: LogFormat = "text"
) -> None:
    """Log to stderr (or `stream`) at `level` for Harbour, WARNING for libraries,
    as text lines or JSON objects (`log_format`). Like `logging.basicConfig`,
    adds a handler only if the root has none; every handler on the root gets
    Harbour's filter."""
    root = logging.getLogger()
    if not root.handlers:
        handler = logging.StreamHandler(sys.stderr if stream is None else stream)
        handler.setFormatter(formatter(log_format))
        root.addHandler(handler)
    for existing in root.handlers:
        protect(existing)
    set_levels(level)
