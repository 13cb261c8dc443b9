"""Exhibit search at a hundred thousand exhibits a case (``storage.sql.search``):
an index in the search's order (case, team, length and text of the
reference), and indexes for a SHA-256 prefix (BLAKE3 has one already: the
unique key (case_id, blake3)), a media type and a seizure time within a
case; each team's count of exhibits in a case (a list's total, kept by
``add_exhibits``); and the bundle selections, frozen lists of references.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-08
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | Sequence[str] | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ORDER = "ix_exhibits_search_order"
INDEXES = {
    "ix_exhibits_case_id_sha256": ["case_id", "sha256"],
    "ix_exhibits_case_id_media_type": ["case_id", "media_type"],
    "ix_exhibits_case_id_seized_at": ["case_id", "seized_at"],
}


def upgrade() -> None:
    op.create_index(
        ORDER, "exhibits", ["case_id", "team", sa.text("length(reference)"), "reference"]
    )
    for name, columns in INDEXES.items():
        op.create_index(name, "exhibits", columns)
    op.add_column(
        "exhibit_counters",
        sa.Column("exhibit_count", sa.Integer(), nullable=False, server_default="0"),
    )
    op.execute(
        "UPDATE exhibit_counters SET exhibit_count = (SELECT count(*) FROM exhibits "
        "WHERE exhibits.case_id = exhibit_counters.case_id "
        "AND exhibits.team = exhibit_counters.team)"
    )
    op.create_table(
        "selections",
        sa.Column("id", sa.Text(), nullable=False),
        sa.Column("case_id", sa.Text(), nullable=False),
        sa.Column("person", sa.Text(), nullable=False),
        sa.Column("filter", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.CheckConstraint("count >= 0", name="ck_selections_count"),
        sa.ForeignKeyConstraint(["case_id"], ["cases.id"], name="fk_selections_case_id_cases"),
        sa.PrimaryKeyConstraint("id", name="pk_selections"),
    )
    op.create_table(
        "selection_items",
        sa.Column("selection_id", sa.Text(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("reference", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["selection_id"],
            ["selections.id"],
            name="fk_selection_items_selection_id_selections",
        ),
        sa.PrimaryKeyConstraint("selection_id", "position", name="pk_selection_items"),
    )


def downgrade() -> None:
    op.drop_table("selection_items")
    op.drop_table("selections")
    with op.batch_alter_table("exhibit_counters") as batch:
        batch.drop_column("exhibit_count")
    for name in reversed(INDEXES):
        op.drop_index(name, table_name="exhibits")
    op.drop_index(ORDER, table_name="exhibits")
