"""The core pipeline, conversation-style, with fakes of our own ports."""

from __future__ import annotations

import pytest

from supportbot.bot.commands import (
    Actor,
    ApproveDraft,
    ClaimHandoff,
    EditDraft,
    RejectDraft,
    ResolveHandoff,
    StaffMessage,
)
from supportbot.bot.domain import (
    Audience,
    ConversationStatus,
    DraftStatus,
    MessageState,
    OutboundKind,
    OutboxStatus,
    Role,
)
from supportbot.bot.errors import Conflict, DeliveryError, NotAuthorized, RateLimited
from tests.conftest import Customer

AGENT = Actor("U_AGENT", Role.AGENT, "Sam")
CUSTOMER_ACTOR = Actor("U_ALICE", Role.CUSTOMER, "Alice")


async def test_confident_question_is_answered_with_citation(app, alice, channel):
    result = await alice.says("How do I download my invoice?")
    assert result.decision.action.value == "answer"
    assert result.decision.rule == "confident_answer"
    answers = channel.texts(audience=Audience.CUSTOMER, kind=OutboundKind.ANSWER)
    assert len(answers) == 1
    assert "Settings → Billing → Invoices" in answers[0]
    assert "https://docs.example.com/download-invoices" in answers[0]
    assert result.citations[0].article_id == "download-invoices"
    # 👀 on pickup and a mirror thread for staff, before the answer.
    assert channel.kinds()[:2] == ["reaction", "mirror_open"]


async def test_enterprise_account_gets_a_draft_not_an_answer(app, clock, channel):
    bob = Customer(app, clock, user="U_BOB", account="acc_big")
    result = await bob.says("where can I find my invoice?")
    assert result.decision.action.value == "draft"
    assert result.decision.rule == "tier_requires_review"
    assert channel.texts(audience=Audience.CUSTOMER, kind=OutboundKind.ANSWER) == []
    review = [o for o, _ in channel.sent if o.kind is OutboundKind.DRAFT_REVIEW]
    assert len(review) == 1
    buttons = {b["action_id"]: b["value"] for b in review[0].payload["card"]["buttons"]}
    assert buttons == {"draft_approve": result.draft_id, "draft_edit": result.draft_id, "draft_reject": result.draft_id}
    fields = {f["label"]: f["value"] for f in review[0].payload["card"]["fields"]}
    assert fields["Tier"] == "enterprise" and fields["ARR"] == "$250,000"
    assert "T-1 SSO loop" in fields["Open tickets"]


async def test_outage_is_handed_off_with_context_whatever_the_confidence(app, alice, channel):
    result = await alice.says("Quick question: none of our users can log in since 9am")
    assert result.decision.action.value == "handoff"
    assert result.decision.rule == "urgent_handoff"
    handoff_cards = [o for o, _ in channel.sent if o.kind is OutboundKind.HANDOFF]
    assert len(handoff_cards) == 1
    assert {b["action_id"] for b in handoff_cards[0].payload["card"]["buttons"]} == {"handoff_claim", "handoff_resolve"}
    (ack,) = channel.texts(audience=Audience.CUSTOMER, kind=OutboundKind.SYSTEM)
    assert "passed this to our support team" in ack


async def test_every_decision_stores_its_reason_and_scores(app, alice, uow_factory):
    await alice.says("How do I download my invoice?")
    with uow_factory() as uow:
        (record,) = uow.decisions.list()
    assert record.decision.reason.startswith("Intent invoice at 0.97 clears its 0.80 threshold")
    assert record.decision.scores["confidence"] == 0.97
    assert record.decision.scores["threshold"] == 0.8
    assert record.decision.articles[0] == "download-invoices"


async def test_duplicate_delivery_never_replies_twice(app, alice, channel):
    message = alice.message("How do I download my invoice?", message_id="1700000000.000100")
    first = await app.core.handle_inbound(message)
    second = await app.core.handle_inbound(message)
    assert first.status == "processed" and second.status == "duplicate"
    assert len(channel.texts(kind=OutboundKind.ANSWER)) == 1


