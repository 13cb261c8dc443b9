"""Golden bytes: what jitev writes must not change by accident.

One fixed scenario runs through the real services on SQLite and the local
store, with a fixed clock, fixed team keys and ``uuid4`` drawn from a counter,
so that every byte it records is determined by its inputs. It produces every
custody action (and the access log's actions) the way the services record
them, then a disclosure bundle.

- ``tests/golden/custody.jsonl`` and ``tests/golden/access.jsonl`` are the
  canonical encodings (``evidence.ledger``) of every event, one a line: a
  change in what an action records, in its encoding or in its hash fails here.
- ``tests/golden/bundle.json`` holds the digests of the bundle ZIP and its
  sensitive schedule, built from that ledger and those inputs.

A change that is meant to alter these bytes regenerates them with
``JITEV_GOLDEN_WRITE=1`` and says why in its commit. The bundle's PDF embeds a
subset of DejaVu Sans (Debian ``fonts-dejavu-core``, installed by
``scripts/tools.sh``); the digests also pin the pypdf and fpdf2 versions
recorded beside them.
"""

from __future__ import annotations

import io
import json
import os
import stat
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from importlib.metadata import version
from pathlib import Path
from typing import Any

import pytest
from blake3 import blake3
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from config.jit import load as load_jit
from evidence import access, disclosure, fixity, handling, ledger, setup, transfers, visibility
from evidence import ingest as ingesting
from evidence.bundle.pdf import Fonts
from evidence.bundle.verify import verify_bundle
from evidence.errors import Denied
from evidence.ingest import Unreadable
from evidence.manifest import from_fields
from evidence.models import Action, CustodyEvent, Handling, HandlingCode, Purpose, Role
from evidence.tlog.notes import COSIGNATURE, NOTE_SIGNATURE, VerifierKey
from evidence.tlog.policy import Policy
from evidence.tlog.publish import Publication, publish
from evidence.tlog.witness import Witness
from storage.keys import TeamSigner
from storage.objects.local import LocalStore
from storage.passwords import Argon2Hasher
from storage.sql.catalog import SqlCatalog
from storage.witness_state import FileWitnessState
from storage.witnesses import LocalWitness

GOLDEN = Path(__file__).resolve().parents[1] / "golden"
JIT_FILE = Path(__file__).resolve().parents[2] / "config" / "jit.example.toml"
WRITE = os.environ.get("JITEV_GOLDEN_WRITE") == "1"
AT = datetime(2026, 3, 14, 9, 30, tzinfo=UTC)
CASE = "DANUBE"


class FixedClock:
    def now(self) -> datetime:
        return AT


def signer(team: str) -> TeamSigner:
    seed = blake3(f"golden team key {team}".encode()).digest()
    return TeamSigner(team, Ed25519PrivateKey.from_private_bytes(seed))


def witness(team: str, log_key: VerifierKey, folder: Path) -> LocalWitness:
    """Team ``team``'s witness with a fixed key and clock, its state in ``folder``."""
    key = signer(f"witness {team}")
    name = f"jitev.local/witness/{team}"
    state = FileWitnessState(folder / team)
    witnessing = Witness(
        VerifierKey(name, COSIGNATURE, bytes.fromhex(key.public_key)),
        key.sign,
        lambda origin: log_key if origin == log_key.name else None,
        state,
        lambda: int(AT.timestamp()),
    )
    return LocalWitness(team, witnessing)


def one_page_pdf(lines: list[str]) -> bytes:
    """A hand-written one-page PDF with text lines."""
    text = "BT /F1 11 Tf 56 780 Td 14 TL " + " ".join(f"({line}) '" for line in lines) + " ET"
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Contents 4 0 R "
        b"/Resources << /Font << /F1 5 0 R >> >> >>",
        b"<< /Length %d >>\nstream\n" % len(text) + text.encode("latin-1") + b"\nendstream",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    for offset in offsets:
        out += b"%010d 00000 n \n" % offset
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (
        len(objects) + 1,
        xref,
    )
    return bytes(out)


