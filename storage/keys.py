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
    """An Ed25519 key held by this machine, implementing ``evidence.ports.Signer``
    (a team's receipt key) and ``NoteSigner`` (the log's key, a witness's)."""

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
            "a signing key is not copied or pickled: pass its name and open "
            "the key ring where the key is kept"
        )


class KeyFile:
    """One Ed25519 private key in a PEM file (see the module docstring)."""

    def __init__(self, path: Path, owner: str) -> None:
        self.path = path
        self.owner = owner  # whose key, for messages: "team BG", "the log"

    def exists(self) -> bool:
        return self.path.exists()

    def generate(self) -> str:
        """Create the key if there is none; return its public key (hex).
        An existing key is kept as it is."""
        if self.path.exists():
            return self.load().public_key
        directory = self.path.parent
        _make_directory(directory)
        key = Ed25519PrivateKey.generate()
        pem = key.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption())
        temporary = directory / f".{self.path.name}.{uuid.uuid4().hex}.tmp"
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
                os.link(temporary, self.path)  # never replaces an existing file
            except FileExistsError:  # another process made the key first: keep that one
                return self.load().public_key
            _sync_directory(directory)
        except OSError as e:
            raise StoreError(
                f"cannot write {self.owner}'s signing key to {self.path}: {e.strerror or e}; "
                f"check that {directory} is writable by this user"
            ) from None
        finally:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(temporary)
        return _public_hex(key)

    def load_or_create(self, name: str | None = None) -> TeamSigner:
        """The key, created first if there is none."""
        self.generate()
        return self.load(name)

    def load(self, name: str | None = None) -> TeamSigner:
        path, whose = self.path, self.owner
        try:
            fd = os.open(path, os.O_RDONLY)
        except FileNotFoundError:
            raise NotFound(
                f"no signing key of {whose} in {path.parent}: {whose} signs on the machine "
                f"where its key is kept; sign there, or run `jitev setup` there to create it"
            ) from None
        except OSError as e:
            raise StoreConfigError(
                f"cannot read {whose}'s signing key {path}: {e.strerror or e}"
            ) from None
        try:
            info = os.fstat(fd)
            mode = stat.S_IMODE(info.st_mode)
            if not stat.S_ISREG(info.st_mode):
                raise StoreConfigError(f"{whose}'s signing key {path} is not a regular file")
            if mode & 0o077:
                raise StoreConfigError(
                    f"{whose}'s signing key {path} can be read by other users "
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
                f"{whose}'s signing key {path} is not an unencrypted Ed25519 PKCS#8 PEM key"
            )
        return TeamSigner(name or whose, key)


class KeyRing:
    """The signing keys kept on this machine, in ``directory``: each team's
    receipt key, and the log's key that signs the cases' checkpoints."""

    def __init__(self, directory: str | os.PathLike[str]) -> None:
        self.directory = Path(directory)

    def __repr__(self) -> str:
        return f"KeyRing({str(self.directory)!r})"

    def path(self, team: str) -> Path:
        return self.directory / f"{check_team_code(team)}{SUFFIX}"

    def _team(self, team: str) -> KeyFile:
        return KeyFile(self.path(team), f"team {team}")

    def generate(self, team: str) -> str:
        """Create the team's key if it has none; return its public key (hex).
        An existing key is kept as it is."""
        return self._team(team).generate()

    def signer(self, team: str) -> TeamSigner:
        """The team's signer; ``NotFound`` when its key is not on this machine."""
        return self._team(team).load(team)

    def public_key(self, team: str) -> str | None:
        """The team's public key (hex of the raw 32 bytes), ``None`` if its key
        is not on this machine."""
        key = self._team(team)
        return key.load(team).public_key if key.exists() else None

    @property
    def log(self) -> KeyFile:
        """The deployment's log key: it signs every case's checkpoints."""
        return KeyFile(self.directory / f"log{SUFFIX}", "the log")


def _make_directory(directory: Path) -> None:
    try:
        directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        if stat.S_IMODE(directory.stat().st_mode) & 0o077:
            os.chmod(directory, 0o700)
    except OSError as e:
        raise StoreError(
            f"cannot create the key directory {directory}: {e.strerror or e}"
        ) from None


def _sync_directory(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _parse(pem: bytes) -> Ed25519PrivateKey | None:
    try:
        key = load_pem_private_key(pem, password=None)
    except (ValueError, TypeError):  # the message of the error is not shown: no key bytes out
        return None
    return key if isinstance(key, Ed25519PrivateKey) else None
