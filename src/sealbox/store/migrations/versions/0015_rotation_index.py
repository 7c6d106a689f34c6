"""rotation index: the secret versions by user key id

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-07 18:30:00.000000

`ix_secret_versions_user_key_id` lets the user-keys rotation (and /metrics) count the data keys still
under a previous user key from previous_user_keys, instead of scanning every secret version.
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
