"""Builds what people read: customer replies and staff cards.

Every adapter renders these same structures (Slack blocks, Discord embeds,
playground HTML, terminal text), so wording and content live in one place.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from supportbot.bot.cards import Card, CardButton, CardField
from supportbot.bot.domain import (
    Account,
    Classification,
    Conversation,
    Decision,
    Draft,
    Handoff,
    StoredMessage,
)

HANDOFF_ACK = (
    "Thanks, I've passed this to our support team with the details so far. A person will reply in this thread."
)
_ACTION_LABEL = {"answer": "Answered automatically", "draft": "Draft for review", "handoff": "Handed off"}


AGENT_NOTES_CHARS = 600


def rejected_message(reason: str, max_chars: int) -> str:
    """What the author of a message the bot cannot read is told, in their thread."""
    if "limit" in reason:
        return (
            f"Sorry, I couldn't take that message: {reason}. Please send it in shorter parts "
            f"(at most {max_chars:,} characters each) or attach it as a file, and we'll pick it up from there."
        )
    return f"Sorry, I couldn't read that message ({reason}). Could you send it again as plain text?"


def _money(amount: float) -> str:
    return f"${amount:,.0f}"


def _with_reasons(value: str, reasons: Sequence[str]) -> str:
    return f"{value} — {', '.join(reasons)}" if reasons else value


def _when(moment: datetime | None) -> str:
    return moment.strftime("%Y-%m-%d %H:%M UTC") if moment else "—"


@dataclass(frozen=True)
class ContextPacket:
    """Everything an agent needs to pick a conversation up without asking again."""

    conversation: Conversation
    customer_name: str
    account: Account | None
    classification: Classification | None
    decision: Decision | None
    transcript: Sequence[StoredMessage]
    link: str | None = None
    intent_label: str | None = None  # an agent's label, shown instead of the model's guess
    crm_unavailable: bool = False  # the CRM did not answer in time: the account is a cached copy or unknown
    # the internal ("For support agents") notes of the article the bot looked at: staff cards only
    agent_notes: tuple[str, ...] = ()

    def fields(self) -> tuple[CardField, ...]:
        a, c, d = self.account, self.classification, self.decision
        fields = [CardField("Customer", self.customer_name or self.conversation.customer_id)]
        if a:
            fields += [
                CardField("Account", f"{a.name} ({a.id})"),
                CardField("Tier", a.tier),
                CardField("ARR", _money(a.arr)),
                CardField("Renewal", a.renewal_date.isoformat() if a.renewal_date else "—"),
                CardField("Health", a.health or "—"),
                CardField("Owner", a.owner or "—"),
                CardField(
                    "Open tickets",
                    "; ".join(f"{t.id} {t.subject} ({t.priority})" for t in a.open_tickets) or "none",
                    short=False,
                ),
            ]
        elif self.crm_unavailable:
            fields.append(CardField("Account", "unknown (the CRM was unavailable)"))
        else:
            fields.append(CardField("Account", "unknown (no CRM match)"))
        if a and self.crm_unavailable:
            fields.append(CardField("CRM", "unavailable: showing the last cached copy", short=False))
        if c:
            intent = f"{c.intent} ({c.confidence:.0%})"
            if self.intent_label and self.intent_label != c.intent:
                intent = f"{self.intent_label} (set by an agent; model: {intent})"
            fields += [
                CardField("Intent", intent),
                CardField("Urgency", _with_reasons(c.urgency.value, c.urgency_reasons)),
                CardField("Sentiment", f"{c.sentiment.value} (frustration {c.frustration:.2f})"),
            ]
        fields.append(CardField("First response due", _when(self.conversation.first_response_due_at)))
        if d:
            fields.append(CardField("Bot decision", f"{_ACTION_LABEL.get(d.action.value, d.action.value)} — {d.rule}"))
            fields.append(CardField("Why", d.reason, short=False))
        if self.agent_notes:
            notes = "\n".join(self.agent_notes)
            notes = notes if len(notes) <= AGENT_NOTES_CHARS else notes[:AGENT_NOTES_CHARS] + " …"
            fields.append(CardField("Agent notes (internal)", notes, short=False))
        return tuple(fields)

    def transcript_text(self, limit: int = 8) -> str:
        lines = []
        for m in list(self.transcript)[-limit:]:
            who = m.author_name or m.role.value
            text = m.text if len(m.text) <= 600 else m.text[:600] + "…"
            lines.append(f"*{who}* ({m.kind.value}): {text}")
        return "\n".join(lines)


def mirror_card(packet: ContextPacket) -> Card:
    conv = packet.conversation
    account = packet.account.name if packet.account else "unknown account"
    urgency = packet.classification.urgency.value if packet.classification else "normal"
    color = {"critical": "danger", "high": "warning"}.get(urgency, "info")
    return Card(
        title=f"New conversation: {packet.customer_name or conv.customer_id} ({account}) on {conv.platform}",
        body=packet.transcript_text(),
        fields=packet.fields(),
        footer=f"conversation {conv.id}",
        color=color,
        link=packet.link,
    )


def draft_card(draft: Draft, packet: ContextPacket) -> Card:
    sources = "\n".join(f"• {c.title} ({c.url})" for c in draft.citations)
    return Card(
        title="Draft reply awaiting approval",
        body=draft.text + (f"\n\nSources:\n{sources}" if sources else ""),
        fields=packet.fields(),
        buttons=(
            CardButton("draft_approve", "Approve & send", draft.id, "primary"),
            CardButton("draft_edit", "Edit", draft.id),
            CardButton("draft_reject", "Reject", draft.id, "danger"),
        ),
        footer=f"draft {draft.id} · conversation {draft.conversation_id}",
        color="info",
        link=packet.link,
    )


def handoff_card(handoff: Handoff, packet: ContextPacket) -> Card:
    return Card(
        title="Hand-off: a person is needed" + (f" ({packet.decision.rule})" if packet.decision else ""),
        body=f"{handoff.reason}\n\n{packet.transcript_text()}",
        fields=packet.fields(),
        buttons=(
            CardButton("handoff_claim", "Claim", handoff.id, "primary"),
            CardButton("handoff_resolve", "Resolve", handoff.id),
        ),
        footer=f"hand-off {handoff.id} · conversation {handoff.conversation_id}",
        color="danger" if packet.classification and packet.classification.urgency.value == "critical" else "warning",
        link=packet.link,
    )
