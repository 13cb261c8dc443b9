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


def check_ledger(ctx: Context) -> str:
    events = ctx.report(ctx.events)
    case = ctx.known.case_id
    if case is None:
        raise NotChecked("bag-info.txt gives no usable Bundle-Case")
    if not events:
        ctx.found(LEDGER, "holds no custody event", "missing")
        return ""
    try:
        chain = ledger.verify(case, events)
    except Exception as exc:
        ctx.found(LEDGER, f"the chain cannot be recomputed: {say(exc)}", "error")
    else:
        for f in chain.findings:
            ctx.found(f"{LEDGER} {f.where}", f"the chain breaks ({f.kind}): {f.message}", f.kind)
    last = events[-1]
    head, created = ctx.known.head, ctx.known.created_text
    if head is not None and head != (last.seq, last.hash):
        message = (
            f"Ledger-Head is {head[0]} {head[1]}, the extract ends with event "
            f"{last.seq} {last.hash}"
        )
        ctx.found(INFO, message, "mismatch")
    if created is not None and created != ledger.format_time(last.at):
        message = (
            f"Bundle-Created is {created}, the extract's last event ({last.seq}) is of "
            f"{ledger.format_time(last.at)}"
        )
        ctx.found(INFO, message, "mismatch")
    if ctx.schedule.value is not None:
        for row in ctx.schedule.value:
            _exhibit_events(ctx, row, events)
    return f"{len(events)} events, chain verified from event 1 to {last.seq}"


def _exhibit_events(ctx: Context, row: Row, events: list[CustodyEvent]) -> None:
    """The scheduled exhibit was ingested, and its INGESTED and RECEIVED events
    record the schedule's size and hashes."""
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
    if not ingested:
        ctx.found(row.where(), f"{LEDGER} has no INGESTED event of {ref}", "missing")


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
    text = ctx.text(layout.KEYS)
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
    events = ctx.need(ctx.events)
    transfers: dict[str, list[CustodyEvent]] = {}
    for e in events:
        if e.action != Action.RECEIVED:
            continue
        transfer = e.details.get("transfer")
        if isinstance(transfer, str) and transfer:
            transfers.setdefault(transfer, []).append(e)
        else:
            ctx.found(f"{LEDGER} event {e.seq} ({e.action})", "names no transfer", "malformed")
    keys = _registered(ctx, events, report=False)
    verified = sum(_receipt(ctx, t, received, keys, events) for t, received in transfers.items())
    if not transfers:
        return "no receipts in the ledger extract"
    return f"{verified} of {len(transfers)} receipts verified with the teams' registered keys"


def _receipt(
    ctx: Context,
    transfer: str,
    received: list[CustodyEvent],
    keys: list[tuple[CustodyEvent, str, str]],
    events: list[CustodyEvent],
) -> bool:
    """Rebuild one transfer's receipt from its RECEIVED events and verify it
    with the receiving team's key as registered before it."""
    received.sort(key=lambda e: e.seq)
    seqs = ", ".join(str(e.seq) for e in received)
    at = f"transfer {transfer} ({LEDGER} event{'s' if len(received) > 1 else ''} {seqs})"
    try:
        receipt = receipts.from_events(received)
    except Exception as exc:
        ctx.found(at, f"the receipt cannot be rebuilt: {say(exc)}", "receipt")
        return False
    if receipt is None:  # not reached: every event is a RECEIVED one
        return False
    team = receipt.payload.get("team")
    key = None
    for e, key_team, public_key in keys:
        if key_team == team and e.seq < received[0].seq:
            key = public_key
    check = receipts.verify(receipt, key)
    if check.ok:
        return True
    message = "; ".join(f.message for f in check.findings) or check.summary
    if received[-1].seq == events[-1].seq:
        message += (
            "; the extract ends with this receipt's events, so it may be cut short: "
            "a bundle must hold every RECEIVED event of a receipt"
        )
    ctx.found(at, message, "receipt")
    return False
