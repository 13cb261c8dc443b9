"""The ``jitev`` command line. Errors a person can fix are caught in one place
(``main``) and printed as one clear message, never a traceback."""

from __future__ import annotations

import json
import os
import sys
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TransferSpeedColumn,
)
from typer._click.exceptions import ClickException

from app import render
from evidence import disclosure, handoffs, ledger, services
from evidence.errors import InputError, IntegrityError, JitevError
from evidence.manifest import from_fields
from evidence.models import (
    Case,
    Handling,
    Person,
    Role,
    Team,
    Transfer,
    TransferState,
    parse_handling_code,
    parse_purpose,
    parse_role,
)
from evidence.policy import Right

app = typer.Typer(
    help="jitev: evidence workflow for EU Joint Investigation Teams.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
case_app = typer.Typer(help="JIT cases (operations) and their member teams.", no_args_is_help=True)
exhibits_app = typer.Typer(help="Exhibits: list and show.", no_args_is_help=True)
custody_app = typer.Typer(
    help="Continuity: the custody history of one exhibit.", no_args_is_help=True
)
ledger_app = typer.Typer(help="The custody ledger of each case.", no_args_is_help=True)
people_app = typer.Typer(help="People, their team and roles.", no_args_is_help=True)
transfer_app = typer.Typer(
    help="Hand-offs of exhibits between teams: request, approve, dispatch, receive.",
    no_args_is_help=True,
)
app.add_typer(case_app, name="case")
app.add_typer(exhibits_app, name="exhibits")
app.add_typer(custody_app, name="custody")
app.add_typer(ledger_app, name="ledger")
bundle_app = typer.Typer(
    help="Disclosure bundles: create, list, show, download, verify (offline).",
    no_args_is_help=True,
)
app.add_typer(people_app, name="people")
app.add_typer(transfer_app, name="transfer")
app.add_typer(bundle_app, name="bundle")

T = TypeVar("T")

console = Console()
err = Console(stderr=True)

JsonFlag = Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")]
CaseOpt = Annotated[str | None, typer.Option("--case", help="Case id, e.g. DANUBE.")]
AsOpt = Annotated[
    str | None,
    typer.Option("--as", help='Who acts, e.g. "Insp. Petrova" (default: JITEV_USER_NAME).'),
]
ReasonOpt = Annotated[str, typer.Option("--reason", help="Why: recorded in the ledger.")]


def _wiring() -> Any:
    from config import wiring

    return wiring.current()


def _acting(name: str | None) -> Person:
    """The person the command acts as: ``--as``, else the configured default."""
    w = _wiring()
    name = name or w.settings.user.name
    if not name:
        raise InputError(
            'say who you are: --as "NAME", or set JITEV_USER_NAME (or [user] name in '
            "the config file); `jitev people list` shows the registered people"
        )
    person: Person = w.catalog.person(name)
    return person


def _prefect_defaults() -> None:
    """Prefect's local mode, kept beside jitev's own data and quiet, unless
    the environment says otherwise (e.g. PREFECT_API_URL of a team server)."""
    from config.settings import home

    os.environ.setdefault("PREFECT_HOME", str(home() / "prefect"))
    os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    # The first start of a new local Prefect database migrates it: give it time.
    os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "120")


def _print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, indent=2, ensure_ascii=False) + "\n")


def _team(spec: str) -> Team:
    parts = spec.split(":", 2)
    if len(parts) != 3 or not all(p.strip() for p in parts):
        raise InputError(f"--team {spec!r}: use CODE:MEMBER_STATE:NAME, e.g. BG:Bulgaria:NIS")
    return Team(parts[0].strip(), parts[1].strip(), parts[2].strip())


@case_app.command("open")
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
    event = services.open_case(_wiring().catalog, case, _acting(acting).name)
    if as_json:
        _print_json(event.as_dict())
    else:
        console.print(f"Case {case.id} opened: custody event #{event.seq} {event.hash}")


