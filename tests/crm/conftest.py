"""Loopback HubSpot and Salesforce fakes seeded with the same small, fictional book of business."""

from __future__ import annotations

import pytest

from supportbot.adapters.crm.hubspot import HubSpotCRM
from supportbot.adapters.crm.rest import RetryPolicy
from supportbot.adapters.crm.salesforce import SalesforceCRM
from tests.crm import fake_hubspot as hs
from tests.crm import fake_salesforce as sf

QUICK = RetryPolicy(max_attempts=3, default_delay=0.05, max_delay=0.2)  # tests that do not time the waits

# ------------------------------------------------------------------ HubSpot


def seed_hubspot(fake: hs.FakeHubSpot) -> dict[str, str]:
    ids: dict[str, str] = {}
    fake.owners["501"] = {
        "id": "501",
        "email": "dana.whitfield@vendor.example",
        "firstName": "Dana",
        "lastName": "Whitfield",
        "userId": 9001,
        "createdAt": "2025-01-01T00:00:00Z",
        "updatedAt": "2025-01-01T00:00:00Z",
        "archived": False,
    }
    fake.pipelines = [
        {
            "id": "0",
            "label": "Support Pipeline",
            "displayOrder": 0,
            "archived": False,
            "stages": [
                {"id": "1", "label": "New", "displayOrder": 0, "metadata": {"ticketState": "OPEN"}},
                {"id": "2", "label": "Waiting on contact", "displayOrder": 1, "metadata": {"ticketState": "OPEN"}},
                {"id": "4", "label": "Closed", "displayOrder": 3, "metadata": {"ticketState": "CLOSED"}},
            ],
        },
        {
            "id": "77",
            "label": "Escalations",
            "displayOrder": 1,
            "archived": False,
            "stages": [
                {"id": "e1", "label": "With engineering", "displayOrder": 0, "metadata": {"ticketState": "OPEN"}},
                {"id": "e2", "label": "Resolved", "displayOrder": 1, "metadata": {"ticketState": "CLOSED"}},
            ],
        },
    ]
    company = {
        "name": "Acme Corp",
        "domain": "acme.com",
        "hubspot_owner_id": "501",
        "supportbot_tier": "Enterprise",
        "supportbot_arr": "120000.50",
        "supportbot_renewal_date": "2027-03-31",
        "supportbot_health": "Green",
        "supportbot_slack_team_id": "T0ACME0001",
        "supportbot_discord_guild_id": "810000000000000001",
    }
    ids["acme"] = fake.add("companies", company)
    ids["notacme"] = fake.add(
        "companies", {"name": "NotAcme LLC", "domain": "notacme.com", "supportbot_tier": "starter"}
    )
    ids["acme_au"] = fake.add(
        "companies", {"name": "Acme Australia", "domain": "acme.com.au", "supportbot_tier": "pro"}
    )
    ids["globex"] = fake.add(
        "companies",
        {"name": "Globex", "domain": "Globex.EXAMPLE", "supportbot_tier": "PRO", "supportbot_arr": "5988"},
    )
    ids["quoted"] = fake.add("companies", {"name": "O'Quote & Co", "supportbot_slack_team_id": "T'Q\\1"})
    ids["alice"] = fake.add("contacts", {"email": "alice@acme.com", "firstname": "Alice"})
    ids["carol"] = fake.add("contacts", {"email": "carol@partner.example"})
    ids["obrien"] = fake.add("contacts", {"email": "o'brien\\ops@elsewhere.example"})
    ids["loner"] = fake.add("contacts", {"email": "loner@acme.com"})  # no company: the domain decides
    fake.associate("contacts", ids["alice"], "companies", ids["acme"], hs.PRIMARY, hs.UNLABELED_CONTACT_COMPANY)
    # carol works with two companies: the unlabeled one comes first, the primary is Globex
    fake.associate("contacts", ids["carol"], "companies", ids["notacme"])
    fake.associate("contacts", ids["carol"], "companies", ids["globex"], hs.PRIMARY, hs.UNLABELED_CONTACT_COMPANY)
    fake.associate("contacts", ids["obrien"], "companies", ids["quoted"], hs.PRIMARY)
    tickets = [
        ("t_new", {"subject": "SSO loop", "hs_pipeline": "0", "hs_pipeline_stage": "1", "hs_ticket_priority": "HIGH"}),
        (
            "t_closed",
            {"subject": "Old invoice", "hs_pipeline": "0", "hs_pipeline_stage": "4", "hs_ticket_priority": "LOW"},
        ),
        ("t_eng", {"subject": "Export stuck", "hs_pipeline": "77", "hs_pipeline_stage": "e1"}),
        ("t_resolved", {"subject": "Fixed bug", "hs_pipeline": "77", "hs_pipeline_stage": "e2"}),
    ]
    for name, props in tickets:
        ids[name] = fake.add("tickets", props)
        fake.associate("companies", ids["acme"], "tickets", ids[name])
    return ids


