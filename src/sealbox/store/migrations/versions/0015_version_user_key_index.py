"""secret versions: an index on user_key_id

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-07 17:45:00.000000

The count of versions still under a previous user key (the rotation's rows left, read at every
/metrics scrape, and `rotate user-keys --retire`) goes from the few previous keys to their versions
through it, instead of scanning every version (seconds at 1,000,000). Building it reads the table once.
"""

from __future__ import annotations

from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_secret_versions_user_key_id", "secret_versions", ["user_key_id"])


def downgrade() -> None:
    op.drop_index("ix_secret_versions_user_key_id", table_name="secret_versions")
