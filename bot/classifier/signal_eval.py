"""Measure urgency and sentiment (cues alone, or the trained model + cues) on a labelled CSV."""

from __future__ import annotations

import csv
from collections import Counter
from pathlib import Path
from typing import Any

from supportbot.bot.classifier.metrics import macro_f1
from supportbot.bot.classifier.signal_model import SignalModel, combine_sentiment, combine_urgency
from supportbot.bot.classifier.signals import assess, assess_frustration
from supportbot.bot.errors import InvalidInput


def evaluate_signal(
    path: Path | str, column: str, *, model: SignalModel | None = None, split: str | None = None
) -> dict[str, Any]:
    """Accuracy, macro-F1 and confusions for ``column`` ("urgency" or "sentiment").

    Without ``model`` the cues' rules decide (``signals.assess``); with one, the
    trained head combined with the cues exactly as ``TextClassifier`` does. Rows
    may be restricted to a ``split`` column value.
    """
    path = Path(path)
    if column not in ("urgency", "sentiment"):
        raise InvalidInput(f"column must be urgency or sentiment, not {column!r}")
    if not path.is_file():
        raise InvalidInput(f"data file {path} does not exist")
    with path.open(encoding="utf-8", newline="") as fh:
        rows = [r for r in csv.DictReader(fh) if split is None or r.get("split") == split]
    if not rows:
        raise InvalidInput(f"{path} has no rows" + (f" for split {split!r}" if split else ""))
    texts = [r["text"] for r in rows]
    y_true = [r[column].strip() for r in rows]
    if model is None:
        y_pred = [getattr(assess(t), column).value for t in texts]
    else:
        emb = model.embed(texts)
        y_pred = []
        for i, text in enumerate(texts):
            frustration = assess_frustration(text)[0]
            (u, p), (s, _) = model.predict(text, None if emb is None else emb[i])
            if column == "urgency":
                y_pred.append(combine_urgency(u, p, text, frustration)[0].value)
            else:
                y_pred.append(combine_sentiment(s, frustration).value)
    correct = sum(t == p for t, p in zip(y_true, y_pred, strict=True))
    return {
        "n": len(rows),
        "accuracy": correct / len(rows),
        "macro_f1": macro_f1(y_true, y_pred),
        "confusions": {
            f"{t}->{p}": c for (t, p), c in Counter(zip(y_true, y_pred, strict=True)).most_common() if t != p
        },
    }
