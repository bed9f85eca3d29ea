"""The team directory: who manages whom, who the safety leads are, and where the
safety leads' channel is on each platform.

It comes from an administrator's file (`HARBOUR_DIRECTORY`, TOML) and from
changes made in chat (admin commands, and a worker naming their manager), which
are kept in the store and win over the file. People are named by their Harbour
id, `platform:workspace:user` (say `whoami` to Harbour to see yours):

    [[people]]
    id = "slack:T0123:U0ALICE"
    managers = ["slack:T0123:U0BOB"]

    [safety_leads]
    people = ["slack:T0123:U0CAROL"]

    [channels]
    slack = "C0SAFETY"      # the safety leads' Slack channel id
    # Teams: an administrator says "@Harbour register safety-leads" in the channel.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bot.models import PersonRef, Platform

PERSON_ID = re.compile(r"^(slack|teams|console):[^:\s]+:[^:\s]+$")


class DirectoryError(ValueError):
    """A directory file that cannot be used; the message names the line and field."""


def parse_person(text: str) -> PersonRef | None:
    """`slack:T0123:U0ALICE` -> a PersonRef; anything else -> None."""
    text = text.strip()
    if not PERSON_ID.match(text):
        return None
    platform, workspace, user = text.split(":")
    return PersonRef(platform=Platform(platform), workspace=workspace, user=user)


def console_name(name: str) -> PersonRef | None:
    """`carl` or `@carl` -> console:local:carl; None if it can't be a name.

    In the console people are the name they chat under (`harbour chat --user
    carl`), so a name is resolved without looking anyone up.
    """
    return parse_person(f"{Platform.CONSOLE.value}:local:{name.strip().removeprefix('@')}")


@dataclass
class Directory:
    """`managers` is what an administrator said (the file, or `admin manager`);
    `named` is who a worker named herself when the administrator had named
    nobody. An administrator's word always wins over a worker's."""

    managers: dict[str, list[str]] = field(default_factory=dict)
    leads: set[str] = field(default_factory=set)
    channels: dict[str, str] = field(default_factory=dict)
    named: dict[str, list[str]] = field(default_factory=dict)
    file_managers: dict[str, list[str]] = field(default_factory=dict)
    """Who manages whom as the file says it (before chat changes), to notice edits."""

    def manager_keys(self, worker_key: str) -> list[str]:
        return self.managers.get(worker_key) or self.named.get(worker_key, [])

    def managers_of(self, person: PersonRef) -> list[PersonRef]:
        found = [parse_person(key) for key in self.manager_keys(person.key)]
        return [p for p in found if p is not None]

    def set_by_admin(self, worker: PersonRef) -> bool:
        """Whether an administrator has named this worker's manager."""
        return bool(self.managers.get(worker.key))

    def is_lead(self, person: PersonRef) -> bool:
        return person.key in self.leads

    def is_manager_of(self, manager: PersonRef, worker: PersonRef) -> bool:
        return manager.key in self.manager_keys(worker.key)

    def apply(self, records: dict[str, dict[str, dict[str, Any]]]) -> None:
        """Lay changes made in chat (store records) over what the file said."""
        for worker, value in records.get("managers", {}).items():
            keys = list(value.get("managers", []))
            if value.get("by") == worker:
                self.named[worker] = keys
            else:
                self.managers[worker] = keys
        for person, value in records.get("leads", {}).items():
            if value.get("lead"):
                self.leads.add(person)
            else:
                self.leads.discard(person)
        for platform, value in records.get("channels", {}).items():
            self.channels[platform] = str(value.get("channel", ""))


def _line_of(text: str, header: str, index: int) -> int:
    """The line where the index-th `header` table starts (1-based), for messages."""
    lines = [n for n, line in enumerate(text.splitlines(), 1) if line.strip() == header]
    return lines[index] if index < len(lines) else 0


def _people(values: Any, where: str) -> list[str]:
    if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
        raise DirectoryError(f'{where}: must be a list of person ids like "slack:T0123:U0ALICE"')
    bad = [v for v in values if parse_person(v) is None]
    if bad:
        raise DirectoryError(
            f"{where}: {bad[0]!r} is not a person id (platform:workspace:user, e.g. "
            '"slack:T0123:U0ALICE"; say whoami to Harbour to see yours)'
        )
    return list(values)


def parse_directory(text: str, origin: str) -> Directory:
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise DirectoryError(f"{origin}: not valid TOML ({exc})") from None
    unknown = set(data) - {"people", "safety_leads", "channels"}
    if unknown:
        raise DirectoryError(
            f"{origin}: unknown section {sorted(unknown)[0]!r} (expected people, "
            "safety_leads, channels)"
        )
    directory = Directory()
    people = data.get("people", [])
    if not isinstance(people, list):
        raise DirectoryError(f"{origin}: people must be written as [[people]] tables")
    for n, entry in enumerate(people):
        where = f"{origin} line {_line_of(text, '[[people]]', n)}"
        extra = set(entry) - {"id", "managers", "name"}
        if extra:
            raise DirectoryError(f"{where}: people.{sorted(extra)[0]} is not a known field")
        if "id" not in entry:
            raise DirectoryError(f"{where}: people.id is missing")
        [person] = _people([entry["id"]], f"{where}: people.id")
        if person in directory.managers:
            raise DirectoryError(f"{where}: people.id {person!r} appears twice")
        managers = _people(entry.get("managers", []), f"{where}: people.managers")
        if person in managers:
            raise DirectoryError(f"{where}: people.managers: a person can't manage themselves")
        directory.managers[person] = managers
        directory.file_managers[person] = list(managers)
    leads = data.get("safety_leads", {})
    where = f"{origin} line {_line_of(text, '[safety_leads]', 0)}"
    if set(leads) - {"people"}:
        raise DirectoryError(f"{where}: safety_leads has only a 'people' list")
    directory.leads = set(_people(leads.get("people", []), f"{where}: safety_leads.people"))
    channels = data.get("channels", {})
    where = f"{origin} line {_line_of(text, '[channels]', 0)}"
    for platform, channel in channels.items():
        if platform not in {p.value for p in Platform}:
            raise DirectoryError(f"{where}: channels.{platform}: not a platform Harbour knows")
        if not isinstance(channel, str) or not channel.strip() or any(c.isspace() for c in channel):
            raise DirectoryError(
                f"{where}: channels.{platform} must be the channel's id (or, on a platform where "
                "a channel is registered from inside it, left out)"
            )
        directory.channels[platform] = channel
    return directory


def load_directory(path: Path | None) -> Directory:
    if path is None:
        return Directory()
    if not path.is_file():
        raise DirectoryError(f"HARBOUR_DIRECTORY: {path} is not a file")
    return parse_directory(path.read_text(encoding="utf-8"), path.name)


def describe(directory: Directory, people: Iterable[str] = ()) -> list[tuple[str, str]]:
    """Rows for an administrator: who manages whom, the leads, the channels."""
    rows = [
        (worker, ", ".join(ms) or "no manager") for worker, ms in sorted(directory.managers.items())
    ]
    rows += [
        (worker, ", ".join(ms) + " (named by the worker)")
        for worker, ms in sorted(directory.named.items())
        if worker not in directory.managers
    ]
    rows.append(("Safety leads", ", ".join(sorted(directory.leads)) or "none yet"))
    for platform, channel in sorted(directory.channels.items()):
        rows.append((f"Safety leads' channel ({platform})", channel))
    return rows
