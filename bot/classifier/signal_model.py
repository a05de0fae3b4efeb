"""Trained urgency and sentiment models, combined with the transparent cues of :mod:`.signals`.

Each target (urgency, sentiment) has a multinomial logistic regression over

* word 1-2 + char_wb 2-5 TF-IDF of the message,
* the cue families of :mod:`.signals` that match (one 0/1 column each) and the
  rules' own verdict (one-hot), so the model learns when to trust them,
* the sentence embedding of the message (when the ONNX runtime is installed).

Regularisation and block weights are chosen by 5-fold cross-validation on the
training CSV. The cues stay as explanations (``urgency_reasons``) and two of
them are floors the model cannot go under: security-incident language is at
least ``high``, and so is a customer whose frustration (repeated asks across
the conversation) reaches 0.6.

Saved like the intent model: JSON + ``.npz`` arrays under a SHA-256 manifest.
"""

from __future__ import annotations

import csv
import itertools
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, cast

import numpy as np
import scipy.sparse as sp
from numpy.typing import NDArray
from scipy.special import softmax
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold

from supportbot.bot.classifier import embeddings as emb_mod
from supportbot.bot.classifier import storage
from supportbot.bot.classifier.features import DEFAULT_BLOCKS, Featurizer
from supportbot.bot.classifier.signals import (
    SENTIMENT_CUES,
    URGENCY_CUES,
    assess_frustration,
    assess_sentiment,
    assess_urgency,
    sentiment_cues,
    urgency_cues,
)
from supportbot.bot.domain import Sentiment, Urgency
from supportbot.bot.errors import InvalidInput, ModelError

FORMAT_NAME = "supportbot-signal-model"
TARGETS: dict[str, tuple[str, ...]] = {
    "urgency": tuple(u.value for u in Urgency),
    "sentiment": tuple(s.value for s in Sentiment),
}
# (C, cue weight, embedding weight) candidates for the cross-validated choice
DEFAULT_GRID: tuple[tuple[float, float, float], ...] = tuple(
    itertools.product((0.3, 1.0, 3.0, 10.0), (0.25, 0.5, 1.0), (0.0, 1.0, 2.0, 3.0))
)
SECURITY_FLOOR = Urgency.HIGH
FRUSTRATION_FLOOR = 0.6  # frustration (incl. repeated asks in context) that makes a message at least high

Progress = Callable[[str], None]


def _quiet(_: str) -> None:
    pass


def _cue_names(target: str) -> list[str]:
    fams = URGENCY_CUES if target == "urgency" else {**SENTIMENT_CUES, "caps": None}
    return [f"cue:{n}" for n in fams] + [f"rule:{v}" for v in TARGETS[target]]


def cue_matrix(target: str, texts: Sequence[str]) -> np.ndarray:
    """0/1 columns: which cue families match, and the rules' verdict (one-hot)."""
    names = _cue_names(target)
    col = {n: i for i, n in enumerate(names)}
    out = np.zeros((len(texts), len(names)), dtype=np.float32)
    for r, text in enumerate(texts):
        frustration, _ = assess_frustration(text)
        if target == "urgency":
            found = urgency_cues(text)
            verdict = assess_urgency(text, frustration=frustration)[0].value
        else:
            found = sentiment_cues(text)
            verdict = assess_sentiment(text, frustration).value
        for name in found:
            out[r, col[f"cue:{name}"]] = 1.0
        out[r, col[f"rule:{verdict}"]] = 1.0
    return out


@dataclass
class SignalHead:
    """One target's model: ``softmax(x @ weights.T + bias)`` over TF-IDF | cues | embedding."""

    target: str
    labels: list[str]
    featurizer: Featurizer
    weights: np.ndarray  # (classes, tfidf + cues + embedding dims)
    bias: np.ndarray
    c: float
    cue_weight: float
    emb_weight: float  # 0: the embedding block is not used
    validation: dict[str, Any] = field(default_factory=dict)

    def features(self, texts: Sequence[str], emb: np.ndarray | None) -> sp.csr_matrix:
        return _features(self.featurizer, self.target, texts, emb, self.cue_weight, self.emb_weight)

    def predict_proba(self, texts: Sequence[str], emb: np.ndarray | None = None) -> NDArray[np.floating[Any]]:
        x = self.features(texts, emb)
        return cast("NDArray[np.floating[Any]]", softmax(np.asarray(x @ self.weights.T) + self.bias, axis=1))


