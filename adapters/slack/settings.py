"""Slack settings (credentials keep the names Slack documents)."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import AliasChoices, BaseModel, Field, field_validator
from pydantic_settings import NoDecode

from supportbot.adapters.config import csv_list


class SlackSettings(BaseModel):
    slack_bot_token: str | None = Field(None, validation_alias=AliasChoices("SLACK_BOT_TOKEN", "slack_bot_token"))
    slack_signing_secret: str | None = Field(
        None, validation_alias=AliasChoices("SLACK_SIGNING_SECRET", "slack_signing_secret")
    )
    slack_app_token: str | None = Field(None, validation_alias=AliasChoices("SLACK_APP_TOKEN", "slack_app_token"))
    slack_api_url: str = "https://slack.com/api/"
    slack_triage_channel: str | None = None
    slack_managers: Annotated[list[str], NoDecode] = Field(default_factory=list)
    # pacing of chat.postMessage per channel: Slack documents about 1 message per second, short bursts allowed
    slack_post_per_second: float = Field(1.0, gt=0)
    slack_post_burst: int = Field(10, ge=1)
    # the ops server: /healthz, /metrics and, in HTTP mode, the Events API endpoint (0: any free port).
    # Unset: every interface in Slack HTTP mode (Slack must reach it), else loopback only (ops_host).
    http_host: str | None = None
    http_port: int = Field(3000, ge=0, le=65535)

    @field_validator("slack_managers", mode="before")
    @classmethod
    def _slack_csv(cls, value: Any) -> list[str]:
        return csv_list(value)

    @field_validator("slack_api_url")
    @classmethod
    def _slack_api_slash(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError("must be an http(s) URL")
        return value if value.endswith("/") else value + "/"

    @property
    def slack_enabled(self) -> bool:
        return bool(self.slack_bot_token)

    @property
    def ops_host(self) -> str:
        """Where the ops server listens: SUPPORTBOT_HTTP_HOST, else 0.0.0.0 for Slack's Events API, else loopback."""
        if self.http_host:
            return self.http_host
        return "0.0.0.0" if self.slack_enabled and not self.slack_app_token else "127.0.0.1"
