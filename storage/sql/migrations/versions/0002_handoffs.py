"""People, team public keys, handling codes, transfers, decisions, receipts.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | Sequence[str] | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _time(name: str, nullable: bool = False) -> sa.Column[object]:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def _text(name: str, nullable: bool = False) -> sa.Column[object]:
    return sa.Column(name, sa.Text(), nullable=nullable)


def upgrade() -> None:
    with op.batch_alter_table("exhibits") as batch:  # SQLite: table copy for the CHECK
        batch.add_column(sa.Column("handling_code", sa.Text(), nullable=False, server_default="H0"))
        batch.add_column(sa.Column("handling_note", sa.Text(), nullable=False, server_default=""))
        batch.add_column(sa.Column("purposes", sa.Text(), nullable=False, server_default="jit"))
        batch.create_check_constraint(
            "ck_exhibits_handling_code", "handling_code IN ('H0', 'H1', 'H2', 'H3')"
        )
    op.create_table(
        "people",
        _text("name"),
        _text("team"),
        _text("roles"),
        _text("added_by"),
        _time("added_at"),
        sa.PrimaryKeyConstraint("name", name="pk_people"),
    )
    op.create_table(
        "team_keys",
        _text("team"),
        _text("public_key"),
        _text("fingerprint"),
        _time("added_at"),
        sa.PrimaryKeyConstraint("team", name="pk_team_keys"),
    )
    op.create_table(
        "transfers",
        _text("id"),
        _text("case_id"),
        sa.Column("number", sa.Integer(), nullable=False),
        _text("from_team"),
        _text("to_team"),
        _text("purpose"),
        _text("legal_basis"),
        _text("note"),
        _text("state"),
        _text("failure"),
        _text("required"),
        _text("requested_by"),
        _time("requested_at"),
        sa.PrimaryKeyConstraint("id", name="pk_transfers"),
        sa.ForeignKeyConstraint(["case_id"], ["cases.id"], name="fk_transfers_case_id_cases"),
        sa.UniqueConstraint("case_id", "number", name="uq_transfers_case_id_number"),
        sa.CheckConstraint(
            "state IN ('requested', 'approved', 'dispatched', 'received', 'rejected', "
            "'cancelled', 'failed')",
            name="ck_transfers_state",
        ),
        sa.CheckConstraint("from_team <> to_team", name="ck_transfers_teams"),
    )
    op.create_table(
        "transfer_items",
        _text("transfer_id"),
        sa.Column("position", sa.Integer(), nullable=False),
        _text("reference"),
        _text("origin_team"),
        _text("handling_code"),
        _text("handling_note"),
        _text("purposes"),
        sa.Column("size", sa.BigInteger(), nullable=False),
        _text("blake3"),
        _text("sha256"),
        sa.Column("dispatched_seq", sa.Integer(), nullable=True),
        sa.PrimaryKeyConstraint("transfer_id", "reference", name="pk_transfer_items"),
        sa.ForeignKeyConstraint(
            ["transfer_id"], ["transfers.id"], name="fk_transfer_items_transfer_id_transfers"
        ),
    )
    op.create_table(
        "transfer_decisions",
        _text("transfer_id"),
        _text("capacity"),
        _text("team"),
        _text("person"),
        sa.Column("approved", sa.Boolean(), nullable=False),
        _text("reason"),
        _time("at"),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("transfer_id", "capacity", "team", name="pk_transfer_decisions"),
        sa.ForeignKeyConstraint(
            ["transfer_id"], ["transfers.id"], name="fk_transfer_decisions_transfer_id_transfers"
        ),
    )
    op.create_table(
        "receipts",
        _text("transfer_id"),
        _text("payload"),
        _text("signature"),
        _text("key_fingerprint"),
        sa.PrimaryKeyConstraint("transfer_id", name="pk_receipts"),
        sa.ForeignKeyConstraint(
            ["transfer_id"], ["transfers.id"], name="fk_receipts_transfer_id_transfers"
        ),
    )


def downgrade() -> None:
    for table in ("receipts", "transfer_decisions", "transfer_items", "transfers"):
        op.drop_table(table)
    op.drop_table("team_keys")
    op.drop_table("people")
    with op.batch_alter_table("exhibits") as batch:
        batch.drop_constraint("ck_exhibits_handling_code", type_="check")
        for column in ("purposes", "handling_note", "handling_code"):
            batch.drop_column(column)
