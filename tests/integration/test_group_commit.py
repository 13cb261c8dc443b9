"""Ingest in groups (group commit): a crash between the store's group sync
and the catalog's commit, then a resume; a file failing in the middle of a
group; the same content twice in one group. Real stores (local, S3 on RGW)
and real catalogs (SQLite, PostgreSQL)."""

from __future__ import annotations

import errno
import os
from collections import Counter
from collections.abc import Iterator
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

import pytest
from blake3 import blake3

from evidence import audit, setup, sources
from evidence import ingest as ingesting
from evidence.ledger import verify
from evidence.models import ExhibitMetadata
from storage.objects.local import LocalStore
from storage.objects.local_group import place_once
from storage.sql.catalog import SqlCatalog
from tests.fixtures_sql import register_people, sample_case

FILES = 12
GROUP = 5  # groups of 5, 5 and 2


class KilledAtCommit:
    """A catalog whose ``crash_at``-th transaction dies (like a killed
    process) as it opens: that group is in the store, not in the ledger."""

    def __init__(self, inner: SqlCatalog, crash_at: int) -> None:
        self._inner = inner
        self._crash_at = crash_at
        self.transactions = 0

    def transaction(self, case_id: str) -> AbstractContextManager[Any]:
        self.transactions += 1
        if self.transactions == self._crash_at:
            raise SystemExit("killed")
        return self._inner.transaction(case_id)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


def seized(folder: Path, count: int = FILES) -> Path:
    folder.mkdir(parents=True)
    for i in range(count):
        (folder / f"chat-{i:03d}.txt").write_bytes(f"message {i}\n".encode() * (i + 1))
    return folder


def plan_for(catalog: SqlCatalog, folder: Path) -> ingesting.IngestPlan:
    return ingesting.plan_ingest(
        catalog,
        case_id="DANUBE",
        team="BG",
        actor="Insp. Petrova",
        paths=[str(folder)],
        defaults=ExhibitMetadata(),
    )


@pytest.fixture
def case(catalog: SqlCatalog) -> SqlCatalog:
    register_people(catalog)
    setup.open_case(catalog, sample_case(), "Cmsr. Georgiev")
    return catalog


def leftovers(store: Any) -> list[str]:
    """Temporary files the local store left in ``.incoming`` (none for S3 here)."""
    if not isinstance(store, LocalStore):
        return []
    incoming = store.root / "BG" / ".incoming"
    return sorted(os.listdir(incoming)) if incoming.exists() else []


def test_a_crash_between_the_group_sync_and_the_commit_is_resumed(
    case: SqlCatalog, store: Any, tmp_path: Path
) -> None:
    folder = seized(tmp_path / "phone")
    plan = plan_for(case, folder)
    run = case.start_run("DANUBE", "BG", "Insp. Petrova", plan.fingerprint)
    crashing = KilledAtCommit(case, crash_at=2)
    with pytest.raises(SystemExit, match="killed"):
        ingesting.ingest_batch(store, crashing, plan, run, plan.files, commit_every=GROUP)  # type: ignore[arg-type]

    assert len(case.exhibits("DANUBE")) == GROUP  # the first group only
    second = plan.files[GROUP : 2 * GROUP]
    keys = [blake3(Path(f.source.path).read_bytes()).hexdigest() for f in second]
    assert all(store.exists("BG", key) for key in keys)  # durable, not yet in the ledger
    assert leftovers(store) == []

    again = case.start_run("DANUBE", "BG", "Insp. Petrova", plan.fingerprint)
    assert again.resumed and len(again.done) == GROUP
    outcomes = ingesting.ingest_batch(
        store, case, plan, again, ingesting.pending(plan, again), commit_every=GROUP
    )
    assert Counter(o.status for o in outcomes) == {"stored": FILES - GROUP}
    exhibits = case.exhibits("DANUBE")
    assert sorted(e.reference for e in exhibits) == [f"BG-EX-{n:04d}" for n in range(1, FILES + 1)]
    assert {e.relative_path for e in exhibits} == {f.source.relative for f in plan.files}
    assert verify("DANUBE", case.events("DANUBE")).ok
    report = audit.verify_case(case, "DANUBE", store=store)
    assert report.ok, report.as_dict()
    assert leftovers(store) == []


