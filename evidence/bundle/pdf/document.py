"""The bundle PDF as a document: the generated pages put in their places in
the page tree, the outline, the page labels, the metadata and a fixed ``/ID``,
and writing it out.

Deterministic: ``/ID`` is a BLAKE3 digest of the inputs, the dates come from
``Cover.created_at``, and object order follows the input order. Same inputs,
same bytes, whether ``out`` can ``tell()`` or not.
"""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import IO, Any, BinaryIO, cast

from blake3 import blake3
from pypdf import PdfReader, PdfWriter
from pypdf.constants import PageLabelStyle

from evidence.bundle.pdf import compat
from evidence.bundle.pdf.inputs import ContinuityEntry, Cover, ExhibitPdf, ScheduleRow
from evidence.bundle.pdf.layout import Front, PdfLayout
from evidence.bundle.pdf.stamp import Stamper
from evidence.sizes import MiB


def insert_generated(
    writer: PdfWriter,
    stamper: Stamper,
    data: bytes,
    front: Front,
    placeholders: int,
    layout: PdfLayout,
) -> None:
    """Append the cover and schedule, the continuity sections and the
    placeholders (not the dry run's pages) after the merged exhibit pages, then
    put every page in its place in one pass: pypdf's ``insert_page`` walks the
    page tree, thousands of inserts would cost a quadratic time."""
    pages = PdfReader(io.BytesIO(data)).pages
    n_merged = len(writer.pages)
    n_sections = sum(r.count for r in layout.continuity.values())
    generated = [*range(front.first, front.first + front.pages), *range(n_sections)]
    for at, k in enumerate(generated, start=1):
        stamper.stamp(writer.add_page(pages[k]), layout.bates(at), None)
    order = list(range(n_merged, n_merged + len(generated)))
    merged, k = 0, placeholders
    for ex in layout.exhibits:
        if ex.merged:
            order += range(merged, merged + ex.source_pages)
            merged += ex.source_pages
        else:
            order.append(len(writer.pages))
            stamper.stamp(writer.add_page(pages[k]), ex.pages.begbates, ex.reference)
            k += 1
    compat.forget(writer, None)
    if sorted(order) != list(range(layout.page_count)) or len(writer.pages) != layout.page_count:
        raise RuntimeError(
            f"bundle PDF: {len(writer.pages)} pages, the layout says {layout.page_count}"
        )
    compat.reorder(writer, order)


def outline_and_labels(
    writer: PdfWriter, layout: PdfLayout, exhibits: Sequence[ExhibitPdf], prefix: str
) -> None:
    """The outline (cover, schedule, the continuity sections and the exhibits
    under theirs) and the page labels: Cover, S-1..., C-1..., then on exhibit
    pages their Bates numbers."""
    writer.add_outline_item(title="Cover", page_number=layout.cover.first - 1)
    writer.add_outline_item(title="Schedule", page_number=layout.schedule.first - 1)
    if layout.continuity:
        parent = writer.add_outline_item(
            title="Continuity", page_number=next(iter(layout.continuity.values())).first - 1
        )
        for ref, pages in layout.continuity.items():
            writer.add_outline_item(
                title=f"Continuity {ref}", page_number=pages.first - 1, parent=parent
            )
    if layout.exhibits:
        parent = writer.add_outline_item(
            title="Exhibits", page_number=layout.exhibits[0].pages.first - 1
        )
        for ex, e in zip(exhibits, layout.exhibits, strict=True):
            title = f"{e.reference} {ex.native_name}" + ("" if e.merged else " (placeholder)")
            writer.add_outline_item(title=title, page_number=e.pages.first - 1, parent=parent)
    writer.page_mode = "/UseOutlines"

    writer.set_page_label(0, layout.cover.last - 1, prefix="Cover")
    writer.set_page_label(
        layout.schedule.first - 1,
        layout.schedule.last - 1,
        style=PageLabelStyle.DECIMAL,
        prefix="S-",
        start=1,
    )
    if layout.continuity:
        last = list(layout.continuity.values())[-1].last
        writer.set_page_label(
            layout.schedule.last, last - 1, style=PageLabelStyle.DECIMAL, prefix="C-", start=1
        )
    if layout.exhibits:
        page = layout.exhibits[0].pages.first
        while page <= layout.page_count:
            digits = len(str(page))
            end = min(layout.page_count, 10**digits - 1)
            zeros = "0" * max(0, 6 - digits)
            writer.set_page_label(
                page - 1,
                end - 1,
                style=PageLabelStyle.DECIMAL,
                prefix=f"{prefix}-{zeros}",
                start=page,
            )
            page = end + 1


