"""expiry: which advance notice each secret's audit has had; sessions that may bring expired secrets

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-07 17:30:00.000000

Two new columns (expand only): `secrets.expiry_announced_days`, the smallest of 30, 7 and 1 days whose
`secret.expiring` record was written for the current expiry (NULL: none yet; a new expiry resets it), and
`sessions.allow_expired`, set for a launch with --allow-expired (its redemptions deliver an expired secret).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("secrets", schema=None) as batch_op:
        batch_op.add_column(sa.Column("expiry_announced_days", sa.Integer(), nullable=True))
    with op.batch_alter_table("sessions", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("allow_expired", sa.Boolean(), nullable=False, server_default=sa.false())
        )


def downgrade() -> None:
    with op.batch_alter_table("sessions", schema=None) as batch_op:
        batch_op.drop_column("allow_expired")
    with op.batch_alter_table("secrets", schema=None) as batch_op:
        batch_op.drop_column("expiry_announced_days")
