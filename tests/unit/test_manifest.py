from __future__ import annotations

import json
import os
from datetime import UTC, datetime
from pathlib import Path

import pytest

from evidence import manifest
from evidence.errors import InputError, ManifestError
from evidence.limits import (
    JSON_MAX_DEPTH,
    MANIFEST_CELL_MAX_CHARS,
    MANIFEST_MAX_BYTES,
    MANIFEST_MAX_ROWS,
    TEXT_MAX_CHARS,
)
from evidence.manifest import SHOWN_PROBLEMS
from evidence.models import DeclaredHash, ExhibitMetadata, Handling, HandlingCode

FILES = ["phone-01/chats/export.txt", "phone-01/photos/a.png", "invoice.pdf"]


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_csv_rows_map_to_files_by_path_or_unique_name(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "m.csv",
        (
            "path,title,seized_at,seized_by,hash_algorithm,hash\n"
            "phone-01/chats/export.txt,Chat,2026-03-14T08:00:00+02:00,Petrova,,\n"
            "invoice.pdf,Invoice,2026-03-14,,sha1," + "ab" * 20 + "\n"
        ),
    )
    result = manifest.load(path, FILES)
    assert result["phone-01/chats/export.txt"].seized_at == datetime(2026, 3, 14, 6, 0, tzinfo=UTC)
    assert result["invoice.pdf"].declared == DeclaredHash("sha1", "ab" * 20)
    assert "phone-01/photos/a.png" not in result


def test_json_list_is_accepted(tmp_path: Path) -> None:
    path = write(
        tmp_path, "m.json", json.dumps([{"path": "a.png", "title": "Photo", "seized_from": "Van"}])
    )
    assert manifest.load(path, FILES)["phone-01/photos/a.png"].seized_from == "Van"


def test_every_problem_is_reported_at_once(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "m.csv",
        (
            "path,title,seized_at\n"
            "invoice.pdf,Invoice,14/03/2026\n"
            "../etc/passwd,x,\n"
            "missing.txt,x,\n"
            "export.txt,Chat,2026-03-14T08:00:00\n"
        ),
    )
    with pytest.raises(ManifestError) as info:
        manifest.load(path, FILES)
    text = str(info.value)
    assert "line 2" in text and "'14/03/2026' is not a date" in text
    assert "line 3" in text and "inside the folder" in text
    assert "line 4" in text and "not among the files" in text
    assert "line 5" in text and "no UTC offset" in text
    assert "nothing was stored" in text


def test_unknown_csv_column_is_refused_with_the_allowed_list(tmp_path: Path) -> None:
    path = write(tmp_path, "m.csv", "path,titel\ninvoice.pdf,x\n")
    with pytest.raises(ManifestError, match="unknown column.*'titel'.*allowed: path, title"):
        manifest.load(path, FILES)


def test_bad_declared_hash_names_the_row(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "m.json",
        json.dumps([{"path": "invoice.pdf", "hash_algorithm": "crc32", "hash": "ab"}]),
    )
    with pytest.raises(ManifestError, match="item 1.*crc32"):
        manifest.load(path, FILES)


def test_ambiguous_name_and_double_description(tmp_path: Path) -> None:
    files = ["a/x.txt", "b/x.txt"]
    path = write(tmp_path, "m.csv", "path,title\nx.txt,1\na/x.txt,2\na/x.txt,3\n")
    with pytest.raises(ManifestError, match="several files.*\n.*described twice"):
        manifest.load(path, files)


def test_flags_fill_what_the_manifest_leaves_empty() -> None:
    defaults = ExhibitMetadata(description="Border", seized_by="Petrova")
    merged = manifest.merge(defaults, ExhibitMetadata(title="Chat", seized_by="Ivanov"))
    assert (merged.title, merged.description, merged.seized_by) == ("Chat", "Border", "Ivanov")


def test_time_parsing_errors_say_what_to_do() -> None:
    with pytest.raises(InputError, match="ISO 8601"):
        manifest.parse_time("yesterday", "--seized-at")


