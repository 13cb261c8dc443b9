"""Hand-offs end to end on the real parts: the SQL catalog (SQLite and
PostgreSQL) and the object stores (local and Ceph RGW), without Prefect
(``tests/flows/test_dispatch_flow.py`` runs the flow)."""

from __future__ import annotations

import threading
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import update

from evidence import audit, handling, setup, transfers, visibility
from evidence import ingest as ingesting
from evidence.errors import Denied, IllegalTransition, InputError, IntegrityError
from evidence.ledger import verify
from evidence.models import (
    Action,
    Capacity,
    ExhibitMetadata,
    Handling,
    HandlingCode,
    Person,
    Purpose,
    Requirement,
    Role,
    StoredObject,
    TransferState,
)
from evidence.ports import ObjectStore
from storage.keys import KeyRing
from storage.objects.local import LocalStore
from storage.sql.catalog import SqlCatalog
from storage.sql.tables import receipts, team_keys
from tests.fixtures_s3 import UtcClock
from tests.fixtures_sql import StepClock, register_people, sample_case


@dataclass
class Jit:
    catalog: SqlCatalog
    store: Any
    keys: KeyRing
    refs: list[str]

    def person(self, name: str) -> Person:
        return self.catalog.person(name)

    def request(self, *refs: str, to: str = "FR", **kw: Any) -> str:
        return transfers.request_transfer(
            self.catalog,
            self.person(kw.pop("by", "Insp. Petrova")),
            case_id="DANUBE",
            references=list(refs or self.refs),
            to_team=to,
            purpose=kw.pop("purpose", Purpose.JIT),
            **kw,
        ).id

    def approve(self, transfer_id: str, name: str = "Cdt. Laurent") -> TransferState:
        return transfers.decide(
            self.catalog, self.person(name), transfer_id, approve=True, reason="ok"
        ).state

    def dispatch(self, transfer_id: str, store: ObjectStore | None = None) -> TransferState:
        return transfers.dispatch(
            store or self.store, self.catalog, self.person("Cdt. Laurent"), transfer_id
        ).state

    def receive(self, transfer_id: str, name: str = "Lt. Moreau") -> TransferState:
        team = self.catalog.transfer(transfer_id).to_team
        return transfers.receive(
            self.store,
            self.catalog,
            self.keys.signer(team),
            UtcClock(),
            self.person(name),
            transfer_id,
        ).state

    def actions(self, reference: str) -> list[str]:
        return [e.action for e in self.catalog.events("DANUBE", exhibit=reference)]


def setup_jit(catalog: SqlCatalog, store: Any, tmp_path: Path, files: int = 3) -> Jit:
    register_people(catalog)
    girard = Person("Cne. Girard", "FR", frozenset({Role.LEAD}))  # a second JIT lead
    setup.add_person(catalog, "Adm. Horvat", girard)
    setup.open_case(catalog, replace(sample_case(), lead_team="FR"), "Adm. Horvat")
    keys = KeyRing(tmp_path / "keys")
    for team in ("BG", "ME", "FR"):
        setup.register_team_key(
            catalog, catalog.person("Adm. Horvat"), "DANUBE", team, keys.generate(team)
        )
    seized = tmp_path / "seized"
    seized.mkdir()
    for i in range(files):
        (seized / f"item-{i}.bin").write_bytes(bytes([i]) * (2000 + i))
    plan = ingesting.plan_ingest(
        catalog,
        case_id="DANUBE",
        team="BG",
        actor="Insp. Petrova",
        paths=[str(seized)],
        defaults=ExhibitMetadata(),
    )
    run = catalog.start_run("DANUBE", "BG", "Insp. Petrova", plan.fingerprint)
    done = ingesting.ingest_batch(store, catalog, plan, run, plan.files, commit_every=10)
    return Jit(catalog, store, keys, [o.reference for o in done if o.reference])


@pytest.fixture
def jit(catalog: SqlCatalog, local_store: LocalStore, tmp_path: Path) -> Jit:
    return setup_jit(catalog, local_store, tmp_path)


