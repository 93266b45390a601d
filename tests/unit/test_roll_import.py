"""Importing a school roll from its information system's CSV export (in-memory store)."""

import pytest

from services.register.application import Register
from services.runtime.errors import DomainError, NotAuthorised, NotFound
from services.runtime.eventstore import IN_MEMORY_ENV
from tests.conftest import SCHOOL_DAY
from tests.support.factories import OTHER_SCHOOL, caseworker, senco, teacher, upn
from tests.support.inmemory import as_actor, pupil_view
from tests.support.register_factories import ROLL_DAY, roll_csv


@pytest.fixture
def app() -> Register:
    return Register(env=IN_MEMORY_ENV)


def import_roll(app: Register, text: str, actor=None, urn: str = "123456"):
    return as_actor(
        actor or senco(urn),
        SCHOOL_DAY,
        app.import_roll,
        school_urn=urn,
        file_name="roll.csv",
        csv_text=text,
        on_roll_from=ROLL_DAY,
    )


def test_a_roll_is_imported_with_its_parents_and_bad_rows_are_reported_by_line_and_field(app: Register) -> None:
    good = upn(50)
    bad = ("B" if good[0] != "B" else "C") + good[1:]  # a mistyped check letter
    text = roll_csv(
        range(1, 6),
        extra_rows=[
            f"{bad},Bad,Check,14/03/2017,5,,,",  # mistyped UPN: wrong check letter
            f"{upn(6)},Old,Too,01/01/1990,5,,,",
            f"{upn(7)},Future,Born,01/01/2027,5,,,",
            f"{upn(8)},Odd,Year,14/03/2017,Y19,,,",
            f"{upn(1)},Again,Twice,14/03/2017,5,,,",
            f"{upn(9)},Bad,Email,14/03/2017,5,Pat,father,not-an-email",
            f"{upn(10)},,Noname,14/03/2017,5,,,",
        ],
    )
    report = import_roll(app, text)
    assert (report.rows, report.enrolled, report.updated, report.unchanged) == (12, 5, 0, 0)
    problems = {(r.row, r.field) for r in report.rejected}
    assert problems == {
        (7, "upn"),
        (8, "date_of_birth"),
        (9, "date_of_birth"),
        (10, "year_group"),
        (11, "upn"),
        (12, "contact_1_email"),
        (13, "family_name"),
    }
    assert "check letter" in next(r.problem for r in report.rejected if r.row == 7)
    assert "also on line 2" in next(r.problem for r in report.rejected if r.row == 11)
    assert "years old" in next(r.problem for r in report.rejected if r.row == 8)
    pupil = pupil_view(app, caseworker(), SCHOOL_DAY, upn(3))
    assert pupil.year_group == 5 and pupil.people_with_parental_responsibility[0].email == "parent3@example.org"
    with pytest.raises(NotFound):
        pupil_view(app, caseworker(), SCHOOL_DAY, upn(6))


def test_the_same_file_twice_is_refused_and_changes_nothing(app: Register) -> None:
    text = roll_csv(range(1, 4))
    import_roll(app, text)
    before = app.max_notification_id()
    with pytest.raises(DomainError) as e:
        import_roll(app, text.replace("\n", "\r\n"))
    assert e.value.rule == "duplicate_import" and e.value.field == "csv_text" and "already imported" in e.value.message
    assert app.max_notification_id() == before


def test_a_later_export_updates_only_what_changed(app: Register) -> None:
    import_roll(app, roll_csv(range(1, 4)))
    report = import_roll(app, roll_csv(range(1, 5)).replace(f"{upn(2)},Pupil2,Alex", f"{upn(2)},Pupil2,Alexa"))
    assert (report.enrolled, report.updated, report.unchanged) == (1, 1, 2)
    assert pupil_view(app, caseworker(), SCHOOL_DAY, upn(2)).given_name == "Alexa"


@pytest.mark.parametrize(
    ("text", "rule"),
    [
        ("", "empty_file"),
        ("   \n\n", "empty_file"),
        ("UPN,Surname,Forename,DOB\n", "empty_file"),
        ("\x00\x01garbage;;;\nmore garbage\n", "garbled_file"),
        ("Name,Class\nSam,4B\n", "garbled_file"),
    ],
)
def test_an_empty_or_garbled_file_is_refused_whole(app: Register, text: str, rule: str) -> None:
    with pytest.raises(DomainError) as e:
        import_roll(app, text)
    assert e.value.rule == rule and e.value.field == "csv_text"
    assert app.max_notification_id() == 0


def test_a_pupil_on_another_schools_roll_is_a_rejected_row_not_a_takeover(app: Register) -> None:
    import_roll(app, roll_csv(range(1, 3)))
    report = import_roll(app, roll_csv(range(2, 4)), urn=OTHER_SCHOOL)
    assert report.enrolled == 1
    [row] = report.rejected
    assert row.field == "upn" and "123456" in row.problem
    assert pupil_view(app, caseworker(), SCHOOL_DAY, upn(2)).school_urn == "123456"


@pytest.mark.parametrize("actor", [teacher(), senco(OTHER_SCHOOL)])
def test_only_the_schools_senco_imports_its_roll(app: Register, actor) -> None:
    with pytest.raises(NotAuthorised):
        import_roll(app, roll_csv(range(1, 3)), actor=actor)
    assert app.max_notification_id() == 0
