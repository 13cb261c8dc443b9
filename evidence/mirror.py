"""The catalog's rows against the ledger: every row that mirrors custody
events must say what the events say (the ledger is the authority, and the
only part bound to checkpoints and witnesses).

- **Exhibits** (check ``exhibits``): each row has its INGESTED event and each
  INGESTED event its row; the row's title, description, seizure fields,
  file, media type, size, hashes, storage key, declared hash, who ingested it
  and when are the event's; its handling is the last HANDLING_CHANGED's (or
  the INGESTED one's); it is quarantined exactly when a declared-hash
  HASH_MISMATCH follows its INGESTED event.
- **Transfers** (check ``transfers``): each row has its TRANSFER_REQUESTED
  events and each requested transfer its row, with the same teams, purpose,
  legal basis, note and exhibits; each decision row points at the event that
  recorded it; each dispatched item at its DISPATCHED event; the state is the
  one its events lead to.
- **Bundles** (check ``bundles``): each row lists the exhibits and digests of
  its DISCLOSED events, in schedule order, and the root digest its
  BUNDLE_SEALED event sealed (a bundle made before bundles were sealed has
  none: a note).

Events recorded before INGESTED carried the descriptive fields (jitev 0.1)
cannot bind them: that is said as a note, not a finding.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from evidence.findings import Finding
from evidence.ledger import UNPARSEABLE
from evidence.models import (
    Action,
    Bundle,
    CustodyEvent,
    Exhibit,
    ExhibitStatus,
    Transfer,
    TransferState,
)

DESCRIBED = ("title", "description", "seized_at", "seized_by", "seized_from")


@dataclass
class _ExhibitEvents:
    ingested: CustodyEvent | None = None
    handling: Any = None  # the handling as the last event set it
    quarantined: bool = False


@dataclass
class _TransferEvents:
    requested: list[CustodyEvent] = field(default_factory=list)
    by_seq: dict[int, CustodyEvent] = field(default_factory=dict)
    actions: set[str] = field(default_factory=set)
    dispatched: dict[str, int] = field(default_factory=dict)  # exhibit -> DISPATCHED seq


def check_rows(
    events: Iterable[CustodyEvent],
    exhibits: list[Exhibit],
    transfers: list[Transfer],
    bundles: list[Bundle],
) -> tuple[list[Finding], list[str]]:
    """Findings where a row and the ledger disagree; notes on what cannot be bound."""
    per_exhibit: dict[str, _ExhibitEvents] = {}
    per_transfer: dict[str, _TransferEvents] = {}
    disclosed: dict[str, list[CustodyEvent]] = {}
    sealed: dict[str, CustodyEvent] = {}
    for e in events:
        if e.exhibit is not None:
            _exhibit_event(per_exhibit.setdefault(e.exhibit, _ExhibitEvents()), e)
        transfer = e.details.get("transfer")
        if isinstance(transfer, str) and e.action.startswith(
            ("TRANSFER_", "DISPATCHED", "RECEIVED")
        ):
            _transfer_event(per_transfer.setdefault(transfer, _TransferEvents()), e)
        if e.action == Action.DISCLOSED and isinstance(e.details.get("bundle"), str):
            disclosed.setdefault(e.details["bundle"], []).append(e)
        if e.action == Action.BUNDLE_SEALED and isinstance(e.details.get("bundle"), str):
            sealed[e.details["bundle"]] = e
    findings: list[Finding] = []
    notes: list[str] = []
    _exhibits(exhibits, per_exhibit, findings, notes)
    _transfers(transfers, per_transfer, findings)
    _bundles(bundles, disclosed, findings)
    _seals(bundles, sealed, findings, notes)
    return findings, notes


def _exhibit_event(seen: _ExhibitEvents, e: CustodyEvent) -> None:
    if e.action == Action.INGESTED and seen.ingested is None:
        seen.ingested = e
        seen.handling = e.details.get("handling")
    elif e.action == Action.HANDLING_CHANGED:
        seen.handling = e.details.get("to")
    elif e.action == Action.HASH_MISMATCH and "declared" in e.details and "computed" in e.details:
        seen.quarantined = True


def _exhibits(
    rows: list[Exhibit],
    seen: dict[str, _ExhibitEvents],
    findings: list[Finding],
    notes: list[str],
) -> None:
    unbound = []
    with_rows = {ex.reference for ex in rows}
    for ref, found in seen.items():
        if found.ingested is not None and ref not in with_rows:
            findings.append(
                Finding(
                    "exhibits",
                    ref,
                    f"its INGESTED event ({found.ingested.seq}) has no exhibit row: "
                    "the row was deleted, or the event was added outside jitev",
                    "missing",
                )
            )
    for ex in rows:
        events = seen.get(ex.reference)
        if events is None or events.ingested is None:
            findings.append(
                Finding("exhibits", ex.reference, "no INGESTED custody event", "missing")
            )
            continue
        e = events.ingested
        if UNPARSEABLE in e.details:
            findings.append(
                Finding(
                    "exhibits",
                    ex.reference,
                    f"its INGESTED event ({e.seq}) cannot be read (the chain check says why): "
                    "the row is not checked against it",
                    "unreadable",
                )
            )
            continue
        recorded: dict[str, Any] = {
            "source": e.details.get("source"),
            "size": e.details.get("size"),
            "blake3": e.details.get("blake3"),
            "sha256": e.details.get("sha256"),
            "media_type": e.details.get("media_type"),
            "store": e.details.get("store"),
            "team": e.team,
            "ingested_by": e.actor,
            "ingested_at": e.at.isoformat(),
            "declared": e.details.get("declared"),
            "handling": events.handling,
            "status": (
                ExhibitStatus.QUARANTINED if events.quarantined else ExhibitStatus.STORED
            ).value,
        }
        row: dict[str, Any] = {
            "source": ex.relative_path,
            "size": ex.size,
            "blake3": ex.blake3,
            "sha256": ex.sha256,
            "media_type": ex.media_type,
            "store": f"{ex.team}/{ex.storage_key}",
            "team": ex.team,
            "ingested_by": ex.ingested_by,
            "ingested_at": ex.ingested_at.isoformat(),
            "declared": (
                {"algorithm": ex.declared.algorithm, "value": ex.declared.value}
                if ex.declared
                else None
            ),
            "handling": ex.handling.as_dict(),
            "status": ex.status.value,
        }
        if all(name in e.details for name in DESCRIBED):
            recorded.update({name: e.details[name] for name in DESCRIBED})
            row.update(
                {
                    "title": ex.title,
                    "description": ex.description,
                    "seized_at": ex.seized_at.isoformat() if ex.seized_at else None,
                    "seized_by": ex.seized_by,
                    "seized_from": ex.seized_from,
                }
            )
        else:
            unbound.append(ex.reference)
        for name, value in row.items():
            if recorded[name] != value:
                findings.append(
                    Finding(
                        "exhibits",
                        ex.reference,
                        f"catalog {name} {_shown(value)} differs from the ledger's "
                        f"{_shown(recorded[name])}",
                        "edited",
                    )
                )
    if unbound:
        notes.append(
            f"{len(unbound)} exhibit(s) were ingested before their title, description and "
            f"seizure fields were recorded in the ledger (e.g. {unbound[0]}): those fields are not bound"
        )


def _shown(value: Any) -> str:
    """A value in a message: objects and lists as JSON, the rest as they are."""
    if isinstance(value, (dict, list)):
        return json.dumps(value, ensure_ascii=False, default=str)
    return str(value)


def _transfer_event(seen: _TransferEvents, e: CustodyEvent) -> None:
    seen.by_seq[e.seq] = e
    seen.actions.add(e.action)
    if e.action == Action.TRANSFER_REQUESTED:
        seen.requested.append(e)
    elif e.action == Action.DISPATCHED and e.exhibit is not None:
        seen.dispatched.setdefault(e.exhibit, e.seq)


def _state(seen: _TransferEvents, transfer: Transfer) -> TransferState:
    """The state the transfer's events lead to."""
    for action, state in (
        (Action.TRANSFER_FAILED, TransferState.FAILED),
        (Action.TRANSFER_REJECTED, TransferState.REJECTED),
        (Action.TRANSFER_CANCELLED, TransferState.CANCELLED),
        (Action.RECEIVED, TransferState.RECEIVED),
    ):
        if action in seen.actions:
            return state
    if transfer.items and all(i.reference in seen.dispatched for i in transfer.items):
        return TransferState.DISPATCHED
    approved = {
        (e.details.get("capacity"), e.details.get("for_team"))
        for e in seen.by_seq.values()
        if e.action == Action.TRANSFER_APPROVED
    }
    if all((r.capacity.value, r.team) in approved for r in transfer.required):
        return TransferState.APPROVED
    return TransferState.REQUESTED


