"""Flow runs started by the web server: a disclosure bundle's build, a
hand-off's dispatch. Each runs as a Prefect flow in a worker thread; its
state here follows Prefect's own (through the flow's state hooks), so the
page shows what Prefect records. The list lives in this process: after a
restart the bundles and transfers themselves (in the catalog) are the record,
and a dispatch left half-done is finished with ``jitev transfer dispatch``.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from app import actions
from config.wiring import Wiring
from evidence.errors import JitevError, NotFound
from evidence.models import Person, Transfer

FINAL = {"COMPLETED", "FAILED", "CRASHED", "CANCELLED"}


@dataclass
class Job:
    id: str
    kind: str  # bundle | dispatch
    person: str
    case_id: str
    started_at: datetime
    state: str = "PENDING"  # then Prefect's state names: RUNNING, COMPLETED, FAILED, CRASHED
    flow_run_id: str | None = None
    result: dict[str, Any] = field(default_factory=dict)
    error: str = ""

    @property
    def finished(self) -> bool:
        return self.state in FINAL

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "kind": self.kind,
            "person": self.person,
            "case": self.case_id,
            "started_at": self.started_at.isoformat(),
            "state": self.state,
            "finished": self.finished,
            "flow_run_id": self.flow_run_id,
            "result": self.result,
            "error": self.error,
        }


class Jobs:
    def __init__(self) -> None:
        self._jobs: dict[str, Job] = {}
        self._lock = threading.Lock()

    def start(
        self, kind: str, person: str, case_id: str, now: datetime, flow: Any, /, **params: Any
    ) -> Job:
        """Run ``flow(**params)`` in a thread; the job follows its states."""
        job = Job(uuid.uuid4().hex[:12], kind, person, case_id, now)
        with self._lock:
            self._jobs[job.id] = job

        def follow(_flow: Any, flow_run: Any, state: Any) -> None:
            job.flow_run_id = str(flow_run.id)
            # A final state is set by ``_run`` together with the result or the
            # error, so a page never shows COMPLETED without the bundle's id.
            if state.type.value not in FINAL:
                job.state = state.type.value

        followed = flow.with_options(
            on_running=[follow], on_completion=[follow], on_failure=[follow], on_crashed=[follow]
        )
        threading.Thread(target=self._run, args=(job, followed, params), daemon=True).start()
        return job

    @staticmethod
    def _run(job: Job, flow: Callable[..., dict[str, Any]], params: dict[str, Any]) -> None:
        try:
            job.result = flow(**params)
            job.state = "COMPLETED"
        except JitevError as exc:
            job.error, job.state = str(exc), "FAILED"
        except Exception as exc:  # noqa: BLE001 - shown on the page; the flow run has the trace
            job.error, job.state = f"{type(exc).__name__}: {exc}", "FAILED"

    def get(self, job_id: str, person: str) -> Job:
        """A job, to the person who started it only."""
        job = self._jobs.get(job_id)
        if job is None or job.person != person:
            raise NotFound(f"no build or dispatch {job_id} of yours: it may predate a restart")
        return job

    def of(self, person: str) -> list[Job]:
        return sorted(
            (j for j in self._jobs.values() if j.person == person),
            key=lambda j: j.started_at,
            reverse=True,
        )


def start_dispatch(jobs: Jobs, w: Wiring, person: Person, transfer: Transfer) -> Job:
    """The dispatch of ``transfer`` as a flow run that the person can follow."""
    from flows.dispatch import dispatch

    now = w.clock.now()
    return jobs.start(
        "dispatch",
        person.name,
        transfer.case_id,
        now,
        dispatch,
        transfer_id=transfer.id,
        actor=person.name,
    )


def start_bundle(
    jobs: Jobs, w: Wiring, person: Person, case_id: str, chosen: list[str] | None
) -> Job:
    """A bundle's build as a flow run (checked first, so that a refusal is
    answered at once)."""
    from flows.bundle import build_bundle

    actions.check_bundle(w, person, case_id, chosen)
    now = w.clock.now()
    return jobs.start(
        "bundle",
        person.name,
        case_id,
        now,
        build_bundle,
        case_id=case_id,
        exhibits=chosen,
        actor=person.name,
    )
