"""The subject access export's pure parts: the day to answer by, and text that cannot break the HTML."""

from datetime import UTC, date, datetime
from uuid import UUID

from contracts.subject_access import HeldFact, HeldPage, HeldRecord
from infra.cli.subject_access_export import RequestDetails, SubjectAccessPolicy, assemble, label, to_html
from services.register.domain.subject_access import one_month_after


def test_the_day_to_answer_by_is_the_same_date_next_month_or_its_last_day_never_a_weekend() -> None:
    assert one_month_after(date(2026, 11, 2)) == date(2026, 12, 2)  # a Wednesday
    assert one_month_after(date(2027, 1, 31)) == date(2027, 3, 1)  # 28 February 2027 is a Sunday
    assert one_month_after(date(2028, 1, 31)) == date(2028, 2, 29)  # a leap year's last day, a Tuesday
    assert one_month_after(date(2026, 12, 15)) == date(2027, 1, 15)
    assert one_month_after(date(2026, 10, 24)) == date(2026, 11, 24)  # Tuesday
    assert one_month_after(date(2026, 9, 28)) == date(2026, 10, 28)
    assert one_month_after(date(2026, 6, 1)) == date(2026, 7, 1)
    assert one_month_after(date(2026, 7, 4)) == date(2026, 8, 4)
    assert one_month_after(date(2026, 9, 3)) == date(2026, 10, 5)  # 3 October 2026 is a Saturday


def test_names_read_as_words() -> None:
    assert label("AddedToSenSupport") == "Added to SEN support"
    assert label("date_of_birth") == "Date of birth"
    assert label("senco") == "SENCO"


def test_what_people_typed_is_shown_as_text_never_as_markup() -> None:
    pupil = UUID(int=1)
    now = datetime(2026, 11, 23, 10, 30, tzinfo=UTC)
    hostile = '<script>alert("x")</script> & <img src=x onerror=alert(1)>'
    page = HeldPage(
        service="register",
        pupil_id=pupil,
        erased=False,
        records=[
            HeldRecord(
                record_id=pupil,
                record_kind="Pupil",
                shown_as="record",
                first_recorded_at=now,
                last_changed_at=now,
                as_it_stands={"given_name": hostile, "family_name": "X"},
            )
        ],
        facts=[
            HeldFact(
                position=1,
                recorded_at=now,
                record_id=pupil,
                record_kind="Pupil",
                what="ConcernNoted",
                by_user="a@b.sch.uk",
                by_role="senco",
                by_organisation="school:123456",
                details={"note": hostile},
            )
        ],
    )
    export = assemble(
        pupil,
        {"register": [page]},
        SubjectAccessPolicy(),
        request=RequestDetails("SAR-1", "parent", date(2026, 11, 2), date(2026, 12, 2), 1),
        produced_at=now,
        produced_by={"user": "o@la.gov.uk", "role": "data_officer", "organisation": "la:840"},
        la_code="840",
    )
    html = to_html(export)
    assert "<script" not in html and "<img" not in html
    assert "&lt;script&gt;" in html
    assert "a@b.sch.uk" not in html and "o@la.gov.uk" not in html
