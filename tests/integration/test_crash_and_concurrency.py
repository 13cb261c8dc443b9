"""The ingest process killed mid-run (kill -9) and re-run; two processes
ingesting into one case at once on PostgreSQL. Real processes, real databases."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import time
from collections import Counter
from itertools import pairwise
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from tests.integration.cli_helpers import (
    AUDITOR,
    INVESTIGATOR,
    JITEV,
    SETUP_EVENTS,
    copy_prefect_home,
    environment,
    ingest_args,
    jitev_json,
    open_case,
    small_files,
)

FILES = 1500


def committed(url: str) -> int:
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return int(conn.execute(text("SELECT count(*) FROM exhibits")).scalar_one())
    finally:
        engine.dispose()


def test_kill_9_mid_ingest_then_rerun_loses_and_duplicates_nothing(
    tmp_path: Path, prefect_template: Path
) -> None:
    env = environment(
        tmp_path / "home",
        copy_prefect_home(prefect_template, tmp_path / "prefect"),
        JITEV_INGEST_COMMIT_EVERY="10",
        JITEV_INGEST_CONCURRENCY="2",
    )
    open_case(env)
    folder = small_files(tmp_path / "seized" / "chat-export", FILES, "msg")
    args = [*ingest_args(), str(folder), "--json"]
    url = f"sqlite:///{tmp_path / 'home' / 'jitev.db'}"
    # Its own process group, so the crash takes Prefect's local server with it.
    process = subprocess.Popen(
        [JITEV, *args],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        # Kill as soon as some exhibits are committed: no timing, a condition.
        while process.poll() is None and committed(url) < 30:
            time.sleep(0.02)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait()
    before = committed(url)
    assert process.returncode == -signal.SIGKILL, "the ingest ended before it could be killed"
    assert 30 <= before < FILES

    result = jitev_json(env, *args[:-1])
    assert result["resumed"] is True
    assert result["already_done"] == before
    assert Counter(o["status"] for o in result["outcomes"]) == {"stored": FILES - before}

    exhibits = jitev_json(env, "exhibits", "list", "--case", "DANUBE", "--as", INVESTIGATOR)
    assert len(exhibits) == FILES
    assert len({e["blake3"] for e in exhibits}) == FILES
    assert sorted(e["reference"] for e in exhibits) == [
        f"BG-EX-{n:04d}" for n in range(1, FILES + 1)
    ]
    assert {e["relative_path"] for e in exhibits} == {
        f"chat-export/msg-{i:05d}.txt" for i in range(FILES)
    }
    check = jitev_json(env, "ledger", "verify", "--objects", "--as", AUDITOR)[0]
    assert check["ok"] is True and check["events"] == SETUP_EVENTS + FILES  # one INGESTED each

    # The run is finished: the same command again reads nothing and records nothing...
    again = jitev_json(env, *args[:-1])
    assert again["resumed"] is False
    assert Counter(o["status"] for o in again["outcomes"]) == {"unchanged": FILES}
    assert again["seconds"]["read_hash_store"] == 0
    assert again["ledger"]["events"] == SETUP_EVENTS + FILES
    # ...but a file written since (same bytes, so a duplicate) is read again, and
    # --reread reads every file.
    (folder / "msg-00007.txt").write_bytes((folder / "msg-00007.txt").read_bytes())
    touched = jitev_json(env, *args[:-1])
    assert Counter(o["status"] for o in touched["outcomes"]) == {
        "unchanged": FILES - 1,
        "duplicate": 1,
    }
    forced = jitev_json(env, *args[:-1], "--reread")
    assert Counter(o["status"] for o in forced["outcomes"]) == {"duplicate": FILES}


@pytest.mark.postgres
def test_two_processes_ingesting_into_one_case_on_postgresql(
    tmp_path: Path, prefect_template: Path, pg_schema
) -> None:
    def env_for(name: str) -> dict[str, str]:
        return environment(
            tmp_path / "home",
            copy_prefect_home(prefect_template, tmp_path / f"prefect-{name}"),
            JITEV_DB_URL=pg_schema.url,
            JITEV_INGEST_COMMIT_EVERY="5",
            JITEV_INGEST_CONCURRENCY="2",
        )

    envs = {"a": env_for("a"), "b": env_for("b")}
    people = {"a": "Insp. Petrova", "b": "Insp. Ivanov"}  # two investigators of BG
    open_case(envs["a"])
    folders = {n: small_files(tmp_path / f"seized-{n}", 1000, f"phone-{n}") for n in envs}
    processes = {
        n: subprocess.Popen(
            [
                JITEV,
                *ingest_args(people[n]),
                str(folders[n]),
                "--json",
            ],
            env=envs[n],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for n in envs
    }
    outputs = {n: p.communicate(timeout=900) for n, p in processes.items()}
    for n, p in processes.items():
        assert p.returncode == 0, outputs[n][1]
        assert Counter(o["status"] for o in json.loads(outputs[n][0])["outcomes"]) == {
            "stored": 1000
        }

    exhibits = jitev_json(envs["a"], "exhibits", "list", "--case", "DANUBE", "--as", AUDITOR)
    references = sorted(e["reference"] for e in exhibits)
    assert references == [f"BG-EX-{n:04d}" for n in range(1, 2001)]  # unique and gapless
    check = jitev_json(envs["a"], "ledger", "verify", "--as", AUDITOR)[0]
    assert check["ok"] is True and check["events"] == SETUP_EVENTS + 2000
    events = jitev_json(envs["a"], "custody", "show", "BG-EX-0001", "--as", INVESTIGATOR)["events"]
    assert events[0]["actor"] in set(people.values())
    engine = create_engine(pg_schema.url)
    try:
        with engine.connect() as conn:
            actors = [
                row[0]
                for row in conn.execute(
                    text("SELECT actor FROM custody_events WHERE seq > 1 ORDER BY seq")
                )
            ]
    finally:
        engine.dispose()
    switches = sum(1 for x, y in pairwise(actors) if x != y)
    assert switches >= 1, "the two ingests did not overlap"
