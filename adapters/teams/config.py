"""Teams settings, read with the Agents SDK's own loader from its usual names:
CONNECTIONS__SERVICE_CONNECTION__SETTINGS__CLIENTID, __CLIENTSECRET, __TENANTID."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from microsoft_agents.activity import load_configuration_from_env

from bot.config import ConfigError

PREFIX = "CONNECTIONS__SERVICE_CONNECTION__SETTINGS__"


@dataclass(frozen=True)
class TeamsSettings:
    client_id: str = ""
    sdk_config: dict[str, Any] = field(default_factory=dict)

    @property
    def anonymous(self) -> bool:
        """No app registration: local trial only (e.g. the Agents Playground)."""
        return not self.client_id


def load_teams_settings(environ: Mapping[str, str] | None = None) -> TeamsSettings:
    env = dict(os.environ if environ is None else environ)
    client_id = env.get(PREFIX + "CLIENTID", "").strip()
    if client_id and not env.get(PREFIX + "CLIENTSECRET", "").strip():
        raise ConfigError(
            f"Teams settings are not valid:\n  {PREFIX}CLIENTSECRET: needed with "
            f"{PREFIX}CLIENTID (the bot's app registration secret)"
        )
    if client_id and not env.get(PREFIX + "TENANTID", "").strip():
        raise ConfigError(
            f"Teams settings are not valid:\n  {PREFIX}TENANTID: needed with "
            f"{PREFIX}CLIENTID (your Microsoft Entra tenant id)"
        )
    config = load_configuration_from_env(env) if client_id else {}
    return TeamsSettings(client_id=client_id, sdk_config=config)
