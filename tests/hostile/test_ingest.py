"""Ingest under hostile and broken input: nothing silently omitted, no
traceback, a name kept as it was, nothing half-written, bounded memory."""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterable, Iterator
from pathlib import Path

import pytest

from tests.hostile.conftest import Measured, counts, run_measured
from tests.integration.cli_helpers import ingest_args

Home = tuple[Path, dict[str, str]]


def ingest(env: dict[str, str], *args: str, unprivileged: bool = False) -> Measured:
    return run_measured(env, *ingest_args(), *args, unprivileged=unprivileged)


def ingest_json(env: dict[str, str], *args: str, unprivileged: bool = False) -> tuple[int, dict]:
    done = ingest(env, *args, "--json", unprivileged=unprivileged)
    assert "Traceback" not in done.stderr, done.stderr
    done.bounded()
    return done.returncode, json.loads(done.stdout)


def statuses(result: dict) -> dict[str, str]:
    """Each file's status in an ingest's ``--json``."""
    return {o["source"]: o["status"] for o in result["outcomes"]}


@pytest.fixture
def locked(tmp_path: Path) -> Iterator[Path]:
    """A folder with a readable file and a subfolder nobody may list."""
    root = tmp_path / "laptop"
    (root / "private").mkdir(parents=True)
    (root / "notes.txt").write_text("readable")
    (root / "private" / "hidden.txt").write_text("behind a folder without rights")
    os.chmod(root / "private", 0)
    yield root
    os.chmod(root / "private", 0o755)


def test_an_unreadable_folder_is_listed_and_the_run_does_not_end_as_done(
    case_home: Home, locked: Path
) -> None:
    home, env = case_home
    before = counts(home)
    code, result = ingest_json(env, str(locked), unprivileged=True)
    assert code == 6
    assert [o["source"] for o in result["outcomes"]] == ["laptop/notes.txt"]
    [left] = result["skipped"]
    assert left["path"] == str(locked / "private") and left["unreadable"]
    assert "permission denied" in left["reason"]
    assert counts(home)["exhibits"] == before["exhibits"] + 1

    human = ingest(env, str(locked), unprivileged=True)  # the same command: said again
    human.clear_error(6, "laptop/private", "not read", "permission denied")
    os.chmod(locked / "private", 0o755)
    code, result = ingest_json(env, str(locked), unprivileged=True)
    assert code == 0 and result["skipped"] == []
    assert statuses(result) == {
        "laptop/notes.txt": "unchanged",
        "laptop/private/hidden.txt": "stored",
    }
    assert counts(home)["open_runs"] == 0


def test_an_unreadable_file_is_not_recorded_and_is_read_once_readable(
    case_home: Home, tmp_path: Path
) -> None:
    home, env = case_home
    root = tmp_path / "phone"
    root.mkdir()
    (root / "a.txt").write_text("first readable")
    (root / "b.txt").write_text("no read access")
    os.chmod(root / "b.txt", 0)
    before = counts(home)
    code, result = ingest_json(env, str(root), unprivileged=True)
    assert code == 6
    assert statuses(result) == {"phone/a.txt": "stored", "phone/b.txt": "unreadable"}
    [failed] = [o for o in result["outcomes"] if o["status"] == "unreadable"]
    assert "phone/b.txt" in failed["message"] and "Permission denied" in failed["message"]
    after = counts(home)
    assert after["exhibits"] == before["exhibits"] + 1
    assert after["events"] == before["events"] + 1  # a.txt's INGESTED only
    assert after["open_runs"] == 0

    os.chmod(root / "b.txt", 0o644)
    code, result = ingest_json(env, str(root), unprivileged=True)
    assert code == 0
    assert statuses(result) == {"phone/a.txt": "unchanged", "phone/b.txt": "stored"}


def test_an_io_error_while_reading_names_the_file_and_records_nothing(case_home: Home) -> None:
    home, env = case_home
    before = counts(home)
    failing = "/proc/self/mem"  # a regular file whose first read fails with EIO
    done = ingest(env, failing)
    done.clear_error(6, "/proc/self/mem", "Input/output error")
    done.bounded()
    again = ingest(env, failing)  # the same command: the same clear line, never a crash
    again.clear_error(6, "/proc/self/mem")
    assert counts(home) == before


