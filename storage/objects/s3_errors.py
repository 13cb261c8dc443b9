"""What the S3 server's answers mean for evidence work: each minio SDK
exception becomes the ``evidence.errors`` error a person can act on, naming
the server, bucket and object (``where``)."""

from __future__ import annotations

import re

import urllib3
from minio.error import InvalidResponseError, S3Error, ServerError

from evidence.errors import (
    JitevError,
    NotFound,
    StoreConfigError,
    StoreError,
    StoreUnavailable,
)

BAD_CREDENTIALS = {"InvalidAccessKeyId", "SignatureDoesNotMatch", "InvalidToken", "ExpiredToken"}
TRANSIENT = {"SlowDown", "ServiceUnavailable", "InternalError", "RequestTimeout"}


def translate(exc: Exception, where: str, bucket_where: str) -> JitevError:
    """``where``: the server, bucket and object; ``bucket_where``: the bucket."""
    if isinstance(exc, S3Error):
        code, detail = exc.code or "", f"{exc.code}: {exc.message or 'no message'}"
        if code in {"NoSuchKey", "NoSuchVersion"}:
            return NotFound(f"{where}: no such object; check the key and the team")
        if code in BAD_CREDENTIALS:
            return StoreConfigError(
                f"{where}: the server rejected the credentials ({detail}); check the "
                "access key and secret key in the S3 settings"
            )
        if code == "AccessDenied":
            return StoreConfigError(
                f"{where}: the server denied access ({detail}); check the credentials "
                "(access key and secret key) and that this S3 user may use the bucket"
            )
        if code == "NoSuchBucket":
            return StoreConfigError(
                f"{where}: the bucket does not exist ({detail}); check the bucket prefix "
                "setting, or let jitev create it by storing the team's first exhibit"
            )
        if code == "ObjectLockConfigurationNotFoundError":
            return StoreConfigError(no_lock(bucket_where))
        if code in TRANSIENT or exc.response.status >= 500:
            return StoreUnavailable(f"{where}: the server failed ({detail}); retry later")
        return StoreError(f"{where}: the server refused the request ({detail})")
    status = 0
    if isinstance(exc, ServerError):
        status = exc.status_code
    elif isinstance(exc, InvalidResponseError):
        status = _response_code(exc)
    if isinstance(exc, urllib3.exceptions.HTTPError) or status >= 500:
        reason = getattr(exc, "reason", None) or exc
        return StoreUnavailable(
            f"{where}: the S3 server is unreachable or did not answer ({reason}); check "
            "that it is running and reachable from here, then retry"
        )
    return StoreError(f"{where}: unexpected answer from the S3 server ({exc})")


def no_lock(bucket_where: str) -> str:
    return (
        f"{bucket_where} exists but object lock is not enabled on it, "
        "so evidence could be overwritten or deleted; object lock can only be enabled "
        "when a bucket is created: choose another bucket prefix (jitev creates the "
        "buckets with object lock) or have the S3 administrator migrate the bucket"
    )


def _response_code(exc: InvalidResponseError) -> int:
    """The HTTP status of a non-XML answer (a proxy's error page, say): the
    SDK keeps it private and states it only in the message."""
    found = re.search(r"Response code: (\d{3})", str(exc))
    return int(found[1]) if found else 0
