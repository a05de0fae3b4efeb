"""The ``supportbot`` command line. Each feature registers its own commands."""

from __future__ import annotations

import click

from bot import __version__


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="supportbot")
def main() -> None:
    """supportbot: a self-hosted support bot for Slack Connect and Discord."""


def _register_commands() -> None:
    from adapters import cli_classifier, cli_core, cli_slack

    for module in (cli_core, cli_classifier, cli_slack):
        module.register(main)


_register_commands()


if __name__ == "__main__":
    main()