def test_handling_codes_come_from_the_manifest_or_the_flags(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "m.csv",
        "path,handling_code,handling_note\nexport.txt,H3,Not to be shown to ME\na.png,h2,\n",
    )
    rows = manifest.load(path, FILES)
    assert rows["phone-01/chats/export.txt"].handling == Handling(
        HandlingCode.H3, "Not to be shown to ME"
    )
    assert rows["phone-01/photos/a.png"].handling == Handling(HandlingCode.H2)
    flags = manifest.from_fields({"handling": "H1"})
    assert manifest.merge(flags, rows["phone-01/photos/a.png"]).handling == Handling(
        HandlingCode.H2
    )
    assert manifest.merge(flags, ExhibitMetadata(title="x")).handling == Handling(HandlingCode.H1)
    assert manifest.from_fields({}).handling is None
    bad = write(tmp_path, "bad.csv", "path,handling_code\ninvoice.pdf,H3\n")
    with pytest.raises(ManifestError, match="line 2: handling code H3 needs the restriction"):
        manifest.load(bad, FILES)
    with pytest.raises(InputError, match="handling: handling code 'H9' is not valid") as bad_code:
        manifest.from_fields({"handling": "H9"})
    assert bad_code.value.field == "handling"
    with pytest.raises(InputError, match="H3 needs the restriction") as no_note:
        manifest.from_fields({"handling": "H3"})
    assert no_note.value.field == "handling_note"  # the CLI and the web name their own option


# -- values arrive exactly as written, or are refused ---------------------------------


def write_bytes(tmp_path: Path, name: str, data: bytes) -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


def refused(path: Path, *fragments: str, files: list[str] = FILES) -> str:
    with pytest.raises(ManifestError) as info:
        manifest.load(path, files)
    text = str(info.value)
    for fragment in fragments:
        assert fragment in text, text
    return text


def test_csv_text_keeps_its_line_breaks_spaces_and_separators(tmp_path: Path) -> None:
    description = " two\r\nlines\nand\u2028a line separator\u2029a paragraph\rend "
    path = write_bytes(
        tmp_path,
        "m.csv",
        (
            'path,title,description,seized_by\r\ninvoice.pdf," Invoice ","'
            + description
            + '",Petrova \u2028\r\n'
        ).encode(),
    )
    meta = manifest.load(path, FILES)["invoice.pdf"]
    assert (meta.title, meta.description, meta.seized_by) == (
        " Invoice ",
        description,
        "Petrova \u2028",
    )


def test_a_record_over_several_lines_is_named_by_its_first_line(tmp_path: Path) -> None:
    path = write(tmp_path, "m.csv", 'path,description\ninvoice.pdf,"a\nb\nc"\nmissing.txt,x\n')
    refused(path, "line 5: 'missing.txt' is not among the files")


def test_json_text_is_kept_as_written_and_null_is_no_value(tmp_path: Path) -> None:
    item = {"path": "invoice.pdf", "title": "x\u2028y\n", "description": None, "seized_by": " "}
    path = write(tmp_path, "m.json", json.dumps({"items": [item]}))
    meta = manifest.load(path, FILES)["invoice.pdf"]
    assert (meta.title, meta.description, meta.seized_by) == ("x\u2028y\n", "", " ")


def test_a_column_or_key_given_twice_is_refused_not_last_wins(tmp_path: Path) -> None:
    csv_path = write(tmp_path, "m.csv", "path,title,title\ninvoice.pdf,A,B\n")
    refused(csv_path, "m.csv", "'title' given twice in the header")
    json_path = write(tmp_path, "m.json", '[{"path": "invoice.pdf", "title": "A", "title": "B"}]')
    refused(json_path, "m.json, item 1: 'title' given twice")
    wrapped = write(tmp_path, "w.json", '{"items": [], "items": [{"path": "invoice.pdf"}]}')
    refused(wrapped, "expected a list of objects")


@pytest.mark.parametrize(
    ("text", "said"),
    [
        ('path,title\ninvoice.pdf,"Invoice"x\n', "line 2: not valid CSV"),
        ('path,title\ninvoice.pdf,"open\n', "not valid CSV"),
        ("path,title\ninvoice.pdf,a,b\n", "line 2: 3 cells, but the header has 2 columns"),
        ("title\nInvoice\n", "no 'path' column"),
        ("", "empty; give a header"),
    ],
)
def test_csv_that_is_not_well_formed_is_refused(tmp_path: Path, text: str, said: str) -> None:
    refused(write(tmp_path, "m.csv", text), said)


