"""The ObjectStore contract (evidence/ports.py), run against every backend:
the local write-once directory and S3 on the real Ceph RGW test server.

Where the contract is a promise of the server (write-once, retention that can
only grow), the S3 variant also asks the server directly with a raw minio
client, so the test proves the server refuses and not only our adapter.
"""

from __future__ import annotations

import hashlib
import io
import random
import tracemalloc
import urllib.request
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from blake3 import blake3
from minio.commonconfig import COMPLIANCE
from minio.error import S3Error
from minio.retention import Retention

from evidence.errors import (
    InputError,
    IntegrityError,
    NotFound,
    SourceChanged,
    WriteOnceViolation,
)
from evidence.hashing import HashingReader, MultiHash
from evidence.models import StoredObject
from storage.objects.local import LocalStore
from storage.objects.s3 import S3Store
from tests.fixtures_s3 import TEST_PART_SIZE, TEST_SMALL_MAX, S3Server, UtcClock

Store = LocalStore | S3Store
MiB = 1024 * 1024
NS = "BG"
TARGET = "ME"  # the receiving team of a copy (a hand-off)


def payload(size: int, seed: int = 0) -> bytes:
    return random.Random(f"{seed}-{size}").randbytes(size)


def put(store: Store, data: bytes, *, known: bool = True, ns: str = NS) -> StoredObject:
    reader = HashingReader(io.BytesIO(data))
    try:
        return store.put(ns, reader, len(data) if known else None)
    finally:
        reader.close()


def read_all(store: Store, key: str, ns: str = NS) -> bytes:
    return b"".join(store.open(ns, key))


def raw_version(server: S3Server, store: S3Store, key: str) -> str:
    obj = server.client().stat_object(bucket_name=store.bucket_name(NS), object_name=key)
    assert obj.version_id
    return obj.version_id


SIZES = [
    pytest.param(0, id="empty"),
    pytest.param(100 * 1024, id="small"),
    pytest.param(TEST_SMALL_MAX + 1, id="above-small-max"),
    pytest.param(2 * TEST_PART_SIZE + 2 * MiB, id="multipart-12MiB"),
]


@pytest.mark.parametrize("known", [True, False], ids=["known-length", "unknown-length"])
@pytest.mark.parametrize("size", SIZES)
def test_put_stores_the_bytes_under_their_blake3(store: Store, size: int, known: bool) -> None:
    data = payload(size)
    stored = put(store, data, known=known)

    assert stored.key == stored.blake3 == blake3(data).hexdigest()
    assert stored.sha256 == hashlib.sha256(data).hexdigest()
    assert (stored.namespace, stored.size, stored.adopted) == (NS, size, False)
    assert store.exists(NS, stored.key)
    info = store.stat(NS, stored.key)
    assert (info.size, info.blake3, info.sha256) == (size, stored.blake3, stored.sha256)
    assert info.retention_until == stored.retention_until
    assert not info.legal_hold
    assert read_all(store, stored.key) == data


def test_open_streams_in_bounded_chunks(store: Store) -> None:
    data = payload(3 * MiB + 5)
    stored = put(store, data)
    chunks = list(store.open(NS, stored.key))
    assert len(chunks) > 1 and max(map(len, chunks)) <= MiB
    assert b"".join(chunks) == data


@pytest.mark.parametrize("size", [10, TEST_SMALL_MAX + 10, 2 * TEST_PART_SIZE])
def test_same_content_twice_is_adopted(store: Store, size: int) -> None:
    data = payload(size, seed=1)
    first = put(store, data)
    again = put(store, data, known=False)  # the other write path on S3
    assert again.adopted and not first.adopted
    assert (again.key, again.size, again.sha256) == (first.key, first.size, first.sha256)
    assert again.retention_until == first.retention_until
    assert read_all(store, first.key) == data


def test_missing_objects(store: Store) -> None:
    key = blake3(b"never stored").hexdigest()
    assert not store.exists(NS, key)  # the namespace does not even exist yet
    put(store, b"something else")
    assert not store.exists(NS, key)
    for call in (store.stat, store.open, store.delete):
        with pytest.raises(NotFound, match=key):
            call(NS, key)


