"""Two OS processes append to the same case's chain at the same time, each
event with a new exhibit numbered in the same transaction. The chain lock
(``FOR UPDATE`` on PostgreSQL, ``BEGIN IMMEDIATE`` on SQLite) keeps the chain
whole, ``seq`` gapless and exhibit numbers unique and gapless per team."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from itertools import pairwise
from pathlib import Path

import pytest
from blake3 import blake3

from evidence.ledger import verify
from evidence.models import REFERENCE, Action, exhibit_reference
from evidence.ports import EventDraft
from storage.sql.catalog import SqlCatalog
from tests.fixtures_sql import opening, sample_case, sample_exhibit

ROOT = Path(__file__).resolve().parents[2]
PER_WORKER = 150
PER_THREAD = 40
WORKERS = {"w1": "BG,ME", "w2": "ME,FR"}  # both number ME exhibits
STARTUP_LIMIT_S = 120  # a guard against a hung worker, not a measurement
RUN_LIMIT_S = 600

# Runs in a fresh interpreter: argv = url, worker name, teams, count, barrier dir.
WORKER = """
import json, sys, time
from datetime import UTC, datetime
from pathlib import Path

from blake3 import blake3

from evidence.models import Action, exhibit_reference
from evidence.ports import EventDraft
from storage.sql.catalog import SqlCatalog
from tests.fixtures_sql import sample_exhibit

url, name, teams, count, barrier = sys.argv[1], sys.argv[2], sys.argv[3].split(","), int(sys.argv[4]), Path(sys.argv[5])


class Clock:
    def now(self):
        return datetime.now(UTC)


made = []
with SqlCatalog(url, Clock()) as catalog:
    catalog.case("DANUBE")  # connected and warm before the start
    (barrier / f"ready-{name}").touch()
    limit = time.monotonic() + 120
    while not (barrier / "go").exists():
        if time.monotonic() > limit:
            sys.exit(f"{name}: no start signal")
        time.sleep(0.001)
    for i in range(count):
        team = teams[i % len(teams)]
        with catalog.transaction("DANUBE") as tx:
            reference = exhibit_reference(team, tx.next_exhibit_numbers(team, 1)[0])
            digest = blake3(f"{name}/{i}".encode()).hexdigest()
            tx.append(EventDraft(Action.INGESTED, name, team, reference, {"worker": name, "i": i}))
            tx.add_exhibits([sample_exhibit("DANUBE", reference, team, digest)])
        made.append(reference)
        time.sleep(0.002)  # a real ingest stores bytes between commits
print(json.dumps(made))
"""


def run_workers(url: str, barrier: Path) -> dict[str, list[str]]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    procs = {
        name: subprocess.Popen(
            [sys.executable, "-c", WORKER, url, name, teams, str(PER_WORKER), str(barrier)],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for name, teams in WORKERS.items()
    }
    try:
        limit = time.monotonic() + STARTUP_LIMIT_S
        while not all((barrier / f"ready-{name}").exists() for name in procs):
            exited = {n: p.returncode for n, p in procs.items() if p.poll() is not None}
            if exited or time.monotonic() > limit:
                pytest.fail(f"workers did not get ready (exited: {exited})")
            time.sleep(0.005)
        (barrier / "go").touch()
        made = {}
        for name, proc in procs.items():
            out, err = proc.communicate(timeout=RUN_LIMIT_S)
            assert proc.returncode == 0, f"worker {name} failed:\n{err}"
            made[name] = json.loads(out)
        return made
    finally:
        for proc in procs.values():
            if proc.poll() is None:
                proc.kill()
                proc.communicate()


def check_chain(catalog: SqlCatalog, made: dict[str, list[str]], teams: dict[str, str]) -> None:
    """The chain verifies with gapless seq; each worker's exhibits are there,
    unique and gapless per team; the workers' events interleave."""
    events = list(catalog.events("DANUBE"))
    total = 1 + sum(len(refs) for refs in made.values())
    assert [e.seq for e in events] == list(range(1, total + 1))
    result = verify("DANUBE", events)
    assert result.ok and result.facts.events == total, result.findings
    assert [e.at for e in events] == sorted(e.at for e in events)

    references = [e.reference for e in catalog.exhibits("DANUBE")]
    assert len(references) == len(set(references)) == total - 1
    assert sorted(references) == sorted(r for refs in made.values() for r in refs)
    numbers: dict[str, list[int]] = {}
    for reference in references:
        match = REFERENCE.match(reference)
        assert match is not None
        numbers.setdefault(match["team"], []).append(int(match["number"]))
    per_team = Counter(team for codes in teams.values() for team in codes.split(","))
    assert set(numbers) == set(per_team)
    for team, got in numbers.items():
        assert sorted(got) == list(range(1, len(got) + 1)), team

    # every event names the exhibit committed with it, by the worker that made it
    assert {e.exhibit: e.actor for e in events[1:]} == {
        r: name for name, refs in made.items() for r in refs
    }
    # the workers really overlapped: their events interleave in the chain
    actors = [e.actor for e in events[1:]]
    switches = sum(1 for a, b in pairwise(actors) if a != b)
    assert switches >= 2, f"the workers ran one after the other ({switches} switches)"


def test_two_processes_append_to_one_case(catalog: SqlCatalog, tmp_path: Path) -> None:
    catalog.add_case(sample_case(), opening())
    url = catalog.engine.url.render_as_string(hide_password=False)
    made = run_workers(url, tmp_path)
    assert all(len(refs) == PER_WORKER for refs in made.values())
    check_chain(catalog, made, WORKERS)


def test_threads_share_one_catalog(catalog: SqlCatalog) -> None:
    """Ingest tasks run in threads of one process (Prefect's thread pool)."""
    catalog.add_case(sample_case(), opening())
    threads = {"t1": "BG", "t2": "ME", "t3": "BG,FR", "t4": "FR,ME"}
    start = threading.Barrier(len(threads))

    def work(name: str) -> list[str]:
        codes = threads[name].split(",")
        start.wait()
        made = []
        for i in range(PER_THREAD):
            team = codes[i % len(codes)]
            with catalog.transaction("DANUBE") as tx:
                reference = exhibit_reference(team, tx.next_exhibit_numbers(team, 1)[0])
                digest = blake3(f"{name}/{i}".encode()).hexdigest()
                tx.append(EventDraft(Action.INGESTED, name, team, reference, {"i": i}))
                tx.add_exhibits([sample_exhibit("DANUBE", reference, team, digest)])
            made.append(reference)
        return made

    with ThreadPoolExecutor(len(threads)) as pool:
        futures = {name: pool.submit(work, name) for name in threads}
        made = {name: future.result() for name, future in futures.items()}
    check_chain(catalog, made, threads)
