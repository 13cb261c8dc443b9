"""Hand-offs between the teams of a case: people, handling codes, and the
transfer lifecycle ``requested → approved → dispatched → received`` (or
``rejected`` / ``cancelled`` / ``failed``).

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

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from evidence import policy, receipts
from evidence.errors import IllegalTransition, InputError, IntegrityError, JitevError
from evidence.models import (
    NEXT_STEP,
    Action,
    Case,
    CustodyEvent,
    Decision,
    Exhibit,
    Handling,
    Person,
    Purpose,
    Role,
    Transfer,
    TransferItem,
    TransferState,
)
from evidence.policy import Right
from evidence.ports import CaseTransaction, Catalog, Clock, EventDraft, ObjectStore, Signer
from evidence.services import CaseCheck, read_back, verify_case

# -- people ------------------------------------------------------------------------


def add_person(catalog: Catalog, actor: str | None, person: Person) -> None:
    """Register ``person``. The first person of an empty catalog must be an
    admin and needs no actor; after that only an admin adds people."""
    if not catalog.people():
        if not person.has(Role.ADMIN):
            raise InputError(
                f"no people are registered yet: the first person must be an admin "
                f"(add {person.name} after an admin, e.g. `jitev people add NAME --team CODE "
                "--role admin`)"
            )
        catalog.add_person(person, added_by=person.name)
        return
    if actor is None:
        raise InputError("say which admin adds this person: --as NAME")
    policy.decide(catalog.person(actor), Right.MANAGE_PEOPLE).require()
    catalog.add_person(person, added_by=actor)


def register_team_key(catalog: Catalog, person: Person, case_id: str, team: str, key: str) -> None:
    """Register ``team``'s receipt public key and record it in the case's
    ledger (once), so that the ledger alone can check the team's receipts.
    An admin does it, at setup."""
    case = catalog.case(case_id)
    case.team(team)
    policy.decide(person, Right.MANAGE_PEOPLE).require()
    catalog.add_team_key(team, key)  # refuses a different key for the team
    if ledger_team_key(catalog, case_id, team) == key:
        return
    with catalog.transaction(case_id) as tx:
        tx.append(
            EventDraft(
                Action.TEAM_KEY_REGISTERED,
                person.name,
                person.team,
                None,
                {
                    "for_team": team,
                    "algorithm": "ed25519",
                    "public_key": key,
                    "key_fingerprint": receipts.fingerprint(key),
                },
            )
        )


def ledger_team_key(catalog: Catalog, case_id: str, team: str) -> str | None:
    """The team's public key as the case's ledger records it."""
    found = None
    for event in catalog.events(case_id, action=Action.TEAM_KEY_REGISTERED):
        if event.details.get("for_team") == team:
            found = event.details.get("public_key")
    return found if isinstance(found, str) else None


# -- visibility ----------------------------------------------------------------------


def member_cases(catalog: Catalog, person: Person, case_id: str | None) -> list[Case]:
    """``case_id``'s case, or every case that has the person's team."""
    if case_id is not None:
        return [catalog.case(case_id)]
    return [c for c in catalog.cases() if person.team in {t.code for t in c.teams}]


def visible_exhibits(
    catalog: Catalog, person: Person, case_id: str | None = None, team: str | None = None
) -> list[Exhibit]:
    """The exhibits ``person`` may view (originating ``team`` only, if given)."""
    seen: list[Exhibit] = []
    for case in member_cases(catalog, person, case_id):
        holders = catalog.holdings(case.id)
        for ex in catalog.exhibits(case.id, team):
            teams = [h.team for h in holders.get(ex.reference, [])]
            if policy.decide(person, Right.VIEW, case=case, exhibit=ex, holders=teams).allowed:
                seen.append(ex)
    return seen


def checked_exhibit(
    catalog: Catalog, person: Person, right: Right, reference: str, case_id: str | None = None
) -> Exhibit:
    """The exhibit, if ``person`` has ``right`` on it (``Denied`` otherwise)."""
    exhibit = catalog.exhibit(reference, case_id)
    case = catalog.case(exhibit.case_id)
    holders = [h.team for h in catalog.holdings(case.id).get(reference, [])]
    policy.decide(person, right, case=case, exhibit=exhibit, holders=holders).require()
    return exhibit


def continuity(
    catalog: Catalog, person: Person, reference: str, case_id: str | None = None
) -> tuple[Exhibit, list[CustodyEvent]]:
    exhibit = checked_exhibit(catalog, person, Right.VIEW, reference, case_id)
    return exhibit, list(catalog.events(exhibit.case_id, exhibit=exhibit.reference))


def audit_case(
    catalog: Catalog, person: Person, case_id: str, store: ObjectStore | None = None
) -> CaseCheck:
    policy.decide(person, Right.AUDIT, case=catalog.case(case_id)).require()
    return verify_case(catalog, case_id, store)


def search_events(
    catalog: Catalog,
    person: Person,
    case_id: str,
    *,
    exhibit: str | None = None,
    action: str | None = None,
    actor: str | None = None,
    text: str | None = None,
) -> list[CustodyEvent]:
    """A case's custody events (auditors and leads of the case), filtered;
    ``text`` matches anywhere in the event, case-insensitively."""
    policy.decide(person, Right.AUDIT, case=catalog.case(case_id)).require()
    needle = (text or "").casefold()
    return [
        e
        for e in catalog.events(case_id, exhibit=exhibit, action=action)
        if (actor is None or e.actor == actor)
        and (not needle or needle in json.dumps(e.as_dict(), ensure_ascii=False).casefold())
    ]


def download(
    store: ObjectStore,
    catalog: Catalog,
    person: Person,
    reference: str,
    write: Callable[[bytes], object],
    case_id: str | None = None,
) -> CustodyEvent:
    """Stream the team's own copy of the exhibit to ``write``, hashing it on
    the way, and record an ACCESSED custody event once the bytes matched the
    ledger's hashes. On a mismatch the caller must discard what it wrote:
    a HASH_MISMATCH event is recorded and ``IntegrityError`` raised."""
    exhibit = checked_exhibit(catalog, person, Right.DOWNLOAD, reference, case_id)
    found = read_back(store, person.team, exhibit.blake3, write)
    details: dict[str, Any] = {
        "size": found[0],
        "blake3": found[1],
        "sha256": found[2],
        "store": f"{person.team}/{exhibit.blake3}",
    }
    matches = found == (exhibit.size, exhibit.blake3, exhibit.sha256)
    with catalog.transaction(exhibit.case_id) as tx:
        action = Action.ACCESSED if matches else Action.HASH_MISMATCH
        event = tx.append(EventDraft(action, person.name, person.team, reference, details))
    if not matches:
        raise IntegrityError(
            f"the stored copy of {reference} in {store.description} namespace {person.team} "
            "does not match its ledger hashes: the download was discarded; report it to the auditor"
        )
    return event


def visible_transfers(
    catalog: Catalog, person: Person, case_id: str | None = None
) -> list[Transfer]:
    found = []
    for case in member_cases(catalog, person, case_id):
        found += [
            t
            for t in catalog.transfers(case.id)
            if policy.can_see_transfer(person, case, t).allowed
        ]
    return found


def checked_transfer(catalog: Catalog, person: Person, transfer_id: str) -> Transfer:
    transfer = catalog.transfer(transfer_id)
    policy.can_see_transfer(person, catalog.case(transfer.case_id), transfer).require()
    return transfer


# -- handling codes --------------------------------------------------------------------


@contextmanager
def as_originator(
    catalog: Catalog, person: Person, case_id: str, reference: str
) -> Iterator[tuple[CaseTransaction, Exhibit]]:
    """A transaction on the exhibit's case in which ``person`` acts for its
    originating team (a lead of it: the ``set_handling`` right), which
    governs the exhibit's use: its handling, consents and sensitivity."""
    with catalog.transaction(case_id) as tx:
        exhibit = tx.exhibit(reference)
        holders = [h.team for h in tx.holdings(reference)]
        policy.decide(
            person, Right.SET_HANDLING, case=tx.case, exhibit=exhibit, holders=holders
        ).require()
        yield tx, exhibit


