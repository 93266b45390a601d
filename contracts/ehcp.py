"""The ehcp service's integration events (schema version 1), as far as other services depend on them.

The ehcp service itself is not built yet; these are the facts other services react to, fixed here so both
sides agree: the register (a pupil's status becomes E when a plan is finalised and returns to K when it
ceases) and notifications (every statutory step a family or professional must be told about, DOMAIN.md
section 6).

Deadlines are computed by the ehcp service from recorded facts and the LA's policy; the events carry the
dates a letter must state, and notifications only states them. Every event that creates a duty to tell
carries `people_to_tell` (everyone with parental responsibility, the young person from 16, professionals
asked for advice or invited) and `contact`, who the reader should get in touch with.
"""

from __future__ import annotations

from datetime import date
from uuid import UUID

from pydantic import Field

from contracts.envelope import EventPayload
from contracts.identifiers import NeedType
from contracts.people import ContactPoint, PersonToTell
from contracts.text import Paragraphs


class EhcStep(EventPayload):
    """What every statutory step of an EHC case carries for the people it must be told to."""

    case_id: UUID
    pupil_id: UUID
    upn: str
    school_urn: str | None = None
    child_name: str = Field(min_length=1, max_length=200)
    people_to_tell: list[PersonToTell] = Field(default_factory=list)
    contact: ContactPoint | None = None


class EhcRequestReceived(EhcStep):
    """A request for an EHC needs assessment was received; the LA must decide within 6 weeks (Regs 5(1))."""

    TYPE = "ehcp.request_received"

    received_on: date
    requested_by: str = Field(min_length=1, max_length=200)  # "the school", "the parent", "the young person"
    decision_due_by: date  # Regs 5(1): 6 weeks from receipt
    views_due_by: date | None = None  # when the family's views should reach the LA (the LA consults the parent, Regs 5)


class EhcNeedsAssessmentAgreed(EhcStep):
    """The LA decided to carry out an EHC needs assessment (CFA s.36(8); Regs 5)."""

    TYPE = "ehcp.needs_assessment_agreed"

    decided_on: date
    plan_decision_due_by: date  # Regs 13(2): whole process within 20 weeks of the request


class EhcNeedsAssessmentRefused(EhcStep):
    """The LA decided not to assess; the family must be told with their appeal rights (Regs 5)."""

    TYPE = "ehcp.needs_assessment_refused"

    decided_on: date
    reasons: str = Field(min_length=1, max_length=4000)
    mediation_contact_by: date  # CFA s.55: a mediation adviser is contacted before appealing
    appeal_deadline: (
        date  # 2 months from the decision letter, or 1 month from a mediation certificate, whichever is later
    )


class AdviceRequested(EhcStep):
    """Advice for an EHC needs assessment was asked of a professional; it is due within 6 weeks
    (Regs 8). `people_to_tell` holds the professional asked."""

    TYPE = "ehcp.advice_requested"

    advice_kind: str = Field(min_length=1, max_length=200)  # "educational psychology advice", "health advice"
    requested_on: date
    advice_due_by: date  # Regs 8: within 6 weeks of the request


class EhcPlanNotToBeIssued(EhcStep):
    """After assessing, the LA decided not to issue a plan (Regs 10): by week 16 of the request,
    with the reasons and appeal rights."""

    TYPE = "ehcp.plan_not_to_be_issued"

    decided_on: date
    reasons: str = Field(min_length=1, max_length=4000)
    mediation_contact_by: date
    appeal_deadline: date


class DraftEhcPlanIssued(EhcStep):
    """A draft plan was sent: the family has at least 15 days to comment and to ask for a particular
    school to be named (Regs 13(1))."""

    TYPE = "ehcp.draft_plan_issued"

    issued_on: date
    respond_by: date  # Regs 13(1): at least 15 days
    final_plan_due_by: date  # Regs 13(2): 20 weeks from the request


class EhcPlanFinalised(EventPayload):
    """A final EHC plan was issued (Regs 13(2)): the pupil's census status becomes E."""

    TYPE = "ehcp.plan_finalised"
    SCHEMA_VERSION = 1

    case_id: UUID
    pupil_id: UUID
    upn: str
    school_urn: str | None  # the school named in section I, when it is a school
    issued_on: date
    primary_need: NeedType
    secondary_need: NeedType | None = None
    # For the people told (Regs 14: the final plan goes with appeal rights). Added with defaults, so events
    # published without them still parse.
    child_name: str | None = None
    people_to_tell: list[PersonToTell] = Field(default_factory=list)
    contact: ContactPoint | None = None
    mediation_contact_by: date | None = None
    appeal_deadline: date | None = None
    first_review_due_by: date | None = None  # CFA s.44: reviewed at least every 12 months


class AnnualReviewInvitation(EhcStep):
    """An annual review meeting is arranged; the parent, young person and professionals are invited
    with at least two weeks' notice (Regs 20)."""

    TYPE = "ehcp.annual_review_invitation"

    meeting_on: date
    meeting_place: str = Field(min_length=1, max_length=300)
    advice_due_by: date | None = None  # Regs 20: advice and information circulated 2 weeks before


class AnnualReviewOutcome(EhcStep):
    """The LA's decision after a review: keep the plan as it is, amend it or cease it, within 4 weeks of
    the meeting (Regs 20). Proposed amendments come with at least 15 days to comment (Regs 22)."""

    TYPE = "ehcp.annual_review_outcome"

    decided_on: date
    decision: str = Field(pattern=r"^(maintain|amend|cease)$")
    summary: Paragraphs = Field(min_length=1, max_length=4000)
    amendments_proposed: str | None = Field(default=None, max_length=4000)
    respond_by: date | None = None  # Regs 22: at least 15 days to comment on amendments
    mediation_contact_by: date | None = None
    appeal_deadline: date | None = None  # where the decision is not to amend


class EhcPlanCeased(EventPayload):
    """The LA ceased to maintain the plan (CFA s.45; Regs 31): E back to K (or off the register)."""

    TYPE = "ehcp.plan_ceased"
    SCHEMA_VERSION = 1

    case_id: UUID
    pupil_id: UUID
    upn: str
    ceased_on: date
    reason: Paragraphs = Field(min_length=1, max_length=500)
    continues_on_sen_support: bool  # True: the school keeps the pupil at K; False: no longer has SEN
    # For the people told (CFA s.45, Regs 31: the decision carries appeal rights). Added with defaults.
    school_urn: str | None = None
    child_name: str | None = None
    people_to_tell: list[PersonToTell] = Field(default_factory=list)
    contact: ContactPoint | None = None
    mediation_contact_by: date | None = None
    appeal_deadline: date | None = None
