"""jitev's flows as Prefect deployments, the way Prefect runs work that
outlives the process that asked for it.

- **A team** (``[engine] work_pool`` set, ``PREFECT_API_URL`` naming its
  Prefect server): ``jitev deploy`` registers the deployments on that process
  work pool (``deploy``: idempotent), and ``jitev worker`` processes on any
  number of machines poll it (``worker_command``). The deployment name is the
  pool's name.
- **The embedded default** (no work pool): ``jitev serve`` serves the same
  deployments from an in-process Prefect runner on the local engine
  (``Served``), named ``local-<digest of $JITEV_HOME>`` so that two homes on
  one Prefect server never run each other's work.

Either way the web server and ``app.jobs`` submit flow runs by deployment
name (``deployment_name``) and read their state back from Prefect. Each run
executes in a process of its own (the worker's or the runner's), which reads
its settings, catalog and store from its environment like any command.

Flow runs a worker started send heartbeats (``[engine] heartbeat_seconds``);
an automation ``deploy`` makes marks a run CRASHED when they stop for twice
that long (the worker's machine died), so that it can be retried
(``app.jobs.retry``): every jitev flow finishes what was left and records
nothing twice.
"""

from __future__ import annotations

import asyncio
import hashlib
import importlib
import os
import sys
import threading
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, Any, cast

from config.settings import Settings

if TYPE_CHECKING:
    from prefect import Flow
    from prefect.deployments.runner import RunnerDeployment
    from prefect.runner import Runner

# A job's kind -> the flow deployed for it (module, name).
KINDS: dict[str, tuple[str, str]] = {
    "dispatch": ("flows.dispatch", "dispatch"),
    "bundle": ("flows.bundle", "build_bundle"),
    "audit": ("flows.audit", "fixity_audit"),
    "checkpoint": ("flows.checkpoint", "publish_checkpoints"),
    "ingest": ("flows.ingest", "ingest_folder"),
}
ZOMBIES = "jitev: a flow run whose heartbeats stop is crashed"
SERVED_RUNS = 4  # flow runs the in-process runner runs at once
TAG = "jitev"


def flow_of(kind: str) -> Flow[..., Any]:
    module, name = KINDS[kind]
    found: Flow[..., Any] = getattr(importlib.import_module(module), name)
    return found


def label(settings: Settings) -> str:
    """The deployments' name: the work pool's, else this home's own."""
    if settings.engine.work_pool:
        return settings.engine.work_pool
    return "local-" + hashlib.blake2b(str(settings.home).encode(), digest_size=4).hexdigest()


def deployment_name(settings: Settings, kind: str) -> str:
    """``<flow name>/<deployment name>``, as ``run_deployment`` takes it."""
    return f"{flow_of(kind).name}/{label(settings)}"


def deployments(settings: Settings) -> list[RunnerDeployment]:
    """One deployment a kind; the audit's on ``[audit] schedule``, active only
    when ``[audit] scheduled_as`` names who it acts as."""
    from prefect.schedules import Cron
    from prefect.types.entrypoint import EntrypointType

    audit = settings.audit
    made = []
    for kind in KINDS:
        flow = flow_of(kind)
        schedules, parameters = None, None
        if kind == "audit":  # a run of it with no parameters is what the schedule runs
            parameters = {"actor": audit.scheduled_as or "(set [audit] scheduled_as)"}
            schedules = [
                Cron(
                    audit.schedule,
                    timezone="UTC",
                    active=bool(audit.scheduled_as),
                    slug="fixity-audit-schedule",
                )
            ]
        made.append(
            flow.to_deployment(
                name=label(settings),
                entrypoint_type=EntrypointType.MODULE_PATH,  # the installed jitev, any cwd
                tags=[TAG, f"jitev-at:{label(settings)}", f"jitev-kind:{kind}"],
                schedules=schedules,
                parameters=parameters,
                description=f"jitev {kind} ({flow.__doc__ or flow.name})".strip()[:200],
                _sync=True,  # type: ignore[call-arg]  # the sync call, in an event loop too
            )
        )
    return cast("list[RunnerDeployment]", made)  # _sync: never a coroutine


# -- a team: a work pool and its workers ------------------------------------------------


def deploy(settings: Settings) -> dict[str, Any]:
    """Make the work pool if it is missing, register (or update) every
    deployment on it, and make (or update) the crashed-run automation.
    Running it again changes nothing but what the settings changed."""
    from prefect import get_client
    from prefect.client.schemas.actions import WorkPoolCreate
    from prefect.exceptions import ObjectNotFound
    from prefect.workers.process import ProcessWorker

    pool = settings.engine.work_pool
    created = False
    with get_client(sync_client=True) as client:
        try:
            client.read_work_pool(pool)
        except ObjectNotFound:
            template = ProcessWorker.get_default_base_job_template()
            client.create_work_pool(
                WorkPoolCreate(name=pool, type="process", base_job_template=template)
            )
            created = True
        names = []
        for deployment in deployments(settings):
            deployment.apply(work_pool_name=pool, _sync=True)  # type: ignore[call-arg]
            names.append(f"{deployment.flow_name}/{deployment.name}")
        automation = _zombie_automation(settings.engine.heartbeat_seconds)
        found = client.read_automations_by_name(ZOMBIES)
        if found:
            client.update_automation(found[0].id, automation)
        else:
            client.create_automation(automation)
    return {"work_pool": pool, "created_pool": created, "deployments": names}


