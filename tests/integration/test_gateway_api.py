"""The gateway's HTTP API against real services (register and notifications on real PostgreSQL and NATS): bearer
tokens checked against the provider's keys, actors from the LA's mapping and never from the body, the services'
refusals as HTTP statuses with the contracts' body, commands done once per Idempotency-Key."""

import base64
import json
import time

import httpx
import nats
import pytest
from joserfc import jwt
from joserfc.jwk import OctKey

from contracts.register import EnrolPupil, PupilIdentity
from contracts.subjects import command_subject, query_subject
from services.register.bootstrap import bootstrap as register_bootstrap
from tests.support.factories import OTHER_SCHOOL, SCHOOL, upn
from tests.support.gateway import API_AUDIENCE, STAFF_SECRET, production_gateway
from tests.support.oidc_provider import OidcTestProvider, new_key
from tests.support.stack import Sandbox, running_service

SENCO_A = {"sub": "u-a", "email": "senco@a.sch.uk", "groups": ["SENCO-123456"]}
SENCO_B = {"sub": "u-b", "email": "senco@b.sch.uk", "groups": ["SENCO-654321"]}
BOTH = {"sub": "u-ab", "email": "senco@federation.sch.uk", "groups": ["SENCO-123456", "SENCO-654321", "SEND-Auditors"]}


def enrol(serial: int, urn: str = SCHOOL) -> dict:
    command = EnrolPupil(
        school_urn=urn,
        pupil=PupilIdentity(upn=upn(serial), given_name="Sam", family_name="Taylor", date_of_birth="2017-03-14"),
        on_roll_from="2025-09-01",
    )
    return command.model_dump(mode="json")


@pytest.fixture
async def register(sandbox: Sandbox):
    async with running_service(register_bootstrap, sandbox.settings("register")) as runtime:
        yield runtime


@pytest.fixture
async def gateway(sandbox: Sandbox, provider: OidcTestProvider, citizen_key):
    async with production_gateway(sandbox, provider, citizen_key) as running:
        yield running


@pytest.fixture
async def api(gateway):
    async with httpx.AsyncClient(base_url=f"{gateway.url}/api/v1", timeout=20) as http:
        yield http


def unsigned(header: dict, claims: dict) -> str:
    part = lambda value: base64.urlsafe_b64encode(json.dumps(value).encode()).rstrip(b"=").decode()
    return f"{part(header)}.{part(claims)}."


def claims_of(token: str) -> dict:
    payload = token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))


async def ignore(_message) -> None:
    """A subscriber that never answers."""


def bearer(token: str, **headers: str) -> dict:
    return {"Authorization": f"Bearer {token}", **headers}


def stored(runtime) -> int:
    return runtime.service.store.app.max_notification_id()


async def test_bearer_tokens_are_checked_against_the_providers_keys(api, provider) -> None:
    good = provider.access_token(SENCO_A, API_AUDIENCE)
    me = await api.get("/me", headers=bearer(good))
    assert me.status_code == 200
    assert me.json()["actor"] == {"user_id": "u-a", "role": "senco", "organisation": "school:123456"}

    now = time.time()
    refused = {
        "no token": {},
        "not bearer": {"Authorization": f"Basic {good}"},
        "another audience": bearer(provider.access_token(SENCO_A, "api://another-system")),
        "the client's audience": bearer(provider.access_token(SENCO_A, "some-other-client")),
        "expired": bearer(provider.access_token(SENCO_A, API_AUDIENCE, now=now - 3600, expires_in=600)),
        "not yet valid": bearer(provider.access_token(SENCO_A, API_AUDIENCE, now=now + 3600)),
        "another key, same kid": bearer(provider.access_token(SENCO_A, API_AUDIENCE, key=new_key("test-key-1"))),
        "an unknown key": bearer(provider.access_token(SENCO_A, API_AUDIENCE, key=new_key("rogue"))),
        "another issuer": bearer(provider.access_token(SENCO_A, API_AUDIENCE, issuer="https://evil.example")),
        "no signature": bearer(good.rsplit(".", 1)[0] + "."),
        "alg none": bearer(unsigned({"alg": "none", "kid": "test-key-1"}, {**claims_of(good)})),
        "signed with the client secret": bearer(
            jwt.encode(
                {"alg": "HS256", "kid": "test-key-1"},
                {"iss": provider.issuer, "aud": API_AUDIENCE, "sub": "u-a", "exp": int(now) + 600, **SENCO_A},
                OctKey.import_key(STAFF_SECRET.encode() * 2),
            )
        ),
        "garbage": bearer("not.a.token"),
    }
    for what, headers in refused.items():
        answer = await api.get("/me", headers=headers)
        assert answer.status_code == 401, what
        body = answer.json()
        assert body["outcome"] == "rejected" and body["code"] == "not_authorised", what
        assert answer.headers["www-authenticate"].startswith("Bearer"), what

    # an ID token (it carries the sign-in's nonce) is no access token, even for the right audience
    id_like = provider.access_token({**SENCO_A, "nonce": "n"}, API_AUDIENCE)
    assert (await api.get("/me", headers=bearer(id_like))).status_code == 401
    # ... nor one without a nonce but with an access token's hash, or granting no scope or role at all
    with_hash = provider.access_token({**SENCO_A, "at_hash": "abc"}, API_AUDIENCE)
    assert (await api.get("/me", headers=bearer(with_hash))).status_code == 401
    grants_nothing = provider.access_token({**SENCO_A, "scope": None}, API_AUDIENCE)
    refused_nothing = await api.get("/me", headers=bearer(grants_nothing))
    assert refused_nothing.status_code == 401 and "no scope or role" in refused_nothing.json()["message"]

    # good, but the mapping gives it no role: 403, never a default role
    nobody = provider.access_token({"sub": "u-z", "email": "z@example.org", "groups": ["Staff"]}, API_AUDIENCE)
    answer = await api.get("/me", headers=bearer(nobody))
    assert answer.status_code == 403 and answer.json()["rule"] == "no_access"


