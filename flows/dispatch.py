"""The dispatch flow: copy a transfer's exhibits into the receiving team's
namespace and read every copy back (``evidence.transfers.dispatch``).

Run after the last approval; approvals themselves never wait in a flow. One
task per transfer: a transfer's exhibits are copied server-side one after the
other, which keeps the Prefect server's task-run rate out of the way. Only
transient store errors are retried, and a retry (or a re-run of the flow
after a crash) does only what is left. Ids in, a small summary out: no bytes
and no persisted results.
"""

from __future__ import annotations

from typing import Any

from prefect import flow, task
from prefect.cache_policies import NO_CACHE

from config import wiring
from evidence import transfers
from flows.reports import Progress, receipt
from flows.retry import DELAYS, RETRIES, transient


@task(
    name="copy-and-verify",
    retries=RETRIES,
    retry_delay_seconds=DELAYS,
    retry_condition_fn=transient,
    cache_policy=NO_CACHE,
    persist_result=False,
)
def copy_and_verify(transfer_id: str, actor: str) -> dict[str, Any]:
    w = wiring.current()
    progress = Progress(f"transfer {transfer_id}: exhibits copied and read back")
    person = w.catalog.person(actor)
    transfer = transfers.dispatch(w.store, w.catalog, person, transfer_id, progress)
    w.publish(transfer.case_id)
    return {"transfer": transfer.id, "state": transfer.state.value, "failure": transfer.failure}


@flow(name="dispatch", persist_result=False)
def dispatch(transfer_id: str, actor: str) -> dict[str, Any]:
    result: dict[str, Any] = copy_and_verify(transfer_id, actor)
    receipt(result)
    return result
