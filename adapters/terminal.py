"""``supportbot chat``: a Channel adapter over the terminal.

You type as a customer of an example account; replies, drafts and hand-offs
print as they are posted. Lines starting with ``/`` act as an agent:
``/reply TEXT``, ``/note TEXT``, ``/claim [ID]``, ``/resolve [ID]``,
``/approve ID``, ``/edit ID new text``, ``/reject ID reason``, ``/support stats``
and ``/help``. Each goes through the core's card actions or ``AgentCommands``.
"""

from __future__ import annotations

import itertools
import sys
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TextIO

from supportbot.bot.card_actions import (
    DRAFT_APPROVE,
    DRAFT_EDIT,
    DRAFT_REJECT,
    HANDOFF_CLAIM,
    HANDOFF_RESOLVE,
    Outcome,
)
from supportbot.bot.cards import Card
from supportbot.bot.commands import Actor, ResolveConversation, StaffMessage
from supportbot.bot.core import SupportCore
from supportbot.bot.domain import (
    Audience,
    Author,
    Conversation,
    Delivery,
    HandoffStatus,
    InboundMessage,
    Outbound,
    OutboundKind,
    Role,
)
from supportbot.bot.errors import NotFound, SupportbotError
from supportbot.bot.ports import Channel

PLATFORM = "terminal"


def render_card(card: Card) -> str:
    lines = [f"┌ {card.title}"]
    lines += [f"│ {f.label}: {f.value}" for f in card.fields]
    if card.body:
        lines += ["│"] + [f"│ {line}" for line in card.body.splitlines()]
    if card.buttons:
        lines.append("│ actions: " + "  ".join(f"/{b.action_id.split('_', 1)[1]} {b.value}" for b in card.buttons))
    lines.append(f"└ {card.footer}" if card.footer else "└")
    return "\n".join(lines)


class TerminalChannel(Channel):
    platform = PLATFORM

    def __init__(self, out: TextIO | None = None) -> None:
        self.out = out or sys.stdout
        self._ids = itertools.count(1)

    async def send(self, outbound: Outbound, delivery: Delivery) -> str | None:
        if outbound.kind is OutboundKind.CARD_UPDATE:
            outcome = outbound.payload.get("outcome") or {}
            print(f"   [staff] ✅ {outcome.get('text')} by {outcome.get('by_name')}", file=self.out)
        elif outbound.kind is OutboundKind.REACTION:
            emoji = {"eyes": "👀", "white_check_mark": "✅"}.get(outbound.payload.get("emoji", ""), "")
            print(f"   {emoji} (reaction)", file=self.out)
        elif outbound.audience is Audience.CUSTOMER:
            who = outbound.payload.get("agent_name") or "bot"
            print(f"\n{who}> {outbound.text}\n", file=self.out)
        else:
            card = outbound.payload.get("card")
            body = render_card(Card.from_dict(card)) if card else outbound.text
            print("\n".join(f"   [staff] {line}" for line in body.splitlines()), file=self.out)
        self.out.flush()
        return f"term-{next(self._ids)}"


AGENT_HELP = """agent commands (you are the customer otherwise):
  /reply TEXT          answer the customer in this conversation
  /note TEXT           add an internal note (never shown to the customer)
  /claim [HANDOFF]     take the hand-off (default: this conversation's open one)
  /resolve [ID]        resolve a hand-off or conversation (default: this conversation)
  /approve DRAFT       send a draft as it is
  /edit DRAFT TEXT     send an edited draft
  /reject DRAFT REASON reject a draft, saying why
  /support ...         staff commands (/support help)
  /help                this list
  /quit                leave"""


@dataclass(frozen=True)
class Session:
    """The terminal chat is one conversation: one channel and one thread rooted at the first message."""

    channel_id: str
    thread_id: str
    workspace_id: str = "local"


async def _help(_: str) -> str:
    return AGENT_HELP


