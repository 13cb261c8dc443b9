"""Files that arrive over the network: one upload (the web's upload page,
``POST /api/v1/cases/{case}/exhibits``), or a **batch**, many files in one
request body (the CLI in client mode), each with the digests the sender
computed, so the bytes are checked end to end before anything is recorded.

The batch format, the contract between ``app.client`` (which writes it) and
the server (which reads it with ``frames``)::

    batch  := frame* end
    frame  := u32be(n) header body     n: 1..HEADER_MAX bytes
    header := JSON object {"path", "size", "blake3", "sha256", "fields"}
    body   := exactly header.size bytes
    end    := u32be(0)

``path`` is the file's name relative to what the sender was given ('/'
between folders, as ``jitev ingest`` keeps it); ``fields`` are the exhibit's
metadata by the upload's field names (``title``, ``description``,
``seized_at``...). Each file is streamed once through the digests into the
store, in groups made durable together, and each group is committed in one
transaction (store → verify → commit, as ``evidence.ingest``). A file whose
bytes do not give the sender's digests is ``CHANGED`` and not recorded. A
batch that breaks off (the sender killed, a bad header) keeps every group
already committed and the files already stored whole: the sender's next run
finds them by their hashes and does not send them again.
"""

from __future__ import annotations

import json
import re
import struct
import uuid
from collections.abc import Collection, Iterator
from dataclasses import dataclass, replace
from pathlib import PurePosixPath

from evidence import policy
from evidence.errors import InputError, JitevError
from evidence.ingest import IngestPlan, PlannedFile, Stored, Unreadable, commit, store_stream
from evidence.manifest import from_fields
from evidence.models import Exhibit, ExhibitMetadata, Person
from evidence.outcomes import Outcome, OutcomeStatus
from evidence.policy import Right
from evidence.ports import ByteStream, Catalog, ObjectStore
from evidence.sizes import KiB
from evidence.sources import SourceFile

HEADER_MAX = 64 * KiB  # one file's header, its metadata included
BATCH_MAX_FILES = 1000  # files in one request
GROUP_FILES = 200  # files made durable and committed together
PATH_MAX = 16 * KiB  # bytes of a relative path as sent: 4 KiB, each byte escaped (\xNN)
_HEX64 = re.compile("^[0-9a-f]{64}$")
_HEX = re.compile("^[0-9a-f]+$")
HEADER = {"path", "size", "blake3", "sha256", "fields"}
_LENGTH = struct.Struct(">I")
FIELDS = (
    "title",
    "description",
    "seized_at",
    "seized_by",
    "seized_from",
    "declared_hash",
    "handling",
    "handling_note",
)


@dataclass(frozen=True, slots=True)
class Arrival:
    """One file of a batch: what the sender says, and its bytes (``body``:
    read exactly ``planned.source.size`` of them before the next file)."""

    planned: PlannedFile
    blake3: str
    sha256: str
    body: ByteStream


def ingest_upload(
    store: ObjectStore,
    catalog: Catalog,
    *,
    case_id: str,
    actor: str,
    name: str,
    length: int,
    body: ByteStream,
    metadata: ExhibitMetadata,
) -> Outcome:
    """Ingest one file that arrives as a stream (an upload over HTTP) into the
    actor's team: the same checks, one-pass hashing, store → verify → commit
    and custody events as ``jitev ingest``, as a run of one file. ``body``
    must give exactly ``length`` bytes, or it raises and nothing is
    recorded."""
    plan = _plan(catalog, case_id, actor)
    planned = PlannedFile(SourceFile.uploaded(name, length), metadata)  # title: the name
    stored = store_stream(store, plan.team, planned, body)
    run = catalog.start_run(case_id, plan.team, actor, plan.fingerprint)
    [outcome] = commit(catalog, plan, run, [stored])
    catalog.finish_run(run.id)
    return outcome


