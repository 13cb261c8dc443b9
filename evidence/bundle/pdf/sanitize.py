"""Which PDF exhibits may be merged into ``bundle.pdf``: a security policy.

A PDF exhibit is merged only if it is within ``Limits.max_bytes``, starts
like a PDF, opens unencrypted, has between 1 and ``Limits.max_pages`` pages
and at most ``Limits.max_objects`` objects, and no object reachable from its
trailer holds JavaScript, a launch or other dangerous action, automatic
actions (``/AA``), embedded files, rich media or XFA. Only its pages are
copied, never its catalog: document-level actions (``/OpenAction``, name
trees, forms, outline) are dropped. Anything else, and any exception while
reading it, gives a one-page placeholder saying why (``Unmergeable``); the
caller still discloses the native file.

Each exhibit is parsed whole before merging (the hazard scan resolves every
object reachable from its trailer), so one exhibit's memory is about its size
plus its parsed objects; ``Limits.max_bytes`` bounds it.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import IO, Any, BinaryIO

from pypdf import PdfReader
from pypdf.generic import ArrayObject, DictionaryObject, IndirectObject

from evidence.bundle.pdf import compat
from evidence.bundle.pdf.inputs import ExhibitPdf, Limits

HAZARD_KEYS = {
    "/JS": "contains JavaScript",
    "/JavaScript": "contains JavaScript",
    "/AA": "contains automatic actions (/AA)",
    "/EmbeddedFiles": "contains embedded files",
    "/EF": "contains embedded files",
    "/XFA": "contains an XFA form",
    "/RichMediaContent": "contains rich media",
}
HAZARD_VALUES = {  # of /S, /Type or /Subtype
    "/JavaScript": "contains JavaScript",
    "/Launch": "contains a launch action",
    "/ImportData": "contains an import-data action",
    "/SubmitForm": "contains a submit-form action",
    "/GoToE": "contains an embedded-file action",
    "/RichMediaExecute": "contains rich media",
    "/EmbeddedFile": "contains embedded files",
    "/RichMedia": "contains rich media",
}


class Unmergeable(Exception):
    """An exhibit that gets a placeholder; the message is the reason."""


def unparsable(exc: BaseException) -> Unmergeable:
    """The placeholder's reason for an exhibit whose reading raised ``exc``."""
    words = " ".join(str(exc).split())
    said = f"{type(exc).__name__}: {words[:200]}" if words else type(exc).__name__
    return Unmergeable(f"could not be parsed: {said}")


def check_exhibit(ex: ExhibitPdf, limits: Limits) -> Callable[[], bytes | BinaryIO]:
    """The exhibit's source, unless what is known before reading it stops it:
    a placeholder is asked for, the exhibit is not a PDF, or it is too large."""
    if ex.placeholder_reason is not None:
        raise Unmergeable(ex.placeholder_reason)
    if ex.source is None:
        raise Unmergeable(f"not a PDF ({ex.media_type})" if ex.media_type else "not a PDF")
    if ex.size > limits.max_bytes:
        raise Unmergeable(f"larger than the limit of {limits.max_bytes:,} bytes for merging")
    return ex.source


@contextmanager
def opened(source: Callable[[], bytes | BinaryIO], limits: Limits) -> Iterator[IO[bytes]]:
    """The exhibit's bytes as a seekable stream, if they are within
    ``max_bytes`` and start like a PDF; a returned stream is closed after."""
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
            raise Unmergeable(f"larger than the limit of {limits.max_bytes:,} bytes for merging")
        stream.seek(0)
        if b"%PDF-" not in stream.read(1024):
            raise Unmergeable("not a PDF (no %PDF- header)")
        stream.seek(0)
        yield stream
    finally:
        if not isinstance(got, (bytes, bytearray, memoryview)):
            got.close()


def open_reader(stream: IO[bytes], limits: Limits) -> PdfReader:
    try:
        return compat.open_reader(stream, limits.max_objects)
    except Exception as exc:
        raise unparsable(exc) from None


def admit(reader: PdfReader, limits: Limits) -> int:
    """The exhibit's page count, if it may be merged; else ``Unmergeable``."""
    try:
        if reader.is_encrypted:
            raise Unmergeable("encrypted")
        count = len(reader.pages)
        if count == 0:
            raise Unmergeable("has no pages")
        if count > limits.max_pages:
            raise Unmergeable(
                f"has {count:,} pages, more than the limit of {limits.max_pages:,} for merging"
            )
        found = hazard(reader, limits.max_objects)
        if found:
            raise Unmergeable(found)
    except Unmergeable:
        raise
    except Exception as exc:
        raise unparsable(exc) from None
    return count


def hazard(reader: PdfReader, max_objects: int) -> str | None:
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
                if k in HAZARD_KEYS:
                    return HAZARD_KEYS[k]
                if k in ("/S", "/Type", "/Subtype"):
                    name = v.get_object() if isinstance(v, IndirectObject) else v
                    if isinstance(name, str) and name in HAZARD_VALUES:
                        return HAZARD_VALUES[name]
                if k == "/URI" and "javascript:" in str(v.get_object()).lower():
                    return "contains JavaScript"
                if isinstance(v, (IndirectObject, DictionaryObject, ArrayObject)):
                    stack.append(v)
        elif isinstance(obj, ArrayObject):
            stack.extend(
                v for v in obj if isinstance(v, (IndirectObject, DictionaryObject, ArrayObject))
            )
    return None
