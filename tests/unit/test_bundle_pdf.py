"""bundle.pdf (evidence/bundle/pdf/): cover, schedule, continuity and exhibits,
Bates-stamped, outlined and labelled; hostile PDFs get placeholder pages; the
same inputs give the same bytes; ``qpdf --check`` accepts the result."""

from __future__ import annotations

import ast
import hashlib
import io
import os
import re
import subprocess
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from fpdf import FPDF
from pypdf import PdfReader, PdfWriter
from pypdf.generic import (
    ArrayObject,
    DictionaryObject,
    FloatObject,
    IndirectObject,
    NameObject,
    NumberObject,
    RectangleObject,
    TextStringObject,
)

from evidence.bundle.pdf import (
    ContinuityEntry,
    Cover,
    ExhibitPdf,
    Fonts,
    Limits,
    PdfLayout,
    ScheduleRow,
    build,
)
from evidence.errors import InputError
from tests.conftest import need_tool

AT = datetime(2026, 3, 14, 9, 30, tzinfo=UTC)
PREFIX = "DANUBE-FR"
BATES = re.compile(r"DANUBE-FR-\d{6}")


# -- small PDFs -------------------------------------------------------------------


def fpdf_pdf(
    pages: int, label: str, *, orientation: str = "portrait", compress: bool = True
) -> bytes:
    pdf = FPDF(orientation=orientation)
    pdf.set_creation_date(AT)
    pdf.set_compression(compress)
    pdf.set_font("helvetica", size=24)
    for i in range(pages):
        pdf.add_page()
        pdf.cell(text=f"{label} page {i + 1}")
    return bytes(pdf.output())


def rewrite(data: bytes, change: Callable[[PdfWriter], None]) -> bytes:
    writer = PdfWriter()
    for page in PdfReader(io.BytesIO(data)).pages:
        writer.add_page(page)
    change(writer)
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def rotated(data: bytes, degrees: int) -> bytes:
    def turn(w: PdfWriter) -> None:
        for page in w.pages:
            page.rotate(degrees)

    return rewrite(data, turn)


def encrypted(data: bytes) -> bytes:
    return rewrite(
        data, lambda w: w.encrypt(user_password="", owner_password="owner", algorithm="AES-128")
    )


def open_action_js(data: bytes) -> bytes:
    def add(w: PdfWriter) -> None:
        w.root_object[NameObject("/OpenAction")] = DictionaryObject(
            {
                NameObject("/S"): NameObject("/JavaScript"),
                NameObject("/JS"): TextStringObject("app.alert(1)"),
            }
        )

    return rewrite(data, add)


def launch_link(data: bytes) -> bytes:
    def add(w: PdfWriter) -> None:
        action = DictionaryObject(
            {
                NameObject("/S"): NameObject("/Launch"),
                NameObject("/F"): TextStringObject("calc.exe"),
            }
        )
        annot = DictionaryObject(
            {
                NameObject("/Type"): NameObject("/Annot"),
                NameObject("/Subtype"): NameObject("/Link"),
                NameObject("/Rect"): ArrayObject(
                    [FloatObject(0), FloatObject(0), FloatObject(50), FloatObject(50)]
                ),
                NameObject("/A"): action,
            }
        )
        w.pages[0][NameObject("/Annots")] = ArrayObject([w._add_object(annot)])

    return rewrite(data, add)


def linked_pdf() -> bytes:
    """Two pages, a link on the first pointing at the second."""
    pdf = FPDF()
    pdf.set_creation_date(AT)
    pdf.set_font("helvetica", size=24)
    pdf.add_page()
    target = pdf.add_link(page=2)
    pdf.cell(text="go to page 2", link=target)
    pdf.add_page()
    pdf.cell(text="page two")
    return bytes(pdf.output())


def digest(c: str) -> str:
    return c * 64


def exhibit(
    ref: str, data: bytes | None, name: str, media_type: str = "application/pdf"
) -> ExhibitPdf:
    return ExhibitPdf(
        reference=ref,
        source=(lambda: data) if data is not None else None,
        placeholder_reason=None,
        native_name=name,
        size=len(data) if data is not None else 4096,
        blake3=digest("a"),
        sha256=digest("b"),
        media_type=media_type,
    )


