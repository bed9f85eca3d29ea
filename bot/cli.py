"""The `harbour` command line: `harbour chat` (a console chat on the embedded store),
`harbour serve`, `harbour teams-package`, `harbour migrate` (embedded store to
PostgreSQL), and for data protection `harbour audit` (check or print the audit
of who looked at cases), `harbour purge` (retention) and `harbour rotate-key`; and
`harbour figures` (anonymised figures for the agency and researchers); `harbour
export` and `harbour verify` (a case's evidence pack)."""

from __future__ import annotations

import argparse
import asyncio
import getpass
import logging
import os
import sys
from collections.abc import Callable, Sequence
from datetime import date
from pathlib import Path

from bot.alerts.sender import Notifier
from bot.app import Harbour
from bot.config import ConfigError, Settings, load_settings
from bot.directory import Directory, DirectoryError
from bot.directory import load_directory as load_directory_file
from bot.guidance import GuidanceError, Library
from bot.logging_setup import configure_logging
from bot.models import Platform
from bot.privacy.retention import purge_daily
from bot.privacy.setup import attach_key
from bot.reports import format_reference, parse_reference
from bot.store import MemoryStore, Store, StoreError, TinyStore
from bot.team import apply_chat_changes, reconcile_directory_file


def load_guidance(settings: Settings) -> Library:
    """The guidance library, with a warning while the organisation's own facts
    (policy link, assistance phone, ...) are still empty."""
    library = settings.guidance()
    missing = library.missing_facts()
    if missing:
        names = ", ".join(f"HARBOUR_{name.upper()}" for name in missing)
        logging.getLogger("harbour").warning(
            "Guidance quotes details your organisation has not set yet (%s); until they are "
            "set, people are told to ask their manager instead.",
            names,
        )
    return library


async def keyless_store(settings: Settings) -> Store:
    """The store the settings choose, before it is given its key (`open_store`
    gives it; `harbour rotate-key` gives it the ring it rotates)."""
    if settings.database_url:
        from bot.store.postgres import PostgresStore  # only when asked: it loads SQLAlchemy

        return await PostgresStore.open(settings.database_url)
    if settings.store == "memory":
        return MemoryStore()
    return TinyStore(settings.data_dir)


async def open_store(settings: Settings) -> Store:
    """The store the settings choose: PostgreSQL when HARBOUR_DATABASE_URL is
    set, else the embedded files in HARBOUR_DATA_DIR (or memory, for a trial),
    sealing with the key in HARBOUR_KEY_FILE (or HARBOUR_KEY): made on a fresh
    install, and refused clearly if it is missing or not the data's."""
    store = await keyless_store(settings)
    if isinstance(store, MemoryStore):
        return store  # nothing reaches a disk: nothing to seal
    try:
        await attach_key(
            store,
            key=settings.key,
            key_file=settings.key_path(),
            data_dir=None if settings.database_url else settings.data_dir,
        )
    except BaseException:
        await store.close()
        raise
    return store


async def load_directory(settings: Settings, store: Store) -> Directory:
    """The directory file, with the changes made in chat laid over it."""
    directory = load_directory_file(settings.directory)
    await apply_chat_changes(store, directory)
    return directory


async def _serve(settings: Settings) -> None:
    from adapters.slack.config import load_slack_settings
    from adapters.teams.config import load_teams_settings
    from bot.server import run

    slack = load_slack_settings()
    teams = load_teams_settings()
    library = load_guidance(settings)
    store = await open_store(settings)
    try:
        directory = await load_directory(settings, store)
        await run(settings, slack, teams, store, library, directory)
    finally:
        await store.close()


async def _chat(settings: Settings, user: str) -> None:
    from adapters.console import ConsoleMessenger, chat, console_person

    store = await open_store(settings)
    notifier_task = purge_task = None
    try:
        harbour = Harbour(
            store,
            settings.flow_context(),
            library=load_guidance(settings),
            directory=await load_directory(settings, store),
            admins=settings.admin_ids,
            figures=settings.figures_policy(),
        )
        await reconcile_directory_file(harbour, harbour.directory.file_managers)
        # In a trial, alerts to managers and safety leads are shown on stderr.
        # Alerts for the person chatting can be answered by number, as buttons elsewhere.
        messenger = ConsoleMessenger(sys.stderr)
        notifier = Notifier(
            harbour, {Platform.CONSOLE: messenger}, escalation=settings.escalation()
        )
        notifier_task = asyncio.create_task(notifier.run(interval=1.0))
        purge_task = asyncio.create_task(purge_daily(harbour, settings.retention()))
        await chat(harbour, console_person(user), alerts=messenger)
        await notifier.run_once()
    finally:
        if notifier_task is not None:
            notifier_task.cancel()
        if purge_task is not None:
            purge_task.cancel()
        await store.close()