def test_lifecycle_for_the_jit_purpose(catalog: SqlCatalog, store: Any, tmp_path: Path) -> None:
    jit = setup_jit(catalog, store, tmp_path)
    moreau = jit.person("Lt. Moreau")
    assert visibility.visible_exhibits(catalog, moreau, "DANUBE") == []
    tid = jit.request()
    transfer = catalog.transfer(tid)
    assert tid == "DANUBE-T-0001" and transfer.state is TransferState.REQUESTED
    assert transfer.pending() == (Requirement(Capacity.JIT_LEAD, "FR"),)
    assert "JIT-2024-017" in transfer.legal_basis

    assert jit.approve(tid) is TransferState.APPROVED
    assert jit.dispatch(tid) is TransferState.DISPATCHED
    for item in catalog.transfer(tid).items:
        assert item.dispatched_seq is not None
        info = store.stat("FR", item.blake3)
        assert (info.size, info.blake3, info.sha256) == (item.size, item.blake3, item.sha256)
        assert info.retention_until is not None
    # Dispatched is not yet held: FR sees nothing before its receipt.
    assert visibility.visible_exhibits(catalog, moreau, "DANUBE") == []

    assert jit.receive(tid) is TransferState.RECEIVED
    done = catalog.transfer(tid)
    assert transfers.check_receipt(catalog, done).ok
    assert done.receipt is not None and done.receipt.payload["received_by"] == "Lt. Moreau"
    assert [e.reference for e in visibility.visible_exhibits(catalog, moreau, "DANUBE")] == jit.refs
    holders = catalog.holdings("DANUBE")[jit.refs[0]]
    assert [(h.team, h.purpose, h.transfer_id) for h in holders] == [
        ("BG", None, None),
        ("FR", Purpose.JIT, tid),
    ]
    _, events = visibility.continuity(catalog, moreau, jit.refs[0])
    assert [e.action for e in events] == [
        Action.INGESTED,
        Action.TRANSFER_REQUESTED,
        Action.TRANSFER_APPROVED,
        Action.DISPATCHED,
        Action.RECEIVED,
    ]
    received = events[-1]
    assert (received.actor, received.team) == ("Lt. Moreau", "FR")
    assert received.details["blake3"] == done.items[0].blake3
    assert audit.verify_case(catalog, "DANUBE", store).ok


def test_another_offence_needs_the_originating_team_s_consent(jit: Jit) -> None:
    photo = jit.refs[0]
    with pytest.raises(InputError, match="legal basis"):
        jit.request(photo, to="ME", purpose=Purpose.OTHER_OFFENCE)
    tid = jit.request(photo, to="ME", purpose=Purpose.OTHER_OFFENCE, legal_basis="Art. 13(10)")
    assert catalog_pending(jit, tid) == [(Capacity.JIT_LEAD, "FR"), (Capacity.ORIGIN, "BG")]
    assert jit.approve(tid) is TransferState.REQUESTED  # BG has not consented yet
    assert catalog_pending(jit, tid) == [(Capacity.ORIGIN, "BG")]
    with pytest.raises(Denied, match="approve"):
        jit.approve(tid, "Insp. Vuković")
    georgiev = jit.person("Cmsr. Georgiev")
    with pytest.raises(InputError, match="why"):
        transfers.decide(jit.catalog, georgiev, tid, approve=False)
    rejected = transfers.decide(jit.catalog, georgiev, tid, approve=False, reason="a witness")
    assert rejected.state is TransferState.REJECTED and "a witness" in rejected.failure
    with pytest.raises(IllegalTransition, match="rejected"):
        jit.approve(tid, "Cmsr. Georgiev")
    # Asked again, consent is given; the decisions are recorded one by one.
    again = jit.request(photo, to="ME", purpose=Purpose.OTHER_OFFENCE, legal_basis="Art. 13(10)")
    assert jit.approve(again, "Cmsr. Georgiev") is TransferState.REQUESTED
    assert jit.approve(again) is TransferState.APPROVED
    decisions = jit.catalog.transfer(again).decisions
    assert [(d.capacity, d.person, d.approved) for d in decisions] == [
        (Capacity.ORIGIN, "Cmsr. Georgiev", True),
        (Capacity.JIT_LEAD, "Cdt. Laurent", True),
    ]


def catalog_pending(jit: Jit, tid: str) -> list[tuple[Capacity, str]]:
    return [(r.capacity, r.team) for r in jit.catalog.transfer(tid).pending()]


def test_nobody_approves_their_own_request(jit: Jit) -> None:
    tid = jit.request(
        jit.refs[0], to="ME", purpose=Purpose.OTHER_OFFENCE, legal_basis="x", by="Cmsr. Georgiev"
    )
    with pytest.raises(Denied, match="requested transfer .* and cannot decide it"):
        jit.approve(tid, "Cmsr. Georgiev")
    assert jit.catalog.transfer(tid).decisions == ()
    assert Action.TRANSFER_APPROVED not in jit.actions(jit.refs[0])