def _features(
    feat: Featurizer, target: str, texts: Sequence[str], emb: np.ndarray | None, cue_w: float, emb_w: float
) -> sp.csr_matrix:
    if emb_w > 0 and emb is None:
        raise ModelError("this signal model uses sentence embeddings; none were given")
    return _stack(feat.transform(texts), cue_matrix(target, texts), emb, cue_w, emb_w)


@dataclass
class SignalModel:
    urgency: SignalHead
    sentiment: SignalHead
    embedding: dict[str, Any] | None
    metadata: dict[str, Any] = field(default_factory=dict)

    @property
    def uses_embeddings(self) -> bool:
        return self.urgency.emb_weight > 0 or self.sentiment.emb_weight > 0

    @property
    def version(self) -> str:
        return str(self.metadata.get("version", "unversioned"))

    def embed(self, texts: Sequence[str]) -> np.ndarray | None:
        return emb_mod.encode(texts) if self.uses_embeddings else None

    def predict(self, text: str, emb: np.ndarray | None = None) -> tuple[tuple[str, float], tuple[str, float]]:
        """((urgency, probability), (sentiment, probability)) of one message, before floors."""
        if emb is None and self.uses_embeddings:
            emb = self.embed([text])
        e = None if emb is None else np.asarray(emb, dtype=np.float32).reshape(1, -1)
        out = []
        for head in (self.urgency, self.sentiment):
            p = head.predict_proba([text], e)[0]
            j = int(p.argmax())
            out.append((head.labels[j], float(p[j])))
        return out[0], out[1]

    # ------------------------------------------------------------------ persistence

    def save(self, model_dir: Path) -> None:
        model_dir = Path(model_dir)
        model_dir.mkdir(parents=True, exist_ok=True)
        heads = {}
        arrays: dict[str, np.ndarray] = {}
        for head in (self.urgency, self.sentiment):
            t = head.target
            heads[t] = {
                "labels": head.labels,
                "c": head.c,
                "cue_weight": head.cue_weight,
                "emb_weight": head.emb_weight,
                "cue_columns": _cue_names(t),
                "validation": head.validation,
            }
            storage.write_json(model_dir / f"features_{t}.json", head.featurizer.to_json())
            arrays[f"{t}_weights"] = head.weights.astype(np.float32)
            arrays[f"{t}_bias"] = head.bias.astype(np.float32)
            arrays.update({f"{t}_{k}": v for k, v in head.featurizer.arrays().items()})
        storage.write_json(
            model_dir / "signals.json", {"heads": heads, "embedding": self.embedding, "metadata": self.metadata}
        )
        storage.write_arrays(model_dir / "arrays.npz", arrays)
        names = ["signals.json", "features_urgency.json", "features_sentiment.json", "arrays.npz"]
        storage.write_manifest(model_dir, names, fmt=FORMAT_NAME)

    @classmethod
    def load(cls, model_dir: Path | str) -> SignalModel:
        model_dir = Path(model_dir)
        storage.verify_manifest(model_dir, fmt=FORMAT_NAME)
        meta = storage.read_json(model_dir / "signals.json")
        arrays = storage.read_arrays(model_dir / "arrays.npz")
        try:
            embedding = meta.get("embedding")
            heads = {}
            for t in TARGETS:
                h = meta["heads"][t]
                if h["cue_columns"] != _cue_names(t):
                    raise ValueError(f"{t}: the cue columns changed since training; retrain the signal model")
                prefix = f"{t}_"
                feat_arrays = {k[len(prefix) :]: v for k, v in arrays.items() if k.startswith(prefix + "idf_")}
                feat = Featurizer.from_saved(storage.read_json(model_dir / f"features_{t}.json"), feat_arrays)
                emb_w = float(h["emb_weight"])
                heads[t] = SignalHead(
                    target=t,
                    labels=[str(x) for x in h["labels"]],
                    featurizer=feat,
                    weights=np.asarray(arrays[f"{t}_weights"], dtype=np.float32),
                    bias=np.asarray(arrays[f"{t}_bias"], dtype=np.float32),
                    c=float(h["c"]),
                    cue_weight=float(h["cue_weight"]),
                    emb_weight=emb_w,
                    validation=dict(h.get("validation", {})),
                )
                width = feat.size + len(_cue_names(t)) + (emb_mod.DIM if emb_w > 0 else 0)
                if heads[t].weights.shape != (len(heads[t].labels), width):
                    raise ValueError(f"{t}: weights {heads[t].weights.shape} do not fit {width} features")
            model = cls(heads["urgency"], heads["sentiment"], embedding, dict(meta.get("metadata", {})))
        except (KeyError, ValueError, TypeError) as exc:
            raise ModelError(f"signal model in {model_dir} is inconsistent: {exc}") from exc
        if model.uses_embeddings:
            if not embedding or embedding.get("sha256") != emb_mod.MODEL_SHA256:
                raise ModelError(f"signal model in {model_dir} was trained with another embedding model; retrain it")
            emb_mod.require_encoder()  # load (and check) the encoder now, not on the first message
        return model


