"""A notification: the duty to tell one person one thing, from the moment it arises until it arrives.

One aggregate per recipient per duty. Its id is derived from the event that caused the duty and the
person to be told, so a redelivered or replayed event can only ever find the same notification, never
create a second one; the same id keys the send on every channel (Notify's reference, the SMTP
Message-ID, the outbox file name), so a restart mid-send can look the message up instead of resending.

Lifecycle: owed -> rendered -> sending -> sent -> delivered; a failed send goes to retry_due (the same
channel after a backoff, or the next channel after a permanent failure) or, when every channel has failed,
to failed; cannot_notify when there is nobody to tell or no usable contact detail; cancelled with a reason;
told_later when it could not be met at first and was owed again to the people recorded since
(UnmetDuties keeps, per pupil, the duties still waiting for someone to tell).
"""

from __future__ import annotations

import re
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING, Any, ClassVar
from uuid import UUID

from eventsourcing.domain import event

from contracts.envelope import derived_id
from contracts.notifications import NotificationStatus as S
from contracts.notifications.reference import short_reference
from services.runtime.aggregate import Aggregate
from services.runtime.errors import DomainError
from services.runtime.sealing import ERASED

# The order channels are tried in after the recipient's preferred one.
CHANNEL_ORDER = ("email", "letter", "sms")
NOBODY = "nobody"
COMPLETE_LETTER = "complete letter"


class NotificationError(DomainError):
    pass


# An invitation's one-time code (services/register/domain/invitation.py: three groups of four of Crockford's base32),
# as a message states it: shown only to the person it was sent to. Every view and answer shows this instead.
ONE_TIME_CODE = re.compile(r"\b[0-9A-HJKMNP-TV-Z]{4}-[0-9A-HJKMNP-TV-Z]{4}-[0-9A-HJKMNP-TV-Z]{4}\b")
CODE_NOT_SHOWN = "[one-time code: sent to the person invited only]"


def without_codes(text: str | None) -> str | None:
    return None if text is None else ONE_TIME_CODE.sub(CODE_NOT_SHOWN, text)


def contact_for(recipient: dict[str, Any], channel: str) -> Any:
    """The recipient's detail for a channel, or None."""
    return {"email": recipient.get("email"), "sms": recipient.get("mobile"), "letter": recipient.get("postal_address")}[
        channel
    ]


def channel_plan(recipient: dict[str, Any] | None, channels: list[str] | None = None) -> list[str]:
    """The channels to try, preferred first, then the others the person has a contact detail for (of `channels`,
    when a notification may use only some: a complete letter sent besides a text goes by post only)."""
    if recipient is None:
        return []
    preferred = recipient.get("preferred_channel")
    ordered = ([preferred] if preferred in CHANNEL_ORDER else []) + [c for c in CHANNEL_ORDER if c != preferred]
    return [c for c in ordered if contact_for(recipient, c) and (channels is None or c in channels)]


