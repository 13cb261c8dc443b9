"""The generated pages, drawn with fpdf2: the cover, the schedule, the
continuity sections and the placeholders, all in one document (one font
subset).

Text: control characters shown as escapes (``evidence.shown``); DejaVu Sans
(Debian ``fonts-dejavu-core``) when it is installed, else
the PDF core fonts with text transliterated to Latin-1, each changed value
marked ``[~]`` and a note on the cover. fpdf2 gets the bundle's date, so the
same inputs draw the same bytes.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Mapping, Sequence
from datetime import datetime

from fpdf import FPDF

from evidence.bundle.pdf.inputs import ContinuityEntry, Cover, ExhibitPdf, Fonts, ScheduleRow
from evidence.bundle.pdf.layout import WIDEST_RANGE, ExhibitLayout, Front, PdfLayout
from evidence.bundle.pdf.stamp import ascii_text
from evidence.shown import visible

TRANSLIT_MARK = "[~]"


class Text:
    """The fonts of the generated pages, and text as they can show it (``__call__``)."""

    def __init__(self, fonts: Fonts) -> None:
        self.fonts = fonts
        self.unicode = fonts.regular is not None and fonts.regular.is_file()

    def __call__(self, text: str) -> str:
        text = visible(text, keep="\n")  # control characters shown, never acted on
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


class _Page:
    """Drawing on fpdf2 pages with ``cell``/``text`` and our own word wrap:
    ``multi_cell`` and tables are about ten times slower, which counts with
    thousands of exhibits."""

    def __init__(self, text: Text, created_at: datetime) -> None:
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


class Generated(_Page):
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
    ) -> Front:
        first = self.pdf.page_no()
        _cover_page(self, cover, prefix, layout)
        n_cover = self.pdf.page_no() - first
        _schedule(self, cover, rows, {e.reference: e for e in layout.exhibits} if layout else None)
        return Front(first, n_cover, self.pdf.page_no() - first - n_cover)

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
        cells.append(
            [f"BLAKE3  {ascii_text(r.blake3)[:64]}", f"SHA-256 {ascii_text(r.sha256)[:64]}"]
        )
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
            ("BLAKE3", ascii_text(native.blake3)[:128], True),
            ("SHA-256", ascii_text(native.sha256)[:128], True),
        ],
        most=6,
    )
    pdf.set_auto_page_break(True, margin=22)
