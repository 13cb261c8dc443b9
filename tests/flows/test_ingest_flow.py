from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any

import pytest
from blake3 import blake3

from config import wiring
from evidence import audit, ledger, models
from evidence import ingest as ingesting
from evidence.errors import ManifestError
from flows.ingest import run_ingest
from tests.flows.conftest import seized

BY = "Insp. Petrova"


def ingest(*paths: Path, **extra: Any) -> dict[str, Any]:
    """The flow's result in its JSON form (what ``jitev ingest --json`` prints)."""
    return run_ingest(
        2, case_id="DANUBE", team="BG", actor=BY, paths=[str(p) for p in paths], **extra
    ).as_dict()


def test_ingest_records_exhibits_events_and_a_valid_chain(
    jitev: wiring.Wiring, tmp_path: Path
) -> None:
    root = seized(tmp_path)
    result = ingest(root)
    assert [o["status"] for o in result["outcomes"]] == ["stored"] * 6
    exhibits = jitev.catalog.exhibits("DANUBE")
    assert sorted(e.reference for e in exhibits) == [f"BG-EX-{n:04d}" for n in range(1, 7)]
    for ex in exhibits:
        data = (root.parent / ex.relative_path).read_bytes()
        assert (ex.size, ex.blake3, ex.sha256) == (
            len(data),
            blake3(data).hexdigest(),
            hashlib.sha256(data).hexdigest(),
        )
        assert b"".join(jitev.store.open("BG", ex.storage_key)) == data
    assert {e.media_type for e in exhibits} == {"image/jpeg", "text/plain"}
    events = list(jitev.catalog.events("DANUBE"))
    assert [e.action for e in events] == ["CASE_OPENED"] + ["INGESTED"] * 6
    assert all(e.actor == BY and e.team == "BG" for e in events[1:])
    assert ledger.verify("DANUBE", events).ok
    assert audit.verify_case(jitev.catalog, "DANUBE", jitev.store).ok


def test_reingest_of_same_content_is_a_duplicate_not_a_new_exhibit(
    jitev: wiring.Wiring, tmp_path: Path
) -> None:
    root = seized(tmp_path, 2)
    ingest(root)
    copy = tmp_path / "again.jpg"
    copy.write_bytes((root / "photos" / "IMG_0001.jpg").read_bytes())
    result = ingest(root, copy)
    assert result["resumed"] is False
    assert [o["status"] for o in result["outcomes"]] == ["duplicate"] * 4
    assert len(jitev.catalog.exhibits("DANUBE")) == 3
    dup = [e for e in jitev.catalog.events("DANUBE") if e.action == "DUPLICATE_SEEN"]
    assert {e.exhibit for e in dup} == {"BG-EX-0001", "BG-EX-0002", "BG-EX-0003"}
    original = next(
        e for e in jitev.catalog.exhibits("DANUBE") if e.relative_path.endswith("IMG_0001.jpg")
    )
    assert next(e for e in dup if e.details["source"] == "again.jpg").exhibit == original.reference


def test_declared_hash_mismatch_stores_bytes_and_quarantines(
    jitev: wiring.Wiring, tmp_path: Path
) -> None:
    image = tmp_path / "disk.img"
    image.write_bytes(b"raw disk image")
    good = tmp_path / "good.img"
    good.write_bytes(b"another image")
    manifest = tmp_path / "m.csv"
    manifest.write_text(
        "path,hash_algorithm,hash\n"
        f"disk.img,md5,{'0' * 32}\n"
        f"good.img,sha1,{hashlib.sha1(b'another image').hexdigest()}\n"
    )
    result = ingest(image, good, manifest=str(manifest))
    status = {o["source"]: o for o in result["outcomes"]}
    assert status["disk.img"]["status"] == "quarantined"
    assert hashlib.md5(b"raw disk image").hexdigest() in status["disk.img"]["message"]
    assert status["good.img"]["status"] == "stored"
    bad = jitev.catalog.exhibit(status["disk.img"]["reference"], "DANUBE")
    assert bad.status.value == "quarantined"
    assert jitev.store.exists("BG", bad.storage_key)
    mismatch = [e for e in jitev.catalog.events("DANUBE") if e.action == "HASH_MISMATCH"]
    assert len(mismatch) == 1 and mismatch[0].exhibit == bad.reference
    assert mismatch[0].details["computed"] == hashlib.md5(b"raw disk image").hexdigest()