@pytest.fixture
async def hubspot():
    fake = hs.FakeHubSpot()
    fake.ids = seed_hubspot(fake)  # name -> HubSpot id
    await fake.start()
    yield fake
    await fake.stop()


@pytest.fixture
def hubspot_crm(hubspot):
    return HubSpotCRM(hs.TOKEN, api_url=hubspot.url, retry=QUICK, timeout=2.0)


# ------------------------------------------------------------------ Salesforce

OWNER_ID = "005000000000001AAA"
SF_ACME = "001000000000001AAA"
SF_NOTACME = "001000000000002AAA"
SF_ACME_AU = "001000000000003AAA"
SF_QUOTED = "001000000000004AAA"
SF_GLOBEX = "001000000000005AAA"


def seed_salesforce(fake: sf.FakeSalesforce) -> None:
    fake.users[OWNER_ID] = "Jane Doe"
    # lookalikes first, so a whole-host check that only looked at the first LIKE hit would fail
    fake.accounts = [
        {"Id": SF_NOTACME, "Name": "NotAcme LLC", "Website": "notacme.com", "Supportbot_Tier__c": "Starter"},
        {"Id": SF_ACME_AU, "Name": "Acme Australia", "Website": "http://acme.com.au", "Supportbot_Tier__c": "Pro"},
        {
            "Id": SF_ACME,
            "Name": "Acme Corp",
            "Website": "https://www.Acme.com/",
            "OwnerId": OWNER_ID,
            "Supportbot_Tier__c": "Enterprise",
            "Supportbot_ARR__c": 120000.5,
            "Supportbot_Renewal_Date__c": "2027-03-31",
            "Supportbot_Health__c": "Green",
            "Supportbot_Slack_Team_ID__c": "T0ACME0001",
            "Supportbot_Discord_Guild_ID__c": "810000000000000001",
        },
        {"Id": SF_QUOTED, "Name": "O'Quote & Co", "Supportbot_Slack_Team_ID__c": "T'Q\\1", "Supportbot_Tier__c": "pro"},
        {"Id": SF_GLOBEX, "Name": "Globex", "Website": "globex.example", "Supportbot_Tier__c": "PRO"},
    ]
    fake.contacts = [
        {"Id": "003000000000001AAA", "Email": "alice@acme.com", "AccountId": SF_ACME},
        {"Id": "003000000000002AAA", "Email": "o'brien\\ops@elsewhere.example", "AccountId": SF_QUOTED},
        {"Id": "003000000000003AAA", "Email": "carol@partner.example", "AccountId": SF_GLOBEX},
        {"Id": "003000000000004AAA", "Email": "loner@acme.com", "AccountId": None},
    ]
    fake.cases = [
        {"Id": "500000000000001AAA", "AccountId": SF_ACME, "CaseNumber": "00001001", "Subject": "SSO loop",
         "Status": "New", "Priority": "High", "IsClosed": False},
        {"Id": "500000000000002AAA", "AccountId": SF_ACME, "CaseNumber": "00001002", "Subject": "Old invoice",
         "Status": "Closed", "Priority": "Low", "IsClosed": True},
        {"Id": "500000000000003AAA", "AccountId": SF_ACME, "CaseNumber": "00001003", "Subject": "Export stuck",
         "Status": "Escalated", "Priority": "Medium", "IsClosed": False},
        {"Id": "500000000000004AAA", "AccountId": SF_GLOBEX, "CaseNumber": "00001004", "Subject": "Other account",
         "Status": "New", "Priority": "Low", "IsClosed": False},
    ]  # fmt: skip


@pytest.fixture
async def salesforce():
    fake = sf.FakeSalesforce()
    seed_salesforce(fake)
    await fake.start()
    yield fake
    await fake.stop()


def make_salesforce_crm(fake: sf.FakeSalesforce, *, secret: str = sf.CLIENT_SECRET, **kwargs) -> SalesforceCRM:
    return SalesforceCRM(fake.login_url, sf.CLIENT_ID, secret, **{"retry": QUICK, "timeout": 2.0, **kwargs})


@pytest.fixture
def salesforce_crm(salesforce):
    return make_salesforce_crm(salesforce)