@case_app.command("list")
def case_list(acting: AsOpt = None, as_json: JsonFlag = False) -> None:
    """List the cases of your team."""
    person = _acting(acting)
    cases = [c for c in _wiring().catalog.cases() if person.team in {t.code for t in c.teams}]
    if as_json:
        _print_json([c.as_dict() for c in cases])
        return
    for c in cases:
        teams = ", ".join(t.code + (" (lead)" if t.code == c.lead_team else "") for t in c.teams)
        console.print(
            f"[bold]{c.id}[/] {escape(c.title)} — agreement {escape(c.agreement_ref)}; teams {teams}"
        )


class _Bar(services.Progress):
    """The ingest progress bar: files, bytes, rate."""

    def __init__(self, progress: Progress) -> None:
        self._progress = progress
        self._task = progress.add_task("starting", total=None)
        self._files = 0
        self._total = 0
        super().__init__(on_plan=self._plan, on_bytes=self._advance, on_file=self._file)

    def _describe(self) -> str:
        return f"{self._files}/{self._total} files"

    def _plan(self, plan: services.IngestPlan, run: Any) -> None:
        done = [f for f in plan.files if f.source.relative in run.done]
        self._files, self._total = len(done), len(plan.files)
        self._progress.update(
            self._task,
            total=plan.total_bytes,
            completed=sum(f.source.size for f in done),
            description=self._describe(),
        )

    def _advance(self, n: int) -> None:
        self._progress.advance(self._task, n)

    def _file(self, outcome: services.Outcome) -> None:
        self._files += 1
        self._progress.update(self._task, description=self._describe())


@app.command()
def ingest(
    paths: Annotated[list[str], typer.Argument(help="Files and folders to ingest.")],
    case: Annotated[str, typer.Option("--case", help="Case id, e.g. DANUBE.")],
    acting: AsOpt = None,
    team: Annotated[
        str | None, typer.Option("--team", help="Your team's code (default: your team).")
    ] = None,
    manifest: Annotated[
        str | None, typer.Option(help="Sidecar manifest (CSV or JSON) with per-file metadata.")
    ] = None,
    title: Annotated[str | None, typer.Option(help="Title (default: file name).")] = None,
    description: Annotated[str, typer.Option(help="Description for every file.")] = "",
    seized_at: Annotated[
        str | None, typer.Option(help="ISO 8601 with offset, e.g. 2026-03-14T09:30+02:00.")
    ] = None,
    seized_by: Annotated[str, typer.Option(help="Seizing officer.")] = "",
    seized_from: Annotated[str, typer.Option(help="Place or person seized from.")] = "",
    declared_hash: Annotated[
        str | None, typer.Option(help="ALGORITHM:HEX from the seizing tool (one file only).")
    ] = None,
    handling: Annotated[
        str, typer.Option(help="Handling code H0-H3 (see `jitev exhibits handling`).")
    ] = "H0",
    handling_note: Annotated[str, typer.Option(help="The restriction, for H3.")] = "",
    as_json: JsonFlag = False,
) -> None:
    """Ingest files: stream each once through BLAKE3 + SHA-256 into write-once
    storage and record its custody event. Symbolic links are not followed.
    Re-run the same command after a crash: it finishes the rest."""
    fields = {
        "title": title,
        "description": description,
        "seized_at": seized_at,
        "seized_by": seized_by,
        "seized_from": seized_from,
        "declared_hash": declared_hash,
        "handling": handling,
        "handling_note": handling_note,
    }
    w = _wiring()
    person = _acting(acting)
    team = team or person.team
    by = person.name
    # Check everything a person can get wrong before Prefect starts (seconds):
    # the flow checks again, for runs that do not come from this command.
    services.plan_ingest(
        w.catalog,
        case_id=case,
        team=team,
        actor=by,
        paths=paths,
        defaults=from_fields(fields),
        manifest=manifest,
    )
    _prefect_defaults()
    from flows.ingest import LISTENERS, run_ingest

    parameters = dict(
        case_id=case, team=team, actor=by, paths=paths, fields=fields, manifest=manifest
    )
    if as_json:
        result = run_ingest(w.settings.ingest.concurrency, **parameters)
    else:
        columns = (
            TextColumn("{task.description}"),
            BarColumn(),
            DownloadColumn(),
            TransferSpeedColumn(),
            TimeElapsedColumn(),
        )
        key = uuid.uuid4().hex
        with Progress(*columns, console=err, transient=False) as progress:
            LISTENERS[key] = _Bar(progress)
            try:
                result = run_ingest(w.settings.ingest.concurrency, progress_key=key, **parameters)
            finally:
                del LISTENERS[key]
    chain = ledger.verify(case, w.catalog.events(case))
    result["ledger"] = chain.as_dict()
    if as_json:
        _print_json(result)
    else:
        if result["resumed"]:
            console.print(
                f"Resumed an unfinished ingest: {result['already_done']} file(s) were already recorded."
            )
        for skipped in result["skipped"]:
            console.print(
                f"[yellow]skipped[/] {escape(skipped['path'])}: {escape(skipped['reason'])}"
            )
        render.outcomes(console, result["outcomes"])
        render.ledger_summary(console, chain)
    statuses = {o["status"] for o in result["outcomes"]}
    if "quarantined" in statuses:
        err.print(
            "[bold red]Declared hash mismatch: the bytes are stored but the exhibit is QUARANTINED.[/]"
        )
        raise typer.Exit(3)
    if "changed" in statuses:
        err.print(
            "[bold red]Some files changed while they were read and were not recorded: run the same command again.[/]"
        )
        raise typer.Exit(4)


