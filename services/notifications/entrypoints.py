"""NATS request/reply entry points of the notifications service."""

from __future__ import annotations

from collections.abc import Callable

import asyncpg

from contracts.envelope import Role
from contracts.notifications import NotificationsForPupil, NotificationView
from services.notifications.projections import notifications_for_pupil
from services.runtime.context import CommandContext
from services.runtime.endpoints import QueryRoute
from services.runtime.errors import NotAuthorised

READERS = {Role.SENCO, Role.HEADTEACHER, Role.LA_CASEWORKER, Role.LA_MANAGER, Role.AUDITOR, Role.SYSTEM}


def routes(pool: Callable[[], asyncpg.Pool]) -> list[QueryRoute]:
    async def for_pupil(query: NotificationsForPupil, ctx: CommandContext) -> list[NotificationView]:
        if ctx.actor.role not in READERS:
            raise NotAuthorised("Only school and local authority staff can list the notifications for a pupil.")
        found = await notifications_for_pupil(pool(), query.pupil_id)
        if ctx.actor.school_urn is not None:  # school staff see only their own school's notifications
            found = [n for n in found if n.school_urn == ctx.actor.school_urn]
        return found

    return [QueryRoute(NotificationsForPupil, for_pupil)]
