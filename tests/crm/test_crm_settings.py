"""CrmSettings: names, aliases, nested mappings from env and supportbot.toml, secrets kept out of reprs."""

from __future__ import annotations

import os

import pytest

from supportbot.adapters.crm import build_crm
from supportbot.adapters.crm.file import FileCRM, NoCRM
from supportbot.adapters.crm.http import HttpCRM
from supportbot.adapters.crm.hubspot import HubSpotCRM
from supportbot.adapters.crm.salesforce import SalesforceCRM
from supportbot.adapters.crm.settings import CrmKind, CrmSettings, crm_settings_for, load_crm_settings
from supportbot.adapters.settings import Settings, load_settings
from supportbot.bot.errors import ConfigurationError


@pytest.fixture(autouse=True)
def clean_env(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    for name in list(os.environ):
        if name.startswith(("SUPPORTBOT_", "HUBSPOT_", "SALESFORCE_")):
            monkeypatch.delenv(name)
    return monkeypatch


def test_defaults_are_the_bundled_file_and_the_documented_names():
    settings = load_crm_settings()
    assert settings.crm_kind is CrmKind.FILE and settings.crm_file.name == "crm.json"
    assert settings.hubspot_api_url == "https://api.hubapi.com"
    assert settings.salesforce_api_version == "v62.0"
    assert (
        settings.hubspot_properties.tier == "supportbot_tier"
        and settings.hubspot_properties.owner == "hubspot_owner_id"
    )
    assert settings.salesforce_fields.slack_team_id == "Supportbot_Slack_Team_ID__c"
    assert settings.salesforce_fields.owner == "Owner.Name"
    assert isinstance(build_crm(settings), FileCRM)
    assert isinstance(build_crm(load_crm_settings(crm_file=None)), NoCRM)


def test_vendor_credentials_use_the_vendors_names_and_stay_secret(clean_env):
    clean_env.setenv("SUPPORTBOT_CRM", "HubSpot")
    clean_env.setenv("HUBSPOT_ACCESS_TOKEN", "pat-na1-very-secret")
    clean_env.setenv("SALESFORCE_INSTANCE_URL", "https://acme.my.salesforce.com/")
    clean_env.setenv("SALESFORCE_CLIENT_ID", "3MVG9abc")
    clean_env.setenv("SALESFORCE_CLIENT_SECRET", "sf-very-secret")
    clean_env.setenv("SUPPORTBOT_CRM_TOKEN", "http-very-secret")
    settings = load_crm_settings()
    assert settings.crm_kind is CrmKind.HUBSPOT
    assert settings.hubspot_access_token.get_secret_value() == "pat-na1-very-secret"
    assert settings.salesforce_instance_url == "https://acme.my.salesforce.com"
    assert settings.salesforce_client_id == "3MVG9abc"
    for text in (repr(settings), str(settings), str(settings.model_dump()), repr(build_crm(settings))):
        assert "very-secret" not in text
    assert isinstance(build_crm(settings), HubSpotCRM)
    assert isinstance(build_crm(settings.model_copy(update={"crm": CrmKind.SALESFORCE})), SalesforceCRM)


@pytest.mark.parametrize(("given", "expected"), [("62.0", "v62.0"), ("v62.0", "v62.0"), (" v63.0 ", "v63.0")])
def test_the_salesforce_api_version_accepts_both_spellings(clean_env, given, expected):
    clean_env.setenv("SUPPORTBOT_SALESFORCE_API_VERSION", given)
    assert load_crm_settings().salesforce_api_version == expected


@pytest.mark.parametrize("bad", ["62", "latest", "v62.0; DROP"])
def test_a_bad_api_version_names_the_setting(clean_env, bad):
    clean_env.setenv("SUPPORTBOT_SALESFORCE_API_VERSION", bad)
    with pytest.raises(ConfigurationError) as caught:
        load_crm_settings()
    assert caught.value.setting == "SUPPORTBOT_SALESFORCE_API_VERSION"


def test_mappings_come_from_supportbot_toml_and_the_environment(clean_env, tmp_path):
    (tmp_path / "supportbot.toml").write_text(
        '[hubspot_properties]\ntier = "plan_level"\n\n[salesforce_fields]\narr = "AnnualRevenue"\n'
    )
    clean_env.setenv("SUPPORTBOT_HUBSPOT_PROPERTIES__HEALTH", "cs_health")
    settings = load_crm_settings()
    assert settings.hubspot_properties.tier == "plan_level" and settings.hubspot_properties.health == "cs_health"
    assert settings.hubspot_properties.arr == "supportbot_arr"  # the rest keep their defaults
    assert settings.salesforce_fields.arr == "AnnualRevenue"


@pytest.mark.parametrize(
    ("name", "value", "setting"),
    [
        ("SUPPORTBOT_SALESFORCE_FIELDS__TIER", "Tier__c FROM User", "SUPPORTBOT_SALESFORCE_FIELDS__TIER"),
        ("SUPPORTBOT_HUBSPOT_PROPERTIES__ARR", "arr'", "SUPPORTBOT_HUBSPOT_PROPERTIES__ARR"),
        ("SALESFORCE_INSTANCE_URL", "acme.my.salesforce.com", "SALESFORCE_INSTANCE_URL"),
        ("SUPPORTBOT_CRM_TIMEOUT_SECONDS", "0", "SUPPORTBOT_CRM_TIMEOUT_SECONDS"),
    ],
)
def test_a_bad_value_names_the_setting(clean_env, name, value, setting):
    clean_env.setenv(name, value)
    with pytest.raises(ConfigurationError) as caught:
        load_crm_settings()
    assert caught.value.setting == setting


def test_the_crm_url_alone_still_means_the_http_crm(clean_env):
    clean_env.setenv("SUPPORTBOT_CRM_URL", "http://crm.internal/api")
    assert load_crm_settings().crm_kind is CrmKind.HTTP
    assert isinstance(build_crm(load_crm_settings()), HttpCRM)
    clean_env.setenv("SUPPORTBOT_CRM", "file")
    assert load_crm_settings().crm_kind is CrmKind.FILE  # an explicit choice wins


@pytest.mark.parametrize(
    ("kind", "missing"),
    [("hubspot", "HUBSPOT_ACCESS_TOKEN"), ("salesforce", "SALESFORCE_INSTANCE_URL"), ("http", "SUPPORTBOT_CRM_URL")],
)
def test_a_missing_credential_names_it(clean_env, kind, missing):
    clean_env.setenv("SUPPORTBOT_CRM", kind)
    with pytest.raises(ConfigurationError) as caught:
        build_crm(load_crm_settings())
    assert caught.value.setting == missing


def test_the_root_settings_can_inherit_the_mixin(clean_env):
    """What the composition root will do: class Settings(..., CrmSettings)."""

    class Root(Settings, CrmSettings):
        pass

    clean_env.setenv("SUPPORTBOT_CRM", "salesforce")
    clean_env.setenv("SUPPORTBOT_HTTP_PORT", "3100")
    clean_env.setenv("SUPPORTBOT_SALESFORCE_FIELDS__TIER", "Plan__c")
    root = Root()
    assert root.http_port == 3100 and root.crm_kind is CrmKind.SALESFORCE
    assert root.salesforce_fields.tier == "Plan__c"
    assert crm_settings_for(root) is root


def test_until_then_the_root_settings_values_are_carried_over(clean_env, tmp_path):
    crm_file = tmp_path / "accounts.json"
    crm_file.write_text('{"accounts": [{"id": "acc_1", "name": "One"}]}')
    settings = crm_settings_for(load_settings(crm_file=crm_file))
    assert settings.crm_file == crm_file and settings.crm_kind is CrmKind.FILE
    assert [a.id for a in build_crm(settings)._accounts] == ["acc_1"]
