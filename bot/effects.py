"""Side effects of domain events: what people see when a conversation changes.

``EventBus.publish`` runs each event's handlers in the caller's transaction,
so the state change and everything it queues commit together (and a replay
queues nothing twice: every outbound has a dedupe key). Handlers are plain
functions of a ``Scope`` (the unit of work, the conversation being changed,
the outbox) and the event; the composition root subscribes them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from supportbot.bot import presenter
from supportbot.bot.answers import MARKDOWN
from supportbot.bot.cards import Card, CardField
from supportbot.bot.context import latest_packet
from supportbot.bot.domain import Audience, Conversation, DraftStatus, HandoffStatus, OutboundKind
from supportbot.bot.events import (
    DraftApproved,
    DraftRejected,
    DraftSuperseded,
    Event,
    HandedOff,
    HandoffClaimed,
    IntentCorrected,
    Resolved,
)
from supportbot.bot.outbox import OutboxWriter
from supportbot.bot.ports import UnitOfWork
from supportbot.bot.presenter import ContextPacket

E = TypeVar("E", bound=Event)


@dataclass
class Scope:
    """What a handler may touch: the transaction, the (unsaved) conversation and the outbox.

    The publisher saves ``conv`` after the handlers ran, so handlers change it in place.
    """

    uow: UnitOfWork
    conv: Conversation
    outbox: OutboxWriter
    packet_hint: ContextPacket | None = None  # the packet the publisher already built, if any
    _packet: ContextPacket | None = field(default=None, init=False)

    def packet(self) -> ContextPacket:
        if self._packet is None:
            self._packet = self.packet_hint or latest_packet(self.uow, self.conv)
        return self._packet

    def queue(
        self, audience: Audience, kind: OutboundKind, text: str, key: str, payload: dict[str, Any] | None = None
    ) -> bool:
        return self.outbox.queue(self.uow, self.conv, audience, kind, text, key, payload)


Handler = Callable[[Scope, Any], None]


class EventBus:
    def __init__(self, outbox: OutboxWriter) -> None:
        self.outbox = outbox
        self._handlers: dict[type[Event], list[Handler]] = {}

    def subscribe(self, event_type: type[E], handler: Callable[[Scope, E], None]) -> None:
        self._handlers.setdefault(event_type, []).append(handler)

    def publish(
        self, uow: UnitOfWork, conv: Conversation, events: Iterable[Event], *, packet: ContextPacket | None = None
    ) -> None:
        """Run the handlers of ``events`` (all about ``conv``) in order; the caller saves ``conv`` afterwards."""
        scope = Scope(uow, conv, self.outbox, packet)
        for event in events:
            for handler in self._handlers.get(type(event), ()):
                handler(scope, event)


# --------------------------------------------------------------------------- standard handlers


def settle_card(
    scope: Scope,
    card_key: str,
    outcome: str,
    by_id: str,
    by_name: str,
    keep: tuple[str, ...] = (),
    fields: tuple[CardField, ...] | None = None,
) -> None:
    """Re-render the staff card queued under ``card_key``: the outcome shown, only the ``keep`` buttons left
    (and ``fields`` instead of the card's own, when the context changed, e.g. an agent's intent label)."""
    original = scope.uow.outbox.find(card_key)
    if original is None or "card" not in original.payload:
        return
    card = Card.from_dict(original.payload["card"])
    settled = Card(
        title=card.title,
        body=card.body,
        fields=card.fields if fields is None else fields,
        buttons=tuple(b for b in card.buttons if b.action_id in keep),
        footer=card.footer,
        color="success" if not keep else card.color,
        link=card.link,
    )
    scope.queue(
        Audience.STAFF,
        OutboundKind.CARD_UPDATE,
        f"{outcome} by {by_name}",
        f"card-update:{card_key}:{outcome}",
        {
            "card": settled.to_dict(),
            "card_key": card_key,
            "outcome": {"text": outcome, "by_id": by_id, "by_name": by_name},
        },
    )


def on_handed_off(scope: Scope, event: HandedOff) -> None:
    handoff = scope.uow.handoffs.get(event.handoff_id)
    if handoff is None:
        return
    card = presenter.handoff_card(handoff, scope.packet())
    scope.queue(
        Audience.STAFF,
        OutboundKind.HANDOFF,
        card.title,
        f"handoff:{handoff.id}",
        {"card": card.to_dict(), "handoff_id": handoff.id},
    )
    # the customer's acknowledgement: bot.acknowledge


def on_handoff_claimed(scope: Scope, event: HandoffClaimed) -> None:
    scope.queue(
        Audience.STAFF,
        OutboundKind.NOTICE,
        f"Claimed by {event.by_name}.",
        f"claim:{event.handoff_id}:{event.by_id}",
        {"handoff_id": event.handoff_id},
    )
    settle_card(scope, f"handoff:{event.handoff_id}", "Claimed", event.by_id, event.by_name, keep=("handoff_resolve",))


def on_resolved(scope: Scope, event: Resolved) -> None:
    conv = scope.conv
    stamp = (conv.resolved_at or conv.updated_at).isoformat()
    scope.queue(
        Audience.CUSTOMER,
        OutboundKind.REACTION,
        "white_check_mark",
        f"resolved-reaction:{conv.id}:{stamp}",
        {"emoji": "white_check_mark", "message_external_id": conv.thread_id},
    )
    scope.queue(Audience.STAFF, OutboundKind.NOTICE, event.notice, f"resolved:{conv.id}:{stamp}")
    for handoff in scope.uow.handoffs.list(conversation_id=conv.id):
        settle_card(scope, f"handoff:{handoff.id}", "Resolved", event.by_id, event.by_name)


def on_draft_approved(scope: Scope, event: DraftApproved) -> None:
    draft = scope.uow.drafts.get(event.draft_id)
    citations = [c.__dict__ for c in draft.citations] if draft else []
    scope.queue(
        Audience.CUSTOMER,
        OutboundKind.AGENT_REPLY,
        event.text,
        f"draft-send:{event.draft_id}",
        {
            "citations": citations,
            "agent_id": event.by_id,
            "agent_name": event.by_name,
            "draft_id": event.draft_id,
            "format": MARKDOWN,  # drafts are composed (and edited) as Markdown
        },
    )
    verb = "Edited and sent" if event.edited else "Approved and sent"
    scope.queue(
        Audience.STAFF,
        OutboundKind.NOTICE,
        f"{verb} by {event.by_name}.",
        f"draft-notice:{event.draft_id}",
        {"draft_id": event.draft_id, "status": "edited" if event.edited else "approved"},
    )
    settle_card(scope, f"draft:{event.draft_id}", verb, event.by_id, event.by_name)


def on_draft_rejected(scope: Scope, event: DraftRejected) -> None:
    scope.queue(
        Audience.STAFF,
        OutboundKind.NOTICE,
        f"Draft rejected by {event.by_name}: {event.reason}. {event.by_name} now owns this conversation; "
        "reply in this thread to answer the customer.",
        f"draft-notice:{event.draft_id}",
        {"draft_id": event.draft_id, "status": "rejected"},
    )
    outcome = "Rejected" + (f" (intent: {event.corrected_intent})" if event.corrected_intent else "")
    fields = scope.packet().fields() if event.corrected_intent else None  # the card shows the agent's label
    settle_card(scope, f"draft:{event.draft_id}", outcome, event.by_id, event.by_name, fields=fields)


def on_intent_corrected(scope: Scope, event: IntentCorrected) -> None:
    """The agent's label replaces the model's guess on the cards still open (a pending draft, an open
    hand-off); the mirror thread gets a line saying who changed it."""
    was = f" (the model said {event.predicted_intent})" if event.predicted_intent else ""
    scope.queue(
        Audience.STAFF,
        OutboundKind.NOTICE,
        f"Intent set to {event.intent} by {event.by_name}{was}.",
        f"relabel:{event.key}",
        {"intent": event.intent, "predicted_intent": event.predicted_intent},
    )
    fields = scope.packet().fields()
    cards = [f"draft:{d.id}" for d in scope.uow.drafts.list(status=DraftStatus.PENDING, conversation_id=scope.conv.id)]
    cards += [
        f"handoff:{h.id}"
        for h in scope.uow.handoffs.list(
            statuses=[HandoffStatus.OPEN, HandoffStatus.CLAIMED], conversation_id=scope.conv.id
        )
    ]
    for key in cards:
        original = scope.uow.outbox.find(key)
        if original is None or "card" not in original.payload:
            continue
        card = Card.from_dict(original.payload["card"])
        refreshed = Card(card.title, card.body, fields, card.buttons, card.footer, card.color, card.link)
        scope.queue(
            Audience.STAFF,
            OutboundKind.CARD_UPDATE,
            f"Intent set to {event.intent} by {event.by_name}",
            f"card-update:{key}:relabel:{event.key}",
            {
                "card": refreshed.to_dict(),
                "card_key": key,
                "outcome": {"text": f"Intent set to {event.intent}", "by_id": event.by_id, "by_name": event.by_name},
            },
        )


def on_draft_superseded(scope: Scope, event: DraftSuperseded) -> None:
    scope.queue(
        Audience.STAFF,
        OutboundKind.NOTICE,
        f"The draft awaiting approval is out of date ({event.reason}); it will not be sent.",
        f"draft-notice:{event.draft_id}",
        {"draft_id": event.draft_id, "status": "superseded"},
    )
    settle_card(scope, f"draft:{event.draft_id}", "Superseded: not sent", "supportbot", "supportbot")


def subscribe_standard_handlers(bus: EventBus) -> None:
    bus.subscribe(HandedOff, on_handed_off)
    bus.subscribe(HandoffClaimed, on_handoff_claimed)
    bus.subscribe(Resolved, on_resolved)
    bus.subscribe(DraftApproved, on_draft_approved)
    bus.subscribe(DraftRejected, on_draft_rejected)
    bus.subscribe(DraftSuperseded, on_draft_superseded)
    bus.subscribe(IntentCorrected, on_intent_corrected)
