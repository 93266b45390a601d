"""The JetStream streams: one for every integration event, one for dead letters, and one for the services'
signed checkpoints of their hash chains (<PREFIX>_AUDIT, subjects <prefix>.audit.>: docs/audit.md), which
never discards a message (a full stream refuses new ones rather than dropping old ones).

Retention is not time-limited: the events stream is the replayable record of every cross-service fact.
The duplicate window is long (a week by default), so that a relay that was down for days and re-publishes
is still deduplicated by Nats-Msg-Id; the relay also resumes from the stream's last id for its service.

All three deny message deletes and purges (`deny_delete`, `deny_purge`): nobody, whatever their NATS
permissions, can remove an event or a dead letter through the JetStream API. A stream created without them
gets them when a service next starts (NATS allows adding them by an update; it refuses to take them away
again). They do not stop the stream itself being deleted: in production only the NATS permissions do that
(infra/production/sendcase-users.conf).

Where an operator creates the streams (`manage_streams` off, as in production), a service only checks them
and refuses to start when one is missing or not as it should be.
"""

from __future__ import annotations

import contextlib
from typing import Any

import nats.errors
from nats.js import JetStreamContext
from nats.js.api import (
    AckPolicy,
    ConsumerConfig,
    DeliverPolicy,
    DiscardPolicy,
    RetentionPolicy,
    StorageType,
    StreamConfig,
)
from nats.js.errors import APIError, NotFoundError

from contracts.subjects import all_audit, all_dead_letters, all_events
from services.runtime.settings import audit_stream_name

# A consumer's list of filter subjects and the last message by wildcard subject need nats-server 2.10;
# an older server silently ignores the list and hands a consumer every event in the stream.
MINIMUM_NATS_VERSION = (2, 10)


class NatsServerTooOld(RuntimeError):
    pass


def check_server_version(major: int, minor: int, url: str) -> None:
    if (major, minor) < MINIMUM_NATS_VERSION:
        raise NatsServerTooOld(
            f"the NATS server at {url} is {major}.{minor}; sendcase needs "
            f"{'.'.join(map(str, MINIMUM_NATS_VERSION))} or newer (with JetStream)"
        )


class StreamsNotReady(RuntimeError):
    """The streams are missing or not as sendcase needs them, and this service may not fix them."""


def stream_configs(
    prefix: str,
    events_stream: str,
    dead_letter_stream: str,
    *,
    duplicate_window_seconds: int,
    replicas: int = 1,
) -> list[StreamConfig]:
    """The three streams as sendcase needs them (the audit stream's name follows from the prefix)."""
    audit = StreamConfig(
        name=audit_stream_name(prefix),
        subjects=[all_audit(prefix)],
        retention=RetentionPolicy.LIMITS,
        storage=StorageType.FILE,
        discard=DiscardPolicy.NEW,  # never drop an old checkpoint
        max_age=0,
        duplicate_window=float(duplicate_window_seconds),
        num_replicas=replicas,
        deny_delete=True,
        deny_purge=True,
    )
    return [
        StreamConfig(
            name=name,
            subjects=[subject],
            retention=RetentionPolicy.LIMITS,
            storage=StorageType.FILE,
            discard=DiscardPolicy.OLD,
            max_age=0,  # never expire: the audit record
            duplicate_window=float(duplicate_window_seconds),
            num_replicas=replicas,
            deny_delete=True,  # no message can be deleted from it
            deny_purge=True,  # nor the stream purged
        )
        for name, subject in ((events_stream, all_events(prefix)), (dead_letter_stream, all_dead_letters(prefix)))
    ] + [audit]


