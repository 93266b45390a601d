"""Replies rendered for people: what a SENCO, a caseworker or a data officer needs is in the text, in words."""

from __future__ import annotations

from datetime import UTC, date, datetime
from uuid import UUID, uuid4

import pytest

from contracts.envelope import Accepted, Answered, FieldError, PupilRef, Rejected, RejectionCode, ServiceHealth
from contracts.identifiers import NeedType, SenStatus
from contracts.notifications import CountsView, Duty, NotificationStatus, NotificationView
from contracts.people import Channel, PersonToTell, PostalAddress
from contracts.register import (
    CensusFile,
    CountLine,
    GetRollImport,
    HistoryEntry,
    PostalAddressForProtection,
    PupilStatusChange,
    PupilView,
    RecordLookedAfter,
    RegisterAsAt,
    RegisterCounts,
    RegisterEntry,
    RejectedRow,
    RollImportReport,
)
from infra.cli.render import NEED_NAMES, format_date, format_datetime, render, render_rejection
from tests.support.factories import SCHOOL, upn

# What must never be printed: a parent's own address is for sending letters, and a child looked after's
# protected address is never shown anywhere.
PARENT_ADDRESS = PostalAddress(lines=["12 Front Street"], town="Durham", postcode="DH1 3AB")
PROTECTED = PostalAddressForProtection(lines=["7 Hidden Row"], town="Chester-le-Street", postcode="DH3 9ZZ")
NEVER = ["12 Front Street", "DH1 3AB", "7 Hidden Row", "DH3 9ZZ", "Chester-le-Street"]


def assert_no_address(text: str) -> None:
    for words in NEVER:
        assert words not in text


def mother() -> PersonToTell:
    return PersonToTell(
        person_id=uuid4(),
        name="Alex Taylor",
        relationship="mother",
        has_parental_responsibility=True,
        email="alex.taylor@example.org",
        mobile="07700 900123",
        postal_address=PARENT_ADDRESS,
        preferred_channel=Channel.EMAIL,
    )


def social_worker() -> PersonToTell:
    return PersonToTell(
        person_id=uuid4(),
        name="Priya Shah",
        relationship="social worker",
        has_parental_responsibility=True,
        email="priya.shah@durham.gov.uk",
        preferred_channel=Channel.LETTER,
    )


def added_to_sen_support() -> PupilStatusChange:
    return PupilStatusChange(
        recorded_at=datetime(2026, 11, 3, 14, 5, tzinfo=UTC),
        effective_date=date(2026, 11, 3),
        status=SenStatus.SEN_SUPPORT,
        primary_need=NeedType.ASD,
        secondary_need=NeedType.SLCN,
        reason="Little progress after a full APDR cycle [urgent]",
        evidence_reference="APDR review 3 Nov 2026",
        by_user=f"senco@{SCHOOL}.sch.uk",
        by_role="senco",
        by_organisation=f"school:{SCHOOL}",
    )


def pupil_view(**changes: object) -> PupilView:
    values: dict[str, object] = {
        "pupil_id": uuid4(),
        "upn": upn(1),
        "given_name": "Sam",
        "family_name": "Taylor",
        "date_of_birth": date(2017, 3, 14),
        "school_urn": SCHOOL,
        "status": SenStatus.SEN_SUPPORT,
        "primary_need": NeedType.ASD,
        "secondary_need": NeedType.SLCN,
        "history": [added_to_sen_support()],
        "year_group": 4,
        "on_monitoring_list": False,
        "people_with_parental_responsibility": [mother(), social_worker()],
        "looked_after": True,
        "pep_reference": "PEP-42",
        "protected_address_held": True,
        "eal": True,
        "medical_needs": True,
        "healthcare_plan_reference": "IHP-7",
        "consent_to_share": {
            "given_by": "parent",
            "given_by_name": "Alex Taylor",
            "given_on": "2026-10-01",
            "withdrawn_on": None,
        },
        "ehc_plans": [],
        "awaiting_acknowledgement_from": None,
    }
    values.update(changes)
    return PupilView.model_validate(values)


def test_dates_read_day_month_year_and_times_are_london_time() -> None:
    assert format_date(date(2026, 11, 3)) == "3 Nov 2026"
    assert format_date("2027-01-21") == "21 Jan 2027"
    assert format_datetime(datetime(2026, 11, 3, 14, 5, tzinfo=UTC)) == "3 Nov 2026 14:05 GMT"
    assert format_datetime(datetime(2026, 7, 3, 9, 0, tzinfo=UTC)) == "3 Jul 2026 10:00 BST"  # summer time
    assert format_datetime(datetime(2026, 12, 31, 23, 30)) == "31 Dec 2026 23:30 GMT"  # naive: taken as UTC


