"""Slack settings, by the names Slack's own tools use (SLACK_BOT_TOKEN, ...)."""

from __future__ import annotations

import re
from typing import Literal

from pydantic import Field, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from bot.config import ConfigError

SLACK_TEAM_OR_ORG_ID = re.compile(r"^[TE][A-Z0-9]{2,}$")
"""A workspace's team id (T...) or an Enterprise Grid org's id (E...)."""


class SlackSettings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="SLACK_", env_file=".env", env_file_encoding="utf-8", extra="ignore"
    )

    bot_token: str = Field(default="", description="The bot token (xoxb-...).")
    signing_secret: str = Field(default="", description="Verifies requests over HTTP.")
    client_id: str = Field(
        default="", description="The app's client id: with the secret, Add to Slack installs."
    )
    client_secret: str = Field(default="", description="The app's client secret.")
    redirect_uri: str = Field(
        default="",
        description="Where Slack sends the installer back (https://<server>/slack/oauth_redirect); "
        "needed only if the app lists several redirect URLs.",
    )
    install_workspaces: str = Field(
        default="",
        description="With Add to Slack: who may install this Harbour, comma-separated: "
        "workspaces by their team id (T...), and Enterprise Grid orgs installing org-wide by "
        "the org's id (E...); an install from any other is refused.",
    )
    app_token: str = Field(default="", description="App-level token (xapp-...) for Socket Mode.")
    socket_mode: bool | None = Field(
        default=None, description="Defaults to on when SLACK_APP_TOKEN is set."
    )
    api_url: str = Field(
        default="https://slack.com/api/",
        description="Base URL of the Slack Web API (tests, on-premises proxies).",
    )
    command: str = Field(default="/report-abuse", pattern=r"^/[a-z0-9_-]{1,31}$")
    forms: Literal["auto", "message", "modal"] = Field(
        default="auto",
        description="Where a page of questions is answered: in the DM message itself, or in "
        "a modal opened from it; auto uses messages, and modals if Slack refuses inputs there.",
    )

    @property
    def enabled(self) -> bool:
        return bool(self.bot_token) or self.installs

    @property
    def installs(self) -> bool:
        """Installed with "Add to Slack" (OAuth), a token per workspace kept in the
        store; with SLACK_BOT_TOKEN, one workspace and its token as set."""
        return not self.bot_token and bool(self.client_id and self.client_secret)

    @property
    def install_workspace_ids(self) -> frozenset[str]:
        return frozenset(w.strip() for w in self.install_workspaces.split(",") if w.strip())

    @property
    def use_socket_mode(self) -> bool:
        return self.socket_mode if self.socket_mode is not None else bool(self.app_token)

    @field_validator("bot_token")
    @classmethod
    def _bot_token(cls, value: str) -> str:
        if value and not value.startswith("xoxb-"):
            raise ValueError("must be a bot token starting with xoxb-")
        return value

    @field_validator("app_token")
    @classmethod
    def _app_token(cls, value: str) -> str:
        if value and not value.startswith("xapp-"):
            raise ValueError("must be an app-level token starting with xapp-")
        return value

    @field_validator("install_workspaces")
    @classmethod
    def _install_workspaces(cls, value: str) -> str:
        for given in (w.strip() for w in value.split(",")):
            if given and not SLACK_TEAM_OR_ORG_ID.match(given):
                raise ValueError(
                    f"{given!r} is not a Slack id: list workspaces by their team id (T...) and, "
                    "for an Enterprise Grid org-wide install, the org's id (E...), "
                    "comma-separated (names and URLs are not accepted)"
                )
        return value

    @field_validator("api_url")
    @classmethod
    def _api_url(cls, value: str) -> str:
        if not value.startswith(("https://", "http://")):
            raise ValueError("must be an http(s) URL")
        return value if value.endswith("/") else value + "/"

    @field_validator("redirect_uri")
    @classmethod
    def _redirect_uri(cls, value: str) -> str:
        if value and not value.startswith("https://"):
            raise ValueError("must be an https:// address ending in /slack/oauth_redirect")
        return value

    @model_validator(mode="after")
    def _complete(self) -> SlackSettings:
        if bool(self.client_id) != bool(self.client_secret):
            raise ValueError(
                "SLACK_CLIENT_ID and SLACK_CLIENT_SECRET go together (Basic Information > "
                "App Credentials): set both for Add to Slack, or neither"
            )
        if self.installs:
            if self.use_socket_mode:
                raise ValueError(
                    "Add to Slack (SLACK_CLIENT_ID) needs Harbour reachable over HTTPS, not "
                    "Socket Mode: unset SLACK_APP_TOKEN, or use SLACK_BOT_TOKEN for one workspace"
                )
            if len(self.signing_secret) < 16:
                raise ValueError(
                    "SLACK_SIGNING_SECRET is needed with Add to Slack (Basic Information > "
                    "App Credentials)"
                )
            if not self.install_workspace_ids:
                raise ValueError(
                    "SLACK_INSTALL_WORKSPACES is needed with Add to Slack: the team ids (T...) "
                    "of the workspaces that may install this Harbour and, for an Enterprise "
                    "Grid org-wide install, the org's id (E...), comma-separated. Reports "
                    "filed in a workspace reach your safety leads, so strangers' workspaces "
                    "must not be able to install it"
                )
            return self
        if not self.bot_token:
            return self
        if self.use_socket_mode and not self.app_token:
            raise ValueError("SLACK_APP_TOKEN is needed for Socket Mode")
        if not self.use_socket_mode and len(self.signing_secret) < 16:
            raise ValueError(
                "SLACK_SIGNING_SECRET is needed over HTTP (Basic Information > App Credentials)"
            )
        return self


def load_slack_settings(**overrides: object) -> SlackSettings:
    try:
        return SlackSettings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        problems = []
        for error in exc.errors():
            name = "SLACK_" + "_".join(str(p) for p in error["loc"]).upper() if error["loc"] else ""
            message = error["msg"].removeprefix("Value error, ")
            problems.append(f"  {name}: {message}" if name else f"  {message}")
        raise ConfigError("Slack settings are not valid:\n" + "\n".join(problems)) from None
