"""``jitev demo``: Operation Danube on the embedded defaults (local write-once
store, SQLite, Prefect's local mode). The evidence set is generated, small and
deterministic, so a second run finds the same content again and records it
as DUPLICATE_SEEN instead of failing or making new exhibits."""

from __future__ import annotations

import csv
import io
import random
import struct
import zlib
from datetime import UTC, datetime, timedelta
from pathlib import Path

from rich.console import Console

from app import actions, render
from config.jit import load as load_jit
from config.wiring import Wiring
from evidence import access
from evidence.bundle.verify import verify_bundle
from evidence.ledger import verify
from evidence.models import Person, Transfer
from evidence.visibility import continuity, visible_exhibits, visible_transfers
from storage.passwords import Argon2Hasher

JIT_FILE = Path(__file__).resolve().parents[1] / "config" / "jit.example.toml"
CASE = "DANUBE"


def png(width: int, height: int, seed: int) -> bytes:
    """A small, valid RGB PNG with a deterministic pattern (a stand-in photo)."""
    rng = random.Random(seed)
    base = [rng.randrange(256) for _ in range(3)]
    rows = bytearray()
    for y in range(height):
        rows.append(0)
        for x in range(width):
            rows += bytes(((base[0] + x) % 256, (base[1] + y) % 256, (base[2] + x * y // 7) % 256))

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
        )

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(bytes(rows), 9))
        + chunk(b"IEND", b"")
    )


def pdf(lines: list[str]) -> bytes:
    """A one-page PDF with text lines, written by hand (no generator needed)."""
    text = (
        "BT /F1 11 Tf 56 780 Td 14 TL "
        + " ".join(
            "(" + line.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)") + ") '"
            for line in lines
        )
        + " ET"
    )
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Contents 4 0 R "
        b"/Resources << /Font << /F1 5 0 R >> >> >>",
        b"<< /Length %d >>\nstream\n" % len(text) + text.encode("latin-1") + b"\nendstream",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    out = io.BytesIO()
    out.write(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(out.tell())
        out.write(b"%d 0 obj\n" % number + body + b"\nendobj\n")
    xref = out.tell()
    out.write(b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1))
    for offset in offsets:
        out.write(b"%010d 00000 n \n" % offset)
    out.write(
        b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref)
    )
    return out.getvalue()


def chat_export() -> str:
    start = datetime(2026, 1, 12, 21, 4, tzinfo=UTC)
    lines = [
        ("Marko", "Are the two vans ready for Thursday?"),
        ("Ivo", "Yes. Border at Kapitan Andreevo at 03:00, same as last time"),
        ("Marko", "Paperwork says textiles. Keep the invoices from Sofia"),
        ("Ivo", "Payment to the Podgorica account first, 14,500 EUR"),
        ("Marko", "Sent. Reference INV-4471"),
        ("Ivo", "Five people this time, two from the Bar group"),
        ("Marko", "Delete this chat after"),
    ]
    return (
        "\n".join(
            f"[{(start + timedelta(minutes=7 * i)).strftime('%d/%m/%Y, %H:%M')}] {who}: {text}"
            for i, (who, text) in enumerate(lines)
        )
        + "\n"
    )


def transactions() -> str:
    rng = random.Random(4471)
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["date", "from_iban", "to_iban", "amount_eur", "reference"])
    day = datetime(2025, 11, 1, tzinfo=UTC)
    for i in range(60):
        day += timedelta(days=rng.randrange(1, 4))
        writer.writerow(
            [
                day.date().isoformat(),
                f"BG80BNBG9661{rng.randrange(10**10):010d}",
                f"ME25505{rng.randrange(10**13):013d}",
                f"{rng.randrange(900, 15000)}.00",
                f"INV-{4400 + i}",
            ]
        )
    return out.getvalue()