def test_a_name_that_is_not_utf8_is_ingested_and_kept_reversibly(
    case_home: Home, tmp_path: Path
) -> None:
    home, env = case_home
    raw = b"caf\xe9 \xff\xfe.txt"  # Latin-1 and stray bytes
    root = tmp_path / "seized"
    root.mkdir()
    with open(os.path.join(os.fsencode(root), raw), "wb") as handle:
        handle.write(b"a name from an old Windows export")
    code, result = ingest_json(env, str(root))
    assert code == 0
    [outcome] = result["outcomes"]
    assert outcome["status"] == "stored"
    assert outcome["source"] == "seized/caf\\xe9 \\xff\\xfe.txt"
    custody = run_measured(
        env,
        "custody",
        "show",
        outcome["reference"],
        "--case",
        "DANUBE",
        "--json",
        "--as",
        "Insp. Petrova",
    )
    assert custody.returncode == 0, custody.stderr
    [ingested] = [e for e in json.loads(custody.stdout)["events"] if e["action"] == "INGESTED"]
    assert bytes.fromhex(ingested["details"]["source_bytes"]) == b"seized/" + raw
    code, result = ingest_json(env, str(root))  # the run ended: nothing to resume, nothing read
    assert code == 0 and [o["status"] for o in result["outcomes"]] == ["unchanged"]
    assert counts(home)["open_runs"] == 0


def test_control_characters_in_a_name_are_shown_never_sent_to_the_terminal(
    case_home: Home, tmp_path: Path
) -> None:
    _, env = case_home
    root = tmp_path / "chats"
    root.mkdir()
    (root / "\x1b[2J\x1b[31mclears the screen\r.txt").write_text("escape")
    (root / "invoice\u202efdp.exe").write_text("right-to-left override")
    done = ingest(env, str(root))
    assert done.returncode == 0, done.stderr
    said = done.stdout + done.stderr
    assert "\x1b[2J" not in said and "\r" not in said and "\u202e" not in said
    assert "\\x1b[2J\\x1b[31mclears the screen\\r.txt" in said
    assert "invoice\\u202efdp.exe" in said


def test_every_hard_link_name_is_recorded(case_home: Home, tmp_path: Path) -> None:
    _, env = case_home
    root = tmp_path / "linked"
    root.mkdir()
    (root / "original.jpg").write_bytes(b"one inode, two names")
    os.link(root / "original.jpg", root / "second-name.jpg")
    code, result = ingest_json(env, str(root))
    assert code == 0
    assert statuses(result) == {
        "linked/original.jpg": "stored",
        "linked/second-name.jpg": "duplicate",
    }


def nest(top: Path, names: Iterable[str], content: bytes) -> None:
    """Folders ``names``, each in the one before, under ``top`` (through folder
    descriptors: the path may grow past the system's limit), and ``leaf.txt``
    with ``content`` in the last one."""
    fd = os.open(top, os.O_RDONLY)
    try:
        for name in names:
            os.mkdir(name, dir_fd=fd)
            child = os.open(name, os.O_RDONLY, dir_fd=fd)
            os.close(fd)
            fd = child
        leaf = os.open("leaf.txt", os.O_WRONLY | os.O_CREAT, 0o644, dir_fd=fd)
        os.write(leaf, content)
        os.close(leaf)
    finally:
        os.close(fd)


def test_a_tree_deeper_than_the_recursion_limit_is_walked(case_home: Home, tmp_path: Path) -> None:
    _, env = case_home
    root = tmp_path / "deep"
    root.mkdir()
    nest(root, ["d"] * 1500, b"at the bottom")  # os.walk would recurse 1,500 times; < 4 KiB
    try:
        code, result = ingest_json(env, str(root))
    finally:  # shutil.rmtree (and so pytest's clean-up) recurses too: rm walks it iteratively
        subprocess.run(["rm", "-rf", str(root)], check=True)
    assert code == 0
    [outcome] = result["outcomes"]
    assert outcome["status"] == "stored" and outcome["source"].endswith("/d/leaf.txt")


def test_a_path_over_the_system_limit_is_listed_not_dropped(
    case_home: Home, tmp_path: Path
) -> None:
    home, env = case_home
    root = tmp_path / "long"
    root.mkdir()
    (root / "top.txt").write_text("near the top")
    nest(root, ["n" * 200] * 24, b"too deep for a path")  # 24 × 201 bytes: past PATH_MAX
    before = counts(home)
    code, result = ingest_json(env, str(root))
    assert code == 6
    assert [o["source"] for o in result["outcomes"]] == ["long/top.txt"]
    [left] = result["skipped"]
    assert left["unreadable"] and "longer than this system allows" in left["reason"]
    assert counts(home)["exhibits"] == before["exhibits"] + 1
