"""How the CLI shows exhibits, continuity and verification to a person."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from rich.console import Console
from rich.table import Table

from evidence.ledger import Verification
from evidence.models import CustodyEvent, Exhibit


def size(n: int) -> str:
    value = float(n)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{n} B" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{n} B"


def outcomes(console: Console, rows: list[dict[str, Any]]) -> None:
    table = Table(title="Exhibits from this ingest")
    table.add_column("Reference", no_wrap=True)
    table.add_column("File and hashes", overflow="fold")
    table.add_column("Size", justify="right", no_wrap=True)
    table.add_column("Status", no_wrap=True)
    style = {
        "stored": "green",
        "duplicate": "yellow",
        "quarantined": "bold red",
        "changed": "bold red",
    }
    for row in rows:
        hashes = f"\nBLAKE3  {row['blake3']}\nSHA-256 {row['sha256']}" if row["blake3"] else ""
        table.add_row(
            row["reference"] or "-",
            f"[bold]{row['source']}[/]{hashes}",
            size(row["size"]) if row["blake3"] else "-",
            f"[{style.get(row['status'], '')}]{row['status']}[/]",
        )
    console.print(table)
    for row in rows:
        if row["message"]:
            colour = "yellow" if row["status"] == "duplicate" else "bold red"
            console.print(f"[{colour}]{row['source']}[/]: {row['message']}")


def exhibits(console: Console, items: Iterable[Exhibit]) -> None:
    table = Table(title="Exhibits")
    for column in ("Reference", "Title", "Type", "Size", "BLAKE3", "Status", "Ingested (UTC)"):
        table.add_column(column, overflow="fold")
    for ex in items:
        table.add_row(
            ex.reference,
            ex.title,
            ex.media_type,
            size(ex.size),
            ex.blake3[:12] + "…",
            ex.status.value,
            ex.ingested_at.strftime("%Y-%m-%d %H:%M"),
        )
    console.print(table)


def exhibit(console: Console, ex: Exhibit) -> None:
    table = Table(title=f"Exhibit {ex.reference}", show_header=False)
    table.add_column("Field", style="bold")
    table.add_column("Value", overflow="fold")
    for key, value in ex.as_dict().items():
        if isinstance(value, dict):
            value = f"{value['algorithm']} {value['value']}"
        table.add_row(key.replace("_", " "), "" if value is None else str(value))
    console.print(table)


SHOWN = (
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
)


def continuity(console: Console, ex: Exhibit, events: list[CustodyEvent]) -> None:
    """A continuity statement: who had the exhibit, when, and with which hashes."""
    console.print(
        f"[bold]Continuity of {ex.reference}[/] — {ex.title} — case {ex.case_id}, "
        f"originating team {ex.team}, status {ex.status.value}"
    )
    for e in events:
        console.print(
            f"\n[bold]#{e.seq}[/] {e.at.strftime('%Y-%m-%d %H:%M:%S.%f')} UTC  "
            f"[bold]{e.action}[/] by {e.actor} ({e.team})"
        )
        for key in SHOWN:
            if key in e.details:
                value = e.details[key]
                if isinstance(value, dict):
                    value = " ".join(str(v) for v in value.values())
                console.print(f"    {key.replace('_', ' '):<16}{value}", soft_wrap=True)
        console.print(f"    {'event hash':<16}{e.hash}", style="dim", soft_wrap=True)


def verification(console: Console, check: dict[str, Any]) -> None:
    if check["ok"]:
        console.print(
            f"[green]✔ case {check['case']}: ledger intact[/] — {check['events']} custody events, "
            f"{check['exhibits']} exhibits; head #{check['head_seq']} {check['head_hash']}"
        )
        return
    console.print(f"[bold red]✘ case {check['case']}: verification FAILED[/]")
    problem = check["problem"]
    if problem:
        console.print(
            f"  first bad custody event: #{problem['seq']} ({problem['kind']}): {problem['message']}"
        )
        console.print(f"  the chain is intact up to #{check['head_seq']} {check['head_hash']}")
    for line in check["exhibit_problems"]:
        console.print(f"  {line}")


def ledger_summary(console: Console, v: Verification) -> None:
    state = "[green]intact[/]" if v.ok else "[bold red]BROKEN[/]"
    console.print(
        f"Ledger of case {v.case_id}: {state}, {v.events} custody events, head #{v.head_seq} "
        f"{v.head_hash}"
    )
