"""Signed hand-off receipts: the receiving team's Ed25519 signature over what
it received.

Byte encoding (version 1). The signed message is::

    b"jitev-receipt-v1\\n" + canonical_json(payload)

where ``canonical_json`` is the ledger's (``evidence.ledger``): UTF-8 JSON,
keys sorted at every level, no whitespace (``separators=(",", ":")``),
non-ASCII kept as UTF-8, and only strings and integers in a payload (no
floats). The payload is the JSON object::

    {"at": "YYYY-MM-DDTHH:MM:SS.ffffffZ",      when the team received, UTC
     "case": str, "transfer": str,             e.g. "DANUBE", "DANUBE-T-0001"
     "from_team": str, "to_team": str,         team codes, e.g. "BG", "FR"
     "purpose": str,                           e.g. "jit"
     "received_by": str,                       the person who signed for the team
     "team": str,                              the signing team (= to_team)
     "exhibits": [{"reference": str, "size": int, "blake3": 64 hex,
                   "sha256": 64 hex}, ...]}    in the order of the transfer

The signature is plain Ed25519 (RFC 8032, no pre-hash) over those bytes, kept
as lowercase hex of its 64 bytes. ``key_fingerprint`` is the lowercase hex
SHA-256 of the team's raw 32-byte public key.

A third party verifies with standard tools. With Python's ``cryptography``::

    Ed25519PublicKey.from_public_bytes(bytes.fromhex(public_key_hex)).verify(
        bytes.fromhex(signature_hex), b"jitev-receipt-v1\\n" + payload_bytes)

With OpenSSL 3: write the message and the raw signature to files, turn the
raw public key into a PEM (its DER is the fixed 12-byte prefix
``302a300506032b6570032100`` followed by the 32 key bytes), then::

    echo 302a300506032b6570032100<public key hex> | xxd -r -p > pub.der
    openssl pkey -pubin -inform DER -in pub.der -out pub.pem
    openssl pkeyutl -verify -pubin -inkey pub.pem -rawin -in msg -sigfile sig

In the ledger, a receipt is kept as one ``RECEIVED`` custody event per
exhibit (``event_details``), from which ``from_events`` rebuilds the very
payload that was signed, byte for byte.

Each ``RECEIVED`` event also carries the team's signature of that one exhibit
(``item_signature``, the same key and form) over::

    b"jitev-receipt-item-v1\\n" + canonical_json(item payload)

where the item payload is the receipt's payload with ``"exhibits"`` replaced
by ``"exhibit": {"reference", "size", "blake3", "sha256"}`` of that exhibit.
A disclosure bundle that holds some of a hand-off's exhibits, not all (the
others being another team's use, or sensitive), proves each of them received
with ``verify_item`` without disclosing, or hinting at, the rest.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from evidence.errors import InputError, IntegrityError, LedgerError
from evidence.findings import Finding, Report
from evidence.ledger import canonical_json, format_time
from evidence.models import Action, CustodyEvent, Receipt, Transfer
from evidence.ports import Signer

DOMAIN = b"jitev-receipt-v1\n"
ITEM_DOMAIN = b"jitev-receipt-item-v1\n"

_HEX = re.compile(r"[0-9a-fA-F]*")

# Fields every RECEIVED event of one receipt repeats; they must agree.
_SHARED = (
    "transfer",
    "from_team",
    "to_team",
    "purpose",
    "received_at",
    "receipt_signature",
    "key_fingerprint",
)
_PER_EXHIBIT = ("size", "blake3", "sha256")


def payload(transfer: Transfer, *, received_by: str, at: datetime) -> dict[str, Any]:
    """What the receiving team signs for ``transfer``."""
    if not received_by.strip():
        raise InputError(f"transfer {transfer.id}: say who receives it (a person's name)")
    return {
        "case": transfer.case_id,
        "transfer": transfer.id,
        "from_team": transfer.from_team,
        "to_team": transfer.to_team,
        "purpose": str(transfer.purpose),
        "received_by": received_by,
        "team": transfer.to_team,
        "at": format_time(at),
        "exhibits": [
            {
                "reference": item.reference,
                "size": item.size,
                "blake3": item.blake3,
                "sha256": item.sha256,
            }
            for item in transfer.items
        ],
    }


def encode(payload: dict[str, Any]) -> bytes:
    """The signed message: ``DOMAIN + canonical_json(payload)``."""
    return DOMAIN + canonical_json(payload)


def _hex_bytes(value: object, size: int) -> bytes | None:
    """``size`` bytes from exactly ``2 * size`` hex digits, else ``None``."""
    if not isinstance(value, str) or len(value) != 2 * size or not _HEX.fullmatch(value):
        return None
    return bytes.fromhex(value)


def _public_key_bytes(public_key_hex: str) -> bytes | None:
    return _hex_bytes(public_key_hex, 32)


def fingerprint(public_key_hex: str) -> str:
    """Lowercase hex SHA-256 of the raw 32-byte public key."""
    raw = _public_key_bytes(public_key_hex)
    if raw is None:
        raise InputError(
            f"public key {public_key_hex!r} is not an Ed25519 public key: "
            "give the 32 raw key bytes as 64 hex digits"
        )
    return hashlib.sha256(raw).hexdigest()


def sign(signer: Signer, transfer: Transfer, *, received_by: str, at: datetime) -> Receipt:
    """The receiving team's receipt for ``transfer``, signed with its key."""
    if signer.team != transfer.to_team:
        raise InputError(
            f"transfer {transfer.id} is received by team {transfer.to_team}: its receipt is "
            f"signed with {transfer.to_team}'s key, not {signer.team}'s"
        )
    body = payload(transfer, received_by=received_by, at=at)
    receipt = Receipt(
        transfer_id=transfer.id,
        payload=body,
        signature=signer.sign(encode(body)).hex(),
        key_fingerprint=fingerprint(signer.public_key),
    )
    check = verify(receipt, signer.public_key)
    if not check.ok:  # the key file and its public key disagree: never hand that out
        raise IntegrityError(f"team {signer.team}'s signing key is inconsistent: {check.summary}")
    return receipt


