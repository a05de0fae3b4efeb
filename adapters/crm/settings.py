"""Every CRM setting, as a pydantic-settings mixin the root ``Settings`` can inherit.

``SUPPORTBOT_CRM`` picks the adapter: ``file`` (the default; the bundled example or
``SUPPORTBOT_CRM_FILE``), ``http`` (the generic contract in ``http.py``), ``hubspot`` or
``salesforce``. Left unset with ``SUPPORTBOT_CRM_URL`` set it means ``http``, as before.
Vendor credentials keep the names the vendors' docs use (``HUBSPOT_ACCESS_TOKEN``,
``SALESFORCE_CLIENT_ID``, ...). The property and field names are nested models:
``[hubspot_properties]`` / ``[salesforce_fields]`` tables in ``supportbot.toml`` or
``SUPPORTBOT_HUBSPOT_PROPERTIES__TIER=...`` in the environment.
"""

from __future__ import annotations

import os
import re
from enum import StrEnum
from pathlib import Path
from typing import Any

from pydantic import AliasChoices, BaseModel, Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict, TomlConfigSettingsSource

from supportbot.bot.errors import ConfigurationError
from supportbot.bot.settings import EXAMPLE_DIR

# Names go into SOQL and JSON bodies verbatim, so only plain identifiers are accepted:
# a mapping typo must not become a different query.
_HUBSPOT_NAME = re.compile(r"[A-Za-z0-9_]+")
_SALESFORCE_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_]*(\.[A-Za-z][A-Za-z0-9_]*)?")
_API_VERSION = re.compile(r"v?(\d{2,3}\.\d)")


class CrmKind(StrEnum):
    FILE = "file"
    HTTP = "http"
    HUBSPOT = "hubspot"
    SALESFORCE = "salesforce"


class HubSpotProperties(BaseModel):
    """Internal names of the HubSpot company properties supportbot reads."""

    name: str = "name"
    domain: str = "domain"
    owner: str = "hubspot_owner_id"
    tier: str = "supportbot_tier"
    arr: str = "supportbot_arr"
    renewal_date: str = "supportbot_renewal_date"
    health: str = "supportbot_health"
    slack_team_id: str = "supportbot_slack_team_id"
    discord_guild_id: str = "supportbot_discord_guild_id"

    @field_validator("*")
    @classmethod
    def _identifier(cls, value: str) -> str:
        if not _HUBSPOT_NAME.fullmatch(value):
            raise ValueError(f"{value!r} is not a HubSpot property internal name (letters, digits, _)")
        return value

    def company_properties(self) -> list[str]:
        return list(dict.fromkeys(self.model_dump().values()))


class SalesforceFields(BaseModel):
    """API names of the Salesforce Account fields supportbot reads (``Owner.Name`` is a relationship)."""

    name: str = "Name"
    website: str = "Website"
    owner: str = "Owner.Name"
    tier: str = "Supportbot_Tier__c"
    arr: str = "Supportbot_ARR__c"
    renewal_date: str = "Supportbot_Renewal_Date__c"
    health: str = "Supportbot_Health__c"
    slack_team_id: str = "Supportbot_Slack_Team_ID__c"
    discord_guild_id: str = "Supportbot_Discord_Guild_ID__c"

    @field_validator("*")
    @classmethod
    def _identifier(cls, value: str) -> str:
        if not _SALESFORCE_NAME.fullmatch(value):
            raise ValueError(f"{value!r} is not a Salesforce field API name (such as Tier__c or Owner.Name)")
        return value

    def account_fields(self) -> list[str]:
        return list(dict.fromkeys(["Id", *self.model_dump().values()]))


def _alias(name: str) -> Any:
    return AliasChoices(name, name.lower())


def _http_url(value: str | None) -> str | None:
    if value is None or value == "":
        return None
    if not value.startswith(("http://", "https://")):
        raise ValueError("must be an http:// or https:// URL")
    return value.rstrip("/")


