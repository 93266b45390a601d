"""The AsyncAPI documents under docs/asyncapi/ describe the services as their routes declare them."""

import json

from infra.cli.asyncapi import DOCS, documents


def test_each_services_asyncapi_document_is_current() -> None:
    for name, text in documents().items():
        written = DOCS / f"{name}.json"
        assert written.exists() and written.read_text() == text, (
            f"docs/asyncapi/{name}.json is out of date: run `.venv/bin/python -m infra.cli.asyncapi`"
        )


def test_every_command_and_query_is_documented_with_its_reply() -> None:
    register = json.loads(documents()["register"])
    add = register["channels"]["register.add_to_sen_support"]
    assert add["address"] == "sendcase.commands.register.add_to_sen_support"
    [operation] = [o for o in register["operations"].values() if o["channel"]["$ref"].endswith("add_to_sen_support")]
    assert operation["reply"]["messages"][0]["$ref"].endswith("register.add_to_sen_support:Reply")
    reply = register["components"]["schemas"]["Reply[AddToSenSupport]"]
    assert "Rejected" in json.dumps(reply) and "PupilRef" in json.dumps(reply)
