"""The transparency log: each case's Merkle tree, its signed checkpoints and
the witnesses' cosignatures. The tree of every existing case is built from
its stored events.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-01
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from evidence.tlog.merkle import Frontier

revision: str = "0005"
down_revision: str | Sequence[str] | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BATCH = 5000


def upgrade() -> None:
    text, binary, big = sa.Text(), sa.LargeBinary(), sa.BigInteger()
    when = sa.DateTime(timezone=True)
    op.create_table(
        "tree_nodes",
        sa.Column("case_id", text, nullable=False),
        sa.Column("level", sa.Integer(), nullable=False),
        sa.Column("idx", big, nullable=False),
        sa.Column("hash", binary, nullable=False),
        sa.PrimaryKeyConstraint("case_id", "level", "idx", name="pk_tree_nodes"),
        sa.ForeignKeyConstraint(["case_id"], ["cases.id"], name="fk_tree_nodes_case_id_cases"),
    )
    op.create_table(
        "checkpoints",
        sa.Column("case_id", text, nullable=False),
        sa.Column("size", big, nullable=False),
        sa.Column("root", binary, nullable=False),
        sa.Column("note", text, nullable=False),
        sa.Column("signed_at", when, nullable=False),
        sa.PrimaryKeyConstraint("case_id", "size", name="pk_checkpoints"),
        sa.ForeignKeyConstraint(["case_id"], ["cases.id"], name="fk_checkpoints_case_id_cases"),
    )
    op.create_table(
        "cosignatures",
        sa.Column("case_id", text, nullable=False),
        sa.Column("size", big, nullable=False),
        sa.Column("witness", text, nullable=False),
        sa.Column("line", text, nullable=False),
        sa.Column("received_at", when, nullable=False),
        sa.PrimaryKeyConstraint("case_id", "size", "witness", name="pk_cosignatures"),
        sa.ForeignKeyConstraint(
            ["case_id", "size"],
            ["checkpoints.case_id", "checkpoints.size"],
            name="fk_cosignatures_case_id_checkpoints",
        ),
    )
    _build_trees()


def _build_trees() -> None:
    conn = op.get_bind()
    nodes = sa.table(
        "tree_nodes", sa.column("case_id"), sa.column("level"), sa.column("idx"), sa.column("hash")
    )
    for (case_id,) in conn.execute(sa.text("SELECT id FROM cases ORDER BY id")).all():
        frontier, rows = Frontier(), []
        hashes = conn.execute(
            sa.text("SELECT hash FROM custody_events WHERE case_id = :c ORDER BY seq"),
            {"c": case_id},
        )
        for (event_hash,) in hashes:
            for level, idx, node in frontier.append(bytes.fromhex(event_hash)):
                rows.append({"case_id": case_id, "level": level, "idx": idx, "hash": node})
            if len(rows) >= BATCH:
                conn.execute(nodes.insert(), rows)
                rows = []
        if rows:
            conn.execute(nodes.insert(), rows)


def downgrade() -> None:
    for table in ("cosignatures", "checkpoints", "tree_nodes"):
        op.drop_table(table)
