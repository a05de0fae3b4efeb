"""Factories for domain objects used by the storage tests (sensible defaults, override anything)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

from supportbot.bot.domain import (
    Account,
    Action,
    AgentActionRecord,
    Audience,
    Citation,
    Classification,
    ClassificationRecord,
    Conversation,
    ConversationStatus,
    Decision,
    DecisionRecord,
    Draft,
    DraftStatus,
    Handoff,
    HandoffStatus,
    IntentScore,
    MessageKind,
    MessageState,
    ModelStatus,
    ModelVersion,
    Outbound,
    OutboundKind,
    OutboxStatus,
    Role,
    Sentiment,
    StoredMessage,
    Ticket,
    Urgency,
    new_id,
)

T0 = datetime(2026, 3, 1, 9, 30, 15, 123456, tzinfo=UTC)


def at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


def conversation(**kw: Any) -> Conversation:
    d: dict[str, Any] = dict(
        id=new_id("conv"),
        platform="slack",
        workspace_id="T1",
        channel_id="C1",
        thread_id=new_id("ts"),
        customer_id="U1",
        account_id="acme",
        created_at=T0,
        updated_at=T0,
    )
    d.update(kw)
    return Conversation(**d)


def message(**kw: Any) -> StoredMessage:
    d: dict[str, Any] = dict(
        id=new_id("msg"),
        platform="slack",
        workspace_id="T1",
        channel_id="C1",
        external_id=new_id("ts"),
        conversation_id=None,
        author_id="U1",
        author_name="Ada",
        role=Role.CUSTOMER,
        kind=MessageKind.CUSTOMER,
        text="hello",
        created_at=T0,
    )
    d.update(kw)
    return StoredMessage(**d)


def classification_value(**kw: Any) -> Classification:
    d: dict[str, Any] = dict(
        intent="billing_refund",
        confidence=0.87,
        out_of_scope=False,
        urgency=Urgency.HIGH,
        sentiment=Sentiment.NEGATIVE,
        top_intents=(IntentScore("billing_refund", 0.87), IntentScore("billing_invoice", 0.08)),
        urgency_reasons=("caps", "'asap'"),
        frustration=0.6,
        model_version="intent-2026-03-01",
    )
    d.update(kw)
    return Classification(**d)


def classification(**kw: Any) -> ClassificationRecord:
    d: dict[str, Any] = dict(
        id=new_id("cls"),
        conversation_id="conv_1",
        message_id="msg_1",
        classification=classification_value(),
        created_at=T0,
    )
    d.update(kw)
    return ClassificationRecord(**d)


def decision(**kw: Any) -> DecisionRecord:
    d: dict[str, Any] = dict(
        id=new_id("dec"),
        conversation_id="conv_1",
        message_id="msg_1",
        decision=Decision(
            action=Action.DRAFT,
            rule="below_threshold",
            reason="Confidence 0.61 is below 0.80.",
            scores={"confidence": 0.61, "threshold": 0.8},
            articles=("refunds", "invoices"),
        ),
        account_tier="enterprise",
        created_at=T0,
    )
    d.update(kw)
    return DecisionRecord(**d)


def draft(**kw: Any) -> Draft:
    d: dict[str, Any] = dict(
        id=new_id("drf"),
        conversation_id="conv_1",
        decision_id="dec_1",
        text="Here is how refunds work.",
        citations=(Citation("Refunds", "https://kb.example/refunds", "refunds"),),
        created_at=T0,
    )
    d.update(kw)
    return Draft(**d)


def handoff(**kw: Any) -> Handoff:
    d: dict[str, Any] = dict(id=new_id("hof"), conversation_id="conv_1", reason="urgent", created_at=T0)
    d.update(kw)
    return Handoff(**d)


def action(**kw: Any) -> AgentActionRecord:
    d: dict[str, Any] = dict(
        id=new_id("act"),
        actor_id="A1",
        actor_role=Role.AGENT,
        action="approve_draft",
        created_at=T0,
        conversation_id="conv_1",
        target_id="drf_1",
        detail={"edited": False},
    )
    d.update(kw)
    return AgentActionRecord(**d)


def outbound(**kw: Any) -> Outbound:
    d: dict[str, Any] = dict(
        id=new_id("out"),
        platform="slack",
        audience=Audience.CUSTOMER,
        kind=OutboundKind.ANSWER,
        text="answer",
        dedupe_key=new_id("key"),
        created_at=T0,
        conversation_id="conv_1",
        payload={"citations": [{"title": "Refunds", "url": "https://kb.example/refunds"}]},
    )
    d.update(kw)
    return Outbound(**d)


def model_version(**kw: Any) -> ModelVersion:
    d: dict[str, Any] = dict(
        id=new_id("mdl"),
        kind="intent",
        path="models/intent.npz",
        data_hash="sha256:abc",
        created_at=T0,
        metrics={"macro_f1": 0.91, "per_intent": {"billing_refund": 0.95}},
    )
    d.update(kw)
    return ModelVersion(**d)


def account(**kw: Any) -> Account:
    d: dict[str, Any] = dict(
        id="acme",
        name="Acme Corp",
        tier="enterprise",
        arr=125000.5,
        renewal_date=date(2026, 9, 30),
        owner="dana@example.com",
        health="yellow",
        slack_team_ids=("T1", "T9"),
        email_domains=("acme.com",),
        discord_guild_ids=(),
        open_tickets=(Ticket("TCK-1", "Refund for March", "open", "high", "2026-02-27"),),
    )
    d.update(kw)
    return Account(**d)


# Every entity with every optional field set, for round-trip tests.
def fully_populated() -> dict[str, Any]:
    return {
        "conversation": conversation(
            status=ConversationStatus.WAITING_ON_CUSTOMER,
            intent="billing_refund",
            urgency=Urgency.CRITICAL,
            assignee_id="A1",
            staff_thread_id="1700000000.0001",
            first_response_at=at(1),
            resolved_at=at(90),
            first_response_due_at=at(15),
            resolution_due_at=at(240),
            last_customer_message_at=at(2),
            bot_handled=False,
            updated_at=at(3),
        ),
        "message": message(
            conversation_id="conv_1",
            state=MessageState.FAILED,
            thread_id="1700000000.0000",
            error="Traceback ...",
            raw={"event": {"type": "message", "blocks": [1, 2.5, None, True]}},
            role=Role.MANAGER,
            kind=MessageKind.INTERNAL_NOTE,
        ),
        "classification": classification(corrected_intent="billing_invoice", corrected_by="A1", corrected_at=at(6)),
        "decision": decision(),
        "draft": draft(
            status=DraftStatus.EDITED,
            final_text="Edited text",
            decided_by="A1",
            decided_at=at(5),
            reject_reason=None,
            corrected_intent="billing_invoice",
        ),
        "handoff": handoff(status=HandoffStatus.RESOLVED, claimed_by="A1", claimed_at=at(4), resolved_at=at(8)),
        "action": action(actor_role=Role.MANAGER, detail={"threshold": {"billing_refund": 0.85}}),
        "outbound": outbound(
            status=OutboxStatus.FAILED,
            attempts=5,
            next_attempt_at=at(10),
            external_id="1700000000.0042",
            last_error="channel_not_found",
            kind=OutboundKind.DRAFT_REVIEW,
            audience=Audience.STAFF,
            claimed_by="worker_1",
            claimed_until=at(11),
        ),
        "model_version": model_version(status=ModelStatus.CURRENT, promoted_at=at(7)),
    }
