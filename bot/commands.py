"""Agent commands: approve, edit or reject a draft; claim or resolve; reply or note; relabel.

Every adapter (Slack buttons, Discord components, playground forms, terminal
commands) builds one of these and calls ``execute``; authorization and state
changes live here, once. State changes go through the domain's transitions,
whose events queue what people see. Each command is recorded as an
AgentActionRecord so metrics and retraining can use agents' corrections.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from difflib import SequenceMatcher
from typing import Any

from supportbot.bot.context import relay_key
from supportbot.bot.dispatch import Dispatcher
from supportbot.bot.domain import (
    AgentActionRecord,
    Audience,
    ClassificationRecord,
    Conversation,
    Draft,
    DraftStatus,
    HandoffStatus,
    MessageKind,
    MessageState,
    OutboundKind,
    Role,
    StoredMessage,
    new_id,
)
from supportbot.bot.effects import EventBus
from supportbot.bot.errors import DuplicateDelivery, InvalidInput, NotAuthorized, NotFound
from supportbot.bot.events import Event, IntentCorrected
from supportbot.bot.outbox import OutboxWriter
from supportbot.bot.ports import Clock, Database, UnitOfWork
from supportbot.bot.text import clean_text


@dataclass(frozen=True)
class Actor:
    user_id: str
    role: Role
    display_name: str = ""

    @property
    def name(self) -> str:
        return self.display_name or self.user_id


@dataclass(frozen=True)
class ApproveDraft:
    draft_id: str
    actor: Actor


@dataclass(frozen=True)
class EditDraft:
    draft_id: str
    actor: Actor
    text: str


@dataclass(frozen=True)
class RejectDraft:
    draft_id: str
    actor: Actor
    reason: str
    corrected_intent: str | None = None


@dataclass(frozen=True)
class ClaimHandoff:
    handoff_id: str
    actor: Actor


@dataclass(frozen=True)
class ResolveHandoff:
    handoff_id: str
    actor: Actor


@dataclass(frozen=True)
class ClaimConversation:
    """An agent takes a conversation (👀): its open hand-off, or a new one if the bot still had it."""

    conversation_id: str
    actor: Actor


@dataclass(frozen=True)
class ResolveConversation:
    conversation_id: str
    actor: Actor


@dataclass(frozen=True)
class RelabelIntent:
    conversation_id: str
    actor: Actor
    intent: str
    message_id: str | None = None  # the message labelled; default: the conversation's opening question


@dataclass(frozen=True)
class StaffMessage:
    """Something an agent wrote in a conversation's mirror thread."""

    platform: str
    staff_thread_id: str
    actor: Actor
    text: str
    external_id: str  # platform message id, for idempotency


Command = (
    ApproveDraft
    | EditDraft
    | RejectDraft
    | ClaimHandoff
    | ClaimConversation
    | ResolveHandoff
    | ResolveConversation
    | RelabelIntent
    | StaffMessage
)


@dataclass(frozen=True)
class CommandResult:
    ok: bool
    message: str
    conversation_id: str | None = None


@dataclass(frozen=True)
class CommandsConfig:
    note_marker: str = "//"
    max_message_chars: int = 40_000


def edit_distance_ratio(before: str, after: str) -> float:
    """0.0 for identical texts, 1.0 for completely different ones."""
    return round(1.0 - SequenceMatcher(None, before, after).ratio(), 4)


def require_staff(actor: Actor) -> None:
    if not actor.role.is_staff:
        raise NotAuthorized("only support agents can do that")


def load_draft(uow: UnitOfWork, draft_id: str) -> tuple[Draft, Conversation]:
    """A draft and its conversation; NotFound when either is gone."""
    draft = uow.drafts.get(draft_id)
    if draft is None:
        raise NotFound(f"no draft {draft_id}")
    conv = uow.conversations.get(draft.conversation_id)
    if conv is None:
        raise NotFound(f"conversation {draft.conversation_id} is gone")
    return draft, conv


