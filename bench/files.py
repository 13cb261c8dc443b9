"""The many-files workloads of bench/ingest.py: ``s3-files`` (``--files``
files of 8 KiB into S3: the whole ``jitev ingest`` command, and
``flows.ingest.run_ingest`` in this process, against ``rclone copy``) and
``local-files`` (``run_ingest`` into the local store, no baseline), with the
rclone and bucket helpers bench/dispatch.py uses too. See bench/ingest.py's
docstring and bench/README.md."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from bench.cli import Home  # noqa: E402 - after the path is set
from bench.common import (  # noqa: E402
    ACTOR,
    TEAM,
    Row,
    S3Server,
    best,
    configure,
    open_case,
    say,
    small_files,
    timed,
    warm_tree,
)

_WARMED = False


def flow_ingest(w: Any, case_id: str, folder: Path, concurrency: int) -> dict[str, Any]:
    from flows.ingest import run_ingest

    result = run_ingest(concurrency, case_id=case_id, team=TEAM, actor=ACTOR, paths=[str(folder)])
    return dict(result.as_dict())


def prepare_flow(w: Any, work: Path, concurrency: int, name: str) -> str:
    """Open the case and run one tiny, untimed flow: the first one in the
    process starts Prefect; every one creates the team's bucket (S3)."""
    global _WARMED
    case_id = open_case(w)
    tiny = small_files(work / f"tiny-{name}", 1, salt=name.encode())
    started = time.perf_counter()
    result = flow_ingest(w, case_id, tiny, concurrency)
    if [o["status"] for o in result["outcomes"]] != ["stored"]:
        raise SystemExit(f"bench: the warm-up flow run failed: {result!r}")
    if not _WARMED:
        say(f"Prefect warm-up flow run: {time.perf_counter() - started:.1f} s (not timed)")
        _WARMED = True
    shutil.rmtree(tiny)
    return case_id


def check_flow(result: dict[str, Any], count: int) -> None:
    statuses = [o["status"] for o in result["outcomes"]]
    if len(statuses) != count or set(statuses) != {"stored"}:
        bad = [o for o in result["outcomes"] if o["status"] != "stored"][:3]
        raise SystemExit(
            f"bench: {len(statuses)} outcomes for {count} files; first problems: {bad!r}"
        )


def rclone_config(work: Path, s3: S3Server) -> Path:
    conf = work / "rclone.conf"
    conf.write_text(
        "[bench]\n"
        "type = s3\n"
        "provider = Ceph\n"
        f"access_key_id = {s3.access_key}\n"
        f"secret_access_key = {s3.secret_key}\n"
        f"endpoint = {s3.url}\n"
    )
    conf.chmod(0o600)
    return conf


def rclone_copy(conf: Path, folder: Path, bucket: str, concurrency: int, s3: S3Server) -> None:
    command = [
        "rclone", "--config", str(conf), "copy", str(folder), f"bench:{bucket}",
        "--transfers", str(concurrency), "--checkers", str(concurrency),
        "--s3-no-check-bucket", "--quiet",
    ]  # fmt: skip
    # rclone's AWS SDK fails with "LoadCustomCABundleError ... unsupported
    # transport" when AWS_CA_BUNDLE is set: hand the bundle over as --ca-cert
    # instead (https only), and keep RCLONE_* settings of the shell out.
    env = {
        k: v for k, v in os.environ.items() if k != "AWS_CA_BUNDLE" and not k.startswith("RCLONE_")
    }
    if s3.secure and os.environ.get("AWS_CA_BUNDLE"):
        command += ["--ca-cert", os.environ["AWS_CA_BUNDLE"]]
    done = subprocess.run(command, capture_output=True, text=True, check=False, env=env)
    if done.returncode != 0:
        raise SystemExit(
            f"bench: {' '.join(command)} failed ({done.returncode}): {done.stderr.strip()}"
        )


def count_objects(client: Any, bucket: str) -> int:
    return sum(1 for _ in client.list_objects(bucket_name=bucket, recursive=True))


def empty_bucket(client: Any, bucket: str) -> None:
    from minio.deleteobjects import DeleteObject

    try:
        names = [
            DeleteObject(o.object_name)
            for o in client.list_objects(bucket_name=bucket, recursive=True)
        ]
        for error in client.remove_objects(bucket_name=bucket, delete_object_list=names):
            say(f"could not remove {error}")
        client.remove_bucket(bucket_name=bucket)
    except Exception as exc:  # noqa: BLE001 - best effort cleanup of baseline data
        say(f"could not remove the baseline bucket {bucket}: {exc}")