async def test_a_token_giving_several_roles_says_which_it_acts_in(api, provider) -> None:
    token = provider.access_token(BOTH, API_AUDIENCE)
    unsaid = await api.get("/me", headers=bearer(token))
    assert unsaid.status_code == 400 and unsaid.json()["rule"] == "role_not_chosen"
    auditor = await api.get("/me", headers=bearer(token, **{"Sendcase-Role": "auditor"}))
    assert auditor.json()["actor"]["organisation"] == "la:840"
    still_two = await api.get("/me", headers=bearer(token, **{"Sendcase-Role": "senco"}))
    assert still_two.status_code == 400
    school_b = await api.get(
        "/me", headers=bearer(token, **{"Sendcase-Role": "senco", "Sendcase-Organisation": f"school:{OTHER_SCHOOL}"})
    )
    assert school_b.json()["actor"]["organisation"] == f"school:{OTHER_SCHOOL}"
    not_held = await api.get("/me", headers=bearer(token, **{"Sendcase-Role": "la_manager"}))
    assert not_held.status_code == 403 and not_held.json()["rule"] == "role_not_held"
    not_a_role = await api.get("/me", headers=bearer(token, **{"Sendcase-Role": "system"}))
    assert not_a_role.status_code == 403


async def test_a_senco_of_one_school_is_refused_another_schools_pupil(api, provider, register) -> None:
    a = bearer(provider.access_token(SENCO_A, API_AUDIENCE))
    b = bearer(provider.access_token(SENCO_B, API_AUDIENCE))
    enrolled = await api.post("/register/commands/enrol_pupil", json=enrol(1), headers=a)
    assert enrolled.status_code == 200, enrolled.text
    assert enrolled.json()["outcome"] == "accepted" and enrolled.json()["result"]["pupil_id"]

    mine = await api.post("/register/queries/pupil", json={"upn": upn(1)}, headers=a)
    assert mine.status_code == 200 and mine.json()["result"]["upn"] == upn(1)
    theirs = await api.post("/register/queries/pupil", json={"upn": upn(1)}, headers=b)
    assert theirs.status_code == 403
    assert theirs.json()["outcome"] == "rejected" and theirs.json()["code"] == "not_authorised"
    # nor may B enrol a pupil at A's school
    before = stored(register)
    refused = await api.post("/register/commands/enrol_pupil", json=enrol(2), headers=b)
    assert refused.status_code == 403 and stored(register) == before


async def test_an_actor_in_the_body_is_refused_and_changes_nothing(api, provider, register) -> None:
    b = bearer(provider.access_token(SENCO_B, API_AUDIENCE))
    caseworker = {"user_id": "boss@la.gov.uk", "role": "senco", "organisation": f"school:{SCHOOL}"}
    before = stored(register)
    for body in ({**enrol(3), "actor": caseworker}, {"command": enrol(3), "actor": caseworker}):
        answer = await api.post("/register/commands/enrol_pupil", json=body, headers=b)
        assert answer.status_code == 422, answer.text
        assert answer.json()["code"] == "invalid"
    forged_query = await api.post("/register/queries/pupil", json={"upn": upn(3), "actor": caseworker}, headers=b)
    assert forged_query.status_code == 422
    assert any(e["field"] == "actor" for e in forged_query.json()["field_errors"])
    assert stored(register) == before


