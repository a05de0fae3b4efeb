"""Who is who: our own team (auth.test) and cached users.info / conversations.info.

A user of another team (Slack Connect external user) is a customer, and so is a
guest account of our workspace; full members of our own workspace are agents;
agents listed in SUPPORTBOT_SLACK_MANAGERS are managers. Lookups fail closed:
an unknown user is never staff.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Any

from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from supportbot.bot.domain import Role

log = logging.getLogger(__name__)


def slack_error(exc: SlackApiError) -> str:
    """The ``error`` field of a failed call, or its HTTP status when the body was not JSON."""
    response = exc.response
    data = getattr(response, "data", None)
    if isinstance(data, dict) and data.get("error"):
        return str(data["error"])
    return f"HTTP {getattr(response, 'status_code', '?')}"


@dataclass(frozen=True)
class SlackUser:
    id: str
    team_id: str | None
    name: str
    email: str | None
    is_stranger: bool = False
    is_bot: bool = False
    is_guest: bool = False  # multi- or single-channel guest of our workspace


@dataclass(frozen=True)
class BotIdentity:
    team_id: str
    user_id: str
    bot_id: str | None


class Directory:
    def __init__(
        self,
        client: AsyncWebClient,
        managers: list[str] | tuple[str, ...] = (),
        ttl: float = 600.0,
        clock=time.monotonic,
    ) -> None:
        self.client = client
        self.managers = frozenset(managers)
        self.ttl = ttl
        self.clock = clock
        self.me: BotIdentity | None = None
        self._users: dict[str, tuple[float, SlackUser | None]] = {}
        self._channels: dict[str, tuple[float, dict[str, Any] | None]] = {}

    async def whoami(self) -> BotIdentity:
        resp = await self.client.auth_test()
        self.me = BotIdentity(team_id=resp["team_id"], user_id=resp["user_id"], bot_id=resp.get("bot_id"))
        return self.me

    @property
    def team_id(self) -> str:
        if self.me is None:
            raise RuntimeError("Directory.whoami() has not run")
        return self.me.team_id

    async def user(self, user_id: str) -> SlackUser | None:
        hit = self._users.get(user_id)
        now = self.clock()
        if hit and now - hit[0] < self.ttl:
            return hit[1]
        try:
            resp = await self.client.users_info(user=user_id)
        except SlackApiError as exc:
            log.warning("users.info failed: %s", slack_error(exc))
            return hit[1] if hit else None  # a stale copy beats nothing; never cache the failure
        u = resp.get("user") or {}
        profile = u.get("profile") or {}
        user = SlackUser(
            id=user_id,
            team_id=u.get("team_id") or profile.get("team"),
            name=profile.get("display_name") or profile.get("real_name") or u.get("real_name") or u.get("name") or "",
            email=profile.get("email"),
            is_stranger=bool(u.get("is_stranger")),
            is_bot=bool(u.get("is_bot")),
            is_guest=bool(u.get("is_restricted") or u.get("is_ultra_restricted")),
        )
        self._users[user_id] = (now, user)
        return user

    async def channel(self, channel_id: str) -> dict[str, Any] | None:
        hit = self._channels.get(channel_id)
        now = self.clock()
        if hit and now - hit[0] < self.ttl:
            return hit[1]
        try:
            resp = await self.client.conversations_info(channel=channel_id)
        except SlackApiError as exc:
            log.warning("conversations.info failed: %s", slack_error(exc))
            return hit[1] if hit else None
        info = dict(resp.get("channel") or {})
        self._channels[channel_id] = (now, info)
        return info

    async def role_of(self, user_id: str, *team_hints: str | None) -> tuple[Role, SlackUser | None]:
        """CUSTOMER for other teams, strangers and unknown users; AGENT/MANAGER for our members."""
        return self._role(user_id, await self.user(user_id), team_hints)

    def cached_role(self, user_id: str, *team_hints: str | None) -> tuple[Role, SlackUser | None] | None:
        """``role_of`` from the cache alone, or None when it would have to ask Slack."""
        hit = self._users.get(user_id)
        if hit is None or self.clock() - hit[0] >= self.ttl:
            return None
        return self._role(user_id, hit[1], team_hints)

    def _role(
        self, user_id: str, user: SlackUser | None, team_hints: tuple[str | None, ...]
    ) -> tuple[Role, SlackUser | None]:
        ours = self.team_id
        if any(hint and hint != ours for hint in team_hints):
            return Role.CUSTOMER, user
        if user is None or user.is_stranger or user.is_guest or user.team_id != ours:
            return Role.CUSTOMER, user
        if user.is_bot:
            return Role.BOT, user
        return (Role.MANAGER if user_id in self.managers else Role.AGENT), user
