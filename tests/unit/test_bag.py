"""BagIt ZIPs: deterministic, streaming, checked by outside tools (bagit-python,
sha256sum, b3sum) and by verify_zip, which names what was tampered with."""

from __future__ import annotations

import hashlib
import io
import random
import struct
import subprocess
import sys
import tracemalloc
import unicodedata
import warnings
import zipfile
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import bagit
import pytest
from blake3 import blake3

from evidence.bundle.bag import BagWriter, PayloadFile, checksum_file
from evidence.bundle.bagcheck import BagReader, BagReport, verify_zip
from evidence.errors import InputError, IntegrityError, NotFound
from evidence.findings import Finding
from tests.conftest import need_tool
from tests.unit.test_purity import FORBIDDEN

WHEN = datetime(2026, 3, 14, 8, 30, 12, tzinfo=UTC)
INFO = [
    ("Source-Organization", "Operation Danube JIT, FR team"),
    ("External-Identifier", "DANUBE-FR-B-0001"),
    ("Bundle-Root-Digest", "b3:" + "ab" * 32),
]
NAME = "DANUBE-FR-B-0001"
VUKOVIC = "natives/ME-EX-0001 Vuković.pdf"


def chunks_of_native() -> Iterator[bytes]:
    """~600 KiB in 301 chunks of uneven sizes, the same every time."""
    rng = random.Random(7)
    yield b"%PDF-1.7\n"
    for i in range(300):
        yield bytes([i % 251]) * rng.randrange(1, 4096) + rng.randbytes(rng.randrange(0, 64))


NATIVE = b"".join(chunks_of_native())
PAYLOAD = {
    "bundle.pdf": b"%PDF-1.7\n% the generated bundle\n",
    VUKOVIC: NATIVE,
    "natives/ME-EX-0002.txt": b"",
    "schedule.csv": "item,exhibit\n1,ME-EX-0001 Vuković\n".encode(),
}


def checksums() -> dict[str, bytes]:
    natives = {p: d for p, d in PAYLOAD.items() if p.startswith("natives/")}
    return {
        "checksums.b3": checksum_file((p, blake3(d).hexdigest()) for p, d in natives.items()),
        "checksums.sha256": checksum_file(
            (p, hashlib.sha256(d).hexdigest()) for p, d in natives.items()
        ),
    }


def write_bag(out: object, payload: dict[str, bytes] | None = None) -> None:
    files = {**PAYLOAD, **checksums()} if payload is None else payload
    with BagWriter(out, name=NAME, when=WHEN, info=INFO) as bag:  # type: ignore[arg-type]
        for path in sorted(files):
            if path == VUKOVIC:
                d = files[path]
                expect = (len(d), blake3(d).hexdigest(), hashlib.sha256(d).hexdigest())
                bag.add_stream(path, chunks_of_native(), expect=expect)
            else:
                bag.add_bytes(path, files[path])


class Pipe:
    """A non-seekable output, like a pipe or an upload stream: write and flush only."""

    def __init__(self) -> None:
        self.data = bytearray()

    def write(self, b: bytes) -> int:
        self.data += b
        return len(b)

    def flush(self) -> None:
        pass


def build(tmp_path: Path, name: str = "bag.zip") -> Path:
    path = tmp_path / name
    with path.open("wb") as f:
        write_bag(f)
    return path


@pytest.fixture
def good(tmp_path: Path) -> bytes:
    return build(tmp_path).read_bytes()


def extract(data: bytes, into: Path) -> Path:
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        zf.extractall(into)
    return into / NAME


# ---------------------------------------------------------------- writing


