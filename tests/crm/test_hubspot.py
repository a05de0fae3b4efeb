"""HubSpotCRM against the loopback fake HubSpot: real httpx, real HTTP, HubSpot's documented shapes."""

from __future__ import annotations

import logging
import time
from datetime import date

import pytest

from supportbot.adapters.crm.hubspot import HubSpotCRM
from supportbot.adapters.crm.rest import RetryPolicy
from supportbot.bot.domain import AccountLookup
from supportbot.bot.errors import CRMCredentialsError, CRMError, CRMUnavailable
from tests.crm import fake_hubspot as hs


def by_email(email):
    return AccountLookup(email=email)


async def test_email_finds_the_contacts_primary_company_mapped_as_the_contract_says(hubspot, hubspot_crm):
    account = await hubspot_crm.find_account(by_email("alice@acme.com"))
    ids = hubspot.ids
    assert account is not None and account.id == ids["acme"]
    assert account.name == "Acme Corp"
    assert account.tier == "enterprise"  # stored "Enterprise"
    assert account.arr == 120000.5 and isinstance(account.arr, float)
    assert account.renewal_date == date(2027, 3, 31)
    assert account.owner == "Dana Whitfield"  # hubspot_owner_id 501 via the Owners API
    assert account.health == "Green"  # as stored
    assert account.slack_team_ids == ("T0ACME0001",) and account.discord_guild_ids == ("810000000000000001",)
    assert account.email_domains == ("acme.com",)
    # open tickets only: the stage's metadata.ticketState decides, status is the stage label
    assert [(t.id, t.subject, t.status, t.priority) for t in account.open_tickets] == [
        (ids["t_new"], "SSO loop", "New", "HIGH"),
        (ids["t_eng"], "Export stuck", "With engineering", ""),
    ]
    search = hubspot.requests("/crm/v3/objects/contacts/search")[0].body
    assert search["filterGroups"] == [
        {"filters": [{"propertyName": "email", "operator": "EQ", "value": "alice@acme.com"}]}
    ]


async def test_with_several_associated_companies_the_primary_one_wins(hubspot, hubspot_crm):
    account = await hubspot_crm.find_account(by_email("carol@partner.example"))
    assert account is not None and account.id == hubspot.ids["globex"]
    assert account.tier == "pro" and account.arr == 5988


async def test_a_user_defined_label_that_says_primary_is_not_the_primary_company(hubspot, hubspot_crm):
    dave = hubspot.add("contacts", {"email": "dave@partner.example"})
    billing = {"category": "USER_DEFINED", "typeId": 42, "label": "Primary billing"}
    hubspot.associate("contacts", dave, "companies", hubspot.ids["notacme"], billing)
    renamed = {"category": "HUBSPOT_DEFINED", "typeId": 1, "label": "Contact with Primary Company"}
    hubspot.associate("contacts", dave, "companies", hubspot.ids["globex"], renamed)
    account = await hubspot_crm.find_account(by_email("dave@partner.example"))
    assert account is not None and account.id == hubspot.ids["globex"]


@pytest.mark.parametrize(
    ("email", "expected"),
    [
        ("bob@acme.com", "acme"),  # no contact: the company whose domain is the email's domain
        ("loner@acme.com", "acme"),  # a contact without a company: the domain decides too
        ("BOB@ACME.COM", "acme"),
        ("zed@notacme.com", "notacme"),
        ("kim@acme.com.au", "acme_au"),
        ("x@globex.example", "globex"),  # stored as "Globex.EXAMPLE"
        ("x@cme.com", None),
        ("x@eu.acme.com", None),  # a subdomain is another host
    ],
)
async def test_the_domain_fallback_matches_the_whole_host_case_insensitively(hubspot, hubspot_crm, email, expected):
    account = await hubspot_crm.find_account(by_email(email))
    assert (account.id if account else None) == (hubspot.ids[expected] if expected else None)


async def test_lookalike_search_hits_are_rechecked_on_the_whole_host(hubspot, hubspot_crm):
    # Should the search ever return near misses (a tokenising index, a looser operator), the
    # adapter still compares whole hosts: here the fake's EQ matches substrings.
    hubspot.loose_text_match = True
    hubspot.add("companies", {"name": "Lookalike", "domain": "notacme.com"}, object_id="1")  # first result
    account = await hubspot_crm.find_account(by_email("bob@acme.com"))
    assert account is not None and account.id == hubspot.ids["acme"]
    assert await hubspot_crm.find_account(by_email("bob@cme.com")) is None


