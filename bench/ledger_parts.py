"""The log bench/ledger.py measures: its constants and goals, its events
(made from their index alone), the three witness processes, the log built
in a fresh home, the timed appends, and the rows of the report. See
bench/ledger.py's docstring for what is measured and how."""

from __future__ import annotations

import hashlib
import os
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from blake3 import blake3

from app import actions
from config import wiring
from config.settings import load as load_settings
from evidence import ledger, setup
from evidence.models import Action, Case, CustodyEvent
from evidence.ports import EventDraft, WitnessClient
from evidence.tlog import merkle
from evidence.tlog.notes import VerifierKey
from evidence.tlog.policy import Policy
from evidence.tlog.publish import publish
from storage.sql import records
from storage.sql.tables import custody_events, tree_nodes

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from bench.common import (  # noqa: E402 - after the path is set
    ACTOR,
    ADMIN,
    TEAM,
    bench_case,
    clean_settings_env,
    register_people,
    say,
)

CASE = "LEDGER"
OTHERS = ("FR", "NL")  # with TEAM (BG, the lead): three member teams, three witnesses
TEAMS = (TEAM, *OTHERS)
BATCH = 1000  # events a transaction
APPEND_TX = 20  # timed transactions into the young log, and into the full one
PROOFS = 1000  # inclusion proofs computed
EXTRA = 5  # events appended before each timed publication
SEED = 20260314
START = datetime(2026, 3, 14, 6, 0, tzinfo=UTC)
TICK = timedelta(microseconds=1237)
VERIFY_MEMORY_GOAL = 250_000  # events/s
VERIFY_SQL_GOAL = 100_000  # events/s
APPEND_GOAL = 10_000  # events/s
PROOF_GOAL = 0.1  # proofs' time at most this times the root's
JITEV = str(Path(sys.executable).parent / "jitev")
STARTUP_S = 180  # a bound on a witness's start, never a measured time


# -- results -------------------------------------------------------------------------


@dataclass
class Row:
    workload: str
    unit: str  # "events/s", "s" or "ms"
    jitev: float
    baseline: float | None = None  # same unit
    baseline_name: str = ""
    least: float | None = None  # goal: jitev at least this, in ``unit``
    most_ratio: float | None = None  # goal: jitev / baseline at most this
    note: str = ""
    samples: dict[str, list[float]] = field(default_factory=dict)  # seconds per measurement

    @property
    def ratio(self) -> float | None:
        return None if not self.baseline else self.jitev / self.baseline

    @property
    def goal(self) -> str:
        if self.least is not None:
            return f">= {fmt(self.least, self.unit)}"
        if self.most_ratio is not None:
            return f"<= {self.most_ratio:g}x"
        return "-"

    @property
    def verdict(self) -> str:
        if self.least is not None:
            return "met" if self.jitev >= self.least else "MISSED"
        if self.most_ratio is not None and self.ratio is not None:
            return "met" if self.ratio <= self.most_ratio else "MISSED"
        return "info"

    def cells(self) -> tuple[str, ...]:
        baseline = "-"
        if self.baseline is not None:
            baseline = f"{fmt(self.baseline, self.unit)} ({self.baseline_name})"
        ratio = "-" if self.ratio is None else f"{self.ratio:.3f}x"
        return (self.workload, fmt(self.jitev, self.unit), baseline, ratio, self.goal)

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "ratio": self.ratio, "goal": self.goal, "verdict": self.verdict}


def fmt(value: float, unit: str) -> str:
    if unit == "s":
        return f"{value:,.3f} s"
    if unit == "ms":
        return f"{value:,.1f} ms"
    return f"{value:,.0f} {unit}"


