"""What a JSON call and the matching page form both do: a request model
(``app.web.schemas``) in, an action (``app.actions``) out. The API answers
with JSON, the page with a redirect; neither holds a rule."""

from __future__ import annotations

from app import actions
from app.jobs import Job, Jobs, submit_dispatch
from app.web import schemas as s
from app.web.security import Caller
from config.wiring import Wiring
from evidence.models import CustodyEvent, Handling, HandlingCode, Transfer, parse_purpose


def change_exhibit(
    w: Wiring,
    who: Caller,
    reference: str,
    change: s.NewHandling | s.Consent | s.Sensitivity,
    case: str | None = None,
) -> CustodyEvent:
    """A lead of the exhibit's originating team changes its handling, gives
    consent to its judicial use, or marks it sensitive: one custody event."""
    if isinstance(change, s.NewHandling):
        purposes = tuple(parse_purpose(p) for p in change.purposes)
        new = Handling(HandlingCode(change.code), change.note.strip(), purposes)
        return actions.change_handling(w, who.person, reference, new, case)
    if isinstance(change, s.Consent):
        return actions.consent(w, who.person, reference, change.for_team, change.note, case)
    return actions.mark_sensitive(
        w, who.person, reference, change.reason if change.sensitive else None, case
    )


def file_request(w: Wiring, who: Caller, body: s.NewTransfer) -> Transfer:
    return actions.request_transfer(
        w,
        who.person,
        case_id=body.case,
        references=body.exhibits,
        to_team=body.to_team,
        purpose=body.purpose,
        legal_basis=body.legal_basis,
        note=body.note,
    )


def approve(
    jobs: Jobs, w: Wiring, who: Caller, transfer_id: str, reason: str, dispatch: bool = True
) -> tuple[Transfer, Job | None]:
    """Approve; the last approval starts the dispatch as a job (unless
    ``dispatch`` is false: the sending team dispatches later)."""
    return actions.approve(
        w,
        who.person,
        transfer_id,
        reason,
        then_dispatch=(lambda t: submit_dispatch(jobs, who.person, t)) if dispatch else None,
    )