def set_handling(
    catalog: Catalog, person: Person, case_id: str, reference: str, handling: Handling
) -> CustodyEvent:
    with as_originator(catalog, person, case_id, reference) as (tx, exhibit):
        if handling == exhibit.handling:
            raise InputError(f"exhibit {reference} already has this handling: nothing to change")
        tx.set_handling(reference, handling)
        return tx.append(
            EventDraft(
                Action.HANDLING_CHANGED,
                person.name,
                person.team,
                reference,
                {"from": exhibit.handling.as_dict(), "to": handling.as_dict()},
            )
        )


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
            f"transfer {transfer.id} is {transfer.state.value}: {NEXT_STEP[transfer.state]}"
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
        raise InputError("name the exhibits to hand over, e.g. BG-EX-0001 BG-EX-0002")
    refs = list(dict.fromkeys(references))
    with catalog.transaction(case_id) as tx:
        case = tx.case
        if not legal_basis.strip():
            if purpose is not Purpose.JIT:
                raise InputError(
                    f"a transfer for the purpose {purpose.value} needs its legal basis: "
                    '--legal-basis "..." (e.g. the request for consent under Art. 13(10) '
                    "of the 2000 MLA Convention)"
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
        raise InputError(f'say why transfer {transfer_id} is rejected: --reason "..."')
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
        raise InputError(f'say why transfer {transfer_id} is cancelled: --reason "..."')
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
    found: tuple[int, str, str] | None,
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
            details["found"] = {"size": found[0], "blake3": found[1], "sha256": found[2]}
            details["store"] = f"{transfer.to_team}/{item.blake3}"
            tx.append(
                EventDraft(Action.HASH_MISMATCH, person.name, person.team, item.reference, details)
            )
        _each_item(tx, transfer, Action.TRANSFER_FAILED, person, {"reason": why})
        tx.set_transfer_state(transfer.id, TransferState.FAILED, why)
    return catalog.transfer(transfer_id)


def _mismatch(item: TransferItem, found: tuple[int, str, str], where: str) -> str | None:
    if found == (item.size, item.blake3, item.sha256):
        return None
    return (
        f"the copy of {item.reference} in {where} does not match its ledger hashes "
        f"(size {found[0]}, BLAKE3 {found[1][:16]}…, SHA-256 {found[2][:16]}…): "
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


def dispatch(store: ObjectStore, catalog: Catalog, person: Person, transfer_id: str) -> Transfer:
    """Copy each exhibit into the receiving team's namespace and read it back.
    Idempotent: a re-run after a crash does only what is left."""
    transfer = check_dispatch(catalog, person, transfer_id, done=True)
    if transfer.state is TransferState.DISPATCHED:
        return transfer
    for item in transfer.items:
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
                **receipts.event_details(receipt, item.reference),
                "store": f"{transfer.to_team}/{item.blake3}",
            },
        )
        tx.add_receipt(receipt)
        tx.set_transfer_state(transfer.id, TransferState.RECEIVED)
    return catalog.transfer(transfer_id)


