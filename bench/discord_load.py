"""Load test of the Discord adapter: questions through the fake gateway -> replies over REST.

    python bench/discord_load.py [--messages 300] [--rate 0] [--classifier fake|real]

The fake Discord (tests/discord_bot/fake_discord.py) runs in a separate process;
this process runs the real adapter (discord.py client, core, SQLite storage).
Each question comes from a different member of a support text channel, so each
one is its own conversation: the bot reacts, opens a thread on the question,
posts the mirror card and thread in triage, and answers in the question's thread.
Latency is measured inside the fake (one clock): from the MESSAGE_CREATE it sends
to the bot's first successful POST into the question's thread. ``--rate 0``
sends everything at once (throughput); ``--rate N`` paces N questions a second
(latency under a steady load). The last line printed is one JSON object.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import aiohttp

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from supportbot.adapters.bootstrap import bootstrap  # noqa: E402
from supportbot.adapters.discord_bot.service import DiscordService  # noqa: E402
from supportbot.adapters.settings import load_settings  # noqa: E402
from supportbot.bot.knowledge import MarkdownKnowledgeBase  # noqa: E402
from supportbot.storage import SqlUnitOfWorkFactory, upgrade  # noqa: E402
from tests.conftest import write_kb  # noqa: E402
from tests.fakes.core import FakeClassifier  # noqa: E402

QUESTION = "How do I download my invoice for order {n}?"


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * len(ordered)) - 1))]


async def run(args: argparse.Namespace) -> dict:
    fake = subprocess.Popen(
        [sys.executable, "-m", "tests.discord_bot.fake_discord"], cwd=REPO, stdout=subprocess.PIPE, text=True
    )
    try:
        info = json.loads(fake.stdout.readline())  # type: ignore[union-attr]
        with tempfile.TemporaryDirectory() as tmp:
            settings = load_settings(
                database_url=f"sqlite:///{tmp}/bench.db",
                kb_dir=write_kb(Path(tmp) / "kb"),
                crm_file=None,
                discord_token=info["token"],
                discord_api_url=info["api_url"],
                discord_support_channels=f"{info['forum_id']},{info['text_id']}",
                discord_triage_channel=info["triage_id"],
                discord_agent_role=info["agent_role"],
                discord_manager_role=info["manager_role"],
                log_level="WARNING",
            )
            upgrade(settings.database_url)
            classifier = FakeClassifier() if args.classifier == "fake" else None
            app = bootstrap(
                settings,
                uow=SqlUnitOfWorkFactory(settings.database_url),
                classifier=classifier,
                kb=MarkdownKnowledgeBase(settings.kb_dir),
            )
            service = DiscordService(app.core, settings, ready_timeout=30, guild_ready_timeout=0.1)
            app.core.channels.add(service.channel)
            await service.start()
            try:
                return await drive(info, args, app)
            finally:
                await service.stop()
    finally:
        fake.terminate()
        fake.wait(timeout=10)


async def drive(info: dict, args: argparse.Namespace, app) -> dict:
    control = info["api_url"].rsplit("/api/", 1)[0] + "/_fake/"
    async with aiohttp.ClientSession() as http:
        ids: list[str] = []
        started = time.monotonic()
        batch = 1 if args.rate else args.messages
        for first in range(0, args.messages, batch):
            contents = [QUESTION.format(n=n) for n in range(first, min(first + batch, args.messages))]
            async with http.post(
                control + "customer_messages",
                json={"contents": contents, "channel_id": info["text_id"], "distinct_authors": True},
            ) as response:
                ids += (await response.json())["ids"]
            if args.rate:
                await asyncio.sleep(max(0.0, started + len(ids) / args.rate - time.monotonic()))
        deadline = time.monotonic() + args.timeout
        latencies: dict[str, float] = {}
        last_change = time.monotonic()
        while time.monotonic() < deadline:
            async with http.get(control + "latencies") as response:
                current = {k: v for k, v in (await response.json()).items() if k in set(ids)}
            if len(current) != len(latencies):
                latencies, last_change = current, time.monotonic()
            if len(latencies) == len(ids):
                break
            # no new reply for a second: check (rarely, it reads the database) whether the rest were drafted
            if time.monotonic() - last_change > 1.0 and settled(app, len(ids)):
                break
            await asyncio.sleep(0.1)
        elapsed = time.monotonic() - started
    values = list(latencies.values())
    return {
        "benchmark": "discord_load",
        "messages": len(ids),
        "replied": len(values),
        "without_customer_reply": len(ids) - len(values),
        "rate": args.rate or "burst",
        "classifier": args.classifier,
        "throughput_msg_per_s": round(len(values) / max(max(values, default=0.0), 1e-9), 1)
        if not args.rate
        else round(len(values) / elapsed, 1),
        "p50_ms": round(statistics.median(values) * 1000, 1) if values else None,
        "p99_ms": round(percentile(values, 99) * 1000, 1) if values else None,
        "max_ms": round(max(values) * 1000, 1) if values else None,
    }


def settled(app, expected: int) -> bool:
    """Every question processed and nothing left to send: a question without a reply in its
    thread got a draft for review instead (no customer-visible post), not a lost reply."""
    from supportbot.bot.domain import MessageKind, MessageState, OutboxStatus

    with app.uow() as uow:
        customer = [m for m in uow.messages.list() if m.kind is MessageKind.CUSTOMER]
        pending = [o for o in uow.outbox.list() if o.status is OutboxStatus.PENDING]
    return len(customer) >= expected and not pending and all(m.state is not MessageState.RECEIVED for m in customer)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=300)
    parser.add_argument("--rate", type=float, default=0.0, help="questions per second; 0 sends all at once")
    parser.add_argument(
        "--classifier",
        choices=("fake", "real"),
        default="fake",
        help="fake: keyword classifier (isolates the adapter); real: the bundled model",
    )
    parser.add_argument("--timeout", type=float, default=300.0)
    args = parser.parse_args()
    logging.basicConfig(level=logging.ERROR)
    result = asyncio.run(run(args))
    print(
        f"{result['replied']}/{result['messages']} questions got a reply in their thread ({result['rate']}; "
        f"{result['without_customer_reply']} drafted for review): "
        f"throughput {result['throughput_msg_per_s']} msg/s, event-to-reply p50 {result['p50_ms']} ms, "
        f"p99 {result['p99_ms']} ms, max {result['max_ms']} ms"
    )
    print(json.dumps(result))


if __name__ == "__main__":
    main()
