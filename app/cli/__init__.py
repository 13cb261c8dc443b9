"""The ``jitev`` command line. Each group of commands lives in a module of
its own; errors a person can fix are caught in one place (``main``) and
printed as one clear message with the fix in command-line terms
(``common.explain``), never a traceback."""

from __future__ import annotations

import gc

# The imports below make about a million long-lived objects and no garbage: the
# cyclic collector's passes over them would cost a command a fifth of a second.
_collecting = gc.isenabled()
gc.disable()

import logging  # noqa: E402
import sys  # noqa: E402

import typer  # noqa: E402
from typer._click.exceptions import ClickException  # noqa: E402

from app.cli import (  # noqa: E402
    admin,
    audit,
    bundles,
    engine,
    exhibits,
    ingest,
    jobs,
    remote,
    transfers,
    witness,
)
from app.cli.common import err, explain  # noqa: E402
from app.render import esc  # noqa: E402
from evidence.errors import JitevError  # noqa: E402

gc.freeze()  # out of the collector's reach for good
if _collecting:
    gc.enable()

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
app.add_typer(engine.engine_app, name="engine")
app.add_typer(audit.audit_app, name="audit")
app.add_typer(jobs.jobs_app, name="jobs")
app.command()(jobs.deploy)
app.command()(jobs.worker)
app.command()(remote.login)
app.command()(remote.logout)
app.command()(admin.setup)
app.command()(admin.serve)
app.command()(admin.demo)


def main() -> None:
    _say_ledger_warnings()
    try:
        sys.exit(_run())
    finally:
        gc.freeze()  # the exit frees everything: spare the collector its last pass


def _run() -> int:
    try:
        code = app(standalone_mode=False)
    except JitevError as exc:
        err.print(f"[bold red]error:[/] {esc(explain(exc))}", soft_wrap=True)  # paths whole
        return exc.exit_code
    except typer.Exit as exc:
        return int(exc.exit_code)
    except ClickException as exc:
        exc.show()
        return exc.exit_code
    except typer.Abort:
        err.print("aborted")
        return 130
    return code if isinstance(code, int) else 0


def _say_ledger_warnings() -> None:
    """Warnings the work does not fail on (a witness down) go to stderr."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("warning: %(message)s"))
    logger = logging.getLogger("jitev")
    logger.addHandler(handler)
    logger.setLevel(logging.WARNING)
    logger.propagate = False
