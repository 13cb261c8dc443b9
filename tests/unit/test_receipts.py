from __future__ import annotations

import hashlib
import shutil
import subprocess
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from evidence import ledger, receipts
from evidence.errors import InputError, LedgerError
from evidence.models import (
    Action,
    Capacity,
    CustodyEvent,
    Handling,
    Purpose,
    Receipt,
    Requirement,
    Transfer,
    TransferItem,
    TransferState,
)
from evidence.ports import EventDraft
from storage.keys import KeyRing

T0 = datetime(2026, 3, 14, 8, 0, tzinfo=UTC)
AT = datetime(2026, 3, 15, 9, 30, 15, 123456, tzinfo=UTC)
B3 = ["1" * 64, "a" * 64]
SHA = ["2" * 64, "b" * 64]


def transfer() -> Transfer:
    items = tuple(
        TransferItem(
            reference=f"BG-EX-000{n + 1}",
            origin_team="BG",
            handling=Handling(),
            size=1000 * (n + 1),
            blake3=B3[n],
            sha256=SHA[n],
            dispatched_seq=10 + n,
        )
        for n in range(2)
    )
    return Transfer(
        id="DANUBE-T-0001",
        case_id="DANUBE",
        from_team="BG",
        to_team="FR",
        purpose=Purpose.JIT,
        legal_basis="JIT agreement JIT-2026-017, art. 7",
        note="",
        state=TransferState.DISPATCHED,
        requested_by="Insp. Petrova",
        requested_at=T0,
        items=items,
        required=(Requirement(Capacity.JIT_LEAD, "BG"),),
    )


@pytest.fixture
def ring(tmp_path: Path) -> KeyRing:
    ring = KeyRing(tmp_path / "keys")
    ring.generate("FR")
    ring.generate("ME")
    return ring


def signed(ring: KeyRing) -> Receipt:
    return receipts.sign(ring.signer("FR"), transfer(), received_by="Cdt. Moreau", at=AT)


def test_payload_and_message_are_the_documented_bytes(ring: KeyRing) -> None:
    receipt = signed(ring)
    assert receipt.transfer_id == "DANUBE-T-0001"
    expected = (
        b'jitev-receipt-v1\n{"at":"2026-03-15T09:30:15.123456Z","case":"DANUBE",'
        b'"exhibits":[{"blake3":"' + b"1" * 64 + b'","reference":"BG-EX-0001",'
        b'"sha256":"' + b"2" * 64 + b'","size":1000},{"blake3":"' + b"a" * 64 + b'",'
        b'"reference":"BG-EX-0002","sha256":"' + b"b" * 64 + b'","size":2000}],'
        b'"from_team":"BG","purpose":"jit","received_by":"Cdt. Moreau","team":"FR",'
        b'"to_team":"FR","transfer":"DANUBE-T-0001"}'
    )
    assert receipts.encode(receipt.payload) == expected
    assert all(type(v) in (str, list) for v in receipt.payload.values())
    public = ring.public_key("FR")
    assert public is not None
    assert receipt.key_fingerprint == hashlib.sha256(bytes.fromhex(public)).hexdigest()
    assert receipts.fingerprint(public) == receipt.key_fingerprint
    Ed25519PublicKey.from_public_bytes(bytes.fromhex(public)).verify(
        bytes.fromhex(receipt.signature), expected
    )


def test_a_valid_receipt_verifies(ring: KeyRing) -> None:
    check = receipts.verify(signed(ring), ring.public_key("FR"))
    assert check.ok, check.text()
    assert "DANUBE-T-0001" in check.text() and "team FR" in check.text()
    assert check.as_dict() == {
        "subject": "receipt of transfer DANUBE-T-0001",
        "ok": True,
        "summary": check.summary,
        "checks": [],
        "findings": [],
        "notes": [],
    }


def test_the_time_zone_of_the_receipt_does_not_change_what_is_signed(ring: KeyRing) -> None:
    sofia = AT.astimezone(__import__("zoneinfo").ZoneInfo("Europe/Sofia"))
    again = receipts.sign(ring.signer("FR"), transfer(), received_by="Cdt. Moreau", at=sofia)
    assert again.payload == signed(ring).payload


def flip(hex_digits: str, at: int = 5) -> str:
    return hex_digits[:at] + ("0" if hex_digits[at] != "0" else "1") + hex_digits[at + 1 :]


def test_a_tampered_exhibit_hash_fails(ring: KeyRing) -> None:
    receipt = signed(ring)
    body: dict[str, Any] = {
        **receipt.payload,
        "exhibits": [dict(e) for e in receipt.payload["exhibits"]],
    }
    body["exhibits"][1]["blake3"] = flip(body["exhibits"][1]["blake3"])
    check = receipts.verify(replace(receipt, payload=body), ring.public_key("FR"))
    assert not check.ok
    assert "signature does not match the payload" in check.text()
    assert "DANUBE-T-0001" in check.text()


