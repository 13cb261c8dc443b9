"""Each team's Ed25519 receipt-signing key, one PEM file per team.

Layout (the directory is the caller's, e.g. ``$JITEV_HOME/keys``)::

    keys/                  mode 0700
    keys/FR.ed25519.pem    PKCS#8 PEM, unencrypted, mode 0600, never rewritten

A key is generated into a temporary file (``O_CREAT | O_EXCL``, mode 0600),
flushed to disk, then linked under its name with ``os.link``, which never
replaces an existing file: a key that exists is never overwritten, and no
half-written key is ever visible under the team's name.

The private key stays inside ``TeamSigner``: callers get its public key and
signatures only. Nothing here prints or logs key material, and neither the
signer's ``repr`` nor any error message contains it. A key file that other
users may read is refused, as ``ssh`` does.
"""

from __future__ import annotations

import contextlib
import os
import stat
import uuid
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    NoEncryption,
    PrivateFormat,
    PublicFormat,
    load_pem_private_key,
)

from evidence.errors import NotFound, StoreConfigError, StoreError
from evidence.models import check_team_code

SUFFIX = ".ed25519.pem"


def _public_hex(key: Ed25519PrivateKey) -> str:
    return key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw).hex()


class TeamSigner:
    """A team's signing key, implementing ``evidence.ports.Signer``."""

    __slots__ = ("team", "public_key", "_key")

    def __init__(self, team: str, key: Ed25519PrivateKey) -> None:
        self.team = team
        self.public_key = _public_hex(key)  # raw 32 bytes, hex
        self._key = key

    def sign(self, message: bytes) -> bytes:
        return self._key.sign(message)

    def __repr__(self) -> str:
        return f"TeamSigner(team={self.team!r}, public_key={self.public_key!r})"

    def __reduce__(self) -> str | tuple[object, ...]:
        raise TypeError(
            "a team's signing key is not copied or pickled: pass the team code and open "
            "the key ring where the key is kept"
        )


class KeyRing:
    """The teams' signing keys kept on this machine, in ``directory``."""

    def __init__(self, directory: str | os.PathLike[str]) -> None:
        self.directory = Path(directory)

    def __repr__(self) -> str:
        return f"KeyRing({str(self.directory)!r})"

    def path(self, team: str) -> Path:
        return self.directory / f"{check_team_code(team)}{SUFFIX}"

    def generate(self, team: str) -> str:
        """Create the team's key if it has none; return its public key (hex).
        An existing key is kept as it is."""
        path = self.path(team)
        if path.exists():
            return self._load(team).public_key
        self._make_directory()
        key = Ed25519PrivateKey.generate()
        pem = key.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption())
        temporary = self.directory / f".{team}.{uuid.uuid4().hex}.tmp"
        try:
            fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            try:
                os.fchmod(fd, 0o600)
                view = memoryview(pem)
                while view:
                    view = view[os.write(fd, view) :]
                os.fsync(fd)
            finally:
                os.close(fd)
            try:
                os.link(temporary, path)  # never replaces an existing file
            except FileExistsError:  # another process made the key first: keep that one
                return self._load(team).public_key
            self._sync_directory()
        except OSError as e:
            raise StoreError(
                f"cannot write team {team}'s signing key to {path}: {e.strerror or e}; "
                f"check that {self.directory} is writable by this user"
            ) from None
        finally:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(temporary)
        return _public_hex(key)

    def signer(self, team: str) -> TeamSigner:
        """The team's signer; ``NotFound`` when its key is not on this machine."""
        return self._load(team)

    def public_key(self, team: str) -> str | None:
        """The team's public key (hex of the raw 32 bytes), ``None`` if its key
        is not on this machine."""
        if not self.path(team).exists():
            return None
        return self._load(team).public_key

    def _make_directory(self) -> None:
        try:
            self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)
            if stat.S_IMODE(self.directory.stat().st_mode) & 0o077:
                os.chmod(self.directory, 0o700)
        except OSError as e:
            raise StoreError(
                f"cannot create the key directory {self.directory}: {e.strerror or e}"
            ) from None

    def _sync_directory(self) -> None:
        fd = os.open(self.directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)

    def _load(self, team: str) -> TeamSigner:
        path = self.path(team)
        try:
            fd = os.open(path, os.O_RDONLY)
        except FileNotFoundError:
            raise NotFound(
                f"no signing key for team {team} in {self.directory}: team {team}'s receipts "
                f"are signed on the machine where its key is kept; sign there, or run "
                f"`jitev setup` there to create the team's key"
            ) from None
        except OSError as e:
            raise StoreConfigError(
                f"cannot read team {team}'s signing key {path}: {e.strerror or e}"
            ) from None
        try:
            info = os.fstat(fd)
            mode = stat.S_IMODE(info.st_mode)
            if not stat.S_ISREG(info.st_mode):
                raise StoreConfigError(f"team {team}'s signing key {path} is not a regular file")
            if mode & 0o077:
                raise StoreConfigError(
                    f"team {team}'s signing key {path} can be read by other users "
                    f"(mode {mode:04o}): run `chmod 600 {path}` and check who has seen it"
                )
            with os.fdopen(fd, "rb", closefd=False) as f:
                pem = f.read()
        finally:
            os.close(fd)
        key = _parse(pem)
        del pem
        if key is None:
            raise StoreConfigError(
                f"team {team}'s signing key {path} is not an unencrypted Ed25519 PKCS#8 PEM key"
            )
        return TeamSigner(team, key)


def _parse(pem: bytes) -> Ed25519PrivateKey | None:
    try:
        key = load_pem_private_key(pem, password=None)
    except (ValueError, TypeError):  # the message of the error is not shown: no key bytes out
        return None
    return key if isinstance(key, Ed25519PrivateKey) else None
