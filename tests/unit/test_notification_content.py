"""What each person is told: one notification per person per duty, content that names the deadline and
the appeal rights, hashed; nobody without a usable contact detail is silently dropped."""

from datetime import date, timedelta
from uuid import uuid4

import pytest

from contracts.ehcp import (
    DraftEhcPlanIssued,
    EhcNeedsAssessmentRefused,
    EhcPlanCeased,
    EhcPlanFinalised,
)
from contracts.envelope import Role, derived_id
from contracts.identifiers import NeedType
from contracts.people import Channel, ContactPoint, PersonToTell, PostalAddress
from services.notifications.application import Notifications
from services.notifications.content import content_hash
from services.notifications.domain.notification import (
    Notification,
    NotificationError,
    channel_plan,
)
from services.notifications.policies import (
    DUTIES,
    when_duty_to_tell_arises_owe_notifications,
)
from services.runtime.eventstore import IN_MEMORY_ENV
from tests.conftest import SCHOOL_DAY
from tests.support.factories import caseworker
from tests.support.inmemory import as_actor
from tests.support.register_events import father, mother, pupil_added, wrap

CASE, PUPIL = uuid4(), uuid4()
CONTACT = ContactPoint(name="SEND Casework Team", email="send@durham.gov.uk", phone="03000 267 267")


def owe(envelope):
    app = Notifications(env=IN_MEMORY_ENV)
    return app, as_actor(caseworker(), SCHOOL_DAY, when_duty_to_tell_arises_owe_notifications, app, envelope)


def draft_plan(people):
    fact = DraftEhcPlanIssued(
        case_id=CASE,
        pupil_id=PUPIL,
        upn="A801200000001",
        school_urn="123456",
        child_name="Sam Taylor",
        people_to_tell=people,
        contact=CONTACT,
        issued_on=date(2026, 11, 23),
        respond_by=date(2026, 12, 8),
        final_plan_due_by=date(2027, 1, 20),
    )
    return wrap(fact, "ehcp", 7, PUPIL, "123456", CASE)


def test_everyone_with_parental_responsibility_gets_their_own_notification() -> None:
    _, owed = owe(pupil_added(1, [mother(1), father(1)]))
    assert [n.recipients for n in owed] == ["Alex Taylor1 (mother)", "Jordan Reed1 (father)"]
    assert len({n.id for n in owed}) == 2
    assert all(n.status == "rendered" for n in owed)
    assert "\nDear Alex Taylor1,\n" in owed[0].content["body"]
    assert owed[1].channel == "letter"  # the father's preference; he has only a postal address


def test_a_person_named_twice_in_one_event_is_told_once() -> None:
    _, owed = owe(pupil_added(8, [mother(8), mother(8), father(8)]))
    assert [n.recipients for n in owed] == ["Alex Taylor8 (mother)", "Jordan Reed8 (father)"]


def test_the_draft_plan_letter_names_the_15_day_deadline_and_who_to_contact() -> None:
    _, [n] = owe(draft_plan([mother()]))
    body = n.content["body"]
    assert "Tuesday 8 December 2026 (15 days)" in body
    assert "reply by Tuesday 8 December 2026" in n.content["subject"]
    assert "SEND Casework Team, email send@durham.gov.uk, telephone 03000 267 267" in body
    assert "Reply by" in n.content["sms"] or "reply by Tuesday 8 December 2026" in n.content["sms"]
    c = n.content
    assert n.content_hash == content_hash(c["subject"], body, c["sms"], c["letter"], c["letter_html"])


def test_a_refusal_to_assess_states_the_appeal_deadline_and_mediation_first() -> None:
    fact = EhcNeedsAssessmentRefused(
        case_id=CASE,
        pupil_id=PUPIL,
        upn="A801200000001",
        child_name="Sam Taylor",
        people_to_tell=[mother()],
        decided_on=date(2026, 11, 23),
        reasons="The school's SEN support is meeting Sam's needs.",
        mediation_contact_by=date(2027, 1, 23),
        appeal_deadline=date(2027, 1, 23),
    )
    _, [n] = owe(wrap(fact, "ehcp", 3, PUPIL))
    body = n.content["body"]
    assert "First-tier Tribunal" in body and "The last day to appeal is Saturday 23 January 2027," in body
    assert "one month from the date on your mediation certificate if that is later" in body
    assert "mediation adviser, by Saturday 23 January 2027" in body
    assert "Our reasons: The school's SEN support is meeting Sam's needs." in body
    # no contact given: the LA's SEND team, with its mailbox and telephone, from the LA's letters configuration
    assert "SEND Casework Team, email send.casework@demo-council.example.org, telephone 03069 990 100" in body