def test_every_need_type_in_the_contracts_has_a_name() -> None:
    assert set(NEED_NAMES) == set(NeedType)


def test_pupil_card_names_the_pupil_their_status_and_needs_in_words() -> None:
    text = render(pupil_view())
    assert text.startswith("Sam Taylor\n")
    assert upn(1) in text and f"URN {SCHOOL}" in text and "14 Mar 2017" in text and "Year 4" in text
    assert "SEN support (K)" in text
    assert "autistic spectrum disorder (ASD)" in text and "communication and interaction" in text
    assert "speech, language and communication needs (SLCN)" in text
    assert "PEP-42" in text and "protected address held (never shown)" in text
    assert "healthcare plan IHP-7" in text
    assert "given by Alex Taylor (parent) on 1 Oct 2026" in text


def test_pupil_card_lists_the_people_to_tell_and_the_status_history() -> None:
    text = render(pupil_view(), width=200)
    assert "Alex Taylor" in text and "mother" in text and "email" in text
    assert "Priya Shah" in text and "social worker" in text and "letter" in text
    history = text[text.index("Status history") :]
    assert "3 Nov 2026 14:05 GMT" in history and "SEN support (K)" in history
    assert "[urgent]" in history  # a reason is printed as written, never read as markup
    assert "evidence: APDR review 3 Nov 2026" in history
    assert f"senco@{SCHOOL}.sch.uk (SENCO, school:{SCHOOL})" in history


def test_pupil_card_never_shows_an_address_or_a_contact_detail() -> None:
    text = render(pupil_view(), width=200)
    assert_no_address(text)
    assert "alex.taylor@example.org" not in text and "07700 900123" not in text


def test_pupil_card_of_an_ehc_plan_pupil_after_a_transfer() -> None:
    case = uuid4()
    consent = {
        "given_by": "parent",
        "given_by_name": "Alex Taylor",
        "given_on": "2026-10-01",
        "withdrawn_on": "2026-11-01",
    }
    text = render(
        pupil_view(
            status=SenStatus.EHC_PLAN,
            ehc_plans=[str(case)],
            looked_after=False,
            pep_reference=None,
            protected_address_held=False,
            on_monitoring_list=True,
            awaiting_acknowledgement_from="654321",
            consent_to_share=consent,
            people_with_parental_responsibility=[],
            history=[],
        )
    )
    assert "EHC plan (E)" in text and f"case {case}" in text
    assert "monitoring, not on the SEN register" in text
    assert "Moved here from school 654321" in text
    assert "withdrawn on 1 Nov 2026" in text
    assert "none recorded" in text and "no changes recorded" in text


def register_as_at() -> RegisterAsAt:
    def entry(
        serial: int,
        given: str,
        family: str,
        year: int,
        status: SenStatus,
        primary: NeedType,
        secondary: NeedType | None = None,
    ) -> RegisterEntry:
        return RegisterEntry(
            pupil_id=uuid4(),
            upn=upn(serial),
            given_name=given,
            family_name=family,
            year_group=year,
            status=status,
            primary_need=primary,
            secondary_need=secondary,
            primary_area=primary.broad_area.value,
        )

    return RegisterAsAt(
        school_urn=SCHOOL,
        as_at=date(2027, 1, 21),
        roll=100,
        entries=[
            entry(1, "Sam", "Taylor", 4, SenStatus.SEN_SUPPORT, NeedType.ASD),
            entry(2, "Ella", "Jones", 0, SenStatus.EHC_PLAN, NeedType.SEMH, NeedType.SPLD),
        ],
    )


def test_school_register_lists_each_pupil_with_status_and_needs_and_the_roll() -> None:
    text = render(register_as_at(), width=200)
    assert f"SEN register of school {SCHOOL} as at 21 Jan 2027" in text
    for column in ("UPN", "Name", "Year group", "Status", "Primary need", "Secondary need"):
        assert column in text
    sam = next(line for line in text.splitlines() if "Sam Taylor" in line)
    assert upn(1) in sam and "Year 4" in sam and "SEN support (K)" in sam and "autistic spectrum disorder (ASD)" in sam
    ella = next(line for line in text.splitlines() if "Ella Jones" in line)
    assert "Reception" in ella and "EHC plan (E)" in ella
    assert "social, emotional and mental health (SEMH)" in ella and "specific learning difficulty (SPLD)" in ella
    assert "2 of 100 pupils on the roll are on the SEN register (1 SEN support, 1 EHC plan), as at 21 Jan 2027" in text


