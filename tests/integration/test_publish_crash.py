"""``kill -9`` of a ``jitev`` process while it publishes its case log, then
the next operation: the log and the witnesses agree, no two inconsistent
checkpoints exist, the killed operation's events are all there, and the next
publication is cosigned by every witness (``evidence.tlog.publish``).

BG's witness is a ``jitev witness serve`` process (ME and FR keep the
embedded default); jitev reaches it through a ``Gate``, an HTTP relay in this
test that forwards to it and, once armed, holds the ``add-checkpoint``
request of one checkpoint size: before forwarding it (the log signed and
stored its checkpoint, no witness answered yet), or after BG answered (BG's
state moved on, jitev never got its cosignature). The test kills jitev while
the request is held. BG is the case's first team, so it is the first witness
asked: ME and FR were not asked when the kill comes.

The exhibits are ingested in this process (``evidence.ingest`` into the
deployment's catalog and store: ``jitev ingest`` is a Prefect flow, slow to
start); the killed commands and the next operations are the real ``jitev``."""

from __future__ import annotations

import contextlib
import http.server
import io
import os
import signal
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from itertools import pairwise
from pathlib import Path

import httpx
import pytest

from config.wiring import SystemClock
from evidence import audit, disclosure
from evidence import ingest as ingesting
from evidence.audit import CaseFacts
from evidence.bundle.verify import verify_bundle
from evidence.findings import Report
from evidence.manifest import from_fields
from evidence.models import Action, TransferState
from evidence.ports import WitnessClient
from evidence.tlog import merkle, notes, proofs
from evidence.tlog.check import StoredCheckpoint, roots_at
from evidence.tlog.notes import NOTE_SIGNATURE, Checkpoint, NoteError, VerifierKey
from evidence.tlog.witness import Refused, parse_request
from storage.keys import TeamSigner
from storage.objects.local import LocalStore
from storage.sql.catalog import SqlCatalog
from storage.witnesses import HttpWitness, LocalWitness, local_witness
from tests.fixtures_sql import BACKENDS, StepClock
from tests.integration.cli_helpers import (
    AUDITOR,
    INVESTIGATOR,
    JITEV,
    SETUP_EVENTS,
    environment,
    jitev,
    jitev_json,
    open_case,
)
from tests.integration.witness_helpers import (
    ORIGIN,
    STARTUP_S,
    WitnessProcess,
    configure,
    free_port,
    log_key,
    size_of,
    start_witnesses,
)

CASE = "DANUBE"
TEAMS = ("BG", "ME", "FR")
FILES = ("chat.txt", "invoice.txt", "ledger.txt")
INGESTED = SETUP_EVENTS + len(FILES)  # events 6-8, ingested in this process, not yet published
REQUESTED = INGESTED + 2  # events 9-10: the killed `transfer request` of BG-EX-0001 and -0002
WITNESS_PREFIX = "jitev.local/witness/"
REQUEST = ["transfer", "request", "BG-EX-0001", "BG-EX-0002", "--case", CASE, "--to", "FR"]
HANDLING = ["exhibits", "handling", "BG-EX-0003", "--code", "H2", "--as", "Cmsr. Georgiev"]


def checkpoint_size(body: bytes) -> int | None:
    """The size of the checkpoint an ``add-checkpoint`` request asks to cosign."""
    try:
        _, _, note = parse_request(body)
        return Checkpoint.parse(note.text).size
    except (Refused, NoteError):
        return None