def test_final_plan_and_ceasing_published_without_the_new_fields_still_record_a_visible_fact() -> None:
    finalised = EhcPlanFinalised(
        case_id=CASE,
        pupil_id=PUPIL,
        upn="A801200000001",
        school_urn="123456",
        issued_on=date(2026, 11, 23),
        primary_need=NeedType.ASD,
    )
    _, [n] = owe(wrap(finalised, "ehcp", 9, PUPIL, "123456", CASE))
    assert n.status == "cannot_notify" and n.content["subject"].startswith("Your child's final EHC plan")
    ceased = EhcPlanCeased(
        case_id=CASE,
        pupil_id=PUPIL,
        upn="A801200000001",
        ceased_on=date(2026, 12, 1),
        reason="Sam has met the outcomes in the plan.",
        continues_on_sen_support=True,
        people_to_tell=[mother()],
        appeal_deadline=date(2027, 2, 1),
    )
    _, [n] = owe(wrap(ceased, "ehcp", 10, PUPIL))
    assert "The last day to appeal is Monday 1 February 2027," in n.content["body"]
    assert "carry on giving extra help through SEN support" in n.content["body"]


def test_a_person_with_no_usable_contact_detail_is_a_recorded_cannot_notify_fact() -> None:
    unreachable = mother(2, email=None, mobile=None, postal_address=None)
    _, [n] = owe(pupil_added(2, [unreachable]))
    assert n.status == "cannot_notify"
    assert "No usable contact detail for Alex Taylor2 (mother)" in n.reason
    assert n.content is not None  # written all the same, so the school can hand it over


def test_a_child_looked_after_is_written_to_through_the_people_the_register_names() -> None:
    social_worker = PersonToTell(
        person_id=derived_id("person", "sw"),
        name="Priya Shah",
        relationship="social worker",
        has_parental_responsibility=True,
        email=None,
        postal_address=PostalAddress(lines=["Children's Services", "County Hall"], town="Durham", postcode="DH1 5UL"),
        preferred_channel=Channel.LETTER,
    )
    _, [n] = owe(pupil_added(3, [social_worker]))  # the register names the social worker only
    assert n.recipient["postal_address"]["lines"] == ["Children's Services", "County Hall"]
    assert n.channel == "letter" and "\nDear Priya Shah,\n" in n.content["letter"]
    letter = n.content["letter"].splitlines()
    at = letter.index("Priya Shah")  # the address block, under the school's name
    assert letter[at : at + 5] == ["Priya Shah", "Children's Services", "County Hall", "Durham", "DH1 5UL"]
    # the only addresses on the letter are the social worker's and the school's (its contact block): the contracts
    # never carry the child's
    assert [line for line in letter if "DH" in line or "DT" in line] == ["DH1 5UL", "DT5 6FF"]
    assert '<address class="recipient">\n<bdi>Priya Shah</bdi><br>' in n.content["letter_html"]
    # and so on paper: the letter printed (from its HTML) has her address in the window, and no other but the school's
    from infra.demo.outbox import pdf_text
    from services.notifications.adapters.letters import letter_pdf

    c = n.content
    printed = pdf_text(letter_pdf(n.recipient, c["subject"], c["body"], c["letter_html"]))
    at = printed.index("Priya Shah")
    assert printed[at : at + 5] == ["Priya Shah", "Children's Services", "County Hall", "Durham", "DH1 5UL"]
    assert [line for line in printed if "DH" in line or "DT" in line] == ["DH1 5UL", "DT5 6FF"]


def test_channels_are_tried_preferred_first_then_the_others_the_person_can_be_reached_on() -> None:
    assert channel_plan(mother(preferred_channel=Channel.SMS).model_dump(mode="json")) == ["sms", "email", "letter"]
    assert channel_plan(father().model_dump(mode="json")) == ["letter"]
    assert channel_plan(None) == []


def _sending(n: Notification, channel: str) -> None:
    as_actor(caseworker(), SCHOOL_DAY, n.start_sending, channel)


def test_a_permanent_failure_falls_back_to_the_next_channel_and_then_fails_to_reach() -> None:
    _, [n] = owe(pupil_added(4, [mother(4, mobile=None)]))  # email, then letter
    _sending(n, "email")
    as_actor(
        caseworker(),
        SCHOOL_DAY,
        n.record_failure,
        "email",
        "address does not exist",
        True,
        SCHOOL_DAY,
        timedelta(seconds=10),
        5,
    )
    assert (n.status, n.channel, n.unreachable) == ("retry_due", "letter", ["email"])
    assert n.is_due(SCHOOL_DAY)
    _sending(n, "letter")
    as_actor(
        caseworker(),
        SCHOOL_DAY,
        n.record_failure,
        "letter",
        "returned: addressee unknown",
        True,
        SCHOOL_DAY,
        timedelta(seconds=10),
        5,
    )
    assert (n.status, n.unreachable) == ("failed", ["email", "letter"])


