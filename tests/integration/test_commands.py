"""The register's command endpoint over real NATS request/reply, with its real PostgreSQL store."""

import json

import pytest

from contracts.envelope import Accepted, Answered, Rejected, RejectionCode
from contracts.register import GetPupil
from contracts.subjects import command_subject
from services.register.bootstrap import bootstrap as register_bootstrap
from services.runtime.client import Client
from services.runtime.clock import FixedClock
from tests.conftest import SCHOOL_DAY
from tests.support.factories import add_to_sen_support, senco, teacher, upn
from tests.support.stack import Sandbox, as_operator, running_service


@pytest.fixture
async def register(sandbox: Sandbox):
    settings = sandbox.settings("register")
    async with running_service(register_bootstrap, settings, FixedClock(SCHOOL_DAY)) as runtime:
        async with Client(as_operator(settings.nats_url), settings.subject_prefix, senco()) as client:
            yield runtime, client


def stored_events(runtime) -> int:
    return runtime.service.store.app.max_notification_id()


async def raw_request(client: Client, payload: bytes) -> Rejected:
    msg = await client.nc.request(command_subject(client.prefix, "register.add_to_sen_support"), payload, timeout=5)
    return Rejected.model_validate_json(msg.data)


async def test_a_valid_command_is_accepted_and_stored(register) -> None:
    runtime, client = register
    reply = await client.command(add_to_sen_support())
    assert isinstance(reply, Accepted) and reply.result.pupil_id
    assert stored_events(runtime) == 2
    view = await client.query(GetPupil(upn=upn(1)))
    assert isinstance(view, Answered) and view.result.status == "K"


async def test_a_payload_that_is_not_json_is_rejected_and_stores_nothing(register) -> None:
    runtime, client = register
    reply = await raw_request(client, b"add Sam please")
    assert reply.code is RejectionCode.INVALID
    assert "not valid" in reply.message
    assert stored_events(runtime) == 0


async def test_a_mistyped_upn_is_rejected_naming_the_field(register) -> None:
    runtime, client = register
    body = {"command": add_to_sen_support().model_dump(mode="json"), "actor": senco().model_dump(mode="json")}
    body["command"]["pupil"]["upn"] = "A801200001001"
    reply = await raw_request(client, json.dumps(body).encode())
    assert reply.code is RejectionCode.INVALID
    [error] = reply.field_errors
    assert error.field == "command.pupil.upn" and "check letter" in error.problem
    assert stored_events(runtime) == 0


async def test_a_command_missing_its_actor_is_rejected(register) -> None:
    runtime, client = register
    body = {"command": add_to_sen_support().model_dump(mode="json")}
    reply = await raw_request(client, json.dumps(body).encode())
    assert reply.code is RejectionCode.INVALID and reply.field_errors[0].field == "actor"
    assert stored_events(runtime) == 0


async def test_a_teacher_cannot_change_sen_status_and_nothing_is_stored(register) -> None:
    runtime, client = register
    reply = await client.command(add_to_sen_support(), actor=teacher())
    assert isinstance(reply, Rejected) and reply.code is RejectionCode.NOT_AUTHORISED
    assert "Only the SENCO of school 123456" in reply.message
    assert stored_events(runtime) == 0


async def test_a_rule_breaking_command_is_rejected_and_stores_nothing(register) -> None:
    runtime, client = register
    await client.command(add_to_sen_support())
    reply = await client.command(add_to_sen_support())
    assert isinstance(reply, Rejected)
    assert (reply.code, reply.rule) == (RejectionCode.RULE_BROKEN, "already_on_sen_support")
    assert "already on the SEN register" in reply.message
    assert stored_events(runtime) == 2


async def test_an_unexpected_failure_is_rejected_with_a_reference_and_the_service_keeps_answering(
    register, monkeypatch
) -> None:
    runtime, client = register
    app = runtime.service.store.app

    def broken(**_):
        raise RuntimeError("disk full")

    monkeypatch.setattr(app, "add_to_sen_support", broken)
    reply = await client.command(add_to_sen_support())
    assert isinstance(reply, Rejected) and reply.code is RejectionCode.INTERNAL_ERROR
    assert str(reply.correlation_id) in reply.message
    assert "disk full" not in reply.message  # internals are logged, not shown
    monkeypatch.undo()
    assert isinstance(await client.command(add_to_sen_support()), Accepted)


@pytest.mark.parametrize(
    "body, says",
    [
        (b"[" * 100_000 + b"]" * 100_000, "nests deeper"),
        (json.dumps({"command": {f"k{i}": i for i in range(20_000)}, "actor": {}}).encode(), "more than"),
        (b"\xff\xfe not utf-8", "not JSON"),
    ],
    ids=["deeply nested", "20,000 unknown keys", "not text"],
)
async def test_every_request_is_answered_whatever_its_body(register, body: bytes, says: str) -> None:
    runtime, client = register
    reply = await raw_request(client, body)
    assert reply.code is RejectionCode.INVALID and says in reply.message, reply
    assert len(reply.model_dump_json()) < 10_000
    assert stored_events(runtime) == 0


async def test_a_contract_with_thousands_of_wrong_fields_gets_a_short_readable_reply(register) -> None:
    _runtime, client = register
    body = {"command": {f"unknown_{i}": i for i in range(3000)}, "actor": senco().model_dump(mode="json")}
    reply = await raw_request(client, json.dumps(body).encode())
    assert reply.code is RejectionCode.INVALID and "more problems" in reply.message
    assert len(reply.field_errors) == 20 and len(reply.model_dump_json()) < 10_000
