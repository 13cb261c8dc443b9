"""``jitev bundle``: disclosure bundles: create, list, show, download, and
verify offline with nothing but the ZIP."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from app import actions, render
from app.cli import remote_commands as rc
from app.cli.common import (
    AsOpt,
    CaseOpt,
    JsonFlag,
    as_person,
    console,
    current,
    print_json,
    write_new,
)
from app.cli.filters import (
    FromOpt,
    HandlingOpt,
    HashOpt,
    MatchOpt,
    MediaOpt,
    StatusOpt,
    TeamOpt,
    ToOpt,
    exhibit_filter,
)
from app.cli.jobs import WaitFlag, submitted, team_jobs
from app.cli.remote import via
from app.jobs import submit_bundle
from evidence import disclosure
from evidence.errors import InputError

bundle_app = typer.Typer(
    help="Disclosure bundles: create, list, show, download, verify (offline).",
    no_args_is_help=True,
)


@bundle_app.command("create")
@via(rc.bundle_create)
def bundle_create(
    case: Annotated[str, typer.Option("--case", help="Case id, e.g. DANUBE.")],
    exhibits: Annotated[
        list[str] | None, typer.Option("--exhibits", help="Exhibit references; repeat.")
    ] = None,
    all_held: Annotated[
        bool, typer.Option("--all-held", help="Every exhibit your team holds.")
    ] = False,
    q: MatchOpt = None,
    hash_: HashOpt = None,
    media_type: MediaOpt = None,
    team: TeamOpt = None,
    status: StatusOpt = None,
    handling: HandlingOpt = None,
    seized_from: FromOpt = None,
    seized_to: ToOpt = None,
    acting: AsOpt = None,
    wait: WaitFlag = False,
    as_json: JsonFlag = False,
) -> None:
    """Build a disclosure bundle of exhibits your team holds (a prosecutor),
    store it write-once, and record a DISCLOSED custody event on each. On a
    team ([engine] work_pool), a worker builds it: the command submits.
    With filters (--match, --hash-prefix, ...), every held exhibit that
    matches now: a selection frozen on the server, as the bundles page makes."""
    filters = {
        "q": q,
        "hash_": hash_,
        "media_type": media_type,
        "team": team,
        "status": status,
        "handling": handling,
        "seized_from": seized_from,
        "seized_to": seized_to,
    }
    by_filter = any(v is not None for v in filters.values())
    if [bool(exhibits), all_held, by_filter].count(True) != 1:
        raise InputError(
            "name the exhibits with --exhibits REF (repeat), use --all-held, or choose them "
            "with filters (--match, --hash-prefix, ...)"
        )
    w, person, chosen = current(), as_person(acting), exhibits or None
    selection = None
    if by_filter:
        made = actions.select_for_bundle(w, person, exhibit_filter(case, **filters))
        selection = made.id
        if not as_json:
            console.print(f"selection {made.id}: {made.count:,} exhibits of {made.case_id}")
    jobs = team_jobs()
    if jobs is None:
        bundle = actions.create_bundle(w, person, case, chosen, selection)
    else:
        job = submit_bundle(jobs, w, person, case, chosen, selection)
        job = submitted(jobs, job, wait, as_json)
        if not wait:
            return
        bundle = w.catalog.bundle(job.result["id"])
    if as_json:
        print_json(bundle.as_dict())
    else:
        render.bundle(console, bundle)


@bundle_app.command("list")
@via(rc.bundle_list)
def bundle_list(case: CaseOpt = None, acting: AsOpt = None, as_json: JsonFlag = False) -> None:
    """The bundles of your team."""
    found = disclosure.visible_bundles(current().catalog, as_person(acting), case)
    if as_json:
        print_json([b.as_dict() for b in found])
    else:
        for b in found:
            render.bundle(console, b)


@bundle_app.command("show")
@via(rc.bundle_show)
def bundle_show(bundle_id: str, acting: AsOpt = None, as_json: JsonFlag = False) -> None:
    """One bundle: its exhibits, digests and sensitive schedule."""
    b = disclosure.checked_bundle(current().catalog, as_person(acting), bundle_id)
    if as_json:
        print_json(b.as_dict())
    else:
        render.bundle(console, b)


@bundle_app.command("download")
@via(rc.bundle_download)
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
    w = current()
    person = as_person(acting)
    b = disclosure.checked_bundle(w.catalog, person, bundle_id, content=True)
    target = Path(out)
    if target.is_dir():
        target = target / actions.bundle_name(b, sensitive)
    write_new(target, lambda write: actions.download_bundle(w, person, b.id, write, sensitive))
    console.print(f"{b.id} → {render.esc(str(target))}")


@bundle_app.command("verify")
def bundle_verify(
    bundle_zip: Annotated[str, typer.Argument(help="The bundle ZIP.")],
    against: Annotated[
        str | None,
        typer.Option(
            "--against",
            help="An earlier bundle of the case: show that the log only grew between the two.",
        ),
    ] = None,
    as_json: JsonFlag = False,
) -> None:
    """Check a bundle offline, with nothing but the ZIP: the bag, both
    checksum files, the schedule against the natives and the PDF, the ledger
    extract's events, the receipts' signatures, the cosigned checkpoint and
    each event's inclusion proof, and the seal. Exits 1 when anything fails."""
    from evidence.bundle.verify import verify_bundle

    report = verify_bundle(bundle_zip, against)
    if as_json:
        print_json(report.as_dict())
    else:
        render.report(console, report)
        if report.ok:
            console.print("[green]PASS: the bundle verifies[/]")
        else:
            console.print(f"[bold red]FAIL: {len(report.findings)} problem(s)[/]")
    if not report.ok:
        raise typer.Exit(1)
