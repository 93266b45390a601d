"""The register application: command methods take simple values; queries return plain data.

Every command is get, check, call the aggregate, save. Every rule that can refuse is checked before
anything is saved, so a refused command stores nothing. Who is acting (`actor`) and the date in England
(`today`) are passed in by the caller (the runtime's routes), never read from a global.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime, timedelta
from typing import Any
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError

from contracts.envelope import Actor, derived_id
from contracts.identifiers import NeedType
from contracts.people import PersonToTell, YoungPersonsWish
from contracts.register import (
    AccessGrantRef,
    AccessRevokedReport,
    ErasureReport,
    InvitationSent,
    LegalHoldKind,
    PostalAddressForProtection,
    PupilView,
    RejectedRow,
    RollImportReport,
    SubjectAccessRequestRecorded,
)
from services.register.domain.invitation import (
    DAYS_VALID,
    CodeAttempts,
    Invitation,
    invitation_id_for,
    new_nonce,
    normalised_code,
)
from services.register.domain.people import PersonLinks
from services.register.domain.pupil import Pupil
from services.register.domain.roll import RollImport, file_fingerprint, read_roll
from services.register.domain.rules import (
    WITH_AGREEMENT,
    check_date_of_birth,
    check_is_schools_senco,
    check_may_accept,
    check_may_erase,
    check_may_invite,
    check_may_read,
    check_not_in_future,
    compulsory_school_age_ends,
    is_family,
)
from services.register.domain.subject_access import SubjectAccessRequest
from services.runtime.access import Grant, check_granted
from services.runtime.errors import DomainError, NotFound, RefusedAndRecorded
from services.runtime.eventstore import SendcaseApplication
from services.runtime.keyring import person_id_for
from services.runtime.subject_access import check_may_ask


class Register(SendcaseApplication):
    name = "register"
    # The LA's policy on telling a young person's parents (services/register/domain/rules.py): set by bootstrap from
    # the settings (`parents_of_young_people`).
    parents_of_young_people: str = WITH_AGREEMENT
    # Sealed under the pupil's key wherever they occur (a person's name and contacts under their own key):
    # services/runtime/sealing.py, docs/audit.md.
    personal_fields = frozenset(
        {
            "upn",
            "given_name",
            "family_name",
            "date_of_birth",
            "reason",  # in a person's words, about the child
            "note",
            "provision",
            "pep_reference",
            "protected_address",
            "healthcare_plan_reference",
            "given_by_name",
            "problem",  # a rejected roll row's problem may quote what the row held
            "evidence_reference",  # free text: which review, which report
            "user_id",  # a family member's id at their identity provider (a grant, an invitation accepted)
            "invited_by_name",  # as the family knows the person who invited them
            "code",  # an invitation's one-time code, in the integration event only (never stored here)
        }
    )

    # --------------------------------------------------------------------------------------------------
    # Loading

    def loaded_by(self, commands: Sequence[Any]) -> list[Any]:
        """The pupils a batch of commands will load: each names one by its UPN (or its pupil's)."""
        upns = (getattr(c, "upn", None) or getattr(getattr(c, "pupil", None), "upn", None) for c in commands)
        return [Pupil.create_id(u) for u in upns if isinstance(u, str)]

    def pupil(self, upn: str) -> Pupil:
        try:
            return self.repository.get(Pupil.create_id(upn))
        except AggregateNotFoundError:
            raise NotFound(
                f"No pupil with UPN {upn} is on any school's roll here.",
            ) from None

    def _pupil_or_none(self, upn: str) -> Pupil | None:
        try:
            return self.repository.get(Pupil.create_id(upn))
        except AggregateNotFoundError:
            return None

    def _change(self, upn: str, action: str, actor: Actor, /, **kwargs: Any) -> UUID:
        """Load the pupil, run one aggregate command as the actor, save."""
        pupil = self.pupil(upn)
        check_is_schools_senco(actor, pupil.school_urn)  # before anything else: no leaks to outsiders
        getattr(pupil, action)(actor=actor, **kwargs)
        self.save(pupil)
        return pupil.id

    # --------------------------------------------------------------------------------------------------
    # The roll

    def enrol_pupil(
        self,
        *,
        actor: Actor,
        today: date,
        school_urn: str,
        upn: str,
        given_name: str,
        family_name: str,
        date_of_birth: date,
        year_group: int | None,
        on_roll_from: date,
    ) -> UUID:
        check_is_schools_senco(actor, school_urn, "put pupils on this school's roll")
        check_date_of_birth(date_of_birth, today)
        existing = self._pupil_or_none(upn)
        if existing is not None:
            raise DomainError(
                f"The pupil with UPN {upn} is already on the roll of school {existing.school_urn}."
                + (" Ask that school to transfer the record." if existing.school_urn != school_urn else ""),
                rule="already_on_roll" if existing.school_urn == school_urn else "pupil_at_another_school",
                field="pupil.upn",
            )
        pupil = Pupil(
            upn=upn,
            given_name=given_name,
            family_name=family_name,
            date_of_birth=date_of_birth,
            school_urn=school_urn,
            year_group=year_group,
            on_roll_from=on_roll_from,
        )
        self.save(pupil)
        return pupil.id

    def import_roll(
        self, *, actor: Actor, today: date, school_urn: str, file_name: str, csv_text: str, on_roll_from: date
    ) -> RollImportReport:
        check_is_schools_senco(actor, school_urn, "import this school's roll")
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
                rule="duplicate_import",
                field="csv_text",
            )
        read = read_roll(csv_text, today)
        rejected = list(read.rejected)
        to_save: list[Any] = []
        enrolled = updated = unchanged = 0
        # Every pupil the file names, loaded with one query (not one query per row).
        ids = [Pupil.create_id(row.upn) for row in read.rows]
        known: dict[UUID, Pupil] = self.get_many(ids)
        for row, pupil_id in zip(read.rows, ids, strict=True):
            pupil = known.get(pupil_id)
            if pupil is None:
                pupil = Pupil(
                    upn=row.upn,
                    given_name=row.given_name,
                    family_name=row.family_name,
                    date_of_birth=row.date_of_birth,
                    school_urn=school_urn,
                    year_group=row.year_group,
                    on_roll_from=on_roll_from,
                )
                enrolled += 1
            elif pupil.erased_on is not None:
                rejected.append(
                    {
                        "row": row.line,
                        "field": "upn",
                        "problem": f"this pupil's records were erased on {pupil.erased_on:%d %B %Y}",
                    }
                )
                continue
            elif pupil.school_urn != school_urn:
                rejected.append(
                    {
                        "row": row.line,
                        "field": "upn",
                        "problem": (
                            f"UPN {row.upn} is on the roll of school {pupil.school_urn}: "
                            "that school transfers the record"
                        ),
                    }
                )
                continue
            elif pupil.roll_details_differ(row.given_name, row.family_name, row.date_of_birth, row.year_group):
                pupil.update_roll_details(
                    given_name=row.given_name,
                    family_name=row.family_name,
                    date_of_birth=row.date_of_birth,
                    year_group=row.year_group,
                    on=on_roll_from,
                )
                updated += 1
            else:
                unchanged += 1
            if row.people and pupil.people != row.people:
                pupil.people_from_roll(row.people, today, self.parents_of_young_people)
            if pupil.pending_events:
                to_save.append(pupil)
        rejected.sort(key=lambda r: r["row"])
        record = RollImport(
            school_urn=school_urn,
            fingerprint=fingerprint,
            file_name=file_name,
            on_roll_from=on_roll_from,
            rows=read.total,
            enrolled=enrolled,
            updated=updated,
            unchanged=unchanged,
            rejected=rejected,
        )
        # One save, one transaction: the whole file or nothing (writes to the store are serialised anyway).
        self.save(record, *to_save)
        return self._report(record)

    def roll_import(self, *, import_id: UUID, actor: Actor) -> RollImportReport:
        try:
            record: RollImport = self.repository.get(import_id)
        except AggregateNotFoundError:
            raise NotFound(f"No roll import {import_id}.") from None
        check_may_read(actor, record.school_urn)
        return self._report(record)

    @staticmethod
    def _report(record: RollImport) -> RollImportReport:
        return RollImportReport(
            import_id=record.id,
            school_urn=record.school_urn,
            file_name=record.file_name,
            rows=record.rows,
            enrolled=record.enrolled,
            updated=record.updated,
            unchanged=record.unchanged,
            rejected=[RejectedRow(**r) for r in record.rejected],
        )

    def record_people_with_parental_responsibility(
        self,
        *,
        actor: Actor,
        today: date,
        upn: str,
        people: list[PersonToTell] | list[dict[str, Any]],
        young_persons_wish: YoungPersonsWish | str | None = None,
    ) -> UUID:
        return self._change(
            upn,
            "record_people_with_parental_responsibility",
            actor,
            people=[PersonToTell.model_validate(p).model_dump(mode="json") for p in people],
            today=today,
            young_persons_wish=YoungPersonsWish(young_persons_wish).value if young_persons_wish else None,
            parents_of_young_people=self.parents_of_young_people,
        )

    def record_looked_after(
        self,
        *,
        actor: Actor,
        upn: str,
        looked_after: bool,
        pep_reference: str | None,
        protected_address: PostalAddressForProtection | dict[str, Any] | None,
    ) -> UUID:
        if isinstance(protected_address, PostalAddressForProtection):
            protected_address = protected_address.model_dump(mode="json")
        return self._change(
            upn,
            "record_looked_after",
            actor,
            looked_after=looked_after,
            pep_reference=pep_reference,
            protected_address=protected_address,
        )

    def record_other_registers(
        self, *, actor: Actor, upn: str, eal: bool, medical_needs: bool, healthcare_plan_reference: str | None
    ) -> UUID:
        return self._change(
            upn,
            "record_other_registers",
            actor,
            eal=eal,
            medical_needs=medical_needs,
            healthcare_plan_reference=healthcare_plan_reference,
        )

    def give_consent_to_share(
        self, *, actor: Actor, today: date, upn: str, given_by: str, given_by_name: str, given_on: date
    ) -> UUID:
        return self._change(
            upn,
            "give_consent_to_share",
            actor,
            today=today,
            given_by=given_by,
            given_by_name=given_by_name,
            given_on=given_on,
        )

    def withdraw_consent_to_share(self, *, actor: Actor, today: date, upn: str, withdrawn_on: date) -> UUID:
        return self._change(upn, "withdraw_consent_to_share", actor, today=today, withdrawn_on=withdrawn_on)

    # --------------------------------------------------------------------------------------------------
    # SEN status and needs

    def note_concern(self, *, actor: Actor, today: date, upn: str, note: str, noted_on: date) -> UUID:
        return self._change(upn, "note_concern", actor, today=today, note=note, noted_on=noted_on)

    def add_to_sen_support(
        self,
        *,
        actor: Actor,
        today: date,
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
        check_is_schools_senco(actor, school_urn, "add pupils to this school's SEN register")
        check_date_of_birth(date_of_birth, today)
        pupil = self._pupil_or_none(upn)
        if pupil is None:
            pupil = Pupil(
                upn=upn,
                given_name=given_name,
                family_name=family_name,
                date_of_birth=date_of_birth,
                school_urn=school_urn,
                on_roll_from=min(effective_date, today),
            )
        elif pupil.school_urn != school_urn:
            raise DomainError(
                f"The pupil with UPN {upn} is on the roll of school {pupil.school_urn}, not {school_urn}.",
                rule="pupil_at_another_school",
                field="pupil.upn",
            )
        pupil.add_to_sen_support(
            actor=actor,
            today=today,
            primary_need=primary_need,
            secondary_need=secondary_need,
            effective_date=effective_date,
            reason=reason,
            evidence_reference=evidence_reference,
            parents_of_young_people=self.parents_of_young_people,
        )
        self.save(pupil)
        return pupil.id

    def change_needs(
        self,
        *,
        actor: Actor,
        today: date,
        upn: str,
        primary_need: NeedType | None,
        secondary_need: NeedType | None,
        effective_date: date,
        reason: str,
        evidence_reference: str | None,
    ) -> UUID:
        return self._change(
            upn,
            "change_needs",
            actor,
            today=today,
            primary_need=primary_need,
            secondary_need=secondary_need,
            effective_date=effective_date,
            reason=reason,
            evidence_reference=evidence_reference,
        )

    def remove_from_sen_register(
        self, *, actor: Actor, today: date, upn: str, effective_date: date, reason: str, evidence_reference: str | None
    ) -> UUID:
        return self._change(
            upn,
            "remove_from_sen_register",
            actor,
            today=today,
            effective_date=effective_date,
            reason=reason,
            evidence_reference=evidence_reference,
            parents_of_young_people=self.parents_of_young_people,
        )

    def record_sen_provision(
        self, *, actor: Actor, today: date, upn: str, provision: str, effective_date: date
    ) -> UUID:
        return self._change(
            upn,
            "record_sen_provision",
            actor,
            today=today,
            provision=provision,
            effective_date=effective_date,
            parents_of_young_people=self.parents_of_young_people,
        )

    # --------------------------------------------------------------------------------------------------
    # Moving school

    def transfer_pupil(
        self, *, actor: Actor, today: date, upn: str, to_school_urn: str, leaving_date: date, reason: str
    ) -> UUID:
        return self._change(
            upn,
            "transfer_to",
            actor,
            today=today,
            to_school_urn=to_school_urn,
            leaving_date=leaving_date,
            reason=reason,
        )

    def acknowledge_transfer(self, *, actor: Actor, today: date, upn: str, received_on: date) -> UUID:
        pupil = self.pupil(upn)
        pupil.acknowledge_transfer(actor=actor, today=today, received_on=received_on)
        self.save(pupil)
        return pupil.id

    # --------------------------------------------------------------------------------------------------
    # Who is named where, legal holds, erasure (docs/audit.md)

    def saved_with(self, aggregates: Sequence[Any]) -> list[Any]:
        """Keep each person's links in step with the records that name them (so a person named on several
        children's records is erased only with the last of them)."""
        named: dict[str, list[UUID]] = {}
        for a in aggregates:
            if isinstance(a, Pupil):
                for e in a.pending_events:
                    if isinstance(e, Pupil.PeopleWithParentalResponsibilityRecorded):
                        for n, p in enumerate(e.people, start=1):
                            # An id the register made for this record (a roll file's contact, the CLI's --person:
                            # person_id_for this pupil's UPN) is named on no other record: nothing to link.
                            if str(p["person_id"]) != str(person_id_for(a.upn, n, p["name"])):
                                named.setdefault(str(p["person_id"]), []).append(a.id)
        if not named:
            return []
        links = self._links(named)
        for person_id, pupils in named.items():
            link = links.get(person_id) or PersonLinks(person_id=person_id, pupil_id=pupils[0])
            links[person_id] = link
            for pupil_id in pupils:
                link.named_on(pupil_id)
        return [link for link in links.values() if link.pending_events]

    def _links(self, person_ids: Sequence[str] | dict[str, Any]) -> dict[str, PersonLinks]:
        ids = [PersonLinks.create_id(p) for p in person_ids]
        if len(ids) > 16:  # a roll file's worth: one query (get_many)
            found: dict[UUID, PersonLinks] = self.get_many(ids)
        else:  # a command's few, through the repository (which hands out a batch's own copies)
            found = {}
            for i in ids:
                try:
                    found[i] = self.repository.get(i)
                except AggregateNotFoundError:
                    continue
        return {link.person_id: link for link in found.values()}

    def pupil_by_id(self, pupil_id: UUID) -> Pupil:
        try:
            return self.repository.get(pupil_id)
        except AggregateNotFoundError:
            raise NotFound(f"No pupil {pupil_id} is on any school's roll here.") from None

    def place_legal_hold(
        self, *, actor: Actor, today: date, pupil_id: UUID, kind: LegalHoldKind, reference: str, placed_on: date
    ) -> UUID:
        pupil = self.pupil_by_id(pupil_id)
        pupil.place_legal_hold(actor=actor, today=today, kind=str(kind), reference=reference, placed_on=placed_on)
        self.save(pupil)
        return pupil.id

    def lift_legal_hold(self, *, actor: Actor, today: date, pupil_id: UUID, reference: str, lifted_on: date) -> UUID:
        pupil = self.pupil_by_id(pupil_id)
        pupil.lift_legal_hold(actor=actor, today=today, reference=reference, lifted_on=lifted_on)
        self.save(pupil)
        return pupil.id

    def erase_pupil(self, *, actor: Actor, today: date, pupil_id: UUID, rule: str) -> ErasureReport:
        """Erase a child's personal data: their key, and the keys of the people named on their record whom no
        other record still kept names. The fact is stored first (with the record, and the links of everyone
        named on it: a legal hold or a new link saved meanwhile makes it clash, and it is decided again); the
        keys are destroyed by the register's own reaction to it (services/register/policies.py), after it is
        stored and published, and again on every redelivery until that is done."""
        check_may_erase(actor)
        pupil = self.pupil_by_id(pupil_id)
        links = self._links(pupil.people_ever)
        erased: list[str] = []
        kept: list[str] = []
        for person_id in pupil.people_ever:
            link = links.get(person_id)
            if link is not None:
                link.record_erased(pupil.id)
            (kept if link is not None and link.kept_by else erased).append(person_id)
        pupil.erase(actor=actor, today=today, rule=rule, people_erased=erased, people_kept=kept)
        self.save(pupil, *(link for link in links.values() if link.pending_events))
        return ErasureReport(
            pupil_id=pupil.id,
            erased_on=today,
            rule=rule,
            people_erased=[UUID(p) for p in erased],
            people_kept=[UUID(p) for p in kept],
        )

    def legal_holds(self, pupil_ids: Sequence[UUID]) -> dict[UUID, dict[str, str] | None]:
        """Each record's legal holds now (reference -> kind), read from the records themselves (one query), not a
        view; None for a record already erased (or not found). For the retention review and job."""
        found: dict[UUID, Pupil] = self.get_many(list(pupil_ids))
        return {
            pid: (dict(p.legal_holds) if (p := found.get(pid)) is not None and p.erased_on is None else None)
            for pid in pupil_ids
        }

    # --------------------------------------------------------------------------------------------------
    # Subject access (docs/audit.md): the request is a fact in the log; the answer is every service's
    # `subject_access` (services/runtime/subject_access.py), assembled by `sendcase audit subject-access`

    def record_subject_access_request(
        self, *, actor: Actor, today: date, pupil_id: UUID, reference: str, requester: str, received_on: date
    ) -> SubjectAccessRequestRecorded:
        check_may_ask(actor)
        check_not_in_future(received_on, today, "received_on", "date the request was received")
        try:
            request: SubjectAccessRequest = self.repository.get(SubjectAccessRequest.create_id(reference))
        except AggregateNotFoundError:
            request = SubjectAccessRequest(
                reference=reference, pupil_id=pupil_id, requester=str(requester), received_on=received_on
            )
        else:
            request.check_same_request(pupil_id, str(requester), received_on)
        request.export_made(made_on=today)
        self.save(request)
        return SubjectAccessRequestRecorded(
            request_id=request.id,
            pupil_id=request.pupil_id,
            reference=request.reference,
            received_on=request.received_on,
            respond_by=request.respond_by,
            exports_made=request.exports_made,
        )

    # --------------------------------------------------------------------------------------------------
    # Reading

    def pupil_record(self, *, upn: str, actor: Actor, today: date) -> PupilView:
        """The pupil's record now, without its status history (the read side adds that from its view). A parent or
        young person sees it through their grant only, without the other people's contact details."""
        if is_family(actor):
            found = self._pupil_or_none(upn)
            # the same refusal whether the pupil exists or not: nobody learns whose records there are
            grant = check_granted(actor, found.access_grants() if found else [], found.id if found else None, today)
            assert found is not None
            view = self._view(found)
            own = [p for p in view.people_with_parental_responsibility if p.person_id == grant.person_id]
            return view.model_copy(update={"people_with_parental_responsibility": own})
        pupil = self.pupil(upn)
        check_may_read(actor, pupil.school_urn)
        return self._view(pupil)

    def family_grants(self, pupil_id: UUID) -> list[Grant]:
        """Who, besides staff, may see a pupil's record now (none for a pupil not on any roll)."""
        try:
            pupil: Pupil = self.repository.get(pupil_id)
        except AggregateNotFoundError:
            return []
        return pupil.access_grants()

    def _view(self, pupil: Pupil) -> PupilView:
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
            history=[],
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
            young_person_from=(
                compulsory_school_age_ends(pupil.date_of_birth) + timedelta(days=1) if pupil.date_of_birth else None
            ),
            young_persons_wish=getattr(pupil, "young_persons_wish", None),
        )

    # --------------------------------------------------------------------------------------------------
    # Families see the record through a verified invitation (domain/invitation.py; docs/register.md)

    def invite_person(
        self, *, actor: Actor, today: date, upn: str, person_id: UUID, invited_by_name: str
    ) -> InvitationSent:
        pupil = self.pupil(upn)
        person, role = pupil.who_may_be_invited(actor, person_id, today)
        expires_on = today + timedelta(days=DAYS_VALID)
        invitation = Invitation(
            nonce=new_nonce(),
            pupil_id=pupil.id,
            school_urn=pupil.school_urn,
            given_name=pupil.given_name,
            family_name=pupil.family_name,
            person=person,
            role=role.value,
            invited_by_name=invited_by_name,
            invited_by_role=actor.role.value,
            invited_by_organisation=actor.organisation,
            issued_on=today,
            expires_on=expires_on,
        )
        earlier = self._invitation_to(pupil, person_id)
        if earlier is not None and earlier.waiting:  # its code stops working: the newest is the one to use
            earlier.withdraw(withdrawn_on=today, reason="a newer invitation was sent to the same person")
        pupil.invitation_made(invitation_id=invitation.id, person_id=person_id, made_on=today, expires_on=expires_on)
        self.save(pupil, invitation, earlier)
        return InvitationSent(
            invitation_id=invitation.id,
            pupil_id=pupil.id,
            person_id=person_id,
            role=role,
            relationship=invitation.relationship,
            expires_on=expires_on,
        )

    def _invitation_to(self, pupil: Pupil, person_id: UUID) -> Invitation | None:
        invitation_id = getattr(pupil, "invitations", {}).get(str(person_id))
        if invitation_id is None:
            return None
        try:
            found: Invitation = self.repository.get(UUID(invitation_id))
        except AggregateNotFoundError:
            return None
        return found

    def accept_invitation(self, *, actor: Actor, today: date, now: datetime, code: str) -> AccessGrantRef:
        """The signed-in parent or young person enters their code: a grant to see the child's record. A wrong code
        is refused and counted (RefusedAndRecorded: the count is kept although the command is refused)."""
        check_may_accept(actor)
        attempts = self._attempts(actor.user_id)
        attempts.check_not_locked(now)
        typed = normalised_code(code)
        invitation: Invitation | None = None
        if typed is not None:
            try:
                invitation = self.repository.get(invitation_id_for(typed))
            except AggregateNotFoundError:
                invitation = None
        if invitation is None:
            attempts.wrong_code(at=now)
            left = attempts.left_before_lockout(now)
            raise RefusedAndRecorded(
                "That code is not right: check it against the message you were sent (12 letters and numbers; O and 0, "
                "and I and 1, are the same)."
                + (
                    f" After {left} more wrong code{'s' if left != 1 else ''}, code entry is locked for a while."
                    if left
                    else " Code entry is now locked for a while."
                ),
                record=[attempts],
                rule="wrong_code",
                field="code",
            )
        invitation.check_may_be_accepted(actor, today)
        pupil = self.pupil_by_id(invitation.pupil_id)
        if pupil.erased_on is not None:
            raise DomainError(
                "This invitation can no longer be used: the record it was for is closed.", rule="invitation_void"
            )
        grant = Grant(
            grant_id=derived_id("grant", invitation.id),
            user_id=actor.user_id,
            role=actor.role,
            pupil_id=pupil.id,
            relationship=invitation.relationship,
            granted_on=today,
            person_id=invitation.person_id,
        )
        pupil.grant_access(grant)
        invitation.accept(user_id=actor.user_id, accepted_on=today, grant_id=grant.grant_id)
        self.save(pupil, invitation)
        return AccessGrantRef(
            grant_id=grant.grant_id, pupil_id=pupil.id, role=grant.role, relationship=grant.relationship
        )

    def _attempts(self, user_id: str) -> CodeAttempts:
        try:
            found: CodeAttempts = self.repository.get(CodeAttempts.id_for(user_id))
        except AggregateNotFoundError:
            return CodeAttempts.of(user_id)
        return found

    def revoke_access(
        self, *, actor: Actor, today: date, upn: str, person_id: UUID, reason: str
    ) -> AccessRevokedReport:
        pupil = self.pupil(upn)
        check_may_invite(actor, pupil.school_urn, "end a family member's access to this pupil's record")
        ended = pupil.revoke_access_of(person_id, today, reason)
        invitation = self._invitation_to(pupil, person_id)
        withdrawn = invitation is not None and invitation.waiting
        if invitation is not None and withdrawn:
            invitation.withdraw(withdrawn_on=today, reason=reason)
        if not ended and not withdrawn:
            raise DomainError(
                f"Person {person_id} has no access to {pupil.full_name}'s record and no invitation waiting: nothing "
                "to end.",
                rule="no_access_to_end",
                field="person_id",
            )
        self.save(pupil, invitation if withdrawn else None)
        return AccessRevokedReport(
            pupil_id=pupil.id, person_id=person_id, grants_ended=len(ended), invitations_withdrawn=int(withdrawn)
        )
