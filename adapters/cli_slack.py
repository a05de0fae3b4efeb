"""`supportbot slack manifest`: the Slack app manifest for this adapter."""

from __future__ import annotations

import click


@click.group()
def slack() -> None:
    """Slack adapter tools."""


@slack.command()
@click.option(
    "--socket-mode/--http",
    "socket_mode",
    default=True,
    show_default=True,
    help="Socket Mode (no public URL needed) or the HTTP Events API.",
)
@click.option("--url", default=None, help="Public base URL of the bot in HTTP mode, e.g. https://bot.example.com")
@click.option("--name", default="supportbot", show_default=True, help="App and bot user name.")
def manifest(socket_mode: bool, url: str | None, name: str) -> None:
    """Print the Slack app manifest (YAML): paste it at api.slack.com/apps → Create New App → From a manifest."""
    from supportbot.adapters.slack.manifest import manifest_yaml

    try:
        click.echo(manifest_yaml(socket_mode=socket_mode, url=url, name=name), nl=False)
    except ValueError as exc:
        raise click.UsageError(str(exc)) from None


def register(group: click.Group) -> None:
    group.add_command(slack)
