"""Control characters in evidence are shown, never acted on, in every human
output: the CLI (tests/hostile/test_ingest.py), the web pages and bundle.pdf.
The stored value stays exactly as given."""

from __future__ import annotations

import io
from dataclasses import replace

import httpx
from pypdf import PdfReader

from config.wiring import Wiring
from evidence import uploads as ingesting
from evidence.bundle.pdf import build
from evidence.models import ExhibitMetadata
from evidence.shown import visible
from tests.fixtures_web import log_in
from tests.unit.test_bundle_pdf import inputs

HOSTILE = "\x1b[2J\x1b]0;owned\x07chat\r\nexport\u202etxt.exe\u2028\x9b"
SHOWN = "\\x1b[2J\\x1b]0;owned\\x07chat\\r\\nexport\\u202etxt.exe\\u2028\\x9b"
ACTING = ("\x1b", "\x07", "\r", "\u202e", "\u2028", "\x9b")


def test_visible_escapes_what_acts_on_a_display_and_keeps_the_rest() -> None:
    assert visible(HOSTILE) == SHOWN
    assert visible("Đorđe Vuković, 12 rue d'Ixelles") == "Đorđe Vuković, 12 rue d'Ixelles"
    assert visible("two\nlines\x1b", keep="\n") == "two\nlines\\x1b"


def test_the_pages_show_control_characters_and_the_catalog_keeps_them(
    jit: Wiring, client: httpx.Client
) -> None:
    outcome = ingesting.ingest_upload(
        jit.store,
        jit.catalog,
        case_id="DANUBE",
        actor="Insp. Petrova",
        name="export.txt",
        length=5,
        body=io.BytesIO(b"hello"),
        metadata=ExhibitMetadata(title=HOSTILE, description=f"first line\n{HOSTILE}"),
    )
    assert outcome.reference is not None
    assert jit.catalog.exhibit(outcome.reference, "DANUBE").title == HOSTILE
    log_in(client, "Insp. Petrova")
    for page in ("/exhibits", f"/exhibits/{outcome.reference}"):
        html = client.get(page).text
        assert visible(HOSTILE, keep="\n") in html, page  # a page keeps line breaks
        assert not any(c in html for c in ACTING), page


def test_bundle_pdf_shows_control_characters() -> None:
    parts = inputs()
    parts["rows"][0] = replace(parts["rows"][0], description=HOSTILE)
    out = io.BytesIO()
    build(out, **parts)
    text = "".join(page.extract_text() for page in PdfReader(io.BytesIO(out.getvalue())).pages)
    assert "\\x1b[2J" in text and "\\u202etxt.exe" in text
    assert not any(c in text for c in ("\x1b", "\x07", "\u202e", "\x9b"))
