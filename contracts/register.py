"""The register service's commands, queries and integration events (schema version 1)."""

from __future__ import annotations

from datetime import date, datetime
from uuid import UUID

from pydantic import AwareDatetime, Field, model_validator

from contracts.envelope import Command, Contract, EventPayload, Query
from contracts.identifiers import NeedType, SchoolUrn, SenStatus, Upn
from contracts.people import PersonToTell

Name = str


class PupilIdentity(Contract):
    upn: Upn
    given_name: str = Field(min_length=1, max_length=100)
    family_name: str = Field(min_length=1, max_length=100)
    date_of_birth: date


class AddToSenSupport(Command):
    """A SENCO adds a pupil to the SEN register at SEN support (status K)."""

    SUBJECT = "register.add_to_sen_support"

    school_urn: SchoolUrn
    pupil: PupilIdentity
    primary_need: NeedType
    secondary_need: NeedType | None = None
    effective_date: date  # the day SEN provision starts
    reason: str = Field(min_length=1, max_length=2000)  # why, in the SENCO's words
    evidence_reference: str | None = Field(default=None, max_length=500)  # e.g. "APDR review 3 Nov 2026"

    @model_validator(mode="after")
    def _needs_are_ranked(self) -> AddToSenSupport:
        if self.secondary_need is not None and self.secondary_need == self.primary_need:
            raise ValueError("the secondary need must differ from the primary need")
        return self


class GetPupil(Query):
    SUBJECT = "register.pupil"

    upn: Upn


class PupilStatusChange(Contract):
    recorded_at: datetime
    effective_date: date
    status: SenStatus
    primary_need: NeedType | None
    secondary_need: NeedType | None
    reason: str
    evidence_reference: str | None
    by_user: str
    by_role: str
    by_organisation: str


class PupilView(Contract):
    pupil_id: UUID
    upn: str
    given_name: str
    family_name: str
    date_of_birth: date
    school_urn: str
    status: SenStatus
    primary_need: NeedType | None
    secondary_need: NeedType | None
    history: list[PupilStatusChange]
    # the rest of the record (never the protected address of a child looked after)
    year_group: int | None = None
    on_monitoring_list: bool = False
    people_with_parental_responsibility: list[PersonToTell] = Field(default_factory=list)
    looked_after: bool = False
    pep_reference: str | None = None
    protected_address_held: bool = False
    eal: bool = False
    medical_needs: bool = False
    healthcare_plan_reference: str | None = None
    consent_to_share: dict[str, str | None] | None = None
    ehc_plans: list[str] = Field(default_factory=list)
    awaiting_acknowledgement_from: str | None = None


class PupilAddedToSenSupport(EventPayload):
    """A pupil is added to the SEN register at SEN support (K): special educational provision is being
    made. Everyone in `people_to_tell` must be told (CFA 2014 s.68; Durham 2b)."""

    TYPE = "register.pupil_added_to_sen_support"
    SCHEMA_VERSION = 1

    pupil_id: UUID
    upn: str
    school_urn: str
    given_name: str
    family_name: str
    date_of_birth: date
    primary_need: NeedType
    secondary_need: NeedType | None
    effective_date: date
    reason: str
    people_to_tell: list[PersonToTell] = Field(default_factory=list)


class PupilRemovedFromSenRegister(EventPayload):
    """A pupil no longer has SEN (K -> N). Everyone in `people_to_tell` must be told (Durham 2b)."""

    TYPE = "register.pupil_removed_from_sen_register"
    SCHEMA_VERSION = 1

    pupil_id: UUID
    upn: str
    school_urn: str
    given_name: str
    family_name: str
    effective_date: date
    reason: str
    people_to_tell: list[PersonToTell] = Field(default_factory=list)


