"""Settings: one pydantic-settings model per section, each with its own
environment prefix, and a TOML file as one more source.

Precedence, highest first: keyword arguments (tests), environment variables
(``JITEV_STORE_BACKEND=s3``), the ``[store]`` / ``[db]`` / ``[ingest]`` /
``[user]`` / ``[keys]`` / ``[web]`` / ``[ledger]`` / ``[witnesses]`` / ``[engine]`` tables of the TOML file (``$JITEV_CONFIG``, else ``$JITEV_HOME/config.toml``),
then the defaults below. ``config/default.toml`` documents every key.
Nothing is read at import time: call ``load()``.
"""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Callable
from pathlib import Path
from typing import ClassVar, Literal, TypeVar

from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_settings import (
    BaseSettings,
    InitSettingsSource,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from evidence.errors import InputError

T = TypeVar("T")


def home() -> Path:
    return Path(os.environ.get("JITEV_HOME") or Path.home() / ".jitev").expanduser().absolute()


def config_file() -> Path:
    return Path(os.environ.get("JITEV_CONFIG") or home() / "config.toml")


class _Section(BaseSettings):
    table: ClassVar[str]

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        path = config_file()
        table = TomlConfigSettingsSource(settings_cls, toml_file=path).toml_data.get(cls.table, {})
        if not isinstance(table, dict):
            raise InputError(f"{path}: [{cls.table}] is not a table: see config/default.toml")
        # A table the file leaves out keeps its defaults (pydantic-settings's
        # own table lookup raises KeyError for one).
        return (init_settings, env_settings, InitSettingsSource(settings_cls, table))


class StoreSettings(_Section):
    """Where exhibits' bytes are kept: the local write-once directory (default)
    or an S3 server with object lock (MinIO, Ceph RGW, AWS S3)."""

    table = "store"
    model_config = SettingsConfigDict(env_prefix="JITEV_STORE_", extra="forbid")

    backend: Literal["local", "s3"] = "local"
    root: Path | None = None  # local backend; default $JITEV_HOME/objects
    endpoint: str = "127.0.0.1:9000"  # s3 backend: host:port
    access_key: str = ""
    secret_key: SecretStr = SecretStr("")
    secure: bool = False  # https
    region: str | None = None
    bucket_prefix: str = "jitev"  # one bucket per team: <prefix>-<team>
    retention_days: int = Field(default=3650, ge=1)  # COMPLIANCE retention of every object
    part_size_mib: int = Field(default=64, ge=5)
    small_object_max_mib: int = Field(default=8, ge=0)
    put_parallel: int = Field(default=4, ge=1, le=64)  # s3: small puts of a batch at once


class DbSettings(_Section):
    """The catalog and custody ledger: SQLite (default) or PostgreSQL."""

    table = "db"
    model_config = SettingsConfigDict(env_prefix="JITEV_DB_", extra="forbid")

    url: str | None = None  # default sqlite:///$JITEV_HOME/jitev.db
    auto_migrate: bool = True


class IngestSettings(_Section):
    table = "ingest"
    model_config = SettingsConfigDict(env_prefix="JITEV_INGEST_", extra="forbid")

    concurrency: int = Field(default=2, ge=1, le=64)  # batches stored at once (see default.toml)
    batch_files: int = Field(default=500, ge=1)  # files per task, at most
    batch_mib: int = Field(default=1024, ge=1)  # bytes per task, about
    commit_every: int = Field(
        default=256, ge=1
    )  # files per group commit (store sync + one transaction)


class UserSettings(_Section):
    """Who the CLI acts as when a command has no ``--as``."""

    table = "user"
    model_config = SettingsConfigDict(env_prefix="JITEV_USER_", extra="forbid")

    name: str | None = None  # e.g. "Insp. Petrova"


class KeySettings(_Section):
    """Where this machine keeps the private Ed25519 keys of its teams."""

    table = "keys"
    model_config = SettingsConfigDict(env_prefix="JITEV_KEYS_", extra="forbid")

    dir: Path | None = None  # default $JITEV_HOME/keys


class WebSettings(_Section):
    """``jitev serve``: where it listens and what it accepts."""

    table = "web"
    model_config = SettingsConfigDict(env_prefix="JITEV_WEB_", extra="forbid")

    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=1, le=65535)
    max_upload_mib: int = Field(default=65536, ge=1)  # one file; larger uploads are refused
    # A request's body (an upload's) that sends nothing this long is ended (408).
    upload_idle_seconds: float = Field(default=60, gt=0)
    max_uploads: int = Field(default=8, ge=1, le=256)  # uploads at once, everyone's (each a thread)
    max_uploads_per_person: int = Field(default=2, ge=1)  # of them one person's (more: 429)
    max_connections: int = Field(default=1000, ge=1)  # open at once; more are answered 503
    # Secure cookies: None = when the request came over HTTPS (behind a TLS
    # proxy, a trusted one's X-Forwarded-Proto says so; or set true).
    secure_cookies: bool | None = None
    # The proxies whose X-Forwarded-For and X-Forwarded-Proto are believed:
    # addresses or networks ("127.0.0.1", "10.0.0.0/8"). Empty: nobody's; the
    # client is the address that connected.
    trusted_proxies: list[str] = []

    @field_validator("trusted_proxies")
    @classmethod
    def _networks(cls, proxies: list[str]) -> list[str]:
        found = []
        for proxy in proxies:
            try:
                found.append(str(ipaddress.ip_network(proxy.strip(), strict=False)))
            except ValueError:
                raise ValueError(
                    f"{proxy!r} is not an IP address or network (e.g. 127.0.0.1, 10.0.0.0/8)"
                ) from None
        return found


