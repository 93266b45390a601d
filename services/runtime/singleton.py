"""A background loop that runs in only one replica of a service at a time.

Some loops must not run twice at once (the notifications delivery worker reconciles sends it finds
half-done; a second copy would take the other's in-flight sends for interrupted ones). Each replica
tries to take a PostgreSQL session advisory lock, named for the loop, on a connection of its own; the
one that holds it runs the loop. When that replica dies or loses its connection, PostgreSQL releases the
lock and another replica takes it over within `retry_seconds`. Losing the connection stops the loop at
once: it never runs without the lock.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Awaitable, Callable

import asyncpg

from services.runtime.logging import get_logger

log = get_logger(__name__)


def lock_key(name: str) -> int:
    return int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "big", signed=True)


async def run_in_one_replica(
    database_url: str,
    name: str,
    run: Callable[[], Awaitable[None]],
    *,
    retry_seconds: float = 2.0,
    check_seconds: float = 2.0,
) -> None:
    key = lock_key(name)
    while True:
        try:
            conn = await asyncpg.connect(database_url)
        except (OSError, asyncpg.PostgresError) as e:
            log.warning("singleton.cannot_connect", loop=name, error=str(e))
            await asyncio.sleep(retry_seconds)
            continue
        try:
            if not await conn.fetchval("SELECT pg_try_advisory_lock($1)", key):
                await asyncio.sleep(retry_seconds)  # another replica runs it
                continue
            log.info("singleton.running_here", loop=name)
            work = asyncio.ensure_future(run())
            holding = asyncio.ensure_future(_while_connected(conn, check_seconds))
            try:
                done, _ = await asyncio.wait({work, holding}, return_when=asyncio.FIRST_COMPLETED)
            finally:
                for task in (work, holding):
                    if not task.done():
                        task.cancel()
                await asyncio.gather(work, holding, return_exceptions=True)
            if work in done:
                work.result()  # the loop ended or crashed: let the supervisor see it
                return
            log.warning("singleton.lock_lost", loop=name)  # connection gone: stopped; try to take it again
        finally:
            if not conn.is_closed():
                await conn.close()  # releases the lock


async def _while_connected(conn: asyncpg.Connection, every: float) -> None:
    while True:
        await asyncio.sleep(every)
        try:
            await asyncio.wait_for(conn.fetchval("SELECT 1"), timeout=every * 2)
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError, TimeoutError):
            return
