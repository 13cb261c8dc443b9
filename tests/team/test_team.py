"""jitev on a team's Prefect server: deployments on a work pool, two
workers, jobs submitted by the web server and the CLI that survive the web
server's death, a worker's death in the middle of a dispatch, and the
scheduled fixity audit (``tests/team/conftest.py`` starts the pieces)."""

from __future__ import annotations

import json
import os
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest

from evidence.models import Action
from flows.deployments import KINDS, ZOMBIES
from tests import prefect_server
from tests.fixtures_s3 import S3Server, unique_prefix
from tests.fixtures_sql import fresh_schema
from tests.fixtures_web import log_in
from tests.integration.cli_helpers import INVESTIGATOR
from tests.team.conftest import Team, make_team, until

pytestmark = pytest.mark.postgres

LEAD = "Cdt. Laurent"  # the JIT lead (FR): the last approval, which dispatches
RECEIVER = "Lt. Moreau"  # FR investigator: signs FR's receipt
PROSECUTOR = "Pr. Dubois"  # FR prosecutor: builds bundles of what FR holds
AUDITOR = "Aud. Keller"  # the scheduled audit acts as this auditor ([audit] scheduled_as)
API = "/api/v1"


@contextmanager
def prefect() -> Iterator[Any]:
    """A Prefect client of the session's server."""
    from prefect import get_client
    from prefect.settings import PREFECT_API_URL, temporary_settings

    with temporary_settings({PREFECT_API_URL: prefect_server.api_url()}):
        with get_client(sync_client=True) as client:
            yield client


def flow_run(run_id: str) -> Any:
    with prefect() as client:
        return client.read_flow_run(run_id)


def handed(team: Team, folder: Path, count: int) -> tuple[str, list[str]]:
    """``count`` files ingested by BG, all requested for FR and approved by
    the JIT lead, whose approval submits the dispatch to the workers; FR's
    receipt once it is done. The transfer's id and its exhibits."""
    folder.mkdir()
    for i in range(count):
        (folder / f"item-{i:04d}.txt").write_text(f"seized item {i} of {folder.name}\n" * 40)
    ingested = team.json("ingest", str(folder), "--case", "DANUBE", "--as", INVESTIGATOR, "--json")
    refs = sorted(o["reference"] for o in ingested["outcomes"])
    assert len(refs) == count
    request = ["transfer", "request", *refs, "--case", "DANUBE", "--to", "FR", "--json"]
    tid: str = team.json(*request, "--as", INVESTIGATOR)["id"]
    return tid, refs


def test_deploy_registers_every_deployment_and_again_changes_nothing(team: Team) -> None:
    again = team.json("deploy", "--json")
    assert again["created_pool"] is False and again["work_pool"] == team.pool
    with prefect() as client:
        names = {}
        for kind in KINDS:
            d = client.read_deployment_by_name(f"{_flow_name(kind)}/{team.pool}")
            names[kind] = d
            assert d.work_pool_name == team.pool
            assert d.entrypoint.startswith("flows.")  # the installed jitev, on any worker
        audit = names["audit"]
        assert audit.parameters == {"actor": AUDITOR}
        assert [(s.schedule.cron, s.active) for s in audit.schedules] == [("0 3 * * *", True)]
        assert len(client.read_automations_by_name(ZOMBIES)) == 1  # updated, not duplicated
    assert sorted(again["deployments"]) == sorted(f"{_flow_name(k)}/{team.pool}" for k in KINDS)


def _flow_name(kind: str) -> str:
    from flows.deployments import flow_of

    return flow_of(kind).name


def test_an_ingest_of_a_folder_on_a_workers_machine_runs_there_and_resumes(
    team: Team, tmp_path: Path
) -> None:
    share = tmp_path / "forensic-share"  # as mounted on the worker machines
    share.mkdir()
    for i in range(5):
        (share / f"extract-{i}.txt").write_text(f"extraction {i}\n" * 50)
    args = ["ingest", str(share), "--on-worker", "--case", "DANUBE", "--as", INVESTIGATOR]
    first = team.json(*args, "--wait", "--json")
    assert first["state"] == "COMPLETED" and first["result"]["stored"] == 5
    assert first["progress"] == 100.0 and first["result"]["skipped"] == 0
    again = team.json(*args, "--wait", "--json")  # committed before: skipped, not read again
    assert again["result"]["unchanged"] == 5 and "stored" not in again["result"]
    listed = team.json("jobs", "list", "--kind", "ingest", "--as", INVESTIGATOR, "--json")
    assert [j["id"] for j in listed] == [again["id"], first["id"]]  # newest first

    relative = team.jitev("ingest", "share", "--on-worker", "--case", "DANUBE",
                          "--as", INVESTIGATOR, check=False)  # fmt: skip
    assert relative.returncode == 2 and "not an absolute path" in relative.stderr