class Notification(Aggregate):
    if TYPE_CHECKING:  # made by the @event decorators below; named here so type checkers know them
        Owed: ClassVar[type[Any]]
        Rendered: ClassVar[type[Any]]
        Redated: ClassVar[type[Any]]
        CouldNotNotify: ClassVar[type[Any]]
        SendingStarted: ClassVar[type[Any]]
        Sent: ClassVar[type[Any]]
        Delivered: ClassVar[type[Any]]
        SendFailed: ClassVar[type[Any]]
        Cancelled: ClassVar[type[Any]]
        ToldLater: ClassVar[type[Any]]

    shown_in_subject_access = "message"  # a subject access export shows it as a message sent to the family
    # An invitation's one-time code is shown to nobody but the person it was sent to (and stays in the stored
    # content, sealed, so that what was sent can be proved): withheld wherever it occurs, in the facts and the text.
    withheld_from_subject_access = frozenset({"code"})

    @property
    def personal_data_erased(self) -> bool:
        """Whom it is to, or what it says, was erased (the child's or the recipient's key destroyed)."""
        name = (self.recipient or {}).get("name")
        return name == ERASED or self.about == ERASED

    @property
    def data_subject(self) -> UUID:
        """What a notification says is about the pupil: sealed under their key (the recipient's details under
        the recipient's own)."""
        return self.pupil_id

    @staticmethod
    def create_id(cause_event_id: UUID, person_id: UUID | None, companion_of: UUID | None = None, **_: Any) -> UUID:
        """From the cause and the person; a complete letter sent besides a person's text or notice (`companion_of`
        that notification) from the cause, the person and "complete letter"."""
        if companion_of is not None:
            return derived_id("notification", cause_event_id, person_id or NOBODY, COMPLETE_LETTER)
        return derived_id("notification", cause_event_id, person_id or NOBODY)

    @event("Owed")
    def __init__(
        self,
        cause_event_id: UUID,
        cause_event_type: str,
        duty: str,
        pupil_id: UUID,
        case_id: UUID | None,
        school_urn: str | None,
        person_id: UUID | None,
        recipient: dict[str, Any] | None,  # the PersonToTell as published: never a child's protected address
        owed_since: date,
        about: str,
        facts: dict[str, Any],  # what the content states: names, dates, deadlines, contact
        # Since December 2026 (None in a notification owed before): the channels it may use (a complete letter sent
        # besides a person's text or notice: only the channel that can carry it), and the notification it completes.
        channels: list[str] | None = None,
        companion_of: UUID | None = None,
    ) -> None:
        self.cause_event_id = cause_event_id
        self.cause_event_type = cause_event_type
        self.duty = duty
        self.pupil_id = pupil_id
        self.case_id = case_id
        self.school_urn = school_urn
        self.person_id = person_id
        self.recipient = recipient
        self.owed_since = owed_since
        self.about = about
        self.facts = facts
        self.channels = channels
        self.companion_of = companion_of
        self.status = S.OWED.value
        self.content: dict[str, Any] | None = None
        self.content_hash: str | None = None
        plan = channel_plan(recipient, channels)
        self.channel: str | None = plan[0] if plan else None
        self.unreachable: list[str] = []
        self.attempts: dict[str, int] = {}
        self.retry_at: datetime | None = None
        self.provider_reference: str | None = None
        self.reason: str | None = None

    @property
    def recipients(self) -> str:
        if self.recipient is None:
            return "nobody recorded"
        return f"{self.recipient['name']} ({self.recipient['relationship']})"

    def regarding(self) -> dict[str, Any]:
        """Who and what a step is about, carried on the steps other services are told of (translation)."""
        return {
            "pupil_id": str(self.pupil_id),
            "case_id": str(self.case_id) if self.case_id else None,
            "school_urn": self.school_urn,
            "duty": self.duty,
            "recipient": self.recipients,
            "content_hash": self.content_hash,
        }

    def send_key(self, channel: str) -> str:
        """The one key a send on this channel is known by, everywhere (Notify reference, file name...)."""
        return f"{self.id}.{channel}"

    @property
    def plan(self) -> list[str]:
        """The channels this notification may still be sent on, in order."""
        return channel_plan(self.recipient, getattr(self, "channels", None))

    @property
    def reference(self) -> str:
        """The short reference printed on it, for a person to quote (contracts/notifications/reference.py)."""
        return short_reference(self.id)

    @property
    def dated_on(self) -> date | None:
        """The date the content states as the day it is sent (None: written before messages were dated)."""
        found = (self.content or {}).get("dated_on")
        return date.fromisoformat(found) if isinstance(found, str) else found

    # -- content ------------------------------------------------------------------------------------------

    def render(
        self,
        template: str,
        subject: str,
        body: str,
        sms: str,
        content_hash: str,
        *,
        letter: str | None = None,
        letter_html: str | None = None,
        reference: str | None = None,
        dated_on: date | None = None,
    ) -> None:
        if self.status != S.OWED.value:
            raise NotificationError(
                "The content of this notification has already been written.", rule="already_rendered"
            )
        self._rendered(
            template=template,
            subject=subject,
            body=body,
            sms=sms,
            content_hash=content_hash,
            letter=letter,
            letter_html=letter_html,
            reference=reference,
            dated_on=dated_on,
        )

    # letter, letter_html, reference, dated_on: since December 2026 (None in content written before, whose letter is
    # its body, undated, with the notification's id as its reference).
    @event("Rendered")
    def _rendered(
        self,
        template: str,
        subject: str,
        body: str,
        sms: str,
        content_hash: str,
        letter: str | None = None,
        letter_html: str | None = None,
        reference: str | None = None,
        dated_on: date | None = None,
    ) -> None:
        self.content = {
            "template": template,
            "subject": subject,
            "body": body,
            "sms": sms,
            "letter": letter,
            "letter_html": letter_html,
            "reference": reference,
            "dated_on": dated_on,
        }
        self.content_hash = content_hash
        self.status = S.RENDERED.value

    def redate(
        self, subject: str, body: str, sms: str, letter: str, letter_html: str, content_hash: str, dated_on: date
    ) -> None:
        """The content written again, dated the day it is now sent: a message states the date it is sent (a right to
        respond or appeal runs from it), and this one is sent on a later day than it was written (a retry, another
        channel). Only before a send starts."""
        if self.status not in (S.RENDERED.value, S.RETRY_DUE.value) or self.content is None:
            raise NotificationError("Only a notification waiting to be sent can be dated again.", rule="not_sendable")
        self._redated(
            subject=subject,
            body=body,
            sms=sms,
            letter=letter,
            letter_html=letter_html,
            content_hash=content_hash,
            dated_on=dated_on,
        )

    @event("Redated")
    def _redated(
        self, subject: str, body: str, sms: str, letter: str, letter_html: str, content_hash: str, dated_on: date
    ) -> None:
        assert self.content is not None
        self.content = {
            **self.content,
            "subject": subject,
            "body": body,
            "sms": sms,
            "letter": letter,
            "letter_html": letter_html,
            "dated_on": dated_on,
        }
        self.content_hash = content_hash

    def cannot_notify(self, reason: str) -> None:
        if self.status not in (S.OWED.value, S.RENDERED.value):
            raise NotificationError("Only a notification not yet sent can be marked as impossible to send.")
        self._could_not_notify(reason=reason, regarding=self.regarding())

    @event("CouldNotNotify")
    def _could_not_notify(self, reason: str, regarding: dict[str, Any]) -> None:
        self.status = S.CANNOT_NOTIFY.value
        self.reason = reason

    # -- delivery -----------------------------------------------------------------------------------------

    def is_due(self, now: datetime) -> bool:
        if self.status == S.RENDERED.value:
            return True
        return self.status == S.RETRY_DUE.value and (self.retry_at is None or self.retry_at <= now)

    def start_sending(self, channel: str) -> None:
        # Recorded before the send: a crash after this point is found by reconciliation, never resent blindly.
        if self.status not in (S.RENDERED.value, S.RETRY_DUE.value):
            raise NotificationError(f"This notification is {self.status}; it cannot be sent now.", rule="not_sendable")
        if channel != self.channel:
            raise NotificationError(f"This notification is due on {self.channel}, not {channel}.", rule="wrong_channel")
        self._sending_started(channel=channel, attempt=self.attempts.get(channel, 0) + 1, key=self.send_key(channel))

    @event("SendingStarted")
    def _sending_started(self, channel: str, attempt: int, key: str) -> None:
        self.status = S.SENDING.value
        self.attempts = {**self.attempts, channel: attempt}
        self.retry_at = None

    def record_sent(
        self, channel: str, provider_reference: str | None, how: str = "sent", sent: dict[str, Any] | None = None
    ) -> None:
        """`sent`: the exact bytes that left, as facts (`sent_bytes(...)`): their sha256, size and what they are."""
        if self.status != S.SENDING.value or channel != self.channel:
            raise NotificationError(
                f"Only a send in progress on {channel} can be recorded as sent.", rule="not_sending"
            )
        self._sent(channel=channel, provider_reference=provider_reference, how=how, **(sent or {}))

    # sent_sha256, sent_size, sent_as: the exact bytes sent (the outbox file, the MIME message, Notify's request
    # body, the letter's PDF), recorded since 2026-12; a Sent stored before has none (None: not recorded).
    # made_with: for a letter, the renderer that printed it (services/runtime/documents: its version and fonts),
    # recorded since 2026-12 (None: not a letter, or not recorded), so an audit can make it again and compare.
    @event("Sent")
    def _sent(
        self,
        channel: str,
        provider_reference: str | None,
        how: str,
        sent_sha256: str | None = None,
        sent_size: int | None = None,
        sent_as: str | None = None,
        made_with: str | None = None,
    ) -> None:
        self.status = S.SENT.value
        self.provider_reference = provider_reference

    def record_delivered(self, channel: str, evidence: str, receipt: dict[str, Any] | None = None) -> None:
        """`receipt`: the provider's delivery receipt as received (`receipt_fact(...)`), when there is one."""
        if self.status == S.DELIVERED.value:
            return  # a second receipt for the same message says nothing new
        if self.status not in (S.SENT.value, S.SENDING.value) or channel != self.channel:
            raise NotificationError(f"This notification was not sent on {channel}.", rule="not_sent")
        self._delivered(channel=channel, evidence=evidence, regarding=self.regarding(), receipt=receipt)

    # receipt: recorded since 2026-12 (None: no receipt, or stored before).
    @event("Delivered")
    def _delivered(
        self, channel: str, evidence: str, regarding: dict[str, Any], receipt: dict[str, Any] | None = None
    ) -> None:
        self.status = S.DELIVERED.value

    def record_failure(
        self,
        channel: str,
        reason: str,
        permanent: bool,
        now: datetime,
        backoff: timedelta,
        max_attempts: int,
        receipt: dict[str, Any] | None = None,
    ) -> None:
        """A send failed. Transient: try the same channel again after `backoff`, up to max_attempts.
        Permanent (e.g. an invalid address) or attempts used up: that channel cannot reach them; try the
        next channel now, or, when none is left, it has failed to reach them and a person must act."""
        if self.status not in (S.SENDING.value, S.SENT.value) or channel != self.channel:
            raise NotificationError(f"Only a send on {channel} can fail.", rule="not_sending")
        gave_up_on_channel = permanent or self.attempts.get(channel, 0) >= max_attempts
        next_channel: str | None = channel
        retry_at: datetime | None = now + backoff
        if gave_up_on_channel:
            remaining = [c for c in self.plan if c != channel and c not in self.unreachable]
            next_channel = remaining[0] if remaining else None
            retry_at = now if next_channel else None
        self._failed(
            channel=channel,
            reason=reason,
            permanent=permanent,
            channel_unreachable=gave_up_on_channel,
            next_channel=next_channel,
            retry_at=retry_at,
            regarding=self.regarding(),
            receipt=receipt,
        )

    # receipt: the provider's receipt that said it failed, recorded since 2026-12 (None: the send itself failed,
    # or stored before).
    @event("SendFailed")
    def _failed(
        self,
        channel: str,
        reason: str,
        permanent: bool,
        channel_unreachable: bool,
        next_channel: str | None,
        retry_at: datetime | None,
        regarding: dict[str, Any],
        receipt: dict[str, Any] | None = None,
    ) -> None:
        self.reason = reason
        if channel_unreachable:
            self.unreachable = [*self.unreachable, channel]
        if next_channel is None:
            self.status = S.FAILED.value
        else:
            self.status = S.RETRY_DUE.value
            self.channel = next_channel
            self.retry_at = retry_at

    def cancel(self, reason: str) -> None:
        if self.status in (S.SENT.value, S.DELIVERED.value, S.SENDING.value):
            raise NotificationError("A notification already sent cannot be cancelled.", rule="already_sent")
        if self.status == S.CANCELLED.value:
            return
        self._cancelled(reason=reason)

    @event("Cancelled")
    def _cancelled(self, reason: str) -> None:
        self.status = S.CANCELLED.value
        self.reason = reason

    @property
    def unmet(self) -> bool:
        """Nobody could be told: waiting for people (or a usable contact) to be recorded."""
        return self.status == S.CANNOT_NOTIFY.value

    def told_later(self, owed_to: list[UUID], because: str) -> None:
        if not self.unmet:
            raise NotificationError(f"This notification is {self.status}, not waiting to be told.", rule="not_unmet")
        self._told_later(owed_to=owed_to, because=because)

    @event("ToldLater")
    def _told_later(self, owed_to: list[UUID], because: str) -> None:
        self.status = S.TOLD_LATER.value
        self.owed_to = owed_to
        self.reason = because