def _transfers(
    rows: list[Transfer], seen: dict[str, _TransferEvents], findings: list[Finding]
) -> None:
    known = {t.id for t in rows}
    for transfer_id, found in seen.items():
        if found.requested and transfer_id not in known:
            findings.append(
                Finding(
                    "transfers",
                    transfer_id,
                    f"its TRANSFER_REQUESTED events ({found.requested[0].seq}, ...) have no transfer row",
                    "missing",
                )
            )
    for t in rows:
        of = seen.get(t.id)
        if of is None or not of.requested:
            findings.append(
                Finding("transfers", t.id, "no TRANSFER_REQUESTED custody event", "missing")
            )
            continue
        first = of.requested[0]
        recorded = {
            "from_team": first.details.get("from_team"),
            "to_team": first.details.get("to_team"),
            "purpose": first.details.get("purpose"),
            "legal_basis": first.details.get("legal_basis"),
            "note": first.details.get("note"),
            "requested_by": first.actor,
            "exhibits": [e.exhibit for e in of.requested],
            "state": _state(of, t).value,
        }
        row = {
            "from_team": t.from_team,
            "to_team": t.to_team,
            "purpose": t.purpose.value,
            "legal_basis": t.legal_basis,
            "note": t.note,
            "requested_by": t.requested_by,
            "exhibits": [i.reference for i in t.items],
            "state": t.state.value,
        }
        for name, value in row.items():
            if recorded[name] != value:
                findings.append(
                    Finding(
                        "transfers",
                        t.id,
                        f"catalog {name} {value!r} differs from the ledger's {recorded[name]!r}",
                        "edited",
                    )
                )
        for d in t.decisions:
            e = of.by_seq.get(d.seq)
            action = Action.TRANSFER_APPROVED if d.approved else Action.TRANSFER_REJECTED
            if e is None or (
                e.action,
                e.actor,
                e.details.get("capacity"),
                e.details.get("for_team"),
            ) != (action, d.person, d.capacity.value, d.team):
                findings.append(
                    Finding(
                        "transfers",
                        t.id,
                        f"its decision as {d.capacity.value} of {d.team} points at event {d.seq}, "
                        f"which is not that {action} event",
                        "missing",
                    )
                )
        for item in t.items:
            if (
                item.dispatched_seq is not None
                and of.dispatched.get(item.reference) != item.dispatched_seq
            ):
                findings.append(
                    Finding(
                        "transfers",
                        t.id,
                        f"{item.reference} is recorded as dispatched by event {item.dispatched_seq}, "
                        "which is not its DISPATCHED event",
                        "missing",
                    )
                )