def _zombie_automation(heartbeat_seconds: int) -> Any:
    """Prefect's documented detection of runs whose process died: no
    heartbeat (and no final state) for two heartbeat periods, then CRASHED."""
    from prefect.client.schemas.objects import StateType
    from prefect.events.actions import ChangeFlowRunState
    from prefect.events.schemas.automations import AutomationCore, EventTrigger, Posture
    from prefect.events.schemas.events import ResourceSpecification

    return AutomationCore(
        name=ZOMBIES,
        description="jitev: a worker's machine died under a flow run; retry it with `jitev jobs retry`",
        trigger=EventTrigger(
            after={"prefect.flow-run.heartbeat"},
            expect={
                "prefect.flow-run.heartbeat",
                "prefect.flow-run.Completed",
                "prefect.flow-run.Failed",
                "prefect.flow-run.Cancelled",
                "prefect.flow-run.Crashed",
            },
            match=ResourceSpecification({"prefect.resource.id": ["prefect.flow-run.*"]}),
            for_each={"prefect.resource.id"},
            posture=Posture.Proactive,
            threshold=1,
            within=timedelta(seconds=2 * heartbeat_seconds),
        ),
        actions=[
            ChangeFlowRunState(
                state=StateType.CRASHED,
                name="Crashed",
                force=False,
                message=f"no heartbeat for {2 * heartbeat_seconds} s: its process is gone",
            )
        ],
    )


def worker_command(
    settings: Settings, name: str | None, limit: int
) -> tuple[list[str], dict[str, str]]:
    """The ``prefect worker start`` a ``jitev worker`` becomes, and its environment."""
    engine = settings.engine
    command = [
        sys.executable, "-m", "prefect", "worker", "start", "--pool", engine.work_pool,
        "--type", "process", "--limit", str(limit),
    ]  # fmt: skip
    if name:
        command += ["--name", name]
    env = dict(os.environ)
    env.update(
        PREFECT_WORKER_QUERY_SECONDS=str(engine.poll_seconds),
        PREFECT_WORKER_PREFETCH_SECONDS="0",  # a run starts on the worker that takes it
        PREFECT_FLOWS_HEARTBEAT_FREQUENCY=str(engine.heartbeat_seconds),
        PREFECT_SERVER_ANALYTICS_ENABLED="false",
        DO_NOT_TRACK="1",
    )
    env.pop("PREFECT_FLOWS", None)  # the local engine's "no heartbeats" (orchestration)
    return command, env


# -- the embedded default: an in-process runner ------------------------------------------


@dataclass
class Served:
    """The deployments served by a Prefect runner in a thread of this
    process (``jitev serve`` on the embedded default)."""

    runner: Runner
    thread: threading.Thread

    @classmethod
    def start(cls, settings: Settings, timeout: float = 60) -> Served:
        from prefect.runner import Runner

        runner = Runner(
            name=f"jitev-{label(settings)}",
            query_seconds=settings.engine.poll_seconds,
            prefetch_seconds=0,
            limit=SERVED_RUNS,
            pause_on_shutdown=True,  # the audit's schedule waits for the next `jitev serve`
        )
        ready = threading.Event()
        failed: list[BaseException] = []
        made = deployments(settings)  # here: in the runner's event loop they would be coroutines

        async def serve() -> None:
            try:
                for deployment in made:
                    await runner.add_deployment(deployment)  # type: ignore[misc]
            except BaseException as exc:
                failed.append(exc)
                ready.set()
                raise
            ready.set()
            await runner.start(webserver=False)

        thread = threading.Thread(
            target=lambda: asyncio.run(serve()), name="jitev-runner", daemon=True
        )
        thread.start()
        if not ready.wait(timeout) or failed:
            raise RuntimeError(
                f"the in-process Prefect runner did not start: {failed or 'timeout'}"
            )
        return cls(runner, thread)

    def stop(self, timeout: float = 15) -> None:
        """Stop asking for work (flow runs already started run to their end in
        their own processes) and pause the audit's schedule."""
        runner = self.runner
        loop = runner._loop  # noqa: SLF001 - the runner's own event loop, in our thread
        if loop is not None and loop.is_running() and runner.started:
            runner.stopping = True
            loop.call_soon_threadsafe(runner._loops_task_group.cancel_scope.cancel)  # noqa: SLF001
        self.thread.join(timeout)