class LedgerSettings(_Section):
    """The custody ledger as a transparency log: each case's log is named
    ``<origin>/<case id>``; its checkpoints are valid once ``quorum`` of the
    member teams' witnesses cosigned them."""

    table = "ledger"
    model_config = SettingsConfigDict(env_prefix="JITEV_LEDGER_", extra="forbid")

    origin: str = Field(default="jitev.local", pattern=r"^[^\s+]+$")  # the deployment's name
    quorum: str = Field(default="all", pattern=r"^(all|any|[1-9][0-9]*)$")

    def quorum_count(self) -> int | None:
        """How many witnesses must cosign; ``None`` for all of them."""
        if self.quorum == "all":
            return None
        return 1 if self.quorum == "any" else int(self.quorum)


class WitnessEndpoint(BaseSettings):
    """A team's witness on its own machine (``jitev witness serve`` there)."""

    model_config = SettingsConfigDict(extra="forbid")

    url: str  # its submission prefix, e.g. https://witness.bg.example/
    vkey: str  # its verifier key, as `jitev witness key` prints it


class WitnessSettings(_Section):
    """``[witnesses.BG] url = ... vkey = ...``: a team not listed here has an
    embedded witness in ``$JITEV_HOME/witnesses/<TEAM>`` (the default)."""

    table = "witnesses"
    model_config = SettingsConfigDict(env_prefix="JITEV_WITNESSES_", extra="allow")

    def endpoints(self) -> dict[str, WitnessEndpoint]:
        return {
            team: WitnessEndpoint.model_validate(value)
            for team, value in (self.model_extra or {}).items()
        }


