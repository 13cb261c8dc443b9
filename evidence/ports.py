"""What the domain needs from the outside world, as Protocols. ``storage/``
implements them; ``evidence/services.py`` uses them; tests pass real ones.

The object-store contract (one test suite runs it against every backend):

- ``put`` streams a ``DigestSource`` once into the namespace (a team's bucket
  or directory). The key is the BLAKE3 hex of the content, known only when the
  source is exhausted, so a backend first writes to a staging name and then
  moves or copies it into place under retention. Afterwards it checks the
  stored size and digest metadata and returns a ``StoredObject``. If an object
  with that key is already there (a re-run after a crash, or the same content
  again) and its size and digests match, it is adopted (``adopted=True``);
  if they do not match, ``IntegrityError``.
- Memory is bounded whatever the length; ``length=None`` means unknown.
- ``copy`` copies a stored object into another namespace on the server side
  (a hand-off), with the same key and digest metadata, under a fresh
  COMPLIANCE retention; an identical object already there is adopted. The
  caller reads the copy back to verify it: ``copy`` checks only metadata.
- ``delete`` exists only to prove the write-once promise: it raises
  ``WriteOnceViolation`` while retention or a legal hold applies (always, for
  the local store).
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Protocol

from evidence.limits import check_text
from evidence.models import (
    ApiToken,
    Bundle,
    Case,
    CustodyEvent,
    Decision,
    Digests,
    Exhibit,
    Handling,
    Holding,
    Person,
    Receipt,
    Session,
    StoredObject,
    Transfer,
    TransferState,
)
from evidence.paging import Cursor, Page
from evidence.search import SearchCatalog
from evidence.tlog.check import StoredCheckpoint
from evidence.tlog.notes import VerifierKey


class Clock(Protocol):
    def now(self) -> datetime:
        """An aware UTC datetime."""
        ...


class ByteStream(Protocol):
    """Where bytes come from: an open file, or an upload's request body."""

    def read(self, size: int = -1, /) -> bytes: ...


class DigestSource(Protocol):
    """A readable stream that digests what it hands out (evidence.hashing)."""

    def read(self, size: int = -1, /) -> bytes: ...

    def digests(self) -> Digests:
        """Valid once ``read`` has returned ``b""``."""
        ...


@dataclass(frozen=True, slots=True)
class ObjectInfo:
    namespace: str
    key: str
    size: int
    blake3: str | None  # from the stored digest metadata
    sha256: str | None
    retention_until: datetime | None
    legal_hold: bool
    writable: bool = False  # local store: the file lost its read-only mode (S3: always False)


@dataclass(frozen=True, slots=True)
class Leftover:
    """What a crash left in a namespace: a local ``.incoming`` temp file, an
    S3 staging object (``incoming/...``) or an incomplete multipart upload.
    Never evidence: nothing in the ledger points at it."""

    namespace: str
    name: str  # ".incoming/<uuid>.part", "incoming/<uuid>", or the upload's object name
    kind: str  # "temp file", "staging object", "multipart upload"
    size: int
    modified: datetime
    handle: str = ""  # the store's own: an S3 version id or upload id

    def as_dict(self) -> dict[str, Any]:
        return {
            "team": self.namespace,
            "name": self.name,
            "kind": self.kind,
            "size": self.size,
            "modified": self.modified.isoformat(),
        }


class ObjectWriter(Protocol):
    def put(self, namespace: str, source: DigestSource, length: int | None) -> StoredObject:
        """Store ``source``'s bytes under their BLAKE3; checked before it returns."""
        ...


class ObjectStore(ObjectWriter, Protocol):
    description: str  # e.g. "local store /var/lib/jitev" or "S3 http://127.0.0.1:7480"
    put_parallel: int  # puts of one group worth running at once (1: one after the other)

    def group(self, *, fresh: bool = False) -> AbstractContextManager[ObjectWriter]:
        """Puts made durable together: what the writer's ``put`` returns is
        stored once the ``with`` block ends without error, never before (the
        local store syncs the group at once; an S3 put is durable when it
        returns). Record nothing in the ledger before the block has ended.
        ``fresh``: the contents are expected to be new (not a resumed run), so
        a store may write without looking for the key first. The writer is
        safe to call from ``put_parallel`` threads at once."""
        ...

    def stat(self, namespace: str, key: str) -> ObjectInfo: ...

    def exists(self, namespace: str, key: str) -> bool: ...

    def open(self, namespace: str, key: str) -> Iterator[bytes]:
        """Stream the stored bytes in chunks."""
        ...

    def copy(self, namespace: str, key: str, target: str) -> StoredObject:
        """Server-side copy of ``namespace/key`` to ``target/key``."""
        ...

    def set_legal_hold(self, namespace: str, key: str, on: bool) -> None: ...

    def extend_retention(self, namespace: str, key: str, until: datetime) -> None:
        """Retention can be lengthened, never shortened (``WriteOnceViolation``)."""
        ...

    def download_url(self, namespace: str, key: str, expires: timedelta) -> str:
        """A presigned URL (S3) or a ``file://`` URL (local) to read the object."""
        ...

    def delete(self, namespace: str, key: str) -> None:
        """Raises ``WriteOnceViolation`` while the object is protected."""
        ...

    def leftovers(self, namespace: str) -> list[Leftover]:
        """What crashed puts left in the namespace (``Leftover``), oldest first."""
        ...

    def remove_leftover(self, leftover: Leftover) -> None:
        """Remove one of ``leftovers``; gone already is fine. Never a stored object."""
        ...


