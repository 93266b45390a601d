"""Reactions to other services' integration events: each records the notifications it makes owed.

One table, DUTIES: which event creates which duty to tell, and from which date (who a message is from, and whom to
contact, come from the LA's letters configuration: application.letterhead). Recipients are the event's
`people_to_tell` (everyone with parental responsibility; a young person over compulsory school age, and their parents
as they and the LA allow: the register decides; the professional asked or invited): one notification per person per
duty (and a second, carrying the complete letter, for a person whose first channel is a text or a notice).

Idempotent by construction: each notification's id is derived from the causing event and the person, and
the consumer records the event's position in the same transaction.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any
from uuid import UUID

from contracts import access
from contracts.ehcp import (
    AdviceRequested,
    AnnualReviewInvitation,
    AnnualReviewOutcome,
    DraftEhcPlanIssued,
    EhcNeedsAssessmentAgreed,
    EhcNeedsAssessmentRefused,
    EhcPlanCeased,
    EhcPlanFinalised,
    EhcPlanNotToBeIssued,
    EhcRequestReceived,
)
from contracts.envelope import EventEnvelope, EventPayload
from contracts.notifications import Duty
from contracts.plans import SupportPlanReviewOutcomeShared
from contracts.register import (
    InvitationIssued,
    PeopleToTellRecorded,
    PupilAddedToSenSupport,
    PupilErased,
    PupilRemovedFromSenRegister,
    SpecialEducationalProvisionMade,
)
from services.notifications.application import Notifications
from services.notifications.domain.grants import ReaderGrants
from services.notifications.domain.notification import ErasedPupil, Notification, UnmetDuties
from services.runtime.clock import today_in_england
from services.runtime.context import current_context
from services.runtime.service import Reaction

NOBODY_WITH_PR = (
    "Cannot notify: nobody to tell is recorded for this pupil. Please record the people with parental "
    "responsibility (or, for a young person over compulsory school age, the young person themself) so that they "
    "can be told."
)
NO_PROFESSIONAL = "Cannot notify: the request names no professional to send it to."
NO_INVITEE = "Cannot notify: the invitation names nobody to send the code to. Please invite the person again."


@dataclass(frozen=True)
class DutyRule:
    payload: type[EventPayload]
    duty: Duty
    owed_since: Callable[[Any], date]
    nobody: str = NOBODY_WITH_PR


DUTIES: dict[str, DutyRule] = {
    rule.payload.TYPE: rule
    for rule in [
        # CFA 2014 s.68; Durham 2b: parents told when SEN provision starts, is made, and on removal.
        DutyRule(PupilAddedToSenSupport, Duty.SEN_PROVISION_STARTED, lambda p: p.effective_date),
        DutyRule(SpecialEducationalProvisionMade, Duty.SEN_PROVISION_MADE, lambda p: p.effective_date),
        DutyRule(PupilRemovedFromSenRegister, Duty.REMOVED_FROM_SEN_REGISTER, lambda p: p.effective_date),
        # CoP 6.65-6.71: the outcome of each SEN support review is shared with the family.
        DutyRule(SupportPlanReviewOutcomeShared, Duty.SUPPORT_PLAN_REVIEW_OUTCOME, lambda p: p.reviewed_on),
        # SEND Regulations 2014: each statutory step of an EHC case, with its deadline and appeal rights.
        DutyRule(EhcRequestReceived, Duty.EHC_REQUEST_RECEIVED, lambda p: p.received_on),
        DutyRule(EhcNeedsAssessmentAgreed, Duty.EHC_ASSESSMENT_AGREED, lambda p: p.decided_on),
        DutyRule(EhcNeedsAssessmentRefused, Duty.EHC_ASSESSMENT_REFUSED, lambda p: p.decided_on),
        DutyRule(AdviceRequested, Duty.EHC_ADVICE_REQUESTED, lambda p: p.requested_on, NO_PROFESSIONAL),
        DutyRule(EhcPlanNotToBeIssued, Duty.EHC_PLAN_NOT_ISSUED, lambda p: p.decided_on),
        DutyRule(DraftEhcPlanIssued, Duty.EHC_DRAFT_PLAN, lambda p: p.issued_on),
        DutyRule(EhcPlanFinalised, Duty.EHC_FINAL_PLAN, lambda p: p.issued_on),
        DutyRule(AnnualReviewInvitation, Duty.ANNUAL_REVIEW_INVITATION, lambda p: p.meeting_on),
        DutyRule(AnnualReviewOutcome, Duty.ANNUAL_REVIEW_OUTCOME, lambda p: p.decided_on),
        DutyRule(EhcPlanCeased, Duty.EHC_PLAN_CEASED, lambda p: p.ceased_on),
        # A family member invited to see the child's record is sent their one-time code (docs/register.md).
        DutyRule(InvitationIssued, Duty.ACCESS_INVITATION, lambda p: p.issued_on, NO_INVITEE),
    ]
}


def when_duty_to_tell_arises_owe_notifications(app: Notifications, envelope: EventEnvelope) -> Sequence[Notification]:
    rule = DUTIES[envelope.type]
    fact = envelope.payload_as(rule.payload)
    facts = fact.model_dump(mode="json", exclude={"people_to_tell"})
    if "given_name" in facts:
        facts.setdefault("child_name", f"{facts['given_name']} {facts['family_name']}")
    if not facts.get("child_name"):
        facts["child_name"] = "your child"
    return app.owe(
        cause_event_id=envelope.event_id,
        cause_event_type=envelope.type,
        duty=rule.duty,
        pupil_id=getattr(fact, "pupil_id"),  # every duty's event names the pupil  # noqa: B009
        case_id=getattr(fact, "case_id", None),
        school_urn=getattr(fact, "school_urn", None),
        owed_since=rule.owed_since(fact),
        about=facts["child_name"],
        facts=facts,
        people=[p.model_dump(mode="json") for p in getattr(fact, "people_to_tell", [])],
        nobody_reason=rule.nobody,
    )


def when_people_to_tell_are_recorded_tell_them_what_they_were_not_told(
    app: Notifications, envelope: EventEnvelope
) -> Sequence[Any]:
    """A duty that could not be met (nobody recorded, no usable contact) is met when its people become known:
    owed again to them, once, from today (a right to respond or appeal runs from the notice reaching them)."""
    fact = envelope.payload_as(PeopleToTellRecorded)
    people = [p.model_dump(mode="json") for p in fact.people_to_tell]
    return app.tell_later(fact.pupil_id, people, envelope.event_id, today_in_england(current_context().now))


def when_a_pupil_is_erased_drop_their_data(app: Notifications, envelope: EventEnvelope) -> Sequence[Any]:
    """The register erased a child's personal data (their keys are gone): recorded here, so the views drop
    their copies, the duties still waiting for someone to tell about the child are cancelled, and every grant to
    read the child's messages ends."""
    fact = envelope.payload_as(PupilErased)
    return [
        *app.record_erasure(fact.pupil_id, fact.erased_on, fact.rule, fact.people_erased),
        *app.end_grants(fact.pupil_id, fact.erased_on, "the child's personal data was erased"),
    ]


