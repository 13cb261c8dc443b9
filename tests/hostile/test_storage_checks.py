"""Hostile stores: the copies a team holds, tampered with outside jitev.

Every copy a team holds is the one it downloads and bundles: each exhibit's
original, and each receiving team's copy from a hand-off. ``jitev ledger
verify --objects`` re-reads every one through BLAKE3 and SHA-256 and names
the exhibit, the team and the copy of each that is replaced, gone, a link or
a FIFO (exit 1); a download or a bundle of a copy that is gone is an
integrity failure (exit 3), never "a mistake in the input" (exit 2).

The command-line tests share one JIT home (``case_home``): BG-EX-0001..0004
are handed to FR, then each test tampers with one copy of its own, so each
later verification also finds the earlier ones. The last tests run the audit
itself over both stores (the local folder and S3 on the RGW test server).
"""

from __future__ import annotations

import json
import os
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from evidence import audit
from evidence.errors import IntegrityError
from evidence.findings import Finding
from storage.objects.local import LocalStore
from storage.sql.catalog import SqlCatalog
from tests.fixtures_sql import StepClock
from tests.hostile.conftest import (
    TRANSFER,
    Measured,
    counts,
    handed_over,
    object_path,
    run_measured,
)
from tests.integration.cli_helpers import AUDITOR, INVESTIGATOR
from tests.integration.test_handoffs import setup_jit, tamper_with
from tests.integration.test_store_contract import NS, TARGET, put

FR_INVESTIGATOR = "Lt. Moreau"
HANDED = ["BG-EX-0001", "BG-EX-0002", "BG-EX-0003", "BG-EX-0004"]
KEPT = "BG-EX-0005"  # BG's alone


@pytest.fixture(scope="module")
def held(case_home: tuple[Path, dict[str, str]], tmp_path_factory: pytest.TempPathFactory) -> Any:
    """BG-EX-0001..0005 ingested by BG; the first four handed to FR and
    received: 9 stored copies. Returns the home, the environment and each
    exhibit's BLAKE3 (its key in every team's namespace)."""
    home, env = case_home
    keys = handed_over(env, tmp_path_factory.mktemp("seized"), 5, len(HANDED))
    assert sorted(keys) == [*HANDED, KEPT]
    return home, env, keys


def verify(env: dict[str, str]) -> tuple[Measured, list[Finding]]:
    """``jitev ledger verify --objects --json`` as the auditor: its findings."""
    done = run_measured(env, "ledger", "verify", "--objects", "--json", "--as", AUDITOR)
    assert "Traceback" not in done.stdout + done.stderr, done.stderr
    done.bounded()
    [report] = json.loads(done.stdout)
    found = [Finding(**f) for f in report["findings"]]
    return done, found


def finding_on(found: list[Finding], reference: str, team: str) -> Finding:
    """The one objects finding on ``team``'s copy of ``reference``."""
    [f] = [
        f
        for f in found
        if f.check == "objects" and f.where == reference and f"team {team}'s copy" in f.message
    ]
    return f


def download(env: dict[str, str], reference: str, by: str, out: Path) -> Measured:
    out.mkdir(exist_ok=True)
    return run_measured(env, "exhibits", "download", reference, "--out", str(out), "--as", by)


def test_a_clean_store_verifies_every_copy(held: Any) -> None:
    home, env, _ = held
    before = counts(home)
    done, found = verify(env)
    assert done.returncode == 0 and found == [], done.stdout
    text = run_measured(env, "ledger", "verify", "--objects", "--as", AUDITOR)
    text.clear_error(0, "ledger intact", "9 stored copies re-read")
    assert counts(home) == before