async def test_slack_team_discord_guild_and_account_id(hubspot, hubspot_crm):
    acme = hubspot.ids["acme"]
    assert (await hubspot_crm.find_account(AccountLookup(slack_team_id="T0ACME0001"))).id == acme
    assert (await hubspot_crm.find_account(AccountLookup(discord_guild_id="810000000000000001"))).id == acme
    assert (await hubspot_crm.find_account(AccountLookup(account_id=acme))).id == acme
    assert await hubspot_crm.find_account(AccountLookup(slack_team_id="T0NOBODY")) is None
    assert await hubspot_crm.find_account(AccountLookup(account_id="999999")) is None  # 207 with errors
    filters = hubspot.requests("/crm/v3/objects/companies/search")[0].body["filterGroups"][0]["filters"]
    assert filters == [{"propertyName": "supportbot_slack_team_id", "operator": "EQ", "value": "T0ACME0001"}]


async def test_ids_compare_as_hubspot_compares_them(hubspot, hubspot_crm):
    hubspot.objects["companies"][hubspot.ids["acme"]]["supportbot_slack_team_id"] = " t0acme0001"
    assert (await hubspot_crm.find_account(AccountLookup(slack_team_id="T0ACME0001"))) is None  # EQ: no match
    hubspot.objects["companies"][hubspot.ids["acme"]]["supportbot_slack_team_id"] = "t0acme0001"
    assert (await hubspot_crm.find_account(AccountLookup(slack_team_id="T0ACME0001"))).id == hubspot.ids["acme"]


async def test_a_slack_team_not_in_the_crm_falls_back_to_the_email(hubspot, hubspot_crm):
    account = await hubspot_crm.find_account(AccountLookup(slack_team_id="T0UNKNOWN", email="alice@acme.com"))
    assert account is not None and account.id == hubspot.ids["acme"]


async def test_a_value_with_a_quote_and_a_backslash_is_sent_verbatim(hubspot, hubspot_crm):
    quoted = hubspot.ids["quoted"]
    assert (await hubspot_crm.find_account(AccountLookup(slack_team_id="T'Q\\1"))).id == quoted
    assert (await hubspot_crm.find_account(by_email("o'brien\\ops@elsewhere.example"))).id == quoted
    assert await hubspot_crm.find_account(AccountLookup(slack_team_id="T'Q\\1' OR '1'='1")) is None


@pytest.mark.parametrize(
    "lookup",
    [
        AccountLookup(email="not-an-email"),
        AccountLookup(email="a@b@acme.com"),
        AccountLookup(email="@acme.com"),
        AccountLookup(email="bob@"),
        AccountLookup(email="bob @acme.com"),
        AccountLookup(email="bob@acme..com"),
        AccountLookup(email="bob@-acme.com"),
        AccountLookup(account_id="acme"),
        AccountLookup(account_id="12 OR 1=1"),
        AccountLookup(account_id="../owners/501"),
        AccountLookup(),
    ],
)
async def test_values_that_cannot_match_are_simply_not_found_without_asking(hubspot, hubspot_crm, lookup):
    assert await hubspot_crm.find_account(lookup) is None
    assert hubspot.seen == []


async def test_search_results_and_associations_are_paged(hubspot):
    hubspot.search_page_cap = 1
    hubspot.association_page_cap = 1
    acme = hubspot.ids["acme"]
    for n in range(230):  # more than two batch reads of 100
        ticket = hubspot.add(
            "tickets", {"subject": f"bulk {n}", "hs_pipeline": "0", "hs_pipeline_stage": "2" if n % 2 else "4"}
        )
        hubspot.associate("companies", acme, "tickets", ticket)
    crm = HubSpotCRM(hs.TOKEN, api_url=hubspot.url)
    account = await crm.find_account(by_email("zed@acme.com"))
    assert account is not None and account.id == acme
    assert len(account.open_tickets) == 2 + 115
    assert {t.status for t in account.open_tickets} == {"New", "With engineering", "Waiting on contact"}
    assert len(hubspot.requests("/crm/v3/objects/tickets/batch/read")) == 3
    pages = hubspot.requests(f"/crm/v4/objects/companies/{acme}/associations/tickets")
    assert len(pages) == 234 and pages[1].query["after"] == "1"
    accounts = await crm.list_accounts()  # companies with a tier, page by page
    assert {a.name for a in accounts} == {"Acme Corp", "NotAcme LLC", "Acme Australia", "Globex"}
    searches = hubspot.requests("/crm/v3/objects/companies/search")
    assert (
        searches[-1].body["after"] == "3"
        and searches[-1].body["filterGroups"][0]["filters"][0]["operator"] == "HAS_PROPERTY"
    )