def test_a_signature_by_another_teams_key_fails(ring: KeyRing) -> None:
    receipt = signed(ring)
    by_me = ring.signer("ME").sign(receipts.encode(receipt.payload)).hex()
    # it claims FR's key: the signature does not check
    check = receipts.verify(replace(receipt, signature=by_me), ring.public_key("FR"))
    assert not check.ok and "signature does not match" in check.text()
    # it names ME's key: not the key registered for FR
    me_key = ring.public_key("ME")
    assert me_key is not None
    forged = replace(receipt, signature=by_me, key_fingerprint=receipts.fingerprint(me_key))
    check = receipts.verify(forged, ring.public_key("FR"))
    assert not check.ok and "not with the key registered for team FR" in check.text()
    # and a genuine receipt checked against the wrong team's key fails too
    assert not receipts.verify(receipt, me_key).ok


def test_signing_with_another_teams_key_is_refused(ring: KeyRing) -> None:
    with pytest.raises(InputError, match="signed with FR's key, not ME's"):
        receipts.sign(ring.signer("ME"), transfer(), received_by="Cdt. Moreau", at=AT)
    with pytest.raises(InputError, match="who receives it"):
        receipts.sign(ring.signer("FR"), transfer(), received_by=" ", at=AT)


@pytest.mark.parametrize(
    "signature", ["", "zz" * 64, "ab" * 63, "ab" * 65, "abc", "ab " * 64, None, 42]
)
def test_a_malformed_signature_fails_without_raising(ring: KeyRing, signature: Any) -> None:
    check = receipts.verify(replace(signed(ring), signature=signature), ring.public_key("FR"))
    assert not check.ok and "signature is malformed" in check.text()


@pytest.mark.parametrize("key", [None, ""])
def test_no_registered_public_key_fails(ring: KeyRing, key: str | None) -> None:
    check = receipts.verify(signed(ring), key)
    assert not check.ok and "no public key is registered for team FR" in check.text()


@pytest.mark.parametrize("key", ["xyz", "ab" * 31, "g" * 64])
def test_a_malformed_public_key_fails_without_raising(ring: KeyRing, key: str) -> None:
    check = receipts.verify(signed(ring), key)
    assert not check.ok and "not 64 hex digits" in check.text()
    with pytest.raises(InputError):
        receipts.fingerprint(key)


def test_a_payload_that_is_not_a_receipt_fails_without_raising(ring: KeyRing) -> None:
    receipt = signed(ring)
    key = ring.public_key("FR")
    assert not receipts.verify(replace(receipt, payload=[]), key).ok  # type: ignore[arg-type]
    other = replace(receipt, payload={**receipt.payload, "transfer": "DANUBE-T-0002"})
    check = receipts.verify(other, key)
    assert not check.ok and "DANUBE-T-0002" in check.text()
    odd = replace(receipt, payload={**receipt.payload, "at": float("nan")})
    assert not receipts.verify(odd, key).ok
    unencodable = replace(receipt, payload={**receipt.payload, "at": object()})
    assert not receipts.verify(unencodable, key).ok


def received_events(receipt: Receipt, ring: KeyRing, start: int = 0) -> list[CustodyEvent]:
    events: list[CustodyEvent] = []
    head = None
    signed_items = receipts.sign_items(ring.signer("FR"), receipt)
    for n, item in enumerate(receipt.payload["exhibits"]):
        ref = item["reference"]
        details = receipts.event_details(receipt, ref, signed_items[ref]) | {"store": "local FR"}
        draft = EventDraft(
            Action.RECEIVED,
            receipt.payload["received_by"],
            receipt.payload["team"],
            item["reference"],
            details,
        )
        head = ledger.link("DANUBE", head, draft, T0 + timedelta(seconds=start + n))
        events.append(head)
    return events


def test_the_ledger_round_trip_rebuilds_the_signed_receipt(ring: KeyRing) -> None:
    receipt = signed(ring)
    events = received_events(receipt, ring)
    assert set(events[0].details) == {
        "transfer",
        "from_team",
        "to_team",
        "purpose",
        "size",
        "blake3",
        "sha256",
        "received_at",
        "receipt_signature",
        "key_fingerprint",
        "item_signature",
        "store",
    }
    rebuilt = receipts.from_events(events)
    assert rebuilt == receipt
    assert rebuilt is not None
    assert receipts.encode(rebuilt.payload) == receipts.encode(receipt.payload)
    assert receipts.verify(rebuilt, ring.public_key("FR")).ok


