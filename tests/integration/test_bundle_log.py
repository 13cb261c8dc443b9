"""Disclosure bundles and the case log, on SQLite and PostgreSQL, through the
real services (``evidence.disclosure``) with the witnessed case of
``log_helpers`` (FR holds BG-EX-0001 and -0002, received; every checkpoint
cosigned by the three teams' witnesses):

- every bundle carries a consistency proof from each earlier bundle's
  checkpoint, and ``verify_bundle(later, against=earlier)`` holds, for any two
  (``test_cli_transfers`` does one pair through the command, and the wrong
  way round);
- history rewritten between two bundles, the witnesses colluding (their state
  reset, their keys kept, so that they cosign the new history): each bundle
  verifies alone, the later one fails against the earlier;
- a witness that is down refuses the bundle, recording and storing nothing
  (or, when it fails at the seal, only the seal event);
- a real bundle re-bagged (its BagIt manifests recomputed) without its
  provenance, or with an edited schedule, fails the seal."""

from __future__ import annotations

import csv
import io
import shutil
import zipfile
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from sqlalchemy import Connection

from evidence import disclosure
from evidence.bundle import layout
from evidence.bundle.bag import BagWriter
from evidence.bundle.verify import BundleReport, verify_bundle
from evidence.errors import WitnessUnavailable
from evidence.models import Action, Bundle, HandlingCode
from evidence.ports import WitnessClient
from evidence.tlog import notes, proofs
from evidence.tlog.notes import Checkpoint
from evidence.tlog.publish import Publication, Publish, publish
from storage.sql.catalog import SqlCatalog
from storage.witnesses import HttpWitness
from tests.fixtures_sql import StepClock
from tests.integration.log_helpers import (
    CASE,
    EVENTS,
    ORIGIN,
    TEAMS,
    LogCase,
    Template,
    copy_of,
    rewrite_event,
    stored_events,
    template,
    wipe_log,
)
from tests.integration.witness_helpers import free_port

PROSECUTOR = "Pr. Dubois"  # FR: holds BG-EX-0001 and BG-EX-0002
HELD = ["BG-EX-0001", "BG-EX-0002"]
SEALED = "a sealed file was edited, added or removed after the seal was cosigned"


@pytest.fixture(scope="module")
def made(tmp_path_factory: pytest.TempPathFactory) -> Template:
    return template(tmp_path_factory.mktemp("log-case"))


@pytest.fixture
def case(made: Template, catalog: SqlCatalog, clock: StepClock, tmp_path: Path) -> LogCase:
    """The case, in a fresh catalog of each backend."""
    return copy_of(made, catalog, clock, tmp_path / "case")


def publisher(case: LogCase, witnesses: Callable[[], list[WitnessClient]] | None = None) -> Publish:
    """What publishes the case's log, as the wiring does; ``witnesses`` gives
    the clients of each call (default: the case's own, all up)."""

    def run(case_id: str) -> Publication:
        asked: list[WitnessClient] = witnesses() if witnesses else list(case.witnesses)
        return publish(case.catalog, case_id, ORIGIN, case.log_key, asked, case.policy)

    return run


def bundle_of(case: LogCase, tmp_path: Path, publish_with: Publish | None = None) -> Bundle:
    """FR's prosecutor bundles every exhibit FR holds."""
    plan = disclosure.plan_bundle(case.catalog, case.person(PROSECUTOR), CASE, None)
    workdir = tmp_path / "work"
    workdir.mkdir(exist_ok=True)
    return disclosure.create_bundle(
        case.store, case.catalog, plan, workdir, publish_with or publisher(case)
    )


def zipped(case: LogCase, bundle: Bundle) -> bytes:
    got = bytearray()
    disclosure.download_bundle(case.store, bundle, got.extend, sensitive=False)
    return bytes(got)


def verify(data: bytes, against: bytes | None = None) -> BundleReport:
    return verify_bundle(io.BytesIO(data), None if against is None else io.BytesIO(against))


def checkpoint_of(data: bytes, bundle: Bundle) -> Checkpoint:
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        text = zf.read(f"{bundle.id}/data/{layout.CHECKPOINT}").decode()
    return Checkpoint.parse(notes.parse(text).text)


def consistency_files(data: bytes, bundle: Bundle) -> dict[int, tuple[int, int]]:
    """The bag's consistency proofs: earlier size -> (old, new) as the file says."""
    prefix = f"{bundle.id}/data/{layout.CONSISTENCY}/"
    found = {}
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        for name in zf.namelist():
            if name.startswith(prefix):
                old, new, _ = proofs.parse_consistency_file(zf.read(name).decode())
                found[int(name[len(prefix) :].removesuffix(".tlog-consistency"))] = (old, new)
    return found


def against_findings(report: BundleReport) -> list[tuple[str, str, str]]:
    return [(f.where, f.kind, f.message) for f in report.findings_of("against")]


