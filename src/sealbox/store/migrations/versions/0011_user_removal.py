"""people leaving: users.removed_at, and the owner id a transferred secret's versions bind

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-07 14:30:00.000000

Both columns are new and nullable (expand only): code that does not know them keeps working.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import sealbox.store.tables

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.add_column(sa.Column("removed_at", sealbox.store.tables.UTCDateTime(), nullable=True))
    with op.batch_alter_table("secret_versions", schema=None) as batch_op:
        batch_op.add_column(sa.Column("context_owner_id", sa.String(length=32), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("secret_versions", schema=None) as batch_op:
        batch_op.drop_column("context_owner_id")
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.drop_column("removed_at")