def test_from_events_skips_other_actions_and_needs_one_receipt(ring: KeyRing) -> None:
    receipt = signed(ring)
    events = received_events(receipt, ring)
    other = ledger.link(
        "DANUBE", events[-1], EventDraft(Action.DISPATCHED, "x", "BG", "BG-EX-0001"), T0
    )
    assert receipts.from_events([*events, other]) == receipt
    assert receipts.from_events([other]) is None
    assert receipts.from_events([]) is None

    edited = replace(events[1], details={**events[1].details, "purpose": "outside_jit"})
    with pytest.raises(LedgerError, match="disagree on 'purpose'"):
        receipts.from_events([events[0], edited])
    someone = replace(events[1], actor="Somebody Else")
    with pytest.raises(LedgerError, match="disagree on the actor"):
        receipts.from_events([events[0], someone])
    broken = replace(events[0], details={"transfer": "DANUBE-T-0001"})
    with pytest.raises(LedgerError, match="has no 'from_team'"):
        receipts.from_events([broken])


def test_an_edited_receipt_event_no_longer_verifies(ring: KeyRing) -> None:
    receipt = signed(ring)
    events = received_events(receipt, ring)
    edited = replace(events[0], details={**events[0].details, "size": 999})
    rebuilt = receipts.from_events([edited, events[1]])
    assert rebuilt is not None
    assert not receipts.verify(rebuilt, ring.public_key("FR")).ok
    # exhibits in another order are another payload
    swapped = receipts.from_events([events[1], events[0]])
    assert swapped is not None and not receipts.verify(swapped, ring.public_key("FR")).ok


def test_event_details_of_an_exhibit_not_received_is_refused(ring: KeyRing) -> None:
    with pytest.raises(InputError, match="BG-EX-0009 is not part of the receipt"):
        receipts.event_details(signed(ring), "BG-EX-0009", "00" * 64)


def test_the_documented_public_key_der_prefix(ring: KeyRing) -> None:
    public = ring.public_key("FR")
    assert public is not None
    der = Ed25519PublicKey.from_public_bytes(bytes.fromhex(public)).public_bytes(
        Encoding.DER, PublicFormat.SubjectPublicKeyInfo
    )
    assert der.hex() == "302a300506032b6570032100" + public
    assert "302a300506032b6570032100" in (receipts.__doc__ or "")


def test_a_third_party_verifies_with_openssl(ring: KeyRing, tmp_path: Path) -> None:
    openssl = shutil.which("openssl")
    if openssl is None:
        pytest.skip("the openssl command is not installed")
    receipt = signed(ring)
    public = ring.public_key("FR")
    assert public is not None
    pem = Ed25519PublicKey.from_public_bytes(bytes.fromhex(public)).public_bytes(
        Encoding.PEM, PublicFormat.SubjectPublicKeyInfo
    )
    (tmp_path / "pub.pem").write_bytes(pem)
    (tmp_path / "msg").write_bytes(receipts.encode(receipt.payload))
    (tmp_path / "sig").write_bytes(bytes.fromhex(receipt.signature))

    def run() -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [openssl, "pkeyutl", "-verify", "-pubin", "-inkey", "pub.pem", "-rawin"]
            + ["-in", "msg", "-sigfile", "sig"],
            cwd=tmp_path,
            capture_output=True,
            text=True,
        )

    ok = run()
    assert ok.returncode == 0, ok.stderr
    assert "Signature Verified Successfully" in ok.stdout

    tampered = receipts.encode(receipt.payload).replace(b"Cdt. Moreau", b"Cdt. Mureau")
    (tmp_path / "msg").write_bytes(tampered)
    assert run().returncode != 0


def test_each_received_exhibit_carries_its_own_signature(ring: KeyRing, tmp_path: Path) -> None:
    """What a bundle that holds only some exhibits of a hand-off checks."""
    receipt = signed(ring)
    events = received_events(receipt, ring)
    key = ring.public_key("FR")
    assert [receipts.verify_item(e, key) for e in events] == [None, None]
    body = {k: v for k, v in receipt.payload.items() if k != "exhibits"}
    item = receipt.payload["exhibits"][1]
    message = receipts.item_message(body, item)
    assert message.startswith(b'jitev-receipt-item-v1\n{"at":"2026-03-15T09:30:15.123456Z"')
    assert b'"exhibit":{"blake3":"' + b"a" * 64 + b'","reference":"BG-EX-0002"' in message
    assert b"BG-EX-0001" not in message  # nothing of the other exhibit
    public = Ed25519PublicKey.from_public_bytes(bytes.fromhex(key or ""))
    public.verify(bytes.fromhex(events[1].details["item_signature"]), message)

    edited = replace(events[0], details={**events[0].details, "size": 999})
    assert "does not match" in (receipts.verify_item(edited, key) or "")
    other = KeyRing(tmp_path / "other").generate("FR")
    assert "another key" in (receipts.verify_item(events[0], other) or "")
    unsigned = replace(events[0], details={**events[0].details, "item_signature": "zz"})
    assert "no item_signature" in (receipts.verify_item(unsigned, key) or "")
    assert "no valid public key" in (receipts.verify_item(events[0], None) or "")
