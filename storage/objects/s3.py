"""Object store on S3 (MinIO in production, Ceph RGW in the test suite) through
the minio SDK, keyword arguments only.

One bucket per team namespace (``<bucket_prefix>-<team>``), created with object
lock (and so versioning). Keys are the BLAKE3 hex of the content, known only
once the stream has been read:

- a small object of known length is read into memory and written with ONE
  ``put_object`` straight to its key, digest metadata and COMPLIANCE retention;
- anything else streams once to ``incoming/<uuid4>`` (no retention), then is
  copied server-side to its key with the digest metadata (``compose_object`` in
  parts above ``copy_part_size``, S3's 5 GiB limit for a single copy), and the
  staging version is removed.

``copy`` (a hand-off to another team) is the same server-side copy, from the
source team's bucket to the target team's, with the digest metadata read from
the source and a fresh retention; an identical object already there is adopted.

After every write the key is stat'ed: size, blake3 and sha256 metadata must
match and a COMPLIANCE retention must be in place. Ceph RGW 16 ignores the
object-lock headers of CopyObject and multipart uploads, so retention that did
not arrive with the write is set on the new version with ``set_object_retention``
and checked again. ETags are never used as hashes. RGW sends retention dates
with nanoseconds, which ``get_object_retention`` cannot parse: retention and
legal hold are read from the ``stat_object`` headers instead.

Memory is bounded by ``part_size`` x (``parallel_parts`` + 2).
"""

from __future__ import annotations

import io
import logging
import os
import re
import uuid
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from datetime import UTC, datetime, timedelta
from typing import BinaryIO, cast
from urllib.parse import urlsplit

import certifi
import urllib3
from minio import Minio
from minio.commonconfig import COMPLIANCE, REPLACE, ComposeSource, CopySource
from minio.datatypes import Object
from minio.error import MinioException, S3Error
from minio.helpers import MAX_PART_SIZE, MIN_PART_SIZE
from minio.retention import Retention

from evidence.errors import (
    InputError,
    IntegrityError,
    JitevError,
    NotFound,
    SourceChanged,
    StoreConfigError,
    StoreError,
    WriteOnceViolation,
)
from evidence.models import HEX64, Digests, StoredObject
from evidence.ports import Clock, DigestSource, ObjectInfo, ObjectWriter
from evidence.sizes import STREAM_CHUNK as CHUNK
from evidence.sizes import MiB
from storage.objects.names import check_key, check_namespace
from storage.objects.s3_errors import no_lock, translate
from storage.objects.s3_leftovers import S3Leftovers

log = logging.getLogger(__name__)

META_BLAKE3 = "x-amz-meta-blake3"
META_SHA256 = "x-amz-meta-sha256"
META_SIZE = "x-amz-meta-size"
AMZ_DATE = re.compile(r"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d+))?Z$")


def parse_amz_date(value: str) -> datetime:
    """``2026-11-23T14:19:49.450000000Z`` (RGW sends nanoseconds) -> aware UTC."""
    match = AMZ_DATE.match(value.strip())
    if match is None:
        raise StoreError(f"cannot read the retention date {value!r} sent by the S3 server")
    fraction = (match.group(2) or "0")[:6].ljust(6, "0")
    return datetime.fromisoformat(match.group(1)).replace(microsecond=int(fraction), tzinfo=UTC)


def _headers(obj: Object) -> dict[str, str]:
    return {str(k).lower(): str(v) for k, v in (obj.metadata or {}).items()}