class SpecialEducationalProvisionMade(EventPayload):
    """The school makes (new or changed) special educational provision for a pupil on the register;
    parents must be told that it is being made (CFA 2014 s.68)."""

    TYPE = "register.special_educational_provision_made"
    SCHEMA_VERSION = 1

    pupil_id: UUID
    upn: str
    school_urn: str
    given_name: str
    family_name: str
    provision: str  # what is being provided, in plain words
    effective_date: date
    people_to_tell: list[PersonToTell] = Field(default_factory=list)


# ---------------------------------------------------------------------------------------------------------
# The register, complete (issue 3). Commands name a pupil by UPN; the register keys the record by it.

class PostalAddressForProtection(Contract):
    """A child looked after's protected address: kept by the register, never published (Durham 2b)."""

    lines: list[str] = Field(min_length=1, max_length=6)
    town: str = Field(min_length=1, max_length=100)
    postcode: str = Field(min_length=5, max_length=8)


class EnrolPupil(Command):
    """A school puts a pupil on its roll (one at a time; ImportRoll does a whole roll)."""

    SUBJECT = "register.enrol_pupil"

    school_urn: SchoolUrn
    pupil: PupilIdentity
    year_group: int | None = Field(default=None, ge=-2, le=14)  # None: derived from the date of birth
    on_roll_from: date


class RecordPeopleWithParentalResponsibility(Command):
    SUBJECT = "register.record_people_with_parental_responsibility"

    upn: Upn
    people: list[PersonToTell] = Field(min_length=1, max_length=10)


class RecordLookedAfter(Command):
    """Child looked after: a PEP, and a protected address that never leaves the register."""

    SUBJECT = "register.record_looked_after"

    upn: Upn
    looked_after: bool
    pep_reference: str | None = Field(default=None, max_length=200)
    protected_address: PostalAddressForProtection | None = None


class RecordOtherRegisters(Command):
    """EAL and medical needs (with an individual healthcare plan): registers kept beside the SEN one."""

    SUBJECT = "register.record_other_registers"

    upn: Upn
    eal: bool
    medical_needs: bool
    healthcare_plan_reference: str | None = Field(default=None, max_length=200)


class GiveConsentToShare(Command):
    SUBJECT = "register.give_consent_to_share"

    upn: Upn
    given_by: str = Field(pattern=r"^(parent|young_person)$")
    given_by_name: str = Field(min_length=1, max_length=200)
    given_on: date


class WithdrawConsentToShare(Command):
    SUBJECT = "register.withdraw_consent_to_share"

    upn: Upn
    withdrawn_on: date


class NoteConcern(Command):
    """A short note of an early concern: the pupil is monitored, NOT put on the SEN register."""

    SUBJECT = "register.note_concern"

    upn: Upn
    note: str = Field(min_length=1, max_length=1000)
    noted_on: date


class ChangeNeeds(Command):
    SUBJECT = "register.change_needs"

    upn: Upn
    primary_need: NeedType
    secondary_need: NeedType | None = None
    effective_date: date
    reason: str = Field(min_length=1, max_length=2000)
    evidence_reference: str | None = Field(default=None, max_length=500)


class RemoveFromSenRegister(Command):
    SUBJECT = "register.remove_from_sen_register"

    upn: Upn
    effective_date: date
    reason: str = Field(min_length=1, max_length=2000)
    evidence_reference: str | None = Field(default=None, max_length=500)


class RecordSenProvision(Command):
    """New or changed special educational provision: parents must be told (CFA 2014 s.68)."""

    SUBJECT = "register.record_sen_provision"

    upn: Upn
    provision: str = Field(min_length=1, max_length=2000)
    effective_date: date


class TransferPupil(Command):
    """The pupil leaves this school for another: the whole record moves with them."""

    SUBJECT = "register.transfer_pupil"

    upn: Upn
    to_school_urn: SchoolUrn
    leaving_date: date
    reason: str = Field(min_length=1, max_length=1000)


class AcknowledgeTransfer(Command):
    """The receiving school's SENCO confirms the record arrived."""

    SUBJECT = "register.acknowledge_transfer"

    upn: Upn
    received_on: date


