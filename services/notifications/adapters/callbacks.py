"""The GOV.UK Notify delivery-status callback receiver: a small HTTP endpoint (aiohttp).

Notify POSTs one JSON body per status change (id, reference, to, status, created_at, completed_at, sent_at,
notification_type) with "Authorization: Bearer <the token we gave Notify>". Whatever arrives, the service
keeps running: a wrong token is refused (401), a malformed body is refused naming the fields at fault (400)
and logged, a receipt for a notification that is not ours or not waiting for one is refused with the
reason (400/404); nothing is stored for any of them.
"""

from __future__ import annotations

import asyncio
import hmac
import json
from uuid import uuid4

from aiohttp import web
from pydantic import ValidationError

from contracts.envelope import Actor
from contracts.notifications import DeliveryReceipt
from services.notifications.application import Notifications
from services.notifications.settings import NotificationsSettings
from services.runtime.clock import Clock
from services.runtime.context import CommandContext
from services.runtime.endpoints import field_errors
from services.runtime.errors import DomainError, NotFound
from services.runtime.eventstore import EventStore
from services.runtime.logging import get_logger

log = get_logger(__name__)
PATH = "/notify/delivery-status"


def callback_app(store: EventStore[Notifications], clock: Clock, token: str) -> web.Application:
    actor = Actor.service("notify_callbacks")

    async def receive(request: web.Request) -> web.Response:
        given = request.headers.get("Authorization", "")
        if not hmac.compare_digest(given.encode(), f"Bearer {token}".encode()):
            log.warning("notify_callback.refused", reason="wrong or missing bearer token")
            return web.json_response({"error": "a valid bearer token is required"}, status=401)
        raw = await request.read()
        try:
            receipt = DeliveryReceipt.model_validate_json(raw)
        except ValidationError as e:
            errors = [fe.model_dump() for fe in field_errors(e.errors())]
            log.warning("notify_callback.malformed", fields=[e["field"] for e in errors], size=len(raw))
            return web.json_response({"error": "malformed delivery receipt", "field_errors": errors}, status=400)
        ctx = CommandContext(actor=actor, now=clock.now(), correlation_id=uuid4())
        try:
            recorded = await store.call(ctx, store.app.record_delivery_receipt, actor=actor, **dict(receipt))
            result = recorded.model_dump(mode="json")
        except DomainError as e:
            log.warning("notify_callback.rejected", rule=e.rule, reference=receipt.reference)
            return web.json_response(
                {"error": e.message, "rule": e.rule}, status=404 if isinstance(e, NotFound) else 400
            )
        except Exception:
            log.exception("notify_callback.failed", reference=receipt.reference)
            return web.json_response({"error": "internal error; Notify will retry"}, status=500)
        log.info("notify_callback.recorded", **result)
        return web.Response(text=json.dumps(result), content_type="application/json")

    app = web.Application(client_max_size=64 * 1024)
    app.router.add_post(PATH, receive)
    return app


class NotifyCallbacks:
    """The callback receiver as one of the service's workers (run and supervised by the runtime)."""

    name = "notify-callbacks"

    def __init__(self, store: EventStore[Notifications], clock: Clock, settings: NotificationsSettings) -> None:
        self.app = callback_app(store, clock, settings.notify_callback_token or "")
        self.host, self.port = settings.notify_callback_host, settings.notify_callback_port or 0

    async def run(self, runtime: object) -> None:
        await serve_callbacks(self.app, self.host, self.port)


async def serve_callbacks(app: web.Application, host: str, port: int) -> None:
    """Run until cancelled (a supervised background loop of the service)."""
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    await site.start()
    log.info("notify_callback.listening", host=host, port=port, path=PATH)
    try:
        await asyncio.Event().wait()
    finally:
        await runner.cleanup()
