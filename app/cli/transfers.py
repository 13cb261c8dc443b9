"""``jitev transfer``: hand-offs of exhibits between teams: request,
approve (the last approval dispatches), reject, cancel, dispatch, receive."""

from __future__ import annotations

from typing import Annotated

import typer

from app import actions, render
from app.cli import remote_commands as rc
from app.cli.common import (
    AsOpt,
    CaseOpt,
    JsonFlag,
    ReasonOpt,
    as_person,
    console,
    current,
    err,
    print_json,
    say_engine,
)
from app.cli.jobs import WaitFlag, submitted, team_jobs
from app.cli.remote import via
from app.jobs import submit_dispatch
from evidence import visibility
from evidence.errors import IntegrityError
from evidence.findings import Report
from evidence.models import Person, Transfer, TransferState

transfer_app = typer.Typer(
    help="Hand-offs of exhibits between teams: request, approve, dispatch, receive.",
    no_args_is_help=True,
)


def _show(transfer: Transfer, as_json: bool) -> Report[None] | None:
    check = actions.receipt_check(current(), transfer)
    if as_json:
        print_json({**transfer.as_dict(), "receipt_check": check.as_dict() if check else None})
    else:
        render.transfer(console, transfer, check)
    return check


def _run_dispatch(transfer: Transfer, person: Person, as_json: bool, wait: bool) -> Transfer | None:
    """Dispatch in this process; on a team, submit it (None: submitted, not waited for)."""
    jobs = team_jobs()
    if jobs is not None:
        submitted(jobs, submit_dispatch(jobs, person, transfer), wait, as_json)
        return current().catalog.transfer(transfer.id) if wait else None
    if not as_json:
        err.print(f"Dispatching {transfer.id}: copy to {transfer.to_team} and read back…")
    dispatched = actions.dispatch(current(), person, transfer)
    say_engine()
    return dispatched


def _finish(transfer: Transfer | None, as_json: bool) -> None:
    if transfer is None:  # a job was submitted, and said
        return
    _show(transfer, as_json)
    if transfer.state is TransferState.FAILED:
        raise IntegrityError(f"transfer {transfer.id} failed: {transfer.failure}")


@transfer_app.command("request")
@via(rc.transfer_request)
def transfer_request(
    exhibits: Annotated[list[str], typer.Argument(help="Exhibit references, e.g. BG-EX-0001.")],
    case: Annotated[str, typer.Option("--case", help="Case id, e.g. DANUBE.")],
    to: Annotated[str, typer.Option("--to", help="The receiving team's code, e.g. FR.")],
    purpose: Annotated[
        str,
        typer.Option(help="jit, other_offence, urgent_public_security or outside_jit."),
    ] = "jit",
    legal_basis: Annotated[
        str, typer.Option(help="Legal basis (default for jit: the JIT agreement).")
    ] = "",
    note: Annotated[str, typer.Option(help="A note for the people who decide.")] = "",
    acting: AsOpt = None,
    as_json: JsonFlag = False,
) -> None:
    """Ask to hand exhibits your team holds to another team of the case."""
    transfer = actions.request_transfer(
        current(),
        as_person(acting),
        case_id=case,
        references=exhibits,
        to_team=to,
        purpose=purpose,
        legal_basis=legal_basis,
        note=note,
    )
    _show(transfer, as_json)


@transfer_app.command("approve")
@via(rc.transfer_approve)
def transfer_approve(
    transfer_id: str,
    reason: ReasonOpt = "",
    dispatch: Annotated[
        bool, typer.Option(help="Dispatch at once when this is the last approval.")
    ] = True,
    acting: AsOpt = None,
    wait: WaitFlag = False,
    as_json: JsonFlag = False,
) -> None:
    """Approve, in every capacity you hold (JIT lead, originating team's consent).
    The last approval dispatches (a verified copy to the receiving team) when
    you may dispatch: the sending team or the JIT lead; otherwise the sending
    team runs `jitev transfer dispatch`."""
    person = as_person(acting)
    # The dispatch's outcome in a 1-tuple: (None,) is "submitted to the team's
    # workers, already said", unlike None, "no dispatch was due".
    approved, dispatched = actions.approve(
        current(),
        person,
        transfer_id,
        reason,
        then_dispatch=(lambda t: (_run_dispatch(t, person, as_json, wait),)) if dispatch else None,
    )
    _finish(approved if dispatched is None else dispatched[0], as_json)


@transfer_app.command("reject")
@via(rc.transfer_reject)
def transfer_reject(
    transfer_id: str, reason: ReasonOpt, acting: AsOpt = None, as_json: JsonFlag = False
) -> None:
    """Reject a transfer, with the reason."""
    _show(actions.reject(current(), as_person(acting), transfer_id, reason), as_json)


@transfer_app.command("cancel")
@via(rc.transfer_cancel)
def transfer_cancel(
    transfer_id: str, reason: ReasonOpt, acting: AsOpt = None, as_json: JsonFlag = False
) -> None:
    """Cancel a transfer before its dispatch (the requester or a lead of the sending team)."""
    _show(actions.cancel(current(), as_person(acting), transfer_id, reason), as_json)


@transfer_app.command("dispatch")
@via(rc.transfer_dispatch)
def transfer_dispatch(
    transfer_id: str, acting: AsOpt = None, wait: WaitFlag = False, as_json: JsonFlag = False
) -> None:
    """Run (or finish, after a crash) the dispatch of an approved transfer; on
    a team ([engine] work_pool), submit it to the workers."""
    person = as_person(acting)
    transfer = visibility.checked_transfer(current().catalog, person, transfer_id)
    _finish(_run_dispatch(transfer, person, as_json, wait), as_json)


@transfer_app.command("receive")
@via(rc.transfer_receive)
def transfer_receive(transfer_id: str, acting: AsOpt = None, as_json: JsonFlag = False) -> None:
    """Acknowledge a dispatched transfer: re-read the copies, then sign and
    record your team's receipt."""
    _finish(actions.receive(current(), as_person(acting), transfer_id), as_json)


@transfer_app.command("list")
@via(rc.transfer_list)
def transfer_list(case: CaseOpt = None, acting: AsOpt = None, as_json: JsonFlag = False) -> None:
    """The transfers you may see."""
    found = visibility.visible_transfers(current().catalog, as_person(acting), case)
    if as_json:
        print_json([t.as_dict() for t in found])
    else:
        render.transfers(console, found)


@transfer_app.command("show")
@via(rc.transfer_show)
def transfer_show(transfer_id: str, acting: AsOpt = None, as_json: JsonFlag = False) -> None:
    """One transfer: exhibits, decisions, and its receipt with the signature
    checked against the receiving team's registered key. Exits 1 when the
    receipt does not verify."""
    transfer = visibility.checked_transfer(current().catalog, as_person(acting), transfer_id)
    check = _show(transfer, as_json)
    if check is not None and not check.ok:
        raise typer.Exit(1)
