"""Jobs: flow runs of jitev's deployments (``flows.deployments``) that a
person submitted: a bundle build, a dispatch, a fixity audit, a checkpoint
publication, an ingest of a folder on a worker's machine.

Prefect is the record. A job *is* its flow run: its id is the run's id, and
its kind, person and case are the run's tags, so the web server and the CLI
keep no list of their own and a restart of either loses nothing. Its state,
progress (a progress artifact) and receipt (a table artifact,
``flows.reports``) are read back from the Prefect server on each look, with a
link to the run in the Prefect UI.

Submitting never waits for the run (``run_deployment(timeout=0)``): a worker
of the team's work pool takes it, or, on the embedded default, the runner
this process serves the deployments from (``Jobs(serve=True)``, the web
server's). ``retry`` sends a crashed or failed run back to the pool, the way
the Prefect UI's retry does: every jitev flow does only what was left.
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from uuid import UUID

from app import actions
from config import orchestration
from config.settings import Settings
from config.wiring import Wiring
from evidence.errors import InputError, JitevError, NotFound
from evidence.models import Person, Transfer
from evidence.paging import Cursor, Page, check_key

FINAL = {"COMPLETED", "FAILED", "CRASHED", "CANCELLED"}
RETRYABLE = {"FAILED", "CRASHED", "CANCELLED"}
PAGE = 50  # the latest jobs a list shows
MOST = 200  # jobs a page holds at most: the most Prefect answers at once


@dataclass
class Job:
    id: str  # the flow run's id
    kind: str  # a key of flows.deployments.KINDS
    person: str
    case_id: str
    started_at: datetime  # when it was submitted
    state: str = "SCHEDULED"  # Prefect's state type: SCHEDULED, PENDING, RUNNING, COMPLETED...
    state_name: str = "Scheduled"  # and its name: Late, AwaitingRetry, Retrying...
    progress: float | None = None  # percent, from the run's progress artifact
    result: Any = field(default_factory=dict)  # its receipt: one row, or a list (one a case)
    error: str = ""
    ui_url: str | None = None

    @property
    def finished(self) -> bool:
        return self.state in FINAL

    @property
    def flow_run_id(self) -> str:
        return self.id

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "kind": self.kind,
            "person": self.person,
            "case": self.case_id,
            "started_at": self.started_at.isoformat(),
            "state": self.state,
            "state_name": self.state_name,
            "finished": self.finished,
            "flow_run_id": self.id,
            "progress": self.progress,
            "result": self.result,
            "error": self.error,
            "ui_url": self.ui_url,
        }


class Jobs:
    """Submit and read jobs on the Prefect server of this process's settings."""

    def __init__(self, settings: Settings, *, serve: bool = False) -> None:
        self._settings = settings
        self._serve = serve and not settings.engine.work_pool
        self._served: Any = None
        self._lock = threading.Lock()

    def submit(self, kind: str, person: str, case_id: str, /, **parameters: Any) -> Job:
        """Create the flow run and return at once (it is SCHEDULED)."""
        from prefect.deployments import run_deployment

        from flows.deployments import deployment_name

        self._ready()
        tags = [
            *self._scope(),
            f"jitev-kind:{kind}",
            f"jitev-person:{person}",
            f"jitev-case:{case_id}",
        ]
        try:
            run = run_deployment(
                deployment_name(self._settings, kind),
                parameters=parameters,
                timeout=0,
                tags=tags,
                as_subflow=False,
                _sync=True,  # type: ignore[call-arg]  # the sync call, in an event loop too
            )
        except Exception as exc:  # noqa: BLE001 - Prefect's own errors, said plainly
            raise _unavailable(exc, f"cannot submit the {kind}") from None
        return self._job(run, {})

    def get(self, job_id: str, person: str) -> Job:
        """A job, to the person who submitted it only."""
        from prefect.exceptions import ObjectNotFound

        self._ready(serve=False)
        try:
            run_id = UUID(job_id)
            run = self._client(lambda c: c.read_flow_run(run_id))
        except (ValueError, ObjectNotFound):
            run = None
        if (
            run is None
            or _tag(run.tags, "person") != person
            or not set(self._scope()) <= set(run.tags)
        ):
            raise NotFound(f"no job {job_id} of yours: see `jitev jobs list` or the Jobs page")
        return self._job(run, self._artifacts([run.id]))

    def of(self, person: str, kind: str | None = None, limit: int = PAGE) -> list[Job]:
        """The person's latest jobs (of one kind), newest first."""
        return self._runs(person, kind, limit, 0)[0]

    def page(self, person: str, kind: str | None, cursor: Cursor | None, limit: int) -> Page[Job]:
        """A page of the person's jobs, newest first: Prefect's limit and
        offset, the offset in the cursor (a job submitted meanwhile shifts
        the pages by one; none is lost from the total). At most ``MOST`` a
        page, whatever ``limit`` asks: the page's ``limit`` says so."""
        limit = min(limit, MOST)
        checked = check_key(cursor, int)
        offset = int(checked.key[0]) if checked else 0
        jobs, total = self._runs(person, kind, limit, offset, count=True)
        after = offset + len(jobs)
        return Page(
            tuple(jobs),
            total,
            limit,
            next=Cursor((after,)).encode() if jobs and after < total else None,
            prev=Cursor((max(0, offset - limit),), False).encode() if offset else None,
        )

    def _runs(
        self, person: str, kind: str | None, limit: int, offset: int, count: bool = False
    ) -> tuple[list[Job], int]:
        from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterTags
        from prefect.client.schemas.sorting import FlowRunSort

        self._ready(serve=False)
        tags = [*self._scope(), f"jitev-person:{person}"] + ([f"jitev-kind:{kind}"] if kind else [])
        chosen = FlowRunFilter(tags=FlowRunFilterTags(all_=tags))
        runs = self._client(
            lambda c: c.read_flow_runs(
                flow_run_filter=chosen,
                sort=FlowRunSort.EXPECTED_START_TIME_DESC,
                limit=limit,
                offset=offset,
            )
        )
        total = self._client(lambda c: c.count_flow_runs(flow_run_filter=chosen)) if count else 0
        runs = [r for r in runs if _tag(r.tags, "person") == person]
        artifacts = self._artifacts([r.id for r in runs])
        jobs = [self._job(r, artifacts) for r in runs]
        return sorted(jobs, key=lambda j: j.started_at, reverse=True), total

    def retry(self, job_id: str, person: str) -> Job:
        """Send a crashed, failed or cancelled job's flow run back to be run
        again (the same run: its id, tags and parameters)."""
        from prefect.states import Scheduled

        job = self.get(job_id, person)
        if job.state not in RETRYABLE:
            raise InputError(
                f"job {job_id} is {job.state}: only a crashed, failed or cancelled job is "
                "retried (one still RUNNING on a dead worker is marked CRASHED after two "
                "missed heartbeats)"
            )
        self._ready()
        state: Any = Scheduled(name="AwaitingRetry", message=f"retried by {person}")
        self._client(lambda c: c.set_flow_run_state(UUID(job_id), state, force=True))
        return self.get(job_id, person)

    def wait(self, job: Job, poll: float = 1.0) -> Job:
        """Follow a job until it ends."""
        while not job.finished:
            time.sleep(poll)
            job = self.get(job.id, job.person)
        return job

    def serve_now(self) -> bool:
        """On the embedded default, serve the deployments from now on (their
        schedules too); whether this process serves them."""
        self._ready()
        return self._served is not None

    def close(self) -> None:
        with self._lock:
            if self._served is not None:
                self._served.stop()
                self._served = None

    # -- Prefect ---------------------------------------------------------------------

    def _scope(self) -> list[str]:
        """The tags of this JIT's jobs: a Prefect server may serve others."""
        from flows.deployments import TAG, label

        return [TAG, f"jitev-at:{label(self._settings)}"]

    def _ready(self, serve: bool = True) -> None:
        """Point this process at its Prefect server; on the embedded default,
        start serving the deployments before the first submission."""
        orchestration.prefect_defaults(self._settings.engine)
        if not (serve and self._serve):
            return
        with self._lock:
            if self._served is None:
                from flows.deployments import Served

                try:
                    self._served = Served.start(self._settings)
                except Exception as exc:  # noqa: BLE001
                    raise _unavailable(exc, "cannot serve jitev's flows in this process") from None

    @staticmethod
    def _client(call: Any) -> Any:
        from prefect import get_client
        from prefect.exceptions import ObjectNotFound

        try:
            with get_client(sync_client=True) as client:
                return call(client)
        except (ObjectNotFound, JitevError):
            raise
        except Exception as exc:  # noqa: BLE001
            raise _unavailable(exc, "cannot read the job") from None

    def _artifacts(self, run_ids: list[UUID]) -> dict[tuple[UUID, str], Any]:
        """The latest progress and receipt of each run: (run id, type) -> data."""
        from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterFlowRunId
        from prefect.client.schemas.sorting import ArtifactSort

        from flows.reports import RECEIPT

        if not run_ids:
            return {}
        found = self._client(
            lambda c: c.read_artifacts(
                artifact_filter=ArtifactFilter(flow_run_id=ArtifactFilterFlowRunId(any_=run_ids)),
                sort=ArtifactSort.CREATED_DESC,
            )
        )
        seen: dict[tuple[UUID, str], Any] = {}
        for a in found:
            if a.type == "table" and a.description != RECEIPT:
                continue
            key = (a.flow_run_id, a.type)
            if key not in seen:  # newest first: a retried run's latest
                seen[key] = a.data
        return seen

    def _job(self, run: Any, artifacts: dict[tuple[UUID, str], Any]) -> Job:
        state = run.state
        kind = _tag(run.tags, "kind") or "?"
        rows = artifacts.get((run.id, "table"))
        result: Any = json.loads(rows) if isinstance(rows, str) else rows or {}
        if (
            isinstance(result, list)
            and len(result) == 1
            and kind in ("bundle", "dispatch", "ingest")
        ):
            result = result[0]
        progress = artifacts.get((run.id, "progress"))
        ui = orchestration.ui_address()
        type_ = state.type.value if state else "SCHEDULED"
        return Job(
            id=str(run.id),
            kind=kind,
            person=_tag(run.tags, "person") or "",
            case_id=_tag(run.tags, "case") or "",
            started_at=run.created or run.expected_start_time,  # submitted at
            state=type_,
            state_name=state.name if state else "Scheduled",
            progress=float(progress) if progress is not None else None,
            result=result,
            error=_error(state.message) if type_ in RETRYABLE and state else "",
            ui_url=f"{ui}/runs/flow-run/{run.id}" if ui else None,
        )


