"""`supportbot playground`: the browser playground, also beside real channels."""

from __future__ import annotations

import asyncio

import click

from supportbot.bot.errors import ConfigurationError


@click.command()
@click.option("--host", default=None, help="Address to bind (default SUPPORTBOT_PLAYGROUND_HOST, 127.0.0.1).")
@click.option("--port", type=int, default=None, help="Port (default SUPPORTBOT_PLAYGROUND_PORT, 8080; 0 picks one).")
def playground(host: str | None, port: int | None) -> None:
    """Serve the browser playground (customer pane + agent console) plus every configured channel."""
    from supportbot.adapters.cli_core import _bootstrap, _logging, _settings
    from supportbot.adapters.playground.security import check_binding
    from supportbot.adapters.runtime import serve

    overrides: dict = {"playground_enabled": True}
    if host is not None:
        overrides["playground_host"] = host
    if port is not None:
        overrides["playground_port"] = port
    settings = _settings(**overrides)
    try:
        check_binding(settings.playground_host, settings.playground_token)  # before loading anything
    except ConfigurationError as exc:
        raise click.ClickException(str(exc)) from None
    _logging(settings)
    app = _bootstrap(settings, serve=True)
    try:
        asyncio.run(serve(app))
    except ConfigurationError as exc:  # e.g. a model that fails its checks while loading
        raise click.ClickException(str(exc)) from None


def register(group: click.Group) -> None:
    group.add_command(playground)
