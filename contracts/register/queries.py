"""What may be read from the register service: its queries and the views they answer with."""

from __future__ import annotations

from datetime import date, datetime
from uuid import UUID

from pydantic import AwareDatetime, Field

from contracts.envelope import Query, Role, View
from contracts.identifiers import NeedType, SchoolUrn, SenStatus, Upn
from contracts.paging import cursor, page_size
from contracts.people import PersonToTell, YoungPersonsWish
from contracts.read_log import ChildReads
from contracts.subject_access import SubjectAccess
from contracts.text import Paragraphs

# Page sizes (contracts/paging.py): a register entry is about 300 bytes of JSON, a census line about 100.
REGISTER_PAGE_SIZE, REGISTER_PAGE_MOST = 1000, 2000
CENSUS_PAGE_SIZE, CENSUS_PAGE_MOST = 2000, 5000


class PupilStatusChange(View):
    recorded_at: datetime
    effective_date: date
    status: SenStatus
    primary_need: NeedType | None
    secondary_need: NeedType | None
    reason: Paragraphs
    evidence_reference: str | None
    by_user: str
    by_role: str
    by_organisation: str


class PupilView(View):
    pupil_id: UUID
    upn: str
    given_name: str
    family_name: str
    date_of_birth: date | None  # None once the pupil's personal data is erased
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
    # The young person (docs/register.md): the day from which the pupil is over compulsory school age (their notices
    # go to them), and what they said about their parents being told.
    young_person_from: date | None = None
    young_persons_wish: YoungPersonsWish | None = None


class RejectedRow(View):
    row: int  # the line number in the file (the header is line 1)
    field: str
    problem: str


class RollImportReport(View):
    import_id: UUID
    school_urn: str
    file_name: str
    rows: int
    enrolled: int
    updated: int
    unchanged: int
    rejected: list[RejectedRow]


class HistoryEntry(View):
    recorded_at: datetime
    effective_date: date | None
    what: str  # e.g. "added to SEN support (K)"
    detail: Paragraphs
    school_urn: str
    by_user: str
    by_role: str
    by_organisation: str
    evidence_reference: str | None = None


class RegisterEntry(View):
    pupil_id: UUID
    upn: str
    given_name: str
    family_name: str
    year_group: int
    status: SenStatus
    primary_need: NeedType | None
    secondary_need: NeedType | None
    primary_area: str | None


class RegisterAsAt(View):
    """One page of a register as at a date: `roll` and `as_at` are the whole register's, on every page."""

    school_urn: str | None  # None: the whole LA
    as_at: date
    roll: int
    entries: list[RegisterEntry]  # this page's, by family name, given name, UPN
    next_after: str | None = None  # the next page's `after`; None: this is the last page


class CountLine(View):
    key: str
    sen_support: int
    ehc_plan: int
    roll: int
    sen_support_percent: float
    ehc_plan_percent: float


class RegisterCounts(View):
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


class CensusFile(View):
    """The census SEN extract: CSV text with the DfE codes; one page of it (the heading row on the first page
    only, so the pages' text joined in order is the whole file).

    A pupil whose personal data was erased since shows as erased on their own line (UPN and names "[erased]",
    no date of birth); `erased` counts them in the whole file, `notice` says so in words, and the file's last
    line is that notice (a "# NOTE: ..." line)."""

    csv: str
    next_after: str | None = None  # the next page's `after`; None: this is the last page
    erased: int = 0
    notice: str | None = None


class GetPupil(Query):
    SUBJECT = "register.pupil"
    Result = PupilView

    upn: Upn


class GetRollImport(Query):
    SUBJECT = "register.roll_import"
    Result = RollImportReport

    import_id: UUID


class PupilHistory(Query):
    SUBJECT = "register.pupil_history"
    Result = list[HistoryEntry]

    upn: Upn


class SchoolRegister(Query):
    """One school's SEN register, now or exactly as it stood on a past date (a census day or any date)."""

    SUBJECT = "register.school_register"
    Result = RegisterAsAt

    school_urn: SchoolUrn | None = None  # None: every school in the LA (LA staff only)
    as_at: date | None = None  # None: today (and the same day on every later page)
    # As the register knew it at this instant (for an auditor: what a census return made then would have
    # said), leaving out changes recorded later even when they were backdated. None: everything known now.
    as_known_at: AwareDatetime | None = None
    # Paged (contracts/paging.py): entries by family name, given name, UPN.
    page_size: int = page_size(default=REGISTER_PAGE_SIZE, most=REGISTER_PAGE_MOST)
    after: str | None = cursor()


