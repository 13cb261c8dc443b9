"""Hand-offs between the teams of a case: the transfer lifecycle
``requested → approved → dispatched → received`` (or ``rejected`` /
``cancelled`` / ``failed``; ``TRANSITIONS``).

Every decision is taken under the case's chain lock (``Catalog.transaction``):
the state is read, the policy asked, the custody events appended and the
state changed in one database transaction, so two concurrent decisions
cannot both win and a failure leaves nothing half-written. Every step is a
custody event on each exhibit of the transfer, so an exhibit's continuity
reads who had it, from whom, to whom, why, and with which hashes.

Approvals wait for people for days: their state lives in the catalog, never
in a waiting process. Only ``dispatch`` moves bytes (the Prefect flow in
``flows/dispatch.py`` calls it): a server-side copy into the receiving team's
namespace, then a read-back of the copy through BLAKE3 and SHA-256. A copy
that does not match fails the transfer with a HASH_MISMATCH event and grants
nothing. A dispatch that crashed is finished by running it again: exhibits
with a DISPATCHED event are not copied or recorded twice.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import datetime
from typing import Any

from evidence import policy, receipts
from evidence.errors import IllegalTransition, InputError, JitevError
from evidence.findings import Finding, Report
from evidence.hashing import read_back
from evidence.models import (
    Action,
    CustodyEvent,
    Decision,
    Digests,
    Person,
    Purpose,
    Transfer,
    TransferItem,
    TransferState,
)
from evidence.policy import Right
from evidence.ports import CaseTransaction, Catalog, Clock, EventDraft, ObjectStore, Signer
from evidence.setup import ledger_team_key
from evidence.visibility import checked_transfer

TRANSITIONS: dict[TransferState, frozenset[TransferState]] = {
    TransferState.REQUESTED: frozenset(
        {TransferState.APPROVED, TransferState.REJECTED, TransferState.CANCELLED}
    ),
    TransferState.APPROVED: frozenset(
        {TransferState.DISPATCHED, TransferState.CANCELLED, TransferState.FAILED}
    ),
    TransferState.DISPATCHED: frozenset({TransferState.RECEIVED, TransferState.FAILED}),
    TransferState.RECEIVED: frozenset(),
    TransferState.REJECTED: frozenset(),
    TransferState.CANCELLED: frozenset(),
    TransferState.FAILED: frozenset(),
}

NEXT_STEP = {  # in the domain's words; the CLI and the web add how to take the step
    TransferState.REQUESTED: "it waits for the approvals it needs",
    TransferState.APPROVED: "it waits for its dispatch",
    TransferState.DISPATCHED: "it waits for the receiving team's receipt",
    TransferState.RECEIVED: "it is complete",
    TransferState.REJECTED: "it was rejected: make a new request if the reasons are addressed",
    TransferState.CANCELLED: "it was cancelled: make a new request if still needed",
    TransferState.FAILED: "it failed: make a new request once the cause is found",
}


# -- the lifecycle -----------------------------------------------------------------------


def _each_item(
    tx: CaseTransaction,
    transfer: Transfer,
    action: Action,
    person: Person,
    details: dict[str, Any],
    per_item: Callable[[TransferItem], dict[str, Any]] | None = None,
) -> list[CustodyEvent]:
    """One custody event per exhibit of the transfer: ``details`` for all of
    them, plus what ``per_item`` gives for each."""
    return [
        tx.append(
            EventDraft(
                action,
                person.name,
                person.team,
                item.reference,
                {"transfer": transfer.id, **details, **(per_item(item) if per_item else {})},
            )
        )
        for item in transfer.items
    ]


def _hashes(item: TransferItem) -> dict[str, Any]:
    return {"size": item.size, "blake3": item.blake3, "sha256": item.sha256}


def _in_state(transfer: Transfer, *states: TransferState) -> None:
    if transfer.state not in states:
        raise IllegalTransition(
            f"transfer {transfer.id} is {transfer.state.value}: {NEXT_STEP[transfer.state]}",
            transfer_id=transfer.id,
            state=transfer.state.value,
        )


def request_transfer(
    catalog: Catalog,
    person: Person,
    *,
    case_id: str,
    references: list[str],
    to_team: str,
    purpose: Purpose,
    legal_basis: str = "",
    note: str = "",
) -> Transfer:
    """A holder team asks to hand exhibits to another team of the case."""
    if not references:
        raise InputError(
            "name the exhibits to hand over, e.g. BG-EX-0001 BG-EX-0002", field="exhibits"
        )
    refs = list(dict.fromkeys(references))
    with catalog.transaction(case_id) as tx:
        case = tx.case
        if not legal_basis.strip():
            if purpose is not Purpose.JIT:
                raise InputError(
                    f"a transfer for the purpose {purpose.value} needs its legal basis (e.g. "
                    "the request for consent under Art. 13(10) of the 2000 MLA Convention)",
                    field="legal_basis",
                )
            legal_basis = f"JIT agreement {case.agreement_ref}"
        exhibits = []
        for ref in refs:
            ex = tx.exhibit(ref)
            holders = [h.team for h in tx.holdings(ref)]
            policy.decide(
                person, Right.REQUEST, case=case, exhibit=ex, holders=holders, team=to_team
            ).require()
            exhibits.append(ex)
        for other in catalog.transfers(case_id):
            if other.to_team == to_team and other.state in (
                TransferState.REQUESTED,
                TransferState.APPROVED,
                TransferState.DISPATCHED,
            ):
                overlap = sorted(set(refs) & {i.reference for i in other.items})
                if overlap:
                    raise InputError(
                        f"{', '.join(overlap)} already travel to {to_team} with transfer "
                        f"{other.id} ({other.state.value}): follow that one, or cancel it first"
                    )
        transfer = Transfer(
            id=tx.next_transfer_id(),
            case_id=case.id,
            from_team=person.team,
            to_team=to_team,
            purpose=purpose,
            legal_basis=legal_basis,
            note=note,
            state=TransferState.REQUESTED,
            requested_by=person.name,
            requested_at=datetime.min,  # set from the first event below
            items=tuple(
                TransferItem(ex.reference, ex.team, ex.handling, ex.size, ex.blake3, ex.sha256)
                for ex in exhibits
            ),
            required=policy.requirements(case, purpose, exhibits),
        )
        events = _each_item(
            tx,
            transfer,
            Action.TRANSFER_REQUESTED,
            person,
            {
                "from_team": transfer.from_team,
                "to_team": to_team,
                "purpose": purpose.value,
                "legal_basis": legal_basis,
                "note": note,
                "requires": [
                    {"capacity": r.capacity.value, "team": r.team} for r in transfer.required
                ],
            },
            lambda item: {"handling": item.handling.as_dict(), **_hashes(item)},
        )
        tx.add_transfer(replace(transfer, requested_at=events[0].at))
    return catalog.transfer(transfer.id)


def decide(
    catalog: Catalog, person: Person, transfer_id: str, *, approve: bool, reason: str = ""
) -> Transfer:
    """Approve or reject in every capacity the person holds for the transfer.
    A rejection ends it; the last approval makes it ``approved``. Who may
    not see the transfer is told only that (never its state)."""
    case_id = checked_transfer(catalog, person, transfer_id).case_id
    if not approve and not reason.strip():
        raise InputError(f"say why transfer {transfer_id} is rejected", field="reason")
    with catalog.transaction(case_id) as tx:
        transfer = tx.transfer(transfer_id)  # read again under the lock
        _in_state(transfer, TransferState.REQUESTED)
        right = Right.APPROVE if approve else Right.REJECT
        policy.decide(person, right, case=tx.case, transfer=transfer).require()
        action = Action.TRANSFER_APPROVED if approve else Action.TRANSFER_REJECTED
        for req in policy.capacities(person, tx.case, transfer):
            details = {"capacity": req.capacity.value, "for_team": req.team, "reason": reason}
            events = _each_item(tx, transfer, action, person, details)
            first = events[0]
            tx.add_decision(
                transfer.id,
                Decision(req.capacity, req.team, person.name, approve, reason, first.at, first.seq),
            )
        if not approve:
            tx.set_transfer_state(transfer.id, TransferState.REJECTED, f"rejected: {reason}")
        elif not tx.transfer(transfer.id).pending():
            tx.set_transfer_state(transfer.id, TransferState.APPROVED)
    return catalog.transfer(transfer_id)


def cancel(catalog: Catalog, person: Person, transfer_id: str, reason: str) -> Transfer:
    if not reason.strip():
        raise InputError(f"say why transfer {transfer_id} is cancelled", field="reason")
    case_id = checked_transfer(catalog, person, transfer_id).case_id
    with catalog.transaction(case_id) as tx:
        transfer = tx.transfer(transfer_id)
        _in_state(transfer, TransferState.REQUESTED, TransferState.APPROVED)
        policy.decide(person, Right.CANCEL, case=tx.case, transfer=transfer).require()
        _each_item(tx, transfer, Action.TRANSFER_CANCELLED, person, {"reason": reason})
        tx.set_transfer_state(transfer.id, TransferState.CANCELLED, f"cancelled: {reason}")
    return catalog.transfer(transfer_id)


# -- dispatch and receipt: the only steps that touch bytes ---------------------------------


def _fail(
    catalog: Catalog,
    person: Person,
    transfer_id: str,
    item: TransferItem,
    found: Digests | None,
    why: str,
    *,
    expect: TransferState,
) -> Transfer:
    """Record why a copy did not verify, and fail the transfer: nothing is granted."""
    case_id = catalog.transfer(transfer_id).case_id
    with catalog.transaction(case_id) as tx:
        transfer = tx.transfer(transfer_id)
        _in_state(transfer, expect)
        details: dict[str, Any] = {
            "transfer": transfer.id,
            "expected": _hashes(item),
            "reason": why,
        }
        if found is not None:
            details["found"] = {"size": found.size, "blake3": found.blake3, "sha256": found.sha256}
            details["store"] = f"{transfer.to_team}/{item.blake3}"
            tx.append(
                EventDraft(Action.HASH_MISMATCH, person.name, person.team, item.reference, details)
            )
        _each_item(tx, transfer, Action.TRANSFER_FAILED, person, {"reason": why})
        tx.set_transfer_state(transfer.id, TransferState.FAILED, why)
    return catalog.transfer(transfer_id)


def _mismatch(item: TransferItem, found: Digests, where: str) -> str | None:
    if found.matches(item.size, item.blake3, item.sha256):
        return None
    return (
        f"the copy of {item.reference} in {where} does not match its ledger hashes "
        f"(size {found.size}, BLAKE3 {found.blake3[:16]}…, SHA-256 {found.sha256[:16]}…): "
        "nothing was granted; report it to the auditor"
    )


def check_dispatch(
    catalog: Catalog, person: Person, transfer_id: str, *, done: bool = False
) -> Transfer:
    """The transfer, if ``person`` may dispatch it now: before a flow run is
    started for it, and again by ``dispatch`` (``done``: a transfer already
    dispatched is fine, a re-run has nothing to do)."""
    transfer = catalog.transfer(transfer_id)
    case = catalog.case(transfer.case_id)
    policy.decide(person, Right.DISPATCH, case=case, transfer=transfer).require()
    if not (done and transfer.state is TransferState.DISPATCHED):
        _in_state(transfer, TransferState.APPROVED)
    return transfer


def dispatch_due(catalog: Catalog, person: Person, transfer: Transfer) -> bool:
    """Does this approval end with a dispatch by the approver? Only when the
    transfer is approved and the approver may dispatch (the sending team, the
    JIT lead); an originating team's lead leaves it to the sending team."""
    case = catalog.case(transfer.case_id)
    allowed = policy.decide(person, Right.DISPATCH, case=case, transfer=transfer).allowed
    return transfer.state is TransferState.APPROVED and allowed