def render(rows: list[Row]) -> str:
    """The rows as a text table (as the other benches print theirs), then the notes."""
    grid: list[tuple[str, ...]] = [("workload", "jitev", "baseline", "ratio", "goal", "result")]
    grid += [(*r.cells(), r.verdict) for r in rows]
    sizes = [max(map(len, column)) for column in zip(*grid, strict=True)]
    grid.insert(1, tuple("-" * n for n in sizes))
    text = ["  ".join(map(str.ljust, cells, sizes)).rstrip() for cells in grid]
    notes = [f"  {r.workload}: {r.note}" for r in rows if r.note]
    return "\n".join(text + (["", "notes:", *notes] if notes else []))


def best_of(repeat: int, fn: Callable[[], Any], before: Callable[[], None] | None = None) -> Any:
    """``fn`` timed ``repeat`` times (``before`` untimed before each): the
    seconds of each, and the last result."""
    seconds, result = [], None
    for _ in range(repeat):
        if before is not None:
            before()
        start = time.perf_counter()
        result = fn()
        seconds.append(time.perf_counter() - start)
    return seconds, result


# -- the data ------------------------------------------------------------------------


class BenchClock:
    """The catalog's clock: a counter, one ``TICK`` a call (same calls, same times)."""

    def __init__(self) -> None:
        self.ticks = 0

    def now(self) -> datetime:
        self.ticks += 1
        return START + self.ticks * TICK


def draft(i: int, run_id: str) -> EventDraft:
    """Event ``i`` of the generated part of the log (see the module's docstring)."""
    digest = blake3(i.to_bytes(8, "big")).hexdigest()
    sha256 = hashlib.sha256(digest.encode()).hexdigest()
    photo = i // 2
    reference = f"{TEAM}-EX-{photo % 5000 + 1:04d}"
    if i % 2:
        details: dict[str, Any] = {
            "size": 8192 + photo,
            "blake3": digest,
            "sha256": sha256,
            "store": f"{TEAM}/{digest}",
        }
        return EventDraft(Action.ACCESSED, ACTOR, TEAM, reference, details)
    name = f"IMG_{photo:07d}.jpg"
    details = {
        "source": f"seized/phone-{photo % 7 + 1:02d}/DCIM/{name}",
        "title": name,
        "description": "Photograph from the phone seized in the van",
        "seized_at": "2026-03-14T06:10:00+02:00",
        "seized_by": "Insp. Petrova",
        "seized_from": "Van CA 4471 KX",
        "size": 8192 + photo,
        "blake3": digest,
        "sha256": sha256,
        "media_type": "image/jpeg",
        "store": f"{TEAM}/{digest}",
        "run": run_id,
        "retention_until": "2036-03-14T06:10:00+00:00",
        "handling": {"code": "H0", "note": "", "purposes": ["jit"]},
    }
    return EventDraft(Action.DUPLICATE_SEEN, ACTOR, TEAM, reference, details)


def run_id(batch: int) -> str:
    return hashlib.sha256(f"bench run {batch}".encode()).hexdigest()[:32]


