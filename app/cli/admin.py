"""Setting up and looking after a JIT: ``jitev setup``, ``case``, ``people``,
``ledger verify``, and ``serve`` and ``demo``."""

from __future__ import annotations

import sys
from pathlib import Path
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
    err,
    print_json,
    say_engine,
)
from app.cli.remote import direct_only, via
from evidence import access, visibility
from evidence import setup as jit_setup
from evidence.errors import InputError, LedgerError
from evidence.models import Case, Person, Team, parse_role
from evidence.tlog import proofs

case_app = typer.Typer(help="JIT cases (operations) and their member teams.", no_args_is_help=True)
people_app = typer.Typer(help="People, their team and roles.", no_args_is_help=True)
ledger_app = typer.Typer(help="The custody ledger of each case.", no_args_is_help=True)


def _team(spec: str) -> Team:
    parts = spec.split(":", 2)
    if len(parts) != 3 or not all(p.strip() for p in parts):
        raise InputError(f"--team {spec!r}: use CODE:MEMBER_STATE:NAME, e.g. BG:Bulgaria:NIS")
    return Team(parts[0].strip(), parts[1].strip(), parts[2].strip())


@case_app.command("open")
@direct_only
def case_open(
    case_id: Annotated[str, typer.Option("--id", help="Case id, e.g. DANUBE.")],
    title: Annotated[str, typer.Option(help="e.g. Operation Danube.")],
    agreement: Annotated[str, typer.Option(help="JIT agreement reference.")],
    team: Annotated[list[str], typer.Option(help="CODE:MEMBER_STATE:NAME; repeat per team.")],
    lead: Annotated[str, typer.Option(help="Code of the lead team.")],
    acting: AsOpt = None,
    as_json: JsonFlag = False,
) -> None:
    """Open a JIT case with its member teams (an admin, or a lead of one of them)."""
    case = Case(case_id, title, agreement, tuple(_team(t) for t in team), lead)
    event = jit_setup.open_case(current().catalog, case, as_person(acting).name)
    if as_json:
        print_json(event.as_dict())
    else:
        console.print(f"Case {case.id} opened: custody event #{event.seq} {event.hash}")


@case_app.command("list")
@via(ra.case_list)
def case_list(acting: AsOpt = None, as_json: JsonFlag = False) -> None:
    """List the cases of your team."""
    person = as_person(acting)
    cases = [c for c in current().catalog.cases() if person.team in {t.code for t in c.teams}]
    if as_json:
        print_json([c.as_dict() for c in cases])
        return
    render.cases(console, cases)


@ledger_app.command("verify")
@via(ra.ledger_verify)
def ledger_verify(
    case: CaseOpt = None,
    objects: Annotated[
        bool, typer.Option("--objects", help="Also re-read and re-hash every stored object.")
    ] = False,
    acting: AsOpt = None,
    as_json: JsonFlag = False,
) -> None:
    """Recompute every case's custody chain and check the exhibits against it
    (auditors and the JIT lead). Exits 1 when anything does not match."""
    reports = actions.verify_cases(current(), as_person(acting), case, objects=objects)
    if as_json:
        print_json([r.as_dict() for r in reports])
    else:
        if not reports:
            console.print("No cases yet.")
        for report in reports:
            render.report(console, report)
    if not all(r.ok for r in reports):
        raise typer.Exit(1)


@people_app.command("add")
@direct_only
def people_add(
    name: Annotated[str, typer.Argument(help='e.g. "Insp. Petrova".')],
    team: Annotated[str, typer.Option(help="Team code, e.g. BG.")],
    role: Annotated[
        list[str], typer.Option(help="investigator, lead, prosecutor, auditor or admin; repeat.")
    ],
    acting: AsOpt = None,
) -> None:
    """Register a person (an admin; the very first person must be an admin)."""
    w = current()
    person = Person(name, team, frozenset(parse_role(r) for r in role))
    jit_setup.add_person(w.catalog, acting or w.settings.user.name, person)
    render.added(console, person)


@people_app.command("passwd")
@direct_only
def people_passwd(
    name: Annotated[str, typer.Argument(help='Whose password, e.g. "Insp. Petrova".')],
    password_stdin: Annotated[
        bool, typer.Option("--password-stdin", help="Read the password from standard input.")
    ] = False,
    acting: AsOpt = None,
) -> None:
    """Set a person's web password (argon2id): yourself, or anyone as an admin.
    Without --as, whoever runs this on the server machine sets it (the operator)."""
    from storage.passwords import Argon2Hasher

    if password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = typer.prompt(f"New password for {name}", hide_input=True)
        if typer.prompt("Repeat it", hide_input=True) != password:
            raise InputError("the two passwords differ: nothing was changed")
    actor = as_person(acting) if acting else None
    access.set_password(current().catalog, Argon2Hasher(), actor, name, password)
    console.print(f"Password set for {render.esc(name)}.")


@people_app.command("list")
@direct_only
def people_list(as_json: JsonFlag = False) -> None:
    """List the registered people."""
    found = current().catalog.people()
    if as_json:
        print_json([p.as_dict() for p in found])
    else:
        render.people(console, found)


