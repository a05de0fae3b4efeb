"""Evaluate a saved intent model on a labelled CSV (used by ``supportbot eval`` and the bench)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from supportbot.bot.classifier.intent import IntentModel
from supportbot.bot.classifier.metrics import PRECISION_TARGETS, evaluate_predictions
from supportbot.bot.classifier.scope import auroc
from supportbot.bot.domain import OUT_OF_SCOPE


def evaluate_model(
    model: IntentModel,
    texts: Sequence[str],
    labels: Sequence[str],
    *,
    oos_label: str | None = None,
    targets: Sequence[float] = PRECISION_TARGETS,
) -> dict[str, Any]:
    """Metrics of ``model`` on (texts, labels).

    Labels equal to ``oos_label`` are out of scope; so are labels the model
    was trained with as its own out-of-scope label. A prediction of out of
    scope (abstention) is written as ``OUT_OF_SCOPE`` and is never answered.

    Besides the figures of :func:`evaluate_predictions`, with out-of-scope
    rows: ``oos_precision`` (share of abstentions that were out of scope),
    ``auroc`` (in-scope vs out-of-scope by the model's scope score; a row
    whose best label is the out-of-scope class counts as lowest) and
    ``top1_accuracy`` (in-scope rows, best in-scope intent, abstention ignored).
    Always: ``abstention_rate`` and ``scope_rule``.
    """
    oos_names = {x for x in (oos_label, model.oos_label) if x}
    predictions = model.predict(list(texts))
    y_true = [OUT_OF_SCOPE if t in oos_names else t for t in labels]
    use_oos = bool(oos_names)
    answered = [model.would_answer(p) for p in predictions]
    if use_oos:
        y_pred = [p.intent for p in predictions]  # OUT_OF_SCOPE on abstention
        confidence = np.array([0.0 if p.out_of_scope else p.confidence for p in predictions])
    else:
        # the data defines no out-of-scope class: accuracy is top-1 accuracy over
        # the model's intents; abstentions still have low confidence, so the
        # risk-coverage figures do not answer them at high precision targets
        y_pred = [p.best_in_scope for p in predictions]
        confidence = np.array([p.top[0][1] if p.top else 0.0 for p in predictions])
    result = evaluate_predictions(
        y_true,
        y_pred,
        confidence,
        oos_label=OUT_OF_SCOPE if use_oos else None,
        answered_at_model_threshold=answered,
        targets=targets,
    )
    abstained = np.array([p.out_of_scope for p in predictions], dtype=bool)
    result["abstention_rate"] = float(abstained.mean()) if len(abstained) else 0.0
    if use_oos:
        in_scope = np.array([t != OUT_OF_SCOPE for t in y_true], dtype=bool)
        result["oos_precision"] = float((~in_scope[abstained]).mean()) if abstained.any() else None
        top1 = np.array([p.best_in_scope == t for p, t in zip(predictions, y_true, strict=True)], dtype=bool)
        result["top1_accuracy"] = float(top1[in_scope].mean()) if in_scope.any() else None
        assert model.scope is not None
        cut = model.scope.threshold
        # abstained although the score is above the cut: the out-of-scope class won, the surest "out"
        score = np.array(
            [
                -np.inf if p.scope_score is None or (p.out_of_scope and p.scope_score >= cut) else p.scope_score
                for p in predictions
            ]
        )
        result["auroc"] = auroc(score[in_scope], score[~in_scope])
    else:
        result["top1_accuracy"] = result["accuracy"]
    assert model.scope is not None
    result["scope_rule"] = {"rule": model.scope.rule, "threshold": model.scope.threshold}
    unknown = sorted(set(y_true) - set(model.intents) - {OUT_OF_SCOPE})
    result["labels_unknown_to_model"] = unknown
    result["model_version"] = model.version
    result["model_thresholds"] = {"*": model.thresholds.get("*")}
    return result
