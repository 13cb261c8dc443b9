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

The standard library's ``json`` is the definition of those bytes
(``_reference_json``); orjson writes the very same bytes for the values it is
given here (exact ``str``, ``int`` within 64 bits, ``bool``, ``None``,
``list`` and ``dict``, at any depth) about fifteen times faster, so that is
the path taken for them (``_plain`` says which), and anything else (a float,
a larger integer, a subclass, another type) goes through the reference. The
event time is written by orjson too when it has microseconds (orjson leaves
out a zero fraction): the same ``format_time`` text.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson
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

_SCALARS = frozenset({str, int, bool, type(None)})
_STR = frozenset({str})
_SORTED = orjson.OPT_SORT_KEYS
_SORTED_UTC = orjson.OPT_SORT_KEYS | orjson.OPT_UTC_Z


def _check_details(details: Any) -> None:
    """``LedgerError`` unless ``details`` can be encoded canonically."""
    if not (type(details) is dict and _plain(details, keys=True)):
        _check_json(details, "details")  # what is wrong, or subclasses and big ints


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


def _reference_json(value: Any) -> bytes:
    """The definition of the canonical bytes (see the module's docstring)."""
    return json.dumps(
        value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    ).encode("utf-8")


def _plain(value: dict[str, Any] | list[Any], keys: bool = False) -> bool:
    """Whether ``value`` holds only exact ``dict``, ``list``, ``str``, ``int``,
    ``bool`` and ``None``, at any depth (and, with ``keys``, only ``str``
    keys): what orjson encodes as ``json`` does (an int beyond 64 bits, a lone
    surrogate or a key that is not a ``str`` make orjson raise instead, and
    the reference then decides)."""
    if type(value) is dict:
        if keys and not _STR.issuperset(map(type, value)):
            return False
        items: Iterable[Any] = value.values()
    else:
        items = value
    if _SCALARS.issuperset(map(type, items)):
        return True
    for item in items:
        kind = type(item)
        if kind is dict or kind is list:
            if not _plain(item, keys):
                return False
        elif kind not in _SCALARS:
            return False
    return True


def canonical_json(value: Any) -> bytes:
    """The canonical bytes of ``value``: the reference's, through orjson when
    it gives the same (``_plain``). Types are checked once, when an event is
    linked (``link``), not on every re-verification of stored rows."""
    kind = type(value)
    try:
        if kind in _SCALARS or ((kind is dict or kind is list) and _plain(value)):
            return orjson.dumps(value, option=_SORTED)
    except (orjson.JSONEncodeError, RecursionError):
        pass  # a big int, a lone surrogate, a key that is not a str, deep nesting
    return _reference_json(value)


def canonical_details(text: str) -> dict[str, Any] | None:
    """The JSON object whose canonical bytes are exactly ``text``, or
    ``None``: a duplicate key (which Python and SQL's ``json_extract`` read
    differently; it cannot survive the round trip, the object read has fewer
    keys than the text), a float (the ledger encodes none), whitespace, an
    escape or any other re-encoding, or not an object. So the details of a
    stored event hold only what ``link`` lets in."""
    try:
        try:
            found = orjson.loads(text)
        except orjson.JSONDecodeError:
            found = None  # NaN, a lone surrogate, deep nesting: the reference decides
        if type(found) is dict and _plain(found):  # then json would read the same object
            if orjson.dumps(found, option=_SORTED) == text.encode("utf-8"):
                return found
            return None
        # an int beyond 64 bits (orjson reads a float), or what orjson refuses
        value = json.loads(text, object_pairs_hook=_unique, parse_float=_no_float)
        if isinstance(value, dict) and canonical_json(value) == text.encode("utf-8"):
            return value
    except (ValueError, TypeError, LedgerError, RecursionError):
        pass
    return None


def _no_float(text: str) -> Any:
    raise ValueError(f"{text}: the ledger encodes no floats")


