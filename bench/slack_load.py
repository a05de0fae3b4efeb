"""Load test of the Slack adapter in HTTP mode.

Three processes: the bot (SlackService + core on a SQLite file, this process),
the fake Slack Web API (tests/slack/fake_slack.py) and a load generator that
sends N signed Events API requests at a target rate. Prints ack latency
p50/p99, event-to-reply latency p50/p99 (until the fake server receives the
chat.postMessage reply in the customer's thread), sustained throughput, and a
final JSON line.

    python -m bench.slack_load --events 2000 --rate 250
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import hmac
import json
import multiprocessing as mp
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

SECRET = "bench-signing-secret"
CHANNEL, TRIAGE, TEAM = "C_SHARED", "C_TRIAGE", "TSMALL"
QUESTIONS = [
    "How do I download my invoice?",
    "How do I download an invoice PDF?",
    "How do I reset my password?",
    "I forgot my password, how do I reset it?",
]


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    k = max(0, min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1))))
    return ordered[k]


# ----------------------------------------------------------------- fake Slack process
def run_fake(port_queue, users: int) -> None:
    from tests.slack.fake_slack import FakeSlack

    async def main() -> None:
        fake = FakeSlack()
        fake.add_channel(CHANNEL, "customer-support", shared=True)
        fake.add_channel(TRIAGE, "support-triage")
        for i in range(users):
            fake.add_user(f"U_C{i:04d}", TEAM, f"Customer {i}", f"c{i}@small.example")
        await fake.start()
        port_queue.put(fake.port)
        await asyncio.Event().wait()

    asyncio.run(main())


# ----------------------------------------------------------------- load generator process
def run_load(url: str, events: int, rate: float, users: int, concurrency: int, out_queue) -> None:
    import aiohttp

    async def main() -> None:
        acks: list[float] = []
        sent_at: dict[str, float] = {}
        errors = 0
        sem = asyncio.Semaphore(concurrency)
        connector = aiohttp.TCPConnector(limit=concurrency)
        async with aiohttp.ClientSession(connector=connector) as session:

            async def one(i: int) -> None:
                nonlocal errors
                ts = f"{1764147600 + i // 1000}.{i % 1000:06d}"
                body = json.dumps(
                    {
                        "token": "x",
                        "team_id": "T_OURS",
                        "api_app_id": "A_APP",
                        "type": "event_callback",
                        "event_id": f"Ev{i:08d}",
                        "event_time": int(time.time()),
                        "event": {
                            "type": "message",
                            "channel": CHANNEL,
                            "user": f"U_C{i % users:04d}",
                            "text": QUESTIONS[i % len(QUESTIONS)],
                            "ts": ts,
                            "event_ts": ts,
                            "channel_type": "channel",
                            "user_team": TEAM,
                        },
                    }
                )
                stamp = str(int(time.time()))
                sig = hmac.new(SECRET.encode(), f"v0:{stamp}:{body}".encode(), hashlib.sha256).hexdigest()
                headers = {
                    "Content-Type": "application/json",
                    "X-Slack-Request-Timestamp": stamp,
                    "X-Slack-Signature": f"v0={sig}",
                }
                async with sem:
                    start = time.time()
                    sent_at[ts] = start
                    try:
                        async with session.post(url, data=body.encode(), headers=headers) as resp:
                            await resp.read()
                            ok = resp.status == 200
                    except aiohttp.ClientError:
                        ok = False
                    acks.append(time.time() - start)
                    errors += not ok

            begin = time.perf_counter()
            tasks = []
            for i in range(events):
                target = begin + i / rate
                delay = target - time.perf_counter()
                if delay > 0:
                    await asyncio.sleep(delay)
                tasks.append(asyncio.create_task(one(i)))
            await asyncio.gather(*tasks)
            send_seconds = time.perf_counter() - begin
        out_queue.put({"acks": acks, "sent_at": sent_at, "errors": errors, "send_seconds": send_seconds})

    asyncio.run(main())


# ----------------------------------------------------------------- the bot (this process)
async def run_bot(args: argparse.Namespace, api_url: str, workdir: Path) -> dict[str, Any]:
    import aiohttp

    from supportbot.adapters.bootstrap import bootstrap, build_classifier
    from supportbot.adapters.settings import load_settings
    from supportbot.adapters.slack.service import SlackService
    from supportbot.bot.errors import ConfigurationError

    settings = load_settings(
        database_url=f"sqlite:///{workdir / 'bench.db'}",
        slack_bot_token="xoxb-bench",
        slack_signing_secret=SECRET,
        slack_api_url=api_url,
        slack_triage_channel=TRIAGE,
        http_host="127.0.0.1",
        # the fake Web API has no rate limits; real Slack allows about 1 post per second per channel
        slack_post_per_second=10_000,
        slack_post_burst=10_000,
        grouping_window_seconds=0,
        log_level="WARNING",
    )
    try:
        classifier = build_classifier(settings)
        classifier_name = f"bundled model ({settings.model_dir})"
    except ConfigurationError:
        from tests.fakes.core import FakeClassifier

        classifier = FakeClassifier()
        classifier_name = "FakeClassifier (no bundled model on this branch)"
    app = bootstrap(settings, classifier=classifier)
    service = SlackService(app.core, settings, port=0)
    app.core.channels.add(service.channel)
    await service.start()
    url = f"http://127.0.0.1:{service.bound_port}/slack/events"
    cpu_start = time.process_time()
    out: mp.Queue = mp.Queue()
    loader = mp.Process(target=run_load, args=(url, args.events, args.rate, args.users, args.concurrency, out))
    loader.start()
    while loader.is_alive() and out.empty():
        await asyncio.sleep(0.05)
    load = out.get(timeout=60)
    loader.join(10)
    # Wait until every event has been processed and its reply posted (bounded).
    await service.drain(args.timeout)
    for _ in range(50):
        stats = await app.core.dispatch_outbox()
        if stats.sent == 0:
            break
    cpu_seconds = time.process_time() - cpu_start  # the bot process: every thread
    async with aiohttp.ClientSession() as session, session.get(api_url.replace("/api/", "/_calls")) as resp:
        calls = await resp.json()
    await service.stop()
    replies: dict[str, float] = {}
    for call in calls:
        p = call["params"]
        if call["method"] == "chat.postMessage" and call["status"] == 200 and p.get("channel") == CHANNEL:
            replies.setdefault(p.get("thread_ts", ""), call["at"])
    latencies = [replies[ts] - sent for ts, sent in load["sent_at"].items() if ts in replies]
    first_send = min(load["sent_at"].values())
    last_reply = max(replies.values()) if replies else first_send
    acks = load["acks"]
    return {
        "events": args.events,
        "target_rate": args.rate,
        "classifier": classifier_name,
        "http_errors": load["errors"],
        "replies": len(latencies),
        "ack_p50_ms": round(statistics.median(acks) * 1000, 2),
        "ack_p90_ms": round(percentile(acks, 90) * 1000, 2),
        "ack_p99_ms": round(percentile(acks, 99) * 1000, 2),
        "ack_max_ms": round(max(acks) * 1000, 2),
        "reply_p50_ms": round(statistics.median(latencies) * 1000, 2) if latencies else None,
        "reply_p99_ms": round(percentile(latencies, 99) * 1000, 2) if latencies else None,
        "send_seconds": round(load["send_seconds"], 2),
        "ack_throughput_per_s": round(args.events / load["send_seconds"], 1),
        "sustained_throughput_per_s": round(len(latencies) / max(last_reply - first_send, 1e-9), 1),
        "web_api_calls": len(calls),
        "bot_cpu_ms_per_event": round(cpu_seconds / args.events * 1000, 2),
        "write_transactions_per_event": round(app.core.db.transactions / args.events, 2),  # type: ignore[attr-defined]
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=2000)
    parser.add_argument("--rate", type=float, default=250.0, help="events per second offered")
    parser.add_argument("--users", type=int, default=50, help="distinct customers")
    parser.add_argument("--concurrency", type=int, default=64, help="open requests at most")
    parser.add_argument("--timeout", type=float, default=300.0)
    parser.add_argument("--profile", default=None, help="write a cProfile of the bot's main thread here")
    args = parser.parse_args()
    ctx_queue: mp.Queue = mp.Queue()
    fake = mp.Process(target=run_fake, args=(ctx_queue, args.users), daemon=True)
    fake.start()
    try:
        port = ctx_queue.get(timeout=30)
        with tempfile.TemporaryDirectory() as tmp:
            api_url = f"http://127.0.0.1:{port}/api/"
            if args.profile:
                import cProfile

                with cProfile.Profile() as profile:
                    result = asyncio.run(run_bot(args, api_url, Path(tmp)))
                profile.dump_stats(args.profile)
            else:
                result = asyncio.run(run_bot(args, api_url, Path(tmp)))
    finally:
        fake.terminate()
        fake.join(5)
    print(f"classifier:          {result['classifier']}")
    print(
        f"events:              {result['events']} offered at {result['target_rate']:g}/s "
        f"({result['http_errors']} HTTP errors, {result['replies']} replies)"
    )
    print(
        f"ack latency:         p50 {result['ack_p50_ms']} ms, p90 {result['ack_p90_ms']} ms, "
        f"p99 {result['ack_p99_ms']} ms, max {result['ack_max_ms']} ms"
    )
    print(f"event-to-reply:      p50 {result['reply_p50_ms']} ms, p99 {result['reply_p99_ms']} ms")
    print(
        f"throughput:          {result['ack_throughput_per_s']} events/s acked, "
        f"{result['sustained_throughput_per_s']} events/s answered end to end"
    )
    print(
        f"bot cost:            {result['bot_cpu_ms_per_event']} ms CPU and "
        f"{result['write_transactions_per_event']} write transactions per event"
    )
    print(json.dumps(result))
    sys.exit(0 if result["http_errors"] == 0 and result["replies"] == result["events"] else 1)


if __name__ == "__main__":
    main()