EVIDENCE = {
    "BG/phone-01/chats/export.txt": "[12/01/2026, 21:04] Marko: Vans ready for Thursday?\n",
    "BG/phone-01/photos/IMG_0001.png": b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4,
    "BG/phone-01/photos/IMG_0002.png": b"\x89PNG\r\n\x1a\n" + bytes(range(255, -1, -1)) * 4,
    "BG/phone-01/photos/scan-0003.jpg": one_page_pdf(["Bill of lading BL-2026-0112"]),
    "BG/invoice-4471.pdf": one_page_pdf(["INVOICE INV-4471", "Textiles, 14,500.00 EUR"]),
    "BG/image.e01": b"EVF\x09\x0d\x0a\xff\x00" + b"\x00" * 500,
    "ME/bank-transactions.csv": "date,amount_eur\n2026-01-12,14500.00\n",
    "ME/lease-agreement.pdf": one_page_pdf(["LEASE AGREEMENT", "Warehouse, Bar"]),
    "copy/export.txt": "[12/01/2026, 21:04] Marko: Vans ready for Thursday?\n",
}


@pytest.fixture
def counted_uuids(monkeypatch: pytest.MonkeyPatch) -> None:
    numbers = iter(range(1, 1_000_000))
    monkeypatch.setattr(uuid, "uuid4", lambda: uuid.UUID(int=next(numbers)))


def ingest(
    catalog: SqlCatalog,
    store: LocalStore,
    actor: str,
    team: str,
    paths: list[Path],
    fields: dict[str, str | None] | None = None,
) -> None:
    plan = ingesting.plan_ingest(
        catalog,
        case_id=CASE,
        team=team,
        actor=actor,
        paths=[str(p) for p in paths],
        defaults=from_fields(fields or {}),
    )
    run = catalog.start_run(CASE, team, actor, plan.fingerprint)
    ingesting.ingest_batch(store, catalog, plan, run, plan.files, commit_every=64)
    catalog.finish_run(run.id)


