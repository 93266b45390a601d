"""The register application: command methods take simple values; queries return plain data."""

from __future__ import annotations

from datetime import date
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError

from contracts.envelope import Actor, Role
from contracts.identifiers import NeedType, SenStatus
from contracts.register import PupilStatusChange, PupilView
from services.register.domain.pupil import Pupil, check_date_of_birth, check_is_schools_senco
from services.runtime.aggregate import event_metadata
from services.runtime.clock import ENGLAND
from services.runtime.context import current_context
from services.runtime.errors import DomainError, NotAuthorised, NotFound
from services.runtime.eventstore import SendcaseApplication

# Who may read a pupil's register record besides the SENCO of the pupil's school.
LA_READERS = {Role.LA_CASEWORKER, Role.LA_MANAGER, Role.AUDITOR, Role.DATA_OFFICER, Role.SYSTEM}


class Register(SendcaseApplication):
    name = "register"

    def add_to_sen_support(
        self,
        *,
        school_urn: str,
        upn: str,
        given_name: str,
        family_name: str,
        date_of_birth: date,
        primary_need: NeedType,
        secondary_need: NeedType | None,
        effective_date: date,
        reason: str,
        evidence_reference: str | None,
    ) -> UUID:
        ctx = current_context()
        today = ctx.now.astimezone(ENGLAND).date()
        check_is_schools_senco(ctx.actor, school_urn)
        check_date_of_birth(date_of_birth, today)
        try:
            pupil: Pupil = self.repository.get(Pupil.create_id(upn))
        except AggregateNotFoundError:
            pupil = Pupil(
                upn=upn, given_name=given_name, family_name=family_name, date_of_birth=date_of_birth,
                school_urn=school_urn,
            )
        else:
            if pupil.school_urn != school_urn:
                raise DomainError(
                    f"The pupil with UPN {upn} is on the roll of school {pupil.school_urn}, not {school_urn}.",
                    rule="pupil_at_another_school", field="pupil.upn",
                )
        pupil.add_to_sen_support(
            actor=ctx.actor,
            today=today,
            primary_need=primary_need,
            secondary_need=secondary_need,
            effective_date=effective_date,
            reason=reason,
            evidence_reference=evidence_reference,
        )
        self.save(pupil)
        return pupil.id

    def pupil_view(self, upn: str) -> PupilView:
        actor = current_context().actor
        pupil_id = Pupil.create_id(upn)
        try:
            pupil: Pupil = self.repository.get(pupil_id)
        except AggregateNotFoundError:
            raise NotFound(f"No pupil with UPN {upn} is on any register here.") from None
        _check_may_read(actor, pupil.school_urn)
        history = []
        for stored in self.events.get(pupil_id):
            if isinstance(stored, Pupil.AddedToSenSupport):
                meta = event_metadata(stored)
                history.append(
                    PupilStatusChange(
                        recorded_at=stored.timestamp,
                        effective_date=stored.effective_date,
                        status=SenStatus.SEN_SUPPORT,
                        primary_need=NeedType(stored.primary_need),
                        secondary_need=NeedType(stored.secondary_need) if stored.secondary_need else None,
                        reason=stored.reason,
                        evidence_reference=stored.evidence_reference,
                        by_user=meta["actor"]["user_id"],
                        by_role=meta["actor"]["role"],
                        by_organisation=meta["actor"]["organisation"],
                    )
                )
        return PupilView(
            pupil_id=pupil.id,
            upn=pupil.upn,
            given_name=pupil.given_name,
            family_name=pupil.family_name,
            date_of_birth=pupil.date_of_birth,
            school_urn=pupil.school_urn,
            status=pupil.status,
            primary_need=pupil.primary_need,
            secondary_need=pupil.secondary_need,
            history=history,
        )


def _check_may_read(actor: Actor, school_urn: str) -> None:
    if actor.role in LA_READERS:
        return
    if actor.school_urn == school_urn and actor.role in {Role.SENCO, Role.HEADTEACHER, Role.TEACHER}:
        return
    raise NotAuthorised(f"You cannot see the register record of a pupil at school {school_urn}.")
