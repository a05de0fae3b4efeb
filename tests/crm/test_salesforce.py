"""SalesforceCRM against the loopback fake org: client-credentials token, SOQL parsed by the fake."""

from __future__ import annotations

import logging
import time
from datetime import date

import pytest

from supportbot.adapters.crm.rest import RetryPolicy
from supportbot.adapters.crm.salesforce import soql_like_contains, soql_literal
from supportbot.adapters.crm.settings import SalesforceFields
from supportbot.bot.domain import AccountLookup
from supportbot.bot.errors import CRMCredentialsError, CRMError, CRMUnavailable
from tests.crm import fake_salesforce as sf
from tests.crm import soql
from tests.crm.conftest import SF_ACME, SF_ACME_AU, SF_GLOBEX, SF_NOTACME, SF_QUOTED, make_salesforce_crm


def by_email(email):
    return AccountLookup(email=email)


async def test_email_finds_the_contacts_account_mapped_as_the_contract_says(salesforce, salesforce_crm):
    account = await salesforce_crm.find_account(by_email("alice@acme.com"))
    assert account is not None and account.id == SF_ACME
    assert account.name == "Acme Corp"
    assert account.tier == "enterprise"
    assert account.arr == 120000.5
    assert account.renewal_date == date(2027, 3, 31)
    assert account.owner == "Jane Doe"  # Owner.Name
    assert account.health == "Green"
    assert account.slack_team_ids == ("T0ACME0001",) and account.email_domains == ("acme.com",)
    # open Cases only; a ticket's id is its CaseNumber
    assert [(t.id, t.subject, t.status, t.priority) for t in account.open_tickets] == [
        ("00001001", "SSO loop", "New", "High"),
        ("00001003", "Export stuck", "Escalated", "Medium"),
    ]
    assert salesforce.queries()[0] == "SELECT AccountId FROM Contact WHERE Email = 'alice@acme.com'"
    assert salesforce.queries()[-1] == (
        f"SELECT CaseNumber, Subject, Status, Priority FROM Case WHERE AccountId = '{SF_ACME}' AND IsClosed = false"
    )


async def test_the_token_comes_from_the_login_url_and_api_calls_go_to_its_instance_url(salesforce, salesforce_crm):
    await salesforce_crm.find_account(by_email("alice@acme.com"))
    (token_call,) = salesforce.requests(site="login")
    assert token_call.path == "/services/oauth2/token" and token_call.method == "POST"
    assert token_call.form == {
        "grant_type": "client_credentials",
        "client_id": sf.CLIENT_ID,
        "client_secret": sf.CLIENT_SECRET,
    }
    api_calls = salesforce.requests(site="api")
    assert api_calls and all(c.path.startswith("/services/data/v62.0/query") for c in api_calls)
    assert all(c.authorization == "Bearer 00DFAKE!AQ0001.sessiontoken" for c in api_calls)


async def test_one_token_per_process_is_reused(salesforce, salesforce_crm):
    for email in ("alice@acme.com", "carol@partner.example", "bob@acme.com"):
        await salesforce_crm.find_account(by_email(email))
    await make_salesforce_crm(salesforce).find_account(AccountLookup(account_id=SF_ACME))  # another adapter
    assert salesforce.tokens_issued == 1


async def test_an_expired_session_gets_one_new_token_and_one_retry(salesforce, salesforce_crm):
    await salesforce_crm.find_account(by_email("alice@acme.com"))
    salesforce.expire_sessions()
    account = await salesforce_crm.find_account(AccountLookup(slack_team_id="T0ACME0001"))
    assert account is not None and account.id == SF_ACME
    assert salesforce.tokens_issued == 2
    slack_queries = [
        s for s in salesforce.requests(site="api") if "Supportbot_Slack_Team_ID__c =" in s.query.get("q", "")
    ]
    assert [s.authorization for s in slack_queries] == [
        "Bearer 00DFAKE!AQ0001.sessiontoken",
        "Bearer 00DFAKE!AQ0002.sessiontoken",
    ]
    await salesforce_crm.find_account(AccountLookup(slack_team_id="T0ACME0001"))
    assert salesforce.tokens_issued == 2  # the new token is reused in turn


async def test_a_session_that_stays_invalid_is_a_credentials_error_not_a_loop(salesforce, salesforce_crm):
    await salesforce_crm.find_account(by_email("alice@acme.com"))
    salesforce.live_tokens = _Nothing()  # every token is rejected right away
    with pytest.raises(CRMCredentialsError, match="INVALID_SESSION_ID"):
        await salesforce_crm.find_account(AccountLookup(account_id=SF_ACME))
    assert salesforce.tokens_issued == 2  # the first and exactly one more