COVER = Cover(
    case_id="DANUBE",
    case_title="Operation Danube",
    agreement="JIT agreement EJ/2026/014",
    prosecutor="Pr. Dragana Vuković",
    team="FR",
    bundle_id="DANUBE-B-0001",
    created_at=AT,
    root_digest=digest("c"),
)


def continuity_for(refs: list[str]) -> dict[str, list[ContinuityEntry]]:
    return {
        ref: [
            ContinuityEntry(
                1,
                AT,
                "INGESTED",
                "Insp. Petrova",
                "BG",
                [f"BLAKE3 {digest('a')}", "Seized from Đorđe Vuković"],
            ),
            ContinuityEntry(
                2, AT, "RECEIVED", "Lt. Moreau", "FR", ["Receipt signed by FR, signature valid"]
            ),
        ]
        for ref in refs
    }


EXHIBITS: list[tuple[str, bytes | None, str, str]] = [
    ("BG-EX-0001", fpdf_pdf(3, "invoice"), "invoice.pdf", "application/pdf"),
    ("BG-EX-0002", rotated(fpdf_pdf(1, "rotated"), 90), "rotated.pdf", "application/pdf"),
    ("BG-EX-0003", None, "photo.jpg", "image/jpeg"),
    ("BG-EX-0004", encrypted(fpdf_pdf(1, "secret")), "secret.pdf", "application/pdf"),
    ("BG-EX-0005", open_action_js(fpdf_pdf(1, "script")), "script.pdf", "application/pdf"),
    ("BG-EX-0006", fpdf_pdf(2, "cut")[:600], "cut.pdf", "application/pdf"),
    ("BG-EX-0007", launch_link(fpdf_pdf(1, "launch")), "launch.pdf", "application/pdf"),
    ("BG-EX-0008", b"this is not a PDF at all\n" * 10, "fake.pdf", "application/pdf"),
]
REFS = [ref for ref, *_ in EXHIBITS]


def inputs() -> dict[str, Any]:
    return {
        "cover": COVER,
        "rows": [
            ScheduleRow(
                i + 1,
                ref,
                f"{name}, seized from Đorđe Vuković",
                media,
                len(data or b"x" * 4096),
                digest("a"),
                digest("b"),
            )
            for i, (ref, data, name, media) in enumerate(EXHIBITS)
        ],
        "continuity": continuity_for(REFS),
        "exhibits": [exhibit(ref, data, name, media) for ref, data, name, media in EXHIBITS],
        "bates_prefix": PREFIX,
    }


def make(**changes: Any) -> tuple[bytes, PdfLayout]:
    out = io.BytesIO()
    layout = build(out, **{**inputs(), **changes})
    return out.getvalue(), layout


@pytest.fixture(scope="module")
def bundle() -> tuple[bytes, PdfLayout]:
    return make()


def read(data: bytes) -> PdfReader:
    return PdfReader(io.BytesIO(data))


# -- tests ----------------------------------------------------------------------


def test_hostile_and_native_exhibits_get_a_placeholder_with_the_reason(
    bundle: tuple[bytes, PdfLayout],
) -> None:
    _, layout = bundle
    merged = {e.reference: e.source_pages for e in layout.exhibits if e.merged}
    reasons = {e.reference: e.reason or "" for e in layout.exhibits if not e.merged}
    assert merged == {"BG-EX-0001": 3, "BG-EX-0002": 1}
    assert reasons["BG-EX-0003"] == "not a PDF (image/jpeg)"
    assert reasons["BG-EX-0004"] == "encrypted"
    assert reasons["BG-EX-0005"] == "contains JavaScript"
    assert reasons["BG-EX-0006"].startswith("could not be parsed: ")
    assert reasons["BG-EX-0007"] == "contains a launch action"
    assert reasons["BG-EX-0008"] == "not a PDF (no %PDF- header)"
    for e in layout.exhibits:
        assert e.pages.count == (e.source_pages if e.merged else 1)
    # the placeholder page says why and describes the native file
    reader = read(bundle[0])
    page = reader.pages[layout.exhibit("BG-EX-0004").pages.first - 1].extract_text()
    assert "encrypted" in page and "secret.pdf" in page and digest("b") in page
    assert any(n.startswith("BG-EX-0006: ") for n in layout.notes)  # pypdf's warnings, kept


