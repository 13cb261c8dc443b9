"""Rows to domain values and back: cases, exhibits, custody events."""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Row

from evidence.ledger import UNPARSEABLE, canonical_details, canonical_json, format_time
from evidence.models import (
    Bundle,
    Capacity,
    Case,
    CustodyEvent,
    Decision,
    DeclaredHash,
    Exhibit,
    ExhibitStatus,
    Handling,
    HandlingCode,
    Person,
    Purpose,
    Receipt,
    Requirement,
    Role,
    Team,
    Transfer,
    TransferItem,
    TransferState,
)

TIME_FORMAT = "%Y-%m-%dT%H:%M:%S.%fZ"  # evidence.ledger.format_time
_TIME = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{6}Z")
# A stored time that is not in format_time form was edited outside jitev. The
# event is returned with this time, which cannot hash to the stored hash, so
# verification reports it as edited instead of crashing.
UNREADABLE_TIME = datetime(1, 1, 1, tzinfo=UTC)


IN_PART = 500  # values in one IN (...): well under every driver's limit on parameters


def in_parts(values: list[str]) -> Iterator[list[str]]:
    """``values`` in slices small enough for one ``IN (...)`` each."""
    for start in range(0, len(values), IN_PART):
        yield values[start : start + IN_PART]


def case_from_rows(row: Row[Any], team_rows: Iterable[Row[Any]]) -> Case:
    return Case(
        id=row.id,
        title=row.title,
        agreement_ref=row.agreement_ref,
        teams=tuple(Team(t.code, t.member_state, t.name) for t in team_rows),
        lead_team=row.lead_team,
    )


def exhibit_values(exhibit: Exhibit) -> dict[str, Any]:
    return {
        "case_id": exhibit.case_id,
        "reference": exhibit.reference,
        "team": exhibit.team,
        "title": exhibit.title,
        "description": exhibit.description,
        "seized_at": exhibit.seized_at,
        "seized_by": exhibit.seized_by,
        "seized_from": exhibit.seized_from,
        "original_name": exhibit.original_name,
        "relative_path": exhibit.relative_path,
        "media_type": exhibit.media_type,
        "size": exhibit.size,
        "blake3": exhibit.blake3,
        "sha256": exhibit.sha256,
        "declared_algorithm": exhibit.declared.algorithm if exhibit.declared else None,
        "declared_value": exhibit.declared.value if exhibit.declared else None,
        "storage_key": exhibit.storage_key,
        "retention_until": exhibit.retention_until,
        "status": exhibit.status.value,
        "ingested_at": exhibit.ingested_at,
        "ingested_by": exhibit.ingested_by,
        **handling_values(exhibit.handling),
    }


def handling_values(handling: Handling) -> dict[str, Any]:
    return {
        "handling_code": handling.code.value,
        "handling_note": handling.note,
        "purposes": ",".join(handling.purposes),
    }


def handling_from_row(row: Row[Any]) -> Handling:
    return Handling(
        code=HandlingCode(row.handling_code),
        note=row.handling_note,
        purposes=tuple(Purpose(p) for p in row.purposes.split(",") if p),
    )


def exhibit_from_row(row: Row[Any]) -> Exhibit:
    declared = None
    if row.declared_algorithm is not None and row.declared_value is not None:
        declared = DeclaredHash(row.declared_algorithm, row.declared_value)
    return Exhibit(
        reference=row.reference,
        case_id=row.case_id,
        team=row.team,
        title=row.title,
        description=row.description,
        seized_at=row.seized_at,
        seized_by=row.seized_by,
        seized_from=row.seized_from,
        original_name=row.original_name,
        relative_path=row.relative_path,
        media_type=row.media_type,
        size=row.size,
        blake3=row.blake3,
        sha256=row.sha256,
        declared=declared,
        storage_key=row.storage_key,
        retention_until=row.retention_until,
        status=ExhibitStatus(row.status),
        ingested_at=row.ingested_at,
        ingested_by=row.ingested_by,
        handling=handling_from_row(row),
    )


def event_values(event: CustodyEvent) -> dict[str, Any]:
    return {
        "case_id": event.case_id,
        "seq": event.seq,
        "exhibit": event.exhibit,
        "action": event.action,
        "actor": event.actor,
        "team": event.team,
        "at": format_time(event.at),
        "details": canonical_json(event.details).decode("utf-8"),
        "prev_hash": event.prev_hash,
        "hash": event.hash,
    }


def parse_time(text: str) -> datetime:
    try:
        if _TIME.fullmatch(text):  # the form format_time writes: read fast
            return datetime.fromisoformat(text)
        return datetime.strptime(text, TIME_FORMAT).replace(tzinfo=UTC)
    except ValueError:
        return UNREADABLE_TIME


