"""deleted secrets wait in a recovery window before they are removed for good

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-07 14:20:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import sealbox.store.tables

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("secrets", schema=None) as batch_op:
        batch_op.add_column(sa.Column("deleted_at", sealbox.store.tables.UTCDateTime(), nullable=True))
        batch_op.add_column(sa.Column("deleted_by", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("purge_at", sealbox.store.tables.UTCDateTime(), nullable=True))
        batch_op.create_index("ix_secrets_purge_at", ["purge_at"], unique=False)


def downgrade() -> None:
    # Secrets still in the window were deleted: going back removes them for good (their versions and
    # grants, first: the foreign keys may be off while migrating).
    op.execute(
        "DELETE FROM secret_versions WHERE secret_id IN (SELECT id FROM secrets WHERE deleted_at IS NOT NULL)"
    )
    op.execute("DELETE FROM grants WHERE secret_id IN (SELECT id FROM secrets WHERE deleted_at IS NOT NULL)")
    op.execute("DELETE FROM secrets WHERE deleted_at IS NOT NULL")
    with op.batch_alter_table("secrets", schema=None) as batch_op:
        batch_op.drop_index("ix_secrets_purge_at")
        batch_op.drop_column("purge_at")
        batch_op.drop_column("deleted_by")
        batch_op.drop_column("deleted_at")