@exhibits_app.command("list")
def exhibits_list(
    case: CaseOpt = None,
    team: Annotated[str | None, typer.Option(help="Originating team code.")] = None,
    acting: AsOpt = None,
    as_json: JsonFlag = False,
) -> None:
    """List the exhibits your team holds (auditors: every exhibit of the case)."""
    w = _wiring()
    items = handoffs.visible_exhibits(w.catalog, _acting(acting), case, team)
    if as_json:
        _print_json([e.as_dict() for e in items])
    else:
        render.exhibits(console, items)


@exhibits_app.command("show")
def exhibits_show(
    reference: str, case: CaseOpt = None, acting: AsOpt = None, as_json: JsonFlag = False
) -> None:
    """Show one exhibit, e.g. BG-EX-0007."""
    w = _wiring()
    ex = handoffs.checked_exhibit(w.catalog, _acting(acting), Right.VIEW, reference, case)
    holders = w.catalog.holdings(ex.case_id).get(ex.reference, [])
    if as_json:
        _print_json({**ex.as_dict(), "holders": [h.as_dict() for h in holders]})
    else:
        render.exhibit(console, ex, holders)


def _write_new(target: Path, fill: Callable[[Callable[[bytes], None]], T]) -> T:
    """Create ``target`` with what ``fill`` writes; never overwrite a file, and
    leave nothing behind when ``fill`` fails (it verifies as it goes)."""
    if target.exists():
        raise InputError(f"{target} exists already: give another --out (jitev never overwrites)")
    partial = target.with_name(f".{target.name}.part")

    def cannot(exc: OSError) -> InputError:
        return InputError(f"cannot write {target}: {exc.strerror}; check the folder and disk space")

    try:
        sink = partial.open("xb")
    except OSError as exc:
        raise cannot(exc) from exc

    def write(chunk: bytes) -> None:
        try:
            sink.write(chunk)
        except OSError as exc:
            raise cannot(exc) from exc

    try:
        with sink:
            result = fill(write)
        os.link(partial, target)  # never replaces a file that appeared meanwhile
    except FileExistsError as exc:
        raise InputError(f"{target} appeared meanwhile: give another --out") from exc
    finally:
        partial.unlink(missing_ok=True)
    return result


