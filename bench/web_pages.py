"""Lists at scale, for bench/web.py: a case of 100,000 exhibits against an
empty case, through ``jitev serve``.

Seeding, untimed: the exhibit rows are written by the catalog's own path
for new exhibits (``CaseTransaction.next_exhibit_numbers`` and
``add_exhibits``, in transactions of ``GROUP``), as BG exhibits of case
DANUBE with random SHA-256 and BLAKE3 digests, four media types, titles and
descriptions that differ, and seizure times over a year. No bytes are stored
and no INGESTED events are appended: what a list reads is the exhibit rows
(the real ingest path, store and ledger included, takes far longer than the
bench's budget at 100,000 files). The empty case is EMPTY (BG and FR), opened
by the example JIT's admin.

Measured, as Insp. Petrova (a BG investigator: her team's own exhibits, the
"held" visibility rule, the one that needs the hand-offs subquery) with an
API token, the best of ``REPEAT`` after one untimed request each:

- the first ``/exhibits?case=C`` page (50 rows and the pager): its bytes (goal
  at most ``PAGE_LIMIT``) and its time against the same page of the empty case
  (goal at most 2x);
- the first ``GET /api/v1/exhibits?case=C`` page (50 rows, ``total``, cursors):
  the same two;
- ``GET /api/v1/exhibits?case=C&hash=PREFIX``: a 4-hex-digit prefix of one
  exhibit's SHA-256, over 100,000 against the empty case (goal at most 2x).
"""

from __future__ import annotations

import os
import time
from datetime import UTC, datetime, timedelta
from typing import Any

from bench.common import Row, bench_case, best, say

CASE, EMPTY, TEAM = "DANUBE", "EMPTY", "BG"
ADMIN = "Adm. Horvat"  # the example JIT's admin opens the empty case
GROUP = 5000  # exhibits a transaction
REPEAT = 7
PAGE_LIMIT = 100 * 1024  # bytes of the first /exhibits page
MEDIA = ("image/jpeg", "application/pdf", "text/plain", "video/mp4")


def seed(w: Any, count: int) -> str:
    """``count`` BG exhibits in CASE, the empty case EMPTY; the SHA-256
    prefix the hash search looks for (one exhibit's first four digits)."""
    from evidence import setup
    from evidence.models import Exhibit, ExhibitStatus, exhibit_reference

    setup.open_case(w.catalog, bench_case(EMPTY), ADMIN)
    started = time.perf_counter()
    at = datetime(2024, 1, 1, tzinfo=UTC)
    prefix = ""
    for start in range(0, count, GROUP):
        with w.catalog.transaction(CASE) as tx:
            numbers = tx.next_exhibit_numbers(TEAM, min(GROUP, count - start))
            made = []
            for n in numbers:
                blake3, sha256 = os.urandom(32).hex(), os.urandom(32).hex()
                made.append(
                    Exhibit(
                        reference=exhibit_reference(TEAM, n),
                        case_id=CASE,
                        team=TEAM,
                        title=f"Phone extraction {n} of container MSCU {n % 977:04d}",
                        description=f"Seized at Varna port, lot {n % 131}",
                        seized_at=at + timedelta(minutes=5 * n),
                        seized_by="Insp. Petrov",
                        seized_from="Varna port",
                        original_name=f"item-{n}.bin",
                        relative_path=f"seizure/{n // 1000}/item-{n}.bin",
                        media_type=MEDIA[n % len(MEDIA)],
                        size=1000 + n,
                        blake3=blake3,
                        sha256=sha256,
                        declared=None,
                        storage_key=blake3,
                        retention_until=None,
                        status=ExhibitStatus.STORED,
                        ingested_at=at,
                        ingested_by="Insp. Petrova",
                    )
                )
            tx.add_exhibits(made)
            prefix = prefix or made[len(made) // 2].sha256[:4]
        if (start // GROUP) % 5 == 4:
            say(f"seeded {start + GROUP:,} exhibits")
    say(f"seeded {count:,} exhibit rows in {time.perf_counter() - started:.1f} s")
    return prefix


def _fetch(client: Any, path: str, **params: str) -> tuple[float, int, Any]:
    started = time.perf_counter()
    answer = client.get(path, params=params)
    seconds = time.perf_counter() - started
    if answer.status_code != 200:
        raise SystemExit(f"bench: GET {path} {params}: {answer.status_code} {answer.text[:500]}")
    return seconds, len(answer.content), answer


def _best(client: Any, path: str, **params: str) -> tuple[float, int, Any, list[float]]:
    _fetch(client, path, **params)  # warms the caches
    runs = [_fetch(client, path, **params) for _ in range(REPEAT)]
    seconds = [r[0] for r in runs]
    return best(seconds), runs[0][1], runs[0][2], seconds


def measure(url: str, token: str, count: int, prefix: str) -> list[Row]:
    import httpx

    rows: list[Row] = []
    headers = {"Authorization": f"Bearer {token}"}
    with httpx.Client(base_url=url, headers=headers, timeout=120) as client:
        for name, path, extra in (
            ("web: first /exhibits page", "/exhibits", {}),
            ("web: first GET /api/v1/exhibits page", "/api/v1/exhibits", {}),
            ("web: hash-prefix search", "/api/v1/exhibits", {"hash": prefix}),
        ):
            full, size, answer, full_s = _best(client, path, case=CASE, **extra)
            empty, empty_size, _, empty_s = _best(client, path, case=EMPTY, **extra)
            total = answer.json()["total"] if path.startswith("/api/") else None
            say(
                f"{name}: {full * 1000:.1f} ms, {size / 1024:.1f} KiB at {count:,} exhibits; "
                f"{empty * 1000:.1f} ms, {empty_size / 1024:.1f} KiB empty"
                + (f"; total {total:,}" if total is not None else "")
            )
            rows.append(
                Row(
                    f"{name} ({count:,} vs 0)",
                    "ms",
                    full * 1000,
                    empty * 1000,
                    f"the same, case {EMPTY} (empty)",
                    most=2,
                    note=f"{path}?case={CASE}{'&hash=' + prefix if extra else ''}: best of "
                    f"{REPEAT}; {size:,} bytes"
                    + (f", total {total:,}" if total is not None else ""),
                    samples={"jitev": full_s, "baseline": empty_s},
                )
            )
            if not extra:
                rows.append(
                    Row(f"  {name}: size", "KiB", size / 1024, None, limit=PAGE_LIMIT / 1024)
                )
    return rows