def test_the_bundle_package_loads_no_framework() -> None:
    code = (
        "import sys, evidence.bundle.bag, evidence.bundle.bagcheck\n"
        f"print(sorted(m for m in sys.modules if m.split('.')[0] in {sorted(FORBIDDEN)!r}))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_same_input_gives_byte_identical_zip(tmp_path: Path) -> None:
    first, second = build(tmp_path, "1.zip"), build(tmp_path, "2.zip")
    seekable = io.BytesIO()
    write_bag(seekable)
    assert first.read_bytes() == second.read_bytes() == seekable.getvalue()


def test_non_seekable_output_is_a_valid_deterministic_bag(tmp_path: Path) -> None:
    pipes = [Pipe(), Pipe()]
    for pipe in pipes:
        write_bag(pipe)
    assert pipes[0].data == pipes[1].data
    report = verify_zip(io.BytesIO(bytes(pipes[0].data)))
    assert report.ok, report.findings
    bag = bagit.Bag(str(extract(bytes(pipes[0].data), tmp_path)))
    bag.validate()


def test_layout_tag_files_and_entry_metadata(good: bytes) -> None:
    with zipfile.ZipFile(io.BytesIO(good)) as zf:
        infos = zf.infolist()
        names = [i.filename for i in infos]
        payload = sorted([*PAYLOAD, "checksums.b3", "checksums.sha256"])
        assert names == [f"{NAME}/data/{p}" for p in payload] + [
            f"{NAME}/{t}"
            for t in (
                "bag-info.txt",
                "bagit.txt",
                "manifest-sha256.txt",
                "manifest-sha512.txt",
                "tagmanifest-sha256.txt",
                "tagmanifest-sha512.txt",
            )
        ]
        for info in infos:
            assert info.compress_type == zipfile.ZIP_STORED
            assert info.date_time == (2026, 3, 14, 8, 30, 12)
            assert info.external_attr == 0o100644 << 16 and info.create_system == 3
        read = {n.removeprefix(f"{NAME}/"): zf.read(n) for n in names}
    assert read["bagit.txt"] == b"BagIt-Version: 1.0\nTag-File-Character-Encoding: UTF-8\n"
    octets = sum(len(read[f"data/{p}"]) for p in payload)
    assert read["bag-info.txt"].decode() == (
        f"Bagging-Date: 2026-03-14\nPayload-Oxum: {octets}.{len(payload)}\n"
        "Source-Organization: Operation Danube JIT, FR team\n"
        "External-Identifier: DANUBE-FR-B-0001\n"
        f"Bundle-Root-Digest: b3:{'ab' * 32}\n"
    )
    for algorithm in ("sha256", "sha512"):
        assert read[f"manifest-{algorithm}.txt"].decode() == "".join(
            f"{hashlib.new(algorithm, read[f'data/{p}']).hexdigest()}  data/{p}\n" for p in payload
        )
        tags = ("bag-info.txt", "bagit.txt", "manifest-sha256.txt", "manifest-sha512.txt")
        assert read[f"tagmanifest-{algorithm}.txt"].decode() == "".join(
            f"{hashlib.new(algorithm, read[t]).hexdigest()}  {t}\n" for t in tags
        )
    assert read[f"data/{VUKOVIC}"] == NATIVE


def test_writer_returns_the_digests_of_what_it_wrote() -> None:
    with BagWriter(io.BytesIO(), name=NAME, when=WHEN) as bag:
        small = bag.add_bytes("a.txt", b"abc")
        streamed = bag.add_stream("b.bin", iter([b"", b"ab", b"", b"c"]))
    summary = bag.close()  # closing again returns the same summary
    sha256, sha512 = hashlib.sha256(b"abc").hexdigest(), hashlib.sha512(b"abc").hexdigest()
    assert small == PayloadFile("a.txt", 3, sha256, sha512, blake3(b"abc").hexdigest())
    assert (streamed.sha256, streamed.blake3) == (small.sha256, small.blake3)
    assert summary.oxum == "6.2" and summary.file("b.bin") == streamed
    with pytest.raises(NotFound, match="nope"):
        summary.file("nope")


def test_bagit_python_accepts_the_extracted_bag(tmp_path: Path, good: bytes) -> None:
    bag = bagit.Bag(str(extract(good, tmp_path)))
    assert bag.validate() and bag.is_valid()
    assert bag.info["External-Identifier"] == "DANUBE-FR-B-0001"
    assert bag.info["Bagging-Date"] == "2026-03-14"
    assert sorted(bag.payload_entries()) == sorted(
        f"data/{p}" for p in [*PAYLOAD, "checksums.b3", "checksums.sha256"]
    )


def test_an_empty_bag_still_has_its_data_folder(tmp_path: Path) -> None:
    out = io.BytesIO()
    with BagWriter(out, name=NAME, when=WHEN):
        pass
    report = verify_zip(io.BytesIO(out.getvalue()))
    assert report.ok and report.facts.payload_files == 0
    assert ("Payload-Oxum", "0.0") in report.facts.info
    assert bagit.Bag(str(extract(out.getvalue(), tmp_path))).is_valid()


def test_checksum_files_pass_sha256sum_and_b3sum(tmp_path: Path, good: bytes) -> None:
    sha256sum, b3sum = need_tool("sha256sum", "coreutils"), need_tool("b3sum", "b3sum")
    data = extract(good, tmp_path) / "data"
    for command in ([sha256sum, "-c", "checksums.sha256"], [b3sum, "--check", "checksums.b3"]):
        done = subprocess.run(command, cwd=data, capture_output=True, text=True)
        assert done.returncode == 0, done.stdout + done.stderr
        assert f"{VUKOVIC}: OK" in done.stdout
    native = data / VUKOVIC
    native.write_bytes(native.read_bytes().replace(b"%PDF-1.7", b"%PDF-1.4", 1))
    for command in ([sha256sum, "-c", "checksums.sha256"], [b3sum, "--check", "checksums.b3"]):
        done = subprocess.run(command, cwd=data, capture_output=True, text=True)
        assert done.returncode != 0 and f"{VUKOVIC}: FAILED" in done.stdout


def test_checksum_file_format_and_refusals() -> None:
    assert checksum_file([("b c.pdf", "00" * 32), ("a/x", "ff" * 32)]) == (
        f"{'ff' * 32}  a/x\n{'00' * 32}  b c.pdf\n".encode()
    )
    for path in ("a\nb", "a\\b", "../a", "/a", ""):
        with pytest.raises(InputError, match="checksum file"):
            checksum_file([(path, "00" * 32)])
    with pytest.raises(InputError, match="not lowercase hex"):
        checksum_file([("a", "AB" * 32)])
    with pytest.raises(InputError, match="twice"):
        checksum_file([("a", "00" * 32), ("a", "11" * 32)])


def test_expect_mismatch_names_the_path_and_abandons_the_bag() -> None:
    out = io.BytesIO()
    good = (len(NATIVE), blake3(NATIVE).hexdigest(), hashlib.sha256(NATIVE).hexdigest())
    with pytest.raises(IntegrityError, match="ME-EX-0001 Vuković.pdf") as caught:
        with BagWriter(out, name=NAME, when=WHEN) as bag:
            bag.add_bytes("bundle.pdf", b"pdf")
            bag.add_stream(VUKOVIC, chunks_of_native(), expect=(good[0], good[1], "0" * 64))
    assert "SHA-256 " + "0" * 64 in str(caught.value)
    with pytest.raises(InputError, match="abandoned"):
        bag.add_bytes("z", b"")
    with pytest.raises(InputError, match="abandoned"):
        bag.close()
    assert not zipfile.is_zipfile(io.BytesIO(out.getvalue()))  # no central directory
    assert verify_zip(io.BytesIO(out.getvalue())).findings[0].kind == "zip"


def test_expect_stops_reading_as_soon_as_there_are_too_many_bytes() -> None:
    consumed = []

    def endless() -> Iterator[bytes]:
        while True:
            consumed.append(1)
            yield b"x" * 1000

    bag = BagWriter(Pipe(), name=NAME, when=WHEN)
    with pytest.raises(IntegrityError, match="more than the 2500 bytes promised"):
        bag.add_stream("a.bin", endless(), expect=(2500, "0" * 64, "0" * 64))
    assert len(consumed) == 3
    short = BagWriter(Pipe(), name=NAME, when=WHEN)
    with pytest.raises(IntegrityError, match=r"short\.bin: read 1 bytes"):
        short.add_stream("short.bin", [b"x"], expect=(2, blake3(b"xx").hexdigest(), "0" * 64))


def test_paths_must_come_in_ascending_order_once_each() -> None:
    bag = BagWriter(io.BytesIO(), name=NAME, when=WHEN)
    bag.add_bytes("B/x", b"")
    bag.add_bytes("c", b"")
    for path, why in [
        ("A", "comes after 'c'"),
        ("B/x", "comes after"),
        ("c", "comes after"),
        ("C/y", "comes after"),  # "C" < "c" in UTF-8 byte order
        ("c/y", "needs 'c', a file"),
        ("d/../e", "'..'"),
    ]:
        with pytest.raises(InputError, match=why):
            bag.add_bytes(path, b"")
    bag.add_bytes("d", b"")  # a refused path leaves the writer usable
    assert bag.close().oxum == "0.3"


def test_paths_that_clash_on_a_case_insensitive_disk_are_refused() -> None:
    bag = BagWriter(io.BytesIO(), name=NAME, when=WHEN)
    bag.add_bytes("B/x", b"")
    with pytest.raises(InputError, match="only in case"):
        bag.add_bytes("b/X", b"")
    with pytest.raises(InputError, match="already a folder"):
        bag.add_bytes("b", b"")
    bag.add_bytes("b/y", b"")  # merges with B/ on such a disk: no clash


@pytest.mark.parametrize(
    "path",
    [
        "../x",
        "a/../x",
        "/etc/passwd",
        "a\\b",
        "a//b",
        "./a",
        "a/",
        "",
        "a\nb",
        "a\x00b",
        "C:/x",
        unicodedata.normalize("NFD", "Vuković.pdf"),
        "100%.pdf",
        "a:b",
        "what?",
        "con.txt",
        "lpt1",
        "trailing ",
        " leading",
        "dot.",
        "x" * 256,
    ],
)
def test_bad_payload_paths_are_refused(path: str) -> None:
    bag = BagWriter(io.BytesIO(), name=NAME, when=WHEN)
    with pytest.raises(InputError, match="payload path"):
        bag.add_bytes(path, b"x")
    assert bag.close().files == ()


def test_bad_bag_settings_are_refused() -> None:
    out = io.BytesIO()
    for name in ("a/b", "..", "", "x\n"):
        with pytest.raises(InputError, match="bag name"):
            BagWriter(out, name=name, when=WHEN)
    with pytest.raises(InputError, match="timezone-aware"):
        BagWriter(out, name=NAME, when=datetime(2026, 3, 14))
    with pytest.raises(InputError, match="ZIP date"):
        BagWriter(out, name=NAME, when=datetime(1970, 1, 1, tzinfo=UTC))
    for field in [("Payload-Oxum", "1.1"), ("bagging-date", "x"), ("A:B", "x"), ("A", "x\ny")]:
        with pytest.raises(InputError, match="bag-info field"):
            BagWriter(out, name=NAME, when=WHEN, info=[field])
    assert out.getvalue() == b""


def test_time_is_taken_in_utc() -> None:
    sofia = WHEN.astimezone(timezone(timedelta(hours=2)))
    a, b = io.BytesIO(), io.BytesIO()
    for out, when in ((a, WHEN), (b, sofia)):
        with BagWriter(out, name=NAME, when=when) as bag:
            bag.add_bytes("x", b"x")
    assert a.getvalue() == b.getvalue()


# ---------------------------------------------------------------- reading


def test_reader_streams_payload_files_by_path(good: bytes) -> None:
    with BagReader(io.BytesIO(good)) as reader:
        assert reader.name == NAME and reader.findings == ()
        assert reader.names() == sorted([*PAYLOAD, "checksums.b3", "checksums.sha256"])
        assert "manifest-sha512.txt" in reader.tag_names()
        assert b"".join(reader.chunks(VUKOVIC)) == NATIVE
        assert reader.read("schedule.csv") == PAYLOAD["schedule.csv"]
        assert reader.size(VUKOVIC) == len(NATIVE)
        with reader.open("bundle.pdf") as stream:
            assert stream.read() == PAYLOAD["bundle.pdf"]
        with pytest.raises(InputError, match="more than"):
            reader.read(VUKOVIC, limit=1000)
        with pytest.raises(NotFound, match="data/nope"):
            reader.read("nope")


def test_reader_refuses_what_is_not_a_zip(tmp_path: Path) -> None:
    (tmp_path / "x.zip").write_bytes(b"not a zip at all")
    with pytest.raises(InputError, match="x.zip is not a readable ZIP"):
        BagReader(tmp_path / "x.zip")
    with pytest.raises(InputError, match="nowhere.zip"):
        BagReader(tmp_path / "nowhere.zip")


def test_verify_accepts_the_bag_from_a_path_and_reports_it(tmp_path: Path) -> None:
    path = build(tmp_path)
    report = verify_zip(path)
    assert report.ok, report.findings
    facts = report.facts
    assert facts.bag == NAME and report.subject == f"bag {NAME} ({path})"
    assert facts.payload_files == 6 and facts.tag_files == 6
    assert facts.payload_bytes == sum(len(d) for d in [*PAYLOAD.values(), *checksums().values()])
    native = next(f for f in facts.files if f.path == VUKOVIC)
    assert native.blake3 == blake3(NATIVE).hexdigest()
    assert native.sha512 == hashlib.sha512(NATIVE).hexdigest()
    as_dict = report.as_dict()
    assert as_dict["ok"] is True and as_dict["findings"] == []
    assert ["External-Identifier", "DANUBE-FR-B-0001"] in as_dict["info"]
    assert "files" not in as_dict  # the digests of every file stay out of the JSON


# ---------------------------------------------------------------- tampering


def rewrite(
    data: bytes,
    change: Callable[[str, bytes], bytes | None] = lambda name, b: b,
    add: tuple[tuple[str, bytes], ...] = (),
) -> bytes:
    """The same ZIP rewritten (CRCs recomputed): ``change`` maps a member's
    name and bytes to new bytes, or ``None`` to drop it; ``add`` appends."""
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as src, zipfile.ZipFile(out, "w") as dst:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # duplicate names on purpose
            for info in src.infolist():
                new = change(info.filename.removeprefix(f"{NAME}/"), src.read(info))
                if new is not None:
                    dst.writestr(info.filename, new)
            for name, body in add:
                dst.writestr(name, body)
    return out.getvalue()


def repeats_where(f: Finding) -> bool:
    return f.message.startswith(f.where) or repr(f.where) in f.message


def problems(data: bytes) -> BagReport:
    report = verify_zip(io.BytesIO(data))
    assert not report.ok
    for f in report.findings:  # each names its place once: where, then the message
        assert f.check == "bag" and f.where and not repeats_where(f), f
        assert f.text() == f"{f.where}: {f.message}"
    return report


def has(report: BagReport, path: str, kind: str) -> bool:
    return any(f.where == path and f.kind == kind for f in report.findings)


def test_rewriting_alone_keeps_the_bag_valid(good: bytes) -> None:
    assert verify_zip(io.BytesIO(rewrite(good))).ok


def test_flipped_byte_in_a_payload_file(good: bytes) -> None:
    flipped = bytearray(good)
    at = good.index(b"%PDF-1.7\n\x00")
    flipped[at + 9] ^= 0x01
    report = problems(bytes(flipped))  # the ZIP's CRC-32 no longer matches
    assert has(report, f"data/{VUKOVIC}", "unreadable")

    def flip(name: str, b: bytes) -> bytes:
        return b[:9] + bytes([b[9] ^ 1]) + b[10:] if name == f"data/{VUKOVIC}" else b

    report = problems(rewrite(good, flip))  # CRC-32 recomputed: the manifests catch it
    mismatches = [f for f in report.findings if f.kind == "checksum"]
    assert {f.where for f in mismatches} == {f"data/{VUKOVIC}"}
    assert {m.text().split(":")[1].split()[0] for m in mismatches} == {"SHA256", "SHA512"}


def test_missing_payload_file(good: bytes) -> None:
    report = problems(rewrite(good, lambda n, b: None if n == "data/schedule.csv" else b))
    assert has(report, "data/schedule.csv", "missing")
    assert "manifest-sha256.txt, manifest-sha512.txt" in report.findings[0].message
    assert has(report, "bag-info.txt", "oxum")


def test_extra_payload_file(good: bytes) -> None:
    report = problems(rewrite(good, add=((f"{NAME}/data/planted.pdf", b"x"),)))
    assert has(report, "data/planted.pdf", "extra")
    assert has(report, "bag-info.txt", "oxum")


def test_extra_unlisted_tag_file(good: bytes) -> None:
    report = problems(rewrite(good, add=((f"{NAME}/notes.txt", b"x"),)))
    assert [(f.where, f.kind) for f in report.findings] == [("notes.txt", "extra")]


def test_edited_manifest_line(good: bytes) -> None:
    digest = hashlib.sha256(PAYLOAD["bundle.pdf"]).hexdigest()

    def edit(name: str, b: bytes) -> bytes:
        return b.replace(digest.encode(), b"0" * 64) if name == "manifest-sha256.txt" else b

    report = problems(rewrite(good, edit))
    assert has(report, "data/bundle.pdf", "checksum")
    assert has(report, "manifest-sha256.txt", "checksum")  # the tag manifests catch it too
    assert len(report.findings) == 3  # bundle.pdf, and manifest-sha256.txt in both tag manifests


def test_malformed_manifest_lines(good: bytes) -> None:
    def edit(name: str, b: bytes) -> bytes:
        if name != "manifest-sha512.txt":
            return b
        zeros = b"0" * 128
        return (
            b
            + b"nothex  data/x\n00  data/y\n"
            + zeros
            + b"  ../../etc/passwd\n"
            + zeros
            + (b"  bagit.txt\n" + zeros + b"  data/bundle.pdf\n")
        )

    report = problems(rewrite(good, edit))
    lines = [f.text() for f in report.findings if f.kind == "manifest"]
    assert len(lines) == 5 and all(m.startswith("manifest-sha512.txt: line") for m in lines)
    assert "lists data/bundle.pdf again" in lines[-1]


def test_wrong_payload_oxum(good: bytes) -> None:
    def edit(name: str, b: bytes) -> bytes:
        return b.replace(b"Payload-Oxum: ", b"Payload-Oxum: 1") if name == "bag-info.txt" else b

    report = problems(rewrite(good, edit))
    assert has(report, "bag-info.txt", "oxum")
    assert has(report, "bag-info.txt", "checksum")


def test_bad_bagit_txt(good: bytes) -> None:
    report = problems(
        rewrite(good, lambda n, b: b"\xef\xbb\xbfBagIt-Version: 9\n" if n == "bagit.txt" else b)
    )
    assert has(report, "bagit.txt", "bagit")
    report = problems(rewrite(good, lambda n, b: None if n == "bagit.txt" else b))
    assert has(report, "bagit.txt", "missing")


@pytest.mark.parametrize(
    "name",
    ["../evil.sh", f"{NAME}/data/../../evil.sh", "/etc/cron.d/evil", f"{NAME}\\..\\evil", "C:/x"],
)
def test_zip_slip_names_are_reported_not_read(good: bytes, name: str) -> None:
    report = problems(rewrite(good, add=((name, b"#!/bin/sh\n"),)))
    assert [(f.where, f.kind) for f in report.findings] == [(name, "unsafe name")]


def test_entries_outside_the_bag_folder(good: bytes) -> None:
    report = problems(rewrite(good, add=(("OTHER/data/x", b"x"), ("toplevel.txt", b"x"))))
    assert {(f.where, f.kind) for f in report.findings} == {
        ("OTHER/data/x", "outside"),
        ("toplevel.txt", "outside"),
    }


def test_duplicated_names(good: bytes) -> None:
    report = problems(rewrite(good, add=((f"{NAME}/data/bundle.pdf", b"forged"),)))
    assert has(report, "data/bundle.pdf", "duplicate")
    assert has(report, "data/bundle.pdf", "checksum")  # the forged copy is checked too
    with BagReader(io.BytesIO(rewrite(good, add=((f"{NAME}/data/bundle.pdf", b"f"),)))) as r:
        with pytest.raises(IntegrityError, match="more than once"):
            r.read("bundle.pdf")


def central(data: bytes, name: str) -> int:
    """Offset of ``name``'s central directory header."""
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        at = zf.start_dir
    while True:
        length = struct.unpack_from("<H", data, at + 28)[0]
        if data[at + 46 : at + 46 + length].decode() == name:
            return at
        extra, comment = struct.unpack_from("<HH", data, at + 30)
        at += 46 + length + extra + comment


def patch(data: bytes, name: str, field: int, fmt: str, value: int) -> bytes:
    out = bytearray(data)
    struct.pack_into(fmt, out, central(data, name) + field, value)
    return bytes(out)


def test_huge_declared_sizes(good: bytes) -> None:
    name = f"{NAME}/data/schedule.csv"
    report = problems(patch(good, name, 24, "<I", 0xFFFFFFF0))  # uncompressed size
    assert has(report, "data/schedule.csv", "size")
    report = problems(patch(good, name, 20, "<I", 0xFFFFFFF0))  # compressed size
    assert has(report, "data/schedule.csv", "size")
    assert "the ZIP has" in next(f.message for f in report.findings if f.kind == "size")


def test_overlapping_entries_are_not_read(good: bytes) -> None:
    report = problems(patch(good, f"{NAME}/data/schedule.csv", 42, "<I", 0))  # header offset
    assert has(report, "data/schedule.csv", "size") or has(report, "data/bundle.pdf", "size")


def test_encrypted_entry(good: bytes) -> None:
    name = f"{NAME}/data/bundle.pdf"
    flags = struct.unpack_from("<H", good, central(good, name) + 8)[0]
    report = problems(patch(good, name, 8, "<H", flags | 1))
    assert has(report, "data/bundle.pdf", "encrypted")


def test_not_a_zip(tmp_path: Path) -> None:
    path = tmp_path / "bundle.zip"
    path.write_bytes(b"%PDF-1.7 this is not a zip\n")
    report = verify_zip(path)
    assert [(f.where, f.kind) for f in report.findings] == [(str(path), "zip")]
    assert report.findings[0].text().startswith(f"{path}: not a readable ZIP file")
    missing = verify_zip(tmp_path / "missing.zip").findings[0]
    assert missing.kind == "zip" and str(tmp_path) not in missing.message
    assert not verify_zip(io.BytesIO(b"")).ok


def test_damage_anywhere_never_raises(good: bytes) -> None:
    rng = random.Random(4)
    for _ in range(300):
        damaged = bytearray(good)
        for _ in range(rng.randrange(1, 4)):
            damaged[rng.randrange(len(damaged))] = rng.randrange(256)
        verify_zip(io.BytesIO(bytes(damaged)))  # must not raise
    for cut in rng.sample(range(len(good)), 40):
        assert not verify_zip(io.BytesIO(good[:cut])).ok


# ---------------------------------------------------------------- memory


def test_memory_stays_bounded_for_a_256_mib_payload(tmp_path: Path) -> None:
    chunk, count = 1024 * 1024, 256

    def generated() -> Iterator[bytes]:
        for i in range(count):
            yield i.to_bytes(4, "big") * (chunk // 4)  # a new 1 MiB buffer each time

    path = tmp_path / "big.zip"
    tracemalloc.start()
    try:
        with path.open("wb") as f, BagWriter(f, name=NAME, when=WHEN) as bag:
            big = bag.add_stream("natives/big.bin", generated())
        _, written_peak = tracemalloc.get_traced_memory()
        tracemalloc.reset_peak()
        report = verify_zip(path)
        _, verified_peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert big.size == chunk * count and report.ok and report.facts.payload_bytes == chunk * count
    assert report.facts.files[0].sha512 == big.sha512
    assert written_peak < 16 * 1024 * 1024, written_peak
    assert verified_peak < 16 * 1024 * 1024, verified_peak