def submit_dispatch(jobs: Jobs, person: Person, transfer: Transfer) -> Job:
    """The dispatch of ``transfer`` (checked by the caller) as a job."""
    return jobs.submit(
        "dispatch", person.name, transfer.case_id, transfer_id=transfer.id, actor=person.name
    )


def submit_bundle(
    jobs: Jobs,
    w: Wiring,
    person: Person,
    case_id: str,
    chosen: list[str] | None,
    selection: str | None = None,
) -> Job:
    """A bundle's build as a job, checked first so that a refusal (a missing
    consent) is answered at once; the flow checks it again. A ``selection``
    goes to the flow as its id, never as its references."""
    actions.check_bundle(w, person, case_id, chosen, selection)
    parameters = {"case_id": case_id, "exhibits": chosen, "actor": person.name}
    if selection is not None:
        parameters["selection"] = selection
    return jobs.submit("bundle", person.name, case_id, **parameters)


def submit_audit(
    jobs: Jobs, w: Wiring, person: Person, case_id: str | None, all_copies: bool
) -> Job:
    """A fixity audit of ``case_id`` (or of every case of the person's team)
    as a job, refused first when the person may not audit every case named."""
    actions.check_audit(w, person, case_id)
    return jobs.submit(
        "audit", person.name, case_id or "", actor=person.name, case_id=case_id,
        all_copies=all_copies,
    )  # fmt: skip


def _tag(tags: list[str], name: str) -> str | None:
    prefix = f"jitev-{name}:"
    return next((t.removeprefix(prefix) for t in tags if t.startswith(prefix)), None)


def _error(message: str | None) -> str:
    """Prefect's words for a failure, less its preamble."""
    said = (message or "").removeprefix("Flow run encountered an exception: ")
    return said or "the flow run ended without a message: see it in the Prefect UI"


def _unavailable(exc: Exception, what: str) -> JitevError:
    from evidence.errors import EngineUnavailable

    team = orchestration.team_server()
    check = (
        f"check that the team's Prefect server at {team} runs and that `jitev deploy` was run "
        "for [engine] work_pool"
        if team
        else "check the local engine with `jitev engine status`"
    )
    return EngineUnavailable(f"{what}: Prefect answered {type(exc).__name__}: {exc}; {check}")
