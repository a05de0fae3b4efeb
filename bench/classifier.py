"""Benchmark the classifier: Banking77, held-out intents as out of scope, the bundled data, urgency/sentiment.

    python bench/classifier.py [--data-dir ../shared/data/banking77] [--no-embeddings] [--baseline]

Protocols (nothing is tuned on a test set; every choice is made by
cross-validation on the training rows):

1. ``banking77``: train on train.csv (10,003 rows, 77 intents), test on
   test.csv as published: top-1 accuracy, macro-F1, risk-coverage, training
   time and peak memory (of the training process and its largest worker),
   single-message latency p50/p99, model size.
2. ``heldout_intents``: train on train.csv without 10 intents drawn with a
   fixed seed; test on test.csv with those 10 intents as out of scope:
   in-scope accuracy (abstaining counts as wrong), out-of-scope recall and
   precision, AUROC, top-1 in-scope accuracy without abstention.
3. ``bundled``: bot/example/intents.csv (with its out-of-scope rows) ->
   bot/example/intents_heldout.csv, same figures.
4. ``signals``: the bundled urgency/sentiment model (and the cues alone) on
   bot/example/{urgency,sentiment}_heldout.csv.

Prints a risk-coverage table per protocol, the targets met or missed, and as
the last line one JSON object with every figure.
"""

from __future__ import annotations

import argparse
import csv
import json
import multiprocessing as mp
import os
import random
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from supportbot.bot.classifier.evaluation import evaluate_model  # noqa: E402
from supportbot.bot.classifier.intent import IntentModel, train_intent_model  # noqa: E402
from supportbot.bot.classifier.metrics import coverage_at_precision  # noqa: E402

EXAMPLE = REPO / "bot" / "example"
HELD_OUT_SEED = 0
N_HELD_OUT = 10
RISK_TARGETS = (0.90, 0.95, 0.98, 0.99)
TARGETS = {
    "banking77 accuracy": (">=", 0.935),
    "banking77 coverage at 99% precision": (">=", 0.78),
    "held-out intents OOS recall": (">=", 0.80),
    "held-out intents in-scope accuracy": (">=", 0.90),
    "urgency held-out accuracy": (">=", 0.85),
    "sentiment held-out accuracy": (">=", 0.85),
    "training 10k rows seconds": ("<=", 60.0),
    "prediction p99 ms": ("<=", 20.0),
}


def default_data_dir() -> Path:
    rel = (REPO / ".." / "shared" / "data" / "banking77").resolve()
    return rel if rel.is_dir() else Path("/work/shared/data/banking77")


def read(path: Path, text: str = "text", label: str = "category") -> tuple[list[str], list[str]]:
    with path.open(encoding="utf-8", newline="") as fh:
        rows = list(csv.DictReader(fh))
    return [r[text] for r in rows], [r[label] for r in rows]


def dir_size(path: Path) -> int:
    return sum(p.stat().st_size for p in path.iterdir() if p.is_file())


def latency(fn, texts: list[str]) -> tuple[float, float]:
    for t in texts[:50]:  # warm-up
        fn(t)
    times = []
    for t in texts:
        t0 = time.perf_counter()
        fn(t)
        times.append(time.perf_counter() - t0)
    ms = np.array(times) * 1000
    return float(np.percentile(ms, 50)), float(np.percentile(ms, 99))


def _train_child(xtr, ytr, kwargs, out_dir: str, queue) -> None:
    """Train in a fresh process (so its peak memory is the training's own) and save the model."""
    import resource

    t0 = time.perf_counter()
    result = train_intent_model(xtr, ytr, progress=lambda m: print(f"    [train] {m}", file=sys.stderr), **kwargs)
    seconds = time.perf_counter() - t0
    result.model.save(Path(out_dir))
    from joblib.externals.loky import get_reusable_executor

    get_reusable_executor().shutdown(wait=True)  # reap the workers so RUSAGE_CHILDREN counts them
    queue.put(
        {
            "train_seconds": seconds,
            "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
            "peak_rss_worker_mb": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024,
        }
    )


def train_measured(xtr: list[str], ytr: list[str], out_dir: Path, **kwargs) -> dict:
    ctx = mp.get_context("spawn")
    queue = ctx.Queue()
    proc = ctx.Process(target=_train_child, args=(xtr, ytr, kwargs, str(out_dir), queue))
    proc.start()
    info = queue.get()
    proc.join()
    return info


def risk_table(name: str, r: dict) -> None:
    print(f"\n[{name}] risk-coverage (answer when confidence >= threshold)")
    print(f"  {'precision':>9}  {'coverage':>8}  {'threshold':>9}")
    for p in RISK_TARGETS:
        key = f"{p:.2f}"
        cov = r["coverage_at_precision"].get(key)
        thr = r["threshold_at_precision"].get(key)
        print(f"  {key:>9}  {cov:8.3f}  {'-' if thr is None else format(thr, '9.4f'):>9}")


