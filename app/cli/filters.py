"""The exhibit search's options, shared by ``jitev exhibits list`` and
``jitev bundle create`` (``evidence.search.ExhibitFilter``). Each option's
parameter is named as the API's query parameter (``hash_`` is ``hash``), so
client mode sends them as they are."""

from __future__ import annotations

from typing import Annotated

import typer

from evidence.search import ExhibitFilter

MatchOpt = Annotated[
    str | None,
    typer.Option("--match", help="Text in the reference, title or description (any case)."),
]
HashOpt = Annotated[
    str | None,
    typer.Option("--hash-prefix", help="The first hex digits (4+) of the SHA-256 or BLAKE3."),
]
MediaOpt = Annotated[
    str | None, typer.Option("--media-type", help="image/png, or a type's prefix: image/.")
]
TeamOpt = Annotated[str | None, typer.Option("--team", help="Originating team code.")]
StatusOpt = Annotated[str | None, typer.Option("--status", help="stored or quarantined.")]
HandlingOpt = Annotated[str | None, typer.Option("--handling", help="H0, H1, H2 or H3.")]
FromOpt = Annotated[
    str | None,
    typer.Option(
        "--seized-from",
        help="Seized at or after: ISO 8601 (2024-02-12, or with a time and offset).",
    ),
]
ToOpt = Annotated[
    str | None,
    typer.Option("--seized-to", help="Seized at or before: ISO 8601 (a date: its whole day)."),
]


def exhibit_filter(
    case: str | None,
    *,
    q: str | None = None,
    hash_: str | None = None,
    media_type: str | None = None,
    team: str | None = None,
    status: str | None = None,
    handling: str | None = None,
    seized_from: str | None = None,
    seized_to: str | None = None,
) -> ExhibitFilter:
    return ExhibitFilter.parse(
        case=case,
        text=q,
        hash_prefix=hash_,
        media_type=media_type,
        team=team,
        status=status,
        handling=handling,
        seized_from=seized_from,
        seized_to=seized_to,
    )