def finish(
    writer: PdfWriter,
    cover: Cover,
    rows: Sequence[ScheduleRow],
    continuity: Mapping[str, Sequence[ContinuityEntry]],
    exhibits: Sequence[ExhibitPdf],
    prefix: str,
) -> None:
    """Title, subject, author and dates from the cover; a fixed ``/ID``, the
    digest of every input."""
    date = _pdf_date(cover.created_at)
    writer.add_metadata(
        {
            "/Title": f"Disclosure bundle {cover.bundle_id}",
            "/Subject": f"Case {cover.case_id} ({cover.case_title}): disclosure bundle {cover.bundle_id} by {cover.team}",
            "/Author": f"{cover.prosecutor} ({cover.team})",
            "/Creator": "jitev",
            "/Producer": "jitev",
            "/CreationDate": date,
            "/ModDate": date,
        }
    )
    digest = _inputs_digest(cover, rows, continuity, exhibits, prefix)
    compat.set_id(writer, digest)


def _pdf_date(at: datetime) -> str:
    offset = at.utcoffset() or timedelta(0)
    sign = "-" if offset < timedelta(0) else "+"
    minutes = abs(int(offset.total_seconds())) // 60
    return f"D:{at.strftime('%Y%m%d%H%M%S')}{sign}{minutes // 60:02d}'{minutes % 60:02d}'"


def _inputs_digest(
    cover: Cover,
    rows: Sequence[ScheduleRow],
    continuity: Mapping[str, Sequence[ContinuityEntry]],
    exhibits: Sequence[ExhibitPdf],
    prefix: str,
) -> bytes:
    h = blake3(b"jitev bundle.pdf 1\0")
    parts: list[object] = [prefix, *_values(cover), *(v for r in rows for v in _values(r))]
    for ref, entries in continuity.items():
        parts += [
            ref,
            *(v for e in entries for v in (e.seq, e.at, e.action, e.actor, e.team, *e.lines)),
        ]
    for ex in exhibits:
        parts += [
            ex.reference,
            ex.placeholder_reason,
            ex.native_name,
            ex.size,
            ex.blake3,
            ex.sha256,
            ex.media_type,
        ]
    for part in parts:
        data = repr(part.isoformat() if isinstance(part, datetime) else part).encode()
        h.update(len(data).to_bytes(8, "big") + data)
    return h.digest(length=16)


def _values(obj: Cover | ScheduleRow) -> list[object]:
    return [getattr(obj, f) for f in obj.__slots__]


def write(writer: PdfWriter, out: BinaryIO) -> None:
    """The whole PDF to ``out``, which need not ``tell()``."""
    writer.write(out if _tells(out) else cast(IO[Any], _Counting(out)))


def _tells(out: BinaryIO) -> bool:
    try:
        out.tell()
    except (AttributeError, OSError, ValueError):  # io.UnsupportedOperation is both
        return False
    return True


class _Counting:
    """``tell()`` for a stream that cannot (a pipe, a socket): pypdf needs the
    objects' offsets. pypdf's many small writes are gathered into 1 MiB ones."""

    def __init__(self, out: BinaryIO) -> None:
        self.out, self.written = out, 0
        self.buffer = io.BytesIO()

    def write(self, data: Any) -> int:
        n = self.buffer.write(data)
        if self.buffer.tell() >= MiB:
            self._drain()
        return n

    def tell(self) -> int:
        return self.written + self.buffer.tell()

    def _drain(self) -> None:
        self.out.write(self.buffer.getvalue())
        self.written += self.buffer.tell()
        self.buffer = io.BytesIO()

    def flush(self) -> None:
        self._drain()
        self.out.flush()