# ---------------------------------------------------------------------- combination with the cues


def combine_urgency(
    model_label: str, probability: float, text: str, frustration: float
) -> tuple[Urgency, tuple[str, ...]]:
    """The model's urgency, raised to the floors; reasons = the model's verdict + the cues (explanations)."""
    rule_level, rule_reasons = assess_urgency(text, frustration=frustration)
    level = Urgency(model_label)
    reasons = [f"model: {level.value} ({probability:.0%}); rules alone: {rule_level.value}"]
    cues = urgency_cues(text)
    if "security" in cues and level.rank < SECURITY_FLOOR.rank:
        level = SECURITY_FLOOR
        reasons.append(f"security language is at least {SECURITY_FLOOR.value}")
    if frustration >= FRUSTRATION_FLOOR and level.rank < Urgency.HIGH.rank:
        level = Urgency.HIGH
        reasons.append(f"frustrated customer (frustration {frustration:.2f}) is at least high")
    return level, tuple(reasons) + rule_reasons


def combine_sentiment(model_label: str, frustration: float) -> Sentiment:
    """The model's sentiment; a customer as frustrated as the urgency floor is negative whatever the words."""
    if frustration >= FRUSTRATION_FLOOR:
        return Sentiment.NEGATIVE
    return Sentiment(model_label)


# ---------------------------------------------------------------------- training


def read_signal_csv(path: Path | str, column: str) -> tuple[list[str], list[str]]:
    """Rows (text, label) of a ``text,<column>`` CSV; ``InvalidInput`` on bad labels."""
    path = Path(path)
    if not path.is_file():
        raise InvalidInput(f"data file {path} does not exist")
    with path.open(encoding="utf-8", newline="") as fh:
        rows = [r for r in csv.DictReader(fh) if (r.get("text") or "").strip()]
    texts = [r["text"].strip() for r in rows]
    labels = [(r.get(column) or "").strip() for r in rows]
    bad = sorted({lb for lb in labels if lb not in TARGETS[column]})
    if bad:
        raise InvalidInput(f"{path}: unknown {column} labels {bad}; expected {list(TARGETS[column])}")
    return texts, labels


def _fit_lr(x: sp.csr_matrix, y: np.ndarray, n_classes: int, c: float) -> tuple[np.ndarray, np.ndarray]:
    clf = LogisticRegression(C=c, max_iter=3000)
    clf.fit(x, y)
    w = np.zeros((n_classes, x.shape[1]), dtype=np.float32)
    b = np.full(n_classes, -1e3, dtype=np.float32)  # a label absent from the data is never chosen
    w[clf.classes_] = clf.coef_
    b[clf.classes_] = clf.intercept_
    return w, b


def _stack(tfidf: sp.csr_matrix, cues: np.ndarray, emb: np.ndarray | None, cue_w: float, emb_w: float) -> sp.csr_matrix:
    blocks = [tfidf, sp.csr_matrix(cues * cue_w)]
    if emb_w > 0 and emb is not None:
        blocks.append(sp.csr_matrix(emb * emb_w))
    return sp.hstack(blocks, format="csr")


