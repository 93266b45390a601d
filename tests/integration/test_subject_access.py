"""Subject access, on real PostgreSQL and NATS (docs/audit.md, "Subject access").

A child is added to SEN support, their parents and a grandparent (no parental responsibility) recorded, the
child recorded as looked after (a protected address), provision recorded, and the family told through the
file channel. The export the data officer makes holds every one of those facts and messages, with the dates
and content entered; staff are shown by role and organisation unless the LA's policy says to name them, the
grandparent's details are removed unless it says to show them, the protected address is never there. The
request is a fact in the register's log with nothing personal in it. After the child is erased the export
says so, keeps the facts and holds none of their personal data.
"""

from __future__ import annotations

import json
from datetime import date, datetime
from pathlib import Path
from typing import Any
from uuid import UUID

from contracts.envelope import Actor, Answered, Role
from contracts.notifications import NotificationsForPupil
from contracts.people import Channel, PersonToTell, PostalAddress
from contracts.register import (
    ErasePupil,
    PostalAddressForProtection,
    RecordLookedAfter,
    RecordPeopleWithParentalResponsibility,
    RecordSenProvision,
    RecordSubjectAccessRequest,
    Requester,
)
from contracts.subject_access import HeldPage, SubjectAccess, subject_access_queries
from infra.cli.subject_access_export import (
    REDACTED_PERSON,
    REDACTED_STAFF,
    RequestDetails,
    SubjectAccessPolicy,
    assemble,
    to_html,
    to_json,
)
from services.register.bootstrap import bootstrap as register_bootstrap
from services.runtime.client import Client
from services.runtime.clock import FixedClock
from services.runtime.sealing import ERASED
from tests.conftest import SCHOOL_DAY
from tests.support.factories import SCHOOL, add_to_sen_support, caseworker, senco, upn
from tests.support.notifications import delivery_settings, notifications_service, rows
from tests.support.register_events import mother
from tests.support.stack import Sandbox, as_operator, eventually, running_service

DATA_OFFICER = Actor(user_id="d.officer@la.gov.uk", role=Role.DATA_OFFICER, organisation="la:840")
AUDITOR = Actor(user_id="auditor@la.gov.uk", role=Role.AUDITOR, organisation="la:840")
TODAY = SCHOOL_DAY.date()
# A serial no other test uses (the child is erased, on the test's own keyring: tests/conftest.py own_keyring).
SERIAL = 97031
MOTHER = mother(SERIAL, name="Ewa Nowak", email="ewa.nowak@example.org", mobile="07700 900311")
GRANDMOTHER = PersonToTell(
    person_id=UUID("3f0c2a1e-8d4b-4f7a-9c61-5b2e7d9a0c31"),
    name="Halina Nowak",
    relationship="grandmother",
    has_parental_responsibility=False,
    email="halina.nowak@example.org",
    postal_address=PostalAddress(lines=["9 Gilesgate"], town="Durham", postcode="DH1 1QQ"),
    preferred_channel=Channel.EMAIL,
)
PROVISION = "Speech and language therapy, twice weekly, with a visual timetable"
REASON = "Little progress after two APDR cycles; finds group work overwhelming"
PROTECTED = PostalAddressForProtection(lines=["1 Hidden Close"], town="Durham", postcode="DH9 9ZZ")
CHILD = {"upn": upn(SERIAL), "given_name": "Zuzanna", "family_name": "Nowak", "date_of_birth": date(2016, 2, 29)}
# Everything personal entered about the child and her family: none of it readable once she is erased.
PERSONAL = [
    "Zuzanna",
    upn(SERIAL),
    "2016-02-29",
    "Ewa Nowak",
    "ewa.nowak@example.org",
    "07700 900311",
    PROVISION,
    REASON,
    "Halina Nowak",
]


