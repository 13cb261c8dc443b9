"""Fuzzing the JSON API against its own OpenAPI schema (schemathesis).

The schema is read from the served app (``/api/v1/openapi.json``), exactly as
a client would read it. For every operation schemathesis generates requests
that fit the schema (positive) and requests that break it (negative): wrong
types, missing or oversized fields, odd strings in paths and queries. Each
answer must not be a server error (the ``not_a_server_error`` check): what a
caller can send must be answered with a 4xx and its message, never a 500.

Three passes on one served JIT (case DANUBE of config/jit.example.toml):

- as Cdt. Laurent (the JIT lead: the broadest rights of the case) with an
  API token, every operation with generated path parameters (mostly unknown
  ids: the "not found" paths);
- as Cdt. Laurent again, with the path parameters set to things that exist
  (the case, an uploaded exhibit, a requested transfer, a spare token), so
  the generated queries and bodies reach the services themselves;
- unauthenticated (no token, no cookie).

The run is bounded and reproducible: a fixed number of examples per
operation and mode, derandomized (Hypothesis derives its seed from the test),
no example database. No operation is excluded.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.core.failures import FailureGroup
from schemathesis.schemas import APIOperation

from tests.fixtures_web import Served, log_in

LEAD = "Cdt. Laurent"  # FR lead, and FR leads case DANUBE: the JIT lead
# Per operation and generation mode; JITEV_FUZZ_EXAMPLES=500 for a deeper
# (slower, still reproducible) run by hand.
MAX_EXAMPLES = int(os.environ.get("JITEV_FUZZ_EXAMPLES", "25"))
KNOWN_EXAMPLES = max(1, MAX_EXAMPLES * 3 // 5)  # per operation, existing path parameters
MODES = (GenerationMode.POSITIVE, GenerationMode.NEGATIVE)
# The client's batch upload is bytes in jitev's own framing (evidence.uploads):
# fuzzed as arbitrary bytes, like the single upload's octet-stream.
schemathesis.serializer.alias("application/x-jitev-batch", "application/octet-stream")

# Hypothesis compares the global ``random`` state before and after each draw
# and warns when it moved. The served app runs in this process: its server
# thread, the Prefect services of the flows it starts and earlier tests'
# Prefect workers use ``random`` (retry jitter, run names) while the main
# thread draws, so the warning fires at random although every strategy here is
# deterministic (derandomized, fixed seed). What this test asserts, no 5xx,
# does not depend on it.
pytestmark = pytest.mark.filterwarnings(
    "ignore:Do not use the `random` module inside strategies"
    ":hypothesis.errors.HypothesisDeprecationWarning"
)


@dataclass
class Tally:
    """What a pass sent and which answers failed the check."""

    requests: int = 0
    statuses: dict[int, int] = field(default_factory=dict)
    failures: list[str] = field(default_factory=list)
    not_negated: list[str] = field(default_factory=list)  # nothing in it breaks the schema

    def report(self) -> str:
        return "\n\n".join(self.failures[:20])


def fuzz(
    operation: APIOperation,
    base_url: str,
    headers: dict[str, str],
    tally: Tally,
    *,
    mode: GenerationMode,
    examples: int,
    path_parameters: dict[str, Any] | None = None,
) -> None:
    """Send ``examples`` generated requests of ``operation``; record (not
    raise) each failed check, so one run shows every failing operation."""
    session = requests.Session()
    strategy = operation.as_strategy(generation_mode=mode, path_parameters=path_parameters)

    # Explicit + generate only: no shrinking (the failure report carries the
    # curl command of the failing request), which keeps the run bounded.
    @settings(
        max_examples=examples,
        derandomize=True,
        database=None,
        deadline=None,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(case=strategy)
    def run(case: schemathesis.Case) -> None:
        response = case.call(base_url=base_url, session=session, headers=headers, timeout=60)
        tally.requests += 1
        tally.statuses[response.status_code] = tally.statuses.get(response.status_code, 0) + 1
        try:
            case.validate_response(response, checks=[not_a_server_error], headers=headers)
        except (AssertionError, FailureGroup) as exc:
            tally.failures.append(
                f"{operation.label} ({mode.value}): {response.status_code} "
                f"{response.text[:300]}\n{case.as_curl_command(headers=headers)}\n{exc}"
            )

    try:
        run()
    except Unsatisfiable:
        # A path parameter typed "string" has no value outside its schema: an
        # operation with nothing else to break has no negative examples.
        if mode is not GenerationMode.NEGATIVE:
            raise
        tally.not_negated.append(operation.label)
    finally:
        session.close()


def negatable(operation: APIOperation) -> bool:
    return bool(list(operation.iter_parameters()) or operation.body)


def operations(served: Served) -> list[APIOperation]:
    schema = schemathesis.openapi.from_url(served.url + "/api/v1/openapi.json")
    found = [result.ok() for result in schema.get_all_operations()]
    assert len(found) > 20, [op.label for op in found]
    return found


def token_of(client: httpx.Client, label: str) -> dict[str, Any]:
    csrf = log_in(client, LEAD)
    answer = client.post("/api/v1/tokens", json={"label": label}, headers={"X-CSRF-Token": csrf})
    assert answer.status_code == 201, answer.text
    token: dict[str, Any] = answer.json()
    return token


def wait_for_jobs(served: Served) -> None:
    """Let any flow run the fuzzing started (an approval that completes a
    transfer starts its dispatch) finish before the JIT is torn down."""
    context = served.app.state.jitev
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        started = [j for p in context.wiring.catalog.people() for j in context.jobs.of(p.name)]
        if all(j.finished for j in started):
            return
        time.sleep(0.2)
    raise AssertionError(f"flow runs still running: {[j.as_dict() for j in started]}")


def run_passes(served: Served, passes: list[Callable[[Tally], None]]) -> Tally:
    tally = Tally()
    for one in passes:
        one(tally)
    wait_for_jobs(served)
    return tally


def test_api_answers_no_server_error_to_the_jit_lead(served: Served, client: httpx.Client) -> None:
    token = token_of(client, "fuzzing")
    spare = token_of(client, "spare, revoked by the fuzzing perhaps")
    bearer = {"Authorization": f"Bearer {token['secret']}"}

    # Something to find: an exhibit of FR's and a transfer of it to BG.
    api = httpx.Client(base_url=served.url, headers=bearer, timeout=60)
    with api:
        content = b"ledger of the vans, Thursday\n"
        answer = api.post(
            "/api/v1/cases/DANUBE/exhibits",
            params={"name": "vans.txt"},
            content=content,
            headers={"Content-Type": "application/octet-stream"},
        )
        assert answer.status_code == 201, answer.text
        reference = answer.json()["reference"]
        answer = api.post(
            "/api/v1/transfers",
            json={"case": "DANUBE", "exhibits": [reference], "to_team": "BG"},
        )
        assert answer.status_code == 201, answer.text
        transfer_id = answer.json()["id"]
    known = {
        "case_id": "DANUBE",
        "reference": reference,
        "transfer_id": transfer_id,
        "token_id": spare["id"],
    }

    ops = operations(served)

    def generated(tally: Tally) -> None:
        for op in ops:
            for mode in MODES if negatable(op) else MODES[:1]:
                fuzz(op, served.url, bearer, tally, mode=mode, examples=MAX_EXAMPLES)

    def existing(tally: Tally) -> None:
        for op in ops:
            names = {p.name for p in op.path_parameters}
            if names and names <= known.keys():
                fixed = {name: known[name] for name in names}
                fuzz(
                    op,
                    served.url,
                    bearer,
                    tally,
                    mode=GenerationMode.POSITIVE,
                    examples=KNOWN_EXAMPLES,
                    path_parameters=fixed,
                )

    tally = run_passes(served, [generated, existing])
    print(
        f"jit lead: {tally.requests} requests over {len(ops)} operations: {tally.statuses}; not negated: {tally.not_negated}"
    )
    assert not tally.failures, tally.report()
    assert tally.requests > len(ops) * MAX_EXAMPLES
    # The caller was signed in: most answers are not "log in first".
    assert tally.statuses.get(401, 0) < tally.requests / 2, tally.statuses


def test_api_answers_no_server_error_to_a_stranger(served: Served) -> None:
    ops = operations(served)

    def generated(tally: Tally) -> None:
        for op in ops:
            for mode in MODES if negatable(op) else MODES[:1]:
                fuzz(op, served.url, {}, tally, mode=mode, examples=MAX_EXAMPLES)

    tally = run_passes(served, [generated])
    print(
        f"stranger: {tally.requests} requests over {len(ops)} operations: {tally.statuses}; not negated: {tally.not_negated}"
    )
    assert not tally.failures, tally.report()
    assert tally.requests > len(ops) * MAX_EXAMPLES
    # A stranger is only ever let in to log in: nothing else answers 201 or 202.
    assert not {201, 202} & tally.statuses.keys(), tally.statuses
