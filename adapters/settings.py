"""The one ``Settings`` object: every part's settings, read from the environment and ``supportbot.toml``.

Precedence: explicit arguments > environment > ``supportbot.toml`` > defaults.
Most variables are ``SUPPORTBOT_<NAME>``; platform credentials keep the names
their platforms document (``SLACK_BOT_TOKEN``, ``DISCORD_TOKEN``, ...).
Nested settings use ``SUPPORTBOT_POLICY__<NAME>`` (JSON for lists/maps) or a
``[policy]`` table in the TOML file. Each part owns its fields:

* the core: ``supportbot.bot.settings.CoreSettings``
* storage: ``supportbot.storage.settings.StorageSettings``
* Slack, Discord, the playground, the CRM: their adapter packages
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

from pydantic import AliasChoices, BaseModel, Field, SecretStr, ValidationError
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict, TomlConfigSettingsSource

from supportbot.adapters.crm.settings import CrmSettings
from supportbot.adapters.discord_bot.config import DiscordSettings
from supportbot.adapters.llm.settings import LlmSettings
from supportbot.adapters.playground.settings import PlaygroundSettings
from supportbot.adapters.slack.settings import SlackSettings
from supportbot.bot.errors import ConfigurationError
from supportbot.bot.settings import CoreSettings
from supportbot.storage.settings import StorageSettings


class RuntimeSettings(BaseModel):
    log_level: str = "INFO"
    log_format: Literal["text", "json"] = "text"  # json: one object per line (adapters/logs.py)
    # /healthz says "degraded" when the oldest pending outbox item is older (a stuck platform API)
    health_outbox_stuck_seconds: float = Field(300.0, gt=0)
    # None: beside the SQLite database, else in the working directory (see heartbeat_path)
    heartbeat_file: Path | None = None


# Validators of the parts are merged by name into Settings: give each a name of its own.
class Settings(
    CrmSettings,  # a BaseSettings of its own (``supportbot crm`` can read it alone), so first
    CoreSettings,
    StorageSettings,
    SlackSettings,
    DiscordSettings,
    PlaygroundSettings,
    LlmSettings,
    RuntimeSettings,
    BaseSettings,
):
    model_config = SettingsConfigDict(
        env_prefix="SUPPORTBOT_",
        env_nested_delimiter="__",
        extra="ignore",
        populate_by_name=True,
    )

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


_SECRET_NAME = re.compile(r"token|secret|password|api_key", re.IGNORECASE)


def secret_values(settings: BaseModel) -> list[str]:
    """Every credential in ``settings`` (SecretStr fields, fields named like one, the database password),
    for the log redactor."""
    found: list[str] = []

    def walk(model: BaseModel) -> None:
        for name in type(model).model_fields:
            value = getattr(model, name, None)
            if isinstance(value, SecretStr):
                found.append(value.get_secret_value())
            elif isinstance(value, str) and _SECRET_NAME.search(name):
                found.append(value)
            elif isinstance(value, BaseModel):
                walk(value)

    walk(settings)
    url = getattr(settings, "database_url", None)
    if isinstance(url, str) and "://" in url:
        try:
            password = urlsplit(url).password
        except ValueError:
            password = None
        if password:
            found.append(password)
    return [value for value in found if value]


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


__all__ = ["Settings", "load_settings", "secret_values"]
