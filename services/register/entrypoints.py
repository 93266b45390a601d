"""NATS request/reply entry points of the register: thin, one application call each."""

from __future__ import annotations

from contracts.register import AddToSenSupport, GetPupil, PupilView
from services.register.application import Register
from services.runtime.context import CommandContext
from services.runtime.endpoints import CommandRoute, QueryRoute
from services.runtime.eventstore import EventStore


def routes(store: EventStore[Register]) -> tuple[list[CommandRoute], list[QueryRoute]]:
    app = store.app

    async def add_to_sen_support(command: AddToSenSupport, ctx: CommandContext) -> dict[str, str]:
        pupil_id = await store.call(
            ctx,
            app.add_to_sen_support,
            school_urn=command.school_urn,
            upn=command.pupil.upn,
            given_name=command.pupil.given_name,
            family_name=command.pupil.family_name,
            date_of_birth=command.pupil.date_of_birth,
            primary_need=command.primary_need,
            secondary_need=command.secondary_need,
            effective_date=command.effective_date,
            reason=command.reason,
            evidence_reference=command.evidence_reference,
        )
        return {"pupil_id": str(pupil_id)}

    async def get_pupil(query: GetPupil, ctx: CommandContext) -> PupilView:
        return await store.call(ctx, app.pupil_view, query.upn)

    return [CommandRoute(AddToSenSupport, add_to_sen_support)], [QueryRoute(GetPupil, get_pupil)]
