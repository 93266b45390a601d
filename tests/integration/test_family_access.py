"""Families see a child's record only through a verified invitation, on real PostgreSQL and NATS (docs/register.md,
"Families"; docs/security.md, "Inside the services").

The SENCO invites the mother recorded for a pupil: the register publishes the invitation, the notifications service
sends her the one-time code through the file channel (the code appears in no view). Signed in as herself she enters
it: once; the second time, and for anyone else, it is refused. She then reads her own child's record and history and
the messages sent to her about the child, and is refused another family's child (and a UPN nobody has: the same
refusal). Wrong codes are refused, counted and lock her out for a while; an expired or withdrawn code is refused with
its reason; revoking her access, or erasing the child, ends what she may read, in the register and (told by the
register's events) in notifications.
"""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path
from typing import Any

from contracts.envelope import Actor, Role, derived_id
from contracts.notifications import Duty, NotificationsForPupil
from contracts.people import Channel, PersonToTell
from contracts.register import (
    AcceptInvitation,
    ErasePupil,
    GetPupil,
    InvitePerson,
    MyChildren,
    NoteConcern,
    PupilHistory,
    RecordPeopleWithParentalResponsibility,
    RevokeAccess,
)
from services.notifications.domain.notification import CODE_NOT_SHOWN
from services.register.bootstrap import bootstrap as register_bootstrap
from services.register.domain.invitation import LOCKED_FOR
from services.runtime.client import Client
from services.runtime.clock import FixedClock
from tests.conftest import SCHOOL_DAY
from tests.support.factories import OTHER_SCHOOL, add_to_sen_support, caseworker, senco, teacher, upn
from tests.support.notifications import delivery_settings, notifications_service, outbox_files, rows
from tests.support.register_events import father, mother
from tests.support.stack import Sandbox, as_operator, eventually, running_service

TODAY = SCHOOL_DAY.date()
CODE = re.compile(r"\b[0-9A-HJKMNP-TV-Z]{4}-[0-9A-HJKMNP-TV-Z]{4}-[0-9A-HJKMNP-TV-Z]{4}\b")
DATA_OFFICER = Actor(user_id="d.officer@la.gov.uk", role=Role.DATA_OFFICER, organisation="la:840")


def parent(name: str) -> Actor:
    """A parent signed in as themself: their id at their identity provider (GOV.UK One Login's are like this)."""
    return Actor(user_id=f"urn:fdc:gov.uk:2022:{name}", role=Role.PARENT, organisation="citizen")


async def family(school: Client, serial: int, people: list[PersonToTell]) -> Any:
    """A pupil on SEN support with these people recorded: the pupil's id."""
    added = await school.command(add_to_sen_support(serial))
    assert added.outcome == "accepted", added
    recorded = await school.command(RecordPeopleWithParentalResponsibility(upn=upn(serial), people=people))
    assert recorded.outcome == "accepted", recorded
    return added.result.pupil_id


async def code_sent(outbox: Path, notifications: Any, pupil_id: Any, person: PersonToTell) -> tuple[str, str]:
    """The invitation's code as the person received it (the outbox file of the message), and the message."""

    async def delivered() -> Any:
        found = [
            r
            for r in await rows(notifications, pupil_id)
            if r["duty"] == Duty.ACCESS_INVITATION and r["person_id"] == person.person_id
        ]
        return found[-1] if found and found[-1]["status"] == "delivered" else None

    row = await eventually(delivered, timeout=30, what="the invitation delivered")
    [sent] = [f for f in outbox_files(outbox) if f.name.startswith(str(row["notification_id"]))]
    text = sent.read_text()
    [code] = set(CODE.findall(text))
    return code, text