class PasswordHasher(Protocol):
    """Hashes and checks passwords (argon2id in ``storage.passwords``)."""

    def hash(self, password: str) -> str: ...

    def verify(self, hashed: str, password: str) -> bool: ...


class Signer(Protocol):
    """A team's Ed25519 signing key. The private key never leaves the
    implementation (``storage.keys``): callers get signatures only."""

    team: str
    public_key: str  # raw 32-byte public key, hex

    def sign(self, message: bytes) -> bytes: ...


@dataclass(frozen=True, slots=True)
class EventDraft:
    """A custody event before it is linked into the chain (seq, time, hashes)."""

    action: str
    actor: str
    team: str
    exhibit: str | None = None
    details: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        """Refuses a text beyond ``limits.TEXT_MAX_CHARS`` (a reason, a note, a
        legal basis, a name) before it is written: what the ledger holds, a
        bundle's offline verifier reads back within the same limits."""
        check_text("actor", self.actor)
        _check_texts(self.details)


def _check_texts(value: Any, field: str = "details") -> None:
    if isinstance(value, str):
        check_text(field, value)
    elif isinstance(value, dict):
        for key, item in value.items():
            _check_texts(item, key)
    elif isinstance(value, list | tuple):
        for item in value:
            _check_texts(item, field)


@dataclass(frozen=True, slots=True)
class FinishedItem:
    """A source an earlier, finished run committed: the exhibit it is (or
    duplicates), and ``SourceFile.identity`` when it was read."""

    reference: str
    identity: str


@dataclass(frozen=True, slots=True)
class IngestRun:
    """One ``jitev ingest`` command. A run that did not finish is resumed by
    the same command: ``done`` maps each source path already committed to the
    exhibit reference it produced."""

    id: str
    case_id: str
    team: str
    actor: str
    resumed: bool
    done: dict[str, str]


class CaseTransaction(Protocol):
    """One database transaction holding the case's chain lock. Everything done
    through it commits together or not at all."""

    case: Case

    def exhibits_by_blake3(self, digests: Collection[str]) -> dict[str, Exhibit]:
        """The case's exhibits with these contents, by BLAKE3 (one query a group)."""
        ...

    def next_exhibit_numbers(self, team: str, count: int) -> range:
        """The next ``count`` numbers of the team's exhibits in this case (1, 2,
        ...): gapless, because they roll back with the transaction."""
        ...

    def add_exhibits(self, new: Sequence[Exhibit]) -> None:
        """Add exhibits numbered by ``next_exhibit_numbers``; refuses a reference
        or a content the case (or ``new`` itself) already has."""
        ...

    def append(self, draft: EventDraft) -> CustodyEvent:
        """Link the draft after the chain head, stamped by the catalog's clock."""
        ...

    def mark_done(
        self, run_id: str, done: Mapping[str, str], identities: Mapping[str, str] | None = None
    ) -> None:
        """Record sources (path -> exhibit reference) as committed by the run,
        with each file's ``SourceFile.identity`` when it was read; one already
        recorded as the same exhibit is a no-op (a retry)."""
        ...

    # -- hand-offs: read and written under the case's chain lock ------------------

    def exhibit(self, reference: str) -> Exhibit: ...

    def holdings(self, reference: str) -> list[Holding]: ...

    def set_handling(self, reference: str, handling: Handling) -> None: ...

    def next_transfer_id(self) -> str:
        """``<CASE>-T-0001``, gapless per case."""
        ...

    def add_transfer(self, transfer: Transfer) -> None: ...

    def transfer(self, transfer_id: str) -> Transfer: ...

    def add_decision(self, transfer_id: str, decision: Decision) -> None:
        """One decision per capacity and team: a second one fails."""
        ...

    def set_transfer_state(self, transfer_id: str, state: TransferState, failure: str = "") -> None:
        """Only along ``models.TRANSITIONS`` from the stored state, else
        ``IllegalTransition``."""
        ...

    def mark_dispatched(self, transfer_id: str, reference: str, seq: int) -> None: ...

    def add_receipt(self, receipt: Receipt) -> None: ...

    def next_bundle_id(self, team: str) -> str:
        """``<CASE>-<TEAM>-B-0001``, gapless per case and team."""
        ...

    def add_bundle(self, bundle: Bundle) -> None: ...


