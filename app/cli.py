"""The ``jitev`` command line. Errors a person can fix are caught in one place
(``main``) and printed as one clear message, never a traceback."""

from __future__ import annotations

import json
import os
import sys
import uuid
from typing import Annotated, Any

import typer
from rich.console import Console
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
from evidence import ledger, services
from evidence.errors import InputError, JitevError
from evidence.manifest import from_fields
from evidence.models import Case, Team

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
app.add_typer(case_app, name="case")
app.add_typer(exhibits_app, name="exhibits")
app.add_typer(custody_app, name="custody")
app.add_typer(ledger_app, name="ledger")

console = Console()
err = Console(stderr=True)

JsonFlag = Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")]
CaseOpt = Annotated[str | None, typer.Option("--case", help="Case id, e.g. DANUBE.")]


def _wiring() -> Any:
    from config import wiring

    return wiring.current()


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
    by: Annotated[str, typer.Option(help="Who opens the case.")],
    as_json: JsonFlag = False,
) -> None:
    """Open a JIT case with its member teams."""
    case = Case(case_id, title, agreement, tuple(_team(t) for t in team), lead)
    event = services.open_case(_wiring().catalog, case, by)
    if as_json:
        _print_json(event.as_dict())
    else:
        console.print(f"Case {case.id} opened: custody event #{event.seq} {event.hash}")


@case_app.command("list")
def case_list(as_json: JsonFlag = False) -> None:
    """List cases."""
    cases = _wiring().catalog.cases()
    if as_json:
        _print_json(
            [
                {
                    "id": c.id,
                    "title": c.title,
                    "agreement": c.agreement_ref,
                    "lead_team": c.lead_team,
                    "teams": [
                        {"code": t.code, "member_state": t.member_state, "name": t.name}
                        for t in c.teams
                    ],
                }
                for c in cases
            ]
        )
        return
    for c in cases:
        teams = ", ".join(t.code + (" (lead)" if t.code == c.lead_team else "") for t in c.teams)
        console.print(f"[bold]{c.id}[/] {c.title} — agreement {c.agreement_ref}; teams {teams}")


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


def _parse_declared(value: str | None) -> tuple[str | None, str | None]:
    if not value:
        return None, None
    algorithm, sep, digest = value.partition(":")
    if not sep:
        raise InputError(f"--declared-hash {value!r}: use ALGORITHM:HEX, e.g. sha1:3f78…")
    return algorithm, digest


@app.command()
def ingest(
    paths: Annotated[list[str], typer.Argument(help="Files and folders to ingest.")],
    case: Annotated[str, typer.Option("--case", help="Case id, e.g. DANUBE.")],
    team: Annotated[str, typer.Option("--team", help="Your team's code, e.g. BG.")],
    by: Annotated[str, typer.Option("--by", help='Who ingests, e.g. "Insp. Petrova".')],
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
    as_json: JsonFlag = False,
) -> None:
    """Ingest files: stream each once through BLAKE3 + SHA-256 into write-once
    storage and record its custody event. Symbolic links are not followed.
    Re-run the same command after a crash: it finishes the rest."""
    algorithm, digest = _parse_declared(declared_hash)
    fields = {
        "title": title,
        "description": description,
        "seized_at": seized_at,
        "seized_by": seized_by,
        "seized_from": seized_from,
        "hash_algorithm": algorithm,
        "hash": digest,
    }
    w = _wiring()
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
            console.print(f"[yellow]skipped[/] {skipped['path']}: {skipped['reason']}")
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
    as_json: JsonFlag = False,
) -> None:
    """List exhibits."""
    items = _wiring().catalog.exhibits(case, team)
    if as_json:
        _print_json([e.as_dict() for e in items])
    else:
        render.exhibits(console, items)


@exhibits_app.command("show")
def exhibits_show(reference: str, case: CaseOpt = None, as_json: JsonFlag = False) -> None:
    """Show one exhibit, e.g. BG-EX-0007."""
    ex = _wiring().catalog.exhibit(reference, case)
    if as_json:
        _print_json(ex.as_dict())
    else:
        render.exhibit(console, ex)


@custody_app.command("show")
def custody_show(reference: str, case: CaseOpt = None, as_json: JsonFlag = False) -> None:
    """The continuity of one exhibit: every custody event, in order."""
    ex, events = services.continuity(_wiring().catalog, reference, case)
    if as_json:
        _print_json({"exhibit": ex.as_dict(), "events": [e.as_dict() for e in events]})
    else:
        render.continuity(console, ex, events)


@ledger_app.command("verify")
def ledger_verify(
    case: CaseOpt = None,
    objects: Annotated[
        bool, typer.Option("--objects", help="Also re-read and re-hash every stored object.")
    ] = False,
    as_json: JsonFlag = False,
) -> None:
    """Recompute every case's custody chain and check the exhibits against it.
    Exits 1 when anything does not match."""
    w = _wiring()
    ids = [case] if case else [c.id for c in w.catalog.cases()]
    checks = [
        services.verify_case(w.catalog, i, w.store if objects else None).as_dict() for i in ids
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
        err.print(f"[bold red]error:[/] {exc}")
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
