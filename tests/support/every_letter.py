"""Every message sendcase writes, rendered for one family whose names are not in the Latin alphabet (or not only):
the child Łukasz, a mother whose name is written in Urdu, a father whose name is written in Chinese, and Łukasz
himself once he is a young person. For the unit tests of the content (tests/unit/test_letters.py) and for any test
that renders what they say another way (the letter's PDF): `every_template_rendered(...)`.

Each message is made the way the service makes it: the statutory event (as the register, plans or ehcp publish it)
goes through the notifications policy into `Notifications.owe`, in memory, on a fixed day, with an LA's letters
configuration; what comes out is the stored content of each notification.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from uuid import UUID

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
from contracts.envelope import EventPayload, Role, derived_id
from contracts.identifiers import NeedType
from contracts.notifications import RequestProfessionalNotice
from contracts.people import Channel, CommunicationNeeds, ContactPoint, Format, PersonToTell, PostalAddress
from contracts.plans import SupportPlanReviewOutcomeShared
from contracts.register import (
    InvitationIssued,
    PupilAddedToSenSupport,
    PupilRemovedFromSenRegister,
    SpecialEducationalProvisionMade,
)
from services.notifications.application import Notifications
from services.notifications.content import SIGNPOSTING
from services.notifications.domain.notification import Notification
from services.notifications.letters_config import LettersConfig, load_letters_config
from services.notifications.policies import DUTIES, when_duty_to_tell_arises_owe_notifications
from services.runtime.eventstore import IN_MEMORY_ENV
from tests.support.factories import caseworker
from tests.support.inmemory import as_actor
from tests.support.register_events import wrap

ROOT = Path(__file__).resolve().parents[2]
DURHAM = ROOT / "infra" / "local_authorities" / "840" / "letters.toml"
ILLUSTRATION_929 = ROOT / "infra" / "local_authorities" / "929" / "letters.toml"

# The day the messages are written and sent: 25 November 2026, mid-morning in England.
SENT_AT = datetime(2026, 11, 25, 10, 0, tzinfo=UTC)
SENT_ON = date(2026, 11, 25)
SENT_ON_IN_WORDS = "25 November 2026"

SCHOOL_URN = "114999"  # in Durham's file (an illustration); the development default has 123456
PUPIL = derived_id("pupil", "Łukasz")
CASE = derived_id("case", "Łukasz")
CHILD_GIVEN, CHILD_FAMILY = "Łukasz", "Kowalski-Khan"
CHILD = f"{CHILD_GIVEN} {CHILD_FAMILY}"
BORN = date(2015, 3, 14)  # a child in Year 6 in 2026-27
BORN_YOUNG_PERSON = date(2008, 3, 14)  # over compulsory school age since 27 June 2024

# A protected address (a child looked after): the register keeps it and publishes it nowhere. No message may hold it.
PROTECTED_ADDRESS = {"lines": ["7 Quiet Close"], "town": "Shelterby", "postcode": "DH9 9QQ"}
PROTECTED_WORDS = ("Quiet Close", "Shelterby", "DH9 9QQ")

MOTHER = PersonToTell(
    person_id=derived_id("person", "mother", "Łukasz"),
    name="عائشہ خان",  # Ayesha Khan, in Urdu
    relationship="mother",
    has_parental_responsibility=True,
    email="ayesha.khan@example.org",
    postal_address=PostalAddress(lines=["12 Front Street", "Framwellgate Moor"], town="Durham", postcode="DH1 5AB"),
    preferred_channel=Channel.LETTER,
    needs=CommunicationNeeds(language="ur", interpreter=True, formats=[Format.LARGE_PRINT]),
)
FATHER = PersonToTell(
    person_id=derived_id("person", "father", "Łukasz"),
    name="王伟",  # Wang Wei, in Chinese
    relationship="father",
    has_parental_responsibility=True,
    email="wang.wei@example.org",
    mobile="07700 900456",
    postal_address=PostalAddress(lines=["3 Kepier Court"], town="Durham", postcode="DH1 1QT"),
    preferred_channel=Channel.EMAIL,
    needs=CommunicationNeeds(language="zh"),
)
YOUNG_PERSON = PersonToTell(
    person_id=derived_id("person", "young person", "Łukasz"),
    name=CHILD,
    relationship="young person",
    has_parental_responsibility=False,
    email="lukasz.k@example.org",
    mobile="07700 900789",
    postal_address=PostalAddress(lines=["Flat 4, 20 Claypath"], town="Durham", postcode="DH1 1RH"),
    preferred_channel=Channel.SMS,
)
PARENTS = [MOTHER, FATHER]
PROFESSIONAL = PersonToTell(
    person_id=derived_id("person", "psychologist", "Łukasz"),
    name="Dr Chen Jing 陈静",
    relationship="educational psychologist",
    has_parental_responsibility=False,
    email="chen.jing@example.org",
    preferred_channel=Channel.EMAIL,
)


@dataclass(frozen=True)
class RenderedMessage:
    """One message as stored and sent: to whom, for which duty, and every part of it."""

    event_type: str
    duty: str
    notification_id: UUID
    recipient: dict[str, Any]
    subject: str
    body: str  # the email
    sms: str
    letter: str  # the complete letter's text
    letter_html: str  # the complete letter's HTML: what the PDF renders
    reference: str
    dated_on: date
    sender: dict[str, Any]
    contact: dict[str, Any]
    help: dict[str, Any]
    signposts: tuple[str, ...]
    content_hash: str
    companion_of: UUID | None
    channel: str | None

    @property
    def to_young_person(self) -> bool:
        return self.recipient.get("relationship") == "young person"


def config(path: Path | None = DURHAM) -> LettersConfig:
    return load_letters_config(path)


def every_statutory_event(
    people: list[PersonToTell], *, school_urn: str = SCHOOL_URN, born: date = BORN
) -> dict[str, EventPayload]:
    """Every fact that makes notifications owe a message, about Łukasz, each naming `people` (the advice request:
    the educational psychologist; an invitation: the first of `people`)."""
    d = date(2026, 11, 23)
    step = dict(
        case_id=CASE,
        pupil_id=PUPIL,
        upn="A801200000001",
        school_urn=school_urn,
        child_name=CHILD,
        people_to_tell=people,
    )
    register = dict(
        pupil_id=PUPIL,
        upn="A801200000001",
        school_urn=school_urn,
        given_name=CHILD_GIVEN,
        family_name=CHILD_FAMILY,
        effective_date=d,
        people_to_tell=people,
    )
    invited = people[0]
    young = invited.relationship == "young person"
    return {
        PupilAddedToSenSupport.TYPE: PupilAddedToSenSupport(
            **register,
            date_of_birth=born,
            primary_need=NeedType.SLCN,
            secondary_need=NeedType.SEMH,
            reason="Two cycles of assess, plan, do, review with speech and language targets; progress below expected.",
        ),
        PupilRemovedFromSenRegister.TYPE: PupilRemovedFromSenRegister(
            **register, reason="Caught up with peers in reading and speech."
        ),
        SpecialEducationalProvisionMade.TYPE: SpecialEducationalProvisionMade(
            **register, provision="Weekly speech and language sessions with a specialist teaching assistant."
        ),
        SupportPlanReviewOutcomeShared.TYPE: SupportPlanReviewOutcomeShared(
            plan_id=CASE,
            pupil_id=PUPIL,
            school_urn=school_urn,
            child_name=CHILD,
            reviewed_on=d,
            outcome="Continue small-group reading; add a visual timetable.",
            next_review_on=date(2027, 2, 23),
            people_to_tell=people,
        ),
        EhcRequestReceived.TYPE: EhcRequestReceived(
            **step,
            received_on=d,
            requested_by="the school",
            decision_due_by=date(2027, 1, 4),
            views_due_by=date(2026, 12, 14),
        ),
        EhcNeedsAssessmentAgreed.TYPE: EhcNeedsAssessmentAgreed(
            **step, decided_on=d, plan_decision_due_by=date(2027, 4, 12)
        ),
        EhcNeedsAssessmentRefused.TYPE: EhcNeedsAssessmentRefused(
            **step,
            decided_on=d,
            reasons="SEN support at school is meeting the needs described in the request.",
            mediation_contact_by=date(2027, 1, 25),
            appeal_deadline=date(2027, 1, 25),
        ),
        AdviceRequested.TYPE: AdviceRequested(
            **{**step, "people_to_tell": [PROFESSIONAL]},
            advice_kind="educational psychology advice",
            requested_on=d,
            advice_due_by=date(2027, 1, 4),
        ),
        EhcPlanNotToBeIssued.TYPE: EhcPlanNotToBeIssued(
            **step,
            decided_on=d,
            reasons="The needs can be met from the school's own resources.",
            mediation_contact_by=date(2027, 1, 25),
            appeal_deadline=date(2027, 1, 25),
        ),
        DraftEhcPlanIssued.TYPE: DraftEhcPlanIssued(
            **step, issued_on=d, respond_by=date(2026, 12, 8), final_plan_due_by=date(2027, 1, 20)
        ),
        EhcPlanFinalised.TYPE: EhcPlanFinalised(
            case_id=CASE,
            pupil_id=PUPIL,
            upn="A801200000001",
            school_urn=school_urn,
            issued_on=d,
            primary_need=NeedType.SLCN,
            child_name=CHILD,
            people_to_tell=people,
            mediation_contact_by=date(2027, 1, 25),
            appeal_deadline=date(2027, 1, 25),
            first_review_due_by=date(2027, 11, 22),
        ),
        AnnualReviewInvitation.TYPE: AnnualReviewInvitation(
            **{**step, "people_to_tell": [*people, PROFESSIONAL]},
            meeting_on=date(2027, 1, 12),
            meeting_place="Riverside Primary School, the SENCO's room",
            advice_due_by=date(2026, 12, 29),
        ),
        AnnualReviewOutcome.TYPE: AnnualReviewOutcome(
            **step,
            decided_on=d,
            decision="amend",
            summary="Good progress in speech; reading still behind.",
            amendments_proposed="Add weekly occupational therapy to section F.",
            respond_by=date(2026, 12, 8),
        ),
        EhcPlanCeased.TYPE: EhcPlanCeased(
            case_id=CASE,
            pupil_id=PUPIL,
            upn="A801200000001",
            ceased_on=d,
            reason="The outcomes in the plan have been met.",
            continues_on_sen_support=True,
            school_urn=school_urn,
            child_name=CHILD,
            people_to_tell=people,
            mediation_contact_by=date(2027, 1, 25),
            appeal_deadline=date(2027, 1, 25),
        ),
        InvitationIssued.TYPE: InvitationIssued(
            invitation_id=CASE,
            pupil_id=PUPIL,
            school_urn=school_urn,
            given_name=CHILD_GIVEN,
            family_name=CHILD_FAMILY,
            role=Role.YOUNG_PERSON if young else Role.PARENT,
            relationship=invited.relationship,
            code="K7QM-3XD9-TWPA",
            issued_on=d,
            expires_on=d + timedelta(days=14),
            invited_by_name="Mrs Aisha Khan, SENCO",
            invited_by_role=Role.SENCO,
            invited_by_organisation=f"school:{school_urn}",
            contact=ContactPoint(name="Mrs Aisha Khan, SENCO"),
            people_to_tell=[invited],
        ),
    }


def every_template_rendered(
    people: list[PersonToTell] | None = None,
    *,
    letters: LettersConfig | None = None,
    school_urn: str = SCHOOL_URN,
    at: datetime = SENT_AT,
) -> list[RenderedMessage]:
    """Every message of every template (each statutory event's, and a professional notice) for Łukasz's family
    (`people`: his parents by default), as the notifications service writes them on `at` under the LA's letters
    configuration (`letters`: Durham's by default): one per person per duty, and the complete letter sent besides a
    text or a notice."""
    people = PARENTS if people is None else people
    app = Notifications(env=IN_MEMORY_ENV)
    app.letters_config = letters or config()
    made: list[tuple[str, Notification]] = []
    for sequence, (event_type, fact) in enumerate(every_statutory_event(people, school_urn=school_urn).items(), 1):
        payload = DUTIES[event_type].payload.model_validate(fact.model_dump(mode="json"))
        envelope = wrap(payload, event_type.split(".")[0], sequence, PUPIL, school_urn, CASE)
        owed = as_actor(caseworker(), at, when_duty_to_tell_arises_owe_notifications, app, envelope)
        made += [(event_type, n) for n in owed]
    ids = as_actor(
        caseworker(),
        at,
        app.request_professional_notice,
        notice_id=derived_id("notice", "Łukasz"),
        pupil_id=PUPIL,
        case_id=CASE,
        school_urn=school_urn,
        child_name=CHILD,
        about=f"Annual review of {CHILD}'s EHC plan",
        details="Please send a short update on progress towards the outcomes in section E.",
        respond_by=date(2026, 12, 29),
        event_on=date(2027, 1, 12),
        people_to_tell=[PROFESSIONAL],
        contact=ContactPoint(name="SEN Casework Team"),
    )
    made += [(RequestProfessionalNotice.SUBJECT, app.notification(i)) for i in ids]
    return [_message(event_type, n) for event_type, n in made if n.content is not None]


def _message(event_type: str, n: Notification) -> RenderedMessage:
    content = n.content or {}
    return RenderedMessage(
        event_type=event_type,
        duty=n.duty,
        notification_id=n.id,
        recipient=n.recipient or {},
        subject=content["subject"],
        body=content["body"],
        sms=content["sms"],
        letter=content["letter"],
        letter_html=content["letter_html"],
        reference=content["reference"],
        dated_on=content["dated_on"],
        sender=n.facts["sender"],
        contact=n.facts["contact"],
        help=n.facts["help"],
        signposts=SIGNPOSTING[n.duty],
        content_hash=n.content_hash or "",
        companion_of=n.companion_of,
        channel=n.channel,
    )