class CaseCatalog(Protocol):
    """Cases, their exhibits, custody events and ingest runs."""

    def add_case(self, case: Case, opening: EventDraft) -> CustodyEvent:
        """Create the case and its first custody event, atomically."""
        ...

    def case(self, case_id: str) -> Case: ...

    def cases(self) -> list[Case]: ...

    def transaction(self, case_id: str) -> AbstractContextManager[CaseTransaction]: ...

    def exhibit(self, reference: str, case_id: str | None = None) -> Exhibit:
        """``Ambiguous`` when ``case_id`` is not given and the reference exists
        in several cases."""
        ...

    def exhibits(self, case_id: str | None = None, team: str | None = None) -> list[Exhibit]: ...

    def exhibits_by_blake3(self, case_id: str, digests: Collection[str]) -> dict[str, Exhibit]:
        """The case's exhibits with these contents, by BLAKE3."""
        ...

    def events(
        self,
        case_id: str,
        exhibit: str | None = None,
        action: str | None = None,
        *,
        after: int = 0,
    ) -> Iterator[CustodyEvent]:
        """In sequence order, straight from the stored rows; only those of
        ``exhibit`` and of ``action``, when given, and after seq ``after``."""
        ...

    def event_page(
        self,
        case_id: str,
        cursor: Cursor | None,
        limit: int,
        *,
        exhibit: str | None = None,
        action: str | None = None,
        actor: str | None = None,
    ) -> Page[CustodyEvent]:
        """A page of the case's events in seq order (keyset on seq), filtered."""
        ...

    def start_run(self, case_id: str, team: str, actor: str, fingerprint: str) -> IngestRun: ...

    def run_items(self, run_id: str, sources: Collection[str] | None = None) -> dict[str, str]:
        """Source path -> exhibit reference, for what this run has committed
        (of ``sources`` only, when given: a batch asks about its own files)."""
        ...

    def finish_run(self, run_id: str) -> None: ...

    def finished_items(self, case_id: str, team: str, fingerprint: str) -> dict[str, FinishedItem]:
        """What the finished runs of the same files (same fingerprint) by the
        team committed: source path -> the exhibit and the file's identity then
        (the latest run's, for a source several runs committed)."""
        ...


class PeopleCatalog(Protocol):
    """People, their teams and roles, and the teams' receipt public keys."""

    def add_person(self, person: Person, added_by: str) -> None:
        """A new person; ``InputError`` if the name is taken."""
        ...

    def person(self, name: str) -> Person: ...

    def people(self) -> list[Person]: ...

    def add_team_key(self, team: str, public_key: str) -> None:
        """Register a team's public key; a different key for a team that has
        one is refused (``InputError``): keys are never silently replaced."""
        ...

    def team_key(self, team: str) -> str | None: ...


class TransferCatalog(Protocol):
    """Who holds what, and the hand-offs (written through ``CaseTransaction``)."""

    def holdings(self, case_id: str) -> dict[str, list[Holding]]:
        """Exhibit reference -> the teams that hold it."""
        ...

    def transfer(self, transfer_id: str) -> Transfer: ...

    def transfers(self, case_id: str | None = None) -> list[Transfer]: ...

    def transfer_page(
        self,
        case_ids: Sequence[str],
        visible: Callable[[Transfer], bool],
        cursor: Cursor | None,
        limit: int,
        state: TransferState | None = None,
    ) -> Page[Transfer]:
        """A page of the cases' transfers in (case, number) order, of those
        ``visible`` says may be seen (and in ``state``): ``visible`` is asked of
        each transfer as its own row gives it (parties, purpose, state, required
        decisions; no items, decisions or receipt), and only the page's
        transfers are loaded whole."""
        ...


class BundleCatalog(Protocol):
    """Disclosure bundles (written through ``CaseTransaction``)."""

    def bundle(self, bundle_id: str) -> Bundle: ...

    def bundles(self, case_id: str | None = None) -> list[Bundle]: ...