class S3Store(S3Leftovers):
    """``ObjectStore`` on an S3 server with object lock (see the module docstring)."""

    def __init__(
        self,
        endpoint: str,
        access_key: str,
        secret_key: str,
        *,
        secure: bool = False,
        region: str | None = None,
        bucket_prefix: str = "jitev",
        retention_days: int,
        clock: Clock,
        part_size: int = 64 * MiB,
        small_object_max: int = 8 * MiB,
        copy_part_size: int = MAX_PART_SIZE,
        parallel_parts: int = 3,
        put_parallel: int = 4,
        timeout: float = 300.0,
    ) -> None:
        if "://" in endpoint:  # also accept a URL: its scheme decides secure
            parts = urlsplit(endpoint)
            secure, endpoint = parts.scheme == "https", parts.netloc
        if not MIN_PART_SIZE <= part_size <= MAX_PART_SIZE:
            raise InputError(f"S3 part size {part_size} must be between 5 MiB and 5 GiB")
        if not MIN_PART_SIZE <= copy_part_size <= MAX_PART_SIZE:
            raise InputError(f"S3 copy part size {copy_part_size} must be between 5 MiB and 5 GiB")
        self.endpoint = endpoint
        self.bucket_prefix = bucket_prefix
        self.region = region
        self.retention_days = retention_days
        self.clock = clock
        self.part_size = part_size
        self.small_object_max = small_object_max
        self.copy_part_size = copy_part_size
        self.parallel_parts = parallel_parts
        self.put_parallel = put_parallel  # small puts of a group at once (latency, not bandwidth)
        self.description = f"S3 {'https' if secure else 'http'}://{endpoint}"
        # Few retries here: the flows retry StoreUnavailable with their own back-off.
        http = urllib3.PoolManager(
            timeout=urllib3.Timeout(connect=10.0, read=timeout),
            maxsize=max(10, parallel_parts + 2, 4 * put_parallel),  # several batches at once
            cert_reqs="CERT_REQUIRED",
            ca_certs=os.environ.get("SSL_CERT_FILE") or certifi.where(),
            retries=urllib3.Retry(
                total=2,
                connect=2,
                read=0,
                status=2,
                backoff_factor=0.2,
                status_forcelist=[502, 503, 504],
            ),
        )
        self._client = Minio(
            endpoint=endpoint,
            access_key=access_key,
            secret_key=secret_key,
            secure=secure,
            region=region,
            http_client=http,
        )
        self._ready: set[str] = set()

    # -- errors ----------------------------------------------------------------

    def _where(self, bucket: str | None, key: str | None = None) -> str:
        where = self.description + (f" bucket {bucket}" if bucket else "")
        return where + (f" object {key}" if key else "")

    @contextmanager
    def _guard(self, bucket: str | None, key: str | None = None) -> Iterator[None]:
        try:
            yield
        except (MinioException, urllib3.exceptions.HTTPError) as exc:
            raise translate(exc, self._where(bucket, key), self._where(bucket)) from exc

    # -- buckets ---------------------------------------------------------------

    def bucket_name(self, namespace: str) -> str:
        return f"{self.bucket_prefix}-{check_namespace(namespace).lower()}"

    def _bucket(self, namespace: str, *, create: bool) -> str | None:
        """The namespace's bucket, checked for object lock; None if absent and not ``create``."""
        name = self.bucket_name(namespace)
        if name in self._ready:
            return name
        with self._guard(name):
            if not self._client.bucket_exists(bucket_name=name):
                if not create:
                    return None
                try:
                    self._client.make_bucket(
                        bucket_name=name, location=self.region, object_lock=True
                    )
                except S3Error as exc:
                    if exc.code != "BucketAlreadyOwnedByYou":  # a concurrent first put
                        raise
            try:
                self._client.get_object_lock_config(bucket_name=name)
            except S3Error as exc:
                if exc.code == "ObjectLockConfigurationNotFoundError":
                    raise StoreConfigError(no_lock(self._where(name))) from exc
                raise
        self._ready.add(name)
        return name

    def _stat(self, namespace: str, key: str) -> tuple[str, Object]:
        check_key(key)
        bucket = self._bucket(namespace, create=False)
        if bucket is None:
            raise NotFound(
                f"{self.description}: no object {key} for team {namespace} (its bucket "
                f"{self.bucket_name(namespace)} does not exist yet); check the key and the team"
            )
        with self._guard(bucket, key):
            return bucket, self._client.stat_object(bucket_name=bucket, object_name=key)

    def _stat_or_none(self, bucket: str, key: str) -> Object | None:
        try:
            with self._guard(bucket, key):
                return self._client.stat_object(bucket_name=bucket, object_name=key)
        except NotFound:
            return None

    @staticmethod
    def _info(namespace: str, key: str, obj: Object) -> ObjectInfo:
        meta = _headers(obj)
        until = meta.get("x-amz-object-lock-retain-until-date")
        return ObjectInfo(
            namespace=namespace,
            key=key,
            size=int(obj.size or 0),
            blake3=meta.get(META_BLAKE3),
            sha256=meta.get(META_SHA256),
            retention_until=parse_amz_date(until) if until else None,
            legal_hold=meta.get("x-amz-object-lock-legal-hold", "").upper() == "ON",
        )

    # -- put -------------------------------------------------------------------

    def group(self, *, fresh: bool = False) -> AbstractContextManager[ObjectWriter]:
        """An S3 put is durable when the server answers, so a group has nothing
        to do at its end. In a ``fresh`` group a small object is written without
        a HEAD first: content already there gets one more identical version
        under its own COMPLIANCE retention (the first is never touched)."""
        return nullcontext(_FreshWriter(self) if fresh else self)

    def put(
        self, namespace: str, source: DigestSource, length: int | None, *, look: bool = True
    ) -> StoredObject:
        bucket = cast(str, self._bucket(namespace, create=True))
        until = self._until()
        if length is not None and length <= self.small_object_max:
            return self._put_small(namespace, bucket, source, length, until, look=look)
        return self._put_staged(namespace, bucket, source, length, until)

    def _until(self) -> datetime:
        """The end of a fresh retention, from now."""
        now = self.clock.now()
        if now.tzinfo is None:
            raise ValueError("the clock must return an aware UTC datetime")
        return (now + timedelta(days=self.retention_days)).replace(microsecond=0)

    @staticmethod
    def _metadata(digests: Digests) -> dict[str, str | list[str] | tuple[str]]:
        return {
            META_BLAKE3: digests.blake3,
            META_SHA256: digests.sha256,
            META_SIZE: str(digests.size),
        }

    def _changed(self, namespace: str, length: int, got: str) -> SourceChanged:
        return SourceChanged(
            f"the source for team {namespace} gave {got} bytes where {length} were expected: "
            f"it changed while it was read; nothing was stored in {self.description}, make "
            "sure it is not being written and run again"
        )

    def _put_small(
        self,
        namespace: str,
        bucket: str,
        source: DigestSource,
        length: int,
        until: datetime,
        *,
        look: bool,
    ) -> StoredObject:
        data = bytearray()
        while len(data) < length and (chunk := source.read(length - len(data))):
            data += chunk
        if len(data) != length:
            raise self._changed(namespace, length, str(len(data)))
        if source.read(1):
            raise self._changed(namespace, length, "more")
        digests = source.digests()
        existing = self._stat_or_none(bucket, digests.blake3) if look else None
        if existing is None:
            # minio sends the body's SHA-256 (signed, plain HTTP) or its MD5
            # (HTTPS): the server refuses a body that does not match.
            with self._guard(bucket, digests.blake3):
                self._client.put_object(
                    bucket_name=bucket,
                    object_name=digests.blake3,
                    data=io.BytesIO(data),
                    length=length,
                    metadata=self._metadata(digests),
                    retention=Retention(mode=COMPLIANCE, retain_until_date=until),
                )
        return self._seal(namespace, bucket, digests, until, adopted=existing is not None)

    def _put_staged(
        self,
        namespace: str,
        bucket: str,
        source: DigestSource,
        length: int | None,
        until: datetime,
    ) -> StoredObject:
        staging = f"incoming/{uuid.uuid4()}"
        try:
            with self._guard(bucket, staging):
                try:
                    self._client.put_object(
                        bucket_name=bucket,
                        object_name=staging,
                        data=cast(BinaryIO, source),
                        length=-1 if length is None else length,
                        part_size=self.part_size,
                        num_parallel_uploads=self.parallel_parts,
                    )
                except OSError as exc:  # minio: "stream having not enough data"
                    if isinstance(exc, JitevError) or "not enough data" not in str(exc):
                        raise
                    raise self._changed(namespace, cast(int, length), "fewer") from exc
            if length is not None and source.read(1):
                raise self._changed(namespace, length, "more")
            digests = source.digests()
            with self._guard(bucket, staging):
                staged = self._client.stat_object(bucket_name=bucket, object_name=staging)
            if staged.size != digests.size:
                raise IntegrityError(
                    f"{self._where(bucket, staging)} holds {staged.size} bytes but "
                    f"{digests.size} were sent: nothing was stored; run again"
                )
            existing = self._stat_or_none(bucket, digests.blake3)
            if existing is None:
                self._copy(bucket, staging, staged.version_id, bucket, digests, until)
            return self._seal(namespace, bucket, digests, until, adopted=existing is not None)
        finally:
            self._remove_staging(bucket, staging)

    def _copy(
        self,
        source_bucket: str,
        source_key: str,
        version: str | None,
        bucket: str,
        digests: Digests,
        until: datetime,
    ) -> None:
        """Server-side copy of one version of ``source_bucket/source_key`` to
        ``bucket/<blake3>`` with the digest metadata (in ranges above ``copy_part_size``)."""
        key = digests.blake3
        with self._guard(bucket, key):
            if digests.size <= self.copy_part_size:
                self._client.copy_object(
                    bucket_name=bucket,
                    object_name=key,
                    source=CopySource(
                        bucket_name=source_bucket, object_name=source_key, version_id=version
                    ),
                    metadata=self._metadata(digests),
                    metadata_directive=REPLACE,
                    retention=Retention(mode=COMPLIANCE, retain_until_date=until),
                )
                return
            # A single CopyObject is limited to 5 GiB: copy in ranges (UploadPartCopy).
            step = self.copy_part_size
            sources = [
                ComposeSource(
                    bucket_name=source_bucket,
                    object_name=source_key,
                    version_id=version,
                    offset=offset,
                    length=min(step, digests.size - offset),
                )
                for offset in range(0, digests.size, step)
            ]
            self._client.compose_object(
                bucket_name=bucket,
                object_name=key,
                sources=sources,
                metadata=self._metadata(digests),
                retention=Retention(mode=COMPLIANCE, retain_until_date=until),
            )

    # -- copy ------------------------------------------------------------------

    def copy(self, namespace: str, key: str, target: str) -> StoredObject:
        check_key(key)
        if self.bucket_name(target) == self.bucket_name(namespace):
            raise InputError(
                f"cannot copy {namespace}/{key} to its own namespace {target}: a hand-off "
                "goes to another team; give the receiving team"
            )
        try:
            source_bucket, obj = self._stat(namespace, key)
        except NotFound as exc:
            raise NotFound(
                f"{self.description}: no object {key} for team {namespace} to copy to team "
                f"{target}; check the key and the team"
            ) from exc
        digests = self._stored_digests(source_bucket, key, obj)
        bucket = cast(str, self._bucket(target, create=True))
        until = self._until()
        existing = self._stat_or_none(bucket, key)
        if existing is None:
            self._copy(source_bucket, key, obj.version_id, bucket, digests, until)
        return self._seal(target, bucket, digests, until, adopted=existing is not None)

    def _stored_digests(self, bucket: str, key: str, obj: Object) -> Digests:
        """The digests in a stored object's metadata, checked against its key and size."""
        meta = _headers(obj)
        blake3, sha256, size = meta.get(META_BLAKE3), meta.get(META_SHA256), meta.get(META_SIZE)
        if (
            blake3 != key
            or sha256 is None
            or not HEX64.match(sha256)
            or obj.size is None
            or size != str(obj.size)
        ):
            raise IntegrityError(
                f"{self._where(bucket, key)} ({obj.size} bytes) has no valid digest metadata "
                f"(size {size!r}, blake3 {blake3!r}, sha256 {sha256!r}): nothing was copied; "
                "do not delete it, report it to the auditor"
            )
        return Digests(size=obj.size, blake3=key, sha256=sha256)

    def _remove_staging(self, bucket: str, staging: str) -> None:
        """Best effort: a staging object has no retention; a leftover is only garbage."""
        try:
            with self._guard(bucket, staging):
                staged = self._client.stat_object(bucket_name=bucket, object_name=staging)
                self._client.remove_object(
                    bucket_name=bucket, object_name=staging, version_id=staged.version_id
                )
        except NotFound:
            pass
        except JitevError as exc:
            log.warning("could not remove the staging object: %s", exc)

    def _seal(
        self, namespace: str, bucket: str, digests: Digests, until: datetime, *, adopted: bool
    ) -> StoredObject:
        """Check the stored key against the digests; make sure it is under a
        COMPLIANCE retention that has not run out."""
        key = digests.blake3
        for attempt in range(2):
            with self._guard(bucket, key):
                obj = self._client.stat_object(bucket_name=bucket, object_name=key)
            info = self._info(namespace, key, obj)
            found = (info.size, info.blake3, info.sha256, _headers(obj).get(META_SIZE))
            wanted = (digests.size, key, digests.sha256, str(digests.size))
            if found != wanted:
                raise IntegrityError(
                    f"{self._where(bucket, key)} is stored with size/blake3/sha256 {found[:3]} "
                    f"but the content has {wanted[:3]}: the stored object or its metadata "
                    "does not match; do not delete it, report it to the auditor"
                )
            mode = _headers(obj).get("x-amz-object-lock-mode", "")
            locked_until = info.retention_until if mode.upper() == COMPLIANCE else None
            if locked_until is not None and locked_until > self.clock.now():
                return StoredObject(
                    namespace=namespace,
                    key=key,
                    size=digests.size,
                    blake3=key,
                    sha256=digests.sha256,
                    retention_until=info.retention_until,
                    adopted=adopted,
                )
            # The write did not bring retention (RGW ignores it on copies and multipart
            # uploads), or an adopted object's retention has run out: set it.
            if attempt == 0:
                with self._guard(bucket, key):
                    self._client.set_object_retention(
                        bucket_name=bucket,
                        object_name=key,
                        config=Retention(
                            mode=COMPLIANCE,
                            retain_until_date=max(until, info.retention_until or until),
                        ),
                        version_id=obj.version_id,
                    )
        raise StoreConfigError(
            f"{self._where(bucket, key)}: the server did not keep the COMPLIANCE retention "
            "jitev set; check that the S3 server supports object lock"
        )

    # -- reads -----------------------------------------------------------------

    def stat(self, namespace: str, key: str) -> ObjectInfo:
        return self._info(namespace, key, self._stat(namespace, key)[1])

    def exists(self, namespace: str, key: str) -> bool:
        try:
            self._stat(namespace, key)
        except NotFound:
            return False
        return True

    def open(self, namespace: str, key: str) -> Iterator[bytes]:
        bucket, _ = self._stat(namespace, key)
        with self._guard(bucket, key):
            response = self._client.get_object(bucket_name=bucket, object_name=key)

        def chunks() -> Iterator[bytes]:
            try:
                with self._guard(bucket, key):
                    yield from response.stream(CHUNK)
            finally:
                response.close()
                response.release_conn()

        return chunks()

    def download_url(self, namespace: str, key: str, expires: timedelta) -> str:
        bucket, _ = self._stat(namespace, key)
        if not timedelta(seconds=1) <= expires <= timedelta(days=7):
            raise InputError(f"a download link can be valid 1 s to 7 days, not {expires}")
        with self._guard(bucket, key):
            return self._client.presigned_get_object(
                bucket_name=bucket, object_name=key, expires=expires
            )

    # -- protection ------------------------------------------------------------

    def set_legal_hold(self, namespace: str, key: str, on: bool) -> None:
        bucket, obj = self._stat(namespace, key)
        with self._guard(bucket, key):
            if on:
                self._client.enable_object_legal_hold(
                    bucket_name=bucket, object_name=key, version_id=obj.version_id
                )
            else:
                self._client.disable_object_legal_hold(
                    bucket_name=bucket, object_name=key, version_id=obj.version_id
                )

    def extend_retention(self, namespace: str, key: str, until: datetime) -> None:
        if until.tzinfo is None:
            raise InputError(f"retention date {until} has no time zone: give a UTC date")
        bucket, obj = self._stat(namespace, key)
        current = self._info(namespace, key, obj).retention_until
        where = self._where(bucket, key)
        if current is not None and until < current:
            raise WriteOnceViolation(
                f"{where}: the retention runs until {current.isoformat()} and cannot be "
                f"shortened to {until.isoformat()}: give a later date"
            )
        with self._guard(bucket, key):
            try:
                self._client.set_object_retention(
                    bucket_name=bucket,
                    object_name=key,
                    config=Retention(mode=COMPLIANCE, retain_until_date=until),
                    version_id=obj.version_id,
                )
            except S3Error as exc:
                if exc.code != "AccessDenied":
                    raise
                raise WriteOnceViolation(
                    f"{where}: the server refused to set the retention to {until.isoformat()} "
                    f"({exc.code}: {exc.message}); a COMPLIANCE retention can only be "
                    "lengthened: give a later date (or check the user's permissions)"
                ) from exc

    def delete(self, namespace: str, key: str) -> None:
        bucket, obj = self._stat(namespace, key)
        where = self._where(bucket, key)
        if obj.version_id is None:
            raise StoreConfigError(f"{where} has no version id: the bucket is not versioned")
        with self._guard(bucket, key):
            try:
                # With the version id: a plain delete would only add a delete marker.
                self._client.remove_object(
                    bucket_name=bucket, object_name=key, version_id=obj.version_id
                )
            except S3Error as exc:
                if exc.code != "AccessDenied":
                    raise
                raise WriteOnceViolation(
                    f"{where}: the server refused to delete version {obj.version_id} "
                    f"({exc.code}: {exc.message}): evidence objects are write-once and stay "
                    "while their retention or a legal hold applies"
                ) from exc


class _FreshWriter:
    """The puts of a ``fresh`` group: small objects are written without a HEAD first."""

    def __init__(self, store: S3Store) -> None:
        self._store = store

    def put(self, namespace: str, source: DigestSource, length: int | None) -> StoredObject:
        return self._store.put(namespace, source, length, look=False)