def scenario(root: Path) -> tuple[SqlCatalog, LocalStore, Any]:
    """Every custody action and access-log action, recorded by the services."""
    clock = FixedClock()
    catalog = SqlCatalog(f"sqlite:///{root / 'jitev.db'}", clock)
    catalog.migrate()
    # A relative root (the test runs in ``root``): a failed read-back records the
    # store's description, which names its folder.
    store = LocalStore(Path("objects"), retention_days=3650, clock=clock)
    seized = root / "seized"
    for name, content in EVIDENCE.items():
        path = seized / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content.encode() if isinstance(content, str) else content)

    jit = load_jit(JIT_FILE)
    admin = next(p for p in jit.people if p.has(Role.ADMIN))
    setup.add_person(catalog, None, admin)
    for person in jit.people:
        if person != admin:
            setup.add_person(catalog, admin.name, person)
    setup.open_case(catalog, jit.case, admin.name)
    for team in jit.case.teams:
        public = signer(team.code).public_key
        setup.register_team_key(catalog, admin, CASE, team.code, public)
    origin = f"jitev.local/{CASE}"
    log_key = VerifierKey(origin, NOTE_SIGNATURE, bytes.fromhex(signer("log").public_key))
    witnesses = [witness(t.code, log_key, root / "witnesses") for t in jit.case.teams]
    trust = Policy.every_team(log_key, {w.name: w.key for w in witnesses})
    setup.register_log_policy(catalog, admin, CASE, origin, trust)

    def sealing(case_id: str) -> Publication:
        return publish(catalog, case_id, origin, signer("log"), list(witnesses), trust)

    person = catalog.person
    ingest(
        catalog,
        store,
        "Insp. Petrova",
        "BG",
        [seized / "BG/phone-01", seized / "BG/invoice-4471.pdf"],
        {"description": "Seized at Kapitan Andreevo", "seized_at": "2026-03-14T06:10:00+02:00"},
    )
    ingest(  # a declared hash that does not match: HASH_MISMATCH, quarantined
        catalog,
        store,
        "Insp. Petrova",
        "BG",
        [seized / "BG/image.e01"],
        {"declared_hash": "sha1:" + "0" * 40, "handling": "H2"},
    )
    ingest(catalog, store, "Insp. Petrova", "BG", [seized / "copy/export.txt"])  # DUPLICATE_SEEN
    plan = ingesting.plan_ingest(
        catalog,
        case_id=CASE,
        team="BG",
        actor="Insp. Petrova",
        paths=[str(seized / "BG/invoice-4471.pdf")],
        defaults=from_fields({}),
    )
    run = catalog.start_run(CASE, "BG", "Insp. Petrova", "changed-" + plan.fingerprint)
    ingesting.commit(  # SOURCE_CHANGED, as store_file reports a file that changed while read
        catalog,
        plan,
        run,
        [Unreadable(plan.files[0], "invoice-4471.pdf changed while it was read", None)],
    )
    ingest(
        catalog,
        store,
        "Insp. Vuković",
        "ME",
        [seized / "ME/bank-transactions.csv", seized / "ME/lease-agreement.pdf"],
        {"seized_by": "Insp. Vuković", "seized_from": "Adriatic Textiles DOO, Bar"},
    )
    bg = {e.relative_path: e.reference for e in catalog.exhibits(CASE, "BG")}

    petrova, laurent, georgiev = (
        person("Insp. Petrova"),
        person("Cdt. Laurent"),
        person("Cmsr. Georgiev"),
    )
    moreau, vukovic, dubois = person("Lt. Moreau"), person("Insp. Vuković"), person("Pr. Dubois")
    to_fr = transfers.request_transfer(
        catalog,
        petrova,
        case_id=CASE,
        references=[
            bg["phone-01/chats/export.txt"],
            bg["phone-01/photos/scan-0003.jpg"],
            bg["invoice-4471.pdf"],
            bg["phone-01/photos/IMG_0002.png"],
        ],
        to_team="FR",
        purpose=Purpose.JIT,
        note="For the FR financial investigation",
    )
    transfers.decide(catalog, laurent, to_fr.id, approve=True, reason="Within the JIT's purposes")
    transfers.dispatch(store, catalog, laurent, to_fr.id)
    transfers.receive(store, catalog, signer("FR"), clock, moreau, to_fr.id)

    photo = bg["phone-01/photos/IMG_0001.png"]
    basis = "ME request 2026/ME-114 under Art. 13(10) of the 2000 MLA Convention"
    refused = transfers.request_transfer(
        catalog,
        petrova,
        case_id=CASE,
        references=[photo],
        to_team="ME",
        purpose=Purpose.OTHER_OFFENCE,
        legal_basis=basis,
    )
    transfers.decide(catalog, laurent, refused.id, approve=True, reason="Needs BG's consent")
    transfers.decide(catalog, georgiev, refused.id, approve=False, reason="Identifies a witness")
    failing = transfers.request_transfer(
        catalog,
        petrova,
        case_id=CASE,
        references=[photo],
        to_team="ME",
        purpose=Purpose.OTHER_OFFENCE,
        legal_basis=basis,
    )
    transfers.decide(catalog, laurent, failing.id, approve=True, reason="Needs BG's consent")
    transfers.decide(catalog, georgiev, failing.id, approve=True, reason="Witness protected")
    transfers.dispatch(store, catalog, petrova, failing.id)
    copy = store.root / "ME" / "objects" / failing.items[0].blake3[:2] / failing.items[0].blake3
    copy.chmod(stat.S_IRUSR | stat.S_IWUSR)
    copy.write_bytes(b"not the photo")  # the receiving team's re-read finds another content
    transfers.receive(store, catalog, signer("ME"), clock, vukovic, failing.id)  # TRANSFER_FAILED
    cancelled = transfers.request_transfer(
        catalog,
        petrova,
        case_id=CASE,
        references=[bg["phone-01/chats/export.txt"]],
        to_team="ME",
        purpose=Purpose.JIT,
    )
    transfers.cancel(catalog, petrova, cancelled.id, "Sent through the JIT lead instead")

    invoice, scan = bg["invoice-4471.pdf"], bg["phone-01/photos/scan-0003.jpg"]
    handling.set_handling(catalog, georgiev, CASE, invoice, Handling(HandlingCode.H1))
    handling.consent_judicial_use(catalog, georgiev, CASE, invoice, "FR", "Marseille trial")
    handling.set_sensitive(catalog, georgiev, CASE, scan, "Names an informant")
    visibility.download(store, catalog, moreau, bg["phone-01/chats/export.txt"], lambda _: None)

    root.joinpath("work").mkdir()
    bundle = disclosure.create_bundle(
        store, catalog, disclosure.plan_bundle(catalog, dubois, CASE, None), root / "work", sealing
    )
    disclosure.record_bundle_access(catalog, dubois, bundle)

    # A fixity audit of every copy: FR's copy of the invoice has a flipped byte
    # and lost its read-only mode (FIXITY_FAILED), and a temp file a crash left
    # in BG's .incoming two days ago is removed (FIXITY_AUDITED lists it).
    fr_copy = (
        store.root / "FR" / "objects" / bg_key(catalog, invoice)[:2] / bg_key(catalog, invoice)
    )
    fr_copy.chmod(stat.S_IRUSR | stat.S_IWUSR)
    flipped = bytearray(fr_copy.read_bytes())
    flipped[0] ^= 0xFF
    fr_copy.write_bytes(bytes(flipped))
    leftover = store.root / "BG" / ".incoming" / "crashed.part"
    leftover.write_bytes(b"half a put")
    stale = (AT - timedelta(days=2)).timestamp()
    os.utime(leftover, (stale, stale))
    keller = person("Aud. Keller")
    audited = fixity.audit_fixity(
        catalog, store, keller, CASE, now=AT, cycle_days=30, all_copies=True
    )
    assert len(audited.failures) == 1 and not leftover.exists()

    hasher = Argon2Hasher()
    access.set_password(catalog, hasher, admin, "Pr. Dubois", "a long passphrase for the court")
    with pytest.raises(Denied):
        access.login(catalog, hasher, "Pr. Dubois", "wrong password!", client="10.0.0.7", now=AT)
    _, secret, _ = access.login(
        catalog, hasher, "Pr. Dubois", "a long passphrase for the court", client="10.0.0.7", now=AT
    )
    access.logout(catalog, secret, client="10.0.0.7", now=AT)
    return catalog, store, bundle


