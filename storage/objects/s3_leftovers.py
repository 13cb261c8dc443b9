"""What crashed puts leave in an S3 namespace, and clearing it away: staging
objects under ``incoming/`` (no retention: every version of one can be
removed) and incomplete multipart uploads (a large staging put, or a
multipart copy into place, cut short). Mixed into ``S3Store``.

Listing and aborting multipart uploads uses minio's ``_list_multipart_uploads``
and ``_abort_multipart_upload``: the client has no public call for either.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import AbstractContextManager
from datetime import UTC, datetime
from typing import Protocol

from minio import Minio

from evidence.errors import InputError, NotFound
from evidence.ports import Leftover

STAGING = "incoming/"
STAGING_KIND = "staging object"
UPLOAD_KIND = "multipart upload"


class _Host(Protocol):
    """What the mixin needs of ``S3Store``."""

    _client: Minio

    def _bucket(self, namespace: str, *, create: bool) -> str | None: ...

    def _guard(
        self, bucket: str | None, key: str | None = None
    ) -> AbstractContextManager[None]: ...

    def _staged(self: _Host, namespace: str, bucket: str) -> Iterator[Leftover]: ...

    def _uploads(self: _Host, namespace: str, bucket: str) -> Iterator[Leftover]: ...


class S3Leftovers:
    """``leftovers`` and ``remove_leftover`` of ``S3Store``."""

    def leftovers(self: _Host, namespace: str) -> list[Leftover]:
        bucket = self._bucket(namespace, create=False)
        if bucket is None:
            return []
        found = list(self._staged(namespace, bucket)) + list(self._uploads(namespace, bucket))
        return sorted(found, key=lambda lo: (lo.modified, lo.name))

    def _staged(self: _Host, namespace: str, bucket: str) -> Iterator[Leftover]:
        with self._guard(bucket, STAGING):
            listed = list(
                self._client.list_objects(
                    bucket_name=bucket, prefix=STAGING, recursive=True, include_version=True
                )
            )
        for obj in listed:
            modified = obj.last_modified or datetime.now(UTC)
            yield Leftover(
                namespace,
                obj.object_name,
                STAGING_KIND,
                int(obj.size or 0),
                modified,
                obj.version_id or "",
            )

    def _uploads(self: _Host, namespace: str, bucket: str) -> Iterator[Leftover]:
        key_marker: str | None = None
        upload_marker: str | None = None
        while True:
            with self._guard(bucket):
                page = self._client._list_multipart_uploads(
                    bucket_name=bucket, key_marker=key_marker, upload_id_marker=upload_marker
                )
            for upload in page.uploads:
                modified = upload.initiated_time or datetime.now(UTC)
                yield Leftover(
                    namespace, upload.object_name, UPLOAD_KIND, 0, modified, upload.upload_id or ""
                )
            if not page.is_truncated:
                return
            key_marker, upload_marker = page.next_key_marker, page.next_upload_id_marker

    def remove_leftover(self: _Host, leftover: Leftover) -> None:
        bucket = self._bucket(leftover.namespace, create=False)
        if bucket is None:
            return
        try:
            with self._guard(bucket, leftover.name):
                if leftover.kind == STAGING_KIND and leftover.name.startswith(STAGING):
                    self._client.remove_object(
                        bucket_name=bucket,
                        object_name=leftover.name,
                        version_id=leftover.handle or None,
                    )
                elif leftover.kind == UPLOAD_KIND and leftover.handle:
                    self._client._abort_multipart_upload(
                        bucket_name=bucket, object_name=leftover.name, upload_id=leftover.handle
                    )
                else:
                    raise InputError(f"{leftover.name} is not a leftover of a put")
        except NotFound:
            pass