def bench_s3_files(
    work: Path, folder: Path, count: int, repeat: int, s3: S3Server, tag: str, concurrency: int
) -> list[Row]:
    """rclone, then the whole ``jitev ingest`` command, then ``run_ingest`` in
    this process, each ``repeat`` times; every jitev side in a fresh home with
    its own buckets (made by an untimed tiny ingest, as rclone's is made)."""
    rclone = shutil.which("rclone")
    if rclone is None:
        raise SystemExit("bench: rclone is not installed: scripts/tools.sh --bench")
    version = subprocess.run(
        [rclone, "version"], capture_output=True, text=True, check=False
    ).stdout.split("\n")[0]
    conf = rclone_config(work, s3)
    names = {p.name for p in folder.iterdir()}
    copies: list[float] = []
    commands: list[float] = []
    ingests: list[float] = []
    for i in range(repeat):
        home = work / f"home-s3-files-{i}"
        w = configure(home, **s3.env(f"{tag}-f{i}", concurrency))
        case_id = prepare_flow(w, work, concurrency, f"s3-{i}")
        client = w.store._client  # noqa: SLF001 - a raw client on the same server, for setup only
        bucket = f"{tag}-rclone-{i}"
        client.make_bucket(bucket_name=bucket)  # --s3-no-check-bucket: rclone will not create it

        warm_tree(folder)
        seconds, _ = timed(rclone_copy, conf, folder, bucket, concurrency, s3)
        copied = count_objects(client, bucket)
        if copied != count:
            raise SystemExit(f"bench: rclone copied {copied} objects, not {count}")
        copies.append(seconds)
        say(f"s3-files: rclone copy {i + 1}/{repeat}: {count / seconds:,.0f} files/s")
        empty_bucket(client, bucket)

        with Home(work, f"s3-files-cli-{i}", **s3.env(f"{tag}-c{i}", concurrency)) as cli:
            cli.warm_up()
            before = cli.committed()
            warm_tree(folder)
            done = cli.ingest(str(folder))
            cli.check_stored(done, names, before)
        commands.append(done.seconds)
        say(f"s3-files: jitev ingest {i + 1}/{repeat}: {count / done.seconds:,.0f} files/s")
        shutil.rmtree(cli.path)

        warm_tree(folder)
        seconds, result = timed(flow_ingest, w, case_id, folder, concurrency)
        check_flow(result, count)
        ingests.append(seconds)
        say(f"s3-files: jitev run_ingest {i + 1}/{repeat}: {count / seconds:,.0f} files/s")
        w.catalog.close()
        shutil.rmtree(home)
    baseline = f"rclone copy --transfers {concurrency}"
    return [
        Row(
            f"s3-files: {count}x8 KiB into S3, jitev ingest",
            "files/s",
            count / best(commands),
            count / best(copies),
            baseline,
            1.5,
            f"{version}; the whole command, JITEV_INGEST_CONCURRENCY={concurrency}, "
            f"warm (an untimed tiny ingest before); best {best(commands):.1f} s",
            samples={"jitev": commands, "baseline": copies},
        ),
        Row(
            "  reference: run_ingest in-process vs rclone",
            "files/s",
            count / best(ingests),
            count / best(copies),
            baseline,
            note=f"flows.ingest.run_ingest(concurrency={concurrency}) in the bench process, "
            "Prefect warmed up: no process start",
            samples={"jitev": ingests, "baseline": copies},
        ),
    ]


def bench_local_files(work: Path, folder: Path, count: int, repeat: int, concurrency: int) -> Row:
    ingests: list[float] = []
    for i in range(repeat):
        home = work / f"home-local-files-{i}"
        w = configure(
            home,
            STORE_BACKEND="local",
            STORE_RETENTION_DAYS="1",
            INGEST_CONCURRENCY=str(concurrency),
        )
        case_id = prepare_flow(w, work, concurrency, f"local-{i}")
        warm_tree(folder)
        seconds, result = timed(flow_ingest, w, case_id, folder, concurrency)
        check_flow(result, count)
        ingests.append(seconds)
        say(f"local-files: jitev run_ingest {i + 1}/{repeat}: {count / seconds:,.0f} files/s")
        w.catalog.close()
        shutil.rmtree(home)
    return Row(
        f"local-files: {count}x8 KiB into local store, run_ingest in-process",
        "files/s",
        count / best(ingests),
        None,
        "(no baseline)",
        note=f"flows.ingest.run_ingest(concurrency={concurrency}) in the bench process, Prefect "
        "warmed up; SQLite catalog, synchronous=FULL",
        samples={"jitev": ingests},
    )