@exhibits_app.command("download")
def exhibits_download(
    reference: str,
    out: Annotated[str, typer.Option("--out", help="A file to create, or a folder.")],
    case: CaseOpt = None,
    acting: AsOpt = None,
    as_json: JsonFlag = False,
) -> None:
    """Download your team's copy of an exhibit, verified against its ledger
    hashes on the way; recorded as an ACCESSED custody event."""
    w = _wiring()
    person = _acting(acting)
    target = Path(out)
    if target.is_dir():
        target = target / w.catalog.exhibit(reference, case).original_name
    event = _write_new(
        target,
        lambda write: handoffs.download(w.store, w.catalog, person, reference, write, case),
    )
    if as_json:
        _print_json({"path": str(target), "event": event.as_dict()})
    else:
        console.print(
            f"{reference} → {target}: BLAKE3 and SHA-256 verified (custody event #{event.seq})"
        )


@exhibits_app.command("handling")
def exhibits_handling(
    reference: str,
    code: Annotated[
        str,
        typer.Option(
            help="H0 JIT purposes; H1 no judicial use without the originator's permission; "
            "H2 no onward transmission without permission; H3 other restrictions (--note)."
        ),
    ],
    note: Annotated[str, typer.Option(help="The restriction in words (required for H3).")] = "",
    purpose: Annotated[
        list[str] | None,
        typer.Option(
            help="A purpose agreed in advance besides jit (other_offence, "
            "urgent_public_security, outside_jit); repeat."
        ),
    ] = None,
    case: CaseOpt = None,
    acting: AsOpt = None,
    as_json: JsonFlag = False,
) -> None:
    """Change an exhibit's handling code and agreed purposes (a lead of its
    originating team); recorded as a HANDLING_CHANGED custody event."""
    w = _wiring()
    person = _acting(acting)
    ex = w.catalog.exhibit(reference, case)
    handling = Handling(
        parse_handling_code(code), note.strip(), tuple(parse_purpose(p) for p in purpose or [])
    )
    event = handoffs.set_handling(w.catalog, person, ex.case_id, ex.reference, handling)
    if as_json:
        _print_json(event.as_dict())
    else:
        console.print(
            f"{ex.reference}: handling {handling.code.value}"
            f"{' — ' + handling.note if handling.note else ''}; purposes "
            f"{', '.join(handling.purposes)} (custody event #{event.seq})"
        )


@exhibits_app.command("consent")
def exhibits_consent(
    reference: str,
    for_team: Annotated[str, typer.Option("--for", help="The team whose courts may use it.")],
    note: Annotated[str, typer.Option(help="On what terms the consent is given.")],
    case: CaseOpt = None,
    acting: AsOpt = None,
    as_json: JsonFlag = False,
) -> None:
    """Permit the use of an exhibit in a team's judicial proceedings (needed
    for H1 exhibits; a lead of the originating team)."""
    w = _wiring()
    ex = w.catalog.exhibit(reference, case)
    event = disclosure.consent_judicial_use(
        w.catalog, _acting(acting), ex.case_id, ex.reference, for_team, note
    )
    if as_json:
        _print_json(event.as_dict())
    else:
        console.print(
            f"{ex.reference}: judicial use in {for_team} consented (custody event #{event.seq})"
        )


