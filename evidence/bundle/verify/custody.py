"""Checks 7-9: the ledger extract's chain and what it says of the scheduled
exhibits, the teams' keys, and the signed receipts."""

from __future__ import annotations

import json

from evidence import ledger, receipts
from evidence.bundle import layout
from evidence.bundle.bagcheck import say
from evidence.bundle.verify.context import Context, NotChecked
from evidence.bundle.verify.parts import INFO, LEDGER, Row
from evidence.models import Action, CustodyEvent

RECORDED = ("size", "blake3", "sha256")  # what INGESTED and RECEIVED events record of an exhibit
TEXTS = ("title", "description")  # what the INGESTED event records and the schedule shows


def check_ledger(ctx: Context) -> str:
    events = ctx.report(ctx.events)
    case = ctx.known.case_id
    if case is None:
        raise NotChecked("bag-info.txt gives no usable Bundle-Case")
    if not events:
        ctx.found(LEDGER, "holds no custody event", "missing")
        return ""
    _chain(ctx, case, events)
    seal = events[-1]
    if seal.action != Action.BUNDLE_SEALED:
        ctx.found(LEDGER, "does not end with the bundle's BUNDLE_SEALED event", "missing")
        disclosed = events
    else:
        disclosed = events[:-1]
    if not disclosed:
        ctx.found(LEDGER, "holds no custody event before the seal", "missing")
        return ""
    last = disclosed[-1]
    head, created = ctx.known.head, ctx.known.created_text
    if head is not None and head != (last.seq, last.hash):
        message = (
            f"Ledger-Head is {head[0]} {head[1]}, the extract's last event before the seal "
            f"is {last.seq} {last.hash}"
        )
        ctx.found(INFO, message, "mismatch")
    if created is not None and created != ledger.format_time(last.at):
        message = (
            f"Bundle-Created is {created}, the extract's last event before the seal ({last.seq}) "
            f"is of {ledger.format_time(last.at)}"
        )
        ctx.found(INFO, message, "mismatch")
    if ctx.schedule.value is not None:
        scheduled = {row["reference"] for row in ctx.schedule.value}
        for e in disclosed:
            if e.exhibit is not None and e.exhibit not in scheduled:
                where = f"{LEDGER} event {e.seq} ({e.action} {e.exhibit})"
                ctx.found(where, "is about an exhibit the schedule does not list", "extra")
            elif e.exhibit is None and e.action not in layout.CASE_EVENTS:
                where = f"{LEDGER} event {e.seq} ({e.action})"
                ctx.found(where, "is a case-level event a bundle does not disclose", "extra")
        for row in ctx.schedule.value:
            _exhibit_events(ctx, row, disclosed)
    return f"{len(events)} of the log's events disclosed, each hash recomputed from its fields"


def _chain(ctx: Context, case: str, events: list[CustodyEvent]) -> None:
    """Each event's hash is the hash of its fields; sequence numbers rise;
    an event that follows a disclosed one links to its hash. (Where the
    events are consecutive in the log: the others are placed by the proofs.)"""
    before: CustodyEvent | None = None
    for e in events:
        where = f"{LEDGER} event {e.seq}"
        if e.case_id != case:
            ctx.found(where, f"belongs to case {e.case_id}, not {case}", "edited")
        try:
            recomputed = ledger.event_hash(e)
        except Exception as exc:
            ctx.found(where, f"its hash cannot be recomputed: {say(exc)}", "edited")
        else:
            if recomputed != e.hash:
                ctx.found(where, "its hash is not the hash of its fields (edited)", "edited")
        if before is not None and e.seq <= before.seq:
            ctx.found(where, f"comes after event {before.seq}", "reordered")
        linked = ledger.GENESIS if e.seq == 1 else before.hash if before else None
        if (e.seq == 1 or (before and before.seq == e.seq - 1)) and e.prev_hash != linked:
            ctx.found(where, "its prev_hash is not the hash of the event before it", "bad link")
        before = e


