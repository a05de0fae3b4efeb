"""The ``supportbot`` command line: every command group, imported explicitly.

A failure is one line on stderr naming what to fix, with a non-zero exit; ``--debug`` (before the
command: ``supportbot --debug run``) shows the full traceback instead.
"""

from __future__ import annotations

from typing import Any

import click

from supportbot.adapters import (
    cli_classifier,
    cli_core,
    cli_crm,
    cli_cxops,
    cli_discord,
    cli_ops,
    cli_outbox,
    cli_playground,
    cli_slack,
)
from supportbot.bot import __version__
from supportbot.bot.errors import ConfigurationError


def explain(exc: BaseException) -> str:
    """One line for an error a user can act on."""
    from supportbot.adapters.bootstrap import database_problem

    if isinstance(exc, ConfigurationError):
        return str(exc)
    problem = database_problem(exc)
    if problem is not None:
        return str(problem)
    lines = str(exc).strip().splitlines()
    detail = f": {lines[0]}" if lines else ""
    return f"{type(exc).__name__}{detail} (run `supportbot --debug ...` for the traceback)"


class SupportbotGroup(click.Group):
    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except (click.exceptions.ClickException, click.exceptions.Exit, click.exceptions.Abort):
            raise
        except KeyboardInterrupt:
            raise click.exceptions.Exit(130) from None
        except Exception as exc:
            if ctx.meta.get("supportbot.debug"):
                raise
            raise click.ClickException(explain(exc)) from None


@click.group(cls=SupportbotGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="supportbot")
@click.option("--debug", is_flag=True, help="Show full tracebacks instead of one-line errors.")
@click.pass_context
def main(ctx: click.Context, debug: bool) -> None:
    """supportbot: a self-hosted support bot for Slack Connect and Discord."""
    ctx.meta["supportbot.debug"] = debug


# the order of `supportbot --help`
for module in (
    cli_core,
    cli_classifier,
    cli_cxops,
    cli_ops,
    cli_outbox,
    cli_crm,
    cli_slack,
    cli_discord,
    cli_playground,
):
    module.register(main)


if __name__ == "__main__":
    main()
