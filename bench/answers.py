"""Answer quality of passage retrieval, retrieval only (no intent model), on two knowledge bases.

    python bench/answers.py [--dev] [--encoder MODULE:FACTORY] [--articles 1000]

For the bundled Nimbus Metrics KB and the Parcelwise KB in ``bench/data`` (no
``intents:``), over evaluation questions written as customers write them:

- article / section accuracy: the top hit's article (and the section of its
  best passage) is one of the question's gold answers, over answerable questions;
- thresholds on the top hit's score, never chosen on the questions they are
  reported on: the questions are split into two seeded halves (stratified by
  answerable or not); thresholds picked on one half are applied to the other,
  and the counts of both are summed (2-fold cross-validation). ``draft`` is the
  score below which the bot abstains (hands off): it maximises right-and-kept
  answerable plus abstained unanswerable on the picking half; ``answer`` is the
  lowest score at which answers on the picking half are right >= 95% of the time;
- shares answered / drafted / abstained, abstention on unanswerable questions;
- retrieval latency p50/p99 on a generated 1,000-article KB.

``--dev`` prints the misses of the first half only: the half used while tuning
retrieval. The second half's misses are not printed, so they stay unseen.
Ends with one JSON line.
"""

from __future__ import annotations

import argparse
import importlib
import json
import random
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from supportbot.bot.knowledge import MarkdownKnowledgeBase  # noqa: E402
from supportbot.bot.markdown import plain  # noqa: E402
from supportbot.bot.settings import EXAMPLE_DIR  # noqa: E402

DATA = Path(__file__).resolve().parent / "data"
SEED = 14
ANSWER_PRECISION = 0.95


def norm(section: str | None) -> str | None:
    if section is None:
        return None
    return "".join(ch for ch in plain(section).lower() if ch.isalnum())


@dataclass
class Result:
    question: str
    gold: list[tuple[str, str | None]]
    article: str | None
    section: str | None
    score: float

    @property
    def answerable(self) -> bool:
        return bool(self.gold)

    @property
    def article_right(self) -> bool:
        return any(a == self.article for a, _ in self.gold)

    @property
    def section_right(self) -> bool:
        return any(a == self.article and norm(s) == norm(self.section) for a, s in self.gold)


def evaluate(kb: MarkdownKnowledgeBase, rows: list[dict]) -> list[Result]:
    results = []
    for row in rows:
        hits = kb.search(row["q"], limit=3)
        top = hits[0] if hits else None
        gold = [(a, s) for a, s in row["gold"]]
        article, section = (top.article.id, top.section) if top else (None, None)
        results.append(Result(row["q"], gold, article, section, top.score if top else 0.0))
    return results


def halves(results: list[Result]) -> tuple[list[Result], list[Result]]:
    rng = random.Random(SEED)
    first: list[Result] = []
    second: list[Result] = []
    for group in ([r for r in results if r.answerable], [r for r in results if not r.answerable]):
        order = list(range(len(group)))
        rng.shuffle(order)
        for rank, i in enumerate(order):
            (first if rank % 2 == 0 else second).append(group[i])
    return first, second


def pick_thresholds(results: list[Result]) -> tuple[float, float]:
    candidates = sorted({0.0, *(r.score for r in results), 1.01})
    answerable = [r for r in results if r.answerable] or results
    unanswerable = [r for r in results if not r.answerable]

    def j(t: float) -> float:
        kept = sum(r.article_right and r.score >= t for r in answerable) / len(answerable)
        abstained = sum(r.score < t for r in unanswerable) / len(unanswerable) if unanswerable else 0.0
        return kept + abstained

    draft = max(candidates, key=lambda t: (j(t), -t))
    answer = 1.01
    for t in candidates:
        if t < draft:
            continue
        above = [r for r in results if r.score >= t]
        if above and sum(r.article_right for r in above) / len(above) >= ANSWER_PRECISION:
            answer = t
            break
    return draft, answer