def _exhibit_events(ctx: Context, row: Row, events: list[CustodyEvent]) -> None:
    """The scheduled exhibit was ingested, its INGESTED and RECEIVED events
    record the schedule's size and hashes, and its INGESTED event the
    schedule's title and description (``_texts``)."""
    ref = row["reference"]
    if not ref:
        return
    scheduled = {"size": row.integer("size"), "blake3": row["blake3"], "sha256": row["sha256"]}
    ingested = False
    for e in events:
        if e.exhibit != ref or e.action not in (Action.INGESTED, Action.RECEIVED):
            continue
        ingested = ingested or e.action == Action.INGESTED
        differ = [
            f"{k} {e.details.get(k)!r} (the schedule: {scheduled[k]!r})"
            for k in RECORDED
            if e.details.get(k) != scheduled[k]
        ]
        if differ:
            where = f"{LEDGER} event {e.seq} ({e.action} {ref})"
            ctx.found(where, f"records {', '.join(differ)}; see {row.where()}", "mismatch")
        if e.action == Action.INGESTED:
            _texts(ctx, row, e)
    if not ingested:
        ctx.found(row.where(), f"{LEDGER} has no INGESTED event of {ref}", "missing")


def _texts(ctx: Context, row: Row, event: CustodyEvent) -> None:
    """The schedule's cells are the texts the INGESTED event records, as
    ``layout.csv_cell`` writes them (an event of jitev 0.1 records none)."""
    for name in TEXTS:
        recorded = event.details.get(name)
        if isinstance(recorded, str) and row[name] != layout.csv_cell(recorded):
            where = f"{LEDGER} event {event.seq} ({event.action} {row['reference']})"
            message = f"records the {name} {recorded[:60]!r}; {row.where()} says {row[name][:60]!r}"
            ctx.found(where, message, "mismatch")


def _registered(
    ctx: Context, events: list[CustodyEvent], report: bool
) -> list[tuple[CustodyEvent, str, str]]:
    """(event, team, public key) of each TEAM_KEY_REGISTERED event, in order."""
    found = []
    for e in events:
        if e.action != Action.TEAM_KEY_REGISTERED:
            continue
        team, key = e.details.get("for_team"), e.details.get("public_key")
        if isinstance(team, str) and isinstance(key, str):
            found.append((e, team, key))
        elif report:
            where = f"{LEDGER} event {e.seq} ({e.action})"
            ctx.found(where, "has no 'for_team' and 'public_key' strings", "malformed")
    return found


def check_keys(ctx: Context) -> str:
    where = f"data/{layout.KEYS}"
    events = ctx.need(ctx.events)
    recorded = {team: key for _, team, key in _registered(ctx, events, report=True)}
    text = ctx.text(layout.KEYS, layout.KEYS_MAX_BYTES)
    try:
        document = json.loads(text)
    except (ValueError, RecursionError) as exc:
        ctx.found(where, f"not JSON: {exc}", "malformed")
        return ""
    if not isinstance(document, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in document.items()
    ):
        ctx.found(where, "not an object of team codes to public keys (hex)", "malformed")
        return ""
    for team in sorted(set(recorded) | set(document)):
        at = f"{where} team {team}"
        if team not in document:
            ctx.found(at, "no key, though the ledger extract records one", "missing")
        elif team not in recorded:
            ctx.found(at, "a key that the ledger extract does not record", "extra")
        elif document[team] != recorded[team]:
            message = f"the key is {document[team]}, the ledger extract records {recorded[team]}"
            ctx.found(at, message, "mismatch")
    return f"{len(document)} team key(s), as the ledger extract records them"


def check_receipts(ctx: Context) -> str:
    """Each RECEIVED event's own signature (``receipts.verify_item``) with the
    receiving team's key as registered before it. A bundle may hold only some
    exhibits of a hand-off, so the whole receipt is not checked here: each
    received exhibit is, on its own."""
    events = ctx.need(ctx.events)
    keys = _registered(ctx, events, report=False)
    received = [e for e in events if e.action == Action.RECEIVED]
    verified = 0
    for e in received:
        key = None
        for registered, team, public_key in keys:
            if team == e.team and registered.seq < e.seq:
                key = public_key
        problem = receipts.verify_item(e, key)
        transfer = e.details.get("transfer")
        where = f"transfer {transfer} ({LEDGER} event {e.seq}, {e.exhibit})"
        if problem is None:
            verified += 1
        else:
            ctx.found(where, f"the receipt of this exhibit does not verify: {problem}", "receipt")
    if not received:
        return "no receipts in the ledger extract"
    return f"{verified} of {len(received)} received exhibits' signatures verified"