def evidence_set(root: Path) -> dict[str, list[str]]:
    """Write the seized material; return the paths each team ingests."""
    phone = root / "BG" / "phone-01"
    (root / "ME").mkdir(parents=True, exist_ok=True)
    (phone / "chats").mkdir(parents=True, exist_ok=True)
    (phone / "photos").mkdir(parents=True, exist_ok=True)
    files: dict[Path, bytes] = {
        phone / "chats" / "whatsapp-export.txt": chat_export().encode(),
        phone / "photos" / "IMG_0001.png": png(320, 240, 1),
        phone / "photos" / "IMG_0002.png": png(320, 240, 2),
        # A PDF saved as .jpg: recorded by its content as application/pdf.
        phone / "photos" / "scan-0003.jpg": pdf(
            ["Bill of lading BL-2026-0112", "Consignee: Adriatic Textiles DOO, Bar"]
        ),
        root / "BG" / "invoice-4471.pdf": pdf(
            [
                "INVOICE INV-4471",
                "Seller: Danube Trade EOOD, Sofia",
                "Buyer: Adriatic Textiles DOO, Bar",
                "Textiles, 2 vans ............ 14,500.00 EUR",
            ]
        ),
        root / "ME" / "bank-transactions.csv": transactions().encode(),
        root / "ME" / "lease-agreement.pdf": pdf(
            [
                "LEASE AGREEMENT",
                "Warehouse, Industrijska zona, Bar",
                "Tenant: Adriatic Textiles DOO",
            ]
        ),
    }
    for path, data in files.items():
        if not path.exists() or path.read_bytes() != data:
            path.write_bytes(data)
    (root / "BG" / "manifest.csv").write_text(
        "path,title,seized_at,seized_by,seized_from,description\n"
        "phone-01/chats/whatsapp-export.txt,WhatsApp export of phone 01,2026-03-14T06:10:00+02:00,"
        'Insp. Petrova,"Vehicle CA 4471 KX, Kapitan Andreevo",Chat export made with the seizing tool\n'
        "invoice-4471.pdf,Invoice INV-4471,2026-03-14T08:00:00+02:00,Insp. Petrova,"
        "Danube Trade EOOD office,Paper invoice found in the driver's cabin\n"
    )
    return {
        "BG": [str(phone), str(root / "BG" / "invoice-4471.pdf")],
        "ME": [
            str(root / "ME" / "bank-transactions.csv"),
            str(root / "ME" / "lease-agreement.pdf"),
        ],
    }


def run(w: Wiring, console: Console) -> None:
    console.rule("[bold]Operation Danube[/] — a JIT of Bulgaria, Montenegro and France")
    render.setup(console, console, actions.setup_jit(w, load_jit(JIT_FILE), str(JIT_FILE), None))
    evidence = w.settings.home / "demo-evidence"
    paths = evidence_set(evidence)
    console.rule("BG ingests the seized phone and the invoice")
    ingest(
        w,
        console,
        "Insp. Petrova",
        paths["BG"],
        manifest=str(evidence / "BG" / "manifest.csv"),
        description="Seized at the Kapitan Andreevo border crossing",
    )
    console.rule("ME ingests the bank records and the warehouse lease")
    ingest(
        w,
        console,
        "Insp. Vuković",
        paths["ME"],
        seized_by="Insp. Vuković",
        seized_from="Adriatic Textiles DOO, Bar",
    )
    if w.catalog.transfers(CASE):
        console.rule("Hand-offs (made by an earlier run of the demo)")
        render.transfers(console, visible_transfers(w.catalog, person(w, "Cdt. Laurent"), CASE))
    else:
        handoffs_story(w, console)
    moreau = person(w, "Lt. Moreau")
    console.rule("What FR holds now")
    render.exhibits(console, visible_exhibits(w.catalog, moreau, CASE))
    console.rule("Continuity of BG-EX-0001, as FR sees it")
    exhibit, events = continuity(w.catalog, moreau, "BG-EX-0001", CASE)
    render.continuity(console, exhibit, events, w.catalog.holdings(CASE).get("BG-EX-0001", []))
    console.rule("Ledger verification by the auditor")
    for report in actions.verify_cases(w, person(w, "Aud. Keller"), CASE):
        render.report(console, report)
    disclose(w, console)
    web_passwords(w, console)


def person(w: Wiring, name: str) -> Person:
    return w.catalog.person(name)


def ingest(w: Wiring, console: Console, by: str, paths: list[str], **fields: str) -> None:
    """Ingest as ``by``, with the progress bar and the table of exhibits."""
    manifest = fields.pop("manifest", None)
    with render.ingest_bar(console) as bar:
        result = actions.ingest(
            w,
            person(w, by),
            case_id=CASE,
            paths=paths,
            fields=dict(fields),
            manifest=manifest,
            progress=bar,
        )
    render.ingest_result(console, result, verify(CASE, w.catalog.events(CASE)))


# The demo's web password for everyone. A demo convenience only: a real JIT
# sets each person's own with `jitev people passwd`.
DEMO_PASSWORD = "danube-demo-2026"


def web_passwords(w: Wiring, console: Console) -> None:
    """Give every demo person the demo password, and say how to open the web UI."""
    hasher = Argon2Hasher()
    for someone in w.catalog.people():
        if w.catalog.password_hash(someone.name) is None:
            access.set_password(w.catalog, hasher, None, someone.name, DEMO_PASSWORD)
    console.rule("The web interface")
    console.print(
        "Start it on the demo data with [bold]make serve[/] "
        f"(or: JITEV_HOME={w.settings.home} jitev serve)\n"
        f"Then open http://{w.settings.web.host}:{w.settings.web.port}/ and log in with the "
        f"demo password [bold]{DEMO_PASSWORD}[/] as one of:\n"
        "  Insp. Petrova (BG investigator: upload, exhibits, hand-off requests)\n"
        "  Cdt. Laurent  (FR lead, the JIT lead: the hand-off queue)\n"
        "  Pr. Dubois    (FR prosecutor: disclosure bundles)\n"
        "  Aud. Keller   (FR auditor: ledger verification, event search, access log)\n"
        "The JSON API is under /api/v1 (schema: /api/v1/openapi.json, docs: /api/v1/docs)."
    )


