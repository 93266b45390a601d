"""Running the notifications service in a test with its channels pointed at local stand-ins."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import socket
from collections.abc import AsyncIterator
from email import message_from_bytes
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller

from services.notifications.bootstrap import bootstrap
from services.notifications.settings import NotificationsSettings
from services.runtime.clock import FixedClock
from services.runtime.service import ServiceRuntime
from services.runtime.settings import ServiceSettings
from tests.conftest import SCHOOL_DAY
from tests.support.notify_standin import API_KEY, EMAIL_TEMPLATE, SMS_TEMPLATE
from tests.support.stack import running_service


def delivery_settings(outbox: Path, **changes: Any) -> dict[str, Any]:
    """The notifications settings a test delivers with (overrides of NotificationsSettings)."""
    values: dict[str, Any] = dict(
        outbox_dir=outbox,
        delivery_poll_seconds=0.1,
        delivery_backoff_seconds=[0.0],
        receipt_poll_seconds=0.2,
        max_attempts_per_channel=3,
        interrupted_after_seconds=600,
    )
    renamed = {
        "poll_seconds": "delivery_poll_seconds",
        "batch_size": "delivery_batch_size",
        "concurrency": "delivery_concurrency",
        "backoff_seconds": "delivery_backoff_seconds",
    }
    values.update({renamed.get(name, name): value for name, value in changes.items()})
    return values


def via_notify(outbox: Path, url: str, **changes: Any) -> dict[str, Any]:
    return delivery_settings(
        outbox,
        email_via="notify",
        sms_via="notify",
        letter_via="notify",
        notify_api_key=API_KEY,
        notify_base_url=url,
        notify_email_template_id=EMAIL_TEMPLATE,
        notify_sms_template_id=SMS_TEMPLATE,
        notify_timeout_seconds=5,
        **changes,
    )


@contextlib.asynccontextmanager
async def notifications_service(
    settings: ServiceSettings, delivery: dict[str, Any], adjust: Any = None
) -> AsyncIterator[ServiceRuntime]:
    def build(s: ServiceSettings, clock: Any):
        service = bootstrap(NotificationsSettings.of(s, **delivery), clock)
        if adjust is not None:
            adjust(service)
        return service

    async with running_service(build, settings, FixedClock(SCHOOL_DAY)) as runtime:
        yield runtime


def worker(runtime: ServiceRuntime):
    return runtime.service.worker("delivery")


async def rows(runtime: ServiceRuntime, pupil_id: Any = None) -> list[dict[str, Any]]:
    assert runtime.pool is not None
    found = await runtime.pool.fetch(
        "SELECT * FROM notifications_by_pupil WHERE $1::uuid IS NULL OR pupil_id = $1 ORDER BY log_position", pupil_id
    )
    return [dict(r) for r in found]


async def settled(
    runtime: ServiceRuntime, pupil_id: Any, count: int, statuses=("delivered", "failed", "cannot_notify", "sent")
):
    """The pupil's notifications once `count` of them have reached one of `statuses`."""
    from tests.support.stack import eventually

    async def done():
        found = await rows(runtime, pupil_id)
        return found if len(found) == count and all(r["status"] in statuses for r in found) else None

    return await eventually(done, timeout=30, what=f"{count} notifications settled in {statuses}")


def outbox_files(outbox: Path) -> list[Path]:
    return sorted(p for p in outbox.rglob("*") if p.is_file())


# -- a local SMTP server -----------------------------------------------------------------------------


class Mailbox:
    """An aiosmtpd handler: keeps what it accepts; refuses some addresses (550); can hang."""

    def __init__(self) -> None:
        self.messages: list[Any] = []
        self.received: list[bytes] = []  # each accepted message's bytes, exactly as the DATA command carried them
        self.refuse: set[str] = set()
        self.hang_next = 0

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address in self.refuse:
            return f"550 5.1.1 <{address}>: Recipient address rejected: User unknown"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        if self.hang_next > 0:
            self.hang_next -= 1
            await asyncio.sleep(3600)  # a server that accepts the connection and never answers
        self.messages.append(message_from_bytes(envelope.content))
        self.received.append(envelope.original_content)
        return "250 Message accepted for delivery"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def smtp_server():
    mailbox = Mailbox()
    controller = Controller(mailbox, hostname="127.0.0.1", port=free_port())
    controller.start()
    try:
        yield mailbox, controller.port
    finally:
        controller.stop()


partial = functools.partial
