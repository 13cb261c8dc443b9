"""``jitev exhibits`` and ``jitev custody``: list, show and download
exhibits; change their handling, consent to their judicial use, mark them
sensitive; show an exhibit's continuity."""

from __future__ import annotations

import itertools
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
from app.cli.remote import via
from evidence import visibility
from evidence.errors import InputError
from evidence.models import Handling, parse_handling_code, parse_purpose
from evidence.policy import Right

exhibits_app = typer.Typer(help="Exhibits: list and show.", no_args_is_help=True)
custody_app = typer.Typer(
    help="Continuity: the custody history of one exhibit.", no_args_is_help=True
)


@exhibits_app.command("list")
@via(rc.exhibits_list)
def exhibits_list(
    case: CaseOpt = None,
    team: TeamOpt = None,
    q: MatchOpt = None,
    hash_: HashOpt = None,
    media_type: MediaOpt = None,
    status: StatusOpt = None,
    handling: HandlingOpt = None,
    seized_from: FromOpt = None,
    seized_to: ToOpt = None,
    limit: Annotated[
        int | None, typer.Option("--limit", min=1, help="At most this many (default: every one).")
    ] = None,
    acting: AsOpt = None,
    as_json: JsonFlag = False,
) -> None:
    """List the exhibits your team holds (auditors: every exhibit of the
    case) that match the filters, in case, team and number order: every one,
    read a page at a time, or the first ``--limit``."""
    match = exhibit_filter(
        case,
        q=q,
        hash_=hash_,
        media_type=media_type,
        team=team,
        status=status,
        handling=handling,
        seized_from=seized_from,
        seized_to=seized_to,
    )
    found = visibility.matching_exhibits(current().catalog, as_person(acting), match)
    items = list(itertools.islice(found, limit))
    if as_json:
        print_json([e.as_dict() for e in items])
    else:
        render.exhibits(console, items)


@exhibits_app.command("show")
@via(rc.exhibits_show)
def exhibits_show(
    reference: str, case: CaseOpt = None, acting: AsOpt = None, as_json: JsonFlag = False
) -> None:
    """Show one exhibit, e.g. BG-EX-0007."""
    w = current()
    ex = visibility.checked_exhibit(w.catalog, as_person(acting), Right.VIEW, reference, case)
    holders = w.catalog.holdings(ex.case_id).get(ex.reference, [])
    if as_json:
        print_json({**ex.as_dict(), "holders": [h.as_dict() for h in holders]})
    else:
        render.exhibit(console, ex, holders)


@exhibits_app.command("download")
@via(rc.exhibits_download)
def exhibits_download(
    reference: str,
    out: Annotated[str, typer.Option("--out", help="A file to create, or a folder.")],
    case: CaseOpt = None,
    acting: AsOpt = None,
    as_json: JsonFlag = False,
) -> None:
    """Download your team's copy of an exhibit, verified against its ledger
    hashes on the way; recorded as an ACCESSED custody event. Into a folder,
    the file keeps the exhibit's original name."""
    w = current()
    person = as_person(acting)
    target = Path(out)
    if target.is_dir():
        target = target / w.catalog.exhibit(reference, case).original_name
    event = write_new(
        target, lambda write: actions.download_exhibit(w, person, reference, write, case)
    )
    if as_json:
        print_json({"path": str(target), "event": event.as_dict()})
    else:
        console.print(
            f"{reference} → {render.esc(str(target))}: BLAKE3 and SHA-256 verified "
            f"(custody event #{event.seq})"
        )


@exhibits_app.command("handling")
@via(rc.exhibits_handling)
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
    new = Handling(
        parse_handling_code(code), note.strip(), tuple(parse_purpose(p) for p in purpose or [])
    )
    event = actions.change_handling(current(), as_person(acting), reference, new, case)
    if as_json:
        print_json(event.as_dict())
    else:
        console.print(
            f"{event.exhibit}: handling {new.code.value}"
            f"{' — ' + new.note if new.note else ''}; purposes "
            f"{', '.join(new.purposes)} (custody event #{event.seq})"
        )


@exhibits_app.command("consent")
@via(rc.exhibits_consent)
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
    event = actions.consent(current(), as_person(acting), reference, for_team, note, case)
    if as_json:
        print_json(event.as_dict())
    else:
        console.print(
            f"{event.exhibit}: judicial use in {for_team} consented (custody event #{event.seq})"
        )


@exhibits_app.command("sensitive")
@via(rc.exhibits_sensitive)
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
    event = actions.mark_sensitive(
        current(), as_person(acting), reference, None if clear else reason, case
    )
    if as_json:
        print_json(event.as_dict())
    else:
        state = "no longer sensitive" if clear else "sensitive"
        console.print(f"{event.exhibit}: {state} (custody event #{event.seq})")


@custody_app.command("show")
@via(rc.custody_show)
def custody_show(
    reference: str, case: CaseOpt = None, acting: AsOpt = None, as_json: JsonFlag = False
) -> None:
    """The continuity of one exhibit: every custody event, in order."""
    w = current()
    ex, events = visibility.continuity(w.catalog, as_person(acting), reference, case)
    holders = w.catalog.holdings(ex.case_id).get(ex.reference, [])
    if as_json:
        print_json(
            {
                "exhibit": ex.as_dict(),
                "holders": [h.as_dict() for h in holders],
                "events": [e.as_dict() for e in events],
            }
        )
    else:
        render.continuity(console, ex, events, holders)
