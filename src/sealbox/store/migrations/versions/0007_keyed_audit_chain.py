"""keyed audit chain: chain_version and key_id on audit records

Records written before this revision were chained with plain SHA-256, which anyone who can write the
database can recompute. A migration has no key, so it cannot re-tag them: they keep their hashes and
are marked chain_version 1. The server's first record after the upgrade is keyed (version 2) and links
to the last of them, so its tag covers the whole unkeyed prefix; the verifier accepts version 1 only
before the first version-2 record.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-26 19:50:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("audit_events", schema=None) as batch_op:
        batch_op.add_column(sa.Column("chain_version", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("key_id", sa.String(length=16), nullable=True))
    op.execute("UPDATE audit_events SET chain_version = 1 WHERE hash IS NOT NULL")


def downgrade() -> None:
    with op.batch_alter_table("audit_events", schema=None) as batch_op:
        batch_op.drop_column("key_id")
        batch_op.drop_column("chain_version")
