"""Platform-neutral domain types and the conversation state machine.

Adapters translate Slack, Discord, playground and terminal payloads into these
types at the edge; the core only ever sees these. Entities (Conversation,
Draft, Handoff, ...) are mutable dataclasses persisted through the repositories
in ``bot.ports``; value objects are frozen.

State changes of conversations, drafts and hand-offs happen only through the
transition methods below. Each has one implementation, refuses a move that is
not allowed (``Conflict``) and returns the events (``bot.events``) whose
handlers queue what people see::

    open ──wait_on_customer──▶ waiting_on_customer ──customer_wrote──▶ open
      │  ▲                                                             │
      │  └──────────────── reopen (customer_wrote) ◀── resolved ◀──resolve
      └─hand_off─▶ (a person owns it; pending drafts are superseded)

    draft: pending ──approve──▶ approved | edited
                   ──reject───▶ rejected
                   ──supersede─▶ superseded (a hand-off made it stale)
    hand-off: open ──claim──▶ claimed ──resolve──▶ resolved
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from enum import StrEnum
from typing import Any

from supportbot.bot.errors import Conflict
from supportbot.bot.events import (
    CustomerReturned,
    DraftApproved,
    DraftRejected,
    DraftSuperseded,
    Event,
    HandedOff,
    HandoffClaimed,
    Reopened,
    Resolved,
)


def new_id(prefix: str) -> str:
    """Short, sortable-enough unique ids that read well in logs and buttons."""
    return f"{prefix}_{uuid.uuid4().hex[:16]}"


class Role(StrEnum):
    CUSTOMER = "customer"
    AGENT = "agent"
    MANAGER = "manager"
    BOT = "bot"
    # Not known yet when the message was stored (the platform's user lookup would have delayed the
    # acknowledgement): the channel identifies the author before the message is processed.
    UNKNOWN = "unknown"

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
    SUPERSEDED = "superseded"  # the conversation was handed off before anyone approved it


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
    REJECTED = "rejected"  # unreadable or too long: never processed, the author was told why (``error``)


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
    CARD_UPDATE = "card_update"  # a staff card re-rendered once settled (outcome shown, spent buttons gone)
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
    mentions_bot: bool = False  # the message @mentions the bot (adapters strip the mention from ``text``)
    ticket_by: str | None = None  # an agent opened a conversation from it (🎫), whatever it says


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
    # the intent model's out-of-scope score (higher = more clearly one of our intents) and the cut
    # below which it abstains; None for classifiers without one
    scope_score: float | None = None
    scope_threshold: float | None = None


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
    # How the reply was built (answers and drafts): composer, cited section, the passages
    # considered and, for a composed reply, the model's trace. JSON-shaped, for the why panel.
    reply: dict[str, Any] | None = None


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

    # ---------------------------------------------------------------- transitions
    def customer_wrote(self, now: datetime) -> list[Event]:
        """A customer message that is more than noise: a resolved conversation reopens, waiting ends."""
        self.updated_at = self.last_customer_message_at = now
        if self.status is ConversationStatus.RESOLVED:
            return self.reopen(now)
        if self.status is ConversationStatus.WAITING_ON_CUSTOMER:
            self.status = ConversationStatus.OPEN
            return [CustomerReturned(self.id)]
        return []

    def reopen(self, now: datetime) -> list[Event]:
        if self.status is not ConversationStatus.RESOLVED:
            raise Conflict("only a resolved conversation can be reopened")
        resolved_at = self.resolved_at or self.updated_at
        self.status, self.resolved_at, self.updated_at = ConversationStatus.OPEN, None, now
        return [Reopened(self.id, resolved_at)]

    def wait_on_customer(self, now: datetime) -> list[Event]:
        """We replied: the customer has the next move and the SLA clock pauses. A resolved one stays resolved."""
        if self.status is not ConversationStatus.RESOLVED:
            self.status = ConversationStatus.WAITING_ON_CUSTOMER
        self.updated_at = now
        return []

    def assign(self, person_id: str, now: datetime) -> None:
        """A person replied or took responsibility: they own it (the first one keeps it) and the bot steps back."""
        self.bot_handled = False
        self.assignee_id = self.assignee_id or person_id
        self.updated_at = now

    def hand_off(
        self,
        reason: str,
        now: datetime,
        *,
        key: str,
        open_handoffs: Sequence[Handoff] = (),
        pending_drafts: Sequence[Draft] = (),
    ) -> tuple[Handoff, list[Event]]:
        """A person must take over: open a hand-off; drafts still pending are superseded, never sent."""
        if open_handoffs:
            raise Conflict("this conversation is already with a person")
        handoff = Handoff(new_id("hand"), self.id, reason, now)
        events: list[Event] = []
        for draft in pending_drafts:
            events += draft.supersede("the conversation was handed off to a person", now)
        self.bot_handled = False
        self.status, self.resolved_at, self.updated_at = ConversationStatus.OPEN, None, now
        events.append(HandedOff(self.id, handoff.id, reason, key))
        return handoff, events

    def claim(self, handoff: Handoff, person_id: str, person_name: str, now: datetime) -> list[Event]:
        if handoff.conversation_id != self.id:
            raise Conflict("that hand-off belongs to another conversation")
        if not handoff.claim(person_id, now):
            return []  # the same person claimed it before: nothing new to say
        self.assignee_id, self.updated_at = person_id, now
        return [HandoffClaimed(self.id, handoff.id, person_id, person_name)]

    def resolve(
        self,
        now: datetime,
        *,
        by_id: str,
        by_name: str,
        open_handoffs: Sequence[Handoff],
        automatic: bool = False,
        notice: str | None = None,
    ) -> list[Event]:
        if self.status is ConversationStatus.RESOLVED:
            raise Conflict("this conversation is already resolved")
        for handoff in open_handoffs:
            handoff.resolve(now, None if automatic else by_id)
        self.status, self.resolved_at, self.updated_at = ConversationStatus.RESOLVED, now, now
        return [Resolved(self.id, by_id, by_name, automatic, notice or f"Resolved by {by_name}.")]


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
    classification: Classification  # what the model said; never rewritten
    created_at: datetime
    # an agent's label for the message (relabel or a rejection with the right intent); the latest wins
    corrected_intent: str | None = None
    corrected_by: str | None = None
    corrected_at: datetime | None = None

    @property
    def intent(self) -> str:
        """The intent people should see: the agent's label when there is one, else the model's."""
        return self.corrected_intent or self.classification.intent


@dataclass
class DecisionRecord:
    id: str
    conversation_id: str
    message_id: str
    decision: Decision
    account_tier: str | None
    created_at: datetime
    shadow: bool = False  # decided in a shadow-mode channel: nothing was posted to the customer
    # shadow only: did the agents' own first reply agree with the would-be answer? "article", "intent", "none"
    shadow_agreement: str | None = None


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
    reject_reason: str | None = None  # why it was rejected or superseded
    corrected_intent: str | None = None

    def _require_pending(self) -> None:
        if self.status is DraftStatus.SUPERSEDED:
            raise Conflict(f"this draft is out of date: {self.reject_reason or 'it was superseded'}; nothing was sent")
        if self.status is not DraftStatus.PENDING:
            raise Conflict(f"draft already {self.status.value} by {self.decided_by or 'someone'}")

    def approve(self, by_id: str, by_name: str, now: datetime, edited_text: str | None = None) -> list[Event]:
        """Send the draft (as written, or as the agent edited it)."""
        self._require_pending()
        text = edited_text if edited_text is not None else self.text
        changed = edited_text is not None and edited_text.strip() != self.text.strip()
        self.status = DraftStatus.EDITED if changed else DraftStatus.APPROVED
        self.final_text, self.decided_by, self.decided_at = text, by_id, now
        return [DraftApproved(self.conversation_id, self.id, by_id, by_name, text, changed)]

    def reject(self, by_id: str, by_name: str, now: datetime, reason: str, corrected_intent: str | None) -> list[Event]:
        self._require_pending()
        if not reason.strip():
            raise ValueError("a rejection needs a reason")
        self.status, self.decided_by, self.decided_at = DraftStatus.REJECTED, by_id, now
        self.reject_reason, self.corrected_intent = reason.strip(), corrected_intent
        return [DraftRejected(self.conversation_id, self.id, by_id, by_name, self.reject_reason, corrected_intent)]

    def supersede(self, reason: str, now: datetime) -> list[Event]:
        self._require_pending()
        self.status, self.decided_at, self.reject_reason = DraftStatus.SUPERSEDED, now, reason
        return [DraftSuperseded(self.conversation_id, self.id, reason)]


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

    def claim(self, person_id: str, now: datetime) -> bool:
        """Take the hand-off; False when this person already had it."""
        if self.status is HandoffStatus.RESOLVED:
            raise Conflict("this hand-off is already resolved")
        if self.status is HandoffStatus.CLAIMED:
            if self.claimed_by != person_id:
                raise Conflict(f"already claimed by {self.claimed_by}")
            return False
        self.status, self.claimed_by, self.claimed_at = HandoffStatus.CLAIMED, person_id, now
        return True

    def resolve(self, now: datetime, person_id: str | None) -> None:
        """Close it; a person resolving an unclaimed hand-off is recorded as the one who took it."""
        if self.status is HandoffStatus.RESOLVED:
            return
        self.status, self.resolved_at = HandoffStatus.RESOLVED, now
        self.claimed_by = self.claimed_by or person_id


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
    edit_message_id: str | None = None  # for card updates: the platform id of the card to edit


class ModelStatus(StrEnum):
    CURRENT = "current"  # the model running bots use (at most one per kind)
    CANDIDATE = "candidate"  # trained and registered, not promoted yet
    RETIRED = "retired"  # was current once, or rolled back


@dataclass
class ModelVersion:
    id: str  # the model's own version string (``Classifier.version``)
    kind: str  # "intent"
    path: str  # the model directory
    data_hash: str
    created_at: datetime
    metrics: dict[str, Any] = field(default_factory=dict)  # validation figures, row counts, corrections_used
    status: ModelStatus = ModelStatus.CANDIDATE
    promoted_at: datetime | None = None  # when it last became current (a rollback does not change it)

    @property
    def active(self) -> bool:
        return self.status is ModelStatus.CURRENT


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
