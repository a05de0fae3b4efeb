"""Reading labelled CSV files with clear errors (never a traceback for bad input)."""

from __future__ import annotations

import csv
import hashlib
from dataclasses import dataclass
from pathlib import Path

from supportbot.bot.errors import InvalidInput

MIN_ROWS = 10
MIN_LABELS = 2


@dataclass(frozen=True)
class LabelledData:
    texts: list[str]
    labels: list[str]
    path: Path
    sha256: str  # of the file's bytes

    def __len__(self) -> int:
        return len(self.texts)


def file_sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def read_labelled_csv(
    path: Path | str,
    *,
    text_column: str = "text",
    label_column: str = "intent",
    min_rows: int = 0,
    min_labels: int = 0,
) -> LabelledData:
    """Rows with a non-empty text and label; raise ``InvalidInput`` on any problem."""
    path = Path(path)
    if not path.is_file():
        raise InvalidInput(f"data file {path} does not exist")
    try:
        raw = path.read_bytes()
        content = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InvalidInput(f"{path} is not UTF-8 text: {exc}") from exc
    reader = csv.DictReader(content.splitlines())
    columns = reader.fieldnames or []
    for col, what in ((text_column, "text"), (label_column, "label")):
        if col not in columns:
            shown = ", ".join(columns) if columns else "(none: the file is empty)"
            raise InvalidInput(
                f"{path} has no {what} column {col!r}; its columns are: {shown} (choose with --{what}-column)"
            )
    texts: list[str] = []
    labels: list[str] = []
    try:
        for row in reader:
            text = (row.get(text_column) or "").strip()
            label = (row.get(label_column) or "").strip()
            if text and label:
                texts.append(text)
                labels.append(label)
    except csv.Error as exc:
        raise InvalidInput(f"{path} is not a valid CSV file: {exc}") from exc
    if len(texts) < min_rows:
        raise InvalidInput(
            f"{path} has {len(texts)} usable rows (non-empty {text_column!r} and {label_column!r}); "
            f"need at least {min_rows}"
        )
    n_labels = len(set(labels))
    if n_labels < min_labels:
        raise InvalidInput(
            f"{path} has {n_labels} distinct label(s) in column {label_column!r}; need at least {min_labels}"
        )
    return LabelledData(texts, labels, path, hashlib.sha256(raw).hexdigest())
