"""The custody ledger: a hash chain of custody events, one chain per case.

Byte encoding (version 1), the input of each event's BLAKE3 hash::

    b"jitev-custody-v1\\n" + canonical_json(body)

where ``body`` is the JSON object

    {"action": str, "actor": str, "at": "YYYY-MM-DDTHH:MM:SS.ffffffZ",
     "case": str, "details": {...}, "exhibit": str | null,
     "prev_hash": 64 hex, "seq": int, "team": str}

and ``canonical_json`` is UTF-8 JSON with keys sorted at every level, no
whitespace (``separators=(",", ":")``), non-ASCII kept as UTF-8, and only
strings, integers, booleans, null, lists and objects (no floats, so every
implementation encodes the same bytes). The first event of a case links to
``GENESIS`` (64 zeros). The hash is the lowercase hex BLAKE3 of those bytes.

Anyone can recompute a chain with a few lines of any language: see
``verify``, which trusts nothing but the rows handed to it.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

from blake3 import blake3

from evidence.errors import LedgerError
from evidence.findings import Finding, Report
from evidence.models import CustodyEvent
from evidence.ports import EventDraft

DOMAIN = b"jitev-custody-v1\n"
GENESIS = "0" * 64
# The details a catalog hands back for stored text that is not exactly the
# canonical bytes of a JSON object (edited outside jitev): {UNPARSEABLE: text}.
# Such an event cannot hash to its stored hash.
UNPARSEABLE = "__unparseable__"


def _check_json(value: Any, where: str) -> None:
    if value is None or isinstance(value, (str, bool, int)):
        return
    if isinstance(value, list):
        for item in value:
            _check_json(item, where)
        return
    if isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, str):
                raise LedgerError(f"custody event details: key {key!r} in {where} is not a string")
            _check_json(item, where)
        return
    raise LedgerError(
        f"custody event details: {type(value).__name__} in {where} cannot be encoded "
        "canonically; use a string, integer, boolean, list or object"
    )


def canonical_json(value: Any) -> bytes:
    """The canonical bytes of ``value``. Types are checked once, when an event
    is linked (``link``), not on every re-verification of stored rows."""
    return json.dumps(
        value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    ).encode("utf-8")


def format_time(at: datetime) -> str:
    if at.tzinfo is None:
        raise LedgerError("custody event time must be timezone-aware")
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def encode(
    *,
    case_id: str,
    seq: int,
    exhibit: str | None,
    action: str,
    actor: str,
    team: str,
    at: datetime,
    details: dict[str, Any],
    prev_hash: str,
) -> bytes:
    body = {
        "action": action,
        "actor": actor,
        "at": format_time(at),
        "case": case_id,
        "details": details,
        "exhibit": exhibit,
        "prev_hash": prev_hash,
        "seq": seq,
        "team": team,
    }
    return DOMAIN + canonical_json(body)


def event_hash(event: CustodyEvent) -> str:
    return blake3(
        encode(
            case_id=event.case_id,
            seq=event.seq,
            exhibit=event.exhibit,
            action=event.action,
            actor=event.actor,
            team=event.team,
            at=event.at,
            details=event.details,
            prev_hash=event.prev_hash,
        )
    ).hexdigest()


def link(case_id: str, head: CustodyEvent | None, draft: EventDraft, at: datetime) -> CustodyEvent:
    """The event that follows ``head`` (``None`` for a new chain)."""
    _check_json(draft.details, "details")
    seq = 1 if head is None else head.seq + 1
    prev = GENESIS if head is None else head.hash
    at = datetime.fromisoformat(format_time(at).replace("Z", "+00:00"))  # aware, UTC, microseconds
    unsealed = CustodyEvent(
        case_id=case_id,
        seq=seq,
        exhibit=draft.exhibit,
        action=draft.action,
        actor=draft.actor,
        team=draft.team,
        at=at,
        details=draft.details,
        prev_hash=prev,
        hash="",
    )
    return replace(unsealed, hash=event_hash(unsealed))


@dataclass(frozen=True, slots=True)
class ChainFacts:
    """What a chain verification established: the ``events`` that verified
    (all of them, when intact) and the head they end in; ``first_bad`` is the
    sequence number of the first event that does not hold, if any."""

    case: str
    events: int
    head_seq: int
    head_hash: str
    first_bad: int | None = None


def _problem(
    event: CustodyEvent, expected_seq: int, prev_hash: str, later: dict[str, int]
) -> Finding | None:
    """Why ``event`` does not continue the chain, or ``None`` when it does."""
    seq = event.seq
    if seq > expected_seq:
        where = (
            f"event {expected_seq}"
            if seq == expected_seq + 1
            else f"events {expected_seq}-{seq - 1}"
        )
        return Finding("chain", where, f"missing before event {seq} (a row was deleted)", "missing")
    if seq < expected_seq:
        return Finding(
            "chain", f"event {seq}", f"appears after event {expected_seq - 1}", "reordered"
        )
    if event.prev_hash != prev_hash:
        target = later.get(event.prev_hash)
        if target is not None and target > seq:
            return Finding(
                "chain",
                f"event {seq}",
                f"links to event {target}, which comes after it",
                "reordered",
            )
        return Finding(
            "chain", f"event {seq}", f"does not link to the hash of event {seq - 1}", "bad link"
        )
    if event_hash(event) != event.hash:
        return Finding(
            "chain", f"event {seq}", "does not match its hash: a field was changed", "edited"
        )
    return None


def verify(case_id: str, events: Iterable[CustodyEvent]) -> Report[ChainFacts]:
    """Recompute the chain from stored rows (in stored sequence order) and name
    the first event that does not hold (a finding of the ``chain`` check):

    - ``missing``: a sequence number is skipped (a row was deleted);
    - ``reordered``: an event links to the hash of an event stored *after* it,
      or sequence numbers go backwards (rows were moved);
    - ``bad link``: ``prev_hash`` is not the hash of the event before;
    - ``edited``: the stored hash is not the hash of the stored fields, or the
      event belongs to another case.

    The head hash of a valid chain is worth writing down outside jitev (a
    receipt, a bundle, a court record): a chain rewritten wholesale from some
    event on verifies on its own, but no longer ends in the recorded head.
    """
    rows = list(events)
    later_hashes = {e.hash: e.seq for e in rows}
    expected_seq = 1
    prev_hash = GENESIS
    count = 0
    for event in rows:
        if event.case_id != case_id:
            problem: Finding | None = Finding(
                "chain", f"event {event.seq}", f"belongs to case {event.case_id}", "edited"
            )
        else:
            problem = _problem(event, expected_seq, prev_hash, later_hashes)
        if problem is not None:
            first_bad = min(event.seq, expected_seq)
            facts = ChainFacts(case_id, count, expected_seq - 1, prev_hash, first_bad)
            summary = (
                f"the chain breaks at event {first_bad} ({problem.kind}); it is intact up to "
                f"#{facts.head_seq} {facts.head_hash}"
            )
            return Report(f"case {case_id}", facts, (problem,), summary=summary)
        count += 1
        expected_seq = event.seq + 1
        prev_hash = event.hash
    facts = ChainFacts(case_id, count, expected_seq - 1, prev_hash)
    summary = f"chain intact: {count} custody events, head #{facts.head_seq} {facts.head_hash}"
    return Report(f"case {case_id}", facts, summary=summary)
