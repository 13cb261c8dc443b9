"""Plain-function tests of the ingest logic (no Prefect) on real stores and
catalogs."""

from __future__ import annotations

import hashlib
from pathlib import Path

from evidence import audit, setup
from evidence import ingest as ingesting
from evidence.models import ExhibitMetadata
from storage.objects.local import LocalStore
from storage.sql.catalog import SqlCatalog
from tests.fixtures_sql import register_people, sample_case


def _plan(catalog: SqlCatalog, *paths: Path) -> ingesting.IngestPlan:
    register_people(catalog)
    setup.open_case(catalog, sample_case(), "Cmsr. Georgiev")
    return ingesting.plan_ingest(
        catalog,
        case_id="DANUBE",
        team="BG",
        actor="Insp. Petrova",
        paths=[str(p) for p in paths],
        defaults=ExhibitMetadata(),
    )


def _ingest(catalog: SqlCatalog, store: LocalStore, *paths: Path) -> None:
    plan = _plan(catalog, *paths)
    run = catalog.start_run("DANUBE", "BG", "Insp. Petrova", plan.fingerprint)
    ingesting.ingest_batch(store, catalog, plan, run, plan.files, commit_every=10)


def test_a_file_changed_after_planning_is_reported_and_not_committed(
    catalog: SqlCatalog, local_store: LocalStore, tmp_path: Path
) -> None:
    steady, moving = tmp_path / "steady.txt", tmp_path / "moving.log"
    steady.write_text("fixed")
    moving.write_text("first line\n")
    plan = _plan(catalog, steady, moving)
    with moving.open("a") as log:
        log.write("appended while the ingest ran\n")
    run = catalog.start_run("DANUBE", "BG", "Insp. Petrova", plan.fingerprint)
    outcomes = ingesting.ingest_batch(local_store, catalog, plan, run, plan.files, commit_every=10)
    status = {o.source: o for o in outcomes}
    assert status["steady.txt"].status == "stored"
    assert status["moving.log"].status == "changed"
    assert "moving.log changed before it was read" in status["moving.log"].message
    assert [e.relative_path for e in catalog.exhibits("DANUBE")] == ["steady.txt"]
    changed = [e for e in catalog.events("DANUBE") if e.action == "SOURCE_CHANGED"]
    assert len(changed) == 1 and changed[0].exhibit is None
    assert changed[0].details["source"] == "moving.log"
    assert catalog.run_items(run.id) == {
        "steady.txt": "BG-EX-0001"
    }  # the re-run retries moving.log


def test_exhibit_rows_are_checked_against_the_ledger(
    catalog: SqlCatalog, local_store: LocalStore, tmp_path: Path
) -> None:
    from sqlalchemy import text

    evidence = tmp_path / "invoice.pdf"
    evidence.write_bytes(b"%PDF-1.4 invoice")
    _ingest(catalog, local_store, evidence)
    assert audit.verify_case(catalog, "DANUBE", local_store).ok
    with catalog.engine.begin() as conn:
        conn.execute(text("UPDATE exhibits SET sha256 = :h"), {"h": "0" * 64})
    check = audit.verify_case(catalog, "DANUBE")
    assert not check.findings_of("chain") and not check.ok
    expected = hashlib.sha256(evidence.read_bytes()).hexdigest()
    assert [f.text() for f in check.findings_of("exhibits")] == [
        f"BG-EX-0001: catalog sha256 {'0' * 64} differs from the ledger's {expected}"
    ]


def test_verify_with_objects_rehashes_the_stored_bytes(
    catalog: SqlCatalog, local_store: LocalStore, tmp_path: Path
) -> None:
    evidence = tmp_path / "photo.jpg"
    evidence.write_bytes(b"\xff\xd8\xff\xe0 photo")
    _ingest(catalog, local_store, evidence)
    exhibit = catalog.exhibit("BG-EX-0001")
    stored = next((tmp_path / "objects").rglob(exhibit.storage_key))
    stored.chmod(0o644)  # only someone bypassing jitev (here: root) can do this
    replaced = b"\xff\xd8\xff\xe0 PHOTO"
    stored.write_bytes(replaced)
    assert audit.verify_case(catalog, "DANUBE").ok  # the rows alone cannot see it
    check = audit.verify_case(catalog, "DANUBE", local_store)
    [found] = check.findings
    assert (found.check, found.where, found.kind) == ("objects", "BG-EX-0001", "checksum")
    assert found.message.startswith(
        f"team BG's copy (the original) does not match its ledger hashes: "
        f"object BG/{exhibit.storage_key} in the {local_store.description} has size {len(replaced)},"
    )
