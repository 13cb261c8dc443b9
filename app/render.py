"""How the CLI (and the demo) show exhibits, ingests, transfers, continuity
and reports to a person. Every value that came from outside is escaped
(``esc``) before rich reads it as markup."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from rich.console import Console
from rich.markup import escape
from rich.progress import (
    BarColumn,
    DownloadColumn,
    TextColumn,
    TimeElapsedColumn,
    TransferSpeedColumn,
)
from rich.progress import Progress as Bar
from rich.table import Table

from app.actions import SetupResult
from evidence.findings import Report
from evidence.ingest import IngestPlan, Progress
from evidence.ledger import ChainFacts
from evidence.models import Bundle, Case, CustodyEvent, Exhibit, Holding, Person, Transfer
from evidence.outcomes import IngestResult, Outcome, OutcomeStatus
from evidence.ports import IngestRun
from evidence.receipts import fingerprint as key_fingerprint
from evidence.shown import visible
from evidence.tlog.publish import Publication

if TYPE_CHECKING:
    from app.jobs import Job


def esc(text: str, keep: str = "") -> str:
    """Text from evidence or a person, for a Rich console: every control
    character shown (``evidence.shown.visible``), Rich's markup escaped."""
    return escape(visible(text, keep))


def size(n: int) -> str:
    value = float(n)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{n} B" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{n} B"


class IngestBar(Progress):
    """The ingest progress bar: files, bytes, rate."""

    __slots__ = ("_bar", "_task", "_files", "_total", "_what")

    def __init__(self, bar: Bar) -> None:
        self._bar = bar
        self._task = bar.add_task("starting", total=None)
        self._files = 0
        self._total = 0
        self._what = ""

    def _describe(self) -> str:
        return f"{self._what}{self._files}/{self._total} files"

    def planned(self, plan: IngestPlan, run: IngestRun) -> None:
        done = [f for f in plan.files if f.source.relative in run.done]
        self.begin(len(plan.files), plan.total_bytes, len(done), sum(f.source.size for f in done))

    def begin(
        self, files: int, total: int, done_files: int = 0, done_bytes: int = 0, what: str = ""
    ) -> None:
        """A stage of ``files`` files of ``total`` bytes (``what``: its name)."""
        self._files, self._total, self._what = done_files, files, what
        self._bar.update(
            self._task, total=total, completed=done_bytes, description=self._describe()
        )

    def read(self, n: int) -> None:
        self._bar.advance(self._task, n)

    def committed(self, outcome: Outcome) -> None:
        self._files += 1
        self._bar.update(self._task, description=self._describe())


@contextmanager
def ingest_bar(console: Console) -> Iterator[IngestBar]:
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        DownloadColumn(),
        TransferSpeedColumn(),
        TimeElapsedColumn(),
    )
    with Bar(*columns, console=console, transient=False) as bar:
        yield IngestBar(bar)


OUTCOME_STYLE = {
    OutcomeStatus.STORED: "green",
    OutcomeStatus.DUPLICATE: "yellow",
    OutcomeStatus.QUARANTINED: "bold red",
    OutcomeStatus.CHANGED: "bold red",
    OutcomeStatus.UNREADABLE: "bold red",
    OutcomeStatus.UNCHANGED: "dim",
}
PROBLEMS = {OutcomeStatus.CHANGED, OutcomeStatus.UNREADABLE, OutcomeStatus.QUARANTINED}
OUTCOME_ROWS = 50  # files listed one by one; a bigger ingest is summed up (--json lists all)