async def test_noise_opens_no_ticket(app, alice, channel, uow_factory):
    for text in ("thanks!", "🙏", "hi team 👋", ":+1:"):
        result = await alice.says(text)
        assert result.status == "ignored", text
    # only the greeting alone gets a reply: a prompt to ask the question, in its own thread
    ((prompt, where),) = channel.sent
    assert prompt.kind is OutboundKind.SYSTEM and prompt.conversation_id is None
    assert "What can we help you with?" in prompt.text and where.thread_id == "U_ALICE-3"
    with uow_factory() as uow:
        assert uow.conversations.list() == []
        assert {m.state for m in uow.messages.list()} == {MessageState.IGNORED}


@pytest.mark.parametrize("text", ["", "   ", "\x00\x01\x02", "a" * 40_001, None, 42])
async def test_bad_input_gets_a_clear_result_and_keeps_what_is_stored(app, alice, text, uow_factory, channel):
    await alice.says("How do I download my invoice?")
    message = alice.message("placeholder")
    object.__setattr__(message, "text", text)
    result = await app.core.handle_inbound(message)
    assert result.status == "rejected"
    assert result.detail
    with uow_factory() as uow:
        messages = uow.messages.list()
        outbox = uow.outbox.list()
    assert len(messages) == 3  # the first question, the bot's answer, the rejected message with its reason
    (rejected,) = [m for m in messages if m.state is MessageState.REJECTED]
    assert rejected.error == result.detail and rejected.conversation_id is None
    assert len(rejected.text) <= 40_000 and "\x00" not in rejected.text
    notices = [o for o in outbox if o.payload.get("rejected_message_id") == rejected.id]
    if isinstance(text, str) and len(text) <= 40_000:
        assert notices == []  # nothing readable was said: no reply to an empty message
    else:  # too long or not text: the author is told in the thread, once
        (notice,) = notices
        assert notice.audience.value == "customer" and result.detail in notice.text
        assert notice.payload["reply_to"]["thread_id"] == message.message_id
        [(sent, where)] = [(o, d) for o, d in channel.sent if o.payload.get("rejected_message_id")]
        assert sent.id == notice.id and where.thread_id == message.message_id
        again = await app.core.handle_inbound(message)  # the platform re-delivers it
        assert again.status == "duplicate"


async def test_long_message_with_control_characters_is_processed(app, alice):
    result = await alice.says("my invoice\x07 is missing " + "please help " * 3000)
    assert result.status == "processed"


async def test_thread_reply_continues_the_conversation_and_is_relayed(app, alice, channel, uow_factory):
    first = await alice.says("Quick question: none of our users can log in since 9am")
    with uow_factory() as uow:
        conv = uow.conversations.get(first.conversation_id)
    follow_up = await alice.says("it is still broken", thread=conv.thread_id)
    assert follow_up.status == "relayed"
    assert follow_up.conversation_id == conv.id
    relays = [(o, d) for o, d in channel.sent if o.kind is OutboundKind.RELAY]
    assert len(relays) == 1
    assert relays[0][1].thread_id == "test-2"  # the mirror thread the channel created first


async def test_approve_draft_posts_it_in_the_customer_thread(app, clock, channel, uow_factory):
    bob = Customer(app, clock, user="U_BOB", account="acc_big")
    result = await bob.says("where can I find my invoice?")
    done = await app.commands.execute(ApproveDraft(result.draft_id, AGENT))
    assert done.ok
    replies = [(o, d) for o, d in channel.sent if o.kind is OutboundKind.AGENT_REPLY]
    assert len(replies) == 1
    assert replies[0][1].thread_id == bob.message("x").message_id.replace("-2", "-1")
    with uow_factory() as uow:
        draft = uow.drafts.get(result.draft_id)
        conv = uow.conversations.get(result.conversation_id)
    assert draft.status is DraftStatus.APPROVED and draft.decided_by == "U_AGENT"
    assert conv.first_response_at is not None
    with pytest.raises(Conflict):
        await app.commands.execute(ApproveDraft(result.draft_id, AGENT))


