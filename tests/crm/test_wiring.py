"""SUPPORTBOT_CRM=hubspot|salesforce through the composition root: the context packet is the vendor's account."""

from __future__ import annotations

import os

import pytest

from supportbot.adapters.bootstrap import bootstrap
from supportbot.adapters.crm.hubspot import HubSpotCRM
from supportbot.adapters.crm.salesforce import SalesforceCRM
from supportbot.adapters.settings import load_settings
from supportbot.bot.domain import OutboundKind
from supportbot.bot.knowledge import MarkdownKnowledgeBase
from tests.conftest import Customer, write_kb
from tests.crm import fake_hubspot as hs
from tests.crm import fake_salesforce as sf
from tests.crm.conftest import SF_ACME
from tests.fakes.core import FakeChannel, FakeClassifier, FakeClock
from tests.fakes.memory_uow import InMemoryUnitOfWorkFactory


@pytest.fixture
def vendor_env(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    for name in list(os.environ):
        if name.startswith(("SUPPORTBOT_", "HUBSPOT_", "SALESFORCE_")):
            monkeypatch.delenv(name)
    return monkeypatch


def build(tmp_path, channel, clock):
    settings = load_settings(database_url="sqlite://", kb_dir=write_kb(tmp_path / "kb"))
    return bootstrap(
        settings,
        uow=InMemoryUnitOfWorkFactory(),
        classifier=FakeClassifier(),
        kb=MarkdownKnowledgeBase(settings.kb_dir),
        clock=clock,
        channels=(channel,),
    )


async def _review_fields(customer, channel):
    result = await customer.says("where can I find my invoice?")
    assert result.account is not None and result.account.id == customer.account
    review = [o for o, _ in channel.sent if o.kind is OutboundKind.DRAFT_REVIEW]
    return result, {f["label"]: f["value"] for f in review[0].payload["card"]["fields"]}


async def test_hubspot_fills_the_context_packet(vendor_env, tmp_path, hubspot):
    vendor_env.setenv("SUPPORTBOT_CRM", "hubspot")
    vendor_env.setenv("HUBSPOT_ACCESS_TOKEN", hs.TOKEN)
    vendor_env.setenv("SUPPORTBOT_HUBSPOT_API_URL", hubspot.url)
    channel, clock = FakeChannel("test"), FakeClock()
    app = build(tmp_path, channel, clock)
    assert isinstance(app.core.crm, HubSpotCRM)
    bob = Customer(app, clock, user="U_BOB", account=hubspot.ids["acme"])
    result, fields = await _review_fields(bob, channel)
    assert result.decision.rule == "tier_requires_review"  # tier "Enterprise" from HubSpot
    assert fields["Tier"] == "enterprise" and "SSO loop" in fields["Open tickets"]
    assert "Old invoice" not in fields["Open tickets"]  # a closed stage


async def test_salesforce_fills_the_context_packet(vendor_env, tmp_path, salesforce):
    vendor_env.setenv("SUPPORTBOT_CRM", "salesforce")
    vendor_env.setenv("SALESFORCE_INSTANCE_URL", salesforce.login_url)
    vendor_env.setenv("SALESFORCE_CLIENT_ID", sf.CLIENT_ID)
    vendor_env.setenv("SALESFORCE_CLIENT_SECRET", sf.CLIENT_SECRET)
    channel, clock = FakeChannel("test"), FakeClock()
    app = build(tmp_path, channel, clock)
    assert isinstance(app.core.crm, SalesforceCRM)
    bob = Customer(app, clock, user="U_BOB", account=SF_ACME)
    result, fields = await _review_fields(bob, channel)
    assert result.decision.rule == "tier_requires_review"
    assert fields["Tier"] == "enterprise" and "00001001 SSO loop" in fields["Open tickets"]
    salesforce.fail("/services/data", 503, retry_after="0", times=3)  # down: the cached account carries on
    clock.advance(hours=2)
    again = await bob.says("and my password?", thread="U_BOB-1")
    assert again.account is not None and again.account.id == SF_ACME
    assert salesforce.faults[-1].remaining == 0  # it did ask, three times
