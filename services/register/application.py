"""The register application: command methods take simple values; queries return plain data.

Every command is get, check, call the aggregate, save. Every rule that can refuse is checked before
anything is saved, so a refused command stores nothing.
"""

from __future__ import annotations

from datetime import date
from typing import Any
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError

from contracts.envelope import Actor, Role
from contracts.identifiers import NeedType, SenStatus
from contracts.people import PersonToTell
from contracts.register import PupilStatusChange, PupilView, RejectedRow, RollImportReport
from services.register.domain.pupil import Pupil, check_date_of_birth, check_is_schools_senco
from services.register.domain.roll import RollImport, file_fingerprint, read_roll
from services.runtime.aggregate import event_metadata
from services.runtime.clock import ENGLAND
from services.runtime.context import current_context
from services.runtime.errors import DomainError, NotAuthorised, NotFound
from services.runtime.eventstore import SendcaseApplication

# Who may read a pupil's register record besides staff of the pupil's school.
LA_READERS = {Role.LA_CASEWORKER, Role.LA_MANAGER, Role.AUDITOR, Role.DATA_OFFICER, Role.SYSTEM}
SCHOOL_READERS = {Role.SENCO, Role.HEADTEACHER, Role.TEACHER}

# Status changes, for a pupil's history: event class name -> (status after, what happened)
STATUS_EVENTS = {
    "AddedToSenSupport": "added to SEN support (K)",
    "NeedsChanged": "need types changed",
    "RemovedFromSenRegister": "removed from the SEN register",
    "EhcPlanFinalised": "EHC plan finalised (E)",
    "EhcPlanCeasedToSenSupport": "EHC plan ceased: back to SEN support (K)",
    "EhcPlanCeasedOffRegister": "EHC plan ceased: off the SEN register",
}


def today() -> date:
    return current_context().now.astimezone(ENGLAND).date()


def check_may_read(actor: Actor, school_urn: str | None) -> None:
    """School staff see their own school's register; LA staff and auditors see every school's."""
    if actor.role in LA_READERS:
        return
    if school_urn is not None and actor.school_urn == school_urn and actor.role in SCHOOL_READERS:
        return
    where = f"school {school_urn}" if school_urn else "the whole local authority"
    raise NotAuthorised(f"You cannot see the SEN register of {where}.")


