"""Changes to the team directory that reach existing reports: who manages a
worker, set by an administrator (in chat or in the directory file) or by the
worker herself. Which reports a manager then sees follows `bot.access`."""

from __future__ import annotations

from bot.directory import Directory, parse_person
from bot.models import PersonRef
from bot.reports import DomainEvent, EventKind, Report, ReportStatus
from bot.services import Services
from bot.store import RecordKind, Store

CHAT_CHANGES = (RecordKind.MANAGERS, RecordKind.LEADS, RecordKind.CHANNELS)
"""The records that hold changes to the directory made in chat."""


async def apply_chat_changes(store: Store, directory: Directory) -> None:
    """Lay the directory changes made in chat (in any process sharing the
    store) over what this process knows: at start, and on every delivery pass
    after, so a manager named through one process is known to all within one."""
    directory.apply({kind.value: await store.records(kind) for kind in CHAT_CHANGES})


async def set_managers(
    s: Services, worker: PersonRef, managers: list[PersonRef], *, by: PersonRef
) -> list[str]:
    """Record who manages a worker: an administrator's word, or the worker's
    own when no administrator has named anyone (it never overrides one).

    When an administrator changes it, earlier reports follow the rule in
    `bot.access`: the old managers' access ends, and the worker is asked
    whether to share each open report with the new ones. Returns the
    references she is asked about."""
    keys = [m.key for m in managers]
    record = {"managers": keys, "by": by.key, "at": s.clock().isoformat()}
    await s.store.put_record(RecordKind.MANAGERS, worker.key, record)
    if by == worker:
        s.directory.named[worker.key] = keys
        return []
    s.directory.managers[worker.key] = keys
    return await reassign(s, worker, keys, by.key)


async def reconcile_directory_file(s: Services, file_managers: dict[str, list[str]]) -> list[str]:
    """At start: a manager changed in the directory file since the last start
    is a change like `admin manager` in chat (same rule, same question to the
    worker). Returns the workers whose manager changed."""
    applied = await s.store.records(RecordKind.DIRECTORY_FILE)
    changed = []
    for worker_key, keys in sorted(file_managers.items()):
        before = applied.get(worker_key, {}).get("managers")
        if before == keys:
            continue
        await s.store.put_record(RecordKind.DIRECTORY_FILE, worker_key, {"managers": keys})
        worker = parse_person(worker_key)
        chat = await s.store.get_record(RecordKind.MANAGERS, worker_key)
        if before is None or worker is None or (chat and chat.get("by") != worker_key):
            continue  # first sight of the file, or an administrator's chat change wins
        await reassign(s, worker, keys, "directory file")
        changed.append(worker_key)
    return changed


async def reassign(s: Services, worker: PersonRef, keys: list[str], by: str) -> list[str]:
    """Earlier reports after a change of manager: the old managers' access ends,
    and the worker is asked whether to share each open report with the new ones.
    Returns the references she is asked about."""
    asked: list[str] = []
    now = s.clock()
    asking: dict[str, bool] = {}

    def change(report: Report) -> list[DomainEvent] | None:
        asking[report.reference] = False
        if not report.manager_may_see:
            # Kept from her manager: the names on it are who stays kept out.
            return None
        gone = [k for k in report.managers if k not in keys]
        ask = report.status is not ReportStatus.CLOSED and any(
            k not in report.managers for k in keys
        )
        if not gone and not ask:
            return None
        report.managers = [k for k in report.managers if k in keys]
        report.log(now, "manager-changed", by)
        asking[report.reference] = ask
        return [s.report_event(report, EventKind.MANAGER_CHANGED)] if ask else []

    for reference in [r.reference for r in await s.store.reports_by(worker)]:
        await s.store.update_report(reference, change)
        if asking.get(reference):
            asked.append(reference)
    if asked:
        s.outbox_has_news()
    return asked
