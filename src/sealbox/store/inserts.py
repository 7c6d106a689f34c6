"""The write path's INSERTs, written once from each table's own column names and run on the driver
connection (`store/raw.py`) in the caller's transaction: building and compiling a SQLAlchemy `insert()`
per request cost more CPU than the statement itself. Values are given in column order; times go
through `RawReader.time_param`, as the UTCDateTime column would store them."""

from __future__ import annotations

from sqlalchemy import Table

from sealbox.store.raw import Statement


def insert_into(table: Table, columns: tuple[str, ...], *, returning: str | None = None) -> Statement:
    """`INSERT INTO table (columns) VALUES (?, ...)`, with `RETURNING` one column when asked."""
    unknown = [c for c in (*columns, *([returning] if returning else [])) if c not in table.c]
    if unknown:
        raise ValueError(f"{table.name} has no column {unknown[0]}")
    names = ", ".join(f'"{c}"' for c in columns)  # quoted: `outer` is a keyword in both dialects
    # Names from the table definition, checked above; values only ever as parameters.
    sql = f"INSERT INTO {table.name} ({names}) VALUES ({', '.join('?' for _ in columns)})"  # noqa: S608  # nosec B608
    return Statement.of(sql + (f' RETURNING "{returning}"' if returning else ""))
