"""Lifecycle: nudge then auto-resolve, reopen, CSAT asked once, "that didn't help" hands off."""

from __future__ import annotations

import pytest

from supportbot.bot.commands import Actor, ResolveConversation
from supportbot.bot.csat import PROMPT, parse_rating
from supportbot.bot.domain import Audience, ConversationStatus, HandoffStatus, OutboundKind, Role
from supportbot.bot.lifecycle import NUDGE_TEXT, says_not_helped
from tests.fakes.core import FakeChannel
from tests.ops.conftest import message

AGENT = Actor("U_SAM", Role.AGENT, "Sam")


def _system(channel: FakeChannel) -> list[str]:
    return channel.texts(audience=Audience.CUSTOMER, kind=OutboundKind.SYSTEM)


async def test_silence_after_an_answer_nudges_once_then_resolves_and_asks_csat_once(make_app, clock):
    channel = FakeChannel("test")
    app = make_app(channel=channel)  # auto_resolve_hours = 48: nudge at 24 h, resolve at 48 h
    sweep = app.core.lifecycle.sweep
    result = await app.core.handle_inbound(message(clock, "How do I download my invoice?", message_id="q1"))
    await app.core.handle_inbound(message(clock, "thanks!", thread="q1", message_id="q2"))  # noise: no reply owed
    clock.advance(hours=23, minutes=59)
    assert (await sweep()).nudged == 0
    clock.advance(minutes=1)
    assert (await sweep()).nudged == 1
    assert (await sweep()).nudged == 0
    assert _system(channel) == [NUDGE_TEXT]
    clock.advance(hours=23, minutes=59)
    assert (await sweep()).resolved == 0
    clock.advance(minutes=1)
    assert (await sweep()).resolved == 1
    assert (await sweep()).resolved == 0
    with app.uow() as uow:
        conv = uow.conversations.get(result.conversation_id)
        actions = [a.action for a in uow.actions.list()]
    assert conv.status is ConversationStatus.RESOLVED and actions == ["auto_resolve"]
    assert _system(channel) == [NUDGE_TEXT, PROMPT]
    (csat,) = [o for o, _ in channel.sent if o.payload.get("csat")]
    assert csat.payload["conversation_id"] == conv.id
    assert {o["value"] for o in csat.payload["options"]} == {"up", "down", "1", "2", "3", "4", "5"}


async def test_a_customer_reply_after_the_nudge_keeps_the_conversation_open(make_app, clock):
    channel = FakeChannel("test")
    app = make_app(channel=channel)
    sweep = app.core.lifecycle.sweep
    result = await app.core.handle_inbound(message(clock, "How do I download my invoice?", message_id="q1"))
    clock.advance(hours=24)
    assert (await sweep()).nudged == 1
    clock.advance(hours=1)
    await app.core.handle_inbound(
        message(clock, "hmm, and what about a refund for last month?", thread="q1", message_id="q3")
    )
    clock.advance(hours=30)
    assert (await sweep()).resolved == 0
    with app.uow() as uow:
        assert uow.conversations.get(result.conversation_id).status is not ConversationStatus.RESOLVED


async def test_a_resolved_conversation_reopens_when_the_customer_writes_and_csat_is_never_asked_twice(make_app, clock):
    channel = FakeChannel("test")
    app = make_app(channel=channel)
    result = await app.core.handle_inbound(message(clock, "I want a refund", message_id="r1"))
    await app.commands.execute(ResolveConversation(result.conversation_id, AGENT))
    assert _system(channel).count(PROMPT) == 1
    clock.advance(hours=2)
    again = await app.core.handle_inbound(
        message(clock, "actually the refund has not arrived", thread="r1", message_id="r2")
    )
    assert again.conversation_id == result.conversation_id
    with app.uow() as uow:
        conv = uow.conversations.get(result.conversation_id)
        assert conv.status is ConversationStatus.OPEN and conv.resolved_at is None
        # the 2 h it was resolved (Thu 10:00-12:00 Berlin, business hours) are added to the resolution due time
        assert [round(e.detail["business_minutes"]) for e in uow.sla_events.list(kinds=["pause"])] == [120]
    await app.commands.execute(ResolveConversation(result.conversation_id, AGENT))
    assert _system(channel).count(PROMPT) == 1


async def test_a_typed_rating_is_recorded_once_and_does_not_reopen(make_app, clock):
    channel = FakeChannel("test")
    app = make_app(channel=channel)
    result = await app.core.handle_inbound(message(clock, "I want a refund", message_id="r1"))
    await app.commands.execute(ResolveConversation(result.conversation_id, AGENT))
    rated = await app.core.handle_inbound(message(clock, "4", thread="r1", message_id="r2"))
    assert rated.status == "processed" and rated.conversation_id == result.conversation_id
    # a second "5" is not a rating any more: only the first answer counts
    await app.core.handle_inbound(message(clock, "👍", thread="r1", message_id="r3"))
    with app.uow() as uow:
        (rating,) = uow.actions.list(action="csat")
        conv = uow.conversations.get(result.conversation_id)
    assert rating.detail["score"] == 4 and rating.detail["positive"] is True
    assert conv.status is ConversationStatus.RESOLVED


