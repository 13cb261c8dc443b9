"""The member teams' witnesses, as the log sees them (``evidence.ports.WitnessClient``):

- ``HttpWitness``: a witness on its own machine, spoken to over the C2SP
  tlog-witness protocol (``POST <prefix>/add-checkpoint``; the monitoring
  view ``GET <prefix>/<sha256(origin)>/checkpoint``);
- ``LocalWitness``: the embedded default, a witness in this process with its
  own key and state folder (``storage.witness_state``), for a first run and
  the demo. It shows the mechanism; independence comes from running each
  team's witness on the team's own machine (``jitev witness serve``).

A witness that cannot be reached, or answers 5xx, is ``WitnessUnavailable``;
an answer of the protocol's 4xx is ``Refused`` with its status (409 with the
size the witness last cosigned).
"""

from __future__ import annotations

import hashlib
import time
from pathlib import Path

import httpx

from evidence.errors import WitnessUnavailable
from evidence.tlog import notes
from evidence.tlog.notes import VerifierKey
from evidence.tlog.witness import Refused, Witness
from storage.keys import KeyFile
from storage.witness_state import FileWitnessState

TIMEOUT_S = 10.0


class HttpWitness:
    def __init__(
        self, name: str, url: str, key: VerifierKey, client: httpx.Client | None = None
    ) -> None:
        self.name = name
        self.key = key
        self.url = url.rstrip("/")
        self._client = client or httpx.Client(timeout=TIMEOUT_S)

    def add_checkpoint(self, body: bytes) -> str:
        answer = self._call("POST", "/add-checkpoint", body)
        if answer.status_code == 200:
            return answer.text
        if answer.status_code == 409:
            text = answer.text.strip()
            size = int(text) if text.isdigit() else None
            raise Refused(409, f"witness {self.name} last cosigned size {text}", size=size)
        raise Refused(
            answer.status_code, f"witness {self.name} refused: {answer.text.strip()[:300]}"
        )

    def latest(self, origin: str) -> str | None:
        digest = hashlib.sha256(origin.encode()).hexdigest()
        answer = self._call("GET", f"/{digest}/checkpoint", None)
        if answer.status_code == 404:
            return None
        if answer.status_code != 200:
            raise WitnessUnavailable(
                f"witness {self.name} at {self.url}: {answer.status_code} {answer.text[:200]}"
            )
        return answer.text

    def _call(self, method: str, path: str, body: bytes | None) -> httpx.Response:
        try:
            answer = self._client.request(method, self.url + path, content=body)
        except httpx.HTTPError as exc:
            raise WitnessUnavailable(
                f"witness {self.name} at {self.url} did not answer ({exc}): its cosignature is "
                "asked for again at the next publication"
            ) from None
        if answer.status_code >= 500:
            raise WitnessUnavailable(
                f"witness {self.name} at {self.url} failed ({answer.status_code}): asked again "
                "at the next publication"
            )
        return answer


def local_witness(
    folder: Path, name: str, key_name: str, follows: str, log_public_key: str
) -> Witness:
    """A witness with its key and state in ``folder``, following the logs
    whose origins start with ``follows`` signed by ``log_public_key`` (hex)."""
    signer = KeyFile(folder / "witness.ed25519.pem", f"witness {name}").load_or_create(name)
    key = VerifierKey(key_name, notes.COSIGNATURE, bytes.fromhex(signer.public_key))
    log = bytes.fromhex(log_public_key)

    def log_key(origin: str) -> VerifierKey | None:
        if not origin.startswith(follows) or len(origin) == len(follows):
            return None
        return VerifierKey(origin, notes.NOTE_SIGNATURE, log)

    return Witness(key, signer.sign, log_key, FileWitnessState(folder), lambda: int(time.time()))


class LocalWitness:
    """A team's witness in this process."""

    def __init__(self, name: str, witness: Witness) -> None:
        self.name = name
        self.key = witness.key
        self._witness = witness

    def add_checkpoint(self, body: bytes) -> str:
        return self._witness.add_checkpoint(body)

    def latest(self, origin: str) -> str | None:
        return self._witness.latest(origin)
