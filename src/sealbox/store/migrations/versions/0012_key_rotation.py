"""key rotation: a lease per key level being re-wrapped, and the users' previous keys

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-07 14:20:00.000000

Only adds a table (an expand step): a server of the release before ignores it.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import sealbox.store.tables

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "key_rotation_leases",
        sa.Column("name", sa.String(length=32), nullable=False),
        sa.Column("holder", sa.String(length=128), nullable=False),
        sa.Column("expires_at", sealbox.store.tables.UTCDateTime(), nullable=False),
        sa.Column("started_at", sealbox.store.tables.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_key_rotation_leases")),
    )
    op.create_table(
        "previous_user_keys",
        sa.Column("user_id", sa.String(length=32), nullable=False),
        sa.Column("key_id", sa.String(length=16), nullable=False),
        sa.Column("user_key", sa.LargeBinary(), nullable=False),
        sa.Column("master_key_id", sa.String(length=16), nullable=False),
        sa.Column("replaced_at", sealbox.store.tables.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_previous_user_keys_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("user_id", "key_id", name=op.f("pk_previous_user_keys")),
    )


def downgrade() -> None:
    op.drop_table("previous_user_keys")
    op.drop_table("key_rotation_leases")
