"""The plans service's integration events (schema version 1), as far as other services depend on them.

The plans service is not built yet; notifications reacts to a SEN support review's outcome being shared
with the family (CoP 6.65-6.71: parents are involved in and told the outcome of each review).
"""

from __future__ import annotations

from datetime import date
from uuid import UUID

from pydantic import Field

from contracts.envelope import EventPayload
from contracts.people import ContactPoint, PersonToTell
from contracts.text import Paragraphs


class SupportPlanReviewOutcomeShared(EventPayload):
    TYPE = "plans.review_outcome_shared"
    SCHEMA_VERSION = 1

    plan_id: UUID
    pupil_id: UUID
    school_urn: str
    child_name: str = Field(min_length=1, max_length=200)
    reviewed_on: date
    outcome: Paragraphs = Field(min_length=1, max_length=4000)  # what was agreed, in plain words
    next_review_on: date | None = None
    people_to_tell: list[PersonToTell] = Field(default_factory=list)
    contact: ContactPoint | None = None