def verify(receipt: Receipt, public_key_hex: str | None) -> Report[None]:
    """Check ``receipt`` against the signing team's registered public key.
    Never raises: every problem is a finding (check ``receipt``) that says
    what is wrong."""
    body = receipt.payload
    team = body.get("team") if isinstance(body, dict) else None
    who = f"team {team}" if isinstance(team, str) and team else "the receiving team"
    what = f"receipt of transfer {receipt.transfer_id}"

    def failed(message: str) -> Report[None]:
        return Report(what, None, (Finding("receipt", what, message),), summary=message)

    if not isinstance(body, dict):
        return failed("its payload is not a JSON object")
    if body.get("transfer") != receipt.transfer_id:
        return failed(f"its signed payload names transfer {body.get('transfer')!r}")
    if not public_key_hex:
        return failed(
            f"no public key is registered for {who}, so its signature cannot be checked; "
            "register the team's public key (jitev setup on its machine prints it)"
        )
    raw_key = _public_key_bytes(public_key_hex)
    if raw_key is None:
        return failed(f"the public key registered for {who} is not 64 hex digits")
    expected = hashlib.sha256(raw_key).hexdigest()
    if receipt.key_fingerprint != expected:
        return failed(
            f"it was signed with the key {receipt.key_fingerprint!r}, not with the key "
            f"registered for {who} ({expected})"
        )
    signature = _hex_bytes(receipt.signature, 64)
    if signature is None:
        return failed("its signature is malformed: an Ed25519 signature is 128 hex digits")
    try:
        message = encode(body)
    except (TypeError, ValueError) as e:
        return failed(f"its payload cannot be encoded canonically ({e})")
    try:
        Ed25519PublicKey.from_public_bytes(raw_key).verify(signature, message)
    except InvalidSignature:
        return failed(
            f"the signature does not match the payload: the receipt was altered after {who} "
            "signed it, or signed with another key"
        )
    except ValueError as e:  # a point that is not on the curve
        return failed(f"the public key registered for {who} is invalid ({e})")
    exhibits = body.get("exhibits")
    count = len(exhibits) if isinstance(exhibits, list) else 0
    summary = (
        f"signed by {who} (key {expected[:16]}): {count} exhibit(s) received by "
        f"{body.get('received_by')} at {body.get('at')}"
    )
    return Report(what, None, summary=summary)


def item_message(body: dict[str, Any], item: dict[str, Any]) -> bytes:
    """The signed message of one exhibit of the receipt with payload ``body``."""
    shared = {k: v for k, v in body.items() if k != "exhibits"}
    return ITEM_DOMAIN + canonical_json({**shared, "exhibit": item})


def sign_items(signer: Signer, receipt: Receipt) -> dict[str, str]:
    """The receiving team's signature of each exhibit of ``receipt`` (hex), by reference."""
    return {
        item["reference"]: signer.sign(item_message(receipt.payload, item)).hex()
        for item in receipt.payload["exhibits"]
    }


