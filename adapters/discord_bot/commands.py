"""Registering ``/support`` with Discord, and the bot's invite URL."""

from __future__ import annotations

import base64
import binascii
from typing import Any
from urllib.parse import urlencode

import discord
from discord import app_commands

from supportbot.adapters.discord_bot.config import DiscordConfig
from supportbot.bot.errors import ConfigurationError

SCOPES = ("bot", "applications.commands")
# Each permission the adapter uses, and why (docs/discord.md explains them to admins).
PERMISSIONS: dict[str, str] = {
    "view_channel": "see the support channels, the forum and the triage channel",
    "send_messages": "post mirror cards and notices in the triage channel",
    "send_messages_in_threads": "answer customers in their threads and post in mirror threads",
    "create_public_threads": "open a thread on a question asked in a support text channel and on each mirror card",
    "manage_threads": "apply intent and status tags to forum posts the bot did not create",
    "read_message_history": "react to and start threads on existing messages, and see agents' 🎫 👀 ✅ on them",
    "add_reactions": "acknowledge a question with 👀 and mark it resolved with ✅",
    "embed_links": "render context packets and drafts as embeds",
    "attach_files": "attach the weekly report's chart (an SVG file) to the summary in the triage channel",
}


def permissions() -> discord.Permissions:
    return discord.Permissions(**dict.fromkeys(PERMISSIONS, True))


def client_id_from_token(token: str) -> str:
    """A bot token's first segment is the base64 of the bot user's id (== the application id)."""
    head = token.split(".", 1)[0]
    try:
        decoded = base64.b64decode(head + "=" * (-len(head) % 4), validate=True).decode()
    except (binascii.Error, UnicodeDecodeError):
        decoded = ""
    if not decoded.isdigit():
        raise ConfigurationError("DISCORD_TOKEN", "cannot read the application id from it; pass --client-id")
    return decoded


def invite_url(client_id: str, guild_id: str | None = None) -> str:
    query: dict[str, Any] = {"client_id": client_id, "scope": " ".join(SCOPES), "permissions": permissions().value}
    if guild_id:
        query.update(guild_id=guild_id, disable_guild_select="true")
    return "https://discord.com/oauth2/authorize?" + urlencode(query)


async def sync_commands(config: DiscordConfig, guild_id: int | None = None) -> list[dict[str, Any]]:
    """PUT the ``/support`` group to Discord, for one guild (instant) or globally.

    Registering needs no database or model: a bare client's command tree only describes the commands.
    """
    from supportbot.adapters.discord_bot.client import api_base, support_group

    client = discord.Client(intents=discord.Intents.none())
    tree = app_commands.CommandTree(client)
    tree.add_command(support_group())
    with api_base(config.api_url):
        try:
            await client.login(config.token)
            guild = discord.Object(id=guild_id) if guild_id else None
            if guild is not None:
                tree.copy_global_to(guild=guild)
            synced = await tree.sync(guild=guild)
            return [dict(command.to_dict()) for command in synced]
        except discord.LoginFailure:
            raise ConfigurationError("DISCORD_TOKEN", "Discord rejected the token") from None
        finally:
            await client.close()
