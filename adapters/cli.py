"""The ``supportbot`` command line: every command group, imported explicitly."""

from __future__ import annotations

import click

from supportbot.adapters import (
    cli_classifier,
    cli_core,
    cli_crm,
    cli_cxops,
    cli_discord,
    cli_ops,
    cli_playground,
    cli_slack,
)
from supportbot.bot import __version__


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="supportbot")
def main() -> None:
    """supportbot: a self-hosted support bot for Slack Connect and Discord."""


# the order of `supportbot --help`
for module in (cli_core, cli_classifier, cli_cxops, cli_ops, cli_crm, cli_slack, cli_discord, cli_playground):
    module.register(main)


if __name__ == "__main__":
    main()