async def test_edit_draft_sends_the_edited_text_and_records_the_edit_distance(app, clock, channel, uow_factory):
    bob = Customer(app, clock, user="U_BOB", account="acc_big")
    result = await bob.says("where can I find my invoice?")
    await app.commands.execute(EditDraft(result.draft_id, AGENT, "Hi Bob, Settings → Billing → Invoices."))
    assert channel.texts(kind=OutboundKind.AGENT_REPLY) == ["Hi Bob, Settings → Billing → Invoices."]
    with uow_factory() as uow:
        (action,) = uow.actions.list(action="edit_draft")
        assert uow.drafts.get(result.draft_id).status is DraftStatus.EDITED
    assert 0 < action.detail["edit_distance"] <= 1


async def test_customer_cannot_approve_and_nothing_changes(app, clock, channel, uow_factory):
    bob = Customer(app, clock, user="U_BOB", account="acc_big")
    result = await bob.says("where can I find my invoice?")
    sent_before = len(channel.sent)
    with pytest.raises(NotAuthorized):
        await app.commands.execute(ApproveDraft(result.draft_id, CUSTOMER_ACTOR))
    assert len(channel.sent) == sent_before
    with uow_factory() as uow:
        assert uow.drafts.get(result.draft_id).status is DraftStatus.PENDING


async def test_reject_draft_records_correction_and_hands_ownership_to_the_agent(app, clock, uow_factory):
    bob = Customer(app, clock, user="U_BOB", account="acc_big")
    result = await bob.says("where can I find my invoice?")
    await app.commands.execute(RejectDraft(result.draft_id, AGENT, "they asked about refunds", "refund"))
    with uow_factory() as uow:
        relabels = uow.actions.list(action="relabel")
        conv = uow.conversations.get(result.conversation_id)
    assert relabels[0].detail["intent"] == "refund"
    assert relabels[0].detail["text"] == "where can I find my invoice?"
    assert conv.intent == "refund" and conv.assignee_id == "U_AGENT" and not conv.bot_handled


async def test_claim_reply_note_and_resolve_a_handoff(app, alice, channel, uow_factory):
    result = await alice.says("Quick question: none of our users can log in since 9am")
    await app.commands.execute(ClaimHandoff(result.handoff_id, AGENT))
    with uow_factory() as uow:
        staff_thread = uow.conversations.get(result.conversation_id).staff_thread_id
    await app.commands.execute(StaffMessage("test", staff_thread, AGENT, "// check the EU cluster", "s1"))
    await app.commands.execute(StaffMessage("test", staff_thread, AGENT, "We're on it, fix in 10 min.", "s2"))
    await app.commands.execute(StaffMessage("test", staff_thread, AGENT, "We're on it, fix in 10 min.", "s2"))
    customer_texts = channel.texts(audience=Audience.CUSTOMER)
    assert "We're on it, fix in 10 min." in customer_texts
    assert customer_texts.count("We're on it, fix in 10 min.") == 1  # retry of s2 is a no-op
    assert not any("EU cluster" in t for t in customer_texts)  # the note stays internal
    await app.commands.execute(ResolveHandoff(result.handoff_id, AGENT))
    with uow_factory() as uow:
        assert uow.conversations.get(result.conversation_id).status is ConversationStatus.RESOLVED
    reactions = [o.payload.get("emoji") for o, _ in channel.sent if o.kind is OutboundKind.REACTION]
    assert reactions[-1] == "white_check_mark"
    (settled,) = [o for o, _ in channel.sent if o.kind is OutboundKind.CARD_UPDATE and "Resolved" in o.text]
    assert settled.payload["card"]["buttons"] == []  # the hand-off card keeps no button once resolved


async def test_rate_limited_post_is_retried_after_retry_after(app, alice, channel, clock, uow_factory):
    channel.fail_next(RateLimited(30), kind=OutboundKind.ANSWER)
    await alice.says("How do I download my invoice?")
    # the answer hit a 429 and waits; the staff side (mirror, notice) keeps its own order and goes on
    assert channel.kinds() == ["reaction", "mirror_open", "notice"]
    clock.advance(seconds=29)
    assert (await app.core.dispatch_outbox()).sent == 0
    clock.advance(seconds=2)
    assert (await app.core.dispatch_outbox()).sent == 1
    assert channel.kinds() == ["reaction", "mirror_open", "notice", "answer"]
    with uow_factory() as uow:
        answer = next(o for o in uow.outbox.list() if o.kind is OutboundKind.ANSWER)
    assert answer.attempts == 2 and "retry after 30s" in answer.last_error


