"""The CLI as a client of a jitev server (client mode): the sign-in kept in
the user's config, and the HTTP API called as that person.

- ``jitev login --server URL`` logs in with the name and password, asks for
  an API token named after this machine, ends the login session and keeps
  the token in ``$XDG_CONFIG_HOME/jitev/client.toml`` (or
  ``$JITEV_CLIENT_CONFIG``), mode 0600 in a folder of mode 0700. A file others
  can read is refused, as ssh refuses a readable key.
- With that file present the CLI is in client mode: commands act through the
  API with the person's own rights; ``--as`` is refused.
- The server's answers become the domain's own errors (the API's ``kind``
  and facts), their message prefixed with the server, so that the CLI's
  wording of the fix (``app.cli.common.explain``) applies unchanged. A
  server that cannot be reached, and a token it no longer accepts, are
  errors of their own that say what to do.

Plain ``http://`` is accepted for loopback only: a token sent in clear to
another machine could be read on the way.
"""

from __future__ import annotations

import json
import os
import socket
import stat
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx

from evidence import errors
from evidence.errors import Consent, InputError, JitevError, NotSignedIn

CONFIG_ENV = "JITEV_CLIENT_CONFIG"
TIMEOUT = httpx.Timeout(60.0, connect=10.0)
LOOPBACK = {"localhost", "127.0.0.1", "::1"}
BUSY_RETRIES = 30  # answers 429/503 with Retry-After waited out, per call


class ServerUnreachable(JitevError):
    """The server did not answer (down, wrong address, network, TLS)."""


@dataclass(frozen=True, slots=True)
class Login:
    """What ``jitev login`` keeps: the server, who signed in, their token."""

    server: str
    person: str
    team: str
    token_id: str
    token: str


def config_path() -> Path:
    if os.environ.get(CONFIG_ENV):
        return Path(os.environ[CONFIG_ENV])
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "jitev" / "client.toml"


def server_url(text: str) -> str:
    """The server's base URL, checked: https, or http on loopback."""
    parts = urlsplit(text.strip().rstrip("/"))
    if parts.scheme not in {"http", "https"} or not parts.hostname:
        raise InputError(
            f"{text!r} is not a server address: give it as https://jit.example", field="server"
        )
    if parts.scheme == "http" and parts.hostname not in LOOPBACK:
        raise InputError(
            f"{text} is plain http: the token would cross the network in clear; "
            "use the server's https:// address",
            field="server",
        )
    if parts.path or parts.query:
        raise InputError(f"{text}: give the server's address only, without a path", field="server")
    return f"{parts.scheme}://{parts.netloc}"


def signed_in() -> Login | None:
    """The sign-in this user keeps, if any (client mode)."""
    path = config_path()
    try:
        st = path.stat()
    except FileNotFoundError:
        return None
    if st.st_mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise InputError(
            f"{path} holds your jitev token and others may read it (mode "
            f"{stat.S_IMODE(st.st_mode):04o}): run `chmod 600 {path}`, or `jitev logout` "
            "and log in again"
        )
    import tomllib

    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
        return Login(**{k: str(data[k]) for k in Login.__slots__})
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise InputError(
            f"{path} is not a jitev sign-in: remove it, then `jitev login --server URL`"
        ) from exc


def keep(login: Login) -> Path:
    """Write the sign-in, mode 0600 from its first byte, replacing any."""
    path = config_path()
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    text = "".join(f"{k} = {json.dumps(v)}\n" for k, v in asdict(login).items())
    partial = path.with_name(f".{path.name}.{os.getpid()}.part")
    fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.write(text)
            out.flush()
            os.fsync(out.fileno())
        os.replace(partial, path)
    finally:
        partial.unlink(missing_ok=True)
    return path


def forget() -> None:
    config_path().unlink(missing_ok=True)


def machine_label() -> str:
    return f"jitev CLI on {socket.gethostname()}"


