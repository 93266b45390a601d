"""The register service's commands, queries and integration events (schema version 1)."""

from __future__ import annotations

from datetime import date, datetime
from uuid import UUID

from pydantic import Field, model_validator

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
