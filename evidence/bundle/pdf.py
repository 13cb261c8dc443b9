"""``bundle.pdf`` of a disclosure bundle: a cover, the schedule, one continuity
section per exhibit, then every PDF exhibit merged in; every page stamped with
its Bates number (``DANUBE-FR-000123`` = bundle page 123) and, on exhibit pages,
the exhibit reference; an outline and page labels.

``build(out, cover, rows, continuity, exhibits, bates_prefix)`` writes the PDF
to ``out`` and returns the ``PdfLayout``: page ranges and Bates numbers of the
cover, the schedule, each continuity section and each exhibit.

How it is built
- fpdf2 draws the generated pages, all in one document (one font subset):
  first the continuity sections and a dry run of the cover and schedule with
  the widest page numbers (``999999–999999``; a page range is one line and
  does not change a row's height), so the exhibits can be numbered before
  their page counts are known; then the placeholders and the real cover and
  schedule, which must take as many pages as the dry run (checked).
- pypdf merges the exhibits one at a time, page by page (``source()`` is
  called once per exhibit, its stream closed before the next one), stamps each
  page at once, then appends the generated pages (not the dry run's) and puts
  every page in its place with one reordering of the flat page tree.
- A stamp is added content, not a re-written page: the page's content streams
  are kept byte for byte, wrapped in ``q``/``Q``, and followed by a small stream
  drawing the stamp in Courier, placed in the bottom margin of the page as it
  is displayed (CropBox within MediaBox, ``/Rotate``, ``/UserUnit``).
- A PDF exhibit is merged only if it opens unencrypted, has between 1 and
  ``Limits.max_pages`` pages and at most ``Limits.max_objects`` objects, and no
  object reachable from its trailer holds JavaScript, a launch or other
  dangerous action, automatic actions (``/AA``), embedded files or XFA. Only its
  pages are copied, never its catalog: document-level actions (``/OpenAction``,
  name trees, forms, outline) are dropped. Anything else, and any exception
  while reading it, gives a one-page placeholder saying why; the caller still
  discloses the native file.
- Deterministic: ``/ID`` is a BLAKE3 digest of the inputs, the dates come from
  ``Cover.created_at``, fpdf2 gets that date, and object order follows the
  input order. Same inputs, same bytes.
- Text: generated pages use DejaVu Sans (Debian ``fonts-dejavu-core``) when it
  is installed, else the PDF core fonts with text transliterated to Latin-1,
  each changed value marked ``[~]`` and a note on the cover.

Limitations (pypdf)
- The writer holds every copied object in memory until it writes the file:
  memory grows with the bundle (roughly the sum of the exhibits' parsed
  objects), even though only one exhibit's reader is open at a time.
  Measured (one-line continuity per exhibit): 200 PDFs of 10 text pages →
  2,212 pages in 2.3 s, peak RSS 106 MiB of which 87 are the interpreter,
  libraries and fonts, Python heap peak (tracemalloc) 27 MiB; ``qpdf --empty
  --pages`` on the same files: 0.3-0.5 s, 37 MiB. 1,000 such PDFs (7 MB) →
  11,052 pages in 12 s, peak RSS 182 MiB, heap peak 96 MiB; qpdf: 7 s, 141 MiB.
- Each exhibit is parsed whole before merging (the hazard scan resolves every
  object reachable from its trailer), so one exhibit's memory is about its
  size plus its parsed objects; ``Limits.max_bytes`` bounds it.
- pypdf has no public way for some steps, so this module uses its writer's
  internals: ``_add_object`` (the stamp streams), ``_ID`` (a fixed /ID),
  ``_resolve_links``, ``_unresolved_links`` and ``_merged_in_pages`` (to let a
  reader go after its exhibit: otherwise the writer keeps every reader alive),
  ``_objects`` (an exhibit that fails half-way is rolled back by truncating
  it). The tests pin the behaviour; pyproject pins pypdf below 8.
- pypdf and fpdf2 warnings are caught: log records become ``PdfLayout.notes``, and
  ``warnings`` are ignored while building. ``warnings.catch_warnings`` is not
  thread-safe: build one bundle per process at a time, or accept that another
  thread's warnings filters are briefly replaced.
"""

from __future__ import annotations

import inspect
import io
import unicodedata
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import IO, Any, BinaryIO, cast

from blake3 import blake3
from fpdf import FPDF
from pypdf import PageObject, PdfReader, PdfWriter
from pypdf.constants import PageLabelStyle
from pypdf.generic import (
    ArrayObject,
    ByteStringObject,
    DecodedStreamObject,
    DictionaryObject,
    IndirectObject,
    NameObject,
    NullObject,
    StreamObject,
)

from evidence.bundle.bag import MiB
from evidence.bundle.layout import BATES_PREFIX, bates
from evidence.bundle.quiet import Notes, quiet
from evidence.errors import InputError

WIDEST_RANGE = "999999–999999"
FONT_DIRS = (Path("/usr/share/fonts/truetype/dejavu"), Path("/usr/share/fonts/dejavu"))
TRANSLIT_MARK = "[~]"
STAMP_FONT = "/JitevStamp"


