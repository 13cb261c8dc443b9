"""The one place that turns settings into adapters."""

from __future__ import annotations

import functools
import logging
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from config.settings import Settings, load
from evidence.errors import JitevError
from evidence.models import Case
from evidence.ports import Catalog, Clock, ObjectStore, WitnessClient
from evidence.setup import log_policy
from evidence.sizes import MiB
from evidence.tlog.notes import VerifierKey
from evidence.tlog.policy import Policy
from evidence.tlog.publish import Publication, publish
from evidence.tlog.witness import Witness
from storage.keys import KeyRing
from storage.sql.catalog import SqlCatalog
from storage.verified import FileVerifiedHeads
from storage.witnesses import HttpWitness, LocalWitness, local_witness

log = logging.getLogger("jitev.ledger")


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)


@dataclass(frozen=True)
class Wiring:
    settings: Settings
    clock: Clock
    store: ObjectStore
    catalog: Catalog
    keys: KeyRing

    def origin(self, case_id: str) -> str:
        """The name of the case's log: ``<[ledger] origin>/<case id>``."""
        return f"{self.settings.ledger.origin}/{case_id}"

    def verified_heads(self) -> FileVerifiedHeads:
        """How far this server verified each chain: ``$JITEV_HOME/verified``,
        beside its keys and never in the catalog (``evidence.verified``)."""
        return FileVerifiedHeads(self.settings.home / "verified")

    def witnesses(self, case: Case) -> list[WitnessClient]:
        """Each member team's witness: on its own machine where ``[witnesses]``
        names it, else embedded under ``$JITEV_HOME/witnesses/<TEAM>``."""
        remote = self.settings.witnesses.endpoints()
        found: list[WitnessClient] = []
        for team in case.teams:
            if team.code in remote:
                endpoint = remote[team.code]
                key = VerifierKey.parse(endpoint.vkey)
                found.append(HttpWitness(team.code, endpoint.url, key))
            else:
                found.append(LocalWitness(team.code, self.embedded_witness(team.code)))
        return found

    def embedded_witness(
        self,
        team: str,
        folder: Path | None = None,
        log_key: str | None = None,
        follows: str | None = None,
    ) -> Witness:
        """Team ``team``'s witness with its key and state in ``folder``
        (default ``$JITEV_HOME/witnesses/<TEAM>``), cosigning the logs signed by
        ``log_key`` (hex; default this machine's log key) whose origins start
        with ``follows`` (default ``<[ledger] origin>/``)."""
        origin = self.settings.ledger.origin
        return local_witness(
            folder or self.settings.witnesses_dir / team,
            team,
            f"{origin}/witness/{team}",
            follows or f"{origin}/",
            log_key or self.keys.log.load_or_create().public_key,
        )

    def checkpoint(self, case_id: str) -> Publication | None:
        """Ask the case's witnesses to cosign a checkpoint of its log as it
        stands; ``None`` for a case whose ledger records no log policy yet."""
        recorded = log_policy(self.catalog, case_id)
        if recorded is None:
            return None
        origin, text = recorded
        signer = self.keys.log.load()
        case = self.catalog.case(case_id)
        return publish(
            self.catalog, case_id, origin, signer, self.witnesses(case), Policy.parse(text)
        )

    def publish(self, case_id: str) -> Publication | None:
        """``checkpoint``, after an action or a flow that appended events. It
        never fails the work, which is done: a witness that is down, or a log
        key that is not on this machine, is said on the ``jitev.ledger`` log,
        and the next publication covers the events in between."""
        try:
            publication = self.checkpoint(case_id)
        except JitevError as exc:
            log.warning("case %s: no checkpoint was published: %s", case_id, exc)
            return None
        for witness, why in (publication.missing if publication else {}).items():
            log.warning("case %s: witness %s did not cosign: %s", case_id, witness, why)
        return publication


def build(settings: Settings, clock: Clock | None = None) -> Wiring:
    clock = clock or SystemClock()
    s = settings.store
    store: ObjectStore
    if s.backend == "s3":
        from storage.objects.s3 import S3Store

        store = S3Store(
            s.endpoint,
            s.access_key,
            s.secret_key.get_secret_value(),
            secure=s.secure,
            region=s.region,
            bucket_prefix=s.bucket_prefix,
            retention_days=s.retention_days,
            clock=clock,
            part_size=s.part_size_mib * MiB,
            small_object_max=s.small_object_max_mib * MiB,
            put_parallel=s.put_parallel,
        )
    else:
        from storage.objects.local import LocalStore

        store = LocalStore(settings.store_root, retention_days=s.retention_days, clock=clock)
    if settings.db.url is None:
        settings.home.mkdir(parents=True, exist_ok=True)
    catalog = SqlCatalog(settings.db_url, clock)
    if settings.db.auto_migrate:
        catalog.migrate()
    return Wiring(settings, clock, store, catalog, KeyRing(settings.keys_dir))


@functools.cache
def current() -> Wiring:
    """The process's wiring from the environment and config file, built once."""
    return build(load())
