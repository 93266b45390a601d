"""The gateway's settings: read from SENDCASE_GATEWAY_<FIELD>, and for what it shares with the services (the
PostgreSQL server, NATS, the subject prefix, logging) from SENDCASE_<FIELD> too, so one environment serves both.

Two modes. `development` (what `sendcase up` runs): plain HTTP on this machine, cookies without Secure, no HSTS, and
the development sign-in (pick a demo person) may be switched on. `production` (the default): cookies Secure, HSTS,
an https address, and a configuration that switches the development sign-in on refuses to start.

Two identity providers, both OpenID Connect: `staff_*` (the LA's own: Entra ID, Keycloak; roles from the access
mapping file) and `citizen_*` (parents and young people: GOV.UK One Login, or the LA's own). docs/security.md says
how to connect each.
"""

from __future__ import annotations

import ipaddress
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit, urlunsplit

from pydantic import Field
from pydantic_settings import BaseSettings, EnvSettingsSource, PydanticBaseSettingsSource, SettingsConfigDict

from contracts.subjects import DEFAULT_PREFIX
from services.runtime.errors import ConfigurationError

ClientAuth = Literal["client_secret_basic", "client_secret_post", "private_key_jwt"]

# Read from SENDCASE_<FIELD> as well as SENDCASE_GATEWAY_<FIELD>: what the gateway shares with the services.
SHARED = frozenset(
    {
        "postgres_url",
        "nats_url",
        "nats_tls_ca_file",
        "nats_tls_cert_file",
        "nats_tls_key_file",
        "subject_prefix",
        "create_database",
        "log_format",
        "log_level",
        "local_authority_code",
    }
)


class _SharedEnv(EnvSettingsSource):
    """SENDCASE_<FIELD>, for the shared fields only (SENDCASE_PORT, say, is nothing of the gateway's)."""

    def __call__(self) -> dict[str, Any]:
        return {k: v for k, v in super().__call__().items() if k in SHARED}


class ProviderSettings:
    """One identity provider's settings, read from its prefix's fields (`staff_...` or `citizen_...`)."""

    def __init__(self, settings: GatewaySettings, kind: Literal["staff", "citizen"]) -> None:
        get = lambda field: getattr(settings, f"{kind}_{field}")
        self.kind = kind
        self.discovery_url: str | None = get("discovery_url")
        self.client_id: str | None = get("client_id")
        self.client_secret: str | None = get("client_secret")
        self.client_auth: ClientAuth = get("client_auth")
        self.client_key_file: Path | None = get("client_key_file")
        self.scopes: str = get("scopes")
        self.userinfo: bool = get("userinfo")
        self.label: str = get("label")

    @property
    def configured(self) -> bool:
        return bool(self.discovery_url)


class GatewaySettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="SENDCASE_GATEWAY_", extra="ignore")

    mode: Literal["development", "production"] = "production"
    # Pick a demo person and act as them, with no password: only in development (a production config refuses to start).
    development_sign_in: bool = False
    demo_people: Path | None = None  # the demo people to pick from (TOML: infra/demo/people.toml)

    host: str = "127.0.0.1"
    port: int = Field(default=8080, ge=0, le=65535)
    # Where people reach the gateway (behind the LA's proxy: its https address). The providers' redirect URIs are
    # made from it: <public_url>/auth/staff/callback and <public_url>/auth/citizen/callback.
    public_url: str = "http://127.0.0.1:8080"
    # The proxies whose X-Forwarded-For is believed (comma-separated addresses): per-address limits count the
    # address they name. Empty: none, the connection's own address counts.
    trusted_proxies: str = ""

    postgres_url: str = "postgresql://postgres@127.0.0.1:5432/postgres"
    database_url: str | None = None  # the gateway's own database: sendcase_gateway on postgres_url's server
    create_database: bool = True
    nats_url: str = "nats://127.0.0.1:4222"
    nats_tls_ca_file: str | None = None
    nats_tls_cert_file: str | None = None
    nats_tls_key_file: str | None = None
    subject_prefix: str = DEFAULT_PREFIX
    log_format: Literal["console", "json"] = "console"
    log_level: str = "INFO"
    local_authority_code: str = "000"
    # a command or query the services do not answer in time is sent again (a command with the same id) this often
    request_timeout_seconds: float = Field(default=5.0, gt=0, le=120)
    request_retries: int = Field(default=1, ge=0, le=5)

    # The LA's identity provider, for its staff and the schools' (OpenID Connect, authorization code with PKCE).
    staff_discovery_url: str | None = (
        None  # https://login.microsoftonline.com/<tenant>/v2.0/.well-known/openid-configuration
    )
    staff_client_id: str | None = None
    staff_client_secret: str | None = Field(default=None, repr=False)
    staff_client_auth: ClientAuth = "client_secret_basic"
    staff_client_key_file: Path | None = None  # a PEM private key, for private_key_jwt
    staff_scopes: str = "openid profile email"
    staff_userinfo: bool = False  # ask the userinfo endpoint for claims the ID token lacks (the groups, say)
    staff_label: str = "your council or school account"
    # Who gets which role: the LA's access mapping (TOML; infra/local_authorities/840/access.toml is an example).
    access_mapping: Path | None = None
    # The audience bearer tokens for the API must name (Entra ID: the API's application ID URI). Default: the
    # staff client id.
    api_audience: str | None = None

    # The citizen identity provider, for parents and young people (GOV.UK One Login, or the LA's own).
    citizen_discovery_url: str | None = None  # https://oidc.account.gov.uk/.well-known/openid-configuration
    citizen_client_id: str | None = None
    citizen_client_secret: str | None = Field(default=None, repr=False)
    citizen_client_auth: ClientAuth = "private_key_jwt"  # as GOV.UK One Login requires
    citizen_client_key_file: Path | None = None
    citizen_scopes: str = "openid email"
    citizen_userinfo: bool = False
    citizen_label: str = "GOV.UK One Login"

    # Sessions (server-side, in the gateway's database): ended after this long unused, and after this long at most.
    session_idle_minutes: float = Field(default=30, gt=0, le=24 * 60)
    session_max_hours: float = Field(default=10, gt=0, le=7 * 24)
    token_leeway_seconds: int = Field(default=60, ge=0, le=300)  # clock skew allowed on a token's exp, nbf, iat

    # Limits, counted in the gateway's database (so they hold across replicas), per minute.
    sign_in_per_minute_per_address: int = Field(default=30, ge=1)
    sign_in_per_minute_per_person: int = Field(default=10, ge=1)
    api_per_minute_per_address: int = Field(default=1200, ge=1)
    api_per_minute_per_person: int = Field(default=600, ge=1)
    max_body_bytes: int = Field(default=1024 * 1024, ge=1024)  # an API request (a roll import is one request)
    max_form_bytes: int = Field(default=16 * 1024, ge=1024)  # a sign-in page's form

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return init_settings, env_settings, _SharedEnv(settings_cls, env_prefix="SENDCASE_")

    @property
    def development(self) -> bool:
        return self.mode == "development"

    @property
    def gateway_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        parts = urlsplit(self.postgres_url)
        return urlunsplit(parts._replace(path="/sendcase_gateway"))

    @property
    def base_url(self) -> str:
        return self.public_url.rstrip("/")

    @property
    def staff(self) -> ProviderSettings:
        return ProviderSettings(self, "staff")

    @property
    def citizen(self) -> ProviderSettings:
        return ProviderSettings(self, "citizen")

    @property
    def audience(self) -> str | None:
        return self.api_audience or self.staff_client_id

    def check(self) -> None:
        """Refuse a configuration the gateway must not run with, saying what to change (ConfigurationError)."""
        if self.development_sign_in and not self.development:
            raise ConfigurationError(
                "SENDCASE_GATEWAY_DEVELOPMENT_SIGN_IN is on in a production configuration: it lets anyone act as "
                "anyone, so the gateway will not start. Switch it off (and connect the LA's identity provider: "
                "docs/security.md), or set SENDCASE_GATEWAY_MODE=development on a machine of your own."
            )
        if self.development_sign_in and not (
            _loopback_host(self.host) and _loopback_host(urlsplit(self.public_url).hostname)
        ):
            raise ConfigurationError(
                f"the development sign-in lets anyone who reaches the gateway act as anyone, so it listens on this "
                f"machine only: SENDCASE_GATEWAY_HOST ({self.host!r}) and SENDCASE_GATEWAY_PUBLIC_URL "
                f"({self.public_url!r}) must both be 127.0.0.1, ::1 or localhost"
            )
        if self.development_sign_in and self.demo_people is None:
            raise ConfigurationError(
                "the development sign-in needs its demo people: set SENDCASE_GATEWAY_DEMO_PEOPLE to a file such as "
                "infra/demo/people.toml (`sendcase up` does)"
            )
        for provider in (self.staff, self.citizen):
            self._check_provider(provider)
        if self.staff.configured and self.access_mapping is None:
            raise ConfigurationError(
                "the staff identity provider is set but no access mapping is: set SENDCASE_GATEWAY_ACCESS_MAPPING to "
                "the LA's access.toml (who gets which role; docs/security.md). Without it nobody would have a role."
            )
        if not self.development:
            if not (self.staff.configured or self.citizen.configured):
                raise ConfigurationError(
                    "no identity provider is set, so nobody could sign in: set SENDCASE_GATEWAY_STAFF_DISCOVERY_URL "
                    "(and its client id and secret) and/or SENDCASE_GATEWAY_CITIZEN_DISCOVERY_URL (docs/security.md)"
                )
            if not _https_or_loopback(self.public_url):
                raise ConfigurationError(
                    f"SENDCASE_GATEWAY_PUBLIC_URL {self.public_url!r} is not https: in production people reach the "
                    "gateway over TLS (at the LA's proxy), and its cookies are Secure"
                )

    def _check_provider(self, provider: ProviderSettings) -> None:
        name = f"SENDCASE_GATEWAY_{provider.kind.upper()}"
        if not provider.configured:
            return
        assert provider.discovery_url is not None
        if not provider.client_id:
            raise ConfigurationError(f"{name}_DISCOVERY_URL is set but {name}_CLIENT_ID is not")
        if not self.development and not _https_or_loopback(provider.discovery_url):
            raise ConfigurationError(f"{name}_DISCOVERY_URL must be https in production")
        if provider.client_auth == "private_key_jwt":
            if provider.client_key_file is None:
                raise ConfigurationError(
                    f"{name}_CLIENT_AUTH is private_key_jwt: set {name}_CLIENT_KEY_FILE to the client's private key "
                    "(PEM), whose public key the provider holds"
                )
            if not provider.client_key_file.is_file():
                raise ConfigurationError(f"{name}_CLIENT_KEY_FILE {provider.client_key_file} is not a file")
        elif not provider.client_secret:
            raise ConfigurationError(f"{name}_CLIENT_AUTH is {provider.client_auth}: set {name}_CLIENT_SECRET")


def _loopback_host(host: str | None) -> bool:
    if host in ("localhost",):
        return True
    try:
        return ipaddress.ip_address((host or "").strip("[]")).is_loopback
    except ValueError:
        return False


def _https_or_loopback(url: str) -> bool:
    parts = urlsplit(url)
    if parts.scheme == "https":
        return True
    host = parts.hostname or ""
    if host == "localhost":
        return parts.scheme == "http"
    try:
        return parts.scheme == "http" and ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def load_gateway_settings(**overrides: Any) -> GatewaySettings:
    """The gateway's settings: overrides, then SENDCASE_GATEWAY_<FIELD>, then SENDCASE_<FIELD> for the shared ones."""
    return GatewaySettings(**overrides)
