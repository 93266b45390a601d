"""The register's rules, each a named check with a message a SENCO or caseworker can act on.

Who may change and who may read a pupil's record, and what makes a date plausible. Aggregates and the
application call these before anything is saved, so a refused command stores nothing.
"""

from __future__ import annotations

from datetime import date, timedelta

from contracts.envelope import Actor, Role
from contracts.identifiers import NeedType
from services.register.domain.census import age_on
from services.runtime.access import FAMILY_ROLES
from services.runtime.errors import DomainError, NotAuthorised

OLDEST_AGE = 25  # SEND Code of Practice 0-25
YOUNG_PERSON_AGE = 16  # consent to share: the young person decides from 16 (CoP 8.13; Durham 2b)
CONSENT_GIVERS = ("parent", "young_person")

# Whom the statutory notices about a young person over compulsory school age go to besides the young person: the LA's
# policy (the register's setting `parents_of_young_people`), within what the young person wants (docs/register.md,
# "The young person").
WITH_AGREEMENT = "with_agreement"  # their parents too, only when the young person agreed (the default)
UNLESS_OBJECTION = "unless_objection"  # their parents too, unless the young person said no
NEVER = "never"  # the young person only (a young person who lacks capacity apart: CFA 2014 s.80)
PARENTS_OF_YOUNG_PEOPLE = (WITH_AGREEMENT, UNLESS_OBJECTION, NEVER)
# What the young person said (contracts.people.YoungPersonsWish).
PARENTS_TOLD, PARENTS_NOT_TOLD, LACKS_CAPACITY = "parents_told", "parents_not_told", "lacks_capacity"


def compulsory_school_age_ends(date_of_birth: date) -> date:
    """The school leaving date: the last Friday in June of the school year (1 September to 31 August) in which the
    child turns 16 (Education Act 1996 s.8(3)-(4); Education (School Leaving Date) Order 1997). Over compulsory
    school age from the day after it: then a young person, whose rights and notices are their own (CFA 2014 s.83(2)).
    A birthday on 29 February counts as 1 March in a year without one."""
    try:
        sixteenth = date_of_birth.replace(year=date_of_birth.year + 16)
    except ValueError:
        sixteenth = date(date_of_birth.year + 16, 3, 1)
    june = date(sixteenth.year if sixteenth.month < 9 else sixteenth.year + 1, 6, 30)
    return june - timedelta(days=(june.weekday() - 4) % 7)  # back to the Friday (weekday 4)


def is_over_compulsory_school_age(date_of_birth: date | None, on: date) -> bool:
    return date_of_birth is not None and on > compulsory_school_age_ends(date_of_birth)


# ------------------------------------------------------------------------------------------------------
# Named rules


def check_date_of_birth(date_of_birth: date, today: date) -> None:
    if date_of_birth > today:
        raise DomainError(
            f"The date of birth {date_of_birth:%d %B %Y} is in the future.",
            rule="date_of_birth_in_future",
            field="date_of_birth",
        )
    age = age_on(date_of_birth, today)
    if age > OLDEST_AGE:
        raise DomainError(
            f"A date of birth of {date_of_birth:%d %B %Y} makes the pupil {age} years old; "
            f"the SEND register covers children and young people up to {OLDEST_AGE}. Check the date.",
            rule="date_of_birth_implausible",
            field="date_of_birth",
        )


def check_not_in_future(day: date, today: date, field: str, what: str) -> None:
    if day > today:
        raise DomainError(
            f"The {what} {day:%d %B %Y} is in the future; record it on or after the day it happens.",
            rule="date_in_future",
            field=field,
        )


def check_is_schools_senco(actor: Actor, school_urn: str, doing: str = "change this pupil's SEN record") -> None:
    """Only the SENCO of the pupil's school may change the pupil's record: the roll, SEN status, needs, the
    people to tell (Durham 2b). `doing` says what was refused, in the words of the person refused."""
    if actor.role != Role.SENCO or actor.school_urn != school_urn:
        raise NotAuthorised(
            f"Only the SENCO of school {school_urn} can {doing}; "
            f"you are signed in as {actor.role.value} for {actor.organisation}.",
        )


def check_needs_ranked(primary_need: NeedType | None, secondary_need: NeedType | None) -> None:
    if primary_need is None:
        raise DomainError(
            "A pupil on the SEN register (K or E) must have a primary need.",
            rule="primary_need_required",
            field="primary_need",
        )
    if secondary_need is not None and secondary_need == primary_need:
        raise DomainError(
            "The secondary need must differ from the primary need.",
            rule="needs_not_ranked",
            field="secondary_need",
        )


# Who may read a pupil's register record besides staff of the pupil's school.
LA_READERS = {Role.LA_CASEWORKER, Role.LA_MANAGER, Role.AUDITOR, Role.DATA_OFFICER, Role.SYSTEM}
SCHOOL_READERS = {Role.SENCO, Role.HEADTEACHER, Role.TEACHER}