def outcomes(console: Console, rows: Sequence[Outcome]) -> None:
    if len(rows) > OUTCOME_ROWS:
        counts = Counter(row.status for row in rows)
        summary = ", ".join(
            f"[{OUTCOME_STYLE[status]}]{counts[status]} {status.value}[/]"
            for status in OutcomeStatus
            if counts[status]
        )
        console.print(f"{len(rows)} files: {summary} (every file: add --json)")
        for row in (r for r in rows if r.status in PROBLEMS):
            console.print(f"[bold red]{esc(row.source)}[/]: {esc(row.message)}")
        return
    table = Table(title="Exhibits from this ingest")
    table.add_column("Reference", no_wrap=True)
    table.add_column("File and hashes", overflow="fold")
    table.add_column("Size", justify="right", no_wrap=True)
    table.add_column("Status", no_wrap=True)
    for row in rows:
        hashes = f"\nBLAKE3  {row.blake3}\nSHA-256 {row.sha256}" if row.blake3 else ""
        table.add_row(
            row.reference or "-",
            f"[bold]{esc(row.source)}[/]{hashes}",
            size(row.size) if row.blake3 else "-",
            f"[{OUTCOME_STYLE[row.status]}]{row.status.value}[/]",
        )
    console.print(table)
    for row in rows:
        if row.message:
            colour = {OutcomeStatus.DUPLICATE: "yellow", OutcomeStatus.UNCHANGED: "dim"}.get(
                row.status, "bold red"
            )
            console.print(f"[{colour}]{esc(row.source)}[/]: {esc(row.message)}")


def ingest_result(console: Console, result: IngestResult, chain: Report[ChainFacts] | None) -> None:
    """What an ingest did, then the ledger it left (``None``: not verified here)."""
    if result.resumed:
        console.print(
            f"Resumed an unfinished ingest: {result.already_done} file(s) were already recorded."
        )
    for skipped in result.skipped:
        label = "[bold red]not read[/]" if skipped.unreadable else "[yellow]skipped[/]"
        console.print(f"{label} {esc(skipped.path)}: {esc(skipped.reason)}")
    outcomes(console, result.outcomes)
    if result.seconds:
        stages = ", ".join(f"{k.replace('_', '+')} {v:.2f} s" for k, v in result.seconds.items())
        console.print(f"[dim]Time per stage (summed over workers): {stages}[/]")
    if chain is not None:
        ledger_summary(console, chain)


def exhibits(console: Console, items: Iterable[Exhibit]) -> None:
    table = Table(title="Exhibits")
    columns = ("Reference", "Title", "Type", "Size", "BLAKE3", "Code", "Status", "Ingested (UTC)")
    for column in columns:
        table.add_column(column, overflow="fold")
    for ex in items:
        table.add_row(
            ex.reference,
            esc(ex.title),
            ex.media_type,
            size(ex.size),
            ex.blake3[:12] + "…",
            ex.handling.code.value,
            ex.status.value,
            ex.ingested_at.strftime("%Y-%m-%d %H:%M"),
        )
    console.print(table)


def _handling(value: dict[str, Any]) -> str:
    note = f" — {esc(value['note'])}" if value["note"] else ""
    return f"{value['code']}{note}; agreed purposes: {', '.join(value['purposes'])}"


def exhibit(console: Console, ex: Exhibit, holders: list[Holding]) -> None:
    table = Table(title=f"Exhibit {ex.reference}", show_header=False)
    table.add_column("Field", style="bold")
    table.add_column("Value", overflow="fold")
    for key, value in ex.as_dict().items():
        if key == "handling":
            value = _handling(value)
        elif isinstance(value, dict):
            value = f"{value['algorithm']} {value['value']}"
        table.add_row(key.replace("_", " "), "" if value is None else esc(str(value)))
    table.add_row("held by", held_by(holders))
    console.print(table)


def held_by(holders: list[Holding]) -> str:
    return ", ".join(
        f"{h.team} (originator)"
        if h.transfer_id is None
        else f"{h.team} (for {h.purpose.value if h.purpose else '?'}, {h.transfer_id})"
        for h in holders
    )


def cases(console: Console, found: Iterable[Case]) -> None:
    for c in found:
        teams = ", ".join(t.code + (" (lead)" if t.code == c.lead_team else "") for t in c.teams)
        console.print(
            f"[bold]{c.id}[/] {esc(c.title)} — agreement {esc(c.agreement_ref)}; teams {teams}"
        )


def job(console: Console, job: Job) -> None:
    """One job in a line (its error and its run in the Prefect UI below)."""
    progress = f" {job.progress:.0f} %" if job.progress is not None else ""
    console.print(
        f"{job.id}  {job.kind:<10} {esc(job.case_id):<10} {job.state}{progress}"
        f"  {job.started_at:%Y-%m-%d %H:%M:%S}"
    )
    if job.error:
        console.print(f"  [red]{esc(job.error)}[/]", soft_wrap=True)
    if job.ui_url:
        console.print(f"  [dim]{esc(job.ui_url)}[/]", soft_wrap=True)


