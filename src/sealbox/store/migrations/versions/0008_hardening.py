"""hardening: disabled users, web sessions bound to their token, session heartbeats, group invitations

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-07 08:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import sealbox.store.tables

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.add_column(sa.Column("disabled_at", sealbox.store.tables.UTCDateTime(), nullable=True))

    with op.batch_alter_table("sessions", schema=None) as batch_op:
        batch_op.add_column(sa.Column("heartbeat_seconds", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("last_seen_at", sealbox.store.tables.UTCDateTime(), nullable=True))

    # Web sessions from before this revision do not name their token: end them, so that every web
    # session left can be ended by revoking what it started from.
    op.execute("DELETE FROM web_sessions")
    with op.batch_alter_table("web_sessions", schema=None) as batch_op:
        batch_op.add_column(sa.Column("token_id", sa.String(length=16), nullable=True))
        batch_op.create_index(batch_op.f("ix_web_sessions_token_id"), ["token_id"], unique=False)
        batch_op.create_foreign_key(
            batch_op.f("fk_web_sessions_token_id_tokens"), "tokens", ["token_id"], ["id"], ondelete="CASCADE"
        )

    op.create_table(
        "group_invitations",
        sa.Column("group_id", sa.String(length=32), nullable=False),
        sa.Column("user_id", sa.String(length=32), nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("invited_by", sa.String(length=64), nullable=False),
        sa.Column("created_at", sealbox.store.tables.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["group_id"], ["groups.id"], name=op.f("fk_group_invitations_group_id_groups"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_group_invitations_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("group_id", "user_id", name=op.f("pk_group_invitations")),
    )
    with op.batch_alter_table("group_invitations", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_group_invitations_user_id"), ["user_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("group_invitations", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_group_invitations_user_id"))
    op.drop_table("group_invitations")

    with op.batch_alter_table("web_sessions", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("fk_web_sessions_token_id_tokens"), type_="foreignkey")
        batch_op.drop_index(batch_op.f("ix_web_sessions_token_id"))
        batch_op.drop_column("token_id")

    with op.batch_alter_table("sessions", schema=None) as batch_op:
        batch_op.drop_column("last_seen_at")
        batch_op.drop_column("heartbeat_seconds")

    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.drop_column("disabled_at")