def test_a_replaced_copy_is_named_by_exhibit_team_and_copy(held: Any, tmp_path: Path) -> None:
    home, env, keys = held
    ref = HANDED[0]
    copy = object_path(home / "objects", "FR", keys[ref])
    copy.chmod(0o644)  # objects are read-only files
    copy.write_bytes(b"not what was seized\n")
    done, found = verify(env)
    assert done.returncode == 1
    f = finding_on(found, ref, "FR")
    assert f.kind == "checksum"
    assert f"team FR's copy (received by transfer {TRANSFER}) does not match" in f.message
    assert f"FR/{keys[ref]}" in f.message and "store's operator" in f.message
    # BG's original is untouched, and not reported
    assert not [g for g in found if g.where == ref and "team BG's" in g.message]
    refused = download(env, ref, FR_INVESTIGATOR, tmp_path)
    refused.clear_error(3, ref, "does not match its ledger hashes")
    assert list(tmp_path.iterdir()) == []


def test_a_deleted_copy_is_an_integrity_failure_not_an_input_mistake(
    held: Any, tmp_path: Path
) -> None:
    home, env, keys = held
    ref = HANDED[1]
    object_path(home / "objects", "FR", keys[ref]).unlink()
    done, found = verify(env)
    assert done.returncode == 1
    f = finding_on(found, ref, "FR")
    assert f.kind == "missing"
    assert f"team FR's copy (received by transfer {TRANSFER}) is missing" in f.message
    assert "store's operator" in f.message
    before = counts(home)
    refused = download(env, ref, FR_INVESTIGATOR, tmp_path)
    refused.clear_error(3, ref, "team FR's copy", "is missing", "store's operator")
    assert "check the key" not in refused.stderr
    assert list(tmp_path.iterdir()) == []
    assert counts(home) == before  # nothing recorded: no bytes went out


def test_a_link_in_place_of_a_copy_is_never_followed(held: Any, tmp_path: Path) -> None:
    home, env, keys = held
    ref = HANDED[2]
    copy = object_path(home / "objects", "FR", keys[ref])
    copy.unlink()
    copy.symlink_to(object_path(home / "objects", "BG", keys[ref]))  # the very same bytes, BG's
    done, found = verify(env)
    assert done.returncode == 1
    f = finding_on(found, ref, "FR")
    assert f.kind == "missing" and "is a symbolic link" in f.message
    assert f"team FR's copy (received by transfer {TRANSFER}) was replaced" in f.message
    refused = download(env, ref, FR_INVESTIGATOR, tmp_path)
    refused.clear_error(3, ref, "team FR's copy", "symbolic link")
    assert list(tmp_path.iterdir()) == []


def test_a_fifo_in_place_of_a_copy_is_refused_without_waiting(held: Any) -> None:
    home, env, keys = held
    ref = HANDED[3]
    copy = object_path(home / "objects", "FR", keys[ref])
    copy.unlink()
    os.mkfifo(copy)
    done, found = verify(env)  # run_measured fails the test if it hangs
    assert done.returncode == 1
    f = finding_on(found, ref, "FR")
    assert f.kind == "missing" and "is not a regular file" in f.message
    # every earlier finding is still there, each once, and nothing on BG's originals
    assert {g.where for g in found if g.check == "objects"} == set(HANDED)
    assert not [g for g in found if "team BG's" in g.message]


def test_a_missing_original_fails_verify_and_download_with_the_integrity_code(
    held: Any, tmp_path: Path
) -> None:
    home, env, keys = held
    object_path(home / "objects", "BG", keys[KEPT]).unlink()
    done, found = verify(env)
    assert done.returncode == 1
    f = finding_on(found, KEPT, "BG")
    assert f.kind == "missing"
    assert "team BG's copy (the original) is missing" in f.message
    assert f"BG/{keys[KEPT]}" in f.message
    text = run_measured(env, "ledger", "verify", "--objects", "--as", AUDITOR)
    text.clear_error(1, KEPT, "team BG's copy (the original) is missing")
    before = counts(home)
    refused = download(env, KEPT, INVESTIGATOR, tmp_path)
    refused.clear_error(3, KEPT, "team BG's copy", "is missing", "store's operator")
    assert counts(home) == before


