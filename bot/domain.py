"""Platform-neutral domain types.

Adapters translate Slack, Discord, playground and terminal payloads into these
types at the edge; the core only ever sees these. Entities (Conversation,
Draft, Handoff, ...) are mutable dataclasses persisted through the repositories
in ``bot.ports``; value objects are frozen.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import date, datetime
from enum import StrEnum
from typing import Any


def new_id(prefix: str) -> str:
    """Short, sortable-enough unique ids that read well in logs and buttons."""
    return f"{prefix}_{uuid.uuid4().hex[:16]}"


class Role(StrEnum):
    CUSTOMER = "customer"
    AGENT = "agent"
    MANAGER = "manager"
    BOT = "bot"

    @property
    def is_staff(self) -> bool:
        return self in (Role.AGENT, Role.MANAGER)


class Urgency(StrEnum):
    LOW = "low"
    NORMAL = "normal"
    HIGH = "high"
    CRITICAL = "critical"

    @property
    def rank(self) -> int:
        return list(Urgency).index(self)


class Sentiment(StrEnum):
    NEGATIVE = "negative"
    NEUTRAL = "neutral"
    POSITIVE = "positive"


class Action(StrEnum):
    ANSWER = "answer"
    DRAFT = "draft"
    HANDOFF = "handoff"


class ConversationStatus(StrEnum):
    OPEN = "open"  # the bot or an agent owes the customer a response
    WAITING_ON_CUSTOMER = "waiting_on_customer"  # we answered; the SLA clock pauses
    RESOLVED = "resolved"


class DraftStatus(StrEnum):
    PENDING = "pending"
    APPROVED = "approved"
    EDITED = "edited"  # approved after an agent changed the text
    REJECTED = "rejected"


class HandoffStatus(StrEnum):
    OPEN = "open"
    CLAIMED = "claimed"
    RESOLVED = "resolved"


class MessageKind(StrEnum):
    CUSTOMER = "customer"  # written by the customer
    BOT_ANSWER = "bot_answer"  # automatic answer posted to the customer
    AGENT_REPLY = "agent_reply"  # an agent's reply (approved draft or relayed text)
    INTERNAL_NOTE = "internal_note"  # staff-only; never shown to the customer
    SYSTEM = "system"  # nudges, CSAT prompts


class MessageState(StrEnum):
    RECEIVED = "received"  # stored, not yet processed (recovered after a crash)
    PROCESSED = "processed"
    IGNORED = "ignored"  # noise such as "thanks" or an emoji
    FAILED = "failed"  # processing raised; kept for inspection


class Audience(StrEnum):
    CUSTOMER = "customer"  # the customer's thread
    STAFF = "staff"  # the conversation's mirror thread in the triage channel
    MANAGERS = "managers"  # the managers' channel (reports, alerts)


class OutboundKind(StrEnum):
    ANSWER = "answer"  # automatic answer with citations
    AGENT_REPLY = "agent_reply"  # approved/edited draft or relayed agent text
    SYSTEM = "system"  # nudge, CSAT prompt, "an agent will be with you"
    MIRROR_OPEN = "mirror_open"  # first card of the mirror thread (context packet)
    DRAFT_REVIEW = "draft_review"  # draft card with approve/edit/reject
    HANDOFF = "handoff"  # hand-off card with claim/resolve
    RELAY = "relay"  # customer's message copied to the mirror thread
    NOTICE = "notice"  # staff-side status line (draft approved by X, SLA warning)
    REACTION = "reaction"  # emoji reaction on a customer message
    REPORT = "report"  # managers' channel summary or alert


class OutboxStatus(StrEnum):
    PENDING = "pending"
    SENT = "sent"
    FAILED = "failed"  # permanently failed, or gave up after max attempts


@dataclass(frozen=True)
class Author:
    user_id: str
    display_name: str = ""
    role: Role = Role.CUSTOMER
    team_id: str | None = None  # Slack team of the user (differs for Slack Connect users)
    email: str | None = None


@dataclass(frozen=True)
class InboundMessage:
    """One message as a platform delivered it, after translation at the edge."""

    platform: str  # "slack", "discord", "playground", "terminal", "cli"
    workspace_id: str  # Slack team id, Discord guild id, "local"
    channel_id: str
    message_id: str  # platform id: Slack ts, Discord snowflake
    author: Author
    text: str
    sent_at: datetime
    thread_id: str | None = None  # root message id when this is a reply in a thread
    account_id: str | None = None  # explicit account (playground, terminal, --account)
    raw: dict[str, Any] | None = None  # original payload, stored for debugging


@dataclass(frozen=True)
class Ticket:
    id: str
    subject: str
    status: str = "open"
    priority: str = "normal"
    opened_at: str | None = None


@dataclass(frozen=True)
class Account:
    id: str
    name: str
    tier: str = "free"  # free, starter, pro, enterprise
    arr: float = 0.0
    renewal_date: date | None = None
    owner: str | None = None
    health: str | None = None  # green, yellow, red
    slack_team_ids: tuple[str, ...] = ()
    email_domains: tuple[str, ...] = ()
    discord_guild_ids: tuple[str, ...] = ()
    open_tickets: tuple[Ticket, ...] = ()


@dataclass(frozen=True)
class AccountLookup:
    """Everything an adapter knows that may identify the customer's account."""

    account_id: str | None = None
    platform: str | None = None
    slack_team_id: str | None = None
    discord_guild_id: str | None = None
    email: str | None = None


