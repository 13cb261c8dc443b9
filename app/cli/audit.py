"""``jitev audit``: fixity audits of the stored copies (``evidence.fixity``):
run one, list a case's, show one."""

from __future__ import annotations

from typing import Annotated

import typer

from app import actions, render
from app.cli import remote_admin as ra
from app.cli.common import (
    AsOpt,
    CaseOpt,
    JsonFlag,
    as_person,
    console,
    current,
    print_json,
    say_engine,
)
from app.cli.jobs import WaitFlag, submitted, team_jobs
from app.cli.remote import via
from evidence import fixity, visibility

audit_app = typer.Typer(
    help="Fixity audits: stored copies re-read against the ledger.", no_args_is_help=True
)


@audit_app.command("run")
@via(ra.audit_run)
def audit_run(
    case: CaseOpt = None,
    everything: Annotated[
        bool, typer.Option("--all", help="Check every copy, not only today's share.")
    ] = False,
    acting: AsOpt = None,
    wait: WaitFlag = False,
    as_json: JsonFlag = False,
) -> None:
    """Audit the stored copies of a case (or of every case of your team):
    today's share of them, or all with --all; crash leftovers past their
    grace period are removed. Auditors and leads. Exits 1 when a copy failed.
    On a team ([engine] work_pool), a worker audits: the command submits."""
    w, person = current(), as_person(acting)
    jobs = team_jobs()
    if jobs is None:
        done = actions.fixity_audit(w, person, case, all_copies=everything)
    else:
        actions.check_audit(w, person, case)
        params = {"actor": person.name, "case_id": case, "all_copies": everything}
        job = submitted(
            jobs, jobs.submit("audit", person.name, case or "", **params), wait, as_json
        )
        if not wait:
            return
        done = actions.audits_done(w, person, [r for r in job.result if "seq" in r])
    if as_json:
        print_json([a.as_dict() for a in done])
    else:
        if not done:
            console.print("No cases yet.")
        for a in done:
            render.fixity_audit(console, a.event, a.failures)
        say_engine()
    if not all(a.ok for a in done):
        raise typer.Exit(1)


@audit_app.command("list")
@via(ra.audit_list)
def audit_list(case: CaseOpt = None, acting: AsOpt = None, as_json: JsonFlag = False) -> None:
    """List the fixity audits of a case (or of every case of your team)."""
    w = current()
    person = as_person(acting)
    found = [
        e
        for c in visibility.member_cases(w.catalog, person, case)
        for e in fixity.audits(w.catalog, person, c.id)
    ]
    if as_json:
        print_json([e.as_dict() for e in found])
    else:
        render.fixity_audits(console, found)


@audit_app.command("show")
@via(ra.audit_show)
def audit_show(
    which: Annotated[str, typer.Argument(help="The audit's event sequence number or hash.")],
    case: Annotated[str, typer.Option("--case", help="Case id, e.g. DANUBE.")],
    acting: AsOpt = None,
    as_json: JsonFlag = False,
) -> None:
    """Show one fixity audit: what it checked, its failures, its leftovers.
    Exits 1 when it found a failure."""
    event, failures = fixity.audit_event(current().catalog, as_person(acting), case, which)
    if as_json:
        print_json({"event": event.as_dict(), "failures": [f.as_dict() for f in failures]})
    else:
        render.fixity_audit(console, event, failures)
    if failures:
        raise typer.Exit(1)
