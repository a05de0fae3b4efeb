"""Soak: an hour of trouble in a few minutes, against a real ``supportbot run`` process.

The bot runs in Slack HTTP mode against the fake Slack Web API and asks a fake
HubSpot (both on loopback, in this process) about every customer. Phases:

1. steady traffic;
2. a burst of questions at once;
3. a storm of 429s on chat.postMessage while questions keep coming;
4. ``kill -9`` in the middle of a burst, restart (Slack re-sends what got no 200);
5. a CRM that drips a byte every 3 s, then answers 503s, while questions keep coming;
6. ``kill -9`` while replies are being posted, restart.

It then waits for every reply and prints: questions, replies, lost, doubled,
posts of one outbound item more than once, p50/p99 event-to-reply, and a JSON line.

    python -m bench.soak            # about 4 minutes
    python -m bench.soak --scale 3  # three times the questions, same phases
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

from tests.crm import fake_hubspot as hs
from tests.slack.live import BotProcess, Sender, Tally, fake_slack, wait_for_replies


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[max(0, min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1))))] if ordered else float("nan")


def say(text: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {text}", file=sys.stderr, flush=True)


async def soak(args: argparse.Namespace, workdir: Path) -> dict[str, object]:
    users = 60
    fake = fake_slack(users)
    await fake.start()
    crm = hs.FakeHubSpot()
    await crm.start()
    bot = BotProcess(
        workdir,
        fake.api_url,
        f"sqlite:///{workdir / 'soak.db'}",
        env={
            "SUPPORTBOT_CRM": "hubspot",
            "HUBSPOT_ACCESS_TOKEN": hs.TOKEN,
            "SUPPORTBOT_HUBSPOT_API_URL": crm.url,
            "SUPPORTBOT_CRM_CACHE_SECONDS": "20",  # so the CRM is asked all through the run
            "SUPPORTBOT_DELIVERY_CLAIM_SECONDS": "10",
        },
    )
    sender = Sender(users=users)
    n = 0

    def batch(count: int) -> list[str]:
        nonlocal n
        stamps = [sender.question(n + i) for i in range(count)]
        n += count
        return stamps

    scale = args.scale
    restarts = 0
    started = time.monotonic()
    try:
        await bot.start()
        say("1. steady traffic")
        await sender.send(bot.events_url, batch(60 * scale), rate=10)

        say("2. a burst")
        await sender.send(bot.events_url, batch(150 * scale))

        say(f"3. a {args.storm:.0f} s storm of 429s on chat.postMessage, questions keep coming")
        fake.storm("chat.postMessage", seconds=args.storm, retry_after=1)
        await sender.send(bot.events_url, batch(int(args.storm * 2 * scale)), rate=2 * scale)

        say("4. kill -9 in the middle of a burst, restart")
        burst = asyncio.create_task(sender.send(bot.events_url, batch(150 * scale), rate=100))
        await asyncio.sleep(0.7)
        bot.kill()
        await burst
        await bot.start()
        restarts += 1
        await sender.send(bot.events_url, sender.unacknowledged())

        say("5. the CRM drips a byte every 3 s, then answers 503s")
        crm.drips["/crm"] = 3.0
        await sender.send(bot.events_url, batch(20 * scale), rate=1 * scale)
        crm.drips.clear()
        crm.fail("/crm", 503, times=10_000)
        await sender.send(bot.events_url, batch(20 * scale), rate=1 * scale)
        crm.faults.clear()

        say("6. kill -9 while replies are posted, restart")
        pending = batch(100 * scale)
        await sender.send(bot.events_url, pending)
        deadline = time.monotonic() + 60
        while len([ts for ts in pending if Tally.of(fake).answers[ts]]) < 20 and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        bot.kill()
        await bot.start()
        restarts += 1
        await sender.send(bot.events_url, sender.unacknowledged())

        questions = list(sender.bodies)
        say(f"waiting for the replies to {len(questions)} questions")
        tally = await wait_for_replies(fake, questions, timeout=args.timeout)
        await asyncio.sleep(2.0)  # a late duplicate would show up now
        tally = Tally.of(fake)
    finally:
        bot.stop()
        await crm.stop()
        await fake.stop()
    if tally.lost(questions):
        explain_lost(workdir / "soak.db", tally.lost(questions))
    latencies = [tally.first_reply_at[ts] - sender.sent_at[ts] for ts in questions if ts in tally.first_reply_at]
    limited = len([c for c in fake.calls if c.status == 429])
    return {
        "questions": len(questions),
        "replies": len([ts for ts in questions if tally.answers[ts]]),
        "lost": len(tally.lost(questions)),
        "doubled": len(tally.doubled(questions)),
        "posted_twice": len(tally.posted_twice),
        "unacknowledged_at_end": len(sender.unacknowledged()),
        "slack_retries_sent": sum(sender.retries.values()),
        "restarts": restarts,
        "rate_limited_calls": limited,
        "crm_requests": len(crm.seen),
        "reply_p50_s": round(statistics.median(latencies), 2) if latencies else None,
        "reply_p99_s": round(percentile(latencies, 99), 2) if latencies else None,
        "wall_seconds": round(time.monotonic() - started, 1),
    }


def explain_lost(db: Path, stamps: list[str]) -> None:
    """Where the unanswered questions are stuck: their message state and their outbox items."""
    import sqlite3

    con = sqlite3.connect(db)
    for ts in stamps[:10]:
        row = con.execute(
            "SELECT id, state, conversation_id, error FROM messages WHERE external_id = ?", (ts,)
        ).fetchone()
        items = []
        if row and row[2]:
            items = con.execute(
                "SELECT kind, audience, status, attempts, last_error FROM outbox WHERE conversation_id = ?", (row[2],)
            ).fetchall()
        say(f"lost {ts}: message {row}; outbox {items}")
    con.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scale", type=int, default=1, help="multiplies the questions of every phase")
    parser.add_argument("--storm", type=float, default=30.0, help="seconds of 429s in phase 3")
    parser.add_argument("--timeout", type=float, default=300.0, help="seconds to wait for the last replies")
    parser.add_argument("--keep", type=Path, help="keep the database and the bot's logs in this folder")
    args = parser.parse_args()
    if args.keep:
        args.keep.mkdir(parents=True, exist_ok=True)
        result = asyncio.run(soak(args, args.keep))
    else:
        with tempfile.TemporaryDirectory() as tmp:
            result = asyncio.run(soak(args, Path(tmp)))
    print(f"questions        {result['questions']}")
    print(f"replies          {result['replies']}")
    print(f"lost             {result['lost']}")
    print(f"doubled          {result['doubled']}  (one outbound posted twice: {result['posted_twice']})")
    print(f"restarts         {result['restarts']} (kill -9), Slack retries sent {result['slack_retries_sent']}")
    print(f"429s answered    {result['rate_limited_calls']}, CRM requests {result['crm_requests']}")
    print(f"event-to-reply   p50 {result['reply_p50_s']} s, p99 {result['reply_p99_s']} s")
    print(f"wall time        {result['wall_seconds']} s")
    print(json.dumps({"bench": "soak", **result}))
    sys.exit(1 if result["lost"] or result["doubled"] or result["posted_twice"] else 0)


if __name__ == "__main__":
    main()
