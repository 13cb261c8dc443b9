"""Hostile clients of ``jitev serve``: a real server in a subprocess on
127.0.0.1 and a free port, and raw sockets against it.

- A few hundred stalled uploads (a declared ``Content-Length``, a few bytes,
  then nothing) leave the pages and the API answering; the uploads that were
  let in are ended after ``[web] upload_idle_seconds`` (408), the others are
  refused at once (429 for the person's bound, 503 for the server's); nothing
  is recorded, no staging object is left, the server's peak RSS stays bounded.
- A body over the server's limit is refused before it is read.
- ``X-Forwarded-For`` and ``X-Forwarded-Proto`` count only from ``[web]
  trusted_proxies``: for the limit on failed logins, the access log, and the
  session cookie's Secure flag.
"""

from __future__ import annotations

import json
import resource
import selectors
import shutil
import socket
import sqlite3
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.hostile.conftest import RSS_LIMIT_MIB, counts
from tests.integration.cli_helpers import JITEV

PASSWORD = "hostile clients, patient server"
PETROVA = "Insp. Petrova"  # BG investigator
MOREAU = "Lt. Moreau"  # FR investigator
UPLOAD = "/api/v1/cases/DANUBE/exhibits"
STALLED = 300  # connections held open at once
IDLE = 2  # [web] upload_idle_seconds of these servers
ANSWERS = 10.0  # seconds: "it answers", not a measure of speed


@dataclass(frozen=True)
class Home:
    path: Path
    env: dict[str, str]
    tokens: dict[str, str]  # person: API token


