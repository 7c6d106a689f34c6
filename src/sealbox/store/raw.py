"""SQL for the hot reads, run on the driver connection beneath a SQLAlchemy `Connection`.

The token lookup and the secret metadata rows are read on every authenticated request; SQLAlchemy's
statement compilation, result objects and TypeDecorator processing cost more there than the query
itself. These statements run in the caller's transaction (same driver connection), so they mix freely
with SQLAlchemy Core in one read or write. A statement is either a SQLAlchemy query compiled once per
dialect (`Statement.compiled`: the same tables and column lists the ORM-style path uses) or a short
one written with `?` placeholders and converted for psycopg (`Statement.of`); both drivers keep it
prepared (sqlite3's statement cache, psycopg's automatic prepare after a few runs).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, cast

from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection
from sqlalchemy.exc import DBAPIError, StatementError
from sqlalchemy.sql import Select

_SQLITE_TIME = "%Y-%m-%d %H:%M:%S.%f"  # how SQLAlchemy's DateTime stores a time in SQLite


_SQLITE = sqlite.dialect(paramstyle="qmark")
_POSTGRESQL = postgresql.psycopg.dialect(paramstyle="format")  # type: ignore[no-untyped-call]

Params = tuple[Any, ...] | Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class Statement:
    sqlite: str
    postgresql: str
    # For a compiled query: its bind names in placeholder order, per dialect, and the values the query
    # itself carries (literals such as SQLite's `OFFSET 0`); it is then run with a mapping of the rest.
    sqlite_names: tuple[str, ...] = ()
    postgresql_names: tuple[str, ...] = ()
    fixed: Mapping[str, Any] = field(default_factory=dict)

    @classmethod
    def of(cls, sql: str) -> Statement:
        text = " ".join(sql.split())
        return cls(sqlite=text, postgresql=text.replace("?", "%s"))

    @classmethod
    def compiled(cls, query: Select[Any], *, postgresql_query: Select[Any] | None = None) -> Statement:
        """`query` compiled for SQLite and for psycopg (`postgresql_query` when the two differ, such as
        in a collation); parameters are `bindparam`s, given by name when the statement runs."""
        lite = query.compile(dialect=_SQLITE)
        pg = (postgresql_query if postgresql_query is not None else query).compile(dialect=_POSTGRESQL)
        fixed = {
            name: value
            for compiled in (lite, pg)
            for name, value in compiled.params.items()
            if not compiled.binds[name].required
        }
        return cls(
            sqlite=" ".join(str(lite).split()),
            postgresql=" ".join(str(pg).split()),
            sqlite_names=tuple(lite.positiontup or ()),
            postgresql_names=tuple(pg.positiontup or ()),
            fixed=fixed,
        )

    def positional(self, for_sqlite: bool, values: Mapping[str, Any]) -> tuple[Any, ...]:
        names = self.sqlite_names if for_sqlite else self.postgresql_names
        # map() over the dict's own lookup: no Python frame per parameter (this runs on every read).
        return tuple(map({**self.fixed, **values}.__getitem__ if self.fixed else values.__getitem__, names))


class RawReader:
    """Plain tuples from hand-written SQL, in the transaction `conn` is in."""

    __slots__ = ("_conn", "_driver", "_errors", "sqlite")

    def __init__(self, conn: Connection) -> None:
        self._conn = conn
        self._driver: Any = conn.connection.driver_connection
        self._errors: type[Exception] = conn.dialect.loaded_dbapi.Error
        self.sqlite = conn.dialect.name == "sqlite"

    def _execute(self, stmt: Statement, params: Params) -> Any:
        sql = stmt.sqlite if self.sqlite else stmt.postgresql
        if type(params) is dict:  # not isinstance(…, Mapping): an ABC check costs more than the rest
            params = stmt.positional(self.sqlite, params)
        try:
            return self._driver.execute(sql, params)
        except self._errors as exc:
            raise self._failure(sql, exc) from None

    def _failure(self, sql: str, exc: Exception) -> StatementError:
        """The driver's error as SQLAlchemy would raise it (the same class, a lost connection invalidated),
        so that `Database` tells a database failure from a bug; never with the parameters."""
        lost = self._conn.dialect.is_disconnect(cast(Any, exc), self._driver, None)
        if lost:
            self._conn.invalidate()
        return DBAPIError.instance(
            sql, None, exc, self._errors, connection_invalidated=lost, dialect=self._conn.dialect
        )

    def execute_many(self, stmt: Statement, rows: list[tuple[Any, ...]]) -> None:
        """One statement for many rows (values in column order), on the driver's own executemany:
        SQLAlchemy's per-row handling of a list of dicts cost more than the rows' writing."""
        sql = stmt.sqlite if self.sqlite else stmt.postgresql
        cursor = self._driver.cursor()
        try:
            cursor.executemany(sql, rows)
        except self._errors as exc:
            raise self._failure(sql, exc) from None
        finally:
            cursor.close()

    def execute(self, stmt: Statement, params: Params) -> int:
        """A statement that answers no rows (the write path's, `store/inserts.py`); the rows it changed."""
        count: int = self._execute(stmt, params).rowcount
        return count

    def one(self, stmt: Statement, params: Params) -> tuple[Any, ...] | None:
        row: tuple[Any, ...] | None = self._execute(stmt, params).fetchone()
        return row

    def all(self, stmt: Statement, params: Params) -> list[tuple[Any, ...]]:
        rows: list[tuple[Any, ...]] = self._execute(stmt, params).fetchall()
        return rows

    def time_param(self, when: datetime) -> Any:
        """A time as the UTCDateTime column stores it (UTC, without a zone)."""
        naive = when.astimezone(UTC).replace(tzinfo=None)
        return naive.strftime(_SQLITE_TIME) if self.sqlite else naive


def utc(value: Any) -> datetime | None:
    """A stored UTCDateTime value (SQLite text or a PostgreSQL naive datetime) as an aware datetime."""
    if value is None:
        return None
    if isinstance(value, str):
        # Parsing with the zone is several times cheaper than parsing and then `replace(tzinfo=...)`.
        return datetime.fromisoformat(value + "+00:00")
    return value.replace(tzinfo=UTC)  # type: ignore[no-any-return]


def utc_required(value: Any) -> datetime:
    when = utc(value)
    if when is None:  # pragma: no cover -- NOT NULL columns
        raise ValueError("missing time")
    return when
