"""``supportbot outbox failed|retry``: the dead letters of delivery, and sending them again.

A running bot picks requeued items up on its next outbox pass (every few seconds).
"""

from __future__ import annotations

import asyncio
import json
from typing import TYPE_CHECKING

import click

from supportbot.adapters.cli_core import _settings

if TYPE_CHECKING:
    from supportbot.bot.dispatch import Dispatcher


@click.group("outbox")
def outbox() -> None:
    """Replies and cards the bot gave up delivering (dead letters)."""


@outbox.command("failed")
@click.option("--limit", default=50, show_default=True, type=click.IntRange(1, 10_000))
@click.option("--json", "as_json", is_flag=True, help="One JSON object per line instead of text.")
def failed_cmd(limit: int, as_json: bool) -> None:
    """List failed deliveries, newest first."""
    from supportbot.bot.ports import SystemClock
    from supportbot.bot.support_commands import dead_letter_line

    async def run() -> None:
        dispatcher = _dispatcher()
        try:
            items = await dispatcher.dead_letters(limit)
        finally:
            dispatcher.db.close()
        if not items:
            if not as_json:
                click.echo("nothing failed")
            return
        now = SystemClock().now()
        for item in items:
            if as_json:
                click.echo(
                    json.dumps(
                        {
                            "id": item.id,
                            "kind": item.kind.value,
                            "platform": item.platform,
                            "audience": item.audience.value,
                            "conversation_id": item.conversation_id,
                            "created_at": item.created_at.isoformat(),
                            "attempts": item.attempts,
                            "last_error": item.last_error,
                        }
                    )
                )
            else:
                click.echo(dead_letter_line(item, now))

    asyncio.run(run())


@outbox.command("retry")
@click.argument("ids", nargs=-1)
@click.option("--all", "every", is_flag=True, help="Send every failed item again.")
def retry_cmd(ids: tuple[str, ...], every: bool) -> None:
    """Send failed items again (by id, or --all); each gets a fresh give-up clock."""
    if not ids and not every:
        raise click.UsageError("name the failed items to send again, or pass --all")

    async def run() -> int:
        dispatcher = _dispatcher()
        try:
            return await dispatcher.requeue(None if every else list(ids))
        finally:
            dispatcher.db.close()

    count = asyncio.run(run())
    if not count:
        raise click.ClickException("no failed item with those ids (see supportbot outbox failed)")
    click.echo(f"requeued {count} item{'s' if count != 1 else ''}; a running bot sends them on its next pass")


def _dispatcher() -> Dispatcher:
    from supportbot.adapters.bootstrap import build_database
    from supportbot.bot.dispatch import ChannelRegistry, Dispatcher
    from supportbot.bot.ports import SystemClock

    return Dispatcher(build_database(_settings()), ChannelRegistry(), SystemClock())


def register(group: click.Group) -> None:
    group.add_command(outbox)
