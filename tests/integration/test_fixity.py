"""Fixity audits over both stores (the local folder and S3 on the RGW test
server): every copy every team holds re-read and its protection checked, the
events they record, the rolling share, and crash leftovers cleared after
their grace period."""

from __future__ import annotations

import io
import json
import os
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from evidence import fixity, visibility
from evidence.audit import held_copies
from evidence.errors import Denied
from evidence.models import Action
from storage.objects.local import LocalStore
from storage.sql.catalog import SqlCatalog
from tests.integration.test_handoffs import Jit, setup_jit, tamper_with

AUDITOR = "Aud. Keller"


def handed_over(catalog: SqlCatalog, store: Any, tmp_path: Path) -> tuple[Jit, str]:
    """Three BG exhibits, handed to FR and received: six copies."""
    jit = setup_jit(catalog, store, tmp_path)
    tid = jit.request()
    jit.approve(tid)
    jit.dispatch(tid)
    jit.receive(tid)
    return jit, tid


def run(catalog: SqlCatalog, store: Any, **kw: Any) -> fixity.FixityAudit:
    options: dict[str, Any] = {"now": datetime.now(UTC), "cycle_days": 30, "all_copies": True}
    options.update(kw)
    return fixity.audit_fixity(catalog, store, catalog.person(AUDITOR), "DANUBE", **options)


def remove(store: Any, request: pytest.FixtureRequest, namespace: str, key: str) -> None:
    if isinstance(store, LocalStore):
        (store.root / namespace / "objects" / key[:2] / key).unlink()
        return
    client = request.getfixturevalue("s3_server").client()
    client.remove_object(bucket_name=store.bucket_name(namespace), object_name=key)


def test_a_clean_store_audits_clean(catalog: SqlCatalog, store: Any, tmp_path: Path) -> None:
    handed_over(catalog, store, tmp_path)
    done = run(catalog, store)
    assert done.ok and done.failures == ()
    d = done.event.details
    assert done.event.action == Action.FIXITY_AUDITED and done.event.exhibit is None
    assert (d["share"], d["copies"], d["failures"], d["failed"]) == ("all", 6, 0, [])
    copies = list(held_copies(list(catalog.events("DANUBE")), catalog.exhibits("DANUBE")))
    assert d["bytes"] == sum(c.recorded.size for c in copies)
    assert d["checked"] == fixity.checked_digest(f"{c.namespace}/{c.key}" for c in copies)
    assert {c.team for c in copies} == {"BG", "FR"}


