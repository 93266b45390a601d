"""The gateway's configuration: what it refuses to start with, and the LA's access mapping read strictly."""

from pathlib import Path

import pytest

from contracts.envelope import Actor, Role
from services.gateway.access import AccessMapping, citizen_actors, citizen_user_id, load_demo_people
from services.gateway.app import create_app
from services.gateway.settings import load_gateway_settings
from services.runtime.errors import ConfigurationError

CHECKOUT = Path(__file__).resolve().parents[2]
ACCESS_840 = CHECKOUT / "infra" / "local_authorities" / "840" / "access.toml"
DEMO_PEOPLE = CHECKOUT / "infra" / "demo" / "people.toml"
STAFF = dict(
    staff_discovery_url="https://login.example.gov.uk/.well-known/openid-configuration",
    staff_client_id="sendcase",
    staff_client_secret="s3cret",
    access_mapping=ACCESS_840,
    public_url="https://sendcase.example.gov.uk",
)


def test_a_production_configuration_with_the_development_sign_in_refuses_to_start() -> None:
    settings = load_gateway_settings(mode="production", development_sign_in=True, demo_people=DEMO_PEOPLE, **STAFF)
    with pytest.raises(ConfigurationError, match="DEVELOPMENT_SIGN_IN is on in a production configuration"):
        create_app(settings)


@pytest.mark.parametrize(
    ("host", "public_url"),
    [
        ("0.0.0.0", "http://127.0.0.1:8080"),
        ("127.0.0.1", "http://sendcase.example.gov.uk"),
        ("10.0.0.5", "http://10.0.0.5"),
    ],
)
def test_the_development_sign_in_listens_on_this_machine_only(host: str, public_url: str) -> None:
    settings = load_gateway_settings(
        mode="development", development_sign_in=True, demo_people=DEMO_PEOPLE, host=host, public_url=public_url
    )
    with pytest.raises(ConfigurationError, match="listens on this machine only"):
        settings.check()
    load_gateway_settings(
        mode="development",
        development_sign_in=True,
        demo_people=DEMO_PEOPLE,
        host="::1",
        public_url="http://localhost:8080",
    ).check()


def test_production_is_the_default_mode_and_needs_a_provider_and_https(monkeypatch) -> None:
    for name in ("SENDCASE_GATEWAY_MODE", "SENDCASE_GATEWAY_DEVELOPMENT_SIGN_IN"):
        monkeypatch.delenv(name, raising=False)
    assert load_gateway_settings().mode == "production"
    with pytest.raises(ConfigurationError, match="no identity provider"):
        load_gateway_settings().check()
    with pytest.raises(ConfigurationError, match="not https"):
        load_gateway_settings(**{**STAFF, "public_url": "http://sendcase.example.gov.uk"}).check()
    with pytest.raises(ConfigurationError, match="no access mapping"):
        load_gateway_settings(**{**STAFF, "access_mapping": None}).check()
    with pytest.raises(ConfigurationError, match="CLIENT_KEY_FILE"):
        load_gateway_settings(
            **STAFF,
            citizen_discovery_url="https://oidc.account.gov.uk/.well-known/openid-configuration",
            citizen_client_id="x",
        ).check()
    load_gateway_settings(**STAFF).check()  # this one is fine
    # loopback http is allowed (a trial on one machine; the tests' provider)
    load_gateway_settings(**{**STAFF, "public_url": "http://127.0.0.1:8080"}).check()


def test_settings_come_from_the_gateways_variables_and_the_shared_ones(monkeypatch) -> None:
    monkeypatch.setenv("SENDCASE_NATS_URL", "nats://shared:4222")
    monkeypatch.setenv("SENDCASE_PORT", "1")  # not a shared setting: not the gateway's port
    monkeypatch.setenv("SENDCASE_MODE", "development")  # nor its mode
    monkeypatch.setenv("SENDCASE_GATEWAY_SESSION_IDLE_MINUTES", "15")
    settings = load_gateway_settings()
    assert settings.nats_url == "nats://shared:4222" and settings.port == 8080 and settings.mode == "production"
    assert settings.session_idle_minutes == 15
    monkeypatch.setenv("SENDCASE_GATEWAY_NATS_URL", "nats://gateway@own:4222")
    assert load_gateway_settings().nats_url == "nats://gateway@own:4222"
    assert load_gateway_settings(postgres_url="postgresql://pg/postgres").gateway_database_url.endswith(
        "/sendcase_gateway"
    )


