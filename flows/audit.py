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
from collections.abc import Callable
from datetime import timedelta
from functools import partial
from typing import Any

from prefect import flow, task
from prefect.cache_policies import NO_CACHE
from prefect.utilities.annotations import quote

from config import wiring
from evidence import fixity, visibility
from flows.reports import Progress, receipt
from flows.retry import DELAYS, RETRIES, transient


@task(
    name="audit-case-fixity",
    retries=RETRIES,
    retry_delay_seconds=DELAYS,
    retry_condition_fn=transient,
    cache_policy=NO_CACHE,
    persist_result=False,
)
def audit_case(
    case_id: str, actor: str, all_copies: bool, progress: Callable[[int, int], None]
) -> dict[str, Any]:
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
        progress=progress,
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
    progress = Progress("copies re-read, case after case")
    done = []
    for i, c in enumerate(cases):
        # Case i of n, its copies read: (i + read / copies) / n of the whole.
        share = partial(_case_share, progress, i, len(cases))
        done.append(audit_case(c.id, actor, all_copies, quote(share)))  # type: ignore[call-overload]
    receipt(done or [{"cases": 0}])
    return done


def _case_share(progress: Progress, i: int, cases: int, read: int, copies: int) -> None:
    progress(i * max(copies, 1) + read, cases * max(copies, 1))
