"""Signing in to the gateway in production mode, through the real redirect flow against an OpenID Connect provider
the tests run (tests/support/oidc_provider.py): PKCE, the state bound to the browser, the ID token checked; roles from
the LA's access mapping (none: no access; several: the person picks); the citizen provider for parents; sessions
that end on sign-out and after a time unused; CSRF on every form."""

import re
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, urlsplit

import pytest

from services.runtime.clock import FixedClock
from tests.support.gateway import STAFF_CLIENT, Browser, production_gateway
from tests.support.oidc_provider import OidcTestProvider
from tests.support.stack import Sandbox

SENCO = {"sub": "u-senco-1", "email": "a.khan@school-a.sch.uk", "name": "Aisha Khan", "groups": ["SENCO-123456"]}


def csrf_of(html: str) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)


@pytest.fixture
def clock():
    return FixedClock(datetime.now(UTC))  # the provider's tokens are stamped with the real time


@pytest.fixture
async def gateway(sandbox: Sandbox, provider: OidcTestProvider, citizen_key, clock):
    async with production_gateway(sandbox, provider, citizen_key, clock, session_idle_minutes=30) as running:
        yield running


async def sign_in(browser: Browser, gateway, provider: OidcTestProvider, person, kind: str = "staff"):
    provider.next_person = person
    return await browser.get(f"{gateway.url}/sign-in/{kind}")


async def test_a_senco_signs_in_through_the_providers_redirects_with_pkce(gateway, provider) -> None:
    checked_before = provider.seen.pkce_checked
    async with Browser() as browser:
        page = await browser.get(f"{gateway.url}/")
        assert page.url.path == "/sign-in"
        assert "your council or school account" in page.text and "GOV.UK One Login" in page.text
        assert "Development sign-in" not in page.text
        # in production the development sign-in does not exist at all
        assert (await browser.get(f"{gateway.url}/sign-in/development")).status_code == 404
        refused = await browser.post(f"{gateway.url}/sign-in/development", data={"person": "auditor"})
        assert refused.status_code == 404

        leaving = await browser.request("GET", f"{gateway.url}/sign-in/staff")
        assert leaving.status_code == 302
        sent = parse_qs(urlsplit(leaving.headers["location"]).query)
        assert sent["code_challenge_method"] == ["S256"] and len(sent["code_challenge"][0]) == 43
        assert sent["client_id"] == [STAFF_CLIENT] and sent["redirect_uri"] == [f"{gateway.url}/auth/staff/callback"]
        assert sent["state"][0] and sent["nonce"][0]

        provider.next_person = SENCO
        home = await browser.go(leaving.headers["location"])
        assert home.status_code == 200, home.text
        assert "Aisha Khan" in home.text and "senco for school:123456" in home.text
        # the session may call the API, with its CSRF token (a page of another site could not read it)
        for headers in ({}, {"X-CSRF-Token": "f" * 43}):
            forged = await browser.post(
                f"{gateway.url}/api/v1/register/queries/pupil", json={"upn": "x"}, headers=headers
            )
            assert forged.status_code == 403 and forged.json()["rule"] == "csrf_token_missing"
        token = re.search(r'<code id="csrf-token">([^<]+)</code>', home.text).group(1)
        me = await browser.get(f"{gateway.url}/api/v1/me", headers={"X-CSRF-Token": token})
        assert me.json()["actor"] == {"user_id": SENCO["sub"], "role": "senco", "organisation": "school:123456"}
    assert provider.seen.pkce_checked == checked_before + 1  # the token endpoint saw the verifier match
    assert provider.seen.token_requests[-1].get("code_verifier")

    [session_cookie] = [c for c in browser.set_cookies if c.startswith("__Host-sendcase-session=")]
    for attribute in ("HttpOnly", "Secure", "SameSite=lax", "Path=/"):
        assert attribute in session_cookie
    assert "Domain" not in session_cookie
    # production: HSTS and the rest of the security headers on every page
    assert home.headers["strict-transport-security"].startswith("max-age=")
    assert "frame-ancestors 'none'" in home.headers["content-security-policy"]
    assert home.headers["x-content-type-options"] == "nosniff"
    assert home.headers["referrer-policy"] == "no-referrer"
    assert home.headers["cache-control"] == "no-store"


