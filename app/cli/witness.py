"""``jitev witness``: a member team's witness on the team's own machine.

    jitev witness key --team BG --dir /srv/jitev-witness     # its verifier key, for [witnesses.BG]
    jitev witness serve --team BG --dir /srv/jitev-witness --log-key <hex> --port 7601

The witness keeps its key and its memory in ``--dir`` (never in a catalog),
cosigns only checkpoints signed by ``--log-key`` whose origins start with
``--follows``, and speaks the C2SP tlog-witness protocol (``app.witness``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from app.cli.common import console, current
from app.cli.remote import direct_only
from evidence.models import check_team_code
from evidence.tlog.witness import Witness
from storage.witness_state import FileWitnessState

witness_app = typer.Typer(help="A member team's witness of the case logs.", no_args_is_help=True)

TeamOpt = Annotated[str, typer.Option("--team", help="The witness's team, e.g. BG.")]
DirOpt = Annotated[
    str | None,
    typer.Option("--dir", help="Its key and state (default $JITEV_HOME/witnesses/<TEAM>)."),
]


def _witness(
    team: str, folder: str | None, log_key: str | None, follows: str | None
) -> tuple[Path, Witness]:
    w = current()
    team = check_team_code(team)
    where = Path(folder) if folder else w.settings.witnesses_dir / team
    return where, w.embedded_witness(team, where, log_key or w.keys.log.load().public_key, follows)


@witness_app.command("key")
@direct_only
def witness_key(team: TeamOpt, folder: DirOpt = None) -> None:
    """Print the witness's verifier key (created on first use)."""
    _, witness = _witness(team, folder, "00" * 32, None)
    console.print(witness.key.vkey(), highlight=False, soft_wrap=True)


@witness_app.command("serve")
@direct_only
def witness_serve(
    team: TeamOpt,
    folder: DirOpt = None,
    log_key: Annotated[
        str | None,
        typer.Option(help="The log's Ed25519 public key (hex); default: this machine's log key."),
    ] = None,
    follows: Annotated[
        str | None,
        typer.Option(
            help="Cosign logs whose origin starts with this (default: the config's ledger origin, then '/')."
        ),
    ] = None,
    host: Annotated[str, typer.Option(help="Listen address.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port.")] = 7601,
) -> None:
    """Serve the witness (C2SP tlog-witness: POST /add-checkpoint, GET
    /<sha256(origin)>/checkpoint) until Ctrl-C."""
    import uvicorn

    from app.witness import create_witness_app

    where, witness = _witness(team, folder, log_key, follows)
    console.print(
        f"witness {team} on http://{host}:{port}/  key {witness.key.vkey()}", soft_wrap=True
    )
    app = create_witness_app(witness, FileWitnessState(where))
    uvicorn.run(app, host=host, port=port, log_level="warning")
