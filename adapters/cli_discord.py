"""`supportbot discord sync-commands | invite-url`."""

from __future__ import annotations

import asyncio

import click

from supportbot.bot.errors import ConfigurationError


@click.group()
def discord() -> None:
    """Discord helpers: register /support, print the invite URL."""


@discord.command("sync-commands")
@click.option(
    "--guild",
    "guild_id",
    type=int,
    default=None,
    help="Register to this server only (instant); without it, globally (may take up to an hour).",
)
def sync_commands(guild_id: int | None) -> None:
    """Register the /support command group with Discord."""
    from supportbot.adapters.cli_core import _settings
    from supportbot.adapters.discord_bot.commands import sync_commands as sync
    from supportbot.adapters.discord_bot.config import load_discord_config

    settings = _settings()
    try:
        config = load_discord_config(settings)
        synced = asyncio.run(sync(config, guild_id))
    except ConfigurationError as exc:
        raise click.ClickException(str(exc)) from None
    where = f"server {guild_id}" if guild_id else "all servers (global)"
    for command in synced:
        subcommands = ", ".join(o["name"] for o in command.get("options", []))
        click.echo(f"/{command['name']} ({subcommands}) registered for {where}")


@discord.command("invite-url")
@click.option("--client-id", default=None, help="Application id (default: read from DISCORD_TOKEN).")
@click.option("--guild", "guild_id", default=None, help="Preselect this server.")
def invite_url(client_id: str | None, guild_id: str | None) -> None:
    """Print the OAuth2 URL that adds the bot with exactly the scopes and permissions it needs."""
    from supportbot.adapters.cli_core import _settings
    from supportbot.adapters.discord_bot.commands import PERMISSIONS, client_id_from_token, invite_url

    if client_id is None:
        token = _settings().discord_token
        if not token:
            raise click.ClickException("setting DISCORD_TOKEN: is required unless --client-id is given")
        try:
            client_id = client_id_from_token(token)
        except ConfigurationError as exc:
            raise click.ClickException(str(exc)) from None
    click.echo(invite_url(client_id, guild_id))
    click.echo("Permissions: " + ", ".join(name.replace("_", " ") for name in PERMISSIONS), err=True)


def register(group: click.Group) -> None:
    group.add_command(discord)