class AgentCommands:
    def __init__(
        self,
        *,
        db: Database,
        bus: EventBus,
        outbox: OutboxWriter,
        dispatcher: Dispatcher,
        clock: Clock,
        labels: Callable[[], tuple[str, ...]],
        config: CommandsConfig,
    ) -> None:
        self.db = db
        self.bus = bus
        self.outbox = outbox
        self.dispatcher = dispatcher
        self.clock = clock
        self.labels = labels
        self.config = config

    async def execute(self, command: Command, *, dispatch: bool = True) -> CommandResult:
        """Run a command in one transaction; NotAuthorized, NotFound, Conflict, InvalidInput propagate.

        With ``dispatch`` the posts it queued are sent before returning; otherwise they are sent soon.
        """
        require_staff(command.actor)
        handlers: dict[type, Callable[[UnitOfWork, Any], CommandResult]] = {
            ApproveDraft: self._approve,
            EditDraft: self._edit,
            RejectDraft: self._reject,
            ClaimHandoff: self._claim,
            ClaimConversation: self._claim_conversation,
            ResolveHandoff: self._resolve_handoff,
            ResolveConversation: self._resolve_conversation,
            RelabelIntent: self._relabel,
            StaffMessage: self._staff_message,
        }
        handler = handlers[type(command)]
        self._validate(command)
        result = await self.db.transaction(lambda uow: handler(uow, command))
        if dispatch:
            await self.dispatcher.dispatch()
        else:
            self.dispatcher.kick()
        return result

    def _validate(self, command: Command) -> None:
        """Checks that need no database, before a transaction starts."""
        if isinstance(command, RejectDraft):
            if not command.reason.strip():
                raise InvalidInput("say why the draft is wrong, so the bot can learn from it")
            if command.corrected_intent and command.corrected_intent not in self.labels():
                raise InvalidInput(f"unknown intent {command.corrected_intent!r}")
        if isinstance(command, RelabelIntent) and command.intent not in self.labels():
            raise InvalidInput(f"unknown intent {command.intent!r}")

    def _commit_events(self, uow: UnitOfWork, conv: Conversation, events: list[Event]) -> None:
        self.bus.publish(uow, conv, events)
        uow.conversations.save(conv)

    # ------------------------------------------------------------ drafts
    def _approve(self, uow: UnitOfWork, cmd: ApproveDraft) -> CommandResult:
        return self._send_draft(uow, cmd.draft_id, cmd.actor, None)

    def _edit(self, uow: UnitOfWork, cmd: EditDraft) -> CommandResult:
        text = clean_text(cmd.text, max_chars=self.config.max_message_chars)
        return self._send_draft(uow, cmd.draft_id, cmd.actor, text)

    def _send_draft(self, uow: UnitOfWork, draft_id: str, actor: Actor, edited: str | None) -> CommandResult:
        draft, conv = load_draft(uow, draft_id)
        now = self.clock.now()
        before = draft.text
        events = draft.approve(actor.user_id, actor.name, now, edited)
        uow.drafts.save(draft)
        changed = draft.final_text is not None and draft.final_text.strip() != before.strip()
        detail = {"edit_distance": edit_distance_ratio(before, draft.final_text or "")} if changed else {}
        uow.actions.add(
            AgentActionRecord(
                new_id("act"),
                actor.user_id,
                actor.role,
                "edit_draft" if changed else "approve_draft",
                now,
                conv.id,
                draft.id,
                detail,
            )
        )
        conv.assignee_id = conv.assignee_id or actor.user_id
        events += conv.wait_on_customer(now)
        self._commit_events(uow, conv, events)
        return CommandResult(True, "Edited and sent." if changed else "Approved and sent.", conv.id)

    def _reject(self, uow: UnitOfWork, cmd: RejectDraft) -> CommandResult:
        draft, conv = load_draft(uow, cmd.draft_id)
        now = self.clock.now()
        decision = uow.decisions.get(draft.decision_id)
        message_id = decision.message_id if decision else None
        record = _classification_of(uow, conv.id, message_id)
        # what the model said for the drafted message (conv.intent may already be an agent's label)
        predicted = record.classification.intent if record else conv.intent
        events: list[Event] = draft.reject(cmd.actor.user_id, cmd.actor.name, now, cmd.reason, cmd.corrected_intent)
        uow.drafts.save(draft)
        uow.actions.add(
            AgentActionRecord(
                new_id("act"),
                cmd.actor.user_id,
                cmd.actor.role,
                "reject_draft",
                now,
                conv.id,
                draft.id,
                {
                    "reason": draft.reject_reason,
                    "corrected_intent": cmd.corrected_intent,
                    "predicted_intent": predicted,
                },
            )
        )
        if cmd.corrected_intent:
            events += self._record_relabel(uow, conv, cmd.actor, cmd.corrected_intent, message_id)
        # The customer still needs an answer: the rejecting agent owns it now.
        conv.bot_handled, conv.assignee_id, conv.updated_at = False, cmd.actor.user_id, now
        self._commit_events(uow, conv, events)
        return CommandResult(True, "Draft rejected; reply in the thread to answer the customer.", conv.id)

    # ------------------------------------------------------------ hand-offs
    def _claim(self, uow: UnitOfWork, cmd: ClaimHandoff) -> CommandResult:
        handoff = uow.handoffs.get(cmd.handoff_id)
        if handoff is None:
            raise NotFound(f"no hand-off {cmd.handoff_id}")
        conv = uow.conversations.get(handoff.conversation_id)
        if conv is None:
            raise NotFound(f"conversation {handoff.conversation_id} is gone")
        now = self.clock.now()
        events = conv.claim(handoff, cmd.actor.user_id, cmd.actor.name, now)
        uow.handoffs.save(handoff)
        uow.actions.add(
            AgentActionRecord(
                new_id("act"), cmd.actor.user_id, cmd.actor.role, "claim", now, handoff.conversation_id, handoff.id
            )
        )
        self._commit_events(uow, conv, events)
        return CommandResult(True, "Claimed. Reply in the mirror thread to answer the customer.", conv.id)

    def _claim_conversation(self, uow: UnitOfWork, cmd: ClaimConversation) -> CommandResult:
        conv = uow.conversations.get(cmd.conversation_id)
        if conv is None:
            raise NotFound(f"no conversation {cmd.conversation_id}")
        open_handoffs = uow.handoffs.list(statuses=[HandoffStatus.OPEN, HandoffStatus.CLAIMED], conversation_id=conv.id)
        if open_handoffs:
            return self._claim(uow, ClaimHandoff(open_handoffs[-1].id, cmd.actor))
        now = self.clock.now()
        pending = list(uow.drafts.list(status=DraftStatus.PENDING, conversation_id=conv.id))
        handoff, events = conv.hand_off(
            f"{cmd.actor.name} took this conversation",
            now,
            key=f"claim:{cmd.actor.user_id}:{now.isoformat()}",
            pending_drafts=pending,
        )
        uow.handoffs.save(handoff)
        for draft in pending:
            uow.drafts.save(draft)
        events += conv.claim(handoff, cmd.actor.user_id, cmd.actor.name, now)
        uow.handoffs.save(handoff)
        uow.actions.add(
            AgentActionRecord(new_id("act"), cmd.actor.user_id, cmd.actor.role, "claim", now, conv.id, handoff.id)
        )
        self._commit_events(uow, conv, events)
        return CommandResult(True, "Claimed. Reply in the mirror thread to answer the customer.", conv.id)

    def _resolve_handoff(self, uow: UnitOfWork, cmd: ResolveHandoff) -> CommandResult:
        handoff = uow.handoffs.get(cmd.handoff_id)
        if handoff is None:
            raise NotFound(f"no hand-off {cmd.handoff_id}")
        return self._resolve_conversation(uow, ResolveConversation(handoff.conversation_id, cmd.actor))

    def _resolve_conversation(self, uow: UnitOfWork, cmd: ResolveConversation) -> CommandResult:
        conv = uow.conversations.get(cmd.conversation_id)
        if conv is None:
            raise NotFound(f"no conversation {cmd.conversation_id}")
        now = self.clock.now()
        resolve(
            uow,
            self.bus,
            conv,
            now,
            actor_id=cmd.actor.user_id,
            actor_name=cmd.actor.name,
            actor_role=cmd.actor.role,
            action="resolve",
        )
        return CommandResult(True, "Resolved.", conv.id)

    # ------------------------------------------------------------ relabel, staff messages
    def _relabel(self, uow: UnitOfWork, cmd: RelabelIntent) -> CommandResult:
        conv = uow.conversations.get(cmd.conversation_id)
        if conv is None:
            raise NotFound(f"no conversation {cmd.conversation_id}")
        events = self._record_relabel(uow, conv, cmd.actor, cmd.intent, cmd.message_id)
        self._commit_events(uow, conv, events)
        return CommandResult(True, f"Intent set to {cmd.intent}.", conv.id)

    def _record_relabel(
        self, uow: UnitOfWork, conv: Conversation, actor: Actor, intent: str, message_id: str | None
    ) -> list[Event]:
        """Store the agent's label on the message's classification (the model's output is kept beside
        it) and as a ``relabel`` action with what the model really predicted; the latest label wins."""
        now = self.clock.now()
        record = _classification_of(uow, conv.id, message_id)
        if message_id is not None and record is None and uow.messages.get(message_id) is None:
            raise NotFound(f"no message {message_id} in conversation {conv.id}")
        target_id = message_id or (record.message_id if record else None)
        message = uow.messages.get(target_id) if target_id else None
        if message is None:  # a conversation without a classified message: its first customer message
            message = next((m for m in uow.messages.for_conversation(conv.id) if m.kind is MessageKind.CUSTOMER), None)
        predicted = record.classification.intent if record else None
        if message is not None:
            uow.classifications.correct(message.id, intent, by=actor.user_id, at=now)
        action = AgentActionRecord(
            new_id("act"),
            actor.user_id,
            actor.role,
            "relabel",
            now,
            conv.id,
            conv.id,
            {
                "predicted_intent": predicted,
                "intent": intent,
                "text": message.text if message else "",
                "message_id": message.id if message else None,
                "previous_label": conv.intent,
            },
        )
        uow.actions.add(action)
        conv.intent = intent
        return [
            IntentCorrected(
                conv.id, message.id if message else None, intent, predicted, actor.user_id, actor.name, action.id
            )
        ]

    def _staff_message(self, uow: UnitOfWork, cmd: StaffMessage) -> CommandResult:
        text = clean_text(cmd.text, max_chars=self.config.max_message_chars)
        marker = self.config.note_marker
        is_note = text.startswith(marker)
        conv = uow.conversations.find_by_staff_thread(cmd.platform, cmd.staff_thread_id)
        if conv is None:
            raise NotFound("this thread is not the mirror of a conversation")
        now = self.clock.now()
        stored = StoredMessage(
            id=new_id("msg"),
            platform=cmd.platform,
            workspace_id=conv.workspace_id,
            channel_id=f"staff:{cmd.staff_thread_id}",
            external_id=cmd.external_id,
            conversation_id=conv.id,
            author_id=cmd.actor.user_id,
            author_name=cmd.actor.name,
            role=cmd.actor.role,
            kind=MessageKind.INTERNAL_NOTE if is_note else MessageKind.AGENT_REPLY,
            text=text[len(marker) :].strip() if is_note else text,
            created_at=now,
            state=MessageState.PROCESSED,
            thread_id=cmd.staff_thread_id,
        )
        try:
            uow.messages.add(stored)
        except DuplicateDelivery:  # a platform retry: nothing is relayed twice
            return CommandResult(True, "Already handled.", conv.id)
        if is_note:
            return CommandResult(True, "Internal note saved (not sent to the customer).", conv.id)
        self.outbox.queue(
            uow,
            conv,
            Audience.CUSTOMER,
            OutboundKind.AGENT_REPLY,
            text,
            relay_key(stored.id),
            {"agent_id": cmd.actor.user_id, "agent_name": cmd.actor.name},
        )
        conv.assign(cmd.actor.user_id, now)
        events = conv.wait_on_customer(now)
        self._commit_events(uow, conv, events)
        return CommandResult(True, "Sent to the customer.", conv.id)


