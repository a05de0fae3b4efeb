"""Measure the urgency and sentiment rules on a labelled CSV (``text,<column>,split``)."""

from __future__ import annotations

import csv
from collections import Counter
from pathlib import Path

from supportbot.bot.classifier.metrics import macro_f1
from supportbot.bot.classifier.signals import assess
from supportbot.bot.errors import InvalidInput


def evaluate_signal(path: Path | str, column: str, *, split: str | None = "test") -> dict:
    """Accuracy, macro-F1 and confusions of the rule for ``column`` ("urgency" or "sentiment")."""
    path = Path(path)
    if column not in ("urgency", "sentiment"):
        raise InvalidInput(f"column must be urgency or sentiment, not {column!r}")
    if not path.is_file():
        raise InvalidInput(f"data file {path} does not exist")
    with path.open(encoding="utf-8") as fh:
        rows = [r for r in csv.DictReader(fh) if split is None or r.get("split") == split]
    if not rows:
        raise InvalidInput(f"{path} has no rows for split {split!r}")
    y_true = [r[column].strip() for r in rows]
    y_pred = [getattr(assess(r["text"]), column).value for r in rows]
    correct = sum(t == p for t, p in zip(y_true, y_pred, strict=True))
    return {
        "n": len(rows),
        "accuracy": correct / len(rows),
        "macro_f1": macro_f1(y_true, y_pred),
        "confusions": {
            f"{t}->{p}": c for (t, p), c in Counter(zip(y_true, y_pred, strict=True)).most_common() if t != p
        },
    }