@dataclass(frozen=True)
class IntentScore:
    intent: str
    probability: float


@dataclass(frozen=True)
class Classification:
    intent: str  # "out_of_scope" when the model abstains
    confidence: float  # calibrated probability of ``intent``
    out_of_scope: bool
    urgency: Urgency
    sentiment: Sentiment
    top_intents: tuple[IntentScore, ...] = ()
    urgency_reasons: tuple[str, ...] = ()  # cues that raised urgency, for the "why" panel
    frustration: float = 0.0  # 0..1 from cues: caps, "still", "again", repeated asks
    model_version: str = ""


OUT_OF_SCOPE = "out_of_scope"


@dataclass(frozen=True)
class Article:
    id: str  # file stem
    title: str
    url: str
    intents: tuple[str, ...]
    body: str
    internal: bool = False  # front matter "internal: true": the whole article is agent-only


@dataclass(frozen=True)
class Passage:
    """A retrievable piece of an article: a paragraph, list, list item, table row or code block.

    ``section`` is the heading the passage sits under (None for the article's
    opening text); ``section_text`` is that whole section's Markdown, so a
    reply can show the full section when it is short.
    """

    article_id: str
    section: str | None
    text: str  # Markdown
    score: float = 0.0  # retrieval score of this passage for the query, 0..1
    kind: str = "paragraph"  # paragraph | list | list_item | table | table_row | code | quote
    heading_path: tuple[str, ...] = ()  # enclosing headings, outermost first
    section_text: str = ""
    internal: bool = False  # agent-only ("For support agents"): never shown to customers or put in prompts


@dataclass(frozen=True)
class ArticleHit:
    article: Article
    score: float  # retrieval similarity, 0..1: the best passage's score (answerability)
    passage: str  # the most relevant passage of the article (Markdown)
    section: str | None = None  # heading of that passage; None for the opening text
    passages: tuple[Passage, ...] = ()  # the article's best passages for the query, best first


@dataclass(frozen=True)
class Citation:
    title: str
    url: str
    article_id: str
    section: str | None = None  # heading of the cited passage; None for the article as a whole


@dataclass(frozen=True)
class Decision:
    action: Action
    rule: str  # id of the rule that fired, e.g. "urgent_handoff"
    reason: str  # one sentence for humans: why the bot did that
    scores: dict[str, float] = field(default_factory=dict)  # confidence, threshold, article score
    articles: tuple[str, ...] = ()  # article ids considered, best first


@dataclass
class Conversation:
    id: str
    platform: str
    workspace_id: str
    channel_id: str
    thread_id: str  # root message id of the customer's thread
    customer_id: str
    account_id: str | None
    created_at: datetime
    updated_at: datetime
    status: ConversationStatus = ConversationStatus.OPEN
    intent: str | None = None
    urgency: Urgency = Urgency.NORMAL
    assignee_id: str | None = None
    staff_thread_id: str | None = None  # mirror thread root in the triage channel
    first_response_at: datetime | None = None
    resolved_at: datetime | None = None
    first_response_due_at: datetime | None = None
    resolution_due_at: datetime | None = None
    last_customer_message_at: datetime | None = None
    bot_handled: bool = True  # False once a human owns the conversation


