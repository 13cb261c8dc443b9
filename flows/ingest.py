"""The ingest flow: plan, batch, store and commit, resume after a crash.

Thin on purpose: every rule lives in ``evidence.ingest``. Parameters and
results are paths, ids and small receipts, never bytes; evidence tasks use no
result cache and persist no results (Prefect's result storage would be an
uncontrolled copy of evidence). Only transient store errors are retried. The
progress object (the CLI's bar) is passed in; Prefect records it only as a
placeholder.
"""

from __future__ import annotations

import threading
from dataclasses import replace
from time import perf_counter
from typing import Any, cast

from prefect import flow, task
from prefect.cache_policies import NO_CACHE
from prefect.futures import PrefectFuture
from prefect.task_runners import TaskRunner, ThreadPoolTaskRunner
from prefect.utilities.annotations import quote

from config import wiring
from evidence import ingest as ingesting
from evidence.ingest import IngestPlan, PlannedFile, Progress
from evidence.manifest import from_fields
from evidence.outcomes import IngestResult, Outcome
from evidence.ports import IngestRun
from evidence.sizes import MiB
from flows.reports import Progress as Reported
from flows.reports import receipt
from flows.retry import DELAYS, RETRIES, transient


@task(
    name="store-and-commit-batch",
    retries=RETRIES,
    retry_delay_seconds=DELAYS,
    retry_condition_fn=transient,
    cache_policy=NO_CACHE,
    persist_result=False,
)
def ingest_batch(
    plan: IngestPlan, run: IngestRun, files: list[PlannedFile], progress: Progress | None
) -> tuple[list[Outcome], dict[str, float]]:
    """The batch's outcomes, and the seconds it spent per stage."""
    w = wiring.current()
    seconds: dict[str, float] = {}
    outcomes = ingesting.ingest_batch(
        w.store,
        w.catalog,
        plan,
        run,
        files,
        commit_every=w.settings.ingest.commit_every,
        progress=progress,
        seconds=seconds,
    )
    return outcomes, seconds


@flow(name="ingest", persist_result=False, validate_parameters=False)
def ingest(
    case_id: str,
    team: str,
    actor: str,
    paths: list[str],
    fields: dict[str, str | None] | None = None,
    manifest: str | None = None,
    progress: Progress | None = None,
    reread: bool = False,
) -> IngestResult:
    w = wiring.current()
    start = perf_counter()
    plan = ingesting.plan_ingest(
        w.catalog,
        case_id=case_id,
        team=team,
        actor=actor,
        paths=paths,
        defaults=from_fields(fields or {}),
        manifest=manifest,
    )
    run = w.catalog.start_run(case_id, team, actor, plan.fingerprint)
    seconds = dict.fromkeys(ingesting.STAGES, 0.0) | {"discover": perf_counter() - start}
    before = {} if reread else w.catalog.finished_items(case_id, team, plan.fingerprint)
    kept = ingesting.unchanged(plan, run, before)
    if progress is not None:
        progress.planned(plan, run)
        for outcome in kept:
            progress.read(outcome.size)
            progress.committed(outcome)
    groups = ingesting.batches(
        ingesting.pending(plan, run, {o.source for o in kept}),
        max_files=w.settings.ingest.batch_files,
        max_bytes=w.settings.ingest.batch_mib * MiB,
        workers=w.settings.ingest.concurrency,
    )
    # quote(): Prefect would otherwise walk every file of the plan for every task.
    futures = [
        ingest_batch.submit(quote(plan), quote(run), quote(group), quote(progress))  # type: ignore[call-overload]
        for group in groups
    ]
    outcomes = list(kept)
    for future in futures:
        done, spent = future.result()
        outcomes += done
        for stage, took in spent.items():
            seconds[stage] += took
    result = ingesting.finish(w.catalog, plan, run, outcomes)
    start = perf_counter()
    w.publish(case_id)  # a checkpoint covering the run's events, cosigned by the witnesses
    seconds["publish"] = perf_counter() - start
    return replace(result, seconds=seconds)


def run_ingest(
    concurrency: int,
    *,
    case_id: str,
    team: str,
    actor: str,
    paths: list[str],
    fields: dict[str, str | None] | None = None,
    manifest: str | None = None,
    progress: Progress | None = None,
    reread: bool = False,
) -> IngestResult:
    """Run the flow with a bounded thread pool (Prefect's is unbounded by default)."""
    # Prefect types a flow's runner as TaskRunner[PrefectFuture[Any]] (invariant); its own
    # code casts the same way.
    runner = cast("TaskRunner[PrefectFuture[Any]]", ThreadPoolTaskRunner(max_workers=concurrency))
    bounded = ingest.with_options(task_runner=runner)
    return bounded(case_id, team, actor, paths, fields, manifest, progress, reread)


class _Counted(Progress):
    """An ingest's progress as files with an outcome, for the progress artifact."""

    __slots__ = ("_done", "_lock", "_report", "_total")

    def __init__(self, report: Reported) -> None:
        self._report, self._lock, self._done, self._total = report, threading.Lock(), 0, 0

    def planned(self, plan: IngestPlan, run: IngestRun) -> None:
        self._total = len(plan.files)

    def committed(self, outcome: Outcome) -> None:
        with self._lock:
            self._done += 1
            self._report(self._done, self._total)


@flow(name="ingest-folder", persist_result=False)
def ingest_folder(
    case_id: str,
    team: str,
    actor: str,
    paths: list[str],
    fields: dict[str, str | None] | None = None,
    manifest: str | None = None,
    reread: bool = False,
) -> dict[str, Any]:
    """Ingest folders on the machine of the worker that runs this (a forensic
    share mounted there): the ingest flow, with a progress artifact and a
    receipt of counts. Re-run, it skips what it committed before."""
    progress = _Counted(Reported(f"case {case_id}: files ingested by team {team}"))
    result = run_ingest(
        wiring.current().settings.ingest.concurrency,
        case_id=case_id,
        team=team,
        actor=actor,
        paths=paths,
        fields=fields,
        manifest=manifest,
        progress=progress,
        reread=reread,
    )
    counts: dict[str, Any] = {"case": case_id, "team": team, "run": result.run}
    for outcome in result.outcomes:
        counts[outcome.status.value] = counts.get(outcome.status.value, 0) + 1
    counts["skipped"] = len(result.skipped)
    counts["unreadable"] = len(result.unreadable)
    receipt(counts)
    return counts
