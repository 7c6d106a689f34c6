"""A throwaway PostgreSQL database per test session on the local server (127.0.0.1:5432, trust auth)."""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager

import psycopg
import pytest

ADMIN_URL = os.environ.get("SEALBOX_TEST_PG_ADMIN", "postgresql://postgres@127.0.0.1:5432/test")


def _server_url(dbname: str) -> str:
    base = ADMIN_URL.rsplit("/", 1)[0]
    return f"{base}/{dbname}"


def require_postgres() -> None:
    """Skip when PostgreSQL is unreachable, except in CI, where that must fail the run."""
    try:
        with psycopg.connect(ADMIN_URL, connect_timeout=3):
            pass
    except psycopg.OperationalError as exc:
        if os.environ.get("CI") == "true":
            pytest.fail(f"PostgreSQL at {ADMIN_URL} is unreachable in CI: {type(exc).__name__}")
        pytest.skip("PostgreSQL is not reachable at 127.0.0.1:5432")


@contextmanager
def fresh_database() -> Iterator[str]:
    """Create a database, yield its SQLAlchemy URL, drop it afterwards."""
    require_postgres()
    name = f"sealbox_t_{secrets.token_hex(6)}"
    with psycopg.connect(ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield _server_url(name).replace("postgresql://", "postgresql+psycopg://")
    finally:
        with psycopg.connect(ADMIN_URL, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