def dispatch(
    store: ObjectStore,
    catalog: Catalog,
    person: Person,
    transfer_id: str,
    progress: Callable[[int, int], None] | None = None,
) -> Transfer:
    """Copy each exhibit into the receiving team's namespace and read it back.
    Idempotent: a re-run after a crash does only what is left. ``progress``
    hears (exhibits done, exhibits) after each one."""
    transfer = check_dispatch(catalog, person, transfer_id, done=True)
    if transfer.state is TransferState.DISPATCHED:
        return transfer
    total = len(transfer.items)
    for done, item in enumerate(transfer.items, 1):
        if progress is not None:
            progress(done - 1, total)
        if item.dispatched_seq is not None:
            continue  # done before a crash
        copied = store.copy(transfer.from_team, item.blake3, transfer.to_team)
        found = read_back(store, transfer.to_team, item.blake3)
        problem = _mismatch(item, found, store.description + f" namespace {transfer.to_team}")
        if problem is not None:
            return _fail(
                catalog, person, transfer.id, item, found, problem, expect=TransferState.APPROVED
            )
        with catalog.transaction(transfer.case_id) as tx:
            current = tx.transfer(transfer.id)
            _in_state(current, TransferState.APPROVED)
            if current.item(item.reference).dispatched_seq is not None:
                continue  # a concurrent dispatch recorded it
            details: dict[str, Any] = {
                "transfer": transfer.id,
                "from": f"{transfer.from_team}/{item.blake3}",
                "to": f"{copied.namespace}/{copied.key}",
                "to_team": transfer.to_team,
                "purpose": transfer.purpose.value,
                **_hashes(item),
                "verified": "read back: size, BLAKE3 and SHA-256 match",
                "copy": "adopted (already present)" if copied.adopted else "server-side copy",
            }
            if copied.retention_until:
                details["retention_until"] = copied.retention_until.isoformat()
            event = tx.append(
                EventDraft(Action.DISPATCHED, person.name, person.team, item.reference, details)
            )
            tx.mark_dispatched(transfer.id, item.reference, event.seq)
            if all(
                i.dispatched_seq is not None or i.reference == item.reference for i in current.items
            ):
                tx.set_transfer_state(transfer.id, TransferState.DISPATCHED)
    if progress is not None:
        progress(total, total)
    return catalog.transfer(transfer_id)


