"""SQL storage for supportbot: sqlmodel tables, alembic migrations and the
``bot.ports`` repositories / unit of work.

    from supportbot.storage import SqlUnitOfWorkFactory, upgrade
    upgrade("sqlite:///supportbot.db")            # or postgresql://user@host/db
    uow_factory = SqlUnitOfWorkFactory("sqlite:///supportbot.db")

The names are imported on first use: reading the storage settings (``supportbot.storage.settings``)
must not load SQLAlchemy and alembic, which cost a CLI command half a second.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "SqlUnitOfWork": "supportbot.storage.uow",
    "SqlUnitOfWorkFactory": "supportbot.storage.uow",
    "current_revision": "supportbot.storage.database",
    "head_revision": "supportbot.storage.database",
    "make_engine": "supportbot.storage.database",
    "normalize_url": "supportbot.storage.database",
    "upgrade": "supportbot.storage.database",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)