def test_qpdf_check_passes(bundle: tuple[bytes, PdfLayout], tmp_path: Path) -> None:
    qpdf = need_tool("qpdf", "Debian package qpdf")
    path = tmp_path / "bundle.pdf"
    path.write_bytes(bundle[0])
    done = subprocess.run([str(qpdf), "--check", str(path)], capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "No syntax or stream encoding errors" in done.stdout


def test_the_layout_matches_the_pages(bundle: tuple[bytes, PdfLayout]) -> None:
    data, layout = bundle
    reader = read(data)
    assert len(reader.pages) == layout.page_count
    cont = list(layout.continuity.values())
    assert (layout.cover.first, layout.cover.last) == (1, 1)
    assert layout.schedule.first == 2
    assert cont[0].first == layout.schedule.last + 1
    assert [c.first for c in cont[1:]] == [c.last + 1 for c in cont[:-1]]
    assert layout.exhibits[0].pages.first == cont[-1].last + 1
    assert [e.pages.first for e in layout.exhibits[1:]] == [
        e.pages.last + 1 for e in layout.exhibits[:-1]
    ]
    assert layout.exhibits[-1].pages.last == layout.page_count
    assert (
        layout.exhibit("BG-EX-0001").pages.begbates
        == f"{PREFIX}-{layout.exhibit('BG-EX-0001').pages.first:06d}"
    )

    owner = {
        p: e.reference for e in layout.exhibits for p in range(e.pages.first, e.pages.last + 1)
    }
    for number, page in enumerate(reader.pages, start=1):
        text = page.extract_text()
        assert BATES.findall(text) == [f"{PREFIX}-{number:06d}"], (number, text)
        if number in owner:
            assert owner[number] in text
    # the exhibit's own content survived the stamp
    first = layout.exhibit("BG-EX-0001").pages.first
    assert "invoice page 1" in reader.pages[first - 1].extract_text()
    assert "invoice page 3" in reader.pages[first + 1].extract_text()
    assert reader.pages[layout.exhibit("BG-EX-0002").pages.first - 1].rotation == 90
    # the schedule shows the page ranges
    schedule = reader.pages[layout.schedule.first - 1].extract_text()
    assert "10–12" in schedule.replace("-", "–") or f"{first}–{first + 2}" in schedule


def test_outline_points_at_every_section_and_exhibit(bundle: tuple[bytes, PdfLayout]) -> None:
    data, layout = bundle
    reader = read(data)

    def walk(items: list[Any], depth: int = 0) -> list[tuple[int, str, int]]:
        found: list[tuple[int, str, int]] = []
        for item in items:
            if isinstance(item, list):
                found += walk(item, depth + 1)
            else:
                number = reader.get_destination_page_number(item)
                assert number is not None
                found.append((depth, item.title, number + 1))
        return found

    got = walk(reader.outline)
    cont = layout.continuity
    expected = [
        (0, "Cover", 1),
        (0, "Schedule", layout.schedule.first),
        (0, "Continuity", cont["BG-EX-0001"].first),
        *((1, f"Continuity {ref}", cont[ref].first) for ref in REFS),
        (0, "Exhibits", layout.exhibits[0].pages.first),
        *(
            (1, f"{e.reference} {name}" + ("" if e.merged else " (placeholder)"), e.pages.first)
            for e, (_, _, name, _) in zip(layout.exhibits, EXHIBITS, strict=True)
        ),
    ]
    assert got == expected


def test_page_labels(bundle: tuple[bytes, PdfLayout]) -> None:
    data, layout = bundle
    labels = read(data).page_labels
    assert labels[0] == "Cover"
    assert labels[layout.schedule.first - 1 : layout.schedule.last] == [
        f"S-{i}" for i in range(1, layout.schedule.count + 1)
    ]
    cont = list(layout.continuity.values())
    n_cont = cont[-1].last - cont[0].first + 1
    assert labels[cont[0].first - 1 : cont[-1].last] == [f"C-{i}" for i in range(1, n_cont + 1)]
    first = layout.exhibits[0].pages.first
    assert labels[first - 1 :] == [f"{PREFIX}-{n:06d}" for n in range(first, layout.page_count + 1)]


def test_page_labels_cross_a_power_of_ten() -> None:
    many = [exhibit(f"BG-EX-{i:04d}", fpdf_pdf(1, f"n{i}"), f"n{i}.pdf") for i in range(1, 6)]
    _, layout = make(rows=[], continuity={}, exhibits=many)
    assert layout.exhibits[0].pages.first == 3  # cover, schedule, then the exhibits
    many += [exhibit("BG-EX-0099", fpdf_pdf(8, "long"), "long.pdf")]
    data, layout = make(rows=[], continuity={}, exhibits=many)
    labels = read(data).page_labels
    assert labels[:2] == ["Cover", "S-1"]
    assert labels[2:] == [f"{PREFIX}-{n:06d}" for n in range(3, layout.page_count + 1)]
    assert layout.page_count > 10


def test_the_same_inputs_give_the_same_bytes(bundle: tuple[bytes, PdfLayout]) -> None:
    again, _ = make()
    assert again == bundle[0]
    other, _ = make(
        cover=Cover(
            **{**{f: getattr(COVER, f) for f in Cover.__slots__}, "bundle_id": "DANUBE-B-0002"}
        )
    )
    assert other != bundle[0]
    reader = read(bundle[0])
    info: Any = reader.metadata
    assert info is not None
    assert info["/Producer"] == "jitev"
    assert info["/CreationDate"] == info["/ModDate"] == "D:20260314093000+00'00'"
    assert "DANUBE-B-0001" in info["/Title"] and "DANUBE" in info["/Subject"]
    ids: Any = reader.trailer["/ID"]
    raw = [i.original_bytes if isinstance(i, TextStringObject) else bytes(i) for i in ids]
    assert raw[0] == raw[1] and len(raw[0]) == 16


def test_no_javascript_or_actions_in_the_output(bundle: tuple[bytes, PdfLayout]) -> None:
    reader = read(bundle[0])
    bad = {"/JS", "/JavaScript", "/OpenAction", "/AA", "/EmbeddedFiles", "/EF"}
    found = []
    size: Any = reader.trailer["/Size"]
    for idnum in range(1, int(size)):
        try:
            obj = reader.get_object(idnum)
        except Exception:
            continue
        stack: list[Any] = [obj]
        while stack:
            o = stack.pop()
            if isinstance(o, DictionaryObject):
                found += [k for k in o if k in bad]
                found += [
                    f"/S {v}" for k, v in o.items() if k == "/S" and v in ("/JavaScript", "/Launch")
                ]
                stack += [v for v in dict.values(o) if not isinstance(v, IndirectObject)]
            elif isinstance(o, ArrayObject):
                stack += [v for v in o if not isinstance(v, IndirectObject)]
    assert found == []
    assert b"app.alert" not in bundle[0] and b"calc.exe" not in bundle[0]


def test_unicode_names_render(bundle: tuple[bytes, PdfLayout]) -> None:
    data, layout = bundle
    if not layout.unicode_font:
        pytest.skip("DejaVu Sans is not installed (Debian: fonts-dejavu-core)")
    cover = read(data).pages[0].extract_text()
    assert "Vuković" in cover


def test_without_a_unicode_font_text_is_transliterated_and_marked() -> None:
    data, layout = make(fonts=Fonts(None))
    assert not layout.unicode_font
    reader = read(data)
    cover = reader.pages[0].extract_text()
    assert "Vukovic [~]" in cover and "transliterated" in cover
    continuity = reader.pages[layout.continuity["BG-EX-0001"].first - 1].extract_text()
    assert "Djordje Vukovic [~]" in continuity


def test_odd_page_boxes_and_rotations_are_stamped_inside_the_visible_area() -> None:
    def odd(w: PdfWriter) -> None:
        w.pages[0].cropbox = RectangleObject([100, 200, 400, 600])  # inside a shifted MediaBox
        w.pages[1].rotate(180)
        w.pages[2].rotate(270)
        w.pages[3].mediabox = RectangleObject([0, 0, 60, 40])  # a tiny page
        w.pages[3].cropbox = RectangleObject([0, 0, 60, 40])
        w.pages[4][NameObject("/Rotate")] = NumberObject(-90)  # means 270

    data = rewrite(fpdf_pdf(5, "odd"), odd)
    out, layout = make(rows=[], continuity={}, exhibits=[exhibit("BG-EX-0001", data, "odd.pdf")])
    reader = read(out)
    for index in range(layout.exhibits[0].pages.first - 1, layout.page_count):
        page = reader.pages[index]
        box = [float(v) for v in page.cropbox]
        spots: list[tuple[str, float, float]] = []

        def seen(
            text: str,
            cm: list[float],
            tm: list[float],
            font: Any,
            size: Any,
            spots: list[Any] = spots,
        ) -> None:
            found = BATES.search(text)
            if found:  # where the run starts, in default user space
                x = tm[4] * cm[0] + tm[5] * cm[2] + cm[4]
                y = tm[4] * cm[1] + tm[5] * cm[3] + cm[5]
                spots.append((found.group(), x, y))

        page.extract_text(visitor_text=seen)
        assert [t for t, _, _ in spots] == [f"{PREFIX}-{index + 1:06d}"], index
        _, x, y = spots[0]
        assert box[0] <= x <= box[2] and box[1] <= y <= box[3], (index, box, x, y)


def test_internal_links_of_an_exhibit_point_at_its_new_pages() -> None:
    data, layout = make(
        rows=[], continuity={}, exhibits=[exhibit("BG-EX-0001", linked_pdf(), "linked.pdf")]
    )
    reader = read(data)
    first = layout.exhibits[0].pages.first
    annots: Any = reader.pages[first - 1]["/Annots"]
    dest = annots[0].get_object()["/Dest"]
    assert reader.get_page_number(dest[0].get_object()) == first  # the exhibit's page 2


def test_an_exhibit_that_fails_while_stamping_is_rolled_back() -> None:
    def bad_resources(w: PdfWriter) -> None:
        w.pages[1][NameObject("/Resources")] = NumberObject(7)

    broken = rewrite(fpdf_pdf(2, "MARKER-ROLLBACK", compress=False), bad_resources)
    good = fpdf_pdf(1, "good")
    data, layout = make(
        rows=[],
        continuity={},
        exhibits=[
            exhibit("BG-EX-0001", broken, "broken.pdf"),
            exhibit("BG-EX-0002", good, "good.pdf"),
        ],
    )
    assert layout.exhibit("BG-EX-0001").reason == "its page resources are malformed"
    assert layout.exhibit("BG-EX-0002").merged
    assert len(read(data).pages) == layout.page_count
    assert b"MARKER-ROLLBACK" not in data  # nothing of the broken exhibit was written


def test_limits_and_the_source_is_read_once_and_closed() -> None:
    opened: list[io.BytesIO] = []

    def source() -> io.BytesIO:
        opened.append(io.BytesIO(fpdf_pdf(3, "three")))
        return opened[-1]

    ex = ExhibitPdf("BG-EX-0001", source, None, "three.pdf", 100, digest("a"), digest("b"))
    _, layout = make(rows=[], continuity={}, exhibits=[ex], limits=Limits(max_pages=2))
    assert layout.exhibits[0].reason == "has 3 pages, more than the limit of 2 for merging"
    _, layout = make(rows=[], continuity={}, exhibits=[ex], limits=Limits(max_objects=5))
    assert layout.exhibits[0].reason == "has more than 5 objects, the limit for merging"
    _, layout = make(rows=[], continuity={}, exhibits=[ex], limits=Limits(max_bytes=50))
    assert layout.exhibits[0].reason == "larger than the limit of 50 bytes for merging"
    _, layout = make(rows=[], continuity={}, exhibits=[ex])
    assert layout.exhibits[0].merged
    assert len(opened) == 3 and all(s.closed for s in opened)  # the size limit needs no read
    forced = ExhibitPdf(
        "BG-EX-0001", source, "withheld: H3", "three.pdf", 100, digest("a"), digest("b")
    )
    _, layout = make(rows=[], continuity={}, exhibits=[forced])
    assert layout.exhibits[0].reason == "withheld: H3" and len(opened) == 3


def test_bad_input_is_refused_with_a_clear_error() -> None:
    with pytest.raises(InputError, match="Bates prefix"):
        make(bates_prefix="danube fr")
    twice = [exhibit("BG-EX-0001", None, "a.jpg"), exhibit("BG-EX-0001", None, "b.jpg")]
    with pytest.raises(InputError, match="BG-EX-0001"):
        make(exhibits=twice)
    naive = Cover(
        **{**{f: getattr(COVER, f) for f in Cover.__slots__}, "created_at": datetime(2026, 1, 1)}
    )
    with pytest.raises(InputError, match="UTC offset"):
        make(cover=naive)


def test_a_bundle_without_exhibits_or_continuity() -> None:
    data, layout = make(rows=[], continuity={}, exhibits=[])
    assert (layout.page_count, layout.exhibits, layout.continuity) == (2, (), {})
    reader = read(data)
    assert "No exhibits." in reader.pages[1].extract_text()
    assert read(data).page_labels == ["Cover", "S-1"]


def test_an_error_of_the_source_is_not_hidden_by_a_placeholder() -> None:
    def failing() -> bytes:
        raise OSError("store unreachable")

    ex = ExhibitPdf("BG-EX-0001", failing, None, "a.pdf", 10, digest("a"), digest("b"))
    with pytest.raises(OSError, match="store unreachable"):
        make(rows=[], continuity={}, exhibits=[ex])


def test_the_bytes_do_not_depend_on_the_process(bundle: tuple[bytes, PdfLayout]) -> None:
    """Another interpreter, another hash seed: the same bytes."""
    code = (
        "import hashlib, sys\n"
        "from tests.unit.test_bundle_pdf import make\n"
        "sys.stdout.write(hashlib.sha256(make()[0]).hexdigest())\n"
    )
    root = Path(__file__).resolve().parents[2]
    done = subprocess.run(
        [sys.executable, "-W", "error", "-c", code],
        capture_output=True,
        text=True,
        cwd=root,
        env={**os.environ, "PYTHONHASHSEED": "12345"},
        check=True,
    )
    assert done.stdout == hashlib.sha256(bundle[0]).hexdigest()


class Pipe(io.RawIOBase):
    """A stream that cannot tell its position, like a pipe or a ZIP entry."""

    def __init__(self) -> None:
        self.data = bytearray()

    def writable(self) -> bool:
        return True

    def write(self, b: Any) -> int:
        self.data += bytes(b)
        return len(b)

    def tell(self) -> int:
        raise io.UnsupportedOperation("no tell on a pipe")


def test_a_stream_without_tell_gets_the_same_bytes(bundle: tuple[bytes, PdfLayout]) -> None:
    pipe = Pipe()
    build(pipe, **inputs())  # type: ignore[arg-type]
    assert bytes(pipe.data) == bundle[0]


@pytest.mark.parametrize("fonts", [None, Fonts(None)], ids=["dejavu", "core-fonts"])
def test_text_the_fonts_cannot_show_never_breaks_the_build(fonts: Fonts | None) -> None:
    odd = "tab\t nul\x00 emoji 😀 CJK 証拠 Hebrew שלום e\u0301 Ђорђе " + "x" * 300
    data, layout = make(
        cover=Cover(odd, odd, odd, odd, odd, odd, AT, odd),
        rows=[ScheduleRow(1, "BG-EX-0001", odd * 3, odd, 1, digest("a"), digest("b"))],
        continuity={"BG-EX-0001": [ContinuityEntry(1, AT, odd, odd, odd, [odd] * 20)]},
        exhibits=[ExhibitPdf("BG-EX-0001", None, odd, odd, 1, odd, odd, odd)],
        fonts=fonts,
    )
    assert len(read(data).pages) == layout.page_count
    assert layout.exhibits[0].pages.count == 1  # the placeholder stays one page


def test_only_compat_touches_pypdf_internals() -> None:
    """pypdf's private attributes (``writer._objects``, ``_add_object``...) are
    used in evidence/bundle/pdf/compat.py and nowhere else in the subtree, and
    no module reaches into another object's private parts (``self`` aside)."""
    bundle = Path(__file__).resolve().parents[2] / "evidence" / "bundle"
    found = []
    for path in sorted(bundle.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            name = None
            if isinstance(node, ast.Attribute) and node.attr.startswith("_"):
                owner = node.value
                if not (isinstance(owner, ast.Name) and owner.id in ("self", "cls")):
                    name = node.attr
            elif isinstance(node, ast.Constant) and isinstance(node.value, str):
                name = node.value if re.fullmatch(r"_[a-z][a-z_]*", node.value) else None
            if name and not name.startswith("__"):
                found.append((path.relative_to(bundle).as_posix(), name))
    assert {path for path, _ in found} == {"pdf/compat.py"}, found
    assert {name for _, name in found} == {
        "_add_object",
        "_objects",
        "_resolve_links",
        "_unresolved_links",
        "_merged_in_pages",
        "_ID",
    }
