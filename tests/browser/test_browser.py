"""The web UI in a real browser (Chromium, through Playwright), one exhibit's
way through the JIT as the people of config/jit.example.toml do it:

1. Insp. Petrova (BG) uploads two files to case DANUBE; the page shows each
   exhibit's reference and the SHA-256 and BLAKE3 the server computed, which
   must be the files' own.
2. She opens the photo's exhibit page (continuity, preview) and requests its
   hand-off to FR.
3. Cdt. Laurent, the JIT lead, approves it on /handoffs; the dispatch runs as
   a Prefect flow run until the transfer is dispatched; then, as a lead of
   FR, he receives it (FR re-reads its copy and signs the receipt).
4. Pr. Dubois (FR) builds a disclosure bundle of it; the bundle page shows
   the verification report; the downloaded ZIP passes ``jitev bundle verify``.
5. Aud. Keller sees DANUBE's custody chain verified on /ledger, and who read
   the photo's bytes (the preview, the bundle download).

Screenshots of the main pages are saved as test artifacts (``screenshots`` in
conftest.py); docs/screenshots/handoff-queue.png in the README is a copy of
one of them, refreshed by hand.
"""

from __future__ import annotations

import hashlib
import re
import struct
import subprocess
import sys
import zlib
from pathlib import Path
from typing import Any

import blake3
import pytest

from tests.browser.conftest import VIEWPORT
from tests.fixtures_web import PASSWORD, Served

pytestmark = pytest.mark.usefixtures("prefect_harness")

WAIT = 120_000  # ms: the most a step may take before the test gives up (not a timing check)
DISPATCH_RELOADS = 240  # reloads of /handoffs, half a second apart, before giving up

JITEV = str(Path(sys.executable).parent / "jitev")


