from __future__ import annotations

import os
from pathlib import Path

import pytest

from evidence.errors import InputError, SourceChanged
from evidence.ingest import PlannedFile, batches
from evidence.models import ExhibitMetadata
from evidence.sources import SourceFile, discover, open_once


def tree(tmp_path: Path) -> Path:
    root = tmp_path / "seized" / "phone-01"
    (root / "chats").mkdir(parents=True)
    (root / "chats" / "b.txt").write_text("b")
    (root / "a.txt").write_text("a")
    outside = tmp_path / "secret.txt"
    outside.write_text("not evidence")
    (root / "link.txt").symlink_to(outside)
    (root / "linkdir").symlink_to(tmp_path)
    return root


def test_discovery_is_recursive_sorted_and_skips_symlinks(tmp_path: Path) -> None:
    root = tree(tmp_path)
    found = discover([str(root)])
    assert [f.relative for f in found.files] == ["phone-01/a.txt", "phone-01/chats/b.txt"]
    skipped = {s.path: s.reason for s in found.skipped}
    assert set(skipped) == {str(root / "link.txt"), str(root / "linkdir")}
    assert all("symbolic link, not followed" in why for why in skipped.values())
    assert not any(s.unreadable for s in found.skipped)


def test_a_symlink_argument_is_skipped_too(tmp_path: Path) -> None:
    root = tree(tmp_path)
    found = discover([str(root / "link.txt")])
    assert found.files == [] and len(found.skipped) == 1


def test_same_file_given_twice_is_ingested_once(tmp_path: Path) -> None:
    root = tree(tmp_path)
    found = discover([str(root), str(root / "a.txt")])
    assert [f.relative for f in found.files] == ["phone-01/a.txt", "phone-01/chats/b.txt"]
    [twice] = [s for s in found.skipped if "named twice" in s.reason]
    assert twice.path == str(root / "a.txt") and "ingested once, as phone-01/a.txt" in twice.reason


def test_name_clash_between_arguments_is_refused(tmp_path: Path) -> None:
    (tmp_path / "one").mkdir()
    (tmp_path / "two").mkdir()
    (tmp_path / "one" / "x.pdf").write_text("1")
    (tmp_path / "two" / "x.pdf").write_text("2")
    with pytest.raises(InputError, match="both be recorded as 'x.pdf'"):
        discover([str(tmp_path / "one" / "x.pdf"), str(tmp_path / "two" / "x.pdf")])


def test_missing_argument_is_named(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="nope.bin: no such file"):
        discover([str(tmp_path / "nope.bin")])


def _source(path: Path) -> SourceFile:
    return SourceFile.from_stat(str(path), path.name, os.lstat(path))


def test_file_growing_while_read_is_caught(tmp_path: Path) -> None:
    path = tmp_path / "chat.txt"
    path.write_bytes(b"x" * 100)
    source = _source(path)
    with pytest.raises(SourceChanged, match="chat.txt changed while it was read"):
        with open_once(source) as handle:
            handle.read()
            with open(path, "ab") as other:
                other.write(b"more")


def test_file_replaced_before_read_is_caught(tmp_path: Path) -> None:
    path = tmp_path / "chat.txt"
    path.write_bytes(b"x" * 100)
    source = _source(path)
    path.unlink()
    path.write_bytes(b"y" * 101)
    with pytest.raises(
        SourceChanged, match="(replaced by another file|changed) before it was read"
    ):
        with open_once(source) as handle:
            handle.read()


def test_file_vanished_is_caught(tmp_path: Path) -> None:
    path = tmp_path / "chat.txt"
    path.write_bytes(b"x")
    source = _source(path)
    path.unlink()
    with pytest.raises(SourceChanged, match="vanished"):
        with open_once(source):
            pass


def test_partial_read_is_caught(tmp_path: Path) -> None:
    path = tmp_path / "chat.txt"
    path.write_bytes(b"x" * 100)
    with pytest.raises(SourceChanged, match="read 10 bytes but the file had 100"):
        with open_once(_source(path)) as handle:
            handle.read(10)


def _planned(sizes: list[int]) -> list[PlannedFile]:
    return [
        PlannedFile(SourceFile(f"/x/{i}", f"{i}", s, 0, i, 0), ExhibitMetadata())
        for i, s in enumerate(sizes)
    ]


def test_batches_group_small_files_and_isolate_big_ones() -> None:
    groups = batches(_planned([8192] * 2000), max_files=500, max_bytes=1 << 30, workers=2)
    assert [len(g) for g in groups] == [500, 500, 500, 500]
    groups = batches(_planned([10, 3 << 30, 10]), max_files=500, max_bytes=1 << 30, workers=1)
    assert [len(g) for g in groups] == [1, 1, 1]
    groups = batches(_planned([100] * 10), max_files=500, max_bytes=1 << 30, workers=4)
    assert [len(g) for g in groups] == [10]
    groups = batches(_planned([100] * 400), max_files=500, max_bytes=1 << 30, workers=4)
    assert [len(g) for g in groups] == [100] * 4
    assert batches([], max_files=5, max_bytes=5, workers=2) == []