async def test_a_person_the_mapping_gives_no_role_gets_the_no_access_page_and_no_session(gateway, provider) -> None:
    async with Browser() as browser:
        page = await sign_in(browser, gateway, provider, {"sub": "u-2", "email": "x@example.org", "groups": ["Staff"]})
        assert page.status_code == 403
        assert "You have no access to sendcase" in page.text and "x@example.org" in page.text
        assert not any(c.startswith("__Host-sendcase-session=") for c in browser.set_cookies)
        assert (await browser.get(f"{gateway.url}/")).url.path == "/sign-in"
        me = await browser.get(f"{gateway.url}/api/v1/me")
        assert me.status_code == 401


async def test_a_person_with_several_roles_picks_one_and_acts_only_in_it(gateway, provider) -> None:
    person = {**SENCO, "sub": "u-3", "groups": ["SENCO-123456", "SENCO-654321", "Unrelated"]}
    async with Browser() as browser:
        choose = await sign_in(browser, gateway, provider, person)
        assert choose.url.path == "/choose-role"
        assert "senco for school:123456" in choose.text and "senco for school:654321" in choose.text
        token = csrf_of(choose.text)
        # the API refuses until a role is chosen
        me = await browser.get(f"{gateway.url}/api/v1/me", headers={"X-CSRF-Token": token})
        assert me.status_code == 403 and me.json()["rule"] == "role_not_chosen"

        no_csrf = await browser.post(f"{gateway.url}/choose-role", data={"role": "1"})
        assert no_csrf.status_code == 403
        not_offered = await browser.post(f"{gateway.url}/choose-role", data={"role": "7", "csrf_token": token})
        assert not_offered.status_code == 400

        home = await browser.post(f"{gateway.url}/choose-role", data={"role": "1", "csrf_token": token})
        assert "senco for school:654321" in home.text
        me = await browser.get(f"{gateway.url}/api/v1/me", headers={"X-CSRF-Token": token})
        assert me.json()["actor"] == {"user_id": person["sub"], "role": "senco", "organisation": "school:654321"}

        home = await browser.post(f"{gateway.url}/choose-role", data={"role": "0", "csrf_token": token})
        me = await browser.get(f"{gateway.url}/api/v1/me", headers={"X-CSRF-Token": token})
        assert me.json()["actor"]["organisation"] == "school:123456"


async def test_a_parent_signs_in_with_the_citizen_provider_as_a_citizen_with_a_stable_id(gateway, provider) -> None:
    assertions_before = provider.seen.client_assertions_checked
    parent = {"sub": "urn:fdc:gov.uk:2022:abcdef", "email": "jo@example.org", "groups": ["SEND-Caseworkers"]}
    ids = []
    for _ in range(2):
        async with Browser() as browser:
            choose = await sign_in(browser, gateway, provider, parent, kind="citizen")
            assert choose.url.path == "/choose-role"
            assert "parent for citizen" in choose.text and "young_person for citizen" in choose.text
            assert "la_caseworker" not in choose.text  # a citizen's groups give no staff role
            token = csrf_of(choose.text)
            await browser.post(f"{gateway.url}/choose-role", data={"role": "0", "csrf_token": token})
            me = await browser.get(f"{gateway.url}/api/v1/me", headers={"X-CSRF-Token": token})
            actor = me.json()["actor"]
            assert actor["role"] == "parent" and actor["organisation"] == "citizen"
            assert actor["user_id"].startswith("citizen:") and "abcdef" not in actor["user_id"]
            ids.append(actor["user_id"])
    assert ids[0] == ids[1]  # the same person signing in again is the same user
    assert provider.seen.client_assertions_checked == assertions_before + 2  # private_key_jwt, as One Login wants


