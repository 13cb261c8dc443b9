"""Bundles and downloads under hostile and broken input: what jitev writes it
verifies (texts at the ingest limit), the verifier reads only regular files
and every part within the layout's limits, no cell runs as a formula in a
spreadsheet, and a name the file system holds is downloaded under it. For
each input: a clear error or a faithful result, nothing half-written,
bounded memory."""

from __future__ import annotations

import csv
import io
import json
import os
import shutil
import zipfile
from pathlib import Path
from typing import IO

import pytest

from app.cli.common import write_new
from evidence import ports
from evidence.bundle import bagcheck, layout
from evidence.bundle.bag import BagWriter
from evidence.bundle.bagcheck import NotABundleFile, open_zip
from evidence.bundle.verify.parts import cell_limit
from evidence.errors import InputError
from evidence.limits import TEXT_MAX_CHARS
from evidence.sizes import GiB, MiB
from tests.hostile.conftest import Measured, counts, run_measured
from tests.integration.cli_helpers import ingest_args
from tests.unit.bundle_parts import Native, Parts, built, make_parts, messages, verify
from tests.unit.test_bag import patch

Home = tuple[Path, dict[str, str]]

# What a spreadsheet runs (OWASP's CSV injection), and a value that already
# starts with the escape, which is escaped too so that the rule reverses.
FORMULAS = (
    "=cmd|' /C calc'!A0",
    "@SUM(1+1)*cmd|' /C calc'!A0",
    "+1+1",
    "-2+3",
    "\t=1+1",
    "\r=1+1",
    "'=1+1 (already quoted)",
)


def note(number: int, title: str = "", description: str = "") -> Native:
    data = f"note {number}\n".encode()
    return Native(
        f"BG-EX-{number:04d}", f"note-{number}.txt", "text/plain", data, title, description
    )


def members(data: bytes) -> dict[str, bytes]:
    """The bag's files by their path in the bag folder."""
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        return {i.filename.partition("/")[2]: zf.read(i) for i in zf.infolist() if not i.is_dir()}


def schedule(data: bytes) -> list[dict[str, str]]:
    text = members(data)["data/schedule.csv"].decode()
    with cell_limit():
        return list(csv.DictReader(io.StringIO(text, newline="")))


def verify_cli(env: dict[str, str], *args: str, timeout: float = 60) -> Measured:
    done = run_measured(env, "bundle", "verify", *args, timeout=timeout)
    done.bounded()
    return done


@pytest.fixture(scope="module")
def parts(tmp_path_factory: pytest.TempPathFactory) -> Parts:
    return make_parts(tmp_path_factory.mktemp("bundle"))


