"""``jitev deploy``, ``jitev worker`` and ``jitev jobs``: jitev on a team's
Prefect server (``flows.deployments``, ``app.jobs``).

With ``[engine] work_pool`` set, the commands that start long work (a
dispatch, a bundle build, an audit, an ingest on a worker) submit it as a
job and return: ``--wait`` follows it to its end and answers as the command
does without a team. ``jitev jobs`` lists, shows and retries jobs."""

from __future__ import annotations

import os
from typing import Annotated

import typer

from app import render
from app.cli import remote_admin as ra
from app.cli.common import AsOpt, JsonFlag, as_person, console, current, err, print_json
from app.cli.remote import direct_only, via
from app.jobs import Job, Jobs
from app.render import esc
from config import orchestration
from evidence.errors import InputError, JitevError

jobs_app = typer.Typer(
    help="Jobs: the flow runs you submitted (a team's Prefect server, or the local engine).",
    no_args_is_help=True,
)
WaitFlag = Annotated[
    bool,
    typer.Option("--wait", help="Follow the job until it ends, then answer as without a team."),
]
PoolOpt = Annotated[
    str | None, typer.Option("--pool", help="The work pool (default: [engine] work_pool).")
]


def team_jobs() -> Jobs | None:
    """The team's jobs when ``[engine] work_pool`` is set: the command submits."""
    settings = current().settings
    return Jobs(settings) if settings.engine.work_pool else None


def submitted(jobs: Jobs, job: Job, wait: bool, as_json: bool) -> Job:
    """Say what was submitted; with ``wait``, follow it to its end (a failed
    or crashed job is an error that says how to retry it)."""
    if not wait:
        if as_json:
            print_json(job.as_dict())
        else:
            _line(job)
            err.print(f"[dim]follow it: jitev jobs show {job.id} --wait[/]")
        return job
    if not as_json:
        err.print(f"Submitted {job.kind} job {job.id}; waiting for a worker…")
    done = jobs.wait(job)
    if done.state != "COMPLETED":
        raise JitevError(
            f"{done.kind} job {done.id} ended {done.state}: {done.error}; once the cause is "
            f"fixed, `jitev jobs retry {done.id}` runs it again (it does only what was left)"
        )
    return done


def _line(job: Job) -> None:
    render.job(console, job)


def _jobs() -> Jobs:
    return Jobs(current().settings)


@jobs_app.command("list")
@via(ra.jobs_list)
def jobs_list(
    kind: Annotated[str | None, typer.Option("--kind", help="bundle, dispatch, audit...")] = None,
    acting: AsOpt = None,
    as_json: JsonFlag = False,
) -> None:
    """Your latest jobs, newest first, as Prefect records them."""
    found = _jobs().of(as_person(acting).name, kind)
    if as_json:
        print_json([j.as_dict() for j in found])
        return
    if not found:
        console.print("No jobs yet.")
    for job in found:
        _line(job)


@jobs_app.command("show")
@via(ra.jobs_show)
def jobs_show(
    job_id: str, wait: WaitFlag = False, acting: AsOpt = None, as_json: JsonFlag = False
) -> None:
    """One job: its state, progress, receipt and its run in the Prefect UI."""
    jobs = _jobs()
    job = jobs.get(job_id, as_person(acting).name)
    if wait:
        job = jobs.wait(job)
    if as_json:
        print_json(job.as_dict())
        return
    _line(job)
    render.job_result(console, job)
    if job.state in ("FAILED", "CRASHED") and not wait:
        raise typer.Exit(1)


@jobs_app.command("retry")
@via(ra.jobs_retry)
def jobs_retry(job_id: str, acting: AsOpt = None, as_json: JsonFlag = False) -> None:
    """Run a crashed or failed job again (the same flow run): it does only
    what was left, and records nothing twice."""
    job = _jobs().retry(job_id, as_person(acting).name)
    if as_json:
        print_json(job.as_dict())
    else:
        _line(job)


@direct_only
def deploy(pool: PoolOpt = None, as_json: JsonFlag = False) -> None:
    """Register jitev's deployments on a Prefect work pool (made if missing),
    and the automation that marks a run CRASHED when its worker dies. Run it
    again after an upgrade or a settings change: it changes only what changed."""
    from flows.deployments import deploy as register

    settings = current().settings
    settings.engine.work_pool = pool or settings.engine.work_pool
    _need_team(settings.engine.work_pool)
    orchestration.prefect_defaults(settings.engine)
    try:
        done = register(settings)
    except JitevError:
        raise
    except Exception as exc:  # noqa: BLE001 - Prefect's, said plainly
        raise _unreachable(exc) from None
    audit = settings.audit
    done["audit_schedule"] = audit.schedule if audit.scheduled_as else None
    if as_json:
        print_json(done)
        return
    made = "made" if done["created_pool"] else "found"
    console.print(f"Work pool {done['work_pool']} ({made}); deployments:")
    for name in done["deployments"]:
        console.print(f"  {name}")
    if audit.scheduled_as:
        console.print(f"Fixity audit scheduled ({audit.schedule} UTC) as {esc(audit.scheduled_as)}")
    else:
        err.print("[yellow]the fixity audit's schedule is paused: set \\[audit] scheduled_as[/]")


@direct_only
def worker(
    pool: PoolOpt = None,
    name: Annotated[str | None, typer.Option("--name", help="The worker's name.")] = None,
    limit: Annotated[int, typer.Option("--limit", min=1, help="Flow runs at once.")] = 4,
) -> None:
    """Become a Prefect worker of the work pool: it runs the jobs it takes, in
    processes of their own, with this machine's settings, catalog and store.
    Stop it with Ctrl-C or SIGTERM: the flow runs it is running stop with it
    and are marked CRASHED (then `jitev jobs retry`), so pause the work pool
    and let them end first (docs/deployment.md)."""
    from flows.deployments import worker_command

    settings = current().settings  # the settings load, and fail here, not in each run
    settings.engine.work_pool = pool or settings.engine.work_pool
    _need_team(settings.engine.work_pool)
    orchestration.prefect_defaults(settings.engine)  # Prefect's home and quiet, as for any flow
    command, env = worker_command(settings, name, limit)
    err.print(f"[dim]jitev worker: {' '.join(command[1:])} (pid {os.getpid()})[/]")
    os.execve(command[0], command, env)  # the same pid: start and stop it by pid


def _need_team(pool: str) -> None:
    if not pool:
        raise InputError("name the work pool: --pool NAME, or [engine] work_pool in the config")
    if not orchestration.team_server():
        raise InputError(
            "set PREFECT_API_URL to the team's Prefect server (e.g. http://prefect:4200/api): "
            "a work pool lives there"
        )


def _unreachable(exc: Exception) -> JitevError:
    from evidence.errors import EngineUnavailable

    return EngineUnavailable(
        f"the Prefect server at {orchestration.team_server()} answered {type(exc).__name__}: "
        f"{exc}; check that it runs and that PREFECT_API_URL ends in /api"
    )