# -- inputs -------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Cover:
    case_id: str
    case_title: str
    agreement: str
    prosecutor: str
    team: str
    bundle_id: str
    created_at: datetime  # from the ledger, timezone-aware
    root_digest: str


@dataclass(frozen=True, slots=True)
class ScheduleRow:
    number: int
    reference: str
    description: str
    media_type: str
    size: int
    blake3: str
    sha256: str


@dataclass(frozen=True, slots=True)
class ContinuityEntry:
    """One custody event as the continuity section shows it; ``lines`` are
    already worded (who, when, why, the verified hashes)."""

    seq: int
    at: datetime
    action: str
    actor: str
    team: str
    lines: Sequence[str] = ()


@dataclass(frozen=True, slots=True)
class ExhibitPdf:
    """An exhibit's part of the PDF. ``source`` opens its bytes (called once,
    a returned stream is closed after use; what it raises propagates: a store
    failure fails the build). ``source=None``, or a ``placeholder_reason``,
    gives a placeholder page describing the native file instead."""

    reference: str
    source: Callable[[], bytes | BinaryIO] | None
    placeholder_reason: str | None
    native_name: str
    size: int
    blake3: str
    sha256: str
    media_type: str = ""


@dataclass(frozen=True, slots=True)
class Limits:
    """Guards against pathological exhibits: beyond them, a placeholder."""

    max_pages: int = 5_000
    max_objects: int = 1_000_000
    max_bytes: int = 512 * MiB


@dataclass(frozen=True, slots=True)
class Fonts:
    """TrueType fonts for the generated pages; ``regular=None``: the PDF core
    fonts, with text transliterated to Latin-1."""

    regular: Path | None
    bold: Path | None = None
    mono: Path | None = None

    @classmethod
    def find(cls) -> Fonts:
        for folder in FONT_DIRS:
            regular = folder / "DejaVuSans.ttf"
            if regular.is_file():
                bold, mono = folder / "DejaVuSans-Bold.ttf", folder / "DejaVuSansMono.ttf"
                return cls(
                    regular, bold if bold.is_file() else None, mono if mono.is_file() else None
                )
        return cls(None)


# -- the layout ---------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PageRange:
    """Bundle pages ``first``..``last`` (from 1) and their Bates numbers."""

    first: int
    last: int
    begbates: str
    endbates: str

    @property
    def count(self) -> int:
        return self.last - self.first + 1

    def text(self) -> str:
        return str(self.first) if self.first == self.last else f"{self.first}–{self.last}"


@dataclass(frozen=True, slots=True)
class ExhibitLayout:
    reference: str
    pages: PageRange
    merged: bool  # False: a placeholder page stands for the exhibit
    reason: str | None  # why it was not merged
    source_pages: int  # pages merged from the exhibit (0 for a placeholder)


@dataclass(frozen=True, slots=True)
class PdfLayout:
    bates_prefix: str
    page_count: int
    cover: PageRange
    schedule: PageRange
    continuity: dict[str, PageRange]
    exhibits: tuple[ExhibitLayout, ...]
    unicode_font: bool
    notes: tuple[str, ...] = ()  # pypdf and fpdf2 warnings, prefixed with the exhibit

    def bates(self, page: int) -> str:
        return bates(self.bates_prefix, page)

    def exhibit(self, reference: str) -> ExhibitLayout:
        for e in self.exhibits:
            if e.reference == reference:
                return e
        raise KeyError(reference)


class _Unmergeable(Exception):
    """An exhibit that gets a placeholder; the message is the reason."""


# -- build ----------------------------------------------------------------------


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
    """Write the bundle PDF to ``out`` (any writable binary stream)."""
    _check(cover, rows, continuity, exhibits, bates_prefix)
    limits = limits or Limits()
    text = _Text(fonts if fonts is not None else Fonts.find())
    generated = _Generated(text, cover.created_at)  # one fpdf2 document, one font subset
    with quiet("pypdf", "fpdf") as notes:
        try:
            sections = generated.sections(continuity, rows)
            dry = generated.front(cover, rows, bates_prefix, None)  # with the widest page numbers
            writer = PdfWriter()
            stamper = _Stamper(writer)
            first = dry.cover + dry.schedule + sum(sections.values()) + 1
            merged = _merge_all(writer, stamper, exhibits, first, bates_prefix, limits, notes)
            last = merged[-1][1] + merged[-1][2] - 1 if merged else first - 1
            layout = _layout(dry, sections, merged, last, bates_prefix, text.unicode)
            placeholders = generated.placeholders(layout, exhibits)
            front = generated.front(cover, rows, bates_prefix, layout)
            if (front.cover, front.schedule) != (dry.cover, dry.schedule):
                raise RuntimeError(
                    "bundle PDF: the cover or schedule changed length between the passes "
                    f"({dry.cover}+{dry.schedule} then {front.cover}+{front.schedule} pages)"
                )
            _insert_generated(writer, stamper, generated.output(), front, placeholders, layout)
        finally:
            generated.close()
        _outline_and_labels(writer, layout, exhibits, bates_prefix)
        _finish(writer, cover, rows, continuity, exhibits, bates_prefix)
        writer.write(out if _tells(out) else cast(IO[Any], _Counting(out)))
        return replace(layout, notes=tuple(notes.lines))


