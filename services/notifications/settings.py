"""The notifications service's settings: the runtime's, plus how it delivers. One class, read only in
bootstrap, from SENDCASE_NOTIFICATIONS_<FIELD> (then SENDCASE_<FIELD>), e.g. SENDCASE_NOTIFICATIONS_EMAIL_VIA=smtp.

The delivery worker's own timings are named `delivery_*`, apart from the runtime's: setting
SENDCASE_NOTIFICATIONS_POLL_SECONDS changes how often the outbox relay and projections poll, and
SENDCASE_NOTIFICATIONS_DELIVERY_POLL_SECONDS how often the delivery worker looks for due sends without being
woken (it is woken by PostgreSQL NOTIFY when something is stored: this is only the safety net).
The embedded default sends every channel to the local file outbox under $SENDCASE_HOME/outbox.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import ClassVar, Literal

from pydantic import Field, model_validator

from services.runtime.settings import ServiceSettings


class NotificationsSettings(ServiceSettings):
    service_name: ClassVar[str] = "notifications"
    service: str = "notifications"

    email_via: Literal["file", "smtp", "notify"] = "file"
    sms_via: Literal["file", "notify"] = "file"
    letter_via: Literal["file", "notify"] = "file"

    outbox_dir: Path | None = None  # default: $SENDCASE_HOME/outbox (SENDCASE_HOME default ./.sendcase)
    # The LA's letters configuration (TOML): who messages are from, the help services, the content levels, the schools
    # (docs/notifications.md, "Who a message is from"), e.g. infra/local_authorities/840/letters.toml. None: the
    # development default, for the demo LA 000 only.
    letters_config: Path | None = None

    smtp_host: str = "127.0.0.1"
    smtp_port: int = 25
    smtp_username: str | None = None
    smtp_password: str | None = None
    smtp_start_tls: bool = False
    smtp_timeout_seconds: float = Field(default=10.0, gt=0)  # a server that hangs is a transient failure
    smtp_sender: str = "SEND notifications <notifications@sendcase.invalid>"

    notify_api_key: str | None = None
    notify_base_url: str = "https://api.notifications.service.gov.uk"
    notify_email_template_id: str | None = None  # a template whose subject is ((subject)) and body ((body))
    notify_sms_template_id: str | None = None  # a template whose body is ((body))
    notify_timeout_seconds: float = Field(default=10.0, gt=0)
    # Notify's delivery-status callbacks (HTTP POST with "Authorization: Bearer <token>"); off unless a port is set
    notify_callback_host: str = "127.0.0.1"
    notify_callback_port: int | None = None
    notify_callback_token: str | None = None

    # The worker is woken by NOTIFY when work arrives; without one it looks again this often (the safety net)
    delivery_poll_seconds: float = Field(default=5.0, gt=0)
    delivery_batch_size: int = Field(default=200, ge=1)  # due sends started, sent and recorded together
    delivery_concurrency: int = Field(default=8, ge=1)  # sends in flight at once (different notifications)
    delivery_backoff_seconds: list[float] = Field(default_factory=lambda: [10.0, 60.0, 300.0, 1800.0])
    max_attempts_per_channel: int = Field(default=5, ge=1)
    interrupted_after_seconds: float = Field(default=60.0, gt=0)  # a send "sending" this long was interrupted
    receipt_poll_seconds: float = Field(default=60.0, gt=0)

    @model_validator(mode="after")
    def _complete(self) -> NotificationsSettings:
        if self.outbox_dir is None:
            self.outbox_dir = Path(os.environ.get("SENDCASE_HOME") or ".sendcase").expanduser() / "outbox"
        uses_notify = "notify" in (self.email_via, self.sms_via, self.letter_via)
        if uses_notify and not self.notify_api_key:
            raise ValueError("notify_api_key is needed when a channel is sent via GOV.UK Notify")
        if self.email_via == "notify" and not self.notify_email_template_id:
            raise ValueError("notify_email_template_id is needed to send email via GOV.UK Notify")
        if self.sms_via == "notify" and not self.notify_sms_template_id:
            raise ValueError("notify_sms_template_id is needed to send SMS via GOV.UK Notify")
        if self.notify_callback_port is not None and not self.notify_callback_token:
            raise ValueError("notify_callback_token is needed to accept GOV.UK Notify callbacks")
        return self

    @classmethod
    def of(cls, settings: ServiceSettings, **overrides: object) -> NotificationsSettings:
        """These settings for a service whose runtime settings were read already (as `sendcase serve` and
        the tests do): those kept, the delivery ones read from the environment, then `overrides`."""
        if isinstance(settings, cls) and not overrides:
            return settings
        return cls(**{**settings.model_dump(exclude_unset=False, exclude={"service"}), **overrides})