def test_a_bundle_built_through_the_api_survives_the_web_servers_kill(
    team: Team, tmp_path: Path
) -> None:
    tid, refs = handed(team, tmp_path / "phone", 3)
    dispatched = team.json("transfer", "approve", tid, "--as", LEAD, "--wait", "--json")
    assert dispatched["state"] == "dispatched"
    team.jitev("transfer", "receive", tid, "--as", RECEIVER)

    team.start_web()
    with httpx.Client(base_url=team.web_url, timeout=60) as web:
        web.headers["X-CSRF-Token"] = log_in(web, PROSECUTOR)
        answer = web.post(f"{API}/bundles", json={"case": "DANUBE", "exhibits": refs})
        assert answer.status_code == 202, answer.text
        job = answer.json()
    assert team.web is not None
    team.kill(team.web)  # kill -9, whatever the build's state

    team.start_web()  # a new process: it holds nothing of the old one's
    with httpx.Client(base_url=team.web_url, timeout=60) as web:
        web.headers["X-CSRF-Token"] = log_in(web, PROSECUTOR)
        listed = web.get(f"{API}/jobs").json()["items"]
        assert job["id"] in [j["id"] for j in listed]
        done = until(
            "the build finished",
            lambda: (j := web.get(f"{API}/jobs/{job['id']}").json())["finished"] and j,
        )
        assert done["state"] == "COMPLETED", done
        assert done["progress"] == 100.0 and done["ui_url"].endswith(job["id"])
        content = web.get(f"{API}/bundles/{done['result']['id']}/content")
        assert content.status_code == 200
    run = flow_run(job["id"])
    assert run.work_pool_name == team.pool  # run by a worker, not by the web server
    bundle = tmp_path / "bundle.zip"
    bundle.write_bytes(content.content)
    report = json.loads(team.jitev("bundle", "verify", str(bundle), "--json").stdout)
    assert report["ok"] is True


def test_a_worker_killed_mid_dispatch_crashes_the_run_and_a_retry_finishes_it_once(
    team: Team, tmp_path: Path
) -> None:
    fr_objects = Path(team.home) / "objects" / "FR" / "objects"
    before = _copies(fr_objects)
    tid, refs = handed(team, tmp_path / "share", 400)
    submitted = team.json("transfer", "approve", tid, "--as", LEAD, "--json")
    job_id = submitted["id"]
    show = ("jobs", "show", job_id, "--as", LEAD, "--json")

    def copying() -> bool:
        job = team.json(*show)
        assert job["state"] in ("SCHEDULED", "PENDING", "RUNNING"), job  # not done yet
        return bool(job["progress"])

    until("the dispatch has copied some exhibits", copying)
    running = [w for w in team.workers.values() if _runs_a_flow(w.pid)]
    assert len(running) == 1
    team.kill(running[0])  # the worker's machine dies, and the flow run with it

    crashed = until("the run is marked crashed", lambda: (j := team.json(*show))["finished"] and j)
    assert crashed["state"] == "CRASHED", crashed
    catalog = team.catalog()
    partial = catalog.transfer(tid)
    copied = [i for i in partial.items if i.dispatched_seq is not None]
    assert 0 < len(copied) < len(refs) and partial.state.value == "approved"

    retried = team.json("jobs", "retry", job_id, "--as", LEAD, "--json")
    assert retried["id"] == job_id  # the same run, sent back to the pool
    done = until("the retry finished", lambda: (j := team.json(*show))["finished"] and j)
    assert done["state"] == "COMPLETED", done
    transfer = catalog.transfer(tid)
    assert transfer.state.value == "dispatched"
    events = list(catalog.events("DANUBE", action=Action.DISPATCHED))
    assert Counter(e.exhibit for e in events if e.details["transfer"] == tid) == dict.fromkeys(
        refs, 1
    )  # one event per exhibit: none twice, none missing
    keys = {catalog.exhibit(r).blake3 for r in refs}
    assert _copies(fr_objects) == before | keys  # each copy once, nothing else left

    name = next(n for n, w in team.workers.items() if w is running[0])
    team.start_worker(name)  # the pool has two workers again


def _copies(folder: Path) -> set[str]:
    """The objects of a local namespace (beside each, its metadata file)."""
    return {p.name for p in folder.rglob("*") if p.is_file() and p.suffix != ".json"}


def _runs_a_flow(pid: int) -> bool:
    from tests.team.conftest import _children

    return any(b"prefect.engine" in Path(f"/proc/{c}/cmdline").read_bytes() for c in _children(pid))


