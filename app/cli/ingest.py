"""``jitev ingest``: files and folders into write-once storage, each with its
custody event, with a progress bar; resumable after a crash."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated

import typer

from app import actions, render
from app.cli import remote_ingest
from app.cli.common import (
    AsOpt,
    JsonFlag,
    as_person,
    console,
    current,
    err,
    print_json,
    say_engine,
)
from app.cli.jobs import WaitFlag, submitted, team_jobs
from app.cli.remote import refuse_as
from app.client import Server, signed_in
from app.render import IngestBar
from evidence.errors import InputError, SourceUnreadable
from evidence.findings import Report
from evidence.ingest import Progress
from evidence.ledger import ChainFacts, verify
from evidence.models import Person
from evidence.outcomes import IngestResult, OutcomeStatus


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
    reread: Annotated[
        bool,
        typer.Option(
            help="Read every file again, even those an earlier run of this command "
            "ingested and that are unchanged since (same size, times and inode)."
        ),
    ] = False,
    on_worker: Annotated[
        bool,
        typer.Option(
            "--on-worker",
            help="The paths are on a worker's machine (a forensic share mounted there): "
            "submit the ingest to the team's workers ([engine] work_pool).",
        ),
    ] = False,
    wait: WaitFlag = False,
    as_json: JsonFlag = False,
) -> None:
    """Ingest files: stream each once through BLAKE3 + SHA-256 into write-once
    storage and record its custody event. Symbolic links are not followed.
    Re-run the same command after a crash: it finishes the rest. Re-run it
    later: only new or changed files are read."""
    fields: dict[str, str | None] = {
        "title": title,
        "description": description,
        "seized_at": seized_at,
        "seized_by": seized_by,
        "seized_from": seized_from,
        "declared_hash": declared_hash,
        "handling": handling,
        "handling_note": handling_note,
    }
    login = signed_in()
    if login is not None:
        refuse_as(login, acting)
        if on_worker:
            raise InputError(
                f"--on-worker submits to the team's workers directly; signed in to "
                f"{login.server}, ingest from this machine (leave out --on-worker), or ask "
                "the operator"
            )
        server = Server.of(login)
        try:
            _report(
                lambda bar: remote_ingest.upload(
                    server, login, case=case, team=team, paths=paths, fields=fields,
                    manifest=manifest, reread=reread, bar=bar,
                ),
                None, as_json,
            )  # fmt: skip
        finally:
            server.close()
        return
    w = current()
    person = as_person(acting)
    if on_worker:
        _submit(person, case, team or person.team, paths, fields, manifest, reread, wait, as_json)
        return

    def run(progress: Progress | None) -> IngestResult:
        return actions.ingest(
            w,
            person,
            case_id=case,
            paths=paths,
            team=team,
            fields=fields,
            manifest=manifest,
            progress=progress,
            reread=reread,
        )

    _report(run, lambda: verify(case, w.catalog.events(case)), as_json)
    say_engine()


def _report(
    run: Callable[[IngestBar | None], IngestResult],
    chain: Callable[[], Report[ChainFacts]] | None,
    as_json: bool,
) -> None:
    """Run the ingest (with the bar, unless ``as_json``), show what it did and
    the ledger it left, and exit with the code of the worst outcome."""
    if as_json:
        result = run(None)
    else:
        with render.ingest_bar(err) as bar:
            result = run(bar)
    ledger = chain() if chain else None
    if as_json:
        print_json({**result.as_dict(), "ledger": ledger.as_dict() if ledger else None})
    else:
        render.ingest_result(console, result, ledger)
    statuses = result.statuses()
    if OutcomeStatus.QUARANTINED in statuses:
        err.print(
            "[bold red]Declared hash mismatch: the bytes are stored but the exhibit is QUARANTINED.[/]"
        )
        raise typer.Exit(3)
    if OutcomeStatus.CHANGED in statuses:
        err.print(
            "[bold red]Some files changed while they were read and were not recorded: run the same command again.[/]"
        )
        raise typer.Exit(4)
    if OutcomeStatus.UNREADABLE in statuses or result.unreadable:
        err.print(
            "[bold red]Some files or folders could not be read and were not recorded (listed "
            "above): give the account that runs jitev read access, or image the failing disk, "
            "then run the same command again.[/]"
        )
        raise typer.Exit(SourceUnreadable.exit_code)


def _submit(
    person: Person,
    case: str,
    team: str,
    paths: list[str],
    fields: dict[str, str | None],
    manifest: str | None,
    reread: bool,
    wait: bool,
    as_json: bool,
) -> None:
    """An ingest of paths on a worker's machine, as a job; with ``wait``, its
    counts, and the exit code of an ingest here."""
    jobs = team_jobs()
    if jobs is None:
        raise InputError(
            "--on-worker needs a team's workers: set [engine] work_pool (and PREFECT_API_URL)"
        )
    relative = [p for p in [*paths, *([manifest] if manifest else [])] if not p.startswith("/")]
    if relative:
        raise InputError(
            f"--on-worker: {relative[0]} is not an absolute path; give each path as the "
            "worker's machine sees it, e.g. /mnt/forensic/case-17"
        )
    params = {
        "case_id": case, "team": team, "actor": person.name, "paths": paths, "fields": fields,
        "manifest": manifest, "reread": reread,
    }  # fmt: skip
    job = submitted(jobs, jobs.submit("ingest", person.name, case, **params), wait, as_json)
    if not wait:
        return
    counts = job.result
    if as_json:
        print_json(job.as_dict())
    else:
        console.print(", ".join(f"{k}: {v}" for k, v in counts.items()))
    for status, code in ((OutcomeStatus.QUARANTINED, 3), (OutcomeStatus.CHANGED, 4)):
        if counts.get(status.value):
            raise typer.Exit(code)
    if counts.get(OutcomeStatus.UNREADABLE.value) or counts.get("unreadable"):
        raise typer.Exit(SourceUnreadable.exit_code)
