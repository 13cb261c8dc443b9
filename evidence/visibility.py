"""Who sees what: the cases of a person's team, the exhibits and transfers
they may view, an exhibit's continuity, and downloads of its bytes. Every
answer goes through ``evidence.policy``; what a person may not see is not
listed, and asking for it by name is ``Denied``."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from evidence import policy
from evidence.errors import Denied, IntegrityError
from evidence.hashing import digest_chunks, open_recorded
from evidence.models import Action, Case, CustodyEvent, Exhibit, Person, Transfer, TransferState
from evidence.paging import MAX_LIMIT, Cursor, Page, check_limit
from evidence.policy import Reach, Right
from evidence.ports import Catalog, EventDraft, ObjectStore
from evidence.search import ExhibitFilter, ExhibitScope


def member_cases(catalog: Catalog, person: Person, case_id: str | None) -> list[Case]:
    """``case_id``'s case, or every case that has the person's team."""
    if case_id is not None:
        return [catalog.case(case_id)]
    return [c for c in catalog.cases() if person.team in {t.code for t in c.teams}]


def member_case(catalog: Catalog, person: Person, case_id: str) -> Case:
    """The case, if the person's team is one of its members (``Denied`` otherwise)."""
    case = catalog.case(case_id)
    if person.team not in {t.code for t in case.teams}:
        raise Denied(f"team {person.team} is not a member of case {case.id}")
    return case


def exhibit_scope(
    catalog: Catalog, person: Person, right: Right, case_id: str | None
) -> ExhibitScope:
    """Whose exhibits ``right`` reaches in ``case_id`` (or in every case of
    the person's team), by ``policy.reach``: what a search may return."""
    every: list[str] = []
    held: list[str] = []
    for case in member_cases(catalog, person, case_id):
        reached = policy.reach(person, right, case)
        if reached is Reach.CASE:
            every.append(case.id)
        elif reached is Reach.HELD:
            held.append(case.id)
    return ExhibitScope(person.team, tuple(every), tuple(held))


def exhibit_page(
    catalog: Catalog,
    person: Person,
    match: ExhibitFilter,
    cursor: Cursor | None,
    limit: int,
    right: Right = Right.VIEW,
) -> Page[Exhibit]:
    """A page of the exhibits ``person`` may view (or has ``right`` on) that
    ``match``, in ``search.ORDER``; an unknown case is ``NotFound``."""
    scope = exhibit_scope(catalog, person, right, match.case)
    return catalog.exhibit_page(scope, match, cursor, check_limit(limit))


def matching_exhibits(catalog: Catalog, person: Person, match: ExhibitFilter) -> Iterator[Exhibit]:
    """Every exhibit ``person`` may view that ``match``, a page at a time."""
    cursor = None
    while True:
        page = exhibit_page(catalog, person, match, cursor, MAX_LIMIT)
        yield from page.items
        if page.next is None:
            return
        cursor = Cursor.decode(page.next)


def visible_exhibits(
    catalog: Catalog,
    person: Person,
    case_id: str | None = None,
    team: str | None = None,
    *,
    status: str | None = None,
    handling: str | None = None,
) -> list[Exhibit]:
    """The exhibits ``person`` may view; only those of the originating
    ``team``, in ``status`` (stored, quarantined) and with the ``handling``
    code (H0-H3), when given."""
    match = ExhibitFilter(case=case_id, team=team, status=status, handling=handling)
    return list(matching_exhibits(catalog, person, match))


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
    """The exhibit and every custody event about it, in order."""
    exhibit = checked_exhibit(catalog, person, Right.VIEW, reference, case_id)
    return exhibit, list(catalog.events(exhibit.case_id, exhibit=exhibit.reference))


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
    a HASH_MISMATCH event is recorded and ``IntegrityError`` raised. A copy
    gone from the store (or replaced by a link) is ``ObjectMissing``, before
    anything is written."""
    exhibit = checked_exhibit(catalog, person, Right.DOWNLOAD, reference, case_id)
    copy = f"team {person.team}'s copy of {exhibit.reference}"
    found = digest_chunks(
        open_recorded(store, person.team, exhibit.blake3, copy, exhibit.case_id), write
    )
    details: dict[str, Any] = {
        "size": found.size,
        "blake3": found.blake3,
        "sha256": found.sha256,
        "store": f"{person.team}/{exhibit.blake3}",
    }
    matches = found.matches(exhibit.size, exhibit.blake3, exhibit.sha256)
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


def transfer_page(
    catalog: Catalog,
    person: Person,
    case_id: str | None,
    cursor: Cursor | None,
    limit: int,
    state: TransferState | None = None,
) -> Page[Transfer]:
    """A page of ``visible_transfers`` (in ``state``), in case and number order."""
    cases = {c.id: c for c in member_cases(catalog, person, case_id)}

    def visible(t: Transfer) -> bool:
        return policy.can_see_transfer(person, cases[t.case_id], t).allowed

    return catalog.transfer_page(list(cases), visible, cursor, limit, state)


def checked_transfer(catalog: Catalog, person: Person, transfer_id: str) -> Transfer:
    transfer = catalog.transfer(transfer_id)
    policy.can_see_transfer(person, catalog.case(transfer.case_id), transfer).require()
    return transfer