class LaCounts(Query):
    """Counts by status, year group and need, as a percentage of the roll, beside the national figures.
    For the whole LA or one school."""

    SUBJECT = "register.counts"
    Result = RegisterCounts

    school_urn: SchoolUrn | None = None
    as_at: date | None = None
    # As the register knew it at this instant (for an auditor: what a census return made then would have
    # said), leaving out changes recorded later even when they were backdated. None: everything known now.
    as_known_at: AwareDatetime | None = None


class CensusExtract(Query):
    """The census SEN extract as at a census day: CSV with the DfE codes, for a data officer to load."""

    SUBJECT = "register.census_extract"
    Result = CensusFile

    school_urn: SchoolUrn | None = None
    census_date: date
    # As the register knew it at this instant (for an auditor: what a census return made then would have
    # said), leaving out changes recorded later even when they were backdated. None: everything known now.
    as_known_at: AwareDatetime | None = None
    # Paged (contracts/paging.py): lines by school URN, then pupil id (an order no erasure changes).
    page_size: int = page_size(default=CENSUS_PAGE_SIZE, most=CENSUS_PAGE_MOST)
    after: str | None = cursor()


class ErasureReport(View):
    """A child's personal data erased: whose keys were destroyed, and who was kept (named on a record that
    must still be kept)."""

    pupil_id: UUID
    erased_on: date
    rule: str
    people_erased: list[UUID]
    people_kept: list[UUID]


# ---------------------------------------------------------------------------------------------------------
# Retention (docs/audit.md, "Retention and legal holds")

RETENTION_PAGE_SIZE, RETENTION_PAGE_MOST = 1000, 2000


class LegalHoldView(View):
    kind: str  # contracts.register.LegalHoldKind
    reference: str


class RetentionRuleView(View):
    name: str  # e.g. "sen-records"
    label: str  # how an erasure names it: "sen-records: date of birth + 31 years"
    applies_to: str  # "all", "sen" or "ehc-plan"
    years: int
    source: str


class RetentionCandidate(View):
    """A child whose records have passed retention: nothing that names them (only the id, the school, the year
    of birth). `holds`: the legal holds that stop their erasure (none: they are erased on the next run)."""

    pupil_id: UUID
    school_urn: str
    year_of_birth: int
    rule: str  # the rule's label
    kept_until: date
    holds: list[LegalHoldView] = Field(default_factory=list)


class RetentionReview(View):
    """One page of the children whose records have passed retention under the LA's schedule, as at a day."""

    local_authority: str | None
    schedule: str  # its name
    schedule_file: str
    rules: list[RetentionRuleView]
    as_at: date
    candidates: list[RetentionCandidate]  # this page's, by school URN and pupil id
    next_after: str | None = None


class ReviewRetention(Query):
    """Who would be erased under the LA's retention schedule, and who is held (by which hold): the dry run.
    For the LA's data officer or a manager."""

    SUBJECT = "register.retention_due"
    Result = RetentionReview

    as_at: date | None = None  # None: today (and the same day on every later page)
    page_size: int = page_size(default=RETENTION_PAGE_SIZE, most=RETENTION_PAGE_MOST)
    after: str | None = cursor()


class SubjectAccessRequestRecorded(View):
    """A subject access request recorded: when it must be answered by (one month from receipt: UK GDPR
    Article 12(3)), and how many times an export was made for it."""

    request_id: UUID
    pupil_id: UUID
    reference: str
    received_on: date
    respond_by: date
    exports_made: int


class RegisterSubjectAccess(SubjectAccess):
    SUBJECT = "register.subject_access"


class RegisterReads(ChildReads):
    SUBJECT = "register.reads"


# ---------------------------------------------------------------------------------------------------------
# Families see their child's record through a verified invitation (docs/security.md, docs/register.md)


class InvitationSent(View):
    """An invitation was made and its code is on its way to the person (never the code itself)."""

    invitation_id: UUID
    pupil_id: UUID
    person_id: UUID
    role: Role  # the role its code lets them act in: parent, or young_person
    relationship: str
    expires_on: date  # the code works up to and including this day


class AccessGrantRef(View):
    """An invitation accepted: the signed-in person may now see the child's record."""

    grant_id: UUID
    pupil_id: UUID
    role: Role
    relationship: str


class AccessRevokedReport(View):
    pupil_id: UUID
    person_id: UUID
    grants_ended: int
    invitations_withdrawn: int


class ChildAccess(View):
    """A child whose record the signed-in parent or young person may see."""

    pupil_id: UUID
    upn: str
    given_name: str
    family_name: str
    school_urn: str
    role: Role
    relationship: str
    granted_on: date


class MyChildren(Query):
    """The children whose records the signed-in parent or young person was invited to see (and accepted)."""

    SUBJECT = "register.my_children"
    Result = list[ChildAccess]
