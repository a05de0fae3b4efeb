"""Small parsing helpers shared by the adapters' settings."""

from __future__ import annotations

from typing import Any


def csv_list(value: Any) -> list[str]:
    """A comma-separated setting (``A,B,C``) or a list, as a list of strings."""
    if value is None or value == "":
        return []
    if isinstance(value, str):
        return [part.strip() for part in value.split(",") if part.strip()]
    return [str(v) for v in value]