class CrmSettings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="SUPPORTBOT_",
        env_nested_delimiter="__",
        extra="ignore",
        populate_by_name=True,
    )

    crm: CrmKind | None = None  # None: http when crm_url is set, else file (see crm_kind)
    crm_file: Path | None = EXAMPLE_DIR / "crm.json"
    crm_url: str | None = None
    crm_token: SecretStr | None = None
    # (SUPPORTBOT_CRM_CACHE_SECONDS belongs to the core: bot.settings.CoreSettings)
    # Per request: connect within min(3 s, this), then each read/write within this; a whole
    # request (one attempt) is also bounded by twice this. The core's own deadline wraps lookups.
    crm_timeout_seconds: float = Field(5.0, gt=0, le=120)
    crm_retry_after_max_seconds: float = Field(5.0, ge=0, le=300)  # cap on a 429/5xx Retry-After

    hubspot_access_token: SecretStr | None = Field(None, validation_alias=_alias("HUBSPOT_ACCESS_TOKEN"))
    hubspot_api_url: str = "https://api.hubapi.com"
    hubspot_properties: HubSpotProperties = Field(default_factory=HubSpotProperties)

    salesforce_instance_url: str | None = Field(None, validation_alias=_alias("SALESFORCE_INSTANCE_URL"))
    salesforce_client_id: str | None = Field(None, validation_alias=_alias("SALESFORCE_CLIENT_ID"))
    salesforce_client_secret: SecretStr | None = Field(None, validation_alias=_alias("SALESFORCE_CLIENT_SECRET"))
    salesforce_api_version: str = "v62.0"
    salesforce_fields: SalesforceFields = Field(default_factory=SalesforceFields)

    @field_validator("crm", mode="before")
    @classmethod
    def _kind(cls, value: Any) -> Any:
        return (value.strip().lower() or None) if isinstance(value, str) else value

    @field_validator("crm_url", "salesforce_instance_url")
    @classmethod
    def _optional_url(cls, value: str | None) -> str | None:
        return _http_url(value)

    @field_validator("hubspot_api_url")
    @classmethod
    def _url(cls, value: str) -> str:
        return _http_url(value) or "https://api.hubapi.com"

    @field_validator("salesforce_api_version")
    @classmethod
    def _version(cls, value: str) -> str:
        match = _API_VERSION.fullmatch(value.strip())
        if not match:
            raise ValueError(f"{value!r} is not an API version such as 62.0 or v62.0")
        return f"v{match.group(1)}"

    @property
    def crm_kind(self) -> CrmKind:
        if self.crm is not None:
            return self.crm
        return CrmKind.HTTP if self.crm_url else CrmKind.FILE

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # The same sources as the root Settings (which overrides this once it inherits the mixin).
        toml_path = Path(os.environ.get("SUPPORTBOT_CONFIG", "supportbot.toml"))
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        if toml_path.is_file():
            sources.append(TomlConfigSettingsSource(settings_cls, toml_file=toml_path))
        return tuple(sources)


def setting_name(loc: tuple[Any, ...]) -> str:
    """The variable a user would set for a pydantic error location."""
    head = str(loc[0]) if loc else "?"
    for name, field in CrmSettings.model_fields.items():
        choices = field.validation_alias.choices if isinstance(field.validation_alias, AliasChoices) else ()
        if head == name or head in choices or head.lower() in choices:
            if choices:
                return str(choices[0])
            break
    return "SUPPORTBOT_" + "__".join(str(part).upper() for part in loc)


def load_crm_settings(**overrides: Any) -> CrmSettings:
    """CrmSettings from init values, the environment and supportbot.toml, or a ConfigurationError."""
    try:
        return CrmSettings(**overrides)
    except ValidationError as exc:
        error = exc.errors()[0]
        raise ConfigurationError(setting_name(tuple(error["loc"])), error["msg"]) from None
    except (ValueError, OSError) as exc:  # unparsable JSON for a nested model, or a bad TOML file
        raise ConfigurationError("CRM settings", str(exc)) from None


_LEGACY = ("crm_file", "crm_url", "crm_token")


def crm_settings_for(settings: Any) -> CrmSettings:
    """The CRM settings of a root Settings object.

    Once the root ``Settings`` inherits ``CrmSettings`` this is the object itself; until then
    the CRM settings are read from the same sources, with the CRM values the root object
    already holds (tests pass ``crm_file=...`` to ``load_settings``) taking precedence.
    """
    if isinstance(settings, CrmSettings):
        return settings
    overrides = {name: getattr(settings, name) for name in _LEGACY if hasattr(settings, name)}
    return load_crm_settings(**overrides)