def job_result(console: Console, job: Job) -> None:
    """A job's receipt, a line a row."""
    rows: Any = job.result if isinstance(job.result, list) else [job.result]
    for row in rows if job.result else []:
        console.print("  " + ", ".join(f"{k}: {esc(str(v))}" for k, v in row.items()))


def people(console: Console, found: Iterable[Person]) -> None:
    table = Table(title="People")
    for column in ("Name", "Team", "Roles"):
        table.add_column(column)
    for p in found:
        table.add_row(esc(p.name), p.team, ", ".join(sorted(p.roles)))
    console.print(table)


def fingerprint(public_key: str) -> str:
    """A short, readable form of a public key's SHA-256 fingerprint."""
    return key_fingerprint(public_key)[:16] if public_key else "(none)"


STATE_STYLE = {
    "requested": "yellow",
    "approved": "cyan",
    "dispatched": "cyan",
    "received": "green",
    "rejected": "red",
    "cancelled": "dim",
    "failed": "bold red",
}


def transfers(console: Console, found: Iterable[Transfer]) -> None:
    table = Table(title="Transfers")
    for column in ("Id", "From → to", "Purpose", "Exhibits", "State", "Waiting for"):
        table.add_column(column, overflow="fold")
    for t in found:
        table.add_row(
            t.id,
            f"{t.from_team} → {t.to_team}",
            t.purpose.value,
            ", ".join(i.reference for i in t.items),
            f"[{STATE_STYLE[t.state.value]}]{t.state.value}[/]",
            "; ".join(r.describe() for r in t.pending()) if t.state.value == "requested" else "",
        )
    console.print(table)


def transfer(console: Console, t: Transfer, receipt: Report[None] | None) -> None:
    console.print(
        f"[bold]Transfer {t.id}[/] — {t.from_team} → {t.to_team}, purpose {t.purpose.value} — "
        f"[{STATE_STYLE[t.state.value]}]{t.state.value}[/]"
    )
    console.print(f"  requested by {esc(t.requested_by)} at {t.requested_at:%Y-%m-%d %H:%M:%S} UTC")
    console.print(f"  legal basis: {esc(t.legal_basis)}", soft_wrap=True)
    if t.note:
        console.print(f"  note: {esc(t.note)}", soft_wrap=True)
    if t.failure:
        console.print(f"  [bold red]{esc(t.failure)}[/]", soft_wrap=True)
    table = Table(show_header=True)
    for column in ("Exhibit", "Origin", "Handling", "Size", "Dispatched"):
        table.add_column(column, overflow="fold")
    for i in t.items:
        table.add_row(
            i.reference,
            i.origin_team,
            _handling(i.handling.as_dict()),
            size(i.size),
            f"verified, event #{i.dispatched_seq}" if i.dispatched_seq else "-",
        )
    console.print(table)
    for i in t.items:
        console.print(f"  {i.reference} BLAKE3  {i.blake3}", style="dim", soft_wrap=True)
        console.print(f"  {i.reference} SHA-256 {i.sha256}", style="dim", soft_wrap=True)
    for r in t.required:
        given = [d for d in t.decisions if (d.capacity, d.team) == (r.capacity, r.team)]
        if given:
            d = given[0]
            verdict = "[green]approved[/]" if d.approved else "[red]rejected[/]"
            why = f": {esc(d.reason)}" if d.reason else ""
            console.print(
                f"  {r.describe()}: {verdict} by {esc(d.person)} at {d.at:%Y-%m-%d %H:%M:%S}{why}",
                soft_wrap=True,
            )
        else:
            console.print(f"  {r.describe()}: [yellow]waiting[/]")
    if t.receipt is not None and receipt is not None:
        p = t.receipt.payload
        mark = "[green]✔ signature valid[/]" if receipt.ok else "[bold red]✘ INVALID[/]"
        console.print(
            f"  receipt: received by {esc(str(p.get('received_by')))} ({p.get('team')}) at {p.get('at')}; "
            f"ed25519 key {t.receipt.key_fingerprint[:16]}; {mark} — {esc(receipt.summary)}",
            soft_wrap=True,
        )
        console.print(f"  signature {t.receipt.signature}", style="dim", soft_wrap=True)