# Grants, from the services that grant access (register: families; ehcp, later: professionals), and from no other
# (contracts/access.py, GRANTING_SERVICES): `<service>.access_granted` and `<service>.access_revoked`.
GRANTS = [*access.granted_types(), *access.revoked_types()]


def when_access_changes_keep_the_grants(app: Notifications, envelope: EventEnvelope) -> Sequence[Any]:
    """Who, besides staff, may read the messages about a child: learnt from the granting services' facts, never from
    their tables."""
    if envelope.type.endswith(".access_granted"):
        return app.learn_grant(access.AccessGranted.model_validate(envelope.payload))
    return app.learn_revocation(access.AccessRevoked.model_validate(envelope.payload))


def when_register_or_ehcp_event(app: Notifications, envelope: EventEnvelope) -> Sequence[Any]:
    """One consumer for every fact that creates a duty, for the people to tell being recorded, for grants and for
    erasures, in stream order: a duty owed before its people were known is met by the later fact, never missed by a
    race, and a grant is never learnt after the erasure that ended it. (One consumer, too, because a service records
    each fact it handled once, by its producer and position: two of its consumers could not both act on one fact.)"""
    if envelope.type == PeopleToTellRecorded.TYPE:
        return when_people_to_tell_are_recorded_tell_them_what_they_were_not_told(app, envelope)
    if envelope.type == PupilErased.TYPE:
        return when_a_pupil_is_erased_drop_their_data(app, envelope)
    if envelope.type in GRANTS:
        return when_access_changes_keep_the_grants(app, envelope)
    return when_duty_to_tell_arises_owe_notifications(app, envelope)


def looked_up(envelope: EventEnvelope) -> list[UUID]:
    """What the reaction to an event looks up: the notification each person named would be owed (it is owed
    only if it does not exist yet), the pupil's unmet duties (kept in step when nobody can be told, read
    when people are recorded), and the grants to read the pupil's messages."""
    pupil_id = UUID(str(envelope.payload["pupil_id"]))
    ids = [UnmetDuties.create_id(pupil_id), ErasedPupil.create_id(pupil_id), ReaderGrants.create_id(pupil_id)]
    if envelope.type in DUTIES:
        people = envelope.payload.get("people_to_tell") or [None]
        ids += [Notification.create_id(envelope.event_id, UUID(str(p["person_id"])) if p else None) for p in people]
    return ids


REACTIONS = [
    Reaction(
        "owe-notifications",
        [*DUTIES, PeopleToTellRecorded.TYPE, PupilErased.TYPE, *GRANTS],
        when_register_or_ehcp_event,
        prefetch=looked_up,
    )
]
