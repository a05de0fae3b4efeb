"""Queueing what the core wants posted, in the caller's transaction (the outbox)."""

from __future__ import annotations

from typing import Any

from supportbot.bot.domain import Audience, Conversation, Outbound, OutboundKind, new_id
from supportbot.bot.modes import ChannelModes, Mode
from supportbot.bot.ports import Clock, UnitOfWork

SHADOW_HELD = (
    "Shadow mode: not posted to the customer (the bot posts nothing in this channel); "
    "reply in the customer's thread yourself:\n{text}"
)


class OutboxWriter:
    def __init__(self, clock: Clock, modes: ChannelModes | None = None) -> None:
        self.clock = clock
        self.modes = modes

    def queue(
        self,
        uow: UnitOfWork,
        conv: Conversation | None,
        audience: Audience,
        kind: OutboundKind,
        text: str,
        dedupe_key: str,
        payload: dict[str, Any] | None = None,
        *,
        platform: str | None = None,
    ) -> bool:
        """Queue one message; False (and nothing queued) when ``dedupe_key`` was queued before.

        Nothing is ever queued for customers of a channel in shadow mode or off: whatever asks.
        """
        if audience is Audience.CUSTOMER and self.modes is not None:
            reply_to = (payload or {}).get("reply_to") or {}
            mode = self.modes.mode(uow, conv.channel_id if conv else reply_to.get("channel_id"))
            if mode in (Mode.SHADOW, Mode.OFF):
                if mode is Mode.SHADOW and conv is not None and kind is OutboundKind.AGENT_REPLY:
                    self.queue(
                        uow,
                        conv,
                        Audience.STAFF,
                        OutboundKind.NOTICE,
                        SHADOW_HELD.format(text=text),
                        f"shadow-held:{dedupe_key}",
                    )
                return False
        return uow.outbox.add(
            Outbound(
                id=new_id("out"),
                platform=platform or (conv.platform if conv else ""),
                audience=audience,
                kind=kind,
                text=text,
                dedupe_key=dedupe_key,
                created_at=self.clock.now(),
                conversation_id=conv.id if conv else None,
                payload=payload or {},
            )
        )
