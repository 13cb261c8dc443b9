"""The fixity-audit flow: each case's share of stored copies re-read and
checked, its teams' crash leftovers cleared, one FIXITY_AUDITED event a case
(``evidence.fixity``).

One task per case, one case after the other, all reading under one
bandwidth cap (``[audit] max_mib_s``). Only transient store errors are
retried; a retry audits the case again from the start and records nothing
twice (nothing is recorded before the case's reads are done), though a
leftover an interrupted try removed is not listed again. Ids in, a
small receipt out: no bytes, no result cache, no persisted results.
"""

from __future__ import annotations

import time
from datetime import timedelta
from typing import Any

from prefect import flow, task
from prefect.cache_policies import NO_CACHE

from config import wiring
from evidence import fixity, visibility
from flows.retry import DELAYS, RETRIES, transient


@task(
    name="audit-case-fixity",
    retries=RETRIES,
    retry_delay_seconds=DELAYS,
    retry_condition_fn=transient,
    cache_policy=NO_CACHE,
    persist_result=False,
)
def audit_case(case_id: str, actor: str, all_copies: bool) -> dict[str, Any]:
    w = wiring.current()
    settings = w.settings.audit
    done = fixity.audit_fixity(
        w.catalog,
        w.store,
        w.catalog.person(actor),
        case_id,
        now=w.clock.now(),
        cycle_days=settings.full_cycle_days,
        all_copies=all_copies,
        grace=timedelta(hours=settings.leftover_grace_hours),
        throttle=fixity.Throttle(settings.max_mib_s, time.monotonic, time.sleep),
    )
    w.publish(case_id)
    d = done.event.details
    return {
        "case": case_id,
        "seq": done.event.seq,
        "copies": d["copies"],
        "failures": d["failures"],
        "ok": done.ok,
    }


@flow(name="fixity-audit", persist_result=False)
def fixity_audit(
    actor: str, case_id: str | None = None, all_copies: bool = False
) -> list[dict[str, Any]]:
    w = wiring.current()
    cases = visibility.member_cases(w.catalog, w.catalog.person(actor), case_id)
    return [audit_case(c.id, actor, all_copies) for c in cases]
