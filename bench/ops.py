"""The CX-ops loop at scale: simulate 10,000 tickets, find the gaps among 10,000 stored questions,
and how well planted topics come out.

    python bench/ops.py [--tickets 10000] [--workers 2] [--account acc_demo]

1. **simulate**: 10,000 distinct tickets (the held-out example questions in different openings and
   closings, plus the planted questions of ``bench/data/gap_topics.json``) through the bundled model,
   knowledge base and policy with ``bot.simulate.simulate`` (as ``supportbot simulate`` runs it);
   tickets/s, target <= 60 s.
2. **gaps**: the same 10,000 tickets stored as conversations with the decision the simulation made,
   then ``supportbot gaps``'s code over them (read + embeddings + clustering); target <= 30 s.
3. **planted topics**: for each, recall (share of its questions in the topic that holds most of
   them; a planted question the bot answered is lost too) and purity (share of that topic's questions
   that are planted ones of this topic). Nothing here was used to choose a threshold.

Prints a table and ends with one JSON line.
"""

from __future__ import annotations

import argparse
import csv
import json
import random
import sys
import tempfile
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from supportbot.adapters.bootstrap import bootstrap  # noqa: E402
from supportbot.adapters.settings import load_settings  # noqa: E402
from supportbot.bot.domain import (  # noqa: E402
    AccountLookup,
    Action,
    Conversation,
    Decision,
    DecisionRecord,
    MessageKind,
    Role,
    StoredMessage,
    new_id,
)
from supportbot.bot.gaps import find_gaps, shared_encoder, unanswered  # noqa: E402
from supportbot.bot.settings import EXAMPLE_DIR  # noqa: E402
from supportbot.bot.simulate import Ticket, simulate  # noqa: E402

HERE = Path(__file__).resolve().parent
OPENINGS = [
    "",
    "Hi, ",
    "Hello team, ",
    "Hey! ",
    "Quick question: ",
    "Good morning, ",
    "Hi there - ",
    "Sorry to bother, ",
]
CLOSINGS = ["", " Thanks!", " Thank you.", " Cheers", " Any idea?", " Please advise.", " Thx", " (urgent-ish)"]


def tickets(n: int, seed: int = 0) -> tuple[list[Ticket], dict[int, str]]:
    """n distinct tickets and, for planted ones, their topic (index -> topic)."""
    rng = random.Random(seed)
    rows = list(csv.DictReader((EXAMPLE_DIR / "intents_heldout.csv").open(encoding="utf-8")))
    planted = json.loads((HERE / "data" / "gap_topics.json").read_text(encoding="utf-8"))["topics"]
    out: list[Ticket] = []
    topic_of: dict[int, str] = {}
    for topic, questions in planted.items():
        for q in questions:
            topic_of[len(out)] = topic
            out.append(Ticket(q, "out_of_scope"))
    seen = {t.text for t in out}
    variants = [(o, r, c) for o in OPENINGS for r in rows for c in CLOSINGS]
    rng.shuffle(variants)
    for opening, row, closing in variants:
        if len(out) >= n:
            break
        text = f"{opening}{row['text'][:1].lower() if opening else row['text'][:1]}{row['text'][1:]}{closing}"
        if text not in seen:
            seen.add(text)
            out.append(Ticket(text, row["intent"]))
    rng.shuffle(order := list(range(len(out))))
    return [out[i] for i in order], {order.index(i): t for i, t in topic_of.items()}