def _merge_all(
    writer: PdfWriter,
    stamper: _Stamper,
    exhibits: Sequence[ExhibitPdf],
    page_no: int,
    prefix: str,
    limits: Limits,
    notes: Notes,
) -> list[tuple[ExhibitPdf, int, int, str | None]]:
    """Each exhibit in turn: (exhibit, first page, pages, why not merged)."""
    merged = []
    for ex in exhibits:
        notes.context = ex.reference
        reason, n = None, 1  # a placeholder is one page
        try:
            n = _merge(writer, stamper, ex, page_no, prefix, limits)
        except _Unmergeable as exc:
            reason = str(exc)
        merged.append((ex, page_no, n, reason))
        page_no += n
    notes.context = "bundle"
    return merged


def _check(
    cover: Cover,
    rows: Sequence[ScheduleRow],
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


def _layout(
    front: _Front,
    sections: dict[str, int],
    merged: list[tuple[ExhibitPdf, int, int, str | None]],
    last_page: int,
    prefix: str,
    unicode_font: bool,
) -> PdfLayout:
    def rng(first: int, last: int) -> PageRange:
        return PageRange(first, last, bates(prefix, first), bates(prefix, last))

    exhibits = tuple(
        ExhibitLayout(
            ex.reference, rng(first, first + n - 1), reason is None, reason, 0 if reason else n
        )
        for ex, first, n, reason in merged
    )
    cont, page = {}, front.cover + front.schedule + 1
    for ref, n in sections.items():
        cont[ref] = rng(page, page + n - 1)
        page += n
    return PdfLayout(
        bates_prefix=prefix,
        page_count=last_page,
        cover=rng(1, front.cover),
        schedule=rng(front.cover + 1, front.cover + front.schedule),
        continuity=cont,
        exhibits=exhibits,
        unicode_font=unicode_font,
    )


# -- merging one exhibit ----------------------------------------------------------

_HAZARD_KEYS = {
    "/JS": "contains JavaScript",
    "/JavaScript": "contains JavaScript",
    "/AA": "contains automatic actions (/AA)",
    "/EmbeddedFiles": "contains embedded files",
    "/EF": "contains embedded files",
    "/XFA": "contains an XFA form",
    "/RichMediaContent": "contains rich media",
}
_HAZARD_VALUES = {
    "/JavaScript": "contains JavaScript",
    "/Launch": "contains a launch action",
    "/ImportData": "contains an import-data action",
    "/SubmitForm": "contains a submit-form action",
    "/GoToE": "contains an embedded-file action",
    "/RichMediaExecute": "contains rich media",
    "/EmbeddedFile": "contains embedded files",
    "/RichMedia": "contains rich media",
}


def _merge(
    writer: PdfWriter, stamper: _Stamper, ex: ExhibitPdf, first: int, prefix: str, limits: Limits
) -> int:
    """Copy and stamp the exhibit's pages; return their count, or raise
    ``_Unmergeable`` with the writer as it was before."""
    if ex.placeholder_reason is not None:
        raise _Unmergeable(ex.placeholder_reason)
    if ex.source is None:
        raise _Unmergeable(f"not a PDF ({ex.media_type})" if ex.media_type else "not a PDF")
    if ex.size > limits.max_bytes:
        raise _Unmergeable(f"larger than the limit of {limits.max_bytes:,} bytes for merging")
    with _opened(ex.source, limits) as stream:
        try:
            reader = _reader(stream, limits)
        except Exception as exc:
            raise _Unmergeable(f"could not be parsed: {_say(exc)}") from None
        try:
            return _copy_pages(writer, stamper, reader, ex, first, prefix, limits)
        finally:
            _forget(writer, reader)


def _copy_pages(
    writer: PdfWriter,
    stamper: _Stamper,
    reader: PdfReader,
    ex: ExhibitPdf,
    first: int,
    prefix: str,
    limits: Limits,
) -> int:
    try:
        if reader.is_encrypted:
            raise _Unmergeable("encrypted")
        count = len(reader.pages)
        if count == 0:
            raise _Unmergeable("has no pages")
        if count > limits.max_pages:
            raise _Unmergeable(
                f"has {count:,} pages, more than the limit of {limits.max_pages:,} for merging"
            )
        hazard = _hazard(reader, limits.max_objects)
        if hazard:
            raise _Unmergeable(hazard)
    except _Unmergeable:
        raise
    except Exception as exc:
        raise _Unmergeable(f"could not be parsed: {_say(exc)}") from None
    objects_before, pages_before = len(writer._objects), len(writer.pages)
    try:
        for i, page in enumerate(reader.pages):
            added = writer.add_page(page, excluded_keys=("/B", "/AA", "/PieceInfo"))
            stamper.stamp(added, bates(prefix, first + i), ex.reference)
        _resolve_links(writer)
    except Exception as exc:
        pages: Any = writer.pages  # pypdf's page list of a writer supports del
        del pages[pages_before:]
        del writer._objects[objects_before:]
        reason = str(exc) if isinstance(exc, _Unmergeable) else f"could not be parsed: {_say(exc)}"
        raise _Unmergeable(reason) from None
    return count


def _hazard(reader: PdfReader, max_objects: int) -> str | None:
    """Walk every object reachable from the trailer (this also parses them)."""
    seen: set[tuple[int, int]] = set()
    stack: list[Any] = [reader.trailer]
    while stack:
        obj = stack.pop()
        if isinstance(obj, IndirectObject):
            key = (obj.idnum, obj.generation)
            if key in seen:
                continue
            seen.add(key)
            if len(seen) > max_objects:
                return f"has more than {max_objects:,} objects, the limit for merging"
            obj = obj.get_object()
        if isinstance(obj, DictionaryObject):
            for k, v in dict.items(obj):
                if k in _HAZARD_KEYS:
                    return _HAZARD_KEYS[k]
                if k in ("/S", "/Type", "/Subtype"):
                    name = v.get_object() if isinstance(v, IndirectObject) else v
                    if isinstance(name, str) and name in _HAZARD_VALUES:
                        return _HAZARD_VALUES[name]
                if k == "/URI" and "javascript:" in str(v.get_object()).lower():
                    return "contains JavaScript"
                if isinstance(v, (IndirectObject, DictionaryObject, ArrayObject)):
                    stack.append(v)
        elif isinstance(obj, ArrayObject):
            stack.extend(
                v for v in obj if isinstance(v, (IndirectObject, DictionaryObject, ArrayObject))
            )
    return None


@contextmanager
def _opened(source: Callable[[], bytes | BinaryIO], limits: Limits) -> Iterator[IO[bytes]]:
    got = source()  # a store error is not the exhibit's fault: it propagates
    if isinstance(got, (bytes, bytearray, memoryview)):
        stream: IO[bytes] = io.BytesIO(bytes(got))
    elif got.seekable():
        stream = got
    else:
        stream = io.BytesIO(got.read(limits.max_bytes + 1))
    try:
        end = stream.seek(0, io.SEEK_END)
        if end > limits.max_bytes:
            raise _Unmergeable(f"larger than the limit of {limits.max_bytes:,} bytes for merging")
        stream.seek(0)
        if b"%PDF-" not in stream.read(1024):
            raise _Unmergeable("not a PDF (no %PDF- header)")
        stream.seek(0)
        yield stream
    finally:
        if not isinstance(got, (bytes, bytearray, memoryview)):
            got.close()


_READER_LIMITS = "xref_stream_maximum_entries" in inspect.signature(PdfReader).parameters


def _reader(stream: IO[bytes], limits: Limits) -> PdfReader:
    if _READER_LIMITS:  # pypdf >= 6 bounds the entries of a cross-reference stream
        return PdfReader(stream, strict=False, xref_stream_maximum_entries=limits.max_objects)
    return PdfReader(stream, strict=False)


def _resolve_links(writer: PdfWriter) -> None:
    """Point the exhibit's internal links at its new pages now, so that the
    writer can let go of the reader."""
    resolve = getattr(writer, "_resolve_links", None)
    if resolve is not None:
        resolve()


def _forget(writer: PdfWriter, reader: PdfReader | None) -> None:
    for name in ("_unresolved_links", "_merged_in_pages"):
        held = getattr(writer, name, None)
        if held is not None:
            held.clear()
    writer.reset_translation(reader)


def _say(exc: BaseException) -> str:
    words = " ".join(str(exc).split())
    return f"{type(exc).__name__}: {words[:200]}" if words else type(exc).__name__


# -- stamping -------------------------------------------------------------------


class _Stamper:
    """Adds a Bates stamp to pages of the writer without touching their content."""

    def __init__(self, writer: PdfWriter) -> None:
        self.writer = writer
        font = DictionaryObject(
            {
                NameObject("/Type"): NameObject("/Font"),
                NameObject("/Subtype"): NameObject("/Type1"),
                NameObject("/BaseFont"): NameObject("/Courier"),
                NameObject("/Encoding"): NameObject("/WinAnsiEncoding"),
            }
        )
        self.font = writer._add_object(font)
        self.opening = self._stream(b"q\n")

    def _stream(self, data: bytes) -> IndirectObject:
        stream = DecodedStreamObject()
        stream.set_data(data)
        return self.writer._add_object(stream)

    def stamp(self, page: PageObject, number: str, label: str | None) -> None:
        name = self._font_name(page)
        contents = self._contents(page)
        drawing = _stamp_content(
            _visible_box(page), _rotation(page), _user_unit(page), name, number, label
        )
        page[NameObject("/Contents")] = ArrayObject(
            [self.opening, *contents, self._stream(drawing)]
        )

    def _font_name(self, page: PageObject) -> str:
        resources = _dict(page, "/Resources", "its page resources are malformed")
        fonts = _dict(resources, "/Font", "its page fonts are malformed")
        name, n = STAMP_FONT, 1
        while name in fonts and fonts.raw_get(name) != self.font:
            n += 1
            name = f"{STAMP_FONT}{n}"
        fonts[NameObject(name)] = self.font
        return name

    def _contents(self, page: PageObject) -> list[Any]:
        raw = page.raw_get("/Contents") if "/Contents" in page else None
        if raw is None:
            return []
        value = raw.get_object()
        if isinstance(value, NullObject) or value is None:
            return []
        if isinstance(value, StreamObject):
            return [raw if isinstance(raw, IndirectObject) else self.writer._add_object(value)]
        if isinstance(value, ArrayObject):
            return list(value)
        raise _Unmergeable("its page contents are malformed")


def _dict(holder: DictionaryObject, key: str, malformed: str) -> DictionaryObject:
    value = holder.get(key)
    value = value.get_object() if value is not None else None
    if value is None or isinstance(value, NullObject):
        value = DictionaryObject()
        holder[NameObject(key)] = value
    if not isinstance(value, DictionaryObject):
        raise _Unmergeable(malformed)
    return value


def _visible_box(page: PageObject) -> tuple[float, float, float, float]:
    def box(name: str) -> tuple[float, float, float, float] | None:
        try:
            r = [float(cast(Any, v.get_object())) for v in cast(ArrayObject, page[name])]
        except Exception:
            return None
        if len(r) != 4:
            return None
        return min(r[0], r[2]), min(r[1], r[3]), max(r[0], r[2]), max(r[1], r[3])

    media = box("/MediaBox") or (0.0, 0.0, 612.0, 792.0)
    crop = box("/CropBox") or media
    x0, y0 = max(media[0], crop[0]), max(media[1], crop[1])
    x1, y1 = min(media[2], crop[2]), min(media[3], crop[3])
    if x1 - x0 < 1 or y1 - y0 < 1:
        x0, y0, x1, y1 = media
    if x1 - x0 < 1 or y1 - y0 < 1:
        raise _Unmergeable("its page has no visible area")
    return x0, y0, x1, y1


def _number(page: PageObject, key: str, default: float) -> float:
    try:
        return float(cast(Any, page[key])) if key in page else default  # [] resolves
    except Exception:
        return default


def _rotation(page: PageObject) -> int:
    r = int(_number(page, "/Rotate", 0)) % 360
    return r if r % 90 == 0 else 0


def _user_unit(page: PageObject) -> float:
    unit = _number(page, "/UserUnit", 1.0)
    return unit if 0.01 <= unit <= 1000 else 1.0


def _stamp_content(
    box: tuple[float, float, float, float],
    rotation: int,
    unit: float,
    font: str,
    number: str,
    label: str | None,
) -> bytes:
    """Courier text in the bottom margin of the page as displayed: the Bates
    number on the right, the exhibit reference on the left."""
    x0, y0, x1, y1 = box
    width, height = (x1 - x0, y1 - y0) if rotation in (0, 180) else (y1 - y0, x1 - x0)
    matrix = {
        0: (1, 0, 0, 1, x0, y0),
        90: (0, 1, -1, 0, x1, y0),
        180: (-1, 0, 0, -1, x1, y1),
        270: (0, -1, 1, 0, x0, y1),
    }[rotation]
    short = min(width, height) * unit  # in points
    size = 8 * min(max(short / 595, 0.75), 3.0) / unit
    margin = max(2.0, short * 0.02) / unit
    left = _ascii(label or "")[:64]
    chars = len(number) + (len(left) + 3 if left else 0)
    if chars * 0.6 * size > width - 2 * margin:
        size = max((width - 2 * margin) / (chars * 0.6), 0.5)
    parts = [
        b"\nQ\nq\n",
        " ".join(_num(v) for v in matrix).encode() + b" cm\n",
        b"0 g 0 Tr 0 Tc 0 Tw 100 Tz\nBT\n",
        f"{font} {_num(size)} Tf\n".encode(),
        f"1 0 0 1 {_num(width - margin - len(number) * 0.6 * size)} {_num(margin)} Tm ({_pdf_string(number)}) Tj\n".encode(),
    ]
    if left:
        parts.append(
            f"1 0 0 1 {_num(margin)} {_num(margin)} Tm ({_pdf_string(left)}) Tj\n".encode()
        )
    parts.append(b"ET\nQ\n")
    return b"".join(parts)


def _num(v: float) -> str:
    text = f"{v:.3f}".rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


def _ascii(text: str) -> str:
    return "".join(c if " " <= c <= "~" else "?" for c in text)


def _pdf_string(text: str) -> str:
    return text.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")


# -- inserting the generated pages, outline, labels, metadata ---------------------


def _insert_generated(
    writer: PdfWriter,
    stamper: _Stamper,
    data: bytes,
    front: _Front,
    placeholders: int,
    layout: PdfLayout,
) -> None:
    """Append the cover and schedule, the continuity sections and the
    placeholders (not the dry run's pages) after the merged exhibit pages, then
    put every page in its place in one pass: pypdf's ``insert_page`` walks the
    page tree, thousands of inserts would cost a quadratic time."""
    pages = PdfReader(io.BytesIO(data)).pages
    n_merged = len(writer.pages)
    n_front = front.cover + front.schedule
    n_sections = sum(r.count for r in layout.continuity.values())
    generated = [*range(front.first, front.first + n_front), *range(n_sections)]
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
    _forget(writer, None)
    if sorted(order) != list(range(layout.page_count)) or len(writer.pages) != layout.page_count:
        raise RuntimeError(
            f"bundle PDF: {len(writer.pages)} pages, the layout says {layout.page_count}"
        )
    _reorder(writer, order)


def _reorder(writer: PdfWriter, order: list[int]) -> None:
    """The page at ``order[i]`` moves to ``i``. The writer's page tree is flat:
    one /Pages node whose /Kids are all the pages."""
    node = cast(DictionaryObject, writer.root_object["/Pages"])
    kids = cast(ArrayObject, node["/Kids"])
    flat = writer.flattened_pages
    if flat is None or len(kids) != len(order) or len(flat) != len(order):
        raise RuntimeError("bundle PDF: the page tree is not flat")
    node[NameObject("/Kids")] = ArrayObject(kids[i] for i in order)
    flat[:] = [flat[i] for i in order]


def _outline_and_labels(
    writer: PdfWriter, layout: PdfLayout, exhibits: Sequence[ExhibitPdf], prefix: str
) -> None:
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


def _finish(
    writer: PdfWriter,
    cover: Cover,
    rows: Sequence[ScheduleRow],
    continuity: Mapping[str, Sequence[ContinuityEntry]],
    exhibits: Sequence[ExhibitPdf],
    prefix: str,
) -> None:
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
    writer._ID = ArrayObject([ByteStringObject(digest), ByteStringObject(digest)])


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


# -- generated pages (fpdf2) ------------------------------------------------------


class _Text:
    def __init__(self, fonts: Fonts) -> None:
        self.fonts = fonts
        self.unicode = fonts.regular is not None and fonts.regular.is_file()

    def __call__(self, text: str) -> str:
        if self.unicode:
            return text
        return _latin1(text)

    def new_pdf(self, created_at: datetime) -> FPDF:
        pdf = FPDF(orientation="portrait", unit="mm", format="A4")
        pdf.set_creation_date(created_at)
        pdf.set_producer("jitev")
        pdf.set_margins(18, 16, 18)
        pdf.set_auto_page_break(True, margin=22)  # the stamp lives in the bottom margin
        if self.unicode:
            regular = self.fonts.regular
            assert regular is not None
            bold = self.fonts.bold if self.fonts.bold and self.fonts.bold.is_file() else regular
            mono = self.fonts.mono if self.fonts.mono and self.fonts.mono.is_file() else regular
            pdf.add_font("sans", "", str(regular))
            pdf.add_font("sans", "B", str(bold))
            pdf.add_font("mono", "", str(mono))
        return pdf

    @property
    def sans(self) -> str:
        return "sans" if self.unicode else "helvetica"

    @property
    def mono(self) -> str:
        return "mono" if self.unicode else "courier"


_PUNCTUATION = str.maketrans(
    {"–": "-", "—": "-", "‘": "'", "’": "'", "“": '"', "”": '"', "…": "...", "€": "EUR"}
)
_LATIN_UPPER = {
        "Đ": "Dj", "đ": "dj", "Ł": "L", "ł": "l", "Ħ": "H", "ħ": "h", "ı": "i", "Œ": "OE", "œ": "oe",
        "А": "A", "Б": "B", "В": "V", "Г": "G", "Д": "D", "Е": "E", "Ж": "Zh", "З": "Z", "И": "I",
        "Й": "Y", "К": "K", "Л": "L", "М": "M", "Н": "N", "О": "O", "П": "P", "Р": "R", "С": "S",
        "Т": "T", "У": "U", "Ф": "F", "Х": "H", "Ц": "Ts", "Ч": "Ch", "Ш": "Sh", "Щ": "Sht",
        "Ъ": "A", "Ь": "Y", "Ю": "Yu", "Я": "Ya", "Ђ": "Dj", "Ј": "J", "Љ": "Lj", "Њ": "Nj",
        "Ћ": "C", "Џ": "Dz",
}  # fmt: skip
_LATIN = str.maketrans(
    {**_LATIN_UPPER, **{k.lower(): v.lower() for k, v in _LATIN_UPPER.items() if k.lower() != k}}
)


def _latin1(text: str) -> str:
    """Latin-1 for the core fonts; a value whose letters changed is marked ``[~]``."""
    text = text.translate(_PUNCTUATION)
    out = text.translate(_LATIN)
    out = "".join(c for c in unicodedata.normalize("NFKC", out) if c.isprintable() or c in "\n")
    if not out.isascii():
        out = "".join(
            c
            if ord(c) < 256
            else "".join(d for d in unicodedata.normalize("NFKD", c) if ord(d) < 128) or "?"
            for c in out
        )
    return out if out == text else f"{out} {TRANSLIT_MARK}"


@dataclass
class _Front:
    """Where the cover and schedule are in the generated document (``first``,
    from 0) and how many pages each takes."""

    first: int
    cover: int
    schedule: int


class _Page:
    """Drawing on fpdf2 pages with ``cell``/``text`` and our own word wrap:
    ``multi_cell`` and tables are about ten times slower, which counts with
    thousands of exhibits."""

    def __init__(self, text: _Text, created_at: datetime) -> None:
        self.t = text
        self.pdf = text.new_pdf(created_at)

    def font(self, style: str = "", size: float = 10, mono: bool = False) -> None:
        self.pdf.set_font(self.t.mono if mono else self.t.sans, style, size)

    def lines(self, value: str, width: float, most: int = 1000) -> list[str]:
        """Greedy word wrap of ``value`` (already transliterated) in the font set."""
        width_of, out = self.pdf.get_string_width, []
        space = width_of(" ")
        for paragraph in value.split("\n"):
            line, used = "", 0.0
            for word in paragraph.split(" "):
                size = width_of(word)
                if line and used + space + size <= width:
                    line, used = f"{line} {word}", used + space + size
                    continue
                if line:
                    out.append(line)
                while size > width and len(word) > 1:  # a word wider than the column
                    cut = max(1, int(len(word) * width / size))
                    while cut > 1 and width_of(word[:cut]) > width:
                        cut -= 1
                    out.append(word[:cut])
                    word = word[cut:]
                    size = width_of(word)
                line, used = word, size
            out.append(line)
        if len(out) > most:
            out = [*out[: most - 1], out[most - 1][:60] + " ..."]
        return out

    def para(self, value: str, height: float, indent: float = 0.0) -> None:
        pdf = self.pdf
        for line in self.lines(self.t(value), pdf.epw - indent):
            pdf.set_x(pdf.l_margin + indent)
            pdf.cell(pdf.epw - indent, height, line, new_x="LMARGIN", new_y="NEXT")

    def heading(self, title: str, subtitle: str) -> None:
        self.font("B", 16)
        self.para(title, 8)
        self.font("", 10)
        self.para(subtitle, 5)
        self.pdf.ln(4)

    def pairs(self, pairs: Sequence[tuple[str, str, bool]], most: int = 1000) -> None:
        pdf = self.pdf
        for key, value, mono in pairs:
            self.font("", 9 if mono else 10, mono)
            lines = self.lines(self.t(value), pdf.epw - 40, most)
            self.font("B", 10)
            pdf.cell(40, 5.5, self.t(key))
            self.font("", 9 if mono else 10, mono)
            for line in lines:
                pdf.set_x(pdf.l_margin + 40)
                pdf.cell(pdf.epw - 40, 5.5, line, new_x="LMARGIN", new_y="NEXT")


class _Generated(_Page):
    """The generated pages, all in one fpdf2 document: the continuity sections
    (their text does not depend on page numbers), the cover and schedule of
    the dry run (widest page numbers: only their page counts matter, the pages
    are not used), then the placeholders and the final cover and schedule."""

    def sections(
        self, continuity: Mapping[str, Sequence[ContinuityEntry]], rows: Sequence[ScheduleRow]
    ) -> dict[str, int]:
        about = {r.reference: r.description for r in rows}
        pages = {}
        for ref, entries in continuity.items():
            before = self.pdf.page_no()
            self.pdf.add_page(orientation="portrait")
            self.heading(f"Continuity of {ref}", about.get(ref) or "Custody events of the exhibit.")
            if not entries:
                self.para("No custody events.", 5)
            for e in entries:
                self.font("B", 10)
                at = e.at.isoformat(timespec="seconds")
                self.para(f"{e.seq}. {at}  {e.action}  {e.actor} ({e.team})", 5)
                self.font("", 9)
                for line in e.lines:
                    self.para(line, 4.5, indent=6)
                self.pdf.ln(2)
            pages[ref] = self.pdf.page_no() - before
        return pages

    def front(
        self, cover: Cover, rows: Sequence[ScheduleRow], prefix: str, layout: PdfLayout | None
    ) -> _Front:
        first = self.pdf.page_no()
        _cover_page(self, cover, prefix, layout)
        n_cover = self.pdf.page_no() - first
        _schedule(self, cover, rows, {e.reference: e for e in layout.exhibits} if layout else None)
        return _Front(first, n_cover, self.pdf.page_no() - first - n_cover)

    def placeholders(self, layout: PdfLayout, exhibits: Sequence[ExhibitPdf]) -> int:
        """Add one page per exhibit not merged; return the index of the first."""
        first = self.pdf.page_no()
        for e, native in zip(layout.exhibits, exhibits, strict=True):
            if not e.merged:
                _placeholder(self, e, native)
        return first

    def output(self) -> bytes:
        return bytes(self.pdf.output())

    def close(self) -> None:
        """Close the font files (``output()`` does, but not if we fail before)."""
        for font in self.pdf.fonts.values():
            close = getattr(font, "close", None)
            if close is not None:
                close()


def _cover_page(page: _Page, cover: Cover, prefix: str, layout: PdfLayout | None) -> None:
    page.pdf.add_page()
    page.heading("Disclosure bundle", f"{cover.case_id}: {cover.case_title}")
    if layout:
        cont = list(layout.continuity.values())
        n, merged = len(layout.exhibits), sum(e.merged for e in layout.exhibits)
        first = layout.exhibits[0].pages.first if n else 0
        parts = [
            ("Schedule", f"pages {layout.schedule.text()}"),
            ("Continuity", f"pages {cont[0].first}–{cont[-1].last}" if cont else "none"),
            (
                "Exhibits",
                f"{n}, pages {first}–{layout.page_count}: {merged} merged, "
                f"{n - merged} as a placeholder page"
                if n
                else "none",
            ),
        ]
    else:  # the widest values, to count pages
        wide = f"999999, pages {WIDEST_RANGE}: 999999 merged, 999999 as a placeholder page"
        parts = [("Schedule", f"pages {WIDEST_RANGE}"), ("Continuity", f"pages {WIDEST_RANGE}")]
        parts.append(("Exhibits", wide))
    page.pairs(
        [
            ("Case", f"{cover.case_id}: {cover.case_title}", False),
            ("JIT agreement", cover.agreement, False),
            ("Prosecutor", cover.prosecutor, False),
            ("Team", cover.team, False),
            ("Bundle", cover.bundle_id, False),
            ("Created", cover.created_at.isoformat(timespec="seconds"), False),
            ("Root digest", cover.root_digest, True),
        ]
    )
    # one line each, the same height in both passes
    page.pairs([(k, v, False) for k, v in parts], most=1)
    page.pairs([("Page stamps", f"{prefix}-nnnnnn, where nnnnnn is the bundle page number", False)])
    page.pdf.ln(4)
    page.font("", 9)
    note = (
        "Every exhibit is also disclosed as its native file, byte-identical, named by its "
        "reference; its BLAKE3 and SHA-256 digests are on the schedule. An exhibit that is not "
        "a PDF, or a PDF that could not be merged safely, has a placeholder page saying why."
    )
    if not page.t.unicode:
        note += (
            f" {TRANSLIT_MARK} marks text transliterated to Latin-1: no Unicode font was "
            "installed (Debian: fonts-dejavu-core)."
        )
    page.para(note, 4.5)


_COLUMNS = (  # A4 landscape: 261 mm between the margins
    ("No.", 10.0),
    ("Exhibit", 26.0),
    ("Description", 57.0),
    ("Type", 24.0),
    ("Size (bytes)", 20.0),
    ("Pages", 28.0),
    ("BLAKE3 / SHA-256", 96.0),
)
_PAD, _LINE, _DIGEST_LINE = 1.0, 3.6, 3.0


def _schedule(
    page: _Page, cover: Cover, rows: Sequence[ScheduleRow], pages: dict[str, ExhibitLayout] | None
) -> None:
    """One row per exhibit; a row never splits (cells are cut at 12 lines). The
    page range is one line, left out of the row's height: the schedule has as
    many pages with the widest ranges as with the real ones."""
    pdf, t = page.pdf, page.t
    pdf.add_page(orientation="landscape")
    subtitle = f"Bundle {cover.bundle_id}, case {cover.case_id}. Pages are bundle pages."
    page.heading("Schedule of exhibits", subtitle)
    if not rows:
        page.para("No exhibits.", 5)
        return

    def draw(cells: list[list[str]], height: float, bold: bool = False) -> None:
        x, y = pdf.l_margin, pdf.get_y()
        for i, ((_, width), lines) in enumerate(zip(_COLUMNS, cells, strict=True)):
            pdf.rect(x, y, width, height)
            digest = i == len(_COLUMNS) - 1 and not bold
            page.font("B" if bold else "", 6 if digest else 8, mono=digest)
            line = _DIGEST_LINE if digest else _LINE
            for k, value in enumerate(lines):
                pdf.text(x + _PAD, y + _PAD + (k + 0.5) * line + 0.3 * pdf.font_size, value)
            x += width
        pdf.set_y(y + height)

    head = [[t(title)] for title, _ in _COLUMNS]
    draw(head, 2 * _PAD + _LINE, bold=True)
    for r in rows:
        where = "not in the PDF"
        if pages is None:
            where = t(WIDEST_RANGE)
        elif r.reference in pages:
            where = t(pages[r.reference].pages.text())
        values = (str(r.number), r.reference, r.description, r.media_type, f"{r.size:,}")
        page.font("", 8)
        cells = [
            page.lines(t(v), w - 2 * _PAD, 12) for v, (_, w) in zip(values, _COLUMNS, strict=False)
        ]
        height = 2 * _PAD + max(max(len(c) for c in cells) * _LINE, 2 * _DIGEST_LINE)
        cells.append([where])
        cells.append([f"BLAKE3  {_ascii(r.blake3)[:64]}", f"SHA-256 {_ascii(r.sha256)[:64]}"])
        if pdf.get_y() + height > pdf.page_break_trigger:
            pdf.add_page(orientation="landscape")
            draw(head, 2 * _PAD + _LINE, bold=True)
        draw(cells, height)


def _placeholder(page: _Page, e: ExhibitLayout, native: ExhibitPdf) -> None:
    """Always exactly one page: long values are cut."""
    pdf = page.pdf
    pdf.add_page(orientation="portrait")
    pdf.set_auto_page_break(False)
    subtitle = "Not merged into this PDF: disclosed as its native file."
    page.heading(f"Exhibit {e.reference}"[:80], subtitle)
    page.pairs(
        [
            ("Reason", e.reason or "", False),
            ("Native file", native.native_name, False),
            ("Media type", native.media_type or "unknown", False),
            ("Size", f"{native.size:,} bytes", False),
            ("BLAKE3", _ascii(native.blake3)[:128], True),
            ("SHA-256", _ascii(native.sha256)[:128], True),
        ],
        most=6,
    )
    pdf.set_auto_page_break(True, margin=22)