def disclose(w: Wiring, console: Console) -> None:
    """FR's prosecutor bundles what FR holds; anyone can verify it offline."""
    dubois = person(w, "Pr. Dubois")
    made = [b for b in w.catalog.bundles(CASE) if b.team == "FR"]
    if made:
        bundle = made[0]
        console.rule(f"FR's disclosure bundle (made by an earlier run: {bundle.id})")
    else:
        console.rule("FR's prosecutor creates a disclosure bundle of everything FR holds")
        bundle = actions.create_bundle(w, dubois, CASE, None)
        render.bundle(console, bundle)
    target = w.settings.home / "bundles" / actions.bundle_name(bundle, False)
    if not target.exists():
        target.parent.mkdir(parents=True, exist_ok=True)
        partial = target.with_name(f".{target.name}.part")
        with partial.open("wb") as out:
            actions.download_bundle(w, dubois, bundle.id, out.write, False)
        partial.rename(target)
        console.print(f"{bundle.id} → {target}")
    console.rule("Offline verification of the bundle, with nothing but the ZIP")
    report = verify_bundle(str(target))
    render.report(console, report)
    console.print("[green]PASS: the bundle verifies[/]" if report.ok else "[bold red]FAIL[/]")
    console.print(
        f"\nThe bundle is at {target}: unzip it, then `bagit.py --validate`, "
        "`sha256sum -c checksums.sha256` and `b3sum --check checksums.b3` in its data/."
    )


def _by_path(w: Wiring, team: str) -> dict[str, str]:
    return {e.relative_path: e.reference for e in w.catalog.exhibits(CASE, team)}


def _show(w: Wiring, console: Console, transfer: Transfer) -> None:
    render.transfer(console, transfer, actions.receipt_check(w, transfer))


def handoffs_story(w: Wiring, console: Console) -> None:
    petrova, laurent = person(w, "Insp. Petrova"), person(w, "Cdt. Laurent")
    georgiev = person(w, "Cmsr. Georgiev")
    bg = _by_path(w, "BG")
    to_fr = [
        bg["phone-01/chats/whatsapp-export.txt"],
        bg["phone-01/photos/scan-0003.jpg"],
        bg["invoice-4471.pdf"],
    ]
    console.rule("BG asks to hand three exhibits to FR for the JIT's purposes")
    first = actions.request_transfer(
        w,
        petrova,
        case_id=CASE,
        references=to_fr,
        to_team="FR",
        note="For the FR financial investigation of Adriatic Textiles",
    )
    _show(w, console, first)
    console.rule("The JIT lead approves: dispatch copies and reads back every exhibit")
    approved, dispatched = actions.approve(
        w,
        laurent,
        first.id,
        "Within the JIT's purposes",
        then_dispatch=lambda t: actions.dispatch(w, laurent, t),
    )
    _show(w, console, dispatched or approved)
    console.rule("FR receives and signs its receipt")
    _show(w, console, actions.receive(w, person(w, "Lt. Moreau"), first.id))

    photo = bg["phone-01/photos/IMG_0001.png"]
    basis = "ME request 2026/ME-114 under Art. 13(10) of the 2000 MLA Convention"
    for attempt, consent in (
        (1, "The photo identifies a BG witness: not for a separate ME case yet"),
        (2, "Consent given after ME's assurance of witness protection"),
    ):
        console.rule(f"ME needs {photo} for another offence: request {attempt}")
        request = actions.request_transfer(
            w,
            petrova,
            case_id=CASE,
            references=[photo],
            to_team="ME",
            purpose="other_offence",
            legal_basis=basis,
            note="Suspected document fraud in Bar, outside the JIT's offences",
        )
        _show(w, console, request)
        approved, _ = actions.approve(
            w, laurent, request.id, "Needs BG's consent", then_dispatch=None
        )
        _show(w, console, approved)
        if attempt == 1:
            console.rule("BG's lead refuses consent")
            _show(w, console, actions.reject(w, georgiev, request.id, consent))
        else:
            console.rule("BG's lead consents: the transfer is dispatched")
            # BG's lead may dispatch (the sending team): the last approval dispatches.
            approved, dispatched = actions.approve(
                w,
                georgiev,
                request.id,
                consent,
                then_dispatch=lambda t: actions.dispatch(w, georgiev, t),
            )
            _show(w, console, dispatched or approved)
            _show(w, console, actions.receive(w, person(w, "Insp. Vuković"), request.id))
    console.rule("The receipts")
    for t in w.catalog.transfers(CASE):
        if t.receipt is not None:
            _show(w, console, t)
