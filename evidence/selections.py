"""A prosecutor's selection of exhibits for a disclosure bundle, made by a
filter and held on the server (``evidence.search.Selection``): "all 100,000
matching" becomes one id, which a bundle's job takes as its parameter instead
of the references.

A selection is frozen when it is made: the references that matched then are
stored, and a bundle of it discloses exactly those, whatever matches the
filter later (a court bundle holds what the prosecutor confirmed). It holds
only exhibits the prosecutor's team held when it was made (the disclose
right's reach, ``policy.reach``); ``disclosure.plan_bundle`` still decides
every one of them when the bundle is built (a consent missing, a sensitive
exhibit). Only the person who made a selection may see or use it."""

from __future__ import annotations

import uuid
from datetime import datetime

from evidence import policy
from evidence.errors import Denied, InputError
from evidence.models import Exhibit, Person
from evidence.policy import Right
from evidence.ports import Catalog
from evidence.search import SAMPLE, ExhibitFilter, Selection
from evidence.visibility import exhibit_scope, member_case


def select_for_bundle(
    catalog: Catalog, person: Person, match: ExhibitFilter, now: datetime
) -> Selection:
    """Freeze the exhibits of ``match.case`` that the person's team holds and
    that match, for a bundle; ``InputError`` when none does."""
    policy.carries(person, Right.DISCLOSE).require()
    if match.case is None:
        raise InputError("name the case the bundle is of", field="case")
    case = member_case(catalog, person, match.case)
    scope = exhibit_scope(catalog, person, Right.DISCLOSE, case.id)
    made = Selection(uuid.uuid4().hex, case.id, person.name, match, now, 0)
    return catalog.add_selection(made, scope)


def checked_selection(catalog: Catalog, person: Person, selection_id: str) -> Selection:
    """The selection, if ``person`` made it (``Denied`` otherwise)."""
    selection = catalog.selection(selection_id)
    if selection.person != person.name:
        raise Denied(
            f"{person.name} may not use selection {selection_id}: only the person who made it "
            f"({selection.person}) may; make a selection of your own"
        )
    return selection


def sample(catalog: Catalog, selection: Selection) -> list[str]:
    """The first references of the selection (``search.SAMPLE`` of them)."""
    return [e.reference for e in catalog.selected_exhibits(selection.id, SAMPLE)]


def selected_exhibits(
    catalog: Catalog, person: Person, case_id: str, selection_id: str
) -> list[Exhibit]:
    """The exhibits of the person's selection, in the order frozen, if it is
    of ``case_id``."""
    selection = checked_selection(catalog, person, selection_id)
    if selection.case_id != case_id:
        raise InputError(
            f"selection {selection_id} is of case {selection.case_id}, not of case {case_id}",
            field="selection",
        )
    return catalog.selected_exhibits(selection.id)
