"""Alembic migrations of the supportbot schema; run them with ``storage.upgrade(url)``."""
