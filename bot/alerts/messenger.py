"""What a platform must offer for Harbour to deliver an alert outside a conversation."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Literal, Protocol

from bot.directory import Directory
from bot.models import Platform, Reply

SHARED = "*"
"""The owner of a button anyone who sees it may press (permissions are checked
in the core, against whoever pressed it)."""


@dataclass(frozen=True)
class Recipient:
    platform: Platform
    kind: Literal["person", "channel"]
    address: str  # a person key, or a channel address the platform's messenger understands
    role: str  # "manager", "safety leads", "worker"…: for the timeline, never shown in channels


class Messenger(Protocol):
    """How one platform delivers messages outside a conversation."""

    can_check_sent: bool
    """Whether `find_sent` can tell if a message went out (Slack: message metadata
    read back from the conversation). Where it cannot, a send interrupted by a
    crash is sent again: at least once, never silently lost."""

    async def send(self, to: Recipient, replies: Sequence[Reply], *, key: str) -> str:
        """Send; returns a reference to the message, for later updates. `key` is the
        delivery's idempotency key, carried with the message where the platform allows."""

    async def find_sent(self, to: Recipient, key: str, since: datetime) -> str | None:
        """The message sent under `key` since `since` (its reference), or None if
        none was. Only called when `can_check_sent`."""

    async def update(self, to: Recipient, message: str, replies: Sequence[Reply]) -> None: ...

    def leads_channel(self, directory: Directory) -> str | None:
        """Where this platform's safety leads get alerts, if it is set up."""
