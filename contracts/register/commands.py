"""What may be asked of the register service: its commands, each naming its Result."""

from __future__ import annotations

from datetime import date
from enum import StrEnum
from uuid import UUID

from pydantic import Field, model_validator

from contracts.envelope import Command, Contract, PupilRef
from contracts.identifiers import NeedType, SchoolUrn, Upn
from contracts.people import PersonToTell, YoungPersonsWish
from contracts.register.queries import (
    AccessGrantRef,
    AccessRevokedReport,
    ErasureReport,
    InvitationSent,
    RollImportReport,
    SubjectAccessRequestRecorded,
)
from contracts.text import Paragraphs, RawText


class PupilIdentity(Contract):
    upn: Upn
    given_name: str = Field(min_length=1, max_length=100)
    family_name: str = Field(min_length=1, max_length=100)
    date_of_birth: date


class PostalAddressForProtection(Contract):
    """A child looked after's protected address: kept by the register, never published (Durham 2b)."""

    lines: list[str] = Field(min_length=1, max_length=6)
    town: str = Field(min_length=1, max_length=100)
    postcode: str = Field(min_length=5, max_length=8)


class AddToSenSupport(Command):
    """A SENCO adds a pupil to the SEN register at SEN support (status K)."""

    SUBJECT = "register.add_to_sen_support"
    Result = PupilRef

    school_urn: SchoolUrn
    pupil: PupilIdentity
    primary_need: NeedType
    secondary_need: NeedType | None = None
    effective_date: date  # the day SEN provision starts
    reason: Paragraphs = Field(min_length=1, max_length=2000)  # why, in the SENCO's words
    evidence_reference: str | None = Field(default=None, max_length=500)  # e.g. "APDR review 3 Nov 2026"

    @model_validator(mode="after")
    def _needs_are_ranked(self) -> AddToSenSupport:
        if self.secondary_need is not None and self.secondary_need == self.primary_need:
            raise ValueError("the secondary need must differ from the primary need")
        return self


class EnrolPupil(Command):
    """A school puts a pupil on its roll (one at a time; ImportRoll does a whole roll)."""

    SUBJECT = "register.enrol_pupil"
    Result = PupilRef

    school_urn: SchoolUrn
    pupil: PupilIdentity
    year_group: int | None = Field(default=None, ge=-2, le=14)  # None: derived from the date of birth
    on_roll_from: date


class RecordPeopleWithParentalResponsibility(Command):
    """Everyone with parental responsibility, and the young person themself (relationship "young person", without
    parental responsibility), each with their contact details and their language and format needs: replaces the list.
    `young_persons_wish`: whether the young person (over compulsory school age) wants their parents told as well, or
    lacks capacity (their parents then act for them); None keeps what was recorded (docs/register.md)."""

    SUBJECT = "register.record_people_with_parental_responsibility"
    Result = PupilRef

    upn: Upn
    people: list[PersonToTell] = Field(min_length=1, max_length=10)
    young_persons_wish: YoungPersonsWish | None = None


class RecordLookedAfter(Command):
    """Child looked after: a PEP, and a protected address that never leaves the register."""

    SUBJECT = "register.record_looked_after"
    Result = PupilRef

    upn: Upn
    looked_after: bool
    pep_reference: str | None = Field(default=None, max_length=200)
    protected_address: PostalAddressForProtection | None = None


class RecordOtherRegisters(Command):
    """EAL and medical needs (with an individual healthcare plan): registers kept beside the SEN one."""

    SUBJECT = "register.record_other_registers"
    Result = PupilRef

    upn: Upn
    eal: bool
    medical_needs: bool
    healthcare_plan_reference: str | None = Field(default=None, max_length=200)


class GiveConsentToShare(Command):
    SUBJECT = "register.give_consent_to_share"
    Result = PupilRef

    upn: Upn
    given_by: str = Field(pattern=r"^(parent|young_person)$")
    given_by_name: str = Field(min_length=1, max_length=200)
    given_on: date


class WithdrawConsentToShare(Command):
    SUBJECT = "register.withdraw_consent_to_share"
    Result = PupilRef

    upn: Upn
    withdrawn_on: date


class NoteConcern(Command):
    """A short note of an early concern: the pupil is monitored, NOT put on the SEN register."""

    SUBJECT = "register.note_concern"
    Result = PupilRef

    upn: Upn
    note: Paragraphs = Field(min_length=1, max_length=1000)
    noted_on: date


class ChangeNeeds(Command):
    SUBJECT = "register.change_needs"
    Result = PupilRef

    upn: Upn
    primary_need: NeedType
    secondary_need: NeedType | None = None
    effective_date: date
    reason: Paragraphs = Field(min_length=1, max_length=2000)
    evidence_reference: str | None = Field(default=None, max_length=500)


class RemoveFromSenRegister(Command):
    SUBJECT = "register.remove_from_sen_register"
    Result = PupilRef

    upn: Upn
    effective_date: date
    reason: Paragraphs = Field(min_length=1, max_length=2000)
    evidence_reference: str | None = Field(default=None, max_length=500)


class RecordSenProvision(Command):
    """New or changed special educational provision: parents must be told (CFA 2014 s.68)."""

    SUBJECT = "register.record_sen_provision"
    Result = PupilRef

    upn: Upn
    provision: Paragraphs = Field(min_length=1, max_length=2000)
    effective_date: date


