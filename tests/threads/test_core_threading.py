"""Threading rules in the core, with our own fakes: one question, one thread."""

from __future__ import annotations

from datetime import timedelta

from supportbot.bot.domain import Audience, OutboundKind
from tests.conftest import Customer


async def test_new_question_after_the_bot_answered_is_a_new_conversation_in_its_own_thread(app, alice, clock, channel):
    first = await alice.says("How do I download my invoice?")
    clock.advance(seconds=5)
    second = await alice.says("where do I reset my password?")
    assert first.conversation_id != second.conversation_id
    answers = [d for o, d in channel.sent if o.kind is OutboundKind.ANSWER]
    assert [d.thread_id for d in answers] == ["U_ALICE-1", "U_ALICE-2"]  # each in its own question's thread


async def test_burst_before_any_reply_is_one_conversation(app, alice, clock, uow_factory):
    # received before the bot's first reply was queued: a quick follow-up
    first = alice.message("hi, quick question about billing")
    second = alice.message("How do I download my invoice?")
    third = alice.message("the one for October")
    stored = []
    for msg in (first, second, third):
        s, _ = await app.core.intake.receive(msg)
        stored.append(s)
    clock.advance(seconds=1)
    results = [await app.core.intake.process(s, m) for s, m in zip(stored, (first, second, third), strict=True)]
    ids = {r.conversation_id for r in results if r.conversation_id}
    assert len(ids) == 1
    with uow_factory() as uow:
        assert len(uow.conversations.list()) == 1


async def test_follow_up_outside_the_window_is_a_new_conversation(app, clock, uow_factory):
    bob = Customer(app, clock, user="U_BOB", account="acc_big")  # enterprise: a draft, no answer yet
    first = await bob.says("where can I find my invoice?")
    with uow_factory() as uow:  # the acknowledgement is a reply; without it only the window matters
        for o in uow.outbox.list(conversation_id=first.conversation_id):
            if o.audience is Audience.CUSTOMER and o.kind is not OutboundKind.REACTION:
                o.created_at = clock.now() + timedelta(hours=1)
                uow.outbox.save(o)
        uow.commit()
    clock.advance(seconds=60)
    near = await bob.says("it's for last month")
    assert near.conversation_id == first.conversation_id
    clock.advance(seconds=121)
    far = await bob.says("and how do I add a user?")
    assert far.conversation_id != first.conversation_id


async def test_after_a_handoff_a_new_top_level_question_is_answered_not_relayed(app, alice, clock, channel):
    outage = await alice.says("Quick question: none of our users can log in since 9am")
    assert outage.decision.action.value == "handoff"
    clock.advance(seconds=30)
    question = await alice.says("How do I download my invoice?")
    assert question.status == "processed" and question.conversation_id != outage.conversation_id
    assert question.decision.action.value == "answer"
    (answer,) = [d for o, d in channel.sent if o.kind is OutboundKind.ANSWER]
    assert answer.thread_id == "U_ALICE-2"


async def test_reply_in_a_thread_continues_it_after_a_handoff(app, alice, clock, channel):
    outage = await alice.says("Quick question: none of our users can log in since 9am")
    clock.advance(minutes=30)
    follow = await alice.says("still down, any news?", thread="U_ALICE-1")
    assert follow.conversation_id == outage.conversation_id and follow.status == "relayed"
