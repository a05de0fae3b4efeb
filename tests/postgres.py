"""A fresh, migrated PostgreSQL schema for tests, when the machine has a server.

Tests that want PostgreSQL use ``isolated_schema``; without
``SUPPORTBOT_TEST_DATABASE_URL`` they report themselves skipped with the reason.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from sqlalchemy.engine import make_url

from supportbot.storage import make_engine, normalize_url, upgrade

PG_ENV = "SUPPORTBOT_TEST_DATABASE_URL"
PG_SKIP = f"{PG_ENV} not set: PostgreSQL tests skipped"


@contextmanager
def isolated_schema(prefix: str) -> Iterator[str]:
    """URL of a new schema (search_path set), migrated to head and dropped afterwards."""
    base = os.environ.get(PG_ENV)
    if not base:
        pytest.skip(PG_SKIP)
    schema = f"{prefix}_{uuid.uuid4().hex[:12]}"
    admin = make_engine(base)
    with admin.begin() as conn:
        conn.exec_driver_sql(f'CREATE SCHEMA "{schema}"')
    url = normalize_url(make_url(base)).update_query_dict({"options": f"-csearch_path={schema}"})
    rendered = url.render_as_string(hide_password=False)
    try:
        upgrade(rendered)
        yield rendered
    finally:
        with admin.begin() as conn:
            conn.exec_driver_sql(f'DROP SCHEMA "{schema}" CASCADE')
        admin.dispose()