def test_a_flipped_and_a_removed_received_copy_are_recorded_failures(
    catalog: SqlCatalog, store: Any, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    jit, tid = handed_over(catalog, store, tmp_path)
    flipped, removed = catalog.transfer(tid).items[:2]
    tamper_with(store, request)("FR", flipped.blake3)
    remove(store, request, "FR", removed.blake3)
    done = run(catalog, store)
    assert not done.ok and done.event.details["failures"] == 2
    assert done.event.details["failed"] == [e.seq for e in done.failures]
    by_ref = {e.exhibit: e for e in done.failures}
    assert set(by_ref) == {flipped.reference, removed.reference}
    bad = by_ref[flipped.reference].details
    assert bad["team"] == "FR" and bad["store"] == f"FR/{flipped.blake3}"
    assert bad["transfer"] == tid
    assert bad["expected"]["blake3"] == flipped.blake3
    assert bad["found"]["blake3"] != flipped.blake3
    assert "checksum" in [p["kind"] for p in bad["problems"]]
    gone = by_ref[removed.reference].details
    assert gone["found"] is None and [p["kind"] for p in gone["problems"]] == ["missing"]
    # the copy is marked: its continuity shows the failure
    _, events = visibility.continuity(catalog, jit.person("Lt. Moreau"), removed.reference)
    assert events[-1].action == Action.FIXITY_FAILED and events[-1].details["team"] == "FR"
    # BG's originals are fine
    assert all(e.details["team"] == "FR" for e in done.failures)


def test_a_shortened_retention_and_a_writable_file_are_findings(
    catalog: SqlCatalog, local_store: LocalStore, tmp_path: Path
) -> None:
    jit, tid = handed_over(catalog, local_store, tmp_path)
    first, second = catalog.transfer(tid).items[:2]
    path = local_store.root / "FR" / "objects" / first.blake3[:2] / first.blake3
    sidecar = path.with_name(path.name + ".json")
    meta = json.loads(sidecar.read_bytes())
    meta["retention_until"] = "2020-01-01T00:00:00+00:00"
    sidecar.chmod(0o644)
    sidecar.write_text(json.dumps(meta))
    other = local_store.root / "BG" / "objects" / second.blake3[:2] / second.blake3
    other.chmod(0o644)  # the bytes unchanged, only the mode
    done = run(catalog, local_store)
    kinds = {
        (e.exhibit, e.details["team"]): [p["kind"] for p in e.details["problems"]]
        for e in done.failures
    }
    assert kinds == {(first.reference, "FR"): ["retention"], (second.reference, "BG"): ["writable"]}
    assert "2020-01-01" in done.failures[0].details["problems"][0]["message"] or (
        "2020-01-01" in done.failures[1].details["problems"][0]["message"]
    )


def test_the_rolling_share_covers_every_copy_within_the_cycle(
    catalog: SqlCatalog, local_store: LocalStore, tmp_path: Path
) -> None:
    handed_over(catalog, local_store, tmp_path)
    covered: list[str] = []
    shares = []
    for _ in range(3):
        d = run(catalog, local_store, cycle_days=3, all_copies=False).event.details
        shares.append(d["share"])
        copies = list(held_copies(list(catalog.events("DANUBE")), catalog.exhibits("DANUBE")))
        mine = [
            f"{c.namespace}/{c.key}" for c in copies if fixity.slice_of(c, 3) == d["share"]["slice"]
        ]
        assert d["copies"] == len(mine) and d["checked"] == fixity.checked_digest(mine)
        covered += mine
    assert [s["slice"] for s in shares] == [0, 1, 2] and all(s["of"] == 3 for s in shares)
    assert sorted(covered) == sorted(
        f"{c.namespace}/{c.key}"
        for c in held_copies(list(catalog.events("DANUBE")), catalog.exhibits("DANUBE"))
    )
    assert len(set(covered)) == 6


def test_an_investigator_may_not_audit(
    catalog: SqlCatalog, local_store: LocalStore, tmp_path: Path
) -> None:
    handed_over(catalog, local_store, tmp_path)
    with pytest.raises(Denied):
        fixity.audit_fixity(
            catalog,
            local_store,
            catalog.person("Insp. Petrova"),
            "DANUBE",
            now=datetime.now(UTC),
            cycle_days=30,
        )


def make_leftovers(store: Any, request: pytest.FixtureRequest) -> None:
    """What crashed puts leave in BG's namespace."""
    if isinstance(store, LocalStore):
        incoming = store.root / "BG" / ".incoming"
        incoming.mkdir(parents=True, exist_ok=True)
        old = incoming / "old.part"
        old.write_bytes(b"a put cut short")
        stale = (datetime.now(UTC) - timedelta(hours=30)).timestamp()
        os.utime(old, (stale, stale))
        (incoming / "young.part").write_bytes(b"a put in progress")
        return
    client = request.getfixturevalue("s3_server").client()
    bucket = store.bucket_name("BG")
    client.put_object(
        bucket_name=bucket, object_name="incoming/staged", data=io.BytesIO(b"x" * 10), length=10
    )
    client._create_multipart_upload(bucket, "incoming/multipart", {})


def test_leftovers_past_the_grace_period_are_removed_and_listed(
    catalog: SqlCatalog, store: Any, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    handed_over(catalog, store, tmp_path)
    make_leftovers(store, request)
    grace = timedelta(hours=24)
    if isinstance(store, LocalStore):
        done = run(catalog, store, grace=grace)
        removed = done.event.details["leftovers_removed"]
        kept = done.event.details["leftovers_kept"]
        assert [(r["team"], r["name"], r["kind"]) for r in removed] == [
            ("BG", ".incoming/old.part", "temp file")
        ]
        assert [k["name"] for k in kept] == [".incoming/young.part"]
        assert [lo.name for lo in store.leftovers("BG")] == [".incoming/young.part"]
        return
    # S3 dates its objects itself: the same leftovers, young now and old tomorrow.
    young = run(catalog, store, grace=grace).event.details
    assert young["leftovers_removed"] == []
    assert sorted((k["name"], k["kind"]) for k in young["leftovers_kept"]) == [
        ("incoming/multipart", "multipart upload"),
        ("incoming/staged", "staging object"),
    ]
    later = datetime.now(UTC) + timedelta(hours=25)
    old = run(catalog, store, grace=grace, now=later).event.details
    assert sorted((r["name"], r["kind"]) for r in old["leftovers_removed"]) == [
        ("incoming/multipart", "multipart upload"),
        ("incoming/staged", "staging object"),
    ]
    assert store.leftovers("BG") == []
    assert run(catalog, store).ok  # nothing evidence was touched