async def test_pipelines_and_owners_are_cached_and_a_new_stage_refreshes_the_pipelines(hubspot, hubspot_crm):
    await hubspot_crm.find_account(by_email("alice@acme.com"))
    await hubspot_crm.find_account(by_email("alice@acme.com"))
    assert len(hubspot.requests("/crm/v3/pipelines/tickets")) == 1
    assert len(hubspot.requests("/crm/v3/owners/501")) == 1
    hubspot.pipelines[0]["stages"].append({"id": "9", "label": "Reopened", "metadata": {"ticketState": "OPEN"}})
    ticket = hubspot.add("tickets", {"subject": "Again", "hs_pipeline": "0", "hs_pipeline_stage": "9"})
    hubspot.associate("companies", hubspot.ids["acme"], "tickets", ticket)
    account = await hubspot_crm.find_account(by_email("alice@acme.com"))
    assert ("Again", "Reopened") in [(t.subject, t.status) for t in account.open_tickets]
    assert len(hubspot.requests("/crm/v3/pipelines/tickets")) == 2


async def test_an_unknown_owner_is_no_owner(hubspot, hubspot_crm):
    hubspot.objects["companies"][hubspot.ids["acme"]]["hubspot_owner_id"] = "777"
    account = await hubspot_crm.find_account(AccountLookup(account_id=hubspot.ids["acme"]))
    assert account.owner is None


async def test_a_bad_token_is_a_credentials_error(hubspot):
    crm = HubSpotCRM("pat-na1-wrong", api_url=hubspot.url, retry=RetryPolicy(default_delay=0))
    with pytest.raises(CRMCredentialsError, match="401.*INVALID_AUTHENTICATION"):
        await crm.find_account(by_email("alice@acme.com"))
    assert len(hubspot.seen) == 1  # not retried


async def test_a_missing_scope_is_a_credentials_error_naming_it(hubspot, hubspot_crm):
    hubspot.scopes.discard("tickets")
    with pytest.raises(CRMCredentialsError, match="403.*MISSING_SCOPES"):
        await hubspot_crm.find_account(by_email("alice@acme.com"))


async def test_a_mapped_property_that_does_not_exist_is_a_crm_error(hubspot):
    from supportbot.adapters.crm.settings import HubSpotProperties

    crm = HubSpotCRM(hs.TOKEN, api_url=hubspot.url, properties=HubSpotProperties(slack_team_id="slack_workspace"))
    with pytest.raises(CRMError, match="400.*slack_workspace") as caught:
        await crm.find_account(AccountLookup(slack_team_id="T0ACME0001"))
    assert not isinstance(caught.value, (CRMCredentialsError, CRMUnavailable))


async def test_429_waits_the_retry_after_it_was_given(hubspot):
    hubspot.fail("/crm/v3/objects/contacts/search", 429, retry_after="1")
    crm = HubSpotCRM(hs.TOKEN, api_url=hubspot.url)  # default policy: 3 attempts, cap 5 s
    started = time.monotonic()
    account = await crm.find_account(by_email("alice@acme.com"))
    waited = time.monotonic() - started
    assert account is not None and 0.95 <= waited < 2.5
    assert len(hubspot.requests("/crm/v3/objects/contacts/search")) == 2


async def test_429_without_retry_after_waits_one_second(hubspot):
    hubspot.fail("/crm/v3/pipelines/tickets", 429)
    crm = HubSpotCRM(hs.TOKEN, api_url=hubspot.url)
    started = time.monotonic()
    assert await crm.find_account(by_email("alice@acme.com")) is not None
    assert 0.95 <= time.monotonic() - started < 2.5


