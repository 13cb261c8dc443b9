"""A disclosure bundle assembled from a real catalog and store: the bytes
are deterministic and the standard tools accept what is written. (Who may
disclose what comes with the disclosure service; here FR's prosecutor
bundles what FR received.)"""

from __future__ import annotations

import io
import json
import subprocess
import zipfile
from pathlib import Path
from typing import Any

import bagit
import pytest

from app.demo import pdf as demo_pdf
from evidence import ingest as ingesting
from evidence import setup
from evidence.bundle import layout
from evidence.bundle.bagcheck import verify_zip
from evidence.bundle.build import LogMaterial, disclosed_events, prepare
from evidence.errors import IntegrityError
from evidence.ledger import link
from evidence.models import Action, Exhibit, ExhibitMetadata
from evidence.ports import EventDraft
from storage.sql.catalog import SqlCatalog
from tests.conftest import need_tool
from tests.integration.test_handoffs import Jit, setup_jit
from tests.memory_log import MemoryLog


def received_by_fr(jit: Jit, tmp_path: Path) -> list[Exhibit]:
    """BG also ingests a PDF; everything goes to FR and is received."""
    (tmp_path / "scan").mkdir()
    (tmp_path / "scan" / "invoice.pdf").write_bytes(demo_pdf(["INVOICE INV-4471"]))
    plan = ingesting.plan_ingest(
        jit.catalog,
        case_id="DANUBE",
        team="BG",
        actor="Insp. Petrova",
        paths=[str(tmp_path / "scan")],
        defaults=ExhibitMetadata(),
    )
    run = jit.catalog.start_run("DANUBE", "BG", "Insp. Petrova", plan.fingerprint)
    done = ingesting.ingest_batch(jit.store, jit.catalog, plan, run, plan.files, commit_every=5)
    refs = jit.refs + [o.reference for o in done if o.reference]
    tid = jit.request(*refs)
    jit.approve(tid)
    jit.dispatch(tid)
    jit.receive(tid)
    return [jit.catalog.exhibit(r, "DANUBE") for r in refs]


def bundle(jit: Jit, exhibits: list[Exhibit], store: Any = None) -> bytes:
    """The bundle's bytes, sealed by an event linked after the catalog's last
    and proven under a checkpoint of a log held in memory."""
    catalog: SqlCatalog = jit.catalog
    events = list(catalog.events("DANUBE"))
    extract = disclosed_events(events, {x.reference for x in exhibits})
    identity = layout.Identity("DANUBE-FR-B-0001", "DANUBE", "FR", "Pr. Dubois", extract[-1].at)
    keys = {
        t: k
        for t in ("BG", "ME", "FR")
        if (k := setup.ledger_team_key(catalog, "DANUBE", t)) is not None
    }
    out = io.BytesIO()
    with prepare(
        identity=identity,
        case=catalog.case("DANUBE"),
        exhibits=exhibits,
        events=events,
        keys=keys,
        open_native=lambda ex: (store or jit.store).open("FR", ex.blake3),
    ) as payload:
        draft = EventDraft(Action.BUNDLE_SEALED, "Pr. Dubois", "FR", None, payload.seal_details())
        full = [*events, link("DANUBE", events[-1], draft, events[-1].at)]
        log = MemoryLog("jitev.local/DANUBE")
        material = LogMaterial(
            log.checkpoint(full),
            log.policy().text(),
            {e.seq: log.inclusion(full, e.seq) for e in [*payload.events, full[-1]]},
        )
        payload.write(out, full[-1], material)
    return out.getvalue()


def test_a_bundle_is_deterministic_and_passes_the_standard_tools(
    catalog: SqlCatalog, local_store: Any, tmp_path: Path
) -> None:
    jit = setup_jit(catalog, local_store, tmp_path)
    exhibits = received_by_fr(jit, tmp_path)
    first = bundle(jit, exhibits)
    assert bundle(jit, exhibits) == first
    report = verify_zip(io.BytesIO(first))
    assert report.ok, report.findings
    with zipfile.ZipFile(io.BytesIO(first)) as zf:
        zf.extractall(tmp_path / "out")
    bag = tmp_path / "out" / "DANUBE-FR-B-0001"
    bagit.Bag(str(bag)).validate()
    data = bag / "data"
    for command in (["sha256sum", "-c", "checksums.sha256"], ["b3sum", "--check", "checksums.b3"]):
        tool = need_tool(command[0], "Debian package " + command[0])
        done = subprocess.run([tool, *command[1:]], cwd=data, capture_output=True, text=True)
        assert done.returncode == 0, done.stdout + done.stderr
    validator = need_tool("case_validate", "pip install -e '.[dev]': the case-utils package")
    done = subprocess.run(
        [validator, str(data / "provenance.jsonld")], capture_output=True, text=True
    )
    assert done.returncode == 0, done.stdout + done.stderr
    qpdf = need_tool("qpdf", "Debian package qpdf")
    done = subprocess.run(
        [qpdf, "--check", str(data / "bundle.pdf")], capture_output=True, text=True
    )
    assert done.returncode == 0, done.stdout + done.stderr
    schedule = (data / "schedule.csv").read_text().splitlines()
    assert schedule[0].split(",") == list(layout.SCHEDULE_FIELDS)
    assert len(schedule) == 1 + len(exhibits)
    assert ",merged," in schedule[-1]  # the invoice PDF is merged, the others are natives only
    natives = sorted(p.name for p in (data / "natives").iterdir())
    assert natives == sorted(
        Path(layout.native_name(e.reference, e.original_name)).name for e in exhibits
    )
    for ex in exhibits:
        path = data / layout.native_name(ex.reference, ex.original_name)
        assert path.stat().st_size == ex.size
    extract = [
        json.loads(line) for line in (data / "ledger" / "custody.jsonl").read_text().splitlines()
    ]
    refs = {ex.reference for ex in exhibits}
    assert extract[-1]["action"] == Action.BUNDLE_SEALED
    assert all(e["exhibit"] in refs or e["action"] in layout.CASE_EVENTS for e in extract[:-1])
    proofs = sorted(p.name for p in (data / "ledger" / "proofs").iterdir())
    assert proofs == sorted(f"{e['seq']}.tlog-proof" for e in extract)


def test_a_native_that_does_not_match_the_ledger_abandons_the_bundle(
    catalog: SqlCatalog, local_store: Any, tmp_path: Path
) -> None:
    jit = setup_jit(catalog, local_store, tmp_path)
    exhibits = received_by_fr(jit, tmp_path)

    class Flipping:
        def open(self, namespace: str, key: str) -> Any:
            data = bytearray(b"".join(local_store.open(namespace, key)))
            data[-1] ^= 0x01
            return iter([bytes(data)])

    with pytest.raises(IntegrityError, match="natives/"):
        bundle(jit, exhibits[:1], Flipping())