def test_an_empty_la_register_says_so() -> None:
    text = render(RegisterAsAt(school_urn=None, as_at=date(2027, 1, 21), roll=40, entries=[]))
    assert "every school in the LA" in text and "Nobody is on the SEN register." in text
    assert "0 of 40 pupils" in text


def register_counts() -> RegisterCounts:
    return RegisterCounts(
        school_urn=None,
        as_at=date(2027, 1, 21),
        roll=300,
        sen_support=42,
        ehc_plan=10,
        sen_support_percent=14.0,
        ehc_plan_percent=3.3,
        national_sen_support_percent=14.2,
        national_ehc_plan_percent=5.3,
        national_label="England, January 2025",
        by_year_group=[
            CountLine(key="R", sen_support=3, ehc_plan=1, roll=40, sen_support_percent=7.5, ehc_plan_percent=2.5),
            CountLine(key="4", sen_support=8, ehc_plan=2, roll=45, sen_support_percent=17.8, ehc_plan_percent=4.4),
        ],
        by_primary_need=[
            CountLine(key="ASD", sen_support=10, ehc_plan=5, roll=300, sen_support_percent=3.3, ehc_plan_percent=1.7),
        ],
    )


def test_counts_show_percentages_beside_the_national_figures() -> None:
    text = render(register_counts())
    assert "every school in the LA as at 21 Jan 2027: 300 pupils on the roll" in text
    assert "England, January 2025" in text
    support = next(line for line in text.splitlines() if line.startswith("SEN support (K)"))
    assert support.split() == ["SEN", "support", "(K)", "42", "14.0%", "14.2%"]
    plan = next(line for line in text.splitlines() if line.startswith("EHC plan (E)"))
    assert plan.split() == ["EHC", "plan", "(E)", "10", "3.3%", "5.3%"]
    total = next(line for line in text.splitlines() if line.startswith("On the SEN register"))
    assert total.split()[-3:] == ["52", "17.3%", "19.5%"]


def test_counts_by_year_group_and_by_primary_need() -> None:
    text = render(register_counts())
    reception = next(line for line in text.splitlines() if line.startswith("Reception"))
    assert reception.split() == ["Reception", "40", "3", "7.5%", "1", "2.5%"]
    year4 = next(line for line in text.splitlines() if line.startswith("Year 4"))
    assert year4.split() == ["Year", "4", "45", "8", "17.8%", "2", "4.4%"]
    asd = next(line for line in text.splitlines() if "(ASD)" in line)
    assert "autistic spectrum disorder" in asd and asd.split()[-4:] == ["10", "3.3%", "5", "1.7%"]


def test_roll_import_report_gives_the_counts_and_each_rejected_row() -> None:
    report = RollImportReport(
        import_id=uuid4(),
        school_urn=SCHOOL,
        file_name="roll-2026.csv",
        rows=100,
        enrolled=95,
        updated=2,
        unchanged=0,
        rejected=[
            RejectedRow(row=7, field="UPN", problem="the check letter of UPN should be 'A': the UPN is mistyped"),
            RejectedRow(row=9, field="DOB", problem="not a date: 31/02/2017"),
        ],
    )
    text = render(report)
    assert "roll-2026.csv" in text and SCHOOL in text
    lines = text.splitlines()
    assert "Rows read:  100" in lines and "Enrolled:   95" in lines and "Rejected:   2" in lines
    assert "Line" in text and "Field" in text and "Problem" in text
    row7 = next(line for line in lines if "mistyped" in line)
    assert row7.split()[:2] == ["7", "UPN"]
    assert any(line.split()[:2] == ["9", "DOB"] and "31/02/2017" in line for line in lines)


def test_roll_import_with_nothing_rejected_says_so() -> None:
    report = RollImportReport(
        import_id=uuid4(),
        school_urn=SCHOOL,
        file_name="roll.csv",
        rows=3,
        enrolled=3,
        updated=0,
        unchanged=0,
        rejected=[],
    )
    assert "No rows were rejected." in render(report)


