"""Merging the PDF exhibits into the writer, one at a time and page by page:
``source()`` is called once per exhibit, its stream closed and its reader let
go before the next one; each page is stamped as it is copied. An exhibit that
``sanitize`` refuses, or that fails half-way, leaves nothing in the writer and
gets a placeholder page instead.

The writer still holds every copied object in memory until it writes the
file: memory grows with the bundle (roughly the sum of the exhibits' parsed
objects), even though only one exhibit's reader is open at a time.
"""

from __future__ import annotations

from collections.abc import Sequence

from pypdf import PdfReader, PdfWriter

from evidence.bundle.layout import bates
from evidence.bundle.pdf import compat
from evidence.bundle.pdf.inputs import ExhibitPdf, Limits
from evidence.bundle.pdf.layout import Placed
from evidence.bundle.pdf.sanitize import (
    Unmergeable,
    admit,
    check_exhibit,
    open_reader,
    opened,
    unparsable,
)
from evidence.bundle.pdf.stamp import Stamper
from evidence.bundle.quiet import Notes

EXCLUDED_KEYS = ("/B", "/AA", "/PieceInfo")  # of a copied page: articles, actions, private data


def merge_all(
    writer: PdfWriter,
    stamper: Stamper,
    exhibits: Sequence[ExhibitPdf],
    first: int,
    prefix: str,
    limits: Limits,
    notes: Notes,
) -> list[Placed]:
    """Each exhibit in turn from bundle page ``first``: merged, or a placeholder."""
    placed = []
    page = first
    for ex in exhibits:
        notes.context = ex.reference
        reason, n = None, 1  # a placeholder is one page
        try:
            n = _merge(writer, stamper, ex, page, prefix, limits)
        except Unmergeable as exc:
            reason = str(exc)
        placed.append(Placed(ex.reference, page, n, reason))
        page += n
    notes.context = "bundle"
    return placed


def _merge(
    writer: PdfWriter, stamper: Stamper, ex: ExhibitPdf, first: int, prefix: str, limits: Limits
) -> int:
    """Copy and stamp the exhibit's pages; return their count, or raise
    ``Unmergeable`` with the writer as it was before."""
    source = check_exhibit(ex, limits)
    with opened(source, limits) as stream:
        reader = open_reader(stream, limits)
        try:
            count = admit(reader, limits)
            _copy_pages(writer, stamper, reader, ex.reference, first, prefix)
            return count
        finally:
            compat.forget(writer, reader)


def _copy_pages(
    writer: PdfWriter,
    stamper: Stamper,
    reader: PdfReader,
    reference: str,
    first: int,
    prefix: str,
) -> None:
    before = compat.mark(writer)
    try:
        for i, page in enumerate(reader.pages):
            added = writer.add_page(page, excluded_keys=EXCLUDED_KEYS)
            stamper.stamp(added, bates(prefix, first + i), reference)
        compat.resolve_links(writer)
    except Exception as exc:
        compat.roll_back(writer, before)
        raise (exc if isinstance(exc, Unmergeable) else unparsable(exc)) from None