def test_retention_is_set_and_can_only_grow(store: Store) -> None:
    before = datetime.now(UTC)
    stored = put(store, payload(1000, seed=2))
    after = datetime.now(UTC)
    until = stored.retention_until
    assert until is not None and until.tzinfo is not None
    assert before + timedelta(days=1, seconds=-1) <= until <= after + timedelta(days=1)

    later = (until + timedelta(days=30)).replace(microsecond=0)
    store.extend_retention(NS, stored.key, later)
    assert store.stat(NS, stored.key).retention_until == later
    store.extend_retention(NS, stored.key, later)  # the same date again is fine

    with pytest.raises(WriteOnceViolation, match="shortened"):
        store.extend_retention(NS, stored.key, later - timedelta(days=1))
    assert store.stat(NS, stored.key).retention_until == later


def test_s3_server_itself_refuses_to_shorten_retention(
    s3_server: S3Server, s3_store: S3Store
) -> None:
    stored = put(s3_store, payload(1000, seed=3))
    assert stored.retention_until is not None
    with pytest.raises(S3Error) as refused:
        s3_server.client().set_object_retention(
            bucket_name=s3_store.bucket_name(NS),
            object_name=stored.key,
            config=Retention(
                mode=COMPLIANCE, retain_until_date=stored.retention_until - timedelta(hours=1)
            ),
            version_id=raw_version(s3_server, s3_store, stored.key),
        )
    assert refused.value.code == "AccessDenied"


def test_legal_hold_on_and_off(store: Store) -> None:
    stored = put(store, payload(1000, seed=4))
    store.set_legal_hold(NS, stored.key, True)
    assert store.stat(NS, stored.key).legal_hold
    store.set_legal_hold(NS, stored.key, True)  # idempotent
    assert store.stat(NS, stored.key).legal_hold
    store.set_legal_hold(NS, stored.key, False)
    assert not store.stat(NS, stored.key).legal_hold


@pytest.mark.parametrize("size", [1000, 2 * TEST_PART_SIZE + 2 * MiB])
def test_delete_is_refused(request: pytest.FixtureRequest, store: Store, size: int) -> None:
    data = payload(size, seed=5)
    stored = put(store, data, known=size < TEST_SMALL_MAX)
    with pytest.raises(WriteOnceViolation, match=stored.key) as refused:
        store.delete(NS, stored.key)
    assert "write-once" in str(refused.value)
    if isinstance(store, S3Store):  # the server refuses, not only the adapter
        server: S3Server = request.getfixturevalue("s3_server")
        with pytest.raises(S3Error) as raw:
            server.client().remove_object(
                bucket_name=store.bucket_name(NS),
                object_name=stored.key,
                version_id=raw_version(server, store, stored.key),
            )
        assert raw.value.code == "AccessDenied"
    else:
        path = Path(store.root, NS, "objects", stored.key[:2], stored.key)
        assert path.stat().st_mode & 0o777 == 0o444
    assert read_all(store, stored.key) == data


def test_download_url_serves_the_bytes(store: Store) -> None:
    data = payload(50_000, seed=6)
    stored = put(store, data)
    url = store.download_url(NS, stored.key, timedelta(minutes=5))
    assert url.startswith("file://" if isinstance(store, LocalStore) else "http")
    with urllib.request.urlopen(url) as response:
        assert response.read() == data


@pytest.mark.parametrize(
    ("size", "declared"),
    [(1000, 2000), (2000, 1000), (2 * MiB, 3 * MiB), (3 * MiB, 2 * MiB)],
    ids=["small-short", "small-long", "staged-short", "staged-long"],
)
def test_a_source_that_changes_stores_nothing(
    request: pytest.FixtureRequest, store: Store, size: int, declared: int
) -> None:
    data = payload(size, seed=7)
    reader = HashingReader(io.BytesIO(data))
    try:
        with pytest.raises(SourceChanged, match="run again"):
            store.put(NS, reader, declared)
    finally:
        reader.close()
    assert not store.exists(NS, blake3(data).hexdigest())
    if isinstance(store, S3Store):  # no staging object (or version) left behind
        client = request.getfixturevalue("s3_server").client()
        left = client.list_objects(
            bucket_name=store.bucket_name(NS), prefix="incoming/", include_version=True
        )
        assert list(left) == []
    else:
        assert list(Path(store.root, NS, ".incoming").iterdir()) == []


def test_an_existing_object_that_does_not_match_is_an_integrity_error(
    request: pytest.FixtureRequest, store: Store
) -> None:
    data = payload(2000, seed=8)
    key = blake3(data).hexdigest()
    put(store, b"make the namespace")
    damaged = data[:-1]
    if isinstance(store, S3Store):  # written behind the store's back, without retention
        request.getfixturevalue("s3_server").client().put_object(
            bucket_name=store.bucket_name(NS),
            object_name=key,
            data=io.BytesIO(damaged),
            length=len(damaged),
        )
    else:
        path = Path(store.root, NS, "objects", key[:2], key)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(damaged)
    for known in (True, False):
        with pytest.raises(IntegrityError, match=key):
            put(store, data, known=known)


