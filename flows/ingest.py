"""The ingest flow: plan, batch, store and commit, resume after a crash.

Thin on purpose: every rule lives in ``evidence.services``. Parameters and
results are paths, ids and small receipts, never bytes; evidence tasks use no
result cache and persist no results (Prefect's result storage would be an
uncontrolled copy of evidence). Only transient store errors are retried.
"""

from __future__ import annotations

from typing import Any

from prefect import flow, task
from prefect.cache_policies import NO_CACHE
from prefect.task_runners import ThreadPoolTaskRunner
from prefect.utilities.annotations import quote

from config import wiring
from evidence import services
from evidence.manifest import from_fields
from evidence.ports import IngestRun
from flows.retry import DELAYS, RETRIES, transient

# Progress listeners of this process (the CLI's progress bar), by key: a
# listener cannot be a flow parameter, and the bar only makes sense in the
# process that draws it.
LISTENERS: dict[str, services.Progress] = {}


@task(
    name="store-and-commit-batch",
    retries=RETRIES,
    retry_delay_seconds=DELAYS,
    retry_condition_fn=transient,
    cache_policy=NO_CACHE,
    persist_result=False,
)
def ingest_batch(
    plan: services.IngestPlan,
    run: IngestRun,
    files: list[services.PlannedFile],
    progress_key: str | None,
) -> list[dict[str, Any]]:
    w = wiring.current()
    outcomes = services.ingest_batch(
        w.store,
        w.catalog,
        plan,
        run,
        files,
        commit_every=w.settings.ingest.commit_every,
        progress=LISTENERS.get(progress_key or ""),
    )
    return [o.as_dict() for o in outcomes]


@flow(name="ingest", persist_result=False, validate_parameters=False)
def ingest(
    case_id: str,
    team: str,
    actor: str,
    paths: list[str],
    fields: dict[str, str | None] | None = None,
    manifest: str | None = None,
    progress_key: str | None = None,
) -> dict[str, Any]:
    w = wiring.current()
    plan = services.plan_ingest(
        w.catalog,
        case_id=case_id,
        team=team,
        actor=actor,
        paths=paths,
        defaults=from_fields(fields or {}),
        manifest=manifest,
    )
    run = w.catalog.start_run(case_id, team, actor, plan.fingerprint)
    listener = LISTENERS.get(progress_key or "")
    if listener is not None:
        listener.on_plan(plan, run)
    todo = [f for f in plan.files if f.source.relative not in run.done]
    groups = services.batches(
        todo,
        max_files=w.settings.ingest.batch_files,
        max_bytes=w.settings.ingest.batch_mib * 1024 * 1024,
        workers=w.settings.ingest.concurrency,
    )
    # quote(): Prefect would otherwise walk every file of the plan for every task.
    futures = [
        ingest_batch.submit(quote(plan), quote(run), quote(group), progress_key) for group in groups
    ]
    outcomes = [o for future in futures for o in future.result()]
    if all(o["status"] != "changed" for o in outcomes):
        w.catalog.finish_run(run.id)
    return {
        "case": case_id,
        "team": team,
        "run": run.id,
        "resumed": run.resumed,
        "already_done": len(plan.files) - len(todo),
        "outcomes": outcomes,
        "skipped": [{"path": p, "reason": why} for p, why in plan.skipped],
    }


def run_ingest(concurrency: int, **parameters: Any) -> dict[str, Any]:
    """Run the flow with a bounded thread pool (Prefect's is unbounded by default)."""
    bounded = ingest.with_options(task_runner=ThreadPoolTaskRunner(max_workers=concurrency))
    result: dict[str, Any] = bounded(**parameters)
    return result
