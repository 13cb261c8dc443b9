"""Limits on what a person hands jitev, spelled once. A value within them
arrives exactly as written; one beyond them is refused with an error naming
the field (or the manifest's line and column) and the limit, before anything
is stored. Nothing is cut short or rewritten to fit.

``TEXT_MAX_CHARS`` bounds each free-text field of an exhibit's metadata
(title, description, seized_by, seized_from, handling_note) however it
arrives: flags, a manifest, the web form. ``ExhibitMetadata`` checks it when
it is built (``check_text``), so every way in refuses the same, and it is
what keeps every cell of a bundle's ``schedule.csv`` below the field limit of
Python's ``csv`` module (131,072 characters by default) that the offline
verifier reads it with. 65,536 characters is some twenty pages of text: more
than a description needs, and still a cell a spreadsheet opens.

The manifest limits bound the time and memory of reading a sidecar manifest,
whatever is in it: the file's size is checked before it is read (and no more
than that is ever read), then its rows, each CSV cell or JSON value, and the
nesting of JSON (a manifest needs three levels: ``{"items": [{...}]}``), so
that reading one takes at most some 200 MiB of memory, whatever is in it.
16 MiB is some 330 bytes for each of 50,000 rows: a row with a path, a title
and a SHA-256 takes about 130. A larger batch is several ingests, each with
its own manifest.
"""

from __future__ import annotations

import re

from evidence.errors import InputError
from evidence.sizes import KiB, MiB

TEXT_MAX_CHARS = 64 * KiB  # characters in one metadata text field

MANIFEST_MAX_BYTES = 16 * MiB  # the manifest file's size
MANIFEST_MAX_ROWS = 50_000  # rows (CSV) or items (JSON): one per file
MANIFEST_CELL_MAX_CHARS = TEXT_MAX_CHARS  # one CSV cell or JSON value
JSON_MAX_DEPTH = 16  # arrays and objects nested in a JSON manifest

_SURROGATE = re.compile("[\ud800-\udfff]")


def check_text(field: str, value: str) -> None:
    """Refuses ``value`` unless it can be kept exactly as written: at most
    ``TEXT_MAX_CHARS`` characters, and none that cannot be stored (NUL, which
    PostgreSQL's text refuses; an unpaired surrogate, which is no UTF-8, as
    from an argument in bytes that are not UTF-8). The ``InputError`` names
    ``field``."""
    if len(value) > TEXT_MAX_CHARS:
        raise InputError(
            f"{field} is {len(value):,} characters long, over the limit of "
            f"{TEXT_MAX_CHARS:,}: shorten it (a longer text can be ingested as an exhibit "
            "of its own)",
            field=field,
        )
    if "\0" in value:
        raise InputError(
            f"{field} holds a NUL character (U+0000), which cannot be stored: remove it",
            field=field,
        )
    if _SURROGATE.search(value):
        raise InputError(
            f"{field} is not valid Unicode text (it holds an unpaired surrogate): give it as UTF-8",
            field=field,
        )