SHOWN = (
    "transfer",
    "from_team",
    "to_team",
    "purpose",
    "legal_basis",
    "capacity",
    "for_team",
    "from",
    "to",
    "verified",
    "copy",
    "source",
    "size",
    "media_type",
    "blake3",
    "sha256",
    "store",
    "retention_until",
    "declared",
    "algorithm",
    "computed",
    "reason",
    "run",
    "received_at",
    "key_fingerprint",
    "receipt_signature",
    "problems",
)


def continuity(
    console: Console, ex: Exhibit, events: list[CustodyEvent], holders: list[Holding]
) -> None:
    """A continuity statement: who had the exhibit, when, from whom, to whom,
    why, and with which hashes."""
    console.print(
        f"[bold]Continuity of {ex.reference}[/] — {esc(ex.title)} — case {ex.case_id}, "
        f"originating team {ex.team}, status {ex.status.value}, handling "
        f"{_handling(ex.handling.as_dict())}"
    )
    console.print(f"Held by: {held_by(holders)}", soft_wrap=True)
    for e in events:
        console.print(
            f"\n[bold]#{e.seq}[/] {e.at.strftime('%Y-%m-%d %H:%M:%S.%f')} UTC  "
            f"[bold]{e.action}[/] by {esc(e.actor)} ({e.team})"
        )
        for key in SHOWN:
            if key in e.details:
                value = e.details[key]
                if isinstance(value, dict):
                    value = " ".join(str(v) for v in value.values())
                elif isinstance(value, list):  # a fixity failure's problems
                    value = "; ".join(str(v.get("message", v)) for v in value)
                if value == "":
                    continue
                console.print(f"    {key.replace('_', ' '):<18}{esc(str(value))}", soft_wrap=True)
        console.print(f"    {'event hash':<18}{e.hash}", style="dim", soft_wrap=True)


def report(console: Console, found: Report[Any]) -> None:
    """Any report (``evidence.findings``): its verdict and summary, its named
    checks if it has any, then every finding with its place."""
    mark = "[green]✔[/]" if found.ok else "[bold red]✘[/]"
    verdict = "" if found.ok else " [bold red]FAILED[/]"
    console.print(
        f"{mark} [bold]{esc(found.subject)}[/]{verdict}: {esc(found.summary)}", soft_wrap=True
    )
    for c in found.checks:
        tick = "[green]✔[/]" if c.ok else "[bold red]✘[/]"
        console.print(f"  {tick} {c.name:<12} {esc(c.detail)}", soft_wrap=True)
    for f in found.findings:
        where = f"[red]{esc(f.where)}[/]: " if f.where else ""
        console.print(f"    {where}{esc(f.message)}", soft_wrap=True)
    for note in found.notes:
        console.print(f"    [yellow]note:[/] {esc(note)}", soft_wrap=True)


def ledger_summary(console: Console, chain: Report[ChainFacts]) -> None:
    v = chain.facts
    state = "[green]intact[/]" if chain.ok else "[bold red]BROKEN[/]"
    console.print(
        f"Ledger of case {v.case}: {state}, {v.events} custody events, head #{v.head_seq} "
        f"{v.head_hash}"
    )


def bundle(console: Console, b: Bundle) -> None:
    console.print(
        f"[bold]Bundle {b.id}[/] — case {b.case_id}, team {b.team}, prosecutor "
        f"{esc(b.prosecutor)}, as of custody event #{b.ledger_head} "
        f"({b.created_at:%Y-%m-%d %H:%M:%S} UTC)"
    )
    console.print(f"  exhibits: {', '.join(b.exhibits)}", soft_wrap=True)
    if b.sensitive:
        console.print(
            f"  on the sensitive schedule (not in the bundle): {', '.join(b.sensitive)}",
            soft_wrap=True,
        )
    console.print(f"  {size(b.size)}; root digest {b.root_digest}", soft_wrap=True)
    console.print(f"  BLAKE3  {b.blake3}", style="dim", soft_wrap=True)
    console.print(f"  SHA-256 {b.sha256}", style="dim", soft_wrap=True)


