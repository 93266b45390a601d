"""`sendcase create-streams`: the operator creates sendcase's streams (production services may not).

Run as the NATS `operator` user (infra/production/sendcase-users.conf): it creates the three streams (events,
dead letters, and the audit stream of signed checkpoints), or brings
them up to date, with message deletes and purges denied, the same StreamConfig a service would use.
"""

from __future__ import annotations

import ssl
from urllib.parse import urlsplit

import nats

from contracts.subjects import inbox_prefix
from services.runtime.nats_connection import nats_servers
from services.runtime.settings import load_settings
from services.runtime.streams import ensure_streams


async def create_streams(nats_url: str, prefix: str, tls: ssl.SSLContext | None = None) -> list[str]:
    """Create or update the streams; a line about each, as it now is."""
    settings = load_settings("operator", nats_url=nats_url, subject_prefix=prefix)  # replicas, duplicate window
    user = urlsplit(nats_url.split(",")[0]).username or "operator"
    nc = await nats.connect(
        nats_servers(nats_url),
        name="sendcase-operator",
        inbox_prefix=inbox_prefix(user),
        connect_timeout=5,
        max_reconnect_attempts=0,
        allow_reconnect=False,
        **({"tls": tls} if tls is not None else {}),
    )
    try:
        js = nc.jetstream()
        await ensure_streams(
            js,
            prefix,
            settings.events_stream,
            settings.dead_letter_stream,
            duplicate_window_seconds=settings.duplicate_window_seconds,
            replicas=settings.stream_replicas,
        )
        lines = []
        for name in (settings.events_stream, settings.dead_letter_stream, settings.audit_stream):
            info = await js.stream_info(name)
            config = info.config
            lines.append(
                f"{name}: subjects {', '.join(config.subjects or [])}; {config.num_replicas} replica(s); "
                f"{info.state.messages} message(s); deletes denied: {config.deny_delete}; "
                f"purges denied: {config.deny_purge}"
            )
        return lines
    finally:
        await nc.close()
