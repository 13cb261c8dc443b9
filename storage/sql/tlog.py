"""The transparency log's rows (revision 0005): each case's Merkle tree,
kept as it grows, and the checkpoints and cosignatures of it.

The tree is derived data: every node follows from the events, so a case
whose nodes are missing or incomplete (a database restored without them, or
rows deleted) has them rebuilt from its events at the next append or read.
That repairs the catalog's own view; it proves nothing, which is why
verification trusts only the events, the signed checkpoints and the
witnesses.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import Connection, and_, delete, func, insert, or_, select
from sqlalchemy.dialects import postgresql, sqlite

from evidence.errors import LedgerError
from evidence.tlog import merkle
from evidence.tlog.check import StoredCheckpoint
from evidence.tlog.merkle import Frontier
from storage.sql.tables import checkpoints, cosignatures, custody_events, tree_nodes

NODES_PER_QUERY = 500
EVENTS_PER_PAGE = 10_000

Node = tuple[int, int]


def size(conn: Connection, case_id: str) -> int:
    """The number of events (leaves) of the case."""
    found = conn.execute(
        select(func.max(custody_events.c.seq)).where(custody_events.c.case_id == case_id)
    ).scalar()
    return int(found or 0)


def fetch(conn: Connection, case_id: str, wanted: Iterable[Node]) -> dict[Node, bytes]:
    """The stored nodes of ``wanted`` that exist: one query per level (and
    per ``NODES_PER_QUERY`` of it), ``level = ? AND idx IN (...)``, which both
    databases answer from the primary key; a ``(level, idx) IN`` of pairs
    makes SQLite scan every node of the case."""
    per_level: dict[int, list[int]] = {}
    for level, idx in set(wanted):
        per_level.setdefault(level, []).append(idx)
    found: dict[Node, bytes] = {}
    c = tree_nodes.c
    for level, indexes in sorted(per_level.items()):
        indexes.sort()
        for start in range(0, len(indexes), NODES_PER_QUERY):
            chunk = indexes[start : start + NODES_PER_QUERY]
            rows = conn.execute(
                select(c.idx, c.hash).where(
                    c.case_id == case_id, c.level == level, c.idx.in_(chunk)
                )
            )
            found.update(((level, idx), bytes(h)) for idx, h in rows)
    return found


def nodes(
    conn: Connection, case_id: str, wanted: set[Node], leaves: int | None = None
) -> dict[Node, bytes]:
    """``wanted`` nodes of the case's tree, rebuilding the tree from its
    events (its first ``leaves``, default all) if any of them is missing."""
    found = fetch(conn, case_id, wanted)
    if len(found) < len(wanted):
        rebuild(conn, case_id, leaves)
        found = fetch(conn, case_id, wanted)
        if len(found) < len(wanted):
            raise LedgerError(f"case {case_id}: asked for tree nodes beyond its events")
    return found


def frontier(conn: Connection, case_id: str, leaves: int) -> Frontier:
    """The right edge of the tree of ``leaves`` events, to append to. Nodes
    beyond them (of events deleted outside jitev) are dropped first, or the
    case could never be appended to again: the tree is derived data, and the
    witnesses remember the deleted events."""
    _drop_beyond(conn, case_id, leaves)
    wanted = set(Frontier.levels(leaves))
    found = nodes(conn, case_id, wanted, leaves)  # not the event being appended
    return Frontier.load(leaves, lambda level, idx: found[(level, idx)])


def _drop_beyond(conn: Connection, case_id: str, leaves: int) -> None:
    of_case = tree_nodes.c.case_id == case_id
    beyond = conn.execute(
        select(tree_nodes.c.idx)
        .where(of_case, tree_nodes.c.level == 0, tree_nodes.c.idx >= leaves)
        .limit(1)
    ).first()
    if beyond is None:
        return
    top = conn.execute(select(func.max(tree_nodes.c.level)).where(of_case)).scalar() or 0
    # Node (level, idx) covers leaves idx * 2**level up to (idx + 1) * 2**level.
    conn.execute(
        delete(tree_nodes).where(
            of_case,
            or_(
                *(
                    and_(tree_nodes.c.level == level, tree_nodes.c.idx >= leaves >> level)
                    for level in range(top + 1)
                )
            ),
        )
    )


def add(conn: Connection, case_id: str, made: Iterable[tuple[int, int, bytes]]) -> None:
    rows = [{"case_id": case_id, "level": lv, "idx": i, "hash": h} for lv, i, h in made]
    if rows:
        conn.execute(insert(tree_nodes), rows)


def rebuild(conn: Connection, case_id: str, leaves: int | None = None) -> Frontier:
    """Drop the case's nodes and build them again from its events (its first
    ``leaves``, default all)."""
    conn.execute(delete(tree_nodes).where(tree_nodes.c.case_id == case_id))
    built, pending, after = Frontier(), [], 0
    bound = [] if leaves is None else [custody_events.c.seq <= leaves]
    while True:
        page = conn.execute(
            select(custody_events.c.seq, custody_events.c.hash)
            .where(custody_events.c.case_id == case_id, custody_events.c.seq > after, *bound)
            .order_by(custody_events.c.seq)
            .limit(EVENTS_PER_PAGE)
        ).all()
        for row in page:
            pending += built.append(_leaf(row.hash, case_id, row.seq))
        add(conn, case_id, pending)
        pending = []
        if len(page) < EVENTS_PER_PAGE:
            return built
        after = page[-1].seq


def _leaf(event_hash: str, case_id: str, seq: int) -> bytes:
    try:
        leaf = bytes.fromhex(event_hash)
    except ValueError:
        leaf = b""
    if len(leaf) != merkle.HASH_SIZE:
        raise LedgerError(f"case {case_id}: event {seq} has no 32-byte hash: verify the ledger")
    return leaf


# -- checkpoints and cosignatures -------------------------------------------------------


def add_checkpoint(
    conn: Connection,
    case_id: str,
    tree_size: int,
    root: bytes,
    note: str,
    at: datetime,
    postgres: bool,
) -> str:
    """Store a signed checkpoint once per size; the stored note, with the
    cosignatures stored for it so far. A stored one with another root means
    the log was rewritten: refused."""
    dialect = postgresql if postgres else sqlite
    conn.execute(
        dialect.insert(checkpoints)
        .values(case_id=case_id, size=tree_size, root=root, note=note, signed_at=at)
        .on_conflict_do_nothing()
    )
    row = conn.execute(
        select(checkpoints.c.root, checkpoints.c.note).where(
            checkpoints.c.case_id == case_id, checkpoints.c.size == tree_size
        )
    ).one()
    if bytes(row.root) != root:
        raise LedgerError(
            f"case {case_id}: a checkpoint of size {tree_size} with another root was signed "
            "before: the events were rewritten since; no new checkpoint is signed (verify the ledger)"
        )
    lines = conn.execute(
        select(cosignatures.c.line)
        .where(cosignatures.c.case_id == case_id, cosignatures.c.size == tree_size)
        .order_by(cosignatures.c.witness)
    ).scalars()
    return str(row.note) + "".join(lines)


def add_cosignature(
    conn: Connection,
    case_id: str,
    tree_size: int,
    witness: str,
    line: str,
    at: datetime,
    postgres: bool,
) -> None:
    dialect = postgresql if postgres else sqlite
    conn.execute(
        dialect.insert(cosignatures)
        .values(case_id=case_id, size=tree_size, witness=witness, line=line, received_at=at)
        .on_conflict_do_nothing()
    )


def stored(conn: Connection, case_id: str, after: int = 0) -> list[StoredCheckpoint]:
    """Every checkpoint of the case (of more than ``after`` events), each note
    with its cosignature lines."""
    lines: dict[int, list[str]] = {}
    for row in conn.execute(
        select(cosignatures.c.size, cosignatures.c.line)
        .where(cosignatures.c.case_id == case_id, cosignatures.c.size > after)
        .order_by(cosignatures.c.size, cosignatures.c.witness)
    ):
        lines.setdefault(row.size, []).append(row.line)
    return [
        StoredCheckpoint(row.size, bytes(row.root), row.note + "".join(lines.get(row.size, [])))
        for row in conn.execute(
            select(checkpoints)
            .where(checkpoints.c.case_id == case_id, checkpoints.c.size > after)
            .order_by(checkpoints.c.size)
        )
    ]


def witness_sizes(conn: Connection, case_id: str) -> dict[str, int]:
    rows = conn.execute(
        select(cosignatures.c.witness, func.max(cosignatures.c.size))
        .where(cosignatures.c.case_id == case_id)
        .group_by(cosignatures.c.witness)
    )
    return {witness: int(top) for witness, top in rows}
