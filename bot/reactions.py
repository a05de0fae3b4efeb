"""Emoji workflows for agents, the same on every platform.

Adapters parse a platform's reaction event into a ``Reaction`` (emoji by name, the message it was
added to, who added it) and call ``EmojiWorkflows.react``. Agents only (the role check of the
buttons). Customers' reactions do nothing, except 👍/👎 by the conversation's customer on a bot
answer: that rates the answer, exactly like the 👍/👎 buttons (once; 👎 hands off with the answer).

* 🎫 ``ticket`` on a customer message opens a conversation from it, even one the bot skipped as noise;
* 👀 ``claim`` takes the message's conversation (its hand-off, or a new one if the bot still had it);
* ✅ ``resolve`` resolves it.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from supportbot.bot.commands import (
    Actor,
    AgentCommands,
    ClaimConversation,
    Command,
    CommandResult,
    ResolveConversation,
)
from supportbot.bot.domain import Conversation, MessageKind, StoredMessage
from supportbot.bot.errors import Conflict, InvalidInput, NotAuthorized, NotFound
from supportbot.bot.feedback import Feedback
from supportbot.bot.intake import Intake
from supportbot.bot.modes import Mode
from supportbot.bot.ports import Database, UnitOfWork
from supportbot.bot.settings import EmojiSettings

log = logging.getLogger(__name__)

TICKET, CLAIM, RESOLVE = "ticket", "claim", "resolve"
# A customer's rating of a bot answer, by reaction name (Slack's names; Discord's 👍/👎 map to them).
RATINGS = {"+1": True, "thumbsup": True, "-1": False, "thumbsdown": False}


@dataclass(frozen=True)
class Reaction:
    platform: str
    workspace_id: str
    channel_id: str  # the support channel (a Discord thread's parent)
    message_id: str  # the message the emoji was added to
    emoji: str  # by name, as Slack names them ("ticket", "eyes", "white_check_mark")
    actor: Actor


class EmojiWorkflows:
    def __init__(
        self,
        *,
        db: Database,
        intake: Intake,
        commands: AgentCommands,
        settings: EmojiSettings,
        feedback: Feedback | None = None,
    ) -> None:
        self.feedback = feedback
        self.db = db
        self.intake = intake
        self.commands = commands
        self.settings = settings

    def action_of(self, emoji: str) -> str | None:
        name = emoji.strip(":").split("::")[0]  # Slack adds ::skin-tone-N
        s = self.settings
        for action, names in ((TICKET, s.ticket), (CLAIM, s.claim), (RESOLVE, s.resolve)):
            if name in names:
                return action
        return None

    async def react(self, reaction: Reaction) -> CommandResult | None:
        """Run the workflow of ``reaction``; None when it means nothing (not ours, not an agent, channel off)."""
        name = reaction.emoji.strip(":").split("::")[0]
        if name in RATINGS and not reaction.actor.role.is_staff:
            return await self._rate(reaction, RATINGS[name])
        action = self.action_of(reaction.emoji) if self.settings.enabled else None
        if action is None or not reaction.actor.role.is_staff:
            return None

        def read(uow: UnitOfWork) -> tuple[Mode, StoredMessage | None, Conversation | None]:
            mode = self.intake.modes.mode(uow, reaction.channel_id)
            stored = uow.messages.find_external(
                reaction.platform, reaction.workspace_id, reaction.channel_id, reaction.message_id
            )
            conv = uow.conversations.get(stored.conversation_id) if stored and stored.conversation_id else None
            if conv is None:  # the root of a conversation's thread
                conv = uow.conversations.find_by_thread(
                    reaction.platform, reaction.workspace_id, reaction.channel_id, reaction.message_id
                )
            return mode, stored, conv

        mode, stored, conv = await self.db.read(read)
        if mode is Mode.OFF:
            return None
        if action == TICKET:
            if conv is not None:
                return CommandResult(False, "That message is already part of a conversation.", conv.id)
            if stored is None or stored.kind is not MessageKind.CUSTOMER or stored.role.is_staff:
                return CommandResult(False, "Only a customer's message the bot received can become a conversation.")
            result = await self.intake.open_ticket(stored, reaction.actor.user_id)
            ok = result.conversation_id is not None
            return CommandResult(ok, result.detail or result.status, result.conversation_id)
        if conv is None:
            return CommandResult(False, "That message is not part of a conversation.")
        command: Command = (
            ClaimConversation(conv.id, reaction.actor)
            if action == CLAIM
            else ResolveConversation(conv.id, reaction.actor)
        )
        try:
            return await self.commands.execute(command, dispatch=False)
        except (Conflict, NotFound, InvalidInput, NotAuthorized) as exc:
            log.info("%s by reaction not done: %s", action, exc)
            return CommandResult(False, str(exc), conv.id)

    async def _rate(self, reaction: Reaction, positive: bool) -> CommandResult | None:
        """👍/👎 by a customer on one of the bot's answers: a rating; on anything else, nothing."""
        if self.feedback is None:
            return None

        def read(uow: UnitOfWork) -> tuple[Mode, StoredMessage | None]:
            stored = uow.messages.find_external(
                reaction.platform, reaction.workspace_id, reaction.channel_id, reaction.message_id
            )
            return self.intake.modes.mode(uow, reaction.channel_id), stored

        mode, stored = await self.db.read(read)
        if mode in (Mode.OFF, Mode.SHADOW) or stored is None or stored.kind is not MessageKind.BOT_ANSWER:
            return None
        if stored.conversation_id is None:
            return None
        try:
            rated = await self.feedback.record(stored.conversation_id, reaction.actor.user_id, positive=positive)
        except (Conflict, NotFound, InvalidInput) as exc:  # rated already, or not this conversation's customer
            return CommandResult(False, str(exc), stored.conversation_id)
        return CommandResult(True, rated.message, stored.conversation_id)