@pytest.mark.parametrize(
    ("value", "said"),
    [
        ("1", "title: a number where text is expected; quote it"),
        ("1" + "0" * 5000, "title: a number"),  # past int's digit limit: no ValueError
        ("NaN", "title: a number"),
        ("true", "title: true or false"),
        ('["a"]', "title: a list"),
        ('{"en": "a"}', "title: an object"),
        ('"\\ud800"', "item 1: title is not valid Unicode text"),
        ('"a\\u0000b"', "item 1: title holds a NUL character"),
    ],
)
def test_a_json_value_must_be_text_that_can_be_stored(
    tmp_path: Path, value: str, said: str
) -> None:
    refused(write(tmp_path, "m.json", f'[{{"path": "invoice.pdf", "title": {value}}}]'), said)


def test_json_of_another_shape_is_refused(tmp_path: Path) -> None:
    refused(write(tmp_path, "a.json", '{"items": [], "case": "DANUBE"}'), "expected a list")
    refused(
        write(tmp_path, "b.json", '["invoice.pdf"]'),
        "item 1: expected an object of fields, got text",
    )
    refused(write(tmp_path, "c.json", '[{"path": "x.pdf"'), "invalid JSON at line 1, column")


def test_bytes_that_are_not_utf8_are_named_by_line(tmp_path: Path) -> None:
    latin = write_bytes(tmp_path, "m.csv", "path,title\ninvoice.pdf,Caf\xe9\n".encode("latin-1"))
    refused(latin, "m.csv: not UTF-8 text (line 2); save it as UTF-8")
    with_bom = write_bytes(tmp_path, "b.json", b'\xef\xbb\xbf[{"path": "invoice.pdf"}]')
    assert list(manifest.load(with_bom, FILES)) == ["invoice.pdf"]


def test_only_a_regular_file_is_read(tmp_path: Path) -> None:
    refused(tmp_path / "none.csv", "none.csv: no such file")
    (tmp_path / "folder.csv").mkdir()
    refused(tmp_path / "folder.csv", "folder.csv: is a folder")
    os.mkfifo(tmp_path / "pipe.csv")  # nobody writes to it: opening it must not wait
    refused(tmp_path / "pipe.csv", "pipe.csv: not a regular file")
    (tmp_path / "zero.json").symlink_to("/dev/zero")
    refused(tmp_path / "zero.json", "zero.json: not a regular file")
    refused(write(tmp_path, "m.txt", "path\n"), "use a .csv or .json file")


def test_the_file_size_is_checked_before_it_is_read(tmp_path: Path) -> None:
    item = b'[{"path": "invoice.pdf"}]'
    at_limit = write_bytes(tmp_path, "at.json", item + b" " * (MANIFEST_MAX_BYTES - len(item)))
    assert list(manifest.load(at_limit, FILES)) == ["invoice.pdf"]
    over = write_bytes(tmp_path, "over.json", at_limit.read_bytes() + b" ")
    refused(over, f"{MANIFEST_MAX_BYTES + 1:,} bytes, over the limit")
    huge = tmp_path / "huge.csv"
    with huge.open("wb") as file:
        file.truncate(10 * 1024**3)  # sparse: 10 GiB that would take long to read
    refused(huge, "huge.csv: 10,737,418,240 bytes, over the limit of 16,777,216 (16 MiB)")


def test_rows_up_to_the_limit(tmp_path: Path) -> None:
    files = [f"f{i}" for i in range(MANIFEST_MAX_ROWS + 1)]
    rows = "".join(f"f{i},T{i}\n" for i in range(MANIFEST_MAX_ROWS))
    at_limit = write(tmp_path, "at.csv", "path,title\n" + rows)
    assert len(manifest.load(at_limit, files)) == MANIFEST_MAX_ROWS
    refused(write(tmp_path, "over.csv", "path,title\n" + rows + "f,x\n"), "more than 50,000 rows")
    items = [{"path": name} for name in files]
    refused(write(tmp_path, "over.json", json.dumps(items)), "more than 50,000 rows")


