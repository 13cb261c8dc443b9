"""Member teams' witnesses on their own machines, over the C2SP
tlog-witness HTTP protocol: two ``jitev witness serve`` processes (BG and
ME; FR keeps the embedded default) and the real ``jitev`` command using them
through ``[witnesses.<TEAM>]`` in its config."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from evidence.tlog.merkle import EMPTY_ROOT
from evidence.tlog.witness import request_body
from storage.keys import TeamSigner
from tests.integration.cli_helpers import (
    AUDITOR,
    SETUP_EVENTS,
    copy_prefect_home,
    environment,
    ingest,
    jitev,
    jitev_json,
    open_case,
)
from tests.integration.witness_helpers import (
    WitnessProcess,
    configure,
    cosigners,
    log_key,
    signed,
    size_of,
    start_witnesses,
)

SIZE_TYPE = "text/x.tlog.size"
BG_LEAD = "Cmsr. Georgiev"


@dataclass
class Deployment:
    home: Path
    env: dict[str, str]
    log: TeamSigner
    witnesses: dict[str, WitnessProcess]


@pytest.fixture
def deployment(tmp_path: Path, prefect_template: Path) -> Iterator[Deployment]:
    """``jitev setup`` done with BG's and ME's witnesses served over HTTP."""
    home = tmp_path / "home"
    log = log_key(home)
    served = start_witnesses(tmp_path, ["BG", "ME"], log.public_key)
    try:
        configure(home, {w.team: (w.url, w.vkey) for w in served})
        env = environment(home, copy_prefect_home(prefect_template, tmp_path / "prefect"))
        open_case(env)
        yield Deployment(home, env, log, {w.team: w for w in served})
    finally:
        for w in served:
            w.stop()


def verified(env: dict[str, str]) -> dict[str, object]:
    [report] = jitev_json(env, "ledger", "verify", "--as", AUDITOR)
    assert isinstance(report, dict)
    return report


def test_setup_is_cosigned_by_the_served_witnesses(deployment: Deployment) -> None:
    for w in deployment.witnesses.values():
        latest = w.latest()
        assert latest is not None and size_of(latest) == SETUP_EVENTS
    assert cosigners(deployment.home) == {SETUP_EVENTS: {"BG", "ME", "FR"}}
    report = verified(deployment.env)
    assert (report["ok"], report["covered"], report["uncovered"]) == (True, SETUP_EVENTS, 0)


def test_a_fork_or_a_rollback_is_refused_with_the_protocols_status(
    deployment: Deployment,
) -> None:
    """Crafted ``add-checkpoint`` requests, signed with the log's own key (as a
    host that holds it could), against BG's witness at size 5."""
    bg = deployment.witnesses["BG"]
    before = bg.latest()
    assert before is not None
    cosigned = SETUP_EVENTS
    forged = bytes(range(32))
    log = deployment.log

    def post(old: int, proof: list[bytes], note: str) -> httpx.Response:
        return httpx.post(f"{bg.url}/add-checkpoint", content=request_body(old, proof, note))

    # 409: the old size is not the one it cosigned last, and it says which.
    answer = post(cosigned - 2, [forged], signed(log, cosigned + 1, forged))
    assert answer.status_code == 409 and answer.text == f"{cosigned}\n"
    assert answer.headers["content-type"].split(";")[0] == SIZE_TYPE
    # 409 too for a rollback to a smaller tree claiming an old size it never cosigned ...
    answer = post(cosigned - 1, [], signed(log, cosigned - 1, forged))
    assert answer.status_code == 409 and answer.text == f"{cosigned}\n"
    # ... 400 for one whose old size is larger than the checkpoint's.
    assert post(cosigned, [], signed(log, cosigned - 1, forged)).status_code == 400
    # 403: not signed by the log key it trusts.
    other = TeamSigner("another", Ed25519PrivateKey.generate())
    assert post(cosigned, [forged], signed(other, cosigned + 1, forged)).status_code == 403
    # 404: a log it does not follow.
    elsewhere = signed(log, 0, EMPTY_ROOT, origin="elsewhere.example/DANUBE")
    assert post(0, [], elsewhere).status_code == 404
    # 422: a fork at the size it cosigned, and an extension whose proof does not hold.
    fork = signed(log, cosigned, forged)
    assert post(cosigned, [], fork).status_code == 422
    bad_proof = signed(log, cosigned + 1, forged)
    assert post(cosigned, [forged], bad_proof).status_code == 422
    kept = bg.evidence()
    assert len(kept) == 2 and kept[0].endswith(fork) and kept[1].endswith(bad_proof)
    assert "two different roots" in kept[0].splitlines()[0]

    assert bg.latest() == before  # nothing it refused moved it
    report = verified(deployment.env)
    assert report["ok"] is True and report["covered"] == cosigned

    bg.stop()  # its state survives a restart: it still knows size 5 and its evidence
    bg.start()
    bg.wait_ready()
    assert bg.latest() == before
    assert post(cosigned, [], fork).status_code == 422
    assert len(bg.evidence()) == 3
    answer = post(0, [], signed(log, cosigned, forged))
    assert answer.status_code == 409 and answer.text == f"{cosigned}\n"


def test_a_witness_that_is_down_does_not_stop_the_work(
    deployment: Deployment, tmp_path: Path
) -> None:
    me = deployment.witnesses["ME"]
    before = me.latest()
    me.stop()
    (tmp_path / "chat.txt").write_text("Ivo: border at 03:00\n")
    done = ingest(deployment.env, str(tmp_path / "chat.txt"))  # exits 0
    assert "witness ME did not cosign" in done.stderr
    size = SETUP_EVENTS + 1

    report = verified(deployment.env)  # exits 0: not yet witnessed is not a failure
    assert (report["ok"], report["covered"], report["uncovered"]) == (True, SETUP_EVENTS, 1)
    said = "\n".join(str(n) for n in report["notes"])  # type: ignore[attr-defined]
    assert "1 event(s) are not yet covered by a cosigned checkpoint" in said
    assert "missing the cosignature of ME" in said
    assert "witness ME could not be asked" in said
    assert cosigners(deployment.home) == {SETUP_EVENTS: {"BG", "ME", "FR"}, size: {"BG", "FR"}}

    me.start()
    me.wait_ready()
    assert me.latest() == before  # it kept its state while it was down
    changed = jitev(
        deployment.env, "exhibits", "handling", "BG-EX-0001", "--code", "H2", "--as", BG_LEAD
    )
    assert "did not cosign" not in changed.stderr
    size += 1
    # ME went from the size it had to the new one in one request: one
    # consistency proof over both events, nothing in between.
    assert cosigners(deployment.home) == {
        SETUP_EVENTS: {"BG", "ME", "FR"},
        size - 1: {"BG", "FR"},
        size: {"BG", "ME", "FR"},
    }
    latest = me.latest()
    assert latest is not None and size_of(latest) == size
    report = verified(deployment.env)
    assert (report["ok"], report["covered"], report["uncovered"], report["notes"]) == (
        True,
        size,
        0,
        [],
    )
