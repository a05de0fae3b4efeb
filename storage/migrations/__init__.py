"""Alembic migrations of the supportbot schema; run them with ``storage.upgrade(url)``."""

# The newest revision in versions/. ``upgrade`` compares the database with it before loading
# alembic at all, so starting on an up-to-date database costs one query
# (tests/storage/test_migrations.py checks that it names alembic's head).
HEAD = "0005"