async def test_csat_is_only_asked_on_configured_platforms(make_app, clock):
    channel = FakeChannel("test")
    app = make_app(channel=channel, operations={"csat_platforms": ["slack"]})
    result = await app.core.handle_inbound(message(clock, "I want a refund", message_id="r1"))
    await app.commands.execute(ResolveConversation(result.conversation_id, AGENT))
    assert PROMPT not in _system(channel)
    # without a prompt, a "5" is just a message (it reopens), not a rating
    await app.core.handle_inbound(message(clock, "5", thread="r1", message_id="r2"))
    with app.uow() as uow:
        assert uow.actions.list(action="csat") == []


@pytest.mark.parametrize(
    "text",
    [
        "that didn't help",
        "That didn’t help at all",
        "still not working",
        "this doesn't answer my question",
        "I tried that but still getting the error",
        "not what I asked",
        "Nope, still broken",
        "it did not work",
        "the article doesn't solve it",
        "useless",
    ],
)
def test_says_not_helped(text):
    assert says_not_helped(text)


@pytest.mark.parametrize(
    "text",
    [
        "thanks, that worked!",
        "perfect, that fixed it",
        "how do I export a CSV?",
        "can I also add a second admin?",
        "great, thank you",
        "ok will try",
    ],
)
def test_says_not_helped_leaves_other_replies_alone(text):
    assert not says_not_helped(text)


def test_parse_rating():
    assert parse_rating("5").score == 5 and parse_rating("2/5").positive is False
    assert parse_rating("👍").positive and parse_rating(":-1:").positive is False
    assert parse_rating("5 users are locked out") is None and parse_rating("10") is None


async def test_that_did_not_help_reopens_and_hands_off_with_the_failed_answer(make_app, clock):
    channel = FakeChannel("test")
    app = make_app(channel=channel)
    first = await app.core.handle_inbound(message(clock, "How do I download my invoice?", message_id="q1"))
    answer = first.reply
    clock.advance(minutes=3)
    result = await app.core.handle_inbound(
        message(clock, "that didn't help, still can't find it", thread="q1", message_id="q2")
    )
    assert result.decision.action.value == "handoff" and result.decision.rule == "answer_failed"
    with app.uow() as uow:
        conv = uow.conversations.get(first.conversation_id)
        (handoff,) = uow.handoffs.list(conversation_id=conv.id)
    assert conv.status is ConversationStatus.OPEN and not conv.bot_handled
    assert handoff.status is HandoffStatus.OPEN
    assert answer.splitlines()[0] in handoff.reason  # the failed answer is in the hand-off context
    (card,) = [o for o, _ in channel.sent if o.kind is OutboundKind.HANDOFF]
    assert "did not help" in str(card.payload["card"])
    # the customer hears that a person takes over; no second automatic answer
    assert len(channel.texts(kind=OutboundKind.ANSWER)) == 1


async def test_a_new_question_after_an_answer_is_answered_not_handed_off(make_app, clock):
    app = make_app()
    await app.core.handle_inbound(message(clock, "How do I download my invoice?", message_id="q1"))
    result = await app.core.handle_inbound(
        message(clock, "thanks, that worked! and how do I reset my password?", thread="q1", message_id="q2")
    )
    assert result.decision.action.value == "answer"


async def test_thumbs_down_on_a_bot_answer_hands_off(make_app, clock):
    app = make_app()
    first = await app.core.handle_inbound(message(clock, "How do I download my invoice?", message_id="q1"))
    result = await app.core.record_feedback(first.conversation_id, positive=False, user_id="U_CUST")
    assert result.handoff_id is not None


async def test_a_number_in_a_reopened_conversation_is_an_answer_not_a_rating(make_app, clock):
    app = make_app()
    result = await app.core.handle_inbound(message(clock, "I want a refund", message_id="r1"))
    await app.commands.execute(ResolveConversation(result.conversation_id, AGENT))
    await app.core.handle_inbound(
        message(clock, "sorry, one more question about the refund", thread="r1", message_id="r2")
    )
    reply = await app.core.handle_inbound(message(clock, "5", thread="r1", message_id="r3"))
    assert reply.status == "relayed"  # the agent asked "how many seats?" — the customer answered
    with app.uow() as uow:
        assert uow.actions.list(action="csat") == []