class TransferPupil(Command):
    """The pupil leaves this school for another: the whole record moves with them."""

    SUBJECT = "register.transfer_pupil"
    Result = PupilRef

    upn: Upn
    to_school_urn: SchoolUrn
    leaving_date: date
    reason: Paragraphs = Field(min_length=1, max_length=1000)


class AcknowledgeTransfer(Command):
    """The receiving school's SENCO confirms the record arrived."""

    SUBJECT = "register.acknowledge_transfer"
    Result = PupilRef

    upn: Upn
    received_on: date


class ImportRoll(Command):
    """A school's roll as exported (CSV) from its information system. Re-importing the same file is refused
    and changes nothing. The reply's ids carry the counts and the report of rejected rows."""

    SUBJECT = "register.import_roll"
    Result = RollImportReport

    school_urn: SchoolUrn
    file_name: str = Field(min_length=1, max_length=300)
    csv_text: RawText = Field(max_length=900_000)  # NATS carries up to 1 MB: about 8,000 pupils a file
    on_roll_from: date


# ---------------------------------------------------------------------------------------------------------
# Trust: legal holds and erasure (docs/audit.md)


class LegalHoldKind(StrEnum):
    APPEAL = "appeal"  # an appeal to the First-tier Tribunal (SEND)
    OMBUDSMAN = "ombudsman"  # a Local Government and Social Care Ombudsman investigation
    LITIGATION = "litigation"  # a claim, or one reasonably expected
    SUBJECT_ACCESS = "subject_access"  # a subject access request being answered
    OTHER = "other"


class PlaceLegalHold(Command):
    """The LA stops any erasure of a child's records while an appeal, an investigation or a claim needs them."""

    SUBJECT = "register.place_legal_hold"
    Result = PupilRef

    pupil_id: UUID
    kind: LegalHoldKind
    reference: str = Field(min_length=1, max_length=100)  # the appeal's or complaint's own reference
    placed_on: date


class LiftLegalHold(Command):
    """The matter is closed: the hold no longer stops erasure (retention decides again)."""

    SUBJECT = "register.lift_legal_hold"
    Result = PupilRef

    pupil_id: UUID
    reference: str = Field(min_length=1, max_length=100)
    lifted_on: date


class ErasePupil(Command):
    """Erase a child's personal data from every service: their key is destroyed, and so are the keys of the
    people named on their record whom no record still kept names. The statutory facts (dates, statuses,
    needs, decisions) stay, and the history still verifies. Refused while a legal hold stands. Normally sent
    by the retention job (`sendcase audit retention`), naming the rule of the LA's schedule that requires it."""

    SUBJECT = "register.erase_pupil"
    Result = ErasureReport

    pupil_id: UUID
    rule: str = Field(min_length=1, max_length=200)  # e.g. "sen-records: date of birth + 31 years"


class Requester(StrEnum):
    """Who made a subject access request about a child (never their name: the request is recorded as a fact)."""

    PARENT = "parent"  # someone with parental responsibility, for the child
    YOUNG_PERSON = "young_person"  # the child or young person themself
    REPRESENTATIVE = "representative"  # someone acting for either, with their authority (e.g. a solicitor)


class RecordSubjectAccessRequest(Command):
    """The LA's data officer records a subject access request about a child (UK GDPR Article 15) before answering
    it: who asked (the kind of requester, never a name), the LA's reference, the day it was received (the month
    to answer runs from it). Sent by `sendcase audit subject-access` each time it makes the export; the same
    reference again records that the export was made again."""

    SUBJECT = "register.record_subject_access_request"
    Result = SubjectAccessRequestRecorded

    pupil_id: UUID
    reference: str = Field(min_length=1, max_length=60, pattern=r"^[A-Za-z0-9][A-Za-z0-9/_.:-]*$")
    requester: Requester
    received_on: date


# ---------------------------------------------------------------------------------------------------------
# Families see their child's record through a verified invitation (docs/security.md, docs/register.md)


class InvitePerson(Command):
    """The SENCO of the pupil's school (or an LA caseworker) invites a person with parental responsibility recorded
    for the pupil, or the young person (16 or over, recorded among the people with relationship "young person"),
    to see the pupil's record. A one-time code is sent to the contact details the school recorded for them (by the
    notifications service); it expires after 14 days, and a newer invitation to the same person replaces it."""

    SUBJECT = "register.invite_person"
    Result = InvitationSent

    upn: Upn
    person_id: UUID  # as the pupil's record names them (`sendcase register pupil`)
    # Who is inviting, as the family knows them: the message says it (e.g. "Mrs A Khan, SENCO").
    invited_by_name: str = Field(min_length=1, max_length=200)


class AcceptInvitation(Command):
    """A parent or young person, signed in as themself (organisation citizen), enters the code they were sent: they
    may then see the child's record (and the messages sent to them about the child). A code works once, for the
    role it was sent for, until it expires; repeated wrong codes lock the person out for a while."""

    SUBJECT = "register.accept_invitation"
    Result = AccessGrantRef

    # As it was sent ("K7QM-3XD9-TWPA"); spaces and dashes, and the case, do not matter.
    code: str = Field(min_length=1, max_length=40, pattern=r"^[A-Za-z0-9 -]+$")


class RevokeAccess(Command):
    """The SENCO of the pupil's school (or an LA caseworker) ends a person's access to the pupil's record: every
    grant made through an invitation to them, and any invitation to them still waiting, end now."""

    SUBJECT = "register.revoke_access"
    Result = AccessRevokedReport

    upn: Upn
    person_id: UUID
    reason: str = Field(min_length=5, max_length=500)