class Gate:
    """An HTTP relay to a witness. ``hold(size, after_answer)`` arms it for
    the ``add-checkpoint`` request of a checkpoint of ``size``: that one is
    held (forwarded first when ``after_answer``) until ``release``, and
    ``arrived`` is set once it is held; every other request is relayed."""

    def __init__(self, target: str) -> None:
        self.target = target
        self.arrived = threading.Event()
        self._release = threading.Event()
        self._armed: tuple[int, bool] | None = None
        self.answered: httpx.Response | None = None  # the witness's answer to the held one
        gate = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                self._relay(httpx.get(gate.target + self.path, timeout=30))

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                armed = gate._armed
                if armed is None or checkpoint_size(body) != armed[0]:
                    self._relay(httpx.post(gate.target + self.path, content=body, timeout=30))
                    return
                gate._armed = None
                if armed[1]:
                    gate.answered = httpx.post(gate.target + self.path, content=body, timeout=30)
                gate.arrived.set()
                gate._release.wait(STARTUP_S)
                with contextlib.suppress(OSError):  # its client is dead by now
                    self.send_error(503)

            def _relay(self, answer: httpx.Response) -> None:
                self.send_response(answer.status_code)
                self.send_header("Content-Type", answer.headers.get("content-type", "text/plain"))
                self.send_header("Content-Length", str(len(answer.content)))
                self.end_headers()
                self.wfile.write(answer.content)

            def log_message(self, format: str, *args: object) -> None:  # noqa: A002
                pass

        self.port = free_port()
        self._server = http.server.ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self._server.daemon_threads = False  # server_close joins the handlers' threads
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def hold(self, size: int, *, after_answer: bool) -> None:
        self.arrived.clear()
        self._release.clear()
        self.answered = None
        self._armed = (size, after_answer)

    def release(self) -> None:
        self._release.set()

    def close(self) -> None:
        self.release()
        self._server.shutdown()
        self._server.server_close()


@dataclass
class Deployment:
    home: Path
    env: dict[str, str]
    url: str  # its catalog database
    log: TeamSigner
    bg: WitnessProcess
    gate: Gate  # in front of BG's witness
    client: httpx.Client  # to ask BG's witness directly

    def catalog(self) -> SqlCatalog:
        return SqlCatalog(self.url, StepClock())

    def store(self) -> LocalStore:
        return LocalStore(self.home / "objects", retention_days=3650, clock=SystemClock())

    def witnesses(self) -> list[WitnessClient]:
        """Each team's witness, asked directly: BG's over HTTP without the
        gate, ME's and FR's from their embedded state."""
        bg = HttpWitness("BG", self.bg.url, VerifierKey.parse(self.bg.vkey), self.client)
        found: list[WitnessClient] = [bg]
        for team in TEAMS[1:]:
            folder = self.home / "witnesses" / team
            key_name = f"{WITNESS_PREFIX}{team}"
            witness = local_witness(folder, team, key_name, "jitev.local/", self.log.public_key)
            found.append(LocalWitness(team, witness))
        return found

    def witnessed(self) -> dict[str, str | None]:
        """Each witness's latest cosigned checkpoint."""
        return {w.name: w.latest(ORIGIN) for w in self.witnesses()}

    def witnessed_sizes(self) -> dict[str, int]:
        return {t: size_of(note) if note else 0 for t, note in self.witnessed().items()}

    def verify(self) -> Report[CaseFacts]:
        """``ledger verify``'s checks, with each witness asked directly."""
        with self.catalog() as catalog:
            report = audit.verify_case(catalog, CASE, witnesses=self.witnesses())
        assert report.ok, "\n".join(f.text() for f in report.findings)
        return report

    def ingest(self, folder: Path) -> None:
        """BG's investigator ingests the files of ``folder`` (no publication)."""
        with self.catalog() as catalog:
            plan = ingesting.plan_ingest(
                catalog,
                case_id=CASE,
                team="BG",
                actor=INVESTIGATOR,
                paths=[str(folder)],
                defaults=from_fields({"description": "Seized at Kapitan Andreevo"}),
            )
            run = catalog.start_run(CASE, "BG", INVESTIGATOR, plan.fingerprint)
            ingesting.ingest_batch(self.store(), catalog, plan, run, plan.files, commit_every=64)
            catalog.finish_run(run.id)

    def kill_while_held(self, args: list[str]) -> None:
        """Run ``jitev *args`` and kill -9 it (its process group) once the
        gate holds its request."""
        process = subprocess.Popen(
            [JITEV, *args],
            env=self.env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
            start_new_session=True,
        )
        deadline = time.monotonic() + STARTUP_S  # a generous bound, never a measured time
        try:
            while not (held := self.gate.arrived.wait(0.05)):
                if process.poll() is not None or time.monotonic() > deadline:
                    break
        finally:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            _, errors = process.communicate()
            self.gate.release()
        assert held, f"jitev never asked BG's witness for that checkpoint:\n{errors}"
        assert process.returncode == -signal.SIGKILL, errors