async def test_retry_after_is_capped_and_attempts_are_bounded(hubspot):
    hubspot.fail("/crm/v3/objects/contacts/search", 429, retry_after="3600", times=5)
    crm = HubSpotCRM(hs.TOKEN, api_url=hubspot.url, retry=RetryPolicy(max_delay=0.1))
    started = time.monotonic()
    with pytest.raises(CRMUnavailable, match="429.*3 times"):
        await crm.find_account(by_email("alice@acme.com"))
    assert time.monotonic() - started < 1.0
    assert len(hubspot.requests("/crm/v3/objects/contacts/search")) == 3


async def test_5xx_is_retried_then_succeeds_or_gives_up(hubspot, hubspot_crm):
    hubspot.fail("/crm/v3/objects/companies/batch/read", 502, retry_after="0", times=2)
    assert (await hubspot_crm.find_account(by_email("alice@acme.com"))).id == hubspot.ids["acme"]
    hubspot.fail("/crm/v4/objects/contacts", 503, times=3)
    with pytest.raises(CRMUnavailable, match="503"):
        await hubspot_crm.find_account(by_email("alice@acme.com"))


async def test_a_slow_hubspot_times_out_quickly(hubspot):
    hubspot.delays["/crm/v3/objects/contacts/search"] = 1.0
    crm = HubSpotCRM(hs.TOKEN, api_url=hubspot.url, timeout=0.2)
    started = time.monotonic()
    with pytest.raises(CRMUnavailable, match="did not answer"):
        await crm.find_account(by_email("alice@acme.com"))
    assert time.monotonic() - started < 0.9


async def test_a_closed_port_is_unavailable_not_a_crash():
    crm = HubSpotCRM(hs.TOKEN, api_url="http://127.0.0.1:9")
    with pytest.raises(CRMUnavailable, match="unreachable"):
        await crm.find_account(by_email("alice@acme.com"))


async def test_check_reports_credentials_properties_and_scopes(hubspot, hubspot_crm):
    report = await hubspot_crm.check()
    assert report.credentials and report.ok, report
    assert report.fields["supportbot_tier"] and report.fields["hubspot_owner_id"]
    hubspot.schemas["companies"].remove("supportbot_health")
    hubspot.scopes.discard("crm.objects.owners.read")
    report = await hubspot_crm.check()
    assert report.credentials and not report.ok
    assert report.fields["supportbot_health"] is False
    assert "MISSING_SCOPES" in report.access["owners (crm.objects.owners.read)"]
    bad = await HubSpotCRM("pat-na1-wrong", api_url=hubspot.url).check()
    assert not bad.credentials and "401" in bad.detail


async def test_the_token_never_reaches_logs_errors_or_reprs(hubspot, caplog):
    caplog.set_level(logging.DEBUG)
    crm = HubSpotCRM(hs.TOKEN, api_url=hubspot.url, retry=RetryPolicy(default_delay=0))
    hubspot.fail("/crm/v3/objects/contacts/search", 429)
    await crm.find_account(by_email("alice@acme.com"))
    hubspot.scopes.discard("tickets")
    with pytest.raises(CRMCredentialsError) as caught:
        await crm.find_account(by_email("alice@acme.com"))
    wrong = HubSpotCRM("pat-na1-wrong-secret", api_url=hubspot.url)
    with pytest.raises(CRMCredentialsError) as caught_wrong:
        await wrong.find_account(by_email("alice@acme.com"))
    assert "429" in caplog.text  # the retry was logged ...
    for text in (caplog.text, str(caught.value), repr(crm), str(caught_wrong.value), repr(wrong)):
        assert hs.TOKEN not in text and "wrong-secret" not in text  # ... without the token


async def test_without_a_batch_endpoint_records_are_read_one_by_one(hubspot, hubspot_crm):
    hubspot.batch_routes = False
    account = await hubspot_crm.find_account(by_email("alice@acme.com"))
    assert account is not None and account.name == "Acme Corp" and len(account.open_tickets) == 2
    assert hubspot.requests(f"/crm/v3/objects/companies/{hubspot.ids['acme']}", "GET")
    assert await hubspot_crm.find_account(AccountLookup(account_id="999999")) is None


async def test_a_contact_without_v4_associations_uses_its_associatedcompanyid(hubspot, hubspot_crm):
    hubspot.add("contacts", {"email": "erin@partner.example", "associatedcompanyid": hubspot.ids["globex"]})
    account = await hubspot_crm.find_account(by_email("erin@partner.example"))
    assert account is not None and account.id == hubspot.ids["globex"]