@exhibits_app.command("sensitive")
def exhibits_sensitive(
    reference: str,
    reason: Annotated[
        str | None, typer.Option(help="Why it is sensitive (kept off the defence schedule).")
    ] = None,
    clear: Annotated[bool, typer.Option("--clear", help="No longer sensitive.")] = False,
    case: CaseOpt = None,
    acting: AsOpt = None,
    as_json: JsonFlag = False,
) -> None:
    """Mark an exhibit sensitive, with the reason (a lead of its originating
    team): it is listed on the sensitive schedule, never in a bundle."""
    if clear == (reason is not None):
        raise InputError('give either --reason "..." or --clear')
    w = _wiring()
    ex = w.catalog.exhibit(reference, case)
    event = disclosure.set_sensitive(
        w.catalog, _acting(acting), ex.case_id, ex.reference, None if clear else reason
    )
    if as_json:
        _print_json(event.as_dict())
    else:
        state = "no longer sensitive" if clear else "sensitive"
        console.print(f"{ex.reference}: {state} (custody event #{event.seq})")


@custody_app.command("show")
def custody_show(
    reference: str, case: CaseOpt = None, acting: AsOpt = None, as_json: JsonFlag = False
) -> None:
    """The continuity of one exhibit: every custody event, in order."""
    w = _wiring()
    ex, events = handoffs.continuity(w.catalog, _acting(acting), reference, case)
    holders = w.catalog.holdings(ex.case_id).get(ex.reference, [])
    if as_json:
        _print_json(
            {
                "exhibit": ex.as_dict(),
                "holders": [h.as_dict() for h in holders],
                "events": [e.as_dict() for e in events],
            }
        )
    else:
        render.continuity(console, ex, events, holders)


@ledger_app.command("verify")
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
    w = _wiring()
    person = _acting(acting)
    checks = [
        handoffs.audit_case(w.catalog, person, c.id, w.store if objects else None).as_dict()
        for c in handoffs.member_cases(w.catalog, person, case)
    ]
    if as_json:
        _print_json(checks)
    else:
        if not checks:
            console.print("No cases yet.")
        for check in checks:
            render.verification(console, check)
    if not all(c["ok"] for c in checks):
        raise typer.Exit(1)


# -- people and setup ----------------------------------------------------------------


@people_app.command("add")
def people_add(
    name: Annotated[str, typer.Argument(help='e.g. "Insp. Petrova".')],
    team: Annotated[str, typer.Option(help="Team code, e.g. BG.")],
    role: Annotated[
        list[str], typer.Option(help="investigator, lead, prosecutor, auditor or admin; repeat.")
    ],
    acting: AsOpt = None,
) -> None:
    """Register a person (an admin; the very first person must be an admin)."""
    w = _wiring()
    person = Person(name, team, frozenset(parse_role(r) for r in role))
    handoffs.add_person(w.catalog, acting or w.settings.user.name, person)
    _added(person)


def _added(person: Person) -> None:
    console.print(f"Added {escape(person.name)} ({person.team}, {', '.join(sorted(person.roles))})")


@people_app.command("passwd")
def people_passwd(
    name: Annotated[str, typer.Argument(help='Whose password, e.g. "Insp. Petrova".')],
    password_stdin: Annotated[
        bool, typer.Option("--password-stdin", help="Read the password from standard input.")
    ] = False,
    acting: AsOpt = None,
) -> None:
    """Set a person's web password (argon2id): yourself, or anyone as an admin.
    Without --as, whoever runs this on the server machine sets it (the operator)."""
    from evidence import access
    from storage.passwords import Argon2Hasher

    if password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = typer.prompt(f"New password for {name}", hide_input=True)
        if typer.prompt("Repeat it", hide_input=True) != password:
            raise InputError("the two passwords differ: nothing was changed")
    actor = _acting(acting) if acting else None
    access.set_password(_wiring().catalog, Argon2Hasher(), actor, name, password)
    console.print(f"Password set for {escape(name)}.")


@people_app.command("list")
def people_list(as_json: JsonFlag = False) -> None:
    """List the registered people."""
    found = _wiring().catalog.people()
    if as_json:
        _print_json([p.as_dict() for p in found])
    else:
        render.people(console, found)