def nothing_stored(case: LogCase) -> bool:
    area = case.root / "objects" / disclosure.NAMESPACE
    return not any(p.is_file() for p in area.rglob("*"))


# -- successive bundles ------------------------------------------------------------


def test_each_bundle_proves_the_log_grew_from_every_earlier_one(
    case: LogCase, tmp_path: Path
) -> None:
    bundles: list[tuple[Bundle, bytes]] = []
    for round_ in range(3):
        if round_:  # custody goes on between the bundles, published as jitev does
            code = (HandlingCode.H2, HandlingCode.H0)[round_ - 1]
            case.set_handling("BG-EX-0003", code)
            assert case.publish().published
        made = bundle_of(case, tmp_path)
        assert made.exhibits == tuple(HELD)
        bundles.append((made, zipped(case, made)))
    sizes = [checkpoint_of(data, b).size for b, data in bundles]
    assert sizes[0] > EVENTS and sizes[0] < sizes[1] < sizes[2]
    for (b, _), size in zip(bundles, sizes, strict=True):  # its DISCLOSED events say which
        disclosed = [e for e in case.catalog.events(CASE) if e.details.get("bundle") == b.id]
        assert {e.details["checkpoint"] for e in disclosed if e.action == Action.DISCLOSED} == {
            size
        }
    # one consistency proof per earlier bundle, from its checkpoint to this one's
    for i, (b, data) in enumerate(bundles):
        assert consistency_files(data, b) == {m: (m, sizes[i]) for m in sizes[:i]}
        assert verify(data).ok, verify(data).findings
    for i, j in [(0, 1), (1, 2), (0, 2)]:
        (_, earlier), (_, later) = bundles[i], bundles[j]
        report = verify(later, against=earlier)
        assert report.ok, report.findings
        assert report.check("against").detail == (
            f"the log grew from {sizes[i]} to {sizes[j]} events, and only grew"
        )
    backwards = verify(bundles[0][1], against=bundles[2][1])
    assert not backwards.ok and not backwards.check("against").ok
    [(where, kind, message)] = against_findings(backwards)
    assert (where, kind) == (f"data/{layout.CHECKPOINT}", "log")
    assert f"covers {sizes[0]} events; the earlier bundle's covered {sizes[2]}" in message
    assert "the log shrank" in message


# -- history rewritten, the witnesses colluding -------------------------------------


def test_history_rewritten_with_colluding_witnesses_fails_against_the_older_bundle(
    case: LogCase, tmp_path: Path
) -> None:
    first = bundle_of(case, tmp_path)
    older = zipped(case, first)
    m = checkpoint_of(older, first).size

    def rewrite(conn: Connection) -> None:
        approved = stored_events(conn)[10]
        assert approved.action == Action.TRANSFER_APPROVED and approved.exhibit in HELD
        rewrite_event(conn, 11, details={**approved.details, "reason": "Outside the purposes"})
        wipe_log(conn)  # the catalog forgets what it signed

    with case.catalog.engine.begin() as conn:
        rewrite(conn)
    for team in TEAMS:  # and so do the witnesses; their keys stay
        shutil.rmtree(case.root / "witnesses" / team / "checkpoints")
        assert (case.root / "witnesses" / team / "witness.ed25519.pem").is_file()

    second = bundle_of(case, tmp_path)
    newer = zipped(case, second)
    alone = verify(newer)  # signed, cosigned by every witness, proofs that hold
    assert alone.ok, alone.findings
    assert "cosigned by BG, ME, FR" in alone.check("log").detail
    assert verify(older).ok
    n = checkpoint_of(newer, second).size
    assert consistency_files(newer, second) == {m: (m, n)}  # the earlier DISCLOSED events say m

    report = verify(newer, against=older)
    assert not report.ok and not report.check("against").ok
    assert [c.name for c in report.checks if not c.ok] == ["against"]
    [(where, kind, message)] = against_findings(report)
    assert (where, kind) == (f"data/{layout.CONSISTENCY}", "log")
    assert f"the log of {n} events does not extend the earlier bundle's {m}" in message
    assert "history was rewritten between the two bundles" in message


# -- a witness down -----------------------------------------------------------------


