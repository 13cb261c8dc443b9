"""An index of each case's events by action: the log policy
(``LOG_POLICY_SET``), read by every publication and verification, was a scan
of all the case's events.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-01
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0006"
down_revision: str | Sequence[str] | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

INDEX = "ix_custody_events_case_id_action_seq"


def upgrade() -> None:
    op.create_index(INDEX, "custody_events", ["case_id", "action", "seq"])


def downgrade() -> None:
    op.drop_index(INDEX, table_name="custody_events")
