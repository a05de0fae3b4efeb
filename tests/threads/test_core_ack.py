"""The customer is never left in silence: acknowledgements and the greeting prompt (core, own fakes)."""

from __future__ import annotations

import pytest

from supportbot.bot.acknowledge import expectation
from supportbot.bot.commands import Actor, ApproveDraft
from supportbot.bot.domain import Audience, DraftStatus, OutboundKind, Role
from supportbot.bot.errors import Conflict
from supportbot.bot.presenter import HANDOFF_ACK
from tests.conftest import Customer

AGENT = Actor("U_AGENT", Role.AGENT, "Sam")


def customer_texts(channel) -> list[str]:
    """What the customer can read (reactions left out)."""
    return [o.text for o, _ in channel.sent if o.audience is Audience.CUSTOMER and o.kind is not OutboundKind.REACTION]


def test_expectations_read_like_people_say_them():
    assert expectation(15, False) == "15 minutes"
    assert expectation(60, True) == "1 business hour"
    assert expectation(120, False) == "2 hours"
    assert expectation(240, True) == "4 business hours"
    assert expectation(9 * 60, True) == "1 business day"
    assert expectation(27 * 60, True) == "3 business days"


async def test_a_draft_is_acknowledged_once_with_the_tier_sla(app, clock, channel):
    bob = Customer(app, clock, user="U_BOB", account="acc_big")  # enterprise, normal urgency: 120 business min
    drafted = await bob.says("where can I find my invoice?")
    assert drafted.decision.action.value == "draft"
    (ack,) = channel.texts(audience=Audience.CUSTOMER, kind=OutboundKind.SYSTEM)
    assert ack.endswith("A teammate will reply here, usually within 2 business hours.")
    (where,) = [d for o, d in channel.sent if o.text == ack]
    assert where.thread_id == "U_BOB-1"  # in the question's thread
    clock.advance(minutes=1)
    await bob.says("the PDF for October, please", thread="U_BOB-1")
    assert len(channel.texts(audience=Audience.CUSTOMER, kind=OutboundKind.SYSTEM)) == 1  # once per conversation


async def test_a_hand_off_is_acknowledged_with_the_expectation_and_answers_are_not(app, alice, clock, channel):
    await alice.says("How do I download my invoice?")
    assert channel.texts(audience=Audience.CUSTOMER, kind=OutboundKind.SYSTEM) == []  # an answer needs no ack
    clock.advance(seconds=10)
    await alice.says("Quick question: none of our users can log in since 9am")
    (ack,) = channel.texts(audience=Audience.CUSTOMER, kind=OutboundKind.SYSTEM)
    assert "A teammate will reply here, usually within 2 business hours." in ack  # starter, critical


async def test_acknowledgement_per_tier_and_switched_off(make_app, clock, channel):
    app = make_app(acknowledgement={"tiers": {"enterprise": "", "starter": "On it! Expect us within {expectation}."}})
    alice = Customer(app, clock)
    bob = Customer(app, clock, user="U_BOB", account="acc_big")
    await bob.says("where can I find my invoice?")  # enterprise: switched off, a draft says nothing
    assert customer_texts(channel) == []
    await alice.says("Quick question: none of our users can log in since 9am")
    assert channel.texts(audience=Audience.CUSTOMER, kind=OutboundKind.SYSTEM) == [
        "On it! Expect us within 2 business hours."
    ]


async def test_acknowledgements_off_keep_the_plain_hand_off_notice(make_app, clock, channel):
    app = make_app(acknowledgement={"enabled": False})
    bob = Customer(app, clock, user="U_BOB", account="acc_big")
    await bob.says("where can I find my invoice?")
    assert customer_texts(channel) == []
    alice = Customer(app, clock)
    await alice.says("Quick question: none of our users can log in since 9am")
    assert channel.texts(audience=Audience.CUSTOMER, kind=OutboundKind.SYSTEM) == [HANDOFF_ACK]


async def test_a_greeting_alone_gets_a_prompt_and_opens_no_ticket(app, alice, channel, uow_factory):
    for text in ("hi", "Hello team 👋", "good morning"):
        result = await alice.says(text)
        assert result.status == "ignored"
    prompts = customer_texts(channel)
    assert len(prompts) == 3 and all("What can we help you with?" in p for p in prompts)
    assert [d.thread_id for _, d in channel.sent] == ["U_ALICE-1", "U_ALICE-2", "U_ALICE-3"]
    for text in ("thanks!", "ok", "👍"):
        await alice.says(text)
    assert len(channel.sent) == 3  # thanks and emoji get nothing
    with uow_factory() as uow:
        assert uow.conversations.list() == []


async def test_greeting_prompt_can_be_switched_off(make_app, clock, channel):
    app = make_app(acknowledgement={"greeting_prompt": ""})
    await Customer(app, clock).says("hi there")
    assert channel.sent == []


async def test_pending_draft_superseded_by_an_urgent_follow_up_sends_nothing_on_approval(app, clock, channel):
    bob = Customer(app, clock, user="U_BOB", account="acc_big")
    drafted = await bob.says("where can I find my invoice?")
    clock.advance(seconds=30)
    urgent = await bob.says("forget that, the whole app is down for all of us", thread="U_BOB-1")
    assert urgent.conversation_id == drafted.conversation_id and urgent.decision.action.value == "handoff"
    before = customer_texts(channel)
    with pytest.raises(Conflict, match="out of date"):
        await app.commands.execute(ApproveDraft(drafted.draft_id, AGENT))
    await app.core.dispatch_outbox()
    with app.core.uow() as uow:
        assert uow.drafts.get(drafted.draft_id).status is DraftStatus.SUPERSEDED
    assert customer_texts(channel) == before  # nothing reached the customer
    assert all(drafted.reply not in t for t in customer_texts(channel))


def test_a_bad_placeholder_stops_start_up_naming_the_setting():
    from supportbot.adapters.settings import load_settings
    from supportbot.bot.errors import ConfigurationError

    with pytest.raises(ConfigurationError, match="SUPPORTBOT_ACKNOWLEDGEMENT__"):
        load_settings(acknowledgement={"tiers": {"pro": "within {hours}"}})
    with pytest.raises(ConfigurationError, match="SUPPORTBOT_ACKNOWLEDGEMENT__"):
        load_settings(acknowledgement={"text": "within {0}"})
