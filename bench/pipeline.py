"""End-to-end decisions on the held-out example questions: how often the bot
answers on its own, how often such an answer is about the wrong intent, and
how long one message takes through the whole pipeline (in-memory SQLite).

    python bench/pipeline.py [--account acc_demo] [--data bot/example/intents_heldout.csv]

Prints a table and ends with one JSON line.
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import json
import statistics
import sys
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from supportbot.adapters.bootstrap import bootstrap  # noqa: E402
from supportbot.adapters.settings import load_settings
from supportbot.bot.domain import OUT_OF_SCOPE, Author, InboundMessage, Role  # noqa: E402
from supportbot.bot.settings import EXAMPLE_DIR  # noqa: E402


async def run(rows: list[dict[str, str]], account: str | None) -> dict[str, object]:
    app = bootstrap(load_settings(database_url="sqlite://"))
    rules: Counter[str] = Counter()
    actions: Counter[str] = Counter()
    answered = wrong = oos_answered = 0
    latencies: list[float] = []
    for i, row in enumerate(rows):
        message = InboundMessage(
            platform="bench",
            workspace_id="local",
            channel_id=f"c{i}",
            message_id=f"m{i}",
            author=Author(f"u{i}", "Customer", Role.CUSTOMER),
            text=row["text"],
            sent_at=datetime.now(UTC),
            account_id=account,
        )
        started = time.perf_counter()
        result = await app.core.handle_inbound(message, dispatch=False)
        latencies.append((time.perf_counter() - started) * 1000)
        if result.decision is None:
            rules[result.status] += 1
            continue
        rules[result.decision.rule] += 1
        actions[result.decision.action.value] += 1
        if result.decision.action.value == "answer":
            answered += 1
            if row["intent"] == OUT_OF_SCOPE:
                oos_answered += 1
            if result.classification.intent != row["intent"]:
                wrong += 1
    latencies.sort()
    return {
        "messages": len(rows),
        "account": account,
        "answered": answered,
        "answer_rate": round(answered / len(rows), 4),
        "answer_precision": round(1 - wrong / answered, 4) if answered else None,
        "wrong_answers": wrong,
        "out_of_scope_answered": oos_answered,
        "actions": dict(actions),
        "rules": dict(rules.most_common()),
        "latency_ms_p50": round(statistics.median(latencies), 2),
        "latency_ms_p99": round(latencies[int(0.99 * (len(latencies) - 1))], 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=EXAMPLE_DIR / "intents_heldout.csv")
    parser.add_argument("--account", default="acc_demo", help="CRM account id (tier matters); '' for none")
    args = parser.parse_args()
    with args.data.open(encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    report = asyncio.run(run(rows, args.account or None))
    print(f"held-out messages:       {report['messages']} (account {report['account']})")
    print(f"answered automatically:  {report['answered']} ({report['answer_rate']:.1%})")
    print(
        f"answer precision:        {report['answer_precision']} ({report['wrong_answers']} about the wrong intent, "
        f"{report['out_of_scope_answered']} out of scope)"
    )
    print(f"actions:                 {report['actions']}")
    print(f"rules:                   {report['rules']}")
    print(f"latency per message:     p50 {report['latency_ms_p50']} ms, p99 {report['latency_ms_p99']} ms")
    print(json.dumps({"bench": "pipeline", **report}))


if __name__ == "__main__":
    main()