def test_the_example_mapping_gives_each_group_its_role_and_nothing_else() -> None:
    mapping = AccessMapping.load(ACCESS_840)
    claims = {
        "email": "a@x.sch.uk",
        "oid": "0b7c4f2e-staff-a",
        "groups": ["SENCO-123456", "SENCO-12345", "senco-123456", "SEND-Caseworkers", "SEND-Professionals-nhs-cdd"],
        "roles": ["Sendcase.Caseworker"],
    }
    assert mapping.user_id(claims) == "0b7c4f2e-staff-a"  # never the email: a person could change that
    assert mapping.user_id({k: v for k, v in claims.items() if k != "oid"}) is None
    assert mapping.actors("0b7c4f2e-staff-a", claims) == [
        Actor(user_id="0b7c4f2e-staff-a", role=Role.SENCO, organisation="school:123456"),
        Actor(
            user_id="0b7c4f2e-staff-a", role=Role.LA_CASEWORKER, organisation="la:840"
        ),  # once, though two grants give it
        Actor(user_id="0b7c4f2e-staff-a", role=Role.PROFESSIONAL, organisation="org:nhs-cdd"),
    ]
    # another of the LA's systems, with a client-credentials token: named by its client id, its app role mapped
    machine = {"azp": "3f2c-case-system", "roles": ["Sendcase.Caseworker"], "oid": "app-object-id"}
    assert mapping.user_id(machine) == "app-object-id"
    assert mapping.actors("app-object-id", machine) == [
        Actor(user_id="app-object-id", role=Role.LA_CASEWORKER, organisation="la:840")
    ]
    assert mapping.actors("b", {"groups": ["Everyone", "SENCO-123456x", "xSENCO-123456"]}) == []
    assert mapping.actors("b", {}) == []
    assert mapping.actors("b", {"groups": "SEND-Auditors"})[0].role == Role.AUDITOR  # one group as a string


@pytest.mark.parametrize(
    ("grant", "problem"),
    [
        ({"group": "P", "role": "parent", "organisation": "citizen"}, "cannot be given by the access mapping"),
        ({"group": "S", "role": "system", "organisation": "service:register"}, "cannot be given"),
        ({"group": "X", "role": "wizard", "organisation": "la:840"}, "is not one of"),
        ({"group": "SENCO-{urn}", "role": "senco", "organisation": "la:840"}, "acts for a school"),
        ({"group": "SENCO", "role": "senco", "organisation": "school:{urn}"}, "which the group does not"),
        ({"group": "C-{zzz}", "role": "la_caseworker", "organisation": "la:840"}, "unknown placeholder"),
        ({"group": "C", "role": "la_caseworker", "organisation": "la:841"}, "not this file's local authority"),
        ({"group": "C", "role": "la_caseworker", "organisation": "LA 840"}, "not a valid organisation"),
        ({"group": "C", "role": "la_caseworker", "organisation": "la:840", "rank": 1}, "unknown keys"),
    ],
)
def test_a_mapping_that_is_not_right_is_refused_naming_the_grant(grant, problem) -> None:
    with pytest.raises(ConfigurationError, match=problem):
        AccessMapping.from_dict({"local_authority": "840", "grants": [grant]})


def test_a_mapping_with_no_grants_or_bad_toml_is_refused(tmp_path) -> None:
    with pytest.raises(ConfigurationError, match="no \\[\\[grants\\]\\]"):
        AccessMapping.from_dict({"local_authority": "840"})
    bad = tmp_path / "access.toml"
    bad.write_text("[[grants]\n")
    with pytest.raises(ConfigurationError, match="not valid TOML"):
        AccessMapping.load(bad)


def test_a_citizen_is_a_parent_or_young_person_with_an_id_that_is_stable_and_says_nothing() -> None:
    one = citizen_user_id("https://oidc.account.gov.uk/", "urn:fdc:gov.uk:2022:abc")
    assert one == citizen_user_id("https://oidc.account.gov.uk/", "urn:fdc:gov.uk:2022:abc")
    assert one != citizen_user_id("https://other.example/", "urn:fdc:gov.uk:2022:abc")
    assert one.startswith("citizen:") and "abc" not in one
    assert {(a.role, a.organisation) for a in citizen_actors(one)} == {
        (Role.PARENT, "citizen"),
        (Role.YOUNG_PERSON, "citizen"),
    }


def test_the_demo_people_are_a_senco_of_each_demo_school_and_the_las_people() -> None:
    people = load_demo_people(DEMO_PEOPLE)
    roles = {p.actor.role for p in people}
    assert {Role.SENCO, Role.LA_CASEWORKER, Role.LA_MANAGER, Role.AUDITOR, Role.DATA_OFFICER, Role.PARENT} <= roles
    schools = {p.actor.organisation for p in people if p.actor.role == Role.SENCO}
    assert schools == {"school:900001", "school:900101", "school:900102", "school:900103"}
