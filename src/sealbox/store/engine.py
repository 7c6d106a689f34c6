"""Engines for SQLite (WAL, synchronous=FULL) and PostgreSQL (psycopg 3), and migrations at start."""

from __future__ import annotations

import functools
import sqlite3
from pathlib import Path
from typing import Any
from urllib.parse import quote

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, create_engine, event, make_url
from sqlalchemy.engine import Connection, ExceptionContext
from sqlalchemy.pool import ConnectionPoolEntry

from sealbox.errors import ConfigError

MIGRATIONS = Path(__file__).parent / "migrations"
WRITE = {"sealbox_write": True}


def sqlite_url(data_dir: Path) -> str:
    return f"sqlite+pysqlite:///{data_dir / 'sealbox.db'}"


def sqlite_file(url: str) -> Path | None:
    """The database file a plain SQLite URL names (None for memory databases and `file:` URIs)."""
    parsed = make_url(url)
    name = parsed.database
    if parsed.get_backend_name() != "sqlite" or not name or name == ":memory:" or name.startswith("file:"):
        return None
    return Path(name) if not parsed.query else None


def make_engine(url: str, *, pool_size: int = 16) -> Engine:
    """An engine with sealbox's durability settings applied to every connection."""
    path = sqlite_file(url)
    if path is not None:
        # The file is created here, once; every connection then opens it read-write without creating
        # it, so a database removed under a running server fails loudly instead of coming back empty.
        if not path.exists():
            sqlite3.connect(path).close()
        url = f"sqlite+pysqlite:///file:{quote(str(path.absolute()))}?mode=rw&uri=true"
    if url.startswith("sqlite"):
        # Few connections: each keeps its own page cache, and SQLite serialises writers anyway.
        engine = create_engine(url, pool_size=min(pool_size, 6), max_overflow=2, pool_pre_ping=False)
        event.listen(engine, "connect", _sqlite_on_connect)
        event.listen(engine, "begin", _sqlite_on_begin)
        return engine
    if url.startswith("postgresql://") or url.startswith("postgres://"):
        url = "postgresql+psycopg://" + url.split("://", 1)[1]
    engine = create_engine(url, pool_size=pool_size, max_overflow=4, pool_pre_ping=True)
    event.listen(engine, "connect", _postgres_on_connect)
    event.listen(engine, "handle_error", _failed_ping_is_a_disconnect)
    return engine


def _sqlite_on_connect(dbapi_conn: sqlite3.Connection, _record: ConnectionPoolEntry) -> None:
    # Let SQLAlchemy's "begin" event issue BEGIN itself (pysqlite's own BEGIN is deferred and
    # can deadlock writers that upgrade a read lock).
    dbapi_conn.isolation_level = None
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    # FULL: an acknowledged commit survives a power loss, not only a crash (bench shows the cost).
    cur.execute("PRAGMA synchronous=FULL")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA busy_timeout=10000")
    cur.execute("PRAGMA secure_delete=ON")
    cur.execute("PRAGMA cache_size=-1024")  # 1 MiB a connection: memory stays flat as the store grows
    cur.close()


def _sqlite_on_begin(conn: Connection) -> None:
    # Straight to the driver: going through SQLAlchemy's execution machinery cost more than the BEGIN.
    driver: Any = conn.connection.driver_connection
    driver.execute("BEGIN IMMEDIATE" if conn.get_execution_options().get("sealbox_write") else "BEGIN")


def _failed_ping_is_a_disconnect(context: ExceptionContext) -> None:
    # The pool's pre-ping first switches the connection to autocommit, which psycopg refuses with a
    # ProgrammingError (not a disconnect) when the connection is not idle: whatever failed, a connection
    # that cannot answer the ping is not used. Marked as a disconnect, the pool opens a new one.
    if context.is_pre_ping:
        context.is_disconnect = True


def _postgres_on_connect(dbapi_conn: Any, _record: ConnectionPoolEntry) -> None:
    with dbapi_conn.cursor() as cur:
        cur.execute("SET synchronous_commit TO on")
    dbapi_conn.commit()


def alembic_config(url: str) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


@functools.cache
def known_revisions() -> tuple[str, frozenset[str]]:
    """(the newest revision this sealbox's migrations reach, every revision they know)."""
    script = ScriptDirectory.from_config(alembic_config("sqlite://"))
    return script.get_current_head() or "", frozenset(r.revision for r in script.walk_revisions())


def schema_revision(conn: Connection) -> str | None:
    """The database's alembic revision (None before the first migration)."""
    return MigrationContext.configure(conn).get_current_revision()


def refuse_a_newer_schema(revision: str | None) -> None:
    """ConfigError, one line, when the database was migrated by a newer sealbox than this one."""
    head, known = known_revisions()
    if revision is not None and revision not in known:
        raise ConfigError(
            f"the database's schema is at revision {revision}, which this sealbox does not know (its newest "
            f"is {head}): a newer sealbox migrated it; run that release or a later one"
        )


def migrate(engine: Engine) -> None:
    """Bring the schema to the newest revision (run at every start; a no-op when current).

    A schema newer than the migrations here (a newer release ran on this database) is refused with
    ConfigError rather than run against: this code does not know what that revision changed."""
    cfg = alembic_config(engine.url.render_as_string(hide_password=False))
    sqlite = engine.dialect.name == "sqlite"
    with engine.connect() as conn:
        if sqlite:
            # SQLite alters some tables by copying them; with foreign keys on, dropping the old copy
            # would cascade into its children. The pragma only works outside a transaction.
            conn.connection.dbapi_connection.execute("PRAGMA foreign_keys=OFF")  # type: ignore[union-attr]
        try:
            with conn.begin():
                if engine.dialect.name == "postgresql":
                    # Replicas starting together on one database migrate one at a time.
                    conn.exec_driver_sql("SELECT pg_advisory_xact_lock(5385621)")
                refuse_a_newer_schema(schema_revision(conn))
                cfg.attributes["connection"] = conn
                command.upgrade(cfg, "head")
        finally:
            if sqlite:
                conn.connection.dbapi_connection.execute("PRAGMA foreign_keys=ON")  # type: ignore[union-attr]