def parse_details(text: str) -> dict[str, Any]:
    """The stored details, or ``{"__unparseable__": text}`` when they are not
    exactly the canonical bytes of a JSON object (edited outside jitev): a
    duplicate key, which Python and SQL's ``json_extract`` read differently,
    a float, or any re-encoding (``ledger.canonical_details``). The event
    then cannot hash to its stored hash, and verification names it."""
    found = canonical_details(text)
    return {UNPARSEABLE: text} if found is None else found


def event_from_row(row: Row[Any]) -> CustodyEvent:
    return CustodyEvent(
        case_id=row.case_id,
        seq=row.seq,
        exhibit=row.exhibit,
        action=row.action,
        actor=row.actor,
        team=row.team,
        at=parse_time(row.at),
        details=parse_details(row.details),
        prev_hash=row.prev_hash,
        hash=row.hash,
    )


def person_from_row(row: Row[Any]) -> Person:
    return Person(row.name, row.team, frozenset(Role(r) for r in row.roles.split(",") if r))


def transfer_values(transfer: Transfer, number: int) -> dict[str, Any]:
    return {
        "id": transfer.id,
        "case_id": transfer.case_id,
        "number": number,
        "from_team": transfer.from_team,
        "to_team": transfer.to_team,
        "purpose": transfer.purpose.value,
        "legal_basis": transfer.legal_basis,
        "note": transfer.note,
        "state": transfer.state.value,
        "failure": transfer.failure,
        "required": json.dumps([[r.capacity.value, r.team] for r in transfer.required]),
        "requested_by": transfer.requested_by,
        "requested_at": transfer.requested_at,
    }


def item_values(transfer_id: str, position: int, item: TransferItem) -> dict[str, Any]:
    return {
        "transfer_id": transfer_id,
        "position": position,
        "reference": item.reference,
        "origin_team": item.origin_team,
        **handling_values(item.handling),
        "size": item.size,
        "blake3": item.blake3,
        "sha256": item.sha256,
        "dispatched_seq": item.dispatched_seq,
    }


def transfer_from_rows(
    row: Row[Any],
    items: Iterable[Row[Any]],
    decisions: Iterable[Row[Any]],
    receipt: Row[Any] | None,
) -> Transfer:
    return Transfer(
        id=row.id,
        case_id=row.case_id,
        from_team=row.from_team,
        to_team=row.to_team,
        purpose=Purpose(row.purpose),
        legal_basis=row.legal_basis,
        note=row.note,
        state=TransferState(row.state),
        requested_by=row.requested_by,
        requested_at=row.requested_at,
        items=tuple(
            TransferItem(
                reference=i.reference,
                origin_team=i.origin_team,
                handling=handling_from_row(i),
                size=i.size,
                blake3=i.blake3,
                sha256=i.sha256,
                dispatched_seq=i.dispatched_seq,
            )
            for i in items
        ),
        required=tuple(Requirement(Capacity(c), t) for c, t in json.loads(row.required)),
        decisions=tuple(
            Decision(
                capacity=Capacity(d.capacity),
                team=d.team,
                person=d.person,
                approved=bool(d.approved),
                reason=d.reason,
                at=d.at,
                seq=d.seq,
            )
            for d in decisions
        ),
        receipt=(
            Receipt(
                transfer_id=row.id,
                payload=json.loads(receipt.payload),
                signature=receipt.signature,
                key_fingerprint=receipt.key_fingerprint,
            )
            if receipt is not None
            else None
        ),
        failure=row.failure,
    )


def bundle_values(bundle: Bundle, number: int) -> dict[str, Any]:
    return {
        "id": bundle.id,
        "case_id": bundle.case_id,
        "team": bundle.team,
        "number": number,
        "prosecutor": bundle.prosecutor,
        "created_at": bundle.created_at,
        "ledger_head": bundle.ledger_head,
        "root_digest": bundle.root_digest,
        "size": bundle.size,
        "blake3": bundle.blake3,
        "sha256": bundle.sha256,
        "exhibits": json.dumps(list(bundle.exhibits)),
        "sensitive": json.dumps(list(bundle.sensitive)),
        "sensitive_key": bundle.sensitive_key,
    }


def bundle_from_row(row: Row[Any]) -> Bundle:
    return Bundle(
        id=row.id,
        case_id=row.case_id,
        team=row.team,
        prosecutor=row.prosecutor,
        created_at=row.created_at,
        ledger_head=row.ledger_head,
        root_digest=row.root_digest,
        size=row.size,
        blake3=row.blake3,
        sha256=row.sha256,
        exhibits=tuple(json.loads(row.exhibits)),
        sensitive=tuple(json.loads(row.sensitive)),
        sensitive_key=row.sensitive_key,
    )
