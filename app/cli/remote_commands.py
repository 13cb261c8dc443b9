"""The commands in client mode (``app.cli.remote.via``): ``jitev exhibits``,
``custody``, ``transfer`` and ``bundle`` through a jitev server's API, as
the signed-in person. Each takes the options of its direct command (less
``--as``), prints the same ``--json`` (an API answer is the ``as_dict()``
of the domain value the direct command prints) and the same tables (the
answers rebuilt into domain values, ``remote_values``, for ``app.render``),
and exits with the same codes (the server's errors are the domain's own,
``app.client.Server.answer``). ``remote_admin`` holds the others, and the
following of jobs.

A download is checked on the way, never trusting the server more than the
catalog: the bytes are hashed as they arrive, and a file is kept only when
its size, BLAKE3 and SHA-256 are those the server's record of it says (and
its headers, for an exhibit); otherwise nothing is left behind
(``common.write_new``) and the error is an integrity failure (exit 3)."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import typer

from app import render
from app.cli import remote_values as rv
from app.cli.common import console, err, print_json, write_new
from app.client import Login, Server
from app.render import esc
from evidence.errors import InputError, IntegrityError, JitevError
from evidence.hashing import MultiHash
from evidence.models import Handling, Purpose, TransferState, parse_handling_code, parse_purpose

Json = dict[str, Any]
Expected = tuple[int | None, str | None, str | None]  # size, BLAKE3, SHA-256 (None: unchecked)
POLL_SECONDS = 1.0  # how often a followed job is looked at


# -- what every remote command shares -----------------------------------------------------


def part(text: str) -> str:
    """A reference or id as one segment of an API path."""
    return quote(text, safe="")


def listed(server: Server, path: str, **params: Any) -> Iterator[Json]:
    """Every item of a list answer: a page envelope (``items``, ``next``)
    walked to its end, or a plain list (an endpoint not yet paginated)."""
    page = server.get(path, **params, limit=1000)
    while isinstance(page, dict):
        yield from page["items"]
        if not page.get("next"):
            return
        page = server.get(path, **params, limit=1000, cursor=page["next"])
    yield from page


def given(options: dict[str, Any]) -> dict[str, Any]:
    """The options a person gave (a filter left out is ``None``, ``False`` or empty)."""
    return {k: v for k, v in options.items() if v not in (None, False, "", [], ())}


def follow(server: Server, job: Json, wait: bool, as_json: bool) -> Json:
    """Say what was submitted, as ``app.cli.jobs.submitted`` does; with
    ``wait``, follow it through ``GET /jobs/{id}`` to its end (a job that did
    not complete is an error that says how to retry it)."""
    if not wait:
        if as_json:
            print_json(job)
        else:
            render.job(console, rv.rebuilt(server.url, "job", rv.job, job))
            err.print(f"[dim]follow it: jitev jobs show {job['id']} --wait[/]")
        return job
    if not as_json:
        err.print(f"Submitted {esc(str(job['kind']))} job {job['id']}; waiting for a worker…")
    done = wait_for(server, job)
    if done["state"] != "COMPLETED":
        raise JitevError(
            f"{done['kind']} job {done['id']} ended {done['state']}: {done.get('error')}; once "
            f"the cause is fixed, `jitev jobs retry {done['id']}` runs it again (it does only "
            "what was left)"
        )
    return done


def wait_for(server: Server, job: Json) -> Json:
    while not job.get("finished"):
        time.sleep(POLL_SECONDS)
        job = server.get(f"/jobs/{part(job['id'])}")
    return job


def safe_name(server: Server, name: str, what: str) -> str:
    """A file name the server gave, used in a folder only if it is one plain name."""
    if not name or name in {".", ".."} or "/" in name or "\\" in name or "\0" in name:
        raise InputError(
            f"the jitev server {server.url} names the {what} {name!r}, not a plain file name: "
            "give --out a file name"
        )
    return name


def checked_download(
    server: Server,
    path: str,
    target: Path,
    expected: Expected,
    what: str,
    params: dict[str, Any],
    headers_say: Callable[[Any], tuple[str | None, str | None]] | None = None,
) -> None:
    """Stream ``path`` into the new file ``target``, hashed on the way; kept
    only when its (size, BLAKE3, SHA-256) are ``expected`` (``None``: not
    recorded, not checked) and, with ``headers_say``, those the headers say."""

    def fill(write: Callable[[bytes], None]) -> None:
        hashed = MultiHash()

        def both(chunk: bytes) -> None:
            hashed.update(chunk)
            write(chunk)

        headers = server.download(path, both, **params)
        got = hashed.digests()
        size, blake3, sha256 = expected
        wrong = []
        if size is not None and got.size != size:
            wrong.append(f"{got.size} bytes, not the {size} recorded")
        if blake3 is not None and got.blake3 != blake3:
            wrong.append(f"BLAKE3 {got.blake3}, not the recorded {blake3}")
        if sha256 is not None and got.sha256 != sha256:
            wrong.append(f"SHA-256 {got.sha256}, not the recorded {sha256}")
        if headers_say is not None:
            said_sha256, said_blake3 = headers_say(headers)
            if said_sha256 != got.sha256 or said_blake3 != got.blake3:
                wrong.append(
                    f"the answer's X-Content-SHA256 {said_sha256} and X-Content-BLAKE3 "
                    f"{said_blake3} are not the digests of its bytes"
                )
        if wrong:
            raise IntegrityError(
                f"the {what} downloaded from {server.url} is not the one recorded: "
                f"{'; '.join(wrong)}; nothing was kept: try again, and if it goes on, tell "
                "the server's operator"
            )

    write_new(target, fill)


# -- exhibits and continuity ---------------------------------------------------------------


def exhibits_list(server: Server, login: Login, *, as_json: bool = False, **filters: Any) -> None:
    """GET /exhibits with the filters given (``case``, ``team``, and the
    list's other filters, by the API's names: an option ``hash_`` is ``hash``)."""
    params = {k.rstrip("_"): v for k, v in given(filters).items()}
    found = list(listed(server, "/exhibits", **params))
    if as_json:
        print_json(found)
    else:
        render.exhibits(console, [rv.rebuilt(server.url, "exhibit", rv.exhibit, e) for e in found])


def _exhibit(server: Server, reference: str, case: str | None) -> Json:
    """GET /exhibits/{ref}: the exhibit, its ``holders`` and its ``continuity``."""
    found: Json = server.get(f"/exhibits/{part(reference)}", case=case)
    return found


def _plain(found: Json) -> Json:
    return {k: v for k, v in found.items() if k not in ("holders", "continuity")}


def exhibits_show(
    server: Server, login: Login, reference: str, case: str | None = None, as_json: bool = False
) -> None:
    found = _exhibit(server, reference, case)
    shown = {**_plain(found), "holders": found["holders"]}
    if as_json:
        print_json(shown)
        return
    ex = rv.rebuilt(server.url, "exhibit", rv.exhibit, found)
    holders = [rv.rebuilt(server.url, "holding", rv.holding, h) for h in found["holders"]]
    render.exhibit(console, ex, holders)


def custody_show(
    server: Server, login: Login, reference: str, case: str | None = None, as_json: bool = False
) -> None:
    found = _exhibit(server, reference, case)
    if as_json:
        print_json(
            {"exhibit": _plain(found), "holders": found["holders"], "events": found["continuity"]}
        )
        return
    ex = rv.rebuilt(server.url, "exhibit", rv.exhibit, found)
    events = [rv.rebuilt(server.url, "custody event", rv.event, e) for e in found["continuity"]]
    holders = [rv.rebuilt(server.url, "holding", rv.holding, h) for h in found["holders"]]
    render.continuity(console, ex, events, holders)


def exhibits_download(
    server: Server,
    login: Login,
    reference: str,
    out: str,
    case: str | None = None,
    as_json: bool = False,
) -> None:
    """Stream the exhibit's bytes from the server, checked against its record
    (GET /exhibits/{ref}) and the answer's digest headers; then the ACCESSED
    event the server recorded for it."""
    record = _exhibit(server, reference, case)
    ref = str(record["reference"])
    target = Path(out)
    if target.is_dir():
        target = target / safe_name(server, str(record["original_name"]), f"exhibit {ref}")
    checked_download(
        server,
        f"/exhibits/{part(ref)}/content",
        target,
        (int(record["size"]), record["blake3"], record["sha256"]),
        f"exhibit {ref}",
        {"case": record["case"]},
        headers_say=lambda h: (h.get("x-content-sha256"), h.get("x-content-blake3")),
    )
    after = _exhibit(server, ref, record["case"])
    accessed = [
        e for e in after["continuity"] if e["action"] == "ACCESSED" and e["actor"] == login.person
    ]
    event = accessed[-1] if accessed else None
    if as_json:
        print_json({"path": str(target), "event": event})
    else:
        seq = f" (custody event #{event['seq']})" if event else ""
        console.print(f"{ref} → {esc(str(target))}: BLAKE3 and SHA-256 verified{seq}")


def _event_answer(server: Server, event: Json, as_json: bool, line: str) -> None:
    if as_json:
        print_json(event)
    else:
        console.print(f"{esc(str(event['exhibit']))}: {line} (custody event #{event['seq']})")


def exhibits_handling(
    server: Server,
    login: Login,
    reference: str,
    code: str,
    note: str = "",
    purpose: list[str] | None = None,
    case: str | None = None,
    as_json: bool = False,
) -> None:
    new = Handling(
        parse_handling_code(code), note.strip(), tuple(parse_purpose(p) for p in purpose or [])
    )  # refused here as in direct mode (an H3 without its note)
    body = {
        "code": new.code.value,
        "note": new.note,
        "purposes": [p.value for p in new.purposes if p is not Purpose.JIT],
    }
    event = server.post(f"/exhibits/{part(reference)}/handling", body, case=case)
    said = f"handling {new.code.value}{' — ' + esc(new.note) if new.note else ''}"
    _event_answer(server, event, as_json, f"{said}; purposes {', '.join(new.purposes)}")


def exhibits_consent(
    server: Server,
    login: Login,
    reference: str,
    for_team: str,
    note: str,
    case: str | None = None,
    as_json: bool = False,
) -> None:
    body = {"for_team": for_team, "note": note}
    event = server.post(f"/exhibits/{part(reference)}/consent", body, case=case)
    _event_answer(server, event, as_json, f"judicial use in {esc(for_team)} consented")


def exhibits_sensitive(
    server: Server,
    login: Login,
    reference: str,
    reason: str | None = None,
    clear: bool = False,
    case: str | None = None,
    as_json: bool = False,
) -> None:
    if clear == (reason is not None):
        raise InputError('give either --reason "..." or --clear')
    body = {"sensitive": not clear, "reason": reason or ""}
    event = server.post(f"/exhibits/{part(reference)}/sensitivity", body, case=case)
    _event_answer(server, event, as_json, "no longer sensitive" if clear else "sensitive")


# -- hand-offs ------------------------------------------------------------------------------


def _show_transfer(server: Server, answer: Json, as_json: bool) -> Json | None:
    """Print a transfer answer (with its ``receipt_check``) as ``transfers._show``
    does; the receipt check's JSON."""
    shown = {k: v for k, v in answer.items() if k != "job"}
    check = shown.get("receipt_check")
    if as_json:
        print_json(shown)
    else:
        t = rv.rebuilt(server.url, "transfer", rv.transfer, shown)
        render.transfer(
            console, t, rv.rebuilt(server.url, "report", rv.report, check) if check else None
        )
    return check