def evaluate(model: IntentModel, texts, labels, oos_label=None) -> dict:
    r = evaluate_model(model, texts, labels, oos_label=oos_label, targets=RISK_TARGETS)
    return {k: v for k, v in r.items() if k not in ("per_intent", "confused_pairs")}


def bench_banking77(xtr, ytr, xte, yte, embeddings: bool, tmp: Path) -> dict:
    print("\n== banking77 (published split)", file=sys.stderr)
    out = tmp / "b77"
    info = train_measured(xtr, ytr, out, embeddings=embeddings)
    model = IntentModel.load(out)
    r = evaluate(model, xte, yte)
    sample = xte[:1000]
    p50, p99 = latency(model.predict_one, sample)
    from supportbot.bot.classifier.text_classifier import TextClassifier, default_signal_model_dir

    signal_model = None
    if default_signal_model_dir().is_dir():
        from supportbot.bot.classifier.signal_model import SignalModel

        signal_model = SignalModel.load(default_signal_model_dir())
    clf = TextClassifier(model, signal_model)
    c50, c99 = latency(lambda t: clf.classify(t), sample)
    r.update(info)
    r.update(
        latency_p50_ms=p50,
        latency_p99_ms=p99,
        classify_p50_ms=c50,
        classify_p99_ms=c99,
        size_mb=dir_size(out) / 2**20,
        embeddings=bool(model.embedding),
        scope_rule=model.scope.rule if model.scope else None,
    )
    risk_table("banking77", r)
    return r


def bench_heldout_intents(xtr, ytr, xte, yte, embeddings: bool, tmp: Path) -> dict:
    intents = sorted(set(ytr))
    held = sorted(random.Random(HELD_OUT_SEED).sample(intents, N_HELD_OUT))
    print(f"\n== held-out intents (seed {HELD_OUT_SEED}): {', '.join(held)}", file=sys.stderr)
    keep = [i for i, y in enumerate(ytr) if y not in held]
    out = tmp / "held"
    info = train_measured([xtr[i] for i in keep], [ytr[i] for i in keep], out, embeddings=embeddings)
    model = IntentModel.load(out)
    labels = ["__held_out__" if y in held else y for y in yte]
    r = evaluate(model, xte, labels, oos_label="__held_out__")
    r.update(info, held_out_intents=held, seed=HELD_OUT_SEED)
    risk_table("held-out intents", r)
    return r


def bench_bundled(embeddings: bool, tmp: Path) -> dict:
    print("\n== bundled example data", file=sys.stderr)
    xtr, ytr = read(EXAMPLE / "intents.csv", label="intent")
    xte, yte = read(EXAMPLE / "intents_heldout.csv", label="intent")
    out = tmp / "bundled"
    info = train_measured(xtr, ytr, out, embeddings=embeddings, oos_label="out_of_scope")
    r = evaluate(IntentModel.load(out), xte, yte, oos_label="out_of_scope")
    r.update(info)
    risk_table("bundled", r)
    return r


def bench_signals() -> dict:
    from supportbot.bot.classifier.signal_eval import evaluate_signal
    from supportbot.bot.classifier.signal_model import SignalModel
    from supportbot.bot.classifier.text_classifier import default_signal_model_dir

    model = SignalModel.load(default_signal_model_dir())
    out = {}
    for target in ("urgency", "sentiment"):
        path = EXAMPLE / f"{target}_heldout.csv"
        m = evaluate_signal(path, target, model=model)
        rules = evaluate_signal(path, target)
        out[target] = {
            "n": m["n"],
            "accuracy": m["accuracy"],
            "macro_f1": m["macro_f1"],
            "rules_accuracy": rules["accuracy"],
            "cv_accuracy": getattr(model, target).validation.get("accuracy"),
            "confusions": m["confusions"],
        }
    return out


def bench_baseline(xtr, ytr, xte, yte) -> dict:
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline

    # word 1-2-gram sublinear TF-IDF + LogisticRegression(C=10): a fair "plain" baseline
    t0 = time.perf_counter()
    pipe = make_pipeline(
        TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True), LogisticRegression(C=10, max_iter=2000)
    )
    pipe.fit(xtr, ytr)
    seconds = time.perf_counter() - t0
    proba = pipe.predict_proba(xte)
    pred = pipe.classes_[proba.argmax(1)]
    ok = pred == np.array(yte)
    return {
        "accuracy": float(ok.mean()),
        "coverage_at_0.99": coverage_at_precision(proba.max(1), ok, 0.99).coverage,
        "train_seconds": seconds,
    }


