"""`sendcase status`: each server and service, up or down; a service is degraded while one of its read
models has parked events it could not take (each view's lag, in events behind its log, is shown too)."""

from __future__ import annotations

from pathlib import Path

import asyncpg
import httpx
import nats

from contracts.envelope import ServiceHealth
from contracts.subjects import inbox_prefix, ping_subject
from infra.stack.catalogue import SERVICES
from infra.stack.nats_users import OPERATOR, stack_nats_url
from infra.stack.servers import StackState, pid_alive, sendcase_home


def server_row(name: str, pid: int, detail: str) -> tuple[str, bool, str]:
    """A server that answers is up if it is the process stack.json names (the one `sendcase down` stops)."""
    if pid_alive(pid):
        return name, True, f"{detail}, pid {pid})"
    return name, False, f"{detail}) answers, but its pid {pid} in stack.json is not running"


async def check(home: Path | None) -> tuple[list[tuple[str, bool, str]], bool]:
    home = sendcase_home(home)
    state = StackState.load(home)
    if state is None or not pid_alive(state.supervisor_pid):
        return [("sendcase", False, f"not running from {home} (start it with `sendcase up`)")], False
    rows: list[tuple[str, bool, str]] = []
    rows.append(("supervisor", pid_alive(state.supervisor_pid), f"pid {state.supervisor_pid}"))
    try:
        conn = await asyncpg.connect(state.postgres_url, timeout=3)
        version = await conn.fetchval("SHOW server_version")
        await conn.close()
        rows.append(server_row("postgresql", state.postgres_pid, f"{state.postgres_url} (PostgreSQL {version}"))
    except (TimeoutError, OSError, asyncpg.PostgresError) as e:
        rows.append(("postgresql", False, f"{state.postgres_url}: {e}"))
    nc = None
    try:
        nc = await nats.connect(
            stack_nats_url(home, state.nats_url),  # as the operator
            inbox_prefix=inbox_prefix(OPERATOR),
            connect_timeout=3,
            max_reconnect_attempts=0,
            allow_reconnect=False,
        )
        await nc.jetstream().account_info()
        rows.append(server_row("nats", state.nats_pid, f"{state.nats_url} (JetStream on"))
    except Exception as e:
        rows.append(("nats", False, f"{state.nats_url}: {e!r}"))
        nc = None
    for name in SERVICES:
        if nc is None:
            rows.append((name, False, "cannot be reached without NATS"))
            continue
        try:
            msg = await nc.request(ping_subject(state.subject_prefix, name), b"", timeout=3)
            health = ServiceHealth.model_validate_json(msg.data)
            lag = ", ".join(f"{view} {behind} behind" for view, behind in health.projection_lag.items())
            detail = (
                f"pid {health.pid}, {health.last_notification_id} events stored, "
                f"relayed up to {health.relayed_up_to}" + (f"; read models: {lag}" if lag else "")
            )
            if health.degraded:
                detail += "; DEGRADED: " + "; ".join(health.degraded)
            rows.append((name, not health.degraded, detail))
        except Exception as e:
            rows.append((name, False, f"no answer to ping ({type(e).__name__})"))
    if nc is not None:
        await nc.close()
    if state.gateway_url:
        rows.append(await gateway_row(state.gateway_url))
    return rows, all(ok for _, ok, _ in rows)


async def gateway_row(url: str) -> tuple[str, bool, str]:
    """The gateway is up when its health check says it reaches its database and NATS."""
    try:
        async with httpx.AsyncClient(timeout=3) as http:
            answer = await http.get(f"{url}/healthz")
        health = answer.json()
    except (httpx.HTTPError, ValueError) as e:
        return "gateway", False, f"{url}: no answer ({type(e).__name__})"
    if answer.status_code == 200:
        return "gateway", True, f"{url} (sign in at {url}/sign-in)"
    down = [part for part in ("database", "nats") if not health.get(part)]
    return "gateway", False, f"{url}: cannot reach {' and '.join(down) or 'what it needs'}"
