"""Verification reports of stored bundles, for the bundle page. A bundle is
write-once, so its report is made once per server process: the stored ZIP is
read into a temporary file under ``$JITEV_HOME`` (checked against its
recorded digest on the way) and put through ``jitev bundle verify``'s checks."""

from __future__ import annotations

import tempfile
import threading
from pathlib import Path

from app import actions
from config.wiring import Wiring
from evidence import disclosure
from evidence.bundle.verify import BundleFacts, verify_bundle
from evidence.findings import Report
from evidence.models import Bundle


class Reports:
    def __init__(self) -> None:
        self._done: dict[str, Report[BundleFacts]] = {}
        self._lock = threading.Lock()

    def get(self, wiring: Wiring, bundle: Bundle) -> Report[BundleFacts]:
        with self._lock:  # one verification at a time: each reads a whole bundle
            if bundle.id not in self._done:
                with tempfile.TemporaryDirectory(dir=actions.workdir(wiring)) as tmp:
                    path = Path(tmp) / f"{bundle.id}.zip"
                    with path.open("wb") as out:
                        disclosure.download_bundle(wiring.store, bundle, out.write, False)
                    self._done[bundle.id] = verify_bundle(str(path))
            return self._done[bundle.id]