def place_unprotected(
    request: pytest.FixtureRequest, store: Store, key: str, data: bytes, *, with_digests: bool
) -> None:
    """Put ``data`` at ``key`` behind the store's back: no retention, and
    digest metadata only ``with_digests`` (S3; the local store keeps none
    without its sidecar)."""
    put(store, b"make the namespace")
    if isinstance(store, S3Store):
        metadata = {
            "x-amz-meta-blake3": key,
            "x-amz-meta-sha256": hashlib.sha256(data).hexdigest(),
            "x-amz-meta-size": str(len(data)),
        }
        request.getfixturevalue("s3_server").client().put_object(
            bucket_name=store.bucket_name(NS),
            object_name=key,
            data=io.BytesIO(data),
            length=len(data),
            metadata=metadata if with_digests else None,
        )
    else:
        path = object_path(store, NS, key)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)


def test_an_unprotected_leftover_is_adopted_and_protected(
    request: pytest.FixtureRequest, store: Store
) -> None:
    """A crash after the bytes were placed but before retention was set leaves
    the right bytes unprotected: the re-run adopts them and protects them."""
    data = payload(3000, seed=12)
    key = blake3(data).hexdigest()
    place_unprotected(request, store, key, data, with_digests=True)
    assert store.stat(NS, key).retention_until is None
    stored = put(store, data)
    assert stored.adopted and stored.retention_until is not None
    assert stored.retention_until > datetime.now(UTC)
    assert store.stat(NS, key).retention_until == stored.retention_until
    with pytest.raises(WriteOnceViolation):
        store.delete(NS, key)


def test_local_retention_that_ran_out_is_renewed_on_adoption(tmp_path: Path) -> None:
    class Past:
        def now(self) -> datetime:
            return datetime.now(UTC) - timedelta(days=10)

    data = payload(100, seed=13)
    first = put(LocalStore(tmp_path, retention_days=1, clock=Past()), data)
    assert first.retention_until is not None and first.retention_until < datetime.now(UTC)
    again = put(LocalStore(tmp_path, retention_days=1, clock=UtcClock()), data)
    assert again.adopted and again.retention_until is not None
    assert again.retention_until > datetime.now(UTC)


class Pattern:
    """``size`` bytes made up on the fly: a big source that is never in memory.
    The byte at offset i is ``block[i % len(block)]``, whatever the read sizes."""

    PERIOD = MiB - 17

    def __init__(self, size: int) -> None:
        self.size, self.sent = size, 0
        self.window = random.Random(9).randbytes(self.PERIOD) * 8  # > PERIOD + 6 MiB

    def read(self, n: int = -1) -> bytes:
        n = min(self.size - self.sent, MiB if n < 0 else n, 6 * MiB)
        start = self.sent % self.PERIOD
        self.sent += n
        return self.window[start : start + n]


@pytest.mark.parametrize("known", [True, False], ids=["known-length", "unknown-length"])
def test_memory_stays_bounded_for_a_big_object(store: Store, known: bool) -> None:
    size = 192 * MiB
    expected = MultiHash()
    source = Pattern(size)
    while chunk := source.read(8 * MiB):
        expected.update(chunk)
    reader = HashingReader(Pattern(size))  # type: ignore[arg-type]
    tracemalloc.start()
    try:
        stored = store.put(NS, reader, size if known else None)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
        reader.close()
    assert (stored.blake3, stored.sha256) == (expected.digests().blake3, expected.digests().sha256)
    # parts in flight x (parallel parts + the one being read + the hasher's queue):
    # about 50 MiB with 5 MiB parts; a store that buffered the object would pass 192.
    assert peak < 96 * MiB, f"peak {peak / MiB:.0f} MiB"


def test_s3_large_copy_in_ranges_keeps_digests_and_retention(
    s3_server: S3Server,
) -> None:
    """Above ``copy_part_size`` (5 GiB in production) the staged object is copied
    with UploadPartCopy ranges; 5 MiB ranges exercise that path with 12 MiB."""
    store = s3_server.store(copy_part_size=TEST_PART_SIZE)
    data = payload(2 * TEST_PART_SIZE + 2 * MiB, seed=10)
    stored = put(store, data, known=False)
    assert stored.blake3 == blake3(data).hexdigest() and stored.retention_until is not None
    head = s3_server.client().stat_object(bucket_name=store.bucket_name(NS), object_name=stored.key)
    assert head.metadata is not None
    assert head.metadata["x-amz-object-lock-mode"] == COMPLIANCE
    assert read_all(store, stored.key) == data
    with pytest.raises(WriteOnceViolation):
        store.delete(NS, stored.key)