def png(width: int, height: int) -> bytes:
    """A small valid PNG: a blue-to-green gradient with a red diagonal."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    rows = b""
    for y in range(height):
        row = bytearray([0])  # filter: none
        for x in range(width):
            red = 220 if abs(x - y) < 3 else 20
            row += bytes([red, 255 * y // height, 255 * x // width])
        rows += bytes(row)
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(rows))
        + chunk(b"IEND", b"")
    )


def log_in(page: Any, url: str, name: str) -> None:
    page.goto(f"{url}/login")
    page.fill("#name", name)
    page.fill("#password", PASSWORD)
    page.click("#login")
    page.wait_for_url(lambda u: "/login" not in u)
    assert name in page.locator("header .who").inner_text()


def log_out(page: Any) -> None:
    page.click("#logout")
    page.wait_for_url(re.compile(r"/login$"))
    assert page.locator("#logout").count() == 0


def shot(page: Any, where: Path, name: str) -> Path:
    path = where / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


def test_exhibit_from_upload_to_verified_bundle(
    browser: Any, served: Served, tmp_path: Path, screenshots: Path
) -> None:
    from playwright.sync_api import expect

    url = served.url
    photo = tmp_path / "IMG_0412.png"
    photo.write_bytes(png(96, 64))
    statement = tmp_path / "witness-statement.txt"
    statement.write_text("Witness: the vans left the depot at Ruse on Thursday night.\n")

    context = browser.new_context(viewport=VIEWPORT, accept_downloads=True)
    page = context.new_page()
    try:
        # 1. Insp. Petrova uploads the two files to DANUBE.
        page.goto(f"{url}/login")
        expect(page.locator("h1")).to_have_text("Log in")
        shot(page, screenshots, "01-login")
        log_in(page, url, "Insp. Petrova")
        page.wait_for_url(re.compile(r"/upload$"))  # an investigator's first page
        page.select_option("#case", "DANUBE")
        page.set_input_files("#files", [str(photo), str(statement)])
        page.click("#start")
        rows = page.locator("#results tbody tr")
        expect(rows).to_have_count(2)
        for row in rows.all():
            expect(row.locator("td.reference")).to_have_text(re.compile(r"\S"), timeout=WAIT)
            expect(row.get_by_role("progressbar")).to_have_attribute("value", "1")
        uploaded: dict[str, dict[str, str]] = {}
        for row in rows.all():
            name = row.locator("td").first.inner_text().strip()
            uploaded[name] = {
                "reference": row.locator("td.reference").inner_text().strip(),
                "sha256": row.locator("td.sha256").inner_text().strip(),
                "blake3": row.locator("td.blake3").inner_text().strip(),
            }
        assert set(uploaded) == {photo.name, statement.name}
        for f in (photo, statement):
            data = f.read_bytes()
            assert uploaded[f.name]["sha256"] == hashlib.sha256(data).hexdigest()
            assert uploaded[f.name]["blake3"] == blake3.blake3(data).hexdigest()
        assert uploaded[photo.name]["reference"] != uploaded[statement.name]["reference"]
        expect(page.locator("#upload-error")).to_be_hidden()
        shot(page, screenshots, "02-upload-results")

        # 2. The photo's exhibit page: continuity, preview, then a hand-off to FR.
        reference = uploaded[photo.name]["reference"]
        kept_back = uploaded[statement.name]["reference"]
        page.goto(f"{url}/exhibits/{reference}")
        expect(page.locator("h1")).to_contain_text(reference)
        expect(page.locator("#sha256")).to_have_text(uploaded[photo.name]["sha256"])
        expect(page.locator("#blake3")).to_have_text(uploaded[photo.name]["blake3"])
        expect(page.locator("#continuity li").first).to_contain_text("INGESTED")
        expect(page.locator("#continuity li").first).to_contain_text("Insp. Petrova")
        preview = page.locator(".preview img")
        expect(preview).to_be_visible()
        page.wait_for_function(
            "img => img.complete && img.naturalWidth > 0",
            arg=preview.element_handle(),
            timeout=WAIT,
        )
        assert preview.evaluate("img => [img.naturalWidth, img.naturalHeight]") == [96, 64]
        shot(page, screenshots, "03-exhibit")
        page.screenshot(path=str(screenshots / "exhibit-viewport.png"))  # 1280x800
        page.select_option("#to_team", "FR")
        page.select_option("#request-handoff select[name=purpose]", "jit")
        page.fill("#note", "For the French judicial file on the Ruse depot")
        page.click("#request")
        page.wait_for_url(re.compile(r"/handoffs$"))
        mine = page.locator("#history tbody tr", has_text=reference)
        expect(mine).to_have_count(1)
        expect(mine.locator("td").nth(3)).to_have_text("requested")
        transfer_id = mine.locator("td").first.inner_text().strip()
        assert transfer_id.startswith("DANUBE-T-")
        log_out(page)

        # 3. Cdt. Laurent, the JIT lead, approves; the dispatch flow run hands it over.
        log_in(page, url, "Cdt. Laurent")
        page.wait_for_url(re.compile(r"/handoffs$"))  # a lead's first page
        request = page.locator(f"#queue-{transfer_id}")
        expect(request).to_be_visible()
        expect(request.locator("h3")).to_contain_text("BG → FR")
        facts = request.locator("dl.facts")
        expect(facts).to_contain_text("Purpose")
        expect(facts.locator("dd").first).to_contain_text("jit")
        expect(facts).to_contain_text("JIT lead")
        expect(facts).to_contain_text("Origin consent")
        expect(facts.locator("dd").last).to_have_text("not needed")  # H0 for jit: agreed in advance
        item = request.locator("table tbody tr")
        expect(item).to_have_count(1)
        expect(item).to_contain_text(reference)
        expect(item).to_contain_text("H0")
        expect(item).to_contain_text(photo.name)
        # 1280x800: docs/screenshots/handoff-queue.png in the README is a copy of it
        page.screenshot(path=str(screenshots / "handoff-queue-viewport.png"))
        shot(page, screenshots, "04-handoff-queue")
        request.get_by_label(f"Reason for approving {transfer_id}").fill(
            "Within the JIT agreement, art. 4"
        )
        request.get_by_role("button", name="Approve").click()
        page.wait_for_url(re.compile(r"/handoffs$"))
        expect(page.locator(f"#queue-{transfer_id}")).to_have_count(0)
        state = page.locator(f"#transfer-{transfer_id} td").nth(3)
        seen = []
        for _ in range(DISPATCH_RELOADS):
            seen.append(state.inner_text().strip())
            if seen[-1] in ("dispatched", "received") or seen[-1].startswith("failed"):
                break
            page.wait_for_timeout(500)
            page.reload()
        assert seen[-1] == "dispatched", f"the transfer went {seen}"
        decisions = page.locator(f"#transfer-{transfer_id} td").nth(5)
        expect(decisions).to_contain_text("Cdt. Laurent approved as jit_lead")
        expect(decisions).to_contain_text("Within the JIT agreement, art. 4")
        shot(page, screenshots, "05-handoff-dispatched")
        # FR re-reads its copies and signs its receipt: only then does FR hold the photo.
        page.locator(f"#transfer-{transfer_id}").get_by_role(
            "button", name="Receive and sign"
        ).click()
        page.wait_for_url(re.compile(r"/handoffs$"))
        expect(state).to_have_text("received")
        log_out(page)

        # 4. Pr. Dubois (FR) builds a bundle of what FR now holds, and checks it.
        log_in(page, url, "Pr. Dubois")
        page.wait_for_url(re.compile(r"/bundles$"))  # a prosecutor's first page
        held = page.locator("#new-bundle input[name=exhibits]")
        expect(held).to_have_count(1)  # FR holds the photo only: the statement stayed in BG
        assert held.get_attribute("value") == reference
        assert page.locator(f"#new-bundle input[value='{kept_back}']").count() == 0
        page.check("#new-bundle input[name=case][value=DANUBE]")
        page.check(f"#new-bundle input[name=exhibits][value='{reference}']")
        page.click("#build")
        page.wait_for_url(re.compile(r"/jobs/[\w-]+$"))
        expect(page.locator("#job-state")).to_have_text("COMPLETED", timeout=WAIT)
        page.click("#bundle-link")
        page.wait_for_url(re.compile(r"/bundles/DANUBE-FR-B-\d+$"))
        expect(page.locator("#verdict")).to_contain_text("Verified")
        checks = page.locator("#checks tbody tr")
        assert checks.count() > 0
        expect(page.locator("#checks td.error")).to_have_count(0)
        expect(page.locator("dl.facts")).to_contain_text(reference)
        shot(page, screenshots, "06-bundle")
        with page.expect_download(timeout=WAIT) as download_info:
            page.click("#download-bundle")
        download = download_info.value
        zip_path = tmp_path / download.suggested_filename
        download.save_as(zip_path)
        assert zip_path.suffix == ".zip"
        shown = page.locator("#bundle-sha256").inner_text().strip()
        assert hashlib.sha256(zip_path.read_bytes()).hexdigest() == shown
        verify = subprocess.run(
            [JITEV, "bundle", "verify", str(zip_path)], capture_output=True, text=True, timeout=300
        )
        assert verify.returncode == 0, verify.stdout + verify.stderr
        log_out(page)

        # 5. Aud. Keller: the case's custody chain is intact.
        log_in(page, url, "Aud. Keller")
        page.wait_for_url(re.compile(r"/ledger$"))  # an auditor's first page
        danube = page.locator("#chains tbody tr", has_text="DANUBE")
        expect(danube).to_have_count(1)
        expect(danube.locator("td").nth(1)).to_have_text("verified")
        expect(danube.locator("button", has_text="Full verification")).to_have_count(1)
        # Who read the photo's bytes: Petrova's preview, Dubois' bundle download.
        page.select_option("#search select[name=case]", "DANUBE")
        page.fill("#search input[name=action]", "ACCESSED")
        page.fill("#search input[name=exhibit]", reference)
        page.click("#search button[type=submit]")
        accessed = page.locator("#events tbody tr")
        expect(accessed.filter(has_text="Insp. Petrova")).to_have_count(1)
        bundle_read = accessed.filter(has_text="Pr. Dubois")
        expect(bundle_read).to_have_count(1)
        expect(bundle_read).to_contain_text(zip_path.stem)  # the bundle's id
        shot(page, screenshots, "07-ledger")
        log_out(page)
    finally:
        context.close()