async def test_a_childs_export_holds_every_fact_and_message_entered_redacted_as_the_la_says(
    sandbox: Sandbox, tmp_path: Path, own_keyring
) -> None:
    settings = sandbox.settings("register")
    async with running_service(register_bootstrap, settings, FixedClock(SCHOOL_DAY)) as register:
        async with notifications_service(sandbox.settings("notifications"), delivery_settings(tmp_path)) as notes:
            async with (
                Client(as_operator(settings.nats_url), settings.subject_prefix, senco()) as school,
                Client(as_operator(settings.nats_url), settings.subject_prefix, DATA_OFFICER) as officer,
                Client(as_operator(settings.nats_url), settings.subject_prefix, caseworker()) as la,
            ):
                added = add_to_sen_support(
                    SERIAL, pupil=CHILD, effective_date=date(2026, 9, 10), reason=REASON, evidence_reference="APDR 2"
                )
                pupil_id = (await school.command(added)).result.pupil_id
                for command in (
                    RecordPeopleWithParentalResponsibility(upn=upn(SERIAL), people=[MOTHER, GRANDMOTHER]),
                    RecordLookedAfter(
                        upn=upn(SERIAL), looked_after=True, pep_reference="PEP-31", protected_address=PROTECTED
                    ),
                    RecordSenProvision(upn=upn(SERIAL), provision=PROVISION, effective_date=date(2026, 10, 1)),
                ):
                    reply = await school.command(command)
                    assert reply.outcome == "accepted", reply
                await eventually(lambda: _settled(notes, pupil_id), what="the family told")
                sent = await la.query(NotificationsForPupil(pupil_id=pupil_id))
                assert isinstance(sent, Answered)
                delivered = [n for n in sent.result if n.status == "delivered"]
                assert {n.recipient_name for n in delivered} == {"Ewa Nowak"}  # the grandmother is not told
                assert len(delivered) == 2  # added to SEN support (told later, once she was recorded); provision

                # only the LA's data officer or an auditor may see everything held
                for who in (school, la):
                    for query in subject_access_queries():
                        refused = await who.query(query(pupil_id=pupil_id))
                        assert refused.outcome == "rejected" and refused.code == "not_authorised", refused
                assert (await officer.query(_query("notifications", pupil_id), AUDITOR)).outcome == "answered"

                # the request is recorded first: ids and dates only
                request = RecordSubjectAccessRequest(
                    pupil_id=pupil_id, reference="SAR-840-0031", requester=Requester.PARENT, received_on=TODAY
                )
                recorded = await officer.command(request)
                assert recorded.outcome == "accepted", recorded
                assert recorded.result.respond_by == date(2026, 12, 23)
                assert recorded.result.exports_made == 1
                stored = await register.pool.fetch(
                    "SELECT state FROM register_events WHERE originator_id = $1", recorded.result.request_id
                )
                assert len(stored) == 2  # received, and the export made
                text = b"".join(bytes(r["state"]) for r in stored).decode()
                assert "SAR-840-0031" in text and "_sealed" not in text
                assert not [p for p in PERSONAL if p in text]
                other = request.model_copy(update={"pupil_id": UUID(int=5)})
                taken = await officer.command(other)
                assert taken.outcome == "rejected" and taken.rule == "reference_taken"

                held = await _held(officer, pupil_id)
                # paged: the same facts a few at a time, each exactly once, each record once
                small = await _held(officer, pupil_id, page_size=2)
                for service in held:
                    assert len(small[service]) > 1
                    assert _facts(small[service]) == _facts(held[service])
                    records = [r.record_id for p in small[service] for r in p.records]
                    assert sorted(records) == sorted(r.record_id for p in held[service] for r in p.records)

                export = _export(pupil_id, held, recorded.result, SubjectAccessPolicy())
                register_part, notes_part = _part(export, "register"), _part(export, "notifications")

                # every fact entered, with its dates and content, and who recorded it (by role and organisation)
                history = {h["what"]: h for h in register_part["history"]}
                assert history["AddedToSenSupport"]["details"]["effective_date"] == "2026-09-10"
                assert history["AddedToSenSupport"]["details"]["reason"] == REASON
                assert history["AddedToSenSupport"]["details"]["evidence_reference"] == "APDR 2"
                assert history["SpecialEducationalProvisionMade"]["details"]["provision"] == PROVISION
                assert history["SpecialEducationalProvisionMade"]["details"]["effective_date"] == "2026-10-01"
                assert history["Registered"]["details"]["date_of_birth"] == "2016-02-29"
                assert (
                    history["PeopleWithParentalResponsibilityRecorded"]["details"]["people"][0]["name"] == "Ewa Nowak"
                )
                assert history["Received"]["details"] == {
                    "reference": "SAR-840-0031",
                    "pupil_id": str(pupil_id),
                    "requester": "parent",
                    "received_on": TODAY.isoformat(),
                }
                by = history["AddedToSenSupport"]["by"]
                assert by == {"user": REDACTED_STAFF, "role": "senco", "organisation": f"school:{SCHOOL}"}
                for h in register_part["history"]:
                    assert datetime.fromisoformat(h["recorded_at"]) == SCHOOL_DAY
                pupil = next(r for r in register_part["records"] if r["record_kind"] == "Pupil")
                assert pupil["as_it_stands"]["status"] == "K"
                assert pupil["as_it_stands"]["primary_need"] == "SLCN"
                assert pupil["as_it_stands"]["pep_reference"] == "PEP-31"
                assert pupil["as_it_stands"]["protected_address"] == "[withheld]"
                assert export["child"]["given_name"] == "Zuzanna" and export["child"]["upn"] == upn(SERIAL)

                # the people with parental responsibility shown; the grandmother's details removed, marked
                assert [p["name"] for p in register_part["people_with_parental_responsibility"]] == ["Ewa Nowak"]
                assert register_part["people_with_parental_responsibility"][0]["email"] == "ewa.nowak@example.org"
                grandmother = [p for p in pupil["as_it_stands"]["people"] if p["relationship"] == "grandmother"]
                assert grandmother[0]["name"] == REDACTED_PERSON and grandmother[0]["email"] == REDACTED_PERSON
                assert export["redactions"]["third_party"] >= 2 and export["redactions"]["staff_names"] >= 4

                # every message to the family, with its content, channel, dates and outcome, as the service has it
                messages = {m["record_id"]: m for m in notes_part["messages"]}
                assert set(messages) == {str(n.notification_id) for n in sent.result}
                for n in delivered:
                    m = messages[str(n.notification_id)]
                    assert (m["to"], m["relationship"], m["channel"]) == ("Ewa Nowak", "mother", "email")
                    assert (m["subject"], m["body"]) == (n.subject, n.body)
                    assert m["outcome"] == "delivered" and m["owed_since"] == n.owed_since.isoformat()
                    assert datetime.fromisoformat(m["sent_at"]) == SCHOOL_DAY  # the services' clock
                    assert datetime.fromisoformat(m["delivered_at"]) == SCHOOL_DAY
                    assert [s["what"] for s in m["steps"]][-3:] == ["SendingStarted", "Sent", "Delivered"]
                    assert "Zuzanna" in m["body"]
                nobody = [m for m in notes_part["messages"] if m["to"] == "nobody recorded"]
                assert nobody and all(m["outcome"] == "told_later" for m in nobody)

                # nothing of the staff, the grandmother or the protected address anywhere in either copy
                for copy in (to_html(export), to_json(export)):
                    for secret in ("senco@123456.sch.uk", "d.officer@la.gov.uk", "Halina", "halina.nowak", "DH9 9ZZ"):
                        assert secret not in copy, secret
                    assert "Article 15" in copy and "SAR-840-0031" in copy
                page = to_html(export)
                assert "Ewa Nowak" in page and PROVISION in page and "<script" not in page
                assert "23 December 2026" in page  # the day it must be answered by

                # the LA's policy can name staff and show everyone named
                shown = _export(
                    pupil_id,
                    held,
                    recorded.result,
                    SubjectAccessPolicy(staff_names="show", other_people="show"),
                )
                text = to_html(shown)
                assert "senco@123456.sch.uk" in text and "Halina Nowak" in text and REDACTED_STAFF not in text
                assert "DH9 9ZZ" not in text  # never: withheld by the register itself

                # erased: the export says so, keeps the facts, and holds nothing personal
                erased = await officer.command(ErasePupil(pupil_id=pupil_id, rule="sen-records: date of birth + 31"))
                assert erased.outcome == "accepted", erased
                await eventually(lambda: _dropped(notes, pupil_id), what="the notifications' copies dropped")
                again = await officer.command(request)
                assert again.outcome == "accepted" and again.result.exports_made == 2
                after = _export(pupil_id, await _held(officer, pupil_id), again.result, SubjectAccessPolicy())
                assert after["erased"] and after["erased_on"] == TODAY.isoformat()
                for copy in (to_html(after), to_json(after)):
                    assert not [p for p in PERSONAL if p in copy]
                    assert ERASED in copy
                page = to_html(after)
                assert "personal data was erased" in page
                facts = {h["what"]: h for h in _part(after, "register")["history"]}
                assert facts["AddedToSenSupport"]["details"]["effective_date"] == "2026-09-10"
                assert facts["AddedToSenSupport"]["details"]["reason"] == ERASED
                assert facts["Erased"]["details"]["rule"] == "sen-records: date of birth + 31"
                assert "Recorded" in {h["what"] for h in _part(after, "notifications")["history"]}  # copies dropped
                assert len(_part(after, "notifications")["messages"]) == len(sent.result)


