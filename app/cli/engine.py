"""``jitev engine``: the local engine, the Prefect server the flows of this
``$JITEV_HOME`` report to (``config.orchestration``): start it, say whether
it runs and where, stop it. Commands that run a flow start it themselves
when needed; these commands are for seeing it and for stopping it. None of
them imports Prefect."""

from __future__ import annotations

from typing import Any

import typer

from app.cli.common import JsonFlag, console, err, print_json
from app.cli.remote import direct_only
from app.render import esc
from config import orchestration
from config.settings import engine as engine_settings
from evidence.errors import InputError

engine_app = typer.Typer(
    help="The local engine (a Prefect server per JITEV_HOME): start, status, stop.",
    no_args_is_help=True,
)


def _facts(engine: orchestration.Engine | None) -> dict[str, Any]:
    team = orchestration.team_server()
    return {
        "running": engine is not None,
        "mode": "team server" if team else engine_settings().mode,
        "team_server": team,
        "pid": engine.pid if engine else None,
        "port": engine.port if engine else None,
        "url": engine.url if engine else None,
        "api_url": engine.api_url if engine else None,
        "started_at": engine.started_at if engine else None,
        "log": str(orchestration.log_file()),
        "state": str(orchestration.state_file()),
    }


@engine_app.command("start")
@direct_only
def engine_start(as_json: JsonFlag = False) -> None:
    """Start the local engine if it is not running, and print the address of
    its Prefect UI (flow runs and task runs of every command)."""
    team = orchestration.team_server()
    if team:
        if as_json:
            print_json(_facts(None))
        else:
            console.print(f"PREFECT_API_URL names a team server ({esc(team)}): nothing to start")
        return
    settings = engine_settings()
    if settings.mode != "local":
        raise InputError(
            f'[engine] mode is "{settings.mode}": each command starts Prefect\'s own temporary '
            'server; set mode = "local" (or JITEV_ENGINE_MODE=local) for a local engine'
        )
    engine, started = orchestration.start(settings.start_timeout)
    if as_json:
        print_json({**_facts(engine), "started": started})
        return
    said = "started" if started else "already running"
    console.print(f"Local engine {said} (pid {engine.pid}): Prefect UI at {engine.url}")
    err.print(f"[dim]log: {esc(engine.log)}; stop it with `jitev engine stop`[/]")


@engine_app.command("status")
@direct_only
def engine_status(as_json: JsonFlag = False) -> None:
    """Whether the local engine runs: its pid, the Prefect UI's address, its log."""
    engine = orchestration.running()
    facts = _facts(engine)
    if as_json:
        print_json(facts)
        return
    if facts["team_server"]:
        console.print(
            f"Flows run on the team server PREFECT_API_URL={esc(facts['team_server'])}, "
            "not on the local engine"
        )
    if engine is None:
        recorded = orchestration.recorded()
        console.print(
            "Local engine: not running"
            + (f" (pid {recorded.pid} is recorded but does not answer)" if recorded else "")
        )
    else:
        console.print(f"Local engine: running, pid {engine.pid}, since {engine.started_at}")
        console.print(f"Prefect UI: {engine.url}  (API: {engine.api_url})")
    console.print(f"[dim]log: {esc(facts['log'])}[/]")


@engine_app.command("stop")
@direct_only
def engine_stop(as_json: JsonFlag = False) -> None:
    """Stop the local engine (SIGTERM, then SIGKILL if it does not end) and
    remove its state file. The next command that runs a flow starts it again."""
    stopped = orchestration.stop()
    if as_json:
        print_json({"stopped": stopped is not None, "pid": stopped.pid if stopped else None})
    elif stopped:
        console.print(f"Local engine stopped (pid {stopped.pid})")
    else:
        console.print("Local engine: not running")