def test_a_cell_up_to_the_limit(tmp_path: Path) -> None:
    at_limit = "é" * MANIFEST_CELL_MAX_CHARS
    path = write(tmp_path, "at.csv", f"path,description\ninvoice.pdf,{at_limit}\n")
    assert manifest.load(path, FILES)["invoice.pdf"].description == at_limit
    over = write(tmp_path, "over.csv", f"path,description\ninvoice.pdf,{at_limit}é\n")
    refused(over, "line 2, description: 65,537 characters, over the limit of 65,536")
    # Over the csv module's own field limit (131,072): the line is named.
    huge = write(tmp_path, "huge.csv", f"path,title\ninvoice.pdf,x\nx.txt,{'x' * 200_000}\n")
    refused(huge, "huge.csv, line 3: a cell over the limit of 65,536 characters")
    two_mib = json.dumps([{"path": "invoice.pdf", "description": "x" * 2 * 1024**2}])
    refused(write(tmp_path, "m.json", two_mib), "item 1, description: 2,097,152 characters")


def test_json_nesting_up_to_the_limit(tmp_path: Path) -> None:
    def nested(depth: int) -> str:  # the list, an item, then lists in its title
        return '[{"path": "invoice.pdf", "title": ' + "[" * (depth - 2) + "]" * (depth - 2) + "}]"

    refused(write(tmp_path, "at.json", nested(JSON_MAX_DEPTH)), "item 1, title: a list")
    deeper = f"nested deeper than {JSON_MAX_DEPTH} levels, the limit"
    refused(write(tmp_path, "over.json", nested(JSON_MAX_DEPTH + 1)), deeper)
    refused(write(tmp_path, "deep.json", "[" * 100_000 + "]" * 100_000), deeper)
    in_text = [{"path": "invoice.pdf", "title": "[" * 60_000}]  # a bracket in text is text
    assert manifest.load(write(tmp_path, "text.json", json.dumps(in_text)), FILES)


def test_json_with_more_values_than_the_row_limit_holds_is_refused_unparsed(
    tmp_path: Path,
) -> None:
    many = '[{"path": "invoice.pdf", "title": [' + ",".join(["1"] * 1_100_000) + "]}]"
    refused(write(tmp_path, "m.json", many), "more JSON values than 50,000 objects")


def test_many_problems_are_counted_past_the_first(tmp_path: Path) -> None:
    rows = "".join(f"missing-{i}.txt\n" for i in range(SHOWN_PROBLEMS + 7))
    text = refused(write(tmp_path, "m.csv", "path\n" + rows), "... and 7 more")
    assert text.count("not among the files") == SHOWN_PROBLEMS


# -- the one limit on metadata text, however it arrives -----------------------------


@pytest.mark.parametrize("field", ["title", "description", "seized_by", "seized_from"])
def test_a_text_field_over_the_limit_is_refused_by_name(field: str) -> None:
    assert getattr(manifest.from_fields({field: "x" * TEXT_MAX_CHARS}), field) == "x" * 65_536
    with pytest.raises(InputError, match=f"{field} is 2,097,152 characters long") as info:
        manifest.from_fields({field: "x" * 2 * 1024**2})
    assert info.value.field == field and "65,536" in str(info.value)


def test_the_handling_note_has_the_same_limit_and_is_kept_as_written() -> None:
    note = " Not to be shown to ME\n"
    assert manifest.from_fields({"handling": "H3", "handling_note": note}).handling == Handling(
        HandlingCode.H3, note
    )
    with pytest.raises(InputError, match="handling_note is 65,537 characters") as info:
        manifest.from_fields({"handling": "H3", "handling_note": "x" * (TEXT_MAX_CHARS + 1)})
    assert info.value.field == "handling_note"


def test_text_that_cannot_be_stored_is_refused_by_name() -> None:
    with pytest.raises(InputError, match="holds a NUL character") as nul:
        ExhibitMetadata(description="a\0b")
    assert nul.value.field == "description"
    with pytest.raises(InputError, match="not valid Unicode text") as surrogate:
        manifest.from_fields({"seized_by": "Petrov\udcff"})  # a name in bytes not UTF-8
    assert surrogate.value.field == "seized_by"