class UnmetDuties(Aggregate):
    """The duties to tell about one pupil that nobody could be told yet (one per pupil): when people with
    parental responsibility (or a usable contact) are recorded, each is owed again to them, once."""

    if TYPE_CHECKING:  # made by the @event decorators below; named here so type checkers know them
        Started: ClassVar[type[Any]]
        Waiting: ClassVar[type[Any]]
        Met: ClassVar[type[Any]]

    @staticmethod
    def create_id(pupil_id: UUID, **_: Any) -> UUID:
        return derived_id("unmet-duties", pupil_id)

    @event("Started")
    def __init__(self, pupil_id: UUID) -> None:
        self.pupil_id = pupil_id
        self.waiting: list[UUID] = []

    def wait(self, notification_id: UUID) -> None:
        if notification_id not in self.waiting:
            self._waiting(notification_id=notification_id)

    @event("Waiting")
    def _waiting(self, notification_id: UUID) -> None:
        self.waiting = [*self.waiting, notification_id]

    def met(self, notification_id: UUID) -> None:
        if notification_id in self.waiting:
            self._met(notification_id=notification_id)

    @event("Met")
    def _met(self, notification_id: UUID) -> None:
        self.waiting = [n for n in self.waiting if n != notification_id]


class ErasedPupil(Aggregate):
    """The register erased a child's personal data: recorded here too, so this service's own history, and every
    view rebuilt from it, shows when its copies were dropped (docs/audit.md). Ids only: nothing personal."""

    if TYPE_CHECKING:  # made by the @event decorator below; named here so type checkers know it
        Recorded: ClassVar[type[Any]]

    @staticmethod
    def create_id(pupil_id: UUID, **_: Any) -> UUID:
        return derived_id("erased-pupil", pupil_id)

    @property
    def data_subject(self) -> UUID:
        """About the child (ids only, nothing sealed): so a subject access export shows when the copies went."""
        return self.pupil_id

    @event("Recorded")
    def __init__(self, pupil_id: UUID, erased_on: date, rule: str, people_erased: list[UUID]) -> None:
        self.pupil_id = pupil_id
        self.erased_on = erased_on
        self.rule = rule
        self.people_erased = people_erased
