"""The catalog's tables (SQLAlchemy Core). Alembic migrations in
``storage/sql/migrations/versions`` create them; a test checks that a
migrated database matches this module.

The custody events keep exactly the text that was hashed: ``at`` in
``evidence.ledger.format_time`` form and ``details`` as
``evidence.ledger.canonical_json``, so re-verification is byte-exact on every
backend. Other times are timezone-aware (``UtcDateTime``).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Column,
    DateTime,
    Dialect,
    ForeignKey,
    ForeignKeyConstraint,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    PrimaryKeyConstraint,
    Table,
    Text,
    TypeDecorator,
    UniqueConstraint,
    func,
    text,
)

from evidence.errors import CatalogError

NAMING = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_N_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

metadata = MetaData(naming_convention=NAMING)


class UtcDateTime(TypeDecorator[datetime]):
    """An aware datetime, stored in UTC and read back as UTC-aware (SQLite
    keeps no offset, PostgreSQL answers in the session's time zone)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise CatalogError(f"refusing to store the naive datetime {value.isoformat()}: use UTC")
        return value.astimezone(UTC)

    def process_result_value(self, value: Any | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        assert isinstance(value, datetime)
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


cases = Table(
    "cases",
    metadata,
    Column("id", Text, primary_key=True),
    Column("title", Text, nullable=False),
    Column("agreement_ref", Text, nullable=False),
    Column("lead_team", Text, nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
)

teams = Table(
    "teams",
    metadata,
    Column("code", Text, primary_key=True),
    Column("member_state", Text, nullable=False),
    Column("name", Text, nullable=False),
)

case_teams = Table(
    "case_teams",
    metadata,
    Column("case_id", Text, ForeignKey("cases.id"), nullable=False),
    Column("team_code", Text, ForeignKey("teams.code"), nullable=False),
    Column("position", Integer, nullable=False),  # keeps Case.teams in its given order
    PrimaryKeyConstraint("case_id", "team_code"),
)

exhibits = Table(
    "exhibits",
    metadata,
    Column("case_id", Text, nullable=False),
    Column("reference", Text, nullable=False),
    Column("team", Text, nullable=False),
    Column("title", Text, nullable=False),
    Column("description", Text, nullable=False),
    Column("seized_at", UtcDateTime, nullable=True),
    Column("seized_by", Text, nullable=False),
    Column("seized_from", Text, nullable=False),
    Column("original_name", Text, nullable=False),
    Column("relative_path", Text, nullable=False),
    Column("media_type", Text, nullable=False),
    Column("size", BigInteger, nullable=False),
    Column("blake3", Text, nullable=False),
    Column("sha256", Text, nullable=False),
    Column("declared_algorithm", Text, nullable=True),
    Column("declared_value", Text, nullable=True),
    Column("storage_key", Text, nullable=False),
    Column("retention_until", UtcDateTime, nullable=True),
    Column("status", Text, nullable=False),
    Column("ingested_at", UtcDateTime, nullable=False),
    Column("ingested_by", Text, nullable=False),
    Column("handling_code", Text, nullable=False, server_default="H0"),
    Column("handling_note", Text, nullable=False, server_default=""),
    Column("purposes", Text, nullable=False, server_default="jit"),  # sorted, comma-separated
    PrimaryKeyConstraint("case_id", "reference"),
    UniqueConstraint("case_id", "blake3"),
    ForeignKeyConstraint(["case_id", "team"], ["case_teams.case_id", "case_teams.team_code"]),
    CheckConstraint("size >= 0", name="size"),
    CheckConstraint("status IN ('stored', 'quarantined')", name="status"),
    CheckConstraint("(declared_algorithm IS NULL) = (declared_value IS NULL)", name="declared"),
    CheckConstraint("handling_code IN ('H0', 'H1', 'H2', 'H3')", name="handling_code"),
    Index(None, "reference"),
    Index(None, "case_id", "team"),
    # revision 0008: exhibit search (storage.sql.search). The search's order,
    # BG-EX-9999 before BG-EX-10000, read from the index, not sorted:
    Index(
        "ix_exhibits_search_order", "case_id", "team", func.length(text("reference")), "reference"
    ),
    Index(None, "case_id", "sha256"),  # a hash prefix as a range; BLAKE3: uq (case_id, blake3)
    Index(None, "case_id", "media_type"),
    Index(None, "case_id", "seized_at"),
)

exhibit_counters = Table(
    "exhibit_counters",
    metadata,
    Column("case_id", Text, nullable=False),
    Column("team", Text, nullable=False),
    Column("last_number", Integer, nullable=False),
    # The team's exhibits in the case (added with add_exhibits, never removed):
    # a list's total without counting a hundred thousand rows.
    Column("exhibit_count", Integer, nullable=False, server_default="0"),
    PrimaryKeyConstraint("case_id", "team"),
    ForeignKeyConstraint(["case_id", "team"], ["case_teams.case_id", "case_teams.team_code"]),
    CheckConstraint("last_number >= 0", name="last_number"),
)

# No foreign key from ``exhibit`` to ``exhibits``: an INGESTED event is
# appended before its exhibit row in the same transaction, and the ledger must
# stay readable whatever happens to the catalog rows.
custody_events = Table(
    "custody_events",
    metadata,
    Column("case_id", Text, ForeignKey("cases.id"), nullable=False),
    Column("seq", Integer, nullable=False),
    Column("exhibit", Text, nullable=True),
    Column("action", Text, nullable=False),
    Column("actor", Text, nullable=False),
    Column("team", Text, nullable=False),
    Column("at", Text, nullable=False),  # evidence.ledger.format_time
    Column("details", Text, nullable=False),  # evidence.ledger.canonical_json
    Column("prev_hash", Text, nullable=False),
    Column("hash", Text, nullable=False),
    PrimaryKeyConstraint("case_id", "seq"),
    CheckConstraint("seq >= 1", name="seq"),
    Index(None, "case_id", "exhibit", "seq"),
    Index(None, "case_id", "action", "seq"),  # revision 0006: an action's events (the log policy)
)

ingest_runs = Table(
    "ingest_runs",
    metadata,
    Column("id", Text, primary_key=True),
    Column("case_id", Text, ForeignKey("cases.id"), nullable=False),
    Column("team", Text, nullable=False),
    Column("actor", Text, nullable=False),
    Column("fingerprint", Text, nullable=False),
    Column("started_at", UtcDateTime, nullable=False),
    Column("finished_at", UtcDateTime, nullable=True),
    Index(None, "case_id", "team", "fingerprint"),
)

ingest_run_items = Table(
    "ingest_run_items",
    metadata,
    Column("run_id", Text, ForeignKey("ingest_runs.id"), nullable=False),
    Column("source", Text, nullable=False),
    Column("reference", Text, nullable=False),
    # revision 0007: the source's SourceFile.identity when it was read ("" for an upload)
    Column("identity", Text, nullable=False, server_default=""),
    PrimaryKeyConstraint("run_id", "source"),
)

# -- people, team keys, hand-offs (revision 0002) ---------------------------------

people = Table(
    "people",
    metadata,
    Column("name", Text, primary_key=True),
    Column("team", Text, nullable=False),
    Column("roles", Text, nullable=False),  # sorted, comma-separated
    Column("added_by", Text, nullable=False),
    Column("added_at", UtcDateTime, nullable=False),
)

# Public keys only: private keys never enter the database (storage.keys).
team_keys = Table(
    "team_keys",
    metadata,
    Column("team", Text, primary_key=True),
    Column("public_key", Text, nullable=False),  # raw Ed25519 key, hex
    Column("fingerprint", Text, nullable=False),
    Column("added_at", UtcDateTime, nullable=False),
)

transfers = Table(
    "transfers",
    metadata,
    Column("id", Text, primary_key=True),
    Column("case_id", Text, ForeignKey("cases.id"), nullable=False),
    Column("number", Integer, nullable=False),
    Column("from_team", Text, nullable=False),
    Column("to_team", Text, nullable=False),
    Column("purpose", Text, nullable=False),
    Column("legal_basis", Text, nullable=False),
    Column("note", Text, nullable=False),
    Column("state", Text, nullable=False),
    Column("failure", Text, nullable=False),
    Column("required", Text, nullable=False),  # JSON [[capacity, team], ...]
    Column("requested_by", Text, nullable=False),
    Column("requested_at", UtcDateTime, nullable=False),
    UniqueConstraint("case_id", "number"),
    CheckConstraint(
        "state IN ('requested', 'approved', 'dispatched', 'received', 'rejected', "
        "'cancelled', 'failed')",
        name="state",
    ),
    CheckConstraint("from_team <> to_team", name="teams"),
)

transfer_items = Table(
    "transfer_items",
    metadata,
    Column("transfer_id", Text, ForeignKey("transfers.id"), nullable=False),
    Column("position", Integer, nullable=False),
    Column("reference", Text, nullable=False),
    Column("origin_team", Text, nullable=False),
    Column("handling_code", Text, nullable=False),
    Column("handling_note", Text, nullable=False),
    Column("purposes", Text, nullable=False),
    Column("size", BigInteger, nullable=False),
    Column("blake3", Text, nullable=False),
    Column("sha256", Text, nullable=False),
    Column("dispatched_seq", Integer, nullable=True),
    PrimaryKeyConstraint("transfer_id", "reference"),
)

# One decision per capacity and team: the key makes a second one fail even
# if two decisions race past the state check.
transfer_decisions = Table(
    "transfer_decisions",
    metadata,
    Column("transfer_id", Text, ForeignKey("transfers.id"), nullable=False),
    Column("capacity", Text, nullable=False),
    Column("team", Text, nullable=False),
    Column("person", Text, nullable=False),
    Column("approved", Boolean, nullable=False),
    Column("reason", Text, nullable=False),
    Column("at", UtcDateTime, nullable=False),
    Column("seq", Integer, nullable=False),
    PrimaryKeyConstraint("transfer_id", "capacity", "team"),
)

receipts = Table(
    "receipts",
    metadata,
    Column("transfer_id", Text, ForeignKey("transfers.id"), primary_key=True),
    Column("payload", Text, nullable=False),  # evidence.ledger.canonical_json
    Column("signature", Text, nullable=False),
    Column("key_fingerprint", Text, nullable=False),
)

# -- disclosure bundles (revision 0003) --------------------------------------------

bundles = Table(
    "bundles",
    metadata,
    Column("id", Text, primary_key=True),
    Column("case_id", Text, ForeignKey("cases.id"), nullable=False),
    Column("team", Text, nullable=False),
    Column("number", Integer, nullable=False),
    Column("prosecutor", Text, nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    Column("ledger_head", Integer, nullable=False),
    Column("root_digest", Text, nullable=False),
    Column("size", BigInteger, nullable=False),
    Column("blake3", Text, nullable=False),
    Column("sha256", Text, nullable=False),
    Column("exhibits", Text, nullable=False),  # JSON list, schedule order
    Column("sensitive", Text, nullable=False),  # JSON list
    Column("sensitive_key", Text, nullable=True),
    UniqueConstraint("case_id", "team", "number"),
)


# -- signing in: passwords, sessions, API tokens, the access log (revision 0004) ----

# argon2id hashes (storage.passwords); never a password in clear.
credentials = Table(
    "credentials",
    metadata,
    Column("person", Text, ForeignKey("people.name"), primary_key=True),
    Column("password_hash", Text, nullable=False),
    Column("set_at", UtcDateTime, nullable=False),
)

# Only the SHA-256 of a session's cookie secret is kept.
web_sessions = Table(
    "web_sessions",
    metadata,
    Column("digest", Text, primary_key=True),
    Column("person", Text, ForeignKey("people.name"), nullable=False),
    Column("csrf", Text, nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    Column("expires_at", UtcDateTime, nullable=False),
    Column("ended_at", UtcDateTime, nullable=True),
)

api_tokens = Table(
    "api_tokens",
    metadata,
    Column("id", Text, primary_key=True),
    Column("person", Text, ForeignKey("people.name"), nullable=False),
    Column("label", Text, nullable=False),
    Column("digest", Text, nullable=False, unique=True),
    Column("created_at", UtcDateTime, nullable=False),
    Column("revoked_at", UtcDateTime, nullable=True),
)

# The access log: one hash chain (evidence.access.ACCESS_LOG), same encoding
# as custody_events.
access_events = Table(
    "access_events",
    metadata,
    Column("seq", Integer, primary_key=True, autoincrement=False),
    Column("action", Text, nullable=False),
    Column("actor", Text, nullable=False),
    Column("team", Text, nullable=False),
    Column("at", Text, nullable=False),
    Column("details", Text, nullable=False),
    Column("prev_hash", Text, nullable=False),
    Column("hash", Text, nullable=False),
    CheckConstraint("seq >= 1", name="seq"),
    Index(None, "action", "seq"),
)


# -- the transparency log of each case (revision 0005) ------------------------------

# The Merkle tree of a case's custody events (evidence.tlog.merkle): node
# (level, idx) is the hash of the complete subtree of 2**level leaves from
# leaf idx * 2**level; leaf i is event i + 1. Derived from the events and
# rebuilt from them when nodes are missing.
tree_nodes = Table(
    "tree_nodes",
    metadata,
    Column("case_id", Text, ForeignKey("cases.id"), nullable=False),
    Column("level", Integer, nullable=False),
    Column("idx", BigInteger, nullable=False),
    Column("hash", LargeBinary, nullable=False),
    PrimaryKeyConstraint("case_id", "level", "idx"),
)

# Every checkpoint the log signed: the note with the log's signature.
checkpoints = Table(
    "checkpoints",
    metadata,
    Column("case_id", Text, ForeignKey("cases.id"), nullable=False),
    Column("size", BigInteger, nullable=False),
    Column("root", LargeBinary, nullable=False),
    Column("note", Text, nullable=False),
    Column("signed_at", UtcDateTime, nullable=False),
    PrimaryKeyConstraint("case_id", "size"),
)

# The witnesses' cosignature lines, one per witness and checkpoint.
cosignatures = Table(
    "cosignatures",
    metadata,
    Column("case_id", Text, nullable=False),
    Column("size", BigInteger, nullable=False),
    Column("witness", Text, nullable=False),
    Column("line", Text, nullable=False),
    Column("received_at", UtcDateTime, nullable=False),
    PrimaryKeyConstraint("case_id", "size", "witness"),
    ForeignKeyConstraint(["case_id", "size"], ["checkpoints.case_id", "checkpoints.size"]),
)


# -- bundle selections (revision 0008) ----------------------------------------------

# A prosecutor's choice of exhibits, frozen when made (evidence.search.Selection):
# its items are the references that matched then, in the search's order.
selections = Table(
    "selections",
    metadata,
    Column("id", Text, primary_key=True),
    Column("case_id", Text, ForeignKey("cases.id"), nullable=False),
    Column("person", Text, nullable=False),
    Column("filter", Text, nullable=False),  # JSON: ExhibitFilter.as_dict
    Column("created_at", UtcDateTime, nullable=False),
    Column("count", Integer, nullable=False),
    CheckConstraint("count >= 0", name="count"),
)

selection_items = Table(
    "selection_items",
    metadata,
    Column("selection_id", Text, ForeignKey("selections.id"), nullable=False),
    Column("position", Integer, nullable=False),
    Column("reference", Text, nullable=False),
    PrimaryKeyConstraint("selection_id", "position"),
)
