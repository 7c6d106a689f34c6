"""Hand-written SQL for the hot reads, run on the driver connection beneath a SQLAlchemy `Connection`.

The token lookup and the secret metadata rows are read on every authenticated request; SQLAlchemy's
statement compilation, result objects and TypeDecorator processing cost more there than the query
itself. These statements run in the caller's transaction (same driver connection), so they mix freely
with SQLAlchemy Core in one read or write. Each statement is written once with `?` placeholders and
converted for psycopg (`%s`); both drivers keep it prepared (sqlite3's statement cache, psycopg's
automatic prepare after a few runs).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, cast

from sqlalchemy.engine import Connection
from sqlalchemy.exc import DBAPIError

_SQLITE_TIME = "%Y-%m-%d %H:%M:%S.%f"  # how SQLAlchemy's DateTime stores a time in SQLite


@dataclass(frozen=True, slots=True)
class Statement:
    sqlite: str
    postgresql: str

    @classmethod
    def of(cls, sql: str) -> Statement:
        text = " ".join(sql.split())
        return cls(sqlite=text, postgresql=text.replace("?", "%s"))


class RawReader:
    """Plain tuples from hand-written SQL, in the transaction `conn` is in."""

    __slots__ = ("_conn", "_driver", "_errors", "sqlite")

    def __init__(self, conn: Connection) -> None:
        self._conn = conn
        self._driver: Any = conn.connection.driver_connection
        self._errors: type[Exception] = conn.dialect.loaded_dbapi.Error
        self.sqlite = conn.dialect.name == "sqlite"

    def _execute(self, stmt: Statement, params: tuple[Any, ...]) -> Any:
        sql = stmt.sqlite if self.sqlite else stmt.postgresql
        try:
            return self._driver.execute(sql, params)
        except self._errors as exc:
            # As SQLAlchemy would raise it (the same class, a lost connection invalidated), so that
            # `Database` tells a database failure from a bug; never with the parameters.
            lost = self._conn.dialect.is_disconnect(cast(Any, exc), self._driver, None)
            if lost:
                self._conn.invalidate()
            raise DBAPIError.instance(
                sql, None, exc, self._errors, connection_invalidated=lost, dialect=self._conn.dialect
            ) from None

    def one(self, stmt: Statement, params: tuple[Any, ...]) -> tuple[Any, ...] | None:
        row: tuple[Any, ...] | None = self._execute(stmt, params).fetchone()
        return row

    def all(self, stmt: Statement, params: tuple[Any, ...]) -> list[tuple[Any, ...]]:
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