async def test_permanent_failure_is_not_retried_and_the_rest_still_goes(app, alice, channel, uow_factory):
    channel.fail_next(DeliveryError("channel_not_found", permanent=True))
    await alice.says("How do I download my invoice?")
    with uow_factory() as uow:
        statuses = [o.status for o in uow.outbox.list()]
    assert statuses.count(OutboxStatus.FAILED) == 1
    assert statuses.count(OutboxStatus.SENT) == 3


async def test_crash_before_processing_is_recovered_on_restart(app, alice, channel, uow_factory):
    from supportbot.bot.domain import MessageKind, StoredMessage

    message = alice.message("How do I download my invoice?")
    with uow_factory() as uow:  # stored, then the process died before processing
        uow.messages.add(
            StoredMessage(
                id="msg_crashed",
                platform=message.platform,
                workspace_id=message.workspace_id,
                channel_id=message.channel_id,
                external_id=message.message_id,
                conversation_id=None,
                author_id=message.author.user_id,
                author_name="Alice",
                role=Role.CUSTOMER,
                kind=MessageKind.CUSTOMER,
                text=message.text,
                created_at=message.sent_at,
                state=MessageState.RECEIVED,
                raw={"_origin": {"account_id": "acc_small"}},
            )
        )
        uow.commit()
    assert await app.core.recover() == 1
    assert len(channel.texts(kind=OutboundKind.ANSWER)) == 1
    assert (await app.core.handle_inbound(message)).status == "duplicate"
    assert await app.core.recover() == 0


async def test_crm_outage_uses_the_cached_account(app, alice, crm, clock):
    await alice.says("How do I download my invoice?")
    crm.broken = True
    clock.advance(hours=2)  # cache expired, CRM down: the stale copy is better than nothing
    result = await alice.says("and where do I reset my password?", thread="U_ALICE-1")
    assert result.account is not None and result.account.id == "acc_small"


async def test_manager_threshold_override_changes_the_decision(app, alice, clock):
    manager = Actor("U_BOSS", Role.MANAGER)
    reply = await app.support.run(manager, "threshold invoice 0.99")
    assert reply.ok, reply.text
    result = await alice.says("How do I download my invoice?")
    assert result.decision.action.value == "draft"
    assert result.decision.rule == "below_threshold"
    assert "manager override" in result.decision.reason


async def test_thumbs_down_on_an_answer_hands_off_with_the_failed_answer(app, alice, channel, uow_factory):
    result = await alice.says("How do I download my invoice?")
    rated = await app.core.record_feedback(result.conversation_id, positive=False, user_id="U_ALICE")
    assert rated.decision.rule == "answer_failed"
    (card,) = [o for o, _ in channel.sent if o.kind is OutboundKind.HANDOFF]
    assert "Failed answer: Go to Settings → Billing → Invoices" in card.payload["card"]["body"]
    with uow_factory() as uow:
        (rating,) = uow.actions.list(action="csat")
    assert rating.detail["negative"] is True


async def test_only_the_customer_of_the_conversation_can_rate_it(app, alice):
    from supportbot.bot.errors import InvalidInput

    result = await alice.says("How do I download my invoice?")
    with pytest.raises(InvalidInput):
        await app.core.record_feedback(result.conversation_id, positive=True, user_id="U_MALLORY")


