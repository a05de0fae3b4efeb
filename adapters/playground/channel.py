"""The playground as a Channel: the core posts here like it posts to Slack.

``send`` stores nothing (the core records every message it sends); it hands
the Outbound to an in-process pub/sub (``EventHub``) that the browser pages
read as server-sent events, and returns a fresh message id. Customer-audience
events carry the text the customer sees; staff events only say which
conversation changed (the console re-reads it from the database), so a draft
or an internal note never travels on the customer stream.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from dataclasses import dataclass, field
from typing import Any

from supportbot.adapters.markdown import safe_html
from supportbot.bot.answers import MARKDOWN
from supportbot.bot.domain import Audience, Delivery, Outbound, OutboundKind
from supportbot.bot.ports import Channel

PLATFORM = "playground"
WORKSPACE = "local"
CUSTOMER_STREAM = "customer"
STAFF_STREAM = "staff"
_QUEUE_LIMIT = 500


@dataclass(frozen=True)
class Event:
    stream: str  # "customer" or "staff"
    type: str  # SSE event name
    data: dict[str, Any] = field(default_factory=dict)


class EventHub:
    """Fan-out of events to every subscriber of a stream (one queue each)."""

    def __init__(self) -> None:
        self._subscribers: dict[str, set[asyncio.Queue[Event | None]]] = {}
        self.closed = False

    def subscribe(self, stream: str) -> asyncio.Queue[Event | None]:
        queue: asyncio.Queue[Event | None] = asyncio.Queue(maxsize=_QUEUE_LIMIT)
        self._subscribers.setdefault(stream, set()).add(queue)
        return queue

    def unsubscribe(self, stream: str, queue: asyncio.Queue[Event | None]) -> None:
        self._subscribers.get(stream, set()).discard(queue)

    def subscriber_count(self, stream: str) -> int:
        return len(self._subscribers.get(stream, ()))

    def publish(self, event: Event) -> None:
        for queue in list(self._subscribers.get(event.stream, ())):
            try:
                queue.put_nowait(event)
            except asyncio.QueueFull:  # a stalled page: drop it, it reconnects and reloads
                self.unsubscribe(event.stream, queue)
                with contextlib.suppress(asyncio.QueueFull):
                    queue.get_nowait()
                    queue.put_nowait(None)

    def close(self) -> None:
        """Wake every subscriber with ``None`` so streams end (server shutdown)."""
        self.closed = True
        for queues in self._subscribers.values():
            for queue in list(queues):
                with contextlib.suppress(asyncio.QueueFull):
                    queue.put_nowait(None)
        self._subscribers.clear()


def listed_citations(raw: Any, text: str, *, markdown: bool) -> list[dict[str, Any]]:
    """The sources listed under a message: a Markdown reply's own link to a source is not listed again."""
    out = []
    for c in raw if isinstance(raw, list) else []:
        if not isinstance(c, dict):
            continue
        url = str(c.get("url", ""))
        if markdown and url and url in text:
            continue
        out.append({"title": str(c.get("title", "")), "url": url, "section": c.get("section")})
    return out


class PlaygroundChannel(Channel):
    platform = PLATFORM

    def __init__(self, hub: EventHub) -> None:
        self.hub = hub

    async def send(self, outbound: Outbound, delivery: Delivery) -> str | None:
        message_id = f"pg{'s' if outbound.audience is not Audience.CUSTOMER else 'm'}-{uuid.uuid4().hex[:20]}"
        base = {"conversation_id": outbound.conversation_id, "kind": outbound.kind.value, "message_id": message_id}
        if outbound.audience is Audience.CUSTOMER:
            data: dict[str, Any]
            if outbound.kind is OutboundKind.REACTION:
                data = {
                    **base,
                    "emoji": str(outbound.payload.get("emoji", "")),
                    "reply_to": delivery.reply_to_message_id,
                    "channel_id": delivery.channel_id,
                }
            else:
                data = {
                    **base,
                    "text": outbound.text,
                    # the reply's Markdown as safe HTML (the page shows plain text when absent)
                    "html": safe_html(outbound.text) if outbound.payload.get("format") == MARKDOWN else None,
                    "author": str(outbound.payload.get("agent_name") or "supportbot"),
                    "citations": listed_citations(outbound.payload.get("citations", []), outbound.text, markdown=False),
                    # the sources to list under the message (a Markdown reply's own links left out)
                    "listed": listed_citations(
                        outbound.payload.get("citations", []),
                        outbound.text,
                        markdown=outbound.payload.get("format") == MARKDOWN,
                    ),
                    "decision_id": outbound.payload.get("decision_id"),
                    "feedback": outbound.kind in (OutboundKind.ANSWER, OutboundKind.AGENT_REPLY),
                    "channel_id": delivery.channel_id,
                }
            self.hub.publish(
                Event(CUSTOMER_STREAM, "reaction" if outbound.kind is OutboundKind.REACTION else "message", data)
            )
        # Staff pages re-read the console for any change, including customer-side ones.
        self.hub.publish(Event(STAFF_STREAM, "changed", {**base, "audience": outbound.audience.value}))
        return message_id
