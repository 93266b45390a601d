"""What the gateway's pages and API share: its settings, the access mapping, the identity providers, its database
(sessions, sign-ins, rate limits), and its one NATS connection, through which it acts for whoever signed in.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import secrets
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any, Literal
from uuid import UUID

import asyncpg
import nats.errors
from fastapi import FastAPI, Request

from contracts.envelope import (
    Accepted,
    Actor,
    Answered,
    Command,
    FieldError,
    Query,
    Rejected,
    RejectionCode,
    derived_id,
)
from services.gateway.access import AccessMapping, DemoPerson, load_demo_people
from services.gateway.oidc import OidcProvider
from services.gateway.settings import GatewaySettings, ProviderSettings
from services.gateway.store import GatewayStore, Session
from services.runtime.client import Client, NoReply
from services.runtime.clock import Clock, SystemClock
from services.runtime.database import create_pool, ensure_database
from services.runtime.logging import get_logger
from services.runtime.nats_connection import tls_context

log = get_logger(__name__)

SWEEP_SECONDS = 60.0

# What each refusal of a service is over HTTP.
STATUS_OF = {
    RejectionCode.INVALID: 422,
    RejectionCode.NOT_AUTHORISED: 403,
    RejectionCode.RULE_BROKEN: 422,
    RejectionCode.NOT_FOUND: 404,
    RejectionCode.CONFLICT: 409,
    RejectionCode.INTERNAL_ERROR: 500,
}


class Refusal(Exception):
    """A request the gateway answers with a refusal of its own (the contracts' Rejected body), before or instead of
    asking a service: not signed in, no access, too many requests, a bad header, no reply from the services..."""

    def __init__(
        self,
        status: int,
        code: RejectionCode,
        rule: str,
        message: str,
        *,
        headers: dict[str, str] | None = None,
        field_errors: list[FieldError] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.rejected = Rejected(code=code, rule=rule, message=message, field_errors=field_errors or [])
        self.headers = headers or {}


def not_signed_in(message: str, error: str | None = None) -> Refusal:
    challenge = 'Bearer realm="sendcase"' + (f', error="{error}"' if error else "")
    return Refusal(401, RejectionCode.NOT_AUTHORISED, "not_signed_in", message, headers={"WWW-Authenticate": challenge})


class Gateway:
    """The gateway's parts, opened by the app's lifespan and closed after it."""

    def __init__(self, settings: GatewaySettings, clock: Clock | None = None) -> None:
        settings.check()
        self.settings = settings
        self.clock = clock or SystemClock()
        self.mapping = AccessMapping.load(settings.access_mapping) if settings.access_mapping else None
        self.demo_people: list[DemoPerson] = (
            load_demo_people(settings.demo_people) if settings.development_sign_in and settings.demo_people else []
        )
        self.providers: dict[str, OidcProvider] = {}
        for provider in (settings.staff, settings.citizen):
            if provider.configured:
                self.providers[provider.kind] = self._provider(provider)
        self.secure = not settings.development
        self.session_cookie = "__Host-sendcase-session" if self.secure else "sendcase-session"
        self.browser_cookie = "__Host-sendcase-browser" if self.secure else "sendcase-browser"
        self.pool: asyncpg.Pool | None = None
        self._store: GatewayStore | None = None
        self._client: Client | None = None
        self._secret = b""
        self._sweeper: asyncio.Task[None] | None = None

    def _provider(self, provider: ProviderSettings) -> OidcProvider:
        redirect = f"{self.settings.base_url}/auth/{provider.kind}/callback"
        return OidcProvider(provider, redirect, self.clock, self.settings.token_leeway_seconds)

    # -- start and stop --------------------------------------------------------------------------------------

    @contextlib.asynccontextmanager
    async def lifespan(self, _: FastAPI) -> AsyncIterator[None]:
        await self.start()
        try:
            yield
        finally:
            await self.stop()

    async def start(self) -> None:
        s = self.settings
        if s.create_database:
            await ensure_database(s.gateway_database_url)
        self.pool = await create_pool(s.gateway_database_url, min_size=1, max_size=10)
        idle = timedelta(minutes=s.session_idle_minutes)
        self._store = GatewayStore(self.pool, self.clock, idle, timedelta(hours=s.session_max_hours))
        await self._store.setup()
        self._secret = await self._store.secret()
        tls = tls_context(s.nats_tls_ca_file, s.nats_tls_cert_file, s.nats_tls_key_file)
        # acts for no one of its own: each command and query names the signed-in person's actor
        self._client = Client(
            s.nats_url,
            s.subject_prefix,
            None,
            timeout=s.request_timeout_seconds,
            retries=s.request_retries,
            tls=tls,
            name="sendcase-gateway",
            max_reconnect_attempts=-1,
        )
        await self._client.__aenter__()
        self._sweeper = asyncio.create_task(self._sweep())
        log.info("gateway started", mode=s.mode, providers=sorted(self.providers), dev_sign_in=s.development_sign_in)

    async def stop(self) -> None:
        if self._sweeper is not None:
            self._sweeper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._sweeper
        if self._client is not None and self._client.nc is not None:
            with contextlib.suppress(Exception):
                await self._client.__aexit__()
        for provider in self.providers.values():
            await provider.close()
        if self.pool is not None:
            await self.pool.close()

    async def _sweep(self) -> None:
        while True:
            await asyncio.sleep(SWEEP_SECONDS)
            try:
                await self.store.sweep()
            except Exception as e:  # the next sweep tries again
                log.warning("gateway sweep failed", error=type(e).__name__)

    @property
    def store(self) -> GatewayStore:
        assert self._store is not None, "the gateway has not started"
        return self._store

    @property
    def client(self) -> Client:
        assert self._client is not None, "the gateway has not started"
        return self._client

    # -- who is asking ---------------------------------------------------------------------------------------

    def address(self, request: Request) -> str:
        """The caller's address (the one a trusted proxy names: uvicorn's proxy headers set it)."""
        return request.client.host if request.client else "unknown"

    async def limit(self, kind: Literal["api", "sign_in"], dimension: Literal["address", "person"], who: str) -> None:
        """Count a request; refuse it (429) when `who` made too many this minute, across every replica."""
        most = getattr(self.settings, f"{kind}_per_minute_per_{dimension}")
        hits, retry_after = await self.store.hit(f"{kind}:{dimension}:{who}")
        if hits > most:
            seconds = max(1, int(retry_after + 0.999))
            raise Refusal(
                429,
                RejectionCode.RULE_BROKEN,
                "too_many_requests",
                f"Too many requests from this {'address' if dimension == 'address' else 'person'}: at most {most} a "
                f"minute. Try again in {seconds} seconds.",
                headers={"Retry-After": str(seconds)},
            )

    async def session(self, request: Request) -> tuple[Session | None, bool]:
        token = request.cookies.get(self.session_cookie)
        if not token or len(token) > 100:
            return None, False
        return await self.store.session(token)

    # -- forms shown before sign-in: their CSRF token is bound to the browser's cookie ------------------------

    def new_browser(self) -> str:
        return secrets.token_urlsafe(32)

    def browser_token(self, browser: str) -> str:
        return hmac.new(self._secret, b"forms:" + browser.encode(), hashlib.sha256).hexdigest()

    def browser_token_ok(self, browser: str | None, token: str | None) -> bool:
        return bool(browser and token) and hmac.compare_digest(self.browser_token(browser or ""), token or "")

    # -- asking the services ---------------------------------------------------------------------------------

    def command_id(self, actor: Actor, message: type[Command], key: str | None) -> UUID | None:
        """The command's id from the caller's Idempotency-Key: the same key from the same person, in the same role,
        for the same command, is the same command (sent again, it is not done again); one person's key can never
        name another's command. No key: a fresh id."""
        if key is None:
            return None
        return derived_id(
            "gateway-idempotency", actor.user_id, actor.role.value, actor.organisation, message.SUBJECT, key
        )

    async def ask(
        self, message: Command | Query, actor: Actor, command_id: UUID | None = None
    ) -> Accepted[Any] | Answered[Any] | Rejected:
        try:
            if isinstance(message, Command):
                return await self.client.command(message, actor=actor, command_id=command_id)
            return await self.client.query(message, actor=actor)
        except NoReply as e:
            if e.nobody_listening:
                raise Refusal(
                    503,
                    RejectionCode.INTERNAL_ERROR,
                    "service_unavailable",
                    f"The {message.SUBJECT.split('.')[0]} service is not running just now. Try again shortly.",
                    headers={"Retry-After": "5"},
                ) from None
            raise Refusal(
                504,
                RejectionCode.INTERNAL_ERROR,
                "no_reply",
                f"The {message.SUBJECT.split('.')[0]} service did not reply in time. "
                + (
                    "The command may or may not have been done: send it again with the same Idempotency-Key, "
                    "and it will not be done twice."
                    if isinstance(message, Command)
                    else "Try again shortly."
                ),
            ) from None
        except (nats.errors.Error, OSError) as e:
            log.warning("gateway cannot reach NATS", error=type(e).__name__)
            raise Refusal(
                503,
                RejectionCode.INTERNAL_ERROR,
                "service_unavailable",
                "sendcase's services cannot be reached just now. Try again shortly.",
                headers={"Retry-After": "5"},
            ) from None


def gateway_of(request: Request) -> Gateway:
    gateway: Gateway = request.app.state.gateway
    return gateway
