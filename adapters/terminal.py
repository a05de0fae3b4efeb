"""``supportbot chat``: a Channel adapter over the terminal.

You type as a customer of an example account; replies, drafts and hand-offs
print as they are posted. Lines starting with ``/`` act as an agent:
``/approve ID``, ``/edit ID new text``, ``/reject ID reason``, ``/claim ID``,
``/resolve ID``, ``/support stats``.
"""

from __future__ import annotations

import itertools
import sys
from datetime import UTC, datetime
from typing import TextIO

from supportbot.bot.card_actions import (
    DRAFT_APPROVE,
    DRAFT_EDIT,
    DRAFT_REJECT,
    HANDOFF_CLAIM,
    HANDOFF_RESOLVE,
    CardActions,
    Outcome,
)
from supportbot.bot.cards import Card
from supportbot.bot.commands import Actor
from supportbot.bot.domain import Audience, Author, Delivery, InboundMessage, Outbound, OutboundKind, Role
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


AGENT_HELP = (
    "agent commands: /approve ID, /edit ID TEXT, /reject ID REASON, /claim ID, /resolve ID, /support ..., /quit"
)


async def run_agent_command(actions: CardActions, line: str, actor: Actor) -> Outcome | None:
    """``/approve ID`` and friends, through the same card actions as Slack, Discord and the playground."""
    parts = line[1:].split(maxsplit=2)
    if not parts:
        return None
    name, args = parts[0].lower(), parts[1:]
    if name == "approve" and args:
        return await actions.press(DRAFT_APPROVE, args[0], actor)
    if name == "edit" and len(args) == 2:
        return await actions.submit(DRAFT_EDIT, args[0], actor, {"text": args[1]})
    if name == "reject" and len(args) == 2:
        return await actions.submit(DRAFT_REJECT, args[0], actor, {"reason": args[1]})
    if name == "claim" and args:
        return await actions.press(HANDOFF_CLAIM, args[0], actor)
    if name == "resolve" and args:
        return await actions.press(HANDOFF_RESOLVE, args[0], actor)
    return None


async def chat_loop(app, account_id: str | None, customer: str, lines, out: TextIO) -> None:
    """Read lines (an async iterator of str) and run them through the core."""
    agent = Actor("agent-terminal", Role.MANAGER, "Terminal agent")
    counter = itertools.count(1)
    session = datetime.now(UTC).strftime("%Y%m%d%H%M%S")
    first = f"{session}-1"
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
            outcome = await run_agent_command(app.core.actions, line, agent)
            if outcome is None:
                print(AGENT_HELP, file=out)
                continue
            await app.core.dispatcher.dispatch()
            print(f"   [agent] {outcome.message}", file=out)
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
