"""Reactions to the ehcp service's integration events: the register follows the LA's plan decisions.

A SENCO cannot set E by hand: E comes only from a finalised plan (Regs 13(2)), and E goes back to K (or
off the register) only when the LA ceases the plan (CFA 2014 s.45; Regs 31). Idempotent: the consumer
records the causing event's position in the same transaction as the pupil's new event, and a plan
already applied (same case id) is not applied again.
"""

from __future__ import annotations

from collections.abc import Sequence

from contracts.ehcp import EhcPlanCeased, EhcPlanFinalised
from contracts.envelope import EventEnvelope
from contracts.register import PupilErased
from services.register.application import Register
from services.register.domain.pupil import Pupil
from services.runtime.clock import today_in_england
from services.runtime.context import current_context
from services.runtime.errors import NotFound
from services.runtime.keyring import current_keyring
from services.runtime.service import Reaction


def _pupil(app: Register, upn: str) -> Pupil:
    try:
        return app.pupil(upn)
    except NotFound:
        # Not ours to invent a pupil with no name or date of birth: retried, then dead-lettered for a
        # person to look at (the school enrols the pupil, then the event is replayed).
        raise NotFound(f"EHC plan for UPN {upn}, who is on no school's roll in the register") from None


def when_ehc_plan_finalised_set_status_e(app: Register, envelope: EventEnvelope) -> Sequence[Pupil]:
    fact = envelope.payload_as(EhcPlanFinalised)
    pupil = _pupil(app, fact.upn)
    if str(fact.case_id) in pupil.ehc_plans:
        return []
    pupil.ehc_plan_finalised(
        case_id=str(fact.case_id),
        issued_on=fact.issued_on,
        primary_need=fact.primary_need.value,
        secondary_need=fact.secondary_need.value if fact.secondary_need else None,
        school_urn=fact.school_urn,
    )
    return [pupil]


def when_ehc_plan_ceased_leave_status_e(app: Register, envelope: EventEnvelope) -> Sequence[Pupil]:
    fact = envelope.payload_as(EhcPlanCeased)
    pupil = _pupil(app, fact.upn)
    pupil.cease_ehc_plan(
        case_id=str(fact.case_id),
        ceased_on=fact.ceased_on,
        reason=fact.reason,
        continues_on_sen_support=fact.continues_on_sen_support,
        today=today_in_england(current_context().now),
        parents_of_young_people=app.parents_of_young_people,
    )
    return [pupil] if pupil.pending_events else []


def when_ehcp_event(app: Register, envelope: EventEnvelope) -> Sequence[Pupil]:
    """One consumer for all the ehcp service's facts, in stream order, so a plan's cessation is never
    applied before its finalisation. Facts the register does not act on are recorded as seen."""
    if envelope.type == EhcPlanFinalised.TYPE:
        return when_ehc_plan_finalised_set_status_e(app, envelope)
    if envelope.type == EhcPlanCeased.TYPE:
        return when_ehc_plan_ceased_leave_status_e(app, envelope)
    return []


# One wildcard subject, one durable consumer: the plan's facts are handled in stream order.
def when_a_pupil_is_erased_destroy_the_keys(app: Register, envelope: EventEnvelope) -> Sequence[Pupil]:
    """The register's own fact `register.pupil_erased`, once stored and published: the keys it names are
    destroyed now (never before the fact is stored, so nothing that could still refuse the erasure, a legal
    hold placed that moment, can come after the keys are gone). Done again on a redelivery: harmless."""
    fact = envelope.payload_as(PupilErased)
    current_keyring().erase([fact.pupil_id, *fact.people_erased])
    return []


REACTIONS = [
    Reaction("ehc-plans", ["ehcp.*"], when_ehcp_event),
    Reaction("erase-keys", [PupilErased.TYPE], when_a_pupil_is_erased_destroy_the_keys),
]
