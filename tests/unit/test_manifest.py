from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from evidence import manifest
from evidence.errors import InputError, ManifestError
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
