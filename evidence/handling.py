"""How an exhibit may be used, as its originating team decides: its handling
code and the purposes agreed in advance, consent to its use in a team's
judicial proceedings (needed for H1 exhibits), and whether it is sensitive
(kept off defence-facing schedules, with the reason). Each decision is a
custody event on the exhibit, taken by a lead of the originating team (the
``set_handling`` right: the originator governs the use of its evidence)."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from evidence import policy
from evidence.errors import InputError
from evidence.models import Action, CustodyEvent, Exhibit, Handling, Person
from evidence.policy import Right
from evidence.ports import CaseTransaction, Catalog, EventDraft


@contextmanager
def as_originator(
    catalog: Catalog, person: Person, case_id: str, reference: str
) -> Iterator[tuple[CaseTransaction, Exhibit]]:
    """A transaction on the exhibit's case in which ``person`` acts for its
    originating team (a lead of it: the ``set_handling`` right)."""
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


@dataclass(frozen=True, slots=True)
class ExhibitUse:
    """What the ledger says about an exhibit's disclosure."""

    consented_for: frozenset[str]  # teams whose courts may use an H1 exhibit
    sensitive: str | None  # the reason, if the exhibit is sensitive


def use_of(events: Iterable[CustodyEvent]) -> ExhibitUse:
    consented: set[str] = set()
    sensitive: str | None = None
    for e in events:
        if e.action == Action.JUDICIAL_USE_CONSENTED:
            consented.add(str(e.details.get("for_team")))
        elif e.action == Action.SENSITIVITY_SET:
            sensitive = str(e.details.get("reason")) if e.details.get("sensitive") else None
    return ExhibitUse(frozenset(consented), sensitive)


def _originator_event(
    catalog: Catalog,
    person: Person,
    case_id: str,
    reference: str,
    action: Action,
    details: dict[str, Any],
) -> CustodyEvent:
    with as_originator(catalog, person, case_id, reference) as (tx, _):
        return tx.append(EventDraft(action, person.name, person.team, reference, details))


def consent_judicial_use(
    catalog: Catalog, person: Person, case_id: str, reference: str, for_team: str, note: str
) -> CustodyEvent:
    """The originating team's lead permits the use of an exhibit in the
    judicial proceedings of ``for_team`` (needed for H1 exhibits)."""
    catalog.case(case_id).team(for_team)
    if not note.strip():
        raise InputError("say on what terms the consent is given", field="note")
    return _originator_event(
        catalog,
        person,
        case_id,
        reference,
        Action.JUDICIAL_USE_CONSENTED,
        {"for_team": for_team, "note": note},
    )


def set_sensitive(
    catalog: Catalog, person: Person, case_id: str, reference: str, reason: str | None
) -> CustodyEvent:
    """Mark an exhibit sensitive with the reason (``None``: no longer sensitive)."""
    if reason is not None and not reason.strip():
        raise InputError("say why the exhibit is sensitive", field="reason")
    return _originator_event(
        catalog,
        person,
        case_id,
        reference,
        Action.SENSITIVITY_SET,
        {"sensitive": reason is not None, "reason": reason or ""},
    )
