"""``jitev ingest`` in client mode: the files of this machine sent to the
jitev server as the signed-in person, in batches (``evidence.uploads``).

1. **Find and check**: the same discovery as a direct ingest (links not
   followed, every entry not sent listed with its reason), the same checks
   of the options and the manifest, before anything is sent.
2. **Hash**: each file read once here through BLAKE3 and SHA-256 (in
   ``HASHERS`` threads). The server checks the bytes it receives against
   these digests, so a file that changes between the two reads, or bytes
   damaged on the way, are never recorded (``changed``).
3. **Skip what is committed**: the server says which of these contents the
   team has already ingested in the case (``POST .../exhibits/known``); a
   file committed before under the same name is ``unchanged`` and not sent
   again. So a run killed half-way resumes, by hash, where it stopped.
4. **Send**: the rest in batches of at most ``BATCH_FILES`` files or about
   ``BATCH_BYTES``, ``UPLOADS`` batches at once (the server's default bound
   per person; more would be answered 429).

A file whose content is already an exhibit under another name is sent, and
recorded as a duplicate (DUPLICATE_SEEN), each time the command runs.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from app import render
from app.cli.common import err
from app.client import Login, Server, ServerUnreachable
from app.render import IngestBar
from evidence import manifest as manifests
from evidence.errors import InputError, SourceChanged, SourceUnreadable
from evidence.hashing import CHUNK, digest_chunks
from evidence.ingest import PlannedFile, plan_files
from evidence.models import Digests
from evidence.outcomes import IngestResult, Outcome, OutcomeStatus
from evidence.sizes import MiB
from evidence.sources import open_once
from evidence.uploads import END, frame_header

HASHERS = 4
UPLOADS = 2
BATCH_FILES = 500
BATCH_BYTES = 64 * MiB
LOOKUP = 1000  # contents asked about at once
MEDIA_TYPE = "application/x-jitev-batch"


@dataclass(frozen=True, slots=True)
class _File:
    planned: PlannedFile
    digests: Digests

    @property
    def relative(self) -> str:
        return self.planned.source.relative


def upload(
    server: Server,
    login: Login,
    *,
    case: str,
    team: str | None,
    paths: list[str],
    fields: dict[str, str | None],
    manifest: str | None,
    reread: bool,
    bar: IngestBar | None,
) -> IngestResult:
    """Ingest ``paths`` into the signed-in person's team through the server."""
    if team and team != login.team:
        raise InputError(
            f"in client mode you ingest into your own team, {login.team} (signed in to "
            f"{login.server} as {login.person}): leave out --team {team}"
        )
    planned, skipped = plan_files(paths, manifests.from_fields(fields), manifest)
    seconds: dict[str, float] = {}
    started = time.perf_counter()
    if bar:
        bar.begin(len(planned), sum(p.source.size for p in planned), what="hashing ")
    hashed, outcomes = _hash_all(planned, bar)
    seconds["hash"] = time.perf_counter() - started
    try:
        started = time.perf_counter()
        to_send, kept = _not_committed(server, case, hashed, reread)
        outcomes += kept
        seconds["lookup"] = time.perf_counter() - started
        started = time.perf_counter()
        if bar:
            bar.begin(len(to_send), sum(f.digests.size for f in to_send), what="sending ")
        outcomes += _send_all(server, case, to_send, bar)
        seconds["send"] = time.perf_counter() - started
    except ServerUnreachable as exc:
        raise ServerUnreachable(
            f"{exc}. Run the same command again: what the server committed is not sent again"
        ) from exc
    order = {p.source.relative: n for n, p in enumerate(planned)}
    outcomes.sort(key=lambda o: order.get(o.source, 0))
    return IngestResult(case, login.team, "", False, 0, tuple(outcomes), tuple(skipped), seconds)


def _hash_all(
    planned: list[PlannedFile], bar: IngestBar | None
) -> tuple[list[_File], list[Outcome]]:
    def one(p: PlannedFile) -> _File | Outcome:
        try:
            with open_once(p.source) as handle:
                chunks = iter(lambda: handle.read(CHUNK), b"")
                counted = (lambda chunk: bar.read(len(chunk))) if bar else None
                return _File(p, digest_chunks(chunks, counted))
        except SourceChanged as exc:
            return Outcome(p.source.relative, OutcomeStatus.CHANGED, message=str(exc))
        except SourceUnreadable as exc:
            return Outcome(p.source.relative, OutcomeStatus.UNREADABLE, message=str(exc))

    with ThreadPoolExecutor(HASHERS, thread_name_prefix="jitev-hash") as pool:
        done = list(pool.map(one, planned))
    return [d for d in done if isinstance(d, _File)], [d for d in done if isinstance(d, Outcome)]