def _finish_transfer(server: Server, answer: Json, as_json: bool) -> None:
    _show_transfer(server, answer, as_json)
    if answer["state"] == TransferState.FAILED.value:
        raise IntegrityError(f"transfer {answer['id']} failed: {answer.get('failure')}")


def _tid(transfer_id: str) -> str:
    return f"/transfers/{part(transfer_id)}"


def transfer_request(
    server: Server,
    login: Login,
    exhibits: list[str],
    case: str,
    to: str,
    purpose: str = "jit",
    legal_basis: str = "",
    note: str = "",
    as_json: bool = False,
) -> None:
    body = {
        "case": case,
        "exhibits": exhibits,
        "to_team": to,
        "purpose": purpose,
        "legal_basis": legal_basis,
        "note": note,
    }
    _show_transfer(server, server.post("/transfers", body), as_json)


def transfer_approve(
    server: Server,
    login: Login,
    transfer_id: str,
    reason: str = "",
    dispatch: bool = True,
    wait: bool = False,
    as_json: bool = False,
) -> None:
    """The last approval starts the dispatch at the server, a job: said, or
    with ``wait`` followed, then the transfer as it ended."""
    answer = server.post(f"{_tid(transfer_id)}/approve", {"reason": reason}, dispatch=dispatch)
    job = answer.get("job")
    if job is None:
        _finish_transfer(server, answer, as_json)
        return
    follow(server, job, wait, as_json)
    if wait:
        _finish_transfer(server, server.get(_tid(transfer_id)), as_json)