@app.command()
def setup(
    jit_file: Annotated[str, typer.Argument(help="A JIT file, e.g. config/jit.example.toml.")],
    acting: AsOpt = None,
) -> None:
    """Set up a JIT from a file: open its case, register its people, and create
    each team's receipt signing key (private keys stay in the keys directory).
    Run it again to add what is missing; nothing is replaced."""
    from config.jit import load

    w = _wiring()
    jit = load(Path(jit_file))
    first_admin = next((p for p in jit.people if p.has(Role.ADMIN)), None)
    if not w.catalog.people():
        if first_admin is None:
            raise InputError(f"{jit_file}: no people are registered yet, so list an admin first")
        handoffs.add_person(w.catalog, None, first_admin)
        _added(first_admin)
    # The file's first admin acts unless someone else is named.
    acting = acting or w.settings.user.name or (first_admin.name if first_admin else None)
    known = {p.name: p for p in w.catalog.people()}
    for person in jit.people:
        if person.name not in known:
            handoffs.add_person(w.catalog, acting, person)
            _added(person)
        elif known[person.name] != person:
            err.print(
                f"[yellow]{escape(person.name)} is registered already as {known[person.name].team} "
                f"{', '.join(sorted(known[person.name].roles))}: left unchanged[/]"
            )
    if jit.case.id not in {c.id for c in w.catalog.cases()}:
        services.open_case(w.catalog, jit.case, _acting(acting).name)
        console.print(f"Opened case {jit.case.id}: {escape(jit.case.title)}")
    elif w.catalog.case(jit.case.id) != jit.case:
        raise InputError(
            f"case {jit.case.id} exists with other teams or another lead team than {jit_file} "
            "says: a case's teams are fixed when it is opened"
        )
    admin = _acting(acting)
    for team in jit.case.teams:
        public = w.catalog.team_key(team.code) or w.keys.generate(team.code)
        handoffs.register_team_key(w.catalog, admin, jit.case.id, team.code, public)
        where = "on this machine" if w.keys.public_key(team.code) == public else "elsewhere"
        console.print(
            f"Team {team.code} receipt key: ed25519 {render.fingerprint(public)} (private key {where})"
        )


# -- transfers -----------------------------------------------------------------------


def _show_transfer(transfer: Transfer, as_json: bool) -> handoffs.ReceiptStatus:
    status = handoffs.check_receipt(_wiring().catalog, transfer)
    if as_json:
        _print_json({**transfer.as_dict(), "receipt_check": status.as_dict()})
    else:
        render.transfer(console, transfer, status)
    return status


def _run_dispatch(transfer: Transfer, person: Person, as_json: bool) -> Transfer:
    _prefect_defaults()
    from flows.dispatch import dispatch

    if not as_json:
        err.print(f"Dispatching {transfer.id}: copy to {transfer.to_team} and read back…")
    dispatch(transfer_id=transfer.id, actor=person.name)
    return _wiring().catalog.transfer(transfer.id)


def _finish(transfer: Transfer, as_json: bool) -> None:
    _show_transfer(transfer, as_json)
    if transfer.state is TransferState.FAILED:
        raise IntegrityError(f"transfer {transfer.id} failed: {transfer.failure}")


@transfer_app.command("request")
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
    transfer = handoffs.request_transfer(
        _wiring().catalog,
        _acting(acting),
        case_id=case,
        references=exhibits,
        to_team=to,
        purpose=parse_purpose(purpose),
        legal_basis=legal_basis,
        note=note,
    )
    _show_transfer(transfer, as_json)


@transfer_app.command("approve")
def transfer_approve(
    transfer_id: str,
    reason: ReasonOpt = "",
    dispatch: Annotated[
        bool, typer.Option(help="Dispatch at once when this is the last approval.")
    ] = True,
    acting: AsOpt = None,
    as_json: JsonFlag = False,
) -> None:
    """Approve, in every capacity you hold (JIT lead, originating team's consent).
    The last approval dispatches (a verified copy to the receiving team) when
    you may dispatch: the sending team or the JIT lead; otherwise the sending
    team runs `jitev transfer dispatch`."""
    person = _acting(acting)
    catalog = _wiring().catalog
    transfer = handoffs.decide(catalog, person, transfer_id, approve=True, reason=reason)
    if dispatch and handoffs.dispatch_due(catalog, person, transfer):
        transfer = _run_dispatch(transfer, person, as_json)
    _finish(transfer, as_json)