def parser() -> argparse.ArgumentParser:
    """The command line: each subcommand says which function runs it (`run`)."""
    top = argparse.ArgumentParser(
        prog="harbour",
        description="Harbour: support for staff abused online because of their work.",
    )
    commands = top.add_subparsers(dest="command", required=True)

    def command(
        name: str, run: Callable[[argparse.Namespace], int], summary: str, *, data: bool = True
    ) -> argparse.ArgumentParser:
        found = commands.add_parser(name, help=summary)
        found.set_defaults(run=run)
        if data:
            found.add_argument("--data-dir", default=None, help="overrides HARBOUR_DATA_DIR")
        return found

    chat_cmd = command("chat", _run_harbour, "chat with Harbour in this terminal")
    chat_cmd.add_argument("--user", default=None, help="who you are in the chat (default: you)")
    chat_cmd.add_argument("--memory", action="store_true", help="keep nothing after exit")
    serve_cmd = command("serve", _run_harbour, "serve Slack (and Teams) on PORT")
    serve_cmd.add_argument("--memory", action="store_true", help="keep nothing after exit")
    package_cmd = command(
        "teams-package", _teams_package, "build the Teams app package (zip)", data=False
    )
    package_cmd.add_argument(
        "--client-id",
        default=os.environ.get("CONNECTIONS__SERVICE_CONNECTION__SETTINGS__CLIENTID", ""),
        help="the bot's Entra app (client) id (default: from the environment)",
    )
    package_cmd.add_argument("--out", default="harbour-teams.zip", help="where to write the zip")
    package_cmd.add_argument(
        "--publisher-name", required=True, help="your organisation, as Teams names the developer"
    )
    package_cmd.add_argument(
        "--privacy-url", required=True, help="your privacy policy (Harbour serves /privacy)"
    )
    package_cmd.add_argument(
        "--terms-url", required=True, help="your terms of use (Harbour serves /terms)"
    )
    package_cmd.add_argument(
        "--support-url", required=True, help="your support page (Harbour serves /support)"
    )
    migrate_cmd = command(
        "migrate",
        _migrate,
        "copy the embedded store into PostgreSQL (Harbour stopped), and check it",
    )
    migrate_cmd.add_argument("--to", required=True, help="postgresql://user:password@host/db")
    audit_cmd = command(
        "audit",
        _audit,
        "check every case's audit (verify), or print one (show HB-…, or show store)",
    )
    audit_cmd.add_argument("what", choices=("verify", "show"))
    audit_cmd.add_argument("reference", nargs="?", default=None, help="HB-… or 'store'")
    purge_cmd = command(
        "purge", _purge, "remove now what is past its retention (--dry-run: only count it)"
    )
    purge_cmd.add_argument(
        "--dry-run", action="store_true", help="count what would go; change nothing"
    )
    rotate_cmd = command(
        "rotate-key",
        _rotate_key,
        "seal everything with a new key and retire the old one (Harbour stopped)",
    )
    rotate_cmd.add_argument(
        "--finish",
        action="store_true",
        help="finish a rotation begun earlier (with HARBOUR_KEY: the second run)",
    )
    rotate_cmd.add_argument(
        "--new-ring-out",
        type=Path,
        default=None,
        metavar="FILE",
        help="with HARBOUR_KEY: where to write the key ring for your secret manager "
        "(never over a file)",
    )
    figures_cmd = command(
        "figures", _figures, "anonymised figures by quarter, with charts, CSV and JSON"
    )
    figures_cmd.add_argument("--from", dest="start", type=date.fromisoformat, required=True)
    figures_cmd.add_argument("--to", dest="end", type=date.fromisoformat, required=True)
    figures_cmd.add_argument(
        "--out", type=Path, default=None, help="write charts, CSV, JSON and a data dictionary here"
    )
    export_cmd = command(
        "export", _export, "a case's evidence pack (PDF), with the worker's agreement"
    )
    export_cmd.add_argument("reference", help="HB-…")
    export_cmd.add_argument("--out", type=Path, required=True, help="where to write the PDF")
    export_cmd.add_argument(
        "--consent-from-worker",
        action="store_true",
        help="state that the worker agreed (written in the case's audit)",
    )
    verify_cmd = command(
        "verify", _verify, "re-check an evidence pack's hashes, files and pictures", data=False
    )
    verify_cmd.add_argument("pack", type=Path, help="the pack (PDF)")
    return top


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    run: Callable[[argparse.Namespace], int] = args.run
    return run(args)


def _verify(args: argparse.Namespace) -> int:
    """`harbour verify pack.pdf`: 0 all holds, 1 something is broken, 2 not a pack."""
    from bot.evidence.export import run_verify

    return asyncio.run(run_verify(args.pack, sys.stdout))


