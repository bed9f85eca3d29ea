"""The `harbour` command line: `harbour chat` (a console chat on the embedded store)."""

from __future__ import annotations

import argparse
import asyncio
import getpass
import logging
import sys
from collections.abc import Sequence

from bot.app import Harbour
from bot.config import ConfigError, Settings, load_settings
from bot.store import MemoryStore, Store, StoreError, TinyStore


def open_store(settings: Settings) -> Store:
    if settings.store == "memory":
        return MemoryStore()
    return TinyStore(settings.data_dir)


async def _chat(settings: Settings, user: str) -> None:
    from adapters.console import chat, console_person

    store = open_store(settings)
    try:
        harbour = Harbour(store, settings.flow_context())
        await chat(harbour, console_person(user))
    finally:
        await store.close()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="harbour",
        description="Harbour: support for staff abused online because of their work.",
    )
    commands = parser.add_subparsers(dest="command", required=True)
    chat_cmd = commands.add_parser("chat", help="chat with Harbour in this terminal")
    chat_cmd.add_argument("--user", default=None, help="who you are in the chat (default: you)")
    chat_cmd.add_argument("--data-dir", default=None, help="overrides HARBOUR_DATA_DIR")
    chat_cmd.add_argument("--memory", action="store_true", help="keep nothing after exit")
    args = parser.parse_args(argv)

    overrides: dict[str, object] = {}
    if args.data_dir:
        overrides["data_dir"] = args.data_dir
    if args.memory:
        overrides["store"] = "memory"
    try:
        settings = load_settings(**overrides)
    except ConfigError as exc:
        print(exc, file=sys.stderr)
        return 2
    logging.basicConfig(
        level="WARNING" if args.command == "chat" else settings.log_level,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    user = args.user or _default_user()
    try:
        asyncio.run(_chat(settings, user))
    except StoreError as exc:
        print(f"harbour: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(file=sys.stderr)
    return 0


def _default_user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "you"
