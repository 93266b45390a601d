"""The register service's integration events, as published on JetStream (each with its SCHEMA_VERSION)."""

from __future__ import annotations

from datetime import date
from uuid import UUID

from pydantic import Field

from contracts import access
from contracts.envelope import EventPayload, Role
from contracts.identifiers import NeedType
from contracts.people import ContactPoint, PersonToTell
from contracts.text import Paragraphs


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
    date_of_birth: date | None  # None once the pupil's personal data is erased
    primary_need: NeedType
    secondary_need: NeedType | None
    effective_date: date
    reason: Paragraphs
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
    reason: Paragraphs
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
    provision: Paragraphs  # what is being provided, in plain words
    effective_date: date
    people_to_tell: list[PersonToTell] = Field(default_factory=list)


class PupilTransferred(EventPayload):
    """The pupil's record moved from one school to another (no address: never the protected one)."""

    TYPE = "register.pupil_transferred"
    SCHEMA_VERSION = 1

    pupil_id: UUID
    upn: str
    from_school_urn: str
    to_school_urn: str
    leaving_date: date


class PeopleToTellRecorded(EventPayload):
    """The people with parental responsibility for a pupil were recorded (or changed). A duty to tell that
    could not be met because nobody (or no usable contact) was recorded is now owed to them."""

    TYPE = "register.people_to_tell_recorded"
    SCHEMA_VERSION = 1

    pupil_id: UUID
    people_to_tell: list[PersonToTell] = Field(default_factory=list)


class PupilErased(EventPayload):
    """A child's personal data was erased (their key destroyed, and the keys of people no record still kept
    names): every service shows "[erased]" in its place from now on, and drops any copy it made. The facts
    (dates, statuses, needs, decisions) stay. Nothing personal is in this event."""

    TYPE = "register.pupil_erased"
    SCHEMA_VERSION = 1

    pupil_id: UUID
    erased_on: date
    rule: str
    people_erased: list[UUID] = Field(default_factory=list)


class InvitationIssued(EventPayload):
    """A person with parental responsibility (or the young person) was invited to see the pupil's record: the
    notifications service sends them the one-time code (`people_to_tell`: the one person invited, with the contact
    details the school recorded). The code, the names and the contacts travel sealed (docs/audit.md)."""

    TYPE = "register.invitation_issued"
    SCHEMA_VERSION = 1

    invitation_id: UUID
    pupil_id: UUID
    school_urn: str
    given_name: str
    family_name: str
    role: Role  # parent or young_person: the role the code lets them act in
    relationship: str
    code: str  # the one-time code, as the person types it
    issued_on: date
    expires_on: date
    invited_by_name: str
    invited_by_role: Role
    invited_by_organisation: str
    contact: ContactPoint  # whom to ask about it: the person who invited them
    people_to_tell: list[PersonToTell] = Field(default_factory=list)


class AccessGranted(access.AccessGranted):
    """A parent or young person accepted an invitation: they may see the pupil's record (contracts/access.py)."""

    TYPE = "register.access_granted"
    SCHEMA_VERSION = 1


class AccessRevoked(access.AccessRevoked):
    """A family member's access to the pupil's record ended: revoked by the school or the LA, or the pupil's record
    erased (contracts/access.py)."""

    TYPE = "register.access_revoked"
    SCHEMA_VERSION = 1
