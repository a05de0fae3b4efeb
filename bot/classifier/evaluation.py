"""Evaluate a saved intent model on a labelled CSV (used by ``supportbot eval`` and the bench)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from supportbot.bot.classifier.intent import IntentModel
from supportbot.bot.classifier.metrics import evaluate_predictions
from supportbot.bot.domain import OUT_OF_SCOPE


def evaluate_model(
    model: IntentModel,
    texts: Sequence[str],
    labels: Sequence[str],
    *,
    oos_label: str | None = None,
) -> dict:
    """Metrics of ``model`` on (texts, labels).

    Labels equal to ``oos_label`` are out of scope; so are labels the model
    was trained with as its own out-of-scope label. A prediction of out of
    scope (abstention) is written as ``OUT_OF_SCOPE`` and is never answered.
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
    )
    unknown = sorted(set(y_true) - set(model.intents) - {OUT_OF_SCOPE})
    result["labels_unknown_to_model"] = unknown
    result["model_version"] = model.version
    result["model_thresholds"] = {"*": model.thresholds.get("*")}
    return result
