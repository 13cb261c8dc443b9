"""Sizes, spelled once."""

from __future__ import annotations

KiB = 1024
MiB = 1024 * KiB
GiB = 1024 * MiB

STREAM_CHUNK = MiB  # one chunk of bytes streamed from a store, a ZIP or to a client
INGEST_CHUNK = 8 * MiB  # one read of a file being ingested: few system calls, long hashing runs
