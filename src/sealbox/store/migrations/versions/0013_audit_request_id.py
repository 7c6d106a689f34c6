"""audit records: the request id of the API request that wrote each one

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-07 15:00:00.000000

One new nullable column (expand only): a server of the release before writes chain_version 2 records
without it, which still verify; this release writes chain_version 3, whose tag covers the request id.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("audit_events", schema=None) as batch_op:
        batch_op.add_column(sa.Column("request_id", sa.String(length=64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("audit_events", schema=None) as batch_op:
        batch_op.drop_column("request_id")
