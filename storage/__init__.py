"""SQL storage for supportbot: sqlmodel tables, alembic migrations and the
``bot.ports`` repositories / unit of work.

    from storage import SqlUnitOfWorkFactory, upgrade
    upgrade("sqlite:///supportbot.db")            # or postgresql://user@host/db
    uow_factory = SqlUnitOfWorkFactory("sqlite:///supportbot.db")
"""

from storage.database import current_revision, head_revision, make_engine, normalize_url, upgrade
from storage.uow import SqlUnitOfWork, SqlUnitOfWorkFactory

__all__ = [
    "SqlUnitOfWork",
    "SqlUnitOfWorkFactory",
    "current_revision",
    "head_revision",
    "make_engine",
    "normalize_url",
    "upgrade",
]
