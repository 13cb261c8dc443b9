from __future__ import annotations

import pytest

from app.demo import pdf, png
from evidence.mediatype import sniff


@pytest.mark.parametrize(
    ("head", "expected"),
    [
        (png(4, 4, 1), "image/png"),
        (pdf(["hello"]), "application/pdf"),
        (b"\xff\xd8\xff\xe0\x00\x10JFIF\x00", "image/jpeg"),
        (b"PK\x03\x04" + b"\x00" * 40, "application/zip"),
        (b"date,amount\n2026-01-01,10\n2026-01-02,20\n", "text/csv"),
        (b'{"messages": [{"from": "Marko"', "application/json"),
        ("[12/01/2026, 21:04] Marko: Здравей, готови ли са?\n".encode(), "text/plain"),
        (b"\x00\x01\x02\x03garbage\xfe", "application/octet-stream"),
        (b"", "application/x-empty"),
    ],
)
def test_media_type_comes_from_content(head: bytes, expected: str) -> None:
    assert sniff(head) == expected


def test_utf8_cut_mid_character_is_still_text() -> None:
    text = ("Здравей " * 2000).encode()[:8191]
    assert sniff(text) == "text/plain"