def test_pupil_history_is_a_table_of_who_did_what_and_when() -> None:
    entries = [
        HistoryEntry(
            recorded_at=datetime(2026, 7, 3, 9, 0, tzinfo=UTC),
            effective_date=date(2026, 7, 1),
            what="added to SEN support (K)",
            detail="needs ASD: little progress after APDR",
            school_urn=SCHOOL,
            by_user=f"senco@{SCHOOL}.sch.uk",
            by_role="senco",
            by_organisation=f"school:{SCHOOL}",
            evidence_reference="APDR review",
        ),
        HistoryEntry(
            recorded_at=datetime(2026, 12, 1, 16, 0, tzinfo=UTC),
            effective_date=None,
            what="child looked after",
            detail="PEP PEP-42; protected address held (never shown)",
            school_urn=SCHOOL,
            by_user="caseworker@la.gov.uk",
            by_role="la_caseworker",
            by_organisation="la:840",
        ),
    ]
    text = render(entries, width=200)
    for column in ("Recorded", "Effective", "What", "Detail", "By"):
        assert column in text
    first = next(line for line in text.splitlines() if "added to SEN support (K)" in line)
    assert "3 Jul 2026 10:00 BST" in first and "1 Jul 2026" in first and "evidence: APDR review" in first
    assert f"senco@{SCHOOL}.sch.uk (SENCO, school:{SCHOOL})" in first
    second = next(line for line in text.splitlines() if "child looked after" in line)
    assert "1 Dec 2026 16:00 GMT" in second and "caseworker@la.gov.uk (LA caseworker, la:840)" in second
    assert_no_address(text)


def test_the_census_extract_is_printed_exactly_as_it_came() -> None:
    csv = "URN,UPN,Surname,Forename\n123456,A801200000001,Taylor,Sam\n"
    assert render({"csv": csv}) == csv
    assert render(csv) == csv
    assert render(Answered(result={"csv": csv}, correlation_id=uuid4())) == csv
    assert render(CensusFile(csv=csv)) == csv  # the typed reply of CensusExtract
    assert render(Answered[CensusFile](result=CensusFile(csv=csv), correlation_id=uuid4())) == csv


def notification(status: NotificationStatus, **changes: object) -> NotificationView:
    now = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)
    values: dict[str, object] = {
        "notification_id": uuid4(),
        "duty": Duty.SEN_PROVISION_STARTED,
        "pupil_id": uuid4(),
        "case_id": None,
        "school_urn": SCHOOL,
        "person_id": uuid4(),
        "recipient_name": "Alex Taylor",
        "relationship": "mother",
        "recipients": "Alex Taylor (mother)",
        "status": status,
        "channel": "email",
        "reason": None,
        "unreachable_channels": [],
        "attempts": 1,
        "subject": "Sam now gets extra help at school",
        "body": "Dear Alex Taylor, ... 12 Front Street ...",
        "content_hash": "ab" * 32,
        "cause_event_id": uuid4(),
        "cause_event_type": "register.pupil_added_to_sen_support",
        "owed_since": date(2026, 11, 20),
        "recorded_at": now,
        "updated_at": now,
        "history": [],
    }
    values.update(changes)
    return NotificationView.model_validate(values)


def test_notifications_say_when_owed_what_duty_to_whom_how_and_why_not() -> None:
    found = [
        notification(NotificationStatus.DELIVERED),
        notification(
            NotificationStatus.FAILED,
            duty=Duty.EHC_FINAL_PLAN,
            recipients="Jordan Reed (father)",
            channel="letter",
            reason="the letter was returned",
            unreachable_channels=["email"],
        ),
        notification(
            NotificationStatus.CANNOT_NOTIFY,
            recipients="nobody recorded",
            channel=None,
            reason="nobody with parental responsibility is recorded",
        ),
    ]
    text = render(found, width=200)
    for column in ("Owed since", "Duty", "To", "Channel", "Status", "Reason"):
        assert column in text
    lines = text.splitlines()
    delivered = next(line for line in lines if "Alex Taylor (mother)" in line)
    assert "20 Nov 2026" in delivered and "tell parents: added to SEN support" in delivered
    assert "email" in delivered and "delivered" in delivered
    failed = next(line for line in lines if "Jordan Reed (father)" in line)
    assert "final EHC plan" in failed and "failed to reach" in failed and "letter" in failed
    assert "the letter was returned; could not reach by email" in failed
    nobody = next(line for line in lines if "nobody recorded" in line)
    assert "cannot notify" in nobody and "nobody with parental responsibility is recorded" in nobody
    assert "3 notifications." in text
    assert "12 Front Street" not in text  # the content stays out of the list