def test_a_transient_failure_waits_for_the_backoff_then_gives_up_on_the_channel_after_max_attempts() -> None:
    _, [n] = owe(pupil_added(5, [mother(5)]))
    for _attempt in (1, 2):
        _sending(n, "email")
        as_actor(
            caseworker(),
            SCHOOL_DAY,
            n.record_failure,
            "email",
            "server busy",
            False,
            SCHOOL_DAY,
            timedelta(seconds=30),
            2,
        )
    assert n.channel == "letter" and n.unreachable == ["email"]  # two transient failures: the next channel
    n2 = owe(pupil_added(6, [mother(6)]))[1][0]
    _sending(n2, "email")
    as_actor(
        caseworker(), SCHOOL_DAY, n2.record_failure, "email", "server busy", False, SCHOOL_DAY, timedelta(seconds=30), 5
    )
    assert n2.status == "retry_due" and not n2.is_due(SCHOOL_DAY)
    assert n2.is_due(SCHOOL_DAY + timedelta(seconds=30))


def test_a_sent_notification_cannot_be_sent_again_or_cancelled() -> None:
    _, [n] = owe(pupil_added(7, [mother(7)]))
    _sending(n, "email")
    with pytest.raises(NotificationError):
        _sending(n, "email")
    as_actor(caseworker(), SCHOOL_DAY, n.record_sent, "email", "ref", "sent")
    with pytest.raises(NotificationError, match="cannot be cancelled"):
        as_actor(caseworker(), SCHOOL_DAY, n.cancel, "pupil left")


def test_every_statutory_step_has_a_template_that_renders() -> None:
    # Each duty's template exists and renders from the event's own fields (StrictUndefined catches gaps).
    from services.notifications.content import TEMPLATES

    for rule in DUTIES.values():
        assert (TEMPLATES / f"{rule.duty.value}.j2").exists(), rule.duty


