"""Signed notes, checkpoints and cosignatures, as C2SP specifies them
(``signed-note``, ``tlog-checkpoint``, ``tlog-cosignature``), with Ed25519.

A **signed note** is a UTF-8 text ending in a newline, an empty line, then
signature lines ``— <key name> <base64(key id || signature)>`` (an em dash,
U+2014). The key id is ``SHA-256(key name || 0x0A || type || public key)[:4]``;
type ``0x01`` is a note signature over the text, ``0x04`` a timestamped
cosignature over ``cosignature/v1\\ntime <t>\\n`` + the text. A **verifier
key** (vkey) is ``<name>+<hex key id>+<base64(type || public key)>``.

A **checkpoint** is a note whose text is three lines: the log's origin, the
tree size in decimal, the base64 root hash. The log signs it with its key
under the name of the origin; each witness cosigns it under its own name.

Parsing trusts nothing and raises ``NoteError`` with what is wrong;
``verify`` returns the signatures that verify with the keys given and ignores
the others (as the specification requires).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
import struct
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from evidence.errors import LedgerError

NOTE_SIGNATURE = 0x01
COSIGNATURE = 0x04
DASH = "\u2014"
MAX_SIGNATURES = 64  # the specification asks verifiers to accept at least 16
_NAME = re.compile(r"[^\s+]+")
_CONTROL = re.compile(r"[\x00-\x09\x0b-\x1f]")

Sign = Callable[[bytes], bytes]  # an Ed25519 signing function (the key stays inside)


class NoteError(LedgerError, ValueError):
    """A note, checkpoint, cosignature or verifier key is malformed."""


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def unb64(text: str, what: str) -> bytes:
    try:
        return base64.b64decode(text.encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError):
        raise NoteError(f"{what} is not base64") from None


@dataclass(frozen=True, slots=True)
class VerifierKey:
    """A signer's name, signature type and Ed25519 public key (32 bytes)."""

    name: str
    kind: int  # NOTE_SIGNATURE or COSIGNATURE
    public_key: bytes

    def __post_init__(self) -> None:
        if not _NAME.fullmatch(self.name):
            raise NoteError(f"key name {self.name!r} is empty or has a space or '+'")
        if len(self.public_key) != 32:
            raise NoteError(f"key {self.name}: an Ed25519 public key is 32 bytes")

    @property
    def key_id(self) -> bytes:
        material = self.name.encode() + b"\n" + bytes([self.kind]) + self.public_key
        return hashlib.sha256(material).digest()[:4]

    def vkey(self) -> str:
        return f"{self.name}+{self.key_id.hex()}+{b64(bytes([self.kind]) + self.public_key)}"

    @classmethod
    def parse(cls, vkey: str) -> VerifierKey:
        parts = vkey.strip().split("+", 2)  # base64 may hold a "+"; names and ids do not
        if len(parts) != 3:
            raise NoteError(f"verifier key {vkey[:80]!r} is not name+keyid+key")
        name, key_id, material = parts
        raw = unb64(material, f"verifier key {name!r}")
        if len(raw) != 33 or raw[0] not in (NOTE_SIGNATURE, COSIGNATURE):
            raise NoteError(f"verifier key {name!r} is not an Ed25519 note or cosignature key")
        key = cls(name, raw[0], raw[1:])
        if key.key_id.hex() != key_id.lower():
            raise NoteError(f"verifier key {name!r}: its key id does not match its key")
        return key


@dataclass(frozen=True, slots=True)
class Signature:
    name: str
    key_id: bytes
    body: bytes  # what follows the key id: a signature, or a timestamp and a signature

    def line(self) -> str:
        return f"{DASH} {self.name} {b64(self.key_id + self.body)}\n"

    @property
    def timestamp(self) -> int | None:
        """A cosignature's time (POSIX seconds)."""
        return struct.unpack(">Q", self.body[:8])[0] if len(self.body) == 72 else None


@dataclass(frozen=True, slots=True)
class Note:
    text: str  # ends with "\n"
    signatures: tuple[Signature, ...]

    def encode(self) -> str:
        return self.text + "\n" + "".join(s.line() for s in self.signatures)

    def with_signatures(self, more: Iterable[Signature]) -> Note:
        """This note with ``more`` signatures, each (name, key id) once."""
        known = {(s.name, s.key_id) for s in self.signatures}
        added = [s for s in more if (s.name, s.key_id) not in known]
        return Note(self.text, self.signatures + tuple(added))


