"""``build``: the steps of making ``bundle.pdf``, in order.

1. fpdf2 draws the continuity sections, then a dry run of the cover and
   schedule with the widest page ranges (``layout``), so the exhibits can be
   numbered before their page counts are known;
2. pypdf merges and stamps the exhibits one at a time (``merge``);
3. the layout is known: fpdf2 draws the placeholders and the real cover and
   schedule, which must take as many pages as the dry run (checked);
4. the generated pages (not the dry run's) are stamped, appended and put in
   their places; then the outline, page labels, metadata and ``/ID``
   (``document``), and the file is written.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import BinaryIO

from pypdf import PdfWriter

from evidence.bundle.layout import BATES_PREFIX
from evidence.bundle.pdf import document
from evidence.bundle.pdf.drawing import Generated, Text
from evidence.bundle.pdf.inputs import (
    ContinuityEntry,
    Cover,
    ExhibitPdf,
    Fonts,
    Limits,
    ScheduleRow,
)
from evidence.bundle.pdf.layout import PdfLayout, first_exhibit_page, page_layout
from evidence.bundle.pdf.merge import merge_all
from evidence.bundle.pdf.stamp import Stamper
from evidence.bundle.quiet import quiet
from evidence.errors import InputError


def build(
    out: BinaryIO,
    cover: Cover,
    rows: Sequence[ScheduleRow],
    continuity: Mapping[str, Sequence[ContinuityEntry]],
    exhibits: Sequence[ExhibitPdf],
    bates_prefix: str,
    *,
    limits: Limits | None = None,
    fonts: Fonts | None = None,
) -> PdfLayout:
    """Write the bundle PDF to ``out`` (any writable binary stream) and return
    its layout: the page ranges and Bates numbers of the cover, the schedule,
    each continuity section and each exhibit."""
    _check(cover, continuity, exhibits, bates_prefix)
    limits = limits or Limits()
    text = Text(fonts if fonts is not None else Fonts.find())
    generated = Generated(text, cover.created_at)  # one fpdf2 document, one font subset
    with quiet("pypdf", "fpdf") as notes:
        try:
            sections = generated.sections(continuity, rows)
            dry = generated.front(cover, rows, bates_prefix, None)  # with the widest page numbers
            writer = PdfWriter()
            stamper = Stamper(writer)
            first = first_exhibit_page(dry, sections)
            placed = merge_all(writer, stamper, exhibits, first, bates_prefix, limits, notes)
            layout = page_layout(dry, sections, placed, bates_prefix, text.unicode)
            placeholders = generated.placeholders(layout, exhibits)
            front = generated.front(cover, rows, bates_prefix, layout)
            if (front.cover, front.schedule) != (dry.cover, dry.schedule):
                raise RuntimeError(
                    "bundle PDF: the cover or schedule changed length between the passes "
                    f"({dry.cover}+{dry.schedule} then {front.cover}+{front.schedule} pages)"
                )
            document.insert_generated(
                writer, stamper, generated.output(), front, placeholders, layout
            )
        finally:
            generated.close()
        document.outline_and_labels(writer, layout, exhibits, bates_prefix)
        document.finish(writer, cover, rows, continuity, exhibits, bates_prefix)
        document.write(writer, out)
        return replace(layout, notes=tuple(notes.lines))


def _check(
    cover: Cover,
    continuity: Mapping[str, Sequence[ContinuityEntry]],
    exhibits: Sequence[ExhibitPdf],
    prefix: str,
) -> None:
    if not BATES_PREFIX.match(prefix):
        raise InputError(
            f"Bates prefix {prefix!r} is not valid: use capital letters, digits, '-' or '_', e.g. DANUBE-FR"
        )
    if cover.created_at.tzinfo is None:
        raise InputError(f"bundle {cover.bundle_id}: created_at must carry a UTC offset")
    for ref, entries in continuity.items():
        for e in entries:
            if e.at.tzinfo is None:
                raise InputError(
                    f"continuity of {ref}: event {e.seq} has a time without a UTC offset"
                )
    twice = sorted(r for r, n in Counter(e.reference for e in exhibits).items() if n > 1)
    if twice:
        raise InputError(f"exhibits given twice to the bundle PDF: {', '.join(twice)}")