def _bundles(
    rows: list[Bundle], disclosed: dict[str, list[CustodyEvent]], findings: list[Finding]
) -> None:
    known = {b.id for b in rows}
    for bundle_id, found in disclosed.items():
        if bundle_id not in known:
            findings.append(
                Finding(
                    "bundles",
                    bundle_id,
                    f"its DISCLOSED events ({found[0].seq}, ...) have no bundle row",
                    "missing",
                )
            )
    for b in rows:
        found = sorted(disclosed.get(b.id, []), key=lambda e: e.details.get("schedule_number", 0))
        exhibits = tuple(e.exhibit for e in found)
        if exhibits != b.exhibits:
            findings.append(
                Finding(
                    "bundles",
                    b.id,
                    f"lists {', '.join(b.exhibits)}; its DISCLOSED events name "
                    f"{', '.join(str(x) for x in exhibits) or 'none'}",
                    "edited",
                )
            )
        for e in found:
            recorded = (
                e.details.get("blake3"),
                e.details.get("sha256"),
                e.details.get("root_digest"),
            )
            if recorded != (b.blake3, b.sha256, b.root_digest):
                findings.append(
                    Finding(
                        "bundles",
                        b.id,
                        f"its digests differ from its DISCLOSED event {e.seq}'s",
                        "edited",
                    )
                )
                break


def _seals(
    rows: list[Bundle],
    sealed: dict[str, CustodyEvent],
    findings: list[Finding],
    notes: list[str],
) -> None:
    unsealed = []
    for b in rows:
        seal = sealed.get(b.id)
        if seal is None:
            unsealed.append(b.id)
        elif seal.details.get("root_digest") != b.root_digest:
            findings.append(
                Finding(
                    "bundles",
                    b.id,
                    f"its root digest differs from the one its BUNDLE_SEALED event {seal.seq} sealed",
                    "edited",
                )
            )
    if unsealed:
        notes.append(
            f"bundle(s) {', '.join(unsealed)} have no BUNDLE_SEALED event: made before "
            "bundles were sealed, their digests are bound by their DISCLOSED events only"
        )