async def test_an_idempotency_key_makes_a_command_happen_once_per_person(api, provider, register) -> None:
    a = bearer(provider.access_token(SENCO_A, API_AUDIENCE), **{"Idempotency-Key": "roll-2026-11-23-pupil-4"})
    first = await api.post("/register/commands/enrol_pupil", json=enrol(4), headers=a)
    after_first = stored(register)
    again = await api.post("/register/commands/enrol_pupil", json=enrol(4), headers=a)
    assert first.status_code == again.status_code == 200
    assert again.json() == first.json() and stored(register) == after_first
    # another person's command with the same key is their own, never the first one's reply
    b = bearer(provider.access_token(SENCO_B, API_AUDIENCE), **{"Idempotency-Key": "roll-2026-11-23-pupil-4"})
    theirs = await api.post("/register/commands/enrol_pupil", json=enrol(5, OTHER_SCHOOL), headers=b)
    assert theirs.status_code == 200 and theirs.json()["result"] != first.json()["result"]
    bad_key = await api.post(
        "/register/commands/enrol_pupil", json=enrol(6), headers={**a, "Idempotency-Key": "has spaces in it"}
    )
    assert bad_key.status_code == 422


async def test_refusals_have_their_status_and_the_contracts_body(api, provider, register) -> None:
    a = bearer(provider.access_token(SENCO_A, API_AUDIENCE))
    cases = [
        ("not JSON", "/register/commands/enrol_pupil", {"content": b"{not json"}, 400, "invalid"),
        ("not the contract", "/register/commands/enrol_pupil", {"json": {"school_urn": "12"}}, 422, "invalid"),
        ("nobody of that UPN", "/register/queries/pupil", {"json": {"upn": upn(999)}}, 404, "not_found"),
        ("no such operation", "/register/commands/make_tea", {"json": {}}, 404, "not_found"),
        ("a receipt is not for people", "/notifications/commands/delivery_receipt", {"json": {}}, 404, "not_found"),
        ("too large", "/register/commands/import_roll", {"content": b"x" * (1024 * 1024 + 10)}, 413, "invalid"),
    ]
    for what, path, body, status, code in cases:
        answer = await api.post(path, headers={**a, "Content-Type": "application/json"}, **body)
        assert answer.status_code == status, (what, answer.text)
        assert answer.json()["outcome"] == "rejected" and answer.json()["code"] == code, what
    too_old = enrol(7)
    too_old["pupil"]["date_of_birth"] = "1990-01-01"  # 36 years old: the SEN register ends at 25
    broken = await api.post("/register/commands/enrol_pupil", json=too_old, headers=a)
    assert broken.status_code == 422 and broken.json()["code"] == "rule_broken"
    wrong_method = await api.get("/register/commands/enrol_pupil", headers=a)
    assert wrong_method.status_code == 405 and wrong_method.json()["outcome"] == "rejected"


async def test_no_service_listening_is_503_and_never_a_traceback(api, provider, gateway, sandbox: Sandbox) -> None:
    a = bearer(provider.access_token(SENCO_A, API_AUDIENCE))
    answer = await api.post("/register/queries/pupil", json={"upn": upn(1)}, headers=a)  # no register running
    assert answer.status_code == 503 and answer.json()["rule"] == "service_unavailable"

    # something takes the request and never answers (a register that hangs, connected as the register): 504, after
    # the gateway's request_timeout_seconds
    nc = await nats.connect(sandbox.settings("register").nats_url)
    try:
        await nc.subscribe(query_subject(gateway.settings.subject_prefix, "register.pupil"), cb=ignore)
        await nc.flush()
        answer = await api.post("/register/queries/pupil", json={"upn": upn(1)}, headers=a)
        assert answer.status_code == 504 and answer.json()["rule"] == "no_reply"
        await nc.subscribe(command_subject(gateway.settings.subject_prefix, "register.enrol_pupil"), cb=ignore)
        await nc.flush()
        answer = await api.post("/register/commands/enrol_pupil", json=enrol(8), headers=a)
        assert answer.status_code == 504 and "same Idempotency-Key" in answer.json()["message"]
    finally:
        await nc.close()

    async def broken(*_, **__):
        raise RuntimeError("secret detail of a pupil called Sam Taylor")

    gateway.gateway.ask = broken
    answer = await api.post("/register/queries/pupil", json={"upn": upn(1)}, headers=a)
    assert answer.status_code == 500
    body = answer.json()
    assert body["code"] == "internal_error" and "reference" in body["message"]
    assert "Traceback" not in answer.text and "secret detail" not in answer.text and "RuntimeError" not in answer.text
    assert answer.headers["x-frame-options"] == "DENY"
