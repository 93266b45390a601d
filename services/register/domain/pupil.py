"""A pupil's record on their school's roll and SEN register.

Rules (DOMAIN.md section 2; Durham SEND toolkit 2b "Maintenance of SEN records", "SEN register",
"SEN status"):
- only the SENCO of the pupil's school may change SEN status or need types (Durham 2b);
- status E is set only when the LA finalises an EHC plan, and E returns to K (or off the register) only
  when the LA ceases it (CFA s.45; Regs 31): a SENCO cannot set or clear E by hand;
- a pupil at K or E has a primary need; a secondary need differs from it;
- a pupil on a monitoring / cause for concern list is NOT on the SEN register;
- nothing is recorded as happening in the future, or before the pupil's last recorded change (so the
  register can be read back as it stood on any date), and a date of birth must make a plausible pupil
  (0 to 25: the Code of Practice covers 0-25);
- when a pupil moves school the whole record moves; the old school can no longer change it, and the new
  school's SENCO acknowledges receipt before changing it;
- a child looked after's protected address is kept here and never leaves the service (Durham 2b).
"""

from __future__ import annotations

from datetime import date
from typing import TYPE_CHECKING, Any, ClassVar
from uuid import UUID

from eventsourcing.domain import event

from contracts.envelope import Actor, Role
from contracts.identifiers import NeedType, SenStatus
from services.register.domain.census import age_on, year_group_on
from services.register.domain.rules import (
    CONSENT_GIVERS,
    LACKS_CAPACITY,
    PARENTS_NOT_TOLD,
    PARENTS_TOLD,
    UNLESS_OBJECTION,
    WITH_AGREEMENT,
    YOUNG_PERSON_AGE,
    YOUNG_PERSON_RELATIONSHIP,
    check_is_schools_senco,
    check_may_erase,
    check_may_hold,
    check_may_invite,
    check_needs_ranked,
    check_not_in_future,
    check_reachable,
    invited_as,
    is_over_compulsory_school_age,
)
from services.runtime.access import Grant
from services.runtime.aggregate import Aggregate
from services.runtime.errors import DomainError
from services.runtime.keyring import keyed_id
from services.runtime.sealing import ERASED, PERSON_FIELDS


def _is_the_young_person(person: dict[str, Any]) -> bool:
    return str(person.get("relationship", "")).strip().lower() == YOUNG_PERSON_RELATIONSHIP


def _people_to_tell(
    people: list[dict[str, Any]],
    date_of_birth: date | None,
    on: date | None,
    wish: str | None,
    parents_of_young_people: str,
) -> list[dict[str, Any]]:
    """Pupil.people_to_tell, from the record's parts (the rule is written there)."""
    parents = [p for p in people if p["has_parental_responsibility"] and not _is_the_young_person(p)]
    if on is None or not is_over_compulsory_school_age(date_of_birth, on):
        return parents
    young = [p for p in people if _is_the_young_person(p)]
    if wish == LACKS_CAPACITY:
        return young + parents  # their parents act for them (Regs 64), and the young person is still told
    if not young:
        return []
    parents_too = (parents_of_young_people == WITH_AGREEMENT and wish == PARENTS_TOLD) or (
        parents_of_young_people == UNLESS_OBJECTION and wish != PARENTS_NOT_TOLD
    )
    return young + (parents if parents_too else [])


