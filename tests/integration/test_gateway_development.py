"""The development sign-in of the embedded stack: pick a demo person, act as them; only in development."""

import re

import asyncpg
import pytest

from tests.support.gateway import Browser, development_settings, running_gateway
from tests.support.stack import Sandbox


def csrf_of(html: str) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)


@pytest.fixture
async def gateway(sandbox: Sandbox):
    async with running_gateway(development_settings, sandbox) as running:
        yield running


async def test_a_demo_person_is_picked_and_the_gateway_acts_as_them(gateway) -> None:
    async with Browser() as browser:
        page = await browser.get(f"{gateway.url}/")
        assert page.url.path == "/sign-in" and "Development sign-in" in page.text
        page = await browser.get(f"{gateway.url}/sign-in/development")
        assert page.status_code == 200
        for who in ("SENCO at Brook Lane Primary", "caseworker", "manager", "auditor", "data officer", "a parent"):
            assert who in page.text
        for urn in ("900001", "900101", "900102", "900103"):
            assert f"school:{urn}" in page.text
        token = csrf_of(page.text)

        refused = await browser.post(f"{gateway.url}/sign-in/development", data={"person": "parent"})
        assert refused.status_code == 403  # no CSRF token: refused, and nobody is signed in
        forged = await browser.post(
            f"{gateway.url}/sign-in/development", data={"person": "parent", "csrf_token": "0" * 64}
        )
        assert forged.status_code == 403
        assert (await browser.get(f"{gateway.url}/")).url.path == "/sign-in"

        home = await browser.post(f"{gateway.url}/sign-in/development", data={"person": "parent", "csrf_token": token})
        assert home.status_code == 200, home.text
        assert "parent for citizen" in home.text

        me = await browser.get(f"{gateway.url}/api/v1/me", headers={"X-CSRF-Token": csrf_of(home.text)})
        assert me.status_code == 200
        assert me.json()["actor"] == {"user_id": "citizen:demo-jo-taylor", "role": "parent", "organisation": "citizen"}

    # in development, cookies are not Secure (plain HTTP on this machine) and there is no HSTS
    session_cookie = next(c for c in browser.set_cookies if c.startswith("sendcase-session="))
    assert "HttpOnly" in session_cookie and "SameSite=lax" in session_cookie and "Secure" not in session_cookie
    assert "strict-transport-security" not in home.headers
    assert home.headers["x-frame-options"] == "DENY"


async def test_sessions_carry_on_when_postgresql_drops_the_gateways_connections(gateway, sandbox: Sandbox) -> None:
    async with Browser() as browser:
        page = await browser.get(f"{gateway.url}/sign-in/development")
        await browser.post(
            f"{gateway.url}/sign-in/development", data={"person": "auditor", "csrf_token": csrf_of(page.text)}
        )
        admin = await asyncpg.connect(sandbox.servers.postgres_url)
        try:
            dropped = await admin.fetchval(
                """SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
                   WHERE datname = $1 AND pid <> pg_backend_pid()""",
                f"{sandbox.prefix}_gateway",
            )
        finally:
            await admin.close()
        assert dropped >= 1
        home = await browser.get(f"{gateway.url}/")
        assert home.status_code == 200 and "auditor for la:000" in home.text