class Register(SendcaseApplication):
    name = "register"

    # --------------------------------------------------------------------------------------------------
    # Loading

    def pupil(self, upn: str) -> Pupil:
        try:
            return self.repository.get(Pupil.create_id(upn))
        except AggregateNotFoundError:
            raise NotFound(f"No pupil with UPN {upn} is on any school's roll here.", ) from None

    def _pupil_or_none(self, upn: str) -> Pupil | None:
        try:
            return self.repository.get(Pupil.create_id(upn))
        except AggregateNotFoundError:
            return None

    def _change(self, upn: str, action: str, /, **kwargs: Any) -> UUID:
        """Load the pupil, run one aggregate command with the actor and today, save."""
        ctx = current_context()
        pupil = self.pupil(upn)
        check_is_schools_senco(ctx.actor, pupil.school_urn)  # before anything else: no leaks to outsiders
        getattr(pupil, action)(actor=ctx.actor, **kwargs)
        self.save(pupil)
        return pupil.id

    # --------------------------------------------------------------------------------------------------
    # The roll

    def enrol_pupil(
        self, *, school_urn: str, upn: str, given_name: str, family_name: str, date_of_birth: date,
        year_group: int | None, on_roll_from: date,
    ) -> UUID:
        ctx = current_context()
        check_is_schools_senco(ctx.actor, school_urn)
        check_date_of_birth(date_of_birth, today())
        existing = self._pupil_or_none(upn)
        if existing is not None:
            raise DomainError(
                f"The pupil with UPN {upn} is already on the roll of school {existing.school_urn}."
                + (" Ask that school to transfer the record." if existing.school_urn != school_urn else ""),
                rule="already_on_roll" if existing.school_urn == school_urn else "pupil_at_another_school",
                field="pupil.upn",
            )
        pupil = Pupil(upn=upn, given_name=given_name, family_name=family_name, date_of_birth=date_of_birth,
                      school_urn=school_urn, year_group=year_group, on_roll_from=on_roll_from)
        self.save(pupil)
        return pupil.id

    def import_roll(self, *, school_urn: str, file_name: str, csv_text: str, on_roll_from: date) -> RollImportReport:
        ctx = current_context()
        check_is_schools_senco(ctx.actor, school_urn)
        fingerprint = file_fingerprint(csv_text)
        import_id = RollImport.create_id(school_urn, fingerprint)
        try:
            earlier: RollImport = self.repository.get(import_id)
        except AggregateNotFoundError:
            pass
        else:
            raise DomainError(
                f"This file was already imported for school {school_urn} on {earlier.created_on:%d %B %Y} "
                f"(as {earlier.file_name!r}); nothing was changed.",
                rule="duplicate_import", field="csv_text",
            )
        read = read_roll(csv_text, today())
        rejected = list(read.rejected)
        to_save: list[Any] = []
        enrolled = updated = unchanged = 0
        for row in read.rows:
            pupil = self._pupil_or_none(row.upn)
            if pupil is None:
                pupil = Pupil(upn=row.upn, given_name=row.given_name, family_name=row.family_name,
                              date_of_birth=row.date_of_birth, school_urn=school_urn, year_group=row.year_group,
                              on_roll_from=on_roll_from)
                enrolled += 1
            elif pupil.school_urn != school_urn:
                rejected.append({"row": row.line, "field": "upn", "problem": (
                    f"UPN {row.upn} is on the roll of school {pupil.school_urn}: that school transfers the record"
                )})
                continue
            elif pupil.roll_details_differ(row.given_name, row.family_name, row.date_of_birth, row.year_group):
                pupil.update_roll_details(given_name=row.given_name, family_name=row.family_name,
                                          date_of_birth=row.date_of_birth, year_group=row.year_group, on=on_roll_from)
                updated += 1
            else:
                unchanged += 1
            if row.people and pupil.people != row.people:
                pupil._people_recorded(people=row.people)
            if pupil.pending_events:
                to_save.append(pupil)
        rejected.sort(key=lambda r: r["row"])
        record = RollImport(school_urn=school_urn, fingerprint=fingerprint, file_name=file_name,
                            on_roll_from=on_roll_from, rows=read.total, enrolled=enrolled, updated=updated,
                            unchanged=unchanged, rejected=rejected)
        # One save, one transaction: the whole file or nothing (writes to the store are serialised anyway).
        self.save(record, *to_save)
        return self._report(record)

    def roll_import(self, import_id: UUID) -> RollImportReport:
        try:
            record: RollImport = self.repository.get(import_id)
        except AggregateNotFoundError:
            raise NotFound(f"No roll import {import_id}.") from None
        check_may_read(current_context().actor, record.school_urn)
        return self._report(record)

    @staticmethod
    def _report(record: RollImport) -> RollImportReport:
        return RollImportReport(
            import_id=record.id, school_urn=record.school_urn, file_name=record.file_name, rows=record.rows,
            enrolled=record.enrolled, updated=record.updated, unchanged=record.unchanged,
            rejected=[RejectedRow(**r) for r in record.rejected],
        )

    def record_people_with_parental_responsibility(self, *, upn: str, people: list[PersonToTell]) -> UUID:
        return self._change(upn, "record_people_with_parental_responsibility",
                            people=[p.model_dump(mode="json") for p in people])

    def record_looked_after(self, *, upn: str, looked_after: bool, pep_reference: str | None,
                            protected_address: dict[str, Any] | None) -> UUID:
        return self._change(upn, "record_looked_after", looked_after=looked_after, pep_reference=pep_reference,
                            protected_address=protected_address)

    def record_other_registers(self, *, upn: str, eal: bool, medical_needs: bool,
                               healthcare_plan_reference: str | None) -> UUID:
        return self._change(upn, "record_other_registers", eal=eal, medical_needs=medical_needs,
                            healthcare_plan_reference=healthcare_plan_reference)

    def give_consent_to_share(self, *, upn: str, given_by: str, given_by_name: str, given_on: date) -> UUID:
        return self._change(upn, "give_consent_to_share", today=today(), given_by=given_by,
                            given_by_name=given_by_name, given_on=given_on)

    def withdraw_consent_to_share(self, *, upn: str, withdrawn_on: date) -> UUID:
        return self._change(upn, "withdraw_consent_to_share", today=today(), withdrawn_on=withdrawn_on)

    # --------------------------------------------------------------------------------------------------
    # SEN status and needs

    def note_concern(self, *, upn: str, note: str, noted_on: date) -> UUID:
        return self._change(upn, "note_concern", today=today(), note=note, noted_on=noted_on)

    def add_to_sen_support(
        self,
        *,
        school_urn: str,
        upn: str,
        given_name: str,
        family_name: str,
        date_of_birth: date,
        primary_need: NeedType | None,
        secondary_need: NeedType | None,
        effective_date: date,
        reason: str,
        evidence_reference: str | None,
    ) -> UUID:
        """Add to SEN support; a pupil not yet on the roll is enrolled from the same details first."""
        ctx = current_context()
        check_is_schools_senco(ctx.actor, school_urn)
        check_date_of_birth(date_of_birth, today())
        pupil = self._pupil_or_none(upn)
        if pupil is None:
            pupil = Pupil(upn=upn, given_name=given_name, family_name=family_name, date_of_birth=date_of_birth,
                          school_urn=school_urn, on_roll_from=min(effective_date, today()))
        elif pupil.school_urn != school_urn:
            raise DomainError(
                f"The pupil with UPN {upn} is on the roll of school {pupil.school_urn}, not {school_urn}.",
                rule="pupil_at_another_school", field="pupil.upn",
            )
        pupil.add_to_sen_support(
            actor=ctx.actor, today=today(), primary_need=primary_need, secondary_need=secondary_need,
            effective_date=effective_date, reason=reason, evidence_reference=evidence_reference,
        )
        self.save(pupil)
        return pupil.id

    def change_needs(self, *, upn: str, primary_need: NeedType | None, secondary_need: NeedType | None,
                     effective_date: date, reason: str, evidence_reference: str | None) -> UUID:
        return self._change(upn, "change_needs", today=today(), primary_need=primary_need,
                            secondary_need=secondary_need, effective_date=effective_date, reason=reason,
                            evidence_reference=evidence_reference)

    def remove_from_sen_register(self, *, upn: str, effective_date: date, reason: str,
                                 evidence_reference: str | None) -> UUID:
        return self._change(upn, "remove_from_sen_register", today=today(), effective_date=effective_date,
                            reason=reason, evidence_reference=evidence_reference)

    def record_sen_provision(self, *, upn: str, provision: str, effective_date: date) -> UUID:
        return self._change(upn, "record_sen_provision", today=today(), provision=provision,
                            effective_date=effective_date)

    # --------------------------------------------------------------------------------------------------
    # Moving school

    def transfer_pupil(self, *, upn: str, to_school_urn: str, leaving_date: date, reason: str) -> UUID:
        return self._change(upn, "transfer_to", today=today(), to_school_urn=to_school_urn,
                            leaving_date=leaving_date, reason=reason)

    def acknowledge_transfer(self, *, upn: str, received_on: date) -> UUID:
        ctx = current_context()
        pupil = self.pupil(upn)
        pupil.acknowledge_transfer(actor=ctx.actor, today=today(), received_on=received_on)
        self.save(pupil)
        return pupil.id

    # --------------------------------------------------------------------------------------------------
    # Reading

    def pupil_view(self, upn: str) -> PupilView:
        actor = current_context().actor
        pupil = self.pupil(upn)
        check_may_read(actor, pupil.school_urn)
        history = []
        for stored in self.events.get(pupil.id):
            name = type(stored).__name__
            if name not in STATUS_EVENTS:
                continue
            meta = event_metadata(stored)
            state = vars(stored)
            status = {
                "AddedToSenSupport": SenStatus.SEN_SUPPORT, "EhcPlanCeasedToSenSupport": SenStatus.SEN_SUPPORT,
                "EhcPlanFinalised": SenStatus.EHC_PLAN, "RemovedFromSenRegister": SenStatus.NO_SEN,
                "EhcPlanCeasedOffRegister": SenStatus.NO_SEN,
            }.get(name)
            history.append(
                PupilStatusChange(
                    recorded_at=stored.timestamp,
                    effective_date=state.get("effective_date") or state.get("issued_on") or state.get("ceased_on"),
                    status=status or (history[-1].status if history else SenStatus.SEN_SUPPORT),
                    primary_need=NeedType(state["primary_need"]) if state.get("primary_need") else None,
                    secondary_need=NeedType(state["secondary_need"]) if state.get("secondary_need") else None,
                    reason=state.get("reason") or STATUS_EVENTS[name],
                    evidence_reference=state.get("evidence_reference"),
                    by_user=meta["actor"]["user_id"],
                    by_role=meta["actor"]["role"],
                    by_organisation=meta["actor"]["organisation"],
                )
            )
        consent = None
        if pupil.consent is not None:
            consent = {k: (v.isoformat() if isinstance(v, date) else v) for k, v in pupil.consent.items()}
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
            year_group=pupil.year_group,
            on_monitoring_list=pupil.on_monitoring_list,
            people_with_parental_responsibility=[PersonToTell.model_validate(p) for p in pupil.people],
            looked_after=pupil.looked_after,
            pep_reference=pupil.pep_reference,
            protected_address_held=pupil.protected_address is not None,
            eal=pupil.eal,
            medical_needs=pupil.medical_needs,
            healthcare_plan_reference=pupil.healthcare_plan_reference,
            consent_to_share=consent,
            ehc_plans=list(pupil.ehc_plans),
            awaiting_acknowledgement_from=pupil.transferred_from if pupil.awaiting_acknowledgement else None,
        )