def audit_through_prefect(team: Team) -> dict[str, Any]:
    """A run of the audit deployment as its schedule makes it (no parameters:
    the deployment's, acting as [audit] scheduled_as), to its end."""
    from prefect.deployments import run_deployment
    from prefect.settings import PREFECT_API_URL, temporary_settings

    with temporary_settings({PREFECT_API_URL: prefect_server.api_url()}):
        run = run_deployment(f"fixity-audit/{team.pool}", timeout=0, as_subflow=False)
    done = until("the audit ended", lambda: (r := flow_run(str(run.id))).state.is_final() and r)
    assert done.state.type.value == "COMPLETED", done.state
    assert done.work_pool_name == team.pool
    return dict(done.parameters)


def test_a_scheduled_audit_finds_a_flipped_byte_in_the_receiving_teams_copy(
    team: Team, tmp_path: Path
) -> None:
    tid, refs = handed(team, tmp_path / "laptop", 2)
    team.json("transfer", "approve", tid, "--as", LEAD, "--wait", "--json")
    team.jitev("transfer", "receive", tid, "--as", RECEIVER)
    incoming = Path(team.home) / "objects" / "BG" / ".incoming"
    incoming.mkdir(parents=True, exist_ok=True)
    old, young = incoming / "old.part", incoming / "young.part"
    old.write_bytes(b"a put cut short")
    young.write_bytes(b"a put in progress")
    os.utime(old, (1, 1))  # far past the grace period

    assert audit_through_prefect(team) == {"actor": AUDITOR}
    catalog = team.catalog()
    clean = list(catalog.events("DANUBE", action=Action.FIXITY_AUDITED))[-1]
    assert clean.actor == AUDITOR and clean.details["failures"] == 0

    def of_bg(kind: str) -> list[str]:  # a dispatch killed mid-copy may leave one in FR's
        return [r["name"] for r in clean.details[kind] if r["team"] == "BG"]

    assert of_bg("leftovers_removed") == [".incoming/old.part"]
    assert of_bg("leftovers_kept") == [".incoming/young.part"]
    assert not old.exists() and young.exists()

    exhibit = catalog.exhibit(refs[0])
    path = Path(team.home) / "objects" / "FR" / "objects" / exhibit.blake3[:2] / exhibit.blake3
    path.chmod(0o644)
    data = bytearray(path.read_bytes())
    data[-1] ^= 0x01
    path.write_bytes(bytes(data))

    audit_through_prefect(team)
    failed = list(catalog.events("DANUBE", action=Action.FIXITY_FAILED))
    assert [(e.exhibit, e.details["team"]) for e in failed] == [(refs[0], "FR")]
    run = team.jitev("audit", "run", "--all", "--as", AUDITOR, "--wait", check=False)
    assert run.returncode == 1, run.stdout + run.stderr


@pytest.fixture(scope="module")
def s3_team(tmp_path_factory: pytest.TempPathFactory, s3_server: S3Server) -> Iterator[Team]:
    """A team whose store is S3 (the RGW test server), with one worker."""
    store = {
        "JITEV_STORE_BACKEND": "s3",
        "JITEV_STORE_ENDPOINT": s3_server.endpoint,
        "JITEV_STORE_ACCESS_KEY": s3_server.access_key,
        "JITEV_STORE_SECRET_KEY": s3_server.secret_key,
        "JITEV_STORE_BUCKET_PREFIX": unique_prefix(),
        "JITEV_STORE_RETENTION_DAYS": "1",
    }
    with fresh_schema() as schema:
        made = make_team(tmp_path_factory.mktemp("s3-team"), schema.url, **store)
        try:
            made.start_worker("s3-worker")
            yield made
        finally:
            made.stop()


def test_a_scheduled_audit_finds_a_removed_copy_in_s3(
    s3_team: Team, s3_server: S3Server, tmp_path: Path
) -> None:
    team = s3_team
    tid, refs = handed(team, tmp_path / "tablet", 2)
    team.json("transfer", "approve", tid, "--as", LEAD, "--wait", "--json")  # not received yet:
    # FR holds the copies all the same, and the audit checks them.
    audit_through_prefect(team)
    catalog = team.catalog()
    assert list(catalog.events("DANUBE", action=Action.FIXITY_FAILED)) == []

    exhibit = catalog.exhibit(refs[1])
    bucket = f"{team.env['JITEV_STORE_BUCKET_PREFIX']}-fr"
    s3_server.client().remove_object(bucket_name=bucket, object_name=exhibit.blake3)

    audit_through_prefect(team)
    failed = list(catalog.events("DANUBE", action=Action.FIXITY_FAILED))
    assert [(e.exhibit, e.details["team"]) for e in failed] == [(refs[1], "FR")]
    shown = team.json("audit", "run", "--case", "DANUBE", "--as", AUDITOR, "--json")
    assert shown["kind"] == "audit" and not shown["finished"]  # submitted, not waited for
    done = until(
        "the audit ended",
        lambda: (
            (j := team.json("jobs", "show", shown["id"], "--as", AUDITOR, "--json"))["finished"]
            and j
        ),
    )
    assert done["state"] == "COMPLETED" and done["result"][0]["failures"] == 1
