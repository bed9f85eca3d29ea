"""Teams settings, read with the Agents SDK's own loader from its usual names:
CONNECTIONS__SERVICE_CONNECTION__SETTINGS__CLIENTID, __CLIENTSECRET, __TENANTID.

Teams is off unless it is configured: either an app registration (the three
variables above) or, to try Harbour in the Microsoft 365 Agents Playground on
this machine, HARBOUR_TEAMS_LOCAL_TRIAL=true (unauthenticated, loopback only)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from microsoft_agents.activity import load_configuration_from_env

from bot.config import ConfigError

PREFIX = "CONNECTIONS__SERVICE_CONNECTION__SETTINGS__"
LOCAL_TRIAL = "HARBOUR_TEAMS_LOCAL_TRIAL"
TRUE = frozenset({"true", "1", "yes", "on"})
FALSE = frozenset({"false", "0", "no", "off", ""})
HOW_TO_TURN_ON = (
    f"set {PREFIX}CLIENTID, __CLIENTSECRET and __TENANTID to connect to Teams, or "
    f"{LOCAL_TRIAL}=true to try it in the Agents Playground on this machine"
)


@dataclass(frozen=True)
class TeamsSettings:
    client_id: str = ""
    sdk_config: dict[str, Any] = field(default_factory=dict)
    local_trial: bool = False
    """Unauthenticated, for the Agents Playground: requests from this machine
    only, and nothing is ever sent to a serviceUrl that is not on it."""

    def __post_init__(self) -> None:
        if self.client_id and self.local_trial:
            raise _pick_one()

    @property
    def enabled(self) -> bool:
        """Whether `harbour serve` serves /api/messages at all."""
        return bool(self.client_id) or self.local_trial


def _pick_one() -> ConfigError:
    return ConfigError(
        f"Teams settings are not valid:\n  {LOCAL_TRIAL}: set together with {PREFIX}CLIENTID; "
        "pick one (the client id to connect to Teams, or the local trial without one)"
    )


def _flag(env: Mapping[str, str], name: str) -> bool:
    value = env.get(name, "").strip().lower()
    if value in TRUE:
        return True
    if value in FALSE:
        return False
    raise ConfigError(f"Teams settings are not valid:\n  {name}: expected true or false")


def load_teams_settings(environ: Mapping[str, str] | None = None) -> TeamsSettings:
    env = dict(os.environ if environ is None else environ)
    local_trial = _flag(env, LOCAL_TRIAL)
    client_id = env.get(PREFIX + "CLIENTID", "").strip()
    if client_id and local_trial:
        raise _pick_one()
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
    return TeamsSettings(client_id=client_id, sdk_config=config, local_trial=local_trial)
