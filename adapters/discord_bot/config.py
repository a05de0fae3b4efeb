"""Discord settings, validated once at start-up.

A missing or malformed setting raises ``ConfigurationError`` naming the
environment variable, so ``supportbot run`` stops with a useful message.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Annotated, Any

from pydantic import AliasChoices, BaseModel, Field, field_validator
from pydantic_settings import NoDecode

from supportbot.adapters.config import csv_list
from supportbot.bot.errors import ConfigurationError

DEFAULT_API_URL = "https://discord.com/api/v10"
_SNOWFLAKE = re.compile(r"^\d{15,21}$")


class DiscordSettings(BaseModel):
    discord_token: str | None = Field(None, validation_alias=AliasChoices("DISCORD_TOKEN", "discord_token"))
    discord_api_url: str = DEFAULT_API_URL
    discord_gateway_url: str | None = None
    discord_support_channels: Annotated[list[str], NoDecode] = Field(default_factory=list)
    discord_triage_channel: str | None = None
    discord_agent_role: str | None = None
    discord_manager_role: str | None = None

    @field_validator("discord_support_channels", mode="before")
    @classmethod
    def _discord_csv(cls, value: Any) -> list[str]:
        return csv_list(value)

    @field_validator("discord_api_url")
    @classmethod
    def _discord_http_url(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError("must be an http(s) URL")
        return value.rstrip("/")

    @property
    def discord_enabled(self) -> bool:
        return bool(self.discord_token)


@dataclass(frozen=True)
class DiscordConfig:
    token: str
    api_url: str
    gateway_url: str | None
    support_channels: frozenset[int]
    triage_channel: int
    agent_role: int
    manager_role: int | None
    note_marker: str = "//"


def _snowflake(name: str, value: str | None, *, required: bool = True) -> int | None:
    if value is None or not str(value).strip():
        if required:
            raise ConfigurationError(name, "is required when DISCORD_TOKEN is set")
        return None
    text = str(value).strip()
    if not _SNOWFLAKE.match(text):
        raise ConfigurationError(name, f"{text!r} is not a Discord id (enable Developer Mode, right-click, Copy ID)")
    return int(text)


def _required(name: str, value: str | None) -> int:
    snowflake = _snowflake(name, value)
    assert snowflake is not None  # _snowflake raises for a missing required id
    return snowflake


def load_discord_config(settings: DiscordSettings, *, note_marker: str = "//") -> DiscordConfig:
    token = (settings.discord_token or "").strip()
    if not token:
        raise ConfigurationError("DISCORD_TOKEN", "is required to run the Discord adapter")
    if token.lower().startswith("bot "):
        raise ConfigurationError("DISCORD_TOKEN", "give the bare token, without the 'Bot ' prefix")
    if not settings.discord_support_channels:
        raise ConfigurationError(
            "SUPPORTBOT_DISCORD_SUPPORT_CHANNELS",
            "is required: comma-separated ids of the forum or text channels customers ask in",
        )
    channels = frozenset(_required("SUPPORTBOT_DISCORD_SUPPORT_CHANNELS", c) for c in settings.discord_support_channels)
    triage = _required("SUPPORTBOT_DISCORD_TRIAGE_CHANNEL", settings.discord_triage_channel)
    if triage in channels:
        raise ConfigurationError(
            "SUPPORTBOT_DISCORD_TRIAGE_CHANNEL",
            "must be a private staff channel, not one of the support channels "
            "(drafts and notes would be visible to customers)",
        )
    agent = _required("SUPPORTBOT_DISCORD_AGENT_ROLE", settings.discord_agent_role)
    manager = _snowflake("SUPPORTBOT_DISCORD_MANAGER_ROLE", settings.discord_manager_role, required=False)
    gateway = settings.discord_gateway_url
    if gateway is not None:
        gateway = gateway.strip() or None
    if gateway is not None and not gateway.startswith(("ws://", "wss://")):
        raise ConfigurationError("SUPPORTBOT_DISCORD_GATEWAY_URL", "must be a ws:// or wss:// URL")
    return DiscordConfig(
        token=token,
        api_url=settings.discord_api_url.rstrip("/"),
        gateway_url=gateway,
        support_channels=channels,
        triage_channel=triage,
        agent_role=agent,
        manager_role=manager,
        note_marker=note_marker,
    )
