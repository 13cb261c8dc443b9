"""Hostile sidecar manifests through the real ``jitev ingest``: each one at or
over a limit of ``evidence.limits`` either arrives exactly as written or is
refused with exit 2 and a message naming the manifest (no traceback, no wait
on a pipe or a device), nothing half-written, and memory bounded. The parsing
details are unit tests (tests/unit/test_manifest.py); these are the classes
end to end."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path

import pytest

from evidence.limits import MANIFEST_MAX_BYTES, MANIFEST_MAX_ROWS, TEXT_MAX_CHARS
from tests.hostile.conftest import counts, run_measured
from tests.integration.cli_helpers import INVESTIGATOR, ingest_args, jitev_json

Home = tuple[Path, dict[str, str]]


def seized(tmp_path: Path, tag: str) -> Path:
    """A folder of one file, ``chat.txt``, of content no other test ingests."""
    folder = tmp_path / "seized"
    folder.mkdir()
    (folder / "chat.txt").write_text(f"{tag}: a message\n")
    return folder


def test_text_at_its_limits_arrives_exactly_as_written(case_home: Home, tmp_path: Path) -> None:
    home, env = case_home
    title = "T" * TEXT_MAX_CHARS
    description = ' Two lines,\r\nsaid "he"\nthen\u2028a separator\u2029and a paragraph '
    seized_by = "Petrova, I.\u2028(BG) "
    manifest = tmp_path / "m.csv"
    quoted = description.replace('"', '""')
    manifest.write_bytes(
        (
            f'path,title,description,seized_by\r\nchat.txt,{title},"{quoted}","{seized_by}"\r\n'
        ).encode()
    )
    before = counts(home)
    done = run_measured(
        env, *ingest_args(), "--manifest", str(manifest), str(seized(tmp_path, "a"))
    )
    done.clear_error(0)
    done.bounded()
    listed = jitev_json(env, "exhibits", "list", "--case", "DANUBE", "--as", INVESTIGATOR)
    (shown,) = [e for e in listed if e["title"] == title]
    assert (shown["description"], shown["seized_by"]) == (description, seized_by)
    assert counts(home) == {
        **before,
        "exhibits": before["exhibits"] + 1,
        "events": before["events"] + 1,
    }


def nested_json(path: Path) -> Path:
    path.write_text("[" * 100_000 + "]" * 100_000)
    return path


def wide_cell(path: Path) -> Path:  # over the csv module's own field limit
    path.write_text(f"path,description\nchat.txt,{'x' * (128 * 1024 + 1)}\n")
    return path


def two_mib_description(path: Path) -> Path:
    path.write_text(json.dumps([{"path": "chat.txt", "description": "x" * 2 * 1024**2}]))
    return path


def twice_in_header(path: Path) -> Path:
    path.write_text("path,title,title\nchat.txt,First,Last\n")
    return path


def too_many_rows(path: Path) -> Path:
    path.write_text("path\n" + "chat.txt\n" * (MANIFEST_MAX_ROWS + 1))
    return path


def ten_gib(path: Path) -> Path:
    with path.open("wb") as file:
        file.truncate(10 * 1024**3)  # sparse
    return path


def a_folder(path: Path) -> Path:
    path.mkdir()
    return path


def a_pipe(path: Path) -> Path:
    os.mkfifo(path)  # that nobody writes to
    return path


def endless(path: Path) -> Path:
    path.symlink_to("/dev/zero")
    return path


def heaviest_at_the_size_limit(path: Path) -> Path:
    """16 MiB of the CSV that costs most to hold: cells near their limit, each
    with a character outside the BMP (four bytes a character in memory)."""
    row = ("x," + ",".join(["\U0001f600" + "y" * 65_000] * 3) + "\n").encode()
    header = b"path,title,description,seized_by\n"
    path.write_bytes(header + row * ((MANIFEST_MAX_BYTES - len(header)) // len(row)))
    return path


@pytest.mark.parametrize(
    ("name", "make", "said"),
    [
        ("deep.json", nested_json, "JSON nested deeper than 16 levels"),
        ("wide.csv", wide_cell, "wide.csv, line 2: a cell over the limit of 65,536 characters"),
        ("long.json", two_mib_description, "description: 2,097,152 characters, over the limit"),
        ("twice.csv", twice_in_header, "'title' given twice in the header"),
        ("rows.csv", too_many_rows, f"more than {MANIFEST_MAX_ROWS:,} rows"),
        ("huge.csv", ten_gib, "10,737,418,240 bytes, over the limit of 16,777,216"),
        ("folder.csv", a_folder, "folder.csv: is a folder"),
        ("pipe.csv", a_pipe, "pipe.csv: not a regular file"),
        ("zero.csv", endless, "zero.csv: not a regular file"),
        ("heavy.csv", heaviest_at_the_size_limit, "heavy.csv, line 2: 'x' is not among the files"),
    ],
)
def test_a_hostile_manifest_is_refused_clearly_and_cheaply(
    case_home: Home, tmp_path: Path, name: str, make: Callable[[Path], Path], said: str
) -> None:
    home, env = case_home
    manifest = make(tmp_path / name)
    before = counts(home)
    done = run_measured(
        env, *ingest_args(), "--manifest", str(manifest), str(seized(tmp_path, name)), timeout=60
    )
    done.clear_error(2, said)
    done.bounded()
    assert counts(home) == before


def test_a_description_over_the_limit_by_flag_is_refused_by_name(
    case_home: Home, tmp_path: Path
) -> None:
    home, env = case_home
    before = counts(home)
    done = run_measured(
        env,
        *ingest_args(),
        "--description",
        "x" * (TEXT_MAX_CHARS + 1),  # a 2 MiB one cannot be an argument: see the unit tests
        str(seized(tmp_path, "flag")),
    )
    done.clear_error(2, "description is 65,537 characters long, over the limit of 65,536")
    assert counts(home) == before