def test_s3_copied_objects_are_locked_and_staging_is_gone(
    s3_server: S3Server, s3_store: S3Store
) -> None:
    """RGW ignores the object-lock headers of CopyObject and multipart uploads:
    the store must set the retention itself. Staging objects must not remain."""
    stored = put(s3_store, payload(2 * TEST_PART_SIZE + 2 * MiB, seed=11), known=False)
    client = s3_server.client()
    bucket = s3_store.bucket_name(NS)
    head = client.stat_object(bucket_name=bucket, object_name=stored.key)
    assert head.metadata is not None
    assert head.metadata["x-amz-object-lock-mode"] == COMPLIANCE
    assert head.metadata["x-amz-meta-blake3"] == stored.blake3
    left = client.list_objects(bucket_name=bucket, prefix="incoming/", include_version=True)
    assert list(left) == []


# -- copy (a hand-off to another team) --------------------------------------------


def object_path(store: LocalStore, ns: str, key: str) -> Path:
    return Path(store.root, ns, "objects", key[:2], key)


@pytest.mark.parametrize(
    "size", [0, 100 * 1024, TEST_SMALL_MAX + 1], ids=["empty", "small", "staged"]
)
def test_copy_to_another_team(request: pytest.FixtureRequest, store: Store, size: int) -> None:
    data = payload(size, seed=20)
    source = put(store, data, known=size <= TEST_SMALL_MAX)
    # A longer retention on the source: the copy gets a fresh one of its own.
    assert source.retention_until is not None
    store.extend_retention(NS, source.key, source.retention_until + timedelta(days=30))
    before = datetime.now(UTC)

    copied = store.copy(NS, source.key, TARGET)

    assert (copied.namespace, copied.key, copied.adopted) == (TARGET, source.key, False)
    assert (copied.size, copied.blake3, copied.sha256) == (size, source.blake3, source.sha256)
    until = copied.retention_until
    assert until is not None and until > datetime.now(UTC)
    assert before + timedelta(days=1, seconds=-1) <= until <= datetime.now(UTC) + timedelta(days=1)
    info = store.stat(TARGET, source.key)
    assert (info.size, info.blake3, info.sha256) == (size, source.blake3, source.sha256)
    assert info.retention_until == until and not info.legal_hold
    assert read_all(store, source.key, ns=TARGET) == data
    assert read_all(store, source.key) == data  # the source is untouched
    with pytest.raises(WriteOnceViolation, match=source.key):
        store.delete(TARGET, source.key)

    if isinstance(store, S3Store):  # the server holds the copy under COMPLIANCE
        server: S3Server = request.getfixturevalue("s3_server")
        bucket = store.bucket_name(TARGET)
        head = server.client().stat_object(bucket_name=bucket, object_name=source.key)
        assert head.metadata is not None
        assert head.metadata["x-amz-object-lock-mode"] == COMPLIANCE
        assert head.metadata["x-amz-meta-sha256"] == source.sha256
        with pytest.raises(S3Error) as raw:
            server.client().remove_object(
                bucket_name=bucket, object_name=source.key, version_id=head.version_id
            )
        assert raw.value.code == "AccessDenied"
    else:  # a file of its own, not a hard link to the source's
        original = object_path(store, NS, source.key).stat()
        target = object_path(store, TARGET, source.key).stat()
        assert (target.st_dev, target.st_ino) != (original.st_dev, original.st_ino)
        assert original.st_nlink == target.st_nlink == 1
        assert target.st_mode & 0o777 == 0o444
        assert list(Path(store.root, TARGET, ".incoming").iterdir()) == []

    again = store.copy(NS, source.key, TARGET)
    assert again.adopted
    assert (again.key, again.size, again.sha256) == (copied.key, size, copied.sha256)
    assert again.retention_until == until
    assert read_all(store, source.key, ns=TARGET) == data


def test_copy_to_a_team_that_already_has_the_content_adopts_it(store: Store) -> None:
    data = payload(5000, seed=21)
    source = put(store, data)
    own = put(store, data, ns=TARGET)  # the receiving team ingested the same bytes itself
    copied = store.copy(NS, source.key, TARGET)
    assert copied.adopted and copied.namespace == TARGET
    assert (copied.sha256, copied.retention_until) == (own.sha256, own.retention_until)


