"""Offline verification of a disclosure bundle (``evidence.bundle.layout``):
``verify_bundle(path_or_file)`` needs the ZIP and nothing else (no database, no
store, no configuration, no fpdf2), trusts nothing in it, never raises on what
it holds, and reports every problem it finds as a finding of the check that
found it, naming the file, row, page, event or transfer concerned.

The checks, always in this order (``CHECKS``, from the one table ``TABLE``); a
check that needs a part another check found unusable says "not checked" and
fails:

1. ``bag``: ``bagcheck.verify_zip``: BagIt structure, both payload manifests,
   the tag manifests, Payload-Oxum.
2. ``bag-info``: the fields ``layout.INFO_FIELDS`` are present once and well
   formed (``parts.INFO_RULES``); the bundle id is one of the case and team;
   the bag folder is named after it.
3. ``checksums``: ``checksums.sha256`` and ``checksums.b3`` (``<hex>  <path>``,
   or ``<hex> *<path>``) list exactly the files under ``natives/``, each with
   the digest the bag verification computed.
4. ``schedule``: ``schedule.csv`` has the header ``SCHEDULE_FIELDS``, rows
   numbered 1, 2, ...; each row names its native (``layout.native_name``),
   which exists and has the row's size, BLAKE3 and SHA-256; every native has
   a row; no cell would run as a formula in a spreadsheet (a genuine one is
   escaped, ``layout.csv_cell``); it is within the layout's limits (no cell
   over ``layout.CELL_MAX_CHARS``).
5. ``pdf``: each row's pages lie in ``bundle.pdf``, in schedule order, without
   overlap, the last ending on the PDF's last page; BEGBATES/ENDBATES are
   ``layout.bates(<case>-<team>, page)``; the first and last page of each
   exhibit carry its Bates number and reference in their text (the stamp).
6. ``load file``: ``load.dat``: a header row ``LOAD_FIELDS``, then one row per
   schedule row, in its order, with the same BEGBATES, ENDBATES, REFERENCE,
   NATIVEPATH (the row's ``native``; ``\\`` separators and a leading ``./``
   allowed), FILESIZE, SHA256 and BLAKE3; no cell would run as a formula.
7. ``ledger``: ``ledger/custody.jsonl`` parses to custody events of the
   bundle's case, in rising sequence order, each hash recomputed from its
   fields, each event that follows a disclosed one linked to its hash (the
   others are placed by the proofs); it ends with the BUNDLE_SEALED event;
   ``Ledger-Head`` is its last event before the seal, ``Bundle-Created`` that
   event's time; it holds no event of an exhibit the schedule does not list
   and no case-level event but ``layout.CASE_EVENTS``; every scheduled
   exhibit has an INGESTED event, each of its INGESTED and RECEIVED events
   records the schedule's size and hashes, and its INGESTED event the
   schedule's title and description (as ``layout.csv_cell`` writes them).
8. ``keys``: ``keys.json`` (team -> public key) is exactly the keys that the
   extract's TEAM_KEY_REGISTERED events record (the last one of each team).
9. ``receipts``: every RECEIVED event's own signature (``receipts.verify_item``)
   verifies with the receiving team's key as registered in the extract before
   it (a bundle may hold only some exhibits of a hand-off).
10. ``log``: ``ledger/checkpoint`` is a signed note of the log the extract's
    last LOG_POLICY_SET event names, signed by its log key, with valid
    cosignatures of the policy's quorum of witnesses; ``ledger/policy`` is
    that event's policy, byte for byte; the checkpoint covers every event.
11. ``proofs``: every disclosed event has ``ledger/proofs/<seq>.tlog-proof``
    under that very checkpoint, index ``seq - 1``, and its hash is the leaf
    the proof places in the checkpoint's root; no proof of another event; the
    consistency proofs from earlier bundles are well formed.
12. ``seal``: the BUNDLE_SEALED event names this bundle and its root digest,
    and its seal is ``layout.seal_digest`` recomputed from the payload files
    outside ``data/ledger/`` (``Bundle-Seal`` says the same).
13. ``root digest``: ``layout.root_digest`` recomputed from bag-info, the
    ledger head and the schedule equals ``Bundle-Root-Digest``, and the
    PDF's first page (the cover) shows it and the bundle id.

With ``against`` (an earlier bundle of the same case), one more check,
``against``: both checkpoints are of the same log and signed by its key, and
the consistency proof this bag carries from the earlier checkpoint's size
(``ledger/consistency/<size>.tlog-consistency``) holds: the log only grew
between the two bundles.

A finding's ``kind`` is the bag check's (``bagcheck``), the chain's
(``ledger.verify``: missing, reordered, bad link, edited), or one of
missing | unreadable | malformed | size | duplicate | order | mismatch |
checksum | extra | formula | stamp | receipt | signature | quorum | proof |
seal | log | error (a check that failed unexpectedly).

Each part is read within the layout's limits (``layout``'s "Limits", derived
from what a person may hand jitev): what jitev writes, it verifies, and a
part over them is a ``size`` finding, not read further. The ZIP itself is
opened only when it is a regular file (``bagcheck.open_zip``).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass

from evidence.bundle.bagcheck import Source, open_zip, say
from evidence.bundle.verify import contents, custody, log, pages
from evidence.bundle.verify.context import Context, NotChecked
from evidence.findings import Check, Finding, Report

TABLE: tuple[tuple[str, Callable[[Context], str]], ...] = (
    ("bag", contents.check_bag),
    ("bag-info", contents.check_info),
    ("checksums", contents.check_checksums),
    ("schedule", contents.check_schedule),
    ("pdf", pages.check_pdf),
    ("load file", contents.check_load_file),
    ("ledger", custody.check_ledger),
    ("keys", custody.check_keys),
    ("receipts", custody.check_receipts),
    ("log", log.check_log),
    ("proofs", log.check_proofs),
    ("seal", log.check_seal),
    ("root digest", pages.check_root_digest),
)
CHECKS = tuple(name for name, _ in TABLE)


@dataclass(frozen=True, slots=True)
class BundleFacts:
    source: str  # the path or stream verified
    bundle: str  # External-Identifier, or the bag folder's name, or ""


BundleReport = Report[BundleFacts]


def verify_bundle(source: Source, against: Source | None = None) -> BundleReport:
    """Verify the bundle ZIP at ``source`` (a path, or a seekable binary file),
    offline; with ``against``, also that its log extends that earlier
    bundle's. Never raises on what the ZIPs hold: every problem is a finding.
    A path that is not a regular file (missing, a folder, a device, a pipe,
    larger than any bundle) is an input mistake, not a bundle: it raises
    ``NotABundleFile`` (``bagcheck.open_zip``) before anything is read, for
    ``against`` as for ``source``."""
    with ExitStack() as files:
        bundle = _opened(files, source, "the bundle")
        earlier = None if against is None else _opened(files, against, "the earlier bundle")
        return _verify(bundle, earlier)


def _opened(files: ExitStack, source: Source, what: str) -> Source:
    if isinstance(source, (str, os.PathLike)):
        return files.enter_context(open_zip(source, what))
    return source


def _verify(source: Source, against: Source | None) -> BundleReport:
    with Context(source) as ctx:
        checks = [_run(ctx, name, check) for name, check in TABLE]
        if against is not None:
            earlier = _verify(against, None)
            with Context(against) as old:
                checks.append(_run(ctx, "against", lambda c: log.check_against(c, old)))
            if not earlier.ok:
                ctx.findings.append(
                    Finding("against", earlier.subject, f"does not verify: {earlier.summary}")
                )
                checks[-1] = Check("against", False, "the earlier bundle does not verify")
        facts = BundleFacts(ctx.label, ctx.known.bundle_id or ctx.bag.facts.bag)
    findings = tuple(ctx.findings)
    failed = [c.name for c in checks if not c.ok]
    if failed:
        count = f"{len(findings)} problem{'s' if len(findings) != 1 else ''}"
        summary = f"{count}; failed: {', '.join(failed)}"
    else:
        summary = f"all {len(checks)} checks passed; root digest {checks[len(TABLE) - 1].detail}"
    subject = f"bundle {facts.bundle or '?'} ({facts.source})"
    return Report(subject, facts, findings, tuple(checks), summary)


def _run(ctx: Context, name: str, check: Callable[[Context], str]) -> Check:
    ctx.check = name
    before = len(ctx.findings)
    try:
        detail = check(ctx)
    except NotChecked as exc:
        return Check(name, False, f"not checked: {exc}")
    except Exception as exc:  # a verifier bug on a hostile bundle: report, go on
        ctx.found("bundle", f"the {name} check failed unexpectedly: {say(exc)}", "error")
        detail = ""
    found = len(ctx.findings) - before
    if found:
        detail = f"{found} problem{'s' if found > 1 else ''}"
    return Check(name, not found, detail)


__all__ = ["CHECKS", "TABLE", "BundleFacts", "BundleReport", "verify_bundle"]