class ImportRoll(Command):
    """A school's roll as exported (CSV) from its information system. Re-importing the same file is refused
    and changes nothing. The reply's ids carry the counts and the report of rejected rows."""

    SUBJECT = "register.import_roll"

    school_urn: SchoolUrn
    file_name: str = Field(min_length=1, max_length=300)
    csv_text: str = Field(max_length=900_000)  # NATS carries up to 1 MB: about 8,000 pupils a file
    on_roll_from: date


class RejectedRow(Contract):
    row: int  # the line number in the file (the header is line 1)
    field: str
    problem: str


class RollImportReport(Contract):
    import_id: UUID
    school_urn: str
    file_name: str
    rows: int
    enrolled: int
    updated: int
    unchanged: int
    rejected: list[RejectedRow]


class GetRollImport(Query):
    SUBJECT = "register.roll_import"

    import_id: UUID


class PupilHistory(Query):
    SUBJECT = "register.pupil_history"

    upn: Upn


class HistoryEntry(Contract):
    recorded_at: datetime
    effective_date: date | None
    what: str  # e.g. "added to SEN support (K)"
    detail: str
    school_urn: str
    by_user: str
    by_role: str
    by_organisation: str
    evidence_reference: str | None = None


class SchoolRegister(Query):
    """One school's SEN register, now or exactly as it stood on a past date (a census day or any date)."""

    SUBJECT = "register.school_register"

    school_urn: SchoolUrn | None = None  # None: every school in the LA (LA staff only)
    as_at: date | None = None
    # As the register knew it at this instant (for an auditor: what a census return made then would have
    # said), leaving out changes recorded later even when they were backdated. None: everything known now.
    as_known_at: AwareDatetime | None = None


class RegisterEntry(Contract):
    pupil_id: UUID
    upn: str
    given_name: str
    family_name: str
    year_group: int
    status: SenStatus
    primary_need: NeedType | None
    secondary_need: NeedType | None
    primary_area: str | None


class RegisterAsAt(Contract):
    school_urn: str | None  # None: the whole LA
    as_at: date
    roll: int
    entries: list[RegisterEntry]


class LaCounts(Query):
    """Counts by status, year group and need, as a percentage of the roll, beside the national figures.
    For the whole LA or one school."""

    SUBJECT = "register.counts"

    school_urn: SchoolUrn | None = None
    as_at: date | None = None
    # As the register knew it at this instant (for an auditor: what a census return made then would have
    # said), leaving out changes recorded later even when they were backdated. None: everything known now.
    as_known_at: AwareDatetime | None = None


class CountLine(Contract):
    key: str
    sen_support: int
    ehc_plan: int
    roll: int
    sen_support_percent: float
    ehc_plan_percent: float


class RegisterCounts(Contract):
    school_urn: str | None
    as_at: date
    roll: int
    sen_support: int
    ehc_plan: int
    sen_support_percent: float
    ehc_plan_percent: float
    national_sen_support_percent: float
    national_ehc_plan_percent: float
    national_label: str
    by_year_group: list[CountLine]
    by_primary_need: list[CountLine]


class CensusExtract(Query):
    """The census SEN extract as at a census day: CSV with the DfE codes, for a data officer to load."""

    SUBJECT = "register.census_extract"

    school_urn: SchoolUrn | None = None
    census_date: date
    # As the register knew it at this instant (for an auditor: what a census return made then would have
    # said), leaving out changes recorded later even when they were backdated. None: everything known now.
    as_known_at: AwareDatetime | None = None


class PupilTransferred(EventPayload):
    """The pupil's record moved from one school to another (no address: never the protected one)."""

    TYPE = "register.pupil_transferred"
    SCHEMA_VERSION = 1

    pupil_id: UUID
    upn: str
    from_school_urn: str
    to_school_urn: str
    leaving_date: date