@transfer_app.command("reject")
def transfer_reject(
    transfer_id: str, reason: ReasonOpt, acting: AsOpt = None, as_json: JsonFlag = False
) -> None:
    """Reject a transfer, with the reason."""
    transfer = handoffs.decide(
        _wiring().catalog, _acting(acting), transfer_id, approve=False, reason=reason
    )
    _show_transfer(transfer, as_json)


@transfer_app.command("cancel")
def transfer_cancel(
    transfer_id: str, reason: ReasonOpt, acting: AsOpt = None, as_json: JsonFlag = False
) -> None:
    """Cancel a transfer before its dispatch (the requester or a lead of the sending team)."""
    transfer = handoffs.cancel(_wiring().catalog, _acting(acting), transfer_id, reason)
    _show_transfer(transfer, as_json)


@transfer_app.command("dispatch")
def transfer_dispatch(transfer_id: str, acting: AsOpt = None, as_json: JsonFlag = False) -> None:
    """Run (or finish, after a crash) the dispatch of an approved transfer."""
    person = _acting(acting)
    transfer = handoffs.checked_transfer(_wiring().catalog, person, transfer_id)
    _finish(_run_dispatch(transfer, person, as_json), as_json)


@transfer_app.command("receive")
def transfer_receive(transfer_id: str, acting: AsOpt = None, as_json: JsonFlag = False) -> None:
    """Acknowledge a dispatched transfer: re-read the copies, then sign and
    record your team's receipt."""
    w = _wiring()
    person = _acting(acting)
    transfer = handoffs.checked_transfer(w.catalog, person, transfer_id)
    transfer = handoffs.receive(
        w.store, w.catalog, w.keys.signer(transfer.to_team), w.clock, person, transfer_id
    )
    _finish(transfer, as_json)


@transfer_app.command("list")
def transfer_list(case: CaseOpt = None, acting: AsOpt = None, as_json: JsonFlag = False) -> None:
    """The transfers you may see."""
    found = handoffs.visible_transfers(_wiring().catalog, _acting(acting), case)
    if as_json:
        _print_json([t.as_dict() for t in found])
    else:
        render.transfers(console, found)


@transfer_app.command("show")
def transfer_show(transfer_id: str, acting: AsOpt = None, as_json: JsonFlag = False) -> None:
    """One transfer: exhibits, decisions, and its receipt with the signature
    checked against the receiving team's registered key. Exits 1 when the
    receipt does not verify."""
    transfer = handoffs.checked_transfer(_wiring().catalog, _acting(acting), transfer_id)
    status = _show_transfer(transfer, as_json)
    if status.present and not status.ok:
        raise typer.Exit(1)


# -- disclosure bundles ----------------------------------------------------------------


@bundle_app.command("create")
def bundle_create(
    case: Annotated[str, typer.Option("--case", help="Case id, e.g. DANUBE.")],
    exhibits: Annotated[
        list[str] | None, typer.Option("--exhibits", help="Exhibit references; repeat.")
    ] = None,
    all_held: Annotated[
        bool, typer.Option("--all-held", help="Every exhibit your team holds.")
    ] = False,
    acting: AsOpt = None,
    as_json: JsonFlag = False,
) -> None:
    """Build a disclosure bundle of exhibits your team holds (a prosecutor),
    store it write-once, and record a DISCLOSED custody event on each."""
    if all_held == bool(exhibits):
        raise InputError("name the exhibits with --exhibits REF (repeat), or use --all-held")
    w = _wiring()
    plan = disclosure.plan_bundle(w.catalog, _acting(acting), case, None if all_held else exhibits)
    w.settings.home.mkdir(parents=True, exist_ok=True)
    bundle = disclosure.create_bundle(w.store, w.catalog, plan, w.settings.home)
    if as_json:
        _print_json(bundle.as_dict())
    else:
        render.bundle(console, bundle)


