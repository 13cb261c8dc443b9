"""The catalog and custody ledger: cases, teams, exhibits, custody events,
ingest runs.

Revision ID: 0001
Revises:
Create Date: 2024-11-23
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _time(name: str, nullable: bool = False) -> sa.Column[object]:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def _text(name: str, nullable: bool = False) -> sa.Column[object]:
    return sa.Column(name, sa.Text(), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "cases",
        _text("id"),
        _text("title"),
        _text("agreement_ref"),
        _text("lead_team"),
        _time("created_at"),
        sa.PrimaryKeyConstraint("id", name="pk_cases"),
    )
    op.create_table(
        "teams",
        _text("code"),
        _text("member_state"),
        _text("name"),
        sa.PrimaryKeyConstraint("code", name="pk_teams"),
    )
    op.create_table(
        "case_teams",
        _text("case_id"),
        _text("team_code"),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("case_id", "team_code", name="pk_case_teams"),
        sa.ForeignKeyConstraint(["case_id"], ["cases.id"], name="fk_case_teams_case_id_cases"),
        sa.ForeignKeyConstraint(
            ["team_code"], ["teams.code"], name="fk_case_teams_team_code_teams"
        ),
    )
    op.create_table(
        "exhibits",
        _text("case_id"),
        _text("reference"),
        _text("team"),
        _text("title"),
        _text("description"),
        _time("seized_at", nullable=True),
        _text("seized_by"),
        _text("seized_from"),
        _text("original_name"),
        _text("relative_path"),
        _text("media_type"),
        sa.Column("size", sa.BigInteger(), nullable=False),
        _text("blake3"),
        _text("sha256"),
        _text("declared_algorithm", nullable=True),
        _text("declared_value", nullable=True),
        _text("storage_key"),
        _time("retention_until", nullable=True),
        _text("status"),
        _time("ingested_at"),
        _text("ingested_by"),
        sa.PrimaryKeyConstraint("case_id", "reference", name="pk_exhibits"),
        sa.UniqueConstraint("case_id", "blake3", name="uq_exhibits_case_id_blake3"),
        sa.ForeignKeyConstraint(
            ["case_id", "team"],
            ["case_teams.case_id", "case_teams.team_code"],
            name="fk_exhibits_case_id_team_case_teams",
        ),
        sa.CheckConstraint("size >= 0", name="ck_exhibits_size"),
        sa.CheckConstraint("status IN ('stored', 'quarantined')", name="ck_exhibits_status"),
        sa.CheckConstraint(
            "(declared_algorithm IS NULL) = (declared_value IS NULL)", name="ck_exhibits_declared"
        ),
    )
    op.create_index("ix_exhibits_reference", "exhibits", ["reference"])
    op.create_index("ix_exhibits_case_id_team", "exhibits", ["case_id", "team"])
    op.create_table(
        "exhibit_counters",
        _text("case_id"),
        _text("team"),
        sa.Column("last_number", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("case_id", "team", name="pk_exhibit_counters"),
        sa.ForeignKeyConstraint(
            ["case_id", "team"],
            ["case_teams.case_id", "case_teams.team_code"],
            name="fk_exhibit_counters_case_id_team_case_teams",
        ),
        sa.CheckConstraint("last_number >= 0", name="ck_exhibit_counters_last_number"),
    )
    op.create_table(
        "custody_events",
        _text("case_id"),
        sa.Column("seq", sa.Integer(), nullable=False),
        _text("exhibit", nullable=True),
        _text("action"),
        _text("actor"),
        _text("team"),
        _text("at"),
        _text("details"),
        _text("prev_hash"),
        _text("hash"),
        sa.PrimaryKeyConstraint("case_id", "seq", name="pk_custody_events"),
        sa.ForeignKeyConstraint(["case_id"], ["cases.id"], name="fk_custody_events_case_id_cases"),
        sa.CheckConstraint("seq >= 1", name="ck_custody_events_seq"),
    )
    op.create_index(
        "ix_custody_events_case_id_exhibit_seq", "custody_events", ["case_id", "exhibit", "seq"]
    )
    op.create_table(
        "ingest_runs",
        _text("id"),
        _text("case_id"),
        _text("team"),
        _text("actor"),
        _text("fingerprint"),
        _time("started_at"),
        _time("finished_at", nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_ingest_runs"),
        sa.ForeignKeyConstraint(["case_id"], ["cases.id"], name="fk_ingest_runs_case_id_cases"),
    )
    op.create_index(
        "ix_ingest_runs_case_id_team_fingerprint",
        "ingest_runs",
        ["case_id", "team", "fingerprint"],
    )
    op.create_table(
        "ingest_run_items",
        _text("run_id"),
        _text("source"),
        _text("reference"),
        sa.PrimaryKeyConstraint("run_id", "source", name="pk_ingest_run_items"),
        sa.ForeignKeyConstraint(
            ["run_id"], ["ingest_runs.id"], name="fk_ingest_run_items_run_id_ingest_runs"
        ),
    )


def downgrade() -> None:
    for table in (
        "ingest_run_items",
        "ingest_runs",
        "custody_events",
        "exhibit_counters",
        "exhibits",
        "case_teams",
        "teams",
        "cases",
    ):
        op.drop_table(table)
