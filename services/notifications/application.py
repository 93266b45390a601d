"""The notifications application: owe, write, send and track each message. Methods take simple values.

Reactions call `owe` (the aggregates are saved by the consumer together with the event's position); the
delivery worker calls the delivery methods, each a get, one aggregate call, a save.
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from datetime import date, datetime, timedelta
from typing import Any
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError, project_aggregate
from eventsourcing.persistence import RecordConflictError
from jinja2 import TemplateError

from contracts import access
from contracts.envelope import Actor, derived_id
from contracts.notifications import Duty, NotificationAudit, ReceiptRecorded, RequestProfessionalNotice
from contracts.people import ContactPoint, PersonToTell
from services.notifications.audit import audit_of
from services.notifications.content import COMPLETE_AS_WRITTEN, render
from services.notifications.domain.grants import ReaderGrants
from services.notifications.domain.notification import (
    CHANNEL_ORDER,
    ErasedPupil,
    Notification,
    NotificationError,
    UnmetDuties,
    channel_plan,
)
from services.notifications.domain.rules import (
    SCHOOL_DUTIES,
    check_may_cancel,
    check_may_read,
    check_may_record_receipts,
    check_may_request_notice,
    check_may_see_school,
)
from services.notifications.letters_config import LettersConfig, load_letters_config
from services.runtime.access import Grant
from services.runtime.clock import today_in_england
from services.runtime.context import current_context
from services.runtime.errors import DomainError, NotFound
from services.runtime.eventstore import SendcaseApplication
from services.runtime.keyring import current_keyring

NOBODY_ADDRESSEE = {"name": "Parent or carer", "relationship": "parent or carer", "has_parental_responsibility": True}


class Notifications(SendcaseApplication):
    name = "notifications"
    # Sealed under the pupil's key (the recipient's name and contacts under their own): what a message says
    # about the child, and whom it names (the complete letter too, in text and HTML). services/runtime/sealing.py,
    # docs/audit.md.
    personal_fields = frozenset(
        {
            "about",
            "facts",
            "subject",
            "body",
            "sms",
            "letter",
            "letter_html",
            "recipient",
            "recipients",
            "reason",
            "user_id",
        }
    )

    # The LA's letters configuration (services/notifications/letters_config.py): set by bootstrap from the settings;
    # an application made without one (a unit test) uses the development default.
    letters_config: LettersConfig | None = None

    @property
    def letters(self) -> LettersConfig:
        if self.letters_config is None:
            self.letters_config = load_letters_config(None)
        return self.letters_config

    def letterhead(self, duty: Duty, facts: dict[str, Any], school_urn: str | None) -> dict[str, Any]:
        """The facts with what every message states besides the event's own: who it is from (the school for the
        school's duties, the LA for its own), the help services, the LA's content levels, and the contact (the one
        the event names, its missing mailbox or phone filled from the sender's). Kept on the notification, so the
        record shows who it was from, and a message written again (dated again, told later) says the same."""
        if "sender" in facts:
            return facts  # written since December 2026: what it said then stands
        config = self.letters
        # the school's duties come from the school (domain/rules.py SCHOOL_DUTIES), every other from the LA
        if duty in SCHOOL_DUTIES or (
            duty == Duty.ACCESS_INVITATION and str(facts.get("invited_by_organisation", "")).startswith("school:")
        ):
            sender = config.school_sender(school_urn)
        else:
            sender = config.la_sender()
        named = facts.get("contact") or {}
        contact = {
            "name": named.get("name") or sender["contact"]["name"],
            "email": named.get("email") or sender["contact"]["email"],
            "phone": named.get("phone") or sender["contact"]["phone"],
        }
        return {
            **facts,
            "sender": sender,
            "help": config.help_services(),
            "messages": config.messages.model_dump(mode="json"),
            "contact": contact,
        }

    # -- duties -------------------------------------------------------------------------------------------

    def owe(
        self,
        *,
        cause_event_id: UUID,
        cause_event_type: str,
        duty: Duty,
        pupil_id: UUID,
        case_id: UUID | None,
        school_urn: str | None,
        owed_since: date,
        about: str,
        facts: dict[str, Any],
        people: list[dict[str, Any]],
        nobody_reason: str,
    ) -> list[Notification]:
        """One notification per person to tell, written and ready to send; or, when nobody is named, one
        recorded "cannot notify" fact (with the content written, so the school can hand it over). A person whose
        first channel cannot carry the whole message (a text; an email where the LA sends notices only) is owed a
        second notification too, carrying the complete letter by post (or by email), when they have an address for it.

        Returns the new aggregates, unsaved (a reaction saves them with its tracking record). A person
        already owed this duty (a replay) is skipped: their notification already exists under the same id.
        """
        facts = self.letterhead(duty, facts, school_urn)
        today = today_in_england(current_context().now)
        created: list[Notification] = []
        seen: set[UUID | None] = set()
        everyone: list[dict[str, Any] | None] = list(people) or [None]
        for person in everyone:
            person_id = UUID(str(person["person_id"])) if person else None
            if person_id in seen:
                continue  # named twice in the same event: told once
            seen.add(person_id)
            if Notification.create_id(cause_event_id, person_id) in self.repository:
                continue
            companion = complete_letter_channel(duty, person, facts["messages"])
            own: dict[str, Any] = {
                "cause_event_id": cause_event_id,
                "cause_event_type": cause_event_type,
                "duty": duty.value,
                "pupil_id": pupil_id,
                "case_id": case_id,
                "school_urn": school_urn,
                "person_id": person_id,
                "recipient": person,
                "owed_since": owed_since,
                "about": about,
                "facts": facts,
            }
            n = Notification(**own, channels=[c for c in CHANNEL_ORDER if c != companion] if companion else None)
            written = self._write(n, duty, person or NOBODY_ADDRESSEE, today, WHERE.get(companion or "", "ask"))
            created.append(n)
            if not written:
                continue
            if person is None:
                n.cannot_notify(nobody_reason)
            elif not n.plan and not companion:
                n.cannot_notify(
                    f"No usable contact detail for {person['name']} ({person['relationship']}): no email "
                    "address, mobile number or postal address is recorded. Please update their contact "
                    "details and hand or post this notification to them."
                )
            if companion:
                letter = Notification(**own, channels=[companion], companion_of=n.id)
                if self._write(letter, duty, person or NOBODY_ADDRESSEE, today, "here"):
                    created.append(letter)
        return created

    def _write(self, n: Notification, duty: Duty, person: dict[str, Any], today: date, details: str) -> bool:
        """Write a notification's content; one that cannot be written is recorded so (never dropped): False."""
        try:
            content = render(duty.value, n.facts, person, n.reference, today, details)
        except (TemplateError, ValueError, KeyError) as e:  # a fact the letter needs is missing or wrong
            n.cannot_notify(
                f"The {duty.value.replace('_', ' ')} notification could not be written ({e}). Please "
                "report it to the sendcase support team and tell the family by other means."
            )
            return False
        n.render(
            content.template,
            content.subject,
            content.body,
            content.sms,
            content.content_hash,
            letter=content.letter,
            letter_html=content.letter_html,
            reference=content.reference,
            dated_on=content.dated_on,
        )
        return True

    # -- delivery -----------------------------------------------------------------------------------------

    def notification(self, notification_id: UUID) -> Notification:
        try:
            return self.repository.get(notification_id)
        except Exception as e:  # AggregateNotFound
            raise NotFound(f"There is no notification {notification_id}.") from e

    def start_sending(self, notification_id: UUID, channel: str) -> Notification:
        n = self.notification(notification_id)
        if not n.is_due(current_context().now):
            raise NotificationError("This notification is not due to be sent now.", rule="not_due")
        if n.personal_data_erased:  # the child's records were erased since it was owed: nothing left to send
            n.cancel("The child's personal data was erased before this could be sent.")
        else:
            self._dated_today(n)
            n.start_sending(channel)
        self.save(n)
        return n

    def _dated_today(self, n: Notification) -> None:
        """A message states the date it is sent: one written on an earlier day (sent later after a failure, on
        another channel, or after the service was down overnight) is written again, dated today, before it goes."""
        today = today_in_england(current_context().now)
        written_on = n.dated_on
        if written_on is None or written_on == today or n.recipient is None or n.content is None:
            return  # undated (written before messages were dated), or dated today
        content = render(n.duty, n.facts, n.recipient, n.reference, today, details_of(n))
        n.redate(
            content.subject,
            content.body,
            content.sms,
            content.letter,
            content.letter_html,
            content.content_hash,
            content.dated_on,
        )

    def record_sent(
        self,
        notification_id: UUID,
        channel: str,
        provider_reference: str | None,
        how: str = "sent",
        delivered: bool = False,
        sent: dict[str, Any] | None = None,
    ) -> None:
        """The channel accepted it; `delivered` when the channel itself proves arrival (the outbox file).
        `sent`: the exact bytes sent, as facts (their sha256, size and what they are)."""
        n = self.notification(notification_id)
        n.record_sent(channel, provider_reference, how, sent)
        if delivered:
            n.record_delivered(channel, how)
        self.save(n)

    def record_delivered(self, notification_id: UUID, channel: str, evidence: str) -> None:
        n = self.notification(notification_id)
        n.record_delivered(channel, evidence)
        self.save(n)

    def record_failure(
        self, notification_id: UUID, channel: str, reason: str, permanent: bool, backoff: timedelta, max_attempts: int
    ) -> Notification:
        n = self.notification(notification_id)
        n.record_failure(channel, reason, permanent, current_context().now, backoff, max_attempts)
        self.save(n)
        return n

    def audit_notification(self, notification_id: UUID, actor: Actor) -> NotificationAudit:
        """One notification as its stored events hold it (services/notifications/audit.py): read once, from
        the event store itself, so the audit never depends on a read model."""
        check_may_read(actor)
        events = list(self.events.get(notification_id))
        n = project_aggregate(None, events)
        if not isinstance(n, Notification):
            raise NotFound(f"There is no notification {notification_id}.")
        check_may_see_school(actor, n.school_urn)
        return audit_of(n, events)

    def cancel(self, notification_id: UUID, reason: str, actor: Actor | None = None) -> UUID:
        """A notification not yet sent is no longer owed (the reason kept). `actor`: who asks, when a
        person does: whoever owns the duty (the school's SENCO for the register's, the LA for its own)."""
        n = self.notification(notification_id)
        if actor is not None:
            check_may_cancel(actor, n.school_urn, Duty(n.duty))
        n.cancel(reason)
        changed = [n]
        # the complete letter sent besides it (a text, a notice) is no longer owed either, unless it went already
        letter_id = Notification.create_id(n.cause_event_id, n.person_id, companion_of=n.id)
        if getattr(n, "companion_of", None) is None and letter_id in self.repository:
            letter = self.notification(letter_id)
            if letter.status not in ("sent", "delivered", "sending", "cancelled"):
                letter.cancel(reason)
                changed.append(letter)
        self.save(*changed)
        return n.id

    # -- duties nobody could be told yet -------------------------------------------------------------------

    def saved_with(self, aggregates: Sequence[Any]) -> list[Any]:
        """Keep each pupil's UnmetDuties in step with the notifications saved: one that could not be told
        waits there; one told later or cancelled leaves it."""
        indexes: dict[UUID, UnmetDuties] = {}
        for n in aggregates:
            if not isinstance(n, Notification):
                continue
            steps = (Notification.CouldNotNotify, Notification.ToldLater, Notification.Cancelled)
            if not any(isinstance(e, steps) for e in n.pending_events):
                continue
            index = indexes.get(n.pupil_id) or self.unmet_duties(n.pupil_id) or UnmetDuties(pupil_id=n.pupil_id)
            indexes[n.pupil_id] = index
            if n.unmet:
                index.wait(n.id)
            else:
                index.met(n.id)
        return [i for i in indexes.values() if i.pending_events]

    def record_erasure(self, pupil_id: UUID, erased_on: date, rule: str, people_erased: list[UUID]) -> list[Any]:
        """The register erased a child's personal data: the keys are gone already; this service forgets any it
        holds in memory, records the fact (its views drop their copies), and cancels the duties still waiting
        for someone to tell (there is nothing left to tell them). Returns what to save (nothing the second time)."""
        current_keyring().forget([pupil_id, *people_erased])
        with contextlib.suppress(AggregateNotFoundError):
            self.repository.get(ErasedPupil.create_id(pupil_id))
            return []
        changed: list[Any] = [
            ErasedPupil(pupil_id=pupil_id, erased_on=erased_on, rule=rule, people_erased=people_erased)
        ]
        index = self.unmet_duties(pupil_id)
        for waiting in index.waiting if index is not None else []:
            n = self.notification(waiting)
            if n.unmet:
                n.cancel("The child's personal data was erased: there is nobody left to tell.")
                changed.append(n)
        return changed

    def unmet_duties(self, pupil_id: UUID) -> UnmetDuties | None:
        try:
            found: UnmetDuties = self.repository.get(UnmetDuties.create_id(pupil_id))
        except AggregateNotFoundError:
            return None
        return found

    def tell_later(self, pupil_id: UUID, people: list[dict[str, Any]], cause_event_id: UUID, today: date) -> list[Any]:
        """The people with parental responsibility for a pupil are known now: every duty about the pupil that
        nobody could be told is owed to them, once, each date the message states that runs from the notice
        (a reply-by date, an appeal deadline) moved on by as long as the family waited. Returns the new
        notifications and the unmet ones, now told later (unsaved)."""
        index = self.unmet_duties(pupil_id)
        if index is None or not people:
            return []
        changed: list[Any] = []
        for waiting in index.waiting:
            unmet = self.notification(waiting)
            if not unmet.unmet:
                continue
            # Nobody was named: everyone now known. A person without a usable contact: that person again.
            to = (
                people
                if unmet.person_id is None
                else [p for p in people if str(p["person_id"]) == str(unmet.person_id)]
            )
            if not to:
                continue
            created = self.owe(
                cause_event_id=derived_id("told-later", unmet.id, cause_event_id),
                cause_event_type=unmet.cause_event_type,
                duty=Duty(unmet.duty),
                pupil_id=unmet.pupil_id,
                case_id=unmet.case_id,
                school_urn=unmet.school_urn,
                owed_since=today,
                about=unmet.about,
                facts=moved_on(unmet.facts, unmet.owed_since, today),
                people=to,
                nobody_reason=unmet.reason or "Cannot notify: nobody is recorded.",
            )
            unmet.told_later([n.id for n in created], f"owed again on {today:%d %B %Y} to the people recorded then")
            changed += [*created, unmet]
        return changed

    # -- who, besides staff, may read the messages about a child (domain/grants.py) --------------------------

    def _reader_grants(self, pupil_id: UUID) -> ReaderGrants | None:
        try:
            found: ReaderGrants = self.repository.get(ReaderGrants.create_id(pupil_id))
        except AggregateNotFoundError:
            return None
        return found

    def reader_grants(self, pupil_id: UUID) -> list[Grant]:
        found = self._reader_grants(pupil_id)
        return found.standing() if found is not None else []

    def learn_grant(self, fact: access.AccessGranted) -> list[ReaderGrants]:
        grants = self._reader_grants(fact.pupil_id) or ReaderGrants(pupil_id=fact.pupil_id)
        grants.learn(
            Grant(
                grant_id=fact.grant_id,
                user_id=fact.user_id,
                role=fact.role,
                pupil_id=fact.pupil_id,
                relationship=fact.relationship,
                granted_on=fact.granted_on,
                person_id=fact.person_id,
                case_id=fact.case_id,
                until=fact.until,
                until_event=fact.until_event,
            )
        )
        return [grants] if grants.pending_events else []

    def learn_revocation(self, fact: access.AccessRevoked) -> list[ReaderGrants]:
        grants = self._reader_grants(fact.pupil_id)
        if grants is None:
            return []
        grants.forget(fact.grant_id, fact.revoked_on, fact.reason)
        return [grants] if grants.pending_events else []

    def end_grants(self, pupil_id: UUID, ended_on: date, reason: str) -> list[ReaderGrants]:
        grants = self._reader_grants(pupil_id)
        if grants is None:
            return []
        grants.end_all(ended_on, reason)
        return [grants] if grants.pending_events else []

    # -- asked for by other services or people -------------------------------------------------------------

    def request_professional_notice(
        self,
        *,
        actor: Actor,
        today: date,
        notice_id: UUID,
        pupil_id: UUID,
        case_id: UUID | None,
        school_urn: str | None,
        child_name: str,
        about: str,
        details: str,
        respond_by: date | None,
        event_on: date | None,
        people_to_tell: list[PersonToTell],
        contact: ContactPoint,
    ) -> list[UUID]:
        """A notice an owning service (ehcp, plans) or a caseworker asks to be sent now. Asking twice
        (same notice id) finds the same notifications and sends once."""
        check_may_request_notice(actor)
        cause = derived_id("professional-notice", notice_id)
        facts = {
            "pupil_id": str(pupil_id),
            "case_id": str(case_id) if case_id else None,
            "school_urn": school_urn,
            "child_name": child_name,
            "about": about,
            "details": details,
            "respond_by": respond_by.isoformat() if respond_by else None,
            "event_on": event_on.isoformat() if event_on else None,
            "contact": contact.model_dump(mode="json"),
        }
        created = self.owe(
            cause_event_id=cause,
            cause_event_type=RequestProfessionalNotice.SUBJECT,
            duty=Duty.PROFESSIONAL_NOTICE,
            pupil_id=pupil_id,
            case_id=case_id,
            school_urn=school_urn,
            owed_since=today,
            about=child_name,
            facts=facts,
            people=[p.model_dump(mode="json") for p in people_to_tell],
            nobody_reason="Cannot notify: the request names nobody.",
        )
        if created:
            with contextlib.suppress(RecordConflictError):  # the same request, asked at the same moment, was saved
                self.save(*created)  # by the other call
        return [Notification.create_id(cause, p.person_id) for p in people_to_tell]

    def record_delivery_receipt(
        self,
        *,
        actor: Actor,
        reference: str | None,
        status: str,
        id: UUID,
        created_at: datetime | None = None,
        sent_at: datetime | None = None,
        completed_at: datetime | None = None,
        **_rest_of_receipt: Any,  # `to` (the address: already on the notification, not stored again) and the type
    ) -> ReceiptRecorded:
        """A GOV.UK Notify delivery receipt (forwarded over NATS, or posted to the callback receiver)."""
        check_may_record_receipts(actor)
        notification_id, channel = parse_reference(reference)
        times = {"created_at": created_at, "sent_at": sent_at, "completed_at": completed_at}
        changed = self.record_receipt(
            notification_id, channel, status, str(id), receipt_fact(status, str(id), reference, "callback", **times)
        )
        return ReceiptRecorded(notification_id=notification_id, status=changed)

    def record_receipt(
        self,
        notification_id: UUID,
        channel: str,
        status: str,
        provider_reference: str,
        receipt: dict[str, Any] | None = None,
    ) -> str:
        """A delivery receipt from GOV.UK Notify (callback or poll). Returns what it changed. `receipt`: the
        receipt as facts (`receipt_fact`), stored on the Delivered or SendFailed event it causes."""
        n = self.notification(notification_id)
        if n.channel != channel or n.status not in ("sent", "sending", "delivered"):
            raise NotificationError(
                f"Notification {notification_id} is not waiting for a receipt on {channel} (it is {n.status}).",
                rule="unexpected_receipt",
            )
        if n.status == "sent" and n.provider_reference not in (None, provider_reference):
            # a late receipt for an earlier message (sent again after a temporary failure): not this send's
            raise NotificationError(
                f"The receipt is for GOV.UK Notify message {provider_reference}, but notification "
                f"{notification_id} was last sent as {n.provider_reference}.",
                rule="receipt_for_another_message",
            )
        if status == "delivered" or (status == "received" and channel == "letter"):
            # a letter's last Notify status is "received": Royal Mail has it (Notify cannot see the doormat)
            n.record_delivered(channel, f"GOV.UK Notify {provider_reference}: {status}", receipt)
        elif status in ("permanent-failure", "validation-failed", "virus-scan-failed"):
            n.record_failure(
                channel, f"GOV.UK Notify says {status}", True, current_context().now, timedelta(0), 1, receipt
            )
        elif status in ("temporary-failure", "technical-failure"):
            n.record_failure(
                channel, f"GOV.UK Notify says {status}", False, current_context().now, timedelta(minutes=5), 5, receipt
            )
        else:
            return "no change"  # still on its way
        self.save(n)
        return n.status


def carries_the_whole_message(channel: str, messages: dict[str, Any]) -> bool:
    """A letter always does; an email when the LA sends emails in full; a text never (an invitation's code apart)."""
    return channel == "letter" or (channel == "email" and messages.get("email") == "full")


def complete_letter_channel(duty: Duty, person: dict[str, Any] | None, messages: dict[str, Any]) -> str | None:
    """Where a person's complete letter goes besides their first channel, when that cannot carry the whole message
    (a text; an email where the LA sends notices only): by post when they have an address, else by email when the LA
    sends emails in full and they have one; None when their first channel carries it, or nothing else can (the text
    or notice then says how to ask for it)."""
    if person is None or duty.value in COMPLETE_AS_WRITTEN:
        return None
    plan = channel_plan(person)
    if not plan or carries_the_whole_message(plan[0], messages):
        return None
    for channel in ("letter", "email"):
        if channel != plan[0] and channel in plan and carries_the_whole_message(channel, messages):
            return channel
    return None


def details_of(n: Notification) -> str:
    """Where a notification's text or notice says the complete letter is (content.render's `details`): this one is
    that letter ("here"); another notification carries it (the channel this one may not use); or "ask"."""
    if getattr(n, "companion_of", None) is not None:
        return "here"
    channels = getattr(n, "channels", None)
    if channels:
        return WHERE.get(next((c for c in CHANNEL_ORDER if c not in channels), ""), "ask")
    return "ask"


# What a text or notice says of where the complete letter is, by the channel that carries it.
WHERE = {"letter": "post", "email": "email"}


def receipt_fact(
    status: str,
    provider_reference: str,
    reference: str | None,
    via: str,
    *,
    created_at: datetime | str | None = None,
    sent_at: datetime | str | None = None,
    completed_at: datetime | str | None = None,
) -> dict[str, Any]:
    """A GOV.UK Notify delivery receipt as the fact stored on the Delivered or SendFailed event it causes:
    Notify's id for the message and the reference it was sent with (ours: "<notification id>.<channel>"), the
    status, when Notify says it reached it (completed_at, else sent_at, else created_at, as Notify wrote it),
    and how it came (`callback`: Notify posted it; `poll`: we asked)."""

    def text(value: datetime | str | None) -> str | None:
        return value.isoformat() if isinstance(value, datetime) else value

    return {
        "provider": "GOV.UK Notify",
        "provider_reference": provider_reference,
        "reference": reference,
        "status": status,
        "at": text(completed_at) or text(sent_at) or text(created_at),
        "via": via,
    }


def parse_reference(reference: str | None) -> tuple[UUID, str]:
    """Our reference on a Notify message: "<notification id>.<email|sms|letter>"."""
    problem = "is not one of ours: it should be '<notification id>.<email|sms|letter>'"
    head, _, channel = (reference or "").rpartition(".")
    try:
        notification_id = UUID(head)
    except ValueError:
        notification_id = None
    if notification_id is None or channel not in ("email", "sms", "letter"):
        shown = f" {reference!r}" if reference else ""
        raise DomainError(
            f"The receipt's reference{shown} {problem}.", rule="unknown_reference", field="command.reference"
        )
    return notification_id, channel


# Dates a message states that run from the notice reaching the family: a right to respond or to appeal.
DATES_FROM_THE_NOTICE = ("respond_by", "appeal_deadline", "mediation_contact_by")


def moved_on(facts: dict[str, Any], first_owed: date, now: date) -> dict[str, Any]:
    """The facts of a message first owed on `first_owed` and sent from `now`: each date that runs from the
    notice moves on by the days the family waited (the window they have stays the same length)."""
    waited = (now - first_owed).days
    if waited <= 0:
        return facts
    moved = dict(facts)
    for key in DATES_FROM_THE_NOTICE:
        value = facts.get(key)
        if value:
            moved[key] = (date.fromisoformat(str(value)) + timedelta(days=waited)).isoformat()
    return moved