@dataclass(frozen=True, slots=True)
class ReceiptStatus:
    present: bool
    ok: bool
    message: str

    def as_dict(self) -> dict[str, Any]:
        return {"present": self.present, "ok": self.ok, "message": self.message}


def check_receipt(catalog: Catalog, transfer: Transfer) -> ReceiptStatus:
    """Verify the receipt as the ledger records it (its RECEIVED events)
    against the receiving team's public key as the ledger records it (its
    TEAM_KEY_REGISTERED event), and check that the catalog's copies of the
    receipt and of the key say the same."""
    if transfer.state is not TransferState.RECEIVED:
        return ReceiptStatus(False, False, "no receipt yet")
    events = [
        e
        for item in transfer.items
        for e in catalog.events(transfer.case_id, exhibit=item.reference, action=Action.RECEIVED)
        if e.details.get("transfer") == transfer.id
    ]
    recorded = receipts.from_events(sorted(events, key=lambda e: e.seq))
    if recorded is None:
        return ReceiptStatus(True, False, f"the ledger has no RECEIVED events of {transfer.id}")
    if recorded != transfer.receipt:
        return ReceiptStatus(
            True, False, "the catalog's receipt differs from the one in the ledger: report it"
        )
    key = ledger_team_key(catalog, transfer.case_id, transfer.to_team)
    if key != catalog.team_key(transfer.to_team):
        return ReceiptStatus(
            True,
            False,
            f"the public key of team {transfer.to_team} in the catalog is not the one the "
            f"ledger of case {transfer.case_id} records: report it",
        )
    check = receipts.verify(recorded, key)
    return ReceiptStatus(True, check.ok, check.message)
