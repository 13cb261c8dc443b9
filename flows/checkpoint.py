"""The checkpoint-publication flow: each case's log published as it stands,
a checkpoint cosigned by the member teams' witnesses (``Wiring.publish``).
Every action that appends events publishes already; this deployment is for
a witness that was down then, or a schedule an operator gives it. Ids in,
each case's tree size and cosigners out."""

from __future__ import annotations

from typing import Any

from prefect import flow

from config import wiring
from flows.reports import receipt


@flow(name="checkpoint-publication", persist_result=False)
def publish_checkpoints(case_id: str | None = None) -> list[dict[str, Any]]:
    w = wiring.current()
    cases = [w.catalog.case(case_id)] if case_id else w.catalog.cases()
    done = []
    for case in cases:
        publication = w.publish(case.id)
        done.append(
            {
                "case": case.id,
                "size": publication.size if publication else None,
                "published": bool(publication and publication.published),
                "cosigned": list(publication.cosigned) if publication else [],
                "missing": sorted(publication.missing) if publication else [],
            }
        )
    receipt(done or [{"cases": 0}])
    return done