class _Nothing(set):
    def add(self, item):  # tokens are issued but never become valid
        pass


@pytest.mark.parametrize(
    ("email", "expected"),
    [
        ("bob@acme.com", SF_ACME),  # no contact: Website contains the domain, whole host compared
        ("loner@acme.com", SF_ACME),  # a contact without AccountId
        ("Bob@ACME.com", SF_ACME),  # Website "https://www.Acme.com/"
        ("zed@notacme.com", SF_NOTACME),
        ("kim@acme.com.au", SF_ACME_AU),
        ("x@cme.com", None),
        ("x@eu.acme.com", None),
    ],
)
async def test_the_website_fallback_matches_the_whole_host(salesforce, salesforce_crm, email, expected):
    account = await salesforce_crm.find_account(by_email(email))
    assert (account.id if account else None) == expected


async def test_query_results_are_paged_with_next_records_url(salesforce):
    salesforce.batch_size = 1  # the lookalikes come first, Acme is on the third page
    crm = make_salesforce_crm(salesforce)
    account = await crm.find_account(by_email("bob@acme.com"))
    assert account is not None and account.id == SF_ACME
    assert [c.path for c in salesforce.requests(site="api", prefix="/services/data/v62.0/query/")][:2] == [
        "/services/data/v62.0/query/01gFAKE00001-1",
        "/services/data/v62.0/query/01gFAKE00002-2",
    ]
    assert [t.id for t in account.open_tickets] == ["00001001", "00001003"]  # cases paged too
    assert {a.id for a in await crm.list_accounts()} == {SF_ACME, SF_NOTACME, SF_ACME_AU, SF_QUOTED, SF_GLOBEX}


async def test_slack_team_discord_guild_and_account_id(salesforce_crm):
    assert (await salesforce_crm.find_account(AccountLookup(slack_team_id="T0ACME0001"))).id == SF_ACME
    assert (await salesforce_crm.find_account(AccountLookup(discord_guild_id="810000000000000001"))).id == SF_ACME
    assert (await salesforce_crm.find_account(AccountLookup(account_id=SF_ACME))).id == SF_ACME
    assert await salesforce_crm.find_account(AccountLookup(account_id="001000000000009AAA")) is None
    assert await salesforce_crm.find_account(AccountLookup(slack_team_id="T0NOBODY")) is None


async def test_values_with_quotes_and_backslashes_are_escaped_not_executed(salesforce, salesforce_crm):
    assert (await salesforce_crm.find_account(AccountLookup(slack_team_id="T'Q\\1"))).id == SF_QUOTED
    assert (await salesforce_crm.find_account(by_email("o'brien\\ops@elsewhere.example"))).id == SF_QUOTED
    injection = "x' OR Name != 'y"
    assert await salesforce_crm.find_account(AccountLookup(slack_team_id=injection)) is None
    assert await salesforce_crm.find_account(AccountLookup(slack_team_id="T0ACME0001\\")) is None
    sent = [q for q in salesforce.queries() if "Supportbot_Slack_Team_ID__c =" in q]
    assert sent[0].endswith("Supportbot_Slack_Team_ID__c = 'T\\'Q\\\\1'")
    assert sent[1].endswith("= 'x\\' OR Name != \\'y'")
    assert soql.parse(sent[1]).where[0].literal.text() == injection  # one literal, the whole value


@pytest.mark.parametrize(
    "lookup",
    [
        AccountLookup(email="not-an-email"),
        AccountLookup(email="a@b@acme.com"),
        AccountLookup(email="bob@acme.com\nBcc: x@y.z"),
        AccountLookup(email="bob@ac_me.com"),
        AccountLookup(email="bob@acme%.com"),
        AccountLookup(account_id="001' OR Id != '"),
        AccountLookup(account_id="001-000"),
        AccountLookup(slack_team_id="T0\x00"),
        AccountLookup(),
    ],
)
async def test_values_that_cannot_match_are_simply_not_found_without_asking(salesforce, salesforce_crm, lookup):
    assert await salesforce_crm.find_account(lookup) is None
    assert salesforce.seen == []


async def test_an_id_salesforce_calls_invalid_is_not_found(salesforce, salesforce_crm):
    assert await salesforce_crm.find_account(AccountLookup(account_id="001NOTANID")) is None
    assert salesforce.queries()  # it asked; the org answered 400 INVALID_QUERY_FILTER_OPERATOR


