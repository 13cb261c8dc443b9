"""The bundle's contract (evidence/bundle/layout.py): Bates numbers, bag-info
fields in their order, the bundle id pattern, the load file's round trip, the
cells a spreadsheet would run, escaped reversibly, and the read limits."""

from __future__ import annotations

import csv
import hashlib
import io
import random
from datetime import UTC, datetime

from evidence.bundle import layout
from evidence.ledger import canonical_json
from evidence.limits import TEXT_MAX_CHARS

AT = datetime(2026, 3, 14, 9, 30, tzinfo=UTC)
IDENTITY = layout.Identity("DANUBE-FR-B-0001", "DANUBE", "FR", "Pr. Dubois", AT)


def test_bates_numbers_are_the_prefix_and_six_digits() -> None:
    prefix = layout.bates_prefix("DANUBE", "FR")
    assert prefix == "DANUBE-FR" and layout.BATES_PREFIX.match(prefix)
    assert layout.bates(prefix, 123) == "DANUBE-FR-000123"
    assert layout.bates(prefix, 1_234_567) == "DANUBE-FR-1234567"


def test_bag_info_is_every_field_once_in_order() -> None:
    info = layout.bag_info(IDENTITY, "ab" * 32, (7, "cd" * 32), (9, "ef" * 32))
    assert [label for label, _ in info] == list(layout.INFO_FIELDS)
    assert info == [
        ("External-Identifier", "DANUBE-FR-B-0001"),
        ("Bundle-Case", "DANUBE"),
        ("Bundle-Team", "FR"),
        ("Bundle-Prosecutor", "Pr. Dubois"),
        ("Bundle-Created", "2026-03-14T09:30:00.000000Z"),
        ("Bundle-Root-Digest", "ab" * 32),
        ("Ledger-Head", f"7 {'cd' * 32}"),
        ("Bundle-Seal", f"9 {'ef' * 32}"),
    ]
    head = layout.LEDGER_HEAD.fullmatch(info[-2][1])
    assert head is not None and (int(head[1]), head[2]) == (7, "cd" * 32)


def test_the_bundle_id_pattern_names_case_and_team() -> None:
    pattern = layout.bundle_id_pattern("DANUBE", "FR")
    assert pattern.fullmatch("DANUBE-FR-B-0001") and pattern.fullmatch("DANUBE-FR-B-12345")
    for other in ("DANUBE-BG-B-0001", "DANUBE-FR-B-001", "DANUBE-FR-0001", "X-DANUBE-FR-B-0001"):
        assert not pattern.fullmatch(other), other


def test_a_load_file_line_reads_back_to_its_fields() -> None:
    row = {
        "begbates": "DANUBE-FR-000005",
        "endbates": "DANUBE-FR-000007",
        "reference": "BG-EX-0001",
        "native": "natives/BG-EX-0001.pdf",
        "size": 10,
        "sha256": "b" * 64,
        "blake3": "a" * 64,
    }
    header, line = layout.load_file([row]).decode().splitlines()
    assert layout.load_fields(header) == list(layout.LOAD_FIELDS)
    assert layout.load_fields(line) == [
        str(row[layout.LOAD_COLUMNS[f]]) for f in layout.LOAD_FIELDS
    ]
    for bad in ("BG-EX-0001", "\u00feBG\u00feEX\u00fe", "\u00fe"):
        assert layout.load_fields(bad) is None, bad


def test_the_seal_is_the_sha256_of_the_manifest_lines_outside_the_ledger_folder() -> None:
    """``grep -v '  data/ledger/' manifest-sha256.txt | sha256sum``."""
    files = [
        ("schedule.csv", "11" * 32),
        ("ledger/custody.jsonl", "22" * 32),
        ("bundle.pdf", "33" * 32),
        ("ledger/proofs/1.tlog-proof", "44" * 32),
    ]
    lines = f"{'33' * 32}  data/bundle.pdf\n{'11' * 32}  data/schedule.csv\n"
    assert layout.seal_digest(files) == hashlib.sha256(lines.encode()).hexdigest()
    assert layout.sealed("natives/BG-EX-0001.pdf") and not layout.sealed("ledger/checkpoint")


def test_a_cell_that_a_spreadsheet_would_run_is_escaped_reversibly() -> None:
    for value in ("=1+1", "+1", "-2+3", "@SUM(A1)", "\t=1", "\r=1", "'already", "''"):
        cell = layout.csv_cell(value)
        assert cell == "'" + value and cell[1:] == value, value
    for value in ("BG-EX-0001", "1024", "a = b", " =1", "", "é"):
        assert layout.csv_cell(value) == value, value
    assert layout.csv_cell(-1) == "'-1"  # any value, as its text


def test_the_csv_reads_back_exactly_and_is_what_pythons_writer_writes_without_a_cr() -> None:
    rng = random.Random(7)
    alphabet = ["a", ",", '"', "\r", "\n", " ", "=", "'", "é", "\t", "-"]
    for _ in range(2000):
        rows = [
            ["".join(rng.choice(alphabet) for _ in range(rng.randrange(5))) for _ in range(3)]
            for _ in range(rng.randrange(1, 4))
        ]
        data = layout.csv_document(("a", "b", "c"), rows).decode()
        cells = [[layout.csv_cell(v) for v in row] for row in rows]
        assert list(csv.reader(io.StringIO(data, newline=""))) == [["a", "b", "c"], *cells]
        if "\r" not in data:  # Python's writer leaves a lone CR unquoted: the one difference
            out = io.StringIO()
            csv.writer(out, lineterminator="\n").writerows([["a", "b", "c"], *cells])
            assert out.getvalue() == data


def test_the_limits_are_what_a_text_at_the_ingest_limit_needs() -> None:
    assert layout.CELL_MAX_CHARS == TEXT_MAX_CHARS + 1
    widest = '"' * layout.CELL_MAX_CHARS  # each doubled, and the cell quoted
    row = {f: widest for f in layout.SCHEDULE_FIELDS}
    assert len(layout.schedule_csv([row])) <= layout.table_max_bytes(len(layout.SCHEDULE_FIELDS), 1)
    # INGESTED's six texts at the limit, each character the costliest in JSON (\u0001)
    details = {f"text{i}": "\x01" * TEXT_MAX_CHARS for i in range(6)}
    assert 6 * 6 * TEXT_MAX_CHARS < len(canonical_json(details)) < layout.EVENT_LINE_MAX_BYTES // 5
