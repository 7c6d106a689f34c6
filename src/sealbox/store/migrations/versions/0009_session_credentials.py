"""one name per feature: the table launch_credentials becomes session_credentials

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-07 11:00:00.000000

The table is created under its new name, with constraint and index names from the naming
convention, filled from the old one and the old one dropped: the same steps on SQLite (where a
renamed table keeps the old constraint names in its stored CREATE statement) and on PostgreSQL.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import sealbox.store.tables

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

_COLUMNS = "id, session_id, secret_hash, created_at, expires_at, redeemed_at"


def _create(name: str) -> None:
    op.create_table(
        name,
        sa.Column("id", sa.String(length=16), nullable=False),
        sa.Column("session_id", sa.String(length=32), nullable=False),
        sa.Column("secret_hash", sa.LargeBinary(length=32), nullable=False),
        sa.Column("created_at", sealbox.store.tables.UTCDateTime(), nullable=False),
        sa.Column("expires_at", sealbox.store.tables.UTCDateTime(), nullable=False),
        sa.Column("redeemed_at", sealbox.store.tables.UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["session_id"], ["sessions.id"], name=op.f(f"fk_{name}_session_id_sessions"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f(f"pk_{name}")),
    )
    with op.batch_alter_table(name, schema=None) as batch_op:
        batch_op.create_index(batch_op.f(f"ix_{name}_session_id"), ["session_id"], unique=False)


def _move(old: str, new: str) -> None:
    _create(new)
    # Fixed table names from this module, no input: nothing to bind.
    copy = f"INSERT INTO {new} ({_COLUMNS}) SELECT {_COLUMNS} FROM {old}"  # noqa: S608  # nosec B608
    op.execute(copy)
    with op.batch_alter_table(old, schema=None) as batch_op:
        batch_op.drop_index(batch_op.f(f"ix_{old}_session_id"))
    op.drop_table(old)


def upgrade() -> None:
    _move("launch_credentials", "session_credentials")


def downgrade() -> None:
    _move("session_credentials", "launch_credentials")
