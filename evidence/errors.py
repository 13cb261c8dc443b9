"""One exception tree for jitev. Every message says what went wrong, names the
file, exhibit, case or endpoint, and says what to do next, in the domain's
words: the CLI and the web each word the fix in their own terms from the
structured facts an error carries (``field``, ``transfer_id`` and ``state``,
``consents``, ``cases``, ``case``), never from a command-line flag in the message.

The CLI and the flows catch ``JitevError`` in one place and print its message;
anything else is a bug and keeps its traceback.

    JitevError
    ├── InputError (ValueError)          bad input from a person: fix it and run again
    │   │                                .field: the input it is about ("reason", "legal_basis")
    │   ├── ManifestError                a sidecar manifest row or column is wrong
    │   ├── Ambiguous                    a reference names things in several cases (.cases)
    │   ├── NotFound (LookupError)       no such case, team, exhibit, person, transfer
    │   └── IllegalTransition            a transfer cannot go from its state (.transfer_id, .state)
    ├── Denied (PermissionError)         the policy denies the action: names the missing right
    │   ├── ConsentMissing               H1 exhibits lack their originator's consent (.consents)
    │   ├── NotSignedIn                  no session or token, or one that has ended
    │   └── TooManyAttempts              failed logins over the limit (.retry_after, seconds)
    ├── SourceChanged (OSError)          a file changed or vanished while it was read
    ├── SourceUnreadable (OSError)       a file could not be opened or read (permission, I/O)
    ├── IntegrityError                   bytes do not match a digest that was promised
    │   ├── HashMismatch                 declared acquisition hash != computed
    │   └── ObjectMissing                a recorded stored object is gone or replaced (.case)
    ├── LedgerError                      the custody chain cannot be appended or read
    ├── WitnessUnavailable               a team's witness did not answer (asked again next time)
    ├── StoreError (OSError)             the object store failed
    │   ├── StoreUnavailable             transient: unreachable, timeout, 5xx (retried)
    │   ├── StoreConfigError             credentials, missing bucket, no object lock
    │   └── WriteOnceViolation           overwrite or delete of a stored object refused
    ├── CatalogError                     the database failed or is not migrated
    └── EngineUnavailable                the flow engine (Prefect) did not start or answer
"""

from __future__ import annotations

from typing import NamedTuple


class JitevError(Exception):
    """Base of every error jitev raises on purpose. The structured facts of a
    subclass are keyword arguments with defaults, so that an error survives
    pickling (``BaseException`` rebuilds it from its message, then restores
    its attributes)."""

    exit_code = 1


class InputError(JitevError, ValueError):
    """``field`` names the input the error is about, as the API and the
    models call it (``reason``, ``legal_basis``, ``actor``...), so that the CLI
    can name its option and the web its form field."""

    exit_code = 2

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


class ManifestError(InputError):
    pass


class Ambiguous(InputError):
    """A reference that exists in several cases: say which (``cases``)."""

    def __init__(self, message: str, *, cases: tuple[str, ...] = ()) -> None:
        super().__init__(message, field="case")
        self.cases = cases


class NotFound(InputError, LookupError):
    pass


class IllegalTransition(InputError):
    """The transfer is in ``state``; the CLI and the web say what comes next."""

    def __init__(self, message: str, *, transfer_id: str = "", state: str = "") -> None:
        super().__init__(message)
        self.transfer_id = transfer_id
        self.state = state


class Denied(JitevError, PermissionError):
    exit_code = 5


class Consent(NamedTuple):
    """A consent that must be given: by a lead of ``origin_team``, for the
    use of ``reference`` in the judicial proceedings of ``for_team``."""

    reference: str
    origin_team: str
    for_team: str


class ConsentMissing(Denied):
    def __init__(self, message: str, *, consents: tuple[Consent, ...] = ()) -> None:
        super().__init__(message)
        self.consents = consents


class NotSignedIn(Denied):
    """No session or token, or one that has ended."""


class TooManyAttempts(Denied):
    def __init__(self, message: str, *, retry_after: int = 60) -> None:
        super().__init__(message)
        self.retry_after = retry_after  # seconds


class SourceChanged(JitevError, OSError):
    pass


class SourceUnreadable(JitevError, OSError):
    """A file or folder to ingest could not be read: evidence left behind."""

    exit_code = 6


class IntegrityError(JitevError):
    exit_code = 3


class HashMismatch(IntegrityError):
    pass


class ObjectMissing(IntegrityError):
    """An object the ledger records (a team's copy of an exhibit) is not in
    the store, or something that is not a stored object is in its place (a
    link, a folder): it was removed or replaced outside jitev. ``case`` is the
    case whose stored objects an auditor should verify."""

    def __init__(self, message: str, *, case: str = "") -> None:
        super().__init__(message)
        self.case = case


class LedgerError(JitevError):
    pass


class WitnessUnavailable(JitevError):
    """A witness could not be reached or failed: not a refusal."""


class StoreError(JitevError, OSError):
    pass


class StoreUnavailable(StoreError):
    """Transient: worth a retry."""


class StoreConfigError(StoreError):
    pass


class WriteOnceViolation(StoreError):
    pass


class CatalogError(JitevError):
    pass


class EngineUnavailable(JitevError):
    """The engine that runs the flows (the local Prefect server) could not be
    started or does not answer: the message names its log."""