@pytest.mark.parametrize("down_at", ["before the seal", "at the seal"])
def test_a_witness_down_refuses_the_bundle_and_stores_nothing(
    case: LogCase, tmp_path: Path, down_at: str
) -> None:
    """ME's witness does not answer (nothing listens at its address): the
    policy's quorum (every team) is not met, the bundle is refused. Before
    the seal nothing is recorded; at the seal only the BUNDLE_SEALED event
    is, alone. Either way nothing is stored, no DISCLOSED event or bundle row
    is recorded, and once ME's witness answers the bundle is made."""
    up = list(case.witnesses)
    me = next(w for w in up if w.name == "ME")
    client = httpx.Client(timeout=30)
    down = HttpWitness("ME", f"http://127.0.0.1:{free_port()}", me.key, client)
    absent = [down if w.name == "ME" else w for w in up]
    calls: list[int] = []

    def witnesses() -> list[WitnessClient]:
        calls.append(1)
        if down_at == "before the seal" or len(calls) > 1:
            return list(absent)
        return list(up)

    case.set_handling("BG-EX-0003", HandlingCode.H2)  # events the witnesses have not seen
    before = list(case.catalog.events(CASE))
    with client, pytest.raises(WitnessUnavailable) as refused:
        bundle_of(case, tmp_path, publisher(case, witnesses))
    message = str(refused.value)
    after = list(case.catalog.events(CASE))
    new = [e.action for e in after[len(before) :]]
    if down_at == "before the seal":
        assert len(calls) == 1 and new == []
        assert f"the checkpoint {down_at} lacks the cosignatures" in message
    else:
        assert len(calls) == 2 and new == [Action.BUNDLE_SEALED]
        assert f"the checkpoint of the seal (event {after[-1].seq}) lacks" in message
    assert f"no bundle of case {CASE} was stored" in message
    assert "witness ME: witness ME at http://127.0.0.1:" in message
    assert "did not answer" in message
    assert case.catalog.bundles(CASE) == []
    assert nothing_stored(case)
    assert list((tmp_path / "work").iterdir()) == []  # its temporary files are gone

    made = bundle_of(case, tmp_path)  # ME's witness answers again
    assert made.id == f"{CASE}-FR-B-0001" and made.exhibits == tuple(HELD)
    report = verify(zipped(case, made))
    assert report.ok, report.findings
    assert "cosigned by BG, ME, FR" in report.check("log").detail
    disclosed = [e for e in case.catalog.events(CASE) if e.action == Action.DISCLOSED]
    assert [e.exhibit for e in disclosed] == HELD
    assert case.verify().ok, case.verify().summary


# -- a real bundle, re-bagged ---------------------------------------------------------


def rebag(data: bytes, edit: Callable[[dict[str, bytes]], None]) -> bytes:
    """The bundle bagged again after ``edit`` changed its payload (paths
    under data/): the same name, time and bag-info, every BagIt manifest and
    the Payload-Oxum recomputed, as a careful tamperer does."""
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        entries = zf.infolist()
        name = entries[0].filename.split("/", 1)[0]
        payload = {
            e.filename.removeprefix(f"{name}/data/"): zf.read(e)
            for e in entries
            if e.filename.startswith(f"{name}/data/") and not e.is_dir()
        }
        info_lines = zf.read(f"{name}/bag-info.txt").decode().splitlines()
        when = datetime(*zf.getinfo(f"{name}/bag-info.txt").date_time, tzinfo=UTC)
    info = [line.partition(": ") for line in info_lines]
    kept = [(k, v) for k, _, v in info if k.lower() not in ("bagging-date", "payload-oxum")]
    edit(payload)
    out = io.BytesIO()
    with BagWriter(out, name=name, when=when, info=kept) as bag:
        for path in sorted(payload, key=lambda p: p.encode()):
            bag.add_bytes(path, payload[path])
    return out.getvalue()


def drop_provenance(payload: dict[str, bytes]) -> None:
    del payload[layout.PROVENANCE]


def edit_schedule(payload: dict[str, bytes]) -> None:
    rows = list(csv.DictReader(io.StringIO(payload[layout.SCHEDULE].decode())))
    rows[0]["description"] = "Found at the defendant's home"
    payload[layout.SCHEDULE] = layout.schedule_csv(rows)


@pytest.mark.parametrize("edit", [drop_provenance, edit_schedule], ids=["provenance", "schedule"])
def test_a_real_bundle_rebagged_after_an_edit_fails_the_seal(
    case: LogCase, tmp_path: Path, edit: Callable[[dict[str, bytes]], None]
) -> None:
    made = bundle_of(case, tmp_path)
    data = zipped(case, made)
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        assert f"{made.id}/data/{layout.PROVENANCE}" in zf.namelist()
    same = rebag(data, lambda payload: None)
    assert verify(same).ok, verify(same).findings  # re-bagging alone changes nothing

    report = verify(rebag(data, edit))
    assert report.check("bag").ok  # the bag's own manifests agree with it
    # an edited description disagrees with the exhibit's INGESTED event too
    failed = ["ledger", "seal"] if edit is edit_schedule else ["seal"]
    assert [c.name for c in report.checks if not c.ok] == failed
    [finding] = report.findings_of("seal")
    assert finding.where.startswith(f"data/{layout.LEDGER} event ")
    assert finding.where.endswith("(BUNDLE_SEALED)") and finding.kind == "seal"
    assert SEALED in finding.message
