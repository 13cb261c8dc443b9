"""Every use of pypdf's private parts, fenced off here: the version-fragile
code of the bundle PDF (dissect.target keeps such code in a ``compat`` module
for the same reason).

pypdf has no public way for some steps of ``build``:

- ``add_object``: ``PdfWriter._add_object``, to add the stamp's font and
  content streams as new indirect objects;
- ``mark`` / ``roll_back``: ``PdfWriter._objects``, truncated to roll back an
  exhibit that fails half-way (its pages are removed through ``pages``);
- ``resolve_links``: ``PdfWriter._resolve_links``, to point an exhibit's
  internal links at its new pages at once;
- ``forget``: ``PdfWriter._unresolved_links`` and ``_merged_in_pages``
  cleared, so that the writer lets go of an exhibit's reader (otherwise it
  keeps every reader, and its whole file, alive until the end);
- ``set_id``: ``PdfWriter._ID``, a fixed ``/ID`` (pypdf draws a random one);
- ``reorder``: the writer's flat page tree and its ``flattened_pages`` cache,
  rewritten in one pass (``insert_page`` walks the tree on each call);
- ``open_reader``: ``xref_stream_maximum_entries`` exists from pypdf 6 on.

pyproject.toml pins ``pypdf>=4,<8``: these attributes are not part of pypdf's
API and may change in any release. tests/unit/test_bundle_pdf.py pins what
they do (a rollback leaves nothing of the exhibit, internal links point at the
new pages, the /ID is fixed, the bytes do not change); raise the pin only once
those tests and tests/integration/test_golden.py pass with the new version.
"""

from __future__ import annotations

import inspect
from typing import IO, Any, cast

from pypdf import PdfReader, PdfWriter
from pypdf.generic import (
    ArrayObject,
    ByteStringObject,
    DictionaryObject,
    IndirectObject,
    NameObject,
    PdfObject,
)

_READER_LIMITS = "xref_stream_maximum_entries" in inspect.signature(PdfReader).parameters


def open_reader(stream: IO[bytes], max_objects: int) -> PdfReader:
    """A lenient reader; from pypdf 6 on, a cross-reference stream of more than
    ``max_objects`` entries is refused while parsing."""
    if _READER_LIMITS:
        return PdfReader(stream, strict=False, xref_stream_maximum_entries=max_objects)
    return PdfReader(stream, strict=False)


def add_object(writer: PdfWriter, obj: PdfObject) -> IndirectObject:
    return writer._add_object(obj)


def mark(writer: PdfWriter) -> tuple[int, int]:
    """The writer's objects and pages so far, for ``roll_back``."""
    return len(writer._objects), len(writer.pages)


def roll_back(writer: PdfWriter, to: tuple[int, int]) -> None:
    """Drop every object and page added since ``mark`` returned ``to``."""
    pages: Any = writer.pages  # pypdf's page list of a writer supports del
    del pages[to[1] :]
    del writer._objects[to[0] :]


def resolve_links(writer: PdfWriter) -> None:
    """Point the internal links of the pages added so far at their new pages."""
    resolve = getattr(writer, "_resolve_links", None)
    if resolve is not None:
        resolve()


def forget(writer: PdfWriter, reader: PdfReader | None) -> None:
    """Let go of ``reader`` (``None``: of every reader) after its pages were copied."""
    for name in ("_unresolved_links", "_merged_in_pages"):
        held = getattr(writer, name, None)
        if held is not None:
            held.clear()
    writer.reset_translation(reader)


def set_id(writer: PdfWriter, digest: bytes) -> None:
    """``/ID [<digest> <digest>]``, instead of pypdf's random one."""
    writer._ID = ArrayObject([ByteStringObject(digest), ByteStringObject(digest)])


def reorder(writer: PdfWriter, order: list[int]) -> None:
    """The page at ``order[i]`` moves to ``i``. The writer's page tree is flat:
    one /Pages node whose /Kids are all the pages."""
    node = cast(DictionaryObject, writer.root_object["/Pages"])
    kids = cast(ArrayObject, node["/Kids"])
    flat = writer.flattened_pages
    if flat is None or len(kids) != len(order) or len(flat) != len(order):
        raise RuntimeError("bundle PDF: the page tree is not flat")
    node[NameObject("/Kids")] = ArrayObject(kids[i] for i in order)
    flat[:] = [flat[i] for i in order]