async def test_a_parent_invited_by_the_senco_accepts_once_and_reads_only_her_own_child(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    settings, outbox = sandbox.settings("register"), tmp_path / "outbox"
    mum, dad, other_mum = mother(4101), father(4101), mother(4102)
    mum_signed_in, someone_else = parent("mum-4101"), parent("someone-else")
    async with (
        running_service(register_bootstrap, settings, FixedClock(SCHOOL_DAY)),
        notifications_service(sandbox.settings("notifications"), delivery_settings(outbox)) as notes,
        Client(as_operator(settings.nats_url), settings.subject_prefix, senco()) as school,
        Client(as_operator(settings.nats_url), settings.subject_prefix, mum_signed_in) as her,
    ):
        pupil_id = await family(school, 4101, [mum, dad])
        other_pupil = await family(school, 4102, [other_mum])

        # before any invitation she sees nothing
        refused = await her.query(GetPupil(upn=upn(4101)))
        assert refused.outcome == "rejected" and refused.code == "not_authorised", refused

        invited = await school.command(
            InvitePerson(upn=upn(4101), person_id=mum.person_id, invited_by_name="Mrs A Khan, SENCO")
        )
        assert invited.outcome == "accepted", invited
        assert invited.result.role == Role.PARENT and invited.result.relationship == "mother"
        assert invited.result.expires_on == TODAY + timedelta(days=14)
        assert "code" not in invited.model_dump_json().lower().replace("invitation", "")  # the reply never holds it

        code, message = await code_sent(outbox, notes, pupil_id, mum)
        # the message says who invited her, what it gives access to, how to use it and when it expires
        assert "Mrs A Khan, SENCO invited you" in message and "To: Alex Taylor4101 <" in message
        assert "see Sam's SEN record" in message and "as Sam's mother, who has parental responsibility" in message
        assert f"until {(TODAY + timedelta(days=14)):%A} {(TODAY + timedelta(days=14)).day}" in message
        assert "works once, only for you" in message and "enter this code" in message
        # nobody else sees the code: the school's view of the message shows it as not shown
        staff_view = await school.query(NotificationsForPupil(pupil_id=pupil_id))
        [shown] = [n for n in staff_view.result if n.duty == Duty.ACCESS_INVITATION]
        assert code not in (shown.body or "") + (shown.subject or "") and CODE_NOT_SHOWN in (shown.body or "")

        accepted = await her.command(AcceptInvitation(code=code.lower().replace("-", " ")))
        assert accepted.outcome == "accepted", accepted
        assert accepted.result.pupil_id == pupil_id and accepted.result.relationship == "mother"

        # used once: refused for her the second time, and for anyone else
        again = await her.command(AcceptInvitation(code=code))
        assert again.outcome == "rejected" and again.rule == "invitation_used", again
        other = await her.command(AcceptInvitation(code=code), someone_else)
        assert other.outcome == "rejected" and other.rule == "invitation_used", other

        # her own child's record: her own contact details, not the father's; staff by role
        record = await her.query(GetPupil(upn=upn(4101)))
        assert record.outcome == "answered", record
        assert [p.name for p in record.result.people_with_parental_responsibility] == ["Alex Taylor4101"]
        assert record.result.history and all(h.by_user == "[staff]" for h in record.result.history)
        history = await her.query(PupilHistory(upn=upn(4101)))
        assert history.outcome == "answered" and any(h.what == "can now see this record" for h in history.result)
        mine = await her.query(MyChildren())
        assert [(c.pupil_id, c.upn, c.relationship) for c in mine.result] == [(pupil_id, upn(4101), "mother")]

        # another family's child, and a UPN nobody has: the same refusal
        for query in (GetPupil(upn=upn(4102)), PupilHistory(upn=upn(4102)), GetPupil(upn=upn(4199))):
            refused = await her.query(query)
            assert refused.outcome == "rejected" and refused.code == "not_authorised", (query, refused)
            assert "your own child's records" in refused.message
        # a parent changes nothing on the record
        change = await her.command(NoteConcern(upn=upn(4101), note="Worried about reading", noted_on=TODAY))
        assert change.outcome == "rejected" and change.code == "not_authorised"

        # notifications learns her grant from the register's events: the messages sent to her, not the father's
        async def her_messages() -> Any:
            reply = await her.query(NotificationsForPupil(pupil_id=pupil_id))
            return reply if reply.outcome == "answered" else None

        messages = await eventually(her_messages, what="notifications told of her grant")
        assert {n.duty for n in messages.result} == {Duty.SEN_PROVISION_STARTED, Duty.ACCESS_INVITATION}
        assert {n.person_id for n in messages.result} == {mum.person_id}
        assert all(code not in (n.body or "") for n in messages.result)
        refused = await her.query(NotificationsForPupil(pupil_id=other_pupil))
        assert refused.outcome == "rejected" and refused.code == "not_authorised"

        # the school ends her access: the register at once, notifications once told
        ended = await school.command(RevokeAccess(upn=upn(4101), person_id=mum.person_id, reason="Court order"))
        assert ended.outcome == "accepted" and ended.result.grants_ended == 1, ended
        refused = await her.query(GetPupil(upn=upn(4101)))
        assert refused.outcome == "rejected" and refused.code == "not_authorised"
        assert (await her.query(MyChildren())).result == []

        async def refused_by_notifications() -> Any:
            reply = await her.query(NotificationsForPupil(pupil_id=pupil_id))
            return reply if reply.outcome == "rejected" else None

        await eventually(refused_by_notifications, what="notifications told her access ended")
        nothing = await school.command(RevokeAccess(upn=upn(4101), person_id=mum.person_id, reason="Court order"))
        assert nothing.outcome == "rejected" and nothing.rule == "no_access_to_end"


async def test_who_may_be_invited_and_who_may_invite(sandbox: Sandbox, tmp_path: Path) -> None:
    settings = sandbox.settings("register")
    grandmother = mother(
        4201, person_id=derived_id("gran", 4201), relationship="grandmother", has_parental_responsibility=False
    )
    unreachable = father(4201, postal_address=None, preferred_channel=Channel.LETTER)
    young = mother(
        4202,
        person_id=derived_id("young", 4202),
        name="Robin Lee",
        relationship="young person",
        has_parental_responsibility=False,
    )
    async with (
        running_service(register_bootstrap, settings, FixedClock(SCHOOL_DAY)),
        Client(as_operator(settings.nats_url), settings.subject_prefix, senco()) as school,
    ):
        await family(school, 4201, [mother(4201), grandmother, unreachable])
        await family(school, 4202, [mother(4202), young])  # Sam, born 2017: 9 years old

        def invite(who: PersonToTell, serial: int = 4201) -> InvitePerson:
            return InvitePerson(upn=upn(serial), person_id=who.person_id, invited_by_name="Mrs A Khan, SENCO")

        cases = [
            (school, invite(grandmother), "not_invitable", "without parental responsibility"),
            (school, invite(unreachable), "no_contact_details", "No email address, mobile number or postal address"),
            (school, invite(young, 4202), "young_person_too_young", "from 16; they are 9"),
            (school, invite(father(4299)), "not_on_record", "sendcase register pupil"),
        ]
        for client, command, rule, words in cases:
            reply = await client.command(command)
            assert reply.outcome == "rejected" and reply.rule == rule and words in reply.message, (rule, reply)
        for who in (teacher(), senco(OTHER_SCHOOL)):
            reply = await school.command(invite(mother(4201)), who)
            assert reply.outcome == "rejected" and reply.code == "not_authorised", reply
            assert "Only the SENCO of school 123456 or an LA caseworker" in reply.message
        by_the_la = await school.command(invite(mother(4201)), caseworker())
        assert by_the_la.outcome == "accepted", by_the_la


async def test_wrong_codes_are_refused_counted_and_lock_the_person_out_for_a_while(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    settings, outbox, clock = sandbox.settings("register"), tmp_path / "outbox", FixedClock(SCHOOL_DAY)
    mum = mother(4301)
    guesser, other = parent("guesser-4301"), parent("other-4301")
    async with (
        running_service(register_bootstrap, settings, clock),
        notifications_service(sandbox.settings("notifications"), delivery_settings(outbox)) as notes,
        Client(as_operator(settings.nats_url), settings.subject_prefix, senco()) as school,
        Client(as_operator(settings.nats_url), settings.subject_prefix, guesser) as them,
    ):
        pupil_id = await family(school, 4301, [mum])
        invited = await school.command(InvitePerson(upn=upn(4301), person_id=mum.person_id, invited_by_name="SENCO"))
        assert invited.outcome == "accepted"
        code, _ = await code_sent(outbox, notes, pupil_id, mum)

        wrong = ["ABCD-EFGH-JKMN", "not a code", "0000 0000 0000", "K7QM-3XD9-TWPA", "ZZZZ-ZZZZ-ZZZZ"]
        replies = [await them.command(AcceptInvitation(code=w)) for w in wrong]
        assert all(r.outcome == "rejected" and r.rule == "wrong_code" for r in replies), replies
        assert "That code is not right" in replies[0].message and "After 4 more wrong codes" in replies[0].message
        assert "now locked" in replies[-1].message
        # locked now: even the right code is refused, saying until when
        locked = await them.command(AcceptInvitation(code=code))
        assert locked.outcome == "rejected" and locked.rule == "too_many_wrong_codes", locked
        assert "try again after 10:45" in locked.message  # 10:30 in England, plus 15 minutes
        # someone else is not locked by another person's wrong codes (and the code is still unused)
        not_locked = await them.command(AcceptInvitation(code="ABCD-EFGH-JKMN"), other)
        assert not_locked.rule == "wrong_code" and "After 4 more" in not_locked.message

        clock.advance(LOCKED_FOR + timedelta(minutes=1))
        accepted = await them.command(AcceptInvitation(code=code))
        assert accepted.outcome == "accepted" and accepted.result.pupil_id == pupil_id, accepted


async def test_expired_withdrawn_and_wrong_role_codes_are_refused_with_their_reason(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    settings, outbox, clock = sandbox.settings("register"), tmp_path / "outbox", FixedClock(SCHOOL_DAY)
    mum, dad = mother(4401), father(4401, email="jordan.reed4401@example.org", preferred_channel=Channel.EMAIL)
    async with (
        running_service(register_bootstrap, settings, clock),
        notifications_service(sandbox.settings("notifications"), delivery_settings(outbox)) as notes,
        Client(as_operator(settings.nats_url), settings.subject_prefix, senco()) as school,
        Client(as_operator(settings.nats_url), settings.subject_prefix, parent("mum-4401")) as her,
    ):
        pupil_id = await family(school, 4401, [mum, dad])

        def invite(who: PersonToTell) -> InvitePerson:
            return InvitePerson(upn=upn(4401), person_id=who.person_id, invited_by_name="Mrs A Khan, SENCO")

        assert (await school.command(invite(mum))).outcome == "accepted"
        first, _ = await code_sent(outbox, notes, pupil_id, mum)
        assert (await school.command(invite(mum))).outcome == "accepted"  # a newer one: the first is withdrawn

        async def second_code() -> Any:
            code, _ = await code_sent(outbox, notes, pupil_id, mum)
            return code if code != first else None

        second = await eventually(second_code, what="the second invitation sent")
        withdrawn = await her.command(AcceptInvitation(code=first))
        assert withdrawn.outcome == "rejected" and withdrawn.rule == "invitation_withdrawn", withdrawn

        # the young person's role cannot use a parent's code
        as_young = Actor(user_id="urn:fdc:gov.uk:2022:young-4401", role=Role.YOUNG_PERSON, organisation="citizen")
        wrong_role = await her.command(AcceptInvitation(code=second), as_young)
        assert wrong_role.rule == "invitation_for_another_role" and "sign in as a parent" in wrong_role.message
        # school staff cannot accept one, even a real code
        staff = await her.command(AcceptInvitation(code=second), senco())
        assert staff.code == "not_authorised" and staff.rule == "accepted_by_family_only"

        # the father's invitation runs out after 14 days
        assert (await school.command(invite(dad))).outcome == "accepted"
        his, _ = await code_sent(outbox, notes, pupil_id, dad)
        clock.advance(timedelta(days=15))
        expired = await her.command(AcceptInvitation(code=his), parent("dad-4401"))
        assert expired.outcome == "rejected" and expired.rule == "invitation_expired", expired
        assert f"expired on {(TODAY + timedelta(days=14)):%-d %B %Y}" in expired.message
        assert "ask Mrs A Khan, SENCO for a new invitation" in expired.message


async def test_erasing_the_child_ends_every_grant(sandbox: Sandbox, tmp_path: Path, own_keyring) -> None:
    settings, outbox = sandbox.settings("register"), tmp_path / "outbox"
    mum, dad = mother(4501), father(4501, email="jordan.reed4501@example.org", preferred_channel=Channel.EMAIL)
    her_id, his_id = parent("mum-4501"), parent("dad-4501")
    async with (
        running_service(register_bootstrap, settings, FixedClock(SCHOOL_DAY)),
        notifications_service(sandbox.settings("notifications"), delivery_settings(outbox)) as notes,
        Client(as_operator(settings.nats_url), settings.subject_prefix, senco()) as school,
        Client(as_operator(settings.nats_url), settings.subject_prefix, her_id) as her,
    ):
        pupil_id = await family(school, 4501, [mum, dad])
        for who in (mum, dad):
            invited = await school.command(InvitePerson(upn=upn(4501), person_id=who.person_id, invited_by_name="X"))
            assert invited.outcome == "accepted"
        her_code, _ = await code_sent(outbox, notes, pupil_id, mum)
        his_code, _ = await code_sent(outbox, notes, pupil_id, dad)
        assert (await her.command(AcceptInvitation(code=her_code))).outcome == "accepted"

        async def her_messages() -> Any:
            return (await her.query(NotificationsForPupil(pupil_id=pupil_id))).outcome == "answered"

        await eventually(her_messages, what="notifications told of her grant")

        erased = await school.command(ErasePupil(pupil_id=pupil_id, rule="a decision of the DPO"), DATA_OFFICER)
        assert erased.outcome == "accepted", erased
        refused = await her.query(GetPupil(upn=upn(4501)))
        assert refused.outcome == "rejected" and refused.code == "not_authorised"
        assert (await her.query(MyChildren())).result == []
        void = await her.command(AcceptInvitation(code=his_code), his_id)  # a code still waiting: void now
        assert void.outcome == "rejected" and void.rule == "invitation_void", void

        async def refused_by_notifications() -> Any:
            return (await her.query(NotificationsForPupil(pupil_id=pupil_id))).outcome == "rejected"

        await eventually(refused_by_notifications, what="notifications ended her grant on the erasure")

        async def scrubbed() -> Any:  # the same fact also drops notifications' copies: both effects, once each
            found = await rows(notes, pupil_id)
            return found and all(r["recipient_name"] in ("[erased]", None) for r in found)

        await eventually(scrubbed, what="notifications dropped its copies on the same erasure")


async def test_the_read_of_a_record_refused_or_shown_to_a_parent_is_in_the_childs_read_log(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    from contracts.register import RegisterReads

    settings, outbox = sandbox.settings("register"), tmp_path / "outbox"
    mum = mother(4601)
    her_id = parent("mum-4601")
    auditor = Actor(user_id="auditor@la.gov.uk", role=Role.AUDITOR, organisation="la:840")
    async with (
        running_service(register_bootstrap, settings, FixedClock(SCHOOL_DAY)) as register,
        notifications_service(sandbox.settings("notifications"), delivery_settings(outbox)) as notes,
        Client(as_operator(settings.nats_url), settings.subject_prefix, senco()) as school,
        Client(as_operator(settings.nats_url), settings.subject_prefix, her_id) as her,
    ):
        pupil_id = await family(school, 4601, [mum])
        other = await family(school, 4602, [mother(4602)])
        invited = await school.command(InvitePerson(upn=upn(4601), person_id=mum.person_id, invited_by_name="X"))
        assert invited.outcome == "accepted"
        code, _ = await code_sent(outbox, notes, pupil_id, mum)
        assert (await her.command(AcceptInvitation(code=code))).outcome == "accepted"
        assert (await her.query(GetPupil(upn=upn(4601)))).outcome == "answered"
        assert (await her.query(GetPupil(upn=upn(4602)))).outcome == "rejected"

        mine = await school.query(RegisterReads(pupil_id=pupil_id), auditor)
        assert mine.outcome == "answered", mine
        by_her = [r for r in mine.result.reads if r.role == "parent"]
        assert [(r.user_id, r.query, r.outcome) for r in by_her] == [(her_id.user_id, "register.pupil", "read")]
        theirs = await school.query(RegisterReads(pupil_id=other), auditor)
        assert [(r.user_id, r.outcome) for r in theirs.result.reads if r.role == "parent"] == [
            (her_id.user_id, "refused")
        ]
        # her id at her identity provider is the family's: sealed under the child's key in the read log, a keyed
        # pseudonym in the stored events' metadata, sealed in their content; never in the clear
        assert register.pool is not None and notes.pool is not None
        logged = await register.pool.fetch("SELECT user_id, user_sealed FROM runtime_read_log WHERE role = 'parent'")
        assert len(logged) == 2 and all(r["user_id"] is None and r["user_sealed"] for r in logged)
        for pool, table in ((register.pool, "register_events"), (notes.pool, "notifications_events")):
            states = await pool.fetch(f"SELECT state FROM {table}")
            assert states and not [r for r in states if her_id.user_id.encode() in bytes(r["state"])], table
        assert her_id.user_id not in str([dict(r) for r in logged])