def test_bad_manifest_stores_and_records_nothing(jitev: wiring.Wiring, tmp_path: Path) -> None:
    root = seized(tmp_path, 1)
    manifest = tmp_path / "m.csv"
    manifest.write_text("path,seized_at\nchat.txt,last tuesday\n")
    with pytest.raises(ManifestError, match="line 2.*'last tuesday' is not a date"):
        ingest(root, manifest=str(manifest))
    assert jitev.catalog.exhibits("DANUBE") == []
    assert [e.action for e in jitev.catalog.events("DANUBE")] == ["CASE_OPENED"]
    assert not (jitev.settings.store_root / "BG").exists()


def test_a_crashed_run_is_resumed_and_adopts_stored_objects(
    jitev: wiring.Wiring, tmp_path: Path
) -> None:
    """A crash after some commits and after storing (not committing) one more
    file: the same command finishes the rest, duplicating nothing."""
    root = seized(tmp_path, 4)
    plan = ingesting.plan_ingest(
        jitev.catalog,
        case_id="DANUBE",
        team="BG",
        actor=BY,
        paths=[str(root)],
        defaults=models.ExhibitMetadata(),
    )
    run = jitev.catalog.start_run("DANUBE", "BG", BY, plan.fingerprint)
    ingesting.ingest_batch(jitev.store, jitev.catalog, plan, run, plan.files[:2], commit_every=1)
    orphan = ingesting.store_file(jitev.store, "BG", plan.files[2])  # stored, never committed
    result = ingest(root)
    assert result["resumed"] is True and result["already_done"] == 2
    assert [o["status"] for o in result["outcomes"]] == ["stored"] * 3
    exhibits = jitev.catalog.exhibits("DANUBE")
    assert len(exhibits) == 5 and len({e.blake3 for e in exhibits}) == 5
    assert orphan.stored.key in {e.storage_key for e in exhibits}
    assert [e.action for e in jitev.catalog.events("DANUBE")].count("INGESTED") == 5
    assert audit.verify_case(jitev.catalog, "DANUBE", jitev.store).ok


@pytest.mark.s3
def test_ingest_into_s3_locks_every_object(
    jitev: wiring.Wiring, tmp_path: Path, s3_server, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The same flow on Ceph RGW: one object-locked bucket per team, small and
    multipart-sized exhibits, COMPLIANCE retention the server enforces."""
    from tests.fixtures_s3 import unique_prefix

    prefix = unique_prefix()
    for key, value in {
        "BACKEND": "s3",
        "ENDPOINT": s3_server.endpoint,
        "ACCESS_KEY": s3_server.access_key,
        "SECRET_KEY": s3_server.secret_key,
        "BUCKET_PREFIX": prefix,
        "RETENTION_DAYS": "1",
        "PART_SIZE_MIB": "5",
        "SMALL_OBJECT_MAX_MIB": "1",
    }.items():
        monkeypatch.setenv(f"JITEV_STORE_{key}", value)
    wiring.current.cache_clear()
    root = seized(tmp_path, 3)
    big = root / "extraction.bin"
    big.write_bytes(os.urandom(12 * 1024 * 1024))
    result = ingest(root)
    assert [o["status"] for o in result["outcomes"]] == ["stored"] * 5
    w = wiring.current()
    client = s3_server.client()
    for ex in w.catalog.exhibits("DANUBE"):
        info = client.stat_object(bucket_name=f"{prefix}-bg", object_name=ex.storage_key)
        assert info.size == ex.size
        assert info.metadata["x-amz-object-lock-mode"] == "COMPLIANCE"
        assert info.metadata["x-amz-meta-blake3"] == ex.blake3
        with pytest.raises(Exception, match="AccessDenied"):
            client.remove_object(
                bucket_name=f"{prefix}-bg", object_name=ex.storage_key, version_id=info.version_id
            )
    assert audit.verify_case(w.catalog, "DANUBE", w.store).ok
    w.catalog.close()
