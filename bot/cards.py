"""One neutral presentation model for staff-facing messages.

The core builds Cards (context packets, drafts, hand-offs, command answers);
Slack renders them as Block Kit, Discord as embeds with buttons, the
playground as HTML. Nothing platform-specific lives here.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass(frozen=True)
class CardField:
    label: str
    value: str
    short: bool = True  # two per row where the platform supports it


@dataclass(frozen=True)
class CardButton:
    action_id: str  # draft_approve, draft_edit, draft_reject, handoff_claim, handoff_resolve
    label: str
    value: str  # the draft or hand-off id
    style: str = "default"  # default, primary, danger


@dataclass(frozen=True)
class Card:
    title: str
    body: str = ""  # markdown-ish plain text: *bold*, > quote, links as "title (url)"
    fields: tuple[CardField, ...] = ()
    buttons: tuple[CardButton, ...] = ()
    footer: str = ""
    color: str = "neutral"  # neutral, info, warning, danger, success
    link: str | None = None  # link to the original conversation

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Card:
        return cls(
            title=data["title"],
            body=data.get("body", ""),
            fields=tuple(CardField(**f) for f in data.get("fields", ())),
            buttons=tuple(CardButton(**b) for b in data.get("buttons", ())),
            footer=data.get("footer", ""),
            color=data.get("color", "neutral"),
            link=data.get("link"),
        )


@dataclass(frozen=True)
class CommandReply:
    """Answer to a /support command: ephemeral text plus optional cards."""

    text: str
    cards: tuple[Card, ...] = field(default_factory=tuple)
    ok: bool = True
