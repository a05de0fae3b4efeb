"""Per-channel modes: how much the bot may do in one customer channel.

* ``auto``: today's behaviour (answer, draft or hand off by the policy);
* ``draft-only``: the bot never answers on its own; every answer becomes a draft;
* ``shadow``: the bot posts nothing where customers can read it; it decides, records the
  decision (flagged shadow) and shows in the triage thread what it would have sent;
* ``off``: the channel is ignored.

Modes come from ``channel_modes`` in settings (channel id -> mode) and from managers'
``/support mode <channel> <mode>``, which wins and is stored with the runtime settings.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from enum import StrEnum

from supportbot.bot.domain import Action, Decision
from supportbot.bot.ports import UnitOfWork

MODE_PREFIX = "channel_mode."


class Mode(StrEnum):
    AUTO = "auto"
    DRAFT_ONLY = "draft-only"
    SHADOW = "shadow"
    OFF = "off"

    @property
    def posts(self) -> bool:
        """The bot may post (or react, or tag) where the channel's customers read."""
        return self not in (Mode.SHADOW, Mode.OFF)


MODES = tuple(m.value for m in Mode)
# a channel as people type it: an id, a Slack link <#C123|name>, a Discord mention <#123>
_CHANNEL = re.compile(r"^<#([A-Za-z0-9_]+)(?:\|[^>]*)?>$|^([A-Z][A-Z0-9_]+|\d{6,})$")

DRAFT_ONLY = "draft_only_channel"


def parse_mode(text: str) -> Mode:
    value = text.strip().lower().replace("_", "-")
    if value == "draft":
        value = Mode.DRAFT_ONLY.value
    try:
        return Mode(value)
    except ValueError:
        raise ValueError(f"unknown mode {text!r}: use one of {', '.join(MODES)}") from None


def parse_channel(text: str) -> str:
    match = _CHANNEL.match(text.strip())
    if not match:
        raise ValueError(f"cannot read channel {text!r}: mention it (#channel) or give its id")
    return match.group(1) or match.group(2)


class ChannelModes:
    def __init__(self, configured: Mapping[str, str] | None = None) -> None:
        self.configured = {str(k): parse_mode(v) for k, v in (configured or {}).items()}

    def mode(self, uow: UnitOfWork, channel_id: str | None) -> Mode:
        if not channel_id:
            return Mode.AUTO
        runtime = uow.settings.get(MODE_PREFIX + channel_id)
        if runtime:
            try:
                return Mode(str(runtime))
            except ValueError:
                pass
        return self.configured.get(channel_id, Mode.AUTO)

    def set(self, uow: UnitOfWork, channel_id: str, mode: Mode) -> None:
        uow.settings.set(MODE_PREFIX + channel_id, mode.value)

    def all(self, uow: UnitOfWork) -> dict[str, Mode]:
        """Every channel whose mode is not the default ``auto`` (settings, then managers' changes)."""
        modes = dict(self.configured)
        for key, value in uow.settings.items(MODE_PREFIX).items():
            try:
                modes[key[len(MODE_PREFIX) :]] = Mode(str(value))
            except ValueError:
                continue
        return {k: v for k, v in sorted(modes.items()) if v is not Mode.AUTO}


def draft_only(decision: Decision) -> Decision:
    """In a draft-only channel an automatic answer becomes a draft an agent reviews."""
    if decision.action is not Action.ANSWER:
        return decision
    return Decision(
        Action.DRAFT,
        DRAFT_ONLY,
        f"This channel is in draft-only mode: an agent reviews every answer (was: {decision.reason})",
        decision.scores,
        decision.articles,
    )