def ingest_batch(
    store: ObjectStore,
    catalog: Catalog,
    *,
    case_id: str,
    actor: str,
    arrivals: Iterator[Arrival],
) -> list[Outcome]:
    """Ingest a batch (``frames``) into the actor's team: each file checked
    against the sender's digests, groups of ``GROUP_FILES`` stored durably
    together and then committed. On an error (a bad header, the body cut
    off) what was stored whole is committed first, then the error raised."""
    plan = _plan(catalog, case_id, actor)
    run = catalog.start_run(case_id, plan.team, actor, plan.fingerprint)
    outcomes: list[Outcome] = []
    try:
        done = False
        while not done:
            group: list[Stored | Unreadable] = []
            failed: JitevError | None = None
            with store.group() as writer:
                try:
                    for arrival in arrivals:
                        stored = store_stream(writer, plan.team, arrival.planned, arrival.body)
                        group.append(_checked(arrival, stored))
                        if len(group) >= GROUP_FILES:
                            break
                    else:
                        done = True
                except JitevError as exc:  # this file failed; the group's others are whole
                    failed = exc
            if group:  # durable once the group closed
                outcomes += commit(catalog, plan, run, group)
            if failed is not None:
                raise failed
    finally:
        catalog.finish_run(run.id)
    return outcomes


def committed(
    catalog: Catalog, person: Person, case_id: str, digests: Collection[str]
) -> list[Exhibit]:
    """The exhibits of ``person``'s team in the case with these BLAKE3
    digests: what a sender need not send again (its team's own exhibits only:
    whether another team holds some content is not the sender's to learn)."""
    case = catalog.case(case_id)
    policy.decide(person, Right.INGEST, case=case, team=person.team).require()
    found = catalog.exhibits_by_blake3(case_id, digests).values()
    return [ex for ex in found if ex.team == person.team]


def _plan(catalog: Catalog, case_id: str, actor: str) -> IngestPlan:
    person = catalog.person(actor)
    case = catalog.case(case_id)
    policy.decide(person, Right.INGEST, case=case, team=person.team).require()
    return IngestPlan(case, person.team, actor, [], [], uuid.uuid4().hex)


def _checked(arrival: Arrival, stored: Stored) -> Stored | Unreadable:
    """The stored file, or ``CHANGED`` when its bytes are not the sender's."""
    d = stored.digests
    if (d.blake3, d.sha256) == (arrival.blake3, arrival.sha256):
        return stored
    reason = (
        f"{arrival.planned.source.relative}: the bytes that arrived (SHA-256 {d.sha256}) are "
        f"not those the sender hashed ({arrival.sha256}): the file changed while it was sent, "
        "or was damaged on the way; nothing was recorded: send it again"
    )
    return Unreadable(arrival.planned, reason, stored.stored, OutcomeStatus.CHANGED)


# -- the batch format ------------------------------------------------------------


def frame_header(
    path: str, size: int, blake3: str, sha256: str, fields: dict[str, str], raw_name: str = ""
) -> bytes:
    """A file's frame header, its length first (the sender's side); ``raw_name``
    the name's bytes in hex when they are not UTF-8 (``SourceFile.raw_name``)."""
    header: dict[str, object] = {
        "path": path, "size": size, "blake3": blake3, "sha256": sha256, "fields": fields,
    }  # fmt: skip
    if raw_name:
        header["raw_name"] = raw_name
    encoded = json.dumps(header, ensure_ascii=False, separators=(",", ":")).encode()
    if len(encoded) > HEADER_MAX:
        raise InputError(f"{path}: its metadata is over {HEADER_MAX // KiB} KiB: shorten it")
    return _LENGTH.pack(len(encoded)) + encoded


END = _LENGTH.pack(0)


def frames(body: ByteStream, what: str, max_size: int) -> Iterator[Arrival]:
    """The files of a batch, read from ``body`` in order (``what`` names the
    request in messages). Each file's bytes must be read before the next is
    asked for. A header that is not valid is an ``InputError`` naming the
    file's position and path."""
    for number in range(1, BATCH_MAX_FILES + 2):
        length = _LENGTH.unpack(_exactly(body, _LENGTH.size, what))[0]
        if length == 0:
            return
        if number > BATCH_MAX_FILES:
            raise InputError(f"{what}: more than {BATCH_MAX_FILES} files: send them in batches")
        if length > HEADER_MAX:
            raise InputError(f"{what}: file {number}'s header is over {HEADER_MAX // KiB} KiB")
        where = f"{what}, file {number}"
        planned, blake3, sha256 = _header(_exactly(body, length, what), where, max_size)
        part = _Part(body, planned.source.size, f"{where} ({planned.source.relative[:200]!r})")
        yield Arrival(planned, blake3, sha256, part)
        if part.left:
            raise InputError(f"{what}, file {number}: its bytes were not all read")


