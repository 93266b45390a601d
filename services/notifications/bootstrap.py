"""The notifications service's composition root: settings in, a runnable service out."""

from __future__ import annotations

from services.notifications.adapters.callbacks import NotifyCallbacks
from services.notifications.adapters.channels import FileOutbox, GovUkNotify, SmtpEmail, Transport
from services.notifications.application import Notifications
from services.notifications.delivery import DeliveryWorker
from services.notifications.entrypoints import ROUTES
from services.notifications.letters_config import LettersConfig, LettersConfigError, load_letters_config
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


def letters_config(settings: NotificationsSettings) -> LettersConfig:
    """The LA's letters configuration, read and checked before anything is opened: a file that is not right, one for
    another LA, or none where the deployment names its LA, stops the service at start with the reason."""
    la = settings.local_authority_code
    if settings.letters_config is None and la != "000":
        raise LettersConfigError(
            f"this deployment serves LA {la} (SENDCASE_LOCAL_AUTHORITY_CODE) but has no letters configuration: point "
            f"SENDCASE_NOTIFICATIONS_LETTERS_CONFIG at the LA's letters.toml (e.g. infra/local_authorities/{la}/"
            "letters.toml); the development default names an invented council"
        )
    config = load_letters_config(settings.letters_config)
    if config.local_authority != la:
        raise LettersConfigError(
            f"letters configuration {config.source} is LA {config.local_authority}'s ({config.file.name}), but this "
            f"deployment serves LA {la} (SENDCASE_LOCAL_AUTHORITY_CODE): point SENDCASE_NOTIFICATIONS_LETTERS_CONFIG "
            "at this LA's own file"
        )
    return config


def bootstrap(settings: ServiceSettings, clock: Clock, env: dict[str, str] | None = None) -> ServiceDefinition:
    settings = NotificationsSettings.of(settings)
    # every channel may end in a letter: refuse to start, naming the packages to install, rather than print
    # a letter with a name in empty boxes (services/runtime/documents/fonts.py)
    check_fonts()
    config = letters_config(settings)
    store = open_store(
        Notifications, settings.database_url, settings.event_store_threads, env, pre_ping=settings.database_pre_ping
    )
    store.app.letters_config = config
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