class Pupil(Aggregate):
    if TYPE_CHECKING:  # made by the @event decorators below; named here so type checkers know them
        Registered: ClassVar[type[Any]]
        RollDetailsUpdated: ClassVar[type[Any]]
        PeopleWithParentalResponsibilityRecorded: ClassVar[type[Any]]
        LookedAfterRecorded: ClassVar[type[Any]]
        OtherRegistersRecorded: ClassVar[type[Any]]
        ConsentToShareGiven: ClassVar[type[Any]]
        ConsentToShareWithdrawn: ClassVar[type[Any]]
        ConcernNoted: ClassVar[type[Any]]
        AddedToSenSupport: ClassVar[type[Any]]
        NeedsChanged: ClassVar[type[Any]]
        RemovedFromSenRegister: ClassVar[type[Any]]
        SpecialEducationalProvisionMade: ClassVar[type[Any]]
        EhcPlanFinalised: ClassVar[type[Any]]
        EhcPlanCeasedToSenSupport: ClassVar[type[Any]]
        EhcPlanCeasedOffRegister: ClassVar[type[Any]]
        TransferredToSchool: ClassVar[type[Any]]
        TransferAcknowledged: ClassVar[type[Any]]
        LegalHoldPlaced: ClassVar[type[Any]]
        LegalHoldLifted: ClassVar[type[Any]]
        Erased: ClassVar[type[Any]]
        InvitationMade: ClassVar[type[Any]]
        AccessGranted: ClassVar[type[Any]]
        AccessRevoked: ClassVar[type[Any]]

    # A child looked after's protected address is never disclosed, not even in a subject access export: the
    # requester may be the person the child is protected from (docs/audit.md, "Subject access").
    # Nor is a family member's id at their identity provider (a grant's user_id): it identifies their account, nothing
    # about the child, and may be another family member's.
    withheld_from_subject_access = frozenset({"protected_address", "user_id"})

    @staticmethod
    def create_id(upn: str, **_: Any) -> UUID:
        # The UPN is unique to a pupil for their whole school career, so it keys the record: through the keyed
        # blind index (services/runtime/keyring.pupil_id_for, by which other services and the CLI name a pupil
        # by UPN), so that nobody without the deployment's key can tell from an id whose record it is.
        return keyed_id("pupil", upn)  # as pupil_id_for, for a UPN already checked

    @property
    def data_subject(self) -> UUID:
        return self.id

    @event("Registered")
    def __init__(
        self,
        upn: str,
        given_name: str,
        family_name: str,
        date_of_birth: date,
        school_urn: str,
        year_group: int | None = None,
        on_roll_from: date | None = None,
    ) -> None:
        self.upn = upn
        self.given_name = given_name
        self.family_name = family_name
        self.date_of_birth = date_of_birth
        self.school_urn = school_urn
        self.year_group = year_group  # as the school's information system gave it, on on_roll_from
        self.on_roll_from = on_roll_from
        self.status = SenStatus.NO_SEN
        self.primary_need: NeedType | None = None
        self.secondary_need: NeedType | None = None
        self.on_monitoring_list = False
        self.removed_on: date | None = None
        self.last_change_on: date | None = on_roll_from
        self.people: list[dict[str, Any]] = []
        self.young_persons_wish: str | None = None  # contracts.people.YoungPersonsWish: their parents told too?
        self.looked_after = False
        self.pep_reference: str | None = None
        self.protected_address: dict[str, Any] | None = None
        self.eal = False
        self.medical_needs = False
        self.healthcare_plan_reference: str | None = None
        self.consent: dict[str, Any] | None = None
        self.ehc_plans: list[str] = []  # case ids of plans finalised for this pupil
        self.transferred_from: str | None = None
        self.awaiting_acknowledgement = False
        self.people_ever: list[str] = []  # everyone ever named on the record (ids): erased with it, unless kept
        self.legal_holds: dict[str, str] = {}  # reference -> kind, while it stands: no erasure
        self.erased_on: date | None = None
        self.grants: dict[str, dict[str, Any]] = {}  # grant id -> who may see this record (services/runtime/access)
        self.invitations: dict[str, str] = {}  # person id -> their latest invitation's id

    # --------------------------------------------------------------------------------------------------
    # Guards every change shares

    @property
    def full_name(self) -> str:
        return f"{self.given_name} {self.family_name}"

    def _check_school_may_change(self, actor: Actor) -> None:
        check_is_schools_senco(actor, self.school_urn)
        self.check_not_erased()
        if self.awaiting_acknowledgement:
            raise DomainError(
                f"{self.full_name}'s record arrived from school {self.transferred_from}; acknowledge "
                "receipt of it before changing it.",
                rule="transfer_not_acknowledged",
            )

    def _check_dated(self, day: date, today: date, field: str, what: str) -> None:
        check_not_in_future(day, today, field, what)
        if self.last_change_on is not None and day < self.last_change_on:
            raise DomainError(
                f"The {what} {day:%d %B %Y} is before {self.full_name}'s last recorded change on "
                f"{self.last_change_on:%d %B %Y}; the register must read back in order.",
                rule="date_before_last_change",
                field=field,
            )

    def _snapshot(self, today: date, parents_of_young_people: str) -> dict[str, Any]:
        """Who the pupil is, as at an event, so the fact stands on its own when published; and who is to be told
        of it, today."""
        return dict(
            upn=self.upn,
            school_urn=self.school_urn,
            given_name=self.given_name,
            family_name=self.family_name,
            date_of_birth=self.date_of_birth,
            people_to_tell=self.people_to_tell(today, parents_of_young_people),
        )

    # --------------------------------------------------------------------------------------------------
    # Roll details (from the school's information system, or the SENCO)

    def roll_details_differ(
        self, given_name: str, family_name: str, date_of_birth: date, year_group: int | None
    ) -> bool:
        return (self.given_name, self.family_name, self.date_of_birth, self.year_group) != (
            given_name,
            family_name,
            date_of_birth,
            year_group,
        )

    @event("RollDetailsUpdated")
    def update_roll_details(
        self,
        given_name: str,
        family_name: str,
        date_of_birth: date,
        year_group: int | None,
        on: date,
    ) -> None:
        self.given_name = given_name
        self.family_name = family_name
        self.date_of_birth = date_of_birth
        self.year_group = year_group
        self.on_roll_from = self.on_roll_from or on

    def record_people_with_parental_responsibility(
        self,
        *,
        actor: Actor,
        people: list[dict[str, Any]],
        today: date | None = None,
        young_persons_wish: str | None = None,
        parents_of_young_people: str = WITH_AGREEMENT,
    ) -> None:
        self._check_school_may_change(actor)
        young = [p for p in people if _is_the_young_person(p)]
        over_age = today is not None and is_over_compulsory_school_age(self.date_of_birth, today)
        if not any(p["has_parental_responsibility"] for p in people) and not (over_age and young):
            raise DomainError(
                "Name at least one person with parental responsibility: they must be told about SEN "
                "provision (CFA 2014 s.68). (A young person over compulsory school age may be named alone.)",
                rule="no_parental_responsibility",
                field="people",
            )
        if len(young) > 1:
            raise DomainError(
                f"Record the young person once: {len(young)} people are recorded with relationship "
                f"'{YOUNG_PERSON_RELATIONSHIP}'.",
                rule="young_person_twice",
                field="people",
            )
        if any(p["has_parental_responsibility"] for p in young):
            raise DomainError(
                "The young person does not have parental responsibility for themself: record them with it unticked.",
                rule="young_person_with_parental_responsibility",
                field="people",
            )
        if young_persons_wish is not None and not young:
            raise DomainError(
                "A young person's wish about their parents being told is theirs: record the young person too "
                f"(relationship '{YOUNG_PERSON_RELATIONSHIP}', with their own contact details).",
                rule="wish_without_young_person",
                field="young_persons_wish",
            )
        wish = young_persons_wish if young_persons_wish is not None else getattr(self, "young_persons_wish", None)
        self._people_recorded(
            people=people,
            young_persons_wish=wish,
            people_to_tell=_people_to_tell(people, self.date_of_birth, today, wish, parents_of_young_people)
            if today is not None
            else None,
        )

    def people_from_roll(self, people: list[dict[str, Any]], today: date, parents_of_young_people: str) -> None:
        """The people a school's roll import names (the MIS's contacts): recorded as the SENCO would, the young
        person's wish kept."""
        wish = getattr(self, "young_persons_wish", None)
        self._people_recorded(
            people=people,
            young_persons_wish=wish,
            people_to_tell=_people_to_tell(people, self.date_of_birth, today, wish, parents_of_young_people),
        )

    # young_persons_wish, people_to_tell: since December 2026 (None in events recorded before: everyone with
    # parental responsibility was to be told).
    @event("PeopleWithParentalResponsibilityRecorded")
    def _people_recorded(
        self,
        people: list[dict[str, Any]],
        young_persons_wish: str | None = None,
        people_to_tell: list[dict[str, Any]] | None = None,
    ) -> None:
        self.people = people
        self.young_persons_wish = young_persons_wish
        ever = getattr(self, "people_ever", None)
        if ever is None:  # a record read back from before people_ever was kept: made from its events now
            ever = self.people_ever = []
        ever.extend(str(p["person_id"]) for p in people if str(p["person_id"]) not in ever)

    def record_looked_after(
        self,
        *,
        actor: Actor,
        looked_after: bool,
        pep_reference: str | None,
        protected_address: dict[str, Any] | None,
    ) -> None:
        self._check_school_may_change(actor)
        if looked_after and not pep_reference:
            raise DomainError(
                "A child looked after has a personal education plan: give its reference.",
                rule="pep_required",
                field="pep_reference",
            )
        self._looked_after_recorded(
            looked_after=looked_after,
            pep_reference=pep_reference if looked_after else None,
            protected_address=protected_address if looked_after else None,
        )

    @event("LookedAfterRecorded")
    def _looked_after_recorded(
        self,
        looked_after: bool,
        pep_reference: str | None,
        protected_address: dict[str, Any] | None,
    ) -> None:
        self.looked_after = looked_after
        self.pep_reference = pep_reference
        self.protected_address = protected_address  # never published, never in a read model

    def record_other_registers(
        self,
        *,
        actor: Actor,
        eal: bool,
        medical_needs: bool,
        healthcare_plan_reference: str | None,
    ) -> None:
        self._check_school_may_change(actor)
        if healthcare_plan_reference and not medical_needs:
            raise DomainError(
                "An individual healthcare plan is for a pupil with medical needs: tick medical needs too.",
                rule="healthcare_plan_without_medical_needs",
                field="medical_needs",
            )
        self._other_registers_recorded(
            eal=eal,
            medical_needs=medical_needs,
            healthcare_plan_reference=healthcare_plan_reference,
        )

    @event("OtherRegistersRecorded")
    def _other_registers_recorded(self, eal: bool, medical_needs: bool, healthcare_plan_reference: str | None) -> None:
        # EAL alone is not SEN (CoP 6.24): these flags never change the SEN status.
        self.eal = eal
        self.medical_needs = medical_needs
        self.healthcare_plan_reference = healthcare_plan_reference

    def give_consent_to_share(
        self, *, actor: Actor, today: date, given_by: str, given_by_name: str, given_on: date
    ) -> None:
        self._check_school_may_change(actor)
        check_not_in_future(given_on, today, "given_on", "date consent was given")
        if given_by not in CONSENT_GIVERS:
            raise DomainError(
                "Consent is given by a parent or by the young person.", rule="consent_giver", field="given_by"
            )
        age = age_on(self.date_of_birth, given_on)
        if given_by == "young_person" and age < YOUNG_PERSON_AGE:
            raise DomainError(
                f"{self.full_name} was {age} on {given_on:%d %B %Y}; a young person gives their own consent "
                f"from {YOUNG_PERSON_AGE}. Before then a parent gives it.",
                rule="young_person_too_young_to_consent",
                field="given_by",
            )
        if given_by == "parent" and age >= YOUNG_PERSON_AGE:
            raise DomainError(
                f"{self.full_name} was {age} on {given_on:%d %B %Y}: from {YOUNG_PERSON_AGE} the young person "
                "gives consent themself.",
                rule="young_person_consents",
                field="given_by",
            )
        self._consent_given(given_by=given_by, given_by_name=given_by_name, given_on=given_on)

    @event("ConsentToShareGiven")
    def _consent_given(self, given_by: str, given_by_name: str, given_on: date) -> None:
        self.consent = {
            "given_by": given_by,
            "given_by_name": given_by_name,
            "given_on": given_on,
            "withdrawn_on": None,
        }

    def withdraw_consent_to_share(self, *, actor: Actor, today: date, withdrawn_on: date) -> None:
        self._check_school_may_change(actor)
        check_not_in_future(withdrawn_on, today, "withdrawn_on", "date consent was withdrawn")
        if self.consent is None or self.consent["withdrawn_on"] is not None:
            raise DomainError(
                f"There is no consent to share for {self.full_name} to withdraw.", rule="no_consent_to_withdraw"
            )
        if withdrawn_on < self.consent["given_on"]:
            raise DomainError(
                "Consent cannot be withdrawn before it was given.", rule="withdrawn_before_given", field="withdrawn_on"
            )
        self._consent_withdrawn(withdrawn_on=withdrawn_on)

    @event("ConsentToShareWithdrawn")
    def _consent_withdrawn(self, withdrawn_on: date) -> None:
        assert self.consent is not None
        self.consent = {**self.consent, "withdrawn_on": withdrawn_on}

    # --------------------------------------------------------------------------------------------------
    # SEN status and needs

    def note_concern(self, *, actor: Actor, today: date, note: str, noted_on: date) -> None:
        """An early concern, as a short note: the pupil goes on the monitoring list, NOT the SEN register."""
        self._check_school_may_change(actor)
        check_not_in_future(noted_on, today, "noted_on", "date of the note")
        if self.status != SenStatus.NO_SEN:
            raise DomainError(
                f"{self.full_name} is already on the SEN register ({self.status.value}); record the concern "
                "at their next review instead of on the monitoring list.",
                rule="already_on_register",
            )
        self._concern_noted(note=note, noted_on=noted_on)

    @event("ConcernNoted")
    def _concern_noted(self, note: str, noted_on: date) -> None:
        self.on_monitoring_list = True

    def add_to_sen_support(
        self,
        *,
        actor: Actor,
        today: date,
        primary_need: NeedType | None,
        secondary_need: NeedType | None,
        effective_date: date,
        reason: str,
        evidence_reference: str | None,
        parents_of_young_people: str = WITH_AGREEMENT,
    ) -> None:
        self._check_school_may_change(actor)
        if self.status == SenStatus.SEN_SUPPORT:
            raise DomainError(
                f"{self.full_name} is already on the SEN register at SEN support.",
                rule="already_on_sen_support",
            )
        if self.status == SenStatus.EHC_PLAN:
            raise DomainError(
                f"{self.full_name} has an EHC plan (E). A pupil moves from E to SEN "
                "support only when the local authority ceases the plan.",
                rule="has_ehc_plan",
            )
        check_needs_ranked(primary_need, secondary_need)
        assert primary_need is not None
        self._check_dated(effective_date, today, "effective_date", "start date of SEN support")
        self._added_to_sen_support(
            **self._snapshot(today, parents_of_young_people),
            primary_need=primary_need.value,
            secondary_need=secondary_need.value if secondary_need else None,
            effective_date=effective_date,
            reason=reason,
            evidence_reference=evidence_reference,
        )

    @event("AddedToSenSupport")
    def _added_to_sen_support(
        self,
        upn: str,
        school_urn: str,
        given_name: str,
        family_name: str,
        date_of_birth: date,
        primary_need: str,
        secondary_need: str | None,
        effective_date: date,
        reason: str,
        evidence_reference: str | None,
        people_to_tell: list[dict[str, Any]] | None = None,
    ) -> None:
        self.status = SenStatus.SEN_SUPPORT
        self.primary_need = NeedType(primary_need)
        self.secondary_need = NeedType(secondary_need) if secondary_need else None
        self.on_monitoring_list = False
        self.removed_on = None
        self.last_change_on = effective_date

    def change_needs(
        self,
        *,
        actor: Actor,
        today: date,
        primary_need: NeedType | None,
        secondary_need: NeedType | None,
        effective_date: date,
        reason: str,
        evidence_reference: str | None,
    ) -> None:
        self._check_school_may_change(actor)
        if self.status == SenStatus.NO_SEN:
            raise DomainError(
                f"{self.full_name} is not on the SEN register; need types are recorded for pupils at K or E.",
                rule="not_on_register",
            )
        check_needs_ranked(primary_need, secondary_need)
        assert primary_need is not None
        if (primary_need, secondary_need) == (self.primary_need, self.secondary_need):
            raise DomainError(
                f"{self.full_name}'s needs are already {primary_need.value}"
                + (f" and {secondary_need.value}" if secondary_need else "")
                + "; nothing to change.",
                rule="needs_unchanged",
            )
        self._check_dated(effective_date, today, "effective_date", "date of the change")
        self._needs_changed(
            primary_need=primary_need.value,
            secondary_need=secondary_need.value if secondary_need else None,
            effective_date=effective_date,
            reason=reason,
            evidence_reference=evidence_reference,
        )

    @event("NeedsChanged")
    def _needs_changed(
        self,
        primary_need: str,
        secondary_need: str | None,
        effective_date: date,
        reason: str,
        evidence_reference: str | None,
    ) -> None:
        self.primary_need = NeedType(primary_need)
        self.secondary_need = NeedType(secondary_need) if secondary_need else None
        self.last_change_on = effective_date

    def remove_from_sen_register(
        self,
        *,
        actor: Actor,
        today: date,
        effective_date: date,
        reason: str,
        evidence_reference: str | None,
        parents_of_young_people: str = WITH_AGREEMENT,
    ) -> None:
        self._check_school_may_change(actor)
        if self.status == SenStatus.NO_SEN:
            raise DomainError(f"{self.full_name} is not on the SEN register.", rule="not_on_register")
        if self.status == SenStatus.EHC_PLAN:
            raise DomainError(
                f"{self.full_name} has an EHC plan; only the local authority can cease a plan (CFA 2014 s.45), "
                "and the register follows its decision.",
                rule="has_ehc_plan",
            )
        self._check_dated(effective_date, today, "effective_date", "date of removal")
        self._removed(
            **self._snapshot(today, parents_of_young_people),
            effective_date=effective_date,
            reason=reason,
            evidence_reference=evidence_reference,
        )

    @event("RemovedFromSenRegister")
    def _removed(
        self,
        upn: str,
        school_urn: str,
        given_name: str,
        family_name: str,
        date_of_birth: date,
        effective_date: date,
        reason: str,
        evidence_reference: str | None,
        people_to_tell: list[dict[str, Any]] | None = None,
    ) -> None:
        self.status = SenStatus.NO_SEN
        self.primary_need = None
        self.secondary_need = None
        self.removed_on = effective_date
        self.last_change_on = effective_date

    def record_sen_provision(
        self,
        *,
        actor: Actor,
        today: date,
        provision: str,
        effective_date: date,
        parents_of_young_people: str = WITH_AGREEMENT,
    ) -> None:
        self._check_school_may_change(actor)
        if self.status == SenStatus.NO_SEN:
            raise DomainError(
                f"{self.full_name} is not on the SEN register; add them at SEN support first.",
                rule="not_on_register",
            )
        check_not_in_future(effective_date, today, "effective_date", "start date of the provision")
        self._provision_made(
            **self._snapshot(today, parents_of_young_people), provision=provision, effective_date=effective_date
        )

    @event("SpecialEducationalProvisionMade")
    def _provision_made(
        self,
        upn: str,
        school_urn: str,
        given_name: str,
        family_name: str,
        date_of_birth: date,
        provision: str,
        effective_date: date,
        people_to_tell: list[dict[str, Any]] | None = None,
    ) -> None:
        pass

    # --------------------------------------------------------------------------------------------------
    # The LA's decisions (reactions to the ehcp service: never a SENCO's command)

    @event("EhcPlanFinalised")
    def ehc_plan_finalised(
        self,
        case_id: str,
        issued_on: date,
        primary_need: str,
        secondary_need: str | None,
        school_urn: str | None,
    ) -> None:
        # Regs 13(2): the final plan is issued; the census status is E from the day it is issued.
        self.status = SenStatus.EHC_PLAN
        self.primary_need = NeedType(primary_need)
        self.secondary_need = NeedType(secondary_need) if secondary_need and secondary_need != primary_need else None
        self.ehc_plans = [*self.ehc_plans, case_id]
        self.on_monitoring_list = False
        self.removed_on = None
        self.last_change_on = max(issued_on, self.last_change_on or issued_on)

    def cease_ehc_plan(
        self,
        *,
        case_id: str,
        ceased_on: date,
        reason: str,
        continues_on_sen_support: bool,
        today: date | None = None,
        parents_of_young_people: str = WITH_AGREEMENT,
    ) -> None:
        if self.status != SenStatus.EHC_PLAN:
            return  # the plan's end was already applied (or the pupil never reached E here): nothing to do
        if continues_on_sen_support:
            self._plan_ceased_to_sen_support(case_id=case_id, ceased_on=ceased_on, reason=reason)
        else:
            self._plan_ceased_off_register(
                **self._snapshot(today or ceased_on, parents_of_young_people),
                case_id=case_id,
                ceased_on=ceased_on,
                reason=reason,
            )

    @event("EhcPlanCeasedToSenSupport")
    def _plan_ceased_to_sen_support(self, case_id: str, ceased_on: date, reason: str) -> None:
        # CFA s.45; Regs 31: E -> K, the needs stay as they were.
        self.status = SenStatus.SEN_SUPPORT
        self.last_change_on = max(ceased_on, self.last_change_on or ceased_on)

    @event("EhcPlanCeasedOffRegister")
    def _plan_ceased_off_register(
        self,
        upn: str,
        school_urn: str,
        given_name: str,
        family_name: str,
        date_of_birth: date,
        case_id: str,
        ceased_on: date,
        reason: str,
        people_to_tell: list[dict[str, Any]] | None = None,
    ) -> None:
        self.status = SenStatus.NO_SEN
        self.primary_need = None
        self.secondary_need = None
        self.removed_on = ceased_on
        self.last_change_on = max(ceased_on, self.last_change_on or ceased_on)

    # --------------------------------------------------------------------------------------------------
    # Moving school

    def transfer_to(self, *, actor: Actor, today: date, to_school_urn: str, leaving_date: date, reason: str) -> None:
        self._check_school_may_change(actor)
        if to_school_urn == self.school_urn:
            raise DomainError(
                f"{self.full_name} is already on the roll of school {to_school_urn}.",
                rule="same_school",
                field="to_school_urn",
            )
        self._check_dated(leaving_date, today, "leaving_date", "leaving date")
        self._transferred(
            upn=self.upn,
            from_school_urn=self.school_urn,
            to_school_urn=to_school_urn,
            leaving_date=leaving_date,
            reason=reason,
        )

    @event("TransferredToSchool")
    def _transferred(self, upn: str, from_school_urn: str, to_school_urn: str, leaving_date: date, reason: str) -> None:
        # The whole record moves: status, needs, history, notes, plan references.
        self.transferred_from = from_school_urn
        self.school_urn = to_school_urn
        self.awaiting_acknowledgement = True
        self.last_change_on = leaving_date

    def acknowledge_transfer(self, *, actor: Actor, today: date, received_on: date) -> None:
        check_is_schools_senco(actor, self.school_urn)
        if not self.awaiting_acknowledgement:
            raise DomainError(
                f"There is no record transfer for {self.full_name} waiting to be acknowledged.",
                rule="no_transfer_to_acknowledge",
            )
        self._check_dated(received_on, today, "received_on", "date the record was received")
        self._transfer_acknowledged(from_school_urn=self.transferred_from or "", received_on=received_on)

    @event("TransferAcknowledged")
    def _transfer_acknowledged(self, from_school_urn: str, received_on: date) -> None:
        self.awaiting_acknowledgement = False

    # --------------------------------------------------------------------------------------------------
    # Legal holds and erasure (docs/audit.md)

    def check_not_erased(self) -> None:
        if self.erased_on is not None:
            raise DomainError(
                f"This child's record was erased on {self.erased_on:%d %B %Y}; nothing more can be recorded on it.",
                rule="record_erased",
            )

    def place_legal_hold(self, *, actor: Actor, today: date, kind: str, reference: str, placed_on: date) -> None:
        check_may_hold(actor)
        self.check_not_erased()
        check_not_in_future(placed_on, today, "placed_on", "date the hold was placed")
        if reference in self.legal_holds:
            raise DomainError(f"The legal hold {reference} is already on this record.", rule="hold_already_placed")
        self._hold_placed(kind=kind, reference=reference, placed_on=placed_on)

    @event("LegalHoldPlaced")
    def _hold_placed(self, kind: str, reference: str, placed_on: date) -> None:
        self.legal_holds = {**self.legal_holds, reference: kind}

    def lift_legal_hold(self, *, actor: Actor, today: date, reference: str, lifted_on: date) -> None:
        check_may_hold(actor)
        check_not_in_future(lifted_on, today, "lifted_on", "date the hold was lifted")
        if reference not in self.legal_holds:
            raise DomainError(
                f"There is no legal hold {reference} on this record"
                + (f" (holds: {', '.join(sorted(self.legal_holds))})." if self.legal_holds else "."),
                rule="no_such_hold",
                field="reference",
            )
        self._hold_lifted(reference=reference, lifted_on=lifted_on)

    @event("LegalHoldLifted")
    def _hold_lifted(self, reference: str, lifted_on: date) -> None:
        self.legal_holds = {k: v for k, v in self.legal_holds.items() if k != reference}

    def erase(self, *, actor: Actor, today: date, rule: str, people_erased: list[str], people_kept: list[str]) -> None:
        """Record that this child's personal data is erased (the application destroys the keys). Refused while
        a legal hold stands, and for a record erased already."""
        check_may_erase(actor)
        self.check_not_erased()
        if self.legal_holds:
            holds = ", ".join(f"{ref} ({kind})" for ref, kind in sorted(self.legal_holds.items()))
            raise DomainError(
                f"This child's records are under a legal hold ({holds}): nothing is erased until it is lifted.",
                rule="legal_hold",
            )
        # The year group they were in (no one's date of birth) stays, so the counts by year group stay the same.
        year_group = (
            year_group_on(self.date_of_birth, today, self.year_group, self.on_roll_from)
            if self.date_of_birth is not None or (self.year_group is not None and self.on_roll_from is not None)
            else None  # no date of birth to tell it by (already unreadable), and none recorded
        )
        self._erased(
            rule=rule,
            erased_on=today,
            year_group=year_group,
            people_erased=people_erased,
            people_kept=people_kept,
        )

    @event("Erased")
    def _erased(
        self, rule: str, erased_on: date, year_group: int | None, people_erased: list[str], people_kept: list[str]
    ) -> None:
        self.erased_on = erased_on
        self.grants = {}  # nobody sees an erased record through an invitation any more
        self.invitations = {}
        self.upn = self.given_name = self.family_name = ERASED
        self.date_of_birth = None  # type: ignore[assignment]  # unknown once erased
        self.pep_reference = self.healthcare_plan_reference = None
        self.protected_address = None
        self.people = [{**p, **dict.fromkeys(PERSON_FIELDS)} for p in self.people]

    # --------------------------------------------------------------------------------------------------
    # Families invited to see the record (domain/invitation.py; docs/register.md)

    def person(self, person_id: UUID | str) -> dict[str, Any]:
        """The person recorded on this record with this id."""
        found = next((p for p in self.people if str(p["person_id"]) == str(person_id)), None)
        if found is None:
            raise DomainError(
                f"Nobody with id {person_id} is recorded on {self.full_name}'s record now (`sendcase register pupil` "
                "shows the people recorded, with their ids).",
                rule="not_on_record",
                field="person_id",
            )
        return found

    def who_may_be_invited(self, actor: Actor, person_id: UUID, today: date) -> tuple[dict[str, Any], Role]:
        """The person to invite and the role they are invited in, or the rule that refuses it."""
        check_may_invite(actor, self.school_urn)
        self.check_not_erased()
        person = self.person(person_id)
        role = invited_as(person, self.date_of_birth, today)
        check_reachable(person)
        return person, role

    @event("InvitationMade")
    def invitation_made(self, invitation_id: UUID, person_id: UUID, made_on: date, expires_on: date) -> None:
        self.invitations = {**getattr(self, "invitations", {}), str(person_id): str(invitation_id)}

    def access_grants(self) -> list[Grant]:
        return [Grant.from_dict(g) for g in getattr(self, "grants", {}).values()]

    def grant_access(self, grant: Grant) -> None:
        self.check_not_erased()
        self._access_granted(grant=grant.to_dict())

    @event("AccessGranted")
    def _access_granted(self, grant: dict[str, Any]) -> None:
        self.grants = {**getattr(self, "grants", {}), str(grant["grant_id"]): grant}

    def revoke_access_of(self, person_id: UUID, revoked_on: date, reason: str) -> list[Grant]:
        """End every grant made through an invitation to this person; the grants ended."""
        ended = [g for g in self.access_grants() if g.person_id == person_id]
        for grant in ended:
            self._access_revoked(grant_id=grant.grant_id, revoked_on=revoked_on, reason=reason)
        return ended

    @event("AccessRevoked")
    def _access_revoked(self, grant_id: UUID, revoked_on: date, reason: str) -> None:
        self.grants = {k: v for k, v in self.grants.items() if k != str(grant_id)}

    # --------------------------------------------------------------------------------------------------

    def people_to_tell(
        self, on: date | None = None, parents_of_young_people: str = WITH_AGREEMENT
    ) -> list[dict[str, Any]]:
        """Who is told of a fact about this pupil on a day (docs/register.md, "The young person"):
        - a child (not over compulsory school age on `on`): everyone with parental responsibility (CFA 2014 s.68);
        - a young person over compulsory school age: the young person (CFA 2014 s.83(2): the rights and notices are
          theirs), recorded with relationship "young person"; their parents as well only as the young person and the
          LA's policy allow (`parents_of_young_people`: with the young person's agreement, unless they object, or
          never), and always when the young person lacks capacity (CFA 2014 s.80; Regs 64). Nobody, when the young
          person is not recorded: the duty waits, unmet, until they are (not told to their parents instead).
        Their own addresses: never the child's protected address, which is not among them."""
        return _people_to_tell(
            self.people,
            self.date_of_birth,
            on,
            getattr(self, "young_persons_wish", None),
            parents_of_young_people,
        )
