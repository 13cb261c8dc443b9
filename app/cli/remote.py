"""Client mode: ``jitev login`` and ``jitev logout``, and how a command
chooses between acting directly (the catalog and the store of this
machine: the embedded default, the operator on the server's machine) and
acting through a jitev server's API as the signed-in person (``via``).

A command decorated ``@via(remote_version)`` runs ``remote_version(server,
login, **its options)`` when this user is signed in (``app.client``), and
itself otherwise. ``@direct_only`` marks the operator's commands, refused in
client mode with what to do instead.
"""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable
from typing import Annotated, Any, TypeVar

import typer

from app.cli.common import JsonFlag, console, err, print_json
from app.client import (
    Login,
    Server,
    ServerUnreachable,
    forget,
    keep,
    machine_label,
    server_url,
    signed_in,
)
from app.render import esc
from evidence.errors import InputError, JitevError, NotSignedIn

F = TypeVar("F", bound=Callable[..., Any])


def via(remote: Callable[..., Any]) -> Callable[[F], F]:
    """In client mode, run ``remote(server, login, **options)`` instead."""

    def decorate(direct: F) -> F:
        @functools.wraps(direct)
        def command(*args: Any, **options: Any) -> Any:
            login = signed_in()
            if login is None:
                return direct(*args, **options)
            refuse_as(login, options.pop("acting", None))
            server = Server.of(login)
            try:
                return remote(server, login, *args, **options)
            finally:
                server.close()

        return command  # type: ignore[return-value]

    return decorate


def refuse_as(login: Login, acting: str | None) -> None:
    """``--as`` has no place in client mode: the server knows who signed in."""
    if acting:
        raise InputError(
            f"--as is refused in client mode: you act as {login.person}, signed in to "
            f"{login.server}; to act as someone else, `jitev logout`, then `jitev login` as them"
        )


def direct_only(direct: F) -> F:
    """An operator's command (it needs the catalog and the store): refused in
    client mode."""

    @functools.wraps(direct)
    def command(*args: Any, **options: Any) -> Any:
        login = signed_in()
        if login is not None:
            name = direct.__name__.replace("_", " ")
            raise InputError(
                f"`jitev {name}` works on the catalog and the store directly, an operator's "
                f"command on the server's machine; you are signed in to {login.server} as "
                f"{login.person}: ask its operator, or `jitev logout` to work on this "
                "machine's own catalog"
            )
        return direct(*args, **options)

    return command  # type: ignore[return-value]


def login(
    server: Annotated[
        str, typer.Option("--server", help="The jitev server, e.g. https://jit.example.")
    ],
    name: Annotated[str | None, typer.Option("--name", help="Your name as registered.")] = None,
    password_stdin: Annotated[
        bool, typer.Option("--password-stdin", help="Read the password from standard input.")
    ] = False,
    as_json: JsonFlag = False,
) -> None:
    """Sign in to a jitev server: every command then acts through its API as
    you, with your rights (client mode). The API token it obtains, named
    after this machine, is kept in your config (mode 0600)."""
    url = server_url(server)
    name = name or typer.prompt("Name")
    if password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = typer.prompt("Password", hide_input=True)
    before = signed_in()
    api = Server(url)
    try:
        session = api.post("/session", {"name": name, "password": password})
        csrf = {"X-CSRF-Token": session["csrf"]}
        token = api.call("POST", "/tokens", json={"label": machine_label()}, headers=csrf)
        api.call("DELETE", "/session", headers=csrf)
    finally:
        api.close()
    person = session["person"]
    made = Login(url, person["name"], person["team"], token["id"], token["secret"])
    path = keep(made)
    if before is not None and before.token_id != made.token_id:
        _revoke(before, quiet=True)  # the sign-in it replaces
    if as_json:
        print_json(
            {
                "server": url,
                "person": made.person,
                "team": made.team,
                "token": made.token_id,
                "config": str(path),
            }
        )
    else:
        console.print(
            f"Signed in to {esc(url)} as {esc(made.person)} ({esc(made.team)}): token "
            f"{made.token_id} kept in {esc(str(path))} (mode 0600). Commands now act through "
            "the server; `jitev logout` revokes the token."
        )


def logout(
    keep_token: Annotated[
        bool,
        typer.Option(
            "--forget-only",
            help="Only forget the sign-in here, without revoking the token (the server cannot "
            "be reached): revoke it on the Account page.",
        ),
    ] = False,
    as_json: JsonFlag = False,
) -> None:
    """Revoke this machine's API token at the server and forget the sign-in."""
    found = signed_in()
    if found is None:
        raise InputError("not signed in to a jitev server: nothing to log out of")
    try:
        revoked = False if keep_token else _revoke(found, quiet=False)
    except ServerUnreachable as exc:
        raise ServerUnreachable(
            f"{exc}; your token stays valid and signed in here: run `jitev logout` again when "
            "the server answers, or `jitev logout --forget-only` and revoke it on the Account page"
        ) from exc
    forget()
    if as_json:
        print_json(
            {
                "server": found.server,
                "person": found.person,
                "token": found.token_id,
                "revoked": revoked,
            }
        )
    elif revoked:
        console.print(f"Token {found.token_id} revoked at {esc(found.server)}; signed out.")
    else:
        console.print(
            f"Signed out here; token {found.token_id} is still valid at {esc(found.server)}: "
            "revoke it on the Account page."
        )


def _revoke(found: Login, *, quiet: bool) -> bool:
    """Revoke the sign-in's token; ``True`` when the server revoked it now.
    A token the server no longer accepts is revoked already."""
    api = Server.of(found)
    try:
        api.call("DELETE", f"/tokens/{found.token_id}")
    except NotSignedIn:
        return False
    except JitevError as exc:
        if not quiet:
            raise
        err.print(f"warning: the earlier token {found.token_id} was not revoked: {esc(str(exc))}")
        return False
    finally:
        api.close()
    return True
