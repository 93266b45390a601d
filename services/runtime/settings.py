"""One settings class for every service, read from the environment (only in bootstrap).

A value is looked up as SENDCASE_<SERVICE>_<FIELD> first, then SENDCASE_<FIELD>, then the default, so one
environment can hold a shared NATS URL and per-service database URLs.
"""

from __future__ import annotations

import os
from functools import cache
from typing import Any, ClassVar, Literal
from urllib.parse import urlsplit, urlunsplit

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, EnvSettingsSource, PydanticBaseSettingsSource, SettingsConfigDict

from contracts.subjects import DEFAULT_PREFIX
from services.runtime.errors import ConfigurationError
from services.runtime.keyring import KEYS_FILE_NAME, MasterKeys
from services.runtime.nats_connection import nats_servers


class ServiceSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="SENDCASE_", extra="ignore")

    service: str
    # The PostgreSQL server; each service's own database on it is sendcase_<service> unless database_url
    # names one outright.
    postgres_url: str = "postgresql://postgres@127.0.0.1:5432/postgres"
    database_url: str | None = None
    # in production tls://<user>:<password>@<host>:4222, or a cluster's nodes, comma-separated (nats_servers)
    nats_url: str = "nats://127.0.0.1:4222"
    # TLS to NATS (PEM files): the CA of the servers' certificates (else the system's), and this service's own
    # certificate and key where the server verifies clients (`verify: true`, as in infra/production).
    nats_tls_ca_file: str | None = None
    nats_tls_cert_file: str | None = None
    nats_tls_key_file: str | None = None
    subject_prefix: str = DEFAULT_PREFIX
    create_database: bool = True  # create the service's database if missing (off where the DBA does it)
    # Test each pooled event-store connection with a query before lending it out (a round trip per checkout).
    # Off: a connection that died is found by the statement that uses it. On where something between the
    # service and PostgreSQL (a firewall, a proxy) drops idle connections silently (docs/operations.md).
    database_pre_ping: bool = False

    log_format: Literal["console", "json"] = "console"
    log_level: str = "INFO"

    relay_batch_size: int = Field(default=500, ge=1, le=10_000)  # notifications the relay reads per page
    relay_in_flight: int = Field(default=512, ge=1, le=4000)  # publishes awaiting their ack at once, at most
    projection_batch_size: int = Field(default=2000, ge=1, le=20_000)  # events a read model applies per batch
    # NOTIFY wakes the relay and projections at once; this poll is only a safety net for a lost LISTEN connection
    poll_seconds: float = Field(default=5.0, gt=0)
    # The relay and projections read at most this often while busy (a lone event waits at most this long): a
    # few commits' events read and applied together instead of one read and transaction per commit.
    follow_gather_seconds: float = Field(default=0.01, ge=0, le=1)
    duplicate_window_seconds: int = Field(default=7 * 24 * 3600, ge=120)  # JetStream dedupe window
    stream_replicas: int = Field(default=1, ge=1, le=5)  # 3 on a three-node NATS cluster
    # Create the streams, or update them, at start. Off in production, where an operator creates them and
    # services may not (their NATS users lack STREAM.CREATE/UPDATE): the service then only checks them.
    manage_streams: bool = True

    # Messages a tracked consumer fetches and applies in one transaction (a batch with a failure or a clash
    # is applied again one message at a time): 1 applies each message on its own.
    consumer_batch_size: int = Field(default=100, ge=1)
    consumer_max_attempts: int = Field(default=5, ge=1)  # then the message goes to the dead-letter subject
    consumer_backoff_seconds: list[float] = Field(default_factory=lambda: [1.0, 5.0, 15.0, 60.0])
    consumer_ack_wait_seconds: float = Field(default=30.0, gt=0)  # redelivery after a crash mid-message

    event_store_threads: int = Field(default=8, ge=1)
    # Requests one replica handles at once per subject (each awaits its reply), and the most commands
    # saved in one transaction (group commit: services/runtime/commands.py).
    requests_in_flight: int = Field(default=128, ge=1, le=10_000)
    command_batch_max: int = Field(default=256, ge=1, le=10_000)
    command_gather_seconds: float = Field(default=0.005, ge=0, le=1)  # a batch waits this long for company
    # How long a command's id (its idempotency key) and first reply are kept: a command sent again with the
    # same id within this time is not done again (docs/operations.md).
    command_ids_kept_days: float = Field(default=30, gt=0)
    # Tamper-evident history (docs/audit.md). Every `anchor_seconds`, when its log moved, and once at a graceful
    # stop, a service publishes its hash chain's head as a checkpoint signed with `anchor_signing_key` (an Ed25519
    # private key: a PEM file's path, or the PEM itself; kept apart from the database) on the <PREFIX>_AUDIT stream.
    # No key: no checkpoints (logged at start). `anchor_public_keys`: further public keys to trust when checking
    # checkpoints (a PEM file, a folder of *.pem, or PEM text), e.g. the keys of before a rotation.
    anchor_seconds: float = Field(default=60.0, gt=0)
    anchor_signing_key: str | None = Field(default=None, repr=False)
    anchor_public_keys: str | None = None
    # At start a service checks the last `chain_check_at_start` events of its log against its chain and its
    # latest checkpoint (0: not at all) and refuses to start when they do not match, naming the positions;
    # `chain_tampering_at_start=warn` only logs it (to bring a service up while the tampering is investigated).
    chain_check_at_start: int = Field(default=1000, ge=0)
    chain_tampering_at_start: Literal["refuse", "warn"] = "refuse"
    local_authority_code: str = "000"  # the LA this deployment serves (3-digit DfE code)

    # Trust (docs/audit.md). The keys file: master keys that wrap every person's data key, and the blind-index
    # key; kept apart from every database (the embedded stack's is $SENDCASE_HOME/keys/sendcase-keys.json).
    # `keys` holds the file's JSON itself, for a secret store that hands it over as a variable.
    keys_file: str | None = None
    keys: str | None = Field(default=None, repr=False)
    # The keyring's own database (every service's data keys, wrapped): sendcase_keys on postgres_url's server
    # unless named outright. In production the LA's key management service can stand behind the same interface.
    keys_database_url: str | None = None
    key_cache_seconds: float = Field(default=60.0, ge=0, le=3600)  # an erased person's key, at most this long

    @model_validator(mode="after")
    def _database_url(self) -> ServiceSettings:
        if self.database_url is None:
            parts = urlsplit(self.postgres_url)
            self.database_url = urlunsplit(parts._replace(path=f"/{self.database_name}"))
        return self

    @property
    def database_name(self) -> str:
        if self.database_url:
            return urlsplit(self.database_url).path.lstrip("/")
        return f"sendcase_{self.service}"

    @property
    def keyring_database_url(self) -> str:
        if self.keys_database_url:
            return self.keys_database_url
        return urlunsplit(urlsplit(self.postgres_url)._replace(path="/sendcase_keys"))

    def master_keys(self) -> MasterKeys:
        """The keys file's contents; a clear error when there is none (a service never starts without)."""
        if self.keys:
            try:
                return MasterKeys.from_json(self.keys)
            except ValueError as e:
                raise ConfigurationError(f"SENDCASE_KEYS: {e}") from None
        path = self.keys_file or os.path.join(os.environ.get("SENDCASE_HOME", ".sendcase"), "keys", KEYS_FILE_NAME)
        if not os.path.exists(path):
            raise ConfigurationError(
                f"no keys file at {path}: set SENDCASE_KEYS_FILE (or SENDCASE_KEYS), or start the embedded stack "
                "with `sendcase up`, which makes one (docs/audit.md)"
            )
        try:
            return MasterKeys.load(path)
        except (OSError, ValueError) as e:
            raise ConfigurationError(f"keys file {path}: {e}") from None

    @property
    def nats_servers(self) -> list[str]:
        return nats_servers(self.nats_url)

    @property
    def events_stream(self) -> str:
        return stream_names(self.subject_prefix)[0]

    @property
    def dead_letter_stream(self) -> str:
        return stream_names(self.subject_prefix)[1]

    @property
    def audit_stream(self) -> str:
        return audit_stream_name(self.subject_prefix)

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        service = getattr(settings_cls, "service_name", None)
        sources: list[PydanticBaseSettingsSource] = [init_settings]
        if service:
            sources.append(EnvSettingsSource(settings_cls, env_prefix=f"SENDCASE_{service.upper()}_"))
        sources.append(env_settings)
        return tuple(sources)


def stream_names(prefix: str) -> tuple[str, str]:
    base = prefix.upper().replace(".", "_").replace("-", "_")
    return f"{base}_EVENTS", f"{base}_DEADLETTER"


def audit_stream_name(prefix: str) -> str:
    """The stream of the services' signed checkpoints: <PREFIX>_AUDIT."""
    return f"{prefix.upper().replace('.', '_').replace('-', '_')}_AUDIT"


@cache
def _settings_class(service: str) -> type[ServiceSettings]:
    return type(
        f"{service.title()}Settings",
        (ServiceSettings,),
        {"service_name": service, "__annotations__": {"service_name": ClassVar[str]}},
    )


def load_settings(service: str, **overrides: Any) -> ServiceSettings:
    """The settings of one service: overrides, then its own environment, then the shared one."""
    return _settings_class(service)(service=service, **overrides)