def _every_statutory_event():
    from contracts.ehcp import (
        AdviceRequested,
        AnnualReviewInvitation,
        AnnualReviewOutcome,
        EhcNeedsAssessmentAgreed,
        EhcPlanNotToBeIssued,
        EhcRequestReceived,
    )
    from contracts.plans import SupportPlanReviewOutcomeShared
    from contracts.register import (
        InvitationIssued,
        PupilRemovedFromSenRegister,
        SpecialEducationalProvisionMade,
    )

    d = date(2026, 11, 23)
    step = dict(case_id=CASE, pupil_id=PUPIL, upn="A801200000001", child_name="Sam Taylor", people_to_tell=[mother()])
    register = dict(
        pupil_id=PUPIL,
        upn="A801200000001",
        school_urn="123456",
        given_name="Sam",
        family_name="Taylor",
        effective_date=d,
        people_to_tell=[mother()],
    )
    return {
        "register.pupil_added_to_sen_support": pupil_added(1, [mother()]).payload,
        "register.pupil_removed_from_sen_register": PupilRemovedFromSenRegister(
            **register, reason="Caught up with peers."
        ),
        "register.special_educational_provision_made": SpecialEducationalProvisionMade(
            **register, provision="Weekly speech and language sessions."
        ),
        "plans.review_outcome_shared": SupportPlanReviewOutcomeShared(
            plan_id=CASE,
            pupil_id=PUPIL,
            school_urn="123456",
            child_name="Sam Taylor",
            reviewed_on=d,
            outcome="Continue small-group reading.",
            people_to_tell=[mother()],
        ),
        "ehcp.request_received": EhcRequestReceived(
            **step, received_on=d, requested_by="the school", decision_due_by=date(2027, 1, 4)
        ),
        "ehcp.needs_assessment_agreed": EhcNeedsAssessmentAgreed(
            **step, decided_on=d, plan_decision_due_by=date(2027, 4, 12)
        ),
        "ehcp.needs_assessment_refused": EhcNeedsAssessmentRefused(
            **step,
            decided_on=d,
            reasons="Needs met at SEN support.",
            mediation_contact_by=date(2027, 1, 23),
            appeal_deadline=date(2027, 1, 23),
        ),
        "ehcp.advice_requested": AdviceRequested(
            **{**step, "people_to_tell": [mother(relationship="educational psychologist")]},
            advice_kind="educational psychology advice",
            requested_on=d,
            advice_due_by=date(2027, 1, 4),
        ),
        "ehcp.plan_not_to_be_issued": EhcPlanNotToBeIssued(
            **step,
            decided_on=d,
            reasons="Needs can be met without a plan.",
            mediation_contact_by=date(2027, 1, 23),
            appeal_deadline=date(2027, 1, 23),
        ),
        "ehcp.draft_plan_issued": DraftEhcPlanIssued(
            **step, issued_on=d, respond_by=date(2026, 12, 8), final_plan_due_by=date(2027, 1, 20)
        ),
        "ehcp.plan_finalised": EhcPlanFinalised(
            case_id=CASE,
            pupil_id=PUPIL,
            upn="A801200000001",
            school_urn=None,
            issued_on=d,
            primary_need=NeedType.ASD,
            child_name="Sam Taylor",
            people_to_tell=[mother()],
            mediation_contact_by=date(2027, 1, 23),
            appeal_deadline=date(2027, 1, 23),
        ),
        "ehcp.annual_review_invitation": AnnualReviewInvitation(
            **step, meeting_on=date(2027, 1, 12), meeting_place="Durham Primary School"
        ),
        "ehcp.annual_review_outcome": AnnualReviewOutcome(
            **step,
            decided_on=d,
            decision="amend",
            summary="Progress in reading.",
            amendments_proposed="Add weekly occupational therapy.",
            respond_by=date(2026, 12, 8),
        ),
        "ehcp.plan_ceased": EhcPlanCeased(
            case_id=CASE,
            pupil_id=PUPIL,
            upn="A801200000001",
            ceased_on=d,
            reason="Moved to another LA.",
            continues_on_sen_support=False,
            people_to_tell=[mother()],
        ),
        "register.invitation_issued": InvitationIssued(
            invitation_id=CASE,
            pupil_id=PUPIL,
            school_urn="123456",
            given_name="Sam",
            family_name="Taylor",
            role=Role.PARENT,
            relationship="mother",
            code="K7QM-3XD9-TWPA",
            issued_on=d,
            expires_on=d + timedelta(days=14),
            invited_by_name="Mrs A Khan, SENCO",
            invited_by_role=Role.SENCO,
            invited_by_organisation="school:123456",
            contact=ContactPoint(name="Mrs A Khan, SENCO"),
            people_to_tell=[mother()],
        ),
    }


@pytest.mark.parametrize("event_type", list(DUTIES))
def test_every_statutory_step_is_told_plainly_with_its_dates(event_type: str) -> None:
    fact = _every_statutory_event()[event_type]
    payload = fact if isinstance(fact, dict) else fact.model_dump(mode="json")
    env = wrap(DUTIES[event_type].payload.model_validate(payload), event_type.split(".")[0], 5, PUPIL, "123456", CASE)
    _, [n] = owe(env)
    body = n.content["body"]
    for heading in ("What this means", "What you can do next", "Who to contact"):
        assert heading in body
    assert "None" not in body and "  " not in n.content["subject"]
    from services.notifications.content import long_date

    dates = [
        v
        for k, v in payload.items()
        if k.endswith(("_by", "_deadline", "_on", "_date")) and v and k != "date_of_birth" and str(v)[:2] == "20"
    ]
    for value in dates:  # every deadline and date the event carries is stated in the letter
        assert long_date(value) in body, (event_type, value)
    assert len(n.content["sms"]) <= 306  # two SMS fragments at most


def test_a_letter_that_cannot_be_written_is_a_recorded_fact_not_a_lost_duty() -> None:
    from contracts.notifications import Duty

    app = Notifications(env=IN_MEMORY_ENV)
    facts = {
        "child_name": "Sam Taylor",
        "issued_on": "2026-11-23",
        "contact": {"name": "SEND team", "email": None, "phone": None},
    }
    [n] = as_actor(
        caseworker(),
        SCHOOL_DAY,
        app.owe,
        cause_event_id=uuid4(),
        cause_event_type="ehcp.draft_plan_issued",
        duty=Duty.EHC_DRAFT_PLAN,
        pupil_id=PUPIL,
        case_id=CASE,
        school_urn=None,
        owed_since=date(2026, 11, 23),
        about="Sam Taylor",
        facts=facts,
        people=[mother().model_dump(mode="json")],
        nobody_reason="-",
    )
    assert n.status == "cannot_notify" and "'respond_by' is undefined" in n.reason and n.content is None
