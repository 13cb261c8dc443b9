from __future__ import annotations

import hashlib
import io
import os

import pytest
from blake3 import blake3

from evidence.hashing import HashingReader, MultiHash


@pytest.mark.parametrize("threaded", [True, False])
@pytest.mark.parametrize("size", [0, 1, 8191, 8 * 1024 * 1024 + 17])
def test_reader_digests_match_reference_libraries(size: int, threaded: bool) -> None:
    data = os.urandom(size)
    reader = HashingReader(io.BytesIO(data), ["md5", "sha1"], chunk=1 << 20, threaded=threaded)
    out = b"".join(iter(lambda: reader.read(300_000), b""))
    d = reader.digests()
    assert out == data
    assert d.size == size
    assert d.blake3 == blake3(data).hexdigest()
    assert d.sha256 == hashlib.sha256(data).hexdigest()
    assert d.declared == {
        "md5": hashlib.md5(data).hexdigest(),
        "sha1": hashlib.sha1(data).hexdigest(),
    }
    assert reader.head == data[:8192]


def test_declared_blake3_and_sha256_reuse_the_main_digests() -> None:
    h = MultiHash(["blake3", "sha256"])
    h.update(b"evidence")
    d = h.digests()
    assert d.declared == {"blake3": d.blake3, "sha256": d.sha256}


def test_digests_before_eof_is_a_programming_error() -> None:
    reader = HashingReader(io.BytesIO(b"abc"))
    reader.read(1)
    with pytest.raises(RuntimeError):
        reader.digests()
    reader.close()


def test_progress_callback_sees_every_byte() -> None:
    seen: list[int] = []
    reader = HashingReader(io.BytesIO(b"x" * 1000), chunk=64, on_read=seen.append)
    while reader.read():
        pass
    assert sum(seen) == 1000 and reader.digests().size == 1000


def test_multihash_incremental_equals_one_shot() -> None:
    h = MultiHash()
    for part in (b"a", b"bc", b""):
        h.update(part)
    whole = MultiHash()
    whole.update(b"abc")
    assert h.digests() == whole.digests()
