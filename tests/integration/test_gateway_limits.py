"""Rate limits hold across replicas of the gateway: two gateways on one database share every count."""

import contextlib
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from services.runtime.clock import FixedClock
from tests.support.gateway import API_AUDIENCE, production_gateway
from tests.support.oidc_provider import OidcTestProvider
from tests.support.stack import Sandbox

SENCO_A = {"sub": "u-a", "email": "senco@a.sch.uk", "groups": ["SENCO-123456"]}
SENCO_B = {"sub": "u-b", "email": "senco@b.sch.uk", "groups": ["SENCO-654321"]}


@pytest.fixture
def clock():
    # one minute's window for the whole test (a real clock might cross into the next minute half-way)
    now = datetime.now(UTC)
    return FixedClock(now.replace(second=0, microsecond=0) + timedelta(seconds=1))


@pytest.fixture
async def two_gateways(sandbox: Sandbox, provider: OidcTestProvider, citizen_key, clock):
    limits = dict(api_per_minute_per_person=5, api_per_minute_per_address=10, sign_in_per_minute_per_address=4)
    async with contextlib.AsyncExitStack() as stack:
        one = await stack.enter_async_context(production_gateway(sandbox, provider, citizen_key, clock, **limits))
        two = await stack.enter_async_context(production_gateway(sandbox, provider, citizen_key, clock, **limits))
        yield one, two


async def test_a_persons_limit_and_an_addresss_limit_count_every_replicas_requests(
    two_gateways, provider, clock
) -> None:
    one, two = two_gateways
    a = {"Authorization": f"Bearer {provider.access_token(SENCO_A, API_AUDIENCE)}"}
    b = {"Authorization": f"Bearer {provider.access_token(SENCO_B, API_AUDIENCE)}"}
    async with httpx.AsyncClient(timeout=20) as http:
        answers = []
        for i in range(5):  # five for A, across both replicas: all allowed
            answers.append(await http.get(f"{(one, two)[i % 2].url}/api/v1/me", headers=a))
        assert [r.status_code for r in answers] == [200] * 5
        sixth = await http.get(f"{two.url}/api/v1/me", headers=a)
        assert sixth.status_code == 429, sixth.text
        assert sixth.json()["rule"] == "too_many_requests" and int(sixth.headers["retry-after"]) >= 1
        assert "from this person" in sixth.json()["message"]
        # B is another person, not limited by A's count; but the address is the same (127.0.0.1), and its limit of
        # 10 counts both people's requests on both replicas: B's fifth is the address's eleventh
        b_answers = [await http.get(f"{(one, two)[i % 2].url}/api/v1/me", headers=b) for i in range(5)]
        assert [r.status_code for r in b_answers] == [200, 200, 200, 200, 429]
        assert "from this address" in b_answers[-1].json()["message"]

        # sign-in: 4 a minute from one address, across replicas
        starts = [await http.get(f"{(one, two)[i % 2].url}/sign-in/staff") for i in range(5)]
        assert [r.status_code for r in starts] == [302, 302, 302, 302, 429]

        clock.advance(timedelta(minutes=1))  # the next minute: allowed again
        assert (await http.get(f"{two.url}/api/v1/me", headers=a)).status_code == 200
        assert (await http.get(f"{one.url}/sign-in/staff")).status_code == 302
