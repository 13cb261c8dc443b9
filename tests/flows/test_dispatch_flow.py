"""The dispatch flow under the real Prefect engine (session test harness)."""

from __future__ import annotations

from pathlib import Path

import pytest

from config import wiring
from evidence import ingest as ingesting
from evidence import transfers
from evidence.errors import Denied
from evidence.models import Action, ExhibitMetadata, Purpose, TransferState
from flows.dispatch import dispatch


def approved_transfer(w: wiring.Wiring, tmp_path: Path) -> str:
    """BG ingests two files and asks to hand them to FR; BG's lead (the JIT
    lead of the sample case) approves."""
    seized = tmp_path / "seized"
    seized.mkdir()
    for i in range(2):
        (seized / f"photo-{i}.jpg").write_bytes(b"\xff\xd8\xff\xe0" + bytes([i]) * 5000)
    plan = ingesting.plan_ingest(
        w.catalog,
        case_id="DANUBE",
        team="BG",
        actor="Insp. Petrova",
        paths=[str(seized)],
        defaults=ExhibitMetadata(),
    )
    run = w.catalog.start_run("DANUBE", "BG", "Insp. Petrova", plan.fingerprint)
    ingesting.ingest_batch(w.store, w.catalog, plan, run, plan.files, commit_every=5)
    transfer = transfers.request_transfer(
        w.catalog,
        w.catalog.person("Insp. Petrova"),
        case_id="DANUBE",
        references=["BG-EX-0001", "BG-EX-0002"],
        to_team="FR",
        purpose=Purpose.JIT,
    )
    transfers.decide(w.catalog, w.catalog.person("Cmsr. Georgiev"), transfer.id, approve=True)
    return transfer.id


def test_the_flow_copies_verifies_and_runs_again_harmlessly(
    jitev: wiring.Wiring, tmp_path: Path
) -> None:
    tid = approved_transfer(jitev, tmp_path)
    result = dispatch(transfer_id=tid, actor="Cmsr. Georgiev")
    assert result == {"transfer": tid, "state": "dispatched", "failure": ""}
    transfer = jitev.catalog.transfer(tid)
    assert transfer.state is TransferState.DISPATCHED
    for item in transfer.items:
        assert jitev.store.stat("FR", item.blake3).sha256 == item.sha256
    assert dispatch(transfer_id=tid, actor="Cmsr. Georgiev")["state"] == "dispatched"
    for ref in ("BG-EX-0001", "BG-EX-0002"):
        actions = [e.action for e in jitev.catalog.events("DANUBE", exhibit=ref)]
        assert actions.count(Action.DISPATCHED) == 1


def test_a_denied_dispatch_fails_at_once_and_changes_nothing(
    jitev: wiring.Wiring, tmp_path: Path
) -> None:
    tid = approved_transfer(jitev, tmp_path)
    with pytest.raises(Denied, match="dispatch"):
        dispatch(transfer_id=tid, actor="Insp. Vuković")
    assert jitev.catalog.transfer(tid).state is TransferState.APPROVED
    assert not jitev.store.exists("FR", jitev.catalog.transfer(tid).items[0].blake3)