def train_head(
    target: str,
    texts: Sequence[str],
    labels: Sequence[str],
    *,
    emb: np.ndarray | None,
    grid: Sequence[tuple[float, float, float]] = DEFAULT_GRID,
    folds: int = 5,
    seed: int = 0,
    progress: Progress = _quiet,
) -> SignalHead:
    """Choose (C, cue weight, embedding weight) by cross-validated accuracy, then fit on all rows."""
    texts = list(texts)
    classes = list(TARGETS[target])
    y = np.array([classes.index(lb) for lb in labels])
    if len(set(y.tolist())) < 2:
        raise InvalidInput(f"{target}: need at least 2 distinct labels")
    grid = [g for g in grid if g[2] == 0 or emb is not None]
    smallest = int(np.bincount(y)[np.bincount(y) > 0].min())
    k = max(2, min(folds, smallest))
    splits = list(StratifiedKFold(n_splits=k, shuffle=True, random_state=seed).split(texts, y))
    cues = cue_matrix(target, texts)  # regex cues once per row, not per grid point
    fold_feats = []
    for tr, va in splits:
        feat = Featurizer.fit([texts[i] for i in tr], DEFAULT_BLOCKS)
        fold_feats.append((feat.transform([texts[i] for i in tr]), feat.transform([texts[i] for i in va])))
    scores: dict[tuple[float, float, float], float] = {}
    for c, cue_w, emb_w in grid:
        right = 0
        for (tr, va), (x_tr, x_va) in zip(splits, fold_feats, strict=True):
            e_tr = None if emb is None else emb[tr]
            e_va = None if emb is None else emb[va]
            w, b = _fit_lr(_stack(x_tr, cues[tr], e_tr, cue_w, emb_w), y[tr], len(classes), c)
            pred = (np.asarray(_stack(x_va, cues[va], e_va, cue_w, emb_w) @ w.T) + b).argmax(axis=1)
            right += int((pred == y[va]).sum())
        scores[(c, cue_w, emb_w)] = right / len(texts)
    best = max(scores, key=lambda g: (round(scores[g], 6), -grid.index(g)))
    progress(f"{target}: {k}-fold CV accuracy {scores[best]:.3f} (C={best[0]}, cues x{best[1]}, embeddings x{best[2]})")
    feat = Featurizer.fit(texts, DEFAULT_BLOCKS)
    w, b = _fit_lr(_stack(feat.transform(texts), cues, emb, best[1], best[2]), y, len(classes), best[0])
    validation = {
        "method": f"{k}-fold cross-validation on the training rows",
        "accuracy": scores[best],
        "grid": {f"C={g[0]},cue={g[1]},emb={g[2]}": round(v, 4) for g, v in scores.items()},
        "n_rows": len(texts),
    }
    return SignalHead(target, classes, feat, w, b, best[0], best[1], best[2], validation)


def train_signal_model(
    urgency_csv: Path | str,
    sentiment_csv: Path | str,
    *,
    embeddings: bool | None = None,
    grid: Sequence[tuple[float, float, float]] = DEFAULT_GRID,
    progress: Progress = _quiet,
) -> SignalModel:
    """Train both heads from ``text,urgency`` and ``text,sentiment`` CSVs."""
    t0 = time.perf_counter()
    if embeddings is None:
        embeddings = emb_mod.available()
    heads = {}
    hashes = {}
    for target, path in (("urgency", urgency_csv), ("sentiment", sentiment_csv)):
        texts, labels = read_signal_csv(path, target)
        hashes[target] = {"file": Path(path).name, "sha256": storage.sha256_file(Path(path)), "rows": len(texts)}
        emb = emb_mod.encode(texts) if embeddings else None
        heads[target] = train_head(target, texts, labels, emb=emb, grid=grid, progress=progress)
    created = datetime.now(UTC)
    metadata = {
        "version": f"signals-{created:%Y%m%d%H%M%S}",
        "created_at": created.isoformat(),
        "data": hashes,
        "train_seconds": round(time.perf_counter() - t0, 3),
    }
    info = emb_mod.require_encoder().describe() if embeddings else None
    return SignalModel(heads["urgency"], heads["sentiment"], info, metadata)
