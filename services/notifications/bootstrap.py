"""The notifications service's composition root: settings in, a runnable service out."""

from __future__ import annotations

from services.notifications.adapters.callbacks import NotifyCallbacks
from services.notifications.adapters.channels import FileOutbox, GovUkNotify, SmtpEmail, Transport
from services.notifications.application import Notifications
from services.notifications.delivery import DeliveryWorker
from services.notifications.entrypoints import ROUTES
from services.notifications.policies import REACTIONS
from services.notifications.projections import NotificationsByPupil
from services.notifications.queries import NotificationsQueries
from services.notifications.settings import NotificationsSettings
from services.notifications.translation import SERVICE, translate
from services.runtime.clock import Clock
from services.runtime.documents import check_fonts
from services.runtime.eventstore import open_store
from services.runtime.service import ServiceDefinition, Worker
from services.runtime.settings import ServiceSettings


def transports(settings: NotificationsSettings) -> dict[str, Transport]:
    """Which transport carries each channel, from the settings (the file outbox by default)."""
    assert settings.outbox_dir is not None
    built: dict[str, Transport] = {"file": FileOutbox(settings.outbox_dir)}
    if settings.email_via == "smtp":
        built["smtp"] = SmtpEmail(
            settings.smtp_host,
            settings.smtp_port,
            settings.smtp_sender,
            username=settings.smtp_username,
            password=settings.smtp_password,
            start_tls=settings.smtp_start_tls,
            timeout=settings.smtp_timeout_seconds,
        )
    if "notify" in (settings.email_via, settings.sms_via, settings.letter_via):
        built["notify"] = GovUkNotify(
            settings.notify_api_key or "",
            settings.notify_base_url,
            settings.notify_email_template_id or "",
            settings.notify_sms_template_id or "",
            timeout=settings.notify_timeout_seconds,
        )
    return {"email": built[settings.email_via], "sms": built[settings.sms_via], "letter": built[settings.letter_via]}


def bootstrap(settings: ServiceSettings, clock: Clock, env: dict[str, str] | None = None) -> ServiceDefinition:
    settings = NotificationsSettings.of(settings)
    # every channel may end in a letter: refuse to start, naming the packages to install, rather than print
    # a letter with a name in empty boxes (services/runtime/documents/fonts.py)
    check_fonts()
    store = open_store(
        Notifications, settings.database_url, settings.event_store_threads, env, pre_ping=settings.database_pre_ping
    )
    workers: list[Worker] = [DeliveryWorker(store, transports(settings), clock, settings)]
    if settings.notify_callback_port is not None:
        workers.append(NotifyCallbacks(store, clock, settings))
    return ServiceDefinition(
        name=SERVICE,
        settings=settings,
        clock=clock,
        store=store,
        translate=translate,
        routes=ROUTES,
        read_side=lambda read_models: NotificationsQueries(read_models, store),
        reactions=REACTIONS,
        projections=[NotificationsByPupil()],
        workers=workers,
    )
