"""Object-store fixtures: the S3 test server (Ceph RGW, started by ``make test``
through scripts/test-servers.sh) and both ``ObjectStore`` backends.

The S3 server is named by ``JITEV_TEST_S3_ENDPOINT`` (``127.0.0.1:7480`` or
``http://127.0.0.1:7480``), ``JITEV_TEST_S3_ACCESS_KEY`` and
``JITEV_TEST_S3_SECRET_KEY``. Without them the S3 variants skip (or fail under
``make test``, see ``tests.conftest.need_server``).

Every S3 test gets buckets of its own (a unique bucket prefix). Objects are
kept for a day under COMPLIANCE retention: nothing can delete them, the test
server's data directory is thrown away at the end.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from minio import Minio

from storage.objects.local import LocalStore
from storage.objects.s3 import S3Store
from tests.conftest import need_server

S3_ENV = ("JITEV_TEST_S3_ENDPOINT", "JITEV_TEST_S3_ACCESS_KEY", "JITEV_TEST_S3_SECRET_KEY")
MiB = 1024 * 1024
TEST_PART_SIZE = 5 * MiB  # S3's minimum part size: a 12 MiB object takes three parts
TEST_SMALL_MAX = 1 * MiB
STORE_BACKENDS = [pytest.param("local"), pytest.param("s3", marks=pytest.mark.s3)]


class UtcClock:
    """The real time: the S3 server judges retention against its own clock."""

    def now(self) -> datetime:
        return datetime.now(UTC)


@dataclass(frozen=True)
class S3Server:
    endpoint: str  # host:port
    secure: bool
    access_key: str
    secret_key: str

    @property
    def url(self) -> str:
        return f"{'https' if self.secure else 'http'}://{self.endpoint}"

    def client(self, *, access_key: str | None = None, secret_key: str | None = None) -> Minio:
        """A raw minio client, to check the server's own answers."""
        return Minio(
            endpoint=self.endpoint,
            access_key=access_key or self.access_key,
            secret_key=secret_key or self.secret_key,
            secure=self.secure,
        )

    def store(self, **overrides: object) -> S3Store:
        """An S3Store with buckets of its own and test-sized parts."""
        options: dict[str, object] = {
            "access_key": self.access_key,
            "secret_key": self.secret_key,
            "secure": self.secure,
            "bucket_prefix": unique_prefix(),
            "retention_days": 1,
            "clock": UtcClock(),
            "part_size": TEST_PART_SIZE,
            "small_object_max": TEST_SMALL_MAX,
        }
        options.update(overrides)
        return S3Store(self.endpoint, **options)  # type: ignore[arg-type]


def unique_prefix() -> str:
    return f"t{uuid.uuid4().hex[:12]}"


@pytest.fixture(scope="session")
def s3_server() -> S3Server:
    values = [os.environ.get(name, "") for name in S3_ENV]
    if not all(values):
        need_server(f"no S3 test server: set {', '.join(S3_ENV)}")
    endpoint, access_key, secret_key = values
    secure = False
    if "://" in endpoint:
        parts = urlsplit(endpoint)
        endpoint, secure = parts.netloc, parts.scheme == "https"
    return S3Server(endpoint, secure, access_key, secret_key)


@pytest.fixture
def s3_store(s3_server: S3Server) -> S3Store:
    return s3_server.store()


@pytest.fixture
def local_store(tmp_path: Path) -> LocalStore:
    return LocalStore(tmp_path / "objects", retention_days=1, clock=UtcClock())


@pytest.fixture(params=STORE_BACKENDS)
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[LocalStore | S3Store]:
    """Each ObjectStore backend in turn, for the contract suite."""
    if request.param == "local":
        yield LocalStore(tmp_path / "objects", retention_days=1, clock=UtcClock())
    else:
        yield request.getfixturevalue("s3_server").store()
