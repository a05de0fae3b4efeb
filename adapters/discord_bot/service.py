"""``supportbot run`` starts the Discord client when ``DISCORD_TOKEN`` is set."""

from __future__ import annotations

import asyncio
import contextlib
import logging

import discord

from supportbot.adapters.bootstrap import App
from supportbot.adapters.discord_bot.channel import DiscordChannel
from supportbot.adapters.discord_bot.client import SupportClient
from supportbot.adapters.discord_bot.config import DiscordConfig, load_discord_config
from supportbot.adapters.runtime import SERVICE_FACTORIES
from supportbot.bot.errors import ConfigurationError

log = logging.getLogger(__name__)


class DiscordService:
    name = "discord"

    def __init__(
        self, app: App, config: DiscordConfig | None = None, *, ready_timeout: float = 60.0, **client_options: object
    ) -> None:
        self.app = app
        self.client_options = client_options  # passed to discord.Client (e.g. guild_ready_timeout)
        self.config = config or load_discord_config(app.settings)
        self.ready_timeout = ready_timeout
        self.channel = DiscordChannel(self.config)
        self.client: SupportClient | None = None
        self._task: asyncio.Task | None = None

    async def start(self) -> None:
        self.client = SupportClient(self.app, self.config, **self.client_options)
        self.channel.client = self.client
        self.app.core.register_channel(self.channel)
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
        await self.app.core.dispatch_outbox()

    async def stop(self) -> None:
        if self.client is not None:
            await self.client.close()
        if self._task is not None:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await asyncio.wait_for(self._task, 10)
        self.app.core.channels.pop(self.channel.platform, None)


def discord_services(app: App) -> list[DiscordService]:
    return [DiscordService(app)] if app.settings.discord_enabled else []


if discord_services not in SERVICE_FACTORIES:
    SERVICE_FACTORIES.append(discord_services)