def test_a_file_failing_in_the_middle_of_a_group_records_nothing_of_the_group(
    case: SqlCatalog, store: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = seized(tmp_path / "disk")
    plan = plan_for(case, folder)
    run = case.start_run("DANUBE", "BG", "Insp. Petrova", plan.fingerprint)
    failing = plan.files[GROUP + 2].source.path  # the third file of the second group
    real_open = ingesting.open_once

    def open_once(source: Any) -> Iterator[Any]:
        if source.path == failing:
            raise OSError(errno.EIO, "Input/output error", source.path)
        return real_open(source)

    monkeypatch.setattr(ingesting, "open_once", open_once)
    with pytest.raises(OSError, match="Input/output error"):
        ingesting.ingest_batch(store, case, plan, run, plan.files, commit_every=GROUP)
    # The first group is committed; of the second, nothing is in the ledger and
    # nothing half-written is left in the store's staging area.
    assert sorted(case.run_items(run.id)) == sorted(f.source.relative for f in plan.files[:GROUP])
    assert len(case.exhibits("DANUBE")) == GROUP
    assert leftovers(store) == []
    assert verify("DANUBE", case.events("DANUBE")).ok

    monkeypatch.setattr(ingesting, "open_once", real_open)  # the disk reads again
    again = case.start_run("DANUBE", "BG", "Insp. Petrova", plan.fingerprint)
    outcomes = ingesting.ingest_batch(
        store, case, plan, again, ingesting.pending(plan, again), commit_every=GROUP
    )
    assert Counter(o.status for o in outcomes) == {"stored": FILES - GROUP}
    assert len(case.exhibits("DANUBE")) == FILES


def test_an_unreadable_file_in_a_group_is_reported_and_the_rest_committed(
    case: SqlCatalog, store: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = seized(tmp_path / "disk")
    plan = plan_for(case, folder)
    run = case.start_run("DANUBE", "BG", "Insp. Petrova", plan.fingerprint)
    failing = plan.files[GROUP + 2].source

    class FailingDisk:  # the file opens, then its first read fails as on a bad sector
        def __init__(self, handle: Any) -> None:
            self.handle = handle

        def read(self, size: int = -1, /) -> bytes:
            raise OSError(errno.EIO, "Input/output error")

    real_reading = sources._Reading.__init__

    def reading(self: Any, handle: Any, shown: str) -> None:
        real_reading(self, FailingDisk(handle) if shown == failing.shown else handle, shown)

    monkeypatch.setattr(sources._Reading, "__init__", reading)
    outcomes = ingesting.ingest_batch(store, case, plan, run, plan.files, commit_every=GROUP)
    [unreadable] = [o for o in outcomes if o.status == "unreadable"]
    assert unreadable.source == failing.relative and "Input/output error" in unreadable.message
    assert Counter(o.status for o in outcomes) == {"stored": FILES - 1, "unreadable": 1}
    assert failing.relative not in case.run_items(run.id)
    assert len(case.exhibits("DANUBE")) == FILES - 1
    assert leftovers(store) == []
    assert verify("DANUBE", case.events("DANUBE")).ok


def test_the_same_content_twice_in_one_group_is_one_exhibit_and_a_duplicate(
    case: SqlCatalog, store: Any, tmp_path: Path
) -> None:
    folder = tmp_path / "export"
    folder.mkdir()
    for name in ("a.jpg", "b.jpg", "copy-of-a.jpg"):
        (folder / name).write_bytes(b"\xff\xd8\xff" + (b"A" if "a" in name else b"B") * 4000)
    plan = plan_for(case, folder)
    run = case.start_run("DANUBE", "BG", "Insp. Petrova", plan.fingerprint)
    outcomes = ingesting.ingest_batch(store, case, plan, run, plan.files, commit_every=10)
    status = {o.source: (o.status.value, o.reference) for o in outcomes}
    assert status == {
        "export/a.jpg": ("stored", "BG-EX-0001"),
        "export/b.jpg": ("stored", "BG-EX-0002"),
        "export/copy-of-a.jpg": ("duplicate", "BG-EX-0001"),
    }
    events = [e.action for e in case.events("DANUBE")][-3:]
    assert events == ["INGESTED", "INGESTED", "DUPLICATE_SEEN"]
    if isinstance(store, LocalStore):
        objects = [p for p in (store.root / "BG" / "objects").rglob("*") if p.is_file()]
        assert sorted(p.suffix for p in objects) == ["", "", ".json", ".json"]
        assert all(p.stat().st_mode & 0o222 == 0 for p in objects)  # read-only
    report = audit.verify_case(case, "DANUBE", store=store)
    assert report.ok, report.as_dict()


def test_placing_never_replaces_a_file(tmp_path: Path) -> None:
    first, second, target = tmp_path / "first", tmp_path / "second", tmp_path / "target"
    first.write_bytes(b"the evidence")
    second.write_bytes(b"something else")
    place_once(first, target)
    assert target.read_bytes() == b"the evidence" and not first.exists()
    with pytest.raises(FileExistsError):
        place_once(second, target)
    assert target.read_bytes() == b"the evidence" and second.exists()