def test_illegal_transitions_are_clear_errors(jit: Jit) -> None:
    tid = jit.request()
    with pytest.raises(IllegalTransition, match="requested"):
        jit.dispatch(tid)
    with pytest.raises(IllegalTransition, match="requested"):
        jit.receive(tid)
    jit.approve(tid)
    jit.dispatch(tid)
    with pytest.raises(IllegalTransition, match="dispatched"):
        transfers.cancel(jit.catalog, jit.person("Insp. Petrova"), tid, "too late")
    jit.receive(tid)
    with pytest.raises(IllegalTransition, match="received"):
        jit.receive(tid)
    with pytest.raises(Denied, match="already holds"):
        jit.request(jit.refs[0])


def test_a_request_cannot_overlap_an_open_one(jit: Jit) -> None:
    jit.request(jit.refs[0])
    with pytest.raises(InputError, match="already travel to FR with transfer DANUBE-T-0001"):
        jit.request(*jit.refs[:2])
    cancelled = transfers.cancel(jit.catalog, jit.person("Insp. Petrova"), "DANUBE-T-0001", "typo")
    assert cancelled.state is TransferState.CANCELLED
    assert jit.request(*jit.refs[:2]) == "DANUBE-T-0002"


def decide_at_once(
    url: str,
    tid: str,
    name: str,
    approve: bool,
    barrier: threading.Barrier,
    outcomes: dict[str, object],
) -> None:
    with SqlCatalog(url, StepClock()) as own:
        person = own.person(name)
        barrier.wait()
        try:
            outcomes[name] = transfers.decide(own, person, tid, approve=approve, reason="r").state
        except IllegalTransition as exc:
            outcomes[name] = exc


