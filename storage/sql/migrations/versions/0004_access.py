"""Signing in: passwords, web sessions, API tokens and the access log.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-30
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | Sequence[str] | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    text = sa.Text()
    when = sa.DateTime(timezone=True)
    op.create_table(
        "credentials",
        sa.Column("person", text, nullable=False),
        sa.Column("password_hash", text, nullable=False),
        sa.Column("set_at", when, nullable=False),
        sa.PrimaryKeyConstraint("person", name="pk_credentials"),
        sa.ForeignKeyConstraint(["person"], ["people.name"], name="fk_credentials_person_people"),
    )
    op.create_table(
        "web_sessions",
        sa.Column("digest", text, nullable=False),
        sa.Column("person", text, nullable=False),
        sa.Column("csrf", text, nullable=False),
        sa.Column("created_at", when, nullable=False),
        sa.Column("expires_at", when, nullable=False),
        sa.Column("ended_at", when, nullable=True),
        sa.PrimaryKeyConstraint("digest", name="pk_web_sessions"),
        sa.ForeignKeyConstraint(["person"], ["people.name"], name="fk_web_sessions_person_people"),
    )
    op.create_table(
        "api_tokens",
        sa.Column("id", text, nullable=False),
        sa.Column("person", text, nullable=False),
        sa.Column("label", text, nullable=False),
        sa.Column("digest", text, nullable=False),
        sa.Column("created_at", when, nullable=False),
        sa.Column("revoked_at", when, nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_api_tokens"),
        sa.ForeignKeyConstraint(["person"], ["people.name"], name="fk_api_tokens_person_people"),
        sa.UniqueConstraint("digest", name="uq_api_tokens_digest"),
    )
    op.create_table(
        "access_events",
        sa.Column("seq", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("action", text, nullable=False),
        sa.Column("actor", text, nullable=False),
        sa.Column("team", text, nullable=False),
        sa.Column("at", text, nullable=False),
        sa.Column("details", text, nullable=False),
        sa.Column("prev_hash", text, nullable=False),
        sa.Column("hash", text, nullable=False),
        sa.CheckConstraint("seq >= 1", name="ck_access_events_seq"),
        sa.PrimaryKeyConstraint("seq", name="pk_access_events"),
    )
    op.create_index("ix_access_events_action_seq", "access_events", ["action", "seq"])


def downgrade() -> None:
    op.drop_index("ix_access_events_action_seq", table_name="access_events")
    for table in ("access_events", "api_tokens", "web_sessions", "credentials"):
        op.drop_table(table)