def receive(
    store: ObjectStore,
    catalog: Catalog,
    signer: Signer,
    clock: Clock,
    person: Person,
    transfer_id: str,
) -> Transfer:
    """The receiving team re-reads its copies, then signs and records its receipt."""
    transfer = catalog.transfer(transfer_id)
    case = catalog.case(transfer.case_id)
    policy.decide(person, Right.RECEIVE, case=case, transfer=transfer).require()
    _in_state(transfer, TransferState.DISPATCHED)
    registered = ledger_team_key(catalog, case.id, transfer.to_team)
    if signer.team != transfer.to_team or registered != signer.public_key:
        raise InputError(
            f"the signing key of team {signer.team} on this machine is not the registered "
            f"key of team {transfer.to_team}: receive on the machine that keeps "
            f"{transfer.to_team}'s key"
        )
    for item in transfer.items:
        try:
            found = read_back(store, transfer.to_team, item.blake3)
        except JitevError as exc:
            if not isinstance(exc, InputError):
                raise
            return _fail(
                catalog, person, transfer.id, item, None, str(exc), expect=TransferState.DISPATCHED
            )
        problem = _mismatch(item, found, store.description + f" namespace {transfer.to_team}")
        if problem is not None:
            return _fail(
                catalog, person, transfer.id, item, found, problem, expect=TransferState.DISPATCHED
            )
    receipt = receipts.sign(signer, transfer, received_by=person.name, at=clock.now())
    signed = receipts.sign_items(signer, receipt)
    with catalog.transaction(case.id) as tx:
        current = tx.transfer(transfer.id)
        _in_state(current, TransferState.DISPATCHED)
        _each_item(
            tx,
            current,
            Action.RECEIVED,
            person,
            {},
            lambda item: {
                **receipts.event_details(receipt, item.reference, signed[item.reference]),
                "store": f"{transfer.to_team}/{item.blake3}",
            },
        )
        tx.add_receipt(receipt)
        tx.set_transfer_state(transfer.id, TransferState.RECEIVED)
    return catalog.transfer(transfer_id)