def test_a_huge_object_in_place_of_an_original_is_streamed_not_held(held: Any) -> None:
    home, env, keys = held
    ref = HANDED[0]  # FR's copy replaced above; now BG's original too
    original = object_path(home / "objects", "BG", keys[ref])
    original.chmod(0o644)
    with original.open("r+b") as out:
        out.truncate(1024 * 1024 * 1024)  # 1 GiB, sparse: read whole, the command would not fit
    done, found = verify(env)  # bounded: well under the harness's limit
    assert done.returncode == 1
    f = finding_on(found, ref, "BG")
    assert f.kind == "checksum" and f"has size {1024**3}," in f.message


def test_a_bundle_of_a_missing_copy_is_refused_with_the_integrity_code(held: Any) -> None:
    home, env, _ = held
    ref = HANDED[1]  # FR's copy was deleted above
    before = counts(home)
    refused = run_measured(
        env, "bundle", "create", "--case", "DANUBE", "--exhibits", ref, "--as", "Pr. Dubois"
    )
    refused.clear_error(3, ref, "team FR's copy", "is missing", "store's operator")
    refused.clear_error(3, "jitev ledger verify --case DANUBE --objects")
    assert counts(home) == before  # nothing sealed, nothing stored


# -- the audit itself, over both stores ------------------------------------------------


def test_every_copy_is_re_read_on_both_stores(
    store: Any, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    """On the local folder and on S3: a replaced copy (a new object version
    over it on S3) and a deleted one (a delete marker: object lock keeps the
    version, but the key no longer reads) are each found, named by exhibit,
    team and copy; the originals still verify."""
    with SqlCatalog(f"sqlite:///{tmp_path / 'catalog.db'}", StepClock()) as catalog:
        catalog.migrate()
        jit = setup_jit(catalog, store, tmp_path)
        tid = jit.request()
        jit.approve(tid)
        jit.dispatch(tid)
        jit.receive(tid)
        clean = audit.verify_case(catalog, "DANUBE", store)
        assert clean.ok and clean.facts.copies == 6, clean.findings
        assert "6 stored copies re-read" in clean.summary
        replaced, deleted = catalog.transfer(tid).items[:2]
        tamper_with(store, request)("FR", replaced.blake3)
        remove(store, request, "FR", deleted.blake3)
        report = audit.verify_case(catalog, "DANUBE", store)
        found = report.findings_of("objects")
        assert [(f.where, f.kind) for f in found] == [
            (replaced.reference, "checksum"),
            (deleted.reference, "missing"),
        ]
        for f in found:
            assert f.message.startswith(f"team FR's copy (received by transfer {tid}) ")
            assert f"FR/{deleted.blake3 if f.kind == 'missing' else replaced.blake3}" in f.message
        assert not report.ok and report.facts.copies == 6


def remove(store: Any, request: pytest.FixtureRequest, namespace: str, key: str) -> None:
    """The object gone, as an intruder with the store's credentials leaves it."""
    if isinstance(store, LocalStore):
        object_path(store.root, namespace, key).unlink()
        return
    client = request.getfixturevalue("s3_server").client()
    client.remove_object(bucket_name=store.bucket_name(namespace), object_name=key)


def test_the_local_store_never_reads_copies_or_adopts_through_a_link(
    local_store: LocalStore, tmp_path: Path
) -> None:
    data = b"seized bytes\n" * 100
    key = put(local_store, data).key
    outside = tmp_path / "outside"
    outside.write_bytes(data)  # the very same bytes, somewhere else
    path = object_path(local_store.root, NS, key)
    path.unlink()
    path.symlink_to(outside)
    reads = {
        "open": lambda: local_store.open(NS, key),
        "copy": lambda: local_store.copy(NS, key, TARGET),
        "download_url": lambda: local_store.download_url(NS, key, timedelta(minutes=5)),
        "put again": lambda: put(local_store, data),
    }
    for name, call in reads.items():
        with pytest.raises(IntegrityError, match="symbolic link|not a regular file"):
            call()
        assert path.is_symlink(), name  # left as found: nothing deleted or replaced
    assert not local_store.exists(TARGET, key)
