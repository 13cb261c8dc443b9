"""``bundle.pdf`` of a disclosure bundle: a cover, the schedule, one continuity
section per exhibit, then every PDF exhibit merged in; every page stamped with
its Bates number (``layout.bates``: ``DANUBE-FR-000123`` = bundle page 123)
and, on exhibit pages, the exhibit reference; an outline and page labels.

``build(out, cover, rows, continuity, exhibits, bates_prefix)`` writes the PDF
to ``out`` and returns the ``PdfLayout``: page ranges and Bates numbers of the
cover, the schedule, each continuity section and each exhibit. A PDF exhibit
that is unsafe or unreadable (``sanitize``) gets a one-page placeholder saying
why; so does every other exhibit. Same inputs, same bytes.

- ``inputs``: what ``build`` is given;
- ``layout``: page ranges, and the two passes that number the pages;
- ``sanitize``: which PDF exhibits may be merged (a security policy);
- ``merge``: copying an exhibit's pages, stamping them (``stamp``);
- ``drawing``: the generated pages (fpdf2), transliteration;
- ``document``: the page tree, outline, labels, metadata, ``/ID``, output;
- ``compat``: pypdf's private parts, the only module that touches them;
- ``assemble``: ``build``, the steps in order.

pypdf and fpdf2 log records become ``PdfLayout.notes`` (``bundle.quiet``).
Measurements: bench/README.md.
"""

from __future__ import annotations

from evidence.bundle.pdf.assemble import build
from evidence.bundle.pdf.inputs import (
    ContinuityEntry,
    Cover,
    ExhibitPdf,
    Fonts,
    Limits,
    ScheduleRow,
)
from evidence.bundle.pdf.layout import ExhibitLayout, PageRange, PdfLayout

__all__ = [
    "ContinuityEntry",
    "Cover",
    "ExhibitLayout",
    "ExhibitPdf",
    "Fonts",
    "Limits",
    "PageRange",
    "PdfLayout",
    "ScheduleRow",
    "build",
]