class AgentConsole:
    """Agent commands typed in the terminal. Parsing only: drafts and hand-offs go through the core's card
    actions (like Slack and Discord buttons), replies, notes and resolutions through ``AgentCommands``."""

    def __init__(self, core: SupportCore, actor: Actor, session: Session) -> None:
        self.core = core
        self.actor = actor
        self.session = session
        self._sent = itertools.count(1)

    async def run(self, line: str) -> str:
        """What to print for one ``/command`` line."""
        parts = line[1:].split(maxsplit=1)
        name = parts[0].lower() if parts else ""
        rest = parts[1].strip() if len(parts) > 1 else ""
        handlers = {
            "reply": self.reply,
            "note": self.note,
            "claim": self.claim,
            "resolve": self.resolve,
            "approve": self.approve,
            "edit": self.edit,
            "reject": self.reject,
            "help": _help,
        }
        handler = handlers.get(name)
        if handler is None:
            return f"unknown command /{name}\n{AGENT_HELP}" if name else AGENT_HELP
        try:
            return await handler(rest)
        except SupportbotError as exc:
            return f"[agent] {exc}"

    async def _conversation(self) -> Conversation:
        s = self.session
        conv = await self.core.db.read(
            lambda uow: uow.conversations.find_by_thread(PLATFORM, s.workspace_id, s.channel_id, s.thread_id)
        )
        if conv is None:
            raise NotFound("no conversation yet: write a question first")
        return conv

    async def _staff_message(self, text: str) -> str:
        conv = await self._conversation()
        if not conv.staff_thread_id:
            raise NotFound("this conversation has no staff thread yet")
        external_id = f"term-agent-{self.session.thread_id}-{next(self._sent)}"
        result = await self.core.commands.execute(
            StaffMessage(PLATFORM, conv.staff_thread_id, self.actor, text, external_id)
        )
        return f"[agent] {result.message}"

    async def reply(self, text: str) -> str:
        if not text:
            return "usage: /reply TEXT"
        return await self._staff_message(text)  # the core decides: starting with the note marker, it is a note

    async def note(self, text: str) -> str:
        if not text:
            return "usage: /note TEXT"
        return await self._staff_message(f"{self.core.settings.note_marker} {text}")

    async def claim(self, handoff_id: str) -> str:
        if not handoff_id:
            conv = await self._conversation()
            handoffs = await self.core.db.read(
                lambda uow: uow.handoffs.list(statuses=[HandoffStatus.OPEN], conversation_id=conv.id)
            )
            if not handoffs:
                return "[agent] this conversation has no open hand-off"
            handoff_id = handoffs[-1].id
        outcome = await self.core.actions.press(HANDOFF_CLAIM, handoff_id.split()[0], self.actor)
        said = await self._outcome(outcome)
        return f"{said} (/reply TEXT answers the customer, /note TEXT adds a note)" if outcome.ok else said

    async def resolve(self, target: str) -> str:
        if target and not target.startswith("conv_"):  # a hand-off id, as its card's actions line shows
            return await self._outcome(await self.core.actions.press(HANDOFF_RESOLVE, target.split()[0], self.actor))
        conversation_id = target.split()[0] if target else (await self._conversation()).id
        result = await self.core.commands.execute(ResolveConversation(conversation_id, self.actor))
        return f"[agent] {result.message}"

    async def approve(self, rest: str) -> str:
        if not rest:
            return "usage: /approve DRAFT"
        return await self._outcome(await self.core.actions.press(DRAFT_APPROVE, rest.split()[0], self.actor))

    async def edit(self, rest: str) -> str:
        args = rest.split(maxsplit=1)
        if len(args) < 2:
            return "usage: /edit DRAFT TEXT"
        return await self._outcome(await self.core.actions.submit(DRAFT_EDIT, args[0], self.actor, {"text": args[1]}))

    async def reject(self, rest: str) -> str:
        args = rest.split(maxsplit=1)
        if len(args) < 2:
            return "usage: /reject DRAFT REASON"
        outcome = await self.core.actions.submit(DRAFT_REJECT, args[0], self.actor, {"reason": args[1]})
        return await self._outcome(outcome)

    async def _outcome(self, outcome: Outcome) -> str:
        await self.core.dispatcher.dispatch()
        return f"[agent] {outcome.message}"


async def chat_loop(app: Any, account_id: str | None, customer: str, lines: Any, out: TextIO) -> None:
    """Read lines (an async iterator of str) and run them through the core."""
    agent = Actor("agent-terminal", Role.MANAGER, "Terminal agent")
    counter = itertools.count(1)
    session = datetime.now(UTC).strftime("%Y%m%d%H%M%S")
    first = f"{session}-1"
    console = AgentConsole(app.core, agent, Session(f"chat-{session}", first))
    async for raw_line in lines:
        line = raw_line.strip()
        if not line:
            continue
        if line in ("/quit", "/exit"):
            break
        if line.startswith("/support"):
            print((await app.support.run(agent, line[len("/support") :].strip())).text, file=out)
            continue
        if line.startswith("/"):
            print(await console.run(line), file=out)
            continue
        message_id = f"{session}-{next(counter)}"
        message = InboundMessage(
            platform=PLATFORM,
            workspace_id="local",
            channel_id=f"chat-{session}",
            message_id=message_id,
            author=Author(customer, customer, Role.CUSTOMER),
            text=line,
            sent_at=datetime.now(UTC),
            thread_id=None if message_id == first else first,  # the session is one thread, like a chat window
            account_id=account_id,
        )
        result = await app.core.handle_inbound(message)
        if result.status not in ("processed",):
            print(f"   ({result.status}: {result.detail})", file=out)
