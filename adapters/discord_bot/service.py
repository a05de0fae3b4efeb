"""``supportbot run`` starts the Discord client when ``DISCORD_TOKEN`` is set."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math

import discord

from supportbot.adapters.discord_bot.channel import DiscordChannel
from supportbot.adapters.discord_bot.client import SupportClient
from supportbot.adapters.discord_bot.config import DiscordConfig, DiscordSettings, load_discord_config
from supportbot.bot.core import SupportCore
from supportbot.bot.errors import ConfigurationError

log = logging.getLogger(__name__)


class DiscordService:
    name = "discord"

    def __init__(
        self,
        core: SupportCore,
        settings: DiscordSettings | None = None,
        *,
        config: DiscordConfig | None = None,
        ready_timeout: float = 60.0,
        **client_options: object,
    ) -> None:
        self.core = core
        self.client_options = client_options  # passed to discord.Client (e.g. guild_ready_timeout)
        if config is None:
            assert settings is not None
            config = load_discord_config(settings, note_marker=core.settings.note_marker)
        self.config = config
        self.ready_timeout = ready_timeout
        self.channel = DiscordChannel(self.config)  # the composition root registers it
        self.client: SupportClient | None = None
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self.client = SupportClient(self.core, self.config, **self.client_options)
        self.channel.client = self.client
        try:
            await self.client.login(self.config.token)
        except discord.LoginFailure:
            await self.client.close()
            raise ConfigurationError("DISCORD_TOKEN", "Discord rejected the token") from None
        except BaseException:
            await self.client.close()
            raise
        self._task = asyncio.create_task(self.client.connect(reconnect=True), name="discord-gateway")
        ready = asyncio.create_task(self.client.wait_until_ready())
        done, _ = await asyncio.wait(
            {ready, self._task}, timeout=self.ready_timeout, return_when=asyncio.FIRST_COMPLETED
        )
        if ready not in done:
            ready.cancel()
            error = self._task.exception() if self._task in done else None
            await self.stop()
            if isinstance(error, discord.PrivilegedIntentsRequired):
                raise ConfigurationError(
                    "DISCORD_TOKEN",
                    "the bot needs the Message Content intent: enable it "
                    "under Bot -> Privileged Gateway Intents in the Developer Portal",
                )
            raise ConnectionError(f"Discord gateway not ready: {error or 'timed out'}")
        log.info("Discord connected as %s", self.client.user)
        # Deliver what was queued while we were away (e.g. a mirror card before a restart).
        await self.core.dispatcher.dispatch()

    def health(self) -> dict[str, object]:
        """For /healthz: up while the gateway websocket is connected and ready (discord.py reconnects itself)."""
        client = self.client
        up = client is not None and client.is_ready() and not client.is_closed() and client.ws is not None
        latency = client.latency if up and client is not None else None
        return {
            "ok": up,
            "connected": up,
            "latency_ms": round(latency * 1000, 1) if latency is not None and math.isfinite(latency) else None,
        }

    async def stop(self) -> None:
        if self.client is not None:
            await self.client.close()
        if self._task is not None:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await asyncio.wait_for(self._task, 10)
