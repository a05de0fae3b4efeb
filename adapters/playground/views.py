"""Read models for the playground pages, built from the core's own records.

Nothing here decides anything: it reads conversations, messages, drafts,
hand-offs, classifications and decisions the core stored, the Cards the core
queued for staff, and the context packet (``bot.context.latest_packet``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from supportbot.adapters.playground.channel import PLATFORM, WORKSPACE
from supportbot.bot.cards import Card, CardButton, CardField
from supportbot.bot.context import latest_packet
from supportbot.bot.domain import (
    Audience,
    Conversation,
    ConversationStatus,
    DecisionRecord,
    DraftStatus,
    HandoffStatus,
    MessageKind,
    Outbound,
    OutboundKind,
    StoredMessage,
)
from supportbot.bot.ports import KnowledgeBase, UnitOfWork

CUSTOMER_VISIBLE = (MessageKind.CUSTOMER, MessageKind.BOT_ANSWER, MessageKind.AGENT_REPLY, MessageKind.SYSTEM)


def safe_url(url: str | None) -> str | None:
    """Only http(s) links become clickable; anything else (javascript:, data:) stays text."""
    if url and url.lower().startswith(("https://", "http://")):
        return url
    return None


@dataclass
class ThreadMessage:
    id: str
    kind: str
    role: str
    author: str
    text: str
    created_at: datetime
    citations: list[dict[str, Any]] = field(default_factory=list)
    decision_id: str | None = None
    feedback: bool = False

    @property
    def mine(self) -> bool:
        return self.kind == MessageKind.CUSTOMER.value


@dataclass
class ConversationSummary:
    id: str
    channel_id: str
    title: str
    status: str
    account_id: str | None
    updated_at: datetime


def playground_conversations(uow: UnitOfWork, *, unresolved: bool = False) -> list[Conversation]:
    """Playground conversations, most recently active first."""
    statuses = [ConversationStatus.OPEN, ConversationStatus.WAITING_ON_CUSTOMER] if unresolved else None
    convs = [
        c for c in uow.conversations.list(statuses=statuses) if c.platform == PLATFORM and c.workspace_id == WORKSPACE
    ]
    return sorted(convs, key=lambda c: c.updated_at, reverse=True)


def conversation_by_channel(uow: UnitOfWork, channel_id: str) -> Conversation | None:
    """Each playground conversation lives in its own channel whose id is also its root message id."""
    return uow.conversations.find_by_thread(PLATFORM, WORKSPACE, channel_id, channel_id)


def summaries(uow: UnitOfWork) -> list[ConversationSummary]:
    out = []
    for conv in playground_conversations(uow):
        first = next((m for m in uow.messages.for_conversation(conv.id) if m.kind is MessageKind.CUSTOMER), None)
        title = first.text if first else conv.id
        out.append(
            ConversationSummary(
                conv.id,
                conv.channel_id,
                title[:60] + ("…" if len(title) > 60 else ""),
                conv.status.value,
                conv.account_id,
                conv.updated_at,
            )
        )
    return out


def _decision_of(uow: UnitOfWork, message: StoredMessage, decisions: list[DecisionRecord]) -> str | None:
    """The decision behind a bot message: named in its outbound, else the latest one before it."""
    outbound_id = (message.raw or {}).get("outbound_id")
    outbound = uow.outbox.get(outbound_id) if outbound_id else None
    if outbound is not None:
        if outbound.payload.get("decision_id"):
            return str(outbound.payload["decision_id"])
        draft = uow.drafts.get(outbound.payload["draft_id"]) if outbound.payload.get("draft_id") else None
        if draft is not None:
            return draft.decision_id
    earlier = [d for d in decisions if d.created_at <= message.created_at]
    return earlier[-1].id if earlier else (decisions[-1].id if decisions else None)


def customer_thread(uow: UnitOfWork, conv: Conversation) -> list[ThreadMessage]:
    """What the customer sees: their messages and what was posted in their thread, never staff messages."""
    decisions = uow.decisions.for_conversation(conv.id)
    out = []
    for m in uow.messages.for_conversation(conv.id):
        if m.channel_id != conv.channel_id or m.kind not in CUSTOMER_VISIBLE:
            continue
        bot_side = m.kind is not MessageKind.CUSTOMER
        citations = (
            [
                {"title": str(c.get("title", "")), "url": safe_url(str(c.get("url", "")))}
                for c in (m.raw or {}).get("citations", [])
                if isinstance(c, dict)
            ]
            if bot_side
            else []
        )
        out.append(
            ThreadMessage(
                id=m.id,
                kind=m.kind.value,
                role=m.role.value,
                author=m.author_name or m.role.value,
                text=m.text,
                created_at=m.created_at,
                citations=citations,
                decision_id=_decision_of(uow, m, decisions) if bot_side else None,
                feedback=m.kind in (MessageKind.BOT_ANSWER, MessageKind.AGENT_REPLY),
            )
        )
    return out


# ------------------------------------------------------------------ agent console


@dataclass
class ConsoleItem:
    conversation: Conversation
    title: str
    color: str
    body: str
    fields: tuple[CardField, ...]
    buttons: tuple[CardButton, ...]
    transcript: list[StoredMessage]
    draft_text: str | None
    draft_id: str | None
    handoff_id: str | None
    handoff_status: str | None
    state: str  # "draft", "handoff", "claimed", "owned", "bot"
    footer: str = ""

    @property
    def has_thread(self) -> bool:
        return self.conversation.staff_thread_id is not None


_ORDER = {"handoff": 0, "draft": 1, "claimed": 2, "owned": 3, "bot": 4}
_URGENCY_ORDER = {"critical": 0, "high": 1, "normal": 2, "low": 3}


def _card_for(outbox: list[Outbound], kind: OutboundKind, key: str, value: str) -> Card | None:
    for item in reversed(outbox):
        if item.kind is kind and item.audience is Audience.STAFF and item.payload.get(key) == value:
            card = item.payload.get("card")
            if isinstance(card, dict):
                return Card.from_dict(card)
    return None


def console_items(uow: UnitOfWork) -> list[ConsoleItem]:
    """Unresolved playground conversations with the card the core built for each, most urgent first."""
    items = []
    for conv in playground_conversations(uow, unresolved=True):
        packet = latest_packet(uow, conv)
        outbox = uow.outbox.list(conversation_id=conv.id)
        draft = next((d for d in uow.drafts.list(status=DraftStatus.PENDING, conversation_id=conv.id)), None)
        handoffs = uow.handoffs.list(statuses=[HandoffStatus.OPEN, HandoffStatus.CLAIMED], conversation_id=conv.id)
        handoff = handoffs[-1] if handoffs else None
        card: Card | None = None
        if draft is not None:
            card, state = _card_for(outbox, OutboundKind.DRAFT_REVIEW, "draft_id", draft.id), "draft"
        elif handoff is not None:
            card = _card_for(outbox, OutboundKind.HANDOFF, "handoff_id", handoff.id)
            state = "handoff" if handoff.status is HandoffStatus.OPEN else "claimed"
        else:
            mirror = [o for o in outbox if o.kind is OutboundKind.MIRROR_OPEN and "card" in o.payload]
            card = Card.from_dict(mirror[-1].payload["card"]) if mirror else None
            state = "owned" if not conv.bot_handled else "bot"
        buttons = card.buttons if card and state in ("draft", "handoff", "claimed") else ()
        if state == "claimed":  # claiming again is a no-op; keep Resolve
            buttons = tuple(b for b in buttons if b.action_id != "handoff_claim")
        items.append(
            ConsoleItem(
                conversation=conv,
                title=card.title if card else f"Conversation {conv.id}",
                color=card.color if card else "neutral",
                body=(draft.text if draft else (handoff.reason if handoff else "")),
                fields=packet.fields(),
                buttons=buttons,
                transcript=list(packet.transcript),
                draft_text=draft.text if draft else None,
                draft_id=draft.id if draft else None,
                handoff_id=handoff.id if handoff else None,
                handoff_status=handoff.status.value if handoff else None,
                state=state,
                footer=card.footer if card else f"conversation {conv.id}",
            )
        )
    items.sort(
        key=lambda i: (_ORDER[i.state], _URGENCY_ORDER.get(i.conversation.urgency.value, 9), i.conversation.created_at)
    )
    return items


def draft_sources(uow: UnitOfWork, draft_id: str | None) -> list[dict[str, Any]]:
    draft = uow.drafts.get(draft_id) if draft_id else None
    if draft is None:
        return []
    return [{"title": c.title, "url": safe_url(c.url)} for c in draft.citations]


# ------------------------------------------------------------------ why panel


def why(kb: KnowledgeBase, uow: UnitOfWork, conv: Conversation) -> list[dict[str, Any]]:
    """Every decision of a conversation with the classification it was based on, newest first."""
    classes = {r.message_id: r for r in uow.classifications.for_conversation(conv.id)}
    messages = {m.id: m for m in uow.messages.for_conversation(conv.id)}
    out = []
    for record in reversed(uow.decisions.for_conversation(conv.id)):
        d = record.decision
        cls = classes.get(record.message_id)
        c = cls.classification if cls else None
        msg = messages.get(record.message_id)
        articles = []
        for article_id in d.articles:
            article = kb.get(article_id)
            articles.append(
                {
                    "id": article_id,
                    "title": article.title if article else article_id,
                    "url": safe_url(article.url) if article else None,
                }
            )
        out.append(
            {
                "decision_id": record.id,
                "message_id": record.message_id,
                "message": msg.text if msg else None,
                "created_at": record.created_at.isoformat(),
                "action": d.action.value,
                "rule": d.rule,
                "reason": d.reason,
                "scores": dict(d.scores),
                "account_tier": record.account_tier,
                "articles": articles,
                # what the reply was built from: composer, passages considered, the model's trace
                "reply": d.reply,
                "classification": None
                if c is None
                else {
                    "intent": c.intent,
                    "corrected_intent": cls.corrected_intent if cls else None,  # an agent's label wins
                    "corrected_by": cls.corrected_by if cls else None,
                    "confidence": round(c.confidence, 4),
                    "out_of_scope": c.out_of_scope,
                    "top_intents": [
                        {"intent": s.intent, "probability": round(s.probability, 4)} for s in c.top_intents
                    ],
                    "urgency": c.urgency.value,
                    "urgency_reasons": list(c.urgency_reasons),
                    "sentiment": c.sentiment.value,
                    "frustration": round(c.frustration, 3),
                    "model_version": c.model_version,
                },
            }
        )
    return out
