"""The JetStream streams: one for every integration event, one for dead letters.

Retention is not time-limited: the events stream is the replayable record of every cross-service fact.
The duplicate window is long (a week by default), so that a relay that was down for days and re-publishes
is still deduplicated by Nats-Msg-Id; the relay also resumes from the stream's last id for its service.
"""

from __future__ import annotations

from nats.js import JetStreamContext
from nats.js.api import DiscardPolicy, RetentionPolicy, StorageType, StreamConfig
from nats.js.errors import NotFoundError

from contracts.subjects import all_dead_letters, all_events

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


async def ensure_streams(
    js: JetStreamContext,
    prefix: str,
    events_stream: str,
    dead_letter_stream: str,
    *,
    duplicate_window_seconds: int,
    replicas: int = 1,
) -> None:
    for name, subject in ((events_stream, all_events(prefix)), (dead_letter_stream, all_dead_letters(prefix))):
        config = StreamConfig(
            name=name,
            subjects=[subject],
            retention=RetentionPolicy.LIMITS,
            storage=StorageType.FILE,
            discard=DiscardPolicy.OLD,
            max_age=0,  # never expire: the audit record
            duplicate_window=float(duplicate_window_seconds),
            num_replicas=replicas,
        )
        try:
            await js.stream_info(name)
        except NotFoundError:
            await js.add_stream(config)
        else:
            await js.update_stream(config)
