"""CRM adapters behind the ``CRM`` port: a JSON file, a generic HTTP contract, HubSpot and Salesforce.

``build_crm(settings)`` is the one factory; ``settings`` is a ``CrmSettings`` (or the root
``Settings`` once it inherits it). Vendor modules are imported only when chosen.
"""

from __future__ import annotations

from pydantic import SecretStr

from supportbot.adapters.crm.settings import CrmKind, CrmSettings
from supportbot.bot.errors import ConfigurationError
from supportbot.bot.ports import CRM


def _secret(value: SecretStr | str | None) -> str | None:
    return value.get_secret_value() if isinstance(value, SecretStr) else value


def build_crm(settings: CrmSettings) -> CRM:
    """The configured CRM adapter; a missing credential is a ConfigurationError naming it."""
    from supportbot.adapters.crm.rest import RetryPolicy  # httpx: only when a network CRM is chosen

    kind = settings.crm_kind
    retry = RetryPolicy(max_delay=settings.crm_retry_after_max_seconds)
    if kind is CrmKind.HUBSPOT:
        from supportbot.adapters.crm.hubspot import HubSpotCRM

        token = _secret(settings.hubspot_access_token)
        if not token:
            raise ConfigurationError("HUBSPOT_ACCESS_TOKEN", "required when SUPPORTBOT_CRM=hubspot")
        return HubSpotCRM(
            token,
            api_url=settings.hubspot_api_url,
            properties=settings.hubspot_properties,
            timeout=settings.crm_timeout_seconds,
            retry=retry,
        )
    if kind is CrmKind.SALESFORCE:
        from supportbot.adapters.crm.salesforce import SalesforceCRM

        secret = _secret(settings.salesforce_client_secret)
        for name, value in (
            ("SALESFORCE_INSTANCE_URL", settings.salesforce_instance_url),
            ("SALESFORCE_CLIENT_ID", settings.salesforce_client_id),
            ("SALESFORCE_CLIENT_SECRET", secret),
        ):
            if not value:
                raise ConfigurationError(name, "required when SUPPORTBOT_CRM=salesforce")
        return SalesforceCRM(
            settings.salesforce_instance_url or "",
            settings.salesforce_client_id or "",
            secret or "",
            api_version=settings.salesforce_api_version,
            fields=settings.salesforce_fields,
            timeout=settings.crm_timeout_seconds,
            retry=retry,
        )
    if kind is CrmKind.HTTP:
        from supportbot.adapters.crm.http import HttpCRM

        if not settings.crm_url:
            raise ConfigurationError("SUPPORTBOT_CRM_URL", "required when SUPPORTBOT_CRM=http")
        return HttpCRM(settings.crm_url, token=_secret(settings.crm_token), timeout=settings.crm_timeout_seconds)
    from supportbot.adapters.crm.file import FileCRM, NoCRM

    return FileCRM(settings.crm_file) if settings.crm_file else NoCRM()
