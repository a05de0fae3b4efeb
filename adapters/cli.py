"""The ``supportbot`` command line. Each feature registers its own commands."""

from __future__ import annotations

import importlib

import click

from supportbot.bot import __version__

# Each module has ``register(group)``; order is the order of `supportbot --help`.
COMMAND_MODULES = (
    "supportbot.adapters.cli_core",
    "supportbot.adapters.cli_classifier",
    "supportbot.adapters.cli_ops",
    "supportbot.adapters.cli_slack",
    "supportbot.adapters.cli_discord",
    "supportbot.adapters.cli_playground",
    "supportbot.adapters.cli_crm",
)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="supportbot")
def main() -> None:
    """supportbot: a self-hosted support bot for Slack Connect and Discord."""


def _register_commands() -> None:
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(main)


_register_commands()


if __name__ == "__main__":
    main()