@pytest.fixture
def database(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """The catalog's URL: the home's SQLite file, or a fresh PostgreSQL schema."""
    if getattr(request, "param", "sqlite") == "sqlite":
        return f"sqlite:///{tmp_path / 'home' / 'jitev.db'}"
    schema = request.getfixturevalue("pg_schema")
    return str(schema.url)


@pytest.fixture
def deployment(tmp_path: Path, database: str) -> Iterator[Deployment]:
    """``jitev setup`` done (5 events, cosigned by all) with BG's witness
    served behind the gate, and BG's three exhibits ingested (events 6-8).
    No command here runs a Prefect flow: an empty Prefect home of its own."""
    home = tmp_path / "home"
    log = log_key(home)
    [bg] = start_witnesses(tmp_path, ["BG"], log.public_key)
    gate = Gate(bg.url)
    client = httpx.Client(timeout=30)
    try:
        configure(home, {"BG": (gate.url, bg.vkey)})
        env = environment(home, tmp_path / "prefect", JITEV_DB_URL=database)
        open_case(env)
        made = Deployment(home, env, database, log, bg, gate, client)
        seized = tmp_path / "seized"
        seized.mkdir()
        for name in FILES:
            (seized / name).write_text(f"{name}: seized at Kapitan Andreevo\n")
        made.ingest(seized)
        yield made
    finally:
        client.close()
        gate.close()
        bg.stop()


def stored_cosigners(catalog: SqlCatalog) -> dict[int, set[str]]:
    """Per stored checkpoint, the teams whose cosignature the catalog holds."""
    return {
        cp.size: {
            s.name.removeprefix(WITNESS_PREFIX)
            for s in notes.parse(cp.note).signatures
            if s.name.startswith(WITNESS_PREFIX)
        }
        for cp in catalog.checkpoints(CASE)
    }


def cli_verified(env: dict[str, str]) -> dict[str, object]:
    """``jitev ledger verify --json``, its witnesses asked as configured."""
    [report] = jitev_json(env, "ledger", "verify", "--as", AUDITOR)
    assert isinstance(report, dict) and report["ok"] is True, report
    return report


def assert_one_history(d: Deployment) -> list[int]:
    """Every stored checkpoint is signed by the log key and has the root of
    the events at its size; each is consistent with the next (a proof from the
    catalog's tree, checked against both signed roots); every witness's latest
    checkpoint is one the catalog stores, with the same root. The sizes stored."""
    key = VerifierKey(ORIGIN, NOTE_SIGNATURE, bytes.fromhex(d.log.public_key))
    with d.catalog() as catalog:
        stored: list[StoredCheckpoint] = catalog.checkpoints(CASE)
        roots, bad = roots_at(list(catalog.events(CASE)), {cp.size for cp in stored})
        assert not bad
        for cp in stored:
            note = notes.parse(cp.note)
            parsed = Checkpoint.parse(note.text)
            assert (parsed.origin, parsed.size, parsed.root) == (ORIGIN, cp.size, cp.root)
            assert notes.verified(note, [key]), f"checkpoint {cp.size} is not the log's"
            assert roots[cp.size] == cp.root, f"checkpoint {cp.size} is not of these events"
        for old, new in pairwise(stored):
            proof = proofs.consistency(catalog, CASE, old.size, new.size)
            merkle.verify_consistency(old.size, new.size, proof, old.root, new.root)
    by_size = {cp.size: cp.root for cp in stored}
    for team, text in d.witnessed().items():
        assert text is not None, f"witness {team} cosigned nothing"
        seen = Checkpoint.parse(notes.parse(text).text)
        assert by_size.get(seen.size) == seen.root, f"witness {team} cosigned another checkpoint"
    return [cp.size for cp in stored]


def assert_requested_whole(catalog: SqlCatalog) -> None:
    """The killed ``transfer request``'s events and row are all there."""
    events = list(catalog.events(CASE))
    assert len(events) == REQUESTED
    assert [(e.action, e.exhibit) for e in events[INGESTED:]] == [
        (Action.TRANSFER_REQUESTED, "BG-EX-0001"),
        (Action.TRANSFER_REQUESTED, "BG-EX-0002"),
    ]
    [transfer] = catalog.transfers(CASE)
    assert transfer.state is TransferState.REQUESTED
    assert [i.reference for i in transfer.items] == ["BG-EX-0001", "BG-EX-0002"]


def test_killed_before_any_witness_answered(deployment: Deployment) -> None:
    """``transfer request`` committed its events, signed and stored the
    checkpoint of 10 events, and was killed while BG's witness was asked
    (nobody answered). The next action's publication covers everything."""
    d = deployment
    d.gate.hold(REQUESTED, after_answer=False)
    d.kill_while_held([*REQUEST, "--as", INVESTIGATOR])

    with d.catalog() as catalog:
        assert_requested_whole(catalog)
        assert stored_cosigners(catalog) == {SETUP_EVENTS: set(TEAMS), REQUESTED: set()}
    assert d.witnessed_sizes() == dict.fromkeys(TEAMS, SETUP_EVENTS)
    report = d.verify()  # not yet witnessed is not a failure
    assert (report.facts.covered, report.facts.uncovered) == (
        SETUP_EVENTS,
        REQUESTED - SETUP_EVENTS,
    )
    assert assert_one_history(d) == [SETUP_EVENTS, REQUESTED]

    done = jitev(d.env, *HANDLING)
    assert "did not cosign" not in done.stderr, done.stderr
    size = REQUESTED + 1
    with d.catalog() as catalog:
        assert stored_cosigners(catalog) == {
            SETUP_EVENTS: set(TEAMS),
            REQUESTED: set(),  # signed, never cosigned: the next one covers it
            size: set(TEAMS),
        }
    assert d.witnessed_sizes() == dict.fromkeys(TEAMS, size)
    report = d.verify()
    assert (report.facts.covered, report.facts.uncovered, report.notes) == (size, 0, ())
    assert assert_one_history(d) == [SETUP_EVENTS, REQUESTED, size]
    assert cli_verified(d.env)["covered"] == size


@pytest.mark.parametrize("database", BACKENDS, indirect=True)
def test_killed_after_a_witness_cosigned(deployment: Deployment) -> None:
    """BG's witness cosigned the checkpoint of 10 events and moved on; jitev
    died before it stored the cosignature. The catalog believes BG is at
    size 5, BG says 10: the next publication is answered 409, asks again from
    10, and every witness cosigns it."""
    d = deployment
    d.gate.hold(REQUESTED, after_answer=True)
    d.kill_while_held([*REQUEST, "--as", INVESTIGATOR])
    assert d.gate.answered is not None and d.gate.answered.status_code == 200
    lost = d.gate.answered.text  # the cosignature jitev never stored
    assert lost.startswith(f"\u2014 {WITNESS_PREFIX}BG ")

    with d.catalog() as catalog:
        assert_requested_whole(catalog)
        assert stored_cosigners(catalog) == {SETUP_EVENTS: set(TEAMS), REQUESTED: set()}
        assert catalog.witness_sizes(CASE) == dict.fromkeys(TEAMS, SETUP_EVENTS)
    bg_latest = d.witnessed()["BG"]
    assert bg_latest is not None and lost in bg_latest  # the witness kept what jitev lost
    assert d.witnessed_sizes() == {"BG": REQUESTED, "ME": SETUP_EVENTS, "FR": SETUP_EVENTS}
    report = d.verify()  # BG's checkpoint is one the catalog stores: nothing to find
    assert (report.facts.covered, report.facts.uncovered) == (
        SETUP_EVENTS,
        REQUESTED - SETUP_EVENTS,
    )
    assert assert_one_history(d) == [SETUP_EVENTS, REQUESTED]

    done = jitev(d.env, *HANDLING)
    assert "did not cosign" not in done.stderr, done.stderr
    size = REQUESTED + 1
    with d.catalog() as catalog:
        assert stored_cosigners(catalog)[size] == set(TEAMS)
        assert catalog.witness_sizes(CASE) == dict.fromkeys(TEAMS, size)
    assert d.witnessed_sizes() == dict.fromkeys(TEAMS, size)
    report = d.verify()
    assert (report.facts.covered, report.facts.uncovered, report.notes) == (size, 0, ())
    assert assert_one_history(d) == [SETUP_EVENTS, REQUESTED, size]
    assert cli_verified(d.env)["covered"] == size


def test_killed_while_a_bundle_seal_is_cosigned(deployment: Deployment) -> None:
    """``bundle create`` killed while the checkpoint covering its
    BUNDLE_SEALED event (9) is being cosigned: the seal event stays alone in
    the ledger, no bundle is recorded or stored, and making the bundle again
    gives one that verifies, under the same id."""
    d = deployment
    create = ["bundle", "create", "--case", CASE, "--all-held", "--as", "Pr. Dimitrov"]
    sealed = INGESTED + 1
    d.gate.hold(sealed, after_answer=False)  # the one before the seal (8) goes through
    d.kill_while_held(create)
    bundles = d.home / "objects" / disclosure.NAMESPACE

    with d.catalog() as catalog:
        events = list(catalog.events(CASE))
        assert [e.action for e in events[INGESTED:]] == [Action.BUNDLE_SEALED]
        assert catalog.bundles(CASE) == []
        assert stored_cosigners(catalog)[INGESTED] == set(TEAMS)
        assert stored_cosigners(catalog)[sealed] == set()
    assert not any(p.is_file() for p in bundles.rglob("*"))
    report = d.verify()
    assert (report.facts.covered, report.facts.uncovered) == (INGESTED, 1)
    assert assert_one_history(d) == [SETUP_EVENTS, INGESTED, sealed]

    made = jitev_json(d.env, *create)
    assert made["id"] == f"{CASE}-BG-B-0001"
    assert made["exhibits"] == ["BG-EX-0001", "BG-EX-0002", "BG-EX-0003"]
    with d.catalog() as catalog:
        events = list(catalog.events(CASE))
        actions = [e.action for e in events[INGESTED:]]
        assert actions == [Action.BUNDLE_SEALED] * 2 + [Action.DISCLOSED] * len(FILES)
        seal = events[sealed]  # the second seal: the one the bundle carries
        assert seal.details["bundle"] == events[sealed - 1].details["bundle"] == made["id"]
        assert {e.details["checkpoint"] for e in events[sealed + 1 :]} == {seal.seq}
        assert stored_cosigners(catalog)[seal.seq] == set(TEAMS)
        [bundle] = catalog.bundles(CASE)
        assert bundle.id == made["id"]
    kept = [p.name for p in bundles.rglob("*") if p.is_file() and "." not in p.name]
    assert kept == [bundle.blake3]  # nothing of the killed attempt was stored

    got = bytearray()
    disclosure.download_bundle(d.store(), bundle, got.extend, sensitive=False)
    checked = verify_bundle(io.BytesIO(bytes(got)))
    assert checked.ok, checked.findings
    assert f"sealed at event {seal.seq}" in checked.check("seal").detail
    assert f"checkpoint of {seal.seq} events" in checked.check("log").detail
    report = d.verify()
    assert (report.facts.covered, report.facts.uncovered, report.notes) == (len(events), 0, ())
    assert assert_one_history(d)[-1] == len(events)
    assert cli_verified(d.env)["covered"] == len(events)