async def test_sign_out_ends_the_session_and_needs_the_forms_csrf_token(gateway, provider) -> None:
    async with Browser() as browser:
        home = await sign_in(browser, gateway, provider, SENCO)
        token = csrf_of(home.text)
        stolen = dict(browser.cookies(gateway.url))

        refused = await browser.post(f"{gateway.url}/sign-out", data={})
        assert refused.status_code == 403
        assert (await browser.get(f"{gateway.url}/")).url.path == "/"  # still signed in

        out = await browser.post(f"{gateway.url}/sign-out", data={"csrf_token": token})
        assert out.url.path == "/sign-in" and "You have signed out" in out.text
        assert (await browser.get(f"{gateway.url}/")).url.path == "/sign-in"
    # the session is gone from the database: its old cookie is worth nothing
    async with Browser() as thief:
        thief.cookies(gateway.url).update(stolen)
        assert (await thief.get(f"{gateway.url}/")).url.path == "/sign-in"
        assert (await thief.get(f"{gateway.url}/api/v1/me", headers={"X-CSRF-Token": token})).status_code == 401
    assert await gateway.gateway.store.pool.fetchval("SELECT count(*) FROM gateway_sessions") == 0


async def test_a_session_unused_for_the_idle_timeout_ends(gateway, provider, clock) -> None:
    async with Browser() as browser:
        home = await sign_in(browser, gateway, provider, SENCO)
        token = csrf_of(home.text)
        clock.advance(timedelta(minutes=29))
        assert (await browser.get(f"{gateway.url}/")).url.path == "/"  # used: the idle time starts again
        clock.advance(timedelta(minutes=29))
        me = await browser.get(f"{gateway.url}/api/v1/me", headers={"X-CSRF-Token": token})
        assert me.status_code == 200
        clock.advance(timedelta(minutes=31))
        me = await browser.get(f"{gateway.url}/api/v1/me", headers={"X-CSRF-Token": token})
        assert me.status_code == 401 and "without use" in me.json()["message"]
        page = await browser.get(f"{gateway.url}/")
        assert page.url.path == "/sign-in"
    # a session nobody comes back to is swept away, with the sign-ins never finished
    clock.set(datetime.now(UTC))  # the provider's tokens are for now
    async with Browser() as browser:
        assert (await sign_in(browser, gateway, provider, SENCO)).url.path == "/"
        await browser.request("GET", f"{gateway.url}/sign-in/staff")  # left for the provider, never came back
    store = gateway.gateway.store
    clock.advance(timedelta(minutes=31))
    swept = await store.sweep()
    assert swept["sessions"] == 1 and swept["sign_ins"] == 1, swept
    assert await store.pool.fetchval("SELECT count(*) FROM gateway_sessions") == 0
    assert await store.pool.fetchval("SELECT count(*) FROM gateway_sign_ins") == 0


async def test_the_providers_answer_is_taken_only_once_and_only_in_the_browser_that_left(gateway, provider) -> None:
    provider.next_person = SENCO
    async with Browser() as browser, Browser() as other:
        leaving = await browser.request("GET", f"{gateway.url}/sign-in/staff")
        back = await browser.request("GET", leaving.headers["location"])
        callback = back.headers["location"]
        assert callback.startswith(f"{gateway.url}/auth/staff/callback?")

        elsewhere = await other.go(callback)  # someone else's browser, with the code and state: no
        assert elsewhere.status_code == 400 and "not started in this browser" in elsewhere.text
        assert not any("sendcase-session" in c for c in other.set_cookies)
        again = await browser.go(callback)  # the state was used up by that attempt
        assert again.status_code == 400

        # a state the gateway never made
        forged = await browser.go(f"{gateway.url}/auth/staff/callback?code=x&state=made-up")
        assert forged.status_code == 400

        # a code the provider did not give (or gave to someone else): the provider refuses it, so does the gateway
        leaving = await browser.request("GET", f"{gateway.url}/sign-in/staff")
        back = (await browser.request("GET", leaving.headers["location"])).headers["location"]
        bogus = re.sub(r"code=[^&]+", "code=not-the-code", back)
        refused = await browser.go(bogus)
        assert refused.status_code == 400 and "could not be checked" in refused.text

        provider.next_person = None  # the person declines at the provider
        declined = await browser.get(f"{gateway.url}/sign-in/staff")
        assert declined.status_code == 400 and "access_denied" in declined.text