def test_copy_of_a_missing_object_is_not_found(store: Store) -> None:
    key = blake3(b"never stored").hexdigest()
    with pytest.raises(NotFound, match=f"{key}.*{NS}|{NS}.*{key}"):  # no namespace yet
        store.copy(NS, key, TARGET)
    put(store, b"make the namespace")
    with pytest.raises(NotFound, match=f"{key}.*{NS}|{NS}.*{key}"):
        store.copy(NS, key, TARGET)
    assert not store.exists(TARGET, key)


def test_copy_to_the_same_namespace_is_an_input_error(store: Store) -> None:
    stored = put(store, payload(100, seed=22))
    with pytest.raises(InputError, match="another team"):
        store.copy(NS, stored.key, NS)
    with pytest.raises(InputError, match="namespace"):
        store.copy(NS, stored.key, "no/such team")


def test_copy_onto_a_different_object_is_an_integrity_error(
    request: pytest.FixtureRequest, store: Store
) -> None:
    data = payload(2000, seed=23)
    source = put(store, data)
    put(store, b"make the target namespace", ns=TARGET)
    damaged = data[:-1]
    if isinstance(store, S3Store):  # written behind the store's back, without retention
        request.getfixturevalue("s3_server").client().put_object(
            bucket_name=store.bucket_name(TARGET),
            object_name=source.key,
            data=io.BytesIO(damaged),
            length=len(damaged),
        )
    else:
        path = object_path(store, TARGET, source.key)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(damaged)
    with pytest.raises(IntegrityError, match=source.key):
        store.copy(NS, source.key, TARGET)


def test_copy_of_an_object_without_digest_metadata_is_an_integrity_error(
    request: pytest.FixtureRequest, store: Store
) -> None:
    data = payload(2000, seed=24)
    key = blake3(data).hexdigest()
    place_unprotected(request, store, key, data, with_digests=False)
    with pytest.raises(IntegrityError, match="digest metadata"):
        store.copy(NS, key, TARGET)
    assert not store.exists(TARGET, key)


def test_s3_large_copy_to_another_team_in_ranges(
    monkeypatch: pytest.MonkeyPatch, s3_server: S3Server
) -> None:
    """Above ``copy_part_size`` a copy between the teams' buckets is composed of
    UploadPartCopy ranges; 5 MiB ranges exercise that path with 11 MiB."""
    store = s3_server.store(copy_part_size=TEST_PART_SIZE)
    data = payload(2 * TEST_PART_SIZE + MiB, seed=25)
    source = put(store, data)
    composed: list[tuple[str, list[tuple[str, int | None]]]] = []
    compose = store._client.compose_object

    def spy(**kwargs: Any) -> Any:
        ranges = [(s.bucket_name, s.length) for s in kwargs["sources"]]
        composed.append((kwargs["bucket_name"], ranges))
        return compose(**kwargs)

    monkeypatch.setattr(store._client, "compose_object", spy)
    copied = store.copy(NS, source.key, TARGET)
    source_bucket = store.bucket_name(NS)
    assert composed == [
        (
            store.bucket_name(TARGET),
            [
                (source_bucket, TEST_PART_SIZE),
                (source_bucket, TEST_PART_SIZE),
                (source_bucket, MiB),
            ],
        )
    ]
    assert (copied.namespace, copied.size, copied.sha256) == (TARGET, len(data), source.sha256)
    assert copied.retention_until is not None and copied.retention_until > datetime.now(UTC)
    head = s3_server.client().stat_object(
        bucket_name=store.bucket_name(TARGET), object_name=source.key
    )
    assert head.metadata is not None
    assert head.metadata["x-amz-object-lock-mode"] == COMPLIANCE
    assert head.metadata["x-amz-meta-blake3"] == source.blake3
    assert read_all(store, source.key, ns=TARGET) == data
    with pytest.raises(WriteOnceViolation):
        store.delete(TARGET, source.key)
    assert store.copy(NS, source.key, TARGET).adopted


def test_local_copy_falls_back_without_copy_file_range(
    monkeypatch: pytest.MonkeyPatch, local_store: LocalStore
) -> None:
    data = payload(3 * MiB + 7, seed=26)
    source = put(local_store, data)
    monkeypatch.delattr("os.copy_file_range")
    copied = local_store.copy(NS, source.key, TARGET)
    assert copied.sha256 == source.sha256 and not copied.adopted
    assert read_all(local_store, source.key, ns=TARGET) == data