def transfer_reject(
    server: Server, login: Login, transfer_id: str, reason: str, as_json: bool = False
) -> None:
    _show_transfer(server, server.post(f"{_tid(transfer_id)}/reject", {"reason": reason}), as_json)


def transfer_cancel(
    server: Server, login: Login, transfer_id: str, reason: str, as_json: bool = False
) -> None:
    _show_transfer(server, server.post(f"{_tid(transfer_id)}/cancel", {"reason": reason}), as_json)


def transfer_dispatch(
    server: Server, login: Login, transfer_id: str, wait: bool = False, as_json: bool = False
) -> None:
    job = server.post(f"{_tid(transfer_id)}/dispatch")
    follow(server, job, wait, as_json)
    if wait:
        _finish_transfer(server, server.get(_tid(transfer_id)), as_json)


def transfer_receive(server: Server, login: Login, transfer_id: str, as_json: bool = False) -> None:
    _finish_transfer(server, server.post(f"{_tid(transfer_id)}/receive"), as_json)


def transfer_list(
    server: Server, login: Login, case: str | None = None, as_json: bool = False
) -> None:
    found = [
        {k: v for k, v in t.items() if k != "receipt_check"}
        for t in listed(server, "/transfers", case=case)
    ]
    if as_json:
        print_json(found)
    else:
        render.transfers(
            console, [rv.rebuilt(server.url, "transfer", rv.transfer, t) for t in found]
        )


