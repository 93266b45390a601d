"""NATS request/reply entry points of the register: thin, one application call or read-model query each."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import asyncpg

from contracts.register import (
    AcknowledgeTransfer,
    AddToSenSupport,
    CensusExtract,
    ChangeNeeds,
    EnrolPupil,
    GetPupil,
    GetRollImport,
    GiveConsentToShare,
    ImportRoll,
    LaCounts,
    NoteConcern,
    PupilHistory,
    PupilView,
    RecordLookedAfter,
    RecordOtherRegisters,
    RecordPeopleWithParentalResponsibility,
    RecordSenProvision,
    RemoveFromSenRegister,
    SchoolRegister,
    TransferPupil,
    WithdrawConsentToShare,
)
from contracts.envelope import derived_id
from services.register import projections
from services.register.application import Register, check_may_read
from services.runtime.context import CommandContext
from services.runtime.endpoints import CommandRoute, QueryRoute
from services.runtime.errors import NotFound
from services.runtime.eventstore import EventStore


def routes(
    store: EventStore[Register], pool: Callable[[], asyncpg.Pool]
) -> tuple[list[CommandRoute], list[QueryRoute]]:
    app = store.app

    def pupil_command(method: Callable[..., Any], **fields: str) -> Callable[..., Any]:
        """A command naming a pupil by UPN: call `method` with the command's fields; reply the pupil id."""

        async def handle(command: Any, ctx: CommandContext) -> dict[str, str]:
            values = {name: getattr(command, name) for name in type(command).model_fields}
            for name, value in list(values.items()):
                if hasattr(value, "model_dump") and not isinstance(value, list):
                    values[name] = value.model_dump(mode="json")
            pupil_id = await store.call(ctx, method, **values)
            return {"pupil_id": str(pupil_id)}

        return handle

    async def add_to_sen_support(command: AddToSenSupport, ctx: CommandContext) -> dict[str, str]:
        pupil_id = await store.call(
            ctx, app.add_to_sen_support, school_urn=command.school_urn, upn=command.pupil.upn,
            given_name=command.pupil.given_name, family_name=command.pupil.family_name,
            date_of_birth=command.pupil.date_of_birth, primary_need=command.primary_need,
            secondary_need=command.secondary_need, effective_date=command.effective_date, reason=command.reason,
            evidence_reference=command.evidence_reference,
        )
        return {"pupil_id": str(pupil_id)}

    async def enrol_pupil(command: EnrolPupil, ctx: CommandContext) -> dict[str, str]:
        pupil_id = await store.call(
            ctx, app.enrol_pupil, school_urn=command.school_urn, upn=command.pupil.upn,
            given_name=command.pupil.given_name, family_name=command.pupil.family_name,
            date_of_birth=command.pupil.date_of_birth, year_group=command.year_group, on_roll_from=command.on_roll_from,
        )
        return {"pupil_id": str(pupil_id)}

    async def import_roll(command: ImportRoll, ctx: CommandContext) -> dict[str, str]:
        report = await store.call(
            ctx, app.import_roll, school_urn=command.school_urn, file_name=command.file_name,
            csv_text=command.csv_text, on_roll_from=command.on_roll_from,
        )
        return {
            "import_id": str(report.import_id), "rows": str(report.rows), "enrolled": str(report.enrolled),
            "updated": str(report.updated), "unchanged": str(report.unchanged), "rejected": str(len(report.rejected)),
        }

    async def record_people(command: RecordPeopleWithParentalResponsibility, ctx: CommandContext) -> dict[str, str]:
        pupil_id = await store.call(ctx, app.record_people_with_parental_responsibility, upn=command.upn,
                                    people=list(command.people))
        return {"pupil_id": str(pupil_id)}

    commands = [
        CommandRoute(AddToSenSupport, add_to_sen_support),
        CommandRoute(EnrolPupil, enrol_pupil),
        CommandRoute(ImportRoll, import_roll),
        CommandRoute(RecordPeopleWithParentalResponsibility, record_people),
        CommandRoute(RecordLookedAfter, pupil_command(app.record_looked_after)),
        CommandRoute(RecordOtherRegisters, pupil_command(app.record_other_registers)),
        CommandRoute(GiveConsentToShare, pupil_command(app.give_consent_to_share)),
        CommandRoute(WithdrawConsentToShare, pupil_command(app.withdraw_consent_to_share)),
        CommandRoute(NoteConcern, pupil_command(app.note_concern)),
        CommandRoute(ChangeNeeds, pupil_command(app.change_needs)),
        CommandRoute(RemoveFromSenRegister, pupil_command(app.remove_from_sen_register)),
        CommandRoute(RecordSenProvision, pupil_command(app.record_sen_provision)),
        CommandRoute(TransferPupil, pupil_command(app.transfer_pupil)),
        CommandRoute(AcknowledgeTransfer, pupil_command(app.acknowledge_transfer)),
    ]

    def as_at(day: Any, ctx: CommandContext) -> Any:
        return day or projections.today_in_england(ctx.now)

    async def get_pupil(query: GetPupil, ctx: CommandContext) -> PupilView:
        return await store.call(ctx, app.pupil_view, query.upn)

    async def get_roll_import(query: GetRollImport, ctx: CommandContext) -> Any:
        return await store.call(ctx, app.roll_import, query.import_id)

    async def history(query: PupilHistory, ctx: CommandContext) -> Any:
        school, entries = await projections.pupil_history(pool(), derived_id("pupil", query.upn))
        if school is None:
            raise NotFound(f"No pupil with UPN {query.upn} is on any school's roll here.")
        check_may_read(ctx.actor, school)
        return entries

    async def school_register(query: SchoolRegister, ctx: CommandContext) -> Any:
        check_may_read(ctx.actor, query.school_urn)
        return await projections.register_as_at(pool(), as_at(query.as_at, ctx), query.school_urn, query.as_known_at)

    async def counts(query: LaCounts, ctx: CommandContext) -> Any:
        check_may_read(ctx.actor, query.school_urn)
        return await projections.counts_as_at(pool(), as_at(query.as_at, ctx), query.school_urn, query.as_known_at)

    async def census_extract(query: CensusExtract, ctx: CommandContext) -> Any:
        check_may_read(ctx.actor, query.school_urn)
        return {"csv": await projections.census_extract(pool(), query.census_date, query.school_urn, query.as_known_at)}

    queries = [
        QueryRoute(GetPupil, get_pupil),
        QueryRoute(GetRollImport, get_roll_import),
        QueryRoute(PupilHistory, history),
        QueryRoute(SchoolRegister, school_register),
        QueryRoute(LaCounts, counts),
        QueryRoute(CensusExtract, census_extract),
    ]
    return commands, queries
