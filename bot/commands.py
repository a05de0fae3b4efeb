"""Agent commands: approve, edit or reject a draft; claim or resolve a hand-off;
reply or note in the mirror thread; relabel an intent.

Every adapter (Slack buttons, Discord components, playground forms) builds one
of these commands and calls ``execute``; authorization and state changes live
here, once. Commands are imperative; each is recorded as an AgentActionRecord
so metrics and retraining can use agents' corrections.
"""

from __future__ import annotations

from dataclasses import dataclass
from difflib import SequenceMatcher

from supportbot.bot.domain import (
    AgentActionRecord,
    Audience,
    Conversation,
    ConversationStatus,
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
from supportbot.bot.errors import Conflict, DuplicateDelivery, InvalidInput, NotAuthorized, NotFound
from supportbot.bot.ports import UnitOfWork
from supportbot.bot.service import SupportCore
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
class ResolveConversation:
    conversation_id: str
    actor: Actor


@dataclass(frozen=True)
class RelabelIntent:
    conversation_id: str
    actor: Actor
    intent: str


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


def edit_distance_ratio(before: str, after: str) -> float:
    """0.0 for identical texts, 1.0 for completely different ones."""
    return round(1.0 - SequenceMatcher(None, before, after).ratio(), 4)


def require_staff(actor: Actor) -> None:
    if not actor.role.is_staff:
        raise NotAuthorized("only support agents can do that")


def _pending_draft(uow: UnitOfWork, draft_id: str) -> tuple[Draft, Conversation]:
    """The draft still awaiting a decision, and its conversation."""
    draft = uow.drafts.get(draft_id)
    if draft is None:
        raise NotFound(f"no draft {draft_id}")
    if draft.status is not DraftStatus.PENDING:
        raise Conflict(f"draft already {draft.status.value} by {draft.decided_by or 'someone'}")
    conv = uow.conversations.get(draft.conversation_id)
    if conv is None:
        raise NotFound(f"conversation {draft.conversation_id} is gone")
    return draft, conv


class AgentCommands:
    def __init__(self, core: SupportCore) -> None:
        self.core = core

    async def execute(self, command: Command, *, dispatch: bool = True) -> CommandResult:
        """Run a command; NotAuthorized, NotFound, Conflict, InvalidInput propagate to the adapter."""
        require_staff(command.actor)
        handler = {
            ApproveDraft: self._approve,
            EditDraft: self._edit,
            RejectDraft: self._reject,
            ClaimHandoff: self._claim,
            ResolveHandoff: self._resolve_handoff,
            ResolveConversation: self._resolve_conversation,
            RelabelIntent: self._relabel,
            StaffMessage: self._staff_message,
        }[type(command)]
        result = handler(command)
        if dispatch:
            await self.core.dispatch_outbox()
        return result

    # ------------------------------------------------------------ drafts
    def _approve(self, cmd: ApproveDraft) -> CommandResult:
        return self._send_draft(cmd.draft_id, cmd.actor, None)

    def _edit(self, cmd: EditDraft) -> CommandResult:
        text = clean_text(cmd.text, max_chars=self.core.config.max_message_chars)
        return self._send_draft(cmd.draft_id, cmd.actor, text)

    def _send_draft(self, draft_id: str, actor: Actor, edited: str | None) -> CommandResult:
        core = self.core
        with core.uow() as uow:
            draft, conv = _pending_draft(uow, draft_id)
            now = core.clock.now()
            text = edited if edited is not None else draft.text
            changed = edited is not None and edited.strip() != draft.text.strip()
            draft.status = DraftStatus.EDITED if changed else DraftStatus.APPROVED
            draft.final_text, draft.decided_by, draft.decided_at = text, actor.user_id, now
            uow.drafts.save(draft)
            action = "edit_draft" if changed else "approve_draft"
            detail = {"edit_distance": edit_distance_ratio(draft.text, text)} if changed else {}
            uow.actions.add(
                AgentActionRecord(new_id("act"), actor.user_id, actor.role, action, now, conv.id, draft.id, detail)
            )
            core.queue(
                uow,
                conv,
                Audience.CUSTOMER,
                OutboundKind.AGENT_REPLY,
                text,
                f"draft-send:{draft.id}",
                {
                    "citations": [c.__dict__ for c in draft.citations],
                    "agent_id": actor.user_id,
                    "agent_name": actor.name,
                    "draft_id": draft.id,
                },
            )
            verb = "Edited and sent" if changed else "Approved and sent"
            core.queue(
                uow,
                conv,
                Audience.STAFF,
                OutboundKind.NOTICE,
                f"{verb} by {actor.name}.",
                f"draft-notice:{draft.id}",
                {"draft_id": draft.id, "status": draft.status.value},
            )
            conv.status, conv.updated_at = ConversationStatus.WAITING_ON_CUSTOMER, now
            conv.assignee_id = conv.assignee_id or actor.user_id
            uow.conversations.save(conv)
            uow.commit()
        return CommandResult(True, f"{verb}.", conv.id)

    def _reject(self, cmd: RejectDraft) -> CommandResult:
        core = self.core
        reason = cmd.reason.strip()
        if not reason:
            raise InvalidInput("say why the draft is wrong, so the bot can learn from it")
        if cmd.corrected_intent and cmd.corrected_intent not in core.classifier.labels():
            raise InvalidInput(f"unknown intent {cmd.corrected_intent!r}")
        with core.uow() as uow:
            draft, conv = _pending_draft(uow, cmd.draft_id)
            now = core.clock.now()
            draft.status, draft.decided_by, draft.decided_at = DraftStatus.REJECTED, cmd.actor.user_id, now
            draft.reject_reason, draft.corrected_intent = reason, cmd.corrected_intent
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
                    {"reason": reason, "corrected_intent": cmd.corrected_intent, "predicted_intent": conv.intent},
                )
            )
            if cmd.corrected_intent:
                self._record_relabel(uow, conv, cmd.actor, cmd.corrected_intent)
            # The customer still needs an answer: the rejecting agent owns it now.
            conv.bot_handled, conv.assignee_id, conv.updated_at = False, cmd.actor.user_id, now
            uow.conversations.save(conv)
            core.queue(
                uow,
                conv,
                Audience.STAFF,
                OutboundKind.NOTICE,
                f"Draft rejected by {cmd.actor.name}: {reason}. {cmd.actor.name} now owns this conversation; "
                "reply in this thread to answer the customer.",
                f"draft-notice:{draft.id}",
                {"draft_id": draft.id, "status": "rejected"},
            )
            uow.commit()
        return CommandResult(True, "Draft rejected; reply in the thread to answer the customer.", conv.id)

    # ------------------------------------------------------------ hand-offs
    def _claim(self, cmd: ClaimHandoff) -> CommandResult:
        core = self.core
        with core.uow() as uow:
            handoff = uow.handoffs.get(cmd.handoff_id)
            if handoff is None:
                raise NotFound(f"no hand-off {cmd.handoff_id}")
            if handoff.status is HandoffStatus.RESOLVED:
                raise Conflict("this hand-off is already resolved")
            if handoff.status is HandoffStatus.CLAIMED and handoff.claimed_by != cmd.actor.user_id:
                raise Conflict(f"already claimed by {handoff.claimed_by}")
            now = core.clock.now()
            handoff.status, handoff.claimed_by, handoff.claimed_at = HandoffStatus.CLAIMED, cmd.actor.user_id, now
            uow.handoffs.save(handoff)
            conv = uow.conversations.get(handoff.conversation_id)
            if conv is not None:
                conv.assignee_id, conv.updated_at = cmd.actor.user_id, now
                uow.conversations.save(conv)
                core.queue(
                    uow,
                    conv,
                    Audience.STAFF,
                    OutboundKind.NOTICE,
                    f"Claimed by {cmd.actor.name}.",
                    f"claim:{handoff.id}:{cmd.actor.user_id}",
                    {"handoff_id": handoff.id},
                )
            uow.actions.add(
                AgentActionRecord(
                    new_id("act"), cmd.actor.user_id, cmd.actor.role, "claim", now, handoff.conversation_id, handoff.id
                )
            )
            uow.commit()
        return CommandResult(
            True, "Claimed. Reply in the mirror thread to answer the customer.", handoff.conversation_id
        )

    def _resolve_handoff(self, cmd: ResolveHandoff) -> CommandResult:
        with self.core.uow() as uow:
            handoff = uow.handoffs.get(cmd.handoff_id)
            if handoff is None:
                raise NotFound(f"no hand-off {cmd.handoff_id}")
            conversation_id = handoff.conversation_id
        return self._resolve_conversation(ResolveConversation(conversation_id, cmd.actor))

    def _resolve_conversation(self, cmd: ResolveConversation) -> CommandResult:
        core = self.core
        with core.uow() as uow:
            conv = uow.conversations.get(cmd.conversation_id)
            if conv is None:
                raise NotFound(f"no conversation {cmd.conversation_id}")
            if conv.status is ConversationStatus.RESOLVED:
                raise Conflict("this conversation is already resolved")
            now = core.clock.now()
            for handoff in uow.handoffs.list(
                statuses=[HandoffStatus.OPEN, HandoffStatus.CLAIMED], conversation_id=conv.id
            ):
                handoff.status, handoff.resolved_at = HandoffStatus.RESOLVED, now
                handoff.claimed_by = handoff.claimed_by or cmd.actor.user_id
                uow.handoffs.save(handoff)
            conv.status, conv.resolved_at, conv.updated_at = ConversationStatus.RESOLVED, now, now
            uow.conversations.save(conv)
            uow.actions.add(
                AgentActionRecord(new_id("act"), cmd.actor.user_id, cmd.actor.role, "resolve", now, conv.id, conv.id)
            )
            stamp = now.isoformat()
            core.queue(
                uow,
                conv,
                Audience.CUSTOMER,
                OutboundKind.REACTION,
                "white_check_mark",
                f"resolved-reaction:{conv.id}:{stamp}",
                {"emoji": "white_check_mark", "message_external_id": conv.thread_id},
            )
            core.queue(
                uow,
                conv,
                Audience.STAFF,
                OutboundKind.NOTICE,
                f"Resolved by {cmd.actor.name}.",
                f"resolved:{conv.id}:{stamp}",
                {},
            )
            for hook in core.hooks:
                on_resolved = getattr(hook, "on_resolved", None)
                if on_resolved is not None:
                    on_resolved(uow, conv)
            uow.commit()
        return CommandResult(True, "Resolved.", conv.id)

    # ------------------------------------------------------------ relabel, staff messages
    def _relabel(self, cmd: RelabelIntent) -> CommandResult:
        if cmd.intent not in self.core.classifier.labels():
            raise InvalidInput(f"unknown intent {cmd.intent!r}")
        with self.core.uow() as uow:
            conv = uow.conversations.get(cmd.conversation_id)
            if conv is None:
                raise NotFound(f"no conversation {cmd.conversation_id}")
            self._record_relabel(uow, conv, cmd.actor, cmd.intent)
            uow.commit()
        return CommandResult(True, f"Intent set to {cmd.intent}.", conv.id)

    def _record_relabel(self, uow, conv, actor: Actor, intent: str) -> None:
        now = self.core.clock.now()
        first = next((m for m in uow.messages.for_conversation(conv.id) if m.kind is MessageKind.CUSTOMER), None)
        uow.actions.add(
            AgentActionRecord(
                new_id("act"),
                actor.user_id,
                actor.role,
                "relabel",
                now,
                conv.id,
                conv.id,
                {"predicted_intent": conv.intent, "intent": intent, "text": first.text if first else ""},
            )
        )
        conv.intent = intent
        uow.conversations.save(conv)

    def _staff_message(self, cmd: StaffMessage) -> CommandResult:
        core = self.core
        text = clean_text(cmd.text, max_chars=core.config.max_message_chars)
        marker = core.config.note_marker
        is_note = text.startswith(marker)
        with core.uow() as uow:
            conv = uow.conversations.find_by_staff_thread(cmd.platform, cmd.staff_thread_id)
            if conv is None:
                raise NotFound("this thread is not the mirror of a conversation")
            now = core.clock.now()
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
                uow.commit()
                return CommandResult(True, "Internal note saved (not sent to the customer).", conv.id)
            core.queue(
                uow,
                conv,
                Audience.CUSTOMER,
                OutboundKind.AGENT_REPLY,
                text,
                f"relay-agent:{stored.id}",
                {"agent_id": cmd.actor.user_id, "agent_name": cmd.actor.name},
            )
            conv.bot_handled, conv.updated_at = False, now
            conv.assignee_id = conv.assignee_id or cmd.actor.user_id
            conv.status = ConversationStatus.WAITING_ON_CUSTOMER
            uow.conversations.save(conv)
            uow.commit()
        return CommandResult(True, "Sent to the customer.", conv.id)


__all__ = [
    "Actor",
    "AgentCommands",
    "ApproveDraft",
    "ClaimHandoff",
    "Command",
    "CommandResult",
    "EditDraft",
    "RejectDraft",
    "RelabelIntent",
    "ResolveConversation",
    "ResolveHandoff",
    "StaffMessage",
    "edit_distance_ratio",
]