def check_receipt(catalog: Catalog, transfer: Transfer) -> Report[None] | None:
    """Verify the receipt as the ledger records it (its RECEIVED events)
    against the receiving team's public key as the ledger records it (its
    TEAM_KEY_REGISTERED event), and check that the catalog's copies of the
    receipt and of the key say the same. ``None`` before the receipt."""
    if transfer.state is not TransferState.RECEIVED:
        return None
    events = [
        e
        for item in transfer.items
        for e in catalog.events(transfer.case_id, exhibit=item.reference, action=Action.RECEIVED)
        if e.details.get("transfer") == transfer.id
    ]
    subject = f"receipt of transfer {transfer.id}"
    recorded = receipts.from_events(sorted(events, key=lambda e: e.seq))
    if recorded is None:
        problem = "the ledger has no RECEIVED events of the transfer"
    elif recorded != transfer.receipt:
        problem = "the catalog's receipt differs from the one in the ledger: report it"
    elif (key := ledger_team_key(catalog, transfer.case_id, transfer.to_team)) != catalog.team_key(
        transfer.to_team
    ):
        problem = (
            f"the public key of team {transfer.to_team} in the catalog is not the one the "
            f"ledger of case {transfer.case_id} records: report it"
        )
    else:
        return receipts.verify(recorded, key)
    return Report(subject, None, (Finding("receipt", subject, problem),), summary=problem)
