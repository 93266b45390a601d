"""The ehcp service's integration events (schema version 1), as far as other services depend on them.

The ehcp service itself is not built yet; these are the facts the register reacts to (a pupil's status
becomes E when a plan is finalised and returns to K when it ceases), fixed here so both sides agree.
"""

from __future__ import annotations

from datetime import date
from uuid import UUID

from pydantic import Field

from contracts.envelope import EventPayload
from contracts.identifiers import NeedType


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


class EhcPlanCeased(EventPayload):
    """The LA ceased to maintain the plan (CFA s.45; Regs 31): E back to K (or off the register)."""

    TYPE = "ehcp.plan_ceased"
    SCHEMA_VERSION = 1

    case_id: UUID
    pupil_id: UUID
    upn: str
    ceased_on: date
    reason: str = Field(min_length=1, max_length=500)
    continues_on_sen_support: bool  # True: the school keeps the pupil at K; False: no longer has SEN