def _classification_of(uow: UnitOfWork, conversation_id: str, message_id: str | None) -> ClassificationRecord | None:
    """The classification of ``message_id`` (default: the conversation's first, its opening question)."""
    records = uow.classifications.for_conversation(conversation_id)
    if message_id is None:
        return records[0] if records else None
    return next((r for r in reversed(records) if r.message_id == message_id), None)


def resolve(
    uow: UnitOfWork,
    bus: EventBus,
    conv: Conversation,
    now: datetime,
    *,
    actor_id: str,
    actor_name: str,
    actor_role: Role,
    action: str,
    automatic: bool = False,
    notice: str | None = None,
) -> None:
    """Resolve ``conv`` in the caller's transaction: the one implementation agents and the lifecycle sweep share."""
    open_handoffs = uow.handoffs.list(statuses=[HandoffStatus.OPEN, HandoffStatus.CLAIMED], conversation_id=conv.id)
    events = conv.resolve(
        now, by_id=actor_id, by_name=actor_name, open_handoffs=open_handoffs, automatic=automatic, notice=notice
    )
    for handoff in open_handoffs:
        uow.handoffs.save(handoff)
    uow.actions.add(AgentActionRecord(new_id("act"), actor_id, actor_role, action, now, conv.id, conv.id))
    bus.publish(uow, conv, events)
    uow.conversations.save(conv)


__all__ = [
    "Actor",
    "AgentCommands",
    "ApproveDraft",
    "ClaimHandoff",
    "Command",
    "CommandResult",
    "CommandsConfig",
    "EditDraft",
    "RejectDraft",
    "RelabelIntent",
    "ResolveConversation",
    "ResolveHandoff",
    "StaffMessage",
    "edit_distance_ratio",
    "load_draft",
    "resolve",
]