def parse_signature_lines(text: str) -> tuple[Signature, ...]:
    found = []
    for line in text.splitlines(keepends=True):
        if not line.endswith("\n") or not line.startswith(DASH + " "):
            raise NoteError(f"signature line {line[:60]!r} is not '— <name> <base64>'")
        name, _, encoded = line[2:-1].partition(" ")
        if not _NAME.fullmatch(name) or " " in encoded:
            raise NoteError(f"signature line {line[:60]!r} is not '— <name> <base64>'")
        raw = unb64(encoded, f"the signature of {name!r}")
        if len(raw) < 5:
            raise NoteError(f"the signature of {name!r} is too short")
        found.append(Signature(name, raw[:4], raw[4:]))
    if len(found) > MAX_SIGNATURES:
        raise NoteError(f"a note with more than {MAX_SIGNATURES} signatures is not read")
    return tuple(found)


def parse(data: str | bytes) -> Note:
    """A signed note from its encoding; the text is separated from the
    signatures by the last empty line."""
    text = data.decode("utf-8") if isinstance(data, bytes) else data
    if _CONTROL.search(text):
        raise NoteError("a note holds no control characters but newlines")
    if not text.endswith("\n"):
        raise NoteError("a note ends with a newline")
    split = text.rfind("\n\n")
    if split < 0:
        raise NoteError("a note has an empty line between its text and its signatures")
    body, lines = text[: split + 1], text[split + 2 :]
    signatures = parse_signature_lines(lines)
    if not signatures:
        raise NoteError("a note has at least one signature")
    return Note(body, signatures)


def signature_for(
    key: VerifierKey, message: bytes, sign_fn: Sign, timestamp: int | None
) -> Signature:
    body = sign_fn(message)
    if timestamp is not None:
        body = struct.pack(">Q", timestamp) + body
    return Signature(key.name, key.key_id, body)


def cosigned_message(text: str, timestamp: int) -> bytes:
    """What an Ed25519 cosigner signs (tlog-cosignature v1)."""
    return f"cosignature/v1\ntime {timestamp}\n".encode() + text.encode("utf-8")


def note_signature(text: str, key: VerifierKey, sign_fn: Sign) -> Signature:
    if key.kind != NOTE_SIGNATURE:
        raise NoteError(f"key {key.name} is not a note-signing key")
    return signature_for(key, text.encode("utf-8"), sign_fn, None)


def cosignature(text: str, key: VerifierKey, sign_fn: Sign, timestamp: int) -> Signature:
    if key.kind != COSIGNATURE:
        raise NoteError(f"key {key.name} is not a cosigning key")
    if not 0 < timestamp < 2**63:
        raise NoteError("a cosignature's time is a positive POSIX timestamp")
    return signature_for(key, cosigned_message(text, timestamp), sign_fn, timestamp)


def verified(note: Note, keys: Iterable[VerifierKey]) -> list[tuple[VerifierKey, Signature]]:
    """The signatures of ``note`` by ``keys`` that verify; a signature of a
    known key (same name and key id) that does not verify raises ``NoteError``
    (the note is malformed). Signatures of other keys are ignored."""
    by_id = {(k.name, k.key_id): k for k in keys}
    good = []
    for s in note.signatures:
        key = by_id.get((s.name, s.key_id))
        if key is None:
            continue
        if key.kind == COSIGNATURE:
            if len(s.body) != 72:
                raise NoteError(f"the cosignature of {s.name} is not a timestamp and a signature")
            message, signature = cosigned_message(note.text, s.timestamp or 0), s.body[8:]
        else:
            message, signature = note.text.encode("utf-8"), s.body
        try:
            Ed25519PublicKey.from_public_bytes(key.public_key).verify(signature, message)
        except InvalidSignature:
            raise NoteError(f"the signature of {s.name} does not verify") from None
        good.append((key, s))
    return good


# -- checkpoints ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Checkpoint:
    origin: str
    size: int
    root: bytes

    def text(self) -> str:
        return f"{self.origin}\n{self.size}\n{b64(self.root)}\n"

    @classmethod
    def parse(cls, text: str) -> Checkpoint:
        lines = text.split("\n")
        if len(lines) < 4 or lines[-1] != "" or any(not line for line in lines[:-1]):
            raise NoteError("a checkpoint is at least three non-empty lines")
        origin, size, root = lines[0], lines[1], lines[2]
        if not re.fullmatch(r"0|[1-9][0-9]{0,18}", size):
            raise NoteError(
                f"checkpoint size {size[:30]!r} is not a decimal without leading zeroes"
            )
        raw = unb64(root, "the checkpoint's root hash")
        if len(raw) != 32:
            raise NoteError("the checkpoint's root hash is not 32 bytes")
        return cls(origin, int(size), raw)
