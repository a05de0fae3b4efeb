"""Evaluation metrics: accuracy, macro-F1, confusions and risk-coverage.

Definitions (shared by ``supportbot eval``, the thresholds stored with a model
and the benchmark):

* risk-coverage: sort messages by confidence, highest first; answering every
  message with confidence >= t gives a coverage (answered / all messages) and
  a precision (correct / answered).
* coverage at precision p: the largest coverage whose precision is >= p, and
  the threshold t that achieves it. A message whose true label is the
  out-of-scope label counts as an error when answered; a message the model
  itself labels out of scope is never answered.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, TypedDict

import numpy as np
from numpy.typing import NDArray

PRECISION_TARGETS = (0.95, 0.98, 0.99)


class LabelRow(TypedDict):
    """One row of :func:`per_label_table`."""

    label: str
    precision: float
    recall: float
    f1: float
    support: int


class ConfusedPair(TypedDict):
    """One row of :func:`confused_pairs`."""

    true: str
    predicted: str
    count: int


@dataclass(frozen=True)
class CoveragePoint:
    precision_target: float
    coverage: float  # share of all messages answered
    threshold: float | None  # answer when confidence >= threshold; None: nothing qualifies
    answered: int
    precision: float | None  # measured precision among the answered


def coverage_at_precision(
    confidence: Sequence[float] | NDArray[np.floating[Any]],
    correct: Sequence[bool] | NDArray[np.bool_],
    target: float,
) -> CoveragePoint:
    """Largest share of messages answerable with precision >= ``target``.

    Ties in confidence are answered together (a threshold cannot split them).
    """
    conf = np.asarray(confidence, dtype=float)
    ok = np.asarray(correct, dtype=bool)
    n = len(conf)
    if n == 0:
        return CoveragePoint(target, 0.0, None, 0, None)
    order = np.argsort(-conf, kind="stable")
    conf_sorted = conf[order]
    hits = np.cumsum(ok[order])
    answered = np.arange(1, n + 1)
    precision = hits / answered
    # only cut where the next confidence is strictly lower (ties go together)
    cut_ok = np.ones(n, dtype=bool)
    cut_ok[:-1] = conf_sorted[1:] < conf_sorted[:-1]
    # never "answer" messages with confidence <= 0 (the model abstained)
    valid = cut_ok & (precision >= target - 1e-12) & (conf_sorted > 0)
    idx = np.flatnonzero(valid)
    if len(idx) == 0:
        return CoveragePoint(target, 0.0, None, 0, None)
    k = int(idx.max())
    return CoveragePoint(
        precision_target=target,
        coverage=float((k + 1) / n),
        threshold=float(conf_sorted[k]),
        answered=k + 1,
        precision=float(precision[k]),
    )


def macro_f1(y_true: Sequence[str], y_pred: Sequence[str], labels: Sequence[str] | None = None) -> float:
    """Unweighted mean of per-label F1 over ``labels`` (default: labels seen in y_true)."""
    table = per_label_table(y_true, y_pred, labels)
    if not table:
        return 0.0
    return float(np.mean([row["f1"] for row in table]))


def per_label_table(
    y_true: Sequence[str], y_pred: Sequence[str], labels: Sequence[str] | None = None
) -> list[LabelRow]:
    """Precision, recall, F1 and support for each label, sorted by label."""
    if labels is None:
        labels = sorted(set(y_true))
    tp: Counter[str] = Counter()
    pred_count: Counter[str] = Counter(y_pred)
    true_count: Counter[str] = Counter(y_true)
    for t, p in zip(y_true, y_pred, strict=True):
        if t == p:
            tp[t] += 1
    rows: list[LabelRow] = []
    for label in labels:
        prec = tp[label] / pred_count[label] if pred_count[label] else 0.0
        rec = tp[label] / true_count[label] if true_count[label] else 0.0
        f1 = 2 * prec * rec / (prec + rec) if prec + rec else 0.0
        rows.append({"label": label, "precision": prec, "recall": rec, "f1": f1, "support": true_count[label]})
    return rows


def confused_pairs(y_true: Sequence[str], y_pred: Sequence[str], top: int = 10) -> list[ConfusedPair]:
    """Most frequent (true, predicted) mistakes."""
    pairs = Counter((t, p) for t, p in zip(y_true, y_pred, strict=True) if t != p)
    return [{"true": t, "predicted": p, "count": c} for (t, p), c in pairs.most_common(top)]


def evaluate_predictions(
    y_true: Sequence[str],
    y_pred: Sequence[str],
    confidence: Sequence[float] | NDArray[np.floating[Any]],
    *,
    oos_label: str | None = None,
    answered_at_model_threshold: Sequence[bool] | NDArray[np.bool_] | None = None,
    targets: Sequence[float] = PRECISION_TARGETS,
) -> dict[str, Any]:
    """All the evaluation figures as one JSON-ready dict.

    ``y_pred`` uses ``oos_label`` (when given) for messages the model abstained
    on or labelled out of scope; their ``confidence`` should be 0 so they are
    never counted as answered.
    """
    y_true = list(y_true)
    y_pred = list(y_pred)
    conf = np.asarray(confidence, dtype=float)
    n = len(y_true)
    correct = np.array([t == p for t, p in zip(y_true, y_pred, strict=True)], dtype=bool)
    # an answered message is correct only if it was in scope and labelled right
    answer_correct = correct.copy()
    if oos_label is not None:
        answer_correct &= np.array([t != oos_label for t in y_true], dtype=bool)
        answer_conf = np.where(np.array([p == oos_label for p in y_pred]), 0.0, conf)
    else:
        answer_conf = conf
    labels = sorted(set(y_true) | ({oos_label} if oos_label and oos_label in y_pred else set()))
    table = per_label_table(y_true, y_pred, labels)
    result: dict[str, Any] = {
        "n": n,
        "accuracy": float(correct.mean()) if n else 0.0,
        "macro_f1": float(np.mean([r["f1"] for r in table])) if table else 0.0,
        "coverage_at_precision": {},
        "per_intent": table,
        "confused_pairs": confused_pairs(y_true, y_pred),
    }
    for p in targets:
        point = coverage_at_precision(answer_conf, answer_correct, p)
        result["coverage_at_precision"][f"{p:.2f}"] = point.coverage
        result.setdefault("threshold_at_precision", {})[f"{p:.2f}"] = point.threshold
        result.setdefault("precision_at_threshold", {})[f"{p:.2f}"] = point.precision
    if oos_label is not None:
        in_scope = np.array([t != oos_label for t in y_true], dtype=bool)
        oos = ~in_scope
        result["n_in_scope"] = int(in_scope.sum())
        result["n_out_of_scope"] = int(oos.sum())
        result["in_scope_accuracy"] = float(correct[in_scope].mean()) if in_scope.any() else None
        pred_oos = np.array([p == oos_label for p in y_pred], dtype=bool)
        result["oos_recall"] = float(pred_oos[oos].mean()) if oos.any() else None
        if answered_at_model_threshold is not None:
            ans = np.asarray(answered_at_model_threshold, dtype=bool)
            result["in_scope_coverage_at_model_threshold"] = float(ans[in_scope].mean()) if in_scope.any() else None
            result["precision_at_model_threshold"] = float(answer_correct[ans].mean()) if ans.any() else None
    elif answered_at_model_threshold is not None:
        ans = np.asarray(answered_at_model_threshold, dtype=bool)
        result["coverage_at_model_threshold"] = float(ans.mean()) if n else 0.0
        result["precision_at_model_threshold"] = float(answer_correct[ans].mean()) if ans.any() else None
    return result