def _run_harbour(args: argparse.Namespace) -> int:
    """`harbour chat` and `harbour serve`: Harbour itself, on the settings' store."""
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
    configure_logging(
        "WARNING" if args.command == "chat" else settings.log_level,
        log_format=settings.log_format,
    )
    try:
        if args.command == "serve":
            asyncio.run(_serve(settings))
        else:
            asyncio.run(_chat(settings, args.user or _default_user()))
    except (StoreError, ConfigError, GuidanceError, DirectoryError) as exc:
        print(f"harbour: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(file=sys.stderr)
    return 0


def _tool_settings(args: argparse.Namespace) -> Settings | None:
    """The settings a maintenance command runs with (`--data-dir` over
    HARBOUR_DATA_DIR), with quiet logging; None (said on stderr) if they are bad."""
    try:
        settings = load_settings(**({"data_dir": args.data_dir} if args.data_dir else {}))
    except ConfigError as exc:
        print(exc, file=sys.stderr)
        return None
    configure_logging("WARNING")
    return settings


def _export(args: argparse.Namespace) -> int:
    """`harbour export HB-… --out pack.pdf --consent-from-worker`: 0 written,
    1 refused, 2 the store could not be opened or the pack made."""
    from bot.evidence.export import run_export

    settings = _tool_settings(args)
    if settings is None:
        return 2
    return asyncio.run(
        run_export(
            settings,
            args.reference,
            args.out,
            _default_user(),
            consent_from_worker=args.consent_from_worker,
        )
    )


def _figures(args: argparse.Namespace) -> int:
    """`harbour figures --from … --to … [--out DIR]`: 0 done, 1 bad dates or folder,
    2 the store could not be opened."""
    from bot.figures.command import run_figures_command

    settings = _tool_settings(args)
    if settings is None:
        return 2
    return asyncio.run(
        run_figures_command(
            settings,
            start=args.start,
            end=args.end,
            out_dir=args.out,
            out=sys.stdout,
            policy=settings.figures_policy(),
        )
    )


def _rotate_key(args: argparse.Namespace) -> int:
    """`harbour rotate-key`: 0 when done, 1 when something did not read back with
    the new key alone (both keys kept), 2 if refused (`bot.privacy.rotate`)."""
    from bot.privacy.rotate import rotate_key

    settings = _tool_settings(args)
    if settings is None:
        return 2
    return asyncio.run(
        rotate_key(
            settings,
            out=sys.stdout,
            err=sys.stderr,
            new_ring_out=args.new_ring_out,
            finish=args.finish,
        )
    )


def _purge(args: argparse.Namespace) -> int:
    """`harbour purge [--dry-run]`: 0 done, 1 something could not be removed, 2 refused."""
    from bot.privacy.retention import run_purge_command

    settings = _tool_settings(args)
    if settings is None:
        return 2
    return asyncio.run(run_purge_command(settings, dry_run=args.dry_run, out=sys.stdout))


def _audit(args: argparse.Namespace) -> int:
    """`harbour audit verify`: 0 when every chain holds, 1 when one is broken;
    `harbour audit show HB-…` (or `store`): the entries, ids as stored."""
    from bot.privacy import trail

    if args.what == "show" and not args.reference:
        print("harbour: say which audit to show: a reference (HB-…) or 'store'", file=sys.stderr)
        return 2
    settings = _tool_settings(args)
    if settings is None:
        return 2

    async def run() -> int:
        store = await open_store(settings)
        try:
            if args.what == "verify":
                return 1 if await trail.verify(store, sys.stdout) else 0
            if args.reference.lower() == "store":
                return await trail.show(store, None, sys.stdout)
            parsed = parse_reference(args.reference)
            if parsed is None:
                print(
                    f"harbour: {args.reference!r} is not a reference (HB-2026-0001)",
                    file=sys.stderr,
                )
                return 2
            return await trail.show(store, format_reference(*parsed), sys.stdout)
        finally:
            await store.close()

    try:
        return asyncio.run(run())
    except StoreError as exc:
        print(f"harbour: {exc}", file=sys.stderr)
        return 2


def _migrate(args: argparse.Namespace) -> int:
    """`harbour migrate --to URL`: 0 when the copy is verified, 1 when it differs, 2 if refused."""
    from bot.store.migrate import migrate
    from bot.store.postgres import _database_url

    settings = _tool_settings(args)
    if settings is None:
        return 2
    try:
        where = (
            _database_url(args.to).set(drivername="postgresql").render_as_string(hide_password=True)
        )
        outcome = asyncio.run(
            migrate(settings.data_dir, args.to, key=settings.key, key_file=settings.key_path())
        )
    except StoreError as exc:
        print(f"harbour: {exc}", file=sys.stderr)
        return 2
    print(f"Copied {settings.data_dir} into {where}:")
    print("\n".join(outcome.summary))
    if outcome.differences:
        print("harbour: the copy does not match the embedded store:", file=sys.stderr)
        print("\n".join(f"  {line}" for line in outcome.differences), file=sys.stderr)
        return 1
    print("verified: every count and checksum matches. Set HARBOUR_DATABASE_URL to start on it.")
    return 0


def _teams_package(args: argparse.Namespace) -> int:
    from adapters.teams.package import PackageError, build_package

    try:
        out = build_package(
            args.client_id,
            Path(args.out),
            publisher_name=args.publisher_name,
            privacy_url=args.privacy_url,
            terms_url=args.terms_url,
            support_url=args.support_url,
        )
    except PackageError as exc:
        print(f"harbour: {exc}", file=sys.stderr)
        return 2
    print(f"Wrote {out}: upload it in Teams (Apps > Manage your apps > Upload an app).")
    return 0


def _default_user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "you"
