"""Settings from environment variables and an optional ``supportbot.toml``.

Precedence: explicit arguments > environment > ``supportbot.toml`` > defaults.
Most variables are ``SUPPORTBOT_<NAME>``; platform credentials keep the names
their platforms document (``SLACK_BOT_TOKEN``, ``DISCORD_TOKEN``, ...).
Nested policy settings use ``SUPPORTBOT_POLICY__<NAME>`` (JSON for lists/maps)
or a ``[policy]`` table in the TOML file.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Annotated, Any

from pydantic import AliasChoices, BaseModel, Field, ValidationError, field_validator
from pydantic_settings import (
    BaseSettings,
    NoDecode,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from bot.errors import ConfigurationError

EXAMPLE_DIR = Path(__file__).parent / "example"

# Intents the bot may answer on its own when every other rule agrees: how-to
# questions whose answer is in the docs. Everything else gets a draft at most.
DEFAULT_AUTOMATION_INTENTS = [
    "password_reset", "two_factor_auth", "invoice", "plan_change", "api_error", "rate_limits",
    "webhooks", "integrations", "data_export", "data_import", "user_management", "onboarding",
    "dashboards_reports", "security_questionnaire", "account_login", "feature_request",
]
# Always a human, whatever the confidence: the cost of a wrong answer is too high.
DEFAULT_HANDOFF_INTENTS = ["outage", "security_incident", "data_loss", "cancellation"]


class PolicySettings(BaseModel):
    automation_intents: list[str] = Field(default_factory=lambda: list(DEFAULT_AUTOMATION_INTENTS))
    handoff_intents: list[str] = Field(default_factory=lambda: list(DEFAULT_HANDOFF_INTENTS))
    draft_tiers: list[str] = Field(default_factory=lambda: ["enterprise"])
    intent_thresholds: dict[str, float] = Field(default_factory=dict)
    tier_thresholds: dict[str, float] = Field(default_factory=dict)
    default_threshold: float = Field(0.6, ge=0, le=1)
    draft_min_confidence: float = Field(0.25, ge=0, le=1)
    min_article_score: float = Field(0.1, ge=0, le=1)  # for automatic answers
    draft_min_article_score: float = Field(0.02, ge=0, le=1)  # for drafts an agent reviews
    handoff_frustration: float = Field(0.7, ge=0, le=1)

    @field_validator("intent_thresholds", "tier_thresholds")
    @classmethod
    def _probabilities(cls, value: dict[str, float]) -> dict[str, float]:
        for key, threshold in value.items():
            if not 0 <= threshold <= 1:
                raise ValueError(f"threshold for {key!r} must be between 0 and 1, got {threshold}")
        return value


def _csv(value: Any) -> list[str]:
    if value is None or value == "":
        return []
    if isinstance(value, str):
        return [part.strip() for part in value.split(",") if part.strip()]
    return [str(v) for v in value]


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="SUPPORTBOT_",
        env_nested_delimiter="__",
        extra="ignore",
        populate_by_name=True,
    )

    database_url: str = "sqlite:///supportbot.db"
    kb_dir: Path = EXAMPLE_DIR / "kb"
    crm_file: Path | None = EXAMPLE_DIR / "crm.json"
    crm_url: str | None = None  # an HTTP CRM (see adapters/crm_http.py); overrides crm_file
    crm_token: str | None = None
    crm_cache_seconds: int = Field(900, ge=0)
    model_dir: Path = EXAMPLE_DIR / "model"
    grouping_window_minutes: int = Field(10, ge=0, le=24 * 60)
    note_marker: str = Field("//", min_length=1)
    max_message_chars: int = Field(40_000, ge=100)
    log_level: str = "INFO"
    heartbeat_file: Path = Path(tempfile.gettempdir()) / "supportbot.heartbeat"

    http_host: str = "0.0.0.0"
    http_port: int = Field(3000, ge=1, le=65535)
    playground_host: str = "127.0.0.1"
    playground_port: int = Field(8080, ge=0, le=65535)
    playground_token: str | None = None
    playground_enabled: bool | None = None  # None: only when no chat platform is configured

    slack_bot_token: str | None = Field(None, validation_alias=AliasChoices("SLACK_BOT_TOKEN", "slack_bot_token"))
    slack_signing_secret: str | None = Field(
        None, validation_alias=AliasChoices("SLACK_SIGNING_SECRET", "slack_signing_secret")
    )
    slack_app_token: str | None = Field(None, validation_alias=AliasChoices("SLACK_APP_TOKEN", "slack_app_token"))
    slack_api_url: str = "https://slack.com/api/"
    slack_triage_channel: str | None = None
    slack_managers: Annotated[list[str], NoDecode] = Field(default_factory=list)

    discord_token: str | None = Field(None, validation_alias=AliasChoices("DISCORD_TOKEN", "discord_token"))
    discord_api_url: str = "https://discord.com/api/v10"
    discord_gateway_url: str | None = None
    discord_support_channels: Annotated[list[str], NoDecode] = Field(default_factory=list)
    discord_triage_channel: str | None = None
    discord_agent_role: str | None = None
    discord_manager_role: str | None = None

    policy: PolicySettings = Field(default_factory=PolicySettings)

    @field_validator("slack_managers", "discord_support_channels", mode="before")
    @classmethod
    def _split_csv(cls, value: Any) -> list[str]:
        return _csv(value)

    @field_validator("database_url")
    @classmethod
    def _known_database(cls, value: str) -> str:
        if not value.startswith(("sqlite:", "postgresql:", "postgresql+", "postgres:")):
            raise ValueError("must start with sqlite:/// or postgresql://")
        return value

    @field_validator("slack_api_url")
    @classmethod
    def _trailing_slash(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError("must be an http(s) URL")
        return value if value.endswith("/") else value + "/"

    @field_validator("discord_api_url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError("must be an http(s) URL")
        return value.rstrip("/")

    @property
    def slack_enabled(self) -> bool:
        return bool(self.slack_bot_token)

    @property
    def discord_enabled(self) -> bool:
        return bool(self.discord_token)

    @property
    def serve_playground(self) -> bool:
        if self.playground_enabled is not None:
            return self.playground_enabled
        return not (self.slack_enabled or self.discord_enabled)

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        toml_path = Path(os.environ.get("SUPPORTBOT_CONFIG", "supportbot.toml"))
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        if toml_path.is_file():
            sources.append(TomlConfigSettingsSource(settings_cls, toml_file=toml_path))
        return tuple(sources)


def _setting_name(loc: tuple[Any, ...]) -> str:
    """Turn a pydantic error location into the variable a user would set."""
    head = str(loc[0]) if loc else "?"
    if head.isupper():  # already an alias such as SLACK_BOT_TOKEN
        return head
    field = Settings.model_fields.get(head)
    if field is not None and isinstance(field.validation_alias, AliasChoices):
        return str(field.validation_alias.choices[0])
    return "SUPPORTBOT_" + "__".join(str(part).upper() for part in loc)


def load_settings(**overrides: Any) -> Settings:
    """Build Settings or raise ConfigurationError naming the first bad setting."""
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        error = exc.errors()[0]
        raise ConfigurationError(_setting_name(tuple(error["loc"])), error["msg"]) from None
    except (ValueError, OSError) as exc:  # a value pydantic could not even parse, or a bad TOML file
        raise ConfigurationError(_source_name(str(exc)), str(exc)) from None


def _source_name(message: str) -> str:
    if 'field "' in message:  # pydantic-settings: error parsing value for field "x" from source ...
        name = message.split('field "', 1)[1].split('"', 1)[0]
        return _setting_name((name,))
    return os.environ.get("SUPPORTBOT_CONFIG", "supportbot.toml")
