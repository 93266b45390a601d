"""PostgreSQL plumbing for asyncpg: the service's database, its pool, and the runtime's own tables."""

from __future__ import annotations

from urllib.parse import urlsplit, urlunsplit

import asyncpg


async def ensure_database(database_url: str) -> bool:
    """Create the database named in the URL when it is missing. Returns True when it was created."""
    parts = urlsplit(database_url)
    name = parts.path.lstrip("/")
    admin_url = urlunsplit(parts._replace(path="/postgres"))
    conn = await asyncpg.connect(admin_url)
    try:
        exists = await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name)
        if exists:
            return False
        try:
            await conn.execute(f'CREATE DATABASE "{name}"')
        except (asyncpg.DuplicateDatabaseError, asyncpg.UniqueViolationError):  # another process won the race
            return False
        return True
    finally:
        await conn.close()


async def _nothing_to_reset(conn: asyncpg.Connection) -> None:
    """A pooled connection goes back as it is: asyncpg's default runs RESET ALL, UNLISTEN, CLOSE ALL and an
    advisory unlock on every release (a round trip each time, for every query and projection batch). Nothing
    here changes session state on a pooled connection: LISTEN (wakeup.py) and advisory locks (singleton.py)
    use connections of their own, and an open transaction is still rolled back by asyncpg."""


async def create_pool(database_url: str, *, min_size: int = 1, max_size: int = 10) -> asyncpg.Pool:
    pool = await asyncpg.create_pool(database_url, min_size=min_size, max_size=max_size, reset=_nothing_to_reset)
    assert pool is not None
    return pool


POSITIONS_DDL = """
CREATE TABLE IF NOT EXISTS runtime_positions (
    follower    text PRIMARY KEY,   -- 'relay', 'projection:<name>' or 'recovery' (outbox.RECOVERED)
    position    bigint NOT NULL,    -- last notification id of this service's log fully handled
    updated_at  timestamptz NOT NULL DEFAULT now()
)
"""


class PositionStore:
    """Where the relay and each projection have got to in the service's notification log."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self.pool = pool

    async def setup(self) -> None:
        async with self.pool.acquire() as conn:
            await conn.execute(POSITIONS_DDL)

    async def get(self, follower: str, conn: asyncpg.Connection | None = None) -> int:
        if conn is not None:
            return await conn.fetchval("SELECT position FROM runtime_positions WHERE follower = $1", follower) or 0
        async with self.pool.acquire() as c:
            return await self.get(follower, c)

    async def set(self, follower: str, position: int, conn: asyncpg.Connection | None = None) -> None:
        if conn is not None:
            await set_position(conn, follower, position)
            return
        async with self.pool.acquire() as c:
            await set_position(c, follower, position)


async def set_position(conn: asyncpg.Connection, follower: str, position: int) -> None:
    """Record where a follower (the relay, a projection, a recovery point) has got to."""
    await conn.execute(
        """INSERT INTO runtime_positions (follower, position) VALUES ($1, $2)
           ON CONFLICT (follower) DO UPDATE SET position = EXCLUDED.position, updated_at = now()""",
        follower,
        position,
    )