@dataclass(frozen=True)
class Server:
    url: str
    port: int
    pid: int
    log: Path

    def peak_rss_mib(self) -> float:
        status = Path(f"/proc/{self.pid}/status").read_text()
        line = next(line for line in status.splitlines() if line.startswith("VmHWM:"))
        return int(line.split()[1]) / 1024  # kB


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def serving(home: Home, **web: str) -> Iterator[Server]:
    """``jitev serve`` on a free loopback port, with ``[web]`` settings from
    ``web`` (``upload_idle_seconds="2"``: ``JITEV_WEB_UPLOAD_IDLE_SECONDS``);
    stopped afterwards, and its output must hold no traceback."""
    port = _free_port()
    env = {**home.env, **{f"JITEV_WEB_{key.upper()}": value for key, value in web.items()}}
    log = home.path.parent / f"serve-{port}.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [JITEV, "serve", "--port", str(port)], env=env, stdout=out, stderr=out
        )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            assert process.poll() is None, log.read_text()
            try:
                if httpx.get(f"{url}/login", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, f"jitev serve did not start:\n{log.read_text()}"
            time.sleep(0.1)
        yield Server(url, port, process.pid, log)
    finally:
        process.terminate()
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
            raise AssertionError("jitev serve did not stop in 30 s after SIGTERM") from None
    said = log.read_text(errors="replace")
    assert "Traceback" not in said, said


@pytest.fixture(scope="module")
def home(case_home: tuple[Path, dict[str, str]]) -> Home:
    """Case DANUBE, passwords for two investigators of two teams, and an API
    token for each."""
    path, env = case_home
    for name in (PETROVA, MOREAU):
        done = subprocess.run(
            [JITEV, "people", "passwd", name, "--password-stdin"],
            env=env,
            input=f"{PASSWORD}\n",
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert done.returncode == 0, done.stderr
    tokens = {}
    with serving(Home(path, env, {})) as server:
        for name in (PETROVA, MOREAU):
            with httpx.Client(base_url=server.url, timeout=ANSWERS) as client:
                answer = client.post("/api/v1/session", json={"name": name, "password": PASSWORD})
                assert answer.status_code == 200, answer.text
                made = client.post(
                    "/api/v1/tokens",
                    json={"label": "hostile"},
                    headers={"X-CSRF-Token": answer.json()["csrf"]},
                )
                assert made.status_code == 201, made.text
                tokens[name] = made.json()["secret"]
    return Home(path, env, tokens)


@pytest.fixture
def fresh(home: Home, tmp_path: Path) -> Home:
    """A copy of the module's home with its own access log (the limit on
    failed logins counts what earlier tests did)."""
    target = tmp_path / "jitev"
    shutil.copytree(home.path, target)
    return Home(target, {**home.env, "JITEV_HOME": str(target)}, home.tokens)


@pytest.fixture(scope="module", autouse=True)
def _sockets() -> None:
    """Room for the stalled connections: this process holds one end of each."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = 4 * STALLED
    if soft < want and (hard == resource.RLIM_INFINITY or hard >= want):
        resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))
    assert resource.getrlimit(resource.RLIMIT_NOFILE)[0] >= want, "raise ulimit -n"


def stalled_upload(server: Server, token: str | None, name: str) -> socket.socket:
    """An upload that declares 1,000 bytes, sends 10 and then nothing."""
    conn = socket.create_connection(("127.0.0.1", server.port), timeout=ANSWERS)
    auth = f"Authorization: Bearer {token}\r\n" if token else ""
    head = (
        f"POST {UPLOAD}?name={name} HTTP/1.1\r\nHost: 127.0.0.1\r\n{auth}"
        "Content-Type: application/octet-stream\r\nContent-Length: 1000\r\n\r\n"
    )
    conn.sendall(head.encode() + b"0123456789")
    return conn


@dataclass(frozen=True)
class Answer:
    status: int
    headers: dict[str, str]
    body: dict[str, str]
    after: float  # seconds from the start until the server closed the connection


def answers(conns: list[socket.socket], start: float, within: float) -> list[Answer]:
    """What the server answered on each connection, once it closed them all
    (fails if one is still open ``within`` seconds after ``start``)."""
    received = {conn: b"" for conn in conns}
    closed: dict[socket.socket, float] = {}
    with selectors.DefaultSelector() as selector:
        for conn in conns:
            conn.setblocking(False)
            selector.register(conn, selectors.EVENT_READ)
        while len(closed) < len(conns):
            left = start + within - time.monotonic()
            assert left > 0, f"{len(conns) - len(closed)} connections still open after {within} s"
            for key, _ in selector.select(min(left, 0.5)):
                conn = key.fileobj
                assert isinstance(conn, socket.socket)
                try:
                    data = conn.recv(65536)
                except ConnectionResetError:
                    data = b""
                if data:
                    received[conn] += data
                else:
                    closed[conn] = time.monotonic() - start
                    selector.unregister(conn)
    found = []
    for conn in conns:
        conn.close()
        head, _, body = received[conn].partition(b"\r\n\r\n")
        status_line, *lines = head.decode("latin-1").split("\r\n")
        headers = {k.lower(): v.strip() for k, _, v in (line.partition(":") for line in lines)}
        found.append(Answer(int(status_line.split()[1]), headers, json.loads(body), closed[conn]))
    return found


def still_answering(server: Server, token: str) -> None:
    """The login page and the API answer, within a generous timeout."""
    login = httpx.get(f"{server.url}/login", timeout=ANSWERS)
    assert login.status_code == 200, login.text
    me = httpx.get(
        f"{server.url}/api/v1/me", headers={"Authorization": f"Bearer {token}"}, timeout=ANSWERS
    )
    assert me.status_code == 200, me.text
    assert me.json()["name"] == PETROVA


def nothing_staged(home: Home) -> None:
    staged = [
        p for p in (home.path / "objects").rglob("*") if p.is_file() and ".incoming" in p.parts
    ]
    assert staged == [], staged


# -- stalled uploads ----------------------------------------------------------------------


def test_hundreds_of_stalled_uploads_leave_the_server_answering(home: Home) -> None:
    before = counts(home.path)
    settings = {"upload_idle_seconds": str(IDLE), "max_uploads": "3"}
    with serving(home, **settings, max_uploads_per_person="2") as server:
        start = time.monotonic()
        people = [home.tokens[PETROVA], home.tokens[MOREAU], None]  # and somebody not signed in
        conns = [stalled_upload(server, people[i % 3], f"stalled-{i}.bin") for i in range(STALLED)]
        still_answering(server, home.tokens[PETROVA])
        found = answers(conns, start, within=IDLE + 30)
        still_answering(server, home.tokens[PETROVA])
        peak = server.peak_rss_mib()

    by_status: dict[int, list[Answer]] = {}
    for answer in found:
        by_status.setdefault(answer.status, []).append(answer)
    assert set(by_status) == {401, 408, 429, 503}, {s: len(a) for s, a in by_status.items()}
    assert len(by_status[401]) == STALLED // 3  # refused before a byte of the body is read
    assert all(a.after < IDLE and a.headers["connection"] == "close" for a in by_status[401])
    # As many were let in as the server allows, and ended once they stalled:
    assert len(by_status[408]) == 3
    for answer in by_status[408]:
        assert IDLE <= answer.after < IDLE + 15
        assert UPLOAD in answer.body["error"] and "upload_idle_seconds" in answer.body["error"]
        assert answer.headers["connection"] == "close"
    # ...the others were refused at once, saying when to come back:
    for status, setting in ((429, "max_uploads_per_person"), (503, "max_uploads")):
        for answer in by_status[status]:
            assert answer.after < IDLE, answer
            assert f"POST {UPLOAD}" in answer.body["error"], answer.body
            assert f"[web] {setting})" in answer.body["error"], answer.body
            assert int(answer.headers["retry-after"]) > 0
            assert answer.headers["connection"] == "close"
    assert counts(home.path) == before
    nothing_staged(home)
    assert peak < RSS_LIMIT_MIB, f"peak RSS {peak:.0f} MiB"


def test_an_upload_slot_is_free_again_once_its_upload_stalled(home: Home) -> None:
    before = counts(home.path)
    token = home.tokens[PETROVA]
    with serving(home, upload_idle_seconds=str(IDLE), max_uploads_per_person="1") as server:
        start = time.monotonic()
        stalled = stalled_upload(server, token, "first.bin")
        time.sleep(0.5)  # the first holds the slot
        second = answers([stalled_upload(server, token, "second.bin")], start, within=IDLE)
        assert [a.status for a in second] == [429]
        assert answers([stalled], start, within=IDLE + 15)[0].status == 408
        sent = httpx.post(
            f"{server.url}{UPLOAD}",
            params={"name": "after.txt"},
            content=b"whole, this time",
            headers={
                "Authorization": f"Bearer {token}",
                "Content-Type": "application/octet-stream",
            },
            timeout=ANSWERS,
        )
        assert sent.status_code == 201, sent.text
    after = counts(home.path)
    assert after["exhibits"] == before["exhibits"] + 1  # after.txt, and only it
    assert after["open_runs"] == before["open_runs"]
    nothing_staged(home)


def test_a_stalled_json_body_ends_and_a_big_one_is_refused_unread(home: Home) -> None:
    with serving(home, upload_idle_seconds=str(IDLE)) as server:
        start = time.monotonic()
        stalled = socket.create_connection(("127.0.0.1", server.port), timeout=ANSWERS)
        stalled.sendall(
            b"POST /api/v1/session HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            b'Content-Type: application/json\r\nContent-Length: 1000\r\n\r\n{"name": '
        )
        [answer] = answers([stalled], start, within=IDLE + 15)
        assert answer.status == 408 and "POST /api/v1/session" in answer.body["error"]

        start = time.monotonic()
        big = socket.create_connection(("127.0.0.1", server.port), timeout=ANSWERS)
        big.sendall(  # 1 GiB declared, not signed in: answered before the body, not after IDLE
            b"POST /api/v1/session HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            b"Content-Type: application/json\r\nContent-Length: 1073741824\r\n\r\n["
        )
        [answer] = answers([big], start, within=ANSWERS)
        assert answer.status == 413 and "POST /api/v1/session" in answer.body["error"]
        assert answer.after < IDLE and answer.headers["connection"] == "close"

        start = time.monotonic()
        chunked = socket.create_connection(("127.0.0.1", server.port), timeout=ANSWERS)
        chunked.sendall(  # no length declared: counted as it comes, refused past 4 MiB
            b"POST /api/v1/session HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            b"Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
        )
        chunk = b"[" * 65536
        for _ in range(4 * 16 + 1):
            chunked.sendall(b"10000\r\n" + chunk + b"\r\n")
        [answer] = answers([chunked], start, within=ANSWERS)
        assert answer.status == 413 and "POST /api/v1/session" in answer.body["error"]
        still_answering(server, home.tokens[PETROVA])
        assert server.peak_rss_mib() < RSS_LIMIT_MIB


# -- forwarded headers ----------------------------------------------------------------------


def access_log(home: Home) -> list[tuple[str, str]]:
    """(action, client address) of every access event with an address."""
    with sqlite3.connect(home.path / "jitev.db") as db:
        rows = db.execute("SELECT action, details FROM access_events ORDER BY seq").fetchall()
    return [(a, json.loads(d)["client"]) for a, d in rows if "client" in json.loads(d)]


def failed_login(server: Server, name: str, forwarded_for: str) -> httpx.Response:
    return httpx.post(
        f"{server.url}/api/v1/session",
        json={"name": name, "password": "not the password"},
        headers={"X-Forwarded-For": forwarded_for},
        timeout=ANSWERS,
    )


def secure_cookie(server: Server) -> bool:
    """Whether the session cookie of a login that says it came over HTTPS is Secure."""
    answer = httpx.post(
        f"{server.url}/api/v1/session",
        json={"name": PETROVA, "password": PASSWORD},
        headers={"X-Forwarded-Proto": "https", "X-Forwarded-For": "192.0.2.1"},
        timeout=ANSWERS,
    )
    assert answer.status_code == 200, answer.text
    return "secure" in [a.strip().lower() for a in answer.headers["set-cookie"].split(";")]


def test_forwarded_headers_from_anyone_change_nothing(fresh: Home) -> None:
    logged = len(access_log(fresh))
    with serving(fresh) as server:
        assert not secure_cookie(server)  # plain http, whatever the header says
        # 20 failures from one address, each claiming another: the 21st is refused.
        for i in range(20):
            assert failed_login(server, f"Nobody {i}", f"203.0.113.{i}").status_code == 403
        refused = failed_login(server, "Nobody else", "198.51.100.1")
    assert refused.status_code == 429, refused.text
    assert "from 127.0.0.1" in refused.json()["error"]
    assert {client for _, client in access_log(fresh)[logged:]} == {"127.0.0.1"}


def test_a_trusted_proxys_forwarded_headers_are_used(fresh: Home) -> None:
    logged = len(access_log(fresh))
    with serving(fresh, trusted_proxies='["127.0.0.1"]') as server:
        assert secure_cookie(server)
        for i in range(20):
            assert failed_login(server, f"Nobody {i}", "203.0.113.9").status_code == 403
        refused = failed_login(server, "Nobody else", "203.0.113.9")
        another = failed_login(server, "Nobody else", "198.51.100.1")
    assert refused.status_code == 429 and "from 203.0.113.9" in refused.json()["error"]
    assert another.status_code == 403, another.text  # another client behind the proxy
    clients = {client for _, client in access_log(fresh)[logged:]}
    assert clients == {"192.0.2.1", "203.0.113.9", "198.51.100.1"}
