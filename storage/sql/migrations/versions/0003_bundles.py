"""Disclosure bundles.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-23
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | Sequence[str] | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    text = sa.Text()
    op.create_table(
        "bundles",
        sa.Column("id", text, nullable=False),
        sa.Column("case_id", text, nullable=False),
        sa.Column("team", text, nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("prosecutor", text, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ledger_head", sa.Integer(), nullable=False),
        sa.Column("root_digest", text, nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("blake3", text, nullable=False),
        sa.Column("sha256", text, nullable=False),
        sa.Column("exhibits", text, nullable=False),
        sa.Column("sensitive", text, nullable=False),
        sa.Column("sensitive_key", text, nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_bundles"),
        sa.ForeignKeyConstraint(["case_id"], ["cases.id"], name="fk_bundles_case_id_cases"),
        sa.UniqueConstraint("case_id", "team", "number", name="uq_bundles_case_id_team_number"),
    )


def downgrade() -> None:
    op.drop_table("bundles")
