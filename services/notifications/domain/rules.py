"""Who may see and change notifications: each rule a named check with a message a person can act on."""

from __future__ import annotations

from contracts.envelope import Actor, Role
from contracts.notifications import Duty, NotificationView
from services.runtime.access import Grant
from services.runtime.errors import NotAuthorised

READERS = {Role.SENCO, Role.HEADTEACHER, Role.LA_CASEWORKER, Role.LA_MANAGER, Role.AUDITOR, Role.SYSTEM}
# Owning services (ehcp, plans) act as SYSTEM; a caseworker may also ask for a notice by hand.
NOTICE_REQUESTERS = {Role.SYSTEM, Role.LA_CASEWORKER, Role.LA_MANAGER}


def check_may_read(actor: Actor) -> None:
    if actor.role not in READERS:
        raise NotAuthorised("Only school and local authority staff can see notifications.")


def addressed_to(grant: Grant, found: list[NotificationView]) -> list[NotificationView]:
    """What someone reading by a grant (a parent, a young person, a professional) sees of a child's messages: those
    sent to them (the person their grant was made for), of the case it covers: never the messages to other family
    members, whose names and contact details they need not be entitled to."""
    if grant.person_id is None:
        return []
    return [
        n for n in found if n.person_id == grant.person_id and (grant.case_id is None or n.case_id == grant.case_id)
    ]


def school_scope(actor: Actor, school_urn: str | None) -> str | None:
    """School staff see only their own school; LA staff see one school or the whole LA."""
    own = actor.school_urn
    if own is not None:
        if school_urn not in (None, own):
            raise NotAuthorised("School staff can only see their own school's notifications.")
        return own
    return school_urn


def check_may_see_school(actor: Actor, school_urn: str | None) -> None:
    """One notification: school staff see their own school's only."""
    if actor.school_urn is not None and actor.school_urn != school_urn:
        raise NotAuthorised("School staff can only see their own school's notifications.")


def own_school_only(actor: Actor, found: list[NotificationView]) -> list[NotificationView]:
    if actor.school_urn is not None:
        return [n for n in found if n.school_urn == actor.school_urn]
    return found


def check_may_request_notice(actor: Actor) -> None:
    if actor.role not in NOTICE_REQUESTERS:
        raise NotAuthorised("Only the local authority or its services can ask for a professional notice.")


def check_may_record_receipts(actor: Actor) -> None:
    if actor.role != Role.SYSTEM:
        raise NotAuthorised("Only the delivery-receipt gateway can record GOV.UK Notify receipts.")


# The school owns the duties that arise on its register; the LA owns the statutory EHC steps.
SCHOOL_DUTIES = {
    Duty.SEN_PROVISION_STARTED,
    Duty.SEN_PROVISION_MADE,
    Duty.REMOVED_FROM_SEN_REGISTER,
    Duty.SUPPORT_PLAN_REVIEW_OUTCOME,
}


def check_may_cancel(actor: Actor, school_urn: str | None, duty: Duty) -> None:
    """Only whoever owns the duty cancels it: the school's SENCO for the register's, the LA for its own."""
    if duty in SCHOOL_DUTIES:
        if actor.role != Role.SENCO or actor.school_urn is None or actor.school_urn != school_urn:
            raise NotAuthorised(
                f"Only the SENCO of school {school_urn} can cancel this notification: the school owes it."
            )
    elif actor.role not in (Role.LA_CASEWORKER, Role.LA_MANAGER):
        raise NotAuthorised("Only a local authority caseworker can cancel this notification: the LA owes it.")
