"""A parent signed in at the gateway links her child with the code the school sent her, and then sees only that
child; a wrong code is refused in words she can act on; staff cannot use the page."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from contracts.register import InvitePerson, RecordPeopleWithParentalResponsibility
from services.register.bootstrap import bootstrap as register_bootstrap
from services.runtime.client import Client
from services.runtime.clock import FixedClock
from tests.conftest import SCHOOL_DAY
from tests.integration.test_family_access import code_sent
from tests.support.factories import add_to_sen_support, upn
from tests.support.gateway import Browser, development_settings, running_gateway
from tests.support.notifications import delivery_settings, notifications_service
from tests.support.register_events import mother
from tests.support.stack import Sandbox, as_operator, running_service

pytestmark = pytest.mark.integration


def csrf_of(html: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert found, html
    return found.group(1)


async def signed_in_as(browser: Browser, url: str, person: str) -> str:
    page = await browser.get(f"{url}/sign-in/development")
    home = await browser.post(f"{url}/sign-in/development", data={"person": person, "csrf_token": csrf_of(page.text)})
    assert home.status_code == 200, home.text
    return home.text


async def test_a_parent_links_her_child_with_the_code_and_sees_only_that_child(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    settings, outbox = sandbox.settings("register"), tmp_path / "outbox"
    mum = mother(4301)
    async with (
        running_service(register_bootstrap, settings, FixedClock(SCHOOL_DAY)),
        notifications_service(sandbox.settings("notifications"), delivery_settings(outbox)) as notes,
        running_gateway(development_settings, sandbox) as gateway,
    ):
        senco_of_school = next(p.actor for p in gateway.gateway.demo_people if p.actor.role.value == "senco")
        school_urn = senco_of_school.school_urn
        async with Client(as_operator(settings.nats_url), settings.subject_prefix, senco_of_school) as school:
            added = await school.command(add_to_sen_support(4301, urn=school_urn))
            assert added.outcome == "accepted", added
            pupil_id = added.result.pupil_id
            people = RecordPeopleWithParentalResponsibility(upn=upn(4301), people=[mum])
            assert (await school.command(people)).outcome == "accepted"
            invite = InvitePerson(upn=upn(4301), person_id=mum.person_id, invited_by_name="SENCO")
            invited = await school.command(invite)
            assert invited.outcome == "accepted", invited
        code, _ = await code_sent(outbox, notes, pupil_id, mum)

        async with Browser() as browser:
            home = await signed_in_as(browser, gateway.url, "parent")
            assert "No child's record is linked to you yet." in home
            token = csrf_of(home)

            without_token = await browser.post(f"{gateway.url}/link-child", data={"code": code})
            assert without_token.status_code == 403

            wrong = await browser.post(
                f"{gateway.url}/link-child", data={"code": "AAAA-BBBB-CCCC", "csrf_token": token}
            )
            assert wrong.status_code == 422 and 'role="alert"' in wrong.text
            assert "No child's record is linked to you yet." in wrong.text

            linked = await browser.post(
                f"{gateway.url}/link-child", data={"code": code.lower().replace("-", " "), "csrf_token": token}
            )
            assert linked.status_code == 200, linked.text
            assert "You can now see" in linked.text and "record." in linked.text
            assert school_urn in linked.text

            again = await browser.post(f"{gateway.url}/link-child", data={"code": code, "csrf_token": token})
            assert again.status_code == 422  # a code works once

            # through the API, as herself: her child's record, and no other's
            api = {"X-CSRF-Token": token}
            mine = await browser.post(
                f"{gateway.url}/api/v1/register/queries/pupil", json={"upn": upn(4301)}, headers=api
            )
            assert mine.status_code == 200, mine.text
            other = await browser.post(
                f"{gateway.url}/api/v1/register/queries/pupil", json={"upn": upn(4302)}, headers=api
            )
            assert other.status_code in (403, 404)

        async with Browser() as browser:
            home = await signed_in_as(
                browser, gateway.url, next(p.key for p in gateway.gateway.demo_people if p.actor == senco_of_school)
            )
            staff = await browser.post(f"{gateway.url}/link-child", data={"code": code, "csrf_token": csrf_of(home)})
            assert staff.status_code == 403