class EngineSettings(_Section):
    """Where the flows run when ``PREFECT_API_URL`` names no team server:
    ``local``, a long-lived Prefect server per ``$PREFECT_HOME`` (default
    ``$JITEV_HOME/prefect``), started on first use and reused by later
    commands (``jitev engine``); ``ephemeral``, Prefect's own temporary
    server, started by each command that runs a flow."""

    table = "engine"
    model_config = SettingsConfigDict(env_prefix="JITEV_ENGINE_", extra="forbid")

    mode: Literal["local", "ephemeral"] = "local"
    start_timeout: int = Field(default=120, ge=1)  # seconds; a first start migrates a database
    # A team: the work pool of jitev's deployments (`jitev deploy`, `jitev worker`) on the
    # Prefect server PREFECT_API_URL names. Set, the CLI and the web submit flow runs there;
    # empty (the default), the CLI runs flows itself and the web serves them in-process.
    work_pool: str = Field(default="", pattern=r"^([a-z0-9][a-z0-9-]{0,62})?$")
    poll_seconds: int = Field(default=2, ge=1, le=60)  # how often a worker or runner asks for work
    heartbeat_seconds: int = Field(default=30, ge=30)  # a flow run's heartbeats; silence = crashed


class AuditSettings(_Section):
    """Fixity audits (``evidence.fixity``): when they run, how much each run
    covers, how fast it may read, and when a crash leftover is removed."""

    table = "audit"
    model_config = SettingsConfigDict(env_prefix="JITEV_AUDIT_", extra="forbid")

    schedule: str = Field(default="0 3 * * *", pattern=r"^\S+( \S+){4}$")  # cron, five fields
    full_cycle_days: int = Field(default=30, ge=1)  # every copy checked within this many days
    max_mib_s: float = Field(default=0, ge=0)  # reading cap in MiB/s; 0: none
    leftover_grace_hours: float = Field(default=24, ge=0)  # younger crash leftovers are kept
    scheduled_as: str = ""  # the auditor or lead a scheduled audit acts as; empty: schedule paused


class Settings:
    def __init__(
        self,
        store: StoreSettings | None = None,
        db: DbSettings | None = None,
        ingest: IngestSettings | None = None,
        user: UserSettings | None = None,
        keys: KeySettings | None = None,
        web: WebSettings | None = None,
        ledger: LedgerSettings | None = None,
        witnesses: WitnessSettings | None = None,
        engine: EngineSettings | None = None,
        audit: AuditSettings | None = None,
    ) -> None:
        self.home = home()
        self.store = store or StoreSettings()
        self.db = db or DbSettings()
        self.ingest = ingest or IngestSettings()
        self.user = user or UserSettings()
        self.keys = keys or KeySettings()
        self.web = web or WebSettings()
        self.ledger = ledger or LedgerSettings()
        self.witnesses = witnesses or WitnessSettings()
        self.engine = engine or EngineSettings()
        self.audit = audit or AuditSettings()

    @property
    def keys_dir(self) -> Path:
        return self.keys.dir or self.home / "keys"

    @property
    def db_url(self) -> str:
        return self.db.url or f"sqlite:///{self.home / 'jitev.db'}"

    @property
    def store_root(self) -> Path:
        return self.store.root or self.home / "objects"

    @property
    def witnesses_dir(self) -> Path:
        """Where the embedded witnesses keep their keys and state."""
        return self.home / "witnesses"


def load() -> Settings:
    return checked(Settings)


def engine() -> EngineSettings:
    """The ``[engine]`` section alone (no wiring: nothing else is opened)."""
    return checked(EngineSettings)


def checked(make: Callable[[], T]) -> T:
    """Settings built by ``make``; a wrong value is an ``InputError`` naming
    the key, its environment variable and the file, never a traceback."""
    try:
        return make()
    except ValidationError as exc:
        section = next((c for c in _Section.__subclasses__() if c.__name__ == exc.title), None)
        where = []
        for error in exc.errors():
            key = ".".join(str(part) for part in error["loc"])
            if section is None:
                where.append(f"{key}: {error['msg']}")
                continue
            variable = f"{section.model_config.get('env_prefix', '')}{key}".upper()
            where.append(f"[{section.table}] {key} (or {variable}): {error['msg']}")
        raise InputError(
            f"a setting is wrong in {config_file()} or the environment: {'; '.join(where)} "
            "(config/default.toml documents every key)"
        ) from None
