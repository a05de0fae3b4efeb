"""Discord message markup turned into the plain text the core stores and classifies.

Mentions arrive as ``<@123>`` / ``<@!123>`` (users), ``<@&123>`` (roles) and
``<#123>`` (channels); custom emoji as ``<:name:123>`` / ``<a:name:123>``;
timestamps as ``<t:1700000000:R>``. The gateway's MESSAGE_CREATE also lists the
mentioned users, roles and channels, which give the names.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import UTC, datetime

_USER = re.compile(r"<@!?(\d+)>")
_ROLE = re.compile(r"<@&(\d+)>")
_CHANNEL = re.compile(r"<#(\d+)>")
_EMOJI = re.compile(r"<a?:(\w+):\d+>")
_TIMESTAMP = re.compile(r"<t:(-?\d+)(?::[tTdDfFR])?>")


def to_plain(
    content: str,
    *,
    bot_id: int | None,
    users: Mapping[int, str] | None = None,
    roles: Mapping[int, str] | None = None,
    channels: Mapping[int, str] | None = None,
) -> tuple[str, bool]:
    """``content`` as plain text and whether it mentions the bot (whose mention is dropped)."""
    users, roles, channels = users or {}, roles or {}, channels or {}
    mentioned = False

    def user(match: re.Match[str]) -> str:
        nonlocal mentioned
        user_id = int(match.group(1))
        if bot_id is not None and user_id == bot_id:
            mentioned = True
            return ""
        return f"@{users.get(user_id, user_id)}"

    def timestamp(match: re.Match[str]) -> str:
        try:
            return datetime.fromtimestamp(int(match.group(1)), UTC).strftime("%Y-%m-%d %H:%M UTC")
        except (OverflowError, OSError, ValueError):
            return match.group(0)

    text = _USER.sub(user, content or "")
    text = _ROLE.sub(lambda m: f"@{roles.get(int(m.group(1)), m.group(1))}", text)
    text = _CHANNEL.sub(lambda m: f"#{channels.get(int(m.group(1)), m.group(1))}", text)
    text = _EMOJI.sub(lambda m: f":{m.group(1)}:", text)
    text = _TIMESTAMP.sub(timestamp, text)
    return re.sub(r"[ \t]{2,}", " ", text).strip(), mentioned
