"""The names every object store accepts: a namespace is a team code (or
``bundles``), a key the 64 lowercase hex digits of the content's BLAKE3.
Checked before any path or URL is built from them."""

from __future__ import annotations

import re

from evidence.errors import InputError
from evidence.models import HEX64

NAMESPACE = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9-]{0,30}[A-Za-z0-9])?$")


def check_namespace(namespace: str) -> str:
    if not NAMESPACE.match(namespace):
        raise InputError(
            f"object store namespace {namespace!r} is not valid: use a team code "
            "(letters, digits and '-', e.g. BG)"
        )
    return namespace


def check_key(key: str) -> str:
    if not HEX64.match(key):
        raise InputError(
            f"object key {key!r} is not valid: keys are the 64 lowercase hex digits "
            "of the content's BLAKE3"
        )
    return key