def test_no_notifications_found() -> None:
    assert render([]) == "Nothing found.\n"


def test_notification_counts_by_status_and_by_duty_in_words() -> None:
    by_duty = {"sen_provision_started": {"delivered": 3, "failed": 1}, "ehc_final_plan": {"failed": 1, "delivered": 1}}
    counts = CountsView(school_urn=SCHOOL, total=6, by_status={"failed": 2, "delivered": 4}, by_duty=by_duty)
    text = render(counts)
    assert f"Notifications for school {SCHOOL}: 6 in all" in text
    lines = text.splitlines()
    assert next(line for line in lines if line.startswith("delivered")).split() == ["delivered", "4"]
    assert next(line for line in lines if line.startswith("failed to reach")).split()[-1] == "2"
    started = next(line for line in lines if line.startswith("tell parents: added to SEN support"))
    assert started.split()[-3:] == ["3", "1", "4"]  # delivered, failed to reach, total
    final = next(line for line in lines if line.startswith("final EHC plan"))
    assert final.split()[-3:] == ["1", "1", "2"]


def test_a_rejection_is_its_message_then_each_field_and_its_problem() -> None:
    rejected = Rejected(
        code=RejectionCode.INVALID,
        message="The command is not valid: see the fields.",
        field_errors=[
            FieldError(field="command.pupil.upn", problem="a UPN is 13 characters"),
            FieldError(field="command.effective_date", problem="not a date"),
        ],
    )
    assert render_rejection(rejected) == (
        "The command is not valid: see the fields.\npupil.upn: a UPN is 13 characters\neffective_date: not a date\n"
    )
    assert render(rejected) == render_rejection(rejected)


def test_an_internal_error_gives_its_reference() -> None:
    reference = UUID("12345678-1234-5678-1234-567812345678")
    rejected = Rejected(
        code=RejectionCode.INTERNAL_ERROR, message="Something went wrong on our side.", correlation_id=reference
    )
    assert render_rejection(rejected) == f"Something went wrong on our side. (reference {reference})\n"
    rule = Rejected(
        code=RejectionCode.RULE_BROKEN, rule="already_on_sen_support", message="Sam Taylor is already on SEN support."
    )
    assert render_rejection(rule) == "Sam Taylor is already on SEN support.\n"


# --- the fallbacks ------------------------------------------------------------------------------------------


def test_any_other_model_is_a_field_and_value_list() -> None:
    health = ServiceHealth(
        service="register",
        pid=4242,
        started_at=datetime(2026, 11, 3, 8, 0, tzinfo=UTC),
        last_notification_id=17,
        relayed_up_to=16,
    )
    lines = render(health).splitlines()
    assert lines[0].split() == ["service:", "register"]
    assert lines[1].split() == ["pid:", "4242"]
    assert lines[2].split(None, 2) == ["started", "at:", "3 Nov 2026 08:00 GMT"]
    assert lines[4].split() == ["relayed", "up", "to:", "16"]


def test_a_list_of_other_models_is_a_table_of_their_fields() -> None:
    rows = [RejectedRow(row=7, field="UPN", problem="mistyped"), RejectedRow(row=9, field="DOB", problem="not a date")]
    lines = render(rows).splitlines()
    assert lines[0].split() == ["row", "field", "problem"]
    assert lines[2].split() == ["7", "UPN", "mistyped"]
    assert lines[3].split() == ["9", "DOB", "not", "a", "date"]


def test_a_plain_id_is_name_colon_value() -> None:
    import_id = uuid4()
    assert render(GetRollImport(import_id=import_id)) == f"import id: {import_id}\n"
    accepted = Accepted[PupilRef](result=PupilRef(pupil_id=import_id), correlation_id=uuid4())
    assert render(accepted) == f"Done.\npupil id: {import_id}\n"


@pytest.mark.parametrize(
    "value",
    [
        RecordLookedAfter(upn=upn(1), looked_after=True, pep_reference="PEP-42", protected_address=PROTECTED),
        PROTECTED,
        {"pep_reference": "PEP-42", "protected_address": PROTECTED.model_dump()},
        [RecordLookedAfter(upn=upn(1), looked_after=True, protected_address=PROTECTED)],
    ],
)
def test_the_fallbacks_never_print_a_protected_address(value: object) -> None:
    text = render(value, width=200)
    assert_no_address(text)
    assert "never shown" in text