def _unique(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    found = dict(pairs)
    if len(found) != len(pairs):
        raise ValueError("a key appears twice")
    return found


def format_time(at: datetime) -> str:
    if at.tzinfo is None:
        raise LedgerError("custody event time must be timezone-aware")
    if at.tzinfo is not UTC:
        at = at.astimezone(UTC)
    if at.year < 1000:  # strftime does not pad the year; orjson does
        return at.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    text = orjson.dumps(at, option=orjson.OPT_UTC_Z)[1:-1].decode("ascii")
    return text if at.microsecond else text[:-1] + ".000000Z"  # orjson omits a zero fraction


def encode(
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
    """The canonical bytes of an event, through orjson. An event's details hold only canonical
    values: ``link`` checks them, and a catalog reads stored details with
    ``canonical_details``, which admits nothing else. For those values orjson
    writes the reference's bytes, so they are not walked through again here
    (on every verification of every event); what orjson refuses (an int beyond
    64 bits, a lone surrogate, a key that is not a str) goes to the reference."""
    # orjson writes an aware UTC time with microseconds as format_time does
    when: datetime | str = (
        at if at.tzinfo is UTC and at.microsecond and at.year >= 1000 else format_time(at)
    )
    body = {
        "action": action,
        "actor": actor,
        "at": when,
        "case": case_id,
        "details": details,
        "exhibit": exhibit,
        "prev_hash": prev_hash,
        "seq": seq,
        "team": team,
    }
    try:
        return DOMAIN + orjson.dumps(body, option=_SORTED_UTC)
    except (orjson.JSONEncodeError, RecursionError):
        body["at"] = format_time(at)
        return DOMAIN + _reference_json(body)


def event_hash(event: CustodyEvent) -> str:
    return blake3(
        encode(
            event.case_id,
            event.seq,
            event.exhibit,
            event.action,
            event.actor,
            event.team,
            event.at,
            event.details,
            event.prev_hash,
        )
    ).hexdigest()


def link(case_id: str, head: CustodyEvent | None, draft: EventDraft, at: datetime) -> CustodyEvent:
    """The event that follows ``head`` (``None`` for a new chain)."""
    _check_details(draft.details)
    seq = 1 if head is None else head.seq + 1
    prev = GENESIS if head is None else head.hash
    at = datetime.fromisoformat(format_time(at))  # aware, UTC, microseconds
    sealed = encode(
        case_id, seq, draft.exhibit, draft.action, draft.actor, draft.team, at, draft.details, prev
    )
    return CustodyEvent(
        case_id=case_id,
        seq=seq,
        exhibit=draft.exhibit,
        action=draft.action,
        actor=draft.actor,
        team=draft.team,
        at=at,
        details=draft.details,
        prev_hash=prev,
        hash=blake3(sealed).hexdigest(),
    )


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
    event: CustodyEvent, expected_seq: int, prev_hash: str, rest: Iterator[CustodyEvent]
) -> Finding | None:
    """Why ``event`` does not continue the chain, or ``None`` when it does
    (``rest``: the events stored after it, read only to name a reordering)."""
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
        target = next((e.seq for e in rest if e.hash == event.prev_hash), None)
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


def verify(
    case_id: str, events: Iterable[CustodyEvent], after: tuple[int, str] | None = None
) -> Report[ChainFacts]:
    """Recompute the chain from stored rows (in stored sequence order) and name
    the first event that does not hold (a finding of the ``chain`` check). With
    ``after`` (a head ``(seq, hash)`` verified before), ``events`` are those
    stored after it, and their links continue from its hash: ``events`` then
    counts only them.

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
    rows = iter(events)  # streamed: memory stays bounded whatever the ledger's size
    expected_seq, prev_hash = (1, GENESIS) if after is None else (after[0] + 1, after[1])
    count = 0
    for event in rows:
        if (
            event.case_id == case_id
            and event.seq == expected_seq
            and event.prev_hash == prev_hash
            and event_hash(event) == event.hash
        ):
            problem: Finding | None = None  # the common case, in one expression
        elif event.case_id != case_id:
            problem = Finding(
                "chain", f"event {event.seq}", f"belongs to case {event.case_id}", "edited"
            )
        else:
            problem = _problem(event, expected_seq, prev_hash, rows)
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
