"""NATS request/reply entry points of the notifications service: thin, one call each."""

from __future__ import annotations

from collections.abc import Callable
from uuid import UUID

import asyncpg
from eventsourcing.persistence import RecordConflictError

from contracts.envelope import Role, derived_id
from contracts.notifications import (
    CancelNotification,
    CountsView,
    DeliveryReceipt,
    Duty,
    FailedToReach,
    NotificationCounts,
    NotificationsForCase,
    NotificationsForPupil,
    NotificationView,
    RequestProfessionalNotice,
    UndeliveredNotifications,
)
from services.notifications import projections
from services.notifications.application import Notifications
from services.notifications.domain.notification import Notification
from services.runtime.clock import ENGLAND
from services.runtime.context import CommandContext
from services.runtime.endpoints import CommandRoute, QueryRoute
from services.runtime.errors import DomainError, NotAuthorised
from services.runtime.eventstore import EventStore

READERS = {Role.SENCO, Role.HEADTEACHER, Role.LA_CASEWORKER, Role.LA_MANAGER, Role.AUDITOR, Role.SYSTEM}
# Owning services (ehcp, plans) act as SYSTEM; a caseworker may also ask for a notice by hand.
NOTICE_REQUESTERS = {Role.SYSTEM, Role.LA_CASEWORKER, Role.LA_MANAGER}


def _reader(ctx: CommandContext) -> None:
    if ctx.actor.role not in READERS:
        raise NotAuthorised("Only school and local authority staff can see notifications.")


def _scope(ctx: CommandContext, school_urn: str | None) -> str | None:
    """School staff see only their own school; LA staff see one school or the whole LA."""
    own = ctx.actor.school_urn
    if own is not None:
        if school_urn not in (None, own):
            raise NotAuthorised("School staff can only see their own school's notifications.")
        return own
    return school_urn


def _own_school_only(ctx: CommandContext, found: list[NotificationView]) -> list[NotificationView]:
    if ctx.actor.school_urn is not None:
        return [n for n in found if n.school_urn == ctx.actor.school_urn]
    return found


def routes(store: EventStore[Notifications], pool: Callable[[], asyncpg.Pool]) -> tuple[list[CommandRoute], list[QueryRoute]]:
    app = store.app

    async def for_pupil(query: NotificationsForPupil, ctx: CommandContext) -> list[NotificationView]:
        _reader(ctx)
        return _own_school_only(ctx, await projections.notifications_for_pupil(pool(), query.pupil_id))

    async def for_case(query: NotificationsForCase, ctx: CommandContext) -> list[NotificationView]:
        _reader(ctx)
        return _own_school_only(ctx, await projections.notifications_for_case(pool(), query.case_id))

    async def undelivered(query: UndeliveredNotifications, ctx: CommandContext) -> list[NotificationView]:
        _reader(ctx)
        return await projections.undelivered(pool(), _scope(ctx, query.school_urn))

    async def failed_to_reach(query: FailedToReach, ctx: CommandContext) -> list[NotificationView]:
        _reader(ctx)
        return await projections.failed_to_reach(pool(), _scope(ctx, query.school_urn))

    async def counts(query: NotificationCounts, ctx: CommandContext) -> CountsView:
        _reader(ctx)
        return await projections.counts(pool(), _scope(ctx, query.school_urn))

    async def request_notice(command: RequestProfessionalNotice, ctx: CommandContext) -> dict[str, str]:
        if ctx.actor.role not in NOTICE_REQUESTERS:
            raise NotAuthorised("Only the local authority or its services can ask for a professional notice.")
        cause = derived_id("professional-notice", command.notice_id)

        def owe_and_save() -> list[UUID]:
            created = app.owe(
                cause_event_id=cause, cause_event_type=RequestProfessionalNotice.SUBJECT,
                duty=Duty.PROFESSIONAL_NOTICE, pupil_id=command.pupil_id, case_id=command.case_id,
                school_urn=command.school_urn, owed_since=ctx.now.astimezone(ENGLAND).date(), about=command.child_name,
                facts=command.model_dump(mode="json", exclude={"people_to_tell", "notice_id"}),
                people=[p.model_dump(mode="json") for p in command.people_to_tell],
                nobody_reason="Cannot notify: the request names nobody.",
            )
            if created:
                try:
                    app.save(*created)  # asking twice finds the same ids and saves nothing
                except RecordConflictError:
                    pass  # the same request, asked at the same moment, was saved by the other call
            return [Notification.create_id(cause, p.person_id) for p in command.people_to_tell]

        ids = await store.call(ctx, owe_and_save)
        return {f"notification_{i}": str(n) for i, n in enumerate(ids)}

    async def receipt(command: DeliveryReceipt, ctx: CommandContext) -> dict[str, str]:
        if ctx.actor.role != Role.SYSTEM:
            raise NotAuthorised("Only the delivery-receipt gateway can record GOV.UK Notify receipts.")
        return await record_receipt(store, command, ctx)

    async def cancel(command: CancelNotification, ctx: CommandContext) -> dict[str, str]:
        if ctx.actor.role not in (Role.SENCO, Role.LA_CASEWORKER, Role.LA_MANAGER):
            raise NotAuthorised("Only a SENCO or a local authority caseworker can cancel a notification.")

        def check_and_cancel() -> None:
            n = app.notification(command.notification_id)
            if ctx.actor.school_urn is not None and n.school_urn != ctx.actor.school_urn:
                raise NotAuthorised("A SENCO can only cancel their own school's notifications.")
            app.cancel(command.notification_id, command.reason)

        await store.call(ctx, check_and_cancel)
        return {"notification_id": str(command.notification_id)}

    commands = [
        CommandRoute(RequestProfessionalNotice, request_notice), CommandRoute(DeliveryReceipt, receipt),
        CommandRoute(CancelNotification, cancel),
    ]
    queries = [
        QueryRoute(NotificationsForPupil, for_pupil), QueryRoute(NotificationsForCase, for_case),
        QueryRoute(UndeliveredNotifications, undelivered), QueryRoute(FailedToReach, failed_to_reach),
        QueryRoute(NotificationCounts, counts),
    ]
    return commands, queries


async def record_receipt(store: EventStore[Notifications], receipt: DeliveryReceipt, ctx: CommandContext) -> dict[str, str]:
    """A GOV.UK Notify delivery receipt (forwarded over NATS, or posted to the callback receiver)."""
    notification_id, channel = _parse_reference(receipt.reference)
    status = await store.call(ctx, store.app.record_receipt, notification_id, channel, receipt.status, str(receipt.id))
    return {"notification_id": str(notification_id), "status": status}


def _parse_reference(reference: str | None) -> tuple[UUID, str]:
    problem = "is not one of ours: it should be '<notification id>.<email|sms|letter>'"
    if not reference:
        raise DomainError(f"The receipt's reference {problem}.", rule="unknown_reference", field="command.reference")
    head, _, channel = reference.rpartition(".")
    try:
        notification_id = UUID(head)
    except ValueError:
        raise DomainError(f"The receipt's reference {reference!r} {problem}.", rule="unknown_reference",
                          field="command.reference") from None
    if channel not in ("email", "sms", "letter"):
        raise DomainError(f"The receipt's reference {reference!r} {problem}.", rule="unknown_reference",
                          field="command.reference")
    return notification_id, channel