@direct_only
def setup(
    jit_file: Annotated[str, typer.Argument(help="A JIT file, e.g. config/jit.example.toml.")],
    acting: AsOpt = None,
) -> None:
    """Set up a JIT from a file: open its case, register its people, and create
    each team's receipt signing key (private keys stay in the keys directory).
    Run it again to add what is missing; nothing is replaced."""
    from config.jit import load

    w = current()
    result = actions.setup_jit(w, load(Path(jit_file)), jit_file, acting or w.settings.user.name)
    render.setup(console, err, result)


@direct_only
def serve(
    host: Annotated[str | None, typer.Option(help="Listen address (default [web] host).")] = None,
    port: Annotated[int | None, typer.Option(help="Port (default [web] port, 8000).")] = None,
) -> None:
    """Serve the web pages and the JSON API (/api/v1) until Ctrl-C. Without a
    team ([engine] work_pool), this process also serves jitev's flows (the
    jobs it submits, the scheduled audit) from an in-process Prefect runner."""
    import uvicorn

    from app.web import create_app, server_options
    from app.web.context import of_app
    from config.orchestration import prefect_defaults

    prefect_defaults()
    w = current()
    web = w.settings.web
    host = host or web.host
    port = port or web.port
    console.print(f"jitev on http://{host}:{port}/  (API: /api/v1, schema: /api/v1/openapi.json)")
    if web.trusted_proxies:
        console.print(f"X-Forwarded-For/-Proto believed from {', '.join(web.trusted_proxies)}")
    app = create_app(w)
    serving = of_app(app).jobs.serve_now()
    say_engine()
    if serving:
        audit = w.settings.audit
        console.print("Jobs run in this process (the embedded default, no \\[engine] work_pool)")
        if audit.scheduled_as:
            who = render.esc(audit.scheduled_as)
            console.print(f"Fixity audits: {audit.schedule} (cron, UTC) as {who}")
        else:
            err.print("[yellow]fixity audits are not scheduled: set \\[audit] scheduled_as[/]")
    uvicorn.run(app, host=host, port=port, log_level="warning", **server_options(web))


@direct_only
def demo() -> None:
    """Operation Danube: open the JIT, generate a small evidence set, ingest it,
    hand exhibits over, bundle and verify. Needs no servers."""
    from app.demo import run

    run(current(), console)
    say_engine()


@ledger_app.command("checkpoint")
@direct_only
def ledger_checkpoint(
    case: Annotated[str, typer.Option("--case", help="Case id, e.g. DANUBE.")],
    acting: AsOpt = None,
    as_json: JsonFlag = False,
) -> None:
    """Print the case log's latest checkpoint, cosigned by the member teams'
    witnesses: a text to keep (a court, the defence). The log is published
    first, so the checkpoint covers every event recorded so far."""
    w = current()
    person = as_person(acting)
    found = visibility.member_case(w.catalog, person, case)
    publication = w.checkpoint(found.id)
    if publication is None:
        raise InputError(f"case {found.id}'s ledger records no log policy: run `jitev setup` again")
    if as_json:
        print_json(publication.as_dict())
        return
    sys.stdout.write(publication.checkpoint)
    if not publication.published:
        err.print("[yellow]this checkpoint lacks the quorum of cosignatures:[/]")
        for witness, why in publication.missing.items():
            err.print(f"  witness {witness}: {render.esc(why)}")
        raise typer.Exit(1)


@ledger_app.command("consistency")
@direct_only
def ledger_consistency(
    saved: Annotated[str, typer.Option("--from", help="A checkpoint saved earlier (a file).")],
    case: Annotated[str, typer.Option("--case", help="Case id, e.g. DANUBE.")],
    acting: AsOpt = None,
    as_json: JsonFlag = False,
) -> None:
    """Prove that today's log extends a checkpoint saved earlier, or say
    plainly that it does not (exit 1). The proof's hashes and today's
    checkpoint are printed so that anyone can check them (RFC 9162 §2.1.4)."""
    w = current()
    found = visibility.member_case(w.catalog, as_person(acting), case)
    try:
        text = Path(saved).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"cannot read the saved checkpoint {saved}: {exc}") from None
    try:
        proof = actions.log_extends(w, found.id, text)
    except LedgerError as exc:
        console.print(f"[bold red]✘ {render.esc(str(exc))}[/]")
        raise typer.Exit(1) from None
    if as_json:
        print_json(proof.as_dict())
        return
    console.print(
        f"[green]✔ today's log of case {found.id} ({proof.current.size} events) extends the saved "
        f"checkpoint of {proof.saved.size} events[/]"
    )
    sys.stdout.write(proofs.consistency_file(proof.saved.size, proof.current.size, proof.proof))
    sys.stdout.write("\n" + proof.current_note)


@ledger_app.command("policy")
@direct_only
def ledger_policy(
    case: Annotated[str, typer.Option("--case", help="Case id, e.g. DANUBE.")],
    acting: AsOpt = None,
) -> None:
    """Print the case log's trust policy (C2SP tlog-policy): the log's key,
    each member team's witness key, and the quorum, as its ledger records them."""
    w = current()
    found = visibility.member_case(w.catalog, as_person(acting), case)
    recorded = jit_setup.log_policy(w.catalog, found.id)
    if recorded is None:
        raise InputError(f"case {found.id}'s ledger records no log policy: run `jitev setup` again")
    sys.stdout.write(recorded[1])
