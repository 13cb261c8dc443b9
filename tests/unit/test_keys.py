from __future__ import annotations

import copy
import os
import pickle
import stat
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    NoEncryption,
    PrivateFormat,
    load_pem_private_key,
)

from evidence.errors import InputError, NotFound, StoreConfigError
from storage.keys import KeyRing


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_generate_writes_a_private_pkcs8_pem(tmp_path: Path) -> None:
    ring = KeyRing(tmp_path / "home" / "keys")
    public = ring.generate("FR")
    path = tmp_path / "home" / "keys" / "FR.ed25519.pem"
    assert mode(path) == 0o600
    assert mode(path.parent) == 0o700
    pem = path.read_bytes()
    assert pem.startswith(b"-----BEGIN PRIVATE KEY-----\n")
    key = load_pem_private_key(pem, password=None)
    assert isinstance(key, Ed25519PrivateKey)
    assert len(public) == 64 and bytes.fromhex(public)
    assert ring.public_key("FR") == public
    assert sorted(p.name for p in path.parent.iterdir()) == ["FR.ed25519.pem"]  # no temp left


def test_generate_twice_keeps_the_first_key(tmp_path: Path) -> None:
    ring = KeyRing(tmp_path)
    public = ring.generate("FR")
    path = tmp_path / "FR.ed25519.pem"
    before = path.stat()
    content = path.read_bytes()
    assert ring.generate("FR") == public
    after = path.stat()
    assert (after.st_ino, after.st_mtime_ns) == (before.st_ino, before.st_mtime_ns)
    assert path.read_bytes() == content
    assert ring.generate("ME") != public


def test_the_signer_signs_with_the_teams_key(tmp_path: Path) -> None:
    ring = KeyRing(tmp_path)
    public = ring.generate("FR")
    signer = ring.signer("FR")
    assert (signer.team, signer.public_key) == ("FR", public)
    signature = signer.sign(b"message")
    Ed25519PublicKey.from_public_bytes(bytes.fromhex(public)).verify(signature, b"message")


@pytest.mark.parametrize("loose", [0o644, 0o604, 0o640, 0o660])
def test_a_key_others_can_read_is_refused(tmp_path: Path, loose: int) -> None:
    ring = KeyRing(tmp_path)
    ring.generate("FR")
    path = tmp_path / "FR.ed25519.pem"
    os.chmod(path, loose)
    with pytest.raises(StoreConfigError, match=f"chmod 600 {path}"):
        ring.signer("FR")
    with pytest.raises(StoreConfigError):
        ring.public_key("FR")
    with pytest.raises(StoreConfigError):
        ring.generate("FR")  # never silently adopted, never rewritten


def test_a_missing_key_names_the_team_and_where_to_sign(tmp_path: Path) -> None:
    ring = KeyRing(tmp_path / "keys")
    with pytest.raises(NotFound) as caught:
        ring.signer("ME")
    message = str(caught.value)
    assert "team ME" in message and str(tmp_path / "keys") in message
    assert "machine where its key is kept" in message and "jitev setup" in message
    assert ring.public_key("ME") is None


def test_a_bad_team_code_never_becomes_a_path(tmp_path: Path) -> None:
    ring = KeyRing(tmp_path)
    for team in ("../FR", "fr", ""):
        with pytest.raises(InputError):
            ring.generate(team)
    assert list(tmp_path.iterdir()) == []


def test_a_key_file_that_is_not_an_ed25519_key_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "FR.ed25519.pem"
    path.write_bytes(b"-----BEGIN PRIVATE KEY-----\nnonsense\n-----END PRIVATE KEY-----\n")
    os.chmod(path, 0o600)
    with pytest.raises(StoreConfigError, match="not an unencrypted Ed25519"):
        KeyRing(tmp_path).signer("FR")


def test_the_private_key_never_shows(tmp_path: Path) -> None:
    ring = KeyRing(tmp_path)
    ring.generate("FR")
    pem = (tmp_path / "FR.ed25519.pem").read_bytes()
    key = load_pem_private_key(pem, password=None)
    assert isinstance(key, Ed25519PrivateKey)
    raw = key.private_bytes(Encoding.Raw, PrivateFormat.Raw, NoEncryption())
    signer = ring.signer("FR")
    shown = repr(signer) + str(signer) + repr(ring)
    assert "FR" in repr(signer)
    for secret in (raw.hex(), raw.hex().upper(), pem.decode(), pem.decode().splitlines()[1]):
        assert secret not in shown
    assert not hasattr(signer, "__dict__")
    with pytest.raises(TypeError, match="not copied or pickled"):
        pickle.dumps(signer)
    with pytest.raises(TypeError):
        copy.copy(signer)
