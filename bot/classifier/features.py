"""TF-IDF features that can be saved as plain JSON + arrays and rebuilt exactly.

Training uses scikit-learn's ``TfidfVectorizer``; a fitted vectorizer is
exported as (analyzer settings, vocabulary, idf) and transformed at inference
time by :class:`TfidfBlock`, which reuses scikit-learn's analyzer (tokenizer /
n-gram generator) but needs no pickled object. ``tests/classifier`` checks the
rebuilt transform equals scikit-learn's.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import scipy.sparse as sp
from sklearn.feature_extraction.text import TfidfVectorizer

# The feature blocks of the default model: word 1-2-grams and
# within-word character 2-5-grams, each sublinear TF-IDF, L2-normalised.
DEFAULT_BLOCKS: tuple[dict[str, Any], ...] = (
    {"analyzer": "word", "ngram_range": [1, 2], "min_df": 1, "lowercase": True},
    {"analyzer": "char_wb", "ngram_range": [2, 5], "min_df": 2, "lowercase": True},
)


def _vectorizer(settings: dict[str, Any], *, fit_min_df: bool = True) -> TfidfVectorizer:
    return TfidfVectorizer(
        analyzer=settings["analyzer"],
        ngram_range=tuple(settings["ngram_range"]),
        min_df=settings.get("min_df", 1) if fit_min_df else 1,
        lowercase=settings.get("lowercase", True),
        sublinear_tf=True,
        dtype=np.float32,
    )


@dataclass
class TfidfBlock:
    settings: dict[str, Any]
    vocabulary: dict[str, int]
    idf: np.ndarray  # float32, len(vocabulary)

    @classmethod
    def fit(cls, settings: dict[str, Any], texts: Sequence[str]) -> TfidfBlock:
        vec = _vectorizer(settings)
        n_docs = len(texts)
        min_df = settings.get("min_df", 1)
        if isinstance(min_df, int) and min_df > 1 and n_docs < 50:
            # tiny data sets: keep every n-gram
            vec.set_params(min_df=1)
        vec.fit(texts)
        vocab = {str(k): int(v) for k, v in vec.vocabulary_.items()}
        block = cls(dict(settings), vocab, vec.idf_.astype(np.float32))
        block._sk = vec  # faster batch transform while training; never persisted
        return block

    def __post_init__(self) -> None:
        self._analyze = _vectorizer(self.settings).build_analyzer()
        self._sk: TfidfVectorizer | None = None

    @property
    def size(self) -> int:
        return len(self.idf)

    def transform(self, texts: Sequence[str]) -> sp.csr_matrix:
        if self._sk is not None:
            return self._sk.transform(texts).astype(np.float32).tocsr()
        return self.transform_portable(texts)

    def transform_portable(self, texts: Sequence[str]) -> sp.csr_matrix:
        """The transform a loaded model uses (no scikit-learn vectorizer object)."""
        indptr = [0]
        indices: list[int] = []
        values: list[float] = []
        vocab = self.vocabulary
        for text in texts:
            counts = Counter(self._analyze(text))
            idx = [vocab[g] for g in counts if g in vocab]
            tf = [counts[g] for g in counts if g in vocab]
            if idx:
                vals = (1.0 + np.log(np.asarray(tf, dtype=np.float64))) * self.idf[idx]
                norm = np.sqrt(np.dot(vals, vals))
                if norm > 0:
                    vals = vals / norm
                indices.extend(idx)
                values.extend(vals.tolist())
            indptr.append(len(indices))
        return sp.csr_matrix(
            (np.asarray(values, dtype=np.float32), np.asarray(indices, dtype=np.int64), indptr),
            shape=(len(texts), self.size),
        )

    def transform_one(self, text: str) -> tuple[np.ndarray, np.ndarray]:
        """(indices, values) of one message: the fast path for single predictions."""
        counts = Counter(self._analyze(text))
        vocab = self.vocabulary
        pairs = [(vocab[g], c) for g, c in counts.items() if g in vocab]
        if not pairs:
            return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float32)
        idx = np.fromiter((p[0] for p in pairs), dtype=np.int64, count=len(pairs))
        tf = np.fromiter((p[1] for p in pairs), dtype=np.float64, count=len(pairs))
        vals = (1.0 + np.log(tf)) * self.idf[idx]
        norm = np.sqrt(np.dot(vals, vals))
        if norm > 0:
            vals = vals / norm
        return idx, vals.astype(np.float32)


@dataclass
class Featurizer:
    blocks: list[TfidfBlock]

    @classmethod
    def fit(cls, texts: Sequence[str], blocks: Sequence[dict[str, Any]] = DEFAULT_BLOCKS) -> Featurizer:
        return cls([TfidfBlock.fit(b, texts) for b in blocks])

    @property
    def size(self) -> int:
        return sum(b.size for b in self.blocks)

    def offsets(self) -> list[int]:
        out, total = [], 0
        for b in self.blocks:
            out.append(total)
            total += b.size
        return out

    def transform(self, texts: Sequence[str]) -> sp.csr_matrix:
        return sp.hstack([b.transform(texts) for b in self.blocks], format="csr")

    def transform_one(self, text: str) -> tuple[np.ndarray, np.ndarray]:
        idx_parts, val_parts = [], []
        for off, b in zip(self.offsets(), self.blocks, strict=True):
            i, v = b.transform_one(text)
            idx_parts.append(i + off)
            val_parts.append(v)
        return np.concatenate(idx_parts), np.concatenate(val_parts)

    # ---------------------------------------------------------------- persistence

    def to_json(self) -> dict[str, Any]:
        """Settings and vocabularies (idf arrays go to the npz file)."""
        return {"blocks": [{"settings": b.settings, "terms": _terms_by_index(b.vocabulary)} for b in self.blocks]}

    def arrays(self) -> dict[str, np.ndarray]:
        return {f"idf_{i}": b.idf for i, b in enumerate(self.blocks)}

    @classmethod
    def from_saved(cls, meta: dict[str, Any], arrays: dict[str, np.ndarray]) -> Featurizer:
        blocks = []
        for i, b in enumerate(meta["blocks"]):
            terms = b["terms"]
            idf = np.asarray(arrays[f"idf_{i}"], dtype=np.float32)
            if len(terms) != len(idf):
                raise ValueError(f"block {i}: {len(terms)} terms but {len(idf)} idf values")
            blocks.append(TfidfBlock(b["settings"], {t: j for j, t in enumerate(terms)}, idf))
        return cls(blocks)


def _terms_by_index(vocabulary: dict[str, int]) -> list[str]:
    terms = [""] * len(vocabulary)
    for term, i in vocabulary.items():
        terms[i] = term
    return terms
