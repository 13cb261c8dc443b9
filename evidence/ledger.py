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
from evidence.models import CustodyEvent
from evidence.ports import EventDraft

DOMAIN = b"jitev-custody-v1\n"
GENESIS = "0" * 64


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
class Problem:
    seq: int
    kind: str  # "missing" | "reordered" | "bad link" | "edited"
    message: str


@dataclass(frozen=True, slots=True)
class Verification:
    case_id: str
    events: int
    head_seq: int
    head_hash: str
    problem: Problem | None

    @property
    def ok(self) -> bool:
        return self.problem is None

    def as_dict(self) -> dict[str, Any]:
        return {
            "case": self.case_id,
            "ok": self.ok,
            "events": self.events,
            "head_seq": self.head_seq,
            "head_hash": self.head_hash,
            "problem": (
                {
                    "seq": self.problem.seq,
                    "kind": self.problem.kind,
                    "message": self.problem.message,
                }
                if self.problem
                else None
            ),
        }


def verify(case_id: str, events: Iterable[CustodyEvent]) -> Verification:
    """Recompute the chain from stored rows (in stored sequence order) and name
    the first event that does not hold:

    - ``missing``: a sequence number is skipped (a row was deleted);
    - ``reordered``: an event links to the hash of an event stored *after* it,
      or sequence numbers go backwards (rows were moved);
    - ``bad link``: ``prev_hash`` is not the hash of the event before;
    - ``edited``: the stored hash is not the hash of the stored fields.

    The head hash of a valid chain is worth writing down outside jitev (a
    receipt, a bundle, a court record): a chain rewritten wholesale from some
    event on verifies on its own, but no longer ends in the recorded head.
    """
    rows = list(events)
    later_hashes = {e.hash: e.seq for e in rows}
    expected_seq = 1
    prev_hash = GENESIS
    head_seq, head_hash = 0, GENESIS
    count = 0
    for event in rows:
        problem: Problem | None = None
        if event.case_id != case_id:
            problem = Problem(
                event.seq, "edited", f"event {event.seq} belongs to case {event.case_id}"
            )
        elif event.seq > expected_seq:
            gap = (
                f"{expected_seq}"
                if event.seq == expected_seq + 1
                else f"{expected_seq}-{event.seq - 1}"
            )
            problem = Problem(
                expected_seq, "missing", f"event(s) {gap} are missing before event {event.seq}"
            )
        elif event.seq < expected_seq:
            problem = Problem(
                event.seq, "reordered", f"event {event.seq} appears after event {expected_seq - 1}"
            )
        elif event.prev_hash != prev_hash:
            target = later_hashes.get(event.prev_hash)
            if target is not None and target > event.seq:
                problem = Problem(
                    event.seq,
                    "reordered",
                    f"event {event.seq} links to event {target}, which comes after it",
                )
            else:
                problem = Problem(
                    event.seq,
                    "bad link",
                    f"event {event.seq} does not link to the hash of event {event.seq - 1}",
                )
        elif event_hash(event) != event.hash:
            problem = Problem(
                event.seq,
                "edited",
                f"event {event.seq} does not match its hash: a field was changed",
            )
        if problem is not None:
            return Verification(case_id, count, head_seq, head_hash, problem)
        count += 1
        head_seq, head_hash = event.seq, event.hash
        expected_seq = event.seq + 1
        prev_hash = event.hash
    return Verification(case_id, count, head_seq, head_hash, None)
