"""Queueing what the core wants posted, in the caller's transaction (the outbox)."""

from __future__ import annotations

from typing import Any

from supportbot.bot.domain import Audience, Conversation, Outbound, OutboundKind, new_id
from supportbot.bot.ports import Clock, UnitOfWork


class OutboxWriter:
    def __init__(self, clock: Clock) -> None:
        self.clock = clock

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
        """Queue one message; False (and nothing queued) when ``dedupe_key`` was queued before."""
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