def _query(service: str, pupil_id: UUID, **changes: Any) -> SubjectAccess:
    [query] = [q for q in subject_access_queries() if f"{service}.subject_access" == q.SUBJECT]
    return query(pupil_id=pupil_id, **changes)


async def _held(client: Client, pupil_id: UUID, **changes: Any) -> dict[str, list[HeldPage]]:
    held: dict[str, list[HeldPage]] = {}
    for query in subject_access_queries():
        service = query.SUBJECT.split(".")[0]
        pages = []
        async for reply in client.pages(query(pupil_id=pupil_id, **changes)):
            assert isinstance(reply, Answered), reply
            pages.append(reply.result)
        held[service] = pages
    return held


def _facts(pages: list[HeldPage]) -> list[int]:
    return [f.position for p in pages for f in p.facts]


def _export(pupil_id: UUID, held: dict[str, list[HeldPage]], recorded: Any, policy: SubjectAccessPolicy) -> Any:
    export = assemble(
        pupil_id,
        held,
        policy,
        request=RequestDetails(
            reference=recorded.reference,
            requester="parent",
            received_on=recorded.received_on,
            respond_by=recorded.respond_by,
            exports_made=recorded.exports_made,
        ),
        produced_at=SCHOOL_DAY,
        produced_by={"user": DATA_OFFICER.user_id, "role": "data_officer", "organisation": "la:840"},
        la_code="840",
    )
    return json.loads(to_json(export))  # as the JSON copy reads


def _part(export: Any, service: str) -> Any:
    return next(s for s in export["services"] if s["service"] == service)


async def _settled(runtime: Any, pupil_id: UUID) -> bool:
    found = await rows(runtime, pupil_id)
    return sum(r["status"] == "delivered" for r in found) >= 2


async def _dropped(runtime: Any, pupil_id: UUID) -> bool:
    found = await rows(runtime, pupil_id)
    return bool(found) and all(r["recipient_name"] in (ERASED, None) for r in found)