def check_may_read(actor: Actor, school_urn: str | None) -> None:
    """School staff see their own school's register; LA staff and auditors see every school's. (A parent or young
    person reads one child's record, through a grant: Register.pupil_record, RegisterQueries.pupil_history.)"""
    if actor.role in LA_READERS:
        return
    if school_urn is not None and actor.school_urn == school_urn and actor.role in SCHOOL_READERS:
        return
    where = f"school {school_urn}" if school_urn else "the whole local authority"
    raise NotAuthorised(f"You cannot see the SEN register of {where}.")


# Who may stop, and who may carry out, the erasure of a child's records (docs/audit.md): the LA's staff, and the
# retention job (the register service's own actor, role system).
HOLDERS = {Role.LA_CASEWORKER, Role.LA_MANAGER, Role.DATA_OFFICER}
ERASERS = {Role.LA_MANAGER, Role.DATA_OFFICER}


def _at_the_la(actor: Actor) -> bool:
    return actor.organisation.startswith("la:")


def check_may_hold(actor: Actor) -> None:
    if actor.role not in HOLDERS or not _at_the_la(actor):
        raise NotAuthorised(
            "Only the LA's caseworkers, managers and data officers can place or lift a legal hold; "
            f"you are signed in as {actor.role.value} for {actor.organisation}."
        )


def check_may_erase(actor: Actor) -> None:
    if actor.role == Role.SYSTEM or (actor.role in ERASERS and _at_the_la(actor)):
        return
    raise NotAuthorised(
        "Only the LA's data officer or a manager (or the retention job) can erase a child's records; "
        f"you are signed in as {actor.role.value} for {actor.organisation}."
    )


def check_may_review_retention(actor: Actor) -> None:
    """Who may see which children's records have passed retention (the dry run): those who may erase them."""
    if actor.role in ERASERS and _at_the_la(actor):
        return
    raise NotAuthorised(
        "Only the LA's data officer or a manager can review which records have passed retention; "
        f"you are signed in as {actor.role.value} for {actor.organisation}."
    )


# ------------------------------------------------------------------------------------------------------
# Families: invited to see a child's record (docs/register.md, "Families")

INVITERS_AT_THE_LA = {Role.LA_CASEWORKER}


def check_may_invite(
    actor: Actor, school_urn: str, doing: str = "invite a family member to see this pupil's record"
) -> None:
    """The SENCO of the pupil's school, or an LA caseworker, invites (and ends access)."""
    if actor.role in INVITERS_AT_THE_LA and _at_the_la(actor):
        return
    if actor.role == Role.SENCO and actor.school_urn == school_urn:
        return
    raise NotAuthorised(
        f"Only the SENCO of school {school_urn} or an LA caseworker can {doing}; "
        f"you are signed in as {actor.role.value} for {actor.organisation}."
    )


def is_family(actor: Actor) -> bool:
    return actor.role in FAMILY_ROLES


def check_may_accept(actor: Actor) -> None:
    """An invitation is accepted by the person it was sent to, signed in as themself."""
    if actor.role not in FAMILY_ROLES or actor.organisation != "citizen":
        raise NotAuthorised(
            "An invitation is accepted by the parent or young person it was sent to, signed in as themself "
            f"(a parent or young person, organisation citizen); you are signed in as {actor.role.value} for "
            f"{actor.organisation}.",
            rule="accepted_by_family_only",
        )


YOUNG_PERSON_RELATIONSHIP = "young person"


def invited_as(person: dict[str, object], date_of_birth: date | None, today: date) -> Role:
    """The role a person recorded on a pupil's record is invited in: a parent (parental responsibility) or the
    young person (recorded with relationship "young person", from 16: CoP 8.13); anyone else is refused."""
    relationship = str(person.get("relationship", "")).strip().lower()
    if relationship == YOUNG_PERSON_RELATIONSHIP:
        age = age_on(date_of_birth, today) if date_of_birth is not None else None
        if age is None or age < YOUNG_PERSON_AGE:
            raise DomainError(
                f"The young person is invited to see their own record from {YOUNG_PERSON_AGE}"
                + (f"; they are {age}" if age is not None else "")
                + ". Until then, invite the people with parental responsibility.",
                rule="young_person_too_young",
                field="person_id",
            )
        return Role.YOUNG_PERSON
    if person.get("has_parental_responsibility"):
        return Role.PARENT
    raise DomainError(
        f"{person.get('name')} ({person.get('relationship')}) is recorded without parental responsibility: only people "
        "with parental responsibility, or the young person, can be invited to see the record.",
        rule="not_invitable",
        field="person_id",
    )


def check_reachable(person: dict[str, object]) -> None:
    """The code goes to the contact details the school recorded: there must be one."""
    if not (person.get("email") or person.get("mobile") or person.get("postal_address")):
        raise DomainError(
            f"No email address, mobile number or postal address is recorded for {person.get('name')}: record one "
            "(`sendcase register parents`) so that the invitation can be sent to them.",
            rule="no_contact_details",
            field="person_id",
        )
