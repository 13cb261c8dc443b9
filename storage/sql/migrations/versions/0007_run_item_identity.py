"""What each ingested source file looked like when it was read (size,
modification and change times, inode): a re-run of a finished ingest skips
the files that are still the same, without reading them again.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-01
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | Sequence[str] | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("ingest_run_items") as table:
        table.add_column(sa.Column("identity", sa.Text(), nullable=False, server_default=""))


def downgrade() -> None:
    with op.batch_alter_table("ingest_run_items") as table:
        table.drop_column("identity")
