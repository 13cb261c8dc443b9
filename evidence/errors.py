"""One exception tree for jitev. Every message says what went wrong, names the
file, exhibit, case or endpoint, and says what to do next.

The CLI and the flows catch ``JitevError`` in one place and print its message;
anything else is a bug and keeps its traceback.

    JitevError
    ├── InputError (ValueError)          bad input from a person: fix it and run again
    │   ├── ManifestError                a sidecar manifest row or column is wrong
    │   ├── NotFound (LookupError)       no such case, team, exhibit, person, transfer
    │   └── IllegalTransition            a transfer cannot go from its state to that one
    ├── Denied (PermissionError)         the policy denies the action: names the missing right
    ├── SourceChanged (OSError)          a file changed or vanished while it was read
    ├── IntegrityError                   bytes do not match a digest that was promised
    │   └── HashMismatch                 declared acquisition hash != computed
    ├── LedgerError                      the custody chain cannot be appended or read
    ├── StoreError (OSError)             the object store failed
    │   ├── StoreUnavailable             transient: unreachable, timeout, 5xx (retried)
    │   ├── StoreConfigError             credentials, missing bucket, no object lock
    │   └── WriteOnceViolation           overwrite or delete of a stored object refused
    └── CatalogError                     the database failed or is not migrated
"""

from __future__ import annotations


class JitevError(Exception):
    """Base of every error jitev raises on purpose."""

    exit_code = 1


class InputError(JitevError, ValueError):
    exit_code = 2


class ManifestError(InputError):
    pass


class NotFound(InputError, LookupError):
    pass


class IllegalTransition(InputError):
    pass


class Denied(JitevError, PermissionError):
    exit_code = 5


class SourceChanged(JitevError, OSError):
    pass


class IntegrityError(JitevError):
    exit_code = 3


class HashMismatch(IntegrityError):
    pass


class LedgerError(JitevError):
    pass


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