def check_targets(figures: dict) -> dict:
    results = {}
    print("\ntargets")
    for name, (op, target) in TARGETS.items():
        value = figures.get(name)
        if value is None:
            continue
        met = value >= target if op == ">=" else value <= target
        results[name] = {"value": value, "target": f"{op} {target}", "met": bool(met)}
        print(f"  {name:<40} {value:10.4f}  target {op} {target:<7}  {'met' if met else 'NOT MET'}")
    return results


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data-dir", type=Path, default=None)
    ap.add_argument("--no-embeddings", action="store_true", help="TF-IDF only (as without onnxruntime)")
    ap.add_argument("--baseline", action="store_true", help="also a plain TF-IDF + LogisticRegression on Banking77")
    ap.add_argument("--only", choices=("banking77", "heldout", "bundled", "signals"), action="append")
    args = ap.parse_args()
    data_dir = args.data_dir or default_data_dir()
    if not (data_dir / "train.csv").is_file() or not (data_dir / "test.csv").is_file():
        sys.exit(f"error: {data_dir} must contain train.csv and test.csv")
    only = set(args.only or ("banking77", "heldout", "bundled", "signals"))
    embeddings = not args.no_embeddings
    xtr, ytr = read(data_dir / "train.csv")
    xte, yte = read(data_dir / "test.csv")
    print(f"Banking77: {len(xtr)} train, {len(xte)} test rows, {len(set(ytr))} intents; cpus {os.cpu_count()}")
    report: dict = {"embeddings": embeddings, "cpus": os.cpu_count()}
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        if "banking77" in only:
            report["banking77"] = bench_banking77(xtr, ytr, xte, yte, embeddings, tmp)
        if "heldout" in only:
            report["heldout_intents"] = bench_heldout_intents(xtr, ytr, xte, yte, embeddings, tmp)
        if "bundled" in only:
            report["bundled"] = bench_bundled(embeddings, tmp)
    if "signals" in only:
        report["signals"] = bench_signals()
    if args.baseline:
        report["baseline"] = bench_baseline(xtr, ytr, xte, yte)

    figures = {}
    if b := report.get("banking77"):
        print(
            f"\nbanking77: accuracy {b['accuracy']:.4f}, macro-F1 {b['macro_f1']:.4f}, coverage at 99% "
            f"{b['coverage_at_precision']['0.99']:.3f} (98%: {b['coverage_at_precision']['0.98']:.3f}); training "
            f"{b['train_seconds']:.1f}s, peak RSS {b['peak_rss_mb']:.0f} MB "
            f"(largest worker {b['peak_rss_worker_mb']:.0f} MB); predict p50/p99 "
            f"{b['latency_p50_ms']:.2f}/{b['latency_p99_ms']:.2f} ms, full classify "
            f"{b['classify_p50_ms']:.2f}/{b['classify_p99_ms']:.2f} ms; {b['size_mb']:.1f} MB on disk"
        )
        figures["banking77 accuracy"] = b["accuracy"]
        figures["banking77 coverage at 99% precision"] = b["coverage_at_precision"]["0.99"]
        figures["training 10k rows seconds"] = b["train_seconds"]
        figures["prediction p99 ms"] = b["latency_p99_ms"]
    for key, label in (("heldout_intents", "held-out intents"), ("bundled", "bundled")):
        if h := report.get(key):
            print(
                f"{label}: in-scope accuracy {h['in_scope_accuracy']:.4f}, OOS recall {h['oos_recall']:.3f}, "
                f"OOS precision {h['oos_precision'] or 0:.3f}, AUROC {h['auroc']:.4f}, top-1 without abstention "
                f"{h['top1_accuracy']:.4f} ({h['n_in_scope']} in scope, {h['n_out_of_scope']} out)"
            )
    if h := report.get("heldout_intents"):
        figures["held-out intents OOS recall"] = h["oos_recall"]
        figures["held-out intents in-scope accuracy"] = h["in_scope_accuracy"]
    if s := report.get("signals"):
        for t in ("urgency", "sentiment"):
            print(
                f"{t} held-out: accuracy {s[t]['accuracy']:.3f}, macro-F1 {s[t]['macro_f1']:.3f} "
                f"(cues alone {s[t]['rules_accuracy']:.3f}; {s[t]['n']} rows)"
            )
            figures[f"{t} held-out accuracy"] = s[t]["accuracy"]
    if base := report.get("baseline"):
        print(f"baseline TF-IDF+LR: accuracy {base['accuracy']:.4f}, coverage at 99% {base['coverage_at_0.99']:.3f}")
    report["targets"] = check_targets(figures)
    print(json.dumps(report, sort_keys=True, default=float))


if __name__ == "__main__":
    main()
