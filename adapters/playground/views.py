"""Read models for the playground pages, built from the core's own records.

Nothing here decides anything: it reads conversations, messages, drafts,
hand-offs, classifications and decisions the core stored, the Cards the core
queued for staff, and the context packet (``bot.context.latest_packet``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from markupsafe import Markup

from supportbot.adapters.markdown import safe_html
from supportbot.adapters.playground.channel import PLATFORM, WORKSPACE, listed_citations
from supportbot.bot.answers import MARKDOWN
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
from supportbot.bot.presenter import ContextPacket
from supportbot.bot.sla import AT_RISK, BREACHED, FRT, SlaPolicy, tier_of

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
    html: Markup | None = None  # a Markdown reply rendered as safe HTML (it carries its source link)

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
                _title(title),
                conv.status.value,
                conv.account_id,
                conv.updated_at,
            )
        )
    return out


def _title(text: str, limit: int = 120) -> str:
    """A conversation's title: its opening message's prose on one line, without pasted code or stack traces
    (the page wraps or clamps it)."""
    prose = next((b.text for b in blocks(text) if b.kind == "text"), text)
    line = " ".join(prose.split()) or " ".join(text.split())
    return line[:limit] + ("…" if len(line) > limit else "")


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
        markdown = bot_side and (m.raw or {}).get("format") == MARKDOWN
        listed = listed_citations((m.raw or {}).get("citations", []), m.text, markdown=markdown) if bot_side else []
        citations = [{"title": c["title"], "url": safe_url(c["url"])} for c in listed]
        out.append(
            ThreadMessage(
                id=m.id,
                kind=m.kind.value,
                role=m.role.value,
                author=m.author_name or m.role.value,
                text=m.text,
                created_at=m.created_at,
                citations=citations,
                html=Markup(safe_html(m.text)) if markdown else None,
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
    packet: ContextPacket | None = None

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
                packet=packet,
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


# ------------------------------------------------------------------ the console's queue

FILTERS = (
    ("all", "All"),
    ("mine", "Mine"),
    ("unassigned", "Unassigned"),
    ("drafts", "Drafts"),
    ("handoffs", "Hand-offs"),
    ("at_risk", "At risk"),
)
STATE_LABEL = {
    "draft": "Draft to review",
    "handoff": "Hand-off",
    "claimed": "Claimed",
    "owned": "Agent owns",
    "bot": "Bot handling",
}


@dataclass
class QueueRow:
    """One open conversation in the console's queue."""

    item: ConsoleItem
    title: str
    account: str
    tier: str | None
    intent: str | None
    assignee: str | None
    mine: bool
    due_at: datetime | None
    sla_text: str  # "in 12 min", "3 min overdue", "waiting on the customer"
    sla_clock: str  # "first response" or "resolution" (empty without a running clock)
    risk: str  # on_track, at_risk, breached, or "none" without a running clock
    age: str

    @property
    def conversation(self) -> Conversation:
        return self.item.conversation

    @property
    def state(self) -> str:
        return self.item.state

    @property
    def state_label(self) -> str:
        if self.state == "bot" and self.conversation.status is ConversationStatus.WAITING_ON_CUSTOMER:
            return "Answered"
        return STATE_LABEL[self.state]

    def matches(self, name: str) -> bool:
        """Whether the row belongs in the filter ``name`` (unknown names show everything)."""
        if name == "mine":
            return self.mine
        if name == "unassigned":  # needs a person and nobody has it yet
            return self.assignee is None and self.state in ("draft", "handoff")
        if name == "drafts":
            return self.state == "draft"
        if name == "handoffs":
            return self.state in ("handoff", "claimed")
        if name == "at_risk":
            return self.risk in (AT_RISK, BREACHED)
        return True


def relative(minutes: float) -> str:
    """A duration for people: "45 s" is never needed in a queue, so at least "1 min"."""
    minutes = abs(minutes)
    if minutes < 1:
        return "<1 min"
    if minutes < 90:
        return f"{minutes:.0f} min"
    if minutes < 36 * 60:
        return f"{minutes / 60:.1f} h".replace(".0 h", " h")
    return f"{minutes / 1440:.1f} days".replace(".0 days", " days")