async def ensure_streams(
    js: JetStreamContext,
    prefix: str,
    events_stream: str,
    dead_letter_stream: str,
    *,
    duplicate_window_seconds: int,
    replicas: int = 1,
) -> None:
    """Create the streams, or update one whose settings differ from sendcase's (adding the deny flags an older one
    lacks, or another number of replicas). A stream already as it should be is left alone: the operator may create
    streams but not update them (an update could shorten a stream's limits and so delete its history; NATS's
    permissions deny it to every sendcase user, docs/security.md), so a change is an administrator's."""
    for config in stream_configs(
        prefix, events_stream, dead_letter_stream, duplicate_window_seconds=duplicate_window_seconds, replicas=replicas
    ):
        try:
            info = await js.stream_info(config.name or "")
        except NotFoundError:
            await js.add_stream(config)
            continue
        differences = differing(info.config, config)
        if not differences:
            continue
        try:
            await js.update_stream(config)
        except (APIError, nats.errors.Error, TimeoutError) as e:
            raise StreamsNotReady(
                f"the stream {config.name} differs from sendcase's settings ({', '.join(differences)}) and could not "
                f"be updated ({type(e).__name__}): a NATS administrator must update it (docs/operations.md, "
                '"The streams")'
            ) from e


def differing(existing: StreamConfig, wanted: StreamConfig) -> list[str]:
    """The settings of `wanted` that `existing` does not have (those `wanted` sets; the server's defaults for the
    rest are not compared)."""
    have = existing.as_dict()
    return sorted(key for key, value in wanted.as_dict().items() if have.get(key) != value)


async def check_streams(js: JetStreamContext, prefix: str, events_stream: str, dead_letter_stream: str) -> None:
    """Check, without changing anything, that the three streams exist with their subjects and deny flags.

    For a service that may not create or update streams (`manage_streams` off): it reads each stream's
    information (STREAM.INFO) and nothing else, and raises StreamsNotReady naming every problem found.
    """
    problems: list[str] = []
    for name, subject in (
        (events_stream, all_events(prefix)),
        (dead_letter_stream, all_dead_letters(prefix)),
        (audit_stream_name(prefix), all_audit(prefix)),
    ):
        try:
            info = await js.stream_info(name)
        except NotFoundError:
            problems.append(f"the stream {name} does not exist")
            continue
        except (APIError, nats.errors.Error, TimeoutError) as e:
            problems.append(f"the stream {name} cannot be read ({type(e).__name__}: {e}; are the permissions right?)")
            continue
        config = info.config
        if list(config.subjects or []) != [subject]:
            problems.append(f"the stream {name} takes subjects {config.subjects}, not [{subject!r}]")
        if not config.deny_delete:
            problems.append(f"the stream {name} allows message deletes (deny_delete is off)")
        if not config.deny_purge:
            problems.append(f"the stream {name} can be purged (deny_purge is off)")
    if problems:
        raise StreamsNotReady(
            "sendcase's streams are not ready, and this service does not manage them (SENDCASE_MANAGE_STREAMS is "
            "false): "
            + "; ".join(problems)
            + ". An operator creates or fixes them: see docs/operations.md, 'NATS in production'."
        )


async def every_message(js: JetStreamContext, stream: str, subject: str, doing: str, batch: int = 1000) -> list[Any]:
    """Every message of a subject in a stream, in stream order (none if there is none), read with a throw-away
    consumer that acknowledges nothing and is deleted after (`doing` names it, for whoever lists consumers)."""
    try:
        await js.get_last_msg(stream, subject)
    except NotFoundError:
        return []
    config = ConsumerConfig(
        deliver_policy=DeliverPolicy.ALL,
        ack_policy=AckPolicy.NONE,
        inactive_threshold=60.0,
        mem_storage=True,
        description=doing,
    )
    sub = await js.pull_subscribe(subject, stream=stream, config=config)
    name = (await sub.consumer_info()).name
    found: list[Any] = []
    try:
        while True:
            try:
                fetched = await sub.fetch(batch, timeout=5)
            except (nats.errors.TimeoutError, TimeoutError):
                break
            found.extend(fetched)
            if not fetched or fetched[-1].metadata.num_pending == 0:
                break
    finally:
        with contextlib.suppress(Exception):
            await sub.unsubscribe()
        with contextlib.suppress(Exception):
            await js.delete_consumer(stream, name)
    return found
