"""What a person sees when the S3 side is wrong: bad credentials, a server that
is not there, a bucket without object lock. Each error is a jitev error of the
right kind, names the endpoint (and bucket) and says what to do."""

from __future__ import annotations

import io

import pytest

from evidence.errors import StoreConfigError, StoreUnavailable
from evidence.hashing import HashingReader
from storage.objects.s3 import S3Store
from tests.fixtures_s3 import S3Server, UtcClock, unique_prefix

KEY = "0" * 64


def put_bytes(store: S3Store, data: bytes = b"exhibit bytes") -> None:
    reader = HashingReader(io.BytesIO(data))
    try:
        store.put("BG", reader, len(data))
    finally:
        reader.close()


@pytest.mark.s3
@pytest.mark.parametrize("region", [None, "us-east-1"])  # with a region, no location request
@pytest.mark.parametrize("wrong", ["access_key", "secret_key"])
def test_bad_credentials_are_a_config_error_naming_the_endpoint(
    s3_server: S3Server, wrong: str, region: str | None
) -> None:
    store = s3_server.store(**{wrong: "WRONGWRONGWRONG0123456789", "region": region})
    for call in (lambda: put_bytes(store), lambda: store.exists("BG", KEY)):
        with pytest.raises(StoreConfigError) as error:
            call()
        message = str(error.value)
        assert s3_server.endpoint in message
        assert "credentials" in message and "check" in message


@pytest.mark.parametrize("region", [None, "us-east-1"])
def test_an_unreachable_endpoint_is_unavailable_naming_it(region: str | None) -> None:
    store = S3Store(
        "127.0.0.1:1",
        "EVIDTESTACCESSKEY01",
        "secret",
        region=region,
        retention_days=1,
        clock=UtcClock(),
    )
    for call in (lambda: put_bytes(store), lambda: store.exists("BG", KEY)):
        with pytest.raises(StoreUnavailable) as error:
            call()
        assert "http://127.0.0.1:1" in str(error.value)
        assert "unreachable" in str(error.value) and "retry" in str(error.value)


@pytest.mark.s3
def test_a_bucket_without_object_lock_is_refused(s3_server: S3Server) -> None:
    prefix = unique_prefix()
    s3_server.client().make_bucket(bucket_name=f"{prefix}-bg")  # no object lock
    store = s3_server.store(bucket_prefix=prefix)
    for call in (lambda: put_bytes(store), lambda: store.stat("BG", KEY)):
        with pytest.raises(StoreConfigError) as error:
            call()
        message = str(error.value)
        assert f"{prefix}-bg" in message and s3_server.endpoint in message
        assert "object lock is not enabled" in message
    assert store.exists("FR", KEY) is False  # other teams' buckets are unaffected
    put_bytes(
        S3Store(
            s3_server.url,
            s3_server.access_key,
            s3_server.secret_key,
            bucket_prefix=unique_prefix(),
            retention_days=1,
            clock=UtcClock(),
        )
    )  # an endpoint given as a URL works too