def _not_committed(
    server: Server, case: str, files: list[_File], reread: bool
) -> tuple[list[_File], list[Outcome]]:
    """The files to send, and those the team committed before under the
    same name (``unchanged``; with ``reread`` they are sent again)."""
    if reread:
        return files, []
    known: dict[str, dict[str, Any]] = {}
    digests = sorted({f.digests.blake3 for f in files})
    for start in range(0, len(digests), LOOKUP):
        part = digests[start : start + LOOKUP]
        for ex in server.post(f"/cases/{case}/exhibits/known", {"blake3": part}):
            known[ex["blake3"]] = ex
    send, kept = [], []
    for f in files:
        ex = known.get(f.digests.blake3)
        if ex is not None and ex["relative_path"] == f.relative:
            d = f.digests
            kept.append(
                Outcome(
                    f.relative, OutcomeStatus.UNCHANGED, ex["reference"], d.size, d.blake3,
                    d.sha256, ex["media_type"],
                    f"already {ex['reference']} (same name, same hashes): not sent again",
                )
            )  # fmt: skip
        else:
            send.append(f)
    return send, kept


def batches(files: list[_File]) -> Iterator[list[_File]]:
    batch: list[_File] = []
    size = 0
    for f in files:
        if batch and (len(batch) >= BATCH_FILES or size + f.digests.size > BATCH_BYTES):
            yield batch
            batch, size = [], 0
        batch.append(f)
        size += f.digests.size
    if batch:
        yield batch


def _send_all(
    server: Server, case: str, files: list[_File], bar: IngestBar | None
) -> list[Outcome]:
    lock = threading.Lock()

    def send(batch: list[_File]) -> list[Outcome]:
        outcomes = _send(server, case, batch, bar)
        if bar:
            with lock:
                for o in outcomes:
                    bar.committed(o)
        return outcomes

    with ThreadPoolExecutor(UPLOADS, thread_name_prefix="jitev-send") as pool:
        return [o for done in pool.map(send, batches(files)) for o in done]


def _send(server: Server, case: str, batch: list[_File], bar: IngestBar | None) -> list[Outcome]:
    """One batch; a file that cannot be read again (or changed size) ends
    its request: it is ``changed`` or ``unreadable``, and the batch's other
    files are looked up and the rest sent again."""
    headers = [
        frame_header(
            f.relative, f.digests.size, f.digests.blake3, f.digests.sha256,
            manifests.as_fields(f.planned.metadata), f.planned.source.raw_name,
        )
        for f in batch
    ]  # fmt: skip
    length = sum(len(h) + f.digests.size for h, f in zip(headers, batch, strict=True)) + len(END)
    failed: list[Outcome] = []

    def body() -> Iterator[bytes]:
        for header, f in zip(headers, batch, strict=True):
            yield header
            try:
                with open_once(f.planned.source) as handle:
                    sent = 0
                    while sent < f.digests.size and (
                        chunk := handle.read(min(CHUNK, f.digests.size - sent))
                    ):
                        sent += len(chunk)
                        if bar:
                            bar.read(len(chunk))
                        yield chunk
                    if sent < f.digests.size:
                        raise SourceChanged(
                            f"{f.planned.source.shown} is shorter than when it was hashed"
                        )
            except SourceChanged as exc:
                failed.append(Outcome(f.relative, OutcomeStatus.CHANGED, message=str(exc)))
                raise
            except SourceUnreadable as exc:
                failed.append(Outcome(f.relative, OutcomeStatus.UNREADABLE, message=str(exc)))
                raise
        yield END

    try:
        answer = server.upload(f"/cases/{case}/uploads", body, length, MEDIA_TYPE)
    except (SourceChanged, SourceUnreadable):
        [problem] = failed
        rest = [f for f in batch if f.relative != problem.source]
        again, kept = _not_committed(server, case, rest, reread=False)
        return [problem, *kept, *(_send(server, case, again, bar) if again else [])]
    return [_outcome(o) for o in answer]


def _outcome(data: dict[str, Any]) -> Outcome:
    return Outcome(**{**data, "status": OutcomeStatus(data["status"])})


def say_server(login: Login) -> None:
    err.print(f"[dim]Through {render.esc(login.server)} as {render.esc(login.person)}[/]")
