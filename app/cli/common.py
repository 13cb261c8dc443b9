"""What every command shares: the consoles, the common options, the person
who acts, JSON output, writing a downloaded file, and how the CLI words the
fix of an error (``explain``): the domain's errors carry structured facts
(the input ``field``, the transfer's ``state``, the ``consents`` needed), and
this is where they become command-line options and commands."""

from __future__ import annotations

import errno
import json
import os
import secrets
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from rich.console import Console

from config import orchestration, wiring
from config.wiring import Wiring
from evidence.errors import (
    Ambiguous,
    ConsentMissing,
    IllegalTransition,
    InputError,
    JitevError,
    ObjectMissing,
)
from evidence.models import Person, TransferState

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


def current() -> Wiring:
    """The process's wiring (``config.wiring.current``), built on first use."""
    return wiring.current()


def as_person(name: str | None) -> Person:
    """The person the command acts as: ``--as``, else the configured default."""
    w = current()
    name = name or w.settings.user.name
    if not name:
        raise InputError("say who you are: a registered person", field="actor")
    return w.catalog.person(name)


def say_engine() -> None:
    """After a flow ran: where its run can be seen (stderr, so that --json
    output stays one document)."""
    ui = orchestration.ui_address()
    if ui:
        err.print(f"[dim]Flow runs: the Prefect UI at {ui}[/]")


def print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, indent=2, ensure_ascii=False) + "\n")


def write_new(target: Path, fill: Callable[[Callable[[bytes], None]], T]) -> T:
    """Create ``target`` with what ``fill`` writes; never overwrite a file, and
    leave nothing behind when ``fill`` fails (it verifies as it goes).

    The bytes go to a scratch file beside it whose name does not grow with the
    target's (``.jitev-<16 hex>.part``, created exclusively), then are linked
    into place (a link never replaces a file that appeared meanwhile; where
    the file system has no hard links, FAT or exFAT, renamed after looking
    again). So a name the file system just holds works, and one it cannot
    hold is refused before anything is downloaded."""

    def cannot(exc: OSError) -> InputError:
        if exc.errno == errno.ENAMETOOLONG:
            size = len(os.fsencode(target.name))
            return InputError(
                f"cannot write {target}: the name ({size} bytes) or the path is longer than "
                "this file system allows: give --out a shorter file name"
            )
        return InputError(f"cannot write {target}: {exc.strerror}; check the folder and disk space")

    try:
        os.lstat(target)
    except FileNotFoundError:
        pass
    except OSError as exc:
        raise cannot(exc) from exc
    else:
        raise InputError(f"{target} exists already: give another --out (jitev never overwrites)")
    partial = target.with_name(f".jitev-{secrets.token_hex(8)}.part")
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
        _place(partial, target)
    except FileExistsError as exc:
        raise InputError(f"{target} appeared meanwhile: give another --out") from exc
    except OSError as exc:
        raise cannot(exc) from exc
    finally:
        partial.unlink(missing_ok=True)
    return result


def _place(partial: Path, target: Path) -> None:
    try:
        os.link(partial, target)
    except OSError as exc:
        if exc.errno not in (errno.EPERM, errno.EOPNOTSUPP) or os.path.lexists(target):
            raise
        os.rename(partial, target)  # no hard links here: nothing was there a moment ago


# -- wording the fix ----------------------------------------------------------------

# The option (or way) that gives each input, named by the domain's ``field``.
OPTIONS = {
    "actor": '--as "NAME" (or set JITEV_USER_NAME); `jitev people list` shows who is registered',
    "legal_basis": '--legal-basis "..."',
    "reason": '--reason "..."',
    "note": '--note "..."',
    "handling_note": '--handling-note "..." (or --note with `jitev exhibits handling`, or the '
    "manifest's handling_note column)",
    "exhibits": "the exhibit references (for a bundle: --exhibits REF, repeated, or --all-held)",
    "declared_hash": "--declared-hash ALGORITHM:HEX for a single file, or per-file hashes in a "
    "--manifest",
    "seized_at": "--seized-at in ISO 8601 with a UTC offset, e.g. 2026-03-14T09:30+02:00",
    "handling": "--handling H0, H1, H2 or H3",
    "q": "--match TEXT",
    "hash": "--hash-prefix HEX: 4 to 64 hexadecimal digits",
    "media_type": "--media-type TYPE/SUBTYPE, or TYPE/ for every subtype",
    "seized_from": "--seized-from in ISO 8601, e.g. 2026-03-14 or 2026-03-14T09:30+02:00",
    "seized_to": "--seized-to in ISO 8601, e.g. 2026-03-14 (the whole day)",
    "roles": "e.g. `jitev people add NAME --team CODE --role admin`",
}

NEXT_COMMAND = {
    TransferState.APPROVED.value: "run `jitev transfer dispatch {id}` (the sending team or the JIT lead)",
    TransferState.DISPATCHED.value: "the receiving team runs `jitev transfer receive {id}`",
}


def explain(exc: JitevError) -> str:
    """The error's message, and how to fix it with this command line."""
    message = str(exc)
    if isinstance(exc, Ambiguous):
        return f"{message}: add --case {' or --case '.join(exc.cases)}"
    if isinstance(exc, ConsentMissing):
        commands = "".join(
            f"\n  (a lead of {c.origin_team}) jitev exhibits consent {c.reference} "
            f'--for {c.for_team} --note "..."'
            for c in exc.consents
        )
        return f"{message}\nto give them:{commands}"
    if isinstance(exc, IllegalTransition) and exc.state in NEXT_COMMAND:
        return f"{message}: {NEXT_COMMAND[exc.state].format(id=exc.transfer_id)}"
    if isinstance(exc, ObjectMissing) and exc.case:
        return f"{message}; an auditor runs `jitev ledger verify --case {exc.case} --objects`"
    if isinstance(exc, InputError) and exc.field in OPTIONS:
        return f"{message}: give {OPTIONS[exc.field]}"
    return message