def store(app, sim, ticket_list: list[Ticket], now: datetime) -> None:
    """Every ticket as a conversation with its customer message, classification and the simulated decision."""
    with app.uow() as uow:
        for i, (ticket, outcome) in enumerate(zip(ticket_list, sim.outcomes, strict=True)):
            if outcome.action is None:
                continue
            at = now - timedelta(minutes=len(ticket_list) - i)
            conv = Conversation(
                new_id("conv"), "bench", "w", "c", f"t{i}", f"u{i}", None, at, at, intent=outcome.predicted
            )
            uow.conversations.save(conv)
            msg = StoredMessage(
                new_id("msg"), "bench", "w", "c", f"e{i}", conv.id, f"u{i}", "Customer", Role.CUSTOMER,
                MessageKind.CUSTOMER, ticket.text, at,
            )  # fmt: skip
            uow.messages.add(msg)
            decision = Decision(Action(outcome.action), outcome.rule or "", "bench")
            uow.decisions.add(DecisionRecord(new_id("dec"), conv.id, msg.id, decision, None, at))
        uow.commit()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--tickets", type=int, default=10_000)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--account", default="acc_demo")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{Path(tmp) / 'bench.db'}"
        app = bootstrap(load_settings(database_url=url))
        core = app.core
        core.classifier.labels()  # load the model before timing
        import asyncio

        account = asyncio.run(core.crm.find_account(AccountLookup(account_id=args.account)))
        ticket_list, topic_of = tickets(args.tickets)
        t0 = time.perf_counter()
        sim = simulate(
            core.triage,
            ticket_list,
            account=account,
            overrides={},
            labels=core.classifier.labels(),
            oos_labels=["out_of_scope"],
            encode_jobs=args.workers,
            workers=args.workers,
        )
        sim_s = time.perf_counter() - t0
        now = datetime.now(UTC)
        store(app, sim, ticket_list, now)
        t1 = time.perf_counter()
        with app.uow() as uow:
            questions = unanswered(uow, now - timedelta(days=30))
        topics = find_gaps(questions, encoder=shared_encoder(), min_size=3)
        gaps_s = time.perf_counter() - t1
    text_topic = {ticket_list[i].text: t for i, t in topic_of.items()}
    planted_total = Counter(topic_of.values())
    by_text = {q.conversation_id: q.text for q in questions}
    rows = []
    for topic, total in sorted(planted_total.items()):
        best, best_hits, best_size = None, 0, 0
        for k, t in enumerate(topics):
            hits = sum(text_topic.get(by_text[c]) == topic for c in t.conversation_ids)
            if hits > best_hits:
                best, best_hits, best_size = k, hits, t.size
        recall = best_hits / total
        purity = best_hits / best_size if best_size else 0.0
        label = topics[best].suggested_title if best is not None else "(not found)"
        # how many of the topic's questions the bot could not answer (the rest were answered or drafted)
        reached = sum(text_topic.get(q.text) == topic for q in questions)
        rows.append(
            {
                "topic": topic,
                "planted": total,
                "unanswered": reached,
                "recall": round(recall, 3),
                "purity": round(purity, 3),
                "found_as": label,
            }
        )
    a = sim.actions
    print(f"simulate: {sim.n:,} tickets in {sim_s:.1f}s = {sim.n / sim_s:,.0f} tickets/s (target <= 60 s)")
    print(f"  answer {a['answer']:.1%}, draft {a['draft']:.1%}, hand off {a['handoff']:.1%}; automatic precision "
          f"{sim.automatic_precision or 0:.1%}; recommended global {sim.recommended.global_threshold:.2f} -> "
          f"{sim.recommended.automation_rate:.1%} at {sim.recommended.precision or 0:.1%}")  # fmt: skip
    enc = "sentence embeddings" if shared_encoder() is not None else "TF-IDF"
    print(
        f"gaps: {len(questions):,} unanswered of {sim.n:,} stored questions -> {len(topics)} topics in "
        f"{gaps_s:.1f}s ({enc}; target <= 30 s)"
    )
    print(f"{'planted topic':<18} {'n':>3} {'unans.':>6} {'recall':>7} {'purity':>7}  found as")
    for r in rows:
        print(
            f"{r['topic']:<18} {r['planted']:>3} {r['unanswered']:>6} {r['recall']:>7.2f} {r['purity']:>7.2f}  "
            f"{r['found_as'][:60]}"
        )
    result = {
        "tickets": sim.n,
        "simulate_seconds": round(sim_s, 2),
        "tickets_per_second": round(sim.n / sim_s, 1),
        "simulate_target_met": sim_s <= 60,
        "unanswered": len(questions),
        "gaps_seconds": round(gaps_s, 2),
        "gaps_target_met": gaps_s <= 30,
        "topics": len(topics),
        "planted": rows,
        "mean_recall": round(sum(r["recall"] for r in rows) / len(rows), 3),
        "mean_purity": round(sum(r["purity"] for r in rows) / len(rows), 3),
        "workers": args.workers,
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
