"""Buttons on cards, the same on every platform.

Adapters parse a click or a form submission into (action id, target id,
actor) and call ``press`` / ``submit`` / ``rate``; they render the
``Outcome``. The map from action ids to commands, the role check, the
"draft still pending" check and rate-once CSAT live here, once.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

from supportbot.bot.commands import (
    Actor,
    AgentCommands,
    ApproveDraft,
    ClaimHandoff,
    Command,
    EditDraft,
    RejectDraft,
    ResolveHandoff,
)
from supportbot.bot.domain import DraftStatus
from supportbot.bot.errors import Conflict, InvalidInput, NotAuthorized, NotFound, SupportbotError
from supportbot.bot.feedback import Feedback
from supportbot.bot.ports import Database

DRAFT_APPROVE, DRAFT_EDIT, DRAFT_REJECT = "draft_approve", "draft_edit", "draft_reject"
HANDOFF_CLAIM, HANDOFF_RESOLVE = "handoff_claim", "handoff_resolve"
STAFF_ACTIONS = (DRAFT_APPROVE, DRAFT_EDIT, DRAFT_REJECT, HANDOFF_CLAIM, HANDOFF_RESOLVE)
FORMS = (DRAFT_EDIT, DRAFT_REJECT)  # these open a form (modal) first
REFUSAL = "Only the support team can do that."
UNKNOWN = "That button does not do anything any more."

_COMMANDS: dict[str, Callable[[str, Actor], Command]] = {
    DRAFT_APPROVE: ApproveDraft,
    HANDOFF_CLAIM: ClaimHandoff,
    HANDOFF_RESOLVE: ResolveHandoff,
}


@dataclass(frozen=True)
class Form:
    """What the adapter must ask before the action can run (an edit or reject modal)."""

    action_id: str
    draft_id: str
    draft_text: str
    intents: tuple[str, ...]


@dataclass(frozen=True)
class Outcome:
    ok: bool
    message: str  # for the person who clicked (ephemeral where the platform can)
    conversation_id: str | None = None
    form: Form | None = None
    handoff_id: str | None = None  # a rating that handed the conversation to a person
    error: SupportbotError | None = None  # why it was refused (adapters may map it, e.g. to an HTTP status)


class CardActions:
    def __init__(
        self, *, commands: AgentCommands, feedback: Feedback, db: Database, labels: Callable[[], tuple[str, ...]]
    ) -> None:
        self.commands = commands
        self.feedback = feedback
        self.db = db
        self.labels = labels

    async def press(self, action_id: str, target: str, actor: Actor) -> Outcome:
        """A staff button. Edit and reject answer with the form to show; the rest run at once."""
        if not actor.role.is_staff:
            return _refused()
        if action_id in FORMS:
            draft = await self.db.read(lambda uow: uow.drafts.get(target))
            if draft is None:
                return Outcome(False, f"No draft {target}.", error=NotFound(target))
            if draft.status is not DraftStatus.PENDING:
                message = f"This draft is already {draft.status.value}."
                return Outcome(False, message, draft.conversation_id, error=Conflict(message))
            return Outcome(True, "", draft.conversation_id, form=Form(action_id, draft.id, draft.text, self.labels()))
        factory = _COMMANDS.get(action_id)
        if factory is None:
            return Outcome(False, UNKNOWN, error=InvalidInput(UNKNOWN))
        return await self._run(factory(target, actor))

    async def submit(self, action_id: str, draft_id: str, actor: Actor, values: Mapping[str, str]) -> Outcome:
        """A submitted edit form (``text``) or reject form (``reason``, optional ``intent``)."""
        if not actor.role.is_staff:
            return _refused()
        if action_id == DRAFT_EDIT:
            return await self._run(EditDraft(draft_id, actor, values.get("text", "")))
        if action_id == DRAFT_REJECT:
            intent = (values.get("intent") or "").strip() or None
            return await self._run(RejectDraft(draft_id, actor, (values.get("reason") or "").strip(), intent))
        return Outcome(False, UNKNOWN)

    async def rate(self, conversation_id: str, value: str, user_id: str) -> Outcome:
        """A CSAT button: only the conversation's customer, and only once."""
        try:
            rated = await self.feedback.rate(conversation_id, user_id, value)
        except (NotAuthorized, NotFound, Conflict, InvalidInput) as exc:
            return Outcome(False, str(exc), conversation_id, error=exc)
        if rated.handoff_id:
            self.commands.dispatcher.kick()
        return Outcome(True, rated.message, conversation_id, handoff_id=rated.handoff_id)

    async def _run(self, command: Command) -> Outcome:
        try:
            result = await self.commands.execute(command, dispatch=False)
        except (NotAuthorized, NotFound, Conflict, InvalidInput) as exc:
            return Outcome(False, str(exc), error=exc)
        return Outcome(result.ok, result.message, result.conversation_id)


def _refused() -> Outcome:
    return Outcome(False, REFUSAL, error=NotAuthorized(REFUSAL))
