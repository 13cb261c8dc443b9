"""The ``jitev`` command line. Each group of commands lives in a module of
its own; errors a person can fix are caught in one place (``main``) and
printed as one clear message with the fix in command-line terms
(``common.explain``), never a traceback."""

from __future__ import annotations

import logging
import sys

import typer
from rich.markup import escape
from typer._click.exceptions import ClickException

from app.cli import admin, bundles, exhibits, ingest, transfers, witness
from app.cli.common import err, explain
from evidence.errors import JitevError

app = typer.Typer(
    help="jitev: evidence workflow for EU Joint Investigation Teams.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
app.command()(ingest.ingest)
app.add_typer(admin.case_app, name="case")
app.add_typer(exhibits.exhibits_app, name="exhibits")
app.add_typer(exhibits.custody_app, name="custody")
app.add_typer(admin.ledger_app, name="ledger")
app.add_typer(admin.people_app, name="people")
app.add_typer(transfers.transfer_app, name="transfer")
app.add_typer(bundles.bundle_app, name="bundle")
app.add_typer(witness.witness_app, name="witness")
app.command()(admin.setup)
app.command()(admin.serve)
app.command()(admin.demo)


def main() -> None:
    _say_ledger_warnings()
    try:
        code = app(standalone_mode=False)
    except JitevError as exc:
        err.print(f"[bold red]error:[/] {escape(explain(exc))}")
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


def _say_ledger_warnings() -> None:
    """Warnings the work does not fail on (a witness down) go to stderr."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("warning: %(message)s"))
    logger = logging.getLogger("jitev")
    logger.addHandler(handler)
    logger.setLevel(logging.WARNING)
    logger.propagate = False
