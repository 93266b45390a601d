"""A loop guarded by run_in_one_replica runs in one replica at a time, and moves when that one dies."""

import asyncio

import asyncpg

from services.runtime.database import ensure_database
from services.runtime.singleton import run_in_one_replica
from tests.support.stack import Sandbox, eventually


async def test_only_one_replica_runs_the_loop_and_another_takes_over_when_it_dies(sandbox: Sandbox) -> None:
    url = sandbox.database_url("singleton")
    await ensure_database(url)
    running: list[str] = []
    starts: list[str] = []
    most_at_once = 0

    def loop(replica: str):
        async def run() -> None:
            nonlocal most_at_once
            running.append(replica)
            starts.append(replica)
            most_at_once = max(most_at_once, len(running))
            try:
                await asyncio.Event().wait()  # works until cancelled
            finally:
                running.remove(replica)

        return run

    replicas = {
        name: asyncio.create_task(
            run_in_one_replica(url, "test-loop", loop(name), retry_seconds=0.2, check_seconds=0.2)
        )
        for name in ("a", "b", "c")
    }
    try:

        async def one_running():
            return running[:] if len(running) == 1 else None

        [first] = await eventually(one_running, what="one replica running the loop")
        await asyncio.sleep(1.0)  # the others keep trying meanwhile
        assert running == [first] and most_at_once == 1

        replicas.pop(first).cancel()  # that replica dies: its connection, and so the lock, go with it

        async def taken_over():
            return running[:] if running and running[0] != first else None

        [second] = await eventually(taken_over, what="another replica to take the loop over")
        assert second != first and most_at_once == 1

        # a replica whose database connection is cut stops the loop: it never runs without the lock
        admin = await asyncpg.connect(url)
        cut = await admin.fetchval(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_locks WHERE locktype = 'advisory' AND granted "
            "AND database = (SELECT oid FROM pg_database WHERE datname = current_database())"
        )
        assert cut == 1  # only the replica running the loop holds the lock
        await admin.close()

        async def restarted_under_a_new_lock():
            return len(starts) == 3 and len(running) == 1

        await eventually(restarted_under_a_new_lock, what="the loop to stop with the lost lock and start again")
        assert most_at_once == 1
    finally:
        for task in replicas.values():
            task.cancel()
        await asyncio.gather(*replicas.values(), return_exceptions=True)
