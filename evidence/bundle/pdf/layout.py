"""Where every page of ``bundle.pdf`` goes, in two passes.

The exhibits are numbered before the cover and schedule that list their pages
are drawn: a dry run draws the cover and schedule with the widest page ranges
(``WIDEST_RANGE``; a page range is one line and never changes a row's
height), so the exhibits start after the dry run's pages and the continuity
sections; then the exhibits are merged one by one (``Placed``); then the real
cover and schedule are drawn, and must take as many pages as the dry run.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from evidence.bundle.layout import bates

WIDEST_RANGE = "999999–999999"


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


@dataclass(frozen=True, slots=True)
class Front:
    """Where the cover and schedule are in the generated document (``first``,
    from 0) and how many pages each takes."""

    first: int
    cover: int
    schedule: int

    @property
    def pages(self) -> int:
        return self.cover + self.schedule


@dataclass(frozen=True, slots=True)
class Placed:
    """An exhibit as merged: ``pages`` bundle pages from ``first``, or one
    placeholder page and the ``reason`` it was not merged."""

    reference: str
    first: int
    pages: int
    reason: str | None

    @property
    def last(self) -> int:
        return self.first + self.pages - 1


def first_exhibit_page(front: Front, sections: dict[str, int]) -> int:
    """The exhibits follow the cover, the schedule and the continuity sections."""
    return front.pages + sum(sections.values()) + 1


def page_layout(
    front: Front,
    sections: dict[str, int],
    placed: Sequence[Placed],
    prefix: str,
    unicode_font: bool,
) -> PdfLayout:
    """The layout of the bundle: the front as ``front`` counts it, the
    continuity ``sections`` (reference -> pages), then the exhibits."""

    def rng(first: int, last: int) -> PageRange:
        return PageRange(first, last, bates(prefix, first), bates(prefix, last))

    exhibits = tuple(
        ExhibitLayout(
            p.reference,
            rng(p.first, p.last),
            p.reason is None,
            p.reason,
            0 if p.reason else p.pages,
        )
        for p in placed
    )
    cont, page = {}, front.pages + 1
    for ref, n in sections.items():
        cont[ref] = rng(page, page + n - 1)
        page += n
    return PdfLayout(
        bates_prefix=prefix,
        page_count=placed[-1].last if placed else first_exhibit_page(front, sections) - 1,
        cover=rng(1, front.cover),
        schedule=rng(front.cover + 1, front.pages),
        continuity=cont,
        exhibits=exhibits,
        unicode_font=unicode_font,
    )
