"""Tamper-evident history in a running service, and for `sendcase audit verify` (docs/audit.md).

A service with a PostgreSQL event store has a hash chain (services/runtime/chain.py). At start it checks the tail
of its log against the chain and its latest signed checkpoint and refuses to start when they disagree (or only
warns, `chain_tampering_at_start=warn`); with a signing key it then publishes checkpoints (anchors.Anchoring).
"""

from __future__ import annotations

from typing import Any

import asyncpg
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from nats.js import JetStreamContext

from services.runtime.anchors import (
    Anchoring,
    all_checkpoints,
    key_id,
    latest_checkpoint,
    load_public_keys,
    load_signing_key,
)
from services.runtime.clock import Clock
from services.runtime.logging import get_logger
from services.runtime.settings import ServiceSettings
from services.runtime.verify import Verification, verify_log, verify_tail

_log = get_logger(__name__)


class ChainTampered(RuntimeError):
    """The tail of a service's log does not match its hash chain or its latest checkpoint."""


def events_table_of(store: Any) -> str | None:
    """The events table of a store whose recorder keeps a hash chain (None: the in-memory store, or no chain)."""
    recorder = getattr(store.app, "recorder", None)
    if recorder is None or not getattr(recorder, "chained", False) or not hasattr(recorder, "chain"):
        return None
    return str(recorder.events_table_name)


def trusted_keys(
    settings: ServiceSettings, signing_key: Ed25519PrivateKey | None = None
) -> dict[str, Ed25519PublicKey]:
    keys = load_public_keys(settings.anchor_public_keys) if settings.anchor_public_keys else {}
    if signing_key is not None:
        keys[key_id(signing_key.public_key())] = signing_key.public_key()
    return keys


async def check_chain_at_start(
    settings: ServiceSettings,
    js: JetStreamContext,
    pool: asyncpg.Pool,
    events_table: str,
    signing_key: Ed25519PrivateKey | None,
) -> Verification | None:
    """Check the last `chain_check_at_start` events and the latest checkpoint; raise ChainTampered (or log, when
    the setting says warn) when anything is wrong."""
    if settings.chain_check_at_start == 0:
        return None
    problems: list[str] = []
    try:
        latest = await latest_checkpoint(js, settings.audit_stream, settings.subject_prefix, settings.service)
    except ValueError as e:
        latest = None
        problems.append(f"its latest checkpoint on {settings.audit_stream} is not a checkpoint ({e})")
    keys = trusted_keys(settings, signing_key)
    if latest is not None and latest.key_id not in keys:
        _log.warning("chain.checkpoint_key_unknown", key_id=latest.key_id, position=latest.position)
        latest = None  # signed by a key we were not given: give it in anchor_public_keys to check it
    async with pool.acquire() as conn:
        found = await verify_tail(
            conn, settings.service, latest, keys, last=settings.chain_check_at_start, events_table=events_table
        )
    problems += [f.says for f in found.findings]
    if not problems:
        _log.info(
            "chain.verified_at_start",
            events=found.events,
            up_to=found.last_position,
            anchored_at=found.anchored.position if found.anchored else None,
        )
        return found
    message = (
        f"the history of {settings.service} has been altered since it was stored (checked: its last "
        f"{found.events} events and its latest signed checkpoint): "
        + "; ".join(problems)
        + ". Run `sendcase audit verify --service "
        + settings.service
        + "` for the whole log (docs/audit.md)."
    )
    if settings.chain_tampering_at_start == "warn":
        _log.error("chain.tampered", problems=problems, refusing=False)
        return found
    raise ChainTampered(message)


def anchoring_for(
    settings: ServiceSettings,
    js: JetStreamContext,
    pool: asyncpg.Pool,
    clock: Clock,
    events_table: str,
    signing_key: Ed25519PrivateKey | None,
    **log: Any,
) -> Anchoring | None:
    """The loop publishing a chain's signed head: the event log's, or with `log` (kind, chain_table,
    position_column) another chain's, the read log's (services/runtime/read_log.py)."""
    if signing_key is None:
        if not log:
            _log.warning(
                "anchors.off",
                why="no anchor_signing_key: the chain's head is not published outside the database (docs/audit.md)",
            )
        return None
    return Anchoring(
        settings.service,
        events_table,
        signing_key,
        js,
        pool,
        clock,
        prefix=settings.subject_prefix,
        stream=settings.audit_stream,
        every_seconds=settings.anchor_seconds,
        database_url=settings.database_url or "",
        **log,
    )


def signing_key_of(settings: ServiceSettings) -> Ed25519PrivateKey | None:
    return load_signing_key(settings.anchor_signing_key) if settings.anchor_signing_key else None


async def verify_service(
    settings: ServiceSettings,
    js: JetStreamContext,
    keys: dict[str, Ed25519PublicKey],
    *,
    page: int = 5_000,
) -> Verification:
    """The whole log of a service against its chain and every checkpoint it published (`sendcase audit verify`)."""
    checkpoints, malformed = await all_checkpoints(js, settings.audit_stream, settings.subject_prefix, settings.service)
    conn = await asyncpg.connect(settings.database_url or "")
    try:
        found = await verify_log(conn, settings.service, checkpoints, keys, page=page)
    finally:
        await conn.close()
    for sequence, why in malformed:
        found.add("checkpoint", None, f"message {sequence} on {settings.audit_stream} is not a checkpoint: {why}")
    if not keys and checkpoints:
        found.add("checkpoint", None, "no public key was given, so no checkpoint could be checked (--public-key)")
    return found


async def verify_read_log_of(
    settings: ServiceSettings,
    js: JetStreamContext,
    keys: dict[str, Ed25519PublicKey],
    *,
    page: int = 5_000,
) -> Verification:
    """The whole read log of a service (services/runtime/read_log.py) against its chain and every checkpoint of it
    (`sendcase audit verify`)."""
    from services.runtime.read_log import KIND, TABLE, verify_read_log

    checkpoints, malformed = await all_checkpoints(
        js, settings.audit_stream, settings.subject_prefix, settings.service, KIND
    )
    conn = await asyncpg.connect(settings.database_url or "")
    try:
        if not await conn.fetchval("SELECT to_regclass($1) IS NOT NULL", TABLE):
            return Verification(f"{settings.service} read log", counted="reads")  # nothing read yet
        found: Verification = await verify_read_log(conn, settings.service, checkpoints, keys, page=page)
    finally:
        await conn.close()
    for sequence, why in malformed:
        found.add("checkpoint", None, f"message {sequence} on {settings.audit_stream} is not a checkpoint: {why}")
    return found