def _exactly(body: ByteStream, size: int, what: str) -> bytes:
    data = body.read(size)
    if len(data) != size:
        raise InputError(f"{what} ended in the middle of a frame: nothing more was recorded")
    return data


def _header(raw: bytes, where: str, max_size: int) -> tuple[PlannedFile, str, str]:
    try:
        header = json.loads(raw)
    except (ValueError, RecursionError) as exc:
        raise InputError(f"{where}: the header is not JSON") from exc
    if not isinstance(header, dict) or not HEADER <= set(header) <= {*HEADER, "raw_name"}:
        raise InputError(
            f"{where}: the header needs exactly path, size, blake3, sha256, fields "
            "(and raw_name, for a name that is not UTF-8)"
        )
    path, size, fields = header["path"], header["size"], header["fields"]
    if not isinstance(path, str):
        raise InputError(f"{where}: path must be a text")
    where = f"{where} ({path[:200]!r})"
    if not isinstance(size, int) or isinstance(size, bool) or not 0 <= size <= max_size:
        raise InputError(f"{where}: size must be a whole number from 0 to {max_size}")
    for algorithm in ("blake3", "sha256"):
        if not isinstance(header[algorithm], str) or not _HEX64.match(header[algorithm]):
            raise InputError(f"{where}: {algorithm} must be 64 lowercase hex digits")
    if not isinstance(fields, dict) or not all(
        k in FIELDS and isinstance(v, str) for k, v in fields.items()
    ):
        raise InputError(f"{where}: fields must map {', '.join(FIELDS)} to texts")
    try:
        metadata = from_fields(fields)
    except InputError as exc:
        raise InputError(f"{where}: {exc}", field=exc.field) from exc
    source = arrived(path, size, where, header.get("raw_name", ""))
    if metadata.title is None:
        metadata = replace(metadata, title=PurePosixPath(source.relative).name)
    return PlannedFile(source, metadata), header["blake3"], header["sha256"]


def arrived(path: str, size: int, where: str, raw_name: object = "") -> SourceFile:
    """A file sent with its relative path (``a/b/c.jpg``): kept as the
    exhibit's name, as ``jitev ingest`` keeps it from the disk, whatever its
    characters but NUL (escaped wherever it is shown). A name whose bytes are
    not UTF-8 comes as its readable form (``sources.readable``: ``\\xNN`` for
    each such byte) with those bytes in hex (``raw_name``), which must give
    that form; the INGESTED event keeps them."""
    if raw_name and not _is_raw_name(raw_name, path):
        raise InputError(
            f"{where}: raw_name must be the hex of the name's bytes (not UTF-8) whose "
            "readable form is the path"
        )
    parts = path.split("/")
    try:
        encoded = len(path.encode("utf-8"))  # lone surrogates cannot be stored
    except UnicodeEncodeError:
        encoded = PATH_MAX + 1
    if encoded > PATH_MAX or "\x00" in path or any(p in {"", ".", ".."} for p in parts):
        raise InputError(
            f"{where}: the path is not a usable relative name (folders joined by '/', none "
            f"empty, '.' or '..', no NUL, valid UTF-8, at most {PATH_MAX // KiB} KiB): send "
            "a name that is not UTF-8 as its readable form and raw_name"
        )
    return SourceFile("", path, size, 0, 0, 0, raw_name=str(raw_name))


def _is_raw_name(raw_name: object, path: str) -> bool:
    if not isinstance(raw_name, str) or len(raw_name) > 2 * PATH_MAX:
        return False
    if not _HEX.match(raw_name) or len(raw_name) % 2:
        return False
    raw = bytes.fromhex(raw_name)
    try:
        raw.decode("utf-8")
        return False  # UTF-8 names are sent as they are
    except UnicodeDecodeError:
        return raw.decode("utf-8", "backslashreplace") == path


class _Part:
    """``size`` bytes of the batch's body: one file (``where``, for messages)."""

    def __init__(self, body: ByteStream, size: int, where: str) -> None:
        self._body = body
        self._size = size
        self._where = where
        self.left = size

    def read(self, size: int = -1, /) -> bytes:
        if self.left == 0:
            return b""
        want = self.left if size < 0 else min(size, self.left)
        data = self._body.read(want)
        if not data:
            raise InputError(
                f"{self._where}: the batch ended after {self._size - self.left:,} of its "
                f"{self._size:,} bytes; it was not recorded: send it again"
            )
        self.left -= len(data)
        return data
