"""From the SENCO's command to the messages in the outbox, on real PostgreSQL and NATS, for a Durham school under
Durham's letters configuration (infra/local_authorities/840/letters.toml): the register publishes the people to tell
(a child's parents; a young person over compulsory school age themself), with their language and format needs and
never the protected address it keeps; the notifications service writes each message dated the day it is sent, from
the school with its SENCO and mailbox, with a short reference and SENDIASS; a text says where the letter is and the
letter goes too; whoever sends sees the needs; the message is found by the reference a person reads out."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from contracts.envelope import Answered
from contracts.identifiers import NeedType
from contracts.notifications import AuditNotification, NotificationsByReference, NotificationsForPupil
from contracts.people import YoungPersonsWish
from contracts.register import (
    AddToSenSupport,
    EnrolPupil,
    PostalAddressForProtection,
    PupilIdentity,
    RecordLookedAfter,
    RecordPeopleWithParentalResponsibility,
    RecordSenProvision,
)
from services.register.bootstrap import bootstrap as register_bootstrap
from services.runtime.client import Client
from services.runtime.clock import FixedClock
from tests.conftest import SCHOOL_DAY
from tests.support.every_letter import DURHAM, FATHER, MOTHER, PROTECTED_ADDRESS, PROTECTED_WORDS, YOUNG_PERSON
from tests.support.factories import senco, upn
from tests.support.notifications import delivery_settings, notifications_service, outbox_files, rows
from tests.support.stack import Sandbox, as_operator, eventually, running_service

SCHOOL = "114999"  # Riverside Primary School (illustration), in Durham's file
SENT_ON_IN_WORDS = "23 November 2026"  # SCHOOL_DAY, in England


async def on_sen_support(school: Client, serial: int, born: date, people: list, **wish: Any) -> Any:
    identity = PupilIdentity(upn=upn(serial), given_name="Łukasz", family_name="Kowalski-Khan", date_of_birth=born)
    for command in (
        EnrolPupil(school_urn=SCHOOL, pupil=identity, on_roll_from=date(2022, 9, 1)),
        RecordPeopleWithParentalResponsibility(upn=upn(serial), people=people, **wish),
        RecordLookedAfter(
            upn=upn(serial),
            looked_after=True,
            pep_reference=f"PEP-{serial}",
            protected_address=PostalAddressForProtection(**PROTECTED_ADDRESS),
        ),
    ):
        reply = await school.command(command)
        assert reply.outcome == "accepted", reply
    added = await school.command(
        AddToSenSupport(
            school_urn=SCHOOL,
            pupil=identity,
            primary_need=NeedType.SLCN,
            secondary_need=None,
            effective_date=date(2026, 11, 20),
            reason="Two cycles of assess, plan, do, review; progress below expected.",
            evidence_reference="APDR review",
        )
    )
    assert added.outcome == "accepted", added
    return added.result.pupil_id


def files_of(outbox: Path, notification_id: Any) -> list[Path]:
    return [f for f in outbox_files(outbox) if f.name.startswith(str(notification_id))]


async def test_a_durham_family_is_told_by_the_school_dated_signed_and_quotable(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    settings, outbox = sandbox.settings("register"), tmp_path / "outbox"
    durham = delivery_settings(outbox) | {"local_authority_code": "840", "letters_config": DURHAM}
    async with (
        running_service(register_bootstrap, settings, FixedClock(SCHOOL_DAY)),
        notifications_service(sandbox.settings("notifications"), durham) as notes,
        Client(as_operator(settings.nats_url), settings.subject_prefix, senco(SCHOOL)) as school,
    ):
        # -- a child: both parents are told, by the school -------------------------------------------------------
        child = await on_sen_support(school, 7301, date(2015, 3, 14), [MOTHER, FATHER])

        async def delivered(pupil_id: Any, count: int) -> list[dict[str, Any]] | None:
            found = await rows(notes, pupil_id)
            return found if len(found) == count and all(r["status"] == "delivered" for r in found) else None

        told = await eventually(lambda: delivered(child, 2), timeout=30, what="both parents told")
        by_name = {r["recipient_name"]: r for r in told}
        to_mother, to_father = by_name[MOTHER.name], by_name[FATHER.name]
        assert (to_mother["channel"], to_father["channel"]) == ("letter", "email")

        [email_file] = files_of(outbox, to_father["notification_id"])
        email = email_file.read_text(encoding="utf-8")
        assert f"To: {FATHER.name} <{FATHER.email}>" in email and f"\nDear {FATHER.name},\n" in email
        assert f"Date: {SENT_ON_IN_WORDS}" in email and f"Our reference: {to_father['reference']}" in email
        assert "Riverside Primary School (illustration)" in email and "senco@riverside.durhamlearning.net" in email
        assert "Mrs Aisha Khan" in email and "Łukasz Kowalski-Khan" in email
        assert "Durham SEND Information, Advice and Support Service (SENDIASS)" in email
        assert "at least three times a year" in email
        [letter_file] = files_of(outbox, to_mother["notification_id"])
        assert letter_file.suffix == ".pdf" and letter_file.stat().st_size > 0
        for f in outbox_files(outbox):
            data = f.read_bytes()
            assert not any(w.encode() in data for w in PROTECTED_WORDS), f  # the register never published it

        # whoever sends sees each person's needs, the reference, who it is from and the whole letter
        answer = await school.query(NotificationsForPupil(pupil_id=child))
        assert isinstance(answer, Answered)
        views = {n.recipient_name: n for n in answer.result}
        assert views[MOTHER.name].needs == "Urdu (ur), with an interpreter; large print"
        assert views[FATHER.name].needs == "Chinese (zh)"
        assert views[MOTHER.name].sender == "Riverside Primary School (illustration)"
        assert views[MOTHER.name].dated_on == SCHOOL_DAY.date()
        assert views[MOTHER.name].letter and "12 Front Street" in views[MOTHER.name].letter

        # a person reads the reference out on the phone: found as printed, whatever the case and the hyphen
        reference = to_mother["reference"]
        spoken = reference.replace("-", " ").lower()
        found = await school.query(NotificationsByReference(reference=spoken))
        assert isinstance(found, Answered) and [n.notification_id for n in found.result] == [
            to_mother["notification_id"]
        ]
        assert found.result[0].needs == "Urdu (ur), with an interpreter; large print"
        with pytest.raises(ValidationError, match="ten letters and digits as printed on it"):
            NotificationsByReference(reference="not a reference")
        async with Client(as_operator(settings.nats_url), settings.subject_prefix, senco("123456")) as other:
            elsewhere = await other.query(NotificationsByReference(reference=reference))
            assert isinstance(elsewhere, Answered) and elsewhere.result == []  # another school's SENCO: nothing

        audit = await school.query(AuditNotification(notification_id=to_mother["notification_id"]))
        assert isinstance(audit, Answered)
        assert audit.result.reference == reference and audit.result.needs == views[MOTHER.name].needs
        assert audit.result.sender == "Riverside Primary School (illustration)"
        assert audit.result.content_hash == audit.result.content_hash_recomputed

        # -- a young person over compulsory school age: told themself, by text and by letter; the parent not ------
        young = await on_sen_support(school, 7302, date(2009, 3, 14), [MOTHER, YOUNG_PERSON])
        sent = await eventually(lambda: delivered(young, 2), timeout=30, what="the young person's text and letter")
        assert {r["recipient_name"] for r in sent} == {YOUNG_PERSON.name}  # not the mother: they did not agree
        [text] = [r for r in sent if r["channel"] == "sms"]
        [letter] = [r for r in sent if r["channel"] == "letter"]
        assert letter["companion_of"] == text["notification_id"] and letter["reference"] != text["reference"]
        [sms_file] = files_of(outbox, text["notification_id"])
        sms = sms_file.read_text(encoding="utf-8")
        assert "You are now on the school's SEN register at SEN support" in sms
        assert "The letter with the details is being posted to you today." in sms and text["reference"] in sms
        assert files_of(outbox, letter["notification_id"])[0].suffix == ".pdf"
        assert "you are on Riverside Primary School (illustration)'s special educational needs" in letter["letter"]

        # the young person agrees that their mother is told too: from then on she is
        agreed = RecordPeopleWithParentalResponsibility(
            upn=upn(7302), people=[MOTHER, YOUNG_PERSON], young_persons_wish=YoungPersonsWish.PARENTS_TOLD
        )
        assert (await school.command(agreed)).outcome == "accepted"
        provision = RecordSenProvision(upn=upn(7302), provision="Weekly mentoring.", effective_date=date(2026, 11, 23))
        assert (await school.command(provision)).outcome == "accepted"

        async def provision_told() -> set[str] | None:
            found = {r["recipient_name"] for r in await rows(notes, young) if r["duty"] == "sen_provision_made"}
            return found if len(found) == 2 else None

        assert await eventually(provision_told, timeout=30, what="the provision told") == {
            YOUNG_PERSON.name,
            MOTHER.name,
        }
