"""Queries on hand-offs shared by ``SqlCatalog`` (reads) and
``SqlCaseTransaction`` (reads under the chain lock)."""

from __future__ import annotations

from collections import defaultdict

from sqlalchemy import Connection, select

from evidence.errors import NotFound
from evidence.models import Holding, Purpose, Transfer, TransferState
from storage.sql import records
from storage.sql.tables import (
    exhibits,
    receipts,
    transfer_decisions,
    transfer_items,
    transfers,
)


def no_transfer(transfer_id: str) -> NotFound:
    return NotFound(f"no transfer {transfer_id}: list them with `jitev transfer list --case CASE`")


def load_transfers(conn: Connection, *ids: str, case_id: str | None = None) -> list[Transfer]:
    """The transfers with ``ids``, or all of ``case_id`` (all of every case
    when neither is given), in case and number order."""
    query = select(transfers).order_by(transfers.c.case_id, transfers.c.number)
    if ids:
        query = query.where(transfers.c.id.in_(ids))
    if case_id is not None:
        query = query.where(transfers.c.case_id == case_id)
    rows = conn.execute(query).all()
    wanted = [r.id for r in rows]
    items: dict[str, list[object]] = defaultdict(list)
    decisions: dict[str, list[object]] = defaultdict(list)
    signed = {}
    if wanted:
        for i in conn.execute(
            select(transfer_items)
            .where(transfer_items.c.transfer_id.in_(wanted))
            .order_by(transfer_items.c.transfer_id, transfer_items.c.position)
        ):
            items[i.transfer_id].append(i)
        for d in conn.execute(
            select(transfer_decisions)
            .where(transfer_decisions.c.transfer_id.in_(wanted))
            .order_by(transfer_decisions.c.transfer_id, transfer_decisions.c.seq)
        ):
            decisions[d.transfer_id].append(d)
        for r in conn.execute(select(receipts).where(receipts.c.transfer_id.in_(wanted))):
            signed[r.transfer_id] = r
    return [
        records.transfer_from_rows(r, items[r.id], decisions[r.id], signed.get(r.id))  # type: ignore[arg-type]
        for r in rows
    ]


def load_transfer(conn: Connection, transfer_id: str) -> Transfer:
    found = load_transfers(conn, transfer_id)
    if not found:
        raise no_transfer(transfer_id)
    return found[0]


def holdings(
    conn: Connection, case_id: str, reference: str | None = None
) -> dict[str, list[Holding]]:
    """Exhibit reference -> its holders: the originating team first, then
    each team that received it by a completed hand-off, in order."""
    result: dict[str, list[Holding]] = defaultdict(list)
    origin = select(exhibits.c.reference, exhibits.c.team).where(exhibits.c.case_id == case_id)
    received = (
        select(transfer_items.c.reference, transfers.c.to_team, transfers.c.purpose, transfers.c.id)
        .join(transfers, transfers.c.id == transfer_items.c.transfer_id)
        .where(
            transfers.c.case_id == case_id,
            transfers.c.state == TransferState.RECEIVED.value,
        )
        .order_by(transfers.c.number)
    )
    if reference is not None:
        origin = origin.where(exhibits.c.reference == reference)
        received = received.where(transfer_items.c.reference == reference)
    for ref, team in conn.execute(origin):
        result[ref].append(Holding(team, None, None))
    for ref, team, purpose, transfer_id in conn.execute(received):
        if all(h.team != team for h in result[ref]):
            result[ref].append(Holding(team, Purpose(purpose), transfer_id))
    return dict(result)
