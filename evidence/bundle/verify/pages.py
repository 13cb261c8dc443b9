"""Checks 5 and 10: the schedule's page ranges and Bates numbers against
``bundle.pdf`` and its stamps, and the root digest against bag-info, the
ledger head, the schedule and the cover."""

from __future__ import annotations

from evidence.bundle import layout
from evidence.bundle.verify.context import Context, NotChecked
from evidence.bundle.verify.parts import INFO, PDF, Row


def _page(page: int, ref: str = "") -> str:
    """``data/bundle.pdf page 9 (BG-EX-0002)``: a page, and the exhibit it belongs to."""
    return f"{PDF} page {page}" + (f" ({ref})" if ref else "")


def check_pdf(ctx: Context) -> str:
    pdf = ctx.report(ctx.pdf)
    rows = ctx.need(ctx.schedule)
    case, team = ctx.known.case_id, ctx.known.team
    if case is None or team is None:
        raise NotChecked("bag-info.txt gives no usable Bundle-Case and Bundle-Team")
    prefix = layout.bates_prefix(case, team)
    previous = 0
    for row in rows:
        previous = _row_pages(ctx, row, prefix, pdf.pages, previous)
    if rows and previous != pdf.pages and previous:
        message = (
            f"has {pdf.pages} pages, the exhibits end on page {previous}: nothing follows "
            "the last exhibit"
        )
        ctx.found(PDF, message, "extra")
    return f"{pdf.pages} pages; {len(rows)} exhibits' page ranges, Bates numbers and stamps"


def _row_pages(ctx: Context, row: Row, prefix: str, pages: int, previous: int) -> int:
    """Check one row's pages, after the ``previous`` rows' last page; return
    the last page of the rows so far."""
    at = row.where()
    first, last = row.integer("first_page"), row.integer("last_page")
    if first is None or last is None:
        message = f"pages {row['first_page']!r}-{row['last_page']!r} are not page numbers"
        ctx.found(at, message, "malformed")
        return previous
    if not 1 <= first <= last <= pages:
        ctx.found(at, f"pages {first}-{last} are not within the PDF's {pages} pages", "mismatch")
        return previous
    if first <= previous:
        message = (
            f"pages {first}-{last} start before the previous row's end (page {previous}): "
            "page ranges follow the schedule and do not overlap"
        )
        ctx.found(at, message, "order")
    for name, page in (("begbates", first), ("endbates", last)):
        expected = layout.bates(prefix, page)
        if row[name] != expected:
            ctx.found(at, f"{name} {row[name]!r}, expected {expected!r}", "mismatch")
    ref = row["reference"]
    for page in sorted({first, last}):
        text = ctx.page_text(page)
        if text is None:
            ctx.found(_page(page, ref), "no text extracted", "unreadable")
            continue
        missing = [s for s in (layout.bates(prefix, page), ref) if s and s not in text]
        if missing:
            message = f"the stamp {' and '.join(missing)} is not on the page"
            ctx.found(_page(page, ref), message, "stamp")
    return max(previous, last)


def check_root_digest(ctx: Context) -> str:
    info = ctx.known
    bundle, case, team = info.bundle_id, info.case_id, info.team
    prosecutor, created, root, head = info.prosecutor, info.created, info.root_digest, info.head
    if (
        bundle is None
        or case is None
        or team is None
        or prosecutor is None
        or created is None
        or root is None
        or head is None
    ):
        raise NotChecked("bag-info.txt lacks a field of the root digest (see bag-info)")
    exhibits = []
    for row in ctx.need(ctx.schedule):
        size = row.integer("size")
        if size is None:
            raise NotChecked(f"{row.where()} has no usable size")
        exhibits.append((row["reference"], size, row["blake3"], row["sha256"]))
    identity = layout.Identity(bundle, case, team, prosecutor, created)
    computed = layout.root_digest(identity, head, exhibits)
    if computed != root:
        message = (
            f"Bundle-Root-Digest is {root}, but bag-info, the ledger head and the schedule "
            f"give {computed}"
        )
        ctx.found(INFO, message, "mismatch")
    cover = ctx.page_text(1)
    if cover is None:
        ctx.found(_page(1), "the cover cannot be read to find the root digest", "unreadable")
    else:
        for label, value in (("root digest", root), ("bundle id", bundle)):
            if value not in cover:
                ctx.found(_page(1), f"the cover does not show the {label} {value}", "mismatch")
    return f"{computed} recomputed and shown on the cover"