def test_concurrent_decisions_cannot_both_win(
    catalog_url: str, catalog: SqlCatalog, local_store: LocalStore, tmp_path: Path
) -> None:
    """Two JIT leads decide the same request at the same moment, each through
    a catalog of its own (as two processes would): one approves, the other
    rejects. Exactly one wins; the other gets a clear error."""
    jit = setup_jit(catalog, local_store, tmp_path)
    for round_ in range(4):
        tid = jit.request(jit.refs[round_ % len(jit.refs)])
        barrier = threading.Barrier(2)
        outcomes: dict[str, object] = {}
        threads = [
            threading.Thread(
                target=decide_at_once, args=(catalog_url, tid, name, approve, barrier, outcomes)
            )
            for name, approve in (("Cdt. Laurent", True), ("Cne. Girard", False))
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        errors = [o for o in outcomes.values() if isinstance(o, IllegalTransition)]
        assert len(outcomes) == 2 and len(errors) == 1, outcomes
        final = catalog.transfer(tid)
        assert len(final.decisions) == 1
        assert final.state is (
            TransferState.APPROVED if final.decisions[0].approved else TransferState.REJECTED
        )
        if final.state is TransferState.APPROVED:  # free the exhibit for a later round
            transfers.cancel(catalog, jit.person("Insp. Petrova"), tid, "next round")
    assert verify("DANUBE", catalog.events("DANUBE")).ok


class TamperingStore:
    """A store whose copies are changed in the target before the read-back,
    as an insider with write access to the receiving bucket could."""

    def __init__(self, inner: Any, tamper: Any) -> None:
        self._inner = inner
        self._tamper = tamper
        self.description = inner.description

    def copy(self, namespace: str, key: str, target: str) -> StoredObject:
        copied: StoredObject = self._inner.copy(namespace, key, target)
        self._tamper(target, key)
        return copied

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


def tamper_with(store: Any, request: pytest.FixtureRequest | None) -> Any:
    """Flip the first byte of an object in place (local) or as a new object
    version over it (S3, which needs the ``s3_server`` fixture)."""
    if isinstance(store, LocalStore):

        def local(namespace: str, key: str) -> None:
            path = store.root / namespace / "objects" / key[:2] / key
            path.chmod(0o644)
            data = bytearray(path.read_bytes())
            data[0] ^= 0xFF
            path.write_bytes(bytes(data))

        return local
    assert request is not None
    client = request.getfixturevalue("s3_server").client()

    def s3(namespace: str, key: str) -> None:
        import io

        bucket = store.bucket_name(namespace)
        data = bytearray(client.get_object(bucket_name=bucket, object_name=key).read())
        data[0] ^= 0xFF
        client.put_object(  # a new version over the copy
            bucket_name=bucket, object_name=key, data=io.BytesIO(bytes(data)), length=len(data)
        )

    return s3


def test_a_tampered_copy_fails_the_transfer(
    catalog: SqlCatalog, store: Any, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    jit = setup_jit(catalog, store, tmp_path)
    tid = jit.request()
    jit.approve(tid)
    bad = TamperingStore(store, tamper_with(store, request))
    assert jit.dispatch(tid, bad) is TransferState.FAILED
    failed = catalog.transfer(tid)
    assert "does not match its ledger hashes" in failed.failure
    first = jit.refs[0]
    assert jit.actions(first)[-2:] == [Action.HASH_MISMATCH, Action.TRANSFER_FAILED]
    mismatch = [
        e for e in catalog.events("DANUBE", exhibit=first) if e.action == Action.HASH_MISMATCH
    ][0]
    assert mismatch.details["transfer"] == tid
    assert mismatch.details["found"]["blake3"] != mismatch.details["expected"]["blake3"]
    assert all(Action.DISPATCHED not in jit.actions(r) for r in jit.refs)
    assert visibility.visible_exhibits(catalog, jit.person("Lt. Moreau"), "DANUBE") == []
    with pytest.raises(IllegalTransition, match="failed"):
        jit.receive(tid)
    assert verify("DANUBE", catalog.events("DANUBE")).ok


def test_a_receipt_that_does_not_verify_is_reported(jit: Jit) -> None:
    tid = jit.request()
    jit.approve(tid)
    jit.dispatch(tid)
    with pytest.raises(InputError, match="not the registered key of team FR"):
        transfers.receive(
            jit.store, jit.catalog, jit.keys.signer("BG"), UtcClock(), jit.person("Lt. Moreau"), tid
        )
    jit.receive(tid)
    check = transfers.check_receipt(jit.catalog, jit.catalog.transfer(tid))
    assert check is not None and check.ok
    original = jit.catalog.transfer(tid).receipt
    assert original is not None
    flipped = ("0" if original.signature[0] != "0" else "1") + original.signature[1:]
    with jit.catalog.engine.begin() as conn:
        conn.execute(
            update(receipts).where(receipts.c.transfer_id == tid).values(signature=flipped)
        )
    status = transfers.check_receipt(jit.catalog, jit.catalog.transfer(tid))
    assert status is not None and not status.ok and "differs" in status.text()
    with jit.catalog.engine.begin() as conn:
        conn.execute(
            update(receipts)
            .where(receipts.c.transfer_id == tid)
            .values(signature=original.signature)
        )
        other = KeyRing(jit.keys.path("FR").parent.parent / "other-keys").generate("FR")
        conn.execute(update(team_keys).where(team_keys.c.team == "FR").values(public_key=other))
    status = transfers.check_receipt(jit.catalog, jit.catalog.transfer(tid))
    assert status is not None and not status.ok
    assert "not the one the ledger of case DANUBE records" in status.text()


def test_team_keys_are_recorded_once_in_the_ledger_and_never_replaced(jit: Jit) -> None:
    admin = jit.person("Adm. Horvat")
    key = jit.keys.public_key("FR")
    assert key is not None and setup.ledger_team_key(jit.catalog, "DANUBE", "FR") == key
    registered = [e for e in jit.catalog.events("DANUBE") if e.action == Action.TEAM_KEY_REGISTERED]
    assert [e.details["for_team"] for e in registered] == ["BG", "ME", "FR"]
    setup.register_team_key(jit.catalog, admin, "DANUBE", "FR", key)  # again: no new event
    assert (
        len([e for e in jit.catalog.events("DANUBE") if e.action == Action.TEAM_KEY_REGISTERED])
        == 3
    )
    other = KeyRing(jit.keys.path("FR").parent.parent / "other-keys").generate("FR")
    with pytest.raises(InputError, match="never replaces one silently"):
        setup.register_team_key(jit.catalog, admin, "DANUBE", "FR", other)
    with pytest.raises(Denied, match="manage_people"):
        setup.register_team_key(jit.catalog, jit.person("Cdt. Laurent"), "DANUBE", "FR", key)


class CrashingStore:
    """Dies (like a killed process) at the ``crash_at``-th copy, before or
    after the bytes were copied; counts the copies it made."""

    def __init__(self, inner: Any, crash_at: int, after_copy: bool) -> None:
        self._inner = inner
        self._crash_at = crash_at
        self._after_copy = after_copy
        self.copies: list[str] = []
        self.description = inner.description

    def copy(self, namespace: str, key: str, target: str) -> StoredObject:
        if len(self.copies) + 1 == self._crash_at and not self._after_copy:
            raise SystemExit("killed")
        copied: StoredObject = self._inner.copy(namespace, key, target)
        self.copies.append(key)
        if len(self.copies) == self._crash_at and self._after_copy:
            raise SystemExit("killed")
        return copied

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


@pytest.mark.parametrize("after_copy", [False, True], ids=["before-copy", "after-copy"])
def test_a_dispatch_rerun_after_a_crash_finishes_without_a_second_copy_event(
    jit: Jit, after_copy: bool
) -> None:
    tid = jit.request()
    jit.approve(tid)
    crashing = CrashingStore(jit.store, crash_at=2, after_copy=after_copy)
    with pytest.raises(SystemExit):
        jit.dispatch(tid, crashing)
    half = jit.catalog.transfer(tid)
    assert half.state is TransferState.APPROVED
    assert [i.dispatched_seq is not None for i in half.items] == [True, False, False]
    rerun = CrashingStore(jit.store, crash_at=0, after_copy=False)
    assert jit.dispatch(tid, rerun) is TransferState.DISPATCHED
    assert len(rerun.copies) == 2  # the first exhibit is not copied again
    for ref in jit.refs:
        assert jit.actions(ref).count(Action.DISPATCHED) == 1
    details = [
        e.details["copy"]
        for ref in jit.refs
        for e in jit.catalog.events("DANUBE", exhibit=ref)
        if e.action == Action.DISPATCHED
    ]
    assert details[1] == ("adopted (already present)" if after_copy else "server-side copy")
    assert jit.dispatch(tid) is TransferState.DISPATCHED  # once more: nothing to do
    assert jit.receive(tid) is TransferState.RECEIVED


def test_downloads_need_a_holding_and_are_verified_and_recorded(jit: Jit) -> None:
    moreau, ref = jit.person("Lt. Moreau"), jit.refs[0]
    got = bytearray()
    with pytest.raises(Denied, match="does not hold"):
        visibility.download(jit.store, jit.catalog, moreau, ref, got.extend)
    tid = jit.request(ref)
    jit.approve(tid)
    jit.dispatch(tid)
    jit.receive(tid)
    event = visibility.download(jit.store, jit.catalog, moreau, ref, got.extend)
    exhibit = jit.catalog.exhibit(ref)
    assert (event.action, event.actor, event.team) == (Action.ACCESSED, "Lt. Moreau", "FR")
    assert event.details["blake3"] == exhibit.blake3 and len(got) == exhibit.size
    with pytest.raises(Denied, match="download"):
        visibility.download(jit.store, jit.catalog, jit.person("Adm. Horvat"), ref, got.extend)
    # FR's own copy is damaged: the download is refused and the mismatch recorded.
    tamper_with(jit.store, None)("FR", exhibit.blake3)
    with pytest.raises(IntegrityError, match="does not match its ledger hashes"):
        visibility.download(jit.store, jit.catalog, moreau, ref, bytearray().extend)
    assert jit.actions(ref)[-1] == Action.HASH_MISMATCH


def test_only_the_originating_lead_changes_handling_and_it_binds_requests(jit: Jit) -> None:
    ref = jit.refs[0]
    h2 = Handling(HandlingCode.H2, "source protection")
    with pytest.raises(Denied, match="'set_handling' belongs to the role lead"):
        handling.set_handling(jit.catalog, jit.person("Insp. Petrova"), "DANUBE", ref, h2)
    with pytest.raises(Denied, match="only a lead of the originating team BG"):
        handling.set_handling(jit.catalog, jit.person("Cdt. Laurent"), "DANUBE", ref, h2)
    event = handling.set_handling(jit.catalog, jit.person("Cmsr. Georgiev"), "DANUBE", ref, h2)
    assert event.action == Action.HANDLING_CHANGED
    assert event.details["from"]["code"] == "H0" and event.details["to"]["code"] == "H2"
    assert jit.catalog.exhibit(ref).handling == h2
    with pytest.raises(InputError, match="nothing to change"):
        handling.set_handling(jit.catalog, jit.person("Cmsr. Georgiev"), "DANUBE", ref, h2)
    # H2: even a transfer for the JIT's purposes needs BG's consent.
    tid = jit.request(ref)
    assert catalog_pending(jit, tid) == [(Capacity.JIT_LEAD, "FR"), (Capacity.ORIGIN, "BG")]
    # Other offences agreed in advance: no consent needed for them on an H0 exhibit.
    other = jit.refs[1]
    agreed = Handling(purposes=(Purpose.JIT, Purpose.OTHER_OFFENCE))
    handling.set_handling(jit.catalog, jit.person("Cmsr. Georgiev"), "DANUBE", other, agreed)
    tid = jit.request(other, to="ME", purpose=Purpose.OTHER_OFFENCE, legal_basis="Art. 13(10)")
    assert catalog_pending(jit, tid) == [(Capacity.JIT_LEAD, "FR")]
