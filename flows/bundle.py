"""The disclosure-bundle flow: build, store write-once and record a bundle
(``evidence.disclosure``), so that the web page can follow its build as a
Prefect flow run.

The plan (who may disclose what, consents) is checked again inside the flow:
the caller's own check only explains a refusal early. Ids in, the bundle's
record out: no bytes, no persisted results.
"""

from __future__ import annotations

from typing import Any

from prefect import flow, task
from prefect.cache_policies import NO_CACHE

from config import wiring
from evidence import disclosure
from flows.reports import Progress, receipt


@task(name="build-and-store-bundle", cache_policy=NO_CACHE, persist_result=False)
def build_and_store(
    case_id: str, actor: str, exhibits: list[str] | None, selection: str | None
) -> dict[str, Any]:
    w = wiring.current()
    person = w.catalog.person(actor)
    plan = disclosure.plan_bundle(w.catalog, person, case_id, exhibits, selection=selection)
    w.settings.home.mkdir(parents=True, exist_ok=True)
    progress = Progress(f"case {case_id}: exhibits read into the bundle")
    bundle = disclosure.create_bundle(
        w.store, w.catalog, plan, w.settings.home, w.checkpoint, progress
    )
    w.publish(case_id)
    return bundle.as_dict()


@flow(name="disclosure-bundle", persist_result=False)
def build_bundle(
    case_id: str, actor: str, exhibits: list[str] | None = None, selection: str | None = None
) -> dict[str, Any]:
    """``selection``: the id of the actor's selection (``evidence.selections``),
    the references staying in the catalog."""
    result: dict[str, Any] = build_and_store(case_id, actor, exhibits, selection)
    receipt({"id": result["id"], "case": case_id, "exhibits": len(result["exhibits"])})
    return result
