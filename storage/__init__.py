"""SQL storage for supportbot: sqlmodel tables, alembic migrations and the
``bot.ports`` repositories / unit of work.

    from supportbot.storage import SqlUnitOfWorkFactory, upgrade
    upgrade("sqlite:///supportbot.db")            # or postgresql://user@host/db
    uow_factory = SqlUnitOfWorkFactory("sqlite:///supportbot.db")
"""

from supportbot.storage.database import current_revision, head_revision, make_engine, normalize_url, upgrade
from supportbot.storage.uow import SqlUnitOfWork, SqlUnitOfWorkFactory

__all__ = [
    "SqlUnitOfWork",
    "SqlUnitOfWorkFactory",
    "current_revision",
    "head_revision",
    "make_engine",
    "normalize_url",
    "upgrade",
]
