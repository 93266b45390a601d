"""The notifications service's composition root: settings in, a runnable service out."""

from __future__ import annotations

import asyncpg

from services.notifications.application import Notifications
from services.notifications.channels import FileOutbox, GovUkNotify, SmtpEmail, Transport
from services.notifications.delivery import DeliveryWorker
from services.runtime.singleton import run_in_one_replica
from services.notifications.entrypoints import routes
from services.notifications.policies import REACTIONS
from services.notifications.projections import NotificationsByPupil
from services.notifications.settings import DeliverySettings
from services.notifications.translation import SERVICE, translate
from services.runtime.clock import Clock
from services.runtime.eventstore import EventStore, postgres_env
from services.runtime.service import Reaction, ServiceDefinition, ServiceRuntime
from services.runtime.settings import ServiceSettings


def transports(delivery: DeliverySettings) -> dict[str, Transport]:
    """Which transport carries each channel, from the settings (the file outbox by default)."""
    assert delivery.outbox_dir is not None
    built: dict[str, Transport] = {"file": FileOutbox(delivery.outbox_dir)}
    if delivery.email_via == "smtp":
        built["smtp"] = SmtpEmail(
            delivery.smtp_host, delivery.smtp_port, delivery.smtp_sender, username=delivery.smtp_username,
            password=delivery.smtp_password, start_tls=delivery.smtp_start_tls, timeout=delivery.smtp_timeout_seconds,
        )
    if "notify" in (delivery.email_via, delivery.sms_via, delivery.letter_via):
        built["notify"] = GovUkNotify(
            delivery.notify_api_key or "", delivery.notify_base_url, delivery.notify_email_template_id or "",
            delivery.notify_sms_template_id or "", timeout=delivery.notify_timeout_seconds,
        )
    return {"email": built[delivery.email_via], "sms": built[delivery.sms_via], "letter": built[delivery.letter_via]}


def bootstrap(
    settings: ServiceSettings,
    clock: Clock,
    env: dict[str, str] | None = None,
    delivery: DeliverySettings | None = None,
) -> ServiceDefinition:
    delivery = delivery or DeliverySettings()
    app = Notifications(env=env if env is not None else postgres_env(settings.database_url or ""))
    store = EventStore(app, threads=settings.event_store_threads)
    pools: list[asyncpg.Pool] = []
    commands, queries = routes(store, lambda: pools[0])
    worker = DeliveryWorker(store, transports(delivery), clock, delivery)

    async def deliver(runtime: ServiceRuntime) -> None:
        # One delivery worker per deployment, whatever the number of replicas: on start it reconciles
        # sends left half-done, which must not be another replica's sends in flight.
        pool = runtime.pool
        assert pool is not None
        await run_in_one_replica(settings.database_url or "", "notifications-delivery", lambda: worker.run(pool))

    background = [("delivery", deliver)]
    if delivery.notify_callback_port is not None:
        from services.notifications.callbacks import callback_app, serve_callbacks

        port, host, token = delivery.notify_callback_port, delivery.notify_callback_host, delivery.notify_callback_token

        async def callbacks(runtime: ServiceRuntime) -> None:
            await serve_callbacks(callback_app(store, clock, token or ""), host, port)

        background.append(("notify-callbacks", callbacks))

    service = ServiceDefinition(
        name=SERVICE,
        settings=settings,
        clock=clock,
        store=store,
        translate=translate,
        commands=commands,
        queries=queries,
        reactions=[Reaction(name, types, react) for name, (types, react) in REACTIONS.items()],
        projections=[NotificationsByPupil()],
        on_pool=[pools.append],
        background=background,
    )
    service.delivery_worker = worker  # type: ignore[attr-defined]  # for tests and the benchmark
    return service