def queue_rows(
    uow: UnitOfWork, items: list[ConsoleItem], policy: SlaPolicy, now: datetime, agent_id: str
) -> list[QueueRow]:
    """The console's items as queue rows, sorted by SLA due (conversations without a running clock last)."""
    rows = []
    for item in items:
        conv = item.conversation
        packet = item.packet or latest_packet(uow, conv)
        first = next((m for m in packet.transcript if m.kind is MessageKind.CUSTOMER), None)
        tier = tier_of(uow, conv) or (packet.account.tier if packet.account else None)
        standing = policy.standing(conv, tier, now)
        if standing is None:
            sla_text, clock, risk, due = (
                ("waiting on the customer" if conv.status is ConversationStatus.WAITING_ON_CUSTOMER else "no SLA"),
                "",
                "none",
                None,
            )
        else:
            due = standing.clock.due_at
            left = (due - now).total_seconds() / 60
            sla_text = f"in {relative(left)}" if left > 0 else f"{relative(left)} overdue"
            clock = "first response" if standing.clock.clock == FRT else "resolution"
            risk = standing.risk
        assignee = conv.assignee_id
        rows.append(
            QueueRow(
                item=item,
                title=_title(first.text) if first else f"Conversation {conv.id}",
                account=packet.account.name if packet.account else (conv.account_id or "unknown account"),
                tier=tier,
                intent=packet.intent_label or conv.intent,
                assignee=("you" if assignee == agent_id else assignee) if assignee else None,
                mine=assignee == agent_id,
                due_at=due,
                sla_text=sla_text,
                sla_clock=clock,
                risk=risk,
                age=relative((now - conv.created_at).total_seconds() / 60),
            )
        )
    far = datetime.max.replace(tzinfo=now.tzinfo)
    rows.sort(key=lambda r: (r.due_at or far, -r.conversation.updated_at.timestamp()))
    return rows


# ------------------------------------------------------------------ code and stack traces in text

_FENCE = re.compile(r"```[^\n]*\n(.*?)(?:\n```|$)", re.S)
_CODE_LINE = re.compile(
    r"""^(?:
        Traceback\ \(most\ recent\ call\ last\):?
      | \s*File\ ".*",\ line\ \d+.*
      | \s*at\ [\w$.<>/\\:-]+\(.*\)?.*
      | (?:[\w.]+\.)?\w*(?:Error|Exception|Exit|Interrupt)(?::.*)?
      | Caused\ by:.*
      | \s*\.\.\.\ \d+\ more
      | (?:\ {2,}|\t)\S.*
    )$""",
    re.X,
)
FOLD_LINES = 6
FOLD_CHARS = 400


@dataclass(frozen=True)
class Block:
    kind: str  # "text" or "code"
    text: str

    @property
    def lines(self) -> int:
        return self.text.count("\n") + 1

    @property
    def long(self) -> bool:
        """Shown collapsed: a summary line opens it."""
        return self.kind == "code" and (self.lines > FOLD_LINES or len(self.text) > FOLD_CHARS)

    @property
    def label(self) -> str:
        head = self.text.lstrip().splitlines()[0] if self.text.strip() else ""
        what = "Stack trace" if head.startswith("Traceback") or " at " in self.text[:200] else "Code"
        return f"{what} ({self.lines} lines)"


def blocks(text: str) -> list[Block]:
    """Split a message into prose and code: fenced ``` blocks and runs of two or more stack-trace or indented
    lines become code blocks (rendered monospace; collapsed when long)."""
    out: list[Block] = []
    pos = 0
    for fence in _FENCE.finditer(text):
        out += _split_lines(text[pos : fence.start()])
        out.append(Block("code", fence.group(1).rstrip("\n")))
        pos = fence.end()
    out += _split_lines(text[pos:])
    return [b for b in out if b.text.strip()]


def _split_lines(text: str) -> list[Block]:
    lines = text.split("\n")
    out: list[Block] = []
    prose: list[str] = []
    i = 0
    while i < len(lines):
        j = i
        while j < len(lines) and _CODE_LINE.match(lines[j]):
            j += 1
        if j - i >= 2:
            if prose:
                out.append(Block("text", "\n".join(prose).strip("\n")))
                prose = []
            out.append(Block("code", "\n".join(lines[i:j])))
            i = j
        else:
            prose.append(lines[i])
            i += 1
    if prose:
        out.append(Block("text", "\n".join(prose).strip("\n")))
    return out