@pytest.fixture(scope="module")
def good_zip(parts: Parts, tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("good") / "DANUBE-FR-B-0001.zip"
    path.write_bytes(parts.zip())
    return path


# -- what jitev writes, jitev verifies ------------------------------------------------


def test_texts_at_the_ingest_limit_build_and_verify(tmp_path: Path) -> None:
    """The issue's bundle, at the limit: a description of TEXT_MAX_CHARS
    characters of 4 bytes each, starting with a formula character (so its
    cell is the longest a schedule holds), and a title at the limit."""
    description = "=" + "\U0001f600" * (TEXT_MAX_CHARS - 1)
    title = ("word " * TEXT_MAX_CHARS)[:TEXT_MAX_CHARS]
    data = built(tmp_path, (note(1, title, description), note(2)))
    report = verify(data)
    assert report.ok, report.findings
    [first, _] = schedule(data)
    assert len(first["description"]) == layout.CELL_MAX_CHARS
    assert first["description"] == "'" + description and first["title"] == title


def test_a_text_over_the_limit_is_refused_by_the_builder_not_written(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An exhibit recorded before the limit (2 MiB, as in the issue) cannot be
    bundled: the builder says so before anything is written."""
    monkeypatch.setattr(ports, "check_text", lambda field, value: None)  # a ledger from before
    with pytest.raises(InputError, match="BG-EX-0001: its description holds 2,097,152") as raised:
        built(tmp_path, (note(1, description="x" * 2 * MiB),))
    assert raised.value.field == "exhibits"
    assert "leave BG-EX-0001 out of the bundle" in str(raised.value)


@pytest.mark.parametrize("length", [layout.CELL_MAX_CHARS + 1, 2 * MiB])
def test_a_hand_made_cell_over_the_limit_is_a_clear_finding(parts: Parts, length: int) -> None:
    edited = parts.edit()
    rows = edited.schedule()
    rows[0]["description"] = "x" * length
    edited.set_schedule(rows)
    report = verify(edited.zip())
    assert not report.ok and report.check("bag").ok
    [finding] = report.findings_of("schedule")
    assert (finding.where, finding.kind) == ("data/schedule.csv line 2", "size")
    assert f"more than {layout.CELL_MAX_CHARS:,} characters" in finding.message
    assert "131072" not in repr(report.as_dict())  # not the csv module's default limit
    assert "not checked" in report.check("root digest").detail


def test_a_ledger_line_over_the_limit_is_a_clear_finding(parts: Parts) -> None:
    edited = parts.edit()
    edited.payload[layout.LEDGER] += b'{"details": "' + b"x" * layout.EVENT_LINE_MAX_BYTES + b'"}\n'
    report = verify(edited.zip())
    [finding] = [f for f in report.findings_of("ledger") if f.kind == "size"]
    assert finding.where == f"data/{layout.LEDGER} line {len(parts.events) + 1}"
    assert f"longer than the {layout.EVENT_LINE_MAX_BYTES:,} bytes" in finding.message


def test_parts_larger_than_a_genuine_one_are_refused_by_their_declared_size(
    parts: Parts,
) -> None:
    edited = parts.edit()
    edited.payload[layout.KEYS] = b"[" + b'"ab",' * (layout.KEYS_MAX_BYTES // 5) + b'"ab"]'
    edited.payload[layout.LOAD_FILE] = b"\n" * (layout.table_max_bytes(7, 2) + 1)
    report = verify(edited.zip())
    assert "data/keys.json: larger than the 65,536 bytes" in messages(report, "keys")
    assert "data/load.dat: larger than the" in messages(report, "load file")


# -- formula cells -------------------------------------------------------------------


def test_formula_titles_are_escaped_in_the_cells_and_kept_everywhere_else(
    tmp_path: Path,
) -> None:
    natives = tuple(note(i, title=f, description=f) for i, f in enumerate(FORMULAS, 1))
    data = built(tmp_path, natives)
    report = verify(data)
    assert report.ok, report.findings
    rows = schedule(data)
    for row, formula in zip(rows, FORMULAS, strict=True):
        for name in ("title", "description"):
            assert row[name] == "'" + formula and row[name][1:] == formula  # reversible
    for row in rows:  # no cell a spreadsheet runs, in the schedule ...
        assert not any(v.startswith(layout.FORMULA_STARTS) for v in row.values()), row
    files = members(data)
    for line in files["data/load.dat"].decode().splitlines():  # ... or the load file
        assert not any(v.startswith(layout.FORMULA_STARTS) for v in layout.load_fields(line) or [])
    ingested = [
        json.loads(x)["details"]
        for x in files[f"data/{layout.LEDGER}"].splitlines()
        if json.loads(x)["action"] == "INGESTED"
    ]
    assert [d["title"] for d in ingested] == list(FORMULAS)  # the ledger keeps the original
    provenance = files["data/provenance.jsonld"].decode()
    assert all(json.dumps(f)[1:-1] in provenance for f in FORMULAS)


def test_an_unescaped_formula_cell_is_flagged(tmp_path: Path) -> None:
    parts = make_parts(tmp_path, (note(1, title="=1+1"), note(2)))
    assert verify(parts.zip()).ok  # escaped by the layout
    edited = parts.edit()
    rows = edited.schedule()
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")  # as a careless tool writes it
    writer.writerow(layout.SCHEDULE_FIELDS)
    writer.writerows(
        [{**r, "title": r["title"].removeprefix("'")}[f] for f in layout.SCHEDULE_FIELDS]
        for r in rows
    )
    edited.payload[layout.SCHEDULE] = out.getvalue().encode()
    load = (
        edited.payload[layout.LOAD_FILE]
        .decode()
        .replace("\u00feBG-EX-0002\u00fe", "\u00fe@SUM(1)\u00fe")
    )
    edited.payload[layout.LOAD_FILE] = load.encode()
    report = verify(edited.zip())
    assert "data/schedule.csv row 1 (BG-EX-0001): title '=1+1' would run as a formula" in messages(
        report, "schedule"
    )
    assert "data/load.dat line 3: REFERENCE '@SUM(1)' would run as a formula" in messages(
        report, "load file"
    )
    # and the cell is no longer the INGESTED event's title under the rule
    assert "records the title '=1+1'; data/schedule.csv row 1" in messages(report, "ledger")


# -- not a bundle file -----------------------------------------------------------------


def test_dev_zero_is_refused_at_once(case_home: Home) -> None:
    home, env = case_home
    before = counts(home)
    done = verify_cli(env, "/dev/zero")
    done.clear_error(2, "/dev/zero", "a character device, not a regular file")
    assert counts(home) == before


def test_a_fifo_is_refused_without_waiting_for_a_writer(case_home: Home, tmp_path: Path) -> None:
    home, env = case_home
    fifo = tmp_path / "bundle.zip"
    os.mkfifo(fifo)
    verify_cli(env, str(fifo), timeout=30).clear_error(2, str(fifo), "a named pipe")
    verify_cli(env, "--against", str(fifo), str(fifo), timeout=30).clear_error(2, str(fifo))


def test_a_folder_a_missing_path_and_a_link_to_dev_zero_are_refused(
    case_home: Home, tmp_path: Path, good_zip: Path
) -> None:
    _, env = case_home
    verify_cli(env, str(tmp_path)).clear_error(2, str(tmp_path), "a folder")
    missing = tmp_path / "DANUBE-FR-B-0009.zip"
    verify_cli(env, str(missing)).clear_error(2, str(missing), "no such file")
    link = tmp_path / "looks-like-a-bundle.zip"
    link.symlink_to("/dev/zero")
    verify_cli(env, str(link)).clear_error(2, str(link), "a link to /dev/zero", "character device")
    against = verify_cli(env, str(good_zip), "--against", str(link))
    against.clear_error(2, "the earlier bundle", str(link))
    assert "PASS" not in against.stdout  # refused before anything is checked


def test_a_huge_sparse_file_is_refused_by_its_size_and_one_under_it_read_only_at_its_end(
    case_home: Home, tmp_path: Path
) -> None:
    _, env = case_home
    huge = tmp_path / "huge.zip"
    with huge.open("wb") as f:
        f.truncate(bagcheck.ZIP_MAX_BYTES + 1)  # sparse: no block written
    verify_cli(env, str(huge)).clear_error(2, str(huge), "more than the", "largest bundle")
    big = tmp_path / "big.zip"
    with big.open("wb") as f:
        f.truncate(64 * GiB)
    done = verify_cli(env, str(big))
    done.clear_error(1, str(big), "not a readable ZIP file")


def test_the_size_limit_is_checked_before_a_byte_is_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "bundle.zip"
    path.write_bytes(b"PK" + b"\0" * 2000)
    monkeypatch.setattr(bagcheck, "ZIP_MAX_BYTES", 1000)
    with pytest.raises(NotABundleFile, match="holds 2,002 bytes, more than the 1,000"):
        open_zip(path)


# -- ZIP bombs -------------------------------------------------------------------------


def deflate(source: IO[bytes], target: IO[bytes]) -> None:
    """The same ZIP, every entry deflated (as a ZIP tool rewrites a bag), streamed."""
    with zipfile.ZipFile(source) as src, zipfile.ZipFile(target, "w") as dst:
        for info in src.infolist():
            entry = zipfile.ZipInfo(info.filename, info.date_time)
            entry.compress_type = zipfile.ZIP_DEFLATED
            with src.open(info) as read, dst.open(entry, "w") as write:
                shutil.copyfileobj(read, write, MiB)


def test_bomb_members_are_never_read_whole(case_home: Home, parts: Parts, tmp_path: Path) -> None:
    """A schedule of 256 MiB and an extract line of 256 MiB, deflated to a few
    hundred KiB: refused by the declared size, read no further than a line.
    (Made on disk: a test that held them would raise every later child's peak RSS.)"""
    big = {layout.SCHEDULE: b"a", layout.LEDGER: b"{"}
    stored, bomb = tmp_path / "stored.zip", tmp_path / "bomb.zip"
    with stored.open("wb") as out:
        with BagWriter(out, name=parts.name, when=parts.when, info=parts.info) as bag:
            for path in sorted(parts.payload, key=str.encode):
                if path in big:
                    bag.add_stream(path, (big[path] * MiB for _ in range(256)))
                else:
                    bag.add_bytes(path, parts.payload[path])
    with stored.open("rb") as source, bomb.open("wb") as target:
        deflate(source, target)
    assert bomb.stat().st_size < 2 * MiB
    _, env = case_home
    done = verify_cli(env, str(bomb), "--json")
    assert done.returncode == 1, done.stderr
    report = json.loads(done.stdout)
    found = {(f["check"], f["where"], f["kind"]) for f in report["findings"]}
    assert ("schedule", "data/schedule.csv", "size") in found
    assert ("ledger", f"data/{layout.LEDGER} line 1", "size") in found
    assert report["checks"][0]["ok"]  # the bag itself is sound: streamed, never held


def test_a_member_declaring_more_than_deflate_expands_to_is_not_read(parts: Parts) -> None:
    name = f"{parts.name}/data/{layout.SCHEDULE}"
    out = io.BytesIO()
    deflate(io.BytesIO(parts.zip()), out)
    data = patch(out.getvalue(), name, 24, "<I", 0xFFFFFFF0)  # declared: 4 GiB
    report = verify(data)
    said = messages(report, "bag")
    assert "data/schedule.csv: not read: it declares 4,294,967,280 bytes from" in said
    assert "more than deflate expands to (a ZIP bomb)" in said

    bzipped = io.BytesIO()  # bzip2 expands far more than deflate: not read at all
    with zipfile.ZipFile(io.BytesIO(parts.zip())) as src, zipfile.ZipFile(bzipped, "w") as dst:
        for info in src.infolist():
            method = zipfile.ZIP_BZIP2 if info.filename == name else zipfile.ZIP_STORED
            dst.writestr(info.filename, src.read(info), method)
    said = messages(verify(bzipped.getvalue()), "bag")
    assert "data/schedule.csv: not read: compressed by method 12: only stored or" in said


# -- names on the way out ----------------------------------------------------------------


def test_write_new_takes_any_name_the_file_system_holds(tmp_path: Path) -> None:
    longest = tmp_path / ("é" * 127 + "x")  # 255 bytes of UTF-8
    assert write_new(longest, lambda write: write(b"evidence")) is None
    assert longest.read_bytes() == b"evidence"
    assert sorted(p.name for p in tmp_path.iterdir()) == [longest.name]  # no scratch left

    too_long = tmp_path / ("x" * 256)
    called = []
    with pytest.raises(InputError, match="name .256 bytes. or the path is longer") as refused:
        write_new(too_long, lambda write: called.append(write))
    assert "give --out a shorter file name" in str(refused.value) and called == []

    with pytest.raises(InputError, match="exists already"):
        write_new(longest, lambda write: write(b"other"))

    def failing(write: object) -> None:
        raise InputError("the download did not verify")

    with pytest.raises(InputError, match="did not verify"):
        write_new(tmp_path / "partial.bin", failing)
    assert sorted(p.name for p in tmp_path.iterdir()) == [longest.name]


@pytest.mark.parametrize("length", [250, 255])
def test_an_exhibit_with_a_long_name_downloads_and_bundles_under_it(
    case_home: Home, tmp_path: Path, length: int
) -> None:
    home, env = case_home
    name = "=" + "n" * (length - 5) + ".txt"  # a formula, too: the title defaults to the name
    assert len(name.encode()) == length
    seized = tmp_path / "seized"
    seized.mkdir()
    content = f"seized bytes, {length}\n".encode()  # not a duplicate of the other run's
    (seized / name).write_bytes(content)
    ingested = run_measured(env, *ingest_args(), str(seized / name), "--json")
    assert ingested.returncode == 0, ingested.stderr
    [outcome] = json.loads(ingested.stdout)["outcomes"]
    ref = outcome["reference"]

    out = tmp_path / "out"
    out.mkdir()
    before = counts(home)
    done = run_measured(
        env, "exhibits", "download", ref, "--out", str(out), "--as", "Insp. Petrova"
    )
    assert done.returncode == 0, done.stderr
    done.bounded()
    assert [p.name for p in out.iterdir()] == [name]  # no scratch file left behind
    assert (out / name).read_bytes() == content
    assert counts(home)["events"] == before["events"] + 1  # ACCESSED

    made = run_measured(
        env,
        "bundle",
        "create",
        "--case",
        "DANUBE",
        "--exhibits",
        ref,
        "--as",
        "Pr. Dimitrov",
        "--json",
    )
    assert made.returncode == 0, made.stderr
    bundle_id = json.loads(made.stdout)["id"]
    fetched = run_measured(
        env, "bundle", "download", bundle_id, "--out", str(out), "--as", "Pr. Dimitrov"
    )
    assert fetched.returncode == 0, fetched.stderr
    zipped = out / f"{bundle_id}.zip"
    checked = verify_cli(env, str(zipped))
    assert checked.returncode == 0 and "PASS" in checked.stdout, checked.stdout
    files = members(zipped.read_bytes())
    assert max(len(p.encode()) for p in files) < 100  # names in the ZIP are references
    [row] = schedule(zipped.read_bytes())
    assert row["title"] == "'" + name and row["native"] == f"natives/{ref}.txt"