def test_like_patterns_escape_their_wildcards():
    pattern = soql.parse(f"SELECT Id FROM Account WHERE Website LIKE {soql_like_contains('a_b%c')}").where[0]
    assert pattern.literal.like_regex().fullmatch("www.a_b%c.example")
    assert not pattern.literal.like_regex().fullmatch("www.aXbYYc.example")
    assert soql_literal('it\'s \\ "x"\n') == "'it\\'s \\\\ \\\"x\\\"\\n'"
    with pytest.raises(soql.SoqlError):  # the fake really rejects what Salesforce rejects
        soql.parse("SELECT Id FROM Account WHERE Name = 'it's'")
    with pytest.raises(soql.SoqlError):
        soql.parse("SELECT Id FROM Account WHERE Name = 'a\\qb'")


async def test_bad_client_credentials_are_a_credentials_error(salesforce):
    crm = make_salesforce_crm(salesforce, secret="not-the-secret")
    with pytest.raises(CRMCredentialsError, match="invalid_client"):
        await crm.find_account(by_email("alice@acme.com"))
    assert salesforce.requests(site="api") == []


async def test_403_is_a_credentials_error(salesforce, salesforce_crm):
    salesforce.fail("/services/data/v62.0/query", 403)
    with pytest.raises(CRMCredentialsError, match="403"):
        await salesforce_crm.find_account(by_email("alice@acme.com"))


async def test_a_mapped_field_that_does_not_exist_is_a_crm_error(salesforce):
    crm = make_salesforce_crm(salesforce, fields=SalesforceFields(tier="Tier__c"))
    with pytest.raises(CRMError, match="INVALID_FIELD.*Tier__c"):
        await crm.find_account(AccountLookup(account_id=SF_ACME))


async def test_429_and_5xx_wait_retry_after_for_at_most_three_attempts(salesforce):
    salesforce.fail("/services/oauth2/token", 503, retry_after="0")
    salesforce.fail("/services/data/v62.0/query", 429, retry_after="1")
    crm = make_salesforce_crm(salesforce, retry=RetryPolicy())
    started = time.monotonic()
    assert (await crm.find_account(by_email("alice@acme.com"))).id == SF_ACME
    assert 0.95 <= time.monotonic() - started < 2.5
    assert len(salesforce.requests(site="login")) == 2
    salesforce.fail("/services/data/v62.0/query", 500, retry_after="60", times=3)
    crm = make_salesforce_crm(salesforce, retry=RetryPolicy(max_delay=0.1))
    started = time.monotonic()
    with pytest.raises(CRMUnavailable, match="500.*3 times"):
        await crm.find_account(by_email("alice@acme.com"))
    assert time.monotonic() - started < 1.0


async def test_the_api_version_is_the_configured_one(salesforce):
    crm = make_salesforce_crm(salesforce, api_version="63.0")
    await crm.find_account(AccountLookup(account_id=SF_ACME))
    assert all(c.path.startswith("/services/data/v63.0/") for c in salesforce.requests(site="api"))


async def test_check_reports_credentials_and_which_fields_exist(salesforce, salesforce_crm):
    report = await salesforce_crm.check()
    assert report.credentials and report.ok, report
    assert report.fields["Owner.Name"] and report.fields["Supportbot_Tier__c"]
    salesforce.schema["Account"] = [f for f in salesforce.schema["Account"] if f["name"] != "Supportbot_Health__c"]
    salesforce.schema["Case"] = [f for f in salesforce.schema["Case"] if f["name"] != "Priority"]
    report = await salesforce_crm.check()
    assert report.credentials and not report.ok
    assert report.fields["Supportbot_Health__c"] is False and report.fields["Name"] is True
    assert "Priority" in report.access["Case (read)"]
    bad = await make_salesforce_crm(salesforce, secret="nope").check()
    assert not bad.credentials and "invalid_client" in bad.detail


async def test_secrets_and_tokens_never_reach_logs_errors_or_reprs(salesforce, caplog):
    caplog.set_level(logging.DEBUG)
    crm = make_salesforce_crm(salesforce)
    await crm.find_account(by_email("alice@acme.com"))
    salesforce.expire_sessions()
    await crm.find_account(by_email("alice@acme.com"))
    salesforce.fail("/services/data/v62.0/query", 403)
    with pytest.raises(CRMCredentialsError) as caught:
        await crm.find_account(by_email("alice@acme.com"))
    assert "new token" in caplog.text  # the refresh was logged ...
    for text in (caplog.text, str(caught.value), repr(crm)):
        assert sf.CLIENT_SECRET not in text and "sessiontoken" not in text  # ... without secrets


async def test_a_flattened_relationship_field_is_read_too(salesforce, salesforce_crm):
    salesforce.flat_relationships = True
    account = await salesforce_crm.find_account(AccountLookup(account_id=SF_ACME))
    assert account.owner == "Jane Doe"
