"""Only transient store errors are retried: a retry of a hash mismatch, a bad
manifest or a refused credential could only repeat the same answer."""

from __future__ import annotations

import pytest
from prefect.states import Completed, Failed

from evidence.errors import HashMismatch, InputError, StoreConfigError, StoreUnavailable
from flows.dispatch import copy_and_verify
from flows.ingest import ingest_batch
from flows.retry import transient


@pytest.mark.parametrize(
    ("error", "retried"),
    [
        (StoreUnavailable("S3 http://127.0.0.1:1: unreachable"), True),
        (StoreConfigError("bad credentials"), False),
        (HashMismatch("declared md5 differs"), False),
        (InputError("no such file"), False),
        (RuntimeError("a bug"), False),
    ],
)
def test_only_transient_store_errors_are_retried(error: Exception, retried: bool) -> None:
    assert transient(None, None, Failed(data=error)) is retried


def test_a_completed_state_is_not_retried() -> None:
    assert transient(None, None, Completed(data=[])) is False


def test_evidence_tasks_keep_no_results_and_no_cache() -> None:
    from prefect.cache_policies import NO_CACHE

    for task in (ingest_batch, copy_and_verify):
        assert task.persist_result is False
        assert task.cache_policy is NO_CACHE
        assert task.retries == 3 and task.retry_condition_fn is transient