# -- witnesses -----------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class WitnessProcess:
    """``jitev witness serve --team T --dir D --log-key K --port P``, with a
    folder and a JITEV_HOME of its own (its own machine, as far as jitev can
    tell)."""

    team: str
    root: Path
    log_public_key: str
    port: int = field(default_factory=free_port)
    vkey: str = ""
    process: subprocess.Popen[str] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("JITEV_", "PREFECT_"))}
        env.update(JITEV_HOME=str(self.root / "home"), PREFECT_HOME=str(self.root / "prefect"))
        return env

    def args(self, command: str) -> list[str]:
        return [JITEV, "witness", command, "--team", self.team, "--dir", str(self.root / "state")]

    def key(self) -> subprocess.Popen[str]:
        return subprocess.Popen(self.args("key"), env=self.env(), stdout=subprocess.PIPE, text=True)

    def start(self) -> None:
        args = [*self.args("serve"), "--log-key", self.log_public_key, "--port", str(self.port)]
        self.process = subprocess.Popen(
            args, env=self.env(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
        )

    def wait_ready(self) -> None:
        import httpx

        assert self.process is not None
        deadline = time.monotonic() + STARTUP_S
        while True:
            try:
                httpx.get(f"{self.url}/{'0' * 64}/checkpoint", timeout=5)  # 404: it answers
                return
            except httpx.TransportError:
                if self.process.poll() is not None or time.monotonic() > deadline:
                    errors = self.stop()
                    raise SystemExit(
                        f"bench: witness {self.team} did not start: {errors}"
                    ) from None
                time.sleep(0.05)

    def stop(self) -> str:
        """Stop it (its own PID); what it wrote on stderr."""
        if self.process is None:
            return ""
        process, self.process = self.process, None
        if process.poll() is None:
            process.terminate()
        try:
            _, errors = process.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            _, errors = process.communicate()
        return errors or ""


@contextmanager
def witnesses(work: Path, log_public_key: str) -> Iterator[list[WitnessProcess]]:
    """Each team's witness, its key made and its server answering (all
    started in parallel: each is a ``jitev`` process); stopped on the way out."""
    found = [WitnessProcess(t, work / f"witness-{t}", log_public_key) for t in TEAMS]
    try:
        asked = [w.key() for w in found]
        for w, started in zip(found, asked, strict=True):
            out, _ = started.communicate(timeout=STARTUP_S)
            if started.returncode != 0:
                raise SystemExit(f"bench: jitev witness key --team {w.team} failed")
            w.vkey = out.strip()
            VerifierKey.parse(w.vkey)
        for w in found:
            w.start()
        for w in found:
            w.wait_ready()
        yield found
    finally:
        for w in found:
            w.stop()


def write_config(home: Path, found: list[WitnessProcess]) -> None:
    """The bench home's ``config.toml``: each team's witness, ``[witnesses.<T>]``."""
    home.mkdir(parents=True, exist_ok=True)
    tables = [f'[witnesses.{w.team}]\nurl = "{w.url}/"\nvkey = "{w.vkey}"\n' for w in found]
    (home / "config.toml").write_text("\n".join(tables))


# -- building the log; 2. append ------------------------------------------------------------


@dataclass
class Log:
    """The bench's case log, and the publications of its build."""

    w: Any  # config.wiring.Wiring
    case: Case
    origin: str
    policy: Policy
    size: int = 0
    next: int = 0  # the index of the next generated event (``draft``)
    head: CustodyEvent | None = None  # the last event appended
    published: list[tuple[int, float]] = field(default_factory=list)  # build's: (size, seconds)


def checked(publication: Any, size: int) -> Any:
    """``publication``, if it is of ``size`` and cosigned by every witness."""
    if (
        publication is None
        or publication.size != size
        or not publication.published
        or sorted(publication.cosigned) != sorted(TEAMS)
    ):
        missing = getattr(publication, "missing", None)
        raise SystemExit(f"bench: the publication at size {size} failed: {missing}")
    return publication


def open_log(home: Path) -> Log:
    """A fresh home with the case, its log policy naming the three witnesses
    (``config.toml``) and a first checkpoint (of its 2 events)."""
    clean_settings_env()
    os.environ["JITEV_HOME"] = str(home)
    w = wiring.build(load_settings(), BenchClock())
    register_people(w.catalog)
    setup.open_case(w.catalog, bench_case(CASE, OTHERS), ADMIN)
    case = w.catalog.case(CASE)
    trust = actions.log_policy(w, case)
    origin = w.origin(CASE)
    setup.register_log_policy(w.catalog, w.catalog.person(ADMIN), CASE, origin, trust)
    log = Log(w, case, origin, trust, w.catalog.tree_size(CASE))
    checked(w.checkpoint(CASE), log.size)
    return log


def append(log: Log, count: int) -> list[float]:
    """Append the next ``count`` generated events through the catalog,
    ``BATCH`` a transaction; the seconds of each transaction (the drafts are
    made before it)."""
    seconds = []
    for start in range(log.next, log.next + count, BATCH):
        end = min(start + BATCH, log.next + count)
        batch = [draft(i, run_id(i // BATCH)) for i in range(start, end)]
        began = time.perf_counter()
        with log.w.catalog.transaction(CASE) as tx:
            for d in batch:
                log.head = tx.append(d)
        seconds.append(time.perf_counter() - began)
    log.next += count
    log.size += count
    return seconds


def insert_rows(log: Log, count: int, frontier: merkle.Frontier) -> None:
    """Link the next ``count`` generated events after the head (``ledger.link``,
    the times from the catalog's clock, as ``tx.append`` does) and insert them
    and their Merkle tree nodes in one transaction, with the statements
    ``SqlCaseTransaction.flush`` runs: the rows ``tx.append`` writes, without
    reading the tree's right edge back from the catalog for every 1,000."""
    w = log.w
    names = [c.name for c in custody_events.columns]
    events, nodes = [], []
    head = log.head
    for i in range(log.next, log.next + count):
        head = ledger.link(CASE, head, draft(i, run_id(i // BATCH)), w.clock.now())
        values = records.event_values(head)
        events.append(tuple(values[n] for n in names))
        nodes += [(CASE, *node) for node in frontier.append(bytes.fromhex(head.hash))]
    with w.catalog.engine.connect() as conn, conn.begin():
        for table, rows in ((custody_events, events), (tree_nodes, nodes)):
            columns = ", ".join(c.name for c in table.columns)
            marks = ", ".join("?" * len(table.columns))
            conn.exec_driver_sql(f"INSERT INTO {table.name} ({columns}) VALUES ({marks})", rows)
    log.head = head
    log.next += count
    log.size += count


def published(log: Log, signer: Any, clients: list[WitnessClient]) -> None:
    """A checkpoint of the log as it stands, cosigned by the three witnesses
    (``publish``, the policy read before), timed."""
    began = time.perf_counter()
    made = publish(log.w.catalog, CASE, log.origin, signer, clients, log.policy)
    log.published.append((log.size, time.perf_counter() - began))
    checked(made, log.size)


def build(log: Log, events: int, young: int) -> tuple[list[float], int]:
    """The log up to ``events`` events: ``young`` transactions of ``BATCH``
    through the catalog (timed: their seconds and events are returned), then the rest
    inserted as rows (``insert_rows``) in tenths of the log, a checkpoint
    published after the transactions and after each tenth."""
    w = log.w
    signer = w.keys.log.load()
    clients = w.witnesses(log.case)
    count = min(young * BATCH, events - log.size)
    seconds = append(log, count)
    published(log, signer, clients)
    say(f"append into a young log: {count / sum(seconds):,.0f} events/s")
    size = log.size

    def read(level: int, index: int) -> bytes:
        return found[(level, index)]

    found: dict[tuple[int, int], bytes] = w.catalog.tree_nodes(
        CASE, set(merkle.Frontier.levels(size))
    )
    frontier = merkle.Frontier.load(size, read)
    tenth = max(BATCH, -(-events // 10))
    while log.size < events:
        insert_rows(log, min(tenth, events - log.size), frontier)
        published(log, signer, clients)
        say(f"built {log.size:,} events")
    return seconds, count


def append_row(name: str, seconds: list[float], count: int, size: int) -> Row:
    return Row(
        name,
        "events/s",
        count / sum(seconds),
        least=APPEND_GOAL,
        note=(
            f"{count:,} events in {len(seconds)} transactions of tx.append into the log of "
            f"{size:,} events: {sum(seconds):,.2f} s; median transaction "
            f"{statistics.median(seconds) * 1000:,.1f} ms, slowest {max(seconds) * 1000:,.1f} ms"
        ),
        samples={"jitev": seconds},
    )


# -- 1. verify ---------------------------------------------------------------------------
