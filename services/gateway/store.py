"""The gateway's own database: sessions, sign-ins under way, rate-limit counts, and its form-signing secret.

Everything here is shared by every replica of the gateway (they use one database), so a session made by one is
honoured by another, a sign-in that leaves from one may come back to another, and a limit counts every replica's
requests. Nothing secret is stored as it travels: a session's cookie value and a sign-in's state are kept only as
their SHA-256, and rate-limit keys (an address, a person's id) only as theirs.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal, TypeVar

import asyncpg
from pydantic import BaseModel

from contracts.envelope import Actor
from services.runtime.clock import Clock

T = TypeVar("T")
SIGN_IN_MAX_AGE = timedelta(minutes=10)  # from leaving for the provider to coming back
RATE_WINDOW_SECONDS = 60

DDL = """
CREATE TABLE IF NOT EXISTS gateway_sessions (
    id_hash       bytea PRIMARY KEY,      -- SHA-256 of the cookie's value (the value itself is never stored)
    identity      jsonb NOT NULL,         -- who signed in, and every role they may act in
    actor         jsonb,                  -- the role they act in now (one of identity's), null until chosen
    csrf_token    text NOT NULL,
    created_at    timestamptz NOT NULL,
    last_seen_at  timestamptz NOT NULL
);
CREATE INDEX IF NOT EXISTS gateway_sessions_last_seen ON gateway_sessions (last_seen_at);

CREATE TABLE IF NOT EXISTS gateway_sign_ins (
    state_hash     bytea PRIMARY KEY,     -- SHA-256 of the OIDC state sent to the provider
    browser_hash   bytea NOT NULL,        -- SHA-256 of the browser cookie of the browser that left
    provider       text NOT NULL,
    code_verifier  text NOT NULL,         -- PKCE
    nonce          text NOT NULL,
    created_at     timestamptz NOT NULL
);

CREATE TABLE IF NOT EXISTS gateway_rate_limits (
    key_hash      bytea NOT NULL,         -- SHA-256 of e.g. 'api:address:192.0.2.1'
    window_start  timestamptz NOT NULL,
    hits          integer NOT NULL,
    PRIMARY KEY (key_hash, window_start)
);

CREATE TABLE IF NOT EXISTS gateway_secrets (
    name   text PRIMARY KEY,
    value  bytea NOT NULL
);
"""


def digest(value: str) -> bytes:
    return hashlib.sha256(value.encode()).digest()


class Identity(BaseModel):
    """Who signed in, and every role they may act in (from the access mapping, the citizen provider or the demo
    list): the session's actor is always one of these."""

    provider: Literal["staff", "citizen", "development"]
    issuer: str
    subject: str
    user_id: str
    name: str | None = None
    actors: list[Actor]


@dataclass
class Session:
    id_hash: bytes
    identity: Identity
    actor: Actor | None
    csrf_token: str
    created_at: datetime

    def csrf_ok(self, token: str | None) -> bool:
        """Whether a form or an API call carried this session's CSRF token (compared in constant time)."""
        return bool(token) and secrets.compare_digest(token or "", self.csrf_token)


@dataclass
class SignIn:
    provider: str
    code_verifier: str
    nonce: str


class GatewayStore:
    def __init__(self, pool: asyncpg.Pool, clock: Clock, idle: timedelta, longest: timedelta) -> None:
        self.pool = pool
        self.clock = clock
        self.idle = idle
        self.longest = longest

    # One statement each, outside any transaction: a pooled connection PostgreSQL dropped (a restart, a failover) is
    # found by the statement that uses it, which is then tried once more on a fresh one.
    async def _execute(self, query: str, *args: Any) -> str:
        return await self._once_more(lambda: self.pool.execute(query, *args))

    async def _fetchval(self, query: str, *args: Any) -> Any:
        return await self._once_more(lambda: self.pool.fetchval(query, *args))

    async def _fetchrow(self, query: str, *args: Any) -> Any:
        return await self._once_more(lambda: self.pool.fetchrow(query, *args))

    @staticmethod
    async def _once_more(statement: Callable[[], Awaitable[T]]) -> T:
        # (asyncpg reports a connection dropped mid-statement as any of these, InternalClientError "cannot switch to
        # state ..." when the drop came while the pool was handing the connection out)
        try:
            return await statement()
        except (
            asyncpg.ConnectionDoesNotExistError,
            asyncpg.InterfaceError,
            asyncpg.exceptions.InternalClientError,
            ConnectionError,
        ):
            return await statement()

    async def setup(self) -> None:
        # one replica at a time (CREATE ... IF NOT EXISTS is not safe against itself in parallel)
        async with self.pool.acquire() as conn, conn.transaction():
            await conn.execute("SELECT pg_advisory_xact_lock(hashtext('sendcase gateway schema'))")
            await conn.execute(DDL)

    # -- sessions ------------------------------------------------------------------------------------------

    async def create_session(self, identity: Identity, actor: Actor | None) -> tuple[str, Session]:
        """A new session (a new id: never one the browser brought), and the cookie's value for it."""
        token = secrets.token_urlsafe(32)
        now = self.clock.now()
        session = Session(digest(token), identity, actor, secrets.token_urlsafe(32), now)
        await self._execute(
            """INSERT INTO gateway_sessions (id_hash, identity, actor, csrf_token, created_at, last_seen_at)
               VALUES ($1, $2, $3, $4, $5, $5)""",
            session.id_hash,
            identity.model_dump_json(),
            actor.model_dump_json() if actor else None,
            session.csrf_token,
            now,
        )
        return token, session

    async def session(self, token: str) -> tuple[Session | None, bool]:
        """The session of a cookie's value, its last use now; or None, and whether it had just run out (unused for
        longer than the idle timeout, or older than the longest a session lasts), in which case it is deleted."""
        now = self.clock.now()
        id_hash = digest(token)
        row = await self._fetchrow(
            """UPDATE gateway_sessions SET last_seen_at = $2
               WHERE id_hash = $1 AND last_seen_at > $3 AND created_at > $4
               RETURNING identity, actor, csrf_token, created_at""",
            id_hash,
            now,
            now - self.idle,
            now - self.longest,
        )
        if row is None:
            ran_out = await self._fetchval("DELETE FROM gateway_sessions WHERE id_hash = $1 RETURNING 1", id_hash)
            return None, bool(ran_out)
        identity = Identity.model_validate_json(row["identity"])
        actor = Actor.model_validate_json(row["actor"]) if row["actor"] else None
        return Session(id_hash, identity, actor, row["csrf_token"], row["created_at"]), False

    async def choose_actor(self, session: Session, actor: Actor) -> None:
        if actor not in session.identity.actors:
            raise ValueError("not one of the roles this person may act in")
        await self._execute(
            "UPDATE gateway_sessions SET actor = $2 WHERE id_hash = $1", session.id_hash, actor.model_dump_json()
        )
        session.actor = actor

    async def delete_session(self, id_hash: bytes) -> None:
        await self._execute("DELETE FROM gateway_sessions WHERE id_hash = $1", id_hash)

    # -- sign-ins under way ----------------------------------------------------------------------------------

    async def begin_sign_in(self, state: str, browser: str, sign_in: SignIn) -> None:
        await self._execute(
            """INSERT INTO gateway_sign_ins (state_hash, browser_hash, provider, code_verifier, nonce, created_at)
               VALUES ($1, $2, $3, $4, $5, $6)""",
            digest(state),
            digest(browser),
            sign_in.provider,
            sign_in.code_verifier,
            sign_in.nonce,
            self.clock.now(),
        )

    async def finish_sign_in(self, state: str, browser: str | None, provider: str) -> SignIn | None:
        """The sign-in this state began, used up (a state is good once), if it began in this browser, with this
        provider, not too long ago."""
        row = await self._fetchrow(
            """DELETE FROM gateway_sign_ins WHERE state_hash = $1
               RETURNING browser_hash, provider, code_verifier, nonce, created_at""",
            digest(state),
        )
        if row is None or browser is None or not secrets.compare_digest(row["browser_hash"], digest(browser)):
            return None
        if row["provider"] != provider or self.clock.now() - row["created_at"] > SIGN_IN_MAX_AGE:
            return None
        return SignIn(row["provider"], row["code_verifier"], row["nonce"])

    # -- rate limits -----------------------------------------------------------------------------------------

    async def hit(self, key: str) -> tuple[int, float]:
        """Count one more request under `key` in this minute's window: the count so far (every replica's), and the
        seconds until the window ends."""
        now = self.clock.now()
        epoch = now.timestamp()
        start = epoch - epoch % RATE_WINDOW_SECONDS
        hits = await self._fetchval(
            """INSERT INTO gateway_rate_limits (key_hash, window_start, hits) VALUES ($1, to_timestamp($2), 1)
               ON CONFLICT (key_hash, window_start) DO UPDATE SET hits = gateway_rate_limits.hits + 1
               RETURNING hits""",
            digest(key),
            start,
        )
        return int(hits), start + RATE_WINDOW_SECONDS - epoch

    # -- the secret that signs forms shown before sign-in ----------------------------------------------------

    async def secret(self) -> bytes:
        """One secret for every replica, made by the first to start."""
        async with self.pool.acquire() as conn:
            await conn.execute(
                "INSERT INTO gateway_secrets (name, value) VALUES ('forms', $1) ON CONFLICT (name) DO NOTHING",
                secrets.token_bytes(32),
            )
            value: bytes = await conn.fetchval("SELECT value FROM gateway_secrets WHERE name = 'forms'")
            return value

    # -- housekeeping ----------------------------------------------------------------------------------------

    async def sweep(self) -> dict[str, int]:
        """Delete what has run out: sessions, sign-ins never finished, old rate-limit windows."""
        now = self.clock.now()
        async with self.pool.acquire() as conn:
            sessions = await conn.execute(
                "DELETE FROM gateway_sessions WHERE last_seen_at <= $1 OR created_at <= $2",
                now - self.idle,
                now - self.longest,
            )
            sign_ins = await conn.execute("DELETE FROM gateway_sign_ins WHERE created_at <= $1", now - SIGN_IN_MAX_AGE)
            windows = await conn.execute(
                "DELETE FROM gateway_rate_limits WHERE window_start <= $1",
                now - timedelta(seconds=2 * RATE_WINDOW_SECONDS),
            )
        return {"sessions": _count(sessions), "sign_ins": _count(sign_ins), "rate_windows": _count(windows)}


def _count(status: str) -> int:
    return int(status.rsplit(" ", 1)[-1])
