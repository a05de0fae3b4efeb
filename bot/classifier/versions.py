"""What a model directory says about itself: its version and the figures the registry keeps.

Reads ``model.json`` only (after checking the manifest), so listing or
registering a model costs milliseconds and never loads the encoder.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from supportbot.bot.classifier import storage
from supportbot.bot.errors import ModelError


def read_metadata(model_dir: Path | str) -> dict[str, Any]:
    """The ``metadata`` block of a trained model directory; ``ModelError`` if missing or tampered."""
    path = Path(model_dir)
    if not (path / "model.json").is_file():
        raise ModelError(f"{path} is not a model directory (no model.json; see `supportbot train`)")
    storage.verify_manifest(path)
    try:
        meta = json.loads((path / "model.json").read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ModelError(f"cannot read {path / 'model.json'}: {exc}") from exc
    metadata = meta.get("metadata")
    if not isinstance(metadata, dict) or not metadata.get("version"):
        raise ModelError(f"{path / 'model.json'} has no version in its metadata")
    return metadata


def version_metrics(metadata: dict[str, Any]) -> dict[str, Any]:
    """The registry's figures of a model, all measured out of fold on its own training data.

    ``precision_at_target`` is the precision of automatic answers at the thresholds training set
    for ``target_precision``; ``coverage_at_target`` the share of messages answered at them.
    """
    validation = metadata.get("validation") or {}
    in_scope = validation.get("in_scope_coverage_at_model_threshold")
    coverage = in_scope if in_scope is not None else validation.get("coverage_at_model_threshold")
    algorithm = metadata.get("algorithm") or {}
    metrics: dict[str, Any] = {
        "accuracy": validation.get("accuracy"),
        "macro_f1": validation.get("macro_f1"),
        "target_precision": metadata.get("target_precision"),
        "precision_at_target": validation.get("precision_at_model_threshold"),
        "coverage_at_target": coverage,
        "oos_recall": validation.get("oos_recall"),
        "rows": metadata.get("n_rows"),
        "intents": len(metadata.get("intents") or ()),
        "data_name": metadata.get("data_name"),
        "embeddings": bool(algorithm.get("embeddings")),
        "train_seconds": metadata.get("train_seconds"),
    }
    for key in ("corrections_used", "rows_from_file"):
        if key in metadata:
            metrics[key] = metadata[key]
    return metrics
