"""`supportbot crm lookup | check` against the fakes: the real process (stdout, stderr, exit code)
for the contract's shapes, click's runner (in a worker thread, so the fakes keep serving) for the rest."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from dataclasses import dataclass

import pytest
from click.testing import CliRunner

from supportbot.adapters.cli import main
from tests.crm import fake_hubspot as hs
from tests.crm import fake_salesforce as sf
from tests.crm.conftest import SF_ACME

ACCOUNT_KEYS = ["id", "name", "tier", "arr", "renewal_date", "owner", "health", "open_tickets"]
OURS = ("SUPPORTBOT_", "HUBSPOT_", "SALESFORCE_", "SLACK_", "DISCORD_")


@dataclass
class Run:
    code: int
    stdout: str
    stderr: str


@pytest.fixture
def clean_env(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # no supportbot.toml of the developer's
    for name in list(os.environ):
        if name.startswith(OURS):
            monkeypatch.delenv(name)
    return monkeypatch


async def supportbot(*args: str, **env: str) -> Run:
    """The installed CLI in its own process, as an operator runs it."""
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "supportbot.adapters.cli",
        *args,
        env={**os.environ, "SUPPORTBOT_LOG_LEVEL": "DEBUG", **env},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await process.communicate()
    return Run(process.returncode or 0, out.decode(), err.decode())


async def invoke(*args: str, **env: str):
    runner = CliRunner()
    return await asyncio.to_thread(runner.invoke, main, list(args), env=env)


def hubspot_env(fake: hs.FakeHubSpot, token: str = hs.TOKEN) -> dict[str, str]:
    return {"SUPPORTBOT_CRM": "hubspot", "HUBSPOT_ACCESS_TOKEN": token, "SUPPORTBOT_HUBSPOT_API_URL": fake.url}


def salesforce_env(fake: sf.FakeSalesforce, secret: str = sf.CLIENT_SECRET) -> dict[str, str]:
    return {
        "SUPPORTBOT_CRM": "salesforce",
        "SALESFORCE_INSTANCE_URL": fake.login_url,
        "SALESFORCE_CLIENT_ID": sf.CLIENT_ID,
        "SALESFORCE_CLIENT_SECRET": secret,
        "SUPPORTBOT_SALESFORCE_API_VERSION": "62.0",
    }


async def test_hubspot_lookup_prints_exactly_one_json_line(clean_env, hubspot):
    run = await supportbot("crm", "lookup", "--email", "alice@acme.com", "--json", **hubspot_env(hubspot))
    assert run.code == 0, run.stderr
    (line,) = run.stdout.splitlines()
    account = json.loads(line)["account"]
    assert list(account) == ACCOUNT_KEYS
    assert account == {
        "id": hubspot.ids["acme"],
        "name": "Acme Corp",
        "tier": "enterprise",
        "arr": 120000.5,
        "renewal_date": "2027-03-31",
        "owner": "Dana Whitfield",
        "health": "Green",
        "open_tickets": [
            {"id": hubspot.ids["t_new"], "subject": "SSO loop", "status": "New", "priority": "HIGH"},
            {"id": hubspot.ids["t_eng"], "subject": "Export stuck", "status": "With engineering", "priority": ""},
        ],
    }
    assert hs.TOKEN not in run.stderr + run.stdout


async def test_not_found_is_null_and_exit_zero(clean_env, hubspot):
    run = await supportbot("crm", "lookup", "--email", "nobody@nowhere.example", "--json", **hubspot_env(hubspot))
    assert (run.code, run.stdout) == (0, '{"account": null}\n'), run.stderr
    for args in (["--account", "not-a-hubspot-id"], ["--slack-team", "T0NONE"], ["--discord-guild", "1"]):
        result = await invoke("crm", "lookup", *args, "--json", **hubspot_env(hubspot))
        assert (result.exit_code, result.stdout) == (0, '{"account": null}\n'), result.output


async def test_a_bad_hubspot_token_exits_non_zero_with_one_line(clean_env, hubspot):
    run = await supportbot(
        "crm", "lookup", "--email", "alice@acme.com", "--json", **hubspot_env(hubspot, "pat-na1-bad")
    )
    assert run.code != 0 and run.stdout == ""
    last = run.stderr.strip().splitlines()[-1]
    assert last.startswith("Error: bad CRM credentials") and "401" in last
    assert "pat-na1-bad" not in run.stderr


async def test_salesforce_lookup_and_bad_secret(clean_env, salesforce):
    run = await supportbot("crm", "lookup", "--slack-team", "T0ACME0001", "--json", **salesforce_env(salesforce))
    assert run.code == 0, run.stderr
    account = json.loads(run.stdout)["account"]
    assert account["id"] == SF_ACME and account["owner"] == "Jane Doe" and account["arr"] == 120000.5
    assert [t["id"] for t in account["open_tickets"]] == ["00001001", "00001003"]  # CaseNumbers
    assert all(c.path.startswith("/services/data/v62.0/") for c in salesforce.requests(site="api"))
    assert sf.CLIENT_SECRET not in run.stderr and "sessiontoken" not in run.stderr
    bad = await supportbot(
        "crm", "lookup", "--account", SF_ACME, "--json", **salesforce_env(salesforce, "wrong-secret")
    )
    assert bad.code != 0 and bad.stdout == "" and "invalid_client" in bad.stderr
    assert "wrong-secret" not in bad.stderr


async def test_lookup_always_asks_the_crm(clean_env, hubspot):
    env = hubspot_env(hubspot)
    for _ in range(2):
        result = await invoke("crm", "lookup", "--slack-team", "T0ACME0001", "--json", **env)
        assert result.exit_code == 0, result.output
        assert json.loads(result.stdout)["account"]["name"] == "Acme Corp"
    assert len(hubspot.requests("/crm/v3/objects/companies/search")) == 2


async def test_rate_limits_are_retried_and_an_outage_is_a_clear_error(clean_env, hubspot):
    hubspot.fail("/crm/v3/objects/companies/search", 429, retry_after="0")
    result = await invoke("crm", "lookup", "--slack-team", "T0ACME0001", "--json", **hubspot_env(hubspot))
    assert result.exit_code == 0 and json.loads(result.stdout)["account"] is not None
    down = {**hubspot_env(hubspot), "SUPPORTBOT_HUBSPOT_API_URL": "http://127.0.0.1:9"}
    result = await invoke("crm", "lookup", "--slack-team", "T0ACME0001", "--json", **down)
    assert result.exit_code == 1 and result.stdout == ""
    assert "CRM request failed: HubSpot is unreachable" in result.stderr


@pytest.mark.parametrize(
    ("args", "env", "message"),
    [
        (["--email", "a@acme.com"], {"SUPPORTBOT_CRM": "hubspot"}, "setting HUBSPOT_ACCESS_TOKEN: required"),
        (["--email", "a@acme.com"], {"SUPPORTBOT_CRM": "salesforce"}, "setting SALESFORCE_INSTANCE_URL: required"),
        (["--email", "a@acme.com"], {"SUPPORTBOT_CRM": "pipedrive"}, "setting SUPPORTBOT_CRM: Input should be"),
        (
            ["--email", "a@acme.com"],
            {"SUPPORTBOT_CRM": "salesforce", "SUPPORTBOT_SALESFORCE_API_VERSION": "latest"},
            "setting SUPPORTBOT_SALESFORCE_API_VERSION",
        ),
        (
            ["--email", "a@acme.com"],
            {"SUPPORTBOT_CRM": "hubspot", "HUBSPOT_ACCESS_TOKEN": "x", "SUPPORTBOT_HUBSPOT_API_URL": "api.hubapi.com"},
            "setting SUPPORTBOT_HUBSPOT_API_URL: Value error, must be an http:// or https:// URL",
        ),
    ],
)
async def test_bad_settings_exit_non_zero_naming_the_setting(clean_env, args, env, message):
    result = await invoke("crm", "lookup", *args, "--json", **env)
    assert result.exit_code == 1 and result.stdout == ""
    assert message in result.stderr and len(result.stderr.strip().splitlines()) == 1


@pytest.mark.parametrize("args", [[], ["--email", "a@acme.com", "--account", "1"]])
async def test_exactly_one_key_is_required(clean_env, args):
    result = await invoke("crm", "lookup", *args)
    assert result.exit_code == 2 and "exactly one of --email, --slack-team, --discord-guild, --account" in result.stderr


async def test_the_file_crm_is_the_default(clean_env):
    result = await invoke("crm", "lookup", "--email", "someone@globex.example", "--json")
    account = json.loads(result.stdout)["account"]
    assert list(account) == ACCOUNT_KEYS and account["id"] == "acc_globex" and account["arr"] == 184000
    assert account["open_tickets"][0] == {
        "id": "TCK-4411",
        "subject": "SSO login loop for EU users",
        "status": "open",
        "priority": "high",
    }
    text = await invoke("crm", "lookup", "--account", "acc_globex")
    assert text.exit_code == 0 and "Globex Corporation (acc_globex)" in text.stdout and "TCK-4411" in text.stdout


async def test_check_says_whether_credentials_and_mapped_properties_work(clean_env, hubspot):
    result = await invoke("crm", "check", "--json", **hubspot_env(hubspot))
    report = json.loads(result.stdout)
    assert result.exit_code == 0 and report["ok"] and report["credentials"]
    assert report["fields"]["supportbot_slack_team_id"] is True
    hubspot.schemas["companies"].remove("supportbot_tier")
    result = await invoke("crm", "check", **hubspot_env(hubspot))
    assert result.exit_code == 1 and "MISSING  supportbot_tier" in result.stdout
    result = await invoke("crm", "check", "--json", **hubspot_env(hubspot, "pat-na1-bad"))
    assert result.exit_code == 1 and json.loads(result.stdout)["credentials"] is False


async def test_salesforce_check(clean_env, salesforce):
    result = await invoke("crm", "check", "--json", **salesforce_env(salesforce))
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["fields"]["Owner.Name"] is True
    result = await invoke("crm", "check", **salesforce_env(salesforce, "nope"))
    assert result.exit_code == 1 and "credentials: REJECTED" in result.stdout