@bundle_app.command("list")
def bundle_list(case: CaseOpt = None, acting: AsOpt = None, as_json: JsonFlag = False) -> None:
    """The bundles of your team."""
    found = disclosure.visible_bundles(_wiring().catalog, _acting(acting), case)
    if as_json:
        _print_json([b.as_dict() for b in found])
    else:
        for b in found:
            render.bundle(console, b)


@bundle_app.command("show")
def bundle_show(bundle_id: str, acting: AsOpt = None, as_json: JsonFlag = False) -> None:
    """One bundle: its exhibits, digests and sensitive schedule."""
    b = disclosure.checked_bundle(_wiring().catalog, _acting(acting), bundle_id)
    if as_json:
        _print_json(b.as_dict())
    else:
        render.bundle(console, b)


@bundle_app.command("download")
def bundle_download(
    bundle_id: str,
    out: Annotated[str, typer.Option("--out", help="A file to create, or a folder.")],
    sensitive: Annotated[
        bool, typer.Option("--sensitive", help="The sensitive schedule instead of the bundle.")
    ] = False,
    acting: AsOpt = None,
) -> None:
    """Download a stored bundle (or its sensitive schedule), verified against
    its recorded digests on the way."""
    w = _wiring()
    person = _acting(acting)
    b = disclosure.checked_bundle(w.catalog, person, bundle_id, content=True)
    name = f"{b.id}-sensitive.csv" if sensitive else f"{b.id}.zip"
    target = Path(out) / name if Path(out).is_dir() else Path(out)
    _write_new(target, lambda write: disclosure.download_bundle(w.store, b, write, sensitive))
    if not sensitive:
        disclosure.record_bundle_access(w.catalog, person, b)
    console.print(f"{b.id} → {target}")


@bundle_app.command("verify")
def bundle_verify(
    bundle_zip: Annotated[str, typer.Argument(help="The bundle ZIP.")],
    as_json: JsonFlag = False,
) -> None:
    """Check a bundle offline, with nothing but the ZIP: the bag, both
    checksum files, the schedule against the natives and the PDF, the ledger
    extract's chain and the receipts' signatures. Exits 1 when anything fails."""
    from evidence.bundle.verify import verify_bundle

    report = verify_bundle(bundle_zip)
    if as_json:
        _print_json(report.as_dict())
    else:
        render.bundle_report(console, report)
    if not report.ok:
        raise typer.Exit(1)


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="Listen address (default [web] host).")] = None,
    port: Annotated[int | None, typer.Option(help="Port (default [web] port, 8000).")] = None,
) -> None:
    """Serve the web pages and the JSON API (/api/v1) until Ctrl-C."""
    import uvicorn

    from app.web import create_app

    _prefect_defaults()
    w = _wiring()
    host = host or w.settings.web.host
    port = port or w.settings.web.port
    console.print(f"jitev on http://{host}:{port}/  (API: /api/v1, schema: /api/v1/openapi.json)")
    uvicorn.run(create_app(w), host=host, port=port, log_level="warning")


@app.command()
def demo() -> None:
    """Operation Danube: open the JIT, generate a small evidence set, ingest it,
    show the exhibits and verify the ledger. Needs no servers."""
    from app.demo import run

    run(console)


def main() -> None:
    try:
        code = app(standalone_mode=False)
    except JitevError as exc:
        err.print(f"[bold red]error:[/] {escape(str(exc))}")
        sys.exit(exc.exit_code)
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except typer.Abort:
        err.print("aborted")
        sys.exit(130)
    sys.exit(code if isinstance(code, int) else 0)
