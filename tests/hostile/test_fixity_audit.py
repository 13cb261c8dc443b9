"""``jitev audit``, the real command: a clean store audits clean (exit 0); a
flipped byte in the receiving team's copy is a failure (exit 1), recorded
as a FIXITY_FAILED event in the exhibit's continuity and listed by ``jitev
audit list`` and ``show``; a crash leftover past its grace period is removed."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

import pytest

from tests.hostile.conftest import handed_over, object_path, run_measured
from tests.integration.cli_helpers import AUDITOR, INVESTIGATOR, jitev, jitev_json

FR_INVESTIGATOR = "Lt. Moreau"


@pytest.fixture(scope="module")
def held(case_home: tuple[Path, dict[str, str]], tmp_path_factory: pytest.TempPathFactory) -> Any:
    """BG-EX-0001..0002 ingested by BG and handed to FR: four copies."""
    home, env = case_home
    return home, env, handed_over(env, tmp_path_factory.mktemp("seized"), 2, 2)


def test_a_clean_store_audits_clean_and_an_investigator_is_refused(held: Any) -> None:
    home, env, _ = held
    refused = run_measured(env, "audit", "run", "--case", "DANUBE", "--as", INVESTIGATOR)
    refused.clear_error(5, INVESTIGATOR, "audit")  # the policy denies it
    done = run_measured(env, "audit", "run", "--all", "--case", "DANUBE", "--json", "--as", AUDITOR)
    assert done.returncode == 0, done.stdout + done.stderr
    [audit] = json.loads(done.stdout)
    assert audit["ok"] and audit["event"]["details"]["copies"] == 4
    text = run_measured(env, "audit", "run", "--all", "--as", AUDITOR)
    text.clear_error(0, "Fixity audit #", "clean", "4 copies")


def test_a_flipped_byte_in_a_received_copy_exits_1_and_is_recorded(held: Any) -> None:
    home, env, keys = held
    ref = sorted(keys)[0]
    copy = object_path(home / "objects", "FR", keys[ref])
    copy.chmod(0o644)
    data = bytearray(copy.read_bytes())
    data[0] ^= 0xFF
    copy.write_bytes(bytes(data))
    copy.chmod(0o444)
    leftover = home / "objects" / "BG" / ".incoming" / "crashed.part"
    leftover.parent.mkdir(exist_ok=True)
    leftover.write_bytes(b"half a put")
    stale = time.time() - 48 * 3600
    os.utime(leftover, (stale, stale))
    done = run_measured(env, "audit", "run", "--all", "--case", "DANUBE", "--as", AUDITOR)
    done.clear_error(1, ref, "team FR's copy", "does not match its ledger hashes", "crashed.part")
    assert not leftover.exists()
    listed = jitev_json(env, "audit", "list", "--case", "DANUBE", "--as", AUDITOR)
    last = listed[-1]
    assert last["action"] == "FIXITY_AUDITED" and last["details"]["failures"] == 1
    assert last["details"]["leftovers_removed"][0]["name"] == ".incoming/crashed.part"
    shown = run_measured(
        env, "audit", "show", str(last["seq"]), "--case", "DANUBE", "--as", AUDITOR
    )
    shown.clear_error(1, f"#{last['details']['failed'][0]} {ref}", "FR/")
    continuity = jitev(env, "custody", "show", ref, "--as", FR_INVESTIGATOR)
    assert "FIXITY_FAILED" in continuity.stdout and "does not match" in continuity.stdout
