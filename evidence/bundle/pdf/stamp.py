"""Bates stamps: added content, not a re-written page. A page's content
streams are kept byte for byte, wrapped in ``q``/``Q``, and followed by a
small stream drawing the stamp in Courier (WinAnsi): the Bates number on the
right, the exhibit reference on the left, in the bottom margin of the page as
it is displayed (CropBox within MediaBox, ``/Rotate``, ``/UserUnit``)."""

from __future__ import annotations

from typing import Any, cast

from pypdf import PageObject, PdfWriter
from pypdf.generic import (
    ArrayObject,
    DecodedStreamObject,
    DictionaryObject,
    IndirectObject,
    NameObject,
    NullObject,
    StreamObject,
)

from evidence.bundle.pdf import compat
from evidence.bundle.pdf.sanitize import Unmergeable

STAMP_FONT = "/JitevStamp"


class Stamper:
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
        self.font = compat.add_object(writer, font)
        self.opening = self._stream(b"q\n")

    def _stream(self, data: bytes) -> IndirectObject:
        stream = DecodedStreamObject()
        stream.set_data(data)
        return compat.add_object(self.writer, stream)

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
            return [
                raw if isinstance(raw, IndirectObject) else compat.add_object(self.writer, value)
            ]
        if isinstance(value, ArrayObject):
            return list(value)
        raise Unmergeable("its page contents are malformed")


def _dict(holder: DictionaryObject, key: str, malformed: str) -> DictionaryObject:
    value = holder.get(key)
    value = value.get_object() if value is not None else None
    if value is None or isinstance(value, NullObject):
        value = DictionaryObject()
        holder[NameObject(key)] = value
    if not isinstance(value, DictionaryObject):
        raise Unmergeable(malformed)
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
        raise Unmergeable("its page has no visible area")
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
    left = ascii_text(label or "")[:64]
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


def ascii_text(text: str) -> str:
    """Printable ASCII; any other character is a ``?``."""
    return "".join(c if " " <= c <= "~" else "?" for c in text)


def _pdf_string(text: str) -> str:
    return text.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")