def summarise(results: list[Result]) -> dict[str, object]:
    first, second = halves(results)
    folds = []
    counts = {"answered": 0, "drafted": 0, "abstained": 0, "answered_right": 0, "drafted_right": 0}
    unanswerable_abstained = answerable_kept_right = 0
    for pick, apply in ((first, second), (second, first)):
        draft, answer = pick_thresholds(pick)
        folds.append({"draft": round(draft, 4), "answer": round(answer, 4)})
        for r in apply:
            action = "answered" if r.score >= answer else "drafted" if r.score >= draft else "abstained"
            counts[action] += 1
            if action != "abstained" and r.article_right:
                counts[f"{action}_right"] += 1
                answerable_kept_right += 1
            if not r.answerable and action == "abstained":
                unanswerable_abstained += 1
    answerable = [r for r in results if r.answerable]
    unanswerable = [r for r in results if not r.answerable]
    n = len(results)
    return {
        "questions": n,
        "answerable": len(answerable),
        "unanswerable": len(unanswerable),
        "article_accuracy": round(sum(r.article_right for r in answerable) / len(answerable), 4),
        "section_accuracy": round(sum(r.section_right for r in answerable) / len(answerable), 4),
        "right_and_not_abstained": round(answerable_kept_right / len(answerable), 4),
        "unanswerable_abstained": round(unanswerable_abstained / len(unanswerable), 4) if unanswerable else None,
        "share_answered": round(counts["answered"] / n, 4),
        "share_drafted": round(counts["drafted"] / n, 4),
        "share_abstained": round(counts["abstained"] / n, 4),
        "answered_precision": round(counts["answered_right"] / counts["answered"], 4) if counts["answered"] else None,
        "thresholds": folds,
        # Per half: the first is the one looked at while tuning retrieval (--dev), the second never was.
        "article_accuracy_by_half": [_accuracy(h, "article_right") for h in (first, second)],
        "section_accuracy_by_half": [_accuracy(h, "section_right") for h in (first, second)],
    }


def _accuracy(results: list[Result], attribute: str) -> float:
    answerable = [r for r in results if r.answerable]
    return round(sum(getattr(r, attribute) for r in answerable) / len(answerable), 4) if answerable else 0.0