@dataclass
class StoredMessage:
    id: str
    platform: str
    workspace_id: str
    channel_id: str
    external_id: str  # platform message id; unique with platform/workspace/channel
    conversation_id: str | None
    author_id: str
    author_name: str
    role: Role
    kind: MessageKind
    text: str
    created_at: datetime
    state: MessageState = MessageState.PROCESSED
    thread_id: str | None = None
    error: str | None = None
    raw: dict[str, Any] | None = None


@dataclass
class ClassificationRecord:
    id: str
    conversation_id: str
    message_id: str
    classification: Classification
    created_at: datetime


@dataclass
class DecisionRecord:
    id: str
    conversation_id: str
    message_id: str
    decision: Decision
    account_tier: str | None
    created_at: datetime


@dataclass
class Draft:
    id: str
    conversation_id: str
    decision_id: str
    text: str
    citations: tuple[Citation, ...]
    created_at: datetime
    status: DraftStatus = DraftStatus.PENDING
    final_text: str | None = None
    decided_by: str | None = None
    decided_at: datetime | None = None
    reject_reason: str | None = None
    corrected_intent: str | None = None


@dataclass
class Handoff:
    id: str
    conversation_id: str
    reason: str
    created_at: datetime
    status: HandoffStatus = HandoffStatus.OPEN
    claimed_by: str | None = None
    claimed_at: datetime | None = None
    resolved_at: datetime | None = None


@dataclass
class AgentActionRecord:
    """Everything an agent or manager did, for metrics and retraining."""

    id: str
    actor_id: str
    actor_role: Role
    action: str  # approve_draft, edit_draft, reject_draft, claim, resolve, relabel, threshold
    created_at: datetime
    conversation_id: str | None = None
    target_id: str | None = None  # draft or hand-off id
    detail: dict[str, Any] = field(default_factory=dict)


@dataclass
class Outbound:
    """A message the core wants posted; stored before it is sent (outbox).

    ``dedupe_key`` is unique, so re-processing an event never queues it twice.
    """

    id: str
    platform: str
    audience: Audience
    kind: OutboundKind
    text: str  # plain-text rendering, always present
    dedupe_key: str
    created_at: datetime
    conversation_id: str | None = None
    payload: dict[str, Any] = field(default_factory=dict)  # card, citations, emoji, ...
    status: OutboxStatus = OutboxStatus.PENDING
    attempts: int = 0
    next_attempt_at: datetime | None = None
    external_id: str | None = None  # platform message id once sent
    last_error: str | None = None
    claimed_by: str | None = None  # dispatcher (replica) sending it now, see OutboxRepository.claim
    claimed_until: datetime | None = None  # the claim lapses at this instant (a crashed sender)


@dataclass(frozen=True)
class Delivery:
    """Where an Outbound goes, resolved by the core just before sending."""

    workspace_id: str
    channel_id: str | None  # None: the adapter's triage or managers channel
    thread_id: str | None  # customer thread root or staff mirror root
    reply_to_message_id: str | None = None  # for reactions


@dataclass
class ModelVersion:
    id: str
    kind: str  # "intent"
    path: str
    data_hash: str
    created_at: datetime
    metrics: dict[str, Any] = field(default_factory=dict)
    active: bool = True


@dataclass
class SlaEvent:
    """A claimed operations event: an SLA warning, escalation or breach, a nudge,
    an automatic resolution or an alert crossing.

    (conversation_id, kind, due_at) is unique: inserting the claim is what
    decides which scheduler (of several replicas, or before/after a restart)
    acts on it, so each event happens exactly once.
    """

    id: str
    conversation_id: str  # or a pseudo id such as "alert:csat_auto" for non-conversation events
    kind: str  # frt_warning, frt_escalation, frt_breach, resolution_*, nudge, auto_resolve, alert
    due_at: datetime  # the deadline (or anchor time) the event belongs to
    created_at: datetime
    detail: dict[str, Any] = field(default_factory=dict)
