"""Staff content only ever goes to the triage channel or its threads."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from supportbot.bot.cards import Card
from supportbot.bot.domain import Audience, Delivery, Outbound, OutboundKind, new_id
from supportbot.bot.errors import DeliveryError
from tests.discord_bot.helpers import mirror_of


def _outbound(audience, kind, text, **payload):
    return Outbound(
        id=new_id("out"),  # distinct: the id is the message nonce, and Discord dedupes by it
        platform="discord",
        audience=audience,
        kind=kind,
        text=text,
        dedupe_key="k",
        created_at=datetime.now(UTC),
        payload=payload,
    )


async def test_manager_reports_go_to_the_triage_channel(fake, bot):
    report = _outbound(
        Audience.MANAGERS,
        OutboundKind.REPORT,
        "Weekly: 12 conversations",
        card=Card(title="Weekly report", body="12 conversations").to_dict(),
    )
    message_id = await bot.service.channel.send(report, Delivery(fake.guild_id, None, None))
    posted = fake.messages[message_id]
    assert posted["channel_id"] == fake.triage_id and posted["embeds"][0]["title"] == "Weekly report"


async def test_staff_content_is_never_posted_in_a_customer_thread(fake, bot):
    question = await fake.customer_message(fake.text_id, "How do I download my invoice?")
    await fake.wait_for_request("POST", rf"/channels/{question['id']}/messages")
    await mirror_of(fake, bot)
    note = _outbound(Audience.STAFF, OutboundKind.NOTICE, "internal: customer is on a trial")
    with pytest.raises(DeliveryError) as err:
        await bot.service.channel.send(note, Delivery(fake.guild_id, None, question["id"]))
    assert err.value.permanent
    customer_side = [r.json["content"] for r in fake.find_requests("POST", rf"/channels/{question['id']}/messages")]
    assert "internal: customer is on a trial" not in customer_side


async def test_customer_replies_only_go_to_configured_support_channels(fake, bot):
    answer = _outbound(Audience.CUSTOMER, OutboundKind.ANSWER, "hello")
    with pytest.raises(DeliveryError) as err:
        await bot.service.channel.send(answer, Delivery(fake.guild_id, fake.triage_id, None))
    assert err.value.permanent


async def test_sla_escalation_pings_exactly_the_people_it_names(fake, bot):
    escalation = _outbound(
        Audience.STAFF,
        OutboundKind.NOTICE,
        "SLA escalation: first response due in 3 min",
        mentions=["810000000000000777", "not-a-discord-id"],
    )
    message_id = await bot.service.channel.send(escalation, Delivery(fake.guild_id, None, None))
    posted = fake.messages[message_id]
    assert posted["content"].startswith("<@810000000000000777> SLA escalation")
    allowed = posted["allowed_mentions"]
    assert allowed["parse"] == [] and [str(u) for u in allowed["users"]] == ["810000000000000777"]
    plain = _outbound(Audience.STAFF, OutboundKind.NOTICE, "@everyone look")
    posted = fake.messages[await bot.service.channel.send(plain, Delivery(fake.guild_id, None, None))]
    assert posted["allowed_mentions"] == {"parse": []}
