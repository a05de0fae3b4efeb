"""Storage cost per inbound message: N customer questions through the real core
on a SQL database, counting the SQL statements and transactions each one runs
(receipt, processing and delivering its four posts).

    python bench/storage.py [--url sqlite:////tmp/bench_storage.db] [-n 200] [--runs 5]

A ``sqlite:////path`` database is deleted first. Prints one line per run and
ends with one JSON line (medians over the runs of the per-message medians).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import sqlalchemy as sa

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from supportbot.adapters.bootstrap import bootstrap  # noqa: E402
from supportbot.adapters.settings import load_settings  # noqa: E402
from supportbot.bot.domain import Author, InboundMessage, Role  # noqa: E402
from tests.fakes.core import FakeChannel  # noqa: E402

QUESTIONS = (
    "how do I download my invoices?",
    "webhook deliveries are failing",
    "how do I reset my password",
    "our dashboards are slow",
)


async def send(app, n: int, wall: list[float], cpu: list[float]) -> None:
    for i in range(n):
        message = InboundMessage(
            "bench",
            "local",
            f"c{time.time_ns()}",
            f"m{time.time_ns()}",
            Author(f"u{i}", "u", Role.CUSTOMER),
            QUESTIONS[i % len(QUESTIONS)],
            datetime.now(UTC),
            account_id="acc_demo",
        )
        t, c = time.perf_counter(), time.process_time()
        await app.core.handle_inbound(message)
        wall.append(time.perf_counter() - t)
        cpu.append(time.process_time() - c)  # every thread: the units of work run on worker threads


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--url", default="sqlite:////tmp/bench_storage.db")
    parser.add_argument("-n", type=int, default=200)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    if args.url.startswith("sqlite:////"):
        for suffix in ("", "-wal", "-shm"):
            Path(args.url[len("sqlite:///") :] + suffix).unlink(missing_ok=True)

    app = bootstrap(load_settings(database_url=args.url), channels=(FakeChannel("bench"),))
    db = app.core.db
    statements = [0]
    sa.event.listen(app.uow.engine, "before_cursor_execute", lambda *a: statements.__setitem__(0, statements[0] + 1))
    asyncio.run(send(app, 20, [], []))  # warm up caches

    walls, cpus, per_message = [], [], 0.0
    for run in range(args.runs):
        wall: list[float] = []
        cpu: list[float] = []
        before, writes, reads = statements[0], db.transactions, db.reads  # type: ignore[attr-defined]
        asyncio.run(send(app, args.n, wall, cpu))
        per_message = (statements[0] - before) / args.n
        writes_per_message = (db.transactions - writes) / args.n  # type: ignore[attr-defined]
        reads_per_message = (db.reads - reads) / args.n  # type: ignore[attr-defined]
        walls.append(statistics.median(wall))
        cpus.append(statistics.median(cpu))
        print(
            f"run {run + 1}: median {walls[-1] * 1000:.2f} ms wall, {cpus[-1] * 1000:.2f} ms cpu, "
            f"{1 / walls[-1]:.1f} msgs/s, {per_message:.1f} statements/message, "
            f"{writes_per_message:.1f} write + {reads_per_message:.1f} read transactions/message"
        )
    wall_ms = statistics.median(walls) * 1000
    print(
        json.dumps(
            {
                "url": app.uow.engine.url.render_as_string(hide_password=True),
                "n": args.n,
                "runs": args.runs,
                "median_ms": round(wall_ms, 2),
                "cpu_median_ms": round(statistics.median(cpus) * 1000, 2),
                "msgs_per_s": round(1000 / wall_ms, 1),
                "statements_per_message": per_message,
                "write_transactions_per_message": writes_per_message,
                "read_units_per_message": reads_per_message,
            }
        )
    )


if __name__ == "__main__":
    main()
