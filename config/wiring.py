"""The one place that turns settings into adapters."""

from __future__ import annotations

import functools
from dataclasses import dataclass
from datetime import UTC, datetime

from config.settings import Settings, load
from evidence.ports import Catalog, Clock, ObjectStore
from evidence.sizes import MiB
from storage.keys import KeyRing
from storage.sql.catalog import SqlCatalog


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
