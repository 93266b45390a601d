"""Every text a contract carries can be stored and shown: NFC, no control characters, line breaks only in
free text. A roll row holding one is rejected as a row, never stored."""

import unicodedata
from datetime import date

import pytest
from pydantic import ValidationError

from contracts.envelope import EventEnvelope
from contracts.people import PersonToTell
from contracts.register import AddToSenSupport, ImportRoll, NoteConcern, RollImportReport
from services.register.application import Register
from services.runtime.eventstore import IN_MEMORY_ENV
from tests.conftest import SCHOOL_DAY
from tests.support.factories import add_to_sen_support, senco, upn
from tests.support.inmemory import as_actor, pupil_view
from tests.support.register_factories import roll_csv

NUL, BELL, DEL, C1 = "\x00", "\x07", "\x7f", "\x85"


@pytest.mark.parametrize("bad", [NUL, BELL, DEL, C1, "\u2028"])
def test_a_control_character_in_a_name_is_refused_naming_the_field(bad: str) -> None:
    with pytest.raises(ValidationError) as e:
        add_to_sen_support(
            pupil={
                "upn": upn(1),
                "given_name": f"Sa{bad}m",
                "family_name": "Taylor",
                "date_of_birth": date(2017, 3, 14),
            }
        )
    [error] = e.value.errors()
    assert error["loc"] == ("pupil", "given_name") and "cannot be stored" in error["msg"]


def test_a_line_break_is_refused_in_a_name_but_kept_in_free_text() -> None:
    with pytest.raises(ValidationError, match="line break"):
        PersonToTell(
            person_id="5e4dca5e-0000-4000-8000-000000000001",
            name="Jo\nTaylor",
            relationship="mother",
            has_parental_responsibility=True,
            email="jo@example.org",
            preferred_channel="email",
        )
    note = NoteConcern(
        upn=upn(1), note="Reading: slow.\r\nWriting: letters reversed.\tSee APDR.", noted_on=date(2026, 11, 2)
    )
    assert "\r\n" in note.note
    with pytest.raises(ValidationError, match="U\\+0000"):
        NoteConcern(upn=upn(1), note="Reading: slow.\x00", noted_on=date(2026, 11, 2))


def test_names_are_normalised_to_nfc_and_never_nfkc() -> None:
    decomposed = unicodedata.normalize("NFD", "Zoë Ñúñez")
    command = add_to_sen_support(
        pupil={"upn": upn(1), "given_name": decomposed, "family_name": "ﬀolkes", "date_of_birth": date(2017, 3, 14)}
    )
    assert command.pupil.given_name == "Zoë Ñúñez" and command.pupil.given_name != decomposed
    assert command.pupil.family_name == "ﬀolkes"  # NFKC would have made it "ffolkes": a name is kept as written


def test_every_nested_text_is_checked_events_included() -> None:
    body = AddToSenSupport.model_json_schema()  # the rules do not change what a contract looks like
    assert "pupil" in body["properties"]
    with pytest.raises(ValidationError, match="cannot be stored"):
        EventEnvelope.model_validate(
            {
                "event_id": "5e4dca5e-0000-4000-8000-000000000001",
                "type": "register.x",
                "schema_version": 1,
                "producer": "register",
                "sequence": 1,
                "occurred_at": "2026-11-23T10:30:00Z",
                "recorded_at": "2026-11-23T10:30:00Z",
                "actor": {"user_id": "u", "role": "senco", "organisation": "school:123456"},
                "subject": {},
                "correlation_id": "5e4dca5e-0000-4000-8000-000000000002",
                "payload": {"people": [{"name": f"Jo{NUL}"}]},
            }
        )


def test_a_roll_row_with_a_control_character_is_rejected_as_a_row_and_the_rest_imported() -> None:
    app = Register(env=IN_MEMORY_ENV)
    text = roll_csv(range(1, 3), extra_rows=[f"{upn(3)},Pup{NUL}il3,Alex,14/03/2017,5,Parent 3,mother,p3@example.org"])
    command = ImportRoll(school_urn="123456", file_name="roll.csv", csv_text=text, on_roll_from=date(2026, 9, 1))
    report: RollImportReport = as_actor(senco(), SCHOOL_DAY, app.import_roll, **dict(command))
    assert (report.rows, report.enrolled, len(report.rejected)) == (3, 2, 1)
    [row] = report.rejected
    assert (row.row, row.field) == (4, "Legal Surname") and "U+0000" in row.problem and NUL not in row.problem
    assert pupil_view(app, senco(), SCHOOL_DAY, upn(1)).family_name == "Pupil1"


def test_a_garbled_heading_row_is_described_without_echoing_control_characters() -> None:
    app = Register(env=IN_MEMORY_ENV)
    command = ImportRoll(school_urn="123456", file_name="x.csv", csv_text="\x00\x01\x02", on_roll_from=date(2026, 9, 1))
    with pytest.raises(Exception) as e:
        as_actor(senco(), SCHOOL_DAY, app.import_roll, **dict(command))
    assert e.value.rule == "garbled_file" and NUL not in e.value.message