def added(console: Console, person: Person) -> None:
    console.print(f"Added {esc(person.name)} ({person.team}, {', '.join(sorted(person.roles))})")


def setup(console: Console, err: Console, result: SetupResult) -> None:
    """What ``jitev setup`` added, left alone, opened and registered."""
    for person in result.added:
        added(console, person)
    for wanted, known in result.kept:
        err.print(
            f"[yellow]{esc(wanted.name)} is registered already as {known.team} "
            f"{', '.join(sorted(known.roles))}: left unchanged[/]"
        )
    if result.opened is not None:
        console.print(f"Opened case {result.opened.id}: {esc(result.opened.title)}")
    for key in result.keys:
        where = "on this machine" if key.here else "elsewhere"
        console.print(
            f"Team {key.team} receipt key: ed25519 {fingerprint(key.public_key)} (private key {where})"
        )
    console.print("The case's log policy (C2SP tlog-policy), as its ledger records it:")
    console.print(esc(result.policy, keep="\n"), soft_wrap=True, highlight=False)
    if result.publication is not None:
        publication(console, result.publication)


def publication(console: Console, p: Publication) -> None:
    """One line on a checkpoint and who cosigned it."""
    state = "[green]published[/]" if p.published else "[yellow]waiting for cosignatures[/]"
    signed = ", ".join(p.cosigned) or "no witness yet"
    console.print(f"Checkpoint of case {p.case} at {p.size} events: {state} (cosigned by {signed})")
    for witness, why in p.missing.items():
        console.print(f"  [yellow]witness {witness}[/]: {esc(why)}", soft_wrap=True)


def fixity_audits(console: Console, events: Iterable[CustodyEvent]) -> None:
    """A case's fixity audits, one line each."""
    table = Table(
        "#", "at (UTC)", "by", "share", "copies", "bytes", "failures", "leftovers removed"
    )
    for e in events:
        d = e.details
        table.add_row(
            str(e.seq),
            e.at.strftime("%Y-%m-%d %H:%M:%S"),
            esc(e.actor),
            _share(d.get("share")),
            str(d.get("copies", 0)),
            size(int(d.get("bytes", 0))),
            str(d.get("failures", 0)),
            str(len(d.get("leftovers_removed") or [])),
        )
    console.print(table)


def _share(share: Any) -> str:
    if isinstance(share, dict):
        return f"slice {share.get('slice')} of {share.get('of')}"
    return str(share)


def fixity_audit(console: Console, event: CustodyEvent, failures: Sequence[CustodyEvent]) -> None:
    """One fixity audit: what it checked, each failure, each leftover."""
    d = event.details
    mark = "[green]✔ clean[/]" if not failures else f"[bold red]✘ {len(failures)} failed[/]"
    console.print(
        f"[bold]Fixity audit #{event.seq}[/] of case {event.case_id} by {esc(event.actor)}"
        f" at {event.at.strftime('%Y-%m-%d %H:%M:%S')} UTC: {mark}"
    )
    console.print(
        f"    {_share(d.get('share'))}: {d.get('copies', 0)} copies, "
        f"{size(int(d.get('bytes', 0)))} re-read; checked list BLAKE3 {d.get('checked')}",
        soft_wrap=True,
    )
    for f in failures:
        fd = f.details
        console.print(
            f"    [red]#{f.seq} {esc(str(f.exhibit))}[/] {esc(str(fd.get('copy')))} "
            f"({esc(str(fd.get('store')))})",
            soft_wrap=True,
        )
        for problem in fd.get("problems") or []:
            console.print(f"        {esc(str(problem.get('message')))}", soft_wrap=True)
    for which in ("removed", "kept"):
        for lo in d.get(f"leftovers_{which}") or []:
            console.print(
                f"    leftover {which}: {esc(str(lo.get('team')))}/{esc(str(lo.get('name')))} "
                f"({esc(str(lo.get('kind')))}, {size(int(lo.get('size', 0)))}, "
                f"from {lo.get('modified')})",
                soft_wrap=True,
            )
    console.print(f"    {'event hash':<18}{event.hash}", style="dim", soft_wrap=True)
