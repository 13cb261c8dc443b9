"""``jitev login`` and ``jitev logout``: the token kept 0600, revoked on
logout; a revoked token, a wrong password, a server that does not answer and
``--as`` each refused with what to do."""

from __future__ import annotations

import stat

from tests.client.conftest import Client
from tests.fixtures_web import PASSWORD


def test_login_keeps_a_token_named_after_the_machine_that_logout_revokes(client: Client) -> None:
    done = client.login("Insp. Petrova")
    assert "Signed in to" in done.stdout and "Insp. Petrova" in done.stdout
    mode = stat.S_IMODE(client.config.stat().st_mode)
    assert mode == 0o600
    assert stat.S_IMODE(client.config.parent.stat().st_mode) == 0o700
    with client.api() as api:
        me = api.get("/me").json()
        assert me["name"] == "Insp. Petrova"
        [token] = [t for t in api.get("/tokens").json() if t["revoked_at"] is None]
        assert token["label"].startswith("jitev CLI on ")
        assert token["id"] == client.signed_in("token_id")
        out = client.json("logout")
        assert out["revoked"] is True and not client.config.exists()
        assert api.get("/me").status_code == 401


def test_a_revoked_token_says_to_log_in_again(client: Client) -> None:
    client.login("Insp. Petrova")
    with client.api() as api:  # revoked elsewhere (the Account page)
        assert api.delete(f"/tokens/{client.signed_in('token_id')}").status_code == 200
    done = client.jitev("exhibits", "list", "--case", "DANUBE", check=False)
    assert done.returncode == 5, done.stderr
    assert client.server.url in done.stderr and "jitev login --server" in done.stderr
    assert "Traceback" not in done.stderr


def test_a_wrong_password_a_far_plain_http_server_and_no_server(client: Client) -> None:
    args = ["login", "--name", "Insp. Petrova", "--password-stdin"]
    wrong = client.jitev(*args, "--server", client.server.url, check=False, stdin="not it\n")
    assert wrong.returncode == 5 and client.server.url in wrong.stderr, wrong.stderr
    assert not client.config.exists()
    far = client.jitev(*args, "--server", "http://jit.example", check=False, stdin=PASSWORD + "\n")
    assert far.returncode == 2 and "https://" in far.stderr, far.stderr
    down = client.jitev(*args, "--server", "http://127.0.0.1:9", check=False, stdin=PASSWORD + "\n")
    assert (
        down.returncode == 1 and "cannot reach the jitev server http://127.0.0.1:9" in down.stderr
    )
    assert "Traceback" not in wrong.stderr + far.stderr + down.stderr


def test_as_is_refused_in_client_mode_and_operator_commands_too(client: Client) -> None:
    client.login("Insp. Petrova")
    done = client.jitev("exhibits", "list", "--case", "DANUBE", "--as", "Cdt. Laurent", check=False)
    assert done.returncode == 2 and "--as is refused in client mode" in done.stderr, done.stderr
    assert "Insp. Petrova" in done.stderr
    done = client.jitev(
        "people", "add", "Someone", "--team", "BG", "--role", "investigator", check=False
    )
    assert done.returncode == 2 and "operator" in done.stderr, done.stderr


def test_a_sign_in_others_can_read_is_refused(client: Client) -> None:
    client.login("Insp. Petrova")
    client.config.chmod(0o644)
    done = client.jitev("exhibits", "list", check=False)
    assert done.returncode == 2 and f"chmod 600 {client.config}" in done.stderr, done.stderr
