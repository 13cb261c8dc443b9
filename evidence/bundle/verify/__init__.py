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
   a row.
5. ``pdf``: each row's pages lie in ``bundle.pdf``, in schedule order, without
   overlap, the last ending on the PDF's last page; BEGBATES/ENDBATES are
   ``layout.bates(<case>-<team>, page)``; the first and last page of each
   exhibit carry its Bates number and reference in their text (the stamp).
6. ``load file``: ``load.dat``: a header row ``LOAD_FIELDS``, then one row per
   schedule row, in its order, with the same BEGBATES, ENDBATES, REFERENCE,
   NATIVEPATH (the row's ``native``; ``\\`` separators and a leading ``./``
   allowed), FILESIZE, SHA256 and BLAKE3.
7. ``ledger``: ``ledger/custody.jsonl`` parses to custody events whose chain
   (``ledger.verify``) holds from event 1 without a gap; ``Ledger-Head`` is
   its last event, ``Bundle-Created`` that event's time; every scheduled
   exhibit has an INGESTED event, and each of its INGESTED and RECEIVED events
   records the schedule's size and hashes.
8. ``keys``: ``keys.json`` (team -> public key) is exactly the keys that the
   extract's TEAM_KEY_REGISTERED events record (the last one of each team).
9. ``receipts``: every transfer with RECEIVED events in the extract: its
   receipt, rebuilt from them (``receipts.from_events``), verifies with the
   receiving team's key as registered in the extract before the receipt. A
   receipt cut short by the end of the extract cannot verify: the extract
   must hold all of a receipt's RECEIVED events.
10. ``root digest``: ``layout.root_digest`` recomputed from bag-info, the
    ledger head and the schedule equals ``Bundle-Root-Digest``, and the
    PDF's first page (the cover) shows it and the bundle id.

A finding's ``kind`` is the bag check's (``bagcheck``), the chain's
(``ledger.verify``: missing, reordered, bad link, edited), or one of
missing | unreadable | malformed | size | duplicate | order | mismatch |
checksum | extra | stamp | receipt | error (a check that failed unexpectedly).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from evidence.bundle.bagcheck import Source, say
from evidence.bundle.verify import contents, custody, pages
from evidence.bundle.verify.context import Context, NotChecked
from evidence.findings import Check, Report

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
    ("root digest", pages.check_root_digest),
)
CHECKS = tuple(name for name, _ in TABLE)


@dataclass(frozen=True, slots=True)
class BundleFacts:
    source: str  # the path or stream verified
    bundle: str  # External-Identifier, or the bag folder's name, or ""


BundleReport = Report[BundleFacts]


def verify_bundle(source: Source) -> BundleReport:
    """Verify the bundle ZIP at ``source`` (a path, or a seekable binary file),
    offline. Never raises on what the ZIP holds: every problem is a finding."""
    with Context(source) as ctx:
        checks = tuple(_run(ctx, name, check) for name, check in TABLE)
        facts = BundleFacts(ctx.label, ctx.known.bundle_id or ctx.bag.facts.bag)
    findings = tuple(ctx.findings)
    failed = [c.name for c in checks if not c.ok]
    if failed:
        count = f"{len(findings)} problem{'s' if len(findings) != 1 else ''}"
        summary = f"{count}; failed: {', '.join(failed)}"
    else:
        summary = f"all {len(checks)} checks passed; root digest {checks[-1].detail}"
    subject = f"bundle {facts.bundle or '?'} ({facts.source})"
    return Report(subject, facts, findings, checks, summary)


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
