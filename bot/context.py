"""The context packet of a conversation, built from what is stored (for cards, commands and the why panel)."""

from __future__ import annotations

from collections.abc import Sequence

from supportbot.bot.domain import (
    Account,
    Classification,
    ClassificationRecord,
    Conversation,
    Decision,
    MessageKind,
    Role,
    StoredMessage,
)
from supportbot.bot.ports import UnitOfWork
from supportbot.bot.presenter import ContextPacket


def cached_account(uow: UnitOfWork, conv: Conversation) -> Account | None:
    """The conversation's account as last fetched from the CRM (the account cache)."""
    cached = uow.accounts.get(f"id:{conv.account_id}") if conv.account_id else None
    return cached[0] if cached else None


RELAY_KEY = "relay-agent:"  # dedupe key prefix of the outbound that relays an agent's staff-thread reply


def relay_key(staff_message_id: str) -> str:
    return f"{RELAY_KEY}{staff_message_id}"


def conversation_transcript(uow: UnitOfWork, conv: Conversation) -> list[StoredMessage]:
    """The conversation's messages, one entry per message.

    A reply an agent writes in the staff thread is stored twice: as written (it keeps the platform's
    message id, so a redelivery is not relayed again) and, once delivered, as what the customer got.
    Once that delivered copy exists the staff-side original is left out; until then it stands in for it.
    """
    messages = uow.messages.for_conversation(conv.id)
    relayed: set[str] = set()
    for m in messages:
        outbound_id = (m.raw or {}).get("outbound_id") if m.kind is MessageKind.AGENT_REPLY else None
        item = uow.outbox.get(str(outbound_id)) if outbound_id else None
        if item is not None and item.dedupe_key.startswith(RELAY_KEY):
            relayed.add(item.dedupe_key[len(RELAY_KEY) :])
    return [m for m in messages if m.id not in relayed]


def build_packet(
    uow: UnitOfWork,
    conv: Conversation,
    *,
    account: Account | None,
    classification: Classification | None,
    decision: Decision | None,
    customer_name: str = "",
    transcript: Sequence[StoredMessage] | None = None,
    intent_label: str | None = None,
    crm_unavailable: bool = False,
    agent_notes: Sequence[str] = (),
) -> ContextPacket:
    messages = list(transcript) if transcript is not None else conversation_transcript(uow, conv)
    if not customer_name:
        customer_name = next((m.author_name for m in messages if m.role is Role.CUSTOMER), "")
    return ContextPacket(
        conv,
        customer_name,
        account,
        classification,
        decision,
        messages,
        intent_label=intent_label,
        crm_unavailable=crm_unavailable,
        agent_notes=tuple(agent_notes),
    )


def agent_label(records: Sequence[ClassificationRecord]) -> str | None:
    """The latest intent an agent gave any message of the conversation, if one did."""
    corrected = [r for r in records if r.corrected_intent]
    if not corrected:
        return None
    return max(corrected, key=lambda r: r.corrected_at or r.created_at).corrected_intent


def latest_packet(uow: UnitOfWork, conv: Conversation) -> ContextPacket:
    """The packet as of the conversation's latest classification and decision."""
    classes = uow.classifications.for_conversation(conv.id)
    decisions = uow.decisions.for_conversation(conv.id)
    return build_packet(
        uow,
        conv,
        account=cached_account(uow, conv),
        classification=classes[-1].classification if classes else None,
        decision=decisions[-1].decision if decisions else None,
        intent_label=agent_label(classes),
    )
