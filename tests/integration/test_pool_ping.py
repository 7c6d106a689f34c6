"""The PostgreSQL pool's pre-ping: a pooled connection that cannot answer it is replaced, never an error.

SQLAlchemy's ping first switches the connection to autocommit, which psycopg refuses with a
ProgrammingError when the connection is not idle. Seen under faults (CI: the converter's sweep logged a
ProgrammingError while PostgreSQL restarted). Here a connection goes back into the pool inside a
transaction (a "checkin" listener, the real pool and server otherwise), and the next checkout must work.
"""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import event, text

from sealbox.store.engine import make_engine
from tests.support.postgres import fresh_database

pytestmark = pytest.mark.postgres


def test_a_pooled_connection_that_fails_the_ping_is_replaced() -> None:
    with fresh_database() as url:
        engine = make_engine(url, pool_size=1)
        try:
            with engine.connect() as conn:
                first_pid = conn.execute(text("SELECT pg_backend_pid()")).scalar_one()

            def leave_in_a_transaction(dbapi_conn: Any, _record: Any) -> None:
                dbapi_conn.execute("SELECT 1")  # autocommit off: the connection is INTRANS in the pool

            event.listen(engine, "checkin", leave_in_a_transaction, once=True)
            with engine.connect() as conn:
                assert conn.execute(text("SELECT pg_backend_pid()")).scalar_one() == first_pid
            with engine.connect() as conn:  # the ping fails on that connection: a new one answers
                assert conn.execute(text("SELECT pg_backend_pid()")).scalar_one() != first_pid
        finally:
            engine.dispose()
