"""The API is generated from the catalogue: every command and query a service declares for people is an operation,
with its own request and reply schemas; nothing else is, and no request can say who is acting."""

from pathlib import Path

from contracts.catalogue import CATALOGUE
from contracts.envelope import Command
from contracts.service import name_of
from services.gateway.app import OPENAPI_PATH, create_app
from services.gateway.settings import load_gateway_settings

DEMO_PEOPLE = Path(__file__).resolve().parents[2] / "infra" / "demo" / "people.toml"


def openapi() -> dict:
    settings = load_gateway_settings(mode="development", development_sign_in=True, demo_people=DEMO_PEOPLE)
    app = create_app(settings)
    assert app.openapi_url == OPENAPI_PATH == "/api/v1/openapi.json"
    return app.openapi()


def test_every_public_catalogue_message_is_an_operation_with_its_schemas() -> None:
    document = openapi()
    paths, schemas = document["paths"], document["components"]["schemas"]
    expected = set()
    for contract in CATALOGUE.values():
        for message in (*contract.public_commands, *contract.public_queries):
            kind = "commands" if issubclass(message, Command) else "queries"
            path = f"/api/v1/{contract.name}/{kind}/{name_of(message)}"
            expected.add(path)
            operation = paths[path]["post"]
            assert operation["operationId"] == message.SUBJECT.replace(".", "_")
            body = operation["requestBody"]["content"]["application/json"]["schema"]
            assert body == {"$ref": f"#/components/schemas/{message.__name__}"}, path
            assert set(schemas[message.__name__]["properties"]) == set(message.model_fields), path
            success = operation["responses"]["200"]["content"]["application/json"]["schema"]["$ref"]
            assert success.split("/")[-1].startswith("Accepted" if kind == "commands" else "Answered"), path
            for status in ("400", "401", "403", "404", "409", "422", "429", "503", "504"):
                assert operation["responses"][status]["content"]["application/json"]["schema"] == {
                    "$ref": "#/components/schemas/Rejected"
                }, (path, status)
            headers = {p["name"] for p in operation["parameters"] if p["in"] == "header"}
            assert {"Sendcase-Role", "X-CSRF-Token"} <= headers
            assert ("Idempotency-Key" in headers) == (kind == "commands")
        for hidden in contract.not_for_people:
            kind = "commands" if issubclass(hidden, Command) else "queries"
            assert f"/api/v1/{contract.name}/{kind}/{name_of(hidden)}" not in paths
    assert {p for p in paths if p != "/api/v1/me"} == expected
    assert "HTTPBearer" in document["components"]["securitySchemes"]


def test_no_message_a_person_may_send_carries_an_actor_and_none_accepts_unknown_fields() -> None:
    for contract in CATALOGUE.values():
        for message in (*contract.public_commands, *contract.public_queries):
            assert "actor" not in message.model_fields, message
            assert message.model_config.get("extra") == "forbid", message