class AccessCatalog(Protocol):
    """Signing in (``evidence.access``): only digests of secrets are stored;
    the access log is a hash chain of its own."""

    def set_password(self, name: str, hashed: str) -> None: ...

    def password_hash(self, name: str) -> str | None: ...

    def add_session(self, session: Session) -> None: ...

    def session(self, digest: str) -> Session | None:
        """The session, unless it was ended (expiry is the caller's check)."""
        ...

    def end_session(self, digest: str, at: datetime) -> None: ...

    def end_sessions(self, person: str, keep: str | None = None) -> None:
        """End every open session of ``person`` but the one whose digest is ``keep``."""
        ...

    def add_token(self, token: ApiToken) -> None: ...

    def token(self, token_id: str) -> ApiToken: ...

    def token_by_digest(self, digest: str) -> ApiToken | None: ...

    def tokens(self, person: str | None = None) -> list[ApiToken]: ...

    def revoke_token(self, token_id: str, at: datetime) -> None: ...

    def append_access(self, draft: EventDraft) -> CustodyEvent:
        """Link an event into the access log's own hash chain."""
        ...

    def access_events(
        self,
        *,
        since: datetime | None = None,
        action: str | None = None,
        actor: str | None = None,
        after: int = 0,
    ) -> list[CustodyEvent]: ...

    def access_page(
        self, cursor: Cursor | None, limit: int, *, action: str | None, actor: str | None
    ) -> Page[CustodyEvent]:
        """A page of the access log in seq order (keyset on seq), filtered."""
        ...


class LogCatalog(Protocol):
    """Each case's Merkle tree, its signed checkpoints and their cosignatures
    (``evidence.tlog``). The tree grows with every appended event."""

    def tree_size(self, case_id: str) -> int:
        """The number of events, which are the tree's leaves."""
        ...

    def tree_nodes(
        self, case_id: str, wanted: set[tuple[int, int]]
    ) -> dict[tuple[int, int], bytes]:
        """The nodes ``(level, index)`` asked for (``evidence.tlog.merkle``)."""
        ...

    def add_checkpoint(self, case_id: str, size: int, root: bytes, note: str) -> str:
        """Store a signed checkpoint, once per size; return the stored note with
        the cosignatures stored for it so far (so a publication asks only the
        witnesses still missing). ``LedgerError`` if one of that size with
        another root exists."""
        ...

    def add_cosignature(self, case_id: str, size: int, witness: str, line: str) -> None: ...

    def checkpoints(self, case_id: str, after: int = 0) -> list[StoredCheckpoint]:
        """Every stored checkpoint (of more than ``after`` events), in size
        order, with its cosignatures."""
        ...

    def witness_sizes(self, case_id: str) -> dict[str, int]:
        """Per witness, the largest size it cosigned that the catalog holds."""
        ...


class NoteSigner(Protocol):
    """The log's Ed25519 key (``storage.keys``): signatures only."""

    public_key: str  # raw 32-byte public key, hex

    def sign(self, message: bytes) -> bytes: ...


class WitnessClient(Protocol):
    """A member team's witness (C2SP tlog-witness), over HTTP or in this
    process (``storage.witnesses``)."""

    name: str  # its name in the case's policy: the team code
    key: VerifierKey  # its cosigning key

    def add_checkpoint(self, body: bytes) -> str:
        """Its cosignature line(s) for an ``add-checkpoint`` body; raises
        ``tlog.witness.Refused`` (with the protocol's status) or
        ``WitnessUnavailable``."""
        ...

    def latest(self, origin: str) -> str | None:
        """The last checkpoint it cosigned for ``origin`` (a signed note)."""
        ...


class Catalog(
    CaseCatalog,
    PeopleCatalog,
    TransferCatalog,
    BundleCatalog,
    AccessCatalog,
    LogCatalog,
    SearchCatalog,
    Protocol,
):
    """The whole catalog (``storage.sql.SqlCatalog``). A use case asks for
    the role it needs where that is all it uses."""


@dataclass(frozen=True, slots=True)
class VerifiedHead:
    """How far a chain (a case's, or the access log) was last verified:
    events 1-``seq`` recomputed, ending in ``hash``; ``frontier`` is the Merkle
    right edge of those events (``tlog.merkle.Frontier.edge``: level, hex
    hash), ``checkpoint`` the size of the latest signed checkpoint their roots
    matched (0: none); ``full_at`` when a full verification last passed."""

    chain: str
    seq: int
    hash: str
    frontier: tuple[tuple[int, str], ...]
    checkpoint: int
    verified_at: datetime
    full_at: datetime | None = None


class VerifiedHeads(Protocol):
    """The server's own record of what it verified (``storage.verified``):
    kept outside the catalog, so a database host cannot move it forward."""

    def get(self, chain: str) -> VerifiedHead | None: ...

    def put(self, head: VerifiedHead) -> None: ...

    def drop(self, chain: str) -> None: ...