class Server:
    """The API of one jitev server, as the signed-in person (or, for
    ``login``, with no token yet)."""

    def __init__(self, url: str, token: str | None = None) -> None:
        self.url = url
        headers = {"User-Agent": "jitev-cli"}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        self.http = httpx.Client(base_url=f"{url}/api/v1", headers=headers, timeout=TIMEOUT)

    @classmethod
    def of(cls, login: Login) -> Server:
        return cls(login.server, login.token)

    def close(self) -> None:
        self.http.close()

    def call(self, method: str, path: str, **kwargs: Any) -> Any:
        """One call, its JSON answer; waits out 429/503 ``Retry-After``."""
        for _ in range(BUSY_RETRIES):
            response = self._send(lambda: self.http.request(method, path, **kwargs), path)
            if not self._busy(response):
                return self.answer(response, f"{method} {path}")
        return self.answer(response, f"{method} {path}")

    def get(self, path: str, **params: Any) -> Any:
        return self.call("GET", path, params=_given(params))

    def post(self, path: str, body: Any = None, **params: Any) -> Any:
        return self.call("POST", path, json=body if body is not None else {}, params=_given(params))

    def every(self, path: str, **params: Any) -> Iterator[Any]:
        """Every item of a paginated list, page after page."""
        cursor = None
        while True:
            page = self.get(path, **params, limit=1000, cursor=cursor)
            yield from page["items"]
            cursor = page.get("next")
            if not cursor:
                return

    def download(self, path: str, write: Callable[[bytes], object], **params: Any) -> httpx.Headers:
        """Stream an answer's bytes to ``write``; the answer's headers."""

        def streamed() -> httpx.Headers:
            with self.http.stream("GET", path, params=_given(params)) as response:
                if response.status_code != 200:
                    response.read()
                    self.answer(response, f"GET {path}")
                for chunk in response.iter_bytes(1024 * 1024):
                    write(chunk)
                return response.headers

        headers: httpx.Headers = self._send(streamed, path)
        return headers

    def upload(
        self, path: str, body: Callable[[], Iterable[bytes]], length: int, media_type: str
    ) -> Any:
        """POST a streamed body (``body()`` makes it afresh for each try)."""
        headers = {"Content-Length": str(length), "Content-Type": media_type}
        for _ in range(BUSY_RETRIES):
            response = self._send(
                lambda: self.http.post(path, content=body(), headers=headers), path
            )
            if not self._busy(response):
                break
        return self.answer(response, f"POST {path}")

    # -- answers ---------------------------------------------------------------------

    def _send(self, send: Callable[[], Any], path: str) -> Any:
        try:
            return send()
        except httpx.TimeoutException as exc:
            raise ServerUnreachable(
                f"the jitev server {self.url} did not answer in time ({path}): try again; "
                "if it goes on, tell its operator"
            ) from exc
        except httpx.TransportError as exc:
            raise ServerUnreachable(
                f"cannot reach the jitev server {self.url} ({exc or type(exc).__name__}): check "
                "the address and your network, then try again (`jitev logout` to work on "
                "this machine's own catalog instead)"
            ) from exc

    @staticmethod
    def _busy(response: httpx.Response) -> bool:
        retry = response.headers.get("retry-after", "")
        if response.status_code in (429, 503) and retry.isdigit():
            response.close()
            time.sleep(min(int(retry), 30))
            return True
        return False

    def answer(self, response: httpx.Response, what: str) -> Any:
        if response.is_success:
            return response.json() if response.content else None
        try:
            body = response.json()
        except ValueError:
            body = {}
        if not isinstance(body, dict):
            body = {}
        message = str(body.get("error") or response.reason_phrase or response.status_code)
        if response.status_code == 401:
            raise NotSignedIn(
                f"the jitev server {self.url} no longer accepts your sign-in ({message}): "
                f"run `jitev login --server {self.url}` again"
            )
        if response.status_code >= 500 and body.get("kind") in (None, "InternalError"):
            raise JitevError(
                f"the jitev server {self.url} failed on {what} ({message}): try again later, "
                "or tell its operator the time"
            )
        raise _error(body, f"{self.url}: {message}")


def _given(params: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in params.items() if v is not None}


def _error(body: dict[str, Any], message: str) -> JitevError:
    """The server's error as the domain's own: its class (``kind``) and facts."""
    kind = getattr(errors, str(body.get("kind", "")), None)
    if not (isinstance(kind, type) and issubclass(kind, JitevError)):
        return InputError(message) if body.get("kind") == "ValidationError" else JitevError(message)
    if issubclass(kind, errors.IllegalTransition):
        return kind(
            message, transfer_id=str(body.get("transfer", "")), state=str(body.get("state", ""))
        )
    if issubclass(kind, errors.Ambiguous):
        return kind(message, cases=tuple(body.get("cases") or ()))
    if issubclass(kind, errors.ConsentMissing):
        consents = tuple(Consent(**c) for c in body.get("consents") or ())
        return kind(message, consents=consents)
    if issubclass(kind, InputError):
        return kind(message, field=body.get("field"))
    try:
        return kind(message)
    except TypeError:
        return JitevError(message)