def verify_item(event: CustodyEvent, public_key_hex: str | None) -> str | None:
    """Check the ``item_signature`` of one ``RECEIVED`` event with the
    receiving team's registered key; what is wrong, or ``None``."""
    d = event.details
    signature = _hex_bytes(d.get("item_signature"), 64)
    if signature is None:
        return "it carries no item_signature of 128 hex digits"
    raw_key = _public_key_bytes(public_key_hex or "")
    if raw_key is None:
        return f"no valid public key is registered for team {event.team} before it"
    if d.get("key_fingerprint") != hashlib.sha256(raw_key).hexdigest():
        return f"it was signed with another key than the one registered for team {event.team}"
    try:
        body = {
            "case": event.case_id,
            "transfer": d["transfer"],
            "from_team": d["from_team"],
            "to_team": d["to_team"],
            "purpose": d["purpose"],
            "received_by": event.actor,
            "team": event.team,
            "at": d["received_at"],
        }
        item = {"reference": event.exhibit, **{k: d[k] for k in _PER_EXHIBIT}}
        Ed25519PublicKey.from_public_bytes(raw_key).verify(signature, item_message(body, item))
    except KeyError as exc:
        return f"it has no {exc.args[0]!r} in its details"
    except (InvalidSignature, TypeError, ValueError):
        return f"team {event.team}'s signature does not match what the event says was received"
    return None


# -- in the ledger ------------------------------------------------------------------


def event_details(receipt: Receipt, item_reference: str, item_signature: str) -> dict[str, Any]:
    """The ``details`` of the ``RECEIVED`` custody event of one exhibit of
    ``receipt`` (``item_signature``: its own, from ``sign_items``). The caller
    records the event with ``exhibit=item_reference``,
    ``actor=payload["received_by"]``, ``team=payload["team"]``, one per exhibit
    in the payload's order, and adds ``"store"`` (where the receiving team's
    copy is kept) itself: ``from_events`` ignores it."""
    body = receipt.payload
    for item in body["exhibits"]:
        if item["reference"] == item_reference:
            return {
                "transfer": body["transfer"],
                "from_team": body["from_team"],
                "to_team": body["to_team"],
                "purpose": body["purpose"],
                "size": item["size"],
                "blake3": item["blake3"],
                "sha256": item["sha256"],
                "received_at": body["at"],
                "receipt_signature": receipt.signature,
                "key_fingerprint": receipt.key_fingerprint,
                "item_signature": item_signature,
            }
    raise InputError(
        f"exhibit {item_reference} is not part of the receipt of {receipt.transfer_id}"
    )


def from_events(events: Iterable[CustodyEvent]) -> Receipt | None:
    """The receipt of one transfer rebuilt from its ``RECEIVED`` custody
    events, in ledger order (other actions are skipped); ``None`` if there
    are none. The payload is the one that was signed, byte for byte, if the
    events are intact: check it with ``verify``. Events that name different
    transfers or disagree on what they share raise ``LedgerError``."""
    received = [e for e in events if e.action == Action.RECEIVED]
    if not received:
        return None
    first = received[0]

    def field(event: CustodyEvent, key: str) -> Any:
        try:
            return event.details[key]
        except (KeyError, TypeError):
            raise LedgerError(
                f"custody event {event.seq} of case {event.case_id} ({Action.RECEIVED}) "
                f"has no {key!r} in its details: it is not a receipt event of this version"
            ) from None

    shared = {key: field(first, key) for key in _SHARED}
    for event in received[1:]:
        for key, value in shared.items():
            if field(event, key) != value:
                raise LedgerError(
                    f"custody events {first.seq} and {event.seq} of case {first.case_id} "
                    f"disagree on {key!r}: they are not one receipt (pass the RECEIVED "
                    "events of one transfer)"
                )
        for name, mine, theirs in (
            ("case", event.case_id, first.case_id),
            ("actor", event.actor, first.actor),
            ("team", event.team, first.team),
        ):
            if mine != theirs:
                raise LedgerError(
                    f"custody events {first.seq} and {event.seq} of case {first.case_id} "
                    f"disagree on the {name}: they are not one receipt"
                )
    body = {
        "case": first.case_id,
        "transfer": shared["transfer"],
        "from_team": shared["from_team"],
        "to_team": shared["to_team"],
        "purpose": shared["purpose"],
        "received_by": first.actor,
        "team": first.team,
        "at": shared["received_at"],
        "exhibits": [
            {
                "reference": event.exhibit,
                **{key: field(event, key) for key in _PER_EXHIBIT},
            }
            for event in received
        ],
    }
    return Receipt(
        transfer_id=shared["transfer"],
        payload=body,
        signature=shared["receipt_signature"],
        key_fingerprint=shared["key_fingerprint"],
    )