async def test_an_outage_reported_while_a_draft_waits_is_handed_off(app, clock, channel):
    bob = Customer(app, clock, user="U_BOB", account="acc_big")
    drafted = await bob.says("where can I find my invoice?")
    assert drafted.decision.action.value == "draft"
    clock.advance(minutes=1)
    # in the question's thread: after the acknowledgement a top-level line would be a new question
    follow_up = await bob.says("never mind that, the whole app is down for all of us", thread="U_BOB-1")
    assert follow_up.conversation_id == drafted.conversation_id
    assert follow_up.decision.action.value == "handoff"
    quiet = await bob.says("where do I reset my password?", thread="U_BOB-1")
    assert quiet.status == "relayed"  # a person owns the conversation now


async def test_relabels_are_exported_for_retraining_and_model_versions_recorded(app, alice, uow_factory):
    from supportbot.bot.commands import RelabelIntent

    result = await alice.says("where is my refund? also my invoice")
    await app.commands.execute(RelabelIntent(result.conversation_id, AGENT, "refund"))
    assert await app.core.corrections() == [("where is my refund? also my invoice", "refund", "invoice")]
    await app.core.register_model_version("/models/x")
    await app.core.register_model_version("/models/x")
    with uow_factory() as uow:
        assert [v.id for v in uow.model_versions.list()] == ["fake-1"]


async def test_an_agent_replying_in_the_customer_thread_takes_the_conversation(app, alice, clock, uow_factory):
    from supportbot.bot.domain import Author, InboundMessage

    first = await alice.says("Quick question: none of our users can log in since 9am")
    clock.advance(minutes=2)
    reply = InboundMessage(
        "test",
        "W1",
        "C_SHARED",
        "agent-1",
        Author("U_AGENT", "Sam", Role.AGENT),
        "Looking into it now.",
        clock.now(),
        thread_id="U_ALICE-1",
    )
    result = await app.core.handle_inbound(reply)
    assert result.status == "relayed" and result.conversation_id == first.conversation_id
    with uow_factory() as uow:
        conv = uow.conversations.get(first.conversation_id)
        kinds = [m.kind.value for m in uow.messages.for_conversation(conv.id)]
    assert conv.assignee_id == "U_AGENT" and conv.first_response_at == clock.now()
    assert "agent_reply" in kinds
    stray = InboundMessage(
        "test",
        "W1",
        "C_SHARED",
        "agent-2",
        Author("U_AGENT", "Sam", Role.AGENT),
        "hello everyone, maintenance tonight",
        clock.now(),
    )
    assert (await app.core.handle_inbound(stray)).status == "ignored"


async def test_item_claimed_by_a_crashed_replica_is_sent_once_its_lease_expires(app, channel, clock, uow_factory):
    from supportbot.bot.dispatch import CLAIM_LEASE as OUTBOX_CLAIM_LEASE
    from supportbot.bot.domain import Outbound

    item = Outbound(
        id="out_1",
        platform=channel.platform,
        audience=Audience.MANAGERS,
        kind=OutboundKind.REPORT,
        text="weekly report",
        dedupe_key="report:1",
        created_at=clock.now(),
    )
    with uow_factory() as uow:
        uow.outbox.add(item)
        assert uow.outbox.claim(item.id, "worker_crashed", clock.now(), OUTBOX_CLAIM_LEASE)
        uow.commit()
    assert (await app.core.dispatch_outbox()).sent == 0
    clock.advance(seconds=OUTBOX_CLAIM_LEASE.total_seconds() - 1)
    assert (await app.core.dispatch_outbox()).sent == 0
    clock.advance(seconds=1)
    channel.fail_next(DeliveryError("timeout"))
    assert (await app.core.dispatch_outbox()).retried == 1
    with uow_factory() as uow:
        retry = uow.outbox.get(item.id)
    assert (retry.claimed_by, retry.claimed_until) == (None, None)  # the backoff governs, not the lease
    assert retry.next_attempt_at is not None and retry.next_attempt_at - clock.now() < OUTBOX_CLAIM_LEASE
    clock.advance(seconds=2)
    assert (await app.core.dispatch_outbox()).sent == 1
    assert channel.texts(kind=OutboundKind.REPORT) == ["weekly report"]
    with uow_factory() as uow:
        sent = uow.outbox.get(item.id)
    assert sent.status is OutboxStatus.SENT and sent.claimed_by is None and sent.claimed_until is None
