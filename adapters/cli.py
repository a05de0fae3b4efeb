"""The ``supportbot`` command line. Each feature registers its own commands."""

from __future__ import annotations

import importlib

import click

from bot import __version__

# Each module has ``register(group)``; order is the order of `supportbot --help`.
COMMAND_MODULES = (
    "adapters.cli_core",
    "adapters.cli_classifier",
    "adapters.cli_ops",
    "adapters.cli_slack",
    "adapters.cli_discord",
    "adapters.cli_playground",
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