def transfer_show(server: Server, login: Login, transfer_id: str, as_json: bool = False) -> None:
    check = _show_transfer(server, server.get(_tid(transfer_id)), as_json)
    if check is not None and not check.get("ok"):
        raise typer.Exit(1)


# -- disclosure bundles -----------------------------------------------------------------------


def _bundle(server: Server, data: Json) -> None:
    render.bundle(console, rv.rebuilt(server.url, "bundle", rv.bundle, data))


def bundle_create(
    server: Server,
    login: Login,
    case: str,
    exhibits: list[str] | None = None,
    all_held: bool = False,
    wait: bool = False,
    as_json: bool = False,
    **filters: Any,
) -> None:
    """POST /bundles: checked at once, built by a job; with ``wait``, the bundle."""
    if all_held == bool(exhibits) and not given(filters):
        raise InputError("name the exhibits with --exhibits REF (repeat), or use --all-held")
    body = {"case": case, "exhibits": exhibits or None, "all_held": all_held, **given(filters)}
    job = follow(server, server.post("/bundles", body), wait, as_json)
    if not wait:
        return
    made = server.get(f"/bundles/{part(str(job['result']['id']))}")
    if as_json:
        print_json(made)
    else:
        _bundle(server, made)


def bundle_list(
    server: Server, login: Login, case: str | None = None, as_json: bool = False
) -> None:
    found = list(listed(server, "/bundles", case=case))
    if as_json:
        print_json(found)
    else:
        for b in found:
            _bundle(server, b)


def bundle_show(server: Server, login: Login, bundle_id: str, as_json: bool = False) -> None:
    found = server.get(f"/bundles/{part(bundle_id)}")
    if as_json:
        print_json(found)
    else:
        _bundle(server, found)


def bundle_download(
    server: Server, login: Login, bundle_id: str, out: str, sensitive: bool = False
) -> None:
    """Stream the bundle ZIP (or its sensitive schedule, whose BLAKE3 is its
    recorded key), checked against the bundle's record on the way."""
    b = server.get(f"/bundles/{part(bundle_id)}")
    bid = safe_name(server, str(b["id"]), "bundle")
    target = Path(out)
    if target.is_dir():
        target = target / (f"{bid}-sensitive.csv" if sensitive else f"{bid}.zip")
    if sensitive:
        if not b.get("sensitive_schedule"):
            raise InputError(f"bundle {bid} has no sensitive schedule: nothing was kept out")
        expected: Expected = (None, b["sensitive_schedule"], None)
    else:
        expected = (int(b["size"]), b["blake3"], b["sha256"])
    what = f"sensitive schedule of bundle {bid}" if sensitive else f"bundle {bid}"
    params = {"sensitive": True} if sensitive else {}
    checked_download(server, f"/bundles/{part(bid)}/content", target, expected, what, params)
    console.print(f"{bid} → {esc(str(target))}")