def load_rows(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


# ----------------------------------------------------------------- the whole pipeline


def pipeline(kb_dir: Path, rows: list[dict]) -> dict[str, object]:
    """Each question through the bot as ``supportbot ask`` runs it (bundled model, policy defaults).

    Unlike the retrieval figures above, nothing here is tuned on these questions: the policy's
    retrieval thresholds are the settings' defaults.
    """
    import asyncio
    import uuid
    from datetime import UTC, datetime

    from supportbot.adapters.bootstrap import bootstrap
    from supportbot.adapters.settings import load_settings
    from supportbot.bot.domain import Author, InboundMessage, Role

    app = bootstrap(load_settings(database_url="sqlite://", kb_dir=kb_dir))

    async def run() -> list[tuple[dict, object]]:
        out = []
        for row in rows:
            mid = f"bench-{uuid.uuid4().hex}"
            msg = InboundMessage(
                "cli", "local", "ask", mid, Author("bench", "Bench", Role.CUSTOMER), row["q"], datetime.now(UTC), mid
            )
            out.append((row, await app.core.handle_inbound(msg, dispatch=False)))
        return out

    actions = {"answer": 0, "draft": 0, "handoff": 0}
    answerable = right = section_right = replied = answered = answered_right = 0
    unanswerable = unanswerable_abstained = 0
    for row, result in asyncio.run(run()):
        action = result.decision.action.value if result.decision else "handoff"
        actions[action] += 1
        cited = result.citations[0] if result.citations else None
        gold = [(a, s) for a, s in row["gold"]]
        if gold:
            answerable += 1
            if cited is not None and action != "handoff":
                replied += 1
                ok = any(a == cited.article_id for a, _ in gold)
                right += ok
                section_right += any(a == cited.article_id and norm(s) == norm(cited.section) for a, s in gold)
                if action == "answer":
                    answered += 1
                    answered_right += ok
        else:
            unanswerable += 1
            unanswerable_abstained += action == "handoff" or cited is None
            answered += action == "answer"
    n = len(rows)
    return {
        "questions": n,
        "share": {k: round(v / n, 4) for k, v in actions.items()},
        "answerable_replied": round(replied / answerable, 4) if answerable else None,
        "cited_article_right": round(right / replied, 4) if replied else None,
        "cited_section_right": round(section_right / replied, 4) if replied else None,
        "answered_precision": round(answered_right / answered, 4) if answered else None,
        "unanswerable_abstained": round(unanswerable_abstained / unanswerable, 4) if unanswerable else None,
    }


# ----------------------------------------------------------------- latency on a generated KB


def generate_kb(folder: Path, n_articles: int, rng: random.Random) -> list[str]:
    """Articles of pseudo-words with the bundled KB's shape: an opening paragraph, 5-8 sections of
    paragraphs, bullet lists and small tables. Returns a vocabulary for questions."""
    syllables = ["ka", "lo", "mi", "ra", "te", "su", "no", "vi", "de", "po", "zu", "ne", "ta", "ri", "go", "ba"]
    vocab = sorted({"".join(rng.choices(syllables, k=rng.randint(2, 4))) for _ in range(6000)})
    common = ["the", "a", "to", "of", "and", "for", "your", "you", "is", "in", "on", "with", "can", "it", "or", "not"]

    def sentence(k: int) -> str:
        words = [rng.choice(vocab) if rng.random() < 0.6 else rng.choice(common) for _ in range(k)]
        return " ".join(words).capitalize() + "."

    folder.mkdir(parents=True, exist_ok=True)
    for i in range(n_articles):
        front = f"---\ntitle: {sentence(4)[:-1]}\nurl: https://docs.example/{i}\n---"
        parts = [front, sentence(30) + " " + sentence(25)]
        for _ in range(rng.randint(5, 8)):
            parts.append(f"## {sentence(3)[:-1]}")
            kind = rng.random()
            if kind < 0.5:
                parts.append(sentence(20) + " " + sentence(15))
            elif kind < 0.85:
                parts.append("\n".join(f"- {sentence(10)}" for _ in range(rng.randint(3, 5))))
            else:
                rows = [f"| `{rng.choice(vocab).upper()}` | {sentence(6)} | {sentence(6)} |" for _ in range(4)]
                parts.append("| Code | Meaning | Fix |\n|---|---|---|\n" + "\n".join(rows))
        (folder / f"a{i:04d}.md").write_text("\n\n".join(parts) + "\n", encoding="utf-8")
    return vocab


def latency(n_articles: int) -> dict[str, object]:
    """Lexical retrieval only: with an encoder, encoding the question adds its own time (reported apart)."""
    rng = random.Random(SEED)
    with tempfile.TemporaryDirectory() as tmp:
        vocab = generate_kb(Path(tmp) / "kb", n_articles, rng)
        started = time.perf_counter()
        kb = MarkdownKnowledgeBase(Path(tmp) / "kb", index_path=Path(tmp) / "index.json")
        build_s = time.perf_counter() - started
        started = time.perf_counter()
        MarkdownKnowledgeBase(Path(tmp) / "kb", index_path=Path(tmp) / "index.json")
        reload_s = time.perf_counter() - started
        # Questions: a few words of the KB's own vocabulary (so they match many passages) plus common words.
        queries = [
            " ".join(rng.choices(vocab, k=rng.randint(2, 8)) + rng.choices(["how", "do", "i", "the", "my"], k=3))
            for _ in range(1000)
        ]
        for q in queries[:50]:  # warm-up
            kb.search(q)
        times = []
        for q in queries:
            t0 = time.perf_counter()
            kb.search(q, limit=3)
            times.append((time.perf_counter() - t0) * 1000)
        times.sort()
        return {
            "articles": n_articles,
            "passages": len(kb.score_passages(queries[0])),
            "index_build_s": round(build_s, 2),
            "index_reload_s": round(reload_s, 2),
            "search_ms_p50": round(statistics.median(times), 3),
            "search_ms_p99": round(times[int(0.99 * (len(times) - 1))], 3),
        }


def encoding_ms(encoder: object, questions: list[str]) -> dict[str, float]:
    times = []
    for q in questions:
        t0 = time.perf_counter()
        encoder.encode([q])  # type: ignore[attr-defined]
        times.append((time.perf_counter() - t0) * 1000)
    times.sort()
    return {"encode_ms_p50": round(statistics.median(times), 2), "encode_ms_p99": round(times[-1], 2)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dev", action="store_true", help="print the first half's misses (the tuning half)")
    parser.add_argument("--encoder", help="MODULE:FACTORY returning a TextEncoder, for semantic reranking")
    parser.add_argument("--articles", type=int, default=1000)
    args = parser.parse_args()
    encoder = None
    if args.encoder:
        module, _, factory = args.encoder.partition(":")
        encoder = getattr(importlib.import_module(module), factory)()
    report: dict[str, object] = {"encoder": args.encoder}
    for name, kb_dir, data in (
        ("nimbus", EXAMPLE_DIR / "kb", DATA / "nimbus_eval.jsonl"),
        ("parcelwise", DATA / "parcelwise_kb", DATA / "parcelwise_eval.jsonl"),
    ):
        kb = MarkdownKnowledgeBase(kb_dir, encoder=encoder)
        results = evaluate(kb, load_rows(data))
        if args.dev:  # only the tuning half: the other half's figures stay unseen while tuning
            results = halves(results)[0]
        summary = summarise(results)
        report[name] = summary
        print(f"\n{name}: {summary['questions']} questions ({summary['unanswerable']} not answerable from the KB)")
        for key in (
            "article_accuracy",
            "section_accuracy",
            "right_and_not_abstained",
            "unanswerable_abstained",
            "share_answered",
            "answered_precision",
            "share_drafted",
            "share_abstained",
        ):
            value = summary[key]
            print(f"  {key:<26} {value:.1%}" if isinstance(value, float) else f"  {key:<26} {value}")
        print(f"  thresholds (draft, answer) per fold: {summary['thresholds']}")
        if not args.dev:
            flow = pipeline(kb_dir, load_rows(data))
            summary["pipeline"] = flow
            print(f"  pipeline (bundled model, default policy): {flow}")
        print(
            f"  article / section accuracy by half (tuning half, unseen half): "
            f"{summary['article_accuracy_by_half']} / {summary['section_accuracy_by_half']}"
        )
        if args.dev:
            for r in results:
                if r.answerable and not r.section_right:
                    mark = "SECTION" if r.article_right else "ARTICLE"
                    print(f"  {mark} {r.score:.3f} {r.question!r} -> {r.article} [{r.section}] want {r.gold[0]}")
                if not r.answerable:
                    print(f"  OOKB {r.score:.3f} {r.question!r} -> {r.article} [{r.section}]")
            ok = sorted(r.score for r in results if r.answerable and r.article_right)
            print(f"  right-article scores on the first half: {[round(s, 3) for s in ok[:10]]} ...")
    lat = latency(args.articles)
    if encoder is not None:
        lat.update(encoding_ms(encoder, [r["q"] for r in load_rows(DATA / "nimbus_eval.jsonl")][:100]))
    report["latency"] = lat
    print(f"\nretrieval on a generated KB: {lat}")
    print(json.dumps(report))


if __name__ == "__main__":
    main()
