"""Safe model files: JSON + ``.npz`` arrays, checked against a SHA-256 manifest.

Nothing here unpickles: arrays are read with ``allow_pickle=False`` and every
other piece is JSON. ``manifest.json`` lists the SHA-256 of every other file
written at training time; :func:`verify_manifest` refuses a directory whose
files differ from it, so a tampered or truncated file raises ``ModelError``
before anything is parsed.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import numpy as np

from supportbot.bot.errors import ModelError

MANIFEST = "manifest.json"
FORMAT_NAME = "supportbot-intent-model"
FORMAT_VERSION = 2  # 2: scope rule and neighbour index; version 1 directories still load
READABLE_VERSIONS = (1, 2)


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def write_json(path: Path, obj: Any) -> None:
    path.write_text(json.dumps(obj, indent=1, sort_keys=True, ensure_ascii=False) + "\n", encoding="utf-8")


def write_arrays(path: Path, arrays: dict[str, np.ndarray]) -> None:
    for name, arr in arrays.items():
        if arr.dtype == object:
            raise ValueError(f"array {name} has dtype object; it would need pickle")
    with path.open("wb") as fh:
        # numpy >= 2.1 declares an ``allow_pickle: bool`` keyword beside ``**kwds``, so mypy checks the
        # arrays against it too; the models' array names (weights, bias, idf_<n>, ...) never collide with it.
        np.savez_compressed(fh, **arrays)  # type: ignore[arg-type]


def write_manifest(model_dir: Path, names: list[str], *, fmt: str = FORMAT_NAME) -> dict[str, str]:
    """Record the SHA-256 of the model's own files (other files in the directory are ignored)."""
    digests = {name: sha256_file(model_dir / name) for name in sorted(names)}
    write_json(
        model_dir / MANIFEST,
        {"format": fmt, "format_version": FORMAT_VERSION, "sha256": digests},
    )
    return digests


def verify_manifest(model_dir: Path, *, fmt: str = FORMAT_NAME) -> dict[str, str]:
    """Check every file listed in the manifest; return the digests."""
    if not model_dir.is_dir():
        raise ModelError(f"model directory {model_dir} does not exist")
    manifest_path = model_dir / MANIFEST
    if not manifest_path.is_file():
        raise ModelError(f"{manifest_path} is missing; not a supportbot model directory")
    try:
        manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
        digests = manifest["sha256"]
        found = manifest["format"]
        version = manifest["format_version"]
    except (ValueError, KeyError, TypeError) as exc:
        raise ModelError(f"{manifest_path} is corrupt: {exc}") from exc
    if found != fmt:
        raise ModelError(f"{manifest_path}: format {found!r}, expected {fmt!r}")
    if version not in READABLE_VERSIONS:
        raise ModelError(f"{manifest_path}: format version {version} is not supported (readable: {READABLE_VERSIONS})")
    if not isinstance(digests, dict) or not digests:
        raise ModelError(f"{manifest_path} lists no files")
    for name, expected in digests.items():
        path = model_dir / name
        if Path(name).name != name:
            raise ModelError(f"{manifest_path}: file name {name!r} is not a plain name")
        if not path.is_file():
            raise ModelError(f"model file {path} is missing")
        actual = sha256_file(path)
        if actual != expected:
            raise ModelError(
                f"model file {path} does not match its SHA-256 in the manifest "
                f"(tampered with or corrupt); retrain or restore the model"
            )
    return dict(digests)


def read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise ModelError(f"model file {path} is missing") from exc
    except ValueError as exc:
        raise ModelError(f"model file {path} is not valid JSON: {exc}") from exc


def read_arrays(path: Path) -> dict[str, np.ndarray]:
    try:
        with np.load(path, allow_pickle=False) as data:
            return {k: data[k] for k in data.files}
    except FileNotFoundError as exc:
        raise ModelError(f"model file {path} is missing") from exc
    except (ValueError, OSError, EOFError) as exc:
        raise ModelError(f"model file {path} is corrupt: {exc}") from exc
