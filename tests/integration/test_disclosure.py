"""Disclosure on the real catalog and store: who may bundle what, H1 consent,
the sensitive schedule, storage and DISCLOSED events."""

from __future__ import annotations

import io
import subprocess
import sys
import zipfile
from pathlib import Path
from typing import Any

import pytest

from evidence import disclosure, handling, setup
from evidence.bundle.bagcheck import verify_zip
from evidence.bundle.verify import verify_bundle
from evidence.errors import Denied, InputError
from evidence.models import Action, Handling, HandlingCode, Person, Role
from evidence.tlog.notes import NOTE_SIGNATURE, VerifierKey
from evidence.tlog.policy import Policy
from evidence.tlog.publish import Publish, publish
from storage.sql.catalog import SqlCatalog
from tests.integration.log_helpers import ORIGIN, witnesses_in
from tests.integration.test_bundle_build import received_by_fr
from tests.integration.test_handoffs import Jit, setup_jit

CHECK_LOG = Path(__file__).parents[2] / "docs" / "check-bundle-log.py"


@pytest.fixture
def jit(catalog: SqlCatalog, store: Any, tmp_path: Path) -> Jit:
    jit = setup_jit(catalog, store, tmp_path)
    jit.refs = [e.reference for e in received_by_fr(jit, tmp_path)]
    return jit


def witnessed(jit: Jit, folder: Path) -> Publish:
    """Register the case's log policy (the three teams' witnesses, their state
    in ``folder``) and return what publishes its log, as the wiring does."""
    signer = jit.keys.log.load_or_create()
    witnesses = witnesses_in(folder, ["BG", "ME", "FR"], signer.public_key)
    key = VerifierKey(ORIGIN, NOTE_SIGNATURE, bytes.fromhex(signer.public_key))
    trust = Policy.every_team(key, {w.name: w.key for w in witnesses})
    setup.register_log_policy(jit.catalog, jit.person("Adm. Horvat"), "DANUBE", ORIGIN, trust)
    return lambda case_id: publish(jit.catalog, case_id, ORIGIN, signer, witnesses, trust)


def test_only_a_prosecutor_of_a_holding_team_bundles(jit: Jit) -> None:
    with pytest.raises(Denied, match="'disclose' belongs to the role prosecutor"):
        disclosure.plan_bundle(jit.catalog, jit.person("Lt. Moreau"), "DANUBE", None)
    markovic = Person("Pr. Marković", "ME", frozenset({Role.PROSECUTOR}))
    setup.add_person(jit.catalog, "Adm. Horvat", markovic)
    with pytest.raises(Denied, match="team ME does not hold"):
        disclosure.plan_bundle(jit.catalog, markovic, "DANUBE", jit.refs[:1])
    with pytest.raises(InputError, match="ME holds no exhibit"):
        disclosure.plan_bundle(jit.catalog, jit.person("Cmdr. Radović"), "DANUBE", None)


def test_h1_needs_the_originator_s_consent_for_the_prosecuting_team(jit: Jit) -> None:
    georgiev, dubois = jit.person("Cmsr. Georgiev"), jit.person("Pr. Dubois")
    h1 = Handling(HandlingCode.H1)
    for ref in jit.refs[:2]:
        handling.set_handling(jit.catalog, georgiev, "DANUBE", ref, h1)
    with pytest.raises(Denied) as refused:
        disclosure.plan_bundle(jit.catalog, dubois, "DANUBE", None)
    message = str(refused.value)
    for ref in jit.refs[:2]:
        assert f"{ref} (H1) needs the consent of its originating team BG" in message
    assert jit.refs[2] not in message
    with pytest.raises(Denied, match="set_handling"):
        handling.consent_judicial_use(jit.catalog, dubois, "DANUBE", jit.refs[0], "FR", "x")
    for ref in jit.refs[:2]:
        event = handling.consent_judicial_use(
            jit.catalog, georgiev, "DANUBE", ref, "FR", "for the Marseille trial"
        )
        assert event.action == Action.JUDICIAL_USE_CONSENTED
    plan = disclosure.plan_bundle(jit.catalog, dubois, "DANUBE", None)
    assert [e.reference for e in plan.exhibits] == jit.refs


def test_a_bundle_is_stored_recorded_and_keeps_sensitive_exhibits_apart(
    jit: Jit, tmp_path: Path
) -> None:
    georgiev, dubois = jit.person("Cmsr. Georgiev"), jit.person("Pr. Dubois")
    secret = jit.refs[1]
    handling.set_sensitive(jit.catalog, georgiev, "DANUBE", secret, "names an informant")
    plan = disclosure.plan_bundle(jit.catalog, dubois, "DANUBE", None)
    assert [ex.reference for ex, _ in plan.sensitive] == [secret]
    sealing = witnessed(jit, tmp_path / "witnesses")
    bundle = disclosure.create_bundle(jit.store, jit.catalog, plan, tmp_path, sealing)
    assert bundle.id == "DANUBE-FR-B-0001" and secret not in bundle.exhibits
    assert bundle.sensitive == (secret,)
    assert jit.store.stat(disclosure.NAMESPACE, bundle.blake3).retention_until is not None
    for ref in bundle.exhibits:
        last = list(jit.catalog.events("DANUBE", exhibit=ref))[-1]
        assert last.action == Action.DISCLOSED and last.actor == "Pr. Dubois"
        assert (last.details["bundle"], last.details["blake3"]) == (bundle.id, bundle.blake3)
        assert last.details["root_digest"] == bundle.root_digest
    assert Action.DISCLOSED not in jit.actions(secret)

    got = bytearray()
    disclosure.download_bundle(jit.store, bundle, got.extend, sensitive=False)
    assert verify_zip(io.BytesIO(bytes(got))).ok
    report = verify_bundle(io.BytesIO(bytes(got)))  # the withheld exhibit's receipt too
    assert report.ok, report.findings
    with zipfile.ZipFile(io.BytesIO(bytes(got))) as zf:
        names = zf.namelist()
        extract = zf.read(f"{bundle.id}/data/ledger/custody.jsonl")
    assert not any(secret in n for n in names)
    assert secret.encode() not in extract  # not even its hand-off's other events
    # The README's worked example, which knows only the formats, agrees.
    with zipfile.ZipFile(io.BytesIO(bytes(got))) as zf:
        zf.extractall(tmp_path / "unzipped")
    checked = subprocess.run(
        [sys.executable, str(CHECK_LOG), str(tmp_path / "unzipped" / bundle.id)],
        capture_output=True,
        text=True,
    )
    assert checked.returncode == 0, checked.stderr
    assert f"events: {len(extract.splitlines())} hashes recomputed" in checked.stdout
    schedule = bytearray()
    disclosure.download_bundle(jit.store, bundle, schedule.extend, sensitive=True)
    assert secret in schedule.decode() and "names an informant" in schedule.decode()

    assert jit.catalog.bundle(bundle.id) == bundle
    auditor, moreau = jit.person("Aud. Keller"), jit.person("Lt. Moreau")
    assert disclosure.visible_bundles(jit.catalog, auditor) == [bundle]
    with pytest.raises(Denied, match="may not download bundle"):
        disclosure.checked_bundle(jit.catalog, auditor, bundle.id, content=True)
    assert disclosure.visible_bundles(jit.catalog, moreau) == []
    again = disclosure.create_bundle(
        jit.store,
        jit.catalog,
        disclosure.plan_bundle(jit.catalog, dubois, "DANUBE", None),
        tmp_path,
        sealing,
    )
    assert again.id == "DANUBE-FR-B-0002"