def bg_key(catalog: SqlCatalog, reference: str) -> str:
    return catalog.exhibit(reference, CASE).blake3


def encodings(events: list[CustodyEvent]) -> Iterator[str]:
    """Each event's canonical encoding (without the domain prefix), after
    checking that its hash is the BLAKE3 of domain + encoding."""
    for e in events:
        encoded = ledger.encode(
            case_id=e.case_id,
            seq=e.seq,
            exhibit=e.exhibit,
            action=e.action,
            actor=e.actor,
            team=e.team,
            at=e.at,
            details=e.details,
            prev_hash=e.prev_hash,
        )
        assert encoded.startswith(ledger.DOMAIN)
        assert blake3(encoded).hexdigest() == e.hash
        yield encoded[len(ledger.DOMAIN) :].decode("utf-8")


def compare(name: str, lines: list[str]) -> None:
    path = GOLDEN / name
    if WRITE:
        path.write_text("".join(f"{line}\n" for line in lines), encoding="utf-8")
    expected = path.read_text(encoding="utf-8").splitlines()
    for n, (got, want) in enumerate(zip(lines, expected, strict=False), start=1):
        assert got == want, f"{name} line {n} differs"
    assert len(lines) == len(expected), f"{name}: {len(lines)} events, expected {len(expected)}"


@pytest.mark.usefixtures("counted_uuids")
def test_every_custody_action_and_the_bundle_keep_their_bytes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    if Fonts.find().regular is None:
        pytest.fail("DejaVu Sans is not installed (Debian fonts-dejavu-core): scripts/tools.sh")
    catalog, store, bundle = scenario(tmp_path)
    with catalog:
        events = list(catalog.events(CASE))
        recorded = {e.action for e in events}
        assert recorded == {a.value for a in Action}, "the scenario covers every custody action"
        compare("custody.jsonl", list(encodings(events)))
        access_events = catalog.access_events()
        assert {e.action for e in access_events} >= {"PASSWORD_SET", "LOGGED_IN", "LOGIN_FAILED"}
        compare("access.jsonl", list(encodings(access_events)))
    zipped = bytearray()
    disclosure.download_bundle(store, bundle, zipped.extend, sensitive=False)
    report = verify_bundle(io.BytesIO(bytes(zipped)))
    assert report.ok, report.findings

    digests = {
        "bundle": bundle.id,
        "zip_blake3": bundle.blake3,
        "zip_sha256": bundle.sha256,
        "zip_size": bundle.size,
        "root_digest": bundle.root_digest,
        "sensitive_schedule_blake3": bundle.sensitive_key,
        "recorded_with": {"pypdf": version("pypdf"), "fpdf2": version("fpdf2")},
    }
    path = GOLDEN / "bundle.json"
    if WRITE:
        path.write_text(json.dumps(digests, indent=2) + "\n")
    expected = json.loads(path.read_text())
    assert digests == expected, (
        f"the bundle's bytes changed (recorded with {expected['recorded_with']})"
    )
